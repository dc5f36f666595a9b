//! The `prerequisite-patch-id:` lines of a series on top of other series.

use anyhow::{bail, Context, Result};
use git2::Oid;
use std::path::Path;
use std::process::Command;

/// The stable patch id of every commit in `base..from`, oldest first, as
/// `git format-patch --base=BASE FROM..` writes them below `base-commit:`.
///
/// git computes these ids from its own internal diff (renames, mode and
/// binary changes hash differently from `git patch-id` over a patch
/// text), so they are taken from git itself: the prerequisite lines of
/// `git format-patch --base=BASE FROM..FIRST`, FIRST being the series'
/// first commit, with the diff settings the export uses.
pub fn prerequisite_ids(tree: &Path, base: Oid, from: Oid, first: Oid) -> Result<Vec<String>> {
    let base_arg = format!("--base={base}");
    let range = format!("{from}..{first}");
    let out = Command::new("git")
        .current_dir(tree)
        .args([
            "-c",
            "diff.algorithm=myers",
            "-c",
            "diff.renames=true",
            "format-patch",
            "--stdout",
            "--no-signature",
            &base_arg,
            &range,
        ])
        .output()
        .context(
            "cannot run `git format-patch` for the prerequisite patch ids (is git installed?)",
        )?;
    if !out.status.success() {
        bail!(
            "git format-patch --base={base} {range} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let ids: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.strip_prefix("prerequisite-patch-id: "))
        .map(str::to_string)
        .collect();
    if ids.is_empty() {
        bail!("git format-patch gave no prerequisite patch id for {base}..{from}");
    }
    Ok(ids)
}
