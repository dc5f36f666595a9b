//! Corner cases where series-apply once differed from `git am`:
//! each mail is applied by `git am` and by series-apply on two clones of
//! one base, and both must make the same commits (ids, so trees,
//! authors, dates and messages) or both must refuse.

mod common;

use common::*;
use series_apply::mail::read_series;
use series_apply::ApplyOptions;
use std::path::{Path, PathBuf};
use std::process::Command;

const HEAD_LINES: &str = "From 0000000000000000000000000000000000000000 Mon Sep 17 00:00:00 2001\n";

/// A mail from raw header lines (after the From line), body and diff.
fn raw_mail(headers: &[u8], body: &[u8], diff: &[u8]) -> Vec<u8> {
    [HEAD_LINES.as_bytes(), headers, b"\n", body, b"---\n", diff].concat()
}

fn std_headers(from: &str, date: &str) -> Vec<u8> {
    format!("From: {from}\nDate: {date}\nSubject: [PATCH] nonl: edit\n").into_bytes()
}

const EDIT_NONL: &[u8] = b"diff --git a/nonl.txt b/nonl.txt\n--- a/nonl.txt\n+++ b/nonl.txt\n@@ -1,2 +1,2 @@\n-first\n+first edited\n last without newline\n\\ No newline at end of file\n";
const DATE_OK: &str = "Tue, 14 Nov 2023 23:13:20 +0100";

struct Pair {
    sb: Sandbox,
    source: PathBuf,
}

fn pair() -> Pair {
    let sb = Sandbox::new();
    let source = base_repo(&sb, "source");
    Pair { sb, source }
}

impl Pair {
    fn clones(&self) -> (PathBuf, PathBuf) {
        let ours = self.sb.clone_repo(&self.source, "ours");
        let theirs = self.sb.clone_repo(&self.source, "theirs");
        (ours, theirs)
    }

    fn series(&self, mail: &[u8]) -> PathBuf {
        let dir = self.sb.path("series");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("0001-test.patch"), mail).unwrap();
        dir
    }

    /// Both apply `mail` and make the same commit; returns our clone.
    fn same_commit(&self, mail: &[u8]) -> PathBuf {
        self.same_commit_after(mail, |_| {})
    }

    /// As [`Pair::same_commit`], with `prepare` run on both clones first.
    fn same_commit_after(&self, mail: &[u8], prepare: impl Fn(&Path)) -> PathBuf {
        let dir = self.series(mail);
        let (ours, theirs) = self.clones();
        prepare(&ours);
        prepare(&theirs);
        let base = head(&ours);
        apply(&ours, &dir, &ApplyOptions::default()).expect("series-apply applies it");
        let patches = read_series(&dir).unwrap().patches;
        git_am(&theirs, &[dir.join("0001-test.patch")], &patches);
        let who = |r: &Path| git(r, &["log", "-1", "--format=%an|%ae|%ad|%B"]);
        assert_eq!(who(&ours), who(&theirs), "author or message differ");
        assert_eq!(log(&ours, &base), log(&theirs, &base), "commits differ");
        assert_eq!(snapshot(&ours).files, snapshot(&theirs).files);
        assert_eq!(
            git(&ours, &["ls-files", "-s"]),
            git(&theirs, &["ls-files", "-s"])
        );
        ours
    }

    /// `git am` refuses `mail`, and so does series-apply, changing nothing;
    /// returns our message.
    fn both_refuse(&self, mail: &[u8], needles: &[&str]) -> String {
        let dir = self.series(mail);
        let (ours, theirs) = self.clones();
        let out = git_am_quiet(&theirs, &dir.join("0001-test.patch"));
        assert!(!out.status.success(), "git am accepted it");
        let before = snapshot(&ours);
        assert_refused(
            apply(&ours, &dir, &ApplyOptions::default()),
            needles,
            &ours,
            &before,
        )
    }
}

/// `git am -q MAIL` in `repo`, with no user configuration.
fn git_am_quiet(repo: &Path, mail: &Path) -> std::process::Output {
    Command::new("git")
        .current_dir(repo)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_COMMITTER_NAME", "C")
        .env("GIT_COMMITTER_EMAIL", "c@x")
        .args(["am", "-q"])
        .arg(mail)
        .output()
        .unwrap()
}

