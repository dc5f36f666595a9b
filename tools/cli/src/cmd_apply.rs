//! `series apply`: apply a series to a kernel tree as commits, atomically.

use crate::manifest::Manifest;
use crate::patch_ids;
use crate::paths;
use crate::stack::{applied_ref, Member};
use anyhow::{bail, Context, Result};
use clap::Args;
use series_apply::{
    apply_series,
    mail::{read_series, MailPatch},
    ApplyOptions,
};
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
///   tools/series apply --input ~/mail/v2.mbox   # a series received by mail
///   tools/series --series cdx apply             # one series and what it requires
#[derive(Args)]
#[command(verbatim_doc_comment)]
pub struct ApplyArgs {
    /// Kernel git work tree (default: out/linux, prepared by `series base`).
    #[arg(long)]
    pub tree: Option<PathBuf>,
    /// Create this branch at the base and apply there (default: the current branch).
    #[arg(long)]
    pub branch: Option<String>,
    /// A directory of `git format-patch` files or an mbox (default: the
    /// series and the series it requires). `--series PATH` works too.
    #[arg(long, value_name = "PATH")]
    pub input: Option<PathBuf>,
    /// Apply even when the tree's Makefile version differs from the manifest's base.
    #[arg(long)]
    pub force_base: bool,
    /// Undo an interrupted apply: restore HEAD, branch, index and files as
    /// they were before it, and remove its locks.
    #[arg(long, conflicts_with_all = ["branch", "input", "force_base"])]
    pub abort: bool,
}

pub fn run(patches: &Path, args: ApplyArgs) -> Result<()> {
    let series_path = args.input.clone().unwrap_or_else(|| patches.to_path_buf());
    let chain = match &args.input {
        None => crate::stack::chain_of(patches)?,
        Some(_) => Vec::new(),
    };
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
    let opts = ApplyOptions {
        branch: args.branch.clone(),
        expected_kernel_version: manifest.map(|m| m.base.kernel_version),
        force_base: args.force_base,
    };
    // In a several-series project every apply records where each series
    // ends (refs/series/applied/<name>), which export reads.
    if chain.len() > 1 || (!chain.is_empty() && crate::stack::member_name(patches).is_some()) {
        return apply_chain(&repo, &tree, &chain, &opts);
    }
    let series = read_series(&series_path)?;
    if let Some(cover) = &series.cover {
        println!(
            "skipping the cover letter ({}: {})",
            cover.source, cover.subject
        );
    }
    let applied = apply_series(&repo, &series.patches, &opts).with_context(|| {
        format!(
            "cannot apply {} to {}",
            series_path.display(),
            tree.display()
        )
    })?;
    report(&repo, &applied, &series.patches);
    Ok(())
}

/// What happens to one series of a chain: applied, or found in the tree.
enum Step {
    Apply(Vec<MailPatch>),
    InTree { last_commit: String },
}

/// Applies a series and every series it requires in one atomic step:
/// prerequisites the tree already holds (every patch matched by
/// `git patch-id --stable`) are skipped; each series' last commit gets
/// `refs/series/applied/<name>`.
fn apply_chain(
    repo: &git2::Repository,
    tree: &Path,
    chain: &[Member],
    opts: &ApplyOptions,
) -> Result<()> {
    let search: Vec<String> = match repo.refname_to_id(series_apply::BASE_REF) {
        Ok(base) => vec![format!("{base}..HEAD")],
        Err(_) => vec!["HEAD".into()],
    };
    let search: Vec<&str> = search.iter().map(String::as_str).collect();
    let in_tree = patch_ids::in_tree(tree, &search)?;
    let last = chain.len() - 1;
    let mut steps = Vec::with_capacity(chain.len());
    for (i, member) in chain.iter().enumerate() {
        let series = read_series(&member.dir)?;
        if series.patches.is_empty() {
            bail!("{} holds no patches", member.dir.display());
        }
        if i == last {
            steps.push(Step::Apply(series.patches));
            continue;
        }
        let diffs: Vec<&[u8]> = series.patches.iter().map(|p| p.diff.as_slice()).collect();
        let ids = patch_ids::of_diffs(tree, &diffs)?;
        let found: Vec<Option<&String>> = ids.iter().map(|id| in_tree.get(id)).collect();
        let present = found.iter().filter(|f| f.is_some()).count();
        if present == 0 {
            steps.push(Step::Apply(series.patches));
        } else if present == ids.len() {
            println!(
                "{} is in the tree already ({} patches matched by patch id): not applied again",
                member.name,
                ids.len()
            );
            steps.push(Step::InTree {
                last_commit: found[ids.len() - 1].cloned().unwrap_or_default(),
            });
        } else {
            let missing: Vec<String> = series
                .patches
                .iter()
                .zip(&found)
                .filter(|(_, f)| f.is_none())
                .map(|(p, _)| format!("  {}", p.subject))
                .collect();
            bail!(
                "the prerequisite series {} is partly in {} ({present} of {} patches): \
                 apply or drop the rest by hand first; missing:\n{}",
                member.name,
                tree.display(),
                ids.len(),
                missing.join("\n")
            );
        }
    }
    let all: Vec<MailPatch> = steps
        .iter()
        .flat_map(|s| match s {
            Step::Apply(p) => p.clone(),
            Step::InTree { .. } => Vec::new(),
        })
        .collect();
    let names: Vec<&str> = chain.iter().map(|m| m.name.as_str()).collect();
    let applied = apply_series(repo, &all, opts).with_context(|| {
        format!(
            "cannot apply the series {} to {} (nothing was changed)",
            names.join(" + "),
            tree.display()
        )
    })?;
    report(repo, &applied, &all);
    let mut next = 0;
    for (member, step) in chain.iter().zip(&steps) {
        let last_commit = match step {
            Step::Apply(p) => {
                next += p.len();
                applied.commits[next - 1]
            }
            Step::InTree { last_commit } => git2::Oid::from_str(last_commit)?,
        };
        let name = applied_ref(&member.name);
        repo.reference(&name, last_commit, true, "series apply")
            .with_context(|| format!("the series applied, but {name} could not be set"))?;
        println!("{name} -> {}", &last_commit.to_string()[..12]);
    }
    Ok(())
}

fn report(repo: &git2::Repository, applied: &series_apply::Applied, patches: &[MailPatch]) {
    if let Some(drift) = &applied.version_drift {
        eprintln!("warning: --force-base: {drift}");
    }
    for w in &applied.warnings {
        eprintln!("warning: {w}");
    }
    for (oid, patch) in applied.commits.iter().zip(patches) {
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
