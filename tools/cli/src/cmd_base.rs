//! `series base`: prepare the base tree (cached, reproducible) and hand out work trees.

use crate::base_cache::{self, BASE_REF};
use crate::manifest::Manifest;
use crate::paths;
use anyhow::{Context, Result};
use clap::Args;
use git2::Repository;
use std::path::{Path, PathBuf};

/// Prepare the base kernel tree as a git repository with a reproducible commit.
///
/// By default the base is the Debian package named in patches/series.toml
/// (/usr/src/linux-source-6.12.tar.xz): it is extracted and committed once
/// per package version into the cache (~/.cache/series, or $SERIES_CACHE),
/// with a fixed author, committer and date, so the same tarball always gives
/// the same commit id. Work trees are then handed out with `git worktree`.
///
/// Examples:
///   tools/series base                       # cache + work tree out/linux
///   tools/series base --worktree /tmp/k     # another work tree at the base
///   tools/series base --tree ~/linux        # use an existing checkout instead
#[derive(Args)]
#[command(verbatim_doc_comment)]
pub struct BaseArgs {
    /// Use this existing kernel git checkout: its base is `base.revision`
    /// from the manifest, or its HEAD. Records it as refs/series/base.
    #[arg(long, conflicts_with = "worktree")]
    pub tree: Option<PathBuf>,
    /// Where to create the work tree (default: out/linux).
    #[arg(long)]
    pub worktree: Option<PathBuf>,
    /// Only prepare the cached base; create no work tree.
    #[arg(long, conflicts_with_all = ["tree", "worktree"])]
    pub no_worktree: bool,
}

pub fn run(patches: &Path, args: BaseArgs) -> Result<()> {
    let manifest = Manifest::load(patches)?;
    if let Some(tree) = args.tree {
        return use_existing_tree(&manifest, &tree);
    }
    let base = base_cache::prepare_package_base(&manifest, &paths::cache_dir())?;
    report_version_drift(&manifest, &base.kernel_version);
    println!(
        "base commit {} (Linux {}, {} {})",
        base.commit,
        base.kernel_version,
        manifest.base.package.as_deref().unwrap_or("package"),
        base.package_version
            .as_deref()
            .unwrap_or("of unknown version")
    );
    println!("base repository {}", base.repo_path.display());
    if args.no_worktree {
        return Ok(());
    }
    let wt = args.worktree.unwrap_or_else(paths::default_tree);
    let created = base_cache::ensure_worktree(&base.repo_path, &wt, base.commit)?;
    let head = Repository::open(&wt)?.head()?.peel_to_commit()?.id();
    println!(
        "work tree {} ({}, HEAD {})",
        wt.display(),
        if created {
            "created"
        } else {
            "already there, left as it is"
        },
        head
    );
    Ok(())
}

fn use_existing_tree(manifest: &Manifest, tree: &Path) -> Result<()> {
    let repo = Repository::open(tree)
        .with_context(|| format!("{} is not a git checkout", tree.display()))?;
    let rev = manifest.base.revision.as_deref().unwrap_or("HEAD");
    let commit = repo
        .revparse_single(rev)
        .and_then(|o| o.peel_to_commit())
        .with_context(|| format!("{} has no revision {rev:?}", tree.display()))?;
    let makefile = commit
        .tree()?
        .get_path(Path::new("Makefile"))
        .and_then(|e| e.to_object(&repo))
        .ok()
        .and_then(|o| {
            o.as_blob()
                .map(|b| String::from_utf8_lossy(b.content()).into_owned())
        })
        .with_context(|| format!("{rev} in {} is not a kernel tree", tree.display()))?;
    let version = base_cache::makefile_version_of(&makefile)
        .with_context(|| format!("{rev}:Makefile has no kernel version"))?;
    report_version_drift(manifest, &version);
    repo.reference(BASE_REF, commit.id(), true, "series base --tree")?;
    println!("base commit {} ({rev}, Linux {version})", commit.id());
    println!("recorded as {BASE_REF} in {}", tree.display());
    Ok(())
}

fn report_version_drift(manifest: &Manifest, have: &str) {
    if have != manifest.base.kernel_version {
        eprintln!(
            "series: drift: the series was made on Linux {}, the base is Linux {have}",
            manifest.base.kernel_version
        );
    }
}
