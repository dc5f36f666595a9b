//! `series trailers`: trailers from review replies, matched by Message-ID
//! and by patch-id, added to the series' commits only.

mod common;

use common::{write_file, Fixture, Smtp, AUTHOR};

/// Sends v1 and returns the Message-IDs (cover, patches 1..3).
fn send_v1(f: &Fixture) -> Vec<String> {
    let smtp = Smtp::start(&f.dir.path().join("maildir"), None);
    let flags = smtp.flags();
    let mut args = vec!["send", "--send", "--from", AUTHOR];
    args.extend(flags.iter().map(String::as_str));
    f.series_ok(&args);
    let rec: toml::Value =
        toml::from_str(&std::fs::read_to_string(f.patches.join("sent/v1.toml")).unwrap()).unwrap();
    rec["mails"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["message_id"].as_str().unwrap().to_string())
        .collect()
}

/// A reply sent by the person of the first trailer it gives (outside
/// quotes), as reviewers send their own Reviewed-by; else by "Someone".
fn reply(id: &str, parents: &[&str], subject: &str, body: &str) -> String {
    let sender = body
        .lines()
        .filter(|l| !l.starts_with('>'))
        .find_map(|l| {
            let (_, v) = l.split_once("-by: ")?;
            v.contains('@').then(|| v.trim().to_string())
        })
        .unwrap_or_else(|| "Someone <someone@example.org>".to_string());
    let mut m = format!(
        "From mboxrd@z Thu Jan  1 00:00:00 1970\nFrom: {sender}\n\
         Subject: {subject}\nDate: Thu, 26 Nov 2026 10:00:00 +0000\nMessage-ID: {id}\n"
    );
    if let Some(last) = parents.last() {
        m.push_str(&format!(
            "In-Reply-To: {last}\nReferences: {}\n",
            parents.join(" ")
        ));
    }
    m.push_str(&format!("\n{body}\n"));
    m
}

fn messages(f: &Fixture) -> String {
    f.git(&[
        "log",
        "--reverse",
        "--format=%B--",
        "refs/series/base..HEAD",
    ])
}

#[test]
fn replies_give_exactly_the_expected_trailers() {
    let f = Fixture::new();
    let ids = send_v1(&f);
    let (cover, p1, p2) = (&ids[0], &ids[1], &ids[2]);
    // A copy of patch 3 resent under another Message-ID, as a list
    // archive may hold it after a forward.
    let p3_text = std::fs::read_to_string(
        f.patches
            .join("0003-selftests-Add-a-DMA-ownership-test.patch"),
    )
    .unwrap();
    let p3_body = p3_text.split_once("\n\n").unwrap().1;
    let mut mbox = String::new();
    mbox += &reply(
        "<r1@example.org>",
        &[cover, p1],
        "Re: [PATCH 1/3] driver core: Claim DMA ownership in really_probe()",
        "> Suggested-by: Jason Example <jason@example.net>\n> Acked-by: Quoted <quoted@example.org>\n\n\
         Reviewed-by: Rita Review <rita@example.org>\n\
         Suggested-by: Jason Example <jason@example.net>\n\n\
         Thanks\n-- \nTested-by: Signature <sig@example.org>",
    );
    mbox += &reply(
        "<r2@example.org>",
        &[cover],
        "Re: [PATCH 0/3] driver core: Claim DMA ownership",
        "For the whole series:\n\nAcked-by: Greg Core <greg@example.org>",
    );
    mbox += &reply(
        "<r3@example.org>",
        &[cover, p1, "<r1@example.org>"],
        "Re: [PATCH 1/3] driver core: Claim DMA ownership in really_probe()",
        "reviewed-by: Rita Review <rita@example.org>\nLink: https://example.org/bug/1",
    );
    mbox += &reply(
        "<r4@example.org>",
        &["<elsewhere@example.org>"],
        "Re: [PATCH] something else",
        "Tested-by: Other <other@example.org>",
    );
    mbox += &reply(
        "<resent@example.org>",
        &[],
        "[PATCH 3/3] selftests: Add a DMA ownership test",
        p3_body,
    );
    mbox += &reply(
        "<r6@example.org>",
        &["<resent@example.org>"],
        "Re: [PATCH 3/3] selftests: Add a DMA ownership test",
        "Tested-by: Tess <tess@example.org>\nCloses: https://example.org/bug/2",
    );
    mbox += &reply(
        "<r7@example.org>",
        &[cover, p2],
        "Re: [PATCH 2/3] iommu: Rename the kernel DMA claim",
        "Reviewed-by: Joe Iommu <joe@example.org>",
    );
    let path = f.dir.path().join("replies.mbox");
    write_file(&path, &mbox);

    let head = f.git(&["rev-parse", "HEAD"]);
    let before = messages(&f);
    let out = f.series_ok(&["trailers", "--from", path.to_str().unwrap(), "--dry-run"]);
    assert!(
        out.contains("skipped") && out.contains("message 4"),
        "{out}"
    );
    assert!(out.contains("8 trailers would be added"), "{out}");
    assert_eq!(
        f.git(&["rev-parse", "HEAD"]),
        head,
        "a dry run changes nothing"
    );

    f.series_ok(&["trailers", "--from", path.to_str().unwrap()]);
    assert_eq!(
        messages(&f),
        "driver core: Claim DMA ownership in really_probe()\n\n\
         The driver core knows when a driver binds.\n\n\
         Suggested-by: Jason Example <jason@example.net>\n\
         Reviewed-by: Rita Review <rita@example.org>\n\
         Acked-by: Greg Core <greg@example.org>\n\
         Link: https://example.org/bug/1\n\
         Signed-off-by: A U Thor <author@example.org>\n--\n\
         iommu: Rename the kernel DMA claim\n\nSay what it does.\n\n\
         Acked-by: Greg Core <greg@example.org>\n\
         Reviewed-by: Joe Iommu <joe@example.org>\n\
         Signed-off-by: A U Thor <author@example.org>\n--\n\
         selftests: Add a DMA ownership test\n\nTest the rule.\n\n\
         Acked-by: Greg Core <greg@example.org>\n\
         Tested-by: Tess <tess@example.org>\n\
         Closes: https://example.org/bug/2\n\
         Signed-off-by: A U Thor <author@example.org>\n--\n",
        "before:\n{before}"
    );
    // Only the series' commits were rewritten; the old HEAD is kept.
    assert_eq!(
        f.git(&["rev-parse", "HEAD~3"]),
        f.git(&["rev-parse", "refs/series/base"])
    );
    assert_eq!(f.git(&["rev-parse", "refs/series/backup/trailers"]), head);
    assert_eq!(
        f.git(&["rev-parse", "HEAD^{tree}"]),
        f.git(&["rev-parse", "refs/series/backup/trailers^{tree}"])
    );
    // Running it again adds nothing.
    let out = f.series_ok(&["trailers", "--from", path.to_str().unwrap()]);
    assert!(out.contains("no new trailers"), "{out}");
    // export then updates patches/.
    f.series_ok(&["export"]);
    let p1_text = std::fs::read_to_string(
        f.patches
            .join("0001-driver-core-Claim-DMA-ownership-in-really_probe.patch"),
    )
    .unwrap();
    assert!(p1_text.contains("Reviewed-by: Rita Review <rita@example.org>\n"));
}

