//! The `diff --git` text of one file pair, as `git format-patch` writes it.

use crate::abbrev::Abbreviator;
use crate::changes::{FilePair, Side};
use crate::funcname::{self, DiffAttr, Driver};
use crate::quote::{quote_c_style, quote_prefixed};
use anyhow::{bail, Context, Result};
use git2::{DiffOptions, Patch, Repository};

/// The diff text of a pair and its line counts (for the diffstat).
pub struct RenderedPair {
    pub text: Vec<u8>,
    pub added: usize,
    pub deleted: usize,
}

/// git looks for a NUL in this many leading bytes to call a file binary.
const FIRST_FEW_BYTES: usize = 8000;

fn content(repo: &Repository, side: Option<&Side>) -> Result<Vec<u8>> {
    match side {
        None => Ok(Vec::new()),
        Some(s) => Ok(repo
            .find_blob(s.oid)
            .with_context(|| format!("cannot read blob {} ({})", s.oid, show(&s.path)))?
            .content()
            .to_vec()),
    }
}

fn show(path: &[u8]) -> String {
    String::from_utf8_lossy(path).into_owned()
}

fn driver_for(repo: &Repository, side: &Side, data: &[u8]) -> Result<Driver> {
    let binary = |why: &str| {
        bail!(
            "{} is binary ({why}); the series must be plain text: \
             drop the binary change from the commit",
            show(&side.path)
        )
    };
    if data[..data.len().min(FIRST_FEW_BYTES)].contains(&0) {
        return binary("it holds NUL bytes");
    }
    match funcname::diff_attr(repo, &side.path)? {
        DiffAttr::Binary => binary("its diff attribute says so"),
        DiffAttr::Text(d) => Ok(d),
    }
}

fn split_lines(data: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut start = 0;
    for (i, &b) in data.iter().enumerate() {
        if b == b'\n' {
            out.push(&data[start..=i]);
            start = i + 1;
        }
    }
    if start < data.len() {
        out.push(&data[start..]);
    }
    out
}

fn range(start: u32, count: u32) -> String {
    if count == 1 {
        format!("{start}")
    } else {
        format!("{start},{count}")
    }
}

/// Renders `pair` (only its line counts when `abbrev` is None, as for the
/// cover letter's diffstat); fails on binary content.
pub fn render(
    repo: &Repository,
    mut abbrev: Option<&mut Abbreviator>,
    pair: &FilePair,
) -> Result<RenderedPair> {
    if pair.is_type_change() && pair.rename_score.is_none() {
        let gone = FilePair {
            new: None,
            ..pair.clone()
        };
        let born = FilePair {
            old: None,
            ..pair.clone()
        };
        let mut first = render(repo, abbrev.as_deref_mut(), &gone)?;
        let second = render(repo, abbrev, &born)?;
        first.text.extend(second.text);
        first.added += second.added;
        first.deleted += second.deleted;
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
    let old_data = content(repo, old)?;
    let new_data = content(repo, new)?;
    let driver = driver_for(repo, a, &old_data)?;
    if new.is_some() {
        driver_for(repo, b, &new_data)?;
    }

    let mut text = Vec::new();
    text.extend_from_slice(b"diff --git ");
    text.extend(quote_prefixed("a/", &a.path));
    text.push(b' ');
    text.extend(quote_prefixed("b/", &b.path));
    text.push(b'\n');
    match (old, new) {
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
    let old_oid = old.map_or(git2::Oid::zero(), |s| s.oid);
    let new_oid = new.map_or(git2::Oid::zero(), |s| s.oid);
    let Some(abbrev) = abbrev else {
        let (added, deleted) = line_counts(&old_data, &new_data)?;
        return Ok(RenderedPair {
            text: Vec::new(),
            added,
            deleted,
        });
    };
    if old_oid != new_oid {
        text.extend(
            format!(
                "index {}..{}",
                abbrev.abbrev(old_oid),
                abbrev.abbrev(new_oid)
            )
            .bytes(),
        );
        let (om, nm) = (old.map_or(0, |s| s.mode), new.map_or(0, |s| s.mode));
        if om == nm {
            text.extend(format!(" {om:06o}").bytes());
        }
        text.push(b'\n');
    }

    let patch = diff_buffers(&old_data, &new_data)?;
    let (mut added, mut deleted) = (0, 0);
    if patch.num_hunks() > 0 {
        label_line(&mut text, "--- ", "a/", old.map(|s| s.path.as_slice()));
        label_line(&mut text, "+++ ", "b/", new.map(|s| s.path.as_slice()));
    }
    let old_lines = split_lines(&old_data);
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
            text.push(origin as u8);
            text.extend_from_slice(line.content());
            if !line.content().ends_with(b"\n") {
                text.extend_from_slice(b"\n\\ No newline at end of file\n");
            }
        }
    }
    Ok(RenderedPair {
        text,
        added,
        deleted,
    })
}

fn diff_buffers<'a>(old: &'a [u8], new: &'a [u8]) -> Result<Patch<'a>> {
    let mut opts = DiffOptions::new();
    opts.context_lines(3)
        .interhunk_lines(0)
        .indent_heuristic(true)
        .force_text(true);
    Ok(Patch::from_buffers(old, None, new, None, Some(&mut opts))?)
}

fn line_counts(old: &[u8], new: &[u8]) -> Result<(usize, usize)> {
    if old == new {
        return Ok((0, 0));
    }
    let (_, added, deleted) = diff_buffers(old, new)?.line_stats()?;
    Ok((added, deleted))
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
