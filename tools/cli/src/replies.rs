//! Review replies: read an mbox or a maildir, pick out the trailers each
//! reply gives (not quoted, not in the signature) and the message it
//! answers.

use crate::identity::Identity;
use anyhow::{bail, Context, Result};
use std::path::Path;

/// The trailers a reply can give to a patch.
pub const TRAILERS: &[&str] = &[
    "Reviewed-by",
    "Acked-by",
    "Tested-by",
    "Reported-by",
    "Suggested-by",
    "Link",
    "Closes",
];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// `mbox message N` or the maildir file name.
    pub source: String,
    pub message_id: Option<String>,
    /// References first to last, then In-Reply-To: nearest parent last.
    pub parents: Vec<String>,
    /// The sender (From:), decoded.
    pub from: Option<Identity>,
    pub subject: String,
    /// The text of the reply: its first text/plain part, transfer
    /// encoding and charset decoded.
    pub body: String,
    /// `Name: value` lines given in the reply, in order.
    pub trailers: Vec<(String, String)>,
}

impl Reply {
    /// Whether the message carries a patch (a resent or forwarded copy).
    pub fn has_diff(&self) -> bool {
        self.body.contains("\ndiff --git ") || self.body.starts_with("diff --git ")
    }
}

/// The messages of an mbox file or a maildir (`cur/` and `new/`, or a
/// directory of one-mail files).
pub fn read(path: &Path) -> Result<Vec<Reply>> {
    let mut texts: Vec<(String, Vec<u8>)> = Vec::new();
    if path.is_dir() {
        let mut files = Vec::new();
        for sub in ["cur", "new"] {
            if let Ok(rd) = std::fs::read_dir(path.join(sub)) {
                files.extend(rd.filter_map(|e| e.ok()).map(|e| e.path()));
            }
        }
        if files.is_empty() {
            files.extend(
                std::fs::read_dir(path)
                    .with_context(|| format!("cannot read {}", path.display()))?
                    .filter_map(|e| e.ok())
                    .map(|e| e.path())
                    .filter(|p| p.is_file()),
            );
        }
        files.sort();
        for f in files {
            let bytes =
                std::fs::read(&f).with_context(|| format!("cannot read {}", f.display()))?;
            texts.push((f.display().to_string(), bytes));
        }
    } else {
        let bytes =
            std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
        let mails = series_apply::mail::split_mbox(&bytes)
            .with_context(|| format!("{} is not an mbox", path.display()))?;
        for (i, m) in mails.into_iter().enumerate() {
            texts.push((format!("{} message {}", path.display(), i + 1), m.to_vec()));
        }
    }
    if texts.is_empty() {
        bail!("{} holds no mail", path.display());
    }
    texts.iter().map(|(s, t)| parse_bytes(s, t)).collect()
}

fn ids(value: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = value;
    while let Some(i) = rest.find('<') {
        let Some(j) = rest[i..].find('>') else { break };
        out.push(rest[i..i + j + 1].to_string());
        rest = &rest[i + j + 1..];
    }
    out
}

/// One reply, MIME decoded (mailparse): RFC 2047 headers, quoted-printable
/// and base64 bodies, charsets, and the first text/plain part of a
/// multipart message (multipart/signed and /alternative included).
pub fn parse_bytes(source: &str, bytes: &[u8]) -> Result<Reply> {
    let crlf_free;
    let bytes = if bytes.windows(2).any(|w| w == b"\r\n") {
        crlf_free = String::from_utf8_lossy(bytes)
            .replace("\r\n", "\n")
            .into_bytes();
        &crlf_free[..]
    } else {
        bytes
    };
    ensure_headers(source, &String::from_utf8_lossy(bytes))?;
    let mail =
        mailparse::parse_mail(bytes).map_err(|e| anyhow::anyhow!("{source} is not a mail: {e}"))?;
    let get = |n: &str| {
        mail.headers
            .iter()
            .find(|h| h.get_key_ref().eq_ignore_ascii_case(n))
    };
    let value = |n: &str| get(n).map(|h| h.get_value());
    let from = get("from")
        .and_then(|h| mailparse::addrparse_header(h).ok())
        .and_then(|l| l.extract_single_info())
        .map(|one| Identity {
            name: one.display_name.unwrap_or_default(),
            email: one.addr,
        });
    let body = first_text_part(&mail)
        .and_then(|p| p.get_body().ok())
        .unwrap_or_default()
        .replace("\r\n", "\n");
    let mut parents = value("references").map(|v| ids(&v)).unwrap_or_default();
    if let Some(p) = value("in-reply-to").and_then(|v| ids(&v).into_iter().next()) {
        parents.retain(|x| *x != p);
        parents.push(p);
    }
    Ok(Reply {
        source: source.to_string(),
        message_id: value("message-id").and_then(|v| ids(&v).into_iter().next()),
        parents,
        from,
        subject: value("subject").unwrap_or_default(),
        trailers: trailers_in(&body),
        body,
    })
}

