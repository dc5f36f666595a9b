//! `series send`: prepare the `git send-email` review flow.

use crate::cmd_check::patch_files;
use crate::manifest::Manifest;
use crate::paths;
use anyhow::{bail, Context, Result};
use clap::Args;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Prepare the series for mailing: copy it to out/send/ with the sender's
/// identity in place of the manifest's author (From: and Signed-off-by:),
/// find the recipients with the tree's scripts/get_maintainer.pl (the
/// MAINTAINERS file extended with MAINTAINERS.snippet) plus the manifest's
/// [mail] lists, and print the `git send-email` command. Nothing is sent
/// unless --send is given.
///
/// Examples:
///   tools/series send                         # prepare and show the command
///   tools/series send --from "Jane <j@x.org>"
///   tools/series send --send                  # run git send-email (asks to confirm)
#[derive(Args)]
#[command(verbatim_doc_comment)]
pub struct SendArgs {
    /// Kernel tree for get_maintainer.pl and MAINTAINERS (default: out/linux).
    #[arg(long)]
    pub tree: Option<PathBuf>,
    /// Sender identity, "Name <email>" (default: git config user.name/user.email).
    #[arg(long)]
    pub from: Option<String>,
    /// Where to write the mail-ready series (default: out/send).
    #[arg(long)]
    pub output: Option<PathBuf>,
    /// Run git send-email (it asks before sending each mail).
    #[arg(long)]
    pub send: bool,
}

/// The sender from --from or from git's configuration.
fn sender(from: Option<String>) -> Result<String> {
    if let Some(f) = from {
        if !(f.contains('<') && f.ends_with('>')) {
            bail!("--from must look like \"Name <email>\", got {f:?}");
        }
        return Ok(f);
    }
    let cfg = git2::Config::open_default().context("cannot read git's configuration")?;
    match (cfg.get_string("user.name"), cfg.get_string("user.email")) {
        (Ok(n), Ok(e)) => Ok(format!("{n} <{e}>")),
        _ => bail!("no sender identity: pass --from \"Name <email>\" or set git config user.name and user.email"),
    }
}

/// The mail with the series author replaced by the sender in From: and
/// in the author's own Signed-off-by: line; other trailers stay.
pub fn rewrite_identity(text: &str, author: &str, sender: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut in_headers = true;
    for line in text.split_inclusive('\n') {
        let body = line.trim_end_matches('\n');
        if in_headers && body.is_empty() {
            in_headers = false;
        }
        let replaced = if in_headers && body == format!("From: {author}") {
            Some(format!("From: {sender}"))
        } else if !in_headers && body == format!("Signed-off-by: {author}") {
            Some(format!("Signed-off-by: {sender}"))
        } else {
            None
        };
        match replaced {
            Some(r) => {
                out.push_str(&r);
                if line.ends_with('\n') {
                    out.push('\n');
                }
            }
            None => out.push_str(line),
        }
    }
    out
}

