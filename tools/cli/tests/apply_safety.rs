//! `series apply` as a process: one writer at a time, and a kill at any
//! write step leaves the repository unchanged, fully applied, or in a
//! state that the next apply names and `--abort` restores exactly.

use std::collections::BTreeMap;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_series");

fn git_cmd(dir: &Path) -> Command {
    let mut cmd = Command::new("git");
    cmd.current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_AUTHOR_NAME", "A U Thor")
        .env("GIT_AUTHOR_EMAIL", "author@example.org")
        .env("GIT_COMMITTER_NAME", "A U Thor")
        .env("GIT_COMMITTER_EMAIL", "author@example.org")
        .env("GIT_AUTHOR_DATE", "1700000000 +0100")
        .env("GIT_COMMITTER_DATE", "1700000000 +0100")
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE");
    cmd
}

fn git(dir: &Path, args: &[&str]) -> String {
    let out = git_cmd(dir).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn series(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// HEAD, refs, index bytes, work tree files, and what lies in .git that
/// must not be left behind (lock files, the journal).
#[derive(Debug, PartialEq, Eq)]
struct Snapshot {
    head: String,
    refs: String,
    index: Vec<u8>,
    files: BTreeMap<String, String>,
    leftovers: Vec<String>,
}

fn snapshot(repo: &Path) -> Snapshot {
    let mut files = BTreeMap::new();
    walk(repo, repo, &mut files, false);
    let mut git_files = BTreeMap::new();
    walk(&repo.join(".git"), &repo.join(".git"), &mut git_files, true);
    Snapshot {
        head: std::fs::read_to_string(repo.join(".git/HEAD")).unwrap(),
        refs: git(repo, &["for-each-ref", "--format=%(refname) %(objectname)"]),
        index: std::fs::read(repo.join(".git/index")).unwrap_or_default(),
        files,
        leftovers: git_files
            .into_keys()
            .filter(|k| k.ends_with(".lock") || k.starts_with("series-apply"))
            .collect(),
    }
}

fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, String>, in_git: bool) {
    use std::os::unix::fs::PermissionsExt;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let rel = path
            .strip_prefix(root)
            .unwrap()
            .to_string_lossy()
            .into_owned();
        if !in_git && rel == ".git" {
            continue;
        }
        if in_git && rel == "objects" {
            continue;
        }
        let meta = std::fs::symlink_metadata(&path).unwrap();
        if meta.file_type().is_symlink() {
            out.insert(
                rel,
                format!("link {}", std::fs::read_link(&path).unwrap().display()),
            );
        } else if meta.is_dir() {
            if !in_git {
                out.insert(rel.clone(), "dir".into());
            }
            walk(root, &path, out, in_git);
        } else if in_git {
            out.insert(rel, String::new());
        } else {
            let bytes = std::fs::read(&path).unwrap();
            let id = git2::Oid::hash_object(git2::ObjectType::Blob, &bytes).unwrap();
            out.insert(rel, format!("{:o} {id}", meta.permissions().mode()));
        }
    }
}

/// A base repository with `files` files and a series of `patches`
/// commits, each editing several files, adding one and deleting one
/// (some patches also rename a file and change a mode).
fn fixture(root: &Path, files: usize, patches: usize) -> (PathBuf, PathBuf, String) {
    let repo = root.join("template");
    std::fs::create_dir_all(&repo).unwrap();
    git(&repo, &["init", "-q", "-b", "main"]);
    for i in 0..files {
        let body: String = (0..40).map(|l| format!("file {i} line {l}\n")).collect();
        let path = repo.join(format!("dir{}/f{i}.c", i % 7));
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, body).unwrap();
    }
    git(&repo, &["add", "-A"]);
    git(&repo, &["commit", "-q", "-m", "base"]);
    git(&repo, &["tag", "base"]);
    for p in 0..patches {
        for k in 0..5 {
            let i = (p * 5 + k) % files;
            let path = repo.join(format!("dir{}/f{i}.c", i % 7));
            if let Ok(old) = std::fs::read_to_string(&path) {
                std::fs::write(
                    &path,
                    old.replace(" line 20\n", &format!(" line 20\npatch {p}\n")),
                )
                .unwrap();
            }
        }
        std::fs::create_dir_all(repo.join(format!("new{p}"))).unwrap();
        std::fs::write(
            repo.join(format!("new{p}/added.c")),
            format!("added by {p}\n"),
        )
        .unwrap();
        let doomed = repo.join(format!("dir{}/f{}.c", (files - 1 - p) % 7, files - 1 - p));
        let _ = std::fs::remove_file(doomed);
        git(&repo, &["add", "-A"]);
        git(
            &repo,
            &["commit", "-q", "-m", &format!("patch {p}\n\nBody {p}.")],
        );
    }
    let tip = git(&repo, &["rev-parse", "HEAD"]).trim().to_string();
    let series_dir = root.join("series");
    git(
        &repo,
        &[
            "format-patch",
            "-q",
            "-M",
            "base..HEAD",
            "-o",
            series_dir.to_str().unwrap(),
        ],
    );
    git(&repo, &["reset", "-q", "--hard", "base"]);
    git(&repo, &["tag", "-d", "base"]);
    (repo, series_dir, tip)
}

