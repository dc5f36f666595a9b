//! A commit message split the way git's pretty-printer splits it for e-mail:
//! the subject (first paragraph, lines joined) and the body.

/// git's `isspace`: a form feed or vertical tab is not a blank to git.
fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

fn rtrim(line: &[u8]) -> &[u8] {
    let end = line
        .iter()
        .rposition(|&b| !is_space(b))
        .map_or(0, |p| p + 1);
    &line[..end]
}

/// Lines of `msg` without their `\n`.
fn lines(msg: &[u8]) -> Vec<&[u8]> {
    let mut out: Vec<&[u8]> = msg.split(|&b| b == b'\n').collect();
    if msg.ends_with(b"\n") || msg.is_empty() {
        out.pop();
    }
    out
}

/// Subject and body of a commit message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// First paragraph, its lines right-trimmed and joined by a space.
    pub subject: Vec<u8>,
    /// Remaining lines, right-trimmed, without leading or trailing blank lines.
    pub body: Vec<Vec<u8>>,
}

impl Message {
    pub fn parse(msg: &[u8]) -> Message {
        let all = lines(msg);
        let mut i = 0;
        while i < all.len() && rtrim(all[i]).is_empty() {
            i += 1;
        }
        let mut subject = Vec::new();
        while i < all.len() {
            let line = rtrim(all[i]);
            i += 1;
            if line.is_empty() {
                break;
            }
            if !subject.is_empty() {
                subject.push(b' ');
            }
            subject.extend_from_slice(line);
        }
        let mut body: Vec<Vec<u8>> = all[i..].iter().map(|l| rtrim(l).to_vec()).collect();
        let first = body
            .iter()
            .position(|l| !l.is_empty())
            .unwrap_or(body.len());
        body.drain(..first);
        while body.last().is_some_and(|l| l.is_empty()) {
            body.pop();
        }
        Message { subject, body }
    }

    /// The body as text, each line ending in `\n` (empty when there is none).
    pub fn body_text(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for line in &self.body {
            out.extend_from_slice(line);
            out.push(b'\n');
        }
        out
    }
}

/// The subject as `git shortlog` lists it: leading blanks and a leading
/// `[PATCH...]` tag removed.
pub fn shortlog_subject(msg: &[u8]) -> Vec<u8> {
    let mut s = msg;
    while s.first().is_some_and(|&b| is_space(b)) {
        s = &s[1..];
    }
    if s.starts_with(b"[PATCH") {
        let eol = s.iter().position(|&b| b == b'\n').unwrap_or(s.len());
        if let Some(eob) = s[..eol].iter().position(|&b| b == b']') {
            s = &s[eob + 1..];
        }
    }
    while s.first().is_some_and(|&b| is_space(b) && b != b'\n') {
        s = &s[1..];
    }
    Message::parse(s).subject
}

/// The first non-blank line of a message (what git's `%f` slugs).
pub fn first_line(msg: &[u8]) -> &[u8] {
    lines(msg)
        .into_iter()
        .find(|l| !rtrim(l).is_empty())
        .unwrap_or_default()
}

fn is_title_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'.' || b == b'_'
}

/// git's `format_sanitized_subject`: the subject as a file name slug.
pub fn sanitized_subject(subject: &[u8]) -> String {
    let mut out = String::new();
    let mut space = 2;
    let mut i = 0;
    while i < subject.len() {
        let b = subject[i];
        if is_title_char(b) {
            if space == 1 {
                out.push('-');
            }
            space = 0;
            out.push(b as char);
            if b == b'.' {
                while subject.get(i + 1) == Some(&b'.') {
                    i += 1;
                }
            }
        } else {
            space |= 1;
        }
        i += 1;
    }
    let trimmed = out.trim_end_matches(['.', '-']).len();
    out.truncate(trimmed);
    out
}

/// Longest patch file name git makes (`format.filenameMaxLength`).
const PATCH_NAME_MAX: usize = 64;
const SUFFIX: &str = ".patch";

/// `[vN-]NNNN-slug.patch` as `git format-patch` names a patch.
pub fn patch_file_name(reroll: Option<u32>, number: usize, slug: &str) -> String {
    let max_len = PATCH_NAME_MAX - (SUFFIX.len() + 1);
    let mut name = String::new();
    if let Some(v) = reroll {
        name.push_str(&format!("v{v}-"));
    }
    name.push_str(&format!("{number:04}-{slug}"));
    name.truncate(max_len);
    name.push_str(SUFFIX);
    name
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_subject_and_body() {
        let m = Message::parse(b"\n  Lead ws  \nsecond\n\n\nbody  \n\n x\n\n\n");
        assert_eq!(m.subject, b"  Lead ws second");
        assert_eq!(m.body, vec![b"body".to_vec(), vec![], b" x".to_vec()]);
        assert!(Message::parse(b"only").body.is_empty());
    }

    #[test]
    fn slugs() {
        assert_eq!(
            sanitized_subject(b"Subject with [brackets] and \"quotes\"... / slash trailing..."),
            "Subject-with-brackets-and-quotes-.-slash-trailing"
        );
        assert_eq!(sanitized_subject("Fix ünïcode".as_bytes()), "Fix-n-code");
        assert_eq!(
            patch_file_name(
                Some(3),
                2,
                "Fix-n-code-subject-that-is-long-enough-to-need-folding"
            ),
            "v3-0002-Fix-n-code-subject-that-is-long-enough-to-need-fo.patch"
        );
    }

    #[test]
    fn shortlog_subjects() {
        assert_eq!(shortlog_subject(b"[PATCH 1/2] x y\n\nbody"), b"x y");
        assert_eq!(shortlog_subject(b"  a\nb\n"), b"a b");
    }
}
