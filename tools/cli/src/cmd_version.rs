//! `series version --next`: start the next version of the series.

use crate::manifest::{Manifest, MANIFEST_FILE};
use crate::paths;
use crate::sent_record::{sent_ref, write_atomically, SentRecord};
use anyhow::{bail, Context, Result};
use clap::Args;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Show the series' version, or start the next one.
///
/// `--next` moves series.toml from vN to vN+1 and adds an empty
/// [[changelog]] entry for it; fill it in as you rework the series. vN
/// stays reachable: its commits are `refs/series/sent/vN` in the tree
/// (set by `series send`; set here to the tree's HEAD when vN was never
/// sent by `series send`), its mails and Message-IDs are under
/// patches/sent/. `series export` then writes `[PATCH vN+1 k/n]` with the
/// changelog, the link to vN and the range-diff from vN.
///
/// Refused when the kernel tree or patches/ has uncommitted changes, so
/// nothing of vN is lost.
///
/// Examples:
///   tools/series version            # the current version and what was sent
///   tools/series version --next     # v1 -> v2
#[derive(Args)]
#[command(verbatim_doc_comment)]
pub struct VersionArgs {
    /// Kernel tree holding the series' commits (default: out/linux).
    #[arg(long)]
    pub tree: Option<PathBuf>,
    /// Start the next version.
    #[arg(long)]
    pub next: bool,
}

/// The manifest text with `version = old` of [series] set to `new` and an
/// empty changelog entry for `new` appended. The manifest is edited as
/// TOML (toml_edit): comments, layout and the other keys stay as written.
pub fn bump_text(text: &str, old: u32, new: u32) -> Result<String> {
    let mut doc: toml_edit::DocumentMut = text
        .parse()
        .context("the manifest is not valid TOML (see docs/manifest.md)")?;
    let version = doc
        .get_mut("series")
        .and_then(|s| s.as_table_like_mut())
        .and_then(|s| s.get_mut("version"))
        .and_then(|v| v.as_value_mut())
        .context("the manifest has no [series] version")?;
    if version.as_integer() != Some(i64::from(old)) {
        bail!("series.version is {version}, not {old}; nothing was changed");
    }
    let decor = version.decor().clone();
    *version = toml_edit::Value::from(i64::from(new));
    *version.decor_mut() = decor;
    let changelog = doc
        .entry("changelog")
        .or_insert(toml_edit::Item::ArrayOfTables(Default::default()))
        .as_array_of_tables_mut()
        .context("changelog must be [[changelog]] tables (docs/manifest.md)")?;
    let mut entry = toml_edit::Table::new();
    entry.insert("version", toml_edit::value(i64::from(new)));
    entry.insert("changes", toml_edit::value(toml_edit::Array::new()));
    entry.decor_mut().set_prefix("\n");
    changelog.push(entry);
    Ok(doc.to_string())
}

