//! Abbreviated object ids as git prints them on `index` lines: a minimum
//! length (a fixed one when the caller gives it, as `git -c core.abbrev=N`
//! does; else the repository's `core.abbrev`; else git's automatic length
//! from the number of packed objects, at least 7) extended until the prefix
//! is unique in the repository.

use git2::{Oid, Repository};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// The shortest length git uses when `core.abbrev` is auto.
const FALLBACK_DEFAULT_ABBREV: usize = 7;

pub struct Abbreviator<'r> {
    repo: &'r Repository,
    min_len: usize,
    cache: HashMap<Oid, String>,
}

impl<'r> Abbreviator<'r> {
    /// `fixed`: the minimum length to use whatever the repository says
    /// (clamped to 4..=40 as git clamps `core.abbrev`).
    pub fn new(repo: &'r Repository, fixed: Option<usize>) -> Abbreviator<'r> {
        let min_len = fixed
            .map(clamp_abbrev)
            .or_else(|| configured_abbrev(repo))
            .unwrap_or_else(|| auto_abbrev(repo));
        Abbreviator {
            repo,
            min_len,
            cache: HashMap::new(),
        }
    }

    /// `oid` abbreviated, unique in the object database.
    pub fn abbrev(&mut self, oid: Oid) -> String {
        if let Some(s) = self.cache.get(&oid) {
            return s.clone();
        }
        let hex = oid.to_string();
        let mut len = self.min_len.min(hex.len());
        if !oid.is_zero() {
            if let Ok(odb) = self.repo.odb() {
                while len < hex.len() {
                    let short = Oid::from_str(&hex[..len]).expect("hex prefix");
                    match odb.exists_prefix(short, len) {
                        Err(e) if e.code() == git2::ErrorCode::Ambiguous => len += 1,
                        _ => break,
                    }
                }
            }
        }
        let s = hex[..len].to_string();
        self.cache.insert(oid, s.clone());
        s
    }
}

fn configured_abbrev(repo: &Repository) -> Option<usize> {
    let config = repo.config().ok()?;
    let value = config.get_string("core.abbrev").ok()?;
    match value.as_str() {
        "no" | "false" | "off" => Some(40),
        v => v.parse::<usize>().ok().map(clamp_abbrev),
    }
}

/// git's bounds for an abbreviation length.
pub fn clamp_abbrev(n: usize) -> usize {
    n.clamp(4, 40)
}

/// git's automatic length: half the bits of the packed-object count, in hex.
fn auto_abbrev(repo: &Repository) -> usize {
    let count = packed_object_count(repo);
    let msb = if count == 0 {
        0
    } else {
        63 - count.leading_zeros() as usize
    };
    (msb + 1).div_ceil(2).max(FALLBACK_DEFAULT_ABBREV)
}

/// Objects in the repository's pack indexes (and its alternates'), as git's
/// `approximate_object_count` counts them; loose objects do not count.
fn packed_object_count(repo: &Repository) -> u64 {
    let mut dirs = vec![repo.commondir().join("objects")];
    let mut seen = Vec::new();
    let mut total = 0;
    while let Some(dir) = dirs.pop() {
        if seen.contains(&dir) {
            continue;
        }
        total += count_in_pack_dir(&dir.join("pack"));
        dirs.extend(alternates_of(&dir));
        seen.push(dir);
    }
    total
}

fn alternates_of(objects: &Path) -> Vec<PathBuf> {
    let Ok(text) = std::fs::read_to_string(objects.join("info").join("alternates")) else {
        return Vec::new();
    };
    text.lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            let p = PathBuf::from(l);
            if p.is_absolute() {
                p
            } else {
                objects.join(p)
            }
        })
        .collect()
}

fn count_in_pack_dir(pack: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(pack) else {
        return 0;
    };
    let mut midx_packs: Vec<String> = Vec::new();
    let mut total = 0;
    if let Some((count, names)) = read_midx(&pack.join("multi-pack-index")) {
        total += count;
        midx_packs = names;
    }
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(stem) = name.strip_suffix(".idx") else {
            continue;
        };
        if midx_packs
            .iter()
            .any(|p| p.trim_end_matches(".idx") == stem)
        {
            continue;
        }
        total += idx_object_count(&entry.path()).unwrap_or(0);
    }
    total
}

/// Number of objects in a version 2 pack index: the last fan-out entry.
fn idx_object_count(path: &Path) -> Option<u64> {
    use std::io::Read;
    let mut f = std::fs::File::open(path).ok()?;
    let mut head = [0u8; 8 + 256 * 4];
    f.read_exact(&mut head).ok()?;
    let fanout = if head[..4] == [0xff, b't', b'O', b'c'] {
        &head[8..]
    } else {
        &head[..1024]
    };
    let last = &fanout[255 * 4..256 * 4];
    Some(u64::from(u32::from_be_bytes([
        last[0], last[1], last[2], last[3],
    ])))
}

/// Object count and pack names of a multi-pack index.
fn read_midx(path: &Path) -> Option<(u64, Vec<String>)> {
    let data = std::fs::read(path).ok()?;
    if data.len() < 12 || &data[..4] != b"MIDX" {
        return None;
    }
    let chunks = data[6] as usize;
    let mut offsets = HashMap::new();
    for i in 0..=chunks {
        let at = 12 + i * 12;
        let id = data.get(at..at + 4)?;
        let off = u64::from_be_bytes(data.get(at + 4..at + 12)?.try_into().ok()?) as usize;
        offsets.insert(id.to_vec(), off);
    }
    let fanout = *offsets.get(b"OIDF".as_slice())?;
    let last = data.get(fanout + 255 * 4..fanout + 256 * 4)?;
    let count = u64::from(u32::from_be_bytes(last.try_into().ok()?));
    let names_at = *offsets.get(b"PNAM".as_slice())?;
    let packs = u32::from_be_bytes(data.get(8..12)?.try_into().ok()?) as usize;
    let names = data[names_at..]
        .split(|&b| b == 0)
        .take(packs)
        .map(|n| String::from_utf8_lossy(n).into_owned())
        .collect();
    Some((count, names))
}
