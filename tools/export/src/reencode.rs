//! Commits stored in another encoding (an `encoding ISO-8859-1` header):
//! git format-patch re-encodes their message and idents to UTF-8 before
//! writing the mail, and so does export.

use anyhow::{bail, Result};
use git2::Commit;

/// A commit's message and author as UTF-8 bytes.
pub struct Utf8Commit {
    pub message: Vec<u8>,
    pub author_name: Vec<u8>,
    pub author_email: Vec<u8>,
}

fn is_utf8_label(label: &str) -> bool {
    matches!(
        label.trim().to_ascii_lowercase().as_str(),
        "utf-8" | "utf8" | "us-ascii" | "ascii" | ""
    )
}

/// `bytes` in the encoding `label` as UTF-8: ISO-8859-1 byte for byte
/// (as iconv does), other labels through their WHATWG decoder.
pub fn to_utf8(bytes: &[u8], label: &str) -> Result<Vec<u8>> {
    if is_utf8_label(label) {
        return Ok(bytes.to_vec());
    }
    let lower = label.trim().to_ascii_lowercase();
    if matches!(
        lower.as_str(),
        "iso-8859-1" | "iso8859-1" | "latin1" | "latin-1" | "l1"
    ) {
        return Ok(bytes
            .iter()
            .map(|&b| char::from(b))
            .collect::<String>()
            .into_bytes());
    }
    let Some(encoding) = encoding_rs::Encoding::for_label(lower.as_bytes()) else {
        bail!("the commit's encoding {label:?} is unknown; re-encode it to UTF-8 (git commit --amend)");
    };
    Ok(encoding
        .decode_without_bom_handling(bytes)
        .0
        .into_owned()
        .into_bytes())
}

/// The message and author of `commit` in UTF-8.
pub fn utf8_commit(commit: &Commit, author: &git2::Signature) -> Result<Utf8Commit> {
    let raw = commit.message_raw_bytes();
    let label = commit.message_encoding().unwrap_or("");
    Ok(Utf8Commit {
        message: to_utf8(raw, label)?,
        author_name: to_utf8(author.name_bytes(), label)?,
        author_email: to_utf8(author.email_bytes(), label)?,
    })
}
