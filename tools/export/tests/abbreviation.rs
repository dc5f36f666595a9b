//! The abbreviation of `index` lines: git's automatic length follows how
//! many objects are packed, so the same commits export differently before
//! and after `git gc`; a fixed length (as `git -c core.abbrev=N`) gives the
//! same bytes in both states, and the same bytes as git.

mod common;

use common::{assert_same_dirs, gits, read_dir, TestRepo};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Enough reachable objects that, once packed, git's automatic length
/// grows from 7 to 8 (it needs at least 2^14 packed objects).
const FILLER_BLOBS: usize = 17_000;

/// A base, a filler branch of many small blobs written as loose objects,
/// and a two-patch series on top. Nothing is packed yet.
fn loose_repo() -> TestRepo {
    let r = TestRepo::new();
    // No automatic `gc --auto` after the commits: it would pack behind the
    // test's back (and race with the explicit gc below).
    r.git(&["config", "gc.auto", "0"]);
    r.write("drivers/base/dd.c", "int probe(void)\n{\n\treturn 0;\n}\n");
    r.write("README", "base\n");
    r.commit("base");
    r.mark_base();
    add_loose_filler(&r);
    r.write(
        "drivers/base/dd.c",
        "int probe(void)\n{\n\treturn claim();\n}\n",
    );
    r.commit("driver core: Claim in probe");
    r.write("README", "base\nseries\n");
    r.commit("README: Say what the series does");
    assert_eq!(pack_count(&r.path), 0, "the fixture must start unpacked");
    r
}

/// FILLER_BLOBS blobs, one tree and a commit on refs/heads/filler, all
/// loose: `git hash-object -w --stdin-paths` writes each blob as a loose
/// object, `mktree` and `commit-tree` add the rest.
fn add_loose_filler(r: &TestRepo) {
    let dir = r.scratch("filler");
    let mut list = String::new();
    for i in 0..FILLER_BLOBS {
        let p = dir.join(format!("f{i}"));
        std::fs::write(&p, format!("filler {i}\n")).unwrap();
        list.push_str(&p.display().to_string());
        list.push('\n');
    }
    let oids = pipe(r, &["hash-object", "-w", "--stdin-paths"], &list);
    let tree_input: String = oids
        .lines()
        .enumerate()
        .map(|(i, oid)| format!("100644 blob {oid}\tf{i}\n"))
        .collect();
    let tree = pipe(r, &["mktree"], &tree_input);
    let commit = r.git(&["commit-tree", tree.trim(), "-m", "filler"]);
    r.git(&["update-ref", "refs/heads/filler", commit.trim()]);
}

fn pipe(r: &TestRepo, args: &[&str], input: &str) -> String {
    let mut child = Command::new(&gits()[0])
        .args(args)
        .current_dir(&r.path)
        .env("HOME", &r.home)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("run git");
    // Written from a thread: git answers line by line, and its output
    // would fill the pipe while this thread still writes.
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_string();
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    assert!(out.status.success(), "git {args:?} failed");
    String::from_utf8(out.stdout).unwrap()
}

fn pack_count(tree: &Path) -> usize {
    std::fs::read_dir(tree.join(".git/objects/pack"))
        .map(|d| {
            d.flatten()
                .filter(|e| e.file_name().to_string_lossy().ends_with(".pack"))
                .count()
        })
        .unwrap_or(0)
}

fn export_with(r: &TestRepo, name: &str, abbrev: Option<usize>) -> PathBuf {
    let out = r.scratch(name);
    let opts = series_export::ExportOptions {
        abbrev,
        ..r.options(1, "PATCH", Some(&out))
    };
    let series = series_export::generate(&opts).expect("export");
    series_export::write(&out, &series.files).expect("write");
    out
}

fn index_lines(dir: &Path) -> Vec<String> {
    read_dir(dir)
        .iter()
        .flat_map(|f| {
            String::from_utf8_lossy(&f.contents)
                .lines()
                .filter(|l| l.starts_with("index "))
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .collect()
}

fn id_lengths(dir: &Path) -> Vec<usize> {
    index_lines(dir)
        .iter()
        .flat_map(|line| {
            let ids = line.split(' ').nth(1).unwrap();
            ids.split("..").map(str::len).collect::<Vec<_>>()
        })
        .collect()
}

#[test]
fn a_fixed_length_exports_the_same_bytes_loose_and_after_gc() {
    let r = loose_repo();
    let loose_fixed = export_with(&r, "loose-12", Some(12));
    let loose_auto = export_with(&r, "loose-auto", None);
    assert_same_dirs(&format_patch(&r, &gits()[0], None, "loose"), &loose_auto);

    r.git(&["gc", "-q", "--aggressive"]);
    assert!(pack_count(&r.path) > 0, "git gc packed nothing");
    let packed_fixed = export_with(&r, "packed-12", Some(12));
    let packed_auto = export_with(&r, "packed-auto", None);
    assert_same_dirs(&format_patch(&r, &gits()[0], None, "packed"), &packed_auto);

    // The premise: git's automatic length follows the packing (7 with
    // loose objects only, 8 once 17,000 are packed), and export with it.
    assert!(id_lengths(&loose_auto).iter().all(|&n| n == 7));
    assert!(id_lengths(&packed_auto).iter().all(|&n| n == 8));

    // A fixed length gives identical bytes whatever the packing.
    assert_same_dirs(&loose_fixed, &packed_fixed);
    assert!(!id_lengths(&packed_fixed).is_empty());
    assert!(id_lengths(&packed_fixed).iter().all(|&n| n == 12));
}

#[test]
fn a_fixed_length_matches_git_format_patch_with_core_abbrev() {
    let r = loose_repo();
    let ours = export_with(&r, "ours", Some(12));
    for git in gits() {
        assert_same_dirs(&format_patch(&r, &git, Some(12), "loose"), &ours);
    }
    r.git(&["gc", "-q"]);
    let ours = export_with(&r, "ours-gc", Some(12));
    for git in gits() {
        assert_same_dirs(&format_patch(&r, &git, Some(12), "packed"), &ours);
    }
}

/// `git [-c core.abbrev=N] format-patch` with export's flags, into a new
/// directory named after `tag`.
fn format_patch(r: &TestRepo, git: &Path, abbrev: Option<usize>, tag: &str) -> PathBuf {
    let n = abbrev.map(|n| n.to_string());
    let config: Vec<(&str, &str)> = n.iter().map(|n| ("core.abbrev", n.as_str())).collect();
    let label = format!("-{tag}-{}", n.as_deref().unwrap_or("auto"));
    r.format_patch_configured(git, 1, "PATCH", &[], &config, &label)
}
