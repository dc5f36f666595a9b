//! Parsing the patch part of a mail: git extended diffs (new, deleted,
//! renamed, copied files, mode changes, binary markers) and plain unified
//! diffs, into per-file hunks.

use anyhow::{bail, Context, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineKind {
    Context,
    Remove,
    Add,
}

/// One hunk line; `text` ends in `\n` unless followed by
/// `\ No newline at end of file`. Bytes as in the patch (any encoding).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HunkLine {
    pub kind: LineKind,
    pub text: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hunk {
    /// The `@@ -a,b +c,d @@` line, for messages.
    pub header: String,
    pub old_start: usize,
    pub old_len: usize,
    pub new_start: usize,
    pub new_len: usize,
    pub lines: Vec<HunkLine>,
}

impl Hunk {
    pub fn added(&self) -> usize {
        self.count(LineKind::Add)
    }

    pub fn removed(&self) -> usize {
        self.count(LineKind::Remove)
    }

    fn count(&self, kind: LineKind) -> usize {
        self.lines.iter().filter(|l| l.kind == kind).count()
    }

    /// The lines the hunk expects (context and removed lines).
    pub fn preimage(&self) -> Vec<&[u8]> {
        self.side(LineKind::Remove)
    }

    /// The lines the hunk leaves (context and added lines).
    pub fn postimage(&self) -> Vec<&[u8]> {
        self.side(LineKind::Add)
    }

    fn side(&self, change: LineKind) -> Vec<&[u8]> {
        self.lines
            .iter()
            .filter(|l| l.kind == LineKind::Context || l.kind == change)
            .map(|l| l.text.as_slice())
            .collect()
    }

    /// Context lines after the last change.
    pub fn trailing_context(&self) -> usize {
        self.lines
            .iter()
            .rev()
            .take_while(|l| l.kind == LineKind::Context)
            .count()
    }
}

/// The change one `diff --git` section makes to one file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FilePatch {
    /// Path before (None for a new file); no `a/` prefix.
    pub old_path: Option<String>,
    /// Path after (None for a deleted file); no `b/` prefix.
    pub new_path: Option<String>,
    /// From `old mode` / `deleted file mode` lines.
    pub old_mode: Option<u32>,
    /// From `new mode` / `new file mode` lines.
    pub new_mode: Option<u32>,
    /// The mode of an `index` line: what the sender's tree had. git keeps
    /// the mode of the tree the patch is applied to (and warns when it
    /// differs), so this never changes a mode.
    pub index_mode: Option<u32>,
    pub is_new: bool,
    pub is_delete: bool,
    pub is_rename: bool,
    pub is_copy: bool,
    pub binary: bool,
    /// The forward hunk of a `GIT binary patch` (None for `Binary files
    /// ... differ`, which carries no data).
    pub binary_hunk: Option<BinaryHunk>,
    /// The object ids of the `index` line (abbreviated or full).
    pub index_ids: Option<(String, String)>,
    pub hunks: Vec<Hunk>,
}

/// How a binary hunk gives the new content.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinaryKind {
    /// The whole new content.
    Literal,
    /// A git delta against the old content.
    Delta,
}

/// One hunk of a `GIT binary patch`: its kind, the inflated size it
/// announces and the zlib data (base85 already decoded).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BinaryHunk {
    pub kind: BinaryKind,
    pub size: usize,
    pub deflated: Vec<u8>,
}

impl FilePatch {
    /// The path to name in messages.
    pub fn display_path(&self) -> &str {
        self.new_path
            .as_deref()
            .or(self.old_path.as_deref())
            .unwrap_or("?")
    }
}

/// All file patches in `text` (diffstat, signature and other lines
/// between them are skipped). Empty when `text` has no diff.
pub fn parse(text: &[u8]) -> Result<Vec<FilePatch>> {
    let lines: Vec<&[u8]> = text.split_inclusive(|&b| b == b'\n').collect();
    let mut files = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        if let Some(rest) = line.strip_prefix(b"diff --git ") {
            let (file, next) = parse_git_section(&lines, i, rest)
                .with_context(|| format!("in the diff at line {:?}", lossy(line)))?;
            files.push(file);
            i = next;
        } else if line.starts_with(b"--- ")
            && lines.get(i + 1).is_some_and(|l| l.starts_with(b"+++ "))
            && lines.get(i + 2).is_some_and(|l| l.starts_with(b"@@ -"))
        {
            let mut file = FilePatch::default();
            let old = patch_name(&line[4..])?;
            let new = patch_name(&lines[i + 1][4..])?;
            file.is_new = old.is_none();
            file.is_delete = new.is_none();
            file.old_path = old;
            file.new_path = new;
            let (hunks, next) = parse_hunks(&lines, i + 2)
                .with_context(|| format!("in the diff of {}", file.display_path()))?;
            file.hunks = hunks;
            files.push(file);
            i = next;
        } else {
            i += 1;
        }
    }
    Ok(files)
}

