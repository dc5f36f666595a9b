//! The cover letter: what is kept from the current one (From, Date,
//! Subject, blurb) and the shortlog that is regenerated.

use crate::message::Message;
use crate::wrap::add_wrapped_text;

/// git's template text for a new cover letter.
pub const SUBJECT_TEMPLATE: &str = "*** SUBJECT HERE ***";
pub const BLURB_TEMPLATE: &str = "*** BLURB HERE ***";

/// What an existing cover letter contributes to the new one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeptCover {
    /// The `From:` header as written, folding included, with its newline.
    pub from_header: Vec<u8>,
    /// The `Date:` header line, with its newline.
    pub date_header: Vec<u8>,
    /// The subject after the `[PATCH v2 00/10]` tag, unfolded and decoded.
    pub subject: Vec<u8>,
    /// The text between the headers and the shortlog.
    pub blurb: Vec<Vec<u8>>,
}

/// Parses a cover letter written by format-patch (or by this tool).
pub fn parse(text: &[u8]) -> KeptCover {
    let lines: Vec<&[u8]> = text.split(|&b| b == b'\n').collect();
    let mut i = 0;
    if lines.first().is_some_and(|l| l.starts_with(b"From ")) {
        i = 1;
    }
    let mut headers: Vec<Vec<u8>> = Vec::new();
    while i < lines.len() && !lines[i].is_empty() {
        let line = lines[i];
        if (line.starts_with(b" ") || line.starts_with(b"\t")) && !headers.is_empty() {
            let last = headers.last_mut().expect("a header");
            last.push(b'\n');
            last.extend_from_slice(line);
        } else {
            headers.push(line.to_vec());
        }
        i += 1;
    }
    let header = |name: &str| {
        headers
            .iter()
            .find(|h| h.len() > name.len() && h[..name.len()].eq_ignore_ascii_case(name.as_bytes()))
            .cloned()
    };
    let with_nl = |mut h: Vec<u8>| {
        h.push(b'\n');
        h
    };
    let subject_raw = header("Subject:").unwrap_or_default();
    let subject = strip_tag(&unfold_and_decode(&subject_raw[subject_raw.len().min(8)..]));
    let body = &lines[(i + 1).min(lines.len())..];
    let end = shortlog_start(body).unwrap_or(body.len());
    let mut blurb: Vec<Vec<u8>> = body[..end].iter().map(|l| l.to_vec()).collect();
    strip_changelog(&mut blurb);
    strip_prerequisites(&mut blurb);
    KeptCover {
        from_header: header("From:").map(with_nl).unwrap_or_default(),
        date_header: header("Date:").map(with_nl).unwrap_or_default(),
        subject,
        blurb,
    }
}

/// Index of the line where the shortlog starts: the first `Name (N):`
/// line after a blank line from which whole shortlog blocks (N subjects
/// each, continuation lines indented by four) run up to the diffstat.
fn shortlog_start(body: &[&[u8]]) -> Option<usize> {
    (0..body.len()).find(|&i| (i == 0 || body[i - 1].is_empty()) && shortlog_runs_from(body, i))
}

fn shortlog_runs_from(body: &[&[u8]], mut i: usize) -> bool {
    let mut blocks = 0;
    while let Some(count) = body.get(i).and_then(|l| shortlog_author_count(l)) {
        i += 1;
        for _ in 0..count {
            let Some(l) = body.get(i) else { return false };
            if !l.starts_with(b"  ") || l.get(2).is_none_or(|&b| b == b' ') {
                return false;
            }
            i += 1;
            while body.get(i).is_some_and(|l| l.starts_with(b"    ")) {
                i += 1;
            }
        }
        if body.get(i).is_some_and(|l| !l.is_empty()) {
            return false;
        }
        i += 1;
        blocks += 1;
    }
    blocks > 0
        && body.get(i).is_none_or(|l| {
            l.is_empty()
                || (l.starts_with(b" ") && !l.starts_with(b"  "))
                || l.starts_with(b"base-commit:")
                || l.starts_with(b"-- ")
        })
}

/// N of a `Name (N):` line.
fn shortlog_author_count(l: &[u8]) -> Option<usize> {
    let rest = l.strip_suffix(b"):")?;
    let open = rest.iter().rposition(|&b| b == b'(')?;
    let digits = std::str::from_utf8(&rest[open + 1..]).ok()?;
    if open < 2
        || rest[open - 1] != b' '
        || digits.is_empty()
        || !digits.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    digits.parse().ok()
}

