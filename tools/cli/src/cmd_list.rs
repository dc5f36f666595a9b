//! `series list`: the series at a glance.

use anyhow::Result;
use clap::Args;
use std::path::Path;

/// Show the series: version, base, and each patch's subject, author and diffstat.
#[derive(Args)]
pub struct ListArgs {
    /// Print JSON for scripts.
    #[arg(long)]
    pub json: bool,
}

pub fn run(_patches: &Path, _args: ListArgs) -> Result<()> {
    anyhow::bail!("list is not implemented yet")
}
