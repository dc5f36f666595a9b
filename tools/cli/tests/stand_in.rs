//! A manifest whose author is a stand-in (`author.stand_in = true`): no
//! mail leaves under it, a real sender's identity goes out instead.

mod common;

use common::Fixture;

fn with_stand_in(f: &Fixture) {
    let path = f.patches.join("series.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(
        &path,
        text.replace(
            "email = \"author@example.org\"\n",
            "email = \"author@example.org\"\nstand_in = true\n",
        ),
    )
    .unwrap();
}

#[test]
fn send_refuses_the_stand_in_as_sender_and_takes_a_real_one() {
    let f = Fixture::new();
    with_stand_in(&f);
    let err = f.series_err(&["send", "--from", "A U Thor <AUTHOR@example.org>"]);
    assert!(err.contains("stand-in author"), "{err}");
    assert!(err.contains("Nothing was sent or recorded"), "{err}");
    assert!(!f.patches.join("sent").exists());
    let out = f.series_ok(&["send", "--from", "Real Sender <real@example.org>"]);
    assert!(out.contains("dry run"), "{out}");
    assert!(out.contains("from Real Sender <real@example.org>"), "{out}");
}
