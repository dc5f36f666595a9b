//! `series export`: regenerate `patches/` from the commits base..HEAD of a
//! kernel tree, byte-identical to
//!
//! ```text
//! git -c diff.algorithm=myers format-patch --cover-letter --zero-commit \
//!     --signature=series [-v N] --subject-prefix=PREFIX --base=<base> \
//!     --no-thread -o patches/ <base>..HEAD
//! ```
//!
//! with git's defaults otherwise: rename detection on (`-M`, 50%), indent
//! heuristic on, 3 lines of context, blob ids abbreviated as `core.abbrev`
//! says (or as [`ExportOptions::abbrev`] fixes it, like `-c core.abbrev=N`),
//! `--stat=72`, the `diff=` drivers of `.gitattributes` for hunk headers
//! (cpp, dts, rust and the default), `-v N` only when N > 1 (which also names
//! the files `vN-NNNN-*.patch`, as git does).
//!
//! Where git versions disagree the newer one is followed: git 2.47
//! RFC 2047-encodes non-ASCII From/Subject headers of the cover letter as it
//! does for patches (git 2.39 writes them raw). East Asian wide characters
//! count two columns when the shortlog wraps, as in git; the shortlog
//! names authors as `.mailmap` maps them; a commit stored in another
//! encoding (ISO-8859-1, ...) is re-encoded to UTF-8.
//!
//! Binary changes are written as format-patch writes them (`GIT binary
//! patch`, literal or delta, full blob ids, `Bin` lines in the diffstat),
//! deflated by the system's zlib at git's level (`core.loosecompression`,
//! `core.compression`, 1): the bytes equal git's when git links the same
//! zlib, as on Debian.
//!
//! Differences from git that are on purpose: merges and empty commits are
//! refused (a series is a line of changes); a new cover letter's
//! From and Date are HEAD's committer and commit time instead of the user
//! running the command and the current time (so output does not depend on
//! who runs it or when); an existing cover letter keeps its From, Date,
//! Subject and blurb, only its shortlog, diffstat and base are regenerated.

mod abbrev;
mod binary;
mod changes;
pub mod cover;
mod diffstat;
mod funcname;
mod mail_header;
mod message;
mod output;
mod patch_id;
mod patch_text;
mod quote;
mod range_diff;
mod reencode;
mod similarity;
mod wrap;

use anyhow::{bail, Context, Result};
use git2::{Commit, Oid, Repository, Sort};
use std::path::{Path, PathBuf};

pub use cover::VersionNotes;
pub use mail_header::{civil_from_days, from_header};
pub use output::{
    check, existing_patch_files, is_patch_file_name, read_record, write, WriteReport, RECORD_FILE,
};

/// The ref `series base` and `series apply` set to the series' base commit.
pub const BASE_REF: &str = "refs/series/base";
/// The fixed signature, so the output does not depend on the git version.
pub const SIGNATURE: &str = "series";
const ZERO_FROM_LINE: &str =
    "From 0000000000000000000000000000000000000000 Mon Sep 17 00:00:00 2001\n";

/// What to export and how to name it.
#[derive(Debug, Clone, Default)]
pub struct ExportOptions {
    /// The git work tree holding base..HEAD.
    pub tree: PathBuf,
    /// The base revision; default: [`BASE_REF`]. The cover letter's
    /// `base-commit:` names it.
    pub base: Option<String>,
    /// Where the series starts when other series lie between the base and
    /// it (their tip): the commits base..from are its prerequisites, one
    /// `prerequisite-patch-id:` line each, as `git format-patch
    /// --base=BASE FROM..HEAD` writes them. Default: the base.
    pub from: Option<String>,
    /// The last commit of the series; default: HEAD.
    pub head: Option<String>,
    /// The series this one requires, named in the cover letter's blurb
    /// above the changelog with where each was posted.
    pub prerequisites: Vec<cover::Prerequisite>,
    /// When a cover letter is written.
    pub cover_letter: CoverLetter,
    /// Series version: `[PATCH vN ...]` and `vN-` file names when > 1.
    pub version: u32,
    /// `PATCH`, `RFC PATCH`, ...
    pub subject_prefix: String,
    /// Where the current cover letter is read from (its subject and blurb
    /// are kept); usually the output directory.
    pub cover_from: Option<PathBuf>,
    /// The changelog of every version, written at the end of the blurb.
    pub changelog: Vec<VersionNotes>,
    /// The previous version to show a range-diff against (`--range-diff`).
    pub range_diff: Option<PreviousVersion>,
    /// A fixed abbreviation length for object ids (`index` lines and the
    /// range-diff), as `git -c core.abbrev=N format-patch` uses it; None
    /// follows the repository (`core.abbrev`, else git's automatic length,
    /// which depends on how many objects are packed).
    pub abbrev: Option<usize>,
}

