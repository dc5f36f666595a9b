//! Corner cases where export once differed from `git format-patch`:
//! each history is exported and compared byte for byte with
//! the output of the git binaries on this machine.

mod common;

use common::{assert_matches_git, TestRepo};

fn base() -> TestRepo {
    let r = TestRepo::new();
    r.write("README", "hello\n");
    r.commit("base");
    r.mark_base();
    r
}

/// git cuts a hunk header's function text at the first byte that is not
/// UTF-8: Latin-1 text, or a character split by the 80-byte limit.
#[test]
fn function_text_is_cut_at_invalid_utf8() {
    let r = TestRepo::new();
    let filler: Vec<u8> = (1..=8)
        .flat_map(|i| format!("  l{i}\n").into_bytes())
        .collect();
    let mut text = Vec::new();
    text.extend_from_slice(b"int caf\xe9_fn(void) tail\n");
    text.extend_from_slice(&filler);
    text.extend_from_slice(b"int x \xe9y\n");
    text.extend_from_slice(&filler);
    text.extend_from_slice(format!("int {}", "a".repeat(75)).as_bytes());
    text.extend_from_slice("éxyz(void)\n".as_bytes());
    text.extend_from_slice(&filler);
    r.write("a.txt", &text);
    r.commit("base");
    r.mark_base();
    // Edit by byte positions so the Latin-1 bytes stay as they are.
    let mut out = text.clone();
    for (i, w) in text.windows(5).enumerate() {
        if w == b"  l5\n" {
            out[i + 2] = b'L';
        }
    }
    r.write("a.txt", &out);
    r.commit("edit below the Latin-1 function lines");
    assert_matches_git(&r, 1, "PATCH");
}

/// The cover letter's shortlog names authors as .mailmap maps them.
#[test]
fn shortlog_honours_mailmap() {
    let r = base();
    r.write(
        ".mailmap",
        "Proper Name <proper@example.org> <old@example.org>\n",
    );
    r.commit("add a mailmap");
    r.write("README", "hello\nworld\n");
    r.commit_as("Old Nick", "old@example.org", "README: second line");
    assert_matches_git(&r, 1, "PATCH");
    let cover =
        std::fs::read_to_string(r.export(1, "PATCH").join("0000-cover-letter.patch")).unwrap();
    assert!(cover.contains("Proper Name (1):"), "{cover}");
}

/// A form feed or vertical tab at a line's end is not a blank to git.
#[test]
fn form_feed_and_vertical_tab_at_line_ends_stay() {
    let r = base();
    r.write("README", "hello\nagain\n");
    r.commit("README: more\n\nA page break\x0c\nA vertical tab\x0b\nBlanks   \n");
    assert_matches_git(&r, 1, "PATCH");
}

/// A commit stored as ISO-8859-1 (an `encoding` header) is sent in UTF-8.
#[test]
fn latin1_commits_are_reencoded() {
    let r = base();
    r.write("README", "hello\ncafe\n");
    r.git(&["add", "-A"]);
    let msg = r.scratch("msg").join("latin1.txt");
    std::fs::write(&msg, b"README: caf\xe9\n\nCr\xe8me br\xfbl\xe9e.\n").unwrap();
    r.git(&[
        "-c",
        "i18n.commitEncoding=ISO-8859-1",
        "commit",
        "-q",
        "-F",
        msg.to_str().unwrap(),
    ]);
    assert!(r
        .git(&["cat-file", "commit", "HEAD"])
        .contains("encoding ISO-8859-1"));
    assert_matches_git(&r, 1, "PATCH");
    let patch =
        std::fs::read_to_string(r.export(1, "PATCH").join("0001-README-caf.patch")).unwrap();
    assert!(patch.contains("Crème brûlée."), "{patch}");
}

/// Wide (CJK) characters take two columns when the shortlog wraps.
#[test]
fn shortlog_wraps_wide_characters_by_display_width() {
    let r = base();
    r.write("README", "hello\nwide\n");
    r.commit(&format!("docs: {}", "日本語の説明文 ".repeat(8)));
    assert_matches_git(&r, 1, "PATCH");
}
