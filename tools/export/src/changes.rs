//! The file pairs between two trees, in git's order, with git's rename
//! detection (`diff.renames` default: exact renames, then same-basename
//! matches, then the best inexact matches of at least 50%).

use crate::similarity::{self, SpanHashes, DEFAULT_RENAME_SCORE, MAX_SCORE};
use anyhow::{bail, Context, Result};
use git2::{Oid, Repository, Tree};
use std::collections::HashMap;

/// `diff.renameLimit` default for diff and format-patch.
const RENAME_LIMIT: usize = 1000;
/// git keeps this many best sources per destination.
const CANDIDATES_PER_DST: usize = 4;

/// One side of a file pair.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Side {
    pub path: Vec<u8>,
    pub oid: Oid,
    pub mode: u32,
}

/// A changed file: added (no `old`), deleted (no `new`), modified or renamed.
#[derive(Debug, Clone)]
pub struct FilePair {
    pub old: Option<Side>,
    pub new: Option<Side>,
    /// Similarity score (of [`MAX_SCORE`]) when this is a rename.
    pub rename_score: Option<u64>,
}

impl FilePair {
    /// The path the pair is sorted and listed by.
    pub fn path(&self) -> &[u8] {
        match (&self.old, &self.new) {
            (_, Some(n)) => &n.path,
            (Some(o), None) => &o.path,
            (None, None) => b"",
        }
    }

    /// True for a file turned into a symlink or back.
    pub fn is_type_change(&self) -> bool {
        match (&self.old, &self.new) {
            (Some(o), Some(n)) => o.mode & 0o170000 != n.mode & 0o170000,
            _ => false,
        }
    }

    /// `similarity index NN%` as git rounds it.
    pub fn similarity_percent(&self) -> u64 {
        self.rename_score.unwrap_or(0) * 100 / MAX_SCORE
    }
}

const MODE_GITLINK: u32 = 0o160000;

fn is_regular(mode: u32) -> bool {
    mode & 0o170000 == 0o100000
}

/// What the attributes say about a path being binary (None: its content
/// decides).
pub type BinaryAttr<'a> = dyn FnMut(&[u8]) -> Result<Option<bool>> + 'a;

/// The changed files from `old` to `new`, renames detected.
pub fn between(
    repo: &Repository,
    old: Option<&Tree>,
    new: &Tree,
    binary_attr: &mut BinaryAttr,
) -> Result<Vec<FilePair>> {
    let mut pairs = Vec::new();
    let old_entries = match old {
        Some(t) => entries_of(t),
        None => Vec::new(),
    };
    diff_trees(repo, b"", old_entries, entries_of(new), &mut pairs)?;
    for p in &pairs {
        let gitlink = |s: &Option<Side>| s.as_ref().is_some_and(|s| s.mode == MODE_GITLINK);
        if gitlink(&p.old) || gitlink(&p.new) {
            bail!(
                "{} is a submodule; a plain-text series cannot carry submodule changes",
                String::from_utf8_lossy(p.path())
            );
        }
    }
    pairs.sort_by(|a, b| a.path().cmp(b.path()));
    detect_renames(repo, pairs, binary_attr)
}

/// A tree entry: name, id, mode.
type Entry = (Vec<u8>, Oid, u32);

const MODE_TREE: u32 = 0o040000;

fn entries_of(tree: &Tree) -> Vec<Entry> {
    tree.iter()
        .map(|e| (e.name_bytes().to_vec(), e.id(), e.filemode() as u32))
        .collect()
}

fn is_tree(mode: u32) -> bool {
    mode & 0o170000 == MODE_TREE
}

/// git's tree order: names compared as if trees ended in `/`.
fn tree_order(a: &Entry, b: &Entry) -> std::cmp::Ordering {
    let key = |e: &Entry| {
        let mut k = e.0.clone();
        if is_tree(e.2) {
            k.push(b'/');
        }
        k
    };
    key(a).cmp(&key(b))
}

fn join(prefix: &[u8], name: &[u8]) -> Vec<u8> {
    let mut p = prefix.to_vec();
    if !p.is_empty() {
        p.push(b'/');
    }
    p.extend_from_slice(name);
    p
}

fn subtree(repo: &Repository, oid: Oid) -> Result<Vec<Entry>> {
    Ok(entries_of(
        &repo
            .find_tree(oid)
            .with_context(|| format!("cannot read tree {oid}"))?,
    ))
}

