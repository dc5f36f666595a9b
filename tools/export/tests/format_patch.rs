//! export output equals `git format-patch` byte for byte, for many shapes.

mod common;

use common::{assert_matches_git, TestRepo};

const C_FILE: &str = "// SPDX\n#include <x.h>\n\nstatic int helper(int a)\n{\n\tint b = a + 1;\n\n\tif (b)\n\t\tgoto out;\n\tb++;\n\tb++;\n\tb++;\nout:\n\treturn b;\n}\n\nint main(void)\n{\n\treturn helper(1);\n}\n";

fn base_repo() -> TestRepo {
    let r = TestRepo::new();
    r.write(".gitattributes", "*.[ch] diff=cpp\n");
    r.write("src/main.c", C_FILE);
    r.write("README", "hello\nworld\n");
    r.write("old.txt", "to be deleted\n");
    r.write(
        "docs/guide.txt",
        (1..=40)
            .map(|i| format!("guide line {i}\n"))
            .collect::<String>(),
    );
    r.commit("base");
    r.mark_base();
    r
}

#[test]
fn new_deleted_modified_and_no_newline() {
    let r = base_repo();
    r.write(
        "src/main.c",
        C_FILE.replace("\tb++;\n\tb++;\nout:", "\tb += 2;\nout:"),
    );
    r.write("new.txt", "no newline at end");
    r.remove("old.txt");
    r.commit("src: simplify helper\n\nUse one addition instead of two.\nSecond line.\n");
    r.write("README", "hello\nworld");
    r.write("empty", "");
    r.commit("README: drop the final newline");
    assert_matches_git(&r, 1, "PATCH");
}

#[test]
fn function_context_default_driver_and_label_lines() {
    let r = base_repo();
    let body: String = (1..=30).map(|i| format!("  item {i}\n")).collect();
    r.write(
        "notes.txt",
        format!("Section one\n{body}Section two\n{body}"),
    );
    r.commit("add notes");
    r.mark_base();
    r.write(
        "notes.txt",
        format!(
            "Section one\n{}Section two\n{}",
            body.replace("item 20", "item XX"),
            body.replace("item 25", "item YY")
        ),
    );
    r.write(
        "src/main.c",
        C_FILE.replace("\treturn b;", "\treturn b * 2;"),
    );
    r.commit("touch notes and the label");
    assert_matches_git(&r, 1, "PATCH");
}

#[test]
fn renames_and_mode_changes() {
    let r = base_repo();
    let guide: String = (1..=40).map(|i| format!("guide line {i}\n")).collect();
    r.remove("docs/guide.txt");
    r.write(
        "docs/manual/guide.txt",
        guide.replace("guide line 7\n", "guide line seven\n"),
    );
    r.remove("README");
    r.write("README.md", "hello\nworld\n");
    r.chmod_x("src/main.c");
    r.commit("move docs, rename README, make main.c executable");
    r.chmod_x("README.md");
    r.git(&["mv", "README.md", "READ ME"]);
    r.write("src/other.c", C_FILE.replace("helper", "other_helper"));
    r.commit("rename with a space and a mode change");
    assert_matches_git(&r, 1, "PATCH");
}

#[test]
fn non_ascii_author_subject_and_long_subject() {
    let r = base_repo();
    r.write("README", "hello\nwörld\n");
    r.commit_as(
        "Jöhn Dœ",
        "john@example.org",
        "Fix ünïcode handling in the README so that it is long enough to need folding yes",
    );
    r.write("README", "hello\nworld\n");
    r.commit_as(
        "A. U. Thor (Corp)",
        "a@example.org",
        &format!(
            "{} end\n\nBody with ünïcode.\n",
            "very long subject words ".repeat(6)
        ),
    );
    r.write("README", "bye\n");
    r.commit_as(
        "Averyveryverylongname Withmanypartsthatgoonandon Andonandonandon Evenmore",
        "x@example.org",
        "  [PATCH] leading blanks\nand a second subject line\n\n\nbody   \n\n\n",
    );
    assert_matches_git(&r, 1, "PATCH");
}

