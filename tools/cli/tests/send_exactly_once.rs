//! Every mail goes out at most once: two sends of one version never run
//! at once, and a mail a killed send was handing over is never sent again
//! (or recorded as sent) without the user saying which it was.

mod common;

use common::{send, Fixture, Smtp};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};

fn record_path(f: &Fixture) -> std::path::PathBuf {
    f.patches.join("sent/v1.toml")
}

fn sent_flags(f: &Fixture) -> Vec<bool> {
    let rec: toml::Value =
        toml::from_str(&std::fs::read_to_string(record_path(f)).unwrap()).unwrap();
    rec["mails"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["sent"].as_bool().unwrap())
        .collect()
}

/// A send that stopped after two of four mails, with mail 3 marked as
/// being handed over: the state a SIGKILL during its delivery leaves.
fn killed_during_mail_3(f: &Fixture, smtp: &Smtp) {
    let out = send(f, smtp, &["send", "--send"]);
    assert!(!out.status.success());
    assert_eq!(smtp.received().len(), 2);
    let text = std::fs::read_to_string(record_path(f)).unwrap();
    let mut rec: toml::Table = toml::from_str(&text).unwrap();
    let mails = rec["mails"].as_array_mut().unwrap();
    mails[2]
        .as_table_mut()
        .unwrap()
        .insert("in_flight".into(), toml::Value::Boolean(true));
    std::fs::write(record_path(f), toml::to_string(&rec).unwrap()).unwrap();
}

#[test]
fn a_second_send_while_one_holds_the_lock_sends_nothing() {
    let f = Fixture::new();
    let smtp = Smtp::start(&f.dir.path().join("maildir"), Some(3));
    let out = send(&f, &smtp, &["send", "--send"]);
    assert!(!out.status.success());
    assert_eq!(smtp.received().len(), 2);
    // Another send (here: flock(1) standing in for it) holds the lock.
    let lock = f.patches.join("sent/v1.send-lock");
    let mut holder = Command::new("flock")
        .arg(&lock)
        .args(["sleep", "30"])
        .stdout(Stdio::null())
        .process_group(0)
        .spawn()
        .expect("flock (util-linux)");
    std::thread::sleep(std::time::Duration::from_millis(300));
    for args in [["send", "--resume"], ["send", "--send"]] {
        let out = send(&f, &smtp, &args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?}");
        assert!(
            err.contains("another `series send` of v1 is running") || err.contains("--resume"),
            "{args:?}: {err}"
        );
    }
    let out = send(&f, &smtp, &["send", "--resume"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("another `series send`"));
    assert_eq!(
        smtp.received().len(),
        2,
        "nothing may go out under the lock"
    );
    // sleep holds the lock as flock's child: end the whole group.
    let group = format!("-{}", holder.id());
    Command::new("kill").args(["--", &group]).status().unwrap();
    holder.wait().unwrap();
    // The group's sleep may outlive flock for a moment: wait until the
    // lock is free.
    let free = || {
        Command::new("flock")
            .args(["-n"])
            .arg(&lock)
            .arg("true")
            .status()
            .unwrap()
            .success()
    };
    let start = std::time::Instant::now();
    while !free() {
        assert!(start.elapsed().as_secs() < 10, "the lock stayed held");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let out = send(&f, &smtp, &["send", "--resume"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(smtp.received().len(), 4);
    // The lock file is local state, ignored by git.
    let ignore = std::fs::read_to_string(f.patches.join("sent/.gitignore")).unwrap();
    assert!(ignore.contains("*.send-lock"));
}

#[test]
fn a_mail_of_unknown_fate_is_neither_resent_nor_assumed() {
    let f = Fixture::new();
    let smtp = Smtp::start(&f.dir.path().join("maildir"), Some(3));
    killed_during_mail_3(&f, &smtp);
    let before = std::fs::read_to_string(record_path(&f)).unwrap();
    let out = send(&f, &smtp, &["send", "--resume"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("mail 3: [PATCH 2/3]"), "{err}");
    assert!(
        err.contains("--assume-sent N") && err.contains("--assume-unsent N"),
        "{err}"
    );
    assert_eq!(smtp.received().len(), 2, "nothing was sent");
    assert_eq!(std::fs::read_to_string(record_path(&f)).unwrap(), before);
    // A number that is not in doubt is refused.
    let out = send(&f, &smtp, &["send", "--resume", "--assume-sent", "4"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("not one whose delivery is unknown"));
    assert_eq!(std::fs::read_to_string(record_path(&f)).unwrap(), before);

    // Told it arrived: recorded as sent, only mail 4 goes out.
    let out = send(&f, &smtp, &["send", "--resume", "--assume-sent", "3"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(smtp.received().len(), 3);
    assert_eq!(sent_flags(&f), [true, true, true, true]);
}

#[test]
fn a_mail_told_unsent_goes_out_once_more() {
    let f = Fixture::new();
    let smtp = Smtp::start(&f.dir.path().join("maildir"), Some(3));
    killed_during_mail_3(&f, &smtp);
    let out = send(&f, &smtp, &["send", "--resume", "--assume-unsent", "3"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got = smtp.received();
    assert_eq!(got.len(), 4);
    let text = std::fs::read_to_string(record_path(&f)).unwrap();
    assert!(!text.contains("in_flight"), "{text}");
}
