//! A series on top of prerequisite series: `base-commit:` names the base
//! and one `prerequisite-patch-id:` line follows per commit between the
//! base and the series, byte-identical to `git format-patch --base=BASE
//! FROM..HEAD`.

mod common;

use common::{assert_same_dirs, gits, TestRepo};
use std::path::PathBuf;

const PREREQ_TIP: &str = "refs/series/applied/fixes";

fn stacked_repo() -> TestRepo {
    let r = TestRepo::new();
    r.write("README", "hello\nworld\n");
    r.write(
        "docs/guide.txt",
        (1..=40)
            .map(|i| format!("guide line {i}\n"))
            .collect::<String>(),
    );
    r.write("drivers/a.c", "int a(void)\n{\n\treturn 0;\n}\n");
    r.commit("base");
    r.mark_base();
    // The prerequisites: a modification, a rename with an edit, a mode
    // change, a new file and a binary file.
    r.write("drivers/a.c", "int a(void)\n{\n\treturn 1;\n}\n");
    r.commit("drivers: return 1 from a()");
    let guide: String = (1..=40).map(|i| format!("guide line {i}\n")).collect();
    r.remove("docs/guide.txt");
    r.write(
        "docs/manual/guide.txt",
        guide.replace("guide line 7\n", "guide line seven\n"),
    );
    r.chmod_x("drivers/a.c");
    r.write("firmware.bin", [0u8, 1, 2, 3, 255, 0, 7]);
    r.commit("docs: move the guide; add firmware");
    r.git(&["update-ref", PREREQ_TIP, "HEAD"]);
    // The series itself.
    r.write("drivers/b.c", "int b(void)\n{\n\treturn a();\n}\n");
    r.commit("drivers: add b()");
    r.write("README", "hello\nworld\nagain\n");
    r.commit("README: say it again");
    r
}

fn git_format_patch(r: &TestRepo, git: &std::path::Path) -> PathBuf {
    let out = r.scratch(&format!(
        "git-{}",
        git.display().to_string().replace('/', "_")
    ));
    let out_arg = out.display().to_string();
    let range = format!("{PREREQ_TIP}..HEAD");
    r.git_with(
        git,
        &[
            "-c",
            "diff.algorithm=myers",
            "format-patch",
            "-q",
            "--cover-letter",
            "--zero-commit",
            "--signature=series",
            "--subject-prefix=PATCH",
            "--base=refs/series/base",
            "--no-thread",
            "-v3",
            "-o",
            &out_arg,
            &range,
        ],
        &[],
    );
    out
}

#[test]
fn prerequisite_patch_ids_match_git_format_patch_base() {
    let r = stacked_repo();
    let out = r.scratch("export");
    let mut opts = r.options(3, "PATCH", None);
    opts.from = Some(PREREQ_TIP.to_string());
    let series = series_export::generate(&opts).expect("export");
    series_export::write(&out, &series.files).expect("write");
    let cover = String::from_utf8(series.files[0].contents.clone()).unwrap();
    assert_eq!(
        cover.matches("prerequisite-patch-id: ").count(),
        2,
        "{cover}"
    );
    assert_eq!(series.files.len(), 3, "the cover letter and two patches");
    for git in gits() {
        assert_same_dirs(&git_format_patch(&r, &git), &out);
    }
}

#[test]
fn a_series_ending_before_head_is_exported_up_to_its_last_commit() {
    let r = stacked_repo();
    let mut opts = r.options(1, "PATCH", None);
    opts.head = Some(PREREQ_TIP.to_string());
    let series = series_export::generate(&opts).expect("export");
    let names: Vec<&str> = series.files.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "0000-cover-letter.patch",
            "0001-drivers-return-1-from-a.patch",
            "0002-docs-move-the-guide-add-firmware.patch"
        ]
    );
    let cover = String::from_utf8(series.files[0].contents.clone()).unwrap();
    assert!(!cover.contains("prerequisite-patch-id"), "{cover}");
}

#[test]
fn prerequisites_off_the_base_are_refused() {
    let r = stacked_repo();
    r.git(&["checkout", "-q", "--orphan", "other"]);
    r.commit("unrelated root");
    r.git(&["update-ref", "refs/heads/unrelated", "HEAD"]);
    r.git(&["checkout", "-q", "main"]);
    let mut opts = r.options(1, "PATCH", None);
    opts.from = Some("refs/heads/unrelated".to_string());
    let err = format!("{:#}", series_export::generate(&opts).unwrap_err());
    assert!(err.contains("does not descend from the base"), "{err}");
}

#[test]
fn a_lone_patch_without_a_cover_letter_carries_the_base_lines_as_git_writes_them() {
    let r = stacked_repo();
    // One patch on top of the prerequisites.
    r.git(&["reset", "-q", "--hard", "HEAD~1"]);
    let out = r.scratch("export-lone");
    let mut opts = r.options(1, "PATCH", None);
    opts.from = Some(PREREQ_TIP.to_string());
    opts.cover_letter = series_export::CoverLetter::Auto;
    let series = series_export::generate(&opts).expect("export");
    assert_eq!(series.files.len(), 1, "no cover letter for one patch");
    assert_eq!(series.patch_count(), 1);
    series_export::write(&out, &series.files).expect("write");
    for git in gits() {
        let dir = r.scratch(&format!(
            "git-lone-{}",
            git.display().to_string().replace('/', "_")
        ));
        let d = dir.display().to_string();
        let range = format!("{PREREQ_TIP}..HEAD");
        r.git_with(
            &git,
            &[
                "-c",
                "diff.algorithm=myers",
                "format-patch",
                "-q",
                "--zero-commit",
                "--signature=series",
                "--subject-prefix=PATCH",
                "--base=refs/series/base",
                "--no-thread",
                "-o",
                &d,
                &range,
            ],
            &[],
        );
        assert_same_dirs(&dir, &out);
    }
    // Auto still writes a cover letter for two patches.
    let r = stacked_repo();
    let mut opts = r.options(1, "PATCH", None);
    opts.cover_letter = series_export::CoverLetter::Auto;
    opts.from = Some(PREREQ_TIP.to_string());
    let series = series_export::generate(&opts).expect("export");
    assert_eq!(series.files.len(), 3);
}
