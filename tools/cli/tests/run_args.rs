//! `series run` refuses contradictory vIOMMU lists before it builds or
//! changes anything.

use std::process::Command;

fn run_err(args: &[&str]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_series"))
        .arg("run")
        .args(args)
        .env("SERIES_OUT", dir.path().join("out"))
        .output()
        .unwrap();
    assert!(!out.status.success(), "series run {args:?} succeeded");
    assert!(
        !dir.path().join("out").exists(),
        "series run {args:?} wrote to out/ before refusing"
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn base_iommu_must_be_one_of_the_run() {
    let err = run_err(&["--iommu", "intel", "--base-iommu", "virtio", "--no-setup"]);
    assert!(
        err.contains("--base-iommu virtio is not among the vIOMMUs of this run (intel)"),
        "{err}"
    );
}

#[test]
fn base_iommu_and_patched_only_exclude_each_other() {
    let err = run_err(&["--base-iommu", "virtio", "--patched-only", "--no-setup"]);
    assert!(err.contains("cannot be used with"), "{err}");
}
