//! `series send` against a real SMTP server (python3-aiosmtpd).

mod common;

use common::{git, header, mbox, send, write_file, Fixture, Smtp, AUTHOR};

fn record(f: &Fixture) -> toml::Value {
    toml::from_str(&std::fs::read_to_string(f.patches.join("sent/v1.toml")).unwrap()).unwrap()
}

fn message_ids(f: &Fixture) -> Vec<String> {
    record(f)["mails"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["message_id"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn dry_run_lists_every_mail_and_changes_nothing() {
    let f = Fixture::new();
    let out = f.series_ok(&["send", "--from", AUTHOR]);
    assert!(out.contains("dry run: 4 mails of v1"), "{out}");
    // Patch 1 touches drivers/base: its maintainer To, reviewer and list Cc,
    // the Suggested-by person Cc, the manifest's list Cc.
    assert!(
        out.contains(
            "0001-driver-core-Claim-DMA-ownership-in-really_probe.patch\n  \
         Subject: [PATCH 1/3] driver core: Claim DMA ownership in really_probe()\n  \
         To: Greg Core <greg@example.org>\n  \
         Cc: Rita Review <rita@example.org>, core-list@example.org, \
         Jason Example <jason@example.net>, lkml@example.org\n"
        ),
        "{out}"
    );
    // The selftest's maintainer comes from MAINTAINERS.snippet.
    assert!(
        out.contains("  To: Sam Test <sam@example.org>\n  Cc: lkml@example.org\n"),
        "{out}"
    );
    // The cover letter goes to everybody.
    assert!(out.contains(
        "0000-cover-letter.patch\n  Subject: [PATCH 0/3] driver core: Claim DMA ownership\n  \
         To: Greg Core <greg@example.org>, Joe Iommu <joe@example.org>, Sam Test <sam@example.org>\n  \
         Cc: Rita Review <rita@example.org>, core-list@example.org, Jason Example <jason@example.net>, \
         lkml@example.org, iommu@example.org\n"
    ), "{out}");
    assert!(!f.patches.join("sent").exists());
    assert!(f.git(&["for-each-ref", "refs/series/sent"]).is_empty());
}

#[test]
fn v1_arrives_threaded_and_applies_like_the_series() {
    let f = Fixture::new();
    let smtp = Smtp::start(&f.dir.path().join("maildir"), None);
    let out = send(&f, &smtp, &["send", "--send"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got = smtp.received();
    assert_eq!(got.len(), 4, "one mail per file, each once");

    let ids = message_ids(&f);
    let rec = record(&f);
    assert_eq!(rec["complete"].as_bool(), Some(true));
    for (i, mail) in got.iter().enumerate() {
        assert_eq!(header(mail, "Message-ID").as_ref(), Some(&ids[i]));
        let subject = header(mail, "Subject").unwrap();
        assert!(subject.starts_with(&format!("[PATCH {i}/3]")), "{subject}");
        if i == 0 {
            assert_eq!(header(mail, "In-Reply-To"), None);
        } else {
            // Every patch answers the cover letter, none another patch.
            assert_eq!(header(mail, "In-Reply-To").as_ref(), Some(&ids[0]));
            assert_eq!(header(mail, "References").as_ref(), Some(&ids[0]));
        }
    }
    // Envelope recipients are the listed ones, nobody else.
    assert_eq!(
        header(&got[2], "X-Envelope-To").unwrap(),
        "joe@example.org, iommu@example.org, lkml@example.org"
    );
    let sent = f.git(&["rev-parse", "refs/series/sent/v1"]);
    assert_eq!(sent, f.git(&["rev-parse", "HEAD"]));
    assert_eq!(
        rec["head"].as_str().unwrap(),
        sent.trim(),
        "the record names the sent commits"
    );

    // The received mails, in order, git am onto a fresh base...
    let received = f.dir.path().join("received.mbox");
    write_file(&received, &mbox(&got[1..]));
    let fresh = f.dir.path().join("fresh");
    git(
        f.dir.path(),
        &f.home,
        &["clone", "-q", f.tree.to_str().unwrap(), "fresh"],
    );
    git(&fresh, &f.home, &["reset", "-q", "--hard", "HEAD~3"]);
    git(&fresh, &f.home, &["am", "-q", received.to_str().unwrap()]);
    let log = |dir: &std::path::Path, range: &str| {
        git(dir, &f.home, &["log", "--format=%T%n%an <%ae>%n%B", range])
    };
    assert_eq!(
        log(&fresh, "HEAD~3..HEAD"),
        log(&f.tree, "refs/series/base..HEAD")
    );

    // ... and series apply takes the same mbox (cover letter included).
    let all = f.dir.path().join("all.mbox");
    write_file(&all, &mbox(&got));
    let again = f.dir.path().join("again");
    git(
        f.dir.path(),
        &f.home,
        &["clone", "-q", f.tree.to_str().unwrap(), "again"],
    );
    git(&again, &f.home, &["reset", "-q", "--hard", "HEAD~3"]);
    git(&again, &f.home, &["update-ref", "refs/series/base", "HEAD"]);
    f.series_ok(&[
        "apply",
        "--series",
        all.to_str().unwrap(),
        "--tree",
        again.to_str().unwrap(),
    ]);
    assert_eq!(
        log(&again, "HEAD~3..HEAD"),
        log(&f.tree, "refs/series/base..HEAD")
    );

    // A second send of v1 is refused, nothing goes out.
    let out = send(&f, &smtp, &["send", "--send"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("version --next"));
    assert_eq!(smtp.received().len(), 4);
}

#[test]
fn a_send_that_stops_halfway_resumes_without_duplicates() {
    let f = Fixture::new();
    let smtp = Smtp::start(&f.dir.path().join("maildir"), Some(3));
    let out = send(&f, &smtp, &["send", "--send"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("failed on mail 3 of 4"), "{err}");
    assert!(err.contains("2 of 4 mails went out"), "{err}");
    assert!(
        err.contains("sent: [PATCH 0/3]") && err.contains("sent: [PATCH 1/3]"),
        "{err}"
    );
    assert!(err.contains("--resume"), "{err}");
    assert_eq!(smtp.received().len(), 2);
    let rec = record(&f);
    let sent: Vec<bool> = rec["mails"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["sent"].as_bool().unwrap())
        .collect();
    assert_eq!(sent, [true, true, false, false]);

    // A plain send refuses; --resume sends only the rest.
    let out = send(&f, &smtp, &["send", "--send"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("--resume"));
    let out = send(&f, &smtp, &["send", "--resume"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got = smtp.received();
    assert_eq!(got.len(), 4, "every mail exactly once on the server");
    let ids = message_ids(&f);
    let got_ids: Vec<String> = got
        .iter()
        .map(|m| header(m, "Message-ID").unwrap())
        .collect();
    assert_eq!(got_ids, ids, "same Message-IDs, in order, no duplicate");
    for m in &got[1..] {
        assert_eq!(header(m, "In-Reply-To").as_ref(), Some(&ids[0]));
    }
    let out = send(&f, &smtp, &["send", "--resume"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("nothing to resume"));
    assert_eq!(smtp.received().len(), 4);
}

#[test]
fn a_send_without_identity_is_refused_and_changes_nothing() {
    let f = Fixture::new();
    f.git(&["config", "--unset", "user.name"]);
    f.git(&["config", "--unset", "user.email"]);
    let smtp = Smtp::start(&f.dir.path().join("maildir"), None);
    let flags = smtp.flags();
    let mut args = vec!["send", "--send"];
    args.extend(flags.iter().map(String::as_str));
    let err = f.series_err(&args);
    assert!(err.contains("no sender identity"), "{err}");
    assert!(!f.patches.join("sent").exists());
    assert!(f.git(&["for-each-ref", "refs/series/sent"]).is_empty());
    assert!(smtp.received().is_empty());
}

#[test]
fn identity_and_server_come_from_git_sendemail_config() {
    let f = Fixture::new();
    let smtp = Smtp::start(&f.dir.path().join("maildir"), None);
    f.git(&["config", "sendemail.smtpServer", "127.0.0.1"]);
    f.git(&["config", "sendemail.smtpServerPort", &smtp.port.to_string()]);
    f.git(&["config", "sendemail.from", "A U Thor <author@example.org>"]);
    f.git(&["config", "user.name", "Someone Else"]);
    let out = f.series_ok(&["send", "--send"]);
    assert!(out.contains("sent 4/4"), "{out}");
    let got = smtp.received();
    assert_eq!(got.len(), 4);
    for m in &got {
        assert_eq!(header(m, "From").unwrap(), "A U Thor <author@example.org>");
    }
}
