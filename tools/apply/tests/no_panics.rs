//! No input makes the mail reader or the patch parser panic: random
//! bytes, random text built from mail and diff tokens, and every
//! truncation and many single-byte mutations of real `git format-patch`
//! output. Each case must give a value or an error. A seeded generator
//! keeps failures reproducible; SERIES_FUZZ_CASES raises the number of
//! random cases (default 3000), SERIES_FUZZ_SEED changes the seed.

mod common;

use common::*;
use series_apply::{diff, hunks, mail};
use std::panic::{catch_unwind, AssertUnwindSafe};

/// xorshift64*: small, deterministic, good enough to explore inputs.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn cases() -> usize {
    std::env::var("SERIES_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3000)
}

fn seed() -> u64 {
    std::env::var("SERIES_FUZZ_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0x5eed_1e55_u64)
        | 1
}

/// Runs every reader on `input`; a panic fails the test naming the case.
fn exercise(what: &str, input: &[u8]) {
    let result = catch_unwind(AssertUnwindSafe(|| {
        if let Ok(texts) = mail::split_mbox(input) {
            for text in texts {
                if let Ok(m) = mail::parse_mail("fuzz", &text) {
                    let _ = m.diffstat_summary();
                }
            }
        }
        let _ = mail::parse_mail("fuzz", input);
        if let Ok(files) = diff::parse(input) {
            for f in files {
                let _ = hunks::apply_hunks(input, &f.hunks);
                let _ = hunks::apply_hunks(b"", &f.hunks);
            }
        }
    }));
    if result.is_err() {
        panic!(
            "{what} panicked on input {:?}",
            String::from_utf8_lossy(input)
        );
    }
}

const TOKENS: &[&str] = &[
    "From 0000000000000000000000000000000000000000 Mon Sep 17 00:00:00 2001\n",
    "From: ",
    "Jörg <j@x>",
    "\"A \\\"B\\\"\" <a@b>",
    "Date: ",
    "Tue, 14 Nov 2023 23:13:20 +0100",
    "31 Feb 99999999999999999999 99:99:99 -9999",
    "Subject: ",
    "[PATCH 1/2] ",
    "Re: Noël: ",
    "=?UTF-8?q?J=C3=B6rg?=",
    "=?ISO-8859-1?b?SsO2cmc=?=",
    "=?x?q?",
    "Content-Type: text/plain; charset=",
    "ISO-8859-1",
    "KOI8-R",
    "bogus",
    "Content-Transfer-Encoding: ",
    "quoted-printable",
    "base64",
    "=C3=",
    "=\n",
    "\n",
    "\r\n",
    " ",
    "\t",
    "---\n",
    "--- a/f\n",
    "+++ b/f\n",
    "--- /dev/null\n",
    "diff --git a/f b/f\n",
    "diff --git \"a/t\\303\\244st\" \"b/t\\303\\244st\"\n",
    "diff --git a/x b/x/x\n",
    "new file mode 100644\n",
    "deleted file mode 100644\n",
    "old mode 100644\n",
    "new mode 120000\n",
    "index 1111111..2222222 100755\n",
    "rename from x\n",
    "rename to x/x\n",
    "similarity index 90%\n",
    "GIT binary patch\n",
    "literal 5\n",
    "@@ -1,2 +1,3 @@",
    "@@ -0,0 +1 @@\n",
    "@@ -18446744073709551615,1 +1 @@\n",
    "@@ -1 +1,99999999999999999999 @@\n",
    " context\n",
    "-removed\n",
    "+added\n",
    "\\ No newline at end of file\n",
    "é",
    "日本",
    "\u{a0}",
    "\u{3000}",
    "\x0b",
];

fn random_bytes(rng: &mut Rng) -> Vec<u8> {
    let len = rng.below(300);
    (0..len).map(|_| rng.next() as u8).collect()
}

fn random_text(rng: &mut Rng) -> Vec<u8> {
    let mut out = Vec::new();
    for _ in 0..rng.below(60) {
        match rng.below(10) {
            0 => out.push(rng.next() as u8),
            1 => out.extend(
                char::from_u32(rng.below(0x11_0000) as u32)
                    .unwrap_or('x')
                    .to_string()
                    .bytes(),
            ),
            _ => out.extend_from_slice(TOKENS[rng.below(TOKENS.len())].as_bytes()),
        }
    }
    out
}

#[test]
fn random_bytes_and_random_text_never_panic() {
    let mut rng = Rng(seed());
    let n = cases();
    for case in 0..n {
        exercise(
            &format!("random bytes case {case}"),
            &random_bytes(&mut rng),
        );
        exercise(&format!("random text case {case}"), &random_text(&mut rng));
    }
    println!("no_panics: {n} random-byte and {n} random-text cases ran");
}

#[test]
fn truncated_and_mutated_real_patches_never_panic() {
    let sb = Sandbox::new();
    let source = base_repo(&sb, "source");
    add_series_commits(&source);
    let files = format_patch(&source, "base..HEAD", &sb.path("series"), true);
    let mut mbox = Vec::new();
    for f in &files {
        mbox.extend(std::fs::read(f).unwrap());
    }
    let mut runs = 0;
    for end in 0..=mbox.len() {
        exercise(&format!("truncation at {end}"), &mbox[..end]);
        runs += 1;
    }
    let mut rng = Rng(seed());
    for case in 0..cases() {
        let mut m = mbox.clone();
        for _ in 0..=rng.below(4) {
            let at = rng.below(m.len());
            match rng.below(3) {
                0 => m[at] = rng.next() as u8,
                1 => {
                    m.remove(at);
                }
                _ => {
                    let token = TOKENS[rng.below(TOKENS.len())].as_bytes();
                    m.splice(at..at, token.iter().copied());
                }
            }
        }
        exercise(&format!("mutation case {case}"), &m);
        runs += 1;
    }
    println!(
        "no_panics: {runs} truncations and mutations of a {}-byte mbox ran",
        mbox.len()
    );
}