/// A line as text for messages and header fields (bytes that are not
/// UTF-8 shown as U+FFFD), without its newline.
fn lossy(line: &[u8]) -> String {
    String::from_utf8_lossy(line.strip_suffix(b"\n").unwrap_or(line)).into_owned()
}

fn parse_git_section(lines: &[&[u8]], start: usize, names: &[u8]) -> Result<(FilePatch, usize)> {
    let mut file = FilePatch::default();
    let names = std::str::from_utf8(names)
        .context("the file names of `diff --git` are not UTF-8 (git quotes such names)")?;
    let default_name = git_line_name(names.trim_end_matches('\n'));
    let mut i = start + 1;
    let mut saw_names = false;
    while i < lines.len() {
        let line = lossy(lines[i]);
        let line = line.as_str();
        if let Some(m) = line.strip_prefix("old mode ") {
            file.old_mode = Some(parse_mode(m)?);
        } else if let Some(m) = line.strip_prefix("new mode ") {
            file.new_mode = Some(parse_mode(m)?);
        } else if let Some(m) = line.strip_prefix("deleted file mode ") {
            file.is_delete = true;
            file.old_mode = Some(parse_mode(m)?);
        } else if let Some(m) = line.strip_prefix("new file mode ") {
            file.is_new = true;
            file.new_mode = Some(parse_mode(m)?);
        } else if let Some(p) = line.strip_prefix("rename from ") {
            file.is_rename = true;
            file.old_path = Some(unquote(p)?);
        } else if let Some(p) = line.strip_prefix("rename to ") {
            file.is_rename = true;
            file.new_path = Some(unquote(p)?);
        } else if let Some(p) = line.strip_prefix("copy from ") {
            file.is_copy = true;
            file.old_path = Some(unquote(p)?);
        } else if let Some(p) = line.strip_prefix("copy to ") {
            file.is_copy = true;
            file.new_path = Some(unquote(p)?);
        } else if let Some(ix) = line.strip_prefix("index ") {
            let (ids, mode) = ix.split_once(' ').unwrap_or((ix, ""));
            if !mode.is_empty() {
                file.index_mode = Some(parse_mode(mode)?);
            }
            if let Some((old, new)) = ids.split_once("..") {
                file.index_ids = Some((old.to_string(), new.to_string()));
            }
        } else if line.starts_with("similarity index ") || line.starts_with("dissimilarity index ")
        {
        } else if line == "GIT binary patch" || line.starts_with("Binary files ") {
            file.binary = true;
            i += 1;
            if line == "GIT binary patch" {
                let (hunk, next) = parse_binary_hunk(lines, i)?;
                file.binary_hunk = Some(hunk);
                i = next;
            }
            while i < lines.len() && !lines[i].starts_with(b"diff --git ") {
                i += 1;
            }
            break;
        } else if line.starts_with("--- ")
            && lines.get(i + 1).is_some_and(|l| l.starts_with(b"+++ "))
        {
            let old = patch_name(&lines[i][4..])?;
            let new = patch_name(&lines[i + 1][4..])?;
            if !file.is_rename && !file.is_copy {
                file.old_path = old;
                file.new_path = new;
            }
            saw_names = true;
            let (hunks, next) = parse_hunks(lines, i + 2)?;
            file.hunks = hunks;
            i = next;
            break;
        } else {
            break;
        }
        i += 1;
    }
    if !saw_names && !file.is_rename && !file.is_copy {
        let name = default_name.with_context(|| {
            format!(
                "cannot tell the file name from `diff --git {}`",
                names.trim_end()
            )
        })?;
        if !file.is_new {
            file.old_path = Some(name.clone());
        }
        if !file.is_delete {
            file.new_path = Some(name);
        }
    }
    if file.is_new {
        file.old_path = None;
    }
    if file.is_delete {
        file.new_path = None;
    }
    if file.old_path.is_none() && file.new_path.is_none() {
        bail!("the diff names no file");
    }
    if let (Some(old), Some(new)) = (file.old_mode, file.new_mode) {
        if !file.is_new && !file.is_delete && (old ^ new) & 0o170000 != 0 {
            bail!(
                "the new mode {new:o} of {} does not match its old mode {old:o}: \
                 a file cannot become a symbolic link (or back) in place; git am \
                 refuses this too, the change must delete the file and create the link",
                file.display_path()
            );
        }
    }
    Ok((file, i))
}

