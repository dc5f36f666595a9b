//! git's rename similarity score (diffcore-delta): both files are cut into
//! chunks (a line, or 64 bytes), the chunks are hashed, and the score is the
//! share of the larger file's bytes found in chunks the source also has.

use std::collections::HashMap;

/// git's `MAX_SCORE`: 100% similarity.
pub const MAX_SCORE: u64 = 60_000;
/// The default rename threshold, 50%.
pub const DEFAULT_RENAME_SCORE: u64 = 30_000;
const HASHBASE: u32 = 107_927;

/// Bytes per chunk hash of one file.
pub struct SpanHashes(HashMap<u32, u64>);

impl SpanHashes {
    pub fn of(data: &[u8], is_text: bool) -> SpanHashes {
        let mut map: HashMap<u32, u64> = HashMap::new();
        let (mut accum1, mut accum2, mut n) = (0u32, 0u32, 0u64);
        let mut i = 0;
        while i < data.len() {
            let c = u32::from(data[i]);
            i += 1;
            if is_text && c == u32::from(b'\r') && data.get(i) == Some(&b'\n') {
                continue;
            }
            let old1 = accum1;
            accum1 = (accum1 << 7) ^ (accum2 >> 25);
            accum2 = (accum2 << 7) ^ (old1 >> 25);
            accum1 = accum1.wrapping_add(c);
            n += 1;
            if n < 64 && c != u32::from(b'\n') {
                continue;
            }
            let hash = accum1.wrapping_add(accum2.wrapping_mul(0x61)) % HASHBASE;
            *map.entry(hash).or_default() += n;
            n = 0;
            accum1 = 0;
            accum2 = 0;
        }
        if n > 0 {
            let hash = accum1.wrapping_add(accum2.wrapping_mul(0x61)) % HASHBASE;
            *map.entry(hash).or_default() += n;
        }
        SpanHashes(map)
    }

    /// Bytes of `dst` that come from chunks `self` (the source) has.
    fn copied_into(&self, dst: &SpanHashes) -> u64 {
        self.0
            .iter()
            .map(|(h, &s)| dst.0.get(h).map_or(0, |&d| s.min(d)))
            .sum()
    }
}

/// git's `estimate_similarity` for two regular files, 0 when too different
/// in size to be considered.
pub fn score(
    src_size: u64,
    src: &SpanHashes,
    dst_size: u64,
    dst: &SpanHashes,
    minimum_score: u64,
) -> u64 {
    let max_size = src_size.max(dst_size);
    let base_size = src_size.min(dst_size);
    let delta_size = max_size - base_size;
    if max_size * (MAX_SCORE - minimum_score) < delta_size * MAX_SCORE {
        return 0;
    }
    if dst_size == 0 {
        return 0;
    }
    src.copied_into(dst) * MAX_SCORE / max_size
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identical_and_different() {
        let a = b"one\ntwo\nthree\nfour\n";
        let b = b"one\ntwo\nthree\nFOUR\n";
        let ha = SpanHashes::of(a, true);
        let hb = SpanHashes::of(b, true);
        assert_eq!(score(19, &ha, 19, &ha, DEFAULT_RENAME_SCORE), MAX_SCORE);
        assert_eq!(
            score(19, &ha, 19, &hb, DEFAULT_RENAME_SCORE),
            14 * MAX_SCORE / 19
        );
    }
}
