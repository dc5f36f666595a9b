//! A second version: changelog, link to v1 and range-diff in the cover
//! letter, byte-identical to `git format-patch -v2 --range-diff`.

mod common;

use common::{assert_same_dirs, gits_encoding_cover_headers, TestRepo};
use series_export::{PreviousVersion, VersionNotes};

const LINK: &str = "https://lore.kernel.org/r/20261125-v1-0-abc@example.org";

/// v1 of two patches kept under refs/series/sent/v1, then v2 on a newer
/// base: patch 1 reworded, patch 2 changed, patch 3 new.
fn rerolled() -> (TestRepo, String) {
    let r = TestRepo::new();
    r.write("a.txt", "one\ntwo\nthree\n");
    r.commit("base");
    r.mark_base();
    let old_base = r.git(&["rev-parse", "HEAD"]).trim().to_string();
    r.write("a.txt", "one\n2\nthree\n");
    r.commit("a: second line as a digit");
    r.write("b.txt", "bee\n");
    r.commit("add b");
    r.git(&["update-ref", "refs/series/sent/v1", "HEAD"]);
    r.git(&["reset", "-q", "--hard", &old_base]);
    r.write("z.txt", "upstream moved on\n");
    r.commit("upstream");
    r.mark_base();
    r.write("a.txt", "one\n2\nthree\n");
    r.commit("a: write the second line as a digit\n\nBecause digits are shorter.\n");
    r.write("b.txt", "bee\nbuzz\n");
    r.commit("add b");
    r.write("c.txt", "sea\n");
    r.commit("add c");
    (r, format!("{old_base}..refs/series/sent/v1"))
}

fn notes() -> Vec<VersionNotes> {
    vec![
        VersionNotes {
            version: 1,
            changes: vec!["Initial posting.".into()],
            previous_link: None,
        },
        VersionNotes {
            version: 2,
            changes: vec![
                "Rebased on upstream.".into(),
                "Patch 3 is new.\nIt adds c.".into(),
            ],
            previous_link: Some(LINK.into()),
        },
    ]
}

#[test]
fn v2_cover_matches_format_patch_with_range_diff() {
    let (r, previous) = rerolled();
    let dir = r.scratch("export-2");
    let opts = series_export::ExportOptions {
        changelog: notes(),
        range_diff: Some(PreviousVersion {
            range: previous.clone(),
        }),
        ..r.options(2, "PATCH", Some(&dir))
    };
    let series = series_export::generate(&opts).unwrap();
    series_export::write(&dir, &series.files).unwrap();
    let cover = dir.join("v2-0000-cover-letter.patch");
    let text = std::fs::read_to_string(&cover).unwrap();
    let blurb = "The series makes a, b and c.\n\nSecond paragraph.";
    std::fs::write(
        &cover,
        text.replace("*** SUBJECT HERE ***", "abc: three small files")
            .replace("*** BLURB HERE ***", blurb),
    )
    .unwrap();
    // A second export keeps the edited blurb and writes the changelog once.
    let series = series_export::generate(&opts).unwrap();
    series_export::write(&dir, &series.files).unwrap();
    let text = std::fs::read_to_string(&cover).unwrap();
    assert_eq!(text.matches("Changes in v2:").count(), 1, "{text}");
    assert!(text.contains(&format!("- Link to v1: {LINK}\n")), "{text}");

    let changelog =
        "---\nChanges in v2:\n- Rebased on upstream.\n- Patch 3 is new.\n  It adds c.\n\
                     - Link to v1: https://lore.kernel.org/r/20261125-v1-0-abc@example.org\n\n\
                     Changes in v1:\n- Initial posting.";
    r.git(&[
        "config",
        "branch.main.description",
        &format!("abc: three small files\n\n{blurb}\n\n{changelog}\n"),
    ]);
    let range_arg = format!("--range-diff={previous}");
    let gits = gits_encoding_cover_headers();
    assert!(!gits.is_empty(), "no git >= 2.43 to compare with");
    for git in gits {
        let theirs = r.format_patch(
            &git,
            2,
            "PATCH",
            &["--cover-from-description=subject", &range_arg],
        );
        assert_same_dirs(&theirs, &dir);
    }

    // The range-diff section is git range-diff's own output.
    let rd = r.git(&[
        "range-diff",
        "--no-color",
        "--creation-factor=999",
        &previous,
        "refs/series/base..HEAD",
    ]);
    assert!(rd.contains(" ! 1:  ") && rd.contains("> 3:  "), "{rd}");
    assert!(
        text.contains(&format!("\nRange-diff against v1:\n{rd}\nbase-commit: ")),
        "{text}"
    );
}

#[test]
fn range_diff_against_a_missing_version_is_a_clear_error() {
    let (r, _) = rerolled();
    let opts = series_export::ExportOptions {
        range_diff: Some(PreviousVersion {
            range: "refs/series/base..refs/series/sent/v9".into(),
        }),
        ..r.options(2, "PATCH", None)
    };
    let err = format!("{:#}", series_export::generate(&opts).unwrap_err());
    assert!(err.contains("refs/series/sent/vN"), "{err}");
}