/// When the series gets a cover letter.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum CoverLetter {
    /// Always (`git format-patch --cover-letter`).
    #[default]
    Always,
    /// Only for more than one patch, as git's `format.coverLetter=auto`;
    /// a lone patch then carries the `base-commit:` lines itself.
    Auto,
}

/// The version before this one, as `git format-patch --range-diff=RANGE`
/// takes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreviousVersion {
    /// `OLDBASE..OLDTIP` (two versions on different bases are disjoint).
    pub range: String,
}

/// One file of the generated series.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GeneratedFile {
    pub name: String,
    pub contents: Vec<u8>,
}

/// The generated series: the cover letter first, then the patches.
#[derive(Debug, Clone)]
pub struct GeneratedSeries {
    pub base: Oid,
    /// The commit the series starts on: the base, or the tip of its
    /// prerequisites.
    pub start: Oid,
    pub head: Oid,
    pub files: Vec<GeneratedFile>,
}

impl GeneratedSeries {
    /// How many patches, the cover letter not counted.
    pub fn patch_count(&self) -> usize {
        self.files
            .iter()
            .filter(|f| !f.name.ends_with("0000-cover-letter.patch"))
            .count()
    }
}

/// Resolves the base commit: `base` if given, else [`BASE_REF`].
pub fn resolve_base<'r>(repo: &'r Repository, base: Option<&str>) -> Result<Commit<'r>> {
    match base {
        Some(rev) => repo
            .revparse_single(rev)
            .and_then(|o| o.peel_to_commit())
            .with_context(|| format!("the base revision {rev:?} is not a commit of this tree")),
        None => repo
            .find_reference(BASE_REF)
            .and_then(|r| r.peel_to_commit())
            .with_context(|| {
                format!(
                    "no base given and the tree has no {BASE_REF}: pass --base REV, \
                     or run `tools/series base` / `tools/series apply`, which set it"
                )
            }),
    }
}

fn resolve_commit<'r>(repo: &'r Repository, rev: &str, what: &str) -> Result<Commit<'r>> {
    repo.revparse_single(rev)
        .and_then(|o| o.peel_to_commit())
        .with_context(|| format!("{what} {rev:?} is not a commit of this tree"))
}

/// The commits base..HEAD, oldest first; refuses merges.
fn series_commits<'r>(
    repo: &'r Repository,
    base: &Commit,
    head: &Commit,
) -> Result<Vec<Commit<'r>>> {
    if base.id() != head.id() && !repo.graph_descendant_of(head.id(), base.id())? {
        bail!(
            "HEAD ({}) does not descend from the base {}: rebase the series onto its base \
             or pass the right --base",
            head.id(),
            base.id()
        );
    }
    let mut walk = repo.revwalk()?;
    walk.set_sorting(Sort::TOPOLOGICAL | Sort::REVERSE)?;
    walk.push(head.id())?;
    walk.hide(base.id())?;
    let mut commits = Vec::new();
    for oid in walk {
        let commit = repo.find_commit(oid?)?;
        if commit.parent_count() > 1 {
            bail!(
                "{} is a merge; a patch series is linear: rebase base..HEAD without merges",
                commit.id()
            );
        }
        commits.push(commit);
    }
    if commits.is_empty() {
        bail!(
            "there are no commits between the base {} and HEAD",
            base.id()
        );
    }
    Ok(commits)
}

fn has_non_ascii(bytes: &[u8]) -> bool {
    bytes.iter().any(|&b| mail_header::non_ascii(b))
}