/// The `literal N` / `delta N` hunk at `lines[i]` and its base85 lines,
/// up to the empty line that ends it; returns it and the index after it.
fn parse_binary_hunk(lines: &[&[u8]], mut i: usize) -> Result<(BinaryHunk, usize)> {
    let head = lossy(lines.get(i).copied().unwrap_or_default());
    let (kind, size) = if let Some(n) = head.strip_prefix("literal ") {
        (BinaryKind::Literal, n)
    } else if let Some(n) = head.strip_prefix("delta ") {
        (BinaryKind::Delta, n)
    } else {
        bail!("a binary patch starts with {head:?} instead of `literal N` or `delta N`");
    };
    let size: usize = size
        .trim()
        .parse()
        .with_context(|| format!("bad binary hunk size in {head:?}"))?;
    i += 1;
    let mut deflated = Vec::new();
    while let Some(&raw) = lines.get(i) {
        let line = raw.strip_suffix(b"\n").unwrap_or(raw);
        if line.is_empty() {
            i += 1;
            break;
        }
        decode_base85_line(line, &mut deflated)
            .with_context(|| format!("bad line in a binary patch: {:?}", lossy(raw)))?;
        i += 1;
    }
    Ok((
        BinaryHunk {
            kind,
            size,
            deflated,
        },
        i,
    ))
}

/// git's base85 alphabet.
const BASE85: &[u8; 85] =
    b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz!#$%&()*+-;<=>?@^_`{|}~";

/// One line of a binary hunk: a length letter (A-Z: 1-26, a-z: 27-52
/// bytes), then groups of five base85 characters, four bytes each.
fn decode_base85_line(line: &[u8], out: &mut Vec<u8>) -> Result<()> {
    let (&len_char, data) = line.split_first().context("an empty line")?;
    let len = match len_char {
        b'A'..=b'Z' => usize::from(len_char - b'A') + 1,
        b'a'..=b'z' => usize::from(len_char - b'a') + 27,
        _ => bail!(
            "the length letter {:?} is not A-Z or a-z",
            char::from(len_char)
        ),
    };
    if data.len() != len.div_ceil(4) * 5 {
        bail!("{} base85 characters for {len} bytes", data.len());
    }
    let mut left = len;
    for group in data.chunks(5) {
        let mut acc: u64 = 0;
        for &c in group {
            let digit = BASE85
                .iter()
                .position(|&d| d == c)
                .with_context(|| format!("{:?} is not a base85 character", char::from(c)))?;
            acc = acc * 85 + digit as u64;
        }
        if acc > u64::from(u32::MAX) {
            bail!("a base85 group overflows");
        }
        let bytes = (acc as u32).to_be_bytes();
        let take = left.min(4);
        out.extend_from_slice(&bytes[..take]);
        left -= take;
    }
    Ok(())
}

