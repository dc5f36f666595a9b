//! The `GIT binary patch` of a changed binary file, byte for byte as
//! `git format-patch` writes it: for each direction (old to new, then new
//! to old) the new content deflated (`literal N`), or a git delta from
//! the old content deflated (`delta N`) when that is smaller, in base85
//! lines of at most 52 bytes.
//!
//! The bytes depend on zlib: deflate is called once over the whole input,
//! at the level git uses for loose objects (`core.loosecompression`, else
//! `core.compression`, else 1), with the system's zlib that git links too.
//! The delta is git's (diff-delta.c): a Rabin fingerprint of every 16-byte
//! block of the old content in a hash index, then a greedy scan of the new
//! content for the longest match at each position.

use anyhow::{bail, Result};

/// Bytes per base85 line.
const LINE_BYTES: usize = 52;

/// The level git deflates binary patches with (its `zlib_compression_level`).
pub fn compression_level(config: &git2::Config) -> Result<i32> {
    for key in ["core.loosecompression", "core.compression"] {
        if config.get_entry(key).is_err() {
            continue;
        }
        let Ok(level) = config.get_i32(key) else {
            bail!("{key} is not a number; set it to a zlib level from -1 to 9 or unset it");
        };
        if !(-1..=9).contains(&level) {
            bail!("{key} is {level}, not a zlib level from -1 to 9; correct or unset it");
        }
        return Ok(level);
    }
    Ok(1)
}

/// `GIT binary patch` and both directions, each ending in an empty line.
pub fn patch(old: &[u8], new: &[u8], level: i32) -> Result<Vec<u8>> {
    let mut out = b"GIT binary patch\n".to_vec();
    body(&mut out, old, new, level)?;
    body(&mut out, new, old, level)?;
    Ok(out)
}

/// One direction: `to` as a literal or as a delta from `from`.
fn body(out: &mut Vec<u8>, from: &[u8], to: &[u8], level: i32) -> Result<()> {
    let literal = deflate(to, level)?;
    let mut delta = None;
    if !from.is_empty() && !to.is_empty() {
        if let Some(d) = delta::create(from, to, literal.len()) {
            delta = Some((d.len(), deflate(&d, level)?));
        }
    }
    let (head, data) = match delta {
        Some((size, deflated)) if deflated.len() < literal.len() => {
            (format!("delta {size}\n"), deflated)
        }
        _ => (format!("literal {}\n", to.len()), literal),
    };
    out.extend_from_slice(head.as_bytes());
    for chunk in data.chunks(LINE_BYTES) {
        let n = chunk.len() as u8;
        out.push(if n <= 26 { b'A' + n - 1 } else { b'a' + n - 27 });
        encode_85(out, chunk);
        out.push(b'\n');
    }
    out.push(b'\n');
    Ok(())
}

const ALPHABET_85: &[u8; 85] =
    b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz!#$%&()*+-;<=>?@^_`{|}~";

/// git's base85: each group of four bytes (the last padded with zeros) as
/// a big-endian number in five digits.
fn encode_85(out: &mut Vec<u8>, data: &[u8]) {
    for group in data.chunks(4) {
        let mut bytes = [0u8; 4];
        bytes[..group.len()].copy_from_slice(group);
        let mut value = u32::from_be_bytes(bytes);
        let mut digits = [0u8; 5];
        for d in digits.iter_mut().rev() {
            *d = ALPHABET_85[(value % 85) as usize];
            value /= 85;
        }
        out.extend_from_slice(&digits);
    }
}

/// `data` deflated in one call, as git's `deflate_it` does.
fn deflate(data: &[u8], level: i32) -> Result<Vec<u8>> {
    let Ok(len) = libz_sys::uLong::try_from(data.len()) else {
        bail!(
            "a binary file of {} bytes is too large to deflate",
            data.len()
        );
    };
    // SAFETY: compressBound only computes a size.
    let bound = unsafe { libz_sys::compressBound(len) };
    let mut out = vec![0u8; bound as usize];
    let mut out_len = bound;
    // SAFETY: `out` holds `out_len` writable bytes and `data` `len`
    // readable ones; zlib writes at most `out_len` bytes and sets it to
    // the number written.
    let status =
        unsafe { libz_sys::compress2(out.as_mut_ptr(), &mut out_len, data.as_ptr(), len, level) };
    if status != libz_sys::Z_OK {
        bail!("zlib failed to deflate a binary file (status {status})");
    }
    out.truncate(out_len as usize);
    Ok(out)
}