/// `[PATCH v2 03/10] ` for patch `nr` of `total`.
fn subject_tag(prefix: &str, nr: usize, total: usize) -> String {
    let width = total.to_string().len();
    let space = if prefix.is_empty() { "" } else { " " };
    format!("[{prefix}{space}{nr:0width$}/{total}] ")
}

fn full_prefix(opts: &ExportOptions) -> String {
    match opts.version {
        0 | 1 => opts.subject_prefix.clone(),
        v => format!("{} v{v}", opts.subject_prefix),
    }
}

fn reroll(opts: &ExportOptions) -> Option<u32> {
    (opts.version > 1).then_some(opts.version)
}

/// Diff text, stat and summary of the changes from `old` to `new`.
struct RenderedChanges {
    stat: Vec<u8>,
    diffs: Vec<u8>,
}

/// `abbrev`: None for a diffstat only (no diff text).
fn render_changes(
    repo: &Repository,
    renderer: &mut patch_text::Renderer,
    mut abbrev: Option<&mut abbrev::Abbreviator>,
    old: &git2::Tree,
    new: &git2::Tree,
) -> Result<RenderedChanges> {
    let pairs = changes::between(repo, Some(old), new, &mut |path| renderer.binary_attr(path))?;
    let mut rendered = Vec::with_capacity(pairs.len());
    for pair in &pairs {
        rendered.push(renderer.render(abbrev.as_deref_mut(), pair)?);
    }
    let entries: Vec<diffstat::StatEntry> = pairs
        .iter()
        .zip(&rendered)
        .map(|(pair, r)| diffstat::StatEntry {
            pair,
            added: r.added,
            deleted: r.deleted,
            binary: r.binary,
        })
        .collect();
    let stat = diffstat::render(&entries);
    let diffs = rendered.into_iter().flat_map(|r| r.text).collect();
    Ok(RenderedChanges { stat, diffs })
}

fn patch_mail(
    repo: &Repository,
    renderer: &mut patch_text::Renderer,
    abbrev: &mut abbrev::Abbreviator,
    commit: &Commit,
    tag: &str,
    bases: Option<&[u8]>,
) -> Result<Vec<u8>> {
    let parent = commit
        .parent(0)
        .with_context(|| format!("{} has no parent", commit.id()))?;
    let changes = render_changes(
        repo,
        renderer,
        Some(abbrev),
        &parent.tree()?,
        &commit.tree()?,
    )
    .with_context(|| format!("cannot export commit {}", commit.id()))?;
    if changes.diffs.is_empty() {
        bail!(
            "commit {} changes no file; drop it from the series",
            commit.id()
        );
    }
    let author = commit.author();
    let utf8 = reencode::utf8_commit(commit, &author)
        .with_context(|| format!("cannot export commit {}", commit.id()))?;
    let raw_msg = utf8.message.as_slice();
    let msg = message::Message::parse(raw_msg);
    let mut out = ZERO_FROM_LINE.as_bytes().to_vec();
    out.extend(mail_header::from_header(
        &utf8.author_name,
        &utf8.author_email,
    ));
    let when = author.when();
    out.extend(mail_header::date_header(when.seconds(), when.offset_minutes()).bytes());
    out.extend(mail_header::subject_header(tag, &msg.subject));
    if has_non_ascii(raw_msg) {
        out.extend_from_slice(mail_header::MIME_HEADERS.as_bytes());
    }
    out.push(b'\n');
    out.extend(msg.body_text());
    out.extend_from_slice(b"---\n");
    out.extend(changes.stat);
    out.push(b'\n');
    out.extend(changes.diffs);
    if let Some(bases) = bases {
        out.extend_from_slice(bases);
    }
    out.extend(format!("-- \n{SIGNATURE}\n\n").bytes());
    Ok(out)
}

/// The `base-commit:` and `prerequisite-patch-id:` lines, as git prints
/// them after the cover letter's diffstat, or after the first patch's
/// diff when there is no cover letter.
fn bases_block(base: Oid, prerequisites: &[String]) -> Vec<u8> {
    let mut out = format!("\nbase-commit: {base}\n").into_bytes();
    for id in prerequisites {
        out.extend(format!("prerequisite-patch-id: {id}\n").bytes());
    }
    out
}

