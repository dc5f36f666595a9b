//! The `diff --git` text of one file pair, as `git format-patch` writes it.

use crate::abbrev::Abbreviator;
use crate::binary;
use crate::changes::{FilePair, Side};
use crate::funcname::{self, DiffAttr, Driver};
use crate::quote::{quote_c_style, quote_prefixed};
use anyhow::{anyhow, bail, Context, Result};
use git2::{Blob, DiffOptions, Patch, Repository};
use std::collections::HashMap;
use std::path::Path;

/// The diff text of a pair and its line counts (for the diffstat; for a
/// binary file its new and old size in bytes).
pub struct RenderedPair {
    pub text: Vec<u8>,
    pub added: usize,
    pub deleted: usize,
    pub binary: bool,
}

/// git looks for a NUL in this many leading bytes to call a file binary.
const FIRST_FEW_BYTES: usize = 8000;

fn show(path: &[u8]) -> String {
    String::from_utf8_lossy(path).into_owned()
}

/// Renders file pairs. Remembers the `diff` attribute of every path: the
/// attribute files do not change during an export, and each libgit2
/// lookup resolves the real path of the file again.
pub struct Renderer<'r> {
    repo: &'r Repository,
    /// The same object database without a work tree or configuration:
    /// libgit2 looks up the diff attributes of a blob's path in its
    /// owner, which costs a lookup for every diff; of this repository's
    /// blobs it looks up nothing.
    objects: Repository,
    /// The configuration, read once (for the diff drivers).
    config: git2::Config,
    /// The zlib level of binary patches.
    level: i32,
    attrs: HashMap<Vec<u8>, DiffAttr>,
}

/// The `diff` attribute of `path`, remembered in `attrs`.
fn attr_of(
    repo: &Repository,
    config: &git2::Config,
    attrs: &mut HashMap<Vec<u8>, DiffAttr>,
    path: &[u8],
) -> Result<DiffAttr> {
    if let Some(attr) = attrs.get(path) {
        return Ok(attr.clone());
    }
    let attr = funcname::diff_attr(repo, config, path)?;
    attrs.insert(path.to_vec(), attr.clone());
    Ok(attr)
}

/// git's decision: the attribute's, else whether the first 8000 bytes
/// hold a NUL.
fn is_binary(attr: &DiffAttr, data: &[u8]) -> bool {
    attr.binary
        .unwrap_or_else(|| data[..data.len().min(FIRST_FEW_BYTES)].contains(&0))
}