fn strip_tag(subject: &[u8]) -> Vec<u8> {
    let s = trim_start(subject);
    if s.starts_with(b"[") {
        if let Some(close) = s.iter().position(|&b| b == b']') {
            return trim_start(&s[close + 1..]).to_vec();
        }
    }
    s.to_vec()
}

fn trim_start(s: &[u8]) -> &[u8] {
    let start = s
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(s.len());
    &s[start..]
}

/// Unfolds a header value and decodes RFC 2047 Q/B-less encoded words
/// (`=?UTF-8?q?...?=`), as git writes them.
fn unfold_and_decode(value: &[u8]) -> Vec<u8> {
    let mut unfolded = Vec::new();
    let mut k = 0;
    while k < value.len() {
        if value[k] == b'\n' && value.get(k + 1).is_some_and(|&b| b == b' ' || b == b'\t') {
            k += 1;
            continue;
        }
        unfolded.push(value[k]);
        k += 1;
    }
    let mut out = Vec::new();
    let mut rest: &[u8] = &unfolded;
    let mut last_was_word = false;
    loop {
        let ws = rest
            .iter()
            .position(|b| !b.is_ascii_whitespace())
            .unwrap_or(rest.len());
        let (spaces, tail) = rest.split_at(ws);
        if tail.is_empty() {
            out.extend_from_slice(spaces);
            break;
        }
        if let Some((decoded, used)) = encoded_word(tail) {
            if !last_was_word {
                out.extend_from_slice(spaces);
            }
            out.extend(decoded);
            rest = &tail[used..];
            last_was_word = true;
        } else {
            out.extend_from_slice(spaces);
            let end = tail
                .iter()
                .position(u8::is_ascii_whitespace)
                .unwrap_or(tail.len());
            out.extend_from_slice(&tail[..end]);
            rest = &tail[end..];
            last_was_word = false;
        }
    }
    out
}

/// Decodes one `=?charset?q?text?=` word at the start of `s`.
fn encoded_word(s: &[u8]) -> Option<(Vec<u8>, usize)> {
    let s2 = s.strip_prefix(b"=?")?;
    let q1 = s2.iter().position(|&b| b == b'?')?;
    let after = &s2[q1 + 1..];
    if after.len() < 2 || !after[0].eq_ignore_ascii_case(&b'q') || after[1] != b'?' {
        return None;
    }
    let text = &after[2..];
    let end = text.windows(2).position(|w| w == b"?=")?;
    let mut out = Vec::new();
    let mut j = 0;
    while j < end {
        match text[j] {
            b'_' => out.push(b' '),
            b'=' if j + 2 < end + 1 => {
                let hex = std::str::from_utf8(text.get(j + 1..j + 3)?).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                j += 2;
            }
            b => out.push(b),
        }
        j += 1;
    }
    Some((out, 2 + q1 + 1 + 2 + end + 2))
}

/// Removes the changelog block [`changelog_lines`] wrote (from its `---`
/// line on) and the blank lines before it: export writes it anew from the
/// manifest each time.
fn strip_changelog(blurb: &mut Vec<Vec<u8>>) {
    let start = (0..blurb.len()).rev().find(|&i| {
        blurb[i] == CHANGELOG_CUT && blurb.get(i + 1).is_some_and(|l| is_changelog_heading(l))
    });
    if let Some(i) = start {
        blurb.truncate(i);
    }
    while blurb
        .last()
        .is_some_and(|l| l.iter().all(u8::is_ascii_whitespace))
    {
        blurb.pop();
    }
}

/// The heading of the block that names the prerequisite series.
const PREREQUISITES_HEADING: &[u8] = b"This series applies on top of:";

/// A series the exported one requires.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prerequisite {
    pub name: String,
    pub version: u32,
    /// The lore link of its posting of this version, once sent.
    pub link: Option<String>,
}

/// The block naming the prerequisite series, in the order they apply.
pub fn prerequisite_lines(prerequisites: &[Prerequisite]) -> Vec<Vec<u8>> {
    if prerequisites.is_empty() {
        return Vec::new();
    }
    let mut out = vec![PREREQUISITES_HEADING.to_vec()];
    for p in prerequisites {
        let line = match &p.link {
            Some(link) => format!("- {} v{}: {link}", p.name, p.version),
            None => format!("- {} v{} (not posted yet)", p.name, p.version),
        };
        out.push(line.into_bytes());
    }
    out
}

