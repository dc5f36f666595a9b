//! Review replies: read an mbox or a maildir, pick out the trailers each
//! reply gives (not quoted, not in the signature) and the message it
//! answers.

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
    pub subject: String,
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
    let mut texts: Vec<(String, String)> = Vec::new();
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
            let text = String::from_utf8_lossy(&bytes).replace("\r\n", "\n");
            texts.push((f.display().to_string(), text));
        }
    } else {
        let bytes =
            std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
        let mails = series_apply::mail::split_mbox(&bytes)
            .with_context(|| format!("{} is not an mbox", path.display()))?;
        for (i, m) in mails.into_iter().enumerate() {
            texts.push((
                format!("{} message {}", path.display(), i + 1),
                String::from_utf8_lossy(&m).into_owned(),
            ));
        }
    }
    if texts.is_empty() {
        bail!("{} holds no mail", path.display());
    }
    texts.iter().map(|(s, t)| parse(s, t)).collect()
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

pub fn parse(source: &str, text: &str) -> Result<Reply> {
    let mut headers: Vec<(String, String)> = Vec::new();
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let bare = line.trim_end_matches('\n');
        offset += line.len();
        if bare.is_empty() {
            break;
        }
        if bare.starts_with([' ', '\t']) && !headers.is_empty() {
            let last = headers.last_mut().expect("a header");
            last.1.push(' ');
            last.1.push_str(bare.trim());
            continue;
        }
        match bare.split_once(':') {
            Some((n, v)) if !n.is_empty() && !n.contains(' ') => {
                headers.push((n.to_ascii_lowercase(), v.trim().to_string()))
            }
            _ => bail!(
                "{source} is not a mail: it starts with {:?} instead of headers",
                bare.chars().take(60).collect::<String>()
            ),
        }
    }
    if headers.is_empty() {
        bail!("{source} is not a mail: it has no headers");
    }
    let get = |n: &str| {
        headers
            .iter()
            .find(|(k, _)| k == n)
            .map(|(_, v)| v.as_str())
    };
    let mut body = text[offset.min(text.len())..].to_string();
    match get("content-transfer-encoding").map(str::to_ascii_lowercase) {
        Some(e) if e == "quoted-printable" => {
            let joined = body.replace("=\n", "");
            if let Ok(b) = series_apply::header::decode_q(joined.as_bytes(), false) {
                body = String::from_utf8_lossy(&b).into_owned();
            }
        }
        Some(e) if e == "base64" => {
            if let Ok(b) = series_apply::header::decode_base64(body.as_bytes()) {
                body = String::from_utf8_lossy(&b).into_owned();
            }
        }
        _ => {}
    }
    let mut parents = get("references").map(ids).unwrap_or_default();
    if let Some(p) = get("in-reply-to")
        .map(ids)
        .and_then(|v| v.into_iter().next())
    {
        parents.retain(|x| *x != p);
        parents.push(p);
    }
    Ok(Reply {
        source: source.to_string(),
        message_id: get("message-id").and_then(|v| ids(v).into_iter().next()),
        parents,
        subject: get("subject").unwrap_or("").to_string(),
        trailers: trailers_in(&body),
        body,
    })
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

#[cfg(test)]
mod tests {
    use super::*;

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
