//! Refusals that protect local work and git's own state, cover letters
//! recognised by content, and non-ASCII subjects.

mod common;

use common::*;
use series_apply::mail::read_series;
use series_apply::ApplyOptions;
use std::path::PathBuf;

fn target_and_series(sandbox: &Sandbox) -> (PathBuf, PathBuf) {
    let source = base_repo(sandbox, "source");
    add_series_commits(&source);
    let series = sandbox.path("series");
    format_patch(&source, "base..HEAD", &series, false);
    let target = sandbox.clone_repo(&source, "target");
    git(&target, &["reset", "-q", "--hard", "base"]);
    (target, series)
}

#[test]
fn hidden_local_edits_are_refused_like_git_am() {
    for (flag, undo) in [
        ("--assume-unchanged", "--no-assume-unchanged"),
        ("--skip-worktree", "--no-skip-worktree"),
    ] {
        let sb = Sandbox::new();
        let (repo, series) = target_and_series(&sb);
        git(&repo, &["update-index", flag, "nonl.txt"]);
        write(&repo, "nonl.txt", "a local edit git status does not show\n");
        assert_eq!(git(&repo, &["status", "--porcelain"]), "");
        let before = snapshot(&repo);
        assert_refused(
            apply(&repo, &series, &ApplyOptions::default()),
            &["nonl.txt", "does not match the index", undo],
            &repo,
            &before,
        );
        // Without a local edit the flag is harmless.
        git(&repo, &["update-index", undo, "nonl.txt"]);
        git(&repo, &["checkout", "--", "nonl.txt"]);
        git(&repo, &["update-index", flag, "nonl.txt"]);
        apply(&repo, &series, &ApplyOptions::default()).expect("no local edit, no refusal");
    }
}

#[test]
fn a_stale_branch_lock_refuses_before_anything_is_written() {
    let sb = Sandbox::new();
    let (repo, series) = target_and_series(&sb);
    std::fs::write(repo.join(".git/refs/heads/main.lock"), "").unwrap();
    let before = snapshot(&repo);
    let err = format!(
        "{:#}",
        apply(&repo, &series, &ApplyOptions::default()).unwrap_err()
    );
    assert!(err.contains("refs/heads/main.lock exists"), "{err}");
    assert!(
        err.contains("the branch main") && err.contains("remove"),
        "{err}"
    );
    assert!(!err.contains("class="), "libgit2 text leaked: {err}");
    let after = snapshot(&repo);
    assert_eq!(after.index, before.index);
    assert_eq!(after.files, before.files);
    assert_eq!((after.head, after.refs), (before.head, before.refs));
    assert_eq!(after.leftovers, vec!["refs/heads/main.lock".to_string()]);
}

#[test]
fn a_patch_named_like_a_cover_letter_is_applied() {
    let sb = Sandbox::new();
    let repo = base_repo(&sb, "repo");
    let dir = sb.path("s");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("0001-docs-add-a-cover-letter.patch"),
        mail("docs: add a cover letter", "diff --git a/cover.txt b/cover.txt\nnew file mode 100644\n--- /dev/null\n+++ b/cover.txt\n@@ -0,0 +1 @@\n+x\n"),
    )
    .unwrap();
    let series = read_series(&dir).unwrap();
    assert!(series.cover.is_none());
    assert_eq!(series.patches.len(), 1);
    let applied = apply(&repo, &dir, &ApplyOptions::default()).unwrap();
    assert_eq!(applied.commits.len(), 1);
    assert!(repo.join("cover.txt").exists());
}

#[test]
fn a_real_cover_letter_is_recognised_by_its_subject_and_an_empty_first_commit_is_not_skipped() {
    let sb = Sandbox::new();
    let source = base_repo(&sb, "source");
    add_series_commits(&source);
    let with_cover = sb.path("with-cover");
    format_patch(&source, "base..HEAD", &with_cover, true);
    let series = read_series(&with_cover).unwrap();
    assert!(series.cover.is_some());
    assert_eq!(series.patches.len(), 3);

    // An empty commit first: git format-patch writes it without a diff.
    let repo = base_repo(&sb, "empty-first");
    git(
        &repo,
        &["commit", "-q", "--allow-empty", "-m", "empty: nothing here"],
    );
    write(&repo, "after.txt", "after\n");
    commit(&repo, "after: add a file\n", AUTHOR, DATE);
    let out = sb.path("empty-series");
    format_patch(&repo, "base..HEAD", &out, false);
    git(&repo, &["reset", "-q", "--hard", "base"]);
    let before = snapshot(&repo);
    assert_refused(
        apply(&repo, &out, &ApplyOptions::default()),
        &[
            "0001-empty-nothing-here.patch",
            "has no diff",
            "empty commit",
        ],
        &repo,
        &before,
    );
}

#[test]
fn a_subject_starting_with_a_non_ascii_letter_applies_as_git_am_does() {
    let sb = Sandbox::new();
    let source = base_repo(&sb, "source");
    for (i, subject) in ["Noël: fix the tree", "é", "Ünïcödé début", "Re: Ça va"]
        .iter()
        .enumerate()
    {
        write(&source, &format!("n{i}.txt"), subject);
        commit(&source, &format!("{subject}\n\nBody.\n"), JOERG, DATE);
    }
    let series = sb.path("series");
    let mails = format_patch(&source, "base..HEAD", &series, false);
    let ours = sb.clone_repo(&source, "ours");
    git(&ours, &["reset", "-q", "--hard", "base"]);
    let theirs = sb.clone_repo(&source, "theirs");
    git(&theirs, &["reset", "-q", "--hard", "base"]);
    let parsed = read_series(&series).unwrap();
    assert_eq!(parsed.patches[0].subject, "Noël: fix the tree");
    apply(&ours, &series, &ApplyOptions::default()).unwrap();
    git_am(&theirs, &mails, &parsed.patches);
    assert_eq!(log(&ours, "base"), log(&theirs, "base"));
}

#[test]
fn a_split_index_is_refused_in_the_tools_own_words() {
    let sb = Sandbox::new();
    let (repo, series) = target_and_series(&sb);
    git(&repo, &["update-index", "--split-index"]);
    let before = snapshot(&repo);
    let err = assert_refused(
        apply(&repo, &series, &ApplyOptions::default()),
        &["git update-index --no-split-index"],
        &repo,
        &before,
    );
    assert!(!err.contains("class="), "libgit2 text leaked: {err}");
}
