//! An apply that cannot write into a directory of the work tree fails,
//! restores what it wrote, and leaves the repository usable: no lock, no
//! journal, so the next git command (or apply) just works.
//!
//! Needs a directory that refuses writes even to root: `chattr +i` on
//! ext4 (the CI machines). Where chattr cannot do it, the test says so
//! and checks nothing.

use std::path::{Path, PathBuf};
use std::process::Command;

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("HOME", dir)
        .env("GIT_AUTHOR_NAME", "A U Thor")
        .env("GIT_AUTHOR_EMAIL", "a@example.org")
        .env("GIT_COMMITTER_NAME", "A U Thor")
        .env("GIT_COMMITTER_EMAIL", "a@example.org")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `chattr +i` while alive, `chattr -i` when dropped.
struct Immutable(PathBuf);

impl Immutable {
    fn set(dir: &Path) -> Option<Immutable> {
        let ok = Command::new("chattr")
            .arg("+i")
            .arg(dir)
            .status()
            .is_ok_and(|s| s.success());
        let refused = ok && std::fs::write(dir.join("probe"), "x").is_err();
        let guard = ok.then(|| Immutable(dir.to_path_buf()));
        refused.then_some(())?;
        guard
    }
}

impl Drop for Immutable {
    fn drop(&mut self) {
        let _ = Command::new("chattr").arg("-i").arg(&self.0).status();
    }
}

#[test]
fn an_apply_into_an_unwritable_directory_leaves_no_lock_and_no_journal() {
    let sb = tempfile::tempdir().unwrap();
    let tree = sb.path().join("t");
    std::fs::create_dir_all(tree.join("a")).unwrap();
    std::fs::create_dir_all(tree.join("z")).unwrap();
    std::fs::write(tree.join("a/first.c"), "1\n").unwrap();
    std::fs::write(tree.join("z/last.c"), "1\n").unwrap();
    git(&tree, &["init", "-q", "-b", "main"]);
    git(&tree, &["add", "-A"]);
    git(&tree, &["commit", "-q", "-m", "base"]);
    git(&tree, &["update-ref", "refs/series/base", "HEAD"]);
    std::fs::write(tree.join("a/first.c"), "2\n").unwrap();
    std::fs::write(tree.join("z/last.c"), "2\n").unwrap();
    git(
        &tree,
        &[
            "commit",
            "-q",
            "-a",
            "-m",
            "x: Change both",
            "-m",
            "Signed-off-by: A U Thor <a@example.org>",
        ],
    );
    let series = sb.path().join("series");
    git(
        &tree,
        &["format-patch", "-q", "-1", "-o", series.to_str().unwrap()],
    );
    git(&tree, &["reset", "-q", "--hard", "HEAD~1"]);
    let base = git(&tree, &["rev-parse", "HEAD"]);

    let Some(_guard) = Immutable::set(&tree.join("z")) else {
        eprintln!("chattr +i does not refuse writes here: nothing checked");
        return;
    };
    let out = Command::new(env!("CARGO_BIN_EXE_series"))
        .args(["apply", "--series"])
        .arg(&series)
        .arg("--tree")
        .arg(&tree)
        .env("HOME", sb.path())
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(err.contains("restored as they were"), "{err}");
    for lock in ["index.lock", "HEAD.lock", "refs/heads/main.lock"] {
        assert!(
            !tree.join(".git").join(lock).exists(),
            "{lock} left behind: {err}"
        );
    }
    assert!(
        !tree.join(".git/series-apply").exists(),
        "journal left behind: {err}"
    );
    assert_eq!(git(&tree, &["rev-parse", "HEAD"]), base);
    assert_eq!(git(&tree, &["status", "--porcelain"]), "");
    assert_eq!(
        std::fs::read_to_string(tree.join("a/first.c")).unwrap(),
        "1\n"
    );
}
