//! What went out: `patches/sent/vN.toml` (version, date, base, sender,
//! recipients and Message-ID of every mail, and whether it was sent) next
//! to `patches/sent/vN/`, the mails exactly as they were handed to
//! `git send-email`.
//!
//! Both live in the project's repository, beside the series, so a fresh
//! clone still knows the Message-IDs of every posted version (the lore
//! link of the next cover letter, trailer matching) and can rebuild the
//! sent commits for a range-diff (`series apply --series
//! patches/sent/v1`). The tree keeps them as `refs/series/sent/vN`.

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use series_apply::lock::LockFile;
use std::path::{Path, PathBuf};

/// The ref naming the commits of version `v` in the kernel tree.
pub fn sent_ref(patches: &Path, version: u32) -> String {
    match crate::stack::member_name(patches) {
        Some(name) => format!("refs/series/sent/{name}/v{version}"),
        None => format!("refs/series/sent/v{version}"),
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SentRecord {
    pub version: u32,
    /// When the send started, UTC, RFC 3339.
    pub date: String,
    /// The base commit and the series' last commit (`refs/series/sent/vN`).
    pub base: String,
    pub head: String,
    /// `Name <email>` of the sender.
    pub sender: String,
    /// True once every mail went out.
    pub complete: bool,
    /// Cover letter first, then the patches in order.
    pub mails: Vec<SentMail>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SentMail {
    /// File name under `patches/sent/vN/`.
    pub file: String,
    pub subject: String,
    /// With the angle brackets, as in the header.
    pub message_id: String,
    #[serde(default)]
    pub to: Vec<String>,
    #[serde(default)]
    pub cc: Vec<String>,
    /// `git patch-id --stable` of the patch (none for the cover letter).
    #[serde(default)]
    pub patch_id: Option<String>,
    pub sent: bool,
    /// Set (and saved) before the mail is handed to git send-email,
    /// cleared when git send-email answered. Still set with `sent` false:
    /// the send was killed (or the record could not be written) while the
    /// mail was being handed over, and nobody knows whether it left.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub in_flight: bool,
}

impl SentRecord {
    pub fn path(patches: &Path, version: u32) -> PathBuf {
        patches.join("sent").join(format!("v{version}.toml"))
    }

    pub fn mails_dir(patches: &Path, version: u32) -> PathBuf {
        patches.join("sent").join(format!("v{version}"))
    }

    pub fn load(patches: &Path, version: u32) -> Result<Option<SentRecord>> {
        let path = SentRecord::path(patches, version);
        if !path.exists() {
            return Ok(None);
        }
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        let record: SentRecord = toml::from_str(&text)
            .with_context(|| format!("{} is not a valid send record", path.display()))?;
        if record.version != version {
            bail!(
                "{} records version {}, not {version}",
                path.display(),
                record.version
            );
        }
        Ok(Some(record))
    }

    /// Every record in `patches/sent/`, oldest version first.
    pub fn load_all(patches: &Path) -> Result<Vec<SentRecord>> {
        let mut out = Vec::new();
        let dir = patches.join("sent");
        let Ok(entries) = std::fs::read_dir(&dir) else {
            return Ok(out);
        };
        let mut versions: Vec<u32> = entries
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                name.strip_prefix('v')?.strip_suffix(".toml")?.parse().ok()
            })
            .collect();
        versions.sort();
        for v in versions {
            out.extend(SentRecord::load(patches, v)?);
        }
        Ok(out)
    }

    /// Writes the record with git's lock-file discipline: a `.lock` file
    /// beside it, renamed over the old one.
    pub fn save(&self, patches: &Path) -> Result<()> {
        let path = SentRecord::path(patches, self.version);
        write_atomically(&path, toml::to_string_pretty(self)?.as_bytes())
    }

    /// The lock file of a version's sends, beside its record.
    pub fn send_lock_path(patches: &Path, version: u32) -> PathBuf {
        patches.join("sent").join(format!("v{version}.send-lock"))
    }

    /// The cover letter's (or first mail's) Message-ID, without brackets.
    pub fn thread_id(&self) -> Option<&str> {
        self.mails
            .first()
            .map(|m| m.message_id.trim_start_matches('<').trim_end_matches('>'))
    }

    /// `https://lore.kernel.org/r/<Message-ID>` of the thread.
    pub fn lore_link(&self) -> Option<String> {
        self.thread_id()
            .map(|id| format!("https://lore.kernel.org/r/{id}"))
    }
}

/// The exclusive right to send a version: an flock(2) on
/// `patches/sent/vN.send-lock`, held while this value lives. The kernel
/// drops it when the process dies, and the git send-email children
/// inherit it, so an orphaned delivery still holds it until it ends.
pub struct SendLock {
    _file: std::fs::File,
}

impl SendLock {
    pub fn take(patches: &Path, version: u32) -> Result<SendLock> {
        use std::os::fd::AsRawFd;
        let path = SentRecord::send_lock_path(patches, version);
        let dir = path.parent().expect("the lock has a directory");
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        // The lock file is local state: keep it out of `git status`.
        let ignore = dir.join(".gitignore");
        if !ignore.exists() {
            std::fs::write(&ignore, "*.send-lock\n")
                .with_context(|| format!("cannot write {}", ignore.display()))?;
        }
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .with_context(|| format!("cannot open {}", path.display()))?;
        let fd = file.as_raw_fd();
        // SAFETY: fd is an open descriptor owned by `file` for this call.
        if unsafe { libc::flock(fd, libc::LOCK_EX | libc::LOCK_NB) } != 0 {
            let err = std::io::Error::last_os_error();
            if err.raw_os_error() == Some(libc::EWOULDBLOCK) {
                bail!(
                    "another `series send` of v{version} is running (or a git send-email it \
                     started still is): {} is locked; wait for it to end, then run `tools/series \
                     send --resume` if mails are left",
                    path.display()
                );
            }
            return Err(err).with_context(|| format!("cannot lock {}", path.display()));
        }
        // Let git send-email inherit the lock: a delivery orphaned by a
        // killed `series send` keeps others out until it has finished.
        // SAFETY: F_SETFD on an open descriptor; clearing FD_CLOEXEC.
        unsafe { libc::fcntl(fd, libc::F_SETFD, 0) };
        Ok(SendLock { _file: file })
    }
}

/// Writes `path` through git's lock-file discipline (the apply crate's
/// [`LockFile`]): `<path>.lock` taken exclusively, written and synced,
/// then renamed over `path`.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let what = path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    let mut lock = LockFile::take(path, &what)?;
    lock.write_all(bytes)?;
    lock.sync_all()?;
    lock.commit()
}

