//! Writing a generated series into the patches directory (atomically,
//! removing the stale patch files it wrote before, leaving everything
//! else alone) and checking a directory against it.
//!
//! What export wrote is recorded in [`RECORD_FILE`] in the directory: one
//! line `<git blob id> <file name>` per file. A later export removes a
//! patch file only when the record lists it and it still holds what was
//! written; an unrelated `0001-x.patch`, another version's `v2-0001-…`
//! that export did not write, or a file edited since, stays.

use crate::GeneratedFile;
use anyhow::{Context, Result};
use similar::TextDiff;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// True for names format-patch makes: `[vN-]NNNN-anything.patch`.
pub fn is_patch_file_name(name: &str) -> bool {
    let mut rest = name;
    if let Some(r) = rest.strip_prefix('v') {
        let digits = r.chars().take_while(char::is_ascii_digit).count();
        if digits == 0 || !r[digits..].starts_with('-') {
            return false;
        }
        rest = &r[digits + 1..];
    }
    rest.len() > 5
        && rest[..4].chars().all(|c| c.is_ascii_digit())
        && rest[4..].starts_with('-')
        && rest.ends_with(".patch")
}

/// Patch files in `dir` (names only, sorted).
pub fn existing_patch_files(dir: &Path) -> Result<Vec<String>> {
    let mut names = Vec::new();
    if !dir.exists() {
        return Ok(names);
    }
    for entry in std::fs::read_dir(dir).with_context(|| format!("cannot list {}", dir.display()))? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if is_patch_file_name(&name) && entry.file_type()?.is_file() {
            names.push(name);
        }
    }
    names.sort();
    Ok(names)
}

/// The record of the files export wrote into a directory.
pub const RECORD_FILE: &str = ".series-export";

/// What [`write`] changed.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct WriteReport {
    pub written: Vec<String>,
    pub unchanged: Vec<String>,
    /// Stale patch files export had written, removed.
    pub removed: Vec<String>,
    /// Stale patch files export had written but that were edited since: kept.
    pub kept_edited: Vec<String>,
    /// Patch-named files export did not write (not in the record): kept.
    pub not_ours: Vec<String>,
}

fn blob_id(bytes: &[u8]) -> String {
    git2::Oid::hash_object(git2::ObjectType::Blob, bytes)
        .map(|o| o.to_string())
        .unwrap_or_default()
}

/// The record of `dir`: file name → blob id of what export wrote.
pub fn read_record(dir: &Path) -> Result<BTreeMap<String, String>> {
    let path = dir.join(RECORD_FILE);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(BTreeMap::new()),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    Ok(text
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_once(' '))
        .map(|(id, name)| (name.to_string(), id.to_string()))
        .collect())
}

fn record_text(files: &[GeneratedFile]) -> String {
    let mut text = String::from(
        "# Files `series export` wrote here (blob id, name); it removes only these.\n",
    );
    for f in files {
        text.push_str(&format!("{} {}\n", blob_id(&f.contents), f.name));
    }
    text
}

/// New contents written beside their targets, not yet in place. Dropped
/// without [`Staged::switch`], it removes every temporary file it wrote.
struct Staged {
    /// (temporary file, target)
    moves: Vec<(PathBuf, PathBuf)>,
}

impl Staged {
    /// Writes `contents` to a temporary file beside `target` and syncs it.
    fn add(&mut self, target: PathBuf, contents: &[u8]) -> Result<()> {
        use std::io::Write;
        let name = target.file_name().unwrap_or_default().to_string_lossy();
        let tmp = target.with_file_name(format!(".{name}.tmp-{}", std::process::id()));
        let written = std::fs::File::create(&tmp).and_then(|mut f| {
            f.write_all(contents)?;
            f.sync_all()
        });
        if let Err(e) = written {
            let _ = std::fs::remove_file(&tmp);
            return Err(e).with_context(|| {
                format!(
                    "cannot write {}; nothing in {} was changed",
                    tmp.display(),
                    target.parent().unwrap_or(Path::new(".")).display()
                )
            });
        }
        self.moves.push((tmp, target));
        Ok(())
    }