impl<'r> Renderer<'r> {
    pub fn new(repo: &'r Repository) -> Result<Renderer<'r>> {
        let objects = Repository::from_odb(repo.odb()?)?;
        let config = repo
            .config()
            .and_then(|mut c| c.snapshot())
            .context("cannot read the git configuration")?;
        Ok(Renderer {
            repo,
            objects,
            level: binary::compression_level(&config)?,
            config,
            attrs: HashMap::new(),
        })
    }

    /// Whether the attributes make `path` binary (Some) or leave it to
    /// the content (None).
    pub fn binary_attr(&mut self, path: &[u8]) -> Result<Option<bool>> {
        Ok(attr_of(self.repo, &self.config, &mut self.attrs, path)?.binary)
    }

    /// Renders `pair` (only its line counts when `abbrev` is None, as for
    /// the cover letter's diffstat).
    pub fn render(
        &mut self,
        abbrev: Option<&mut Abbreviator>,
        pair: &FilePair,
    ) -> Result<RenderedPair> {
        self.render_pair(abbrev, pair, true)
    }

    /// `split`: a file turned into a symbolic link (or back) is shown as
    /// a deletion and a creation.
    fn render_pair(
        &mut self,
        mut abbrev: Option<&mut Abbreviator>,
        pair: &FilePair,
        split: bool,
    ) -> Result<RenderedPair> {
        if split && pair.is_type_change() && pair.rename_score.is_none() {
            let gone = FilePair {
                new: None,
                ..pair.clone()
            };
            let born = FilePair {
                old: None,
                ..pair.clone()
            };
            // The text shows a deletion and a creation, the diffstat
            // counts the pair as one change, as git does.
            let mut first = self.render(abbrev.as_deref_mut(), &gone)?;
            let second = self.render(abbrev, &born)?;
            first.text.extend(second.text);
            let whole = self.render_pair(None, pair, false)?;
            first.added = whole.added;
            first.deleted = whole.deleted;
            first.binary = whole.binary;
            return Ok(first);
        }
        let old = pair.old.as_ref();
        let new = pair.new.as_ref();
        let (a, b) = match (old, new) {
            (Some(o), Some(n)) => (o, n),
            (Some(o), None) => (o, o),
            (None, Some(n)) => (n, n),
            (None, None) => bail!("empty file pair"),
        };
        let old_blob = blob(&self.objects, old)?;
        let new_blob = blob(&self.objects, new)?;
        let old_data = old_blob.as_ref().map_or(&[][..], |b| b.content());
        let new_data = new_blob.as_ref().map_or(&[][..], |b| b.content());
        // As git: each side by its own path's attribute (a missing side
        // has no content but its path).
        let a_attr = attr_of(self.repo, &self.config, &mut self.attrs, &a.path)?;
        let b_attr = attr_of(self.repo, &self.config, &mut self.attrs, &b.path)?;
        let binary = is_binary(&a_attr, old_data) || is_binary(&b_attr, new_data);
        let old_oid = old.map_or(git2::Oid::zero(), |s| s.oid);
        let new_oid = new.map_or(git2::Oid::zero(), |s| s.oid);
        // A binary file counts its sizes, none when it did not change.
        let sizes = || {
            if old_oid == new_oid {
                (0, 0)
            } else {
                (new_data.len(), old_data.len())
            }
        };
        let driver = if binary {
            Driver::Default
        } else {
            b_attr.driver.map_err(|e| anyhow!(e))?;
            a_attr.driver.map_err(|e| anyhow!(e))?
        };

        let Some(abbrev) = abbrev else {
            let (added, deleted) = if binary {
                sizes()
            } else {
                line_counts(old_blob.as_ref(), new_blob.as_ref())?
            };
            return Ok(RenderedPair {
                text: Vec::new(),
                added,
                deleted,
                binary,
            });
        };
        let mut text = header(pair, a, b);
        if old_oid != new_oid {
            // The ids of a binary file are written in full, as git does
            // when it writes binary patches.
            let mut id = |oid: git2::Oid| {
                if binary {
                    oid.to_string()
                } else {
                    abbrev.abbrev(oid)
                }
            };
            text.extend(format!("index {}..{}", id(old_oid), id(new_oid)).bytes());
            let (om, nm) = (old.map_or(0, |s| s.mode), new.map_or(0, |s| s.mode));
            if om == nm {
                text.extend(format!(" {om:06o}").bytes());
            }
            text.push(b'\n');
        }
        if binary {
            if old_data != new_data {
                text.extend(
                    binary::patch(old_data, new_data, self.level).with_context(|| {
                        format!("cannot write the binary patch of {}", show(&b.path))
                    })?,
                );
            }
            let (added, deleted) = sizes();
            return Ok(RenderedPair {
                text,
                added,
                deleted,
                binary,
            });
        }

        let labels = |text: &mut Vec<u8>| {
            label_line(text, "--- ", "a/", old.map(|s| s.path.as_slice()));
            label_line(text, "+++ ", "b/", new.map(|s| s.path.as_slice()));
        };
        let (added, deleted) = match (&old_blob, &new_blob) {
            (Some(o), Some(n)) => {
                let patch = diff_blobs(o, n)?;
                if patch.num_hunks() > 0 {
                    labels(&mut text);
                }
                hunks_text(&mut text, &patch, driver, old_data)?
            }
            // A whole file added or removed is one hunk without function
            // text; libgit2 is not needed for it.
            (None, _) => {
                let n = whole_file_hunk(&mut text, b'+', new_data, labels);
                (n, 0)
            }
            (_, None) => {
                let n = whole_file_hunk(&mut text, b'-', old_data, labels);
                (0, n)
            }
        };
        Ok(RenderedPair {
            text,
            added,
            deleted,
            binary,
        })
    }
}

fn blob<'a>(objects: &'a Repository, side: Option<&Side>) -> Result<Option<Blob<'a>>> {
    side.map(|s| {
        objects
            .find_blob(s.oid)
            .with_context(|| format!("cannot read blob {} ({})", s.oid, show(&s.path)))
    })
    .transpose()
}

/// `diff --git` and the lines about modes and renames.
fn header(pair: &FilePair, a: &Side, b: &Side) -> Vec<u8> {
    let mut text = Vec::new();
    text.extend_from_slice(b"diff --git ");
    text.extend(quote_prefixed("a/", &a.path));
    text.push(b' ');
    text.extend(quote_prefixed("b/", &b.path));
    text.push(b'\n');
    match (&pair.old, &pair.new) {
        (None, Some(n)) => text.extend(format!("new file mode {:06o}\n", n.mode).bytes()),
        (Some(o), None) => text.extend(format!("deleted file mode {:06o}\n", o.mode).bytes()),
        (Some(o), Some(n)) if o.mode != n.mode => {
            text.extend(format!("old mode {:06o}\nnew mode {:06o}\n", o.mode, n.mode).bytes())
        }
        _ => {}
    }
    if pair.rename_score.is_some() {
        text.extend(
            format!(
                "similarity index {}%\nrename from ",
                pair.similarity_percent()
            )
            .bytes(),
        );
        text.extend(quote_c_style(&a.path));
        text.extend_from_slice(b"\nrename to ");
        text.extend(quote_c_style(&b.path));
        text.push(b'\n');
    }
    text
}

