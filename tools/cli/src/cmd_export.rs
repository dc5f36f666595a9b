//! `series export`: regenerate `patches/` from base..HEAD of a tree.

use crate::manifest::{CoverLetterPolicy, Manifest};
use crate::paths;
use crate::sent_record::{sent_ref, SentRecord};
use crate::stack::{applied_ref, Project};
use anyhow::{bail, Context, Result};
use clap::Args;
use series_export::cover::Prerequisite;
use series_export::CoverLetter;
use series_export::{ExportOptions, PreviousVersion, VersionNotes, BASE_REF};
use std::path::{Path, PathBuf};

/// Regenerate the series from a tree, byte-identical to `git format-patch`.
///
/// The output equals
///   git -c diff.algorithm=myers format-patch --cover-letter --zero-commit
///       --signature=series [-v N] --subject-prefix=PREFIX --base=BASE
///       --no-thread -o patches/ BASE..HEAD
/// with git's defaults otherwise (rename detection -M 50%, indent heuristic,
/// 3 lines of context, --stat=72, .gitattributes diff drivers cpp/dts/rust).
/// N and PREFIX come from patches/series.toml (`-v N` only when N > 1, which
/// also names the files vN-NNNN-*.patch). The cover letter keeps its From,
/// Date, Subject and blurb; its shortlog and diffstat are regenerated. The
/// names and blob ids of the files written are recorded in
/// DIR/.series-export; a later export removes a stale patch file only when
/// it is in that record and unchanged since. Patch files export did not
/// write (another tool's, another version's) or that were edited are left
/// alone and listed; other files in the directory are not touched.
/// Binary changes are written as git writes them (GIT binary patch,
/// literal or delta; `Bin` lines in the diffstat). Merges and empty
/// commits are refused.
///
/// The cover letter ends its blurb with the changelog of every version
/// from series.toml (newest first, below a `---` line), each with the
/// lore link of the version before once that was sent; from v2 on it
/// carries the range-diff against the sent previous version, as
///   git format-patch ... --range-diff=OLDBASE..refs/series/sent/vN-1
/// writes it (docs/review-flow.md).
///
/// Examples:
///   tools/series export                 # out/linux, base refs/series/base
///   tools/series export --check         # CI: fail if patches/ is stale
///   tools/series export --base v6.12 --tree ~/linux --output /tmp/series
#[derive(Args)]
#[command(verbatim_doc_comment)]
pub struct ExportArgs {
    /// Kernel git work tree (default: out/linux).
    #[arg(long)]
    pub tree: Option<PathBuf>,
    /// Write nothing; fail with a diff when patches/ differs from the tree.
    #[arg(long)]
    pub check: bool,
    /// The base revision (default: the tree's refs/series/base).
    #[arg(long, value_name = "REV")]
    pub base: Option<String>,
    /// Write (or check) the series here instead of the series directory.
    #[arg(long, value_name = "DIR")]
    pub output: Option<PathBuf>,
}

pub fn run(patches: &Path, args: ExportArgs) -> Result<()> {
    let manifest = Manifest::load(patches)?;
    let tree = args.tree.unwrap_or_else(paths::default_tree);
    let out_dir = args.output.unwrap_or_else(|| patches.to_path_buf());
    let opts = export_options(&manifest, patches, &tree, args.base, &out_dir)?;
    let series = series_export::generate(&opts)?;
    let base_name = opts.base.as_deref().unwrap_or(BASE_REF);
    if args.check {
        return match series_export::check(&out_dir, &series.files)? {
            None => {
                println!(
                    "{} is what {} holds ({} patches on {base_name})",
                    out_dir.display(),
                    tree.display(),
                    series.patch_count()
                );
                Ok(())
            }
            Some(diff) => {
                print!("{diff}");
                bail!("patches/ differs from the tree; run `tools/series export`")
            }
        };
    }
    let report = series_export::write(&out_dir, &series.files)?;
    println!(
        "exported {} patches of {} ({base_name} {}..HEAD {}) into {}: {} written, {} unchanged, {} removed",
        series.patch_count(),
        tree.display(),
        short(series.base),
        short(series.head),
        out_dir.display(),
        report.written.len(),
        report.unchanged.len(),
        report.removed.len()
    );
    for name in &report.removed {
        println!("  removed {name} (written by an earlier export, no longer in the series)");
    }
    for name in &report.kept_edited {
        println!("  kept {name}: an earlier export wrote it, but it was edited since; remove it yourself if it is stale");
    }
    for name in &report.not_ours {
        println!("  left {name} alone: series export did not write it");
    }
    Ok(())
}

