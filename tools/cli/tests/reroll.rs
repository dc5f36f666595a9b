//! From v1 to v2: `series version --next`, the cover letter's changelog,
//! lore link and range-diff, and `git am` of the result.

mod common;

use common::{git, Fixture, Smtp, AUTHOR};

fn send_v1(f: &Fixture) -> String {
    let smtp = Smtp::start(&f.dir.path().join("maildir"), None);
    let flags = smtp.flags();
    let mut args = vec!["send", "--send", "--from", AUTHOR];
    args.extend(flags.iter().map(String::as_str));
    f.series_ok(&args);
    assert_eq!(smtp.received().len(), 4);
    let rec: toml::Value =
        toml::from_str(&std::fs::read_to_string(f.patches.join("sent/v1.toml")).unwrap()).unwrap();
    rec["mails"][0]["message_id"].as_str().unwrap().to_string()
}

#[test]
fn v2_carries_changelog_link_and_range_diff_and_applies() {
    let f = Fixture::new();
    let cover_id = send_v1(&f);
    let manifest = f.patches.join("series.toml");
    let before = std::fs::read_to_string(&manifest).unwrap();

    // Refused while the tree has uncommitted changes, or patches/sent/ is
    // not committed; nothing changes.
    f.write("drivers/base/dd.c", "dirty\n");
    let err = f.series_err(&["version", "--next"]);
    assert!(err.contains("uncommitted changes"), "{err}");
    f.git(&["checkout", "--", "."]);
    let err = f.series_err(&["version", "--next"]);
    assert!(
        err.contains("uncommitted changes") && err.contains("sent/"),
        "{err}"
    );
    assert_eq!(std::fs::read_to_string(&manifest).unwrap(), before);
    f.commit_project("v1 sent");

    let out = f.series_ok(&["version", "--next"]);
    assert!(out.contains("now v2"), "{out}");
    let bumped = std::fs::read_to_string(&manifest).unwrap();
    assert!(bumped.contains("version = 2\n"));
    assert!(
        bumped.ends_with("[[changelog]]\nversion = 2\nchanges = []\n"),
        "{bumped}"
    );
    let v1_tip = f.git(&["rev-parse", "refs/series/sent/v1"]);
    let err = f.series_err(&["send", "--from", AUTHOR]);
    assert!(err.contains("changelog") && err.contains("empty"), "{err}");

    // A fresh tree gets v1's commits back from patches/sent/v1.
    let v1_base = f.git(&["rev-parse", "refs/series/base"]);
    let rebuilt = f.dir.path().join("rebuilt");
    git(
        f.dir.path(),
        &f.home,
        &["clone", "-q", f.tree.to_str().unwrap(), "rebuilt"],
    );
    git(
        &rebuilt,
        &f.home,
        &["reset", "-q", "--hard", v1_base.trim()],
    );
    git(
        &rebuilt,
        &f.home,
        &["update-ref", "refs/series/base", "HEAD"],
    );
    let sent_dir = f.patches.join("sent/v1");
    f.series_ok(&[
        "apply",
        "--series",
        sent_dir.to_str().unwrap(),
        "--tree",
        rebuilt.to_str().unwrap(),
    ]);
    assert_eq!(
        git(&rebuilt, &f.home, &["rev-parse", "HEAD^{tree}"]),
        f.git(&["rev-parse", "refs/series/sent/v1^{tree}"])
    );

    // Rework: patch 2 changes, patch 3 is rebuilt on it.
    f.git(&["reset", "-q", "--hard", "HEAD~2"]);
    f.write(
        "drivers/iommu/iommu.c",
        "int group;\nint owner;\nint kernel_owner;\n",
    );
    f.commit(
        "iommu: Rename the kernel DMA claim\n\nSay what it does, with a better name.\n\n\
         Signed-off-by: A U Thor <author@example.org>\n",
    );
    f.write("tools/testing/dma_owner.sh", "#!/bin/sh\necho ok\n");
    f.commit(
        "selftests: Add a DMA ownership test\n\nTest the rule.\n\n\
         Signed-off-by: A U Thor <author@example.org>\n",
    );
    std::fs::write(
        &manifest,
        bumped.replace(
            "changes = []",
            "changes = [\"Name the claim kernel_owner.\"]",
        ),
    )
    .unwrap();
    assert_eq!(
        f.git(&["rev-parse", "refs/series/sent/v1"]),
        v1_tip,
        "v1 stays reachable"
    );

    f.series_ok(&["export"]);
    let names: Vec<String> = std::fs::read_dir(&f.patches)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".patch"))
        .collect();
    assert_eq!(names.len(), 4);
    assert!(names.iter().all(|n| n.starts_with("v2-")), "{names:?}");
    let cover = std::fs::read_to_string(f.patches.join("v2-0000-cover-letter.patch")).unwrap();
    assert!(cover.contains("Subject: [PATCH v2 0/3] driver core: Claim DMA ownership\n"));
    let link = format!(
        "https://lore.kernel.org/r/{}",
        cover_id.trim_start_matches('<').trim_end_matches('>')
    );
    assert!(
        cover.contains(&format!(
            "The driver core claims DMA ownership.\n\n---\nChanges in v2:\n\
             - Name the claim kernel_owner.\n- Link to v1: {link}\n\n\
             Changes in v1:\n- Initial posting.\n\n"
        )),
        "{cover}"
    );
    let base = f.git(&["rev-parse", "refs/series/base"]);
    let range_diff = f.git(&[
        "-c",
        "core.abbrev=12",
        "range-diff",
        "--no-color",
        "--creation-factor=999",
        &format!("{}..refs/series/sent/v1", base.trim()),
        "refs/series/base..HEAD",
    ]);
    assert!(
        range_diff.contains("2:  ") && range_diff.contains(" ! 2:  "),
        "{range_diff}"
    );
    assert!(
        cover.contains(&format!(
            "\nRange-diff against v1:\n{range_diff}\nbase-commit: "
        )),
        "{cover}"
    );
    f.series_ok(&["export", "--check"]);

    // The maintainer's side: git am of the patch files onto the base.
    let fresh = f.dir.path().join("maintainer");
    git(
        f.dir.path(),
        &f.home,
        &["clone", "-q", f.tree.to_str().unwrap(), "maintainer"],
    );
    git(&fresh, &f.home, &["reset", "-q", "--hard", base.trim()]);
    let mut files: Vec<String> = names
        .iter()
        .filter(|n| !n.contains("0000-cover-letter"))
        .map(|n| f.patches.join(n).display().to_string())
        .collect();
    files.sort();
    let mut args = vec!["am", "-q"];
    args.extend(files.iter().map(String::as_str));
    git(&fresh, &f.home, &args);
    assert_eq!(
        git(&fresh, &f.home, &["rev-parse", "HEAD^{tree}"]),
        f.git(&["rev-parse", "HEAD^{tree}"])
    );
}
