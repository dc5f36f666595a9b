//! What the sent mails say in their headers: dates that increase along
//! the thread, the sender in From: however the name must be written, and
//! no send started from a cover letter git send-email would refuse.

mod common;

use common::{header, Fixture, Smtp};

fn send_as(f: &Fixture, smtp: &Smtp, from: &str) -> std::process::Output {
    let flags = smtp.flags();
    let mut args = vec!["send", "--send", "--from", from];
    args.extend(flags.iter().map(String::as_str));
    f.series(&args)
}

#[test]
fn dates_increase_strictly_along_the_thread() {
    let f = Fixture::new();
    let smtp = Smtp::start(&f.dir.path().join("maildir"), None);
    let out = send_as(&f, &smtp, common::AUTHOR);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let dates: Vec<i64> = smtp
        .received()
        .iter()
        .map(|m| mailparse::dateparse(&header(m, "Date").unwrap()).unwrap())
        .collect();
    assert_eq!(dates.len(), 4);
    assert!(dates.windows(2).all(|w| w[0] < w[1]), "{dates:?}");
}

#[test]
fn a_sender_whose_name_needs_encoding_is_in_from_and_the_sign_off() {
    let f = Fixture::new();
    let smtp = Smtp::start(&f.dir.path().join("maildir"), None);
    let out = send_as(&f, &smtp, "Jörg Rödel <joro@example.org>");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for mail in smtp.received().iter().skip(1) {
        let (headers, _) = mailparse::parse_headers(mail.as_bytes()).unwrap();
        let from = headers
            .iter()
            .find(|h| h.get_key_ref().eq_ignore_ascii_case("from"))
            .unwrap();
        let who = mailparse::addrparse_header(from).unwrap();
        let one = who.extract_single_info().unwrap();
        assert_eq!(one.display_name.as_deref(), Some("Jörg Rödel"), "{mail}");
        assert_eq!(one.addr, "joro@example.org");
        assert!(
            mail.contains("\nSigned-off-by: Jörg Rödel <joro@example.org>\n"),
            "{mail}"
        );
        assert!(!mail.contains("Signed-off-by: A U Thor"), "{mail}");
    }
}

#[test]
fn a_cover_letter_with_git_s_placeholders_is_refused_before_anything_is_recorded() {
    let f = Fixture::new();
    let cover = f.patches.join("0000-cover-letter.patch");
    let text = std::fs::read_to_string(&cover).unwrap();
    let subject = header(&text, "Subject").unwrap();
    let title = subject.split_once("] ").unwrap().1.to_string();
    std::fs::write(&cover, text.replace(&title, "*** SUBJECT HERE ***")).unwrap();
    // Export keeps a cover letter's subject: the placeholder stays.
    f.series_ok(&["export"]);
    assert!(std::fs::read_to_string(&cover)
        .unwrap()
        .contains("*** SUBJECT HERE ***"));
    let smtp = Smtp::start(&f.dir.path().join("maildir"), None);
    let out = send_as(&f, &smtp, common::AUTHOR);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("*** SUBJECT HERE ***") && err.contains("nothing was recorded"),
        "{err}"
    );
    assert!(!f.patches.join("sent/v1.toml").exists());
    assert!(!f.patches.join("sent/v1").exists());
    assert!(smtp.received().is_empty());
}

#[test]
fn a_patch_that_is_not_utf8_is_planned_and_sent_byte_for_byte() {
    let f = Fixture::new();
    // A Latin-1 comment in the file a patch changes.
    let path = f.tree.join("drivers/base/dd.c");
    let mut bytes = std::fs::read(&path).unwrap();
    bytes.extend_from_slice(b"/* Jos\xe9 */\n");
    std::fs::write(&path, &bytes).unwrap();
    f.commit("driver core: Credit the author\n\nSigned-off-by: A U Thor <author@example.org>\n");
    f.series_ok(&["export"]);
    let patch = std::fs::read_dir(&f.patches)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().contains("0004-"))
        .unwrap();
    assert!(std::fs::read(&patch)
        .unwrap()
        .windows(5)
        .any(|w| w == b"Jos\xe9 "));
    f.series_ok(&["send", "--from", common::AUTHOR]);
    let smtp = Smtp::start(&f.dir.path().join("maildir"), None);
    let out = send_as(&f, &smtp, common::AUTHOR);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let sent = f.patches.join("sent/v1").join(patch.file_name().unwrap());
    assert!(std::fs::read(sent)
        .unwrap()
        .windows(5)
        .any(|w| w == b"Jos\xe9 "));
}
