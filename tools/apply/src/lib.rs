//! `series apply`: apply a series of `git format-patch` mails to a git
//! tree as commits, all or nothing, with the trees and messages `git am`
//! would make.
//!
//! The work happens in four steps. First git's locks are taken (after a
//! journal directory that makes a second `series apply` wait is made).
//! Then every patch is applied in memory on top of the previous one
//! ([`stage`]); a patch that does not apply stops everything before
//! anything was written. Then blobs, trees and commits are written as
//! unreferenced objects. Last the original state is saved in the journal,
//! the changed work tree files are rewritten, the new index and refs are
//! renamed into place from their locks, and the journal goes.

pub mod checks;
pub mod crashpoint;
pub mod diff;
pub mod header;
pub mod hunks;
pub mod journal;
pub mod lock;
pub mod mail;
pub mod publish;
pub mod rollback;
pub mod stage;

use anyhow::{bail, Context, Result};
use git2::{build::TreeUpdateBuilder, FileMode, Oid, Repository, Signature, Time};
use journal::{Journal, Saved, SavedFile, SavedRef};
use lock::LockFile;
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
    /// What git am would have warned about (`<patch>: <warning>`); the
    /// series applied all the same.
    pub warnings: Vec<String>,
}

/// Applies `patches` on HEAD of `repo` (or on a new branch) as commits.
///
/// The whole apply holds git's locks (`index.lock`, `HEAD.lock`, the
/// branch's ref lock), so any other git writer fails at once, and keeps a
/// journal ([`journal`]) so that a killed apply can be undone with
/// [`abort`]. On error the repository (refs, index, work tree) is
/// unchanged.
pub fn apply_series(
    repo: &Repository,
    patches: &[MailPatch],
    opts: &ApplyOptions,
) -> Result<Applied> {
    let workdir = repo
        .workdir()
        .context("the repository is bare; apply needs a work tree")?
        .to_path_buf();
    // Every blob and tree a new tree names was just written or read, so
    // libgit2 need not read each object back to check that it exists (as
    // git, which does not either).
    git2::opts::strict_object_creation(false);
    if let Some(why) = journal::describe_existing(repo) {
        bail!("{why}");
    }
    let head = repo
        .head()
        .with_context(|| format!("{} has no commit to apply on", workdir.display()))?;
    let target = target_ref(repo, &head, opts)?;
    let base_id = head
        .peel_to_commit()
        .context("HEAD does not point to a commit")?
        .id();
    drop(head);

    let mut lock_names = vec!["index".to_string(), "HEAD".to_string()];
    if target != "HEAD" {
        lock_names.push(target.clone());
    }
    let base_ref_created = repo.find_reference(BASE_REF).is_err();
    if base_ref_created {
        lock_names.push(BASE_REF.to_string());
    }

    let journal = Journal::begin(repo)?;
    let mut locks: Vec<(String, LockFile)> = Vec::new();
    let mut saved = false;
    let plan = Plan {
        target: &target,
        base_id,
        base_ref_created,
        lock_names: &lock_names,
    };
    match apply_locked(repo, patches, opts, &plan, &journal, &mut locks, &mut saved) {
        Ok(applied) => {
            let dir = journal.dir().to_path_buf();
            journal.finish().with_context(|| {
                format!(
                    "the series was applied, but its journal {} could not be removed; remove it by hand (`series apply --abort` would undo the series)",
                    dir.display()
                )
            })?;
            Ok(applied)
        }
        Err(err) if !saved => {
            drop(locks);
            journal.discard();
            Err(err)
        }
        Err(err) => {
            for (_, lock) in locks {
                lock.keep();
            }
            match rollback::restore(repo) {
                Ok(_) => Err(err.context(
                    "the apply failed while writing; the work tree, index and branch were restored as they were",
                )),
                Err(e) => Err(err.context(format!(
                    "the apply failed while writing, and restoring failed too ({e:#}); run `tools/series apply --abort --tree {}`",
                    workdir.display()
                ))),
            }
        }
    }
}

/// What [`apply_series`] decided before taking the locks.
struct Plan<'a> {
    target: &'a str,
    base_id: Oid,
    base_ref_created: bool,
    lock_names: &'a [String],
}

fn lock_description(name: &str) -> String {
    match name {
        "index" => "the index".into(),
        "HEAD" => "HEAD".into(),
        n => match n.strip_prefix("refs/heads/") {
            Some(b) => format!("the branch {b}"),
            None => n.to_string(),
        },
    }
}