/// Compares two tree levels, descending only into subtrees that differ.
fn diff_trees(
    repo: &Repository,
    prefix: &[u8],
    mut old: Vec<Entry>,
    mut new: Vec<Entry>,
    out: &mut Vec<FilePair>,
) -> Result<()> {
    old.sort_by(tree_order);
    new.sort_by(tree_order);
    let (mut i, mut j) = (0, 0);
    while i < old.len() || j < new.len() {
        let ord = match (old.get(i), new.get(j)) {
            (Some(a), Some(b)) => a.0.cmp(&b.0),
            (Some(_), None) => std::cmp::Ordering::Less,
            _ => std::cmp::Ordering::Greater,
        };
        match ord {
            std::cmp::Ordering::Less => {
                removed(repo, prefix, &old[i], out)?;
                i += 1;
            }
            std::cmp::Ordering::Greater => {
                added(repo, prefix, &new[j], out)?;
                j += 1;
            }
            std::cmp::Ordering::Equal => {
                let (a, b) = (&old[i], &new[j]);
                if a.1 != b.1 || a.2 != b.2 {
                    match (is_tree(a.2), is_tree(b.2)) {
                        (true, true) => {
                            let path = join(prefix, &a.0);
                            diff_trees(repo, &path, subtree(repo, a.1)?, subtree(repo, b.1)?, out)?;
                        }
                        (false, false) => {
                            // A type change (file <-> symlink) stays one pair,
                            // as in git: shown as a deletion and a creation.
                            out.push(FilePair {
                                old: Some(side(prefix, a)),
                                new: Some(side(prefix, b)),
                                rename_score: None,
                            });
                        }
                        _ => {
                            removed(repo, prefix, a, out)?;
                            added(repo, prefix, b, out)?;
                        }
                    }
                }
                i += 1;
                j += 1;
            }
        }
    }
    Ok(())
}

fn side(prefix: &[u8], e: &Entry) -> Side {
    Side {
        path: join(prefix, &e.0),
        oid: e.1,
        mode: e.2,
    }
}

fn added(repo: &Repository, prefix: &[u8], e: &Entry, out: &mut Vec<FilePair>) -> Result<()> {
    if is_tree(e.2) {
        return diff_trees(
            repo,
            &join(prefix, &e.0),
            Vec::new(),
            subtree(repo, e.1)?,
            out,
        );
    }
    out.push(FilePair {
        old: None,
        new: Some(side(prefix, e)),
        rename_score: None,
    });
    Ok(())
}

fn removed(repo: &Repository, prefix: &[u8], e: &Entry, out: &mut Vec<FilePair>) -> Result<()> {
    if is_tree(e.2) {
        return diff_trees(
            repo,
            &join(prefix, &e.0),
            subtree(repo, e.1)?,
            Vec::new(),
            out,
        );
    }
    out.push(FilePair {
        old: Some(side(prefix, e)),
        new: None,
        rename_score: None,
    });
    Ok(())
}

fn basename(path: &[u8]) -> &[u8] {
    match path.iter().rposition(|&b| b == b'/') {
        Some(p) => &path[p + 1..],
        None => path,
    }
}

struct Contents<'r, 'a> {
    repo: &'r Repository,
    binary_attr: &'a mut BinaryAttr<'a>,
    /// blob -> whether its first 8000 bytes hold a NUL
    nul: HashMap<Oid, bool>,
    /// (blob, hashed as text) -> (size, span hashes)
    hashes: HashMap<(Oid, bool), (u64, SpanHashes)>,
}

impl Contents<'_, '_> {
    /// Hashes a side (once) and returns its key in `hashes`. As in git,
    /// a binary file (by its attributes, else by a NUL in its first 8000
    /// bytes) is hashed with its CRs.
    fn hash(&mut self, side: &Side) -> Result<(Oid, bool)> {
        let attr = (self.binary_attr)(&side.path)?;
        let known = match attr {
            Some(binary) => Some(!binary),
            None => self.nul.get(&side.oid).map(|&nul| !nul),
        };
        if let Some(is_text) = known {
            if self.hashes.contains_key(&(side.oid, is_text)) {
                return Ok((side.oid, is_text));
            }
        }
        let blob = self
            .repo
            .find_blob(side.oid)
            .with_context(|| format!("cannot read blob {}", side.oid))?;
        let data = blob.content();
        let nul = data[..data.len().min(8000)].contains(&0);
        self.nul.insert(side.oid, nul);
        let is_text = known.unwrap_or(!nul);
        self.hashes
            .entry((side.oid, is_text))
            .or_insert_with(|| (data.len() as u64, SpanHashes::of(data, is_text)));
        Ok((side.oid, is_text))
    }

    fn score(&mut self, src: &Side, dst: &Side, minimum: u64) -> Result<u64> {
        if !is_regular(src.mode) || !is_regular(dst.mode) {
            return Ok(0);
        }
        let (s, d) = (self.hash(src)?, self.hash(dst)?);
        let (ss, src_h) = &self.hashes[&s];
        let (ds, dst_h) = &self.hashes[&d];
        Ok(similarity::score(*ss, src_h, *ds, dst_h, minimum))
    }
}

