//! Rolling an apply back from its journal: the work tree files, the index,
//! the refs, HEAD and the reflogs as the journal recorded them, then the
//! locks and the journal removed. Used by a failed apply and by
//! `series apply --abort`.

use crate::journal::{git_file, journal_dir, pid_alive, remove_journal, Saved};
use crate::lock::LockFile;
use anyhow::{bail, Context, Result};
use git2::Repository;
use std::fs::{self, OpenOptions};
use std::path::PathBuf;

/// What [`restore`] did.
#[derive(Debug, Default)]
pub struct Restored {
    /// False when the apply had not changed anything yet.
    pub had_changes: bool,
    pub files: usize,
    pub locks_removed: Vec<PathBuf>,
}

/// Takes the lock of `name` for a restore: a lock we recorded is adopted,
/// an absent one is taken, anybody else's is refused.
fn restore_lock(repo: &Repository, name: &str, ours: &[String]) -> Result<LockFile> {
    let target = git_file(repo, name);
    let lock = LockFile::lock_path(&target);
    if lock.exists() && !ours.iter().any(|n| n == name) {
        bail!(
            "{} is held by another git process; wait for it to finish and run `series apply --abort` again",
            lock.display()
        );
    }
    LockFile::adopt(&target)
}

/// Puts the repository back as the journal recorded it and removes the
/// journal and every lock it lists. Refuses while the applying process
/// still runs.
pub fn restore(repo: &Repository) -> Result<Restored> {
    let dir = journal_dir(repo);
    if !dir.exists() {
        bail!(
            "no interrupted `series apply` to abort: {} does not exist",
            dir.display()
        );
    }
    if let Some(pid) = fs::read_to_string(dir.join("pid"))
        .ok()
        .and_then(|p| p.trim().parse::<u32>().ok())
    {
        if pid != std::process::id() && pid_alive(pid) {
            bail!("`series apply` (process {pid}) is still running; wait for it to finish");
        }
    }
    let ours: Vec<String> = fs::read_to_string(dir.join("locks"))
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect();
    let mut report = Restored::default();
    if let Ok(json) = fs::read(dir.join("saved.json")) {
        let saved: Saved = serde_json::from_slice(&json)
            .with_context(|| format!("{} is damaged", dir.join("saved.json").display()))?;
        report.had_changes = true;
        report.files = saved.files.len();
        crate::publish::restore_files(repo, &saved.files)?;

        let mut index = restore_lock(repo, "index", &ours)?;
        if saved.had_index {
            let bytes = fs::read(dir.join("index"))
                .with_context(|| format!("cannot read the saved index in {}", dir.display()))?;
            index.write_all(&bytes)?;
            index.commit()?;
        } else {
            index.delete_target()?;
        }
        for r in &saved.refs {
            let mut lock = restore_lock(repo, &r.name, &ours)?;
            match &r.loose {
                Some(content) => {
                    lock.write_all(content.as_bytes())?;
                    lock.commit()?;
                }
                None => lock.delete_target()?,
            }
        }
        let mut head = restore_lock(repo, "HEAD", &ours)?;
        head.write_all(saved.head.as_bytes())?;
        head.commit()?;
        for (name, len) in &saved.reflogs {
            let path = git_file(repo, name);
            match len {
                Some(len) => {
                    if let Ok(f) = OpenOptions::new().write(true).open(&path) {
                        f.set_len(*len)
                            .with_context(|| format!("cannot restore {}", path.display()))?;
                    }
                }
                None => {
                    let _ = fs::remove_file(&path);
                }
            }
        }
    }
    for name in &ours {
        let lock = LockFile::lock_path(&git_file(repo, name));
        if fs::remove_file(&lock).is_ok() {
            report.locks_removed.push(lock);
        }
    }
    remove_journal(&dir)?;
    Ok(report)
}
