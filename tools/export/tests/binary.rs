//! Binary changes: export writes them as `git format-patch` does (`GIT
//! binary patch`, literal or delta, `Bin` lines in the diffstats), byte
//! for byte, and `series apply` applies what export wrote.

mod common;

use common::{assert_matches_git, TestRepo};
use std::path::Path;

/// `len` bytes of noise from `seed`, with NUL bytes among them.
fn noise(seed: u32, len: usize) -> Vec<u8> {
    let mut state = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
    (0..len)
        .map(|_| {
            state = state.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            let b = (state >> 16) as u8;
            // Runs of a few values compress, as real files do.
            if b < 64 {
                0
            } else {
                b % 16
            }
        })
        .collect()
}

/// `data` with the bytes at every `step`-th position changed.
fn touched(data: &[u8], step: usize) -> Vec<u8> {
    let mut out = data.to_vec();
    for i in (step / 2..out.len()).step_by(step) {
        out[i] ^= 0x5a;
    }
    out
}

fn base() -> TestRepo {
    let r = TestRepo::new();
    r.write("README", "hello\n");
    r.write("blob.bin", noise(1, 3000));
    r.write("doomed.bin", noise(2, 700));
    r.write("big.bin", noise(3, 200_000));
    r.write("moved.bin", noise(4, 5000));
    r.write("mode.bin", noise(5, 100));
    r.write("same.bin", noise(6, 900));
    r.commit("base");
    r.mark_base();
    r
}

/// Exports, compares with every git, then checks that `--check` accepts
/// the files and that series apply rebuilds the same trees from them.
fn assert_exports_and_applies(r: &TestRepo) {
    assert_matches_git(r, 1, "PATCH");
    let dir = r.export(1, "PATCH");
    let series = series_export::generate(&r.options(1, "PATCH", Some(&dir))).unwrap();
    assert_eq!(series_export::check(&dir, &series.files).unwrap(), None);
    assert_applies(r, &dir);
}

fn trees(repo: &Path, range: &str) -> String {
    let out = std::process::Command::new("git")
        .args(["log", "--format=%T %s", range])
        .current_dir(repo)
        .output()
        .unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap()
}

/// series apply, on a clone at the base, makes the same trees from `dir`.
fn assert_applies(r: &TestRepo, dir: &Path) {
    let clone = r.scratch("applied");
    let clone = clone.join("tree");
    r.git(&[
        "clone",
        "-q",
        r.path.to_str().unwrap(),
        clone.to_str().unwrap(),
    ]);
    let git = |args: &[&str]| {
        let ok = std::process::Command::new("git")
            .args(args)
            .current_dir(&clone)
            .status()
            .unwrap()
            .success();
        assert!(ok, "git {args:?}");
    };
    let base = r.git(&["rev-parse", series_export::BASE_REF]);
    git(&["reset", "-q", "--hard", base.trim()]);
    let repo = git2::Repository::open(&clone).unwrap();
    let patches = series_apply::mail::read_series(dir).unwrap().patches;
    series_apply::apply_series(&repo, &patches, &Default::default()).expect("series apply");
    let range = format!("{}..HEAD", base.trim());
    assert_eq!(trees(&clone, &range), trees(&r.path, &range));
}

/// New, modified (small changes: a delta), deleted binary files, a big
/// one changed in a few places (copies longer than 64 KiB), a rename
/// with a change, one without, and a mode change without one.
#[test]
fn new_modified_deleted_renamed_binary_files() {
    let r = base();
    r.write("new.bin", noise(10, 4000));
    r.write("blob.bin", touched(&noise(1, 3000), 1000));
    r.remove("doomed.bin");
    r.commit("binaries: add, change, delete");
    let mut big = touched(&noise(3, 200_000), 90_000);
    big.splice(150_000..150_000, noise(11, 300));
    r.write("big.bin", big);
    r.remove("moved.bin");
    r.write("sub/moved.bin", touched(&noise(4, 5000), 2500));
    r.chmod_x("mode.bin");
    r.remove("same.bin");
    r.write("renamed/same.bin", noise(6, 900));
    r.write("README", "hello\nworld\n");
    r.commit("binaries: big change, rename, mode");
    assert_exports_and_applies(&r);
    let patch = std::fs::read_to_string(
        r.export(1, "PATCH")
            .join("0001-binaries-add-change-delete.patch"),
    )
    .unwrap();
    assert!(patch.contains("\ndelta "), "{patch}");
    assert!(patch.contains("\nliteral 4000\n"), "{patch}");
    assert!(patch.contains(" | Bin 0 -> 4000 bytes\n"), "{patch}");
}