/// The part a reader reads: the message itself when it is text, else the
/// first text/plain part found depth first.
fn first_text_part<'a>(
    mail: &'a mailparse::ParsedMail<'a>,
) -> Option<&'a mailparse::ParsedMail<'a>> {
    let mime = mail.ctype.mimetype.to_ascii_lowercase();
    if mail.subparts.is_empty() {
        return (mime == "text/plain" || mime.is_empty()).then_some(mail);
    }
    mail.subparts.iter().find_map(first_text_part)
}

/// Refuses text that does not start with mail headers.
fn ensure_headers(source: &str, text: &str) -> Result<()> {
    let mut seen = 0;
    for line in text.lines() {
        if line.is_empty() {
            break;
        }
        if line.starts_with([' ', '\t']) && seen > 0 {
            continue;
        }
        match line.split_once(':') {
            Some((n, _)) if !n.is_empty() && !n.contains(' ') => seen += 1,
            _ if line.starts_with("From ") && seen == 0 => {}
            _ => bail!(
                "{source} is not a mail: it starts with {:?} instead of headers",
                line.chars().take(60).collect::<String>()
            ),
        }
    }
    if seen == 0 {
        bail!("{source} is not a mail: it has no headers");
    }
    Ok(())
}

/// Trailers given in a reply body: lines `Name: value` with a known name,
/// outside quoted text (`>`), above the signature (`-- `).
pub fn trailers_in(body: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for line in body.lines() {
        if line == "-- " || line == "--" {
            break;
        }
        let line = line.trim_end();
        if line.starts_with('>') {
            continue;
        }
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        if let Some(canon) = TRAILERS.iter().find(|t| t.eq_ignore_ascii_case(name)) {
            if !value.is_empty() {
                let pair = (canon.to_string(), value.to_string());
                if !out.contains(&pair) {
                    out.push(pair);
                }
            }
        }
    }
    out
}

/// Trailers whose value names a person (`Name <address>`); the others
/// (Link, Closes) take a URL.
const PERSON_TRAILERS: &[&str] = &[
    "Reviewed-by",
    "Acked-by",
    "Tested-by",
    "Reported-by",
    "Suggested-by",
];

/// The trailers of `reply` that may go into a commit, each in one
/// spelling (`Name <address>`, whitespace collapsed), and a note for each
/// one left out. A person trailer must name a person ("Acked-by: not yet,
/// fix the locking" is prose); as b4 does, it must name the reply's
/// sender unless `sloppy` (b4's --sloppy-trailers).
pub fn vetted(reply: &Reply, sloppy: bool) -> (Vec<(String, String)>, Vec<String>) {
    let mut out: Vec<(String, String)> = Vec::new();
    let mut notes = Vec::new();
    for (name, value) in &reply.trailers {
        if !PERSON_TRAILERS.contains(&name.as_str()) {
            if value.starts_with("http://") || value.starts_with("https://") {
                out.push((name.clone(), value.clone()));
            } else {
                notes.push(format!(
                    "{}: \"{name}: {value}\" is not a URL; left out",
                    reply.source
                ));
            }
            continue;
        }
        let person = Identity::parse(value)
            .ok()
            .filter(|p| !p.name.trim().is_empty() && value.trim_end().ends_with('>'));
        let Some(person) = person else {
            notes.push(format!(
                "{}: \"{name}: {value}\" names no person (Name <address>); left out",
                reply.source
            ));
            continue;
        };
        let from_them = reply
            .from
            .as_ref()
            .is_some_and(|f| f.email.eq_ignore_ascii_case(&person.email));
        if !from_them && !sloppy {
            notes.push(format!(
                "{}: \"{name}: {value}\" names someone other than the sender ({}); left out \
                 (--sloppy-trailers takes it)",
                reply.source,
                reply
                    .from
                    .as_ref()
                    .map_or("unknown".to_string(), Identity::trailer_form)
            ));
            continue;
        }
        let spelled = Identity {
            name: person.name.split_whitespace().collect::<Vec<_>>().join(" "),
            email: person.email,
        }
        .trailer_form();
        let pair = (name.clone(), spelled);
        if !out.iter().any(|o| same_trailer(o, &pair)) {
            out.push(pair);
        }
    }
    (out, notes)
}