/// Hunks starting at `lines[i]`; returns them and the index after them.
fn parse_hunks(lines: &[&[u8]], mut i: usize) -> Result<(Vec<Hunk>, usize)> {
    let mut hunks = Vec::new();
    while i < lines.len() && lines[i].starts_with(b"@@ -") {
        let header = lossy(lines[i]);
        let (old_start, old_len, new_start, new_len) = parse_hunk_header(&header)?;
        let mut hunk = Hunk {
            header: header.clone(),
            old_start,
            old_len,
            new_start,
            new_len,
            lines: Vec::new(),
        };
        let (mut old_left, mut new_left) = (old_len, new_len);
        i += 1;
        while old_left > 0 || new_left > 0 {
            let Some(line) = lines.get(i) else {
                bail!("the hunk {header} ends early: the mail is cut short");
            };
            let (kind, text) = match line.first() {
                Some(b' ') => (LineKind::Context, &line[1..]),
                Some(b'\n') => (LineKind::Context, *line),
                Some(b'-') => (LineKind::Remove, &line[1..]),
                Some(b'+') => (LineKind::Add, &line[1..]),
                Some(b'\\') => {
                    drop_last_newline(&mut hunk);
                    i += 1;
                    continue;
                }
                _ => bail!(
                    "the hunk {header} ends early at {:?}: the patch is corrupt",
                    lossy(line)
                ),
            };
            match kind {
                LineKind::Context if old_left > 0 && new_left > 0 => {
                    old_left -= 1;
                    new_left -= 1;
                }
                LineKind::Remove if old_left > 0 => old_left -= 1,
                LineKind::Add if new_left > 0 => new_left -= 1,
                _ => bail!("the hunk {header} has more lines than its header says"),
            }
            hunk.lines.push(HunkLine {
                kind,
                text: text.to_vec(),
            });
            i += 1;
        }
        if lines.get(i).is_some_and(|l| l.starts_with(b"\\")) {
            drop_last_newline(&mut hunk);
            i += 1;
        }
        hunks.push(hunk);
    }
    if hunks.is_empty() {
        bail!("a `---`/`+++` pair is not followed by a hunk");
    }
    Ok((hunks, i))
}

fn drop_last_newline(hunk: &mut Hunk) {
    if let Some(last) = hunk.lines.last_mut() {
        if last.text.ends_with(b"\n") {
            last.text.pop();
        }
    }
}

/// `@@ -a,b +c,d @@ ...` → (a, b, c, d); a missing length is 1.
fn parse_hunk_header(header: &str) -> Result<(usize, usize, usize, usize)> {
    let bad = || format!("bad hunk header {header:?}");
    let body = header.strip_prefix("@@ -").with_context(bad)?;
    let (ranges, _) = body.split_once(" @@").with_context(bad)?;
    let (old, new) = ranges.split_once(" +").with_context(bad)?;
    let range = |r: &str| -> Result<(usize, usize)> {
        let (s, l) = r.split_once(',').unwrap_or((r, "1"));
        Ok((s.parse().with_context(bad)?, l.parse().with_context(bad)?))
    };
    let (a, b) = range(old)?;
    let (c, d) = range(new)?;
    Ok((a, b, c, d))
}

fn parse_mode(m: &str) -> Result<u32> {
    u32::from_str_radix(m.trim(), 8).with_context(|| format!("bad file mode {m:?}"))
}

/// A `---`/`+++` name: `/dev/null` is None, else the path without its
/// first component (`a/`, `b/`) and without a trailing tab and date.
fn patch_name(raw: &[u8]) -> Result<Option<String>> {
    let raw = std::str::from_utf8(raw)
        .with_context(|| format!("the file name {:?} is not UTF-8", lossy(raw)))?;
    let raw = raw.trim_end_matches('\n');
    let name = if raw.starts_with('"') {
        unquote(raw)?
    } else {
        raw.split('\t').next().unwrap_or("").trim_end().to_string()
    };
    if name == "/dev/null" {
        return Ok(None);
    }
    match name.split_once('/') {
        Some((_, rest)) if !rest.is_empty() => Ok(Some(rest.to_string())),
        _ => bail!("the file name {name:?} has no a/ or b/ prefix"),
    }
}

/// The file name of `diff --git a/X b/X` when both sides agree.
fn git_line_name(names: &str) -> Option<String> {
    if names.starts_with('"') {
        let end = quoted_end(names)?;
        let first = unquote(&names[..end]).ok()?;
        let second = names[end..].trim_start();
        let second = if second.starts_with('"') {
            unquote(second).ok()?
        } else {
            second.to_string()
        };
        let strip = |s: &str| s.split_once('/').map(|(_, r)| r.to_string());
        return strip(&first).filter(|a| strip(&second).as_ref() == Some(a));
    }
    let bytes = names.as_bytes();
    for (sp, _) in bytes.iter().enumerate().filter(|(_, &b)| b == b' ') {
        let (left, right) = (&names[..sp], &names[sp + 1..]);
        let l = left.split_once('/').map(|(_, r)| r);
        let r = right.split_once('/').map(|(_, r)| r);
        if let (Some(l), Some(r)) = (l, r) {
            if l == r && !l.is_empty() {
                return Some(l.to_string());
            }
        }
    }
    None
}

fn quoted_end(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    let mut i = 1;
    while i < b.len() {
        match b[i] {
            b'\\' => i += 2,
            b'"' => return Some(i + 1),
            _ => i += 1,
        }
    }
    None
}

