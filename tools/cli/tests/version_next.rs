//! `series version --next` checks everything before it changes anything,
//! edits the manifest as TOML (comments kept), and fails closed when a
//! check cannot run.

mod common;

use common::Fixture;

fn manifest(f: &Fixture) -> std::path::PathBuf {
    f.patches.join("series.toml")
}

fn sent_ref_exists(f: &Fixture) -> bool {
    common::git_in(
        &f.tree,
        &f.home,
        &["rev-parse", "-q", "--verify", "refs/series/sent/v1"],
    )
    .status
    .success()
}

#[test]
fn a_commented_version_moves_to_v2_and_keeps_its_comment() {
    let f = Fixture::new();
    let text = std::fs::read_to_string(manifest(&f)).unwrap();
    let commented = text.replacen("version = 1\n", "version = 1  # reroll count\n", 1);
    std::fs::write(manifest(&f), &commented).unwrap();
    f.commit_project("comment the version");
    let out = f.series_ok(&["version", "--next"]);
    assert!(out.contains("now v2"), "{out}");
    let bumped = std::fs::read_to_string(manifest(&f)).unwrap();
    assert!(
        bumped.contains("\nversion = 2  # reroll count\n"),
        "{bumped}"
    );
    assert!(sent_ref_exists(&f));
}

#[test]
fn a_manifest_that_cannot_be_bumped_changes_nothing() {
    let f = Fixture::new();
    let text = std::fs::read_to_string(manifest(&f)).unwrap();
    // Valid for the manifest, but not [[changelog]] tables to add to.
    let start = text.find("[[changelog]]").unwrap();
    let inline = format!(
        "changelog = [{{ version = 1, changes = [\"Initial posting.\"] }}]\n{}",
        &text[..start]
    );
    std::fs::write(manifest(&f), &inline).unwrap();
    f.commit_project("inline changelog");
    let err = f.series_err(&["version", "--next"]);
    assert!(err.contains("[[changelog]]"), "{err}");
    assert_eq!(std::fs::read_to_string(manifest(&f)).unwrap(), inline);
    assert!(
        !sent_ref_exists(&f),
        "a failed --next must not create the ref"
    );
}

#[test]
fn uncommitted_patches_name_the_version_kept() {
    let f = Fixture::new();
    std::fs::write(f.patches.join("notes.txt"), "draft\n").unwrap();
    let err = f.series_err(&["version", "--next"]);
    assert!(err.contains("so that v1 stays"), "{err}");
    assert!(!err.contains("{N}"), "{err}");
    assert!(!sent_ref_exists(&f));
}

#[test]
fn a_git_status_that_fails_refuses_instead_of_skipping_the_check() {
    let f = Fixture::new();
    let before = std::fs::read_to_string(manifest(&f)).unwrap();
    // A corrupt index: `git status` in the project exits non-zero.
    std::fs::write(f.project.join(".git/index"), b"not an index").unwrap();
    let err = f.series_err(&["version", "--next"]);
    assert!(err.contains("cannot tell whether"), "{err}");
    assert_eq!(std::fs::read_to_string(manifest(&f)).unwrap(), before);
    assert!(!sent_ref_exists(&f));
}