#[test]
fn an_index_line_mode_does_not_change_the_trees_mode() {
    let p = pair();
    let diff = b"diff --git a/scripts/run.sh b/scripts/run.sh\nindex 1111111..2222222 100755\n--- a/scripts/run.sh\n+++ b/scripts/run.sh\n@@ -1,2 +1,2 @@\n #!/bin/sh\n-echo run\n+echo ran\n";
    let mail = raw_mail(&std_headers(AUTHOR, DATE_OK), b"Body.\n", diff);
    let ours = p.same_commit(&mail);
    assert!(git(&ours, &["ls-files", "-s", "scripts/run.sh"]).starts_with("100644 "));

    // And says so, in git's words.
    let dir = p.series(&mail);
    let fresh = p.sb.clone_repo(&p.source, "again");
    let applied = apply(&fresh, &dir, &ApplyOptions::default()).unwrap();
    let theirs = p.sb.clone_repo(&p.source, "git-am-again");
    let out = git_am_quiet(&theirs, &dir.join("0001-test.patch"));
    let git_says = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        git_says.contains("scripts/run.sh has type 100644, expected 100755"),
        "{git_says}"
    );
    assert_eq!(applied.warnings.len(), 1, "{:?}", applied.warnings);
    assert!(
        applied.warnings[0].ends_with(": scripts/run.sh has type 100644, expected 100755"),
        "{:?}",
        applied.warnings
    );
}

#[test]
fn a_file_becoming_a_symlink_in_place_is_refused() {
    let p = pair();
    let diff = b"diff --git a/doomed.txt b/doomed.txt\nold mode 100644\nnew mode 120000\n";
    p.both_refuse(
        &raw_mail(&std_headers(AUTHOR, DATE_OK), b"Body.\n", diff),
        &["0001-test.patch", "new mode 120000", "doomed.txt"],
    );
}

#[test]
fn impossible_dates_are_refused() {
    let p = pair();
    for date in [
        "Tue, 14 Nov 2023 23:61:20 +0100",
        "Tue, 14 Foo 2023 23:13:20 +0100",
    ] {
        let mail = raw_mail(&std_headers(AUTHOR, date), b"Body.\n", EDIT_NONL);
        p.both_refuse(&mail, &["0001-test.patch", "date"]);
        std::fs::remove_dir_all(p.sb.path("ours")).unwrap();
        std::fs::remove_dir_all(p.sb.path("theirs")).unwrap();
    }
    // A day past the month's end moves on, as in git: 31 Feb is 3 Mar.
    p.same_commit(&raw_mail(
        &std_headers(AUTHOR, "Tue, 31 Feb 2023 23:13:20 +0100"),
        b"Body.\n",
        EDIT_NONL,
    ));
}

#[test]
fn a_body_line_starting_with_from_and_a_time_stays_in_the_message() {
    let p = pair();
    let body = b"Body.\n\nFrom me at 10:20:30 on that day 2024\nFrom the start\n";
    let ours = p.same_commit(&raw_mail(&std_headers(AUTHOR, DATE_OK), body, EDIT_NONL));
    let msg = git(&ours, &["log", "-1", "--format=%B"]);
    assert!(
        msg.contains("From me at 10:20:30 on that day 2024\n"),
        "{msg}"
    );
}

#[test]
fn iso_8859_1_mails_are_converted_like_git_mailinfo() {
    let p = pair();
    let headers = b"From: =?ISO-8859-1?q?J=F6rg?= <j@example.org>\nDate: Tue, 14 Nov 2023 23:13:20 +0100\nSubject: [PATCH] nonl: caf\xe9\nMIME-Version: 1.0\nContent-Type: text/plain; charset=ISO-8859-1\nContent-Transfer-Encoding: 8bit\n";
    let ours = p.same_commit(&raw_mail(headers, b"Caf\xe9 au lait \x80.\n", EDIT_NONL));
    let msg = git(&ours, &["log", "-1", "--format=%an|%B"]);
    assert!(
        msg.starts_with("Jörg|nonl: café\n\nCafé au lait \u{80}."),
        "{msg}"
    );
}

#[test]
fn other_charsets_are_converted() {
    let p = pair();
    let headers = b"From: A U Thor <author@example.org>\nDate: Tue, 14 Nov 2023 23:13:20 +0100\nSubject: [PATCH] nonl: edit\nContent-Type: text/plain; charset=KOI8-R\n";
    let ours = p.same_commit(&raw_mail(
        headers,
        b"\xf0\xd2\xc9\xd7\xc5\xd4.\n",
        EDIT_NONL,
    ));
    assert!(git(&ours, &["log", "-1", "--format=%B"]).contains("Привет."));
}

