//! Shared helpers: small git repositories made with the real `git`, patch
//! series made with `git format-patch`, `git am` as the reference, and
//! byte-level snapshots of a repository for the "nothing changed" checks.

#![allow(dead_code)]

use series_apply::mail::{read_series, MailPatch};
use series_apply::{apply_series, Applied, ApplyOptions};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use tempfile::TempDir;

pub const DATE: &str = "1700000000 +0100";

/// A temporary directory holding repositories and series.
pub struct Sandbox {
    pub dir: TempDir,
}

impl Sandbox {
    pub fn new() -> Sandbox {
        Sandbox {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// A new repository `name` on branch `main`.
    pub fn init(&self, name: &str) -> PathBuf {
        let repo = self.path(name);
        std::fs::create_dir_all(&repo).unwrap();
        git(&repo, &["init", "-q", "-b", "main"]);
        repo
    }

    /// A clone of `src` in `name`.
    pub fn clone_repo(&self, src: &Path, name: &str) -> PathBuf {
        let dst = self.path(name);
        git(
            self.dir.path(),
            &["clone", "-q", src.to_str().unwrap(), dst.to_str().unwrap()],
        );
        dst
    }
}

fn git_command(dir: &Path) -> Command {
    let mut cmd = Command::new("git");
    cmd.current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_AUTHOR_NAME", "A U Thor")
        .env("GIT_AUTHOR_EMAIL", "author@example.org")
        .env("GIT_COMMITTER_NAME", "C O Mitter")
        .env("GIT_COMMITTER_EMAIL", "committer@example.org")
        .env("GIT_AUTHOR_DATE", DATE)
        .env("GIT_COMMITTER_DATE", DATE)
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE");
    cmd
}

/// Runs git in `dir`, panics on failure, returns stdout.
pub fn git(dir: &Path, args: &[&str]) -> String {
    git_env(dir, args, &[])
}

pub fn git_env(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> String {
    let mut cmd = git_command(dir);
    cmd.args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("git runs");
    assert!(
        out.status.success(),
        "git {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

pub fn write(repo: &Path, path: &str, content: &str) {
    let file = repo.join(path);
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    std::fs::write(file, content).unwrap();
}

/// Commits everything with `message` (kept verbatim) as `author` ("Name <mail>").
pub fn commit(repo: &Path, message: &str, author: &str, date: &str) {
    git(repo, &["add", "-A"]);
    let msg_file = repo.join(".git").join("TEST_MSG");
    std::fs::write(&msg_file, message).unwrap();
    git_env(
        repo,
        &[
            "commit",
            "-q",
            "--cleanup=verbatim",
            "-F",
            msg_file.to_str().unwrap(),
            "--author",
            author,
        ],
        &[("GIT_AUTHOR_DATE", date)],
    );
}

pub fn head(repo: &Path) -> String {
    git(repo, &["rev-parse", "HEAD"]).trim().to_string()
}

/// `git format-patch -M range -o out` (with a cover letter when asked).
pub fn format_patch(repo: &Path, range: &str, out: &Path, cover: bool) -> Vec<PathBuf> {
    let mut args = vec![
        "format-patch",
        "-q",
        "-M",
        range,
        "-o",
        out.to_str().unwrap(),
    ];
    if cover {
        args.push("--cover-letter");
    }
    git(repo, &args);
    let mut files: Vec<PathBuf> = std::fs::read_dir(out)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files
}

/// Concatenates files into one mbox.
pub fn make_mbox(files: &[PathBuf], mbox: &Path) {
    let mut all = Vec::new();
    for f in files {
        all.extend(std::fs::read(f).unwrap());
    }
    std::fs::write(mbox, all).unwrap();
}

/// Applies with `git am`, one mail at a time with committer = author and
/// the author date as committer date, so commit ids are comparable.
pub fn git_am(repo: &Path, mails: &[PathBuf], patches: &[MailPatch]) {
    for (file, patch) in mails.iter().zip(patches) {
        git_env(
            repo,
            &[
                "am",
                "-q",
                "--committer-date-is-author-date",
                file.to_str().unwrap(),
            ],
            &[
                ("GIT_COMMITTER_NAME", &patch.author_name),
                ("GIT_COMMITTER_EMAIL", &patch.author_email),
            ],
        );
    }
}

pub fn open(repo: &Path) -> git2::Repository {
    git2::Repository::open(repo).unwrap()
}

/// Reads the series at `series` and applies it with series-apply.
pub fn apply(repo: &Path, series: &Path, opts: &ApplyOptions) -> anyhow::Result<Applied> {
    let series = read_series(series)?;
    apply_series(&open(repo), &series.patches, opts)
}

/// Commits from `base` (exclusive) to HEAD, oldest first: (id, tree, message).
pub fn log(repo: &Path, base: &str) -> Vec<(String, String, String)> {
    let ids = git(repo, &["rev-list", "--reverse", &format!("{base}..HEAD")]);
    ids.lines()
        .map(|id| {
            let tree = git(repo, &["rev-parse", &format!("{id}^{{tree}}")]);
            let raw = git(repo, &["cat-file", "commit", id]);
            let message = raw.split_once("\n\n").unwrap().1.to_string();
            (id.to_string(), tree.trim().to_string(), message)
        })
        .collect()
}

/// Everything visible about a repository: refs, HEAD, index bytes and
/// every work tree file (content, mode, link target).
#[derive(Debug, PartialEq, Eq)]
pub struct Snapshot {
    pub head: String,
    pub refs: String,
    pub index: Vec<u8>,
    pub files: BTreeMap<String, String>,
    /// Lock files and the apply journal in .git: none may be left behind.
    pub leftovers: Vec<String>,
}

pub fn snapshot(repo: &Path) -> Snapshot {
    let mut files = BTreeMap::new();
    walk(repo, repo, &mut files);
    Snapshot {
        head: std::fs::read_to_string(repo.join(".git/HEAD")).unwrap(),
        refs: git(repo, &["for-each-ref", "--format=%(refname) %(objectname)"]),
        index: std::fs::read(repo.join(".git/index")).unwrap_or_default(),
        files,
        leftovers: git_leftovers(&repo.join(".git")),
    }
}

fn git_leftovers(git_dir: &Path) -> Vec<String> {
    let mut found = Vec::new();
    let mut dirs = vec![git_dir.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let rel = path
                .strip_prefix(git_dir)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            if rel.ends_with(".lock") || rel.starts_with("series-apply") {
                found.push(rel);
            } else if path.is_dir() && rel != "objects" {
                dirs.push(path);
            }
        }
    }
    found.sort();
    found
}

fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, String>) {
    use std::os::unix::fs::PermissionsExt;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let rel = path
            .strip_prefix(root)
            .unwrap()
            .to_string_lossy()
            .into_owned();
        if rel == ".git" {
            continue;
        }
        let meta = std::fs::symlink_metadata(&path).unwrap();
        if meta.file_type().is_symlink() {
            let target = std::fs::read_link(&path).unwrap();
            out.insert(rel, format!("link {}", target.display()));
        } else if meta.is_dir() {
            out.insert(rel.clone(), "dir".to_string());
            walk(root, &path, out);
        } else {
            let bytes = std::fs::read(&path).unwrap();
            let id = git2::Oid::hash_object(git2::ObjectType::Blob, &bytes).unwrap();
            out.insert(rel, format!("{:o} {id}", meta.permissions().mode()));
        }
    }
}

/// Asserts `result` failed with every one of `needles` in its message and
/// that the repository is exactly as in `before`.
pub fn assert_refused<T: std::fmt::Debug>(
    result: anyhow::Result<T>,
    needles: &[&str],
    repo: &Path,
    before: &Snapshot,
) -> String {
    let err = format!("{:#}", result.expect_err("apply must fail"));
    for needle in needles {
        assert!(
            err.contains(needle),
            "error {err:?} does not mention {needle:?}"
        );
    }
    assert_eq!(
        &snapshot(repo),
        before,
        "the repository changed although apply failed"
    );
    err
}

/// A hand-written patch mail with the given diff.
pub fn mail(subject: &str, diff: &str) -> String {
    format!(
        "From 0000000000000000000000000000000000000000 Mon Sep 17 00:00:00 2001\n\
         From: A U Thor <author@example.org>\n\
         Date: Tue, 14 Nov 2023 23:13:20 +0100\n\
         Subject: [PATCH] {subject}\n\n\
         Body of {subject}.\n---\n{diff}-- \n2.47.3\n\n"
    )
}

/// Writes `text` as the only file `0001-test.patch` of a new series dir.
pub fn series_dir(sandbox: &Sandbox, name: &str, text: &str) -> PathBuf {
    let dir = sandbox.path(name);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("0001-test.patch"), text).unwrap();
    dir
}

pub const AUTHOR: &str = "A U Thor <author@example.org>";
pub const JOERG: &str = "Jörg Müller-Lüdenscheidt <joerg@example.org>";

/// Lines `prefix 1` .. `prefix n`, each ending in a newline.
pub fn numbered(prefix: &str, n: usize) -> String {
    (1..=n).map(|i| format!("{prefix} {i}\n")).collect()
}

/// The base every test starts from: a kernel-like Makefile, a C file, a
/// script, files to rename and delete, a file without final newline.
pub fn base_repo(sandbox: &Sandbox, name: &str) -> PathBuf {
    let repo = sandbox.init(name);
    write(
        &repo,
        "Makefile",
        "# SPDX-License-Identifier: GPL-2.0\nVERSION = 6\nPATCHLEVEL = 12\nSUBLEVEL = 117\nEXTRAVERSION =\n",
    );
    write(&repo, "drivers/base/dd.c", &numbered("dd line", 60));
    write(&repo, "drivers/old_name.c", &numbered("rename me", 30));
    write(&repo, "scripts/run.sh", "#!/bin/sh\necho run\n");
    write(&repo, "doomed.txt", "delete me\n");
    write(&repo, "lonely/dir/only.txt", "only file here\n");
    write(&repo, "nonl.txt", "first\nlast without newline");
    commit(&repo, "base\n", AUTHOR, DATE);
    git(&repo, &["tag", "base"]);
    repo
}

/// Three commits on top of [`base_repo`] covering the diff shapes.
pub fn add_series_commits(repo: &Path) {
    // 1: new files, a change in the middle, non-ASCII author, long subject,
    // trailing blanks and repeated empty lines in the message.
    let mut dd = numbered("dd line", 60);
    dd = dd.replace("dd line 30\n", "dd line 30 changed\nan added line\n");
    write(repo, "drivers/base/dd.c", &dd);
    write(repo, "drivers/base/new.c", "// new file\nint x;\n");
    write(repo, "empty.txt", "");
    commit(
        repo,
        "driver core: a subject long enough that git format-patch has to fold it over two header lines\n\n\
         First paragraph.   \n\n\n\nSecond paragraph after empty lines.\t\n\nSigned-off-by: Jörg <joerg@example.org>\n",
        JOERG,
        "1700000100 +0530",
    );
    // 2: rename with a small change, deletions (one empties a directory).
    git(repo, &["mv", "drivers/old_name.c", "drivers/new_name.c"]);
    let renamed = numbered("rename me", 30).replace("rename me 15\n", "renamed 15\n");
    write(repo, "drivers/new_name.c", &renamed);
    std::fs::remove_file(repo.join("doomed.txt")).unwrap();
    std::fs::remove_dir_all(repo.join("lonely")).unwrap();
    commit(
        repo,
        "drivers: rename and delete\n\nBody.\n",
        AUTHOR,
        "1700000200 -0700",
    );
    // 3: mode change, end of a file without newline, a symlink, edit at the top.
    git(repo, &["update-index", "--chmod=+x", "scripts/run.sh"]);
    std::fs::set_permissions(
        repo.join("scripts/run.sh"),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    write(
        repo,
        "nonl.txt",
        "first\nlast changed, still without newline",
    );
    std::os::unix::fs::symlink("drivers/base/new.c", repo.join("link-to-new")).unwrap();
    let mut dd2 = std::fs::read_to_string(repo.join("drivers/base/dd.c")).unwrap();
    dd2.insert_str(0, "// top comment\n");
    dd2.push_str("last added line\n");
    write(repo, "drivers/base/dd.c", &dd2);
    commit(
        repo,
        "misc: mode, no newline, link\n",
        AUTHOR,
        "1700000300 +0000",
    );
}
