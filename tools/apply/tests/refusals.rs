//! Bad input and bad trees: each is refused with a clear error and leaves
//! the repository byte for byte as it was (refs, HEAD, index, files).

mod common;

use common::*;
use series_apply::mail::read_series;
use series_apply::ApplyOptions;
use std::path::PathBuf;

/// A target repository at `base` and the three-patch series for it.
fn target_and_series(sandbox: &Sandbox) -> (PathBuf, PathBuf) {
    let source = base_repo(sandbox, "source");
    add_series_commits(&source);
    let series = sandbox.path("series");
    format_patch(&source, "base..HEAD", &series, false);
    let target = sandbox.clone_repo(&source, "target");
    git(&target, &["reset", "-q", "--hard", "base"]);
    (target, series)
}

fn apply_default(
    repo: &std::path::Path,
    series: &std::path::Path,
) -> anyhow::Result<series_apply::Applied> {
    apply(repo, series, &ApplyOptions::default())
}

#[test]
fn malformed_mboxes_are_refused() {
    let sb = Sandbox::new();
    let repo = base_repo(&sb, "repo");
    let before = snapshot(&repo);

    let garbage = sb.path("garbage.mbox");
    std::fs::write(&garbage, "this is not a mail\njust text\n").unwrap();
    assert_refused(
        apply_default(&repo, &garbage),
        &["garbage.mbox", "not an mbox", "From "],
        &repo,
        &before,
    );

    let no_from = sb.path("nofrom.mbox");
    let good = mail("ok", "diff --git a/new.txt b/new.txt\nnew file mode 100644\n--- /dev/null\n+++ b/new.txt\n@@ -0,0 +1 @@\n+x\n");
    let bad = good.replace("From: A U Thor <author@example.org>\n", "");
    std::fs::write(&no_from, format!("{good}{bad}")).unwrap();
    assert_refused(
        apply_default(&repo, &no_from),
        &["mbox message 2", "no From: header"],
        &repo,
        &before,
    );

    let cut = sb.path("cut.mbox");
    let truncated = mail("cut", "diff --git a/nonl.txt b/nonl.txt\n--- a/nonl.txt\n+++ b/nonl.txt\n@@ -1,2 +1,3 @@\n first\n");
    std::fs::write(&cut, truncated).unwrap();
    assert_refused(
        apply_default(&repo, &cut),
        &["mbox message 1", "@@ -1,2 +1,3 @@"],
        &repo,
        &before,
    );

    let not_utf8 = sb.path("latin1.mbox");
    std::fs::write(
        &not_utf8,
        b"From x Mon Sep 17 00:00:00 2001\nFrom: J\xf6rg <j@x>\n",
    )
    .unwrap();
    assert_refused(
        apply_default(&repo, &not_utf8),
        &["no Date:"],
        &repo,
        &before,
    );
}

#[test]
fn a_failing_hunk_names_patch_file_hunk_and_line_and_changes_nothing() {
    let sb = Sandbox::new();
    let (repo, series) = target_and_series(&sb);
    let dd = numbered("dd line", 60).replace("dd line 59\n", "dd line 59 changed locally\n");
    write(&repo, "drivers/base/dd.c", &dd);
    commit(&repo, "local change\n", AUTHOR, DATE);
    let before = snapshot(&repo);
    let err = assert_refused(
        apply_default(&repo, &series),
        &[
            "0003-misc-mode-no-newline-link.patch",
            "drivers/base/dd.c",
            "hunk #2 (@@ -59,3 +60,4 @@",
            "\"dd line 59\"",
            "\"dd line 59 changed locally\"",
            "nothing was changed",
        ],
        &repo,
        &before,
    );
    assert!(err.contains("line 61"), "{err}");
}

#[test]
fn a_missing_file_is_named() {
    let sb = Sandbox::new();
    let repo = base_repo(&sb, "repo");
    let before = snapshot(&repo);
    let dir = series_dir(
        &sb,
        "s",
        &mail(
            "edit",
            "diff --git a/nope.c b/nope.c\n--- a/nope.c\n+++ b/nope.c\n@@ -1 +1 @@\n-a\n+b\n",
        ),
    );
    assert_refused(
        apply_default(&repo, &dir),
        &["0001-test.patch", "nope.c does not exist"],
        &repo,
        &before,
    );
}

#[test]
fn paths_outside_the_tree_are_refused() {
    let sb = Sandbox::new();
    let repo = base_repo(&sb, "repo");
    let before = snapshot(&repo);
    let dotdot = series_dir(
        &sb,
        "dotdot",
        &mail("escape", "diff --git a/../evil.txt b/../evil.txt\nnew file mode 100644\n--- /dev/null\n+++ b/../evil.txt\n@@ -0,0 +1 @@\n+evil\n"),
    );
    assert_refused(
        apply_default(&repo, &dotdot),
        &["../evil.txt", "inside the tree"],
        &repo,
        &before,
    );
    assert!(!sb.path("evil.txt").exists());

    let absolute = series_dir(
        &sb,
        "absolute",
        &mail("abs", "diff --git a//tmp/evil b//tmp/evil\nnew file mode 100644\n--- /dev/null\n+++ b//tmp/evil\n@@ -0,0 +1 @@\n+evil\n"),
    );
    assert_refused(
        apply_default(&repo, &absolute),
        &["/tmp/evil", "absolute path"],
        &repo,
        &before,
    );

    let git_dir = series_dir(
        &sb,
        "gitdir",
        &mail("hook", "diff --git a/.git/hooks/post-commit b/.git/hooks/post-commit\nnew file mode 100755\n--- /dev/null\n+++ b/.git/hooks/post-commit\n@@ -0,0 +1 @@\n+evil\n"),
    );
    assert_refused(apply_default(&repo, &git_dir), &[".git"], &repo, &before);
}

