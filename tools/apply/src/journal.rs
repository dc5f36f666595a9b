//! The apply journal, `.git/series-apply/`: the record of what
//! `series apply --abort` needs to put a repository back after an apply
//! that was killed half way (the putting back is [`crate::rollback`]'s).
//!
//! The directory is made (atomically, by `mkdir`) before any git lock is
//! taken, and removed only after the last lock was renamed into place.
//! While it exists, `series apply` refuses to start. It holds:
//!   - `pid`: the process that applies;
//!   - `locks`: the git files whose lock we take, each recorded before
//!     the lock is created, so every lock left behind is known to be ours;
//!   - `saved.json`: the original HEAD, refs, reflog lengths and the
//!     changed paths with their original blob and mode (written, through a
//!     rename, before the first work tree file changes);
//!   - `index`: the original index (a hard link: git replaces the index by
//!     rename, never in place) and `index.new`, the index being built.

use crate::crashpoint;
use anyhow::{bail, Context, Result};
use git2::Repository;
use serde::{Deserialize, Serialize};
use std::fs::{self, OpenOptions};
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};

pub const JOURNAL_DIR: &str = "series-apply";

/// A ref as it was: its loose file's content, or None when it had none
/// (packed or missing; removing the loose file restores it).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SavedRef {
    pub name: String,
    pub loose: Option<String>,
}

/// A work tree path the apply changes, with its original blob and mode
/// (None: the path did not exist).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SavedFile {
    pub path: String,
    pub before: Option<(String, i32)>,
}

/// Everything the apply is about to change, as it was.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Saved {
    /// The content of HEAD (`ref: refs/heads/main\n` or an id).
    pub head: String,
    pub refs: Vec<SavedRef>,
    /// Reflog files (git file names, e.g. `logs/HEAD`) and their length.
    pub reflogs: Vec<(String, Option<u64>)>,
    pub had_index: bool,
    pub files: Vec<SavedFile>,
}

/// The path of a git file named as git names it (`index`, `HEAD`,
/// `logs/HEAD`, `refs/heads/main`): per work tree or shared.
pub fn git_file(repo: &Repository, name: &str) -> PathBuf {
    let per_worktree = matches!(name, "index" | "HEAD" | "logs/HEAD");
    if per_worktree {
        repo.path().join(name)
    } else {
        repo.commondir().join(name)
    }
}

pub fn journal_dir(repo: &Repository) -> PathBuf {
    repo.path().join(JOURNAL_DIR)
}

/// An open journal of the running apply.
pub struct Journal {
    dir: PathBuf,
}

pub(crate) fn pid_alive(pid: u32) -> bool {
    pid == std::process::id() || Path::new(&format!("/proc/{pid}")).exists()
}

/// Why a journal blocks a new apply, in words for the user.
pub fn describe_existing(repo: &Repository) -> Option<String> {
    let dir = journal_dir(repo);
    if !dir.exists() {
        return None;
    }
    let workdir = repo
        .workdir()
        .map(|w| w.display().to_string())
        .unwrap_or_default();
    let pid = fs::read_to_string(dir.join("pid"))
        .ok()
        .and_then(|p| p.trim().parse::<u32>().ok());
    Some(match pid {
        Some(pid) if pid_alive(pid) && pid != std::process::id() => format!(
            "another `series apply` (process {pid}) is applying a series to {workdir}; wait for it to finish"
        ),
        _ => format!(
            "a `series apply` on {workdir} was interrupted ({} exists); run `tools/series apply --abort --tree {workdir}` to restore the tree, index and branch as they were before it",
            dir.display()
        ),
    })
}

impl Journal {
    /// Starts a journal; fails when one exists (an apply runs or was
    /// interrupted).
    pub fn begin(repo: &Repository) -> Result<Journal> {
        let dir = journal_dir(repo);
        crashpoint::step()?;
        match fs::create_dir(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::AlreadyExists => bail!(
                "{}",
                describe_existing(repo).unwrap_or_else(|| "a series apply is running".into())
            ),
            Err(e) => {
                return Err(e).with_context(|| format!("cannot create {}", dir.display()));
            }
        }
        let journal = Journal { dir };
        if let Err(e) = journal.write_file("pid", format!("{}\n", std::process::id()).as_bytes()) {
            journal.discard();
            return Err(e);
        }
        Ok(journal)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Writes `name` in the journal through a temporary file and a rename.
    fn write_file(&self, name: &str, bytes: &[u8]) -> Result<()> {
        let tmp = self.dir.join(format!("{name}.tmp"));
        fs::write(&tmp, bytes).with_context(|| format!("cannot write {}", tmp.display()))?;
        crashpoint::step()?;
        fs::rename(&tmp, self.dir.join(name))
            .with_context(|| format!("cannot write {}", self.dir.join(name).display()))
    }

    /// Records that the lock of git file `name` is about to be ours.
    pub fn note_lock(&self, name: &str) -> Result<()> {
        let path = self.dir.join("locks");
        let mut f = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .with_context(|| format!("cannot write {}", path.display()))?;
        f.write_all(format!("{name}\n").as_bytes())
            .with_context(|| format!("cannot write {}", path.display()))
    }

    /// Saves the original state; from here on the work tree may change.
    pub fn save(&self, repo: &Repository, saved: &Saved) -> Result<()> {
        if saved.had_index {
            let index = git_file(repo, "index");
            let copy = self.dir.join("index");
            if fs::hard_link(&index, &copy).is_err() {
                fs::copy(&index, &copy)
                    .with_context(|| format!("cannot save {}", index.display()))?;
            }
            crashpoint::step()?;
        }
        let json = serde_json::to_vec(saved)?;
        self.write_file("saved.json", &json)
    }

    /// Where the new index is built.
    pub fn new_index_path(&self) -> PathBuf {
        self.dir.join("index.new")
    }

    /// Nothing was changed (a refusal): the journal goes.
    pub fn discard(self) {
        let _ = remove_journal(&self.dir);
    }

    /// The apply is complete: the journal goes.
    pub fn finish(self) -> Result<()> {
        // A kill point, but no injected failure: everything is in place.
        let _ = crashpoint::step();
        remove_journal(&self.dir)
    }
}

/// Removes a journal directory: first renamed aside (one atomic step, so a
/// half-removed journal is never read), then deleted.
pub(crate) fn remove_journal(dir: &Path) -> Result<()> {
    let aside = dir.with_file_name(format!("{JOURNAL_DIR}.done"));
    let _ = fs::remove_dir_all(&aside);
    fs::rename(dir, &aside).with_context(|| format!("cannot remove {}", dir.display()))?;
    fs::remove_dir_all(&aside).with_context(|| format!("cannot remove {}", aside.display()))
}
