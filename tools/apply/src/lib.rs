//! `series apply`: apply a series of `git format-patch` mails to a git
//! tree as commits, all or nothing, with the trees and messages `git am`
//! would make.
//!
//! The work happens in three steps. First every patch is applied in
//! memory on top of the previous one ([`stage`]); a patch that does not
//! apply stops everything before anything was written. Then blobs, trees
//! and commits are written as unreferenced objects. Last the changed work
//! tree files and index entries are rewritten and the branch moves.

pub mod checks;
pub mod diff;
pub mod header;
pub mod hunks;
pub mod mail;
pub mod publish;
pub mod stage;

use anyhow::{bail, Context, Result};
use git2::{build::TreeUpdateBuilder, FileMode, Oid, Repository, Signature, Time};
use mail::MailPatch;
use stage::{ChangeSet, Content, Stage};

/// The ref that records where the series starts (`series export` reads it).
pub const BASE_REF: &str = "refs/series/base";

#[derive(Debug, Clone, Default)]
pub struct ApplyOptions {
    /// Create this branch at HEAD and apply there (it must not exist).
    pub branch: Option<String>,
    /// `VERSION.PATCHLEVEL.SUBLEVEL` the tree's Makefile must carry.
    pub expected_kernel_version: Option<String>,
    /// Apply even when the version differs (the drift is reported).
    pub force_base: bool,
}

/// What [`apply_series`] did.
#[derive(Debug, Clone)]
pub struct Applied {
    /// The commit the series was applied on.
    pub base: Oid,
    /// The new commits, in series order.
    pub commits: Vec<Oid>,
    /// The ref that now points to the last commit (`refs/heads/..` or `HEAD`).
    pub target_ref: String,
    /// Set when `--force-base` let a version mismatch through.
    pub version_drift: Option<String>,
    /// True when [`BASE_REF`] did not exist and was set to `base`.
    pub base_ref_created: bool,
}

/// Applies `patches` on HEAD of `repo` (or on a new branch) as commits.
/// On error the repository (refs, index, work tree) is unchanged.
pub fn apply_series(
    repo: &Repository,
    patches: &[MailPatch],
    opts: &ApplyOptions,
) -> Result<Applied> {
    let workdir = repo
        .workdir()
        .context("the repository is bare; apply needs a work tree")?
        .to_path_buf();
    let head = repo
        .head()
        .with_context(|| format!("{} has no commit to apply on", workdir.display()))?;
    let base = head
        .peel_to_commit()
        .context("HEAD does not point to a commit")?;
    let target_ref = target_ref(repo, &head, opts)?;
    let version_drift = check_version(repo, &base, opts)?;
    checks::ensure_clean(repo)?;

    let base_tree = base.tree()?;
    let mut stage = Stage::new(repo, base_tree.clone());
    let mut per_patch: Vec<ChangeSet> = Vec::with_capacity(patches.len());
    for patch in patches {
        let changes = stage_patch(&mut stage, patch).with_context(|| {
            format!(
                "patch {} (\"{}\") does not apply; nothing was changed",
                patch.source, patch.subject
            )
        })?;
        per_patch.push(changes);
    }

    let outcome = publish::outcome(&base_tree, stage.overlay(), content_id)?;
    publish::check_obstructions(repo, &base_tree, &outcome)?;

    let mut commits = Vec::with_capacity(patches.len());
    let mut parent = base.clone();
    for (patch, changes) in patches.iter().zip(&per_patch) {
        let oid = write_commit(repo, &parent, patch, changes)
            .with_context(|| format!("cannot write the commit of {}", patch.source))?;
        commits.push(oid);
        parent = repo.find_commit(oid)?;
    }

    publish::update_work_tree(repo, &base_tree, &outcome)?;
    let last = *commits.last().unwrap_or(&base.id());
    let msg = format!("series apply: {} patches", patches.len());
    if target_ref == "HEAD" {
        repo.set_head_detached(last)?;
    } else if opts.branch.is_some() {
        repo.reference(&target_ref, last, false, &msg)?;
        repo.set_head(&target_ref)?;
    } else {
        repo.reference_matching(&target_ref, last, true, base.id(), &msg)
            .with_context(|| format!("{target_ref} moved while the series was applied"))?;
    }
    let base_ref_created = repo.find_reference(BASE_REF).is_err();
    if base_ref_created {
        repo.reference(
            BASE_REF,
            base.id(),
            false,
            "series apply: base of the series",
        )?;
    }
    Ok(Applied {
        base: base.id(),
        commits,
        target_ref,
        version_drift,
        base_ref_created,
    })
}

