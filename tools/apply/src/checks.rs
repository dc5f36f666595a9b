//! What must hold before a series is applied: a repository in a normal
//! state with a clean index and work tree, and a base of the expected
//! kernel version.

use anyhow::{bail, Context, Result};
use git2::{Commit, Repository, RepositoryState, StatusOptions};

/// Refuses a repository in the middle of a merge/rebase/am, or whose
/// index or work tree differs from HEAD (untracked files are allowed).
pub fn ensure_clean(repo: &Repository) -> Result<()> {
    let workdir = repo
        .workdir()
        .context("the repository is bare; apply needs a work tree")?;
    if repo.state() != RepositoryState::Clean {
        bail!(
            "{} is in the middle of a {:?}; finish or abort it first",
            workdir.display(),
            repo.state()
        );
    }
    let mut opts = StatusOptions::new();
    opts.include_untracked(false)
        .include_ignored(false)
        .exclude_submodules(true);
    let statuses = repo
        .statuses(Some(&mut opts))
        .context("cannot read the status of the tree")?;
    let dirty: Vec<String> = statuses
        .iter()
        .filter(|s| !s.status().is_empty() && !s.status().is_ignored())
        .map(|s| s.path().unwrap_or("?").to_string())
        .collect();
    if !dirty.is_empty() {
        let shown: Vec<&str> = dirty.iter().take(5).map(String::as_str).collect();
        bail!(
            "the tree {} has uncommitted changes ({}{}); commit or discard them first (see `git -C {} status`)",
            workdir.display(),
            shown.join(", "),
            if dirty.len() > 5 { ", ..." } else { "" },
            workdir.display()
        );
    }
    Ok(())
}

/// `VERSION.PATCHLEVEL.SUBLEVEL` from the top Makefile of `commit`.
pub fn kernel_version(repo: &Repository, commit: &Commit) -> Result<String> {
    let tree = commit.tree()?;
    let entry = tree
        .get_path(std::path::Path::new("Makefile"))
        .context("the tree has no top-level Makefile, so its kernel version is unknown")?;
    let blob = repo.find_blob(entry.id())?;
    let text = String::from_utf8_lossy(blob.content());
    let field = |name: &str| -> Result<String> {
        text.lines()
            .filter_map(|l| l.split_once('='))
            .find(|(k, _)| k.trim() == name)
            .map(|(_, v)| v.trim().to_string())
            .with_context(|| format!("the Makefile has no `{name} =` line"))
    };
    Ok(format!(
        "{}.{}.{}",
        field("VERSION")?,
        field("PATCHLEVEL")?,
        field("SUBLEVEL")?
    ))
}
