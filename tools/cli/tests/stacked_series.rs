//! Several series in one project: `patches/base.toml` and one directory
//! per series, each naming what it requires. apply lays the chain down in
//! one step (skipping what the tree holds), export writes each series as
//! `git format-patch --base=` does, list shows the stack.

mod common;

use common::git;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

struct Stack {
    _dir: tempfile::TempDir,
    root: PathBuf,
    home: PathBuf,
    /// The tree the patches were made from (every series applied).
    made: PathBuf,
    patches: PathBuf,
}

const SERIES: [(&str, &[&str]); 3] = [
    ("fix-a", &[]),
    ("fix-b", &[]),
    ("feature", &["fix-a", "fix-b"]),
];

fn manifest(name: &str, requires: &[&str]) -> String {
    let req: Vec<String> = requires.iter().map(|r| format!("{r:?}")).collect();
    format!(
        "[series]\nname = {name:?}\nversion = 1\nrequires = [{}]\n\n[author]\n\
         name = \"A U Thor\"\nemail = \"author@example.org\"\n",
        req.join(", ")
    )
}

impl Stack {
    fn new() -> Stack {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_path_buf();
        let home = root.join("home");
        let made = root.join("made");
        let patches = root.join("project/patches");
        for d in [&home, &made, &patches] {
            std::fs::create_dir_all(d).unwrap();
        }
        let s = Stack {
            _dir: dir,
            root,
            home,
            made,
            patches,
        };
        s.write(
            &s.made,
            "Makefile",
            "VERSION = 7\nPATCHLEVEL = 3\nSUBLEVEL = 0\n",
        );
        s.write(&s.made, "drivers/cdx/cdx.c", "int configure;\nint ret;\n");
        s.write(
            &s.made,
            "drivers/iommu/virtio.c",
            "int probe;\nint attach;\n",
        );
        s.write(&s.made, "drivers/base/dd.c", "int probe;\nint bind;\n");
        s.git(&s.made, &["init", "-q", "-b", "main"]);
        s.commit(&s.made, "Linux 7.3");
        s.git(&s.made, &["update-ref", "refs/series/base", "HEAD"]);
        s.write(
            &s.made,
            "drivers/cdx/cdx.c",
            "int configure;\nint ret = 0;\n",
        );
        s.commit(
            &s.made,
            "cdx: Return errors\n\nSigned-off-by: A U Thor <author@example.org>\n",
        );
        s.git(
            &s.made,
            &["update-ref", "refs/series/applied/fix-a", "HEAD"],
        );
        s.write(
            &s.made,
            "drivers/iommu/virtio.c",
            "int probe = 1;\nint attach;\n",
        );
        s.commit(
            &s.made,
            "iommu/virtio: Fail the probe\n\nSigned-off-by: A U Thor <author@example.org>\n",
        );
        s.write(
            &s.made,
            "drivers/iommu/virtio.c",
            "int probe = 1;\nint attach = 1;\n",
        );
        s.commit(
            &s.made,
            "iommu/virtio: Fail the attach\n\nSigned-off-by: A U Thor <author@example.org>\n",
        );
        s.git(
            &s.made,
            &["update-ref", "refs/series/applied/fix-b", "HEAD"],
        );
        s.write(
            &s.made,
            "drivers/base/dd.c",
            "int probe;\nint bind;\nint claim;\n",
        );
        s.commit(
            &s.made,
            "driver core: Claim\n\nSigned-off-by: A U Thor <author@example.org>\n",
        );
        s.write(
            &s.made,
            "drivers/base/dd.c",
            "int probe;\nint bind;\nint claim;\nint release;\n",
        );
        s.commit(
            &s.made,
            "driver core: Release\n\nSigned-off-by: A U Thor <author@example.org>\n",
        );
        std::fs::write(
            s.patches.join("base.toml"),
            "[base]\nrevision = \"main\"\nkernel_version = \"7.3.0\"\n",
        )
        .unwrap();
        let ranges = [
            ("fix-a", "refs/series/base..refs/series/applied/fix-a"),
            (
                "fix-b",
                "refs/series/applied/fix-a..refs/series/applied/fix-b",
            ),
            ("feature", "refs/series/applied/fix-b..HEAD"),
        ];
        for ((name, requires), (_, range)) in SERIES.iter().zip(ranges) {
            let dir = s.patches.join(name);
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join("series.toml"), manifest(name, requires)).unwrap();
            let out = dir.display().to_string();
            s.git(&s.made, &["format-patch", "-q", "-o", &out, range]);
        }
        s
    }

    fn write(&self, tree: &Path, name: &str, text: &str) {
        let p = tree.join(name);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }

    fn git(&self, tree: &Path, args: &[&str]) -> String {
        git(tree, &self.home, args)
    }

    fn commit(&self, tree: &Path, msg: &str) {
        self.git(tree, &["add", "-A"]);
        self.git(tree, &["commit", "-q", "-m", msg]);
    }

    /// A new clone of the base only, with refs/series/base.
    fn fresh_tree(&self, name: &str) -> PathBuf {
        let tree = self.root.join(name);
        let src = self.made.display().to_string();
        let dst = tree.display().to_string();
        self.git(&self.root, &["clone", "-q", &src, &dst]);
        self.git(&tree, &["reset", "-q", "--hard", "HEAD~5"]);
        self.git(&tree, &["update-ref", "refs/series/base", "HEAD"]);
        tree
    }

    fn series(&self, args: &[&str]) -> Output {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_series"));
        for (k, _) in std::env::vars_os() {
            if k.to_string_lossy().starts_with("GIT_") {
                cmd.env_remove(k);
            }
        }
        cmd.arg("--patches")
            .arg(&self.patches)
            .args(args)
            .env("HOME", &self.home)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("SERIES_ROOT", self.root.join("project"))
            .env("SERIES_OUT", self.root.join("out"))
            .output()
            .expect("run series")
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.series(args);
        assert!(
            out.status.success(),
            "series {args:?} failed:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn err(&self, args: &[&str]) -> String {
        let out = self.series(args);
        assert!(!out.status.success(), "series {args:?} should have failed");
        String::from_utf8_lossy(&out.stderr).into_owned()
    }
}