/// The current cover letter in `dir`, if any: the one of this version's
/// name, else any `*0000-cover-letter.patch`.
fn find_cover(dir: &Path, name: &str) -> Option<PathBuf> {
    let exact = dir.join(name);
    if exact.is_file() {
        return Some(exact);
    }
    existing_patch_files(dir)
        .ok()?
        .into_iter()
        .find(|n| n.ends_with("0000-cover-letter.patch"))
        .map(|n| dir.join(n))
}

/// The ends of the series: the base its cover letter names, the commit
/// it starts on (the base, or the tip of its prerequisites) and its last
/// commit.
struct SeriesEnds<'r> {
    base: Commit<'r>,
    start: Commit<'r>,
    head: Commit<'r>,
}

#[allow(clippy::too_many_arguments)]
fn cover_mail(
    repo: &Repository,
    renderer: &mut patch_text::Renderer,
    opts: &ExportOptions,
    ends: &SeriesEnds,
    commits: &[Commit],
    prerequisites: &[String],
    name: &str,
) -> Result<Vec<u8>> {
    let (base, start, head) = (&ends.base, &ends.start, &ends.head);
    let kept = match opts.cover_from.as_deref().and_then(|d| find_cover(d, name)) {
        Some(path) => {
            Some(cover::parse(&std::fs::read(&path).with_context(|| {
                format!("cannot read {}", path.display())
            })?))
        }
        None => None,
    };
    let committer = head.committer();
    let mut out = ZERO_FROM_LINE.as_bytes().to_vec();
    match kept.as_ref().filter(|k| !k.from_header.is_empty()) {
        Some(k) => out.extend_from_slice(&k.from_header),
        None => out.extend(mail_header::from_header(
            committer.name_bytes(),
            committer.email_bytes(),
        )),
    }
    match kept.as_ref().filter(|k| !k.date_header.is_empty()) {
        Some(k) => out.extend_from_slice(&k.date_header),
        None => {
            let when = committer.when();
            out.extend(mail_header::date_header(when.seconds(), when.offset_minutes()).bytes());
        }
    }
    let subject = match &kept {
        Some(k) if !k.subject.is_empty() => k.subject.clone(),
        _ => cover::SUBJECT_TEMPLATE.as_bytes().to_vec(),
    };
    let tag = subject_tag(&full_prefix(opts), 0, commits.len());
    out.extend(mail_header::subject_header(&tag, &subject));
    let mut blurb = cover::blurb_lines(kept.as_ref());
    let notes = cover::prerequisite_lines(&opts.prerequisites);
    if !notes.is_empty() {
        blurb.push(Vec::new());
        blurb.extend(notes);
    }
    let changelog = cover::changelog_lines(&opts.changelog);
    if !changelog.is_empty() {
        blurb.push(Vec::new());
        blurb.extend(changelog);
    }
    let commits_non_ascii = commits
        .iter()
        .any(|c| has_non_ascii(c.raw_header_bytes()) || has_non_ascii(c.message_raw_bytes()));
    let text_non_ascii = has_non_ascii(&subject) || blurb.iter().any(|l| has_non_ascii(l));
    if commits_non_ascii || text_non_ascii {
        out.extend_from_slice(mail_header::MIME_HEADERS.as_bytes());
    }
    out.push(b'\n');
    for line in &blurb {
        out.extend_from_slice(line);
        out.push(b'\n');
    }
    out.push(b'\n');
    // Like git shortlog, authors are listed by their .mailmap names.
    let mailmap = repo
        .mailmap()
        .context("cannot read the .mailmap of the tree")?;
    let mut entries: Vec<(Vec<u8>, Vec<u8>)> = Vec::with_capacity(commits.len());
    for c in commits {
        let author = c
            .author_with_mailmap(&mailmap)
            .with_context(|| format!("cannot map the author of {} by .mailmap", c.id()))?;
        let utf8 = reencode::utf8_commit(c, &author)?;
        entries.push((utf8.author_name, message::shortlog_subject(&utf8.message)));
    }
    out.extend(cover::shortlog(&entries));
    let changes = render_changes(repo, renderer, None, &start.tree()?, &head.tree()?)?;
    out.extend(changes.stat);
    out.push(b'\n');
    if let Some(prev) = &opts.range_diff {
        let title = match reroll(opts) {
            Some(v) => format!("Range-diff against v{}:\n", v - 1),
            None => "Range-diff:\n".to_string(),
        };
        out.extend(title.bytes());
        out.extend(range_diff::render(
            &opts.tree,
            &prev.range,
            start.id(),
            head.id(),
            opts.abbrev,
        )?);
    }
    out.extend(bases_block(base.id(), prerequisites));
    out.extend(format!("-- \n{SIGNATURE}\n\n").bytes());
    Ok(out)
}

