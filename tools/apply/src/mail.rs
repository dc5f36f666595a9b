//! Reading a series: a directory of `git format-patch` files or an mbox,
//! split into mails and turned into commit metadata the way `git am`
//! (`git mailsplit` + `git mailinfo`) does.

use crate::{diff, header};
use anyhow::{bail, Context, Result};
use std::path::Path;

/// A series as read from disk: the optional cover letter and the patches in order.
#[derive(Debug, Clone)]
pub struct Series {
    pub cover: Option<MailPatch>,
    pub patches: Vec<MailPatch>,
}

/// One mail of a series, with what `git am` would record from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailPatch {
    /// File name, or `mbox message N` (1-based) for an mbox.
    pub source: String,
    pub author_name: String,
    pub author_email: String,
    /// Author date, seconds since the epoch.
    pub time: i64,
    pub tz_offset_minutes: i32,
    /// The subject without `Re:` and `[PATCH ...]` prefixes.
    pub subject: String,
    /// The commit message exactly as `git am` stores it (ends with a newline).
    pub message: String,
    /// Everything from the `---` line on: diffstat, diff and signature,
    /// bytes as they were in the mail.
    pub diff: Vec<u8>,
}

impl MailPatch {
    /// git's diffstat summary line, e.g.
    /// ` 3 files changed, 10 insertions(+), 2 deletions(-)`.
    pub fn diffstat_summary(&self) -> String {
        let files = diff::parse(&self.diff).unwrap_or_default();
        let (mut plus, mut minus) = (0usize, 0usize);
        for file in &files {
            for hunk in &file.hunks {
                plus += hunk.added();
                minus += hunk.removed();
            }
        }
        summary_line(files.len(), plus, minus)
    }
}

/// The summary line of `git diff --stat` for these counts.
pub fn summary_line(files: usize, plus: usize, minus: usize) -> String {
    let s = |n: usize| if n == 1 { "" } else { "s" };
    let mut line = format!(" {files} file{} changed", s(files));
    if files == 0 {
        return line;
    }
    if plus > 0 || minus == 0 {
        line.push_str(&format!(", {plus} insertion{}(+)", s(plus)));
    }
    if minus > 0 || plus == 0 {
        line.push_str(&format!(", {minus} deletion{}(-)", s(minus)));
    }
    line
}

/// Reads a series from a directory of `*.patch` files (sorted by name) or
/// from an mbox file. The first mail is the cover letter when it has no
/// diff and its subject is numbered `[PATCH 0/N]` (its file name does not
/// matter); any other mail without a diff is refused, as `git am` stops at
/// an empty patch.
pub fn read_series(path: &Path) -> Result<Series> {
    let mut mails = Vec::new();
    if path.is_dir() {
        let mut files: Vec<_> = std::fs::read_dir(path)
            .with_context(|| format!("cannot list the series directory {}", path.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "patch") && p.is_file())
            .collect();
        files.sort();
        if files.is_empty() {
            bail!(
                "{} holds no *.patch files (make them with `git format-patch` or `series export`)",
                path.display()
            );
        }
        for file in files {
            let name = file
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let bytes = std::fs::read(&file)
                .with_context(|| format!("cannot read the patch {}", file.display()))?;
            let texts = split_mbox(&bytes).with_context(|| format!("{name} is not a mail"))?;
            let count = texts.len();
            for (i, text) in texts.into_iter().enumerate() {
                let source = if count == 1 {
                    name.clone()
                } else {
                    format!("{name} message {}", i + 1)
                };
                mails.push((source, text));
            }
        }
    } else {
        let bytes = std::fs::read(path)
            .with_context(|| format!("cannot read the series {}", path.display()))?;
        let texts = split_mbox(&bytes)
            .with_context(|| format!("{} is not an mbox or a mail", path.display()))?;
        for (i, text) in texts.into_iter().enumerate() {
            mails.push((format!("mbox message {}", i + 1), text));
        }
    }
    let mut series = Series {
        cover: None,
        patches: Vec::new(),
    };
    for (index, (source, text)) in mails.into_iter().enumerate() {
        let mail = parse_mail(&source, &text)
            .with_context(|| format!("{source} is not a valid patch mail"))?;
        let has_diff = !diff::parse(&mail.diff)
            .with_context(|| format!("{source}: the diff cannot be read"))?
            .is_empty();
        if index == 0 && !has_diff && numbered_zero(&text) {
            series.cover = Some(mail);
        } else if !has_diff {
            bail!(
                "{source} (\"{}\") has no diff: an empty commit, or a mail that is not a patch (git am stops at it too: \"Patch is empty\"); \
                 only the first mail may be a cover letter, numbered [PATCH 0/N]",
                mail.subject
            );
        } else {
            series.patches.push(mail);
        }
    }
    if series.patches.is_empty() {
        bail!("{} holds no patches, only a cover letter", path.display());
    }
    Ok(series)
}