/// Refuses uncommitted changes under `patches` in the project checkout.
fn ensure_patches_committed(patches: &Path, version: u32) -> Result<()> {
    let out = Command::new("git")
        .args(["status", "--porcelain", "--", "."])
        .current_dir(patches)
        .output()
        .context("cannot run git status")?;
    if !out.status.success() {
        // Fail closed: a check that cannot run does not pass.
        bail!(
            "cannot tell whether {} has uncommitted changes (git status failed: {}); \
             nothing was changed: make it a git checkout you may read, or fix the error",
            patches.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let dirty = String::from_utf8_lossy(&out.stdout);
    if !dirty.trim().is_empty() {
        bail!(
            "{} has uncommitted changes:\n{}commit them first, so that v{version} stays in the \
             project's history",
            patches.display(),
            dirty
        );
    }
    Ok(())
}

pub fn run(patches: &Path, args: VersionArgs) -> Result<()> {
    let manifest = Manifest::load(patches)?;
    let v = manifest.series.version;
    let records = SentRecord::load_all(patches)?;
    if !args.next {
        println!("{} v{v}", manifest.series.name);
        for r in &records {
            let sent = r.mails.iter().filter(|m| m.sent).count();
            println!(
                "  v{} sent {} ({sent}/{} mails): {}",
                r.version,
                r.date,
                r.mails.len(),
                r.lore_link().unwrap_or_default()
            );
        }
        return Ok(());
    }
    let tree = paths::resolve_tree(args.tree)?;
    let repo = git2::Repository::open(&tree)
        .with_context(|| format!("{} is not a git tree", tree.display()))?;
    // Every check first, then the two changes (the ref, the manifest).
    series_apply::checks::ensure_clean(&repo)?;
    ensure_patches_committed(patches, v)?;
    if manifest.changelog.iter().any(|c| c.version == v + 1) {
        bail!("series.toml already has a changelog entry for v{}", v + 1);
    }
    let record = records.iter().find(|r| r.version == v);
    if let Some(r) = record {
        if !r.complete {
            bail!("the send of v{v} is not finished; run `tools/series send --resume` first");
        }
    }
    let path = patches.join(MANIFEST_FILE);
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read {}", path.display()))?;
    let new_text = bump_text(&text, v, v + 1)
        .with_context(|| format!("cannot move {} to v{}", path.display(), v + 1))?;
    let check =
        Manifest::parse_in(patches, &new_text).context("the bumped manifest does not parse")?;
    if check.series.version != v + 1 {
        bail!(
            "the bumped {} says version {}, not {}; nothing was changed",
            path.display(),
            check.series.version,
            v + 1
        );
    }
    let sent = sent_ref(patches, v);
    let kept = match repo.refname_to_id(&sent) {
        Ok(id) => id,
        Err(_) => {
            let head = repo.head()?.peel_to_commit()?.id();
            repo.reference(&sent, head, false, &format!("series version: v{v}"))?;
            head
        }
    };
    write_atomically(&path, new_text.as_bytes())?;
    println!(
        "{} is now v{}; v{v} is {sent} ({}) in {}{}",
        manifest.series.name,
        v + 1,
        &kept.to_string()[..12],
        tree.display(),
        match record {
            Some(r) => format!(", sent as {}", r.lore_link().unwrap_or_default()),
            None => " (never sent by `series send`: no link, no range-diff)".into(),
        }
    );
    println!(
        "next: rework the commits, list the changes under [[changelog]] version = {} in {}, \
         then `tools/series export`",
        v + 1,
        path.display()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bumps_only_the_series_version() {
        let text = "# c\n[series]\nname = \"x\"\nversion = 1\n\n[[changelog]]\nversion = 1\nchanges = [\"Initial posting.\"]\n";
        let got = bump_text(text, 1, 2).unwrap();
        assert_eq!(
            got,
            "# c\n[series]\nname = \"x\"\nversion = 2\n\n[[changelog]]\nversion = 1\n\
             changes = [\"Initial posting.\"]\n\n[[changelog]]\nversion = 2\nchanges = []\n"
        );
        assert!(bump_text(text, 3, 4).is_err());
    }

    #[test]
    fn a_commented_version_is_bumped_and_keeps_its_comment() {
        let text = "[series]\nname = \"x\"\nversion = 1  # the reroll count\n";
        let got = bump_text(text, 1, 2).unwrap();
        assert!(
            got.starts_with("[series]\nname = \"x\"\nversion = 2  # the reroll count\n"),
            "{got}"
        );
        let parsed: toml::Value = toml::from_str(&got).unwrap();
        assert_eq!(parsed["series"]["version"].as_integer(), Some(2));
    }

    #[test]
    fn a_version_inside_a_string_is_not_the_version() {
        let text =
            "[series]\nname = \"x\"\nversion = 1\nsubject_prefix = \"\"\"\nversion = 1\n\"\"\"\n";
        let got = bump_text(text, 1, 2).unwrap();
        assert!(
            got.contains("subject_prefix = \"\"\"\nversion = 1\n\"\"\""),
            "{got}"
        );
        assert!(got.contains("\nversion = 2\nsubject_prefix"), "{got}");
        // And one that is only in a string is not found at all.
        let only_in_string = "[series]\nname = \"\"\"\nversion = 1\n\"\"\"\nversion = 3\n";
        assert!(bump_text(only_in_string, 1, 2).is_err());
    }
}