#[test]
fn many_files_diffstat_scaling() {
    let r = base_repo();
    for i in 0..25 {
        let name =
            format!("drivers/some/very/deep/directory/structure/file-with-a-long-name-{i}.c");
        r.write(
            &name,
            (0..(i * 7 + 1))
                .map(|k| format!("line {k}\n"))
                .collect::<String>(),
        );
    }
    r.write(
        "big.txt",
        (0..500).map(|k| format!("big {k}\n")).collect::<String>(),
    );
    r.commit("add many files");
    for i in (0..25).step_by(3) {
        let name =
            format!("drivers/some/very/deep/directory/structure/file-with-a-long-name-{i}.c");
        r.write(
            &name,
            (0..(i * 7 + 1))
                .map(|k| format!("line {k} changed\n"))
                .collect::<String>(),
        );
    }
    r.write(
        "big.txt",
        (0..500)
            .map(|k| {
                if k % 3 == 0 {
                    format!("BIG {k}\n")
                } else {
                    format!("big {k}\n")
                }
            })
            .collect::<String>(),
    );
    r.write("a.txt", "one line\n");
    r.commit("change many files");
    assert_matches_git(&r, 1, "PATCH");
}

#[test]
fn single_patch_series() {
    let r = base_repo();
    r.write("README", "hello\nthere\n");
    r.commit("README: greet");
    assert_matches_git(&r, 1, "PATCH");
}

#[test]
fn v2_series_with_other_prefix() {
    let r = base_repo();
    r.write("README", "hello\nthere\n");
    r.commit("README: greet");
    r.write("new.c", "int x;\n");
    r.commit("add new.c");
    assert_matches_git(&r, 2, "RFC PATCH");
}

#[test]
fn twelve_patches_two_digit_numbers() {
    let r = base_repo();
    for i in 1..=12 {
        r.write("counter.txt", format!("{i}\n"));
        r.commit(&format!("counter: step {i}"));
    }
    assert_matches_git(&r, 3, "PATCH");
}

#[test]
fn packed_repository_with_longer_abbreviations() {
    let r = base_repo();
    // 17000 packed objects make git abbreviate to 8 hex digits.
    // They are kept reachable by a side branch so that repack keeps them.
    let mut stream = String::from(
        "commit refs/heads/bulk\ncommitter X <x@example.org> 1700000000 +0000\ndata 4\nbulk\n",
    );
    for i in 0..17000 {
        let data = format!("blob {i}\n");
        stream.push_str(&format!(
            "M 100644 inline f/{i}\ndata {}\n{data}\n",
            data.len()
        ));
    }
    let mut child = std::process::Command::new(&common::gits()[0])
        .args(["fast-import", "--quiet"])
        .current_dir(&r.path)
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stream.as_bytes())
        .unwrap();
    assert!(child.wait().unwrap().success());
    r.write("README", "packed\n");
    r.commit("README: packed");
    r.git(&["repack", "-a", "-d", "-q"]);
    assert_matches_git(&r, 1, "PATCH");
    let patch =
        std::fs::read_to_string(r.export(1, "PATCH").join("0001-README-packed.patch")).unwrap();
    assert!(
        patch
            .lines()
            .any(|l| l.starts_with("index ") && l.len() == "index ".len() + 8 + 2 + 8 + 7),
        "{patch}"
    );
}

#[test]
fn kernel_gitattributes_drivers() {
    let r = TestRepo::new();
    r.write(
        ".gitattributes",
        "*.[ch] diff=cpp\n*.dts diff=dts\n*.dts[io] diff=dts\n*.rs diff=rust\n",
    );
    let rs: String = format!(
        "pub(crate) fn first() -> u32 {{\n{}    1\n}}\n\nimpl Thing {{\n    fn second(&self) {{\n{}    }}\n}}\n",
        "    let a = 1;\n".repeat(8),
        "        let b = 2;\n".repeat(8)
    );
    let dts: String = format!(
        "/ {{\n\tmodel = \"x\";\n\tuart0: serial@1000 {{\n{}\t}};\n}};\n\n&uart0 {{\n{}}};\n",
        "\t\treg = <0x1000>;\n".repeat(6),
        "\tstatus = \"okay\";\n".repeat(6)
    );
    r.write("lib.rs", &rs);
    r.write("board.dts", &dts);
    r.write(
        "x.h",
        "struct s {\n\tint a;\n\tint b;\n\tint c;\n\tint d;\n\tint e;\n};\n",
    );
    r.commit("base");
    r.mark_base();
    r.write(
        "lib.rs",
        rs.replacen("let b = 2;", "let b = 3;", 1)
            .replacen("    1\n", "    2\n", 1),
    );
    r.write(
        "board.dts",
        dts.replacen("<0x1000>", "<0x2000>", 1)
            .replacen("\"okay\"", "\"disabled\"", 1),
    );
    r.write(
        "x.h",
        "struct s {\n\tint a;\n\tint b;\n\tint c;\n\tint d;\n\tint e;\n\tint f;\n};\n",
    );
    r.commit("touch rust, dts and a header");
    assert_matches_git(&r, 1, "PATCH");
}

