//! `series export`: regenerate `patches/` from base..HEAD of a tree.

use crate::manifest::Manifest;
use crate::paths;
use anyhow::{bail, Result};
use clap::Args;
use series_export::{ExportOptions, BASE_REF};
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
/// Binary changes, merges and empty commits are refused.
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
    let opts = ExportOptions {
        tree: tree.clone(),
        base: args.base,
        version: manifest.reroll().unwrap_or(1),
        subject_prefix: manifest.series.subject_prefix.clone(),
        cover_from: Some(out_dir.clone()),
    };
    let series = series_export::generate(&opts)?;
    let base_name = opts.base.as_deref().unwrap_or(BASE_REF);
    if args.check {
        return match series_export::check(&out_dir, &series.files)? {
            None => {
                println!(
                    "{} is what {} holds ({} patches on {base_name})",
                    out_dir.display(),
                    tree.display(),
                    series.files.len() - 1
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
        series.files.len() - 1,
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

fn short(oid: git2::Oid) -> String {
    oid.to_string()[..12].to_string()
}
