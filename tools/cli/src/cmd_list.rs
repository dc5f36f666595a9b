//! `series list`: the series at a glance.

use crate::manifest::Manifest;
use anyhow::Result;
use clap::Args;
use serde::Serialize;
use std::path::Path;

/// Show the series: version, base, and each patch's subject, author and
/// diffstat line.
///
/// Examples:
///   tools/series list
///   tools/series list --json | jq '.patches[].subject'
#[derive(Args)]
#[command(verbatim_doc_comment)]
pub struct ListArgs {
    /// Print JSON for scripts.
    #[arg(long)]
    pub json: bool,
}

#[derive(Serialize)]
struct Listing {
    name: String,
    version: u32,
    base: String,
    kernel_version: String,
    cover_subject: Option<String>,
    patches: Vec<PatchEntry>,
}

#[derive(Serialize)]
struct PatchEntry {
    number: usize,
    subject: String,
    author: String,
    diffstat: String,
}

fn describe_base(m: &Manifest) -> String {
    match (&m.base.package, &m.base.package_version, &m.base.revision) {
        (Some(p), Some(v), _) => format!("{p} {v}"),
        (Some(p), None, _) => p.clone(),
        (_, _, Some(r)) => format!("git revision {r}"),
        _ => "unknown".into(),
    }
}

pub fn run(patches: &Path, args: ListArgs) -> Result<()> {
    let manifest = Manifest::load(patches)?;
    let series = series_apply::mail::read_series(patches)?;
    let listing = Listing {
        name: manifest.series.name.clone(),
        version: manifest.series.version,
        base: describe_base(&manifest),
        kernel_version: manifest.base.kernel_version.clone(),
        cover_subject: series.cover.as_ref().map(|c| c.subject.clone()),
        patches: series
            .patches
            .iter()
            .enumerate()
            .map(|(i, p)| PatchEntry {
                number: i + 1,
                subject: p.subject.clone(),
                author: format!("{} <{}>", p.author_name, p.author_email),
                diffstat: p.diffstat_summary().trim().to_string(),
            })
            .collect(),
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&listing)?);
        return Ok(());
    }
    println!(
        "{} v{} on {} (Linux {})",
        listing.name, listing.version, listing.base, listing.kernel_version
    );
    if let Some(c) = &listing.cover_subject {
        println!("  0/{}: {c}", listing.patches.len());
    }
    let width = listing.patches.len().to_string().len();
    for p in &listing.patches {
        println!("  {:>width$}. {}", p.number, p.subject);
        println!("  {:>width$}  {} | {}", "", p.author, p.diffstat);
    }
    Ok(())
}
