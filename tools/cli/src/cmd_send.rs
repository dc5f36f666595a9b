//! `series send`: mail the series through `git send-email`, record what
//! went out, resume a send that stopped halfway.

use crate::cmd_check::patch_files;
use crate::cmd_export::export_options;
use crate::identity::{self, Identity};
use crate::manifest::Manifest;
use crate::paths;
use crate::recipients::{self, Recipients};
use crate::sent_record::{now_rfc3339, sent_ref, write_atomically, SendLock, SentMail, SentRecord};
use anyhow::{bail, Context, Result};
use clap::Args;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Mail the series: a dry run by default, `--send` to send for real.
///
/// Every mail goes out through `git send-email` (its sendemail.* settings,
/// or the --smtp-* flags here); the sender is --from, else
/// sendemail.from, else user.name/user.email. Recipients per patch come
/// from the tree's scripts/get_maintainer.pl run on MAINTAINERS plus
/// MAINTAINERS.snippet (maintainers To, reviewers and lists Cc), the
/// people the patch's trailers name (Cc) and the manifest's [mail] lists;
/// the cover letter goes to all of them. Every patch answers the cover
/// letter (In-Reply-To/References, no chain).
///
/// Before the first mail, the mails are written to patches/sent/vN/ and
/// the record patches/sent/vN.toml (date, base, recipients, Message-IDs);
/// the tree gets refs/series/sent/vN. Each mail is marked in the record
/// once git send-email has handed it over. If a send stops, it says which
/// mails went out; `--resume` sends only the others, same Message-IDs,
/// same thread. Commit patches/sent/ with the series.
///
/// Examples:
///   tools/series send                          # dry run: every mail, To, Cc
///   tools/series send --send                   # send (sendemail.* config)
///   tools/series send --send --smtp-server smtp.example.org --smtp-server-port 587 \
///       --smtp-encryption tls --smtp-user jane
///   tools/series send --resume                 # after a send that stopped
#[derive(Args)]
#[command(verbatim_doc_comment)]
pub struct SendArgs {
    /// Kernel tree with scripts/get_maintainer.pl and the series' commits
    /// (default: out/linux).
    #[arg(long)]
    pub tree: Option<PathBuf>,
    /// Sender identity, "Name <email>" (default: sendemail.from, else
    /// user.name and user.email).
    #[arg(long)]
    pub from: Option<String>,
    /// Send for real (without it: a dry run that changes nothing).
    #[arg(long)]
    pub send: bool,
    /// Send the mails a stopped send did not deliver.
    #[arg(long, conflicts_with = "send")]
    pub resume: bool,
    /// With --resume: mail N (1 = the first mail), which a killed send was
    /// handing over when it stopped, did reach the list: record it as
    /// sent. Check the list archive or a recipient's inbox first.
    #[arg(long, value_name = "N", requires = "resume")]
    pub assume_sent: Vec<usize>,
    /// With --resume: mail N, which a killed send was handing over, did
    /// not reach the list: send it again.
    #[arg(long, value_name = "N", requires = "resume")]
    pub assume_unsent: Vec<usize>,
    /// Passed to git send-email (default: its sendemail.smtpServer).
    #[arg(long, value_name = "HOST")]
    pub smtp_server: Option<String>,
    /// Passed to git send-email.
    #[arg(long, value_name = "PORT")]
    pub smtp_server_port: Option<u16>,
    /// Passed to git send-email: ssl or tls.
    #[arg(long, value_name = "ssl|tls")]
    pub smtp_encryption: Option<String>,
    /// Passed to git send-email.
    #[arg(long, value_name = "USER")]
    pub smtp_user: Option<String>,
}

impl SendArgs {
    fn smtp_flags(&self) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(s) = &self.smtp_server {
            out.push(format!("--smtp-server={s}"));
        }
        if let Some(p) = self.smtp_server_port {
            out.push(format!("--smtp-server-port={p}"));
        }
        if let Some(e) = &self.smtp_encryption {
            out.push(format!("--smtp-encryption={e}"));
        }
        if let Some(u) = &self.smtp_user {
            out.push(format!("--smtp-user={u}"));
        }
        out
    }
}

