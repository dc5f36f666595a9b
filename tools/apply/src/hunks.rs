//! Applying the hunks of one file to its content, with `git apply`'s rules:
//! exact context, a hunk is looked for near its stated line (nearest
//! offset first), hunks at line 1 must match at the top and hunks without
//! trailing context at the bottom; no fuzz.

use crate::diff::{BinaryHunk, BinaryKind, Hunk};

/// Why a hunk did not apply, with the first line that differs at the
/// place the hunk names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HunkFailure {
    /// 1-based hunk number in the file's diff.
    pub number: usize,
    pub header: String,
    /// 1-based line of the file where the difference is.
    pub line: usize,
    pub expected: String,
    /// None when the file ends before the line.
    pub found: Option<String>,
    pub note: Option<&'static str>,
}

impl std::fmt::Display for HunkFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "hunk #{} ({}) does not apply", self.number, self.header)?;
        if let Some(note) = self.note {
            return write!(f, ": {note}");
        }
        let found = match &self.found {
            Some(text) => format!("{:?}", text.trim_end_matches('\n')),
            None => "the end of the file".to_string(),
        };
        write!(
            f,
            ": line {} differs: the patch expects {:?} but the file has {found}",
            self.line,
            self.expected.trim_end_matches('\n')
        )
    }
}

/// `content` with every hunk applied in order, or the first failing hunk.
pub fn apply_hunks(content: &[u8], hunks: &[Hunk]) -> Result<Vec<u8>, HunkFailure> {
    let mut image: Vec<&[u8]> = content.split_inclusive(|&b| b == b'\n').collect();
    for (index, hunk) in hunks.iter().enumerate() {
        let pre = hunk.preimage();
        let post = hunk.postimage();
        let match_beginning = hunk.old_start <= 1;
        let match_end = hunk.trailing_context() == 0;
        let pos = hunk.new_start.saturating_sub(1);
        let Some(at) = find_position(&image, &pre, pos, match_beginning, match_end) else {
            return Err(describe_failure(
                &image,
                hunk,
                index + 1,
                &pre,
                pos,
                match_beginning,
                match_end,
            ));
        };
        image.splice(at..at + pre.len(), post.iter().copied());
    }
    Ok(image.concat())
}

fn find_position(
    image: &[&[u8]],
    pre: &[&[u8]],
    pos: usize,
    match_beginning: bool,
    match_end: bool,
) -> Option<usize> {
    if pre.len() > image.len() {
        return None;
    }
    let start = if match_beginning {
        0
    } else if match_end {
        image.len() - pre.len()
    } else {
        pos.min(image.len())
    };
    let fits = |at: usize| {
        (!match_beginning || at == 0)
            && (!match_end || at + pre.len() == image.len())
            && at + pre.len() <= image.len()
            && pre.iter().zip(&image[at..]).all(|(p, l)| p == l)
    };
    if fits(start) {
        return Some(start);
    }
    let (mut back, mut fwd) = (start, start);
    loop {
        let can_fwd = fwd < image.len();
        let can_back = back > 0;
        if !can_fwd && !can_back {
            return None;
        }
        if can_fwd {
            fwd += 1;
            if fits(fwd) {
                return Some(fwd);
            }
        }
        if can_back {
            back -= 1;
            if fits(back) {
                return Some(back);
            }
        }
    }
}

fn describe_failure(
    image: &[&[u8]],
    hunk: &Hunk,
    number: usize,
    pre: &[&[u8]],
    pos: usize,
    match_beginning: bool,
    match_end: bool,
) -> HunkFailure {
    let at = if match_beginning {
        0
    } else if match_end && image.len() >= pre.len() {
        image.len() - pre.len()
    } else {
        pos.min(image.len())
    };
    let mut failure = HunkFailure {
        number,
        header: hunk.header.clone(),
        line: at + 1,
        expected: String::new(),
        found: None,
        note: None,
    };
    for (k, expected) in pre.iter().enumerate() {
        let found = image.get(at + k);
        if found.map(|l| l == expected) != Some(true) {
            failure.line = at + k + 1;
            failure.expected = String::from_utf8_lossy(expected).into_owned();
            failure.found = found.map(|l| String::from_utf8_lossy(l).into_owned());
            return failure;
        }
    }
    failure.note = Some(if pre.is_empty() {
        "the file is not empty"
    } else if match_end {
        "the lines match but not at the end of the file, where a hunk without trailing context must be"
    } else {
        "the lines match but not at the top of the file, where a hunk at line 1 must be"
    });
    failure
}

