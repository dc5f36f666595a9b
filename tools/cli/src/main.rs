//! `series`: assemble, check, build and boot the driver-core DMA ownership series.

mod base_cache;
mod cmd_apply;
mod cmd_base;
mod cmd_check;
mod cmd_export;
mod cmd_kernel;
mod cmd_lava;
mod cmd_list;
mod cmd_send;
mod cmd_trailers;
mod cmd_version;
mod identity;
mod manifest;
mod paths;
mod progress;
mod recipients;
mod replies;
mod sent_record;

use clap::{Parser, Subcommand};

/// Carry a Linux patch series: prepare its base, apply it, regenerate it,
/// build and boot the result under a virtual IOMMU.
#[derive(Parser)]
#[command(name = "series", version, about, long_about = None)]
struct Cli {
    /// The series directory (manifest and patches).
    #[arg(long, global = true, default_value_os_t = paths::default_series_dir())]
    patches: std::path::PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    Base(cmd_base::BaseArgs),
    Apply(cmd_apply::ApplyArgs),
    Export(cmd_export::ExportArgs),
    List(cmd_list::ListArgs),
    Check(cmd_check::CheckArgs),
    Send(cmd_send::SendArgs),
    Version(cmd_version::VersionArgs),
    Trailers(cmd_trailers::TrailersArgs),
    Build(cmd_kernel::BuildArgs),
    Boot(cmd_kernel::BootArgs),
    Test(cmd_kernel::TestArgs),
    Run(cmd_kernel::RunArgs),
    Lava(cmd_lava::LavaArgs),
}

fn main() {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Base(a) => cmd_base::run(&cli.patches, a),
        Command::Apply(a) => cmd_apply::run(&cli.patches, a),
        Command::Export(a) => cmd_export::run(&cli.patches, a),
        Command::List(a) => cmd_list::run(&cli.patches, a),
        Command::Check(a) => cmd_check::run(&cli.patches, a),
        Command::Send(a) => cmd_send::run(&cli.patches, a),
        Command::Version(a) => cmd_version::run(&cli.patches, a),
        Command::Trailers(a) => cmd_trailers::run(&cli.patches, a),
        Command::Build(a) => cmd_kernel::build(&cli.patches, a),
        Command::Boot(a) => cmd_kernel::boot(&cli.patches, a),
        Command::Test(a) => cmd_kernel::test(&cli.patches, a),
        Command::Run(a) => cmd_kernel::run(&cli.patches, a),
        Command::Lava(a) => cmd_lava::run(&cli.patches, a),
    };
    if let Err(err) = result {
        eprintln!("series: error: {err:#}");
        std::process::exit(1);
    }
}