/// The apply proper, with the journal started: takes the locks, checks,
/// stages, writes. `saved` turns true once the work tree may have changed.
fn apply_locked(
    repo: &Repository,
    patches: &[MailPatch],
    opts: &ApplyOptions,
    plan: &Plan,
    journal: &Journal,
    locks: &mut Vec<(String, LockFile)>,
    saved: &mut bool,
) -> Result<Applied> {
    for name in plan.lock_names {
        journal.note_lock(name)?;
        crashpoint::step()?;
        let lock = LockFile::take(&journal::git_file(repo, name), &lock_description(name))?;
        locks.push((name.clone(), lock));
    }
    // Under the locks, HEAD cannot move any more; make sure it did not
    // move before.
    let head = repo.head().context("cannot read HEAD")?;
    let base = head
        .peel_to_commit()
        .context("HEAD does not point to a commit")?;
    if base.id() != plan.base_id || target_ref(repo, &head, opts)? != plan.target {
        bail!("HEAD moved while the apply started (another git command ran); run it again");
    }
    let version_drift = check_version(repo, &base, opts)?;
    check_index_readable(repo)?;
    checks::ensure_clean(repo)?;

    let base_tree = base.tree()?;
    let mut stage = Stage::new(repo, base_tree.clone())?;
    let mut per_patch: Vec<ChangeSet> = Vec::with_capacity(patches.len());
    let mut warnings = Vec::new();
    // A series that is already there does not apply again; say so rather
    // than only which hunk failed (two applies racing end this way too).
    let applied_already = patches
        .last()
        .is_some_and(|last| base.summary() == Some(last.subject.as_str()));
    for patch in patches {
        let changes = stage_patch(&mut stage, patch).with_context(|| {
            let hint = if applied_already {
                format!(
                    " (HEAD is already \"{}\", the series' last commit: the series looks \
                     applied)",
                    patches.last().map_or("", |p| p.subject.as_str())
                )
            } else {
                String::new()
            };
            format!(
                "patch {} (\"{}\") does not apply; nothing was changed{hint}",
                patch.source, patch.subject
            )
        })?;
        per_patch.push(changes);
        warnings.extend(
            stage
                .take_warnings()
                .into_iter()
                .map(|w| format!("{}: {w}", patch.source)),
        );
    }

    let outcome = publish::outcome(&base_tree, stage.overlay(), content_id)?;
    publish::check_obstructions(repo, &base_tree, &outcome)?;
    publish::check_hidden_edits(repo, &base_tree, &outcome)?;

    let mut commits = Vec::with_capacity(patches.len());
    let mut parent = base.clone();
    for (patch, changes) in patches.iter().zip(&per_patch) {
        let oid = write_commit(repo, &parent, patch, changes)
            .with_context(|| format!("cannot write the commit of {}", patch.source))?;
        commits.push(oid);
        parent = repo.find_commit(oid)?;
    }
    let last = *commits.last().unwrap_or(&base.id());

    let state = saved_state(repo, &base_tree, &outcome, plan)?;
    journal.save(repo, &state)?;
    *saved = true;

    publish::write_work_tree(repo, &outcome, &journal.new_index_path())?;

    let msg = format!("series apply: {} patches", patches.len());
    let ident = reflog_ident(repo);
    let old = if opts.branch.is_some() {
        Oid::zero()
    } else {
        base.id()
    };
    if plan.target != "HEAD" {
        append_reflog(
            repo,
            &format!("logs/{}", plan.target),
            old,
            last,
            &ident,
            &msg,
        )?;
    }
    append_reflog(repo, "logs/HEAD", base.id(), last, &ident, &msg)?;

    let mut taken: std::collections::BTreeMap<String, LockFile> = locks.drain(..).collect();
    let mut take = |name: &str| taken.remove(name).expect("the lock was taken");
    let mut index = take("index");
    index.replace_with(&journal.new_index_path())?;
    crashpoint::step()?;
    index.commit()?;
    if plan.target != "HEAD" {
        let mut branch = take(plan.target);
        branch.write_all(format!("{last}\n").as_bytes())?;
        crashpoint::step()?;
        branch.commit()?;
    }
    let mut head_lock = take("HEAD");
    if plan.target == "HEAD" {
        head_lock.write_all(format!("{last}\n").as_bytes())?;
        crashpoint::step()?;
        head_lock.commit()?;
    } else if opts.branch.is_some() {
        head_lock.write_all(format!("ref: {}\n", plan.target).as_bytes())?;
        crashpoint::step()?;
        head_lock.commit()?;
    } else {
        crashpoint::step()?;
        head_lock.release()?;
    }
    if plan.base_ref_created {
        let mut base_ref = take(BASE_REF);
        base_ref.write_all(format!("{}\n", base.id()).as_bytes())?;
        crashpoint::step()?;
        base_ref.commit()?;
    }
    Ok(Applied {
        base: base.id(),
        commits,
        target_ref: plan.target.to_string(),
        version_drift,
        base_ref_created: plan.base_ref_created,
        warnings,
    })
}