/// The sender: --from, else git's sendemail.from, else user.name/user.email
/// (the tree's configuration and the user's).
pub fn sender(from: Option<String>, tree: &Path) -> Result<String> {
    if let Some(f) = from {
        if !(f.contains('<') && f.ends_with('>') && f.contains('@')) {
            bail!("--from must look like \"Name <email>\", got {f:?}");
        }
        return Ok(f);
    }
    let cfg = match git2::Repository::open(tree) {
        Ok(repo) => repo.config(),
        Err(_) => git2::Config::open_default(),
    }
    .context("cannot read git's configuration")?;
    if let Ok(f) = cfg.get_string("sendemail.from") {
        return Ok(f);
    }
    match (cfg.get_string("user.name"), cfg.get_string("user.email")) {
        (Ok(n), Ok(e)) => Ok(format!("{n} <{e}>")),
        _ => bail!(
            "no sender identity: pass --from \"Name <email>\", or set git config sendemail.from \
             (or user.name and user.email)"
        ),
    }
}

/// Refuses to send as the manifest's stand-in author (`author.stand_in`):
/// no mail may leave under a placeholder identity.
fn refuse_stand_in(manifest: &Manifest, sender: &str) -> Result<()> {
    if !manifest.author.stand_in {
        return Ok(());
    }
    let author = crate::identity::Identity::author_of(manifest);
    let same_address = crate::identity::Identity::parse(sender)
        .map(|s| s.email.eq_ignore_ascii_case(&author.email))
        .unwrap_or(false);
    if same_address {
        bail!(
            "the sender would be {}, the manifest's stand-in author (author.stand_in = true): \
             send as yourself with --from \"Your Name <you@example.org>\" (or git config \
             sendemail.from); your identity replaces the stand-in in From: and Signed-off-by:. \
             Nothing was sent or recorded",
            author.trailer_form()
        );
    }
    Ok(())
}

/// The mail with the series author replaced by the sender in From: and
/// in the author's own Signed-off-by: line; other trailers stay. The From:
/// header is recognised by the person it decodes to (a quoted or RFC 2047
/// encoded name included) and rewritten as git format-patch writes one.
///
/// Patches are bytes: a body that is not UTF-8 (a Latin-1 comment in a
/// file the patch changes) is carried through unchanged.
pub fn rewrite_identity(text: &[u8], author: &Identity, sender: &Identity) -> Vec<u8> {
    let (head, body) = identity::split_headers(text);
    let mut out = Vec::with_capacity(text.len() + 64);
    match std::str::from_utf8(head) {
        Ok(head) => out.extend(rewrite_from(head, author, sender).bytes()),
        // git writes headers in ASCII (RFC 2047 for the rest); leave odd
        // ones alone rather than guess.
        Err(_) => out.extend_from_slice(head),
    }
    let own = format!("Signed-off-by: {}", author.trailer_form());
    for line in body.split_inclusive(|&b| b == b'\n') {
        let bare = line.strip_suffix(b"\n").unwrap_or(line);
        if bare == own.as_bytes() {
            out.extend(format!("Signed-off-by: {}", sender.trailer_form()).bytes());
            if line.ends_with(b"\n") {
                out.push(b'\n');
            }
        } else {
            out.extend_from_slice(line);
        }
    }
    out
}

/// The header block with the author's From: (a header and its
/// continuation lines) replaced by the sender's.
fn rewrite_from(head: &str, author: &Identity, sender: &Identity) -> String {
    let mut out = String::with_capacity(head.len() + 64);
    let mut lines = head.split_inclusive('\n').peekable();
    while let Some(line) = lines.next() {
        let mut header = line.to_string();
        while let Some(next) = lines.peek() {
            if next.starts_with([' ', '\t']) {
                header.push_str(next);
                lines.next();
            } else {
                break;
            }
        }
        let is_authors_from = header
            .get(..5)
            .is_some_and(|h| h.eq_ignore_ascii_case("from:"))
            && identity::mail_from(&header).is_some_and(|who| who.same_as(author));
        if is_authors_from {
            out.push_str(&sender.as_from_header());
        } else {
            out.push_str(&header);
        }
    }
    out
}