#[test]
fn writing_through_a_symlink_is_refused() {
    let sb = Sandbox::new();
    let repo = base_repo(&sb, "repo");
    let outside = sb.path("outside");
    std::fs::create_dir_all(&outside).unwrap();
    std::os::unix::fs::symlink(&outside, repo.join("escape")).unwrap();
    commit(&repo, "add a link\n", AUTHOR, DATE);
    let before = snapshot(&repo);
    let through = series_dir(
        &sb,
        "through",
        &mail("pwn", "diff --git a/escape/pwned.txt b/escape/pwned.txt\nnew file mode 100644\n--- /dev/null\n+++ b/escape/pwned.txt\n@@ -0,0 +1 @@\n+pwned\n"),
    );
    assert_refused(
        apply_default(&repo, &through),
        &["escape/pwned.txt", "symbolic link escape"],
        &repo,
        &before,
    );
    assert!(!outside.join("pwned.txt").exists());

    // An untracked link in the work tree is just as dangerous.
    std::os::unix::fs::symlink(&outside, repo.join("sneaky")).unwrap();
    let before = snapshot(&repo);
    let sneaky = series_dir(
        &sb,
        "sneaky",
        &mail("sneak", "diff --git a/sneaky/x.txt b/sneaky/x.txt\nnew file mode 100644\n--- /dev/null\n+++ b/sneaky/x.txt\n@@ -0,0 +1 @@\n+x\n"),
    );
    assert_refused(
        apply_default(&repo, &sneaky),
        &["sneaky/x.txt", "symbolic link sneaky"],
        &repo,
        &before,
    );
    assert!(!outside.join("x.txt").exists());
}

#[test]
fn broken_binary_patches_are_refused() {
    let sb = Sandbox::new();
    let source = base_repo(&sb, "source");
    std::fs::write(source.join("blob.bin"), [0u8, 1, 2, 255, 0, 7]).unwrap();
    commit(&source, "add a binary\n", AUTHOR, DATE);
    let series = sb.path("series");
    let files = format_patch(&source, "base..HEAD", &series, false);
    let repo = sb.clone_repo(&source, "target");
    git(&repo, &["reset", "-q", "--hard", "base"]);
    let before = snapshot(&repo);
    // The zlib data damaged: one base85 character changed.
    let text = std::fs::read_to_string(&files[0]).unwrap();
    let at = text.find("literal 6\n").expect("a literal hunk") + "literal 6\n".len() + 3;
    let mut damaged = text.clone().into_bytes();
    damaged[at] = if damaged[at] == b'0' { b'1' } else { b'0' };
    std::fs::write(&files[0], damaged).unwrap();
    assert_refused(
        apply_default(&repo, &series),
        &["blob.bin", "binary patch"],
        &repo,
        &before,
    );

    let marker = series_dir(
        &sb,
        "marker",
        &mail("bin", "diff --git a/b.bin b/b.bin\nindex 1234567..89abcde 100644\nBinary files a/b.bin and b/b.bin differ\n"),
    );
    assert_refused(
        apply_default(&repo, &marker),
        &["b.bin", "Binary files", "without the data"],
        &repo,
        &before,
    );
}

#[test]
fn dirty_trees_are_refused() {
    let sb = Sandbox::new();
    let (repo, series) = target_and_series(&sb);
    write(&repo, "nonl.txt", "edited but not committed\n");
    let before = snapshot(&repo);
    assert_refused(
        apply_default(&repo, &series),
        &["uncommitted changes", "nonl.txt"],
        &repo,
        &before,
    );

    git(&repo, &["checkout", "--", "nonl.txt"]);
    write(&repo, "staged.txt", "staged\n");
    git(&repo, &["add", "staged.txt"]);
    let before = snapshot(&repo);
    assert_refused(
        apply_default(&repo, &series),
        &["uncommitted changes", "staged.txt"],
        &repo,
        &before,
    );

    // Untracked files are fine unless a patch would overwrite one.
    git(&repo, &["rm", "-q", "--cached", "staged.txt"]);
    write(&repo, "drivers/base/new.c", "untracked\n");
    let before = snapshot(&repo);
    assert_refused(
        apply_default(&repo, &series),
        &["untracked", "drivers/base/new.c"],
        &repo,
        &before,
    );
    std::fs::remove_file(repo.join("drivers/base/new.c")).unwrap();
    apply_default(&repo, &series).expect("untracked staged.txt is not in the way");
    assert!(repo.join("staged.txt").exists());
}

#[test]
fn a_mail_without_diff_after_the_first_is_refused() {
    let sb = Sandbox::new();
    let repo = base_repo(&sb, "repo");
    let before = snapshot(&repo);
    let good = mail("ok", "diff --git a/new.txt b/new.txt\nnew file mode 100644\n--- /dev/null\n+++ b/new.txt\n@@ -0,0 +1 @@\n+x\n");
    let empty = mail("empty", "");
    let mbox = sb.path("s.mbox");
    std::fs::write(&mbox, format!("{good}{empty}")).unwrap();
    assert_refused(
        apply_default(&repo, &mbox),
        &["mbox message 2", "has no diff"],
        &repo,
        &before,
    );
    let only_cover = sb.path("cover.mbox");
    std::fs::write(&only_cover, &empty).unwrap();
    assert!(read_series(&only_cover).is_err());
}
