//! The text after `@@ ... @@` in hunk headers: the nearest line above the
//! hunk that looks like a function, with git's default rule or the builtin
//! `diff=cpp`, `diff=dts` and `diff=rust` drivers that the kernel's
//! .gitattributes selects.

use anyhow::{bail, Result};
use git2::{AttrCheckFlags, AttrValue, Repository};
use std::path::Path;

/// Room git keeps for the function text.
const FUNC_LINE_MAX: usize = 80;

/// How function lines are found for a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Driver {
    Default,
    Cpp,
    Dts,
    Rust,
}

/// git's builtin drivers that this tool does not reproduce.
const UNSUPPORTED_BUILTINS: &[&str] = &[
    "ada", "bash", "bibtex", "csharp", "css", "elixir", "fortran", "fountain", "golang", "html",
    "java", "kotlin", "markdown", "matlab", "objc", "pascal", "perl", "php", "python", "ruby",
    "scheme", "tex",
];

/// What the `diff` attribute says about a path.
#[derive(Debug, Clone)]
pub struct DiffAttr {
    /// Whether the file is binary whatever its content: Some when the
    /// attribute (`-diff`, `diff`) or `diff.<driver>.binary` decides;
    /// None when a NUL byte in the content does, as in git.
    pub binary: Option<bool>,
    /// The driver of the hunk headers, or why export cannot reproduce it
    /// (which matters only for a text diff).
    pub driver: std::result::Result<Driver, String>,
}

/// Looks up the `diff` attribute of `path` (work tree, then index) and
/// its driver in `config`.
pub fn diff_attr(repo: &Repository, config: &git2::Config, path: &[u8]) -> Result<DiffAttr> {
    let p = Path::new(std::str::from_utf8(path).unwrap_or(""));
    let value = repo.get_attr_bytes(p, "diff", AttrCheckFlags::FILE_THEN_INDEX)?;
    let default = |binary| DiffAttr {
        binary,
        driver: Ok(Driver::Default),
    };
    let name = match AttrValue::from_bytes(value) {
        AttrValue::False => return Ok(default(Some(true))),
        AttrValue::True => return Ok(default(Some(false))),
        AttrValue::Unspecified => return Ok(default(None)),
        AttrValue::String(s) => s.to_string(),
        AttrValue::Bytes(b) => String::from_utf8_lossy(b).into_owned(),
    };
    let binary_key = format!("diff.{name}.binary");
    let binary = match config.get_entry(&binary_key) {
        Err(_) => None,
        Ok(_) => match config.get_bool(&binary_key) {
            Ok(b) => Some(b),
            Err(_) => bail!("{binary_key} is not true or false; correct or unset it"),
        },
    };
    let custom = ["xfuncname", "funcname"]
        .into_iter()
        .find(|key| config.get_entry(&format!("diff.{name}.{key}")).is_ok());
    let driver = match (custom, name.as_str()) {
        (Some(key), _) => Err(format!(
            "{} uses diff driver {name:?} with a custom diff.{name}.{key}; \
             export only reproduces git's builtin drivers, unset it",
            p.display()
        )),
        (None, "cpp") => Ok(Driver::Cpp),
        (None, "dts") => Ok(Driver::Dts),
        (None, "rust") => Ok(Driver::Rust),
        (None, other) if UNSUPPORTED_BUILTINS.contains(&other) => Err(format!(
            "{} uses git's diff driver {other:?}, which export does not reproduce \
             (supported: cpp, dts, rust and the default)",
            p.display()
        )),
        (None, _) => Ok(Driver::Default),
    };
    Ok(DiffAttr { binary, driver })
}

/// git's `isspace`, which trims the function text.
fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

/// The function text as git shows it: at most 80 bytes, trailing blanks
/// trimmed, then cut at the first byte that is not valid UTF-8 (Latin-1
/// text, or a character split by the 80-byte limit).
fn finish(text: &[u8]) -> Vec<u8> {
    let mut t = &text[..text.len().min(FUNC_LINE_MAX)];
    while t.last().is_some_and(|&b| is_space(b)) {
        t = &t[..t.len() - 1];
    }
    if let Err(e) = std::str::from_utf8(t) {
        t = &t[..e.valid_up_to()];
    }
    t.to_vec()
}

/// The function text for `line` (with its `\n`), or None when it is not a
/// function line.
pub fn match_line(driver: Driver, line: &[u8]) -> Option<Vec<u8>> {
    if driver == Driver::Default {
        let first = *line.first()?;
        return (first.is_ascii_alphabetic() || first == b'_' || first == b'$')
            .then(|| finish(line));
    }
    let mut l = line;
    if l.ends_with(b"\n") {
        l = &l[..l.len() - 1];
        if l.ends_with(b"\r") {
            l = &l[..l.len() - 1];
        }
    }
    let start = match driver {
        Driver::Cpp => cpp(l)?,
        Driver::Dts => dts(l)?,
        Driver::Rust => rust(l)?,
        Driver::Default => unreachable!(),
    };
    Some(finish(&l[start..]))
}

fn ident_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_'
}

fn ident_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// `[[:space:]]` of the drivers' regular expressions.
fn posix_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c)
}

/// `!^[ \t]*[A-Za-z_][A-Za-z_0-9]*:[[:space:]]*($|/[/*])` then
/// `^((::[[:space:]]*)?[A-Za-z_].*)$`.
fn cpp(l: &[u8]) -> Option<usize> {
    if is_label(l) {
        return None;
    }
    if l.starts_with(b"::") {
        let mut i = 2;
        while i < l.len() && posix_space(l[i]) {
            i += 1;
        }
        if i < l.len() && ident_start(l[i]) {
            return Some(0);
        }
    }
    l.first().copied().filter(|&b| ident_start(b)).map(|_| 0)
}

