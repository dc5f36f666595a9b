//! Who gets which mail of a series (the rule is in docs/review-flow.md):
//! per patch, get_maintainer.pl's maintainers To and its reviewers and
//! lists Cc, the people the patch's own trailers name Cc, the manifest's
//! [mail] lists; the cover letter goes to everybody any patch goes to.

use crate::manifest::Manifest;
use crate::paths;
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Recipients {
    pub to: Vec<String>,
    pub cc: Vec<String>,
}

/// The address part of `Name <a@b>` (or the whole string), lower case.
fn key(addr: &str) -> String {
    let a = match (addr.rfind('<'), addr.rfind('>')) {
        (Some(i), Some(j)) if i < j => &addr[i + 1..j],
        _ => addr,
    };
    a.trim().to_ascii_lowercase()
}

impl Recipients {
    fn add_to(&mut self, addr: &str) {
        let k = key(addr);
        if k.is_empty() || self.to.iter().any(|a| key(a) == k) {
            return;
        }
        self.cc.retain(|a| key(a) != k);
        self.to.push(addr.to_string());
    }

    fn add_cc(&mut self, addr: &str) {
        let k = key(addr);
        if k.is_empty() || self.to.iter().chain(&self.cc).any(|a| key(a) == k) {
            return;
        }
        self.cc.push(addr.to_string());
    }

    /// Everybody in `all`: To of any → To, the rest Cc; first seen first.
    pub fn union(all: &[&Recipients]) -> Recipients {
        let mut out = Recipients::default();
        for r in all {
            r.to.iter().for_each(|a| out.add_to(a));
        }
        for r in all {
            r.cc.iter().for_each(|a| out.add_cc(a));
        }
        out
    }
}

/// MAINTAINERS of the tree with the project's MAINTAINERS.snippet
/// appended, in a temporary file removed on drop.
pub struct MaintainersFile(PathBuf);

impl MaintainersFile {
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for MaintainersFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

pub fn maintainers_file(tree: &Path) -> Result<MaintainersFile> {
    let mut text = std::fs::read_to_string(tree.join("MAINTAINERS"))
        .with_context(|| format!("{} has no MAINTAINERS", tree.display()))?;
    if let Ok(s) = std::fs::read_to_string(paths::project_root().join("MAINTAINERS.snippet")) {
        text.push('\n');
        text.push_str(&s);
    }
    let path = std::env::temp_dir().join(format!("series-MAINTAINERS-{}", std::process::id()));
    std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(MaintainersFile(path))
}

/// Trailers whose people hear about the patch (git send-email Cc's the
/// same ones by default).
const CC_TRAILERS: &[&str] = &[
    "signed-off-by",
    "co-developed-by",
    "suggested-by",
    "reported-by",
    "reviewed-by",
    "acked-by",
    "tested-by",
    "cc",
];

/// Addresses of the trailers in the commit message part of a mail.
pub fn trailer_addresses(mail: &str) -> Vec<String> {
    let body = mail.split_once("\n\n").map_or("", |(_, b)| b);
    let message = body.split("\n---\n").next().unwrap_or("");
    message
        .lines()
        .filter_map(|l| {
            let (name, value) = l.split_once(':')?;
            let value = without_hash_comment(value).trim();
            (CC_TRAILERS.contains(&name.to_ascii_lowercase().as_str()) && value.contains('@'))
                .then(|| value.to_string())
        })
        .collect()
}

/// A trailer's address without the kernel's `# comment` after it
/// (`stable@vger.kernel.org # 6.1+`): a `#` outside a quoted name and
/// outside `<...>` starts the comment, as git send-email reads it.
fn without_hash_comment(value: &str) -> &str {
    let mut quoted = false;
    let mut angle = false;
    let mut escaped = false;
    for (i, c) in value.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' if !angle => quoted = !quoted,
            '<' if !quoted => angle = true,
            '>' if !quoted => angle = false,
            '#' if !quoted && !angle => return &value[..i],
            _ => {}
        }
    }
    value
}

/// `"Joerg Roedel (AMD)" <joro@8bytes.org> (maintainer:IOMMU)` → the
/// address and `maintainer:IOMMU`. The role is the comment that ends the
/// line, in RFC 5322's sense: balanced parentheses that may nest
/// (`(maintainer:LINUX FOR POWERPC (32-BIT AND 64-BIT))`), outside a
/// quoted name, which may hold parentheses of its own.
fn address_and_role(line: &str) -> (&str, &str) {
    let line = line.trim();
    match trailing_comment_start(line) {
        Some(i) => (line[..i].trim(), &line[i + 1..line.len() - 1]),
        None => (line, ""),
    }
}

