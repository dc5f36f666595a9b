//! Writing a generated series into the patches directory (atomically,
//! removing stale patch files, leaving everything else alone) and checking
//! a directory against it.

use crate::GeneratedFile;
use anyhow::{Context, Result};
use similar::TextDiff;
use std::path::Path;

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

/// What [`write`] changed.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct WriteReport {
    pub written: Vec<String>,
    pub unchanged: Vec<String>,
    pub removed: Vec<String>,
}

/// Writes `files` into `dir` (each through a temporary file and a rename)
/// and removes the patch files of `dir` that are not among them.
pub fn write(dir: &Path, files: &[GeneratedFile]) -> Result<WriteReport> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut report = WriteReport::default();
    for f in files {
        let path = dir.join(&f.name);
        if std::fs::read(&path).is_ok_and(|old| old == f.contents) {
            report.unchanged.push(f.name.clone());
            continue;
        }
        let tmp = dir.join(format!(".{}.tmp-{}", f.name, std::process::id()));
        std::fs::write(&tmp, &f.contents)
            .with_context(|| format!("cannot write {}", tmp.display()))?;
        std::fs::rename(&tmp, &path)
            .with_context(|| format!("cannot rename {} to {}", tmp.display(), path.display()))?;
        report.written.push(f.name.clone());
    }
    for name in existing_patch_files(dir)? {
        if !files.iter().any(|f| f.name == name) {
            let path = dir.join(&name);
            std::fs::remove_file(&path)
                .with_context(|| format!("cannot remove the stale {}", path.display()))?;
            report.removed.push(name);
        }
    }
    Ok(report)
}

/// A unified diff from the patch files of `dir` to `files`; None when equal.
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
    for name in existing_patch_files(dir)? {
        if !files.iter().any(|f| f.name == name) {
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