fn is_label(l: &[u8]) -> bool {
    let mut i = 0;
    while i < l.len() && (l[i] == b' ' || l[i] == b'\t') {
        i += 1;
    }
    if i >= l.len() || !ident_start(l[i]) {
        return false;
    }
    while i < l.len() && ident_char(l[i]) {
        i += 1;
    }
    if l.get(i) != Some(&b':') {
        return false;
    }
    i += 1;
    while i < l.len() && posix_space(l[i]) {
        i += 1;
    }
    i == l.len() || l[i..].starts_with(b"//") || l[i..].starts_with(b"/*")
}

/// `!;`, `!=`, then `^[ \t]*((/[ \t]*\{|&?[a-zA-Z_]).*)`.
fn dts(l: &[u8]) -> Option<usize> {
    if l.contains(&b';') || l.contains(&b'=') {
        return None;
    }
    let mut i = 0;
    while i < l.len() && (l[i] == b' ' || l[i] == b'\t') {
        i += 1;
    }
    let start = i;
    let rest = &l[i..];
    if rest.first() == Some(&b'/') {
        let mut j = 1;
        while j < rest.len() && (rest[j] == b' ' || rest[j] == b'\t') {
            j += 1;
        }
        if rest.get(j) == Some(&b'{') {
            return Some(start);
        }
    }
    let k = usize::from(rest.first() == Some(&b'&'));
    rest.get(k)
        .copied()
        .filter(|&b| ident_start(b))
        .map(|_| start)
}

fn skip_blanks(l: &[u8], mut i: usize) -> usize {
    while i < l.len() && (l[i] == b' ' || l[i] == b'\t') {
        i += 1;
    }
    i
}

/// git's rust pattern: optional `pub[(...)]`, optional qualifier, then an
/// item keyword, separators and a rest without `;`.
fn rust(l: &[u8]) -> Option<usize> {
    let start = skip_blanks(l, 0);
    let mut after_pub = vec![start];
    if l[start..].starts_with(b"pub") {
        let mut i = start + 3;
        if l.get(i) == Some(&b'(') {
            let close = l[i + 1..].iter().position(|&b| b == b')');
            match close {
                Some(c) if c > 0 => i = i + 1 + c + 1,
                _ => i = usize::MAX,
            }
        }
        if i != usize::MAX {
            let j = skip_blanks(l, i);
            if j > i {
                after_pub.push(j);
            }
        }
    }
    for &p in &after_pub {
        let mut after_qual = vec![p];
        for q in [&b"async"[..], b"const", b"unsafe"] {
            if l[p..].starts_with(q) {
                let j = skip_blanks(l, p + q.len());
                if j > p + q.len() {
                    after_qual.push(j);
                }
            }
        }
        if l[p..].starts_with(b"extern") {
            let i = skip_blanks(l, p + 6);
            if i > p + 6 && l.get(i) == Some(&b'"') {
                if let Some(c) = l[i + 1..].iter().position(|&b| b == b'"') {
                    if c > 0 {
                        let e = i + 1 + c + 1;
                        let j = skip_blanks(l, e);
                        if j > e {
                            after_qual.push(j);
                        }
                    }
                }
            }
        }
        for &q in &after_qual {
            for kw in [
                &b"struct"[..],
                b"enum",
                b"union",
                b"mod",
                b"trait",
                b"fn",
                b"impl",
                b"macro_rules!",
            ] {
                if !l[q..].starts_with(kw) {
                    continue;
                }
                let k = q + kw.len();
                let mut j = k;
                while j < l.len() && matches!(l[j], b'<' | b' ' | b'\t') {
                    j += 1;
                }
                if j > k && !l[j..].contains(&b';') {
                    return Some(start);
                }
            }
        }
    }
    None
}

/// The function text of the nearest function line at or above `from`
/// (0-based line index), searching `lines` upwards.
pub fn find_above(driver: Driver, lines: &[&[u8]], from: Option<usize>) -> Vec<u8> {
    let Some(from) = from else {
        return Vec::new();
    };
    let mut i = from.min(lines.len().saturating_sub(1)) as isize;
    if lines.is_empty() {
        return Vec::new();
    }
    while i >= 0 {
        if let Some(text) = match_line(driver, lines[i as usize]) {
            return text;
        }
        i -= 1;
    }
    Vec::new()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpp_lines() {
        assert_eq!(
            match_line(Driver::Cpp, b"static int f(void)\n").unwrap(),
            b"static int f(void)"
        );
        assert!(match_line(Driver::Cpp, b"out:\n").is_none());
        assert!(match_line(Driver::Cpp, b"err: /* x */\n").is_none());
        assert!(match_line(Driver::Cpp, b"\tint x;\n").is_none());
        assert!(match_line(Driver::Cpp, b"{\n").is_none());
    }

    #[test]
    fn default_and_truncation() {
        let long = [b'a'; 100];
        assert_eq!(match_line(Driver::Default, &long).unwrap().len(), 80);
        assert!(match_line(Driver::Default, b" x\n").is_none());
    }

    #[test]
    fn rust_and_dts_lines() {
        assert!(match_line(Driver::Rust, b"pub(crate) fn x() {\n").is_some());
        assert!(match_line(Driver::Rust, b"    let x = 1;\n").is_none());
        assert_eq!(
            match_line(Driver::Dts, b"\t&uart0 {\n").unwrap(),
            b"&uart0 {"
        );
        assert!(match_line(Driver::Dts, b"\tstatus = \"okay\";\n").is_none());
    }
}
