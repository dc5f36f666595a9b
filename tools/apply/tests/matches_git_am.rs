//! series-apply against the real `git am`: same commits, trees, messages
//! and work tree on the same input.

mod common;

use common::*;
use series_apply::mail::read_series;
use series_apply::ApplyOptions;
use std::path::{Path, PathBuf};

/// A source repository with the series commits, the format-patch files
/// (cover letter first) and a clone reset to `base` for each applier.
struct Fixture {
    sandbox: Sandbox,
    source: PathBuf,
    files: Vec<PathBuf>,
}

fn fixture() -> Fixture {
    let sandbox = Sandbox::new();
    let source = base_repo(&sandbox, "source");
    add_series_commits(&source);
    let files = format_patch(&source, "base..HEAD", &sandbox.path("series"), true);
    Fixture {
        sandbox,
        source,
        files,
    }
}

impl Fixture {
    fn target(&self, name: &str) -> PathBuf {
        let repo = self.sandbox.clone_repo(&self.source, name);
        git(&repo, &["reset", "-q", "--hard", "base"]);
        repo
    }

    fn patch_files(&self) -> Vec<PathBuf> {
        self.files[1..].to_vec()
    }
}

/// Applies `series` with series-apply on one clone and `mails` with git am
/// on another; both must end with the same commits and files.
fn assert_same_as_git_am(fx: &Fixture, series: &Path, mails: &[PathBuf]) {
    let ours = fx.target("ours");
    let theirs = fx.target("theirs");
    let base = head(&ours);
    let applied = apply(&ours, series, &ApplyOptions::default()).expect("series applies");
    let parsed = read_series(series).unwrap();
    git_am(&theirs, mails, &parsed.patches);

    let our_log = log(&ours, &base);
    let their_log = log(&theirs, &base);
    assert_eq!(our_log.len(), 3);
    assert_eq!(our_log, their_log, "commits differ from git am's");
    let ids: Vec<String> = applied.commits.iter().map(|o| o.to_string()).collect();
    let log_ids: Vec<String> = our_log.iter().map(|c| c.0.clone()).collect();
    assert_eq!(ids, log_ids);
    assert_eq!(applied.target_ref, "refs/heads/main");

    assert_eq!(
        git(&ours, &["status", "--porcelain"]),
        "",
        "work tree not clean"
    );
    assert_eq!(snapshot(&ours).files, snapshot(&theirs).files);
    assert_eq!(
        git(&ours, &["ls-files", "-s"]),
        git(&theirs, &["ls-files", "-s"])
    );
    assert_eq!(git(&ours, &["rev-parse", "refs/series/base"]).trim(), base);
    assert!(
        !ours.join("lonely").exists(),
        "emptied directory left behind"
    );
}

#[test]
fn directory_with_cover_letter_matches_git_am() {
    let fx = fixture();
    let series = read_series(&fx.sandbox.path("series")).unwrap();
    assert_eq!(
        series.cover.as_ref().unwrap().source,
        "0000-cover-letter.patch"
    );
    assert_eq!(series.patches.len(), 3);
    let first = &series.patches[0];
    assert_eq!(first.author_name, "Jörg Müller-Lüdenscheidt");
    assert_eq!((first.time, first.tz_offset_minutes), (1700000100, 330));
    let raw = std::fs::read_to_string(&fx.files[1]).unwrap();
    assert!(
        raw.contains("=?UTF-8?q?"),
        "author is RFC 2047 encoded in the mail"
    );
    assert!(
        raw.contains("format-patch\n has to fold"),
        "subject is folded: {raw}"
    );
    assert_same_as_git_am(&fx, &fx.sandbox.path("series"), &fx.patch_files());
}

#[test]
fn mbox_matches_git_am() {
    let fx = fixture();
    let mbox = fx.sandbox.path("series.mbox");
    make_mbox(&fx.files, &mbox);
    let series = read_series(&mbox).unwrap();
    assert_eq!(series.cover.as_ref().unwrap().source, "mbox message 1");
    assert_eq!(series.patches[2].source, "mbox message 4");
    assert_same_as_git_am(&fx, &mbox, &fx.patch_files());
}