/// True when the mail's Subject is numbered `0/N` in a leading `[...]`
/// group, as `git format-patch --cover-letter` and b4 number cover letters.
fn numbered_zero(text: &[u8]) -> bool {
    let Ok((fields, _)) = read_headers(text) else {
        return false;
    };
    let Some((_, subject)) = fields.iter().find(|(n, _)| n == "subject") else {
        return false;
    };
    let mut rest = subject.trim_start();
    while let Some(group) = rest.strip_prefix('[') {
        let Some(end) = group.find(']') else {
            return false;
        };
        let zero = group[..end].split_whitespace().any(|w| {
            w.split_once('/').is_some_and(|(n, total)| {
                !n.is_empty()
                    && n.bytes().all(|b| b == b'0')
                    && !total.is_empty()
                    && total.bytes().all(|b| b.is_ascii_digit())
            })
        });
        if zero {
            return true;
        }
        rest = group[end + 1..].trim_start();
    }
    false
}

/// git mailsplit's test for an mbox separator: `From `, at least 20
/// bytes, and near the end a `hh:mm:ss` time followed by a year after
/// 90 (`From a@b Mon Sep 17 00:00:00 2001`). `line` keeps its newline.
/// A body line such as `From me at 10:20:30 foo 2024` is not one.
fn is_from_line(line: &[u8]) -> bool {
    if line.len() < 20 || !line.starts_with(b"From ") {
        return false;
    }
    // The last colon, looked for from the third-last byte back to byte 4.
    let Some(colon) = (4..=line.len() - 3).rev().find(|&i| line[i] == b':') else {
        return false;
    };
    let digit = |i: usize| line.get(i).is_some_and(u8::is_ascii_digit);
    if colon < 4
        || ![colon - 4, colon - 2, colon - 1, colon + 1, colon + 2]
            .into_iter()
            .all(digit)
    {
        return false;
    }
    year_after(&line[(colon + 3).min(line.len())..]) > 90
}