#[test]
fn odd_files_paths_and_messages() {
    let r = base_repo();
    let long_fn = format!(
        "static int {}(void)\n{{\n",
        "a_function_with_a_name_so_long_that_git_cuts_it_at_eighty_bytes_x"
    );
    let body: String = (1..=12).map(|i| format!("\tcall({i});\n")).collect();
    r.write("long.c", format!("{long_fn}{body}}}\n"));
    r.write("crlf.txt", "one\r\ntwo\r\nthree\r\n");
    r.write("tail.txt", "a\nb\nc");
    r.write("gone.txt", "no newline here");
    r.write("ünï code.txt", "x\n");
    r.write("tab\tname.txt", "y\n");
    let similar: String = (1..=20).map(|i| format!("shared line {i}\n")).collect();
    r.write("dup/one.txt", &similar);
    r.write("dup/two.txt", &similar);
    r.commit("odd files");
    r.mark_base();
    r.write(
        "long.c",
        format!(
            "{long_fn}{}}}\n",
            body.replace("call(2)", "call(20)")
                .replace("call(11)", "call(110)")
        ),
    );
    r.write("crlf.txt", "one\r\nTWO\r\nthree\r\n");
    r.write("tail.txt", "a\nB\nc");
    r.remove("gone.txt");
    r.write("ünï code.txt", "x\nz\n");
    r.write("tab\tname.txt", "y\nw\n");
    std::os::unix::fs::symlink("long.c", r.path.join("link")).unwrap();
    r.remove("dup/one.txt");
    r.write(
        "moved/one.txt",
        similar
            .replace("line 3\n", "line three\n")
            .replace("line 9\n", "line nine\n")
            + "extra\n",
    );
    r.commit(
        "odd: many kinds of change in one commit, with a subject that is just long\n\n\
         A body with a line of dashes:\n---\nFrom here on, more text.\n\ttabbed line   \n",
    );
    assert_matches_git(&r, 1, "PATCH");
    let dir = r.export(1, "PATCH");
    let patch = std::fs::read_to_string(
        dir.join("0001-odd-many-kinds-of-change-in-one-commit-with-a-subjec.patch"),
    )
    .unwrap();
    for expected in [
        "rename from dup/one.txt\nrename to moved/one.txt\n",
        "diff --git \"a/\\303\\274n\\303\\257 code.txt\" \"b/\\303\\274n\\303\\257 code.txt\"\n",
        "--- \"a/tab\\tname.txt\"\n",
        "\\ No newline at end of file\n",
        "new file mode 120000\n",
        "@@ -10,6 +10,6 @@ static int a_function_with_a_name_so_long_that_git_cuts_it_at_eighty_bytes_x(voi\n",
        " rename {dup => moved}/one.txt (86%)\n",
    ] {
        assert!(patch.contains(expected), "{expected:?} not in\n{patch}");
    }
}

#[test]
fn inexact_rename_picks_the_best_source() {
    let r = TestRepo::new();
    let text: String = (1..=30).map(|i| format!("text line {i}\n")).collect();
    r.write("a/first.txt", &text);
    r.write("a/second.txt", text.replace("line 1", "LINE 1"));
    r.write("keep.txt", "keep\n");
    r.commit("base");
    r.mark_base();
    r.remove("a/first.txt");
    r.remove("a/second.txt");
    r.write("b/third.txt", text.replace("line 30", "line thirty"));
    r.write(
        "b/fourth.txt",
        text.replace("line 2", "LINE 2").replace("line 3", "LINE 3"),
    );
    r.commit("move two similar files");
    assert_matches_git(&r, 1, "PATCH");
}

#[test]
fn file_turned_into_a_symlink() {
    let r = base_repo();
    r.remove("README");
    std::os::unix::fs::symlink("old.txt", r.path.join("README")).unwrap();
    r.commit("README: make it a link");
    assert_matches_git(&r, 1, "PATCH");
}