/// git's C-style quoting (`"a/t\303\244st\tx"`) undone; unquoted text as is.
pub fn unquote(s: &str) -> Result<String> {
    let Some(inner) = s.strip_prefix('"') else {
        return Ok(s.to_string());
    };
    let mut out: Vec<u8> = Vec::new();
    let b = inner.as_bytes();
    let mut i = 0;
    loop {
        let Some(&c) = b.get(i) else {
            bail!("unterminated quoted file name {s:?}");
        };
        match c {
            b'"' => break,
            b'\\' => {
                let e = *b
                    .get(i + 1)
                    .with_context(|| format!("bad quoting in {s:?}"))?;
                let (byte, used) = match e {
                    b'n' => (b'\n', 2),
                    b't' => (b'\t', 2),
                    b'a' => (7, 2),
                    b'b' => (8, 2),
                    b'f' => (12, 2),
                    b'r' => (b'\r', 2),
                    b'v' => (11, 2),
                    b'"' | b'\\' => (e, 2),
                    b'0'..=b'3' => {
                        let oct = inner
                            .get(i + 1..i + 4)
                            .with_context(|| format!("bad quoting in {s:?}"))?;
                        (
                            u8::from_str_radix(oct, 8)
                                .with_context(|| format!("bad quoting in {s:?}"))?,
                            4,
                        )
                    }
                    _ => bail!("bad quoting in {s:?}"),
                };
                out.push(byte);
                i += used;
            }
            _ => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8(out).with_context(|| format!("the file name {s:?} is not UTF-8"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_git_shapes() {
        let text = "---\n a | 2 +-\n\n\
diff --git a/a b/a\nindex 1..2 100644\n--- a/a\n+++ b/a\n@@ -1,2 +1,2 @@\n x\n-y\n+z\n\\ No newline at end of file\n\
diff --git a/old name b/new name\nsimilarity index 90%\nrename from old name\nrename to new name\n\
diff --git a/s b/s\nold mode 100644\nnew mode 100755\n\
diff --git a/e b/e\nnew file mode 100644\nindex 0000000..e69de29\n\
diff --git a/bin b/bin\nindex 1..2 100644\nGIT binary patch\nliteral 1\nIcmZPo000310RR91\n\nliteral 0\nHcmV?d00001\n\n\
diff --git \"a/t\\303\\244st\" \"b/t\\303\\244st\"\ndeleted file mode 100644\nindex 1..0\n--- \"a/t\\303\\244st\"\n+++ /dev/null\n@@ -1 +0,0 @@\n-q\n-- \n2.47.3\n";
        let files = parse(text.as_bytes()).unwrap();
        assert_eq!(files.len(), 6);
        assert_eq!(files[0].hunks[0].postimage(), vec![&b"x\n"[..], b"z"]);
        assert_eq!(
            (files[0].old_mode, files[0].index_mode),
            (None, Some(0o100644))
        );
        assert_eq!(files[0].hunks[0].preimage(), vec![&b"x\n"[..], b"y\n"]);
        assert!(files[1].is_rename);
        assert_eq!(files[1].old_path.as_deref(), Some("old name"));
        assert_eq!(files[1].new_path.as_deref(), Some("new name"));
        assert_eq!(
            (files[2].old_mode, files[2].new_mode),
            (Some(0o100644), Some(0o100755))
        );
        assert_eq!(files[2].new_path.as_deref(), Some("s"));
        assert!(files[3].is_new && files[3].hunks.is_empty());
        assert!(files[4].binary);
        let bin = files[4].binary_hunk.as_ref().unwrap();
        assert_eq!(crate::hunks::apply_binary(b"", bin).unwrap(), b"\0");
        assert!(files[5].is_delete);
        assert_eq!(files[5].old_path.as_deref(), Some("täst"));
    }

    #[test]
    fn refuses_cut_hunks() {
        assert!(parse(b"diff --git a/a b/a\n--- a/a\n+++ b/a\n@@ -1,3 +1,3 @@\n x\n").is_err());
    }

    #[test]
    fn refuses_a_type_change_in_place() {
        let err = parse(b"diff --git a/g b/g\nold mode 100644\nnew mode 120000\n").unwrap_err();
        assert!(
            format!("{err:#}").contains("new mode 120000 of g does not match its old mode 100644")
        );
    }
}
