//! Making applied commits visible: the work tree files and index entries
//! the series changed are rewritten (nothing else is read or touched).
//! Runs only after every patch applied, with the git locks held and the
//! journal saved; [`restore_files`] undoes it for `--abort`.

use crate::crashpoint;
use crate::journal::SavedFile;
use crate::stage::{ChangeSet, Content, MODE_EXEC, MODE_LINK};
use anyhow::{bail, Context, Result};
use git2::{IndexEntry, IndexTime, Oid, Repository, Tree};
use std::collections::{HashMap, HashSet};
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
    // Directories already seen: true when they are tracked directories
    // on disk, false when they do not exist on disk.
    let mut dirs: HashMap<String, bool> = HashMap::new();
    for (path, _, _) in &outcome.writes {
        let parts: Vec<&str> = path.split('/').collect();
        let mut on_disk = PathBuf::from(workdir);
        for (i, part) in parts.iter().enumerate() {
            on_disk.push(part);
            let last = i + 1 == parts.len();
            let rel = parts[..=i].join("/");
            if !last {
                match dirs.get(&rel) {
                    Some(true) => continue,
                    Some(false) => break,
                    None => {}
                }
            }
            let Ok(meta) = fs::symlink_metadata(&on_disk) else {
                if !last {
                    dirs.insert(rel, false);
                }
                break;
            };
            let tracked = base.get_path(Path::new(&rel)).is_ok();
            if meta.file_type().is_symlink() && !last {
                bail!("{path} would be written through the symbolic link {rel} in the work tree; remove it first");
            }
            if !tracked && (last || !meta.is_dir()) {
                bail!(
                    "the untracked {} {rel} is in the way of {path}; move it away first",
                    if meta.is_dir() { "directory" } else { "file" }
                );
            }
            if !last && meta.is_dir() {
                dirs.insert(rel, true);
            }
        }
    }
    Ok(())
}

/// Refuses when a path the series changes is hidden from `git status` by
/// the assume-unchanged or skip-worktree bit and its work tree copy
/// differs from the index: writing it would lose that local edit without
/// a word (git am refuses too: "does not match index").
pub fn check_hidden_edits(repo: &Repository, base: &Tree, outcome: &Outcome) -> Result<()> {
    const ASSUME_VALID: u16 = 0x8000;
    const SKIP_WORKTREE: u16 = 1 << 14;
    let index = repo.index().context("cannot read the index")?;
    let workdir = repo.workdir().context("the repository has no work tree")?;
    let paths = outcome
        .writes
        .iter()
        .map(|(p, _, _)| p)
        .chain(&outcome.removals);
    for path in paths {
        let Some(entry) = index.get_path(Path::new(path), 0) else {
            continue;
        };
        let hidden = if entry.flags & ASSUME_VALID != 0 {
            "assume-unchanged"
        } else if entry.flags_extended & SKIP_WORKTREE != 0 {
            "skip-worktree"
        } else {
            continue;
        };
        let Ok(in_base) = base.get_path(Path::new(path)) else {
            continue;
        };
        let on_disk = workdir.join(path);
        let same = match fs::symlink_metadata(&on_disk) {
            Ok(m) if m.file_type().is_symlink() => {
                fs::read_link(&on_disk).ok().and_then(|t| {
                    Oid::hash_object(git2::ObjectType::Blob, t.as_os_str().as_bytes()).ok()
                }) == Some(in_base.id())
            }
            Ok(m) if m.is_file() => {
                fs::read(&on_disk)
                    .ok()
                    .and_then(|b| Oid::hash_object(git2::ObjectType::Blob, &b).ok())
                    == Some(in_base.id())
            }
            _ => false,
        };
        if !same {
            let flag = if hidden == "assume-unchanged" {
                "--no-assume-unchanged"
            } else {
                "--no-skip-worktree"
            };
            bail!(
                "{path} does not match the index: it is marked {hidden}, so `git status` hides a local edit the series would overwrite (git am refuses it too). \
                 Run `git update-index {flag} {path}`, then commit or stash the edit"
            );
        }
    }
    Ok(())
}

/// Writes the changed work tree files and builds the new index in the
/// file `new_index` (a copy of the current one with the changed entries).
/// The caller renames it into place under `index.lock`.
pub fn write_work_tree(repo: &Repository, outcome: &Outcome, new_index: &Path) -> Result<()> {
    let current = repo.path().join("index");
    if current.exists() {
        fs::copy(&current, new_index)
            .with_context(|| format!("cannot copy the index to {}", new_index.display()))?;
    }
    let mut index = git2::Index::open(new_index)
        .with_context(|| format!("cannot read the index copy {}", new_index.display()))?;
    write_files(repo, outcome, Some(&mut index))?;
    index
        .write()
        .with_context(|| format!("cannot write the new index {}", new_index.display()))?;
    Ok(())
}

