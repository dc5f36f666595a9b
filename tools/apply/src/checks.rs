//! What must hold before a series is applied: a repository in a normal
//! state with a clean index and work tree, and a base of the expected
//! kernel version.

use anyhow::{bail, Context, Result};
use git2::{AttrCheckFlags, AttrValue, Commit, Repository, RepositoryState, StatusOptions};
use std::borrow::Cow;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Refuses a repository in the middle of a merge/rebase/am, or whose
/// index or work tree differs from HEAD (untracked files are allowed).
pub fn ensure_clean(repo: &Repository) -> Result<()> {
    let workdir = repo
        .workdir()
        .context("the repository is bare; apply needs a work tree")?;
    if repo.state() != RepositoryState::Clean {
        bail!(
            "{} is in the middle of a {:?}; finish or abort it first",
            workdir.display(),
            repo.state()
        );
    }
    let mut opts = StatusOptions::new();
    opts.include_untracked(false)
        .include_ignored(false)
        .exclude_submodules(true);
    let statuses = repo
        .statuses(Some(&mut opts))
        .context("cannot read the status of the tree")?;
    let dirty: Vec<String> = statuses
        .iter()
        .filter(|s| !s.status().is_empty() && !s.status().is_ignored())
        .map(|s| s.path().unwrap_or("?").to_string())
        .collect();
    if !dirty.is_empty() {
        let shown: Vec<&str> = dirty.iter().take(5).map(String::as_str).collect();
        bail!(
            "the tree {} has uncommitted changes ({}{}); commit or discard them first (see `git -C {} status`)",
            workdir.display(),
            shown.join(", "),
            if dirty.len() > 5 { ", ..." } else { "" },
            workdir.display()
        );
    }
    Ok(())
}

/// `VERSION.PATCHLEVEL.SUBLEVEL` from the top Makefile of `commit`.
pub fn kernel_version(repo: &Repository, commit: &Commit) -> Result<String> {
    let tree = commit.tree()?;
    let entry = tree
        .get_path(std::path::Path::new("Makefile"))
        .context("the tree has no top-level Makefile, so its kernel version is unknown")?;
    let blob = repo.find_blob(entry.id())?;
    let text = String::from_utf8_lossy(blob.content());
    let field = |name: &str| -> Result<String> {
        text.lines()
            .filter_map(|l| l.split_once('='))
            .find(|(k, _)| k.trim() == name)
            .map(|(_, v)| v.trim().to_string())
            .with_context(|| format!("the Makefile has no `{name} =` line"))
    };
    Ok(format!(
        "{}.{}.{}",
        field("VERSION")?,
        field("PATCHLEVEL")?,
        field("SUBLEVEL")?
    ))
}

/// The words an attribute file must hold to set `text` or `eol` on a path:
/// the attributes themselves, the `binary` macro (which unsets `text`),
/// the old `crlf` attribute and macro definitions.
const LINE_END_WORDS: &[&[u8]] = &[b"text", b"eol", b"crlf", b"binary", b"[attr]"];

fn mentions_line_ends(data: &[u8]) -> bool {
    LINE_END_WORDS
        .iter()
        .any(|w| data.windows(w.len()).any(|win| win == *w))
}

/// An attribute file, if it exists: does it mention a line-end word? A
/// file that cannot be read counts as mentioning one.
fn file_mentions_line_ends(path: &Path) -> Option<bool> {
    match std::fs::symlink_metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Ok(m) if m.is_file() => Some(std::fs::read(path).map_or(true, |d| mentions_line_ends(&d))),
        _ => Some(true),
    }
}

/// What git's checkout writes for a blob: line ends converted to CRLF when
/// `.gitattributes` asks for it (`eol=crlf`, `text` with `core.eol=crlf`,
/// or `core.autocrlf=true`); the bytes as they are otherwise.
///
/// The configuration is read once. The `text` and `eol` attributes are
/// looked up through libgit2 (slow: it resolves the real path of every
/// file) only for paths that an attribute file mentioning them could
/// reach; for the others both are unspecified, which is what libgit2
/// would answer.
pub struct WorktreeFilter<'r> {
    repo: &'r Repository,
    autocrlf: String,
    core_eol: String,
    /// Look up every path (the series changes a .gitattributes file, or
    /// a file outside the tree may set the attributes).
    lookup_all: bool,
    /// Directory ("" for the top) -> whether the .gitattributes of it or
    /// of a directory above mentions a line-end word.
    dirs: HashMap<String, bool>,
    index: Option<git2::Index>,
}

