//! Differential test against `git am`: random small repositories and
//! histories (edits, new and deleted files, renames, mode changes,
//! symbolic links, non-ASCII file names, authors and subjects, CRLF
//! files, empty files, files without a final newline, binary files) are turned into
//! mails by `git format-patch`, then applied by `git am` and by
//! series-apply on two clones of the base; the commits (ids, so trees,
//! authors, dates and messages) and the work trees must be identical.
//! SERIES_DIFF_CASES sets the number of histories (default 25),
//! SERIES_DIFF_SEED the seed.

mod common;

use common::*;
use series_apply::mail::read_series;
use series_apply::ApplyOptions;
use std::path::Path;

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

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// File names: flat and in directories whose names are never file names,
/// so no history turns a file into a directory.
const NAMES: &[&str] = &[
    "a.c",
    "b.txt",
    "Makefile",
    "dé.txt",
    "日本.c",
    "with space.txt",
    "src/main.c",
    "src/ünï.h",
    "docs/guide.txt",
    "docs/deep/more.txt",
    "fw.bin",
    "src/blob.bin",
];
const AUTHORS: &[&str] = &[
    "A U Thor <author@example.org>",
    "Jörg Müller <joerg@example.org>",
    "山田 太郎 <yamada@example.jp>",
    "O'Brien, Pat <pat@example.org>",
];
const WORDS: &[&str] = &[
    "driver",
    "core:",
    "fix",
    "Noël",
    "the",
    "ownership",
    "日本語",
    "of",
    "DMA",
    "iommu",
    "naïve",
    "a",
    "release",
];

fn random_lines(rng: &mut Rng, crlf: bool) -> String {
    let eol = if crlf { "\r\n" } else { "\n" };
    let n = rng.below(25);
    let mut text: String = (0..n)
        .map(|_| format!("{} {}{eol}", rng.pick(WORDS), rng.below(1000)))
        .collect();
    if !text.is_empty() && rng.below(6) == 0 {
        text.truncate(text.len() - eol.len());
    }
    text
}

/// Random binary content (a NUL makes git call it binary); `old` is
/// changed in a few places when given, so git may send a delta.
fn random_binary(rng: &mut Rng, old: Option<Vec<u8>>) -> Vec<u8> {
    let mut data = old.unwrap_or_else(|| {
        let n = 1 + rng.below(3000);
        (0..n).map(|_| rng.next() as u8).collect()
    });
    for _ in 0..=rng.below(3) {
        let at = rng.below(data.len());
        data[at] = rng.next() as u8;
    }
    data[0] = 0;
    data
}

fn edit_lines(rng: &mut Rng, old: &str) -> String {
    let crlf = old.contains("\r\n");
    let eol = if crlf { "\r\n" } else { "\n" };
    let mut lines: Vec<String> = old.split_inclusive('\n').map(str::to_string).collect();
    for _ in 0..=rng.below(3) {
        let at = rng.below(lines.len() + 1);
        match rng.below(3) {
            0 if at < lines.len() => {
                lines.remove(at);
            }
            1 if at < lines.len() => lines[at] = format!("changed {}{eol}", rng.below(1000)),
            _ => lines.insert(at, format!("{} added{eol}", rng.pick(WORDS))),
        }
    }
    lines.concat()
}

fn subject(rng: &mut Rng) -> String {
    let n = 2 + rng.below(12);
    let words: Vec<&str> = (0..n).map(|_| rng.pick(WORDS)).collect();
    format!("{}\n\nBody {}.\n", words.join(" "), rng.below(100))
}