/// Removes the block [`prerequisite_lines`] wrote (export writes it anew).
fn strip_prerequisites(blurb: &mut Vec<Vec<u8>>) {
    if let Some(i) = blurb.iter().rposition(|l| l == PREREQUISITES_HEADING) {
        if blurb[i + 1..].iter().all(|l| l.starts_with(b"- ")) {
            blurb.truncate(i);
        }
    }
    while blurb
        .last()
        .is_some_and(|l| l.iter().all(u8::is_ascii_whitespace))
    {
        blurb.pop();
    }
}

/// The line that separates the blurb from the changelog. Tools that turn
/// a cover letter into a merge commit message stop there, as `git am`
/// does for patches.
const CHANGELOG_CUT: &[u8] = b"---";

fn is_changelog_heading(line: &[u8]) -> bool {
    line.strip_prefix(b"Changes in v")
        .and_then(|r| r.strip_suffix(b":"))
        .is_some_and(|n| !n.is_empty() && n.iter().all(u8::is_ascii_digit))
}

/// One version's entry of the cover letter's changelog.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VersionNotes {
    pub version: u32,
    /// What changed since the version before, one item each.
    pub changes: Vec<String>,
    /// `https://lore.kernel.org/r/<Message-ID>` of the version before, once
    /// that one was sent.
    pub previous_link: Option<String>,
}

/// The changelog block at the end of the blurb, newest version first:
///
/// ```text
/// ---
/// Changes in v2:
/// - Rebased on 7.2.
/// - Link to v1: https://lore.kernel.org/r/<Message-ID>
///
/// Changes in v1:
/// - Initial posting.
/// ```
///
/// Items with several lines keep them, indented by two spaces.
pub fn changelog_lines(notes: &[VersionNotes]) -> Vec<Vec<u8>> {
    let mut sorted: Vec<&VersionNotes> = notes.iter().collect();
    sorted.sort_by_key(|n| std::cmp::Reverse(n.version));
    let mut out = Vec::new();
    if sorted.is_empty() {
        return out;
    }
    out.push(CHANGELOG_CUT.to_vec());
    for (k, n) in sorted.iter().enumerate() {
        if k > 0 {
            out.push(Vec::new());
        }
        out.push(format!("Changes in v{}:", n.version).into_bytes());
        let link = n
            .previous_link
            .as_ref()
            .map(|l| format!("Link to v{}: {l}", n.version.saturating_sub(1)));
        for item in &n.changes {
            let mut first = true;
            for line in item.trim_end().lines() {
                for piece in wrap_words(line.trim_end(), CHANGELOG_WIDTH - 2) {
                    let lead = if first { "- " } else { "  " };
                    first = false;
                    out.push(format!("{lead}{piece}").into_bytes());
                }
            }
        }
        // The link stays on one line, whatever its length, as b4 writes it.
        if let Some(link) = link {
            out.push(format!("- {link}").into_bytes());
        }
    }
    out
}

/// Changelog lines are wrapped to this many columns (the kernel's 75 for
/// commit messages, less a margin for quoting in replies).
const CHANGELOG_WIDTH: usize = 72;