fn tree_of(s: &Stack, tree: &Path, rev: &str) -> String {
    s.git(tree, &["rev-parse", &format!("{rev}^{{tree}}")])
}

#[test]
fn apply_lays_down_every_prerequisite_then_the_series_like_git_am() {
    let s = Stack::new();
    let tree = s.fresh_tree("t1");
    let t = tree.display().to_string();
    let out = s.ok(&["apply", "--tree", &t]);
    assert!(out.contains("applied 5 patches"), "{out}");
    assert_eq!(tree_of(&s, &tree, "HEAD"), tree_of(&s, &s.made, "HEAD"));
    for (name, rev) in [
        ("fix-a", "HEAD~4"),
        ("fix-b", "HEAD~2"),
        ("feature", "HEAD"),
    ] {
        assert_eq!(
            s.git(
                &tree,
                &["rev-parse", &format!("refs/series/applied/{name}")]
            ),
            s.git(&tree, &["rev-parse", rev]),
            "{name}"
        );
    }
    // git am of every series in order gives the same tree.
    let am = s.fresh_tree("am");
    for (name, _) in SERIES {
        let dir = s.patches.join(name);
        let mut files: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path().display().to_string())
            .filter(|p| p.ends_with(".patch"))
            .collect();
        files.sort();
        let mut args = vec!["am", "-q"];
        args.extend(files.iter().map(String::as_str));
        s.git(&am, &args);
    }
    assert_eq!(tree_of(&s, &am, "HEAD"), tree_of(&s, &tree, "HEAD"));

    // One series and its prerequisites only.
    let only = s.fresh_tree("only");
    let o = only.display().to_string();
    let out = s.ok(&["--series", "fix-b", "apply", "--tree", &o]);
    assert!(out.contains("applied 2 patches"), "{out}");
}