/// Generates the series of base..HEAD in `opts.tree`.
pub fn generate(opts: &ExportOptions) -> Result<GeneratedSeries> {
    // Like git, trust the object store instead of re-hashing every object read.
    git2::opts::strict_hash_verification(false);
    let repo = Repository::open(&opts.tree)
        .with_context(|| format!("{} is not a git work tree", opts.tree.display()))?;
    // Attributes are read from the work tree's .gitattributes files; an
    // empty in-memory index spares loading the index of a big tree.
    repo.set_index(&mut git2::Index::new()?)?;
    let base = resolve_base(&repo, opts.base.as_deref())?;
    let head = match opts.head.as_deref() {
        Some(rev) => resolve_commit(&repo, rev, "the series' last commit")?,
        None => repo
            .head()
            .and_then(|h| h.peel_to_commit())
            .with_context(|| format!("{} has no HEAD commit", opts.tree.display()))?,
    };
    let start = match opts.from.as_deref() {
        Some(rev) => resolve_commit(&repo, rev, "the tip of the prerequisites")?,
        None => base.clone(),
    };
    if start.id() != base.id() && !repo.graph_descendant_of(start.id(), base.id())? {
        bail!(
            "the prerequisites' tip {} does not descend from the base {}: \
             the prerequisite series must lie between the base and the series",
            start.id(),
            base.id()
        );
    }
    let commits = series_commits(&repo, &start, &head)?;
    let mut abbrev = abbrev::Abbreviator::new(&repo, opts.abbrev);
    let mut renderer = patch_text::Renderer::new(&repo)?;
    let prerequisites = if start.id() == base.id() {
        Vec::new()
    } else {
        series_commits(&repo, &base, &start)?;
        patch_id::prerequisite_ids(&opts.tree, base.id(), start.id(), commits[0].id())?
    };
    let ends = SeriesEnds {
        base: base.clone(),
        start,
        head: head.clone(),
    };
    let prefix = full_prefix(opts);
    let total = commits.len();

    let with_cover = opts.cover_letter == CoverLetter::Always || total > 1;
    let mut files = Vec::with_capacity(total + 1);
    if with_cover {
        let cover_name = message::patch_file_name(reroll(opts), 0, "cover-letter");
        files.push(GeneratedFile {
            contents: cover_mail(
                &repo,
                &mut renderer,
                opts,
                &ends,
                &commits,
                &prerequisites,
                &cover_name,
            )?,
            name: cover_name,
        });
    }
    let bases = (!with_cover).then(|| bases_block(base.id(), &prerequisites));
    for (i, commit) in commits.iter().enumerate() {
        let nr = i + 1;
        let slug = message::sanitized_subject(message::first_line(commit.message_raw_bytes()));
        files.push(GeneratedFile {
            name: message::patch_file_name(reroll(opts), nr, &slug),
            contents: patch_mail(
                &repo,
                &mut renderer,
                &mut abbrev,
                commit,
                &if with_cover {
                    subject_tag(&prefix, nr, total)
                } else {
                    // git numbers a lone patch only with a cover letter.
                    format!("[{prefix}] ")
                },
                bases.as_deref().filter(|_| nr == 1),
            )?,
        });
    }
    Ok(GeneratedSeries {
        base: base.id(),
        start: ends.start.id(),
        head: head.id(),
        files,
    })
}