/// Puts the recorded paths back as they were: each path is written with
/// its original blob and mode, or removed when it did not exist.
pub fn restore_files(repo: &Repository, files: &[SavedFile]) -> Result<()> {
    let mut undo = Outcome {
        writes: Vec::new(),
        removals: Vec::new(),
    };
    let workdir = repo.workdir().map(Path::to_path_buf);
    for f in files {
        match &f.before {
            Some((oid, mode)) => {
                let oid = Oid::from_str(oid)
                    .with_context(|| format!("the journal holds a bad id for {}", f.path))?;
                // A file the failed apply never reached is left alone: it
                // may sit in a directory that cannot be written, which is
                // often why the apply failed.
                if workdir
                    .as_deref()
                    .is_some_and(|w| is_as_saved(&w.join(&f.path), oid, *mode))
                {
                    continue;
                }
                undo.writes.push((f.path.clone(), oid, *mode));
            }
            // A directory there is the original one (the series had not
            // replaced it yet): keep it.
            None if repo
                .workdir()
                .is_some_and(|w| w.join(&f.path).symlink_metadata().is_ok_and(|m| m.is_dir())) => {}
            // Nothing there: nothing to remove.
            None if workdir
                .as_deref()
                .is_some_and(|w| w.join(&f.path).symlink_metadata().is_err()) => {}
            None => undo.removals.push(f.path.clone()),
        }
    }
    write_files(repo, &undo, None)
}

/// Whether the regular file at `path` already holds blob `oid` with the
/// executable bit of `mode` (other kinds of entries are always rewritten).
fn is_as_saved(path: &Path, oid: Oid, mode: i32) -> bool {
    use std::os::unix::fs::PermissionsExt;
    let executable = match mode {
        0o100644 => false,
        0o100755 => true,
        _ => return false,
    };
    let Ok(meta) = path.symlink_metadata() else {
        return false;
    };
    meta.is_file()
        && (meta.permissions().mode() & 0o111 != 0) == executable
        && Oid::hash_file(git2::ObjectType::Blob, path).is_ok_and(|id| id == oid)
}

/// True when the paths include a .gitattributes file: the attributes
/// then change while the files are written.
fn touches_attributes<'a>(mut paths: impl Iterator<Item = &'a String>) -> bool {
    paths.any(|p| p == ".gitattributes" || p.ends_with("/.gitattributes"))
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
    let attributes_change = touches_attributes(
        outcome
            .writes
            .iter()
            .map(|(p, _, _)| p)
            .chain(&outcome.removals),
    );
    let mut filter = crate::checks::WorktreeFilter::new(repo, attributes_change)?;
    for path in &outcome.removals {
        crashpoint::step()?;
        let file = workdir.join(path);
        remove_if_present(&file)?;
        if let Some(index) = index.as_deref_mut() {
            index
                .remove_path(Path::new(path))
                .with_context(|| format!("cannot remove {path} from the index"))?;
        }
        prune_empty_dirs(&workdir, &file);
    }
    // Directories known to exist (made or checked by an earlier write).
    let mut made: HashSet<PathBuf> = HashSet::new();
    for (path, oid, mode) in &outcome.writes {
        crashpoint::step()?;
        let file = workdir.join(path);
        let blob = repo
            .find_blob(*oid)
            .with_context(|| format!("the object {oid} for {path} is missing"))?;
        if let Some(parent) = file.parent().filter(|p| !made.contains(*p)) {
            if parent.symlink_metadata().is_ok_and(|m| !m.is_dir()) {
                remove_if_present(parent)?;
            }
            fs::create_dir_all(parent)
                .with_context(|| format!("cannot create the directory {}", parent.display()))?;
            made.insert(parent.to_path_buf());
        }
        if remove_file_or_dir(&file)? {
            made.retain(|d| !d.starts_with(&file));
        }
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
            f.write_all(&filter.bytes(path, blob.content())?)
                .with_context(|| format!("cannot write {}", file.display()))?;
        }
        if let Some(index) = index.as_deref_mut() {
            let meta = fs::symlink_metadata(&file)
                .with_context(|| format!("cannot read back {}", file.display()))?;
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

/// Removes what is at `file` (a file, a link or a whole directory);
/// true when it was a directory.
fn remove_file_or_dir(file: &Path) -> Result<bool> {
    match fs::remove_file(file) {
        Ok(()) => Ok(false),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => {
            if file.symlink_metadata().is_ok_and(|m| m.is_dir()) {
                fs::remove_dir_all(file)
                    .with_context(|| format!("cannot remove the directory {}", file.display()))?;
                Ok(true)
            } else {
                Err(e).with_context(|| format!("cannot remove {}", file.display()))
            }
        }
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