/// The new content a binary hunk gives for `old`: the inflated literal,
/// or the inflated delta applied to `old`.
pub fn apply_binary(old: &[u8], hunk: &BinaryHunk) -> Result<Vec<u8>, String> {
    use std::io::Read;
    let mut inflated = Vec::with_capacity(hunk.size.min(1 << 26));
    flate2::read::ZlibDecoder::new(hunk.deflated.as_slice())
        .take(hunk.size as u64 + 1)
        .read_to_end(&mut inflated)
        .map_err(|e| format!("its zlib data is corrupt ({e})"))?;
    if inflated.len() != hunk.size {
        return Err(format!(
            "it announces {} bytes but holds {}",
            hunk.size,
            inflated.len()
        ));
    }
    match hunk.kind {
        BinaryKind::Literal => Ok(inflated),
        BinaryKind::Delta => apply_delta(old, &inflated),
    }
}

/// A git delta: the source and result sizes (little-endian base-128),
/// then copy (high bit set: offset and size bytes chosen by the low bits)
/// and insert (1-127 literal bytes) instructions.
fn apply_delta(src: &[u8], delta: &[u8]) -> Result<Vec<u8>, String> {
    let mut at = 0usize;
    let mut varint = || -> Result<usize, String> {
        let mut value = 0usize;
        let mut shift = 0;
        loop {
            let b = *delta.get(at).ok_or("the delta is cut short")?;
            at += 1;
            if shift > 56 {
                return Err("a delta size is too large".to_string());
            }
            value |= usize::from(b & 0x7f) << shift;
            shift += 7;
            if b & 0x80 == 0 {
                return Ok(value);
            }
        }
    };
    let src_size = varint()?;
    let dst_size = varint()?;
    if src_size != src.len() {
        return Err(format!(
            "the delta is for a {src_size}-byte file, the file has {} bytes",
            src.len()
        ));
    }
    let mut out = Vec::with_capacity(dst_size.min(1 << 26));
    while at < delta.len() {
        let cmd = delta[at];
        at += 1;
        if cmd & 0x80 != 0 {
            let mut field = |bits: u8, shift: usize| -> Result<usize, String> {
                if cmd & bits == 0 {
                    return Ok(0);
                }
                let b = *delta.get(at).ok_or("the delta is cut short")?;
                at += 1;
                Ok(usize::from(b) << shift)
            };
            let offset = field(0x01, 0)? | field(0x02, 8)? | field(0x04, 16)? | field(0x08, 24)?;
            let mut size = field(0x10, 0)? | field(0x20, 8)? | field(0x40, 16)?;
            if size == 0 {
                size = 0x10000;
            }
            let piece = offset
                .checked_add(size)
                .and_then(|end| src.get(offset..end))
                .ok_or("the delta copies from beyond the end of the file")?;
            out.extend_from_slice(piece);
        } else if cmd != 0 {
            let n = usize::from(cmd);
            let piece = delta.get(at..at + n).ok_or("the delta is cut short")?;
            out.extend_from_slice(piece);
            at += n;
        } else {
            return Err("the delta holds a zero instruction".to_string());
        }
        if out.len() > dst_size {
            return Err("the delta makes more bytes than it announces".to_string());
        }
    }
    if out.len() != dst_size {
        return Err(format!(
            "the delta announces {dst_size} bytes but makes {}",
            out.len()
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diff::parse;

    fn hunks(diff: &str) -> Vec<Hunk> {
        parse(diff.as_bytes()).unwrap().remove(0).hunks
    }

    #[test]
    fn applies_with_offset() {
        let h = hunks("--- a/f\n+++ b/f\n@@ -2,3 +2,3 @@\n c\n-d\n+D\n e\n");
        let out = apply_hunks(b"x\ny\na\nb\nc\nd\ne\nf\n", &h).unwrap();
        assert_eq!(out, b"x\ny\na\nb\nc\nD\ne\nf\n");
    }

    #[test]
    fn reports_first_differing_line() {
        let h = hunks("--- a/f\n+++ b/f\n@@ -2,3 +2,3 @@\n b\n-c\n+C\n d\n");
        let err = apply_hunks(b"a\nb\nX\nd\ne\n", &h).unwrap_err();
        assert_eq!(err.line, 3);
        assert_eq!(err.expected, "c\n");
        assert_eq!(err.found.as_deref(), Some("X\n"));
        assert!(err.to_string().contains("hunk #1 (@@ -2,3 +2,3 @@)"));
    }

    #[test]
    fn end_anchored_hunk_needs_the_end() {
        let h = hunks("--- a/f\n+++ b/f\n@@ -1,2 +1,3 @@\n a\n b\n+c\n");
        assert!(apply_hunks(b"a\nb\nz\n", &h).is_err());
        assert_eq!(apply_hunks(b"a\nb\n", &h).unwrap(), b"a\nb\nc\n");
    }
}