/// git's delta format: the source and target sizes (little-endian base
/// 128), then copy instructions (high bit set, offset and size bytes
/// flagged by the low bits) and insert instructions (1 to 127 bytes).
mod delta {
    const RABIN_SHIFT: u32 = 23;
    const RABIN_WINDOW: usize = 16;
    /// Entries kept in one hash bucket at most.
    const HASH_LIMIT: usize = 64;
    /// The longest instruction sequence one step may write.
    const MAX_OP_SIZE: usize = 5 + 5 + 1 + RABIN_WINDOW + 7;
    /// The fingerprint polynomial, x^31 + POLY.
    const POLY: u64 = 0x2b59b4d1;

    /// `t(x) * x^shift` modulo x^31 + POLY.
    const fn reduce(t: u64, shift: u32) -> u32 {
        let mut v = (t as u128) << shift;
        let modulus = (1u128 << 31) | POLY as u128;
        let mut bit = 127;
        while bit >= 31 {
            if v >> bit & 1 == 1 {
                v ^= modulus << (bit - 31);
            }
            bit -= 1;
        }
        v as u32
    }

    const fn tables() -> ([u32; 256], [u32; 256]) {
        let mut t = [0u32; 256];
        let mut u = [0u32; 256];
        let mut i = 0;
        while i < 256 {
            // T also clears the bit that shifting by 8 leaves at 31.
            t[i] = reduce(i as u64, 31) | ((i as u32 & 1) << 31);
            u[i] = reduce(i as u64, 8 * (RABIN_WINDOW as u32 - 1));
            i += 1;
        }
        (t, u)
    }

    /// T: adds a byte to the fingerprint; U: removes the byte leaving the
    /// 16-byte window.
    const TABLES: ([u32; 256], [u32; 256]) = tables();
    const T: [u32; 256] = TABLES.0;
    const U: [u32; 256] = TABLES.1;

    fn push_byte(val: u32, byte: u8) -> u32 {
        ((val << 8) | u32::from(byte)) ^ T[(val >> RABIN_SHIFT) as usize]
    }

