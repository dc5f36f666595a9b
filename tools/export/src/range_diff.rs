//! The range-diff of the cover letter, from git's own `git range-diff`.
//!
//! `git format-patch --range-diff=PREV` runs the same code as `git
//! range-diff --creation-factor=999 PREV BASE..HEAD` (format-patch's
//! default factor for "the same series, rerolled") and copies its output
//! into the cover letter; running it gives the same bytes without a second
//! implementation of the patch matching.

use anyhow::{bail, Context, Result};
use git2::Oid;
use std::path::Path;
use std::process::Command;

/// format-patch's creation factor for a range-diff against an older
/// version of the same series (git's CREATION_FACTOR_FOR_THE_SAME_SERIES).
const SAME_SERIES_CREATION_FACTOR: &str = "--creation-factor=999";

/// `git range-diff` of `previous` (`OLDBASE..OLDTIP`) against base..head.
pub fn render(
    tree: &Path,
    previous: &str,
    base: Oid,
    head: Oid,
    abbrev: Option<usize>,
) -> Result<Vec<u8>> {
    let mut git = Command::new("git");
    if let Some(n) = abbrev {
        git.arg("-c")
            .arg(format!("core.abbrev={}", crate::abbrev::clamp_abbrev(n)));
    }
    let out = git
        .args(["-c", "diff.algorithm=myers", "range-diff", "--no-color"])
        .arg(SAME_SERIES_CREATION_FACTOR)
        .arg(previous)
        .arg(format!("{base}..{head}"))
        .current_dir(tree)
        .output()
        .context("cannot run git range-diff (is git installed?)")?;
    if !out.status.success() {
        bail!(
            "git range-diff {previous} {base}..{head} failed in {}: {}; the previous version's \
             commits must be in this tree (refs/series/sent/vN, see docs/review-flow.md)",
            tree.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(out.stdout)
}
