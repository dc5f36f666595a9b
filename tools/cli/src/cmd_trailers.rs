//! `series trailers`: add the trailers reviewers gave in their replies to
//! the series' commits.

use crate::paths;
use crate::replies::{self, Reply};
use crate::sent_record::SentRecord;
use anyhow::{bail, Context, Result};
use clap::Args;
use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Collect Reviewed-by, Acked-by, Tested-by, Reported-by, Suggested-by,
/// Link and Closes from review replies and add them to the commits.
///
/// A reply counts for the patch it answers: its In-Reply-To/References
/// lead to a Message-ID recorded by `series send` (patches/sent/vN.toml),
/// and that patch is found among the tree's commits by
/// `git patch-id --stable`; a reply to a copy that was resent or forwarded
/// (a patch mail in the input with another Message-ID) is matched by the
/// patch-id of that copy. A trailer given to the cover letter goes to
/// every patch. Quoted lines (`> ...`), signatures and replies to other
/// threads give nothing; a trailer a commit already has is not added
/// again. New trailers keep their order and go below the commit's
/// trailers, above its author's Signed-off-by.
///
/// Only the commits base..HEAD are rewritten (committer: you). The old
/// HEAD stays under refs/series/backup/trailers. Then run `series export`.
///
/// Examples:
///   tools/series trailers --from replies.mbox --dry-run   # list only
///   tools/series trailers --from ~/Mail/lkml/             # a maildir
#[derive(Args)]
#[command(verbatim_doc_comment)]
pub struct TrailersArgs {
    /// The replies: an mbox file or a maildir.
    #[arg(long, value_name = "MBOX|MAILDIR")]
    pub from: PathBuf,
    /// Kernel tree holding the series' commits (default: out/linux).
    #[arg(long)]
    pub tree: Option<PathBuf>,
    /// List what would be added; change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Also take trailers that name someone other than the reply's sender
    /// (b4's --sloppy-trailers); without it they are listed and left out.
    #[arg(long)]
    pub sloppy_trailers: bool,
}

pub const BACKUP_REF: &str = "refs/series/backup/trailers";

/// `git patch-id --stable` of each commit base..head: patch-id → commit.
fn commit_patch_ids(
    tree: &Path,
    base: git2::Oid,
    head: git2::Oid,
) -> Result<HashMap<String, git2::Oid>> {
    let log = Command::new("git")
        .args([
            "-c",
            "diff.algorithm=myers",
            "log",
            "-p",
            "--no-color",
            "--no-ext-diff",
            "--no-merges",
        ])
        .arg(format!("{base}..{head}"))
        .current_dir(tree)
        .output()
        .context("cannot run git log")?;
    let mut child = Command::new("git")
        .args(["patch-id", "--stable"])
        .current_dir(tree)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .context("cannot run git patch-id")?;
    child.stdin.take().expect("piped").write_all(&log.stdout)?;
    let out = child.wait_with_output()?;
    let mut map = HashMap::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        if let Some((pid, c)) = line.split_once(' ') {
            map.insert(pid.to_string(), git2::Oid::from_str(c.trim())?);
        }
    }
    Ok(map)
}

/// What a reply answers.
#[derive(Debug, Clone, PartialEq, Eq)]
/// A mail of the send record, as far as replies to it are concerned.
enum Recorded {
    Cover,
    Patch(String),
    /// A patch recorded without its patch-id: no commit can be matched.
    PatchWithoutId,
}

enum Target {
    Cover,
    Commit(git2::Oid),
    /// A recorded patch that no commit matches any more (it changed).
    Changed(String),
    Unknown,
}

