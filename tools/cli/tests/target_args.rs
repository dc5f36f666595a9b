//! `series run` and `series lava` refuse target lists they cannot serve
//! before they build, stage or change anything.

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

#[test]
fn lava_refuses_arm64_targets_before_staging() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_series"))
        .args(["lava", "--iommu", "intel,smmuv3-dt", "--out"])
        .arg(dir.path().join("lava"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--iommu smmuv3-dt: LAVA jobs are written for x86_64 kernels only"),
        "{err}"
    );
    assert!(
        !dir.path().join("lava").exists(),
        "lava wrote {}",
        dir.path().display()
    );
}