#[test]
fn bad_replies_are_refused_and_change_nothing() {
    let f = Fixture::new();
    let ids = send_v1(&f);
    let head = f.git(&["rev-parse", "HEAD"]);

    let not_mail = f.dir.path().join("notes.txt");
    write_file(
        &not_mail,
        "Reviewed-by: Someone <s@example.org>\nno headers here\n",
    );
    let err = f.series_err(&["trailers", "--from", not_mail.to_str().unwrap()]);
    assert!(
        err.contains("not an mbox") || err.contains("not a mail"),
        "{err}"
    );

    let headless = f.dir.path().join("headless.mbox");
    write_file(
        &headless,
        &format!(
            "{}{}",
            reply(
                "<ok@example.org>",
                &[&ids[0]],
                "Re: x",
                "Acked-by: A <a@example.org>"
            ),
            reply(
                "<lost@example.org>",
                &[],
                "Re: [PATCH 1/3] x",
                "Reviewed-by: B <b@example.org>"
            )
        ),
    );
    let err = f.series_err(&["trailers", "--from", headless.to_str().unwrap()]);
    assert!(err.contains("no In-Reply-To or References"), "{err}");
    assert!(err.contains("nothing was changed"), "{err}");

    assert_eq!(f.git(&["rev-parse", "HEAD"]), head);
    assert!(f.git(&["for-each-ref", "refs/series/backup"]).is_empty());
}

#[test]
fn a_merge_between_the_base_and_head_is_refused() {
    let f = Fixture::new();
    let ids = send_v1(&f);
    f.git(&["checkout", "-q", "-b", "side", "refs/series/base"]);
    f.write("drivers/side.c", "int side;\n");
    f.commit("side: Add a file");
    f.git(&["checkout", "-q", "main"]);
    f.git(&[
        "merge",
        "-q",
        "--no-ff",
        "-m",
        "Merge branch 'side'",
        "side",
    ]);
    let head = f.git(&["rev-parse", "HEAD"]);
    let path = f.dir.path().join("replies.mbox");
    write_file(
        &path,
        &reply(
            "<m1@example.org>",
            &[&ids[0]],
            "Re: [PATCH 0/3] x",
            "Acked-by: Greg Core <greg@example.org>",
        ),
    );
    let err = f.series_err(&["trailers", "--from", path.to_str().unwrap()]);
    assert!(err.contains("is a merge"), "{err}");
    assert_eq!(f.git(&["rev-parse", "HEAD"]), head);
    assert!(f.git(&["for-each-ref", "refs/series/backup"]).is_empty());
}