/// No charset and bytes that are not UTF-8: the patch keeps its bytes
/// (here it edits a Latin-1 file) and the message reads them as Latin-1.
#[test]
fn bytes_that_are_not_utf8_are_handled_like_git() {
    let p = pair();
    write(&p.source, "latin1.txt", "");
    std::fs::write(p.source.join("latin1.txt"), b"caf\xe9\nnoir\n").unwrap();
    commit(&p.source, "latin1\n", AUTHOR, DATE);
    git(&p.source, &["tag", "-f", "base"]);
    let headers = b"From: J\xf6rg <j@example.org>\nDate: Tue, 14 Nov 2023 23:13:20 +0100\nSubject: [PATCH] latin1: na\xefve\n";
    let diff = b"diff --git a/latin1.txt b/latin1.txt\n--- a/latin1.txt\n+++ b/latin1.txt\n@@ -1,2 +1,2 @@\n caf\xe9\n-noir\n+cr\xe8me\n";
    let ours = p.same_commit(&raw_mail(headers, b"Cr\xe8me br\xfbl\xe9e.\n", diff));
    assert_eq!(
        std::fs::read(ours.join("latin1.txt")).unwrap(),
        b"caf\xe9\ncr\xe8me\n"
    );
}

#[test]
fn author_names_are_normalised_like_git_mailinfo() {
    let long =
        "Abcdefghij Abcdefghij Abcdefghij Abcdefghij Abcdefghij Abcdefghij X <long@example.org>";
    for from in [
        "A  U   Thor <author@example.org>",
        long,
        "a@b.org <author@example.org>",
        "\"Doe,  John\" <author@example.org>",
        "author@example.org (A U Thor)",
        "<author@example.org>",
        "A (comment) <author@example.org>",
    ] {
        let p = pair();
        p.same_commit(&raw_mail(
            &std_headers(from, DATE_OK),
            b"Body.\n",
            EDIT_NONL,
        ));
    }
}

/// git 2.47 keeps a name's final `.` (2.39 dropped it); the newer wins.
#[test]
fn a_final_dot_of_a_name_stays() {
    let p = pair();
    let dir = p.series(&raw_mail(
        &std_headers("J. R. R. Tolkien Jr. <jrr@example.org>", DATE_OK),
        b"Body.\n",
        EDIT_NONL,
    ));
    let patch = &read_series(&dir).unwrap().patches[0];
    assert_eq!(patch.author_name, "J. R. R. Tolkien Jr.");
}

#[test]
fn unusual_blanks_at_line_ends_are_kept() {
    let p = pair();
    let body = "no-break space\u{a0}\nideographic space\u{3000}\nvertical tab\x0b\nform feed\x0c\ntab and space\t \n";
    let ours = p.same_commit(&raw_mail(
        &[
            &std_headers(AUTHOR, DATE_OK)[..],
            b"Content-Type: text/plain; charset=UTF-8\n",
        ]
        .concat(),
        body.as_bytes(),
        EDIT_NONL,
    ));
    let msg = git(&ours, &["log", "-1", "--format=%B"]);
    assert!(msg.contains("space\u{a0}\nideographic space\u{3000}\nvertical tab\x0b\nform feed\x0c\ntab and space\n"), "{msg:?}");
}

/// `.gitattributes` `eol=crlf` is honoured when files are written: the
/// work tree gets CRLF line ends, the blobs keep LF, the tree is clean.
#[test]
fn eol_crlf_attributes_are_honoured_when_writing() {
    let p = pair();
    write(&p.source, ".gitattributes", "*.txt text eol=crlf\n");
    commit(&p.source, "attributes\n", AUTHOR, DATE);
    git(&p.source, &["tag", "-f", "base"]);
    let diff = b"diff --git a/added.txt b/added.txt\nnew file mode 100644\n--- /dev/null\n+++ b/added.txt\n@@ -0,0 +1,2 @@\n+one\n+two\ndiff --git a/doomed.txt b/doomed.txt\n--- a/doomed.txt\n+++ b/doomed.txt\n@@ -1 +1,2 @@\n delete me\n+or not\n";
    let ours = p.same_commit(&raw_mail(&std_headers(AUTHOR, DATE_OK), b"Body.\n", diff));
    assert_eq!(
        std::fs::read(ours.join("added.txt")).unwrap(),
        b"one\r\ntwo\r\n"
    );
    assert_eq!(
        std::fs::read(ours.join("doomed.txt")).unwrap(),
        b"delete me\r\nor not\r\n"
    );
    assert_eq!(git(&ours, &["status", "--porcelain"]), "");
}