/// Where the balanced `( ... )` that ends `line` opens, if one does and
/// something precedes it.
fn trailing_comment_start(line: &str) -> Option<usize> {
    if !line.ends_with(')') {
        return None;
    }
    // Scan forward to know which parentheses are inside quotes.
    let mut quoted = false;
    let mut escaped = false;
    let mut depth = 0usize;
    let mut open_at = None;
    for (i, c) in line.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            '"' if depth == 0 => quoted = !quoted,
            '(' if !quoted => {
                if depth == 0 {
                    open_at = Some(i);
                }
                depth += 1;
            }
            ')' if !quoted && depth > 0 => {
                depth -= 1;
                if depth == 0 && i == line.len() - 1 {
                    return open_at.filter(|&o| o > 0);
                }
            }
            _ => {}
        }
    }
    None
}

pub fn for_patch(
    tree: &Path,
    maintainers: &Path,
    patch_file: &Path,
    mail: &str,
    manifest: &Manifest,
    sender: &str,
) -> Result<Recipients> {
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
        .arg(maintainers)
        .arg(patch_file)
        .current_dir(tree)
        .output()
        .context("cannot run perl scripts/get_maintainer.pl")?;
    if !out.status.success() {
        bail!(
            "get_maintainer.pl failed on {}: {}",
            patch_file.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let mut r = Recipients::default();
    let mut cc = Vec::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let (addr, role) = address_and_role(line);
        if addr.is_empty() {
            continue;
        }
        if role.starts_with("maintainer") {
            r.add_to(addr);
        } else {
            cc.push(addr.to_string());
        }
    }
    manifest.mail.to.iter().for_each(|a| r.add_to(a));
    cc.iter().for_each(|a| r.add_cc(a));
    trailer_addresses(mail).iter().for_each(|a| r.add_cc(a));
    manifest.mail.cc.iter().for_each(|a| r.add_cc(a));
    let me = key(sender);
    r.to.retain(|a| key(a) != me);
    r.cc.retain(|a| key(a) != me);
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn union_keeps_to_over_cc_and_dedups_by_address() {
        let a = Recipients {
            to: vec!["M <m@x>".into()],
            cc: vec!["list@x".into(), "R <r@x>".into()],
        };
        let b = Recipients {
            to: vec!["R Two <R@x>".into()],
            cc: vec!["list@x".into(), "m@x".into()],
        };
        let u = Recipients::union(&[&a, &b]);
        assert_eq!(u.to, ["M <m@x>", "R Two <R@x>"]);
        assert_eq!(u.cc, ["list@x"]);
    }

    #[test]
    fn roles_are_the_last_parenthesis() {
        assert_eq!(
            address_and_role("\"Joerg Roedel (AMD)\" <joro@8bytes.org> (maintainer:IOMMU)"),
            (
                "\"Joerg Roedel (AMD)\" <joro@8bytes.org>",
                "maintainer:IOMMU"
            )
        );
        assert_eq!(
            address_and_role("iommu@lists.linux.dev (open list:IOMMU)"),
            ("iommu@lists.linux.dev", "open list:IOMMU")
        );
        assert_eq!(address_and_role("x@y"), ("x@y", ""));
    }

    #[test]
    fn a_role_with_nested_parentheses_is_one_role() {
        assert_eq!(
            address_and_role(
                "Madhavan Srinivasan <maddy@linux.ibm.com> \
                 (maintainer:LINUX FOR POWERPC (32-BIT AND 64-BIT))"
            ),
            (
                "Madhavan Srinivasan <maddy@linux.ibm.com>",
                "maintainer:LINUX FOR POWERPC (32-BIT AND 64-BIT)"
            )
        );
        assert_eq!(
            address_and_role("\"Name (Corp) \\\"x)\" <n@x> (reviewer:A (B) AND C (D (E)))"),
            (
                "\"Name (Corp) \\\"x)\" <n@x>",
                "reviewer:A (B) AND C (D (E))"
            )
        );
        // A parenthesis inside the quoted name only is not a role.
        assert_eq!(
            address_and_role("\"Odd (x)\" <o@x>"),
            ("\"Odd (x)\" <o@x>", "")
        );
    }

    #[test]
    fn a_hash_comment_after_a_trailer_address_is_not_an_address() {
        let mail = "From: a\nSubject: s\n\nBody.\n\n\
                    Cc: stable@vger.kernel.org # 6.1+\n\
                    Cc: \"No #1 Fan\" <fan@x> # really\n\
                    Signed-off-by: A <a@x>\n---\n";
        assert_eq!(
            trailer_addresses(mail),
            ["stable@vger.kernel.org", "\"No #1 Fan\" <fan@x>", "A <a@x>"]
        );
    }

    #[test]
    fn trailers_of_the_message_only() {
        let mail = "From: a\nSubject: s\n\nBody.\n\nSuggested-by: J <j@x>\nLink: https://x\n\
                    Signed-off-by: A <a@x>\n---\n Cc: not@this\n";
        assert_eq!(trailer_addresses(mail), ["J <j@x>", "A <a@x>"]);
    }
}