/// `text` cut at spaces into pieces of at most `width` characters (a
/// longer word, such as a URL, stays whole on its own line).
fn wrap_words(text: &str, width: usize) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut line = String::new();
    for word in text.split(' ').filter(|w| !w.is_empty()) {
        if !line.is_empty() && line.chars().count() + 1 + word.chars().count() > width {
            out.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() || out.is_empty() {
        out.push(line);
    }
    out
}

/// One author's block of the shortlog.
pub struct ShortlogAuthor {
    pub name: Vec<u8>,
    /// Subjects, oldest first.
    pub subjects: Vec<Vec<u8>>,
}

/// The shortlog as format-patch's cover letter has it: authors sorted by
/// name, subjects wrapped at 72 columns, each block ending in a blank line.
pub fn shortlog(commits: &[(Vec<u8>, Vec<u8>)]) -> Vec<u8> {
    let mut authors: Vec<ShortlogAuthor> = Vec::new();
    for (name, subject) in commits {
        match authors.iter_mut().find(|a| &a.name == name) {
            Some(a) => a.subjects.push(subject.clone()),
            None => authors.push(ShortlogAuthor {
                name: name.clone(),
                subjects: vec![subject.clone()],
            }),
        }
    }
    authors.sort_by(|a, b| a.name.cmp(&b.name));
    let mut out = Vec::new();
    for a in &authors {
        out.extend_from_slice(&a.name);
        out.extend(format!(" ({}):\n", a.subjects.len()).bytes());
        for s in &a.subjects {
            add_wrapped_text(&mut out, s, 2, 4, 72);
            out.push(b'\n');
        }
        out.push(b'\n');
    }
    out
}

/// The blurb of a new cover letter, or the kept one, as lines.
pub fn blurb_lines(kept: Option<&KeptCover>) -> Vec<Vec<u8>> {
    match kept {
        Some(k) => {
            let mut text = b"x\n\n".to_vec();
            for l in &k.blurb {
                text.extend_from_slice(l);
                text.push(b'\n');
            }
            Message::parse(&text).body
        }
        None => vec![BLURB_TEMPLATE.as_bytes().to_vec()],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_subject_blurb_and_headers() {
        let text = b"From 0000000000000000000000000000000000000000 Mon Sep 17 00:00:00 2001\n\
From: Long Name\n <a@b>\nDate: Tue, 14 Nov 2023 23:13:20 +0100\n\
Subject: [PATCH v2 0/2] =?UTF-8?q?Caf=C3=A9=20subject=20that?=\n =?UTF-8?q?=20folds?=\n\
MIME-Version: 1.0\n\nBlurb one.\n\nBlurb (2):\n  only one\n\nA U Thor (2):\n  x\n    x continued\n  y\n\n a | 1 +\n";
        let k = parse(text);
        assert_eq!(
            String::from_utf8(k.subject).unwrap(),
            "Café subject that folds"
        );
        assert_eq!(k.from_header, b"From: Long Name\n <a@b>\n");
        assert_eq!(k.date_header, b"Date: Tue, 14 Nov 2023 23:13:20 +0100\n");
        assert_eq!(
            k.blurb,
            vec![
                b"Blurb one.".to_vec(),
                vec![],
                b"Blurb (2):".to_vec(),
                b"  only one".to_vec()
            ]
        );
    }

    #[test]
    fn changelog_is_written_newest_first_and_stripped_again() {
        let notes = vec![
            VersionNotes {
                version: 1,
                changes: vec!["Initial posting.".into()],
                previous_link: None,
            },
            VersionNotes {
                version: 2,
                changes: vec!["Rebased.\nSecond line.".into()],
                previous_link: Some("https://lore.kernel.org/r/a@b".into()),
            },
        ];
        let lines = changelog_lines(&notes);
        let text: Vec<String> = lines
            .iter()
            .map(|l| String::from_utf8(l.clone()).unwrap())
            .collect();
        assert_eq!(
            text.join("\n"),
            "---\nChanges in v2:\n- Rebased.\n  Second line.\n\
             - Link to v1: https://lore.kernel.org/r/a@b\n\nChanges in v1:\n- Initial posting."
        );
        let mut blurb = vec![
            b"Blurb.".to_vec(),
            b"---".to_vec(),
            vec![],
            b"x".to_vec(),
            vec![],
        ];
        let kept = blurb.clone();
        blurb.push(vec![]);
        blurb.extend(lines);
        strip_changelog(&mut blurb);
        strip_prerequisites(&mut blurb);
        assert_eq!(blurb, kept[..4].to_vec(), "only the changelog block goes");
    }

    #[test]
    fn long_changelog_items_are_wrapped() {
        let notes = [VersionNotes {
            version: 2,
            changes: vec![format!("{} end", "word ".repeat(30))],
            previous_link: Some(format!("https://lore.kernel.org/r/{}@x", "i".repeat(70))),
        }];
        let link = changelog_lines(&notes).pop().unwrap();
        assert!(link.starts_with(b"- Link to v1: https://") && link.ends_with(b"@x"));
        let lines = changelog_lines(&notes);
        assert!(
            lines[..lines.len() - 1].iter().all(|l| l.len() <= 72),
            "{lines:?}"
        );
        assert_eq!(lines[2].len(), 2 + 69);
        assert!(lines[3].starts_with(b"  word"));
        assert_eq!(
            wrap_words("https://a-very-long-url", 5),
            ["https://a-very-long-url"]
        );
    }

    #[test]
    fn shortlog_sorted_and_wrapped() {
        let s = shortlog(&[
            (b"Zed".to_vec(), b"one".to_vec()),
            (b"Amy".to_vec(), b"two".to_vec()),
            (b"Zed".to_vec(), b"three".to_vec()),
        ]);
        assert_eq!(
            String::from_utf8(s).unwrap(),
            "Amy (1):\n  two\n\nZed (2):\n  one\n  three\n\n"
        );
    }
}