fn copy_repo(from: &Path, to: &Path) {
    let status = Command::new("cp")
        .args(["-a", from.to_str().unwrap(), to.to_str().unwrap()])
        .status()
        .unwrap();
    assert!(status.success());
}

fn apply_args<'a>(repo: &'a Path, series_dir: &'a Path) -> Vec<&'a str> {
    vec![
        "apply",
        "--tree",
        repo.to_str().unwrap(),
        "--series",
        series_dir.to_str().unwrap(),
    ]
}

fn fsck(repo: &Path) {
    let out = git_cmd(repo)
        .args(["fsck", "--no-dangling"])
        .output()
        .unwrap();
    assert!(
        out.status.success() && out.stderr.is_empty(),
        "git fsck: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn assert_fully_applied(repo: &Path, tip: &str) {
    assert_eq!(git(repo, &["rev-parse", "HEAD"]).trim(), tip);
    assert_eq!(git(repo, &["status", "--porcelain"]), "");
    assert!(snapshot(repo).leftovers.is_empty());
    fsck(repo);
}

#[test]
fn two_concurrent_applies_exactly_one_succeeds() {
    let sb = tempfile::tempdir().unwrap();
    let (template, series_dir, tip) = fixture(sb.path(), 60, 20);
    for round in 0..6 {
        let repo = sb.path().join(format!("round{round}"));
        copy_repo(&template, &repo);
        let args = apply_args(&repo, &series_dir);
        let spawn = || {
            Command::new(BIN)
                .args(&args)
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        };
        let (a, b) = (spawn(), spawn());
        let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
        let wins = [&a, &b].iter().filter(|o| o.status.success()).count();
        assert_eq!(wins, 1, "round {round}: {}\n---\n{}", text(&a), text(&b));
        let loser = if a.status.success() { &b } else { &a };
        let why = text(loser);
        assert!(
            why.contains("another `series apply`")
                || why.contains(".lock exists")
                || why.contains("already exists in the tree")
                || why.contains("the series looks applied")
                || why.contains("HEAD moved while the apply started")
                || why.contains("interrupted"),
            "round {round}: unclear refusal: {why}"
        );
        assert_fully_applied(&repo, &tip);
    }
}

#[test]
fn a_running_git_blocks_the_apply_and_a_stale_branch_lock_is_named() {
    let sb = tempfile::tempdir().unwrap();
    let (repo, series_dir, _) = fixture(sb.path(), 10, 2);
    for (lock, needle) in [
        (
            ".git/index.lock",
            "another git process is writing the index",
        ),
        (".git/refs/heads/main.lock", "writing the branch main"),
        (".git/HEAD.lock", "HEAD.lock exists"),
    ] {
        std::fs::write(repo.join(lock), "").unwrap();
        let before = snapshot(&repo);
        let out = series(&apply_args(&repo, &series_dir), &[]);
        let msg = text(&out);
        assert!(!out.status.success());
        assert!(
            msg.contains(lock.trim_start_matches(".git/")) && msg.contains(needle),
            "{msg}"
        );
        assert!(msg.contains("remove"), "{msg}");
        assert_eq!(snapshot(&repo), before, "{lock}: the repository changed");
        std::fs::remove_file(repo.join(lock)).unwrap();
    }
}

#[test]
fn killed_at_every_write_step_the_repository_is_unchanged_applied_or_restorable() {
    let sb = tempfile::tempdir().unwrap();
    let (template, series_dir, tip) = fixture(sb.path(), 40, 12);
    let pristine = snapshot(&template);
    let (mut unchanged, mut applied, mut aborted) = (0, 0, 0);
    let mut point = 0u32;
    loop {
        point += 1;
        assert!(point < 2000, "the apply never finished");
        let repo = sb.path().join(format!("kill{point}"));
        copy_repo(&template, &repo);
        let out = series(
            &apply_args(&repo, &series_dir),
            &[("SERIES_APPLY_KILL_AT", &point.to_string())],
        );
        if out.status.success() {
            assert_fully_applied(&repo, &tip);
            applied += 1;
            break;
        }
        assert_eq!(
            out.status.signal(),
            Some(9),
            "point {point}: {}",
            text(&out)
        );
        if snapshot(&repo) == pristine {
            unchanged += 1;
        } else {
            // The next apply recognises the interrupted one and names --abort.
            let again = series(&apply_args(&repo, &series_dir), &[]);
            let msg = text(&again);
            assert!(!again.status.success(), "point {point}: {msg}");
            assert!(
                msg.contains("interrupted") && msg.contains("--abort"),
                "point {point}: {msg}"
            );
            let abort = series(&["apply", "--abort", "--tree", repo.to_str().unwrap()], &[]);
            assert!(abort.status.success(), "point {point}: {}", text(&abort));
            assert_eq!(
                snapshot(&repo),
                pristine,
                "point {point}: --abort did not restore"
            );
            aborted += 1;
        }
        fsck(&repo);
        std::fs::remove_dir_all(&repo).unwrap();
    }
    eprintln!(
        "kill points: {} ({unchanged} unchanged, {aborted} restored by --abort, {applied} applied)",
        point
    );
    assert!(
        aborted > 50,
        "too few kill points inside the write phase: {aborted}"
    );
    // After an abort the series applies normally.
    let repo = sb.path().join("after");
    copy_repo(&template, &repo);
    let out = series(
        &apply_args(&repo, &series_dir),
        &[("SERIES_APPLY_KILL_AT", "30")],
    );
    assert_eq!(out.status.signal(), Some(9));
    assert!(
        series(&["apply", "--abort", "--tree", repo.to_str().unwrap()], &[])
            .status
            .success()
    );
    let out = series(&apply_args(&repo, &series_dir), &[]);
    assert!(out.status.success(), "{}", text(&out));
    assert_fully_applied(&repo, &tip);
}

#[test]
fn abort_without_an_interrupted_apply_changes_nothing() {
    let sb = tempfile::tempdir().unwrap();
    let (repo, _, _) = fixture(sb.path(), 5, 1);
    let before = snapshot(&repo);
    let out = series(&["apply", "--abort", "--tree", repo.to_str().unwrap()], &[]);
    assert!(!out.status.success());
    assert!(
        text(&out).contains("no interrupted `series apply`"),
        "{}",
        text(&out)
    );
    assert_eq!(snapshot(&repo), before);
}

const MANIFEST: &str = "[series]\nname = \"t\"\nversion = 1\nsubject_prefix = \"PATCH\"\n\n[base]\nrevision = \"base\"\nkernel_version = \"7.2.13\"\n\n[author]\nname = \"A U Thor\"\nemail = \"author@example.org\"\n\n[mail]\nto = []\ncc = []\n";

#[test]
fn a_non_ascii_subject_survives_export_list_and_apply() {
    let sb = tempfile::tempdir().unwrap();
    let repo = sb.path().join("tree");
    std::fs::create_dir_all(&repo).unwrap();
    git(&repo, &["init", "-q", "-b", "main"]);
    std::fs::write(
        repo.join("Makefile"),
        "VERSION = 7\nPATCHLEVEL = 2\nSUBLEVEL = 13\n",
    )
    .unwrap();
    git(&repo, &["add", "-A"]);
    git(&repo, &["commit", "-q", "-m", "base"]);
    git(&repo, &["tag", "base"]);
    for (i, subject) in ["Noël: fix the tree", "Ünïcode first", "é"]
        .iter()
        .enumerate()
    {
        std::fs::write(repo.join(format!("f{i}.c")), format!("{subject}\n")).unwrap();
        git(&repo, &["add", "-A"]);
        git(&repo, &["commit", "-q", "-m", subject]);
    }
    let tip = git(&repo, &["rev-parse", "HEAD"]).trim().to_string();
    let patches = sb.path().join("patches");
    std::fs::create_dir_all(&patches).unwrap();
    std::fs::write(patches.join("series.toml"), MANIFEST).unwrap();
    let out = sb.path().join("out");
    let p = patches.to_str().unwrap();
    let export = series(
        &[
            "--patches",
            p,
            "export",
            "--tree",
            repo.to_str().unwrap(),
            "--base",
            "base",
            "--output",
            out.to_str().unwrap(),
        ],
        &[],
    );
    assert!(export.status.success(), "{}", text(&export));
    std::fs::copy(patches.join("series.toml"), out.join("series.toml")).unwrap();
    let list = series(&["--patches", out.to_str().unwrap(), "list"], &[]);
    assert!(list.status.success(), "{}", text(&list));
    assert!(
        text(&list).contains("Noël: fix the tree"),
        "{}",
        text(&list)
    );

    git(&repo, &["reset", "-q", "--hard", "base"]);
    let apply = series(
        &[
            "--patches",
            p,
            "apply",
            "--tree",
            repo.to_str().unwrap(),
            "--series",
            out.to_str().unwrap(),
        ],
        &[],
    );
    assert!(apply.status.success(), "{}", text(&apply));
    let subjects = git(&repo, &["log", "--format=%s", "base..HEAD"]);
    assert_eq!(subjects, "é\nÜnïcode first\nNoël: fix the tree\n");
    // Same trees as the original commits (the committer differs).
    assert_eq!(
        git(&repo, &["rev-parse", "HEAD^{tree}"]),
        git(&repo, &["rev-parse", &format!("{tip}^{{tree}}")])
    );
}

#[test]
fn export_removes_only_what_it_wrote_and_says_so() {
    let sb = tempfile::tempdir().unwrap();
    let (repo, _, _) = fixture(sb.path(), 8, 2);
    git(&repo, &["tag", "base"]);
    for i in 0..2 {
        std::fs::write(repo.join(format!("x{i}.c")), "x\n").unwrap();
        git(&repo, &["add", "-A"]);
        git(&repo, &["commit", "-q", "-m", &format!("x: add {i}")]);
    }
    let patches = sb.path().join("patches");
    std::fs::create_dir_all(&patches).unwrap();
    std::fs::write(patches.join("series.toml"), MANIFEST).unwrap();
    let out = sb.path().join("out");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(out.join("v2-0001-another-version.patch"), "v2\n").unwrap();
    std::fs::write(out.join("0009-unrelated.patch"), "unrelated\n").unwrap();
    let args = [
        "--patches",
        patches.to_str().unwrap(),
        "export",
        "--tree",
        repo.to_str().unwrap(),
        "--base",
        "base",
        "--output",
        out.to_str().unwrap(),
    ];
    let first = series(&args, &[]);
    assert!(first.status.success(), "{}", text(&first));
    assert!(
        text(&first).contains("left 0009-unrelated.patch alone"),
        "{}",
        text(&first)
    );
    // One commit fewer: the file export wrote for it is removed, and said so.
    git(&repo, &["reset", "-q", "--hard", "HEAD~"]);
    let second = series(&args, &[]);
    let msg = text(&second);
    assert!(second.status.success(), "{msg}");
    assert!(msg.contains("removed 0002-x-add-1.patch"), "{msg}");
    assert!(out.join("v2-0001-another-version.patch").exists());
    assert!(out.join("0009-unrelated.patch").exists());
    assert!(!out.join("0002-x-add-1.patch").exists());
}

#[test]
fn a_failure_at_any_write_step_restores_the_repository_in_process() {
    let sb = tempfile::tempdir().unwrap();
    let (template, series_dir, tip) = fixture(sb.path(), 20, 6);
    let pristine = snapshot(&template);
    let mut point = 0u32;
    loop {
        point += 1;
        assert!(point < 2000, "the apply never finished");
        let repo = sb.path().join(format!("fail{point}"));
        copy_repo(&template, &repo);
        let out = series(
            &apply_args(&repo, &series_dir),
            &[("SERIES_APPLY_FAIL_AT", &point.to_string())],
        );
        if out.status.success() {
            assert_fully_applied(&repo, &tip);
            break;
        }
        let msg = text(&out);
        assert!(msg.contains("injected failure"), "point {point}: {msg}");
        assert!(!msg.contains("restoring failed"), "point {point}: {msg}");
        assert!(!msg.contains("class="), "point {point}: {msg}");
        assert_eq!(snapshot(&repo), pristine, "point {point}: {msg}");
        fsck(&repo);
        std::fs::remove_dir_all(&repo).unwrap();
    }
    eprintln!("failure points: {point}");
    assert!(point > 30, "too few write steps: {point}");
}