/// git am strips the CR of CRLF line ends by default (mailsplit without
/// --keep-cr); so does series-apply.
#[test]
fn crlf_mails_match_git_am() {
    let fx = fixture();
    let dir = fx.sandbox.path("crlf");
    std::fs::create_dir_all(&dir).unwrap();
    let mut mails = Vec::new();
    for f in &fx.files {
        let text = std::fs::read_to_string(f).unwrap().replace('\n', "\r\n");
        let out = dir.join(f.file_name().unwrap());
        std::fs::write(&out, text).unwrap();
        mails.push(out);
    }
    assert_same_as_git_am(&fx, &dir, &mails[1..]);
}

#[test]
fn hunks_apply_at_an_offset_like_git_am() {
    let fx = fixture();
    let ours = fx.target("ours");
    let theirs = fx.target("theirs");
    for repo in [&ours, &theirs] {
        let dd = numbered("dd line", 60).replace("dd line 10\n", "dd line 10\nextra a\nextra b\n");
        write(repo, "drivers/base/dd.c", &dd);
        commit(repo, "shift dd.c\n", AUTHOR, DATE);
    }
    let base = head(&ours);
    assert_eq!(base, head(&theirs));
    let series = fx.sandbox.path("series");
    apply(&ours, &series, &ApplyOptions::default()).unwrap();
    git_am(
        &theirs,
        &fx.patch_files(),
        &read_series(&series).unwrap().patches,
    );
    assert_eq!(log(&ours, &base), log(&theirs, &base));
    assert_eq!(snapshot(&ours).files, snapshot(&theirs).files);
}

#[test]
fn diffstat_summary_matches_git() {
    let fx = fixture();
    let series = read_series(&fx.sandbox.path("series")).unwrap();
    let commits = git(&fx.source, &["rev-list", "--reverse", "base..HEAD"]);
    for (patch, id) in series.patches.iter().zip(commits.lines()) {
        let expected = git(&fx.source, &["show", "-M", "--format=", "--shortstat", id]);
        assert_eq!(
            patch.diffstat_summary(),
            expected.trim_end(),
            "{}",
            patch.source
        );
    }
}

#[test]
fn branch_option_creates_the_branch_and_leaves_main() {
    let fx = fixture();
    let repo = fx.target("ours");
    let base = head(&repo);
    let opts = ApplyOptions {
        branch: Some("series-v1".into()),
        ..Default::default()
    };
    let applied = apply(&repo, &fx.sandbox.path("series"), &opts).unwrap();
    assert_eq!(applied.target_ref, "refs/heads/series-v1");
    assert_eq!(
        git(&repo, &["symbolic-ref", "HEAD"]).trim(),
        "refs/heads/series-v1"
    );
    assert_eq!(git(&repo, &["rev-parse", "main"]).trim(), base);
    assert_eq!(head(&repo), applied.commits[2].to_string());
    assert_eq!(git(&repo, &["status", "--porcelain"]), "");

    // The branch now exists: a second run is refused and changes nothing.
    git(&repo, &["checkout", "-q", "main"]);
    let before = snapshot(&repo);
    let result = apply(&repo, &fx.sandbox.path("series"), &opts);
    assert_refused(result, &["series-v1 already exists"], &repo, &before);
}

#[test]
fn existing_base_ref_is_kept() {
    let fx = fixture();
    let repo = fx.target("ours");
    git(&repo, &["update-ref", "refs/series/base", "base~0"]);
    write(&repo, "unrelated.txt", "x\n");
    commit(&repo, "unrelated\n", AUTHOR, DATE);
    let applied = apply(&repo, &fx.sandbox.path("series"), &ApplyOptions::default()).unwrap();
    assert!(!applied.base_ref_created);
    assert_eq!(
        git(&repo, &["rev-parse", "refs/series/base"]),
        git(&repo, &["rev-parse", "base"])
    );
}

