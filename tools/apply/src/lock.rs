//! git's lock files: `<file>.lock` created exclusively, filled with the
//! new content, then renamed over `<file>`. Holding `index.lock`,
//! `HEAD.lock` and the branch's ref lock for the whole apply keeps every
//! other writer (another `series apply`, `git commit`, `git am`, ...) out,
//! the same way git itself does.

use anyhow::{bail, Context, Result};
use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};

/// A held `<target>.lock`. Dropping it without [`LockFile::commit`]
/// removes the lock file and leaves `<target>` alone.
#[derive(Debug)]
pub struct LockFile {
    target: PathBuf,
    lock: PathBuf,
    file: Option<File>,
}

impl LockFile {
    /// The lock path of `target`.
    pub fn lock_path(target: &Path) -> PathBuf {
        let mut name = target.as_os_str().to_owned();
        name.push(".lock");
        PathBuf::from(name)
    }

    /// Takes the lock of `target`; fails at once when it is held.
    /// `what` names the file for the user ("the index", "the branch main").
    pub fn take(target: &Path, what: &str) -> Result<LockFile> {
        let lock = Self::lock_path(target);
        if let Some(parent) = lock.parent() {
            fs::create_dir_all(parent)
                .with_context(|| format!("cannot create the directory {}", parent.display()))?;
        }
        match OpenOptions::new().write(true).create_new(true).open(&lock) {
            Ok(file) => Ok(LockFile {
                target: target.to_path_buf(),
                lock,
                file: Some(file),
            }),
            Err(e) if e.kind() == ErrorKind::AlreadyExists => bail!(
                "{} exists: another git process is writing {what}, or one that crashed left the lock behind. \
                 If no git command is running in this repository, remove {} and run again",
                lock.display(),
                lock.display()
            ),
            Err(e) => Err(e).with_context(|| format!("cannot create the lock {}", lock.display())),
        }
    }

    /// Adopts a lock file left by an interrupted run of ours (or takes it
    /// when absent), so that `--abort` can write through it.
    pub fn adopt(target: &Path) -> Result<LockFile> {
        let lock = Self::lock_path(target);
        if let Some(parent) = lock.parent() {
            fs::create_dir_all(parent)
                .with_context(|| format!("cannot create the directory {}", parent.display()))?;
        }
        let file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&lock)
            .with_context(|| format!("cannot open the lock {}", lock.display()))?;
        Ok(LockFile {
            target: target.to_path_buf(),
            lock,
            file: Some(file),
        })
    }

    pub fn path(&self) -> &Path {
        &self.lock
    }

    pub fn target(&self) -> &Path {
        &self.target
    }

    /// Writes the new content of the target into the lock file.
    pub fn write_all(&mut self, bytes: &[u8]) -> Result<()> {
        let file = self
            .file
            .as_mut()
            .context("the lock was already committed")?;
        file.write_all(bytes)
            .with_context(|| format!("cannot write {}", self.lock.display()))
    }

    /// Flushes what was written to the disk, for a record that must
    /// survive a crash once it is committed.
    pub fn sync_all(&mut self) -> Result<()> {
        let file = self
            .file
            .as_mut()
            .context("the lock was already committed")?;
        file.sync_all()
            .with_context(|| format!("cannot write {}", self.lock.display()))
    }

    /// Replaces the lock file's content by the file `from` (renamed).
    pub fn replace_with(&mut self, from: &Path) -> Result<()> {
        fs::rename(from, &self.lock)
            .with_context(|| format!("cannot move {} to {}", from.display(), self.lock.display()))
    }

    /// Renames the lock over the target: the new content becomes visible.
    pub fn commit(mut self) -> Result<()> {
        self.file.take();
        let result = fs::rename(&self.lock, &self.target).with_context(|| {
            format!(
                "cannot rename {} to {}",
                self.lock.display(),
                self.target.display()
            )
        });
        // Committed or not, the lock is no longer ours to remove.
        self.lock = PathBuf::new();
        result
    }

    /// Removes the target (a ref that must disappear) and releases the lock.
    pub fn delete_target(self) -> Result<()> {
        match fs::remove_file(&self.target) {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(e) => {
                return Err(e).with_context(|| format!("cannot remove {}", self.target.display()))
            }
        }
        self.release()
    }

    /// Removes the lock file, leaving the target as it is.
    pub fn release(mut self) -> Result<()> {
        self.file.take();
        let lock = std::mem::take(&mut self.lock);
        match fs::remove_file(&lock) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e).with_context(|| format!("cannot remove the lock {}", lock.display())),
        }
    }
}

impl Drop for LockFile {
    fn drop(&mut self) {
        if !self.lock.as_os_str().is_empty() {
            self.file.take();
            let _ = fs::remove_file(&self.lock);
        }
    }
}

impl LockFile {
    /// Leaves the lock file on disk (for a journal-driven restore to adopt).
    pub fn keep(mut self) {
        self.file.take();
        self.lock = PathBuf::new();
    }
}
