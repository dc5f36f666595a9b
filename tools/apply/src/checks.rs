//! What must hold before a series is applied: a repository in a normal
//! state with a clean index and work tree, and a base of the expected
//! kernel version.

use anyhow::{bail, Context, Result};
use git2::{Commit, Repository, RepositoryState, StatusOptions};

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

/// What git's checkout writes for a blob: line ends converted to CRLF when
/// `.gitattributes` asks for it (`eol=crlf`, `text` with `core.eol=crlf`,
/// or `core.autocrlf=true`); the bytes as they are otherwise.
pub fn worktree_bytes<'a>(
    repo: &Repository,
    path: &str,
    data: &'a [u8],
) -> Result<std::borrow::Cow<'a, [u8]>> {
    use git2::{AttrCheckFlags, AttrValue};
    use std::borrow::Cow;
    let attr = |name: &str| -> Result<AttrValue<'static>> {
        let value = repo
            .get_attr_bytes(
                std::path::Path::new(path),
                name,
                AttrCheckFlags::FILE_THEN_INDEX,
            )
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
    };
    let config = repo.config().context("cannot read the git configuration")?;
    let autocrlf = config.get_string("core.autocrlf").unwrap_or_default();
    let core_eol = config.get_string("core.eol").unwrap_or_default();
    let (text, eol) = (attr("text")?, attr("eol")?);
    // Is the file text, and may git decide by its content (auto)?
    let (is_text, auto) = match text {
        AttrValue::False => return Ok(Cow::Borrowed(data)),
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
        return Ok(Cow::Borrowed(data));
    }
    // As git: in auto mode a file that looks binary or already holds a CR
    // is left alone.
    if auto && (data.contains(&0) || data.contains(&b'\r')) {
        return Ok(Cow::Borrowed(data));
    }
    let mut out = Vec::with_capacity(data.len() + data.len() / 16);
    for (i, &b) in data.iter().enumerate() {
        if b == b'\n' && (i == 0 || data[i - 1] != b'\r') {
            out.push(b'\r');
        }
        out.push(b);
    }
    Ok(Cow::Owned(out))
}