/// Adds threading headers after the mail's other headers.
pub fn add_thread_headers(text: &[u8], message_id: &str, parent: Option<&str>) -> Vec<u8> {
    let (head, body) = identity::split_headers(text);
    let mut out = head.to_vec();
    out.extend(format!("Message-ID: {message_id}\n").bytes());
    if let Some(p) = parent {
        out.extend(format!("In-Reply-To: {p}\nReferences: {p}\n").bytes());
    }
    out.extend_from_slice(body);
    out
}

/// `<20261125192000.dma-owner-v2-3-1a2b3c4d@example.org>`: unique, and
/// saying which series, version and mail it is.
fn message_id(stamp: &str, name: &str, version: u32, nr: usize, salt: u64, sender: &str) -> String {
    let domain = sender
        .rsplit_once('@')
        .map(|(_, d)| d.trim_end_matches('>'))
        .filter(|d| !d.is_empty())
        .unwrap_or("localhost");
    format!(
        "<{stamp}.{name}-v{version}-{nr}-{:08x}@{domain}>",
        salt as u32
    )
}

fn random_salt() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    h.write_u32(std::process::id());
    h.finish()
}

fn subject_of(text: &[u8]) -> String {
    let text = String::from_utf8_lossy(identity::split_headers(text).0);
    let mut lines = text.lines().skip_while(|l| !l.starts_with("Subject:"));
    let mut subject = lines
        .next()
        .map(|l| l["Subject:".len()..].trim().to_string())
        .unwrap_or_default();
    for l in lines {
        if l.starts_with([' ', '\t']) {
            subject.push(' ');
            subject.push_str(l.trim());
        } else {
            break;
        }
    }
    subject
}

