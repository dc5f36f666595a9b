//! Writing into patches/ (stale files, other files) and `--check`.

mod common;

use common::{assert_same_dirs, gits_encoding_cover_headers, read_dir, TestRepo};

fn repo_with_two_patches() -> TestRepo {
    let r = TestRepo::new();
    r.write("a.txt", "one\ntwo\nthree\n");
    r.commit("base");
    r.mark_base();
    r.write("a.txt", "one\n2\nthree\n");
    r.commit("a: second line as a digit");
    r.write("b.txt", "bee\n");
    r.commit("add b");
    r
}

#[test]
fn check_passes_on_identical_output_and_fails_with_a_diff() {
    let r = repo_with_two_patches();
    let dir = r.export(1, "PATCH");
    let opts = r.options(1, "PATCH", Some(&dir));
    let series = series_export::generate(&opts).unwrap();
    assert_eq!(series_export::check(&dir, &series.files).unwrap(), None);

    let patch = dir.join("0001-a-second-line-as-a-digit.patch");
    let text = std::fs::read_to_string(&patch).unwrap();
    std::fs::write(&patch, text.replace("+2\n", "+TWO\n")).unwrap();
    let before = read_dir(&dir);
    let diff = series_export::check(&dir, &series.files)
        .unwrap()
        .expect("a difference");
    assert!(diff.contains("-+TWO"), "{diff}");
    assert!(diff.contains("++2"), "{diff}");
    assert!(
        diff.contains("a/0001-a-second-line-as-a-digit.patch"),
        "{diff}"
    );
    assert_eq!(read_dir(&dir), before, "check must write nothing");
}

#[test]
fn check_reports_stale_and_missing_files() {
    let r = repo_with_two_patches();
    let dir = r.export(1, "PATCH");
    // A stale file export wrote (a version 2 export of the same commits).
    let v2 = series_export::generate(&r.options(2, "PATCH", Some(&dir))).unwrap();
    series_export::write(&dir, &v2.files).unwrap();
    let series = series_export::generate(&r.options(1, "PATCH", Some(&dir))).unwrap();
    series_export::write(&dir, &series.files).unwrap();
    std::fs::copy(
        dir.join("0001-a-second-line-as-a-digit.patch"),
        dir.join("0003-stale.patch"),
    )
    .unwrap();
    let mut record = std::fs::read_to_string(dir.join(series_export::RECORD_FILE)).unwrap();
    let id = record
        .lines()
        .find(|l| l.ends_with(" 0001-a-second-line-as-a-digit.patch"))
        .unwrap()
        .split(' ')
        .next()
        .unwrap()
        .to_string();
    record.push_str(&format!("{id} 0003-stale.patch\n"));
    std::fs::write(dir.join(series_export::RECORD_FILE), record).unwrap();
    std::fs::remove_file(dir.join("0002-add-b.patch")).unwrap();
    let diff = series_export::check(&dir, &series.files).unwrap().unwrap();
    assert!(diff.contains("a/0003-stale.patch"), "{diff}");
    assert!(diff.contains("b/0002-add-b.patch"), "{diff}");
}

#[test]
fn write_removes_only_the_stale_patches_it_wrote() {
    let r = repo_with_two_patches();
    let dir = r.export(1, "PATCH");
    std::fs::write(dir.join("series.toml"), "[series]\n").unwrap();
    std::fs::write(dir.join("README"), "notes\n").unwrap();
    // Patch-named files export never wrote: another tool's, another version's.
    std::fs::write(dir.join("0007-old-subject.patch"), "unrelated\n").unwrap();
    std::fs::write(dir.join("v3-0001-from-elsewhere.patch"), "v3\n").unwrap();
    // A file export wrote, edited by hand since.
    let edited = dir.join("0002-add-b.patch");
    let mut text = std::fs::read_to_string(&edited).unwrap();
    text.push_str("a note\n");
    std::fs::write(&edited, text).unwrap();

    let series = series_export::generate(&r.options(2, "PATCH", Some(&dir))).unwrap();
    let report = series_export::write(&dir, &series.files).unwrap();
    assert_eq!(
        report.removed,
        [
            "0000-cover-letter.patch",
            "0001-a-second-line-as-a-digit.patch"
        ]
    );
    assert_eq!(report.kept_edited, ["0002-add-b.patch"]);
    assert_eq!(
        report.not_ours,
        ["0007-old-subject.patch", "v3-0001-from-elsewhere.patch"]
    );
    let names: Vec<String> = read_dir(&dir).into_iter().map(|f| f.name).collect();
    assert_eq!(
        names,
        [
            "0002-add-b.patch",
            "0007-old-subject.patch",
            "README",
            "series.toml",
            "v2-0000-cover-letter.patch",
            "v2-0001-a-second-line-as-a-digit.patch",
            "v2-0002-add-b.patch",
            "v3-0001-from-elsewhere.patch",
        ]
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("series.toml")).unwrap(),
        "[series]\n"
    );
    let again = series_export::write(&dir, &series.files).unwrap();
    assert!(again.written.is_empty() && again.removed.is_empty());
    // --check agrees with write: files export would not remove are no difference.
    assert_eq!(series_export::check(&dir, &series.files).unwrap(), None);

    // Back to v1: the v2 files export wrote go, the foreign v3 file stays.
    let v1 = series_export::generate(&r.options(1, "PATCH", Some(&dir))).unwrap();
    let report = series_export::write(&dir, &v1.files).unwrap();
    assert_eq!(report.removed.len(), 3, "{report:?}");
    assert!(dir.join("v3-0001-from-elsewhere.patch").exists());
    assert!(dir.join("0007-old-subject.patch").exists());
}

#[test]
fn cover_letter_subject_and_blurb_are_kept() {
    let r = repo_with_two_patches();
    let dir = r.export(1, "PATCH");
    let cover = dir.join("0000-cover-letter.patch");
    let text = std::fs::read_to_string(&cover).unwrap();
    let edited = text
        .replace(
            "*** SUBJECT HERE ***",
            "a: make the series ünïque and long enough to fold the subject line",
        )
        .replace(
            "*** BLURB HERE ***",
            "This series does things.\n\nSecond paragraph (2):\n  indented.",
        );
    std::fs::write(&cover, edited).unwrap();
    // A new commit: the shortlog and diffstat change, the blurb stays.
    r.write("c.txt", "sea\n");
    r.commit_as("Zoë Last", "zoe@example.org", "add c");
    let series = series_export::generate(&r.options(1, "PATCH", Some(&dir))).unwrap();
    series_export::write(&dir, &series.files).unwrap();

    r.git(&[
        "config",
        "branch.main.description",
        "a: make the series ünïque and long enough to fold the subject line\n\nThis series does things.\n\nSecond paragraph (2):\n  indented.",
    ]);
    let gits = gits_encoding_cover_headers();
    assert!(!gits.is_empty(), "no git >= 2.43 to compare with");
    for git in gits {
        let theirs = r.format_patch(&git, 1, "PATCH", &["--cover-from-description=subject"]);
        assert_same_dirs(&theirs, &dir);
    }
}