/// The number at the start of `text` as C's `strtol` reads it (leading
/// blanks and a sign allowed, 0 when there is none).
fn year_after(text: &[u8]) -> i64 {
    let mut rest = text;
    while rest
        .first()
        .is_some_and(|b| matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r'))
    {
        rest = &rest[1..];
    }
    let negative = rest.first() == Some(&b'-');
    if matches!(rest.first(), Some(b'-' | b'+')) {
        rest = &rest[1..];
    }
    let mut value: i64 = 0;
    for &b in rest.iter().take_while(|b| b.is_ascii_digit()) {
        value = value.saturating_mul(10).saturating_add(i64::from(b - b'0'));
    }
    if negative {
        -value
    } else {
        value
    }
}

/// Splits an mbox (or one bare mail) into message texts without the
/// `From ` separator line, carriage returns before line feeds removed as
/// `git mailsplit` does by default. Bytes that are not UTF-8 are kept.
pub fn split_mbox(bytes: &[u8]) -> Result<Vec<Vec<u8>>> {
    let mut messages: Vec<Vec<u8>> = Vec::new();
    let mut current: Option<Vec<u8>> = None;
    for (n, raw) in bytes.split_inclusive(|&b| b == b'\n').enumerate() {
        if is_from_line(raw) {
            if let Some(done) = current.take() {
                messages.push(done);
            }
            current = Some(Vec::new());
            continue;
        }
        let line = match raw.strip_suffix(b"\r\n") {
            Some(bare) => [bare, b"\n"].concat(),
            None => raw.to_vec(),
        };
        match current.as_mut() {
            Some(msg) => msg.extend_from_slice(&line),
            None if n == 0 && looks_like_header(&line) => current = Some(line),
            None if line.iter().all(|b| b.is_ascii_whitespace()) => {}
            None => bail!(
                "line {} is {:?}, but an mbox starts with a `From ` line and a mail with headers",
                n + 1,
                String::from_utf8_lossy(&line).trim_end()
            ),
        }
    }
    messages.extend(current);
    if messages.is_empty() {
        bail!("it holds no mail");
    }
    Ok(messages)
}

fn looks_like_header(line: &[u8]) -> bool {
    match line.iter().position(|&b| b == b':') {
        Some(colon) => {
            colon > 0
                && line[..colon]
                    .iter()
                    .all(|&b| b.is_ascii_graphic() && b != b':')
        }
        None => false,
    }
}

/// A header's lower-case name and its unfolded value.
type HeaderField = (String, String);

/// Header fields of one mail, unfolded, in order, and the body bytes.
/// Header bytes that are not UTF-8 are read as Latin-1, as git does.
fn read_headers(text: &[u8]) -> Result<(Vec<HeaderField>, &[u8])> {
    let mut fields: Vec<Vec<String>> = Vec::new();
    let mut offset = 0;
    for line in text.split_inclusive(|&b| b == b'\n') {
        let bare = line.strip_suffix(b"\n").unwrap_or(line);
        if bare.is_empty() {
            offset += line.len();
            break;
        }
        if bare.starts_with(b" ") || bare.starts_with(b"\t") {
            if let Some(last) = fields.last_mut() {
                last.push(header::latin1_fallback(bare));
                offset += line.len();
                continue;
            }
        }
        if looks_like_header(bare) {
            fields.push(vec![header::latin1_fallback(bare)]);
        } else if fields.is_empty() {
            bail!(
                "it starts with {:?} instead of mail headers",
                String::from_utf8_lossy(bare)
            );
        } else {
            break;
        }
        offset += line.len();
    }
    let mut out = Vec::new();
    for lines in fields {
        let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
        let joined = header::unfold(&lines);
        let (name, value) = joined.split_once(':').unwrap_or((&joined, ""));
        out.push((name.to_ascii_lowercase(), value.trim().to_string()));
    }
    Ok((out, &text[offset.min(text.len())..]))
}

/// One mail → metadata, commit message and patch text.
pub fn parse_mail(source: &str, text: &[u8]) -> Result<MailPatch> {
    let (fields, body) = read_headers(text)?;
    let get = |name: &str| {
        fields
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    };
    let content_type = get("content-type")
        .unwrap_or("text/plain")
        .to_ascii_lowercase();
    if content_type.starts_with("multipart/") {
        bail!(
            "it is a multipart mail ({content_type}); send patches inline, as git send-email does"
        );
    }
    let charset = content_type
        .split(';')
        .filter_map(|p| p.trim().strip_prefix("charset="))
        .next()
        .map(|c| c.trim_matches('"').to_string())
        .unwrap_or_default();
    let body_bytes = match get("content-transfer-encoding").map(|e| e.to_ascii_lowercase()) {
        Some(e) if e == "quoted-printable" => header::decode_q(body, false)?,
        Some(e) if e == "base64" => header::decode_base64(body)?,
        _ => body.to_vec(),
    };
    // Like git mailinfo, only the log message is converted from the mail's
    // charset; the patch keeps its bytes, so it applies to files in any
    // encoding.
    let (log_bytes, patch) = split_at_patch(&body_bytes);
    let log = header::to_utf8(log_bytes, &charset).with_context(|| {
        format!("its text cannot be converted from {charset} (Content-Type) to UTF-8")
    })?;

    let mut from = get("from").map(str::to_string);
    let mut date = get("date").map(str::to_string);
    let mut subject = get("subject").map(str::to_string);
    let log = take_inbody_headers(&log, &mut from, &mut date, &mut subject);

    let from = from.context("it has no From: header")?;
    let (author_name, author_email) = header::parse_address(&header::decode_words(&from)?)
        .context("the From: header cannot be read")?;
    let date = date.context("it has no Date: header (git am would use the current time)")?;
    let (time, tz_offset_minutes) = header::parse_date(&date)?;
    let subject = header::clean_subject(&header::decode_words(
        &subject.context("it has no Subject: header")?,
    )?);

    let message = strip_space(&format!("{subject}\n\n{log}"));
    Ok(MailPatch {
        source: source.to_string(),
        author_name,
        author_email,
        time,
        tz_offset_minutes,
        subject,
        message,
        diff: patch.to_vec(),
    })
}

/// `From:`, `Date:` and `Subject:` lines at the top of the body override
/// the mail headers (format-patch writes them when sender ≠ author).
fn take_inbody_headers<'a>(
    body: &'a str,
    from: &mut Option<String>,
    date: &mut Option<String>,
    subject: &mut Option<String>,
) -> &'a str {
    let trimmed = body.trim_start_matches('\n');
    let mut rest = trimmed;
    let mut seen = false;
    loop {
        let line_end = rest.find('\n').map(|i| i + 1).unwrap_or(rest.len());
        let line = rest[..line_end].trim_end_matches('\n');
        let Some((name, value)) = line.split_once(':') else {
            break;
        };
        let slot = match name.to_ascii_lowercase().as_str() {
            "from" => &mut *from,
            "date" => &mut *date,
            "subject" => &mut *subject,
            _ => break,
        };
        let mut value = value.trim().to_string();
        let mut next = &rest[line_end..];
        while next.starts_with([' ', '\t']) {
            let end = next.find('\n').map(|i| i + 1).unwrap_or(next.len());
            value.push(' ');
            value.push_str(next[..end].trim());
            next = &next[end..];
        }
        *slot = Some(value);
        rest = next;
        seen = true;
    }
    if seen {
        rest
    } else {
        body
    }
}

