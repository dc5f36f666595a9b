//! `series list`: the series at a glance.

use crate::manifest::Manifest;
use crate::sent_record::SentRecord;
use crate::stack::Project;
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
    /// Every series of a several-series project, in the order they apply.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    stack: Vec<Overview>,
    name: String,
    version: u32,
    base: String,
    kernel_version: String,
    /// `Name <email>` of the patches' author (a stand-in when `author_stand_in`).
    author: String,
    author_name: String,
    author_email: String,
    author_stand_in: bool,
    cover_subject: Option<String>,
    patches: Vec<PatchEntry>,
}

#[derive(Serialize)]
struct Overview {
    name: String,
    version: u32,
    patches: usize,
    state: String,
    requires: Vec<String>,
    selected: bool,
}

/// exported / sent / send unfinished, from the files and the sent record.
fn state_of(dir: &Path, version: u32, patches: usize) -> Result<String> {
    let record = SentRecord::load_all(dir)?
        .into_iter()
        .find(|r| r.version == version);
    Ok(match record {
        Some(r) if r.complete => format!("v{version} sent ({})", r.date),
        Some(_) => format!("v{version} send unfinished (`send --resume`)"),
        None if patches > 0 => format!("v{version} exported, not sent"),
        None => "no patches exported".to_string(),
    })
}

fn overview(patches: &Path) -> Result<Vec<Overview>> {
    let Some(project) = Project::of_series_dir(patches)? else {
        return Ok(Vec::new());
    };
    if !project.several {
        return Ok(Vec::new());
    }
    let mut order: Vec<&crate::stack::Member> = Vec::new();
    for top in project.tops() {
        for m in project.chain(&top.name)? {
            if !order.iter().any(|o| o.name == m.name) {
                order.push(m);
            }
        }
    }
    order
        .into_iter()
        .map(|m| {
            let count = series_apply::mail::read_series(&m.dir)
                .map(|s| s.patches.len())
                .unwrap_or(0);
            Ok(Overview {
                name: m.name.clone(),
                version: m.manifest.series.version,
                patches: count,
                state: state_of(&m.dir, m.manifest.series.version, count)?,
                requires: m.manifest.series.requires.clone(),
                selected: m.dir == patches,
            })
        })
        .collect()
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
        stack: overview(patches)?,
        name: manifest.series.name.clone(),
        version: manifest.series.version,
        base: describe_base(&manifest),
        kernel_version: manifest.base.kernel_version.clone(),
        author: format!("{} <{}>", manifest.author.name, manifest.author.email),
        author_name: manifest.author.name.clone(),
        author_email: manifest.author.email.clone(),
        author_stand_in: manifest.author.stand_in,
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
    if !listing.stack.is_empty() {
        println!("series in the order they apply (--series NAME picks one):");
        for o in &listing.stack {
            let requires = if o.requires.is_empty() {
                String::new()
            } else {
                format!(", requires {}", o.requires.join(", "))
            };
            let mark = if o.selected { "*" } else { " " };
            println!(
                "{mark} {} v{}: {} patches, {}{requires}",
                o.name, o.version, o.patches, o.state
            );
        }
        println!();
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
