//! Making applied commits visible: the work tree files and index entries
//! the series changed are rewritten (nothing else is read or touched),
//! then the branch moves. Runs only after every patch applied.

use crate::stage::{ChangeSet, Content, MODE_EXEC, MODE_LINK};
use anyhow::{bail, Context, Result};
use git2::{IndexEntry, IndexTime, Oid, Repository, Tree};
use std::fs;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// The final state of the changed paths: path → (blob, mode) or removed,
/// leaving out paths that end as they began.
pub struct Outcome {
    pub writes: Vec<(String, Oid, i32)>,
    pub removals: Vec<String>,
}

/// Reduces the overlay of all changes to what differs from `base`, with
/// new content resolved to blob ids (which must already be written).
pub fn outcome(
    base: &Tree,
    overlay: &ChangeSet,
    blob_of: impl Fn(&Content) -> Result<Oid>,
) -> Result<Outcome> {
    let mut out = Outcome {
        writes: Vec::new(),
        removals: Vec::new(),
    };
    for (path, entry) in overlay {
        let before = base
            .get_path(Path::new(path))
            .ok()
            .filter(|e| e.kind() != Some(git2::ObjectType::Tree))
            .map(|e| (e.id(), e.filemode()));
        match entry {
            None if before.is_some() => out.removals.push(path.clone()),
            None => {}
            Some(e) => {
                let after = (blob_of(&e.content)?, e.mode);
                if before != Some(after) {
                    out.writes.push((path.clone(), after.0, after.1));
                }
            }
        }
    }
    Ok(out)
}

/// Refuses when a file the series creates would replace something on
/// disk that git does not track, or lies beyond a symbolic link on disk.
pub fn check_obstructions(repo: &Repository, base: &Tree, outcome: &Outcome) -> Result<()> {
    let workdir = repo.workdir().context("the repository has no work tree")?;
    for (path, _, _) in &outcome.writes {
        let parts: Vec<&str> = path.split('/').collect();
        let mut on_disk = PathBuf::from(workdir);
        for (i, part) in parts.iter().enumerate() {
            on_disk.push(part);
            let Ok(meta) = fs::symlink_metadata(&on_disk) else {
                break;
            };
            let rel = parts[..=i].join("/");
            let tracked = base.get_path(Path::new(&rel)).is_ok();
            let last = i + 1 == parts.len();
            if meta.file_type().is_symlink() && !last {
                bail!("{path} would be written through the symbolic link {rel} in the work tree; remove it first");
            }
            if !tracked && (last || !meta.is_dir()) {
                bail!(
                    "the untracked {} {rel} is in the way of {path}; move it away first",
                    if meta.is_dir() { "directory" } else { "file" }
                );
            }
        }
    }
    Ok(())
}

/// Writes the changed files and their index entries. If that fails half
/// way, the files are put back as they are in `base` and the index on
/// disk is left alone.
pub fn update_work_tree(repo: &Repository, base: &Tree, outcome: &Outcome) -> Result<()> {
    let Err(err) = write_files_and_index(repo, outcome) else {
        return Ok(());
    };
    let undo = Outcome {
        writes: outcome
            .writes
            .iter()
            .map(|(p, _, _)| p)
            .chain(&outcome.removals)
            .filter_map(|p| {
                let e = base.get_path(Path::new(p)).ok()?;
                Some((p.clone(), e.id(), e.filemode()))
            })
            .collect(),
        removals: outcome
            .writes
            .iter()
            .filter(|(p, _, _)| base.get_path(Path::new(p)).is_err())
            .map(|(p, _, _)| p.clone())
            .collect(),
    };
    let restored = write_files(repo, &undo, None);
    if let Ok(mut index) = repo.index() {
        let _ = index.read(true);
    }
    match restored {
        Ok(()) => Err(err.context("the work tree could not be updated; it was restored")),
        Err(e) => Err(err.context(format!(
            "the work tree could not be updated, and restoring it failed too ({e:#}); run `git reset --hard` in it"
        ))),
    }
}

fn write_files_and_index(repo: &Repository, outcome: &Outcome) -> Result<()> {
    let mut index = repo.index().context("cannot read the index")?;
    write_files(repo, outcome, Some(&mut index))?;
    index.write().context("cannot write the index")?;
    Ok(())
}

/// Writes and removes work tree files; records them in `index` if given.
fn write_files(
    repo: &Repository,
    outcome: &Outcome,
    mut index: Option<&mut git2::Index>,
) -> Result<()> {
    let workdir = repo
        .workdir()
        .context("the repository has no work tree")?
        .to_path_buf();
    for path in &outcome.removals {
        let file = workdir.join(path);
        remove_if_present(&file)?;
        if let Some(index) = index.as_deref_mut() {
            index.remove_path(Path::new(path))?;
        }
        prune_empty_dirs(&workdir, &file);
    }
    for (path, oid, mode) in &outcome.writes {
        let file = workdir.join(path);
        let blob = repo.find_blob(*oid)?;
        if let Some(parent) = file.parent() {
            if parent.symlink_metadata().is_ok_and(|m| !m.is_dir()) {
                remove_if_present(parent)?;
            }
            fs::create_dir_all(parent)
                .with_context(|| format!("cannot create the directory {}", parent.display()))?;
        }
        if file.symlink_metadata().is_ok_and(|m| m.is_dir()) {
            fs::remove_dir_all(&file)
                .with_context(|| format!("cannot remove the directory {}", file.display()))?;
        }
        remove_if_present(&file)?;
        if *mode == MODE_LINK {
            let target = std::ffi::OsStr::from_bytes(blob.content());
            std::os::unix::fs::symlink(target, &file)
                .with_context(|| format!("cannot create the link {}", file.display()))?;
        } else {
            let perm = if *mode == MODE_EXEC { 0o777 } else { 0o666 };
            let mut f = fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(perm)
                .open(&file)
                .with_context(|| format!("cannot create {}", file.display()))?;
            f.write_all(&crate::checks::worktree_bytes(repo, path, blob.content())?)
                .with_context(|| format!("cannot write {}", file.display()))?;
        }
        if let Some(index) = index.as_deref_mut() {
            let meta = fs::symlink_metadata(&file)?;
            index
                .add(&index_entry(path, *oid, *mode, &meta))
                .with_context(|| format!("cannot add {path} to the index"))?;
        }
    }
    Ok(())
}

fn index_entry(path: &str, oid: Oid, mode: i32, meta: &fs::Metadata) -> IndexEntry {
    IndexEntry {
        ctime: IndexTime::new(meta.ctime() as i32, meta.ctime_nsec() as u32),
        mtime: IndexTime::new(meta.mtime() as i32, meta.mtime_nsec() as u32),
        dev: meta.dev() as u32,
        ino: meta.ino() as u32,
        mode: mode as u32,
        uid: meta.uid(),
        gid: meta.gid(),
        file_size: meta.size() as u32,
        id: oid,
        flags: path.len().min(0xfff) as u16,
        flags_extended: 0,
        path: path.as_bytes().to_vec(),
    }
}

fn remove_if_present(file: &Path) -> Result<()> {
    match fs::remove_file(file) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e).with_context(|| format!("cannot remove {}", file.display())),
    }
}

/// Removes the directories above `file` that became empty, up to the root.
fn prune_empty_dirs(root: &Path, file: &Path) {
    let mut dir = file.parent();
    while let Some(d) = dir {
        if d == root || fs::remove_dir(d).is_err() {
            break;
        }
        dir = d.parent();
    }
}