/// Addresses get_maintainer.pl finds for the patches (maintainers → To, the rest → Cc).
fn maintainers(
    tree: &Path,
    maintainers_file: &Path,
    patches: &[PathBuf],
) -> Result<(Vec<String>, Vec<String>)> {
    let script = tree.join("scripts/get_maintainer.pl");
    if !script.is_file() {
        bail!(
            "{} not found; run `tools/series base` or pass --tree",
            script.display()
        );
    }
    let out = Command::new("perl")
        .arg(&script)
        .args([
            "--no-git",
            "--no-git-fallback",
            "--no-tree",
            "--no-rolestats",
            "--roles",
            "--separator",
            "\n",
        ])
        .arg("--mpath")
        .arg(maintainers_file)
        .args(patches)
        .current_dir(tree)
        .output()
        .context("cannot run perl scripts/get_maintainer.pl")?;
    if !out.status.success() {
        bail!(
            "get_maintainer.pl failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let mut to = Vec::new();
    let mut cc = Vec::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let (addr, role) = line.split_once(" (").unwrap_or((line, ""));
        if addr.is_empty() {
            continue;
        }
        if role.starts_with("maintainer") {
            to.push(addr.to_string());
        } else {
            cc.push(addr.to_string());
        }
    }
    Ok((to, cc))
}

pub fn run(patches: &Path, args: SendArgs) -> Result<()> {
    let manifest = Manifest::load(patches)?;
    let tree = paths::resolve_tree(args.tree)?;
    let out = args.output.unwrap_or_else(|| paths::out_dir().join("send"));
    let sender = sender(args.from)?;
    let author = format!("{} <{}>", manifest.author.name, manifest.author.email);

    let files = patch_files(patches)?;
    let numbered = files.patches;
    if numbered.is_empty() {
        bail!("no patches in {}", patches.display());
    }
    let mut mails = numbered.clone();
    if let Some(cover) = files.cover {
        mails.insert(0, cover);
    }

    std::fs::create_dir_all(&out).with_context(|| format!("cannot create {}", out.display()))?;
    for old in std::fs::read_dir(&out)? {
        let p = old?.path();
        if p.extension().is_some_and(|e| e == "patch") {
            std::fs::remove_file(p)?;
        }
    }
    let mut written = Vec::new();
    for mail in &mails {
        let text = std::fs::read_to_string(mail)?;
        let dest = out.join(mail.file_name().unwrap());
        std::fs::write(&dest, rewrite_identity(&text, &author, &sender))?;
        written.push(dest);
    }

    // MAINTAINERS plus the series' own entry, so new files find their maintainers.
    let mut mfile = std::fs::read_to_string(tree.join("MAINTAINERS"))
        .with_context(|| format!("{} has no MAINTAINERS", tree.display()))?;
    let snippet = paths::project_root().join("MAINTAINERS.snippet");
    if let Ok(s) = std::fs::read_to_string(&snippet) {
        mfile.push('\n');
        mfile.push_str(&s);
    }
    let mpath = out.join("MAINTAINERS");
    std::fs::write(&mpath, mfile)?;
    let (mut to, mut cc) = maintainers(&tree, &mpath, &numbered)?;
    to.extend(manifest.mail.to.iter().cloned());
    cc.extend(manifest.mail.cc.iter().cloned());
    let to: BTreeSet<String> = to.into_iter().collect();
    let cc: BTreeSet<String> = cc.into_iter().filter(|a| !to.contains(a)).collect();
    std::fs::write(
        out.join("to.txt"),
        to.iter().map(|a| format!("{a}\n")).collect::<String>(),
    )?;
    std::fs::write(
        out.join("cc.txt"),
        cc.iter().map(|a| format!("{a}\n")).collect::<String>(),
    )?;

    let mut cmd = vec![
        "git".to_string(),
        "send-email".into(),
        "--confirm=always".into(),
        "--thread".into(),
        "--no-chain-reply-to".into(),
    ];
    cmd.push(format!("--from={sender}"));
    cmd.extend(to.iter().map(|a| format!("--to={a}")));
    cmd.extend(cc.iter().map(|a| format!("--cc={a}")));
    cmd.extend(written.iter().map(|p| p.display().to_string()));
    println!("{} mails in {} as {sender}", written.len(), out.display());
    println!("To: {}", to.iter().cloned().collect::<Vec<_>>().join(", "));
    println!("Cc: {}", cc.iter().cloned().collect::<Vec<_>>().join(", "));
    if !args.send {
        let shown: Vec<String> = cmd.iter().map(|a| shell_quote(a)).collect();
        println!("send with:\n  {}", shown.join(" "));
        return Ok(());
    }
    let status = Command::new(&cmd[0])
        .args(&cmd[1..])
        .status()
        .context("cannot run git send-email (Debian: apt-get install git-email)")?;
    if !status.success() {
        bail!("git send-email failed");
    }
    Ok(())
}

fn shell_quote(s: &str) -> String {
    if s.chars()
        .all(|c| c.is_ascii_alphanumeric() || "-_./=@:".contains(c))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_author_in_from_and_own_signoff_only() {
        let a = "Series <s@example.org>";
        let mail = format!(
            "From 0 Mon Sep 17 00:00:00 2001\nFrom: {a}\nSubject: x\n\nFrom: {a}\nbody\n\nSuggested-by: J <j@x>\nSigned-off-by: {a}\n---\n"
        );
        let got = rewrite_identity(&mail, a, "Jane <jane@x.org>");
        assert!(got.contains("\nFrom: Jane <jane@x.org>\nSubject"));
        assert!(got.contains("Signed-off-by: Jane <jane@x.org>\n"));
        assert!(got.contains("Suggested-by: J <j@x>\n"));
        // A From: line in the body is text, not a header.
        assert!(got.contains(&format!("\n\nFrom: {a}\nbody")));
    }

    #[test]
    fn from_must_be_an_identity() {
        assert!(sender(Some("jane".into())).is_err());
        assert_eq!(sender(Some("J <j@x>".into())).unwrap(), "J <j@x>");
    }
}