#[test]
fn base_version_check_and_force() {
    let fx = fixture();
    let repo = fx.target("ours");
    let series = fx.sandbox.path("series");
    let mut opts = ApplyOptions {
        expected_kernel_version: Some("6.12.118".into()),
        ..Default::default()
    };
    let before = snapshot(&repo);
    let result = apply(&repo, &series, &opts);
    assert_refused(
        result,
        &["6.12.117", "6.12.118", "--force-base"],
        &repo,
        &before,
    );

    opts.force_base = true;
    let applied = apply(&repo, &series, &opts).unwrap();
    let drift = applied.version_drift.expect("drift reported");
    assert!(
        drift.contains("6.12.117") && drift.contains("6.12.118"),
        "{drift}"
    );

    let other = fx.target("other");
    let exact = ApplyOptions {
        expected_kernel_version: Some("6.12.117".into()),
        ..Default::default()
    };
    let applied = apply(&other, &series, &exact).unwrap();
    assert!(applied.version_drift.is_none());
}

/// `format-patch --from` puts the real author in an in-body `From:` line.
#[test]
fn inbody_from_matches_git_am() {
    let sb = Sandbox::new();
    let source = base_repo(&sb, "source");
    add_series_commits(&source);
    let dir = sb.path("series");
    std::fs::create_dir_all(&dir).unwrap();
    git(
        &source,
        &[
            "format-patch",
            "-q",
            "--from=Sender <sender@example.org>",
            "-o",
            dir.to_str().unwrap(),
            "base..HEAD",
        ],
    );
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    let first = std::fs::read_to_string(&files[0]).unwrap();
    assert!(
        first.contains("\n\nFrom: Jörg Müller"),
        "in-body From: missing: {first}"
    );
    assert!(
        first.contains("From: Sender <sender@example.org>"),
        "{first}"
    );
    let series = read_series(&dir).unwrap();
    assert_eq!(series.patches[0].author_email, "joerg@example.org");
    compare_on_fresh_clones(&sb, &source, &dir);
}

/// A quoted-printable mail with a plain (non-git) unified diff, as other
/// tools send them.
#[test]
fn quoted_printable_plain_diff_matches_git_am() {
    let sb = Sandbox::new();
    let source = base_repo(&sb, "source");
    let dir = sb.path("series");
    std::fs::create_dir_all(&dir).unwrap();
    let text = "From nobody Mon Sep 17 00:00:00 2001\n\
From: =?ISO-8859-1?Q?Ren=E9_Mail?= <rene@example.org>\n\
Date: Wed, 15 Nov 2023 08:00:00 +0200\n\
Subject: Re: [RFC PATCH v3 2/9] nonl: edit the first line\n\
MIME-Version: 1.0\n\
Content-Type: text/plain; charset=UTF-8\n\
Content-Transfer-Encoding: quoted-printable\n\
\n\
A body with an =C3=A9 and a soft=\n\
\x20break.\n\
\n\
Signed-off-by: Ren=C3=A9 <rene@example.org>\n\
---\n\
--- a/nonl.txt\t2023-11-15 08:00:00.000000000 +0200\n\
+++ b/nonl.txt\t2023-11-15 08:00:00.000000000 +0200\n\
@@ -1,2 +1,2 @@\n\
-first\n\
+first =3D edited\n\
\x20last without newline\n\
\\ No newline at end of file\n";
    std::fs::write(dir.join("0001-x.patch"), text).unwrap();
    let series = read_series(&dir).unwrap();
    assert_eq!(series.patches[0].author_name, "René Mail");
    assert_eq!(series.patches[0].subject, "nonl: edit the first line");
    compare_on_fresh_clones(&sb, &source, &dir);
}

/// Applies the series in `dir` with series-apply and with git am on two
/// clones of `source` at `base`; asserts equal commits and files.
fn compare_on_fresh_clones(sb: &Sandbox, source: &Path, dir: &Path) {
    let ours = sb.clone_repo(source, "ours");
    let theirs = sb.clone_repo(source, "theirs");
    for repo in [&ours, &theirs] {
        git(repo, &["reset", "-q", "--hard", "base"]);
    }
    let base = head(&ours);
    apply(&ours, dir, &ApplyOptions::default()).unwrap();
    let mut mails: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    mails.sort();
    git_am(&theirs, &mails, &read_series(dir).unwrap().patches);
    let our_log = log(&ours, &base);
    assert!(!our_log.is_empty());
    assert_eq!(our_log, log(&theirs, &base));
    assert_eq!(snapshot(&ours).files, snapshot(&theirs).files);
}