    /// The fingerprints of the source's 16-byte blocks, by hash bucket.
    struct Index<'a> {
        src: &'a [u8],
        mask: u32,
        /// Bucket `b` is `entries[starts[b]..starts[b + 1]]`.
        starts: Vec<usize>,
        /// (position of a block's last byte, fingerprint)
        entries: Vec<(usize, u32)>,
    }

    fn index(src: &[u8]) -> Index<'_> {
        // The first byte is left out, as git does.
        let blocks = (src.len() - 1) / RABIN_WINDOW;
        let mut bits = 4;
        while (1usize << bits) < blocks / 4 && bits < 31 {
            bits += 1;
        }
        let hsize = 1usize << bits;
        let mask = (hsize - 1) as u32;
        // Blocks from the last to the first; in each bucket the lowest
        // position ends up first.
        let mut buckets: Vec<Vec<(usize, u32)>> = vec![Vec::new(); hsize];
        let mut previous: Option<(u32, usize)> = None;
        for k in (0..blocks).rev() {
            let start = k * RABIN_WINDOW;
            let val = src[start + 1..=start + RABIN_WINDOW]
                .iter()
                .fold(0, |v, &b| push_byte(v, b));
            let pos = start + RABIN_WINDOW;
            match previous {
                // Of consecutive identical blocks only the lowest stays.
                Some((v, bucket)) if v == val => {
                    if let Some(last) = buckets[bucket].last_mut() {
                        last.0 = pos;
                    }
                }
                _ => {
                    let bucket = (val & mask) as usize;
                    buckets[bucket].push((pos, val));
                    previous = Some((val, bucket));
                }
            }
        }
        let mut starts = Vec::with_capacity(hsize + 1);
        let mut entries = Vec::new();
        for bucket in &mut buckets {
            bucket.reverse();
            starts.push(entries.len());
            entries.extend(cull(bucket));
        }
        starts.push(entries.len());
        Index {
            src,
            mask,
            starts,
            entries,
        }
    }

    /// A bucket thinned to [`HASH_LIMIT`] entries spread evenly over it,
    /// as git thins it.
    fn cull(bucket: &[(usize, u32)]) -> Vec<(usize, u32)> {
        let count = bucket.len();
        if count <= HASH_LIMIT {
            return bucket.to_vec();
        }
        let excess = (count - HASH_LIMIT) as i64;
        let mut kept = Vec::with_capacity(HASH_LIMIT);
        let mut acc: i64 = 0;
        let mut p = 0;
        while p < count {
            kept.push(bucket[p]);
            acc += excess;
            if acc > 0 {
                // Drop the entries after the kept one while acc stays
                // positive.
                let mut q = p;
                loop {
                    q += 1;
                    acc -= HASH_LIMIT as i64;
                    if acc <= 0 {
                        break;
                    }
                }
                p = q;
            }
            p += 1;
        }
        kept
    }

    fn push_size(out: &mut Vec<u8>, mut size: usize) {
        while size >= 0x80 {
            out.push(size as u8 | 0x80);
            size >>= 7;
        }
        out.push(size as u8);
    }

    /// The delta from `src` to `trg`, None when it would be longer than
    /// `max_size` (both must hold at least a byte).
    pub fn create(src: &[u8], trg: &[u8], max_size: usize) -> Option<Vec<u8>> {
        let index = index(src);
        let mut out = Vec::with_capacity(8192.min(max_size + MAX_OP_SIZE + 1));
        // The size git would have allocated: it decides when the length
        // is compared with max_size before the end.
        let mut out_size: usize = 8192;
        if out_size >= max_size {
            out_size = max_size + MAX_OP_SIZE + 1;
        }
        push_size(&mut out, index.src.len());
        push_size(&mut out, trg.len());

        // The first bytes are inserted while the window fills.
        out.push(0);
        let mut val = 0;
        let mut data = 0;
        while data < RABIN_WINDOW && data < trg.len() {
            out.push(trg[data]);
            val = push_byte(val, trg[data]);
            data += 1;
        }
        let mut inserted = data;
        let (mut moff, mut msize) = (0usize, 0usize);
        while data < trg.len() {
            if msize < 4096 {
                val ^= U[trg[data - RABIN_WINDOW] as usize];
                val = push_byte(val, trg[data]);
                let bucket = (val & index.mask) as usize;
                let entries = &index.entries[index.starts[bucket]..index.starts[bucket + 1]];
                for &(pos, entry_val) in entries {
                    if entry_val != val {
                        continue;
                    }
                    let room = (src.len() - pos).min(trg.len() - data);
                    if room <= msize {
                        break;
                    }
                    let same = src[pos..pos + room]
                        .iter()
                        .zip(&trg[data..data + room])
                        .take_while(|(a, b)| a == b)
                        .count();
                    if msize < same {
                        msize = same;
                        moff = pos;
                        if msize >= 4096 {
                            break;
                        }
                    }
                }
            }

            if msize < 4 {
                if inserted == 0 {
                    out.push(0);
                }
                out.push(trg[data]);
                data += 1;
                inserted += 1;
                if inserted == 0x7f {
                    let slot = out.len() - inserted - 1;
                    out[slot] = inserted as u8;
                    inserted = 0;
                }
                msize = 0;
            } else {
                if inserted > 0 {
                    // Grow the match backwards over the bytes just inserted.
                    let mut slot_gone = false;
                    while moff > 0 && src[moff - 1] == trg[data - 1] {
                        msize += 1;
                        moff -= 1;
                        data -= 1;
                        out.pop();
                        inserted -= 1;
                        if inserted == 0 {
                            out.pop();
                            slot_gone = true;
                            break;
                        }
                    }
                    if !slot_gone {
                        let slot = out.len() - inserted - 1;
                        out[slot] = inserted as u8;
                    }
                    inserted = 0;
                }
                // A copy is at most 64 KiB.
                let left = msize.saturating_sub(0x10000);
                msize -= left;
                let op_at = out.len();
                out.push(0);
                let mut op = 0x80u8;
                for (k, flag) in [0x01u8, 0x02, 0x04, 0x08].into_iter().enumerate() {
                    let byte = (moff >> (8 * k)) as u8;
                    if byte != 0 {
                        out.push(byte);
                        op |= flag;
                    }
                }
                for (k, flag) in [0x10u8, 0x20].into_iter().enumerate() {
                    let byte = (msize >> (8 * k)) as u8;
                    if byte != 0 {
                        out.push(byte);
                        op |= flag;
                    }
                }
                out[op_at] = op;
                data += msize;
                moff += msize;
                msize = left;
                if msize < 4096 {
                    val = trg[data - RABIN_WINDOW..data]
                        .iter()
                        .fold(0, |v, &b| push_byte(v, b));
                }
            }

            if out.len() >= out_size - MAX_OP_SIZE {
                out_size = out_size * 3 / 2;
                if out_size >= max_size {
                    out_size = max_size + MAX_OP_SIZE + 1;
                }
                if out.len() > max_size {
                    break;
                }
            }
        }
        if inserted > 0 {
            let slot = out.len() - inserted - 1;
            out[slot] = inserted as u8;
        }
        (out.len() <= max_size).then_some(out)
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn tables_are_gits() {
            assert_eq!(T[1], 0xab59b4d1);
            assert_eq!(T[4], 0x063f6795);
            assert_eq!(T[255], 0xd1eee811);
            assert_eq!(U[1], 0x7eb5200d);
            assert_eq!(U[2], 0x5633f4cb);
            assert_eq!(U[255], 0x3bb8646a);
        }

        /// Applies a delta, for the tests.
        fn apply(src: &[u8], delta: &[u8]) -> Vec<u8> {
            let mut at = 0;
            let mut size = || {
                let (mut v, mut shift) = (0usize, 0);
                loop {
                    let b = delta[at];
                    at += 1;
                    v |= usize::from(b & 0x7f) << shift;
                    shift += 7;
                    if b & 0x80 == 0 {
                        return v;
                    }
                }
            };
            assert_eq!(size(), src.len());
            let want = size();
            let mut out = Vec::new();
            while at < delta.len() {
                let op = delta[at];
                at += 1;
                if op & 0x80 == 0 {
                    out.extend_from_slice(&delta[at..at + op as usize]);
                    at += op as usize;
                    continue;
                }
                let mut field = |bits: [u8; 4]| {
                    let mut v = 0usize;
                    for (k, bit) in bits.into_iter().enumerate() {
                        if op & bit != 0 {
                            v |= usize::from(delta[at]) << (8 * k);
                            at += 1;
                        }
                    }
                    v
                };
                let off = field([1, 2, 4, 8]);
                let mut n = field([0x10, 0x20, 0x40, 0]);
                if n == 0 {
                    n = 0x10000;
                }
                out.extend_from_slice(&src[off..off + n]);
            }
            assert_eq!(out.len(), want);
            out
        }

        #[test]
        fn deltas_rebuild_the_target() {
            let mut seed = 8u32;
            let mut next = move || {
                seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12345);
                (seed >> 16) as u8
            };
            let src: Vec<u8> = (0..200_000).map(|_| next() % 7).collect();
            let mut trg = src.clone();
            trg.splice(1000..1000, b"inserted".iter().copied());
            trg.drain(50_000..50_300);
            trg.extend_from_slice(&src[..70_000]);
            for t in 0..trg.len() / 997 {
                trg[t * 997] ^= 0x55;
            }
            let delta = create(&src, &trg, usize::MAX / 2).expect("a delta");
            assert_eq!(apply(&src, &delta), trg);
            assert!(delta.len() < trg.len() / 4, "{}", delta.len());
            assert!(create(&src, &trg, delta.len() - 1).is_none());
            let tiny = create(b"ab", b"abc", 100).expect("a delta");
            assert_eq!(apply(b"ab", &tiny), b"abc");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base85_as_git() {
        let mut out = Vec::new();
        encode_85(&mut out, &[0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 1]);
        assert_eq!(out, b"00000|NsC00RR91");
    }

    #[test]
    fn empty_content_is_the_usual_literal() {
        let mut out = Vec::new();
        body(&mut out, b"", b"", 1).unwrap();
        assert_eq!(out, b"literal 0\nHcmV?d00001\n\n");
    }
}
