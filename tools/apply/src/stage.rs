//! The in-memory state of a tree while patches are applied: the base
//! commit's tree plus the changes made so far. Nothing is written to the
//! repository here, so a failing patch leaves no trace.

use crate::diff::FilePatch;
use crate::hunks::apply_hunks;
use anyhow::{bail, Context, Result};
use git2::{ObjectType, Oid, Repository, Tree};
use std::collections::BTreeMap;

pub const MODE_FILE: i32 = 0o100644;
pub const MODE_EXEC: i32 = 0o100755;
pub const MODE_LINK: i32 = 0o120000;

/// File content: an existing blob or new bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Content {
    Blob(Oid),
    Data(Vec<u8>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub content: Content,
    pub mode: i32,
}

/// What a path holds in the current state.
enum Node {
    Missing,
    Dir,
    File(Entry),
}

/// Changes of one commit: path → new entry, or None for removal.
pub type ChangeSet = BTreeMap<String, Option<Entry>>;

pub struct Stage<'r> {
    repo: &'r Repository,
    odb: git2::Odb<'r>,
    base: Tree<'r>,
    /// Every change since `base`.
    overlay: ChangeSet,
    /// What git apply would warn about, taken since the last
    /// [`Stage::take_warnings`].
    warnings: Vec<String>,
}

