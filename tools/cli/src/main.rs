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
mod patch_ids;
mod paths;
mod progress;
mod recipients;
mod replies;
mod sent_record;
mod stack;

use clap::{Parser, Subcommand};

/// Carry a Linux patch series: prepare its base, apply it, regenerate it,
/// build and boot the result under a virtual IOMMU.
#[derive(Parser)]
#[command(name = "series", version, about, long_about = None)]
struct Cli {
    /// The series directory (manifest and patches).
    #[arg(long, global = true, default_value_os_t = paths::default_series_dir())]
    patches: std::path::PathBuf,
    /// The series to work on when the series directory holds several
    /// (`patches/<name>/series.toml` beside `patches/base.toml`); default:
    /// the one no other series requires.
    #[arg(long, global = true, value_name = "NAME")]
    series: Option<String>,
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
    // Like git: output cut off by a closed pipe (`series list | head`)
    // ends the process quietly instead of a panic on the next print.
    // SAFETY: restoring the default disposition of one signal at start-up,
    // before any thread exists.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let mut cli = Cli::parse();
    // `apply --series PATH` (a directory of patches or an mbox) predates
    // the series names: a value that names no series but an existing path
    // is that input.
    if let (Command::Apply(a), Some(value)) = (&mut cli.command, &cli.series) {
        if a.input.is_none() && !names_a_series(&cli.patches, value) {
            let path = std::path::PathBuf::from(value);
            if path.exists() {
                a.input = Some(path);
                cli.series = None;
            }
        }
    }
    let patches = match stack::selected_dir(&cli.patches, cli.series.as_deref()) {
        Ok(dir) => dir,
        Err(err) => {
            eprintln!("series: error: {err:#}");
            std::process::exit(1);
        }
    };
    let cli = Cli { patches, ..cli };
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

fn names_a_series(patches: &std::path::Path, value: &str) -> bool {
    matches!(stack::Project::discover(patches), Ok(Some(p)) if p.member(value).is_some())
}