/// basename -> (first index with it, how many have it)
fn basename_counts<'a>(
    items: impl Iterator<Item = (usize, &'a Vec<u8>)>,
) -> HashMap<Vec<u8>, (usize, usize)> {
    let mut m: HashMap<Vec<u8>, (usize, usize)> = HashMap::new();
    for (i, path) in items {
        let e = m.entry(basename(path).to_vec()).or_insert((i, 0));
        e.1 += 1;
    }
    m
}

fn detect_renames(
    repo: &Repository,
    pairs: Vec<FilePair>,
    binary_attr: &mut BinaryAttr,
) -> Result<Vec<FilePair>> {
    let srcs: Vec<usize> = (0..pairs.len())
        .filter(|&i| pairs[i].new.is_none())
        .collect();
    let dsts: Vec<usize> = (0..pairs.len())
        .filter(|&i| pairs[i].old.is_none())
        .collect();
    if srcs.is_empty() || dsts.is_empty() {
        return Ok(pairs);
    }
    // dst index in `pairs` -> (src index in `pairs`, score)
    let mut found: HashMap<usize, (usize, u64)> = HashMap::new();
    let mut used = vec![false; pairs.len()];
    let old = |i: usize| pairs[i].old.as_ref().expect("a source");
    let new = |i: usize| pairs[i].new.as_ref().expect("a destination");

    // 1. Exact renames: same blob, preferring the same basename.
    for &d in &dsts {
        let dst = new(d);
        let mut best: Option<(usize, u32)> = None;
        for &s in &srcs {
            let src = old(s);
            if used[s] || src.oid != dst.oid || is_regular(src.mode) != is_regular(dst.mode) {
                continue;
            }
            let score = 1 + u32::from(basename(&src.path) == basename(&dst.path));
            if best.is_none_or(|(_, b)| score > b) {
                best = Some((s, score));
            }
        }
        if let Some((s, _)) = best {
            used[s] = true;
            found.insert(d, (s, MAX_SCORE));
        }
    }

    let mut contents = Contents {
        repo,
        binary_attr,
        nul: HashMap::new(),
        hashes: HashMap::new(),
    };
    let left_src: Vec<usize> = srcs.iter().copied().filter(|&s| !used[s]).collect();
    let left_dst: Vec<usize> = dsts
        .iter()
        .copied()
        .filter(|d| !found.contains_key(d))
        .collect();

    // 2. Files whose basename is unique on both sides, at 75% or more.
    let min_basename = DEFAULT_RENAME_SCORE + (MAX_SCORE - DEFAULT_RENAME_SCORE) / 2;
    let src_names = basename_counts(left_src.iter().map(|&s| (s, &old(s).path)));
    let dst_names = basename_counts(left_dst.iter().map(|&d| (d, &new(d).path)));
    for &d in &left_dst {
        let name = basename(&new(d).path).to_vec();
        let (Some(&(s, 1)), Some(&(_, 1))) = (src_names.get(&name), dst_names.get(&name)) else {
            continue;
        };
        let score = contents.score(old(s), new(d), min_basename)?;
        if score >= min_basename {
            used[s] = true;
            found.insert(d, (s, score));
        }
    }

    // 3. The best remaining matches of at least 50%.
    let left_src: Vec<usize> = left_src.into_iter().filter(|&s| !used[s]).collect();
    let left_dst: Vec<usize> = left_dst
        .into_iter()
        .filter(|d| !found.contains_key(d))
        .collect();
    if !left_src.is_empty()
        && !left_dst.is_empty()
        && left_src.len() * left_dst.len() <= RENAME_LIMIT * RENAME_LIMIT
    {
        // (score, same basename, dst, src)
        let mut matrix: Vec<(u64, bool, usize, usize)> = Vec::new();
        for &d in &left_dst {
            let mut best: Vec<(u64, bool, usize, usize)> = Vec::new();
            for &s in &left_src {
                let score = contents.score(old(s), new(d), DEFAULT_RENAME_SCORE)?;
                if score < DEFAULT_RENAME_SCORE {
                    continue;
                }
                let same = basename(&old(s).path) == basename(&new(d).path);
                best.push((score, same, d, s));
                best.sort_by_key(|e| std::cmp::Reverse(e.0));
                best.truncate(CANDIDATES_PER_DST);
            }
            matrix.extend(best);
        }
        matrix.sort_by(|a, b| b.0.cmp(&a.0).then(b.1.cmp(&a.1)));
        for (score, _, d, s) in matrix {
            if used[s] || found.contains_key(&d) {
                continue;
            }
            used[s] = true;
            found.insert(d, (s, score));
        }
    }

    let mut out = Vec::with_capacity(pairs.len());
    for (i, pair) in pairs.iter().enumerate() {
        if used[i] {
            continue;
        }
        match found.get(&i) {
            Some(&(s, score)) => out.push(FilePair {
                old: pairs[s].old.clone(),
                new: pair.new.clone(),
                rename_score: Some(score),
            }),
            None => out.push(pair.clone()),
        }
    }
    Ok(out)
}