/// The original state of everything the apply will change.
fn saved_state(
    repo: &Repository,
    base_tree: &git2::Tree,
    outcome: &publish::Outcome,
    plan: &Plan,
) -> Result<Saved> {
    let read = |name: &str| std::fs::read_to_string(journal::git_file(repo, name)).ok();
    let mut refs = Vec::new();
    let mut reflogs = vec!["logs/HEAD".to_string()];
    if plan.target != "HEAD" {
        refs.push(SavedRef {
            name: plan.target.to_string(),
            loose: read(plan.target),
        });
        reflogs.push(format!("logs/{}", plan.target));
    }
    if plan.base_ref_created {
        refs.push(SavedRef {
            name: BASE_REF.to_string(),
            loose: read(BASE_REF),
        });
    }
    let files = outcome
        .writes
        .iter()
        .map(|(p, _, _)| p)
        .chain(&outcome.removals)
        .map(|path| SavedFile {
            path: path.clone(),
            before: base_tree
                .get_path(std::path::Path::new(path))
                .ok()
                .filter(|e| e.kind() != Some(git2::ObjectType::Tree))
                .map(|e| (e.id().to_string(), e.filemode())),
        })
        .collect();
    Ok(Saved {
        head: read("HEAD").context("cannot read HEAD")?,
        refs,
        reflogs: reflogs
            .into_iter()
            .map(|name| {
                let len = std::fs::metadata(journal::git_file(repo, &name))
                    .ok()
                    .map(|m| m.len());
                (name, len)
            })
            .collect(),
        had_index: journal::git_file(repo, "index").exists(),
        files,
    })
}

/// `Name <email> seconds +hhmm` of the user, for reflog lines.
fn reflog_ident(repo: &Repository) -> String {
    let sig = repo
        .signature()
        .or_else(|_| Signature::now("series", "series@localhost"));
    let (name, email) = match &sig {
        Ok(s) => (
            s.name().unwrap_or("series").to_string(),
            s.email().unwrap_or("series@localhost").to_string(),
        ),
        Err(_) => ("series".to_string(), "series@localhost".to_string()),
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let offset = sig.map(|s| s.when().offset_minutes()).unwrap_or(0);
    let sign = if offset < 0 { '-' } else { '+' };
    let offset = offset.abs();
    format!(
        "{name} <{email}> {now} {sign}{:02}{:02}",
        offset / 60,
        offset % 60
    )
}

/// Appends one line to a reflog, as git does for a ref update.
fn append_reflog(
    repo: &Repository,
    name: &str,
    old: Oid,
    new: Oid,
    ident: &str,
    msg: &str,
) -> Result<()> {
    use std::io::Write;
    let path = journal::git_file(repo, name);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
    }
    crashpoint::step()?;
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .with_context(|| format!("cannot open the reflog {}", path.display()))?;
    f.write_all(format!("{old} {new} {ident}\t{msg}\n").as_bytes())
        .with_context(|| format!("cannot write the reflog {}", path.display()))
}

/// The text of a libgit2 error without its class and code.
fn plain(e: git2::Error) -> anyhow::Error {
    anyhow::anyhow!("{}", e.message())
}

/// Refuses an index that libgit2 cannot read, saying what to do (git's
/// split index is the usual cause).
fn check_index_readable(repo: &Repository) -> Result<()> {
    match repo.index() {
        Ok(_) => Ok(()),
        Err(e) if e.message().contains("extension") => bail!(
            "the index {} uses a format this tool cannot read ({}); if it is git's split index, run `git update-index --no-split-index` and apply again",
            repo.path().join("index").display(),
            e.message()
        ),
        Err(e) => Err(plain(e)).with_context(|| {
            format!("cannot read the index {}", repo.path().join("index").display())
        }),
    }
}

/// Undoes an interrupted apply recorded in `.git/series-apply/`: HEAD,
/// refs, index and the changed work tree files become what they were, and
/// the locks it held are removed.
pub fn abort(repo: &Repository) -> Result<rollback::Restored> {
    rollback::restore(repo)
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
                    Content::Data(d) => repo
                        .blob(d)
                        .map_err(plain)
                        .with_context(|| format!("cannot store the new content of {path}"))?,
                };
                update.upsert(path, oid, file_mode(e.mode));
            }
        }
    }
    let tree_id = update
        .create_updated(repo, &repo.find_tree(pruned).map_err(plain)?)
        .map_err(plain)
        .with_context(|| {
            let paths: Vec<&str> = changes.keys().map(String::as_str).take(5).collect();
            format!(
                "cannot build its tree from the changed paths ({}); a path that is both a file and a directory in one patch is not supported",
                paths.join(", ")
            )
        })?;
    let tree = repo.find_tree(tree_id).map_err(plain)?;
    let when = Time::new(patch.time, patch.tz_offset_minutes);
    let author = Signature::new(&patch.author_name, &patch.author_email, &when)
        .map_err(plain)
        .with_context(|| {
            format!(
                "the author {:?} <{}> is not valid",
                patch.author_name, patch.author_email
            )
        })?;
    repo.commit(None, &author, &author, &patch.message, &tree, &[parent])
        .map_err(plain)
        .context("cannot store the commit")
}