impl<'r> WorktreeFilter<'r> {
    /// `lookup_all`: the attribute files may change while files are
    /// written, so every path is looked up as it is written.
    pub fn new(repo: &'r Repository, lookup_all: bool) -> Result<WorktreeFilter<'r>> {
        let config = repo.config().context("cannot read the git configuration")?;
        let autocrlf = config.get_string("core.autocrlf").unwrap_or_default();
        let core_eol = config.get_string("core.eol").unwrap_or_default();
        let outside = outside_attribute_files(repo, &config)
            .iter()
            .any(|p| file_mentions_line_ends(p).unwrap_or(false));
        Ok(WorktreeFilter {
            repo,
            autocrlf,
            core_eol,
            lookup_all: lookup_all || outside,
            dirs: HashMap::new(),
            index: None,
        })
    }

    /// The bytes of `data` as git writes them to `path` in the work tree.
    pub fn bytes<'a>(&mut self, path: &str, data: &'a [u8]) -> Result<Cow<'a, [u8]>> {
        let dir = path.rsplit_once('/').map_or("", |(d, _)| d);
        let (text, eol) = if self.lookup_all || self.dir_mentions(dir)? {
            (self.attr(path, "text")?, self.attr(path, "eol")?)
        } else {
            (AttrValue::Unspecified, AttrValue::Unspecified)
        };
        Ok(convert(text, eol, &self.autocrlf, &self.core_eol, data))
    }

    fn attr(&self, path: &str, name: &str) -> Result<AttrValue<'static>> {
        let value = self
            .repo
            .get_attr_bytes(Path::new(path), name, AttrCheckFlags::FILE_THEN_INDEX)
            .with_context(|| format!("cannot read the {name} attribute of {path}"))?;
        Ok(match AttrValue::from_bytes(value) {
            AttrValue::True => AttrValue::True,
            AttrValue::False => AttrValue::False,
            AttrValue::Unspecified => AttrValue::Unspecified,
            AttrValue::String("auto") => AttrValue::String("auto"),
            AttrValue::String("crlf") => AttrValue::String("crlf"),
            AttrValue::String("lf") => AttrValue::String("lf"),
            _ => AttrValue::Unspecified,
        })
    }

    /// Whether the .gitattributes of `dir` or of a directory above it
    /// mentions a line-end word.
    fn dir_mentions(&mut self, dir: &str) -> Result<bool> {
        if let Some(&known) = self.dirs.get(dir) {
            return Ok(known);
        }
        let above = match dir.rsplit_once('/') {
            Some((parent, _)) => self.dir_mentions(parent)?,
            None if dir.is_empty() => false,
            None => self.dir_mentions("")?,
        };
        let known = above || self.own_file_mentions(dir)?;
        self.dirs.insert(dir.to_string(), known);
        Ok(known)
    }

    /// As libgit2 reads it: the work tree's file, else the index's.
    fn own_file_mentions(&mut self, dir: &str) -> Result<bool> {
        let name = if dir.is_empty() {
            ".gitattributes".to_string()
        } else {
            format!("{dir}/.gitattributes")
        };
        let workdir = self
            .repo
            .workdir()
            .context("the repository has no work tree")?;
        if let Some(m) = file_mentions_line_ends(&workdir.join(&name)) {
            return Ok(m);
        }
        if self.index.is_none() {
            self.index = Some(self.repo.index().context("cannot read the index")?);
        }
        let index = self.index.as_ref().expect("the index was just read");
        Ok(match index.get_path(Path::new(&name), 0) {
            None => false,
            Some(entry) => self
                .repo
                .find_blob(entry.id)
                .map_or(true, |b| mentions_line_ends(b.content())),
        })
    }
}

/// The attribute files libgit2 reads besides the tree's: the
/// repository's info/attributes, the user's and the system's.
fn outside_attribute_files(repo: &Repository, config: &git2::Config) -> Vec<PathBuf> {
    let mut files = vec![
        repo.path().join("info").join("attributes"),
        repo.commondir().join("info").join("attributes"),
        PathBuf::from("/etc/gitattributes"),
    ];
    let home = std::env::var_os("HOME").map(PathBuf::from);
    match config.get_path("core.attributesfile") {
        Ok(p) => files.push(p),
        Err(_) => match std::env::var_os("XDG_CONFIG_HOME").filter(|v| !v.is_empty()) {
            Some(xdg) => files.push(PathBuf::from(xdg).join("git").join("attributes")),
            None => files.extend(home.map(|h| h.join(".config").join("git").join("attributes"))),
        },
    }
    files
}

/// git's conversion for checkout, given the `text` and `eol` attributes
/// and the `core.autocrlf` and `core.eol` settings.
fn convert<'a>(
    text: AttrValue,
    eol: AttrValue,
    autocrlf: &str,
    core_eol: &str,
    data: &'a [u8],
) -> Cow<'a, [u8]> {
    // Is the file text, and may git decide by its content (auto)?
    let (is_text, auto) = match text {
        AttrValue::False => return Cow::Borrowed(data),
        AttrValue::True => (true, false),
        AttrValue::String("auto") => (true, true),
        _ if eol != AttrValue::Unspecified => (true, false),
        _ if autocrlf == "true" || autocrlf == "input" => (true, true),
        _ => (false, false),
    };
    let crlf = match eol {
        AttrValue::String("crlf") => true,
        AttrValue::String("lf") => false,
        _ if autocrlf == "true" => true,
        _ if autocrlf == "input" => false,
        _ => core_eol == "crlf",
    };
    if !is_text || !crlf || !data.contains(&b'\n') {
        return Cow::Borrowed(data);
    }
    // As git: in auto mode a file that looks binary or already holds a CR
    // is left alone.
    if auto && (data.contains(&0) || data.contains(&b'\r')) {
        return Cow::Borrowed(data);
    }
    let mut out = Vec::with_capacity(data.len() + data.len() / 16);
    for (i, &b) in data.iter().enumerate() {
        if b == b'\n' && (i == 0 || data[i - 1] != b'\r') {
            out.push(b'\r');
        }
        out.push(b);
    }
    Cow::Owned(out)
}