#[test]
fn a_prerequisite_the_tree_holds_is_skipped_and_a_partial_one_refused() {
    let s = Stack::new();
    let tree = s.fresh_tree("t2");
    let t = tree.display().to_string();
    // fix-a is in the tree already, with another message and whitespace.
    s.write(&tree, "drivers/cdx/cdx.c", "int configure;\nint ret = 0;\n");
    s.commit(&tree, "cdx: the same fix, picked up elsewhere");
    let out = s.ok(&["apply", "--tree", &t]);
    assert!(out.contains("fix-a is in the tree already"), "{out}");
    assert!(out.contains("applied 4 patches"), "{out}");
    assert_eq!(tree_of(&s, &tree, "HEAD"), tree_of(&s, &s.made, "HEAD"));
    assert_eq!(
        s.git(&tree, &["rev-parse", "refs/series/applied/fix-a"]),
        s.git(&tree, &["rev-parse", "HEAD~4"])
    );

    // Half of fix-b: refused, nothing changes.
    let half = s.fresh_tree("half");
    let h = half.display().to_string();
    s.write(
        &half,
        "drivers/iommu/virtio.c",
        "int probe = 1;\nint attach;\n",
    );
    s.commit(&half, "iommu/virtio: Fail the probe");
    let before = s.git(&half, &["rev-parse", "HEAD"]);
    let err = s.err(&["apply", "--tree", &h]);
    assert!(err.contains("fix-b is partly in"), "{err}");
    assert!(err.contains("iommu/virtio: Fail the attach"), "{err}");
    assert_eq!(s.git(&half, &["rev-parse", "HEAD"]), before);
}

#[test]
fn export_writes_the_feature_as_format_patch_base_does() {
    let s = Stack::new();
    let tree = s.fresh_tree("t3");
    let t = tree.display().to_string();
    s.ok(&["apply", "--tree", &t]);
    let out_dir = s.root.join("exported");
    let o = out_dir.display().to_string();
    s.ok(&["export", "--tree", &t, "--output", &o]);
    let git_dir = s.root.join("git-format-patch");
    let g = git_dir.display().to_string();
    s.git(
        &tree,
        &[
            "-c",
            "diff.algorithm=myers",
            "-c",
            "core.abbrev=12",
            "format-patch",
            "-q",
            "--cover-letter",
            "--zero-commit",
            "--signature=series",
            "--base=refs/series/base",
            "--no-thread",
            "-o",
            &g,
            "refs/series/applied/fix-b..HEAD",
        ],
    );
    let cover = std::fs::read_to_string(out_dir.join("0000-cover-letter.patch")).unwrap();
    let git_cover = std::fs::read_to_string(git_dir.join("0000-cover-letter.patch")).unwrap();
    // The blurb differs (export names the prerequisites); the lines git
    // writes at the end are the same.
    let tail = |t: &str| t[t.find("\nbase-commit:").unwrap()..].to_string();
    assert_eq!(tail(&cover), tail(&git_cover));
    assert_eq!(
        cover.matches("prerequisite-patch-id: ").count(),
        3,
        "{cover}"
    );
    assert!(cover.contains("This series applies on top of:\n- fix-a v1 (not posted yet)\n- fix-b v1 (not posted yet)\n"), "{cover}");
    for name in [
        "0001-driver-core-Claim.patch",
        "0002-driver-core-Release.patch",
    ] {
        assert_eq!(
            std::fs::read(out_dir.join(name)).unwrap(),
            std::fs::read(git_dir.join(name)).unwrap(),
            "{name}"
        );
    }
    // A second export keeps the blurb as it was (the block is written anew).
    s.ok(&["export", "--tree", &t, "--output", &o]);
    let again = std::fs::read_to_string(out_dir.join("0000-cover-letter.patch")).unwrap();
    assert_eq!(again, cover);

    // fix-a exports from the full stack up to its own ref.
    let a_dir = s.root.join("fix-a-out");
    let a = a_dir.display().to_string();
    s.ok(&["--series", "fix-a", "export", "--tree", &t, "--output", &a]);
    assert!(a_dir.join("0001-cdx-Return-errors.patch").is_file());
    // fix-b would take fix-a in with it: refused, with the way out.
    let err = s.err(&["--series", "fix-b", "export", "--tree", &t, "--output", &a]);
    assert!(err.contains("fix-a lies below fix-b"), "{err}");
    assert!(err.contains("--series fix-b apply"), "{err}");
}