/// The same trailer: same name, same value ignoring case and spacing.
pub fn same_trailer(a: &(String, String), b: &(String, String)) -> bool {
    let norm = |s: &str| {
        s.split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .to_ascii_lowercase()
    };
    a.0.eq_ignore_ascii_case(&b.0) && norm(&a.1) == norm(&b.1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(source: &str, text: &str) -> Result<Reply> {
        parse_bytes(source, text.as_bytes())
    }

    #[test]
    fn trailers_skip_quotes_and_signature() {
        let body = "> Reviewed-by: Quoted <q@x>\nLooks good.\n\nreviewed-by: Ann <a@x>\n\
                    Tested-by: Tim <t@x>\nReviewed-by: Ann <a@x>\n-- \nAcked-by: Sig <s@x>\n";
        assert_eq!(
            trailers_in(body),
            [
                ("Reviewed-by".to_string(), "Ann <a@x>".to_string()),
                ("Tested-by".to_string(), "Tim <t@x>".to_string())
            ]
        );
    }

    fn reply_from(from: &str, body_part: &str) -> Reply {
        let text = format!("From: {from}\nSubject: Re: x\nMessage-ID: <r@x>\n{body_part}");
        parse("m", &text).unwrap()
    }

    #[test]
    fn latin1_quoted_printable_and_base64_replies_are_decoded() {
        let latin1 = b"From: =?ISO-8859-1?Q?Jos=E9_Mar=EDa?= <jm@x.org>\nSubject: Re: x\n\
            Content-Type: text/plain; charset=ISO-8859-1\n\n\
            Reviewed-by: Jos\xe9 Mar\xeda <jm@x.org>\n";
        let r = parse_bytes("m", latin1).unwrap();
        assert_eq!(r.from.as_ref().unwrap().name, "José María");
        assert_eq!(
            r.trailers,
            [("Reviewed-by".into(), "José María <jm@x.org>".into())]
        );
        let qp = reply_from(
            "Micha\u{142} <m@x.org>",
            "Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: quoted-printable\n\n\
             Acked-by: Micha=C5=82 <m@x.org>\n",
        );
        assert_eq!(
            qp.trailers,
            [("Acked-by".into(), "Michał <m@x.org>".into())]
        );
        // "Acked-by: Ann <a@x.org>\n" in base64, inside multipart/signed.
        let signed = reply_from(
            "Ann <a@x.org>",
            "MIME-Version: 1.0\nContent-Type: multipart/signed; boundary=\"b\"; protocol=\"application/pgp-signature\"\n\n\
             --b\nContent-Type: text/plain\nContent-Transfer-Encoding: base64\n\n\
             QWNrZWQtYnk6IEFubiA8YUB4Lm9yZz4K\n--b\nContent-Type: application/pgp-signature\n\n\
             sig\n--b--\n",
        );
        assert_eq!(
            signed.trailers,
            [("Acked-by".into(), "Ann <a@x.org>".into())]
        );
    }

    #[test]
    fn only_people_from_the_sender_in_one_spelling_are_taken() {
        let r = reply_from(
            "Rita Review <rita@x.org>",
            "\nAcked-by: not yet, please fix the locking first\n\
             Reviewed-by: Rita Review <rita@x.org>\n\
             Reviewed-by: Rita  Review <RITA@x.org>\n\
             Reviewed-by:   Rita Review   <rita@x.org>\n\
             Tested-by: Other Person <other@x.org>\n\
             Link: https://example.org/1\nCloses: soon\n",
        );
        let (taken, notes) = vetted(&r, false);
        assert_eq!(
            taken,
            [
                (
                    "Reviewed-by".to_string(),
                    "Rita Review <rita@x.org>".to_string()
                ),
                ("Link".to_string(), "https://example.org/1".to_string()),
            ]
        );
        assert_eq!(notes.len(), 3, "{notes:?}");
        assert!(notes[0].contains("names no person"));
        assert!(notes.iter().any(|n| n.contains("other than the sender")));
        let (sloppy, _) = vetted(&r, true);
        assert!(sloppy
            .iter()
            .any(|(n, v)| n == "Tested-by" && v == "Other Person <other@x.org>"));
    }

    #[test]
    fn parents_nearest_last_and_not_mail() {
        let r = parse(
            "m",
            "From: a\nReferences: <1@x>\n <2@x>\nIn-Reply-To: <3@x>\nMessage-ID: <4@x>\n\nhi\n",
        )
        .unwrap();
        assert_eq!(r.parents, ["<1@x>", "<2@x>", "<3@x>"]);
        assert_eq!(r.message_id.as_deref(), Some("<4@x>"));
        assert!(parse("m", "just text here\n").is_err());
    }
}
