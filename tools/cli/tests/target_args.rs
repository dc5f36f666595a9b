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

#[test]
fn the_manifests_known_failures_are_checked_before_anything_runs() {
    let dir = tempfile::tempdir().unwrap();
    let patches = dir.path().join("patches");
    std::fs::create_dir_all(&patches).unwrap();
    std::fs::write(
        patches.join("series.toml"),
        "[series]\nname = \"t\"\nversion = 1\n\n[base]\nrevision = \"v7.2\"\nkernel_version = \"7.2.13\"\n\
         known_failures = [\"virtio\", \"bogus\"]\n\n[author]\nname = \"A\"\nemail = \"a@x\"\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_series"))
        .arg("--patches")
        .arg(&patches)
        .args(["run", "--no-setup"])
        .env("SERIES_OUT", dir.path().join("out"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("base.known_failures of"), "{err}");
    assert!(err.contains("bogus"), "{err}");
    assert!(!dir.path().join("out").exists());
}
