//! An output the user asked for is checked before any work: an unwritable
//! `--kcidb` path fails at once, not after the builds and boots.

use std::process::Command;

fn series(args: &[&str], dir: &std::path::Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_series"))
        .args(args)
        .current_dir(dir)
        .env("SERIES_OUT", dir.join("out"))
        .env("SERIES_CACHE", dir.join("cache"))
        .output()
        .expect("run series")
}

#[test]
fn an_unwritable_kcidb_path_fails_before_anything_is_built_or_booted() {
    let dir = tempfile::tempdir().unwrap();
    let kernel = dir.path().join("bzImage");
    std::fs::write(&kernel, b"not a kernel").unwrap();
    let bad = dir.path().join("no-such-dir/kcidb.json");
    for verb in [
        vec!["test", "--kernel", kernel.to_str().unwrap()],
        vec!["run", "--no-setup"],
    ] {
        let mut args = verb.clone();
        args.extend(["--kcidb", bad.to_str().unwrap()]);
        let out = series(&args, dir.path());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{verb:?}: {err}");
        assert!(
            err.contains("cannot write --kcidb") && err.contains("nothing was built or booted"),
            "{verb:?}: {err}"
        );
        assert!(
            !dir.path().join("out/report").exists(),
            "{verb:?}: work was started"
        );
    }
}

#[test]
fn a_writable_kcidb_path_is_not_left_behind_by_the_check() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("kcidb.json");
    let kernel = dir.path().join("bzImage");
    std::fs::write(&kernel, b"not a kernel").unwrap();
    // The check passes, then the (bogus) kernel fails the verb.
    let out = series(
        &[
            "test",
            "--kernel",
            kernel.to_str().unwrap(),
            "--kcidb",
            good.to_str().unwrap(),
        ],
        dir.path(),
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("cannot write --kcidb"), "{err}");
    assert!(!good.exists(), "the check must not leave an empty file");
}