impl<'r> Stage<'r> {
    pub fn new(repo: &'r Repository, base: Tree<'r>) -> Result<Stage<'r>> {
        Ok(Stage {
            repo,
            odb: repo.odb().context("cannot open the object database")?,
            base,
            overlay: ChangeSet::new(),
            warnings: Vec::new(),
        })
    }

    /// The warnings of the files applied since the last call.
    pub fn take_warnings(&mut self) -> Vec<String> {
        std::mem::take(&mut self.warnings)
    }

    /// Every change since the base tree.
    pub fn overlay(&self) -> &ChangeSet {
        &self.overlay
    }

    fn node(&self, path: &str) -> Result<Node> {
        if let Some(entry) = self.overlay.get(path) {
            return Ok(match entry {
                Some(e) => Node::File(e.clone()),
                None => Node::Missing,
            });
        }
        let prefix = format!("{path}/");
        if self
            .overlay
            .range(prefix.clone()..)
            .next()
            .is_some_and(|(k, v)| k.starts_with(&prefix) && v.is_some())
        {
            return Ok(Node::Dir);
        }
        match self.base.get_path(std::path::Path::new(path)) {
            Ok(entry) => Ok(match entry.kind() {
                Some(ObjectType::Tree) => Node::Dir,
                _ => Node::File(Entry {
                    content: Content::Blob(entry.id()),
                    mode: entry.filemode(),
                }),
            }),
            Err(e) if e.code() == git2::ErrorCode::NotFound => Ok(Node::Missing),
            Err(e) => Err(e).with_context(|| format!("cannot look up {path} in the tree")),
        }
    }

    fn bytes(&self, content: &Content) -> Result<Vec<u8>> {
        match content {
            Content::Data(d) => Ok(d.clone()),
            Content::Blob(oid) => Ok(self.repo.find_blob(*oid)?.content().to_vec()),
        }
    }

    /// True when every file the base tree has under the directory `dir`
    /// was removed by the patches so far (the directory is gone). Only
    /// walks the directory when something under it was removed.
    fn emptied(&self, dir: &str) -> Result<bool> {
        let prefix = format!("{dir}/");
        let removed_below = self
            .overlay
            .range(prefix.clone()..)
            .take_while(|(k, _)| k.starts_with(&prefix))
            .any(|(_, v)| v.is_none());
        if !removed_below {
            return Ok(false);
        }
        let tree = match self.base.get_path(std::path::Path::new(dir)) {
            Ok(entry) if entry.kind() == Some(ObjectType::Tree) => {
                self.repo.find_tree(entry.id())?
            }
            _ => return Ok(true),
        };
        let mut all_removed = true;
        tree.walk(git2::TreeWalkMode::PreOrder, |root, entry| {
            if entry.kind() == Some(ObjectType::Tree) {
                return git2::TreeWalkResult::Ok;
            }
            let path = format!("{prefix}{root}{}", entry.name().unwrap_or(""));
            if !matches!(self.overlay.get(&path), Some(None)) {
                all_removed = false;
                return git2::TreeWalkResult::Abort;
            }
            git2::TreeWalkResult::Ok
        })
        .or_else(|e| if all_removed { Err(e) } else { Ok(()) })?;
        Ok(all_removed)
    }

    /// Refuses paths git would refuse and paths that lead through a
    /// symbolic link or a file of the current state.
    fn check_path(&self, path: &str) -> Result<()> {
        check_path_syntax(path)?;
        let mut prefix = String::new();
        let components: Vec<&str> = path.split('/').collect();
        for part in &components[..components.len() - 1] {
            if !prefix.is_empty() {
                prefix.push('/');
            }
            prefix.push_str(part);
            if let Node::File(e) = self.node(&prefix)? {
                if e.mode == MODE_LINK {
                    bail!("{path} is beyond the symbolic link {prefix}; a patch may not write through a link");
                }
                bail!("{path} needs the directory {prefix}, but that is a file");
            }
        }
        Ok(())
    }

    /// New content of a text file patch (its hunks applied).
    fn apply_text_file(&self, file: &FilePatch, source: Option<&Entry>) -> Result<Content> {
        Ok(match (source, file.hunks.is_empty()) {
            (Some(e), true) => e.content.clone(),
            (None, true) => Content::Data(Vec::new()),
            (source, false) => {
                let old = match source {
                    Some(e) => self.bytes(&e.content)?,
                    None => Vec::new(),
                };
                let patched = apply_hunks(&old, &file.hunks).map_err(|f| anyhow::anyhow!("{f}"))?;
                // Stored as a blob at once: memory holds one version of a
                // file, not one per patch (the object is unreferenced until
                // the series is published).
                Content::Blob(self.store(&patched)?)
            }
        })
    }

    /// New content of a `GIT binary patch`, checked against the ids of
    /// its `index` line as git apply does.
    fn apply_binary_file(
        &self,
        file: &FilePatch,
        source: Option<&Entry>,
        hunk: &crate::diff::BinaryHunk,
    ) -> Result<Content> {
        let old = match source {
            Some(e) => self.bytes(&e.content)?,
            None => Vec::new(),
        };
        let (old_id, new_id) = file.index_ids.clone().unwrap_or_default();
        let hex = |data: &[u8]| -> Result<String> {
            Ok(Oid::hash_object(ObjectType::Blob, data)?.to_string())
        };
        let zeros = |id: &str| id.bytes().all(|b| b == b'0');
        if source.is_some()
            && !old_id.is_empty()
            && !zeros(&old_id)
            && !hex(&old)?.starts_with(&old_id)
        {
            bail!("the binary patch is for the blob {old_id}, but the file differs");
        }
        let new = crate::hunks::apply_binary(&old, hunk)
            .map_err(|e| anyhow::anyhow!("the binary patch does not apply: {e}"))?;
        if !new_id.is_empty() && !zeros(&new_id) && !hex(&new)?.starts_with(&new_id) {
            bail!("the binary patch gives content that is not the blob {new_id} it announces");
        }
        Ok(Content::Blob(self.store(&new)?))
    }

    /// Stores `data` as a blob. Through the object database rather than
    /// `Repository::blob`, which streams every blob to a temporary file
    /// first, even one the repository already has.
    fn store(&self, data: &[u8]) -> Result<Oid> {
        self.odb
            .write(ObjectType::Blob, data)
            .context("cannot store the patched file in the object database")
    }

    /// Applies one file's patch; returns the changes it makes.
    pub fn apply_file(&mut self, file: &FilePatch) -> Result<ChangeSet> {
        if file.binary && file.binary_hunk.is_none() {
            bail!("it only says \"Binary files ... differ\", without the data; make the patch with `git format-patch` (binary data is its default) or `git diff --binary`");
        }
        if let Some(old) = &file.old_path {
            self.check_path(old)?;
        }
        for mode in [file.old_mode, file.new_mode].into_iter().flatten() {
            if mode == 0o160000 {
                bail!("it changes a submodule, which is not supported");
            }
        }
        let source = if file.is_new {
            None
        } else {
            let old = file
                .old_path
                .as_deref()
                .context("the diff names no old file")?;
            match self.node(old)? {
                Node::File(e) => Some(e),
                Node::Dir => bail!("{old} is a directory in the tree, the patch expects a file"),
                Node::Missing => bail!("{old} does not exist in the tree"),
            }
        };
        // As git apply: the source of a rename is gone before its
        // destination is checked, so x can become x/x.
        if file.is_rename && file.new_path != file.old_path {
            if let Some(old) = &file.old_path {
                self.overlay.insert(old.clone(), None);
            }
        }
        if let Some(new) = &file.new_path {
            self.check_path(new)?;
        }
        if let Some(new) = file.new_path.as_deref() {
            let must_be_absent = file.is_new || file.is_rename || file.is_copy;
            if must_be_absent && file.new_path != file.old_path {
                match self.node(new)? {
                    Node::Missing => {}
                    Node::Dir if self.emptied(new)? => {}
                    Node::Dir => bail!("{new} already exists in the tree as a directory"),
                    Node::File(_) => bail!("{new} already exists in the tree"),
                }
            }
        }
        let old_mode = source.as_ref().map(|e| e.mode);
        // As git apply: an `index` line whose mode is not the tree's keeps
        // the tree's mode, with a warning in git's words.
        if let (Some(said), Some(have), None) = (file.index_mode, old_mode, file.new_mode) {
            if normalize_mode(said as i32) != normalize_mode(have) {
                self.warnings.push(format!(
                    "{} has type {:o}, expected {:o}",
                    file.display_path(),
                    have,
                    said
                ));
            }
        }
        let content = if let Some(hunk) = &file.binary_hunk {
            self.apply_binary_file(file, source.as_ref(), hunk)?
        } else {
            self.apply_text_file(file, source.as_ref())?
        };
        let mut changes = ChangeSet::new();
        if file.is_delete {
            if !self.bytes(&content)?.is_empty() {
                bail!("the deletion leaves content behind: the file differs from what the patch removes");
            }
            changes.insert(
                file.old_path.clone().expect("deletion has an old path"),
                None,
            );
        } else {
            let new = file
                .new_path
                .clone()
                .context("the diff names no new file")?;
            let mode = normalize_mode(
                file.new_mode
                    .map(|m| m as i32)
                    .or(old_mode)
                    .unwrap_or(MODE_FILE),
            );
            if file.is_rename {
                if let Some(old) = &file.old_path {
                    changes.insert(old.clone(), None);
                }
            }
            changes.insert(new, Some(Entry { content, mode }));
        }
        for (path, entry) in &changes {
            self.overlay.insert(path.clone(), entry.clone());
        }
        Ok(changes)
    }
}

/// git keeps three blob modes; group-writable files become 100644.
fn normalize_mode(mode: i32) -> i32 {
    match mode {
        MODE_LINK => MODE_LINK,
        m if m & 0o111 != 0 => MODE_EXEC,
        _ => MODE_FILE,
    }
}

/// Relative, normalized paths only: no `/` at the start, no empty, `.`,
/// `..` or `.git` components.
pub fn check_path_syntax(path: &str) -> Result<()> {
    if path.starts_with('/') {
        bail!("{path:?} is an absolute path; a patch may only write inside the tree");
    }
    for part in path.split('/') {
        if part.is_empty() || part == "." || part == ".." {
            bail!("{path:?} is not a plain relative path (it has an empty, `.` or `..` part); a patch may only write inside the tree");
        }
        if part.eq_ignore_ascii_case(".git") {
            bail!("{path:?} is inside .git; a patch may not write there");
        }
        if part.contains('\0') {
            bail!("{path:?} holds a NUL byte");
        }
    }
    Ok(())
}