/// The log message and the patch: the patch starts at the first `---`
/// line, `diff -` line or `Index: ` line (git mailinfo's patch break).
fn split_at_patch(body: &[u8]) -> (&[u8], &[u8]) {
    let mut offset = 0;
    for line in body.split_inclusive(|&b| b == b'\n') {
        if is_patch_break(line) {
            return (&body[..offset], &body[offset..]);
        }
        offset += line.len();
    }
    (body, &[])
}

fn is_patch_break(line: &[u8]) -> bool {
    if line.starts_with(b"diff -") || line.starts_with(b"Index: ") {
        return true;
    }
    let Some(rest) = line.strip_prefix(b"---") else {
        return false;
    };
    if line.len() < 4 {
        return false;
    }
    if rest[0] == b' ' && rest.get(1).is_some_and(|c| !c.is_ascii_whitespace()) {
        return true;
    }
    for &c in rest {
        if c == b'\n' {
            return true;
        }
        if !c.is_ascii_whitespace() {
            return false;
        }
    }
    false
}

/// git's `stripspace`: no trailing blanks, no leading/trailing empty
/// lines, runs of empty lines squeezed to one, every line ends in `\n`.
/// Blanks are git's: space, tab and carriage return; a no-break space,
/// U+3000, a form feed or a vertical tab at a line's end stay.
pub fn strip_space(text: &str) -> String {
    let mut out = String::new();
    let mut empty_run = false;
    for line in text.split('\n') {
        let line = line.trim_end_matches([' ', '\t', '\r']);
        if line.is_empty() {
            empty_run = !out.is_empty();
            continue;
        }
        if empty_run {
            out.push('\n');
            empty_run = false;
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAIL: &str = r#"From 1234567890abcdef1234567890abcdef12345678 Mon Sep 17 00:00:00 2001
From: =?UTF-8?q?J=C3=B6rg?= <j@example.org>
Date: Tue, 5 Mar 2024 10:20:30 -0500
Subject: [PATCH 1/2] driver core: a very long subject that was
 folded by format-patch

Body line.  


Signed-off-by: J <j@example.org>
---
 a | 1 +
 1 file changed, 1 insertion(+)

diff --git a/a b/a
index 0000000..1111111 100644
--- a/a
+++ b/a
@@ -1 +1,2 @@
 x
+y
-- 
2.47.3

"#;

    #[test]
    fn parses_a_format_patch_mail() {
        let texts = split_mbox(MAIL.replace('\n', "\r\n").as_bytes()).unwrap();
        assert_eq!(texts.len(), 1);
        let m = parse_mail("x.patch", &texts[0]).unwrap();
        assert_eq!(m.author_name, "Jörg");
        assert_eq!(m.author_email, "j@example.org");
        assert_eq!((m.time, m.tz_offset_minutes), (1709652030, -300));
        assert_eq!(
            m.subject,
            "driver core: a very long subject that was folded by format-patch"
        );
        assert_eq!(
            m.message,
            "driver core: a very long subject that was folded by format-patch\n\n\
             Body line.\n\nSigned-off-by: J <j@example.org>\n"
        );
        assert!(m.diff.starts_with(b"---\n"));
        assert_eq!(m.diffstat_summary(), " 1 file changed, 1 insertion(+)");
    }

    #[test]
    fn refuses_garbage() {
        assert!(split_mbox(b"hello world\nthis is not a mail\n").is_err());
        let texts = split_mbox(b"From x Mon Sep 17 00:00:00 2001\nnot a header\n").unwrap();
        assert!(parse_mail("m", &texts[0]).is_err());
    }

    #[test]
    fn summary_wording() {
        assert_eq!(
            summary_line(1, 0, 0),
            " 1 file changed, 0 insertions(+), 0 deletions(-)"
        );
        assert_eq!(
            summary_line(3, 10, 2),
            " 3 files changed, 10 insertions(+), 2 deletions(-)"
        );
        assert_eq!(summary_line(2, 0, 1), " 2 files changed, 1 deletion(-)");
    }
}