/// Content that a delta cannot shorten is sent literally both ways, and
/// a binary file emptied or filled from empty.
#[test]
fn unrelated_content_and_empty_files() {
    let r = base();
    r.write("blob.bin", noise(20, 3000));
    r.write("doomed.bin", "");
    r.write("empty.bin", "");
    r.commit("binaries: replace, empty");
    r.write("empty.bin", noise(21, 10));
    r.write("doomed.bin", noise(22, 50));
    r.commit("binaries: fill");
    assert_exports_and_applies(&r);
}

/// NUL bytes make a file binary only in its first 8000 bytes; the
/// `binary` attribute makes a text file binary, `diff` makes a file with
/// NUL bytes text, `diff.<driver>.binary` decides for its files.
#[test]
fn attributes_and_the_first_8000_bytes_decide() {
    let r = TestRepo::new();
    r.write(
        ".gitattributes",
        "*.dat binary\n*.raw diff\n*.drv diff=bin\n*.txt diff=text\n",
    );
    r.git(&["config", "diff.bin.binary", "true"]);
    r.git(&["config", "diff.text.binary", "false"]);
    let late_nul = |tail: &str| {
        let mut v = "line\n".repeat(1700).into_bytes();
        v.extend_from_slice(b"\0 late nul\n");
        v.extend_from_slice(tail.as_bytes());
        v
    };
    r.write("late.c", late_nul("end\n"));
    r.write("marked.dat", "text but marked binary\n");
    r.write("forced.raw", b"text\0with a nul\nline\n");
    r.write("driver.drv", "driver says binary\n");
    r.write("driver.txt", b"driver says text\0\n");
    r.commit("base");
    r.mark_base();
    r.write("late.c", late_nul("end changed\n"));
    r.write("marked.dat", "text but marked binary, changed\n");
    r.write("forced.raw", b"text\0with a nul\nline changed\n");
    r.write("driver.drv", "driver says binary, changed\n");
    r.write("driver.txt", b"driver says text\0, changed\n");
    r.commit("attributes decide");
    assert_matches_git(&r, 1, "PATCH");
    let patch = std::fs::read(r.export(1, "PATCH").join("0001-attributes-decide.patch")).unwrap();
    let text = String::from_utf8_lossy(&patch);
    assert!(
        text.contains(" marked.dat | Bin 23 -> 32 bytes\n"),
        "{text}"
    );
    assert!(
        text.contains("\n text\0with a nul\n-line\n+line changed\n"),
        "{text}"
    );
}

/// A binary file turned into a symbolic link and back.
#[test]
fn binary_file_and_symlink_swap() {
    let r = base();
    r.remove("blob.bin");
    std::os::unix::fs::symlink("README", r.path.join("blob.bin")).unwrap();
    r.commit("blob: now a link");
    r.remove("blob.bin");
    r.write("blob.bin", noise(30, 100));
    r.commit("blob: a file again");
    assert_exports_and_applies(&r);
}

/// The cover letter's diffstat with binary and text files: "Bin" widens
/// the count column and the graph.
#[test]
fn diffstat_widths_with_binary_files() {
    let r = base();
    r.write(
        "README",
        (0..300).map(|i| format!("line {i}\n")).collect::<String>(),
    );
    r.write(
        "a/very/long/directory/name/for/the/stat/to/shorten/file.bin",
        noise(40, 123_456),
    );
    r.commit("many lines and a long binary name");
    r.write("README", "short\n");
    r.write("x.bin", noise(41, 9));
    r.commit("fewer lines");
    assert_exports_and_applies(&r);
}