fn tracked(repo: &Path) -> Vec<String> {
    git(repo, &["ls-files", "-z"])
        .split('\0')
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// One random commit on `repo`; false when it changed nothing.
fn random_commit(rng: &mut Rng, repo: &Path, date: u64) -> bool {
    for _ in 0..=rng.below(3) {
        git(repo, &["add", "-A"]);
        let files = tracked(repo);
        let existing: Vec<&str> = files.iter().map(String::as_str).collect();
        let absent: Vec<&str> = NAMES
            .iter()
            .copied()
            .filter(|n| !existing.contains(n))
            .collect();
        match rng.below(7) {
            0 | 1 if !existing.is_empty() => {
                let f = rng.pick(&existing);
                let p = repo.join(f);
                if p.symlink_metadata().unwrap().file_type().is_symlink() {
                    continue;
                }
                let old = std::fs::read(&p).unwrap();
                match String::from_utf8(old) {
                    Ok(text) if !f.ends_with(".bin") => write(repo, f, &edit_lines(rng, &text)),
                    Ok(text) => {
                        std::fs::write(&p, random_binary(rng, Some(text.into_bytes()))).unwrap()
                    }
                    Err(e) => std::fs::write(&p, random_binary(rng, Some(e.into_bytes()))).unwrap(),
                }
            }
            2 if !absent.is_empty() => {
                let f = rng.pick(&absent);
                let crlf = rng.below(10) == 0;
                if f.ends_with(".bin") {
                    let data = random_binary(rng, None);
                    write(repo, f, "");
                    std::fs::write(repo.join(f), data).unwrap();
                    continue;
                }
                let content = if rng.below(5) == 0 {
                    String::new()
                } else {
                    random_lines(rng, crlf)
                };
                write(repo, f, &content);
            }
            3 if existing.len() > 1 => {
                git(repo, &["rm", "-q", "-f", rng.pick(&existing)]);
            }
            4 if !existing.is_empty() && !absent.is_empty() => {
                let from = rng.pick(&existing);
                let to = rng.pick(&absent);
                if let Some(parent) = Path::new(to).parent() {
                    std::fs::create_dir_all(repo.join(parent)).unwrap();
                }
                git(repo, &["mv", from, to]);
                let p = repo.join(to);
                if rng.below(2) == 0 && !p.symlink_metadata().unwrap().file_type().is_symlink() {
                    let mut old = std::fs::read(&p).unwrap();
                    old.extend(format!("tail {}\n", rng.below(100)).bytes());
                    std::fs::write(&p, old).unwrap();
                }
            }
            5 if !existing.is_empty() => {
                use std::os::unix::fs::PermissionsExt;
                let p = repo.join(rng.pick(&existing));
                if !p.symlink_metadata().unwrap().file_type().is_symlink() {
                    let mode = if rng.below(2) == 0 { 0o755 } else { 0o644 };
                    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
                }
            }
            6 if !absent.is_empty() && !existing.is_empty() => {
                let f = rng.pick(&absent);
                let target = rng.pick(&existing);
                if let Some(parent) = Path::new(f).parent() {
                    std::fs::create_dir_all(repo.join(parent)).unwrap();
                }
                std::os::unix::fs::symlink(target, repo.join(f)).unwrap();
            }
            _ => {}
        }
    }
    git(repo, &["add", "-A"]);
    if git(repo, &["status", "--porcelain"]).is_empty() {
        return false;
    }
    let msg = subject(rng);
    commit(repo, &msg, rng.pick(AUTHORS), &format!("{date} +0200"));
    true
}

/// `git am` of every mail in turn, committer = author as in [`git_am`];
/// false when one does not apply.
fn git_am_all(
    repo: &Path,
    mails: &[std::path::PathBuf],
    patches: &[series_apply::mail::MailPatch],
) -> bool {
    for (file, patch) in mails.iter().zip(patches) {
        let ok = std::process::Command::new("git")
            .current_dir(repo)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_COMMITTER_NAME", &patch.author_name)
            .env("GIT_COMMITTER_EMAIL", &patch.author_email)
            .args(["am", "-q", "--committer-date-is-author-date"])
            .arg(file)
            .output()
            .expect("git runs")
            .status
            .success();
        if !ok {
            return false;
        }
    }
    true
}

#[test]
fn random_histories_apply_like_git_am() {
    let cases = env_number("SERIES_DIFF_CASES", 25);
    let mut rng = Rng(env_number("SERIES_DIFF_SEED", 0xd1ff_5eed) | 1);
    let (mut patches_total, mut ran, mut refused) = (0, 0, 0);
    for case in 0..cases {
        let sb = Sandbox::new();
        let source = sb.init("source");
        for _ in 0..2 + rng.below(4) {
            let f = rng.pick(NAMES);
            let crlf = rng.below(10) == 0;
            write(&source, f, &random_lines(&mut rng, crlf));
        }
        commit(&source, "base\n", AUTHOR, DATE);
        git(&source, &["tag", "base"]);
        let mut made = 0;
        for k in 0..1 + rng.below(4) {
            if random_commit(&mut rng, &source, 1_700_000_000 + k as u64 * 60) {
                made += 1;
            }
        }
        if made == 0 {
            continue;
        }
        let dir = sb.path("series");
        let files = format_patch(&source, "base..HEAD", &dir, false);
        let ours = sb.clone_repo(&source, "ours");
        let theirs = sb.clone_repo(&source, "theirs");
        for r in [&ours, &theirs] {
            git(r, &["reset", "-q", "--hard", "base"]);
        }
        let base = head(&ours);
        let series = read_series(&dir)
            .unwrap_or_else(|e| panic!("case {case}: the series cannot be read: {e:#}"));
        let before = snapshot(&ours);
        let result = apply(&ours, &dir, &ApplyOptions::default());
        let git_ok = git_am_all(&theirs, &files, &series.patches);
        match (result, git_ok) {
            (Ok(_), true) => {
                assert_eq!(
                    log(&ours, &base),
                    log(&theirs, &base),
                    "case {case}: commits differ from git am's"
                );
                assert_eq!(
                    snapshot(&ours).files,
                    snapshot(&theirs).files,
                    "case {case}: work trees differ"
                );
                patches_total += made;
                ran += 1;
            }
            // Both refuse (an edit of a CRLF file: mailsplit drops the CRs
            // of the patch, for git am as for series-apply).
            (Err(e), false) => {
                if std::env::var_os("SERIES_DIFF_VERBOSE").is_some() {
                    println!("case {case}: both refused; ours: {e:#}");
                }
                assert_eq!(
                    snapshot(&ours),
                    before,
                    "case {case}: a refusal changed the tree"
                );
                refused += 1;
            }
            (Ok(_), false) => panic!("case {case}: git am refused what series-apply applied"),
            (Err(e), true) => {
                panic!("case {case}: series-apply refused what git am applied: {e:#}")
            }
        }
    }
    println!(
        "differential: {ran} histories with {patches_total} patches matched git am; \
         {refused} refused by both"
    );
    assert!(ran > 0);
}