    /// Renames every temporary file over its target: renames within a
    /// directory need no space, so a full disk cannot stop them half way.
    fn switch(mut self) -> Result<()> {
        for (tmp, target) in std::mem::take(&mut self.moves) {
            std::fs::rename(&tmp, &target).with_context(|| {
                format!("cannot rename {} to {}", tmp.display(), target.display())
            })?;
        }
        Ok(())
    }
}

impl Drop for Staged {
    fn drop(&mut self) {
        for (tmp, _) in &self.moves {
            let _ = std::fs::remove_file(tmp);
        }
    }
}

/// Stale patch files of `dir` (not in `files`), sorted into those export
/// wrote and may remove, those it wrote but were edited since, and those
/// it never wrote.
fn stale_files(
    dir: &Path,
    files: &[GeneratedFile],
) -> Result<(Vec<String>, Vec<String>, Vec<String>)> {
    let record = read_record(dir)?;
    let (mut ours, mut edited, mut foreign) = (Vec::new(), Vec::new(), Vec::new());
    for name in existing_patch_files(dir)? {
        if files.iter().any(|f| f.name == name) {
            continue;
        }
        match record.get(&name) {
            Some(id) => {
                let now = std::fs::read(dir.join(&name))
                    .with_context(|| format!("cannot read {}", dir.join(&name).display()))?;
                if &blob_id(&now) == id {
                    ours.push(name);
                } else {
                    edited.push(name);
                }
            }
            None => foreign.push(name),
        }
    }
    Ok((ours, edited, foreign))
}

/// Writes `files` into `dir` (each through a temporary file and a rename),
/// removes the stale patch files that an earlier export wrote there (and
/// that nobody edited since), and records what it wrote.
pub fn write(dir: &Path, files: &[GeneratedFile]) -> Result<WriteReport> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut report = WriteReport::default();
    // All or nothing: every new file and the record are written beside
    // their targets first; only when all of them are on disk are they
    // renamed into place and the stale files removed.
    let (ours, edited, foreign) = stale_files(dir, files)?;
    let mut staged = Staged { moves: Vec::new() };
    for f in files {
        let path = dir.join(&f.name);
        if std::fs::read(&path).is_ok_and(|old| old == f.contents) {
            report.unchanged.push(f.name.clone());
            continue;
        }
        staged.add(path, &f.contents)?;
        report.written.push(f.name.clone());
    }
    staged.add(dir.join(RECORD_FILE), record_text(files).as_bytes())?;
    staged.switch()?;
    for name in ours {
        let path = dir.join(&name);
        std::fs::remove_file(&path)
            .with_context(|| format!("cannot remove the stale {}", path.display()))?;
        report.removed.push(name);
    }
    report.kept_edited = edited;
    report.not_ours = foreign;
    Ok(report)
}

/// A unified diff from the patch files of `dir` to `files` (the files
/// [`write`] would write or remove); None when equal.
pub fn check(dir: &Path, files: &[GeneratedFile]) -> Result<Option<String>> {
    let mut out = String::new();
    for f in files {
        let path = dir.join(&f.name);
        let old = std::fs::read(&path).unwrap_or_default();
        if old == f.contents {
            continue;
        }
        let old_name = if path.exists() {
            format!("a/{}", f.name)
        } else {
            "/dev/null".into()
        };
        let old_text = String::from_utf8_lossy(&old);
        let new_text = String::from_utf8_lossy(&f.contents);
        let diff = TextDiff::from_lines(old_text.as_ref(), new_text.as_ref());
        out.push_str(
            &diff
                .unified_diff()
                .context_radius(3)
                .header(&old_name, &format!("b/{}", f.name))
                .to_string(),
        );
    }
    for name in stale_files(dir, files)?.0 {
        let old = std::fs::read(dir.join(&name))?;
        let old_text = String::from_utf8_lossy(&old);
        let diff = TextDiff::from_lines(old_text.as_ref(), "");
        out.push_str(
            &diff
                .unified_diff()
                .context_radius(3)
                .header(&format!("a/{name}"), "/dev/null")
                .to_string(),
        );
    }
    Ok((!out.is_empty()).then_some(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patch_names() {
        assert!(is_patch_file_name("0001-x.patch"));
        assert!(is_patch_file_name("v2-0000-cover-letter.patch"));
        assert!(!is_patch_file_name("series.toml"));
        assert!(!is_patch_file_name("README.patch"));
        assert!(!is_patch_file_name("v-0001-x.patch"));
    }
}
