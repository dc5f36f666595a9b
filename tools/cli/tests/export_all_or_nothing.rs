//! `series export` writes the whole series or nothing: when the disk
//! fills up half way (here: a file-size limit, which fails writes the
//! same way), patches/ keeps every old file and no temporary file.

mod common;

use common::Fixture;
use std::path::Path;
use std::process::Command;

fn snapshot(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.file_type().unwrap().is_file())
        .map(|e| {
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect();
    out.sort();
    out
}

#[test]
fn an_export_that_runs_out_of_space_changes_nothing() {
    let f = Fixture::new();
    // A last patch much bigger than the others.
    let big: String = (0..400)
        .map(|i| format!("line {i} of a big file\n"))
        .collect();
    f.write("drivers/base/big.txt", &big);
    f.commit("driver core: Add a big file\n\nSigned-off-by: A U Thor <author@example.org>\n");
    f.series_ok(&["export"]);
    f.commit_project("four patches");
    // Every file changes: a new subject prefix.
    let manifest = f.patches.join("series.toml");
    let text = std::fs::read_to_string(&manifest).unwrap();
    std::fs::write(
        &manifest,
        text.replacen(
            "version = 1\n",
            "version = 1\nsubject_prefix = \"RFC PATCH\"\n",
            1,
        ),
    )
    .unwrap();
    let before = snapshot(&f.patches);
    let biggest_other = before
        .iter()
        .filter(|(n, _)| n.ends_with(".patch") && !n.starts_with("0004-"))
        .map(|(_, b)| b.len())
        .max()
        .unwrap();
    let last = before.iter().find(|(n, _)| n.starts_with("0004-")).unwrap();
    // A limit in 512-byte blocks that the small files fit and the last
    // one does not: its write fails with EFBIG, like a full disk.
    let blocks = biggest_other.div_ceil(512) + 1;
    assert!(
        last.1.len() > blocks * 512 + 512,
        "the fixture's last patch is too small"
    );
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "trap '' XFSZ; ulimit -f {blocks}; exec \"$0\" \"$@\""
        ))
        .arg(env!("CARGO_BIN_EXE_series"))
        .args(["export", "--patches"])
        .arg(&f.patches)
        .arg("--tree")
        .arg(&f.tree)
        .current_dir(&f.project)
        .env("HOME", &f.home)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("SERIES_ROOT", &f.project)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "the export should have failed: {err}"
    );
    let mut now = snapshot(&f.patches);
    now.retain(|(n, _)| n != "series.toml");
    let mut expected = before.clone();
    expected.retain(|(n, _)| n != "series.toml");
    let names = |v: &[(String, Vec<u8>)]| v.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>();
    assert_eq!(names(&now), names(&expected), "no file added or removed");
    assert!(now == expected, "an old patch was rewritten: {err}");
    assert!(err.contains("nothing in"), "{err}");
    // Without the limit it goes through.
    f.series_ok(&["export"]);
    assert!(
        std::fs::read_to_string(f.patches.join("0004-driver-core-Add-a-big-file.patch"))
            .unwrap()
            .contains("[RFC PATCH 4/4]")
    );
}