#[test]
fn list_shows_the_stack_and_bad_names_are_refused() {
    let s = Stack::new();
    let out = s.ok(&["list"]);
    assert!(out.contains("  fix-a v1: 1 patches"), "{out}");
    assert!(
        out.contains("* feature v1: 2 patches, v1 exported, not sent, requires fix-a, fix-b"),
        "{out}"
    );
    let json = s.ok(&["list", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["stack"].as_array().unwrap().len(), 3);
    assert_eq!(v["name"], "feature");
    let err = s.err(&["--series", "nope", "list"]);
    assert!(
        err.contains("has no series of that name (it has: feature, fix-a, fix-b)"),
        "{err}"
    );
    std::fs::write(
        s.patches.join("fix-a/series.toml"),
        manifest("fix-a", &["feature"]),
    )
    .unwrap();
    let err = s.err(&["list"]);
    assert!(err.contains("cycle"), "{err}");
}

#[test]
fn trailers_touch_only_the_selected_series_commits() {
    let s = Stack::new();
    let tree = s.fresh_tree("t4");
    let t = tree.display().to_string();
    s.ok(&["apply", "--tree", &t]);
    let head = s.git(&tree, &["rev-parse", "HEAD"]);
    // A review of fix-a's patch, with the patch quoted in the input.
    let patch_file = std::fs::read_dir(s.patches.join("fix-a"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "patch"))
        .unwrap();
    let patch = std::fs::read_to_string(patch_file).unwrap();
    let (first, rest) = patch.split_once('\n').unwrap();
    let mbox = format!(
        "{first}\nMessage-ID: <fix-a-1@example.org>\n{rest}\n\
         From reviewer Mon Sep 17 00:00:00 2001\n\
         From: R Eviewer <r@example.org>\n\
         Subject: Re: [PATCH] cdx: Return errors\n\
         Message-ID: <review-1@example.org>\n\
         In-Reply-To: <fix-a-1@example.org>\n\
         References: <fix-a-1@example.org>\n\n\
         Looks right.\n\nReviewed-by: R Eviewer <r@example.org>\n"
    );
    let mbox_path = s.root.join("review.mbox");
    std::fs::write(&mbox_path, mbox).unwrap();
    let m = mbox_path.display().to_string();
    // The feature's trailers never rewrite fix-a's commit below it.
    let out = s.series(&["trailers", "--from", &m, "--tree", &t]);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(s.git(&tree, &["rev-parse", "HEAD"]), head, "{text}");
    assert!(
        !s.git(&tree, &["log", "--format=%B", "refs/series/base..HEAD"])
            .contains("Reviewed-by: R Eviewer"),
        "{text}"
    );
    // fix-a's own trailers are added in a tree that holds only fix-a.
    let err = s.err(&["--series", "fix-a", "trailers", "--from", &m, "--tree", &t]);
    assert!(err.contains("other series lie on top of this one"), "{err}");
}

#[test]
fn the_feature_cover_letter_links_a_prerequisite_once_it_was_sent() {
    let s = Stack::new();
    let tree = s.fresh_tree("t5");
    let t = tree.display().to_string();
    s.ok(&["apply", "--tree", &t]);
    let sent = s.patches.join("fix-b/sent");
    std::fs::create_dir_all(&sent).unwrap();
    std::fs::write(
        sent.join("v1.toml"),
        "version = 1\ndate = \"2026-12-05T07:00:00Z\"\nbase = \"0\"\nhead = \"0\"\n\
         sender = \"A U Thor <author@example.org>\"\ncomplete = true\n\n\
         [[mails]]\nfile = \"0000-cover-letter.patch\"\nsubject = \"[PATCH 0/2] x\"\n\
         message_id = \"<20261205.fix-b-v1-0@example.org>\"\nsent = true\nin_flight = false\n",
    )
    .unwrap();
    let o = s.root.join("exported5").display().to_string();
    s.ok(&["export", "--tree", &t, "--output", &o]);
    let cover = std::fs::read_to_string(s.root.join("exported5/0000-cover-letter.patch")).unwrap();
    assert!(
        cover.contains(
            "- fix-a v1 (not posted yet)\n\
             - fix-b v1: https://lore.kernel.org/r/20261205.fix-b-v1-0@example.org\n"
        ),
        "{cover}"
    );
    let listing = s.ok(&["list"]);
    assert!(
        listing.contains("fix-b v1: 2 patches, v1 sent"),
        "{listing}"
    );
}