/// `git patch-id --stable` of a mail.
pub fn patch_id(tree: &Path, mail: &[u8]) -> Result<Option<String>> {
    use std::io::Write;
    let mut child = Command::new("git")
        .args(["patch-id", "--stable"])
        .current_dir(tree)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .context("cannot run git patch-id")?;
    child.stdin.take().expect("piped").write_all(mail)?;
    let out = child.wait_with_output()?;
    if !out.status.success() {
        bail!(
            "git patch-id failed in {}: {}",
            tree.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    // No output: the mail holds no diff (a cover letter).
    Ok(String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .map(str::to_string))
}

/// One mail ready to go: where it comes from and who gets it.
struct Planned {
    file: String,
    text: Vec<u8>,
    recipients: Recipients,
}

fn plan(patches: &Path, tree: &Path, manifest: &Manifest, sender: &str) -> Result<Vec<Planned>> {
    let files = patch_files(patches)?;
    if files.patches.is_empty() {
        bail!("no patches in {}", patches.display());
    }
    let author = Identity::author_of(manifest);
    let sender_id = Identity::parse(sender)
        .with_context(|| format!("the sender {sender:?} is not \"Name <email>\""))?;
    let mfile = recipients::maintainers_file(tree)?;
    let mut planned = Vec::new();
    for path in &files.patches {
        let text =
            std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
        let text = rewrite_identity(&text, &author, &sender_id);
        let recipients = recipients::for_patch(
            tree,
            mfile.path(),
            path,
            &String::from_utf8_lossy(&text),
            manifest,
            sender,
        )?;
        planned.push(Planned {
            file: name_of(path),
            text,
            recipients,
        });
    }
    if let Some(cover) = files.cover {
        let text =
            std::fs::read(&cover).with_context(|| format!("cannot read {}", cover.display()))?;
        // git send-email refuses such a cover letter; refuse it before
        // anything is recorded, so no send can start that cannot end.
        for placeholder in ["*** SUBJECT HERE ***", "*** BLURB HERE ***"] {
            if String::from_utf8_lossy(&text).contains(placeholder) {
                bail!(
                    "{} still holds git's placeholder {placeholder:?}: write the cover letter's \
                     subject and blurb there (export keeps them), then send; nothing was recorded",
                    cover.display()
                );
            }
        }
        let all: Vec<&Recipients> = planned.iter().map(|p| &p.recipients).collect();
        planned.insert(
            0,
            Planned {
                file: name_of(&cover),
                text: rewrite_identity(&text, &author, &sender_id),
                recipients: Recipients::union(&all),
            },
        );
    }
    for p in &planned {
        if p.recipients.to.is_empty() && p.recipients.cc.is_empty() {
            bail!(
                "{} has no recipient: get_maintainer.pl finds nobody; add the list to [mail] to \
                 in series.toml",
                p.file
            );
        }
    }
    Ok(planned)
}

fn name_of(p: &Path) -> String {
    p.file_name()
        .unwrap_or_default()
        .to_string_lossy()
        .into_owned()
}

/// Refuses to send a series that is not what the tree's commits export to.
/// Returns where the series starts (the base, or the tip of the series
/// it requires) and its last commit.
fn ensure_exported(
    manifest: &Manifest,
    patches: &Path,
    tree: &Path,
) -> Result<(git2::Oid, git2::Oid)> {
    let opts = export_options(manifest, patches, tree, None, patches)?;
    let series = series_export::generate(&opts)?;
    if series_export::check(patches, &series.files)?.is_some() {
        bail!(
            "{} is not what {} exports to; run `tools/series export` (or check out the tree the \
             series was exported from) before sending",
            patches.display(),
            tree.display()
        );
    }
    Ok((series.start, series.head))
}

pub fn run(patches: &Path, args: SendArgs) -> Result<()> {
    let manifest = Manifest::load(patches)?;
    let version = manifest.series.version;
    let tree = paths::resolve_tree(args.tree.clone())?;
    if args.resume {
        return resume(patches, &tree, version, &args);
    }
    refuse_recorded(patches, version)?;
    if version > 1
        && !manifest
            .changelog
            .iter()
            .any(|c| c.version == version && !c.changes.is_empty())
    {
        bail!(
            "the [[changelog]] entry of v{version} in series.toml is empty: say what changed since \
             v{} before sending (the cover letter carries it)",
            version - 1
        );
    }
    let sender = sender(args.from.clone(), &tree)?;
    refuse_stand_in(&manifest, &sender)?;
    let (start, head) = ensure_exported(&manifest, patches, &tree)?;
    let planned = plan(patches, &tree, &manifest, &sender)?;

    if !args.send {
        println!(
            "dry run: {} mails of v{version} from {sender} (send with --send)",
            planned.len()
        );
        for p in &planned {
            println!("\n{}\n  Subject: {}", p.file, subject_of(&p.text));
            println!("  To: {}", p.recipients.to.join(", "));
            println!("  Cc: {}", p.recipients.cc.join(", "));
        }
        return Ok(());
    }

    // Held from here, where the record is read again, until the last mail
    // went out: two sends of one version never run at once.
    let _lock = SendLock::take(patches, version)?;
    refuse_recorded(patches, version)?;
    let repo = git2::Repository::open(&tree)?;
    let base = start;
    let sent = sent_ref(patches, version);
    if let Ok(old) = repo.refname_to_id(&sent) {
        if old != head {
            bail!(
                "{} already has {sent} at {old} but no record of sending it; remove the ref \
                 (`git update-ref -d {sent}`) if that send never happened",
                tree.display()
            );
        }
    }
    let mails_dir = SentRecord::mails_dir(patches, version);
    if mails_dir.exists() {
        bail!(
            "{} exists without a record; remove it first",
            mails_dir.display()
        );
    }
    let stamp: String = now_rfc3339()
        .chars()
        .filter(|c| c.is_ascii_digit())
        .collect();
    let salt = random_salt();
    let mut mails = Vec::new();
    let mut thread: Option<String> = None;
    for (nr, p) in planned.iter().enumerate() {
        let id = message_id(&stamp, &manifest.series.name, version, nr, salt, &sender);
        let text = add_thread_headers(&p.text, &id, thread.as_deref());
        write_atomically(&mails_dir.join(&p.file), &text)?;
        let pid = if p.file.ends_with("0000-cover-letter.patch") {
            None
        } else {
            patch_id(&tree, &text)?
        };
        mails.push(SentMail {
            file: p.file.clone(),
            subject: subject_of(&text),
            message_id: id.clone(),
            to: p.recipients.to.clone(),
            cc: p.recipients.cc.clone(),
            patch_id: pid,
            sent: false,
            in_flight: false,
        });
        thread.get_or_insert(id);
    }
    let mut record = SentRecord {
        version,
        date: now_rfc3339(),
        base: base.to_string(),
        head: head.to_string(),
        sender,
        complete: false,
        mails,
    };
    record.save(patches)?;
    repo.reference(&sent, head, true, &format!("series send v{version}"))?;
    deliver(patches, &tree, &mut record, &args)
}

/// Refuses a version that has a send record already (sent, or stopped).
fn refuse_recorded(patches: &Path, version: u32) -> Result<()> {
    match SentRecord::load(patches, version)? {
        Some(r) if r.complete => bail!(
            "v{version} was sent on {} ({}); start the next version with `tools/series version \
             --next`",
            r.date,
            r.lore_link().unwrap_or_default()
        ),
        Some(r) => bail!(
            "a send of v{version} stopped after {} of {} mails; run `tools/series send --resume`",
            r.mails.iter().filter(|m| m.sent).count(),
            r.mails.len()
        ),
        None => Ok(()),
    }
}

fn resume(patches: &Path, tree: &Path, version: u32, args: &SendArgs) -> Result<()> {
    let nothing = || {
        anyhow::anyhow!(
            "nothing to resume: there is no record of sending v{version} \
             (patches/sent/v{version}.toml)"
        )
    };
    // Checked before the lock, whose file a resume of nothing must not make.
    if !SentRecord::path(patches, version).exists() {
        return Err(nothing());
    }
    // The record is read under the lock: a send still running cannot
    // have it change underneath.
    let _lock = SendLock::take(patches, version)?;
    let mut record = SentRecord::load(patches, version)?.ok_or_else(nothing)?;
    if record.complete {
        bail!(
            "v{version} was sent completely on {}; nothing to resume",
            record.date
        );
    }
    if let Some(f) = &args.from {
        if *f != record.sender {
            bail!(
                "v{version} was started as {}; resume it with the same sender",
                record.sender
            );
        }
    }
    settle_in_flight(&mut record, args)?;
    record.save(patches)?;
    deliver(patches, tree, &mut record, args)
}

/// Mails a killed send was handing over: nobody knows whether they left.
/// Each must be settled by the user (`--assume-sent N` or
/// `--assume-unsent N`); the tool never guesses.
fn settle_in_flight(record: &mut SentRecord, args: &SendArgs) -> Result<()> {
    let total = record.mails.len();
    for n in args.assume_sent.iter().chain(&args.assume_unsent) {
        let ok =
            (1..=total).contains(n) && record.mails[n - 1].in_flight && !record.mails[n - 1].sent;
        if !ok {
            bail!(
                "mail {n} of v{} is not one whose delivery is unknown; nothing was changed",
                record.version
            );
        }
    }
    for &n in &args.assume_sent {
        record.mails[n - 1].sent = true;
        record.mails[n - 1].in_flight = false;
    }
    for &n in &args.assume_unsent {
        record.mails[n - 1].in_flight = false;
    }
    let unknown: Vec<String> = record
        .mails
        .iter()
        .enumerate()
        .filter(|(_, m)| m.in_flight && !m.sent)
        .map(|(i, m)| format!("  mail {}: {} ({})", i + 1, m.subject, m.message_id))
        .collect();
    if !unknown.is_empty() {
        bail!(
            "a send of v{} stopped while handing over these mails; whether they reached the list \
             is not known:\n{}\nlook for their Message-IDs in the list archive (or a recipient's \
             inbox), then run `tools/series send --resume --assume-sent N` for each that arrived \
             or `--assume-unsent N` for each that did not; nothing was sent",
            record.version,
            unknown.join("\n")
        );
    }
    Ok(())
}

/// Sends every mail of the record not sent yet, in order, marking each
/// in the record as soon as git send-email handed it over.
fn deliver(patches: &Path, tree: &Path, record: &mut SentRecord, args: &SendArgs) -> Result<()> {
    let dir = SentRecord::mails_dir(patches, record.version);
    let total = record.mails.len();
    let mut previous_end: Option<u64> = None;
    for i in 0..total {
        if record.mails[i].sent {
            continue;
        }
        // git send-email dates each mail with the second it starts in; one
        // run per mail, so start each in a later second than the last one
        // ended: list archives sort a thread by these dates.
        if let Some(end) = previous_end {
            wait_for_second_after(end);
        }
        let m = record.mails[i].clone();
        let file = dir.join(&m.file);
        if !file.is_file() {
            bail!(
                "{} is missing; it holds mail {} of the send (restore it from git)",
                file.display(),
                i + 1
            );
        }
        record.mails[i].in_flight = true;
        record.save(patches).with_context(|| {
            format!(
                "cannot record that mail {} of {total} is being sent; it was not sent, nor any \
                 after it ({} went out before)",
                i + 1,
                record.mails.iter().filter(|m| m.sent).count()
            )
        })?;
        let mut cmd = Command::new("git");
        cmd.args([
            "send-email",
            "--quiet",
            "--confirm=never",
            "--no-thread",
            "--suppress-cc=all",
            "--8bit-encoding=UTF-8",
            "--no-format-patch",
        ])
        .arg(format!("--from={}", record.sender))
        .args(m.to.iter().map(|a| format!("--to={a}")))
        .args(m.cc.iter().map(|a| format!("--cc={a}")))
        .args(args.smtp_flags())
        .arg(&file)
        .current_dir(tree)
        .stdin(Stdio::null());
        let out = cmd
            .output()
            .context("cannot run git send-email (Debian: apt-get install git-email)")?;
        previous_end = Some(unix_seconds());
        if !out.status.success() {
            // git send-email said it did not deliver: not in flight any more.
            record.mails[i].in_flight = false;
            let _ = record.save(patches);
            let went = went_out(record);
            bail!(
                "git send-email failed on mail {} of {total} ({}): {}\n{} of {total} mails went \
                 out{}{}\nnothing else was sent; fix the cause and run `tools/series send --resume`",
                i + 1,
                m.subject,
                String::from_utf8_lossy(&out.stderr).trim(),
                went.len(),
                if went.is_empty() { "" } else { ":\n" },
                went.join("\n")
            );
        }
        record.mails[i].sent = true;
        record.mails[i].in_flight = false;
        if let Err(e) = record.save(patches) {
            let went = went_out(record);
            return Err(e).with_context(|| {
                format!(
                    "mail {} of {total} went out but could not be recorded; {} of {total} mails \
                     went out:\n{}\nthe record still shows mail {} as being sent, so `tools/series \
                     send --resume` will ask: free the space, then run it with --assume-sent {}",
                    i + 1,
                    went.len(),
                    went.join("\n"),
                    i + 1,
                    i + 1
                )
            });
        }
        println!("sent {}/{total}: {}", i + 1, m.subject);
    }
    record.complete = true;
    record.save(patches)?;
    println!(
        "v{} sent: {}\nrecorded in {} (commit patches/sent/ with the series); the tree keeps {}",
        record.version,
        record.lore_link().unwrap_or_default(),
        SentRecord::path(patches, record.version).display(),
        sent_ref(patches, record.version)
    );
    Ok(())
}

/// `  sent: <subject>` of every mail the record says went out.
fn went_out(record: &SentRecord) -> Vec<String> {
    record
        .mails
        .iter()
        .filter(|m| m.sent)
        .map(|m| format!("  sent: {}", m.subject))
        .collect()
}

fn unix_seconds() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Sleeps until the wall clock is past second `second`.
fn wait_for_second_after(second: u64) {
    loop {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        if now.as_secs() > second {
            return;
        }
        let left = std::time::Duration::from_secs(second + 1).saturating_sub(now);
        std::thread::sleep(left + std::time::Duration::from_millis(5));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_author_in_from_and_own_signoff_only() {
        let a = "Series <s@example.org>";
        let mail = format!(
            "From 0 Mon Sep 17 00:00:00 2001\nFrom: {a}\nSubject: x\n\nFrom: {a}\nbody\n\nSuggested-by: J <j@x>\nSigned-off-by: {a}\n---\n"
        );
        let id = |s: &str| Identity::parse(s).unwrap();
        let got = String::from_utf8(rewrite_identity(
            mail.as_bytes(),
            &id(a),
            &id("Jane <jane@x.org>"),
        ))
        .unwrap();
        assert!(got.contains("\nFrom: Jane <jane@x.org>\nSubject"));
        assert!(got.contains("Signed-off-by: Jane <jane@x.org>\n"));
        assert!(got.contains("Suggested-by: J <j@x>\n"));
        // A From: line in the body is text, not a header.
        assert!(got.contains(&format!("\n\nFrom: {a}\nbody")));
    }

    #[test]
    fn authors_whose_names_need_quoting_or_encoding_are_replaced_in_from_too() {
        let id = |s: &str| Identity::parse(s).unwrap();
        let thor = id("A. U. Thor <a@x.org>");
        let joerg = id("Jörg Rödel <joro@x.org>");
        for (author, from) in [
            (&thor, "From: \"A. U. Thor\" <a@x.org>\n"),
            (
                &joerg,
                "From: =?UTF-8?q?J=C3=B6rg=20R=C3=B6del?= <joro@x.org>\n",
            ),
        ] {
            let mail = format!(
                "From 0 Mon Sep 17 00:00:00 2001\n{from}Subject: x\n\nWhy.\n\n\
                 Signed-off-by: {}\n---\n",
                author.trailer_form()
            );
            for sender in [&thor, &joerg] {
                if sender == author {
                    continue;
                }
                let got =
                    String::from_utf8(rewrite_identity(mail.as_bytes(), author, sender)).unwrap();
                assert!(
                    got.contains(&format!("\n{}Subject", sender.as_from_header())),
                    "{got}"
                );
                assert!(
                    got.contains(&format!("Signed-off-by: {}\n", sender.trailer_form())),
                    "{got}"
                );
                assert!(!got.contains(&author.email), "{got}");
            }
        }
    }

    #[test]
    fn a_body_that_is_not_utf8_goes_through_byte_for_byte() {
        let id = |s: &str| Identity::parse(s).unwrap();
        let mut mail =
            b"From: A <a@x>\nSubject: s\n\nWhy.\n\nSigned-off-by: A <a@x>\n---\n".to_vec();
        mail.extend_from_slice(b"+/* Jos\xe9 */\n");
        let got = rewrite_identity(&mail, &id("A <a@x>"), &id("B <b@x>"));
        assert!(got.ends_with(b"+/* Jos\xe9 */\n"));
        assert!(got.starts_with(b"From: B <b@x>\nSubject: s\n\n"));
        let threaded = add_thread_headers(&got, "<1@x>", Some("<0@x>"));
        assert!(threaded.ends_with(b"+/* Jos\xe9 */\n"));
        assert!(threaded.starts_with(
            b"From: B <b@x>\nSubject: s\nMessage-ID: <1@x>\nIn-Reply-To: <0@x>\nReferences: <0@x>\n\nWhy."
        ));
        assert_eq!(subject_of(&threaded), "s");
    }

    #[test]
    fn from_must_be_an_identity() {
        let here = Path::new(".");
        assert!(sender(Some("jane".into()), here).is_err());
        assert_eq!(sender(Some("J <j@x>".into()), here).unwrap(), "J <j@x>");
    }

    #[test]
    fn thread_headers_go_at_the_end_of_the_header() {
        let mail = "From 0 x\nFrom: A <a@x>\nSubject: s\n\nbody\n\nmore\n";
        let got = add_thread_headers(mail.as_bytes(), "<2@x>", Some("<1@x>"));
        assert_eq!(
            String::from_utf8(got).unwrap(),
            "From 0 x\nFrom: A <a@x>\nSubject: s\nMessage-ID: <2@x>\nIn-Reply-To: <1@x>\n\
             References: <1@x>\n\nbody\n\nmore\n"
        );
        assert_eq!(
            message_id("20261125", "s", 2, 3, 0xabc, "J <j@x.org>"),
            "<20261125.s-v2-3-00000abc@x.org>"
        );
    }

    #[test]
    fn folded_subject() {
        assert_eq!(
            subject_of(b"From: a\nSubject: [PATCH 0/2] one\n two\nDate: x\n\n"),
            "[PATCH 0/2] one two"
        );
    }
}