fn split_lines(data: &[u8]) -> Vec<&[u8]> {
    data.split_inclusive(|&b| b == b'\n').collect()
}

fn range(start: u32, count: u32) -> String {
    if count == 1 {
        format!("{start}")
    } else {
        format!("{start},{count}")
    }
}

/// One line of a hunk, with git's marker for a last line without newline.
fn hunk_line(text: &mut Vec<u8>, origin: u8, line: &[u8]) {
    text.push(origin);
    text.extend_from_slice(line);
    if !line.ends_with(b"\n") {
        text.extend_from_slice(b"\n\\ No newline at end of file\n");
    }
}

/// The hunks of `patch` with their function text; returns the lines
/// added and deleted.
fn hunks_text(
    text: &mut Vec<u8>,
    patch: &Patch,
    driver: Driver,
    old_data: &[u8],
) -> Result<(usize, usize)> {
    let (mut added, mut deleted) = (0, 0);
    let old_lines = split_lines(old_data);
    for h in 0..patch.num_hunks() {
        let (hunk, n_lines) = patch.hunk(h)?;
        let s1 = if hunk.old_lines() > 0 {
            hunk.old_start() as usize - 1
        } else {
            hunk.old_start() as usize
        };
        let func = funcname::find_above(driver, &old_lines, s1.checked_sub(1));
        text.extend(
            format!(
                "@@ -{} +{} @@",
                range(hunk.old_start(), hunk.old_lines()),
                range(hunk.new_start(), hunk.new_lines())
            )
            .bytes(),
        );
        if !func.is_empty() {
            text.push(b' ');
            text.extend(func);
        }
        text.push(b'\n');
        for l in 0..n_lines {
            let line = patch.line_in_hunk(h, l)?;
            let origin = line.origin();
            match origin {
                '+' => added += 1,
                '-' => deleted += 1,
                ' ' => {}
                _ => continue,
            }
            hunk_line(text, origin as u8, line.content());
        }
    }
    Ok((added, deleted))
}

/// `@@ -0,0 +1,N @@` and every line of `data` marked `origin` (`+` for
/// a new file, `-` for a deleted one); nothing for an empty file.
/// Returns the number of lines.
fn whole_file_hunk(
    text: &mut Vec<u8>,
    origin: u8,
    data: &[u8],
    labels: impl FnOnce(&mut Vec<u8>),
) -> usize {
    if data.is_empty() {
        return 0;
    }
    labels(text);
    let lines = split_lines(data);
    let n = lines.len() as u32;
    let (old, new) = if origin == b'+' {
        ("0,0".to_string(), range(1, n))
    } else {
        (range(1, n), "0,0".to_string())
    };
    text.extend(format!("@@ -{old} +{new} @@\n").bytes());
    for line in &lines {
        hunk_line(text, origin, line);
    }
    lines.len()
}

fn diff_options() -> DiffOptions {
    let mut opts = DiffOptions::new();
    opts.context_lines(3)
        .interhunk_lines(0)
        .indent_heuristic(true)
        .force_text(true);
    opts
}

/// The diff of two blobs. From the blobs rather than from their bytes,
/// so that libgit2 neither copies nor hashes them; without paths, so
/// that it looks up no attributes (the function text is ours).
fn diff_blobs<'a>(old: &'a Blob, new: &'a Blob) -> Result<Patch<'a>> {
    // An empty path, not none: for none libgit2 takes the name "file"
    // and looks up its attributes.
    let nameless = Some(Path::new(""));
    Ok(Patch::from_blobs(
        old,
        nameless,
        new,
        nameless,
        Some(&mut diff_options()),
    )?)
}

fn line_counts(old: Option<&Blob>, new: Option<&Blob>) -> Result<(usize, usize)> {
    let lines = |b: &Blob| b.content().split_inclusive(|&c| c == b'\n').count();
    Ok(match (old, new) {
        (Some(o), Some(n)) if o.id() == n.id() => (0, 0),
        (Some(o), Some(n)) => {
            let (_, added, deleted) = diff_blobs(o, n)?.line_stats()?;
            (added, deleted)
        }
        (None, Some(n)) => (lines(n), 0),
        (Some(o), None) => (0, lines(o)),
        (None, None) => (0, 0),
    })
}

/// `--- a/path` (a tab after names with a space, as git does) or `/dev/null`.
fn label_line(text: &mut Vec<u8>, marker: &str, prefix: &str, path: Option<&[u8]>) {
    text.extend_from_slice(marker.as_bytes());
    match path {
        None => text.extend_from_slice(b"/dev/null"),
        Some(p) => {
            text.extend(quote_prefixed(prefix, p));
            if p.contains(&b' ') {
                text.push(b'\t');
            }
        }
    }
    text.push(b'\n');
}