/// Line-end attributes from a subdirectory's .gitattributes, through a
/// macro of the top one, and from .git/info/attributes reach exactly the
/// files git writes with CRLF (apply skips the attribute lookup for
/// paths no attribute file could reach; these are the ones it can).
#[test]
fn eol_crlf_from_subdirectories_macros_and_info_attributes() {
    let p = pair();
    write(&p.source, ".gitattributes", "[attr]dos text eol=crlf\n");
    write(&p.source, "win/.gitattributes", "*.txt dos\n");
    write(&p.source, "win/old.txt", "old\n");
    write(&p.source, "unix/old.txt", "old\n");
    commit(&p.source, "attributes\n", AUTHOR, DATE);
    git(&p.source, &["tag", "-f", "base"]);
    let add = |path: &str| {
        format!("diff --git a/{path} b/{path}\nnew file mode 100644\n--- /dev/null\n+++ b/{path}\n@@ -0,0 +1,2 @@\n+one\n+two\n")
    };
    let diff = [
        add("info.dat"),
        add("unix/new.txt"),
        add("win/deeper/new.txt"),
        add("win/new.txt"),
    ]
    .concat();
    let mail = raw_mail(&std_headers(AUTHOR, DATE_OK), b"Body.\n", diff.as_bytes());
    let ours = p.same_commit_after(&mail, |clone| {
        std::fs::create_dir_all(clone.join(".git/info")).unwrap();
        std::fs::write(clone.join(".git/info/attributes"), "*.dat eol=crlf\n").unwrap();
    });
    let read = |f: &str| std::fs::read(ours.join(f)).unwrap();
    assert_eq!(read("win/new.txt"), b"one\r\ntwo\r\n");
    assert_eq!(read("win/deeper/new.txt"), b"one\r\ntwo\r\n");
    assert_eq!(read("info.dat"), b"one\r\ntwo\r\n");
    assert_eq!(read("unix/new.txt"), b"one\ntwo\n");
    assert_eq!(git(&ours, &["status", "--porcelain"]), "");
}

/// A file renamed into a directory of its own name (x → x/x), and a
/// directory replaced by a file, each in one patch, as git am applies them.
#[test]
fn file_and_directory_swaps_in_one_patch() {
    let p = pair();
    git(&p.source, &["mv", "doomed.txt", "moving"]);
    std::fs::create_dir_all(p.source.join("doomed.txt")).unwrap();
    git(&p.source, &["mv", "moving", "doomed.txt/doomed.txt"]);
    std::fs::remove_dir_all(p.source.join("lonely")).unwrap();
    write(&p.source, "lonely", "now a file\n");
    commit(
        &p.source,
        "swap files and directories\n",
        AUTHOR,
        "1700000500 +0000",
    );
    let dir = p.sb.path("fp");
    let files = format_patch(&p.source, "base..HEAD", &dir, false);
    let text = std::fs::read(&files[0]).unwrap();
    let shown = String::from_utf8_lossy(&text);
    assert!(
        shown.contains("rename from doomed.txt\nrename to doomed.txt/doomed.txt"),
        "{shown}"
    );
    git(&p.source, &["reset", "-q", "--hard", "base"]);
    p.same_commit(&text);
}

/// Binary files (`GIT binary patch`, literal and delta hunks) added,
/// changed and deleted, as git format-patch writes them and git am
/// applies them.
#[test]
fn binary_patches_apply_like_git_am() {
    let p = pair();
    let blob = |seed: u8, n: usize| -> Vec<u8> {
        (0..n)
            .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed) ^ (i >> 7) as u8)
            .collect()
    };
    let mut big = blob(1, 20_000);
    big[100] = 0;
    std::fs::write(p.source.join("firmware.bin"), &big).unwrap();
    std::fs::write(p.source.join("small.bin"), b"\x00\x01\x02").unwrap();
    commit(&p.source, "binaries\n", AUTHOR, DATE);
    git(&p.source, &["tag", "-f", "base"]);
    // A small change of a big file gives a delta hunk, a new file a literal.
    big[5000] ^= 0xff;
    std::fs::write(p.source.join("firmware.bin"), &big).unwrap();
    std::fs::write(p.source.join("new.bin"), blob(7, 3000)).unwrap();
    std::fs::remove_file(p.source.join("small.bin")).unwrap();
    commit(&p.source, "change binaries\n", AUTHOR, "1700000600 +0000");
    let dir = p.sb.path("fp");
    let files = format_patch(&p.source, "base..HEAD", &dir, false);
    let text = std::fs::read(&files[0]).unwrap();
    let shown = String::from_utf8_lossy(&text);
    assert!(shown.contains("GIT binary patch\ndelta "), "{shown}");
    assert!(
        shown.contains("GIT binary patch\nliteral 3000\n"),
        "{shown}"
    );
    git(&p.source, &["reset", "-q", "--hard", "base"]);
    let ours = p.same_commit(&text);
    assert_eq!(std::fs::read(ours.join("firmware.bin")).unwrap(), big);
}