/// The ref to move: the new branch, the current branch, or `HEAD` when detached.
fn target_ref(repo: &Repository, head: &git2::Reference, opts: &ApplyOptions) -> Result<String> {
    if let Some(name) = &opts.branch {
        if !git2::Branch::name_is_valid(name)? {
            bail!("{name:?} is not a valid branch name");
        }
        let full = format!("refs/heads/{name}");
        if repo.find_reference(&full).is_ok() {
            bail!("the branch {name} already exists; pick another --branch name or delete it");
        }
        return Ok(full);
    }
    if head.is_branch() {
        Ok(head
            .name()
            .context("the branch name is not UTF-8")?
            .to_string())
    } else {
        Ok("HEAD".to_string())
    }
}

fn check_version(
    repo: &Repository,
    base: &git2::Commit,
    opts: &ApplyOptions,
) -> Result<Option<String>> {
    let Some(expected) = &opts.expected_kernel_version else {
        return Ok(None);
    };
    let actual = match checks::kernel_version(repo, base) {
        Ok(v) => v,
        Err(e) if opts.force_base => return Ok(Some(format!("{e:#}"))),
        Err(e) => return Err(e.context("cannot check the base version (--force-base skips this)")),
    };
    if &actual == expected {
        return Ok(None);
    }
    let drift = format!(
        "the tree's Makefile says {actual} but the series is based on {expected} (base.kernel_version)"
    );
    if opts.force_base {
        Ok(Some(drift))
    } else {
        bail!("{drift}; prepare the right base with `tools/series base`, or pass --force-base to apply anyway")
    }
}

fn stage_patch(stage: &mut Stage, patch: &MailPatch) -> Result<ChangeSet> {
    let files = diff::parse(&patch.diff).context("its diff cannot be read")?;
    if files.is_empty() {
        bail!("it holds no diff");
    }
    let mut changes = ChangeSet::new();
    // As git apply: deletions first, so a path this patch frees (a
    // directory replaced by a file) can be reused by it.
    let (deletions, others): (Vec<_>, Vec<_>) = files.iter().partition(|f| f.is_delete);
    for file in deletions.into_iter().chain(others) {
        let made = stage
            .apply_file(file)
            .with_context(|| format!("file {}", file.display_path()))?;
        changes.extend(made);
    }
    Ok(changes)
}

fn content_id(content: &Content) -> Result<Oid> {
    Ok(match content {
        Content::Blob(oid) => *oid,
        Content::Data(d) => Oid::hash_object(git2::ObjectType::Blob, d)?,
    })
}

fn file_mode(mode: i32) -> FileMode {
    match mode {
        stage::MODE_EXEC => FileMode::BlobExecutable,
        stage::MODE_LINK => FileMode::Link,
        _ => FileMode::Blob,
    }
}

/// Writes the blobs, tree and commit of one patch; touches no ref.
fn write_commit(
    repo: &Repository,
    parent: &git2::Commit,
    patch: &MailPatch,
    changes: &ChangeSet,
) -> Result<Oid> {
    // Removals first, in a tree of their own: libgit2 refuses to replace
    // a directory by a file (or back) within one update.
    let mut removals = TreeUpdateBuilder::new();
    for (path, entry) in changes {
        if entry.is_none() {
            removals.remove(path);
        }
    }
    let pruned = removals.create_updated(repo, &parent.tree()?)?;
    let mut update = TreeUpdateBuilder::new();
    for (path, entry) in changes {
        match entry {
            None => {}
            Some(e) => {
                let oid = match &e.content {
                    Content::Blob(oid) => *oid,
                    Content::Data(d) => repo.blob(d)?,
                };
                update.upsert(path, oid, file_mode(e.mode));
            }
        }
    }
    let tree_id = update.create_updated(repo, &repo.find_tree(pruned)?)?;
    let tree = repo.find_tree(tree_id)?;
    let when = Time::new(patch.time, patch.tz_offset_minutes);
    let author =
        Signature::new(&patch.author_name, &patch.author_email, &when).with_context(|| {
            format!(
                "the author {:?} <{}> is not valid",
                patch.author_name, patch.author_email
            )
        })?;
    Ok(repo.commit(None, &author, &author, &patch.message, &tree, &[parent])?)
}
