//! The committed patches do not depend on how the tree's object store is
//! packed: `export --check` and the dry run of `send` agree with the
//! patches before and after `git gc`, though git's automatic abbreviation
//! grows once many objects are packed.

mod common;

use common::{Fixture, AUTHOR};
use std::io::Write;
use std::process::{Command, Stdio};

/// Enough reachable objects that git's automatic abbreviation, which
/// counts only packed objects, goes from 7 to 8 after `git gc`.
const FILLER_BLOBS: usize = 17_000;

/// FILLER_BLOBS loose blobs in a tree on refs/heads/filler.
fn add_loose_filler(f: &Fixture) {
    f.git(&["config", "gc.auto", "0"]);
    let dir = f.home.join("filler");
    std::fs::create_dir_all(&dir).unwrap();
    let mut list = String::new();
    for i in 0..FILLER_BLOBS {
        let p = dir.join(format!("f{i}"));
        std::fs::write(&p, format!("filler {i}\n")).unwrap();
        list.push_str(&format!("{}\n", p.display()));
    }
    let oids = git_stdin(f, &["hash-object", "-w", "--stdin-paths"], list);
    let entries: String = oids
        .lines()
        .enumerate()
        .map(|(i, oid)| format!("100644 blob {oid}\tf{i}\n"))
        .collect();
    let tree = git_stdin(f, &["mktree"], entries);
    let commit = f.git(&["commit-tree", tree.trim(), "-m", "filler"]);
    f.git(&["update-ref", "refs/heads/filler", commit.trim()]);
}

fn git_stdin(f: &Fixture, args: &[&str], input: String) -> String {
    let mut child = Command::new("git")
        .args(args)
        .current_dir(&f.tree)
        .env("HOME", &f.home)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    // From a thread: git's answers would fill the pipe while we write.
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    assert!(out.status.success(), "git {args:?} failed");
    String::from_utf8(out.stdout).unwrap()
}

fn index_ids(f: &Fixture) -> Vec<String> {
    let text = std::fs::read_to_string(
        f.patches
            .join("0001-driver-core-Claim-DMA-ownership-in-really_probe.patch"),
    )
    .unwrap();
    text.lines()
        .filter_map(|l| l.strip_prefix("index "))
        .flat_map(|l| {
            let ids = l.split(' ').next().unwrap();
            ids.split("..").map(str::to_string).collect::<Vec<_>>()
        })
        .collect()
}

#[test]
fn export_check_and_send_agree_before_and_after_gc() {
    let f = Fixture::new();
    add_loose_filler(&f);
    // The manifest sets no abbrev: the default, 12, applies.
    assert!(
        index_ids(&f).iter().all(|id| id.len() == 12),
        "{:?}",
        index_ids(&f)
    );
    f.series_ok(&["export", "--check"]);
    f.series_ok(&["send", "--from", AUTHOR]);

    f.git(&["gc", "-q", "--aggressive"]);
    let auto = f.git(&["rev-parse", "--short", "HEAD"]);
    assert_eq!(
        auto.trim().len(),
        8,
        "git's automatic length must have grown"
    );
    f.series_ok(&["export", "--check"]);
    f.series_ok(&["send", "--from", AUTHOR]);
}

#[test]
fn abbrev_auto_follows_the_packing_as_git_does() {
    let f = Fixture::new();
    let manifest = f.patches.join("series.toml");
    let text = std::fs::read_to_string(&manifest).unwrap();
    std::fs::write(
        &manifest,
        text.replacen("version = 1\n", "version = 1\nabbrev = \"auto\"\n", 1),
    )
    .unwrap();
    add_loose_filler(&f);
    f.series_ok(&["export"]);
    assert!(index_ids(&f).iter().all(|id| id.len() == 7));
    f.git(&["gc", "-q", "--aggressive"]);
    let err = f.series_err(&["export", "--check"]);
    assert!(err.contains("run `tools/series export`"), "{err}");
    f.series_ok(&["export"]);
    assert!(index_ids(&f).iter().all(|id| id.len() == 8));
}