/// New message: `add` placed below the trailers, above the author's own
/// Signed-off-by (the last one with the author's address).
pub fn insert_trailers(message: &str, author_email: &str, add: &[(String, String)]) -> String {
    let mut lines: Vec<String> = message.trim_end().lines().map(str::to_string).collect();
    let sob = format!("<{}>", author_email.to_ascii_lowercase());
    let last_para = lines
        .iter()
        .rposition(|l| l.trim().is_empty())
        .map_or(0, |i| i + 1);
    let is_trailer = |l: &String| {
        l.split_once(": ").is_some_and(|(k, _)| {
            !k.is_empty() && k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
    };
    let new: Vec<String> = add.iter().map(|(n, v)| format!("{n}: {v}")).collect();
    if last_para == 0 || !lines[last_para..].iter().all(is_trailer) {
        lines.push(String::new());
        lines.extend(new);
    } else {
        let at = (last_para..lines.len())
            .rev()
            .find(|&i| {
                lines[i].starts_with("Signed-off-by:")
                    && lines[i].to_ascii_lowercase().ends_with(&sob)
            })
            .unwrap_or(lines.len());
        lines.splice(at..at, new);
    }
    let mut out = lines.join("\n");
    out.push('\n');
    out
}

fn has_trailer(message: &str, name: &str, value: &str) -> bool {
    let norm = |s: &str| {
        s.split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .to_ascii_lowercase()
    };
    let want = norm(&format!("{name}: {value}"));
    message.lines().any(|l| norm(l) == want)
}

pub fn run(patches: &Path, args: TrailersArgs) -> Result<()> {
    let tree = paths::resolve_tree(args.tree)?;
    let repo = git2::Repository::open(&tree)
        .with_context(|| format!("{} is not a git tree", tree.display()))?;
    let replies = replies::read(&args.from)?;
    for r in &replies {
        if !r.trailers.is_empty() && r.parents.is_empty() && !r.has_diff() {
            bail!(
                "{} ({:?}) gives trailers but has no In-Reply-To or References header, so it \
                 cannot be told which patch it answers; nothing was changed",
                r.source,
                r.subject
            );
        }
    }
    // Only the series' own commits are rewritten: in a tree holding the
    // series it requires below it, its range starts after them.
    let (from, tip) = crate::cmd_export::stack_bounds(patches, &tree)?;
    let head = repo.head()?.peel_to_commit()?;
    if let Some(tip) = &tip {
        if repo.refname_to_id(tip)? != head.id() {
            bail!(
                "other series lie on top of this one in {} ({tip} is not HEAD): add its \
                 trailers in a tree that holds only it and what it requires \
                 (`tools/series --series NAME apply --tree DIR` on a fresh base); nothing was changed",
                tree.display()
            );
        }
    }
    let base = match &from {
        Some(r) => repo.find_reference(r)?.peel_to_commit()?,
        None => series_export::resolve_base(&repo, None)?,
    };
    let by_patch_id = commit_patch_ids(&tree, base.id(), head.id())?;

    // Recorded mails: Message-ID → what the mail was. The cover letter is
    // told by its file name, not by a missing patch-id: a patch whose
    // patch-id is missing answers to no commit rather than to all of them.
    let mut recorded: HashMap<String, Recorded> = HashMap::new();
    for rec in SentRecord::load_all(patches)? {
        for m in rec.mails {
            let what = if m.file.ends_with("0000-cover-letter.patch") {
                Recorded::Cover
            } else {
                match m.patch_id {
                    Some(pid) => Recorded::Patch(pid),
                    None => Recorded::PatchWithoutId,
                }
            };
            recorded.insert(m.message_id, what);
        }
    }
    let in_input: HashMap<&str, &Reply> = replies
        .iter()
        .filter_map(|r| r.message_id.as_deref().map(|id| (id, r)))
        .collect();
    let target = |r: &Reply| -> Result<Target> {
        for p in r.parents.iter().rev() {
            if let Some(what) = recorded.get(p) {
                return Ok(match what {
                    Recorded::Cover => Target::Cover,
                    Recorded::Patch(pid) => match by_patch_id.get(pid) {
                        Some(c) => Target::Commit(*c),
                        None => Target::Changed(p.clone()),
                    },
                    Recorded::PatchWithoutId => Target::Changed(p.clone()),
                });
            }
            if let Some(copy) = in_input.get(p.as_str()).filter(|c| c.has_diff()) {
                let text = format!("Subject: {}\n\n{}", copy.subject, copy.body);
                if let Some(pid) = crate::cmd_send::patch_id(&tree, text.as_bytes())? {
                    if let Some(c) = by_patch_id.get(&pid) {
                        return Ok(Target::Commit(*c));
                    }
                }
            }
        }
        Ok(Target::Unknown)
    };

    let commits: Vec<git2::Oid> = {
        let mut walk = repo.revwalk()?;
        walk.set_sorting(git2::Sort::TOPOLOGICAL | git2::Sort::REVERSE)?;
        walk.push(head.id())?;
        walk.hide(base.id())?;
        walk.collect::<Result<_, _>>()?
    };
    // A line of commits only: rewriting a merge onto one parent would
    // flatten it into a commit whose diff reverts the other side.
    for c in &commits {
        let commit = repo.find_commit(*c)?;
        if commit.parent_count() != 1 {
            bail!(
                "{} ({}) is a merge between the base and HEAD: trailers rewrites a line of \
                 commits only; rebase the series onto the base without merges first",
                &c.to_string()[..12],
                commit.summary().unwrap_or("")
            );
        }
    }
    let mut adds: HashMap<git2::Oid, Vec<(String, String)>> = HashMap::new();
    let mut notes = Vec::new();
    // Trailers come from replies: not from patches (a resent copy carries
    // its own trailers) nor from the series' own mails.
    let is_reply = |r: &&Reply| {
        !r.trailers.is_empty()
            && !r.has_diff()
            && !r
                .message_id
                .as_ref()
                .is_some_and(|id| recorded.contains_key(id))
    };
    for r in replies.iter().filter(is_reply) {
        let to: Vec<git2::Oid> = match target(r)? {
            Target::Cover => commits.clone(),
            Target::Commit(c) => vec![c],
            Target::Changed(id) => {
                notes.push(format!(
                    "skipped {}: it answers {id}, which changed since",
                    r.source
                ));
                continue;
            }
            Target::Unknown => {
                notes.push(format!(
                    "skipped {}: it answers no mail of this series",
                    r.source
                ));
                continue;
            }
        };
        let (taken, left_out) = replies::vetted(r, args.sloppy_trailers);
        notes.extend(left_out);
        for c in to {
            let msg = repo.find_commit(c)?.message().unwrap_or("").to_string();
            let list = adds.entry(c).or_default();
            for t in &taken {
                if !has_trailer(&msg, &t.0, &t.1)
                    && !list.iter().any(|o| replies::same_trailer(o, t))
                {
                    list.push(t.clone());
                }
            }
        }
    }
    for n in &notes {
        println!("{n}");
    }
    let total: usize = adds.values().map(Vec::len).sum();
    for c in &commits {
        if let Some(list) = adds.get(c).filter(|l| !l.is_empty()) {
            let commit = repo.find_commit(*c)?;
            println!(
                "{} {}",
                &c.to_string()[..12],
                commit.summary().unwrap_or("")
            );
            for (n, v) in list {
                println!("  + {n}: {v}");
            }
        }
    }
    if total == 0 {
        println!("no new trailers");
        return Ok(());
    }
    if args.dry_run {
        println!("dry run: {total} trailers would be added; nothing changed");
        return Ok(());
    }
    series_apply::checks::ensure_clean(&repo)?;
    let me = repo
        .signature()
        .context("no committer identity: set git config user.name and user.email in the tree")?;
    let mut parent = base.clone();
    for c in &commits {
        let old = repo.find_commit(*c)?;
        let msg = old.message().context("a commit message is not UTF-8")?;
        let new_msg = match adds.get(c).filter(|l| !l.is_empty()) {
            Some(list) => insert_trailers(msg, old.author().email().unwrap_or(""), list),
            None => msg.to_string(),
        };
        let id = repo.commit(None, &old.author(), &me, &new_msg, &old.tree()?, &[&parent])?;
        parent = repo.find_commit(id)?;
    }
    repo.reference(BACKUP_REF, head.id(), true, "series trailers: HEAD before")?;
    let reflog = format!(
        "series trailers: {total} trailers from {}",
        args.from.display()
    );
    // Compare and swap: a commit made while this ran must not be dropped.
    let moved = || {
        anyhow::anyhow!(
            "HEAD moved while trailers ran (a commit or another git command): nothing was \
             changed; run `tools/series trailers` again"
        )
    };
    match repo.head()?.resolve()?.name().map(str::to_string) {
        Some(name) if name.starts_with("refs/heads/") => {
            repo.reference_matching(&name, parent.id(), true, head.id(), &reflog)
                .map_err(|_| moved())?;
        }
        _ => {
            if repo.head()?.peel_to_commit()?.id() != head.id() {
                return Err(moved());
            }
            repo.set_head_detached(parent.id())?;
        }
    }
    println!(
        "added {total} trailers; the old HEAD is {BACKUP_REF} ({}); now run `tools/series export`",
        &head.id().to_string()[..12]
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(n: &str, v: &str) -> (String, String) {
        (n.to_string(), v.to_string())
    }

    #[test]
    fn below_trailers_above_own_signoff() {
        let msg = "s: do\n\nBody.\n\nSuggested-by: J <j@x>\nSigned-off-by: A <a@x>\n";
        assert_eq!(
            insert_trailers(
                msg,
                "a@x",
                &[t("Reviewed-by", "R <r@x>"), t("Acked-by", "K <k@x>")]
            ),
            "s: do\n\nBody.\n\nSuggested-by: J <j@x>\nReviewed-by: R <r@x>\nAcked-by: K <k@x>\n\
             Signed-off-by: A <a@x>\n"
        );
        assert_eq!(
            insert_trailers("s: do\n", "a@x", &[t("Acked-by", "K <k@x>")]),
            "s: do\n\nAcked-by: K <k@x>\n"
        );
    }
}