/// The options that give `patches/` for this manifest: version, prefix,
/// the cover letter kept from `out_dir`, the changelog of every version
/// with the lore link of each sent one, and the range-diff against the
/// previous version when it was sent (`patches/sent/vN.toml`, commits
/// under `refs/series/sent/vN` in the tree).
pub fn export_options(
    manifest: &Manifest,
    patches: &Path,
    tree: &Path,
    base: Option<String>,
    out_dir: &Path,
) -> Result<ExportOptions> {
    let version = manifest.series.version;
    let records = SentRecord::load_all(patches)?;
    let link_to = |v: u32| {
        records
            .iter()
            .find(|r| r.version == v && r.complete)
            .and_then(|r| r.lore_link())
    };
    let changelog = manifest
        .changelog
        .iter()
        .map(|c| VersionNotes {
            version: c.version,
            changes: c.changes.clone(),
            previous_link: c.version.checked_sub(1).and_then(link_to),
        })
        .collect();
    let range_diff = match records.iter().find(|r| r.version + 1 == version) {
        Some(prev) => {
            let sent = sent_ref(patches, prev.version);
            let repo = git2::Repository::open(tree)?;
            if repo.refname_to_id(&sent).ok() != git2::Oid::from_str(&prev.head).ok() {
                bail!(
                    "{} has no {sent} at {} (the v{} that was sent); the cover letter's \
                     range-diff needs it: in a fresh tree, apply patches/sent/v{} on its base {} \
                     and `git update-ref {sent} HEAD` (docs/review-flow.md)",
                    tree.display(),
                    &prev.head,
                    prev.version,
                    prev.version,
                    &prev.base
                );
            }
            Some(PreviousVersion {
                range: format!("{}..{sent}", prev.base),
            })
        }
        None => None,
    };
    let range = stack_range(patches, tree)?;
    Ok(ExportOptions {
        tree: tree.to_path_buf(),
        base,
        from: range.from,
        head: range.head,
        prerequisites: range.prerequisites,
        cover_letter: match manifest.series.cover_letter {
            CoverLetterPolicy::Always => CoverLetter::Always,
            CoverLetterPolicy::Auto => CoverLetter::Auto,
        },
        version: manifest.reroll().unwrap_or(1),
        subject_prefix: manifest.series.subject_prefix.clone(),
        cover_from: Some(out_dir.to_path_buf()),
        changelog,
        range_diff,
        abbrev: manifest.series.abbrev.fixed_length(),
    })
}

/// Where a series lies in a tree that holds the series it requires
/// below it: from the tip of the last prerequisite (its
/// `refs/series/applied/<name>`) to its own tip (HEAD for a series no
/// other requires, else its own applied ref).
struct StackRange {
    from: Option<String>,
    head: Option<String>,
    prerequisites: Vec<Prerequisite>,
}

/// Where the series lies in `tree` when it stands on other series: the
/// ref its range starts after and the ref of its last commit (None: the
/// base, and HEAD).
pub fn stack_bounds(patches: &Path, tree: &Path) -> Result<(Option<String>, Option<String>)> {
    let range = stack_range(patches, tree)?;
    Ok((range.from, range.head))
}

fn stack_range(patches: &Path, tree: &Path) -> Result<StackRange> {
    let Some(project) = Project::of_series_dir(patches)? else {
        return Ok(StackRange {
            from: None,
            head: None,
            prerequisites: Vec::new(),
        });
    };
    if !project.several {
        return Ok(StackRange {
            from: None,
            head: None,
            prerequisites: Vec::new(),
        });
    }
    let name = patches
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let chain = project.chain(&name)?;
    let repo = git2::Repository::open(tree)?;
    let head_id = repo.head().ok().and_then(|h| h.target());
    let resolve = |series: &str| -> Result<String> {
        let refname = applied_ref(series);
        let Ok(id) = repo.refname_to_id(&refname) else {
            bail!(
                "{} has no {refname}: apply the series with `tools/series --series {name} apply`, \
                 which sets it at the last commit of every series it applies, or set it with \
                 `git update-ref {refname} <commit>`",
                tree.display()
            );
        };
        let in_head =
            head_id.is_some_and(|h| h == id || repo.graph_descendant_of(h, id).unwrap_or(false));
        if !in_head {
            bail!(
                "{refname} ({id}) is not in the history of HEAD of {}: the stack was rewritten \
                 since it was applied; point it at the series' last commit with \
                 `git update-ref {refname} <commit>`",
                tree.display()
            );
        }
        Ok(refname)
    };
    let from = match chain.len() {
        0 | 1 => None,
        n => Some(resolve(&chain[n - 2].name)?),
    };
    let head = if project.is_required(&name) {
        Some(resolve(&name)?)
    } else {
        None
    };
    // A series this one does not require must not lie inside its range:
    // git format-patch would count it in, as a patch or a prerequisite.
    let tip = match &head {
        Some(r) => repo.refname_to_id(r)?,
        None => head_id.context("the tree has no HEAD commit")?,
    };
    for other in &project.members {
        if chain.iter().any(|m| m.name == other.name) {
            continue;
        }
        let Ok(id) = repo.refname_to_id(&applied_ref(&other.name)) else {
            continue;
        };
        if id == tip || repo.graph_descendant_of(tip, id).unwrap_or(false) {
            bail!(
                "the series {} lies below {name} in {}, but {name} does not require it: export \
                 {name} from a tree that holds only what it requires (`tools/series --series \
                 {name} apply --tree DIR` on a fresh `tools/series base --worktree DIR`)",
                other.name,
                tree.display()
            );
        }
    }
    let mut prerequisites = Vec::new();
    for m in &chain[..chain.len() - 1] {
        let version = m.manifest.series.version;
        let link = SentRecord::load_all(&m.dir)?
            .into_iter()
            .find(|r| r.version == version && r.complete)
            .and_then(|r| r.lore_link());
        prerequisites.push(Prerequisite {
            name: m.name.clone(),
            version,
            link,
        });
    }
    Ok(StackRange {
        from,
        head,
        prerequisites,
    })
}

fn short(oid: git2::Oid) -> String {
    oid.to_string()[..12].to_string()
}