/// git deflates at core.loosecompression, else core.compression, else 1.
#[test]
fn compression_level_follows_the_configuration() {
    for config in [
        &[("core.compression", "9")][..],
        &[("core.compression", "0")],
        &[("core.compression", "-1")],
        &[("core.compression", "9"), ("core.loosecompression", "4")],
    ] {
        let r = base();
        for (key, value) in config {
            r.git(&["config", key, value]);
        }
        r.write("blob.bin", touched(&noise(1, 3000), 700));
        r.write("new.bin", noise(50, 2000));
        r.commit("binaries with another zlib level");
        assert_matches_git(&r, 1, "PATCH");
    }
}

#[test]
fn a_bad_compression_level_is_refused_with_its_name() {
    let r = base();
    r.write("blob.bin", noise(60, 10));
    r.commit("change");
    r.git(&["config", "core.compression", "12"]);
    let err = series_export::generate(&r.options(1, "PATCH", None)).unwrap_err();
    let err = format!("{err:#}");
    assert!(err.contains("core.compression is 12"), "{err}");
}

/// Shapes that reach every part of git's delta: buckets over 64 entries
/// (periodic data), runs of identical blocks, inserts longer than 127
/// bytes, copies longer than 64 KiB, matches grown backwards, tiny files,
/// and deltas longer than the literal.
#[test]
fn delta_shapes_match_git() {
    let periodic: Vec<u8> = b"\0bc".iter().copied().cycle().take(60_000).collect();
    let zeros = vec![0u8; 100_000];
    let random = noise(70, 50_000);
    let mut shapes: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
    shapes.push((periodic.clone(), touched(&periodic, 7_000)));
    shapes.push((zeros.clone(), touched(&zeros, 33_333)));
    let mut edited = random.clone();
    for k in 0..10 {
        let at = 1000 + k * 4000;
        edited.splice(at..at + k * 30, noise(71 + k as u32, 200 + k * 17));
    }
    shapes.push((random.clone(), edited));
    let mut swapped = random[25_000..].to_vec();
    swapped.extend_from_slice(&random[..25_000]);
    shapes.push((random.clone(), swapped));
    let mut appended = random.clone();
    appended.extend(noise(80, 300_000));
    let mut longer = appended.clone();
    longer.extend_from_slice(&appended[..200_000]);
    shapes.push((appended, longer));
    shapes.push((b"\0".repeat(17), b"\0x".repeat(9)));
    shapes.push((b"\0abcdefghijklmno".to_vec(), b"\0abcdefghijklmnp".to_vec()));
    shapes.push((vec![0], vec![1]));
    let mut texty = b"header\0".to_vec();
    texty.extend("some text that repeats a little\n".repeat(300).bytes());
    let mut texty_new = texty.clone();
    texty_new.splice(5000..5000, noise(90, 400));
    shapes.push((texty, texty_new));
    shapes.push((noise(91, 40), noise(92, 20_000)));

    let r = TestRepo::new();
    for (i, (old, _)) in shapes.iter().enumerate() {
        r.write(&format!("shape{i}.bin"), old);
    }
    r.commit("base");
    r.mark_base();
    for (i, (_, new)) in shapes.iter().enumerate() {
        r.write(&format!("shape{i}.bin"), new);
    }
    r.commit("every shape");
    assert_exports_and_applies(&r);
}

/// Rename detection hashes a file marked binary as binary (its CRs
/// count), as git does: here that makes the difference between a rename
/// and a deletion plus a creation.
#[test]
fn rename_scores_of_files_marked_binary() {
    let r = TestRepo::new();
    r.write(".gitattributes", "*.dat binary\n");
    let lines: String = (0..200).map(|i| format!("{}\r\n", i % 10)).collect();
    r.write("old.dat", &lines);
    r.write("old.txt", &lines);
    r.commit("base");
    r.mark_base();
    let changed: String = (0..200)
        .map(|i| {
            if i % 10 < 3 {
                "c\r\n".to_string()
            } else {
                format!("{}\r\n", i % 10)
            }
        })
        .collect();
    r.remove("old.dat");
    r.remove("old.txt");
    r.write("new.dat", &changed);
    r.write("new.txt", &changed);
    r.commit("rename both");
    assert_matches_git(&r, 1, "PATCH");
}
