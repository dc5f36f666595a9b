//! `series check`: checkpatch --strict and the project's own rules on every patch.

use crate::manifest::Manifest;
use crate::paths;
use anyhow::{bail, Context, Result};
use clap::Args;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Check every patch of the series: `scripts/checkpatch.pl --strict` from the
/// kernel tree, plus the series' own rules (author identity from the
/// manifest, a Signed-off-by of that author, a `subsystem: Summary` subject).
///
/// Examples:
///   tools/series check                  # checkpatch from out/linux
///   tools/series check --tree ~/linux
#[derive(Args)]
#[command(verbatim_doc_comment)]
pub struct CheckArgs {
    /// Kernel tree whose scripts/checkpatch.pl is used (default: out/linux).
    #[arg(long)]
    pub tree: Option<PathBuf>,
}

/// The patch files of a series directory in order (`[vN-]NNNN-*.patch`,
/// as `git format-patch` names them), the cover letter apart.
pub struct PatchFiles {
    pub cover: Option<PathBuf>,
    pub patches: Vec<PathBuf>,
}

pub fn patch_files(dir: &Path) -> Result<PatchFiles> {
    let mut files = PatchFiles {
        cover: None,
        patches: Vec::new(),
    };
    for name in series_export::existing_patch_files(dir)? {
        let path = dir.join(&name);
        if name.ends_with("0000-cover-letter.patch") {
            files.cover = Some(path);
        } else {
            files.patches.push(path);
        }
    }
    Ok(files)
}

/// One rule broken by one patch.
#[derive(Debug, PartialEq)]
pub struct Finding {
    pub patch: String,
    pub what: String,
}

/// The project's own rules on one patch's mail text.
pub fn series_rules(name: &str, text: &str, manifest: &Manifest) -> Vec<Finding> {
    let mut findings = Vec::new();
    let mut add = |what: String| {
        findings.push(Finding {
            patch: name.to_string(),
            what,
        })
    };
    let headers = text.split("\n\n").next().unwrap_or("");
    let author_id = crate::identity::Identity::author_of(manifest);
    let author = author_id.trailer_form();
    // Compared as the person the header decodes to: git quotes or
    // RFC 2047-encodes names that need it.
    match crate::identity::mail_from(text) {
        Some(who) if who.same_as(&author_id) => {}
        Some(who) => add(format!(
            "author is {:?}, the manifest says {author:?}",
            who.trailer_form()
        )),
        None => add("no From: header naming one person".to_string()),
    }
    if !text.contains(&format!("\nSigned-off-by: {author}\n")) {
        add(format!("no `Signed-off-by: {author}`"));
    }
    let subject = headers
        .lines()
        .find_map(|l| l.strip_prefix("Subject: "))
        .unwrap_or("");
    let summary = subject.rsplit_once("] ").map(|(_, s)| s).unwrap_or(subject);
    match summary.rsplit_once(": ") {
        Some((subsys, rest)) if !subsys.is_empty() && !rest.is_empty() => {
            if !rest.starts_with(|c: char| c.is_ascii_uppercase()) {
                add(format!(
                    "summary {rest:?} should start with a capital letter"
                ));
            }
            if rest.ends_with('.') {
                add("summary ends with a period".to_string());
            }
        }
        _ => add(format!("subject {summary:?} is not `subsystem: Summary`")),
    }
    findings
}

/// The checkpatch type of a `--show-types --terse` line
/// (`file:12: WARNING:FILE_PATH_CHANGES: ...` → `FILE_PATH_CHANGES`).
fn finding_type(line: &str) -> Option<&str> {
    ["ERROR:", "WARNING:", "CHECK:"].iter().find_map(|level| {
        let rest = &line[line.find(level)? + level.len()..];
        rest.split_once(':').map(|(t, _)| t.trim())
    })
}

/// An exception counts only when the commit message (above the `---`)
/// names the checkpatch type, as "checkpatch's TYPE" or "checkpatch: TYPE",
/// saying why. ERRORs are never excused.
pub fn justified_in_message(mail: &str, finding: &str) -> bool {
    if finding.contains(": ERROR:") {
        return false;
    }
    let Some(kind) = finding_type(finding) else {
        return false;
    };
    let message = mail.split("\n---\n").next().unwrap_or(mail);
    let flat = message.split_whitespace().collect::<Vec<_>>().join(" ");
    flat.contains(&format!("checkpatch's {kind}")) || flat.contains(&format!("checkpatch: {kind}"))
}

/// A base imported from a tarball is one commit without parents: upstream
/// commit ids (Fixes: tags) cannot be looked up in it.
fn base_has_no_history(tree: &Path) -> bool {
    let Ok(repo) = git2::Repository::open(tree) else {
        return false;
    };
    let base = repo.refname_to_id(crate::base_cache::BASE_REF);
    base.and_then(|id| repo.find_commit(id))
        .map(|c| c.parent_count() == 0)
        .unwrap_or(false)
}