/// Now as `2026-11-25T19:20:00Z`.
pub fn now_rfc3339() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    rfc3339(secs)
}

pub fn rfc3339(secs: i64) -> String {
    let (days, rem) = (secs.div_euclid(86400), secs.rem_euclid(86400));
    let (y, m, d) = series_export::civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
    }

    #[test]
    fn round_trip_and_links() {
        let dir = tempfile::tempdir().unwrap();
        let r = SentRecord {
            version: 1,
            date: rfc3339(0),
            base: "b".into(),
            head: "h".into(),
            sender: "A <a@x>".into(),
            complete: false,
            mails: vec![SentMail {
                file: "0000-cover-letter.patch".into(),
                subject: "[PATCH 0/1] x".into(),
                message_id: "<1@x>".into(),
                to: vec!["m@x".into()],
                cc: vec![],
                patch_id: None,
                sent: true,
                in_flight: false,
            }],
        };
        r.save(dir.path()).unwrap();
        assert_eq!(SentRecord::load(dir.path(), 1).unwrap().unwrap(), r);
        assert_eq!(SentRecord::load_all(dir.path()).unwrap(), vec![r.clone()]);
        assert_eq!(r.lore_link().unwrap(), "https://lore.kernel.org/r/1@x");
        assert!(SentRecord::load(dir.path(), 2).unwrap().is_none());
    }
}
