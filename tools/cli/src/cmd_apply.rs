//! `series apply`: apply a series to a kernel tree as commits, atomically.

use crate::manifest::Manifest;
use crate::paths;
use anyhow::{bail, Context, Result};
use clap::Args;
use series_apply::{apply_series, mail::read_series, ApplyOptions};
use std::path::{Path, PathBuf};

/// Apply the series as git commits on a kernel tree (all or nothing).
///
/// Each patch becomes a commit with the patch's author, date and message;
/// the committer is the author, so the same series on the same base gives
/// the same commit ids, and the trees and messages equal `git am`'s. If any
/// patch does not apply, nothing changes (tree, index, HEAD, branches) and
/// the error names the patch, file, hunk and first differing line. A dirty
/// tree, a base of another kernel version (see --force-base) and paths
/// leaving the tree are refused. Binary patches (GIT binary patch, literal
/// or delta) apply as with git am; a diff that only says "Binary files
/// ... differ" has no data to apply and is refused.
///
/// Only one writer at a time: the apply holds git's own locks (index.lock,
/// HEAD.lock, the branch's ref lock) from start to end, so a concurrent
/// `series apply`, `git am` or `git commit` fails at once, and a stale lock
/// is named with what to do. Before the work tree changes, the original
/// HEAD, refs, index and the files about to change are saved in
/// .git/series-apply/. If the apply is killed half way, the next apply
/// refuses and names the recovery:
///   tools/series apply --abort [--tree DIR]
/// restores HEAD, the branch, the index (byte for byte) and the files, and
/// removes the locks.
///
/// Stricter than `git am`: paths that leave the tree (`..`, absolute,
/// .git/, through a symbolic link, over an untracked file) are refused;
/// an empty patch (no diff) is refused unless it is the cover letter
/// (`[PATCH 0/N]`, no diff); an assume-unchanged or skip-worktree file
/// with a local edit is refused like git am does.
///
/// Examples:
///   tools/series apply                          # patches/ onto out/linux
///   tools/series apply --tree ~/linux --branch dma-owner-v1
///   tools/series apply --series ~/mail/v2.mbox  # a series received by mail
#[derive(Args)]
#[command(verbatim_doc_comment)]
pub struct ApplyArgs {
    /// Kernel git work tree (default: out/linux, prepared by `series base`).
    #[arg(long)]
    pub tree: Option<PathBuf>,
    /// Create this branch at the base and apply there (default: the current branch).
    #[arg(long)]
    pub branch: Option<String>,
    /// A directory of `git format-patch` files or an mbox (default: --patches).
    #[arg(long)]
    pub series: Option<PathBuf>,
    /// Apply even when the tree's Makefile version differs from the manifest's base.
    #[arg(long)]
    pub force_base: bool,
    /// Undo an interrupted apply: restore HEAD, branch, index and files as
    /// they were before it, and remove its locks.
    #[arg(long, conflicts_with_all = ["branch", "series", "force_base"])]
    pub abort: bool,
}

pub fn run(patches: &Path, args: ApplyArgs) -> Result<()> {
    let series_path = args.series.clone().unwrap_or_else(|| patches.to_path_buf());
    let manifest = if series_path.is_dir() {
        Manifest::load_optional(&series_path)?
    } else {
        None
    };
    let tree = args.tree.clone().unwrap_or_else(paths::default_tree);
    if !tree.exists() {
        bail!(
            "the kernel tree {} does not exist; run `tools/series base` first",
            tree.display()
        );
    }
    let repo = git2::Repository::open(&tree).with_context(|| {
        format!(
            "{} is not a git work tree; run `tools/series base` first or pass --tree",
            tree.display()
        )
    })?;
    if args.abort {
        return abort(&repo, &tree);
    }
    let series = read_series(&series_path)?;
    if let Some(cover) = &series.cover {
        println!(
            "skipping the cover letter ({}: {})",
            cover.source, cover.subject
        );
    }
    let opts = ApplyOptions {
        branch: args.branch.clone(),
        expected_kernel_version: manifest.map(|m| m.base.kernel_version),
        force_base: args.force_base,
    };
    let applied = apply_series(&repo, &series.patches, &opts).with_context(|| {
        format!(
            "cannot apply {} to {}",
            series_path.display(),
            tree.display()
        )
    })?;
    if let Some(drift) = &applied.version_drift {
        eprintln!("warning: --force-base: {drift}");
    }
    for w in &applied.warnings {
        eprintln!("warning: {w}");
    }
    for (oid, patch) in applied.commits.iter().zip(&series.patches) {
        let short = repo
            .find_object(*oid, None)
            .and_then(|o| o.short_id())
            .ok()
            .and_then(|b| b.as_str().map(str::to_string))
            .unwrap_or_else(|| oid.to_string()[..12].to_string());
        println!("{short} {}", patch.subject);
    }
    println!(
        "applied {} patches on {} to {}",
        applied.commits.len(),
        &applied.base.to_string()[..12],
        applied.target_ref
    );
    if applied.base_ref_created {
        println!(
            "{} now marks the base {}",
            series_apply::BASE_REF,
            &applied.base.to_string()[..12]
        );
    }
    Ok(())
}

fn abort(repo: &git2::Repository, tree: &Path) -> Result<()> {
    let restored = series_apply::abort(repo)
        .with_context(|| format!("cannot abort the apply on {}", tree.display()))?;
    if restored.had_changes {
        println!(
            "restored {}: HEAD, branch, index and {} files are as before the interrupted apply",
            tree.display(),
            restored.files
        );
    } else {
        println!(
            "the interrupted apply on {} had not changed anything yet",
            tree.display()
        );
    }
    for lock in &restored.locks_removed {
        println!("  removed its lock {}", lock.display());
    }
    Ok(())
}