pub fn run(patches: &Path, args: CheckArgs) -> Result<()> {
    let manifest = Manifest::load(patches)?;
    let tree = paths::resolve_tree(args.tree)?;
    let checkpatch = tree.join("scripts/checkpatch.pl");
    if !checkpatch.is_file() {
        bail!(
            "{} not found; run `tools/series base` or pass --tree",
            checkpatch.display()
        );
    }
    let files = patch_files(patches)?.patches;
    let no_history = base_has_no_history(&tree);
    if files.is_empty() {
        bail!("no patches in {}", patches.display());
    }
    let mut failed = 0;
    for file in &files {
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        // Patches are bytes; the rules read headers and trailers, which
        // are ASCII, so a body that is not UTF-8 is read lossily.
        let bytes =
            std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
        let text = String::from_utf8_lossy(&bytes);
        let abs = file.canonicalize()?;
        let out = Command::new("perl")
            .arg(&checkpatch)
            .args(["--strict", "--terse", "--no-summary", "--show-types"])
            .arg(&abs)
            .current_dir(&tree)
            .output()
            .context("cannot run perl scripts/checkpatch.pl")?;
        let report = String::from_utf8_lossy(&out.stdout);
        let (issues, unverifiable): (Vec<&str>, Vec<&str>) = report
            .lines()
            .filter(|l| {
                l.contains(": ERROR:") || l.contains(": WARNING:") || l.contains(": CHECK:")
            })
            .partition(|l| !(no_history && l.contains(":UNKNOWN_COMMIT_ID:")));
        if !out.status.success() && issues.is_empty() && unverifiable.is_empty() {
            bail!(
                "checkpatch.pl failed on {name} without a finding: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        for l in &unverifiable {
            println!("note    {name}: the base has no upstream history to look this up in: {l}");
        }
        let (justified, issues): (Vec<&str>, Vec<&str>) = issues
            .into_iter()
            .partition(|l| justified_in_message(&text, l));
        for l in &justified {
            println!("note    {name}: justified in the commit message: {l}");
        }
        let rules = series_rules(&name, &text, &manifest);
        if issues.is_empty() && rules.is_empty() {
            println!("ok      {name}");
            continue;
        }
        failed += 1;
        println!("FAILED  {name}");
        for l in issues {
            println!("    {l}");
        }
        for f in rules {
            println!("    {}", f.what);
        }
    }
    if failed > 0 {
        bail!("{failed} of {} patches have findings", files.len());
    }
    println!("{} patches, checkpatch --strict clean", files.len());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest() -> Manifest {
        Manifest::parse(
            "[series]\nname='x'\nversion=1\n[base]\npackage='linux-source-6.12'\nkernel_version='6.12.117'\n[author]\nname='A U Thor'\nemail='a@example.org'\n",
        )
        .unwrap()
    }

    const GOOD: &str = "From 0000 Mon Sep 17 00:00:00 2001\nFrom: A U Thor <a@example.org>\nSubject: [PATCH 1/2] iommu: Add a thing\n\nWhy.\n\nSigned-off-by: A U Thor <a@example.org>\n---\n";

    #[test]
    fn authors_whose_names_are_quoted_or_encoded_pass() {
        for (name, from) in [
            ("A. U. Thor", "\"A. U. Thor\""),
            ("Jörg Rödel", "=?UTF-8?q?J=C3=B6rg=20R=C3=B6del?="),
        ] {
            let mut m = manifest();
            m.author.name = name.to_string();
            let text = GOOD
                .replace("From: A U Thor", &format!("From: {from}"))
                .replace("Signed-off-by: A U Thor", &format!("Signed-off-by: {name}"));
            let found = series_rules("p", &text, &m);
            assert!(found.is_empty(), "{name}: {found:?}");
        }
    }

    #[test]
    fn good_patch_has_no_findings() {
        assert!(series_rules("p", GOOD, &manifest()).is_empty());
    }

    #[test]
    fn each_rule_can_fail() {
        let m = manifest();
        let other = GOOD.replace("From: A U Thor", "From: Someone");
        assert_eq!(series_rules("p", &other, &m).len(), 1);
        let unsigned = GOOD.replace("Signed-off-by", "Reviewed-by");
        assert_eq!(series_rules("p", &unsigned, &m).len(), 1);
        let nosubsys = GOOD.replace("iommu: Add a thing", "Add a thing");
        assert_eq!(series_rules("p", &nosubsys, &m).len(), 1);
        let lower = GOOD.replace("iommu: Add", "iommu: add");
        assert_eq!(series_rules("p", &lower, &m).len(), 1);
    }

    #[test]
    fn exception_needs_the_type_named_in_the_message() {
        let warn = "x.patch:66: WARNING:FILE_PATH_CHANGES: added, moved or deleted file(s)";
        let named = "Subject: x\n\nWhy. checkpatch's\nFILE_PATH_CHANGES is expected.\n---\n";
        assert!(justified_in_message(named, warn));
        let unnamed = "Subject: x\n\nWhy.\n---\n+checkpatch's FILE_PATH_CHANGES\n";
        assert!(!justified_in_message(unnamed, warn));
        let err = "x.patch:1: ERROR:FILE_PATH_CHANGES: x";
        assert!(!justified_in_message(named, err));
    }

    #[test]
    fn lists_numbered_patches_only() {
        let d = tempfile::tempdir().unwrap();
        for n in [
            "v2-0002-b.patch",
            "v2-0000-cover-letter.patch",
            "v2-0001-a.patch",
            "series.toml",
            "01-x.patch",
        ] {
            std::fs::write(d.path().join(n), "").unwrap();
        }
        let files = patch_files(d.path()).unwrap();
        assert!(files.cover.unwrap().ends_with("v2-0000-cover-letter.patch"));
        let names: Vec<_> = files
            .patches
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["v2-0001-a.patch", "v2-0002-b.patch"]);
    }
}
