//! `series build`, `boot`, `test`, `run`: the kernel pipeline (the work is
//! done by the series-kernel crate; this module wires paths and verbs).

use crate::{paths, progress};
use anyhow::{bail, Context, Result};
use clap::Args;
use series_kernel::boot::{self as kboot, BootRequest, BootRun};
use series_kernel::build::{self as kbuild, BuildOutput, BuildPlan};
use series_kernel::initramfs::{self, InitramfsSpec};
use series_kernel::kcidb;
use series_kernel::profile::{self, ArchProfile, BusyboxSource};
use series_kernel::qemu::{QemuSpec, Viommu};
use series_kernel::report::{BootSummary, Report, SideStatus};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// Configure and build a kernel tree out of tree (O=) with ccache.
///
/// The config is tinyconfig plus kernel-overlay/kernel/configs/series-<NAME>.config
/// (`debug` = the ci fragment plus series-debug.config). Every option the
/// fragments ask for is checked after `make olddefconfig`. The tree itself is
/// only read: the overlay is never copied into it.
///
/// Examples:
///   tools/series build                           # out/linux, ci config
///   tools/series build --tree out/run/patched --config debug
///   tools/series build --arch arm64              # cross, series-arm64-ci.config
///   tools/series build --arch arm64 --targets drivers/amba/,drivers/cdx/   # compile only
#[derive(Args)]
#[command(verbatim_doc_comment)]
pub struct BuildArgs {
    /// Architecture: x86_64 or arm64 (cross compiled with aarch64-linux-gnu-gcc).
    #[arg(long, default_value = "x86_64")]
    pub arch: String,
    /// Kernel tree (default: out/linux, made by `series base`).
    #[arg(long)]
    pub tree: Option<PathBuf>,
    #[arg(long, default_value = "ci", help = CONFIG_HELP)]
    pub config: String,
    /// Build directory (default: out/build/<tree name>-<config>, with
    /// -<arch> before the config for other architectures than x86_64).
    #[arg(long)]
    pub build_dir: Option<PathBuf>,
    /// Parallel jobs (default: number of CPUs).
    #[arg(long)]
    pub jobs: Option<usize>,
    /// Make only these targets, comma separated (directories such as
    /// `drivers/base/`), instead of the boot image and headers: a compile
    /// check of a few subsystems in minutes, with nothing linked.
    #[arg(long, value_delimiter = ',')]
    pub targets: Vec<String>,
}

/// Boot a kernel in QEMU under a virtual IOMMU and run the guest tests.
///
/// Examples:
///   tools/series boot --iommu amd --kernel out/build/patched-ci/arch/x86/boot/bzImage
///   tools/series boot --iommu smmuv3-acpi       # out/build/linux-arm64-ci, UEFI + ACPI
///   SERIES_GUEST_ENV="DMA_OWNER_CYCLES=20" tools/series boot --iommu intel
#[derive(Args)]
#[command(verbatim_doc_comment)]
pub struct BootArgs {
    /// intel, amd, virtio (x86_64), smmuv3-dt or smmuv3-acpi (arm64).
    #[arg(long, default_value = "intel")]
    pub iommu: String,
    /// Kernel image to boot (default: the `build` output of out/linux, ci
    /// config, for the vIOMMU's architecture).
    #[arg(long)]
    pub kernel: Option<PathBuf>,
    /// Guest tests (a directory with run-tests.sh and bin/); default: built
    /// with ci/guest/build.sh against the kernel's UAPI headers.
    #[arg(long)]
    pub tests: Option<PathBuf>,
    /// Hard timeout in seconds; a guest still running then is killed.
    #[arg(long, default_value_t = 900)]
    pub timeout: u64,
    /// Output folder for console.log, ktap.log (default: out/boot/<iommu>).
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// Run the guest test suite under every vIOMMU on one kernel.
///
/// Examples:
///   tools/series test --tree out/run/patched --config debug --iommu intel
///   tools/series test --kernel out/build/base-ci/arch/x86/boot/bzImage
///   tools/series test --tree out/run/base --iommu smmuv3-dt,smmuv3-acpi
#[derive(Args)]
#[command(verbatim_doc_comment)]
pub struct TestArgs {
    /// Kernel image to test (default: build --tree/--config first); its
    /// architecture picks the vIOMMUs of --iommu that can run it.
    #[arg(long)]
    pub kernel: Option<PathBuf>,
    /// Kernel tree to build and test (default: out/linux).
    #[arg(long)]
    pub tree: Option<PathBuf>,
    #[arg(long, default_value = "ci", help = CONFIG_HELP)]
    pub config: String,
    /// vIOMMUs, comma separated: intel, amd, virtio, smmuv3-dt,
    /// smmuv3-acpi; `x86_64` or `arm64` for all of one architecture; `all`.
    /// The arm64 targets need a cross build, so they are opt-in.
    #[arg(long, default_value = "x86_64")]
    pub iommu: String,
    /// Guest tests directory (default: built with ci/guest/build.sh).
    #[arg(long)]
    pub tests: Option<PathBuf>,
    /// Hard timeout per boot, in seconds.
    #[arg(long, default_value_t = 900)]
    pub timeout: u64,
    /// Guests booted at the same time (each its own QEMU). Under TCG a
    /// guest keeps about one host CPU busy: 2 on a 2-CPU machine takes
    /// little longer than one boot for two (docs/pipeline.md).
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub boots: usize,
    /// Also write the results as KCIDB JSON (schema v5.3) to this file.
    #[arg(long)]
    pub kcidb: Option<PathBuf>,
}

/// The main job: base → apply → build → boot → test, base and patched side by side.
///
/// Writes out/report/<time>/ (report.json, table.txt, console and KTAP logs
/// per boot; out/report/latest points there) and fails when any boot failed.
///
/// Examples:
///   tools/series run                       # ci config, intel, amd and virtio (x86_64)
///   tools/series run --config debug --iommu intel
///   tools/series run --iommu arm64         # smmuv3-dt and smmuv3-acpi only
///   tools/series run --iommu arm64 --config lockdep   # arm64 debug variant
///   tools/series run --ci                  # what CI runs (ci/kernel-stage)
#[derive(Args)]
#[command(verbatim_doc_comment)]
pub struct RunArgs {
    #[arg(long, default_value = "ci", help = CONFIG_HELP)]
    pub config: String,
    /// vIOMMUs, comma separated: intel, amd, virtio, smmuv3-dt,
    /// smmuv3-acpi; `x86_64` or `arm64` for all of one architecture; `all`.
    /// The arm64 targets need a second (cross) build, so they are opt-in.
    #[arg(long, default_value = "x86_64")]
    pub iommu: String,
    /// CI mode: ci config and every vIOMMU whatever else is given, the base
    /// only on x86_64 (unless --base-iommu), boot timeout at most 600 s.
    #[arg(long)]
    pub ci: bool,
    /// Do not call ci/setup even when tools are missing.
    #[arg(long)]
    pub no_setup: bool,
    /// Only the base kernel (skip the patched side).
    #[arg(long, conflicts_with = "patched_only")]
    pub base_only: bool,
    /// Only the patched kernel (skip the base side): for a config whose
    /// base results are already known.
    #[arg(long, conflicts_with = "base_iommu")]
    pub patched_only: bool,
    /// Boot the base only under these vIOMMUs (comma separated; default:
    /// every one of --iommu). The other base cells read `not run`. For a
    /// config where only some base boots show something (ci/kernel-stage:
    /// the debug base oopses under virtio, one short boot).
    #[arg(long)]
    pub base_iommu: Option<String>,
    /// Guest tests directory (default: built with ci/guest/build.sh).
    #[arg(long)]
    pub tests: Option<PathBuf>,
    /// Hard timeout per boot, in seconds.
    #[arg(long, default_value_t = 900)]
    pub timeout: u64,
    /// Guests booted at the same time (each its own QEMU). Under TCG a
    /// guest keeps about one host CPU busy: 2 on a 2-CPU machine takes
    /// little longer than one boot for two (docs/pipeline.md).
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub boots: usize,
    /// Also write the results as KCIDB JSON (schema v5.3) to this file:
    /// checkout = base, or base + the series' patchset_hash.
    #[arg(long)]
    pub kcidb: Option<PathBuf>,
    /// vIOMMUs (comma separated) under which the unpatched base is known
    /// to fail, a bug the series fixes: such a base FAIL still shows in the
    /// table (`FAIL (n, known)`) but only fails the run when the patched
    /// side did not pass under the same vIOMMU. Default: the manifest's
    /// `base.known_failures`; an empty value lists none.
    #[arg(long, value_name = "IOMMUS")]
    pub known_base_failure: Option<String>,
    /// Guest tests (comma separated) that show a bug of the base the
    /// series fixes: a base boot whose only failures are these tests is
    /// shown as `FAIL (n, known)` and fails the run only when the patched
    /// side did not pass under the same vIOMMU. `owner_regress` (the
    /// regression tests of the project's kernel-overlay) by default; an
    /// empty value lists none.
    #[arg(long, value_name = "TESTS", default_value = "owner_regress")]
    pub expected_base_failure: Option<String>,
}

/// `--config` of build, test and run.
const CONFIG_HELP: &str = "Config variant: ci, or the name of a fragment \
    kernel-overlay/kernel/configs/series-NAME.config laid over the ci one \
    (debug, lockdep, kasan, noiommu)";

fn overlay_dir() -> PathBuf {
    paths::project_root().join("kernel-overlay")
}

fn tree_label(tree: &Path) -> String {
    tree.file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_else(|| "linux".into())
}

/// The default build directory name: `<tree>-<config>` for x86_64,
/// `<tree>-<arch>-<config>` for the others.
fn build_label(tree: &Path, arch: &ArchProfile, config: &str) -> String {
    if arch == &profile::X86_64 {
        format!("{}-{config}", tree_label(tree))
    } else {
        format!("{}-{}-{config}", tree_label(tree), arch.name)
    }
}

fn build_plan(
    tree: &Path,
    arch: &'static ArchProfile,
    config: &str,
    build_dir: Option<PathBuf>,
    jobs: Option<usize>,
) -> Result<BuildPlan> {
    let tree = tree.canonicalize().with_context(|| {
        format!(
            "kernel tree {} not found; run `series base` first",
            tree.display()
        )
    })?;
    let build_dir = build_dir.unwrap_or_else(|| {
        paths::out_dir()
            .join("build")
            .join(build_label(&tree, arch, config))
    });
    Ok(BuildPlan {
        tree,
        arch,
        build_dir,
        fragments: kbuild::fragments_for(&overlay_dir(), arch, config)?,
        jobs: jobs.unwrap_or_else(kbuild::default_jobs),
        lock: std::env::var_os("SERIES_KBUILD_LOCK")
            .map(PathBuf::from)
            .or_else(|| {
                let p = PathBuf::from("/tmp/kbuild.lock");
                p.exists().then_some(p)
            }),
    })
}

fn do_build(plan: &BuildPlan) -> Result<BuildOutput> {
    let pb = progress::spinner(&format!("building {}", plan.build_dir.display()));
    let result = kbuild::build(plan, &mut |msg| pb.set_message(msg.to_string()));
    pb.finish_and_clear();
    let out = result?;
    eprintln!(
        "built {} in {:.0}s, +{:.0}s waiting for the build lock (log {})",
        out.image.display(),
        out.seconds,
        out.lock_wait_seconds,
        out.log.display()
    );
    Ok(out)
}

pub fn build(_patches: &Path, a: BuildArgs) -> Result<()> {
    let arch = ArchProfile::parse(&a.arch)?;
    let tree = a.tree.unwrap_or_else(paths::default_tree);
    let plan = build_plan(&tree, arch, &a.config, a.build_dir, a.jobs)?;
    if !a.targets.is_empty() {
        let targets: Vec<&str> = a.targets.iter().map(String::as_str).collect();
        let pb = progress::spinner(&format!("building {}", plan.build_dir.display()));
        let result =
            kbuild::build_targets(&plan, &targets, &mut |msg| pb.set_message(msg.to_string()));
        pb.finish_and_clear();
        let seconds = result?;
        eprintln!(
            "built {} in {} in {seconds:.0}s (log {})",
            a.targets.join(" "),
            plan.build_dir.display(),
            plan.log_path().display()
        );
        println!("{}", plan.build_dir.display());
        return Ok(());
    }
    let out = do_build(&plan)?;
    println!("{}", out.image.display());
    Ok(())
}

/// The build directory an image came from (`<dir>/arch/<arch>/boot/<image>`).
pub(crate) fn build_dir_of(kernel: &Path) -> Option<PathBuf> {
    let dir = kernel.parent()?.parent()?.parent()?.parent()?;
    dir.join(".config").is_file().then(|| dir.to_path_buf())
}

/// The guest tests for a kernel: the directory given, or built next to
/// the kernel's `series build` directory.
pub(crate) fn tests_for_kernel(
    kernel: &Path,
    arch: &ArchProfile,
    tests: Option<PathBuf>,
) -> Result<PathBuf> {
    if let Some(t) = tests {
        return Ok(t);
    }
    let bd = build_dir_of(kernel).with_context(|| {
        format!(
            "{} is not in a `series build` directory: pass --tests",
            kernel.display()
        )
    })?;
    guest_tests(&bd, arch, None)
}

/// Build the guest tests with ci/guest/build.sh into `<build dir>/guest`.
fn guest_tests(build_dir: &Path, arch: &ArchProfile, tree: Option<&Path>) -> Result<PathBuf> {
    let script = paths::project_root().join("ci/guest/build.sh");
    if !script.is_file() {
        bail!(
            "{} is missing: pass --tests DIR (run-tests.sh and bin/)",
            script.display()
        );
    }
    let headers = build_dir.join("usr");
    if !headers.join("include").is_dir() {
        bail!(
            "{} has no UAPI headers; run `series build` for this kernel",
            build_dir.display()
        );
    }
    let out = build_dir.join("guest");
    let _ = std::fs::remove_dir_all(&out);
    std::fs::create_dir_all(&out)?;
    let log = build_dir.join("guest-build.log");
    // The kernel source (for kselftest.h and the iommufd selftests): the
    // tree given, or the `source` link kbuild leaves in an O= directory.
    let ksrc = tree
        .map(Path::to_path_buf)
        .or_else(|| build_dir.join("source").canonicalize().ok());
    let mut cmd = Command::new("sh");
    // Static programs for the guest's architecture (build.sh takes $CC);
    // the busybox script also unpacks the sysroot some arches link from.
    busybox_for(arch)?;
    cmd.env("CC", arch.guest_cc(&paths::cache_dir()));
    // The test-only module is built like the kernel it loads into.
    cmd.env("ARCH", arch.make_arch);
    cmd.env("CROSS_COMPILE", arch.cross_compile);
    cmd.arg(&script).arg(&out).arg(&headers);
    if let Some(t) = &ksrc {
        cmd.arg(t);
    }
    let status = cmd
        .stdout(std::fs::File::create(&log)?)
        .stderr(std::fs::File::create(build_dir.join("guest-build.err"))?)
        .status()
        .context("cannot run ci/guest/build.sh")?;
    if !status.success() {
        let err = std::fs::read_to_string(build_dir.join("guest-build.err")).unwrap_or_default();
        let tail: Vec<&str> = err
            .lines()
            .rev()
            .take(15)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        bail!(
            "ci/guest/build.sh failed:\n{}\n(log {})",
            tail.join("\n"),
            log.display()
        );
    }
    Ok(out)
}

/// The guest's busybox for `arch`: the host's, or the one a ci/ script
/// unpacks into ~/.cache/series (run when it is not there yet).
fn busybox_for(arch: &ArchProfile) -> Result<PathBuf> {
    let cache = paths::cache_dir();
    let path = arch.busybox_path(&cache);
    if let BusyboxSource::Fetched { script, .. } = arch.busybox {
        if !path.is_file() {
            let script = paths::project_root().join(script);
            eprintln!("no {} busybox yet: running {}", arch.name, script.display());
            let status = Command::new(&script)
                .env("SERIES_CACHE", &cache)
                .stdout(std::process::Stdio::null())
                .status()
                .with_context(|| format!("cannot run {}", script.display()))?;
            if !status.success() || !path.is_file() {
                bail!(
                    "{} did not provide {}; run it by hand to see why",
                    script.display(),
                    path.display()
                );
            }
        }
    }
    Ok(path)
}

/// Pack the initramfs for one kernel and its tests.
pub(crate) fn make_initramfs(tests: &Path, arch: &ArchProfile, dest: &Path) -> Result<()> {
    let spec = InitramfsSpec {
        busybox: busybox_for(arch)?,
        elf_machine: arch.elf_machine,
        tests_dir: tests.to_path_buf(),
    };
    initramfs::write(&spec, dest)
}

fn boot_one(
    kernel: &Path,
    initrd: &Path,
    iommu: Viommu,
    out: &Path,
    timeout: u64,
    bars: Option<&indicatif::MultiProgress>,
) -> Result<BootRun> {
    let qemu = QemuSpec {
        kernel: kernel.to_path_buf(),
        initrd: initrd.to_path_buf(),
        iommu,
        qmp_socket: kboot::qmp_socket_path(out, iommu.name()),
        memory_mb: 1024,
        cpus: 2,
        kvm: kboot::kvm_usable(iommu.arch()),
    };
    let req = BootRequest {
        qemu,
        out_dir: out.to_path_buf(),
        timeout: Duration::from_secs(timeout),
    };
    let mut pb = progress::spinner(&format!("booting under {}", iommu.name()));
    if let Some(bars) = bars {
        pb = bars.add(pb);
    }
    let name = iommu.name();
    let run = kboot::boot(&req, &mut |m| pb.set_message(format!("{name}: {m}")));
    pb.finish_and_clear();
    let run = run?;
    let verdict = if run.passed() { "PASS" } else { "FAIL" };
    let line = format!(
        "{verdict} {} ({}, KTAP end at {}, {:.1}s total) — {}",
        iommu.name(),
        run.accel.as_deref().unwrap_or("?"),
        run.ktap_end_seconds
            .map(|s| format!("{s:.1}s"))
            .unwrap_or_else(|| "-".into()),
        run.seconds,
        run.console_log.display()
    );
    match bars {
        Some(bars) => bars.suspend(|| eprintln!("{line}")),
        None => eprintln!("{line}"),
    }
    Ok(run)
}

fn print_failures(run: &BootRun) {
    for f in run.failures() {
        eprintln!("  {f}");
    }
}

fn default_kernel(arch: &ArchProfile) -> PathBuf {
    paths::out_dir()
        .join("build")
        .join(build_label(&paths::default_tree(), arch, "ci"))
        .join(arch.image_path)
}

/// The architecture of a kernel image, from its boot header: arm64's
/// `Image` has the magic `ARM\x64` at 0x38, x86's bzImage `HdrS` at 0x202.
fn image_arch(kernel: &Path) -> Result<&'static ArchProfile> {
    let mut head = vec![0u8; 0x206];
    let n = {
        use std::io::Read;
        let mut f = std::fs::File::open(kernel)
            .with_context(|| format!("cannot read kernel image {}", kernel.display()))?;
        f.read(&mut head)?
    };
    let head = &head[..n];
    if head.get(0x38..0x3c) == Some(b"ARM\x64") {
        Ok(&profile::ARM64)
    } else if head.get(0x202..0x206) == Some(b"HdrS") {
        Ok(&profile::X86_64)
    } else {
        bail!(
            "{} is neither an x86 bzImage nor an arm64 Image",
            kernel.display()
        )
    }
}

pub fn boot(_patches: &Path, a: BootArgs) -> Result<()> {
    let iommu = Viommu::parse(&a.iommu)?;
    let arch = iommu.arch();
    let kernel = a.kernel.unwrap_or_else(|| default_kernel(arch));
    if !kernel.is_file() {
        bail!(
            "no kernel at {}: run `series build` or pass --kernel",
            kernel.display()
        );
    }
    let out = a
        .out
        .unwrap_or_else(|| paths::out_dir().join("boot").join(iommu.name()));
    std::fs::create_dir_all(&out)?;
    let found = image_arch(&kernel)?;
    if found != arch {
        bail!(
            "{} is an {} kernel; {} boots {} kernels",
            kernel.display(),
            found.name,
            iommu.name(),
            arch.name
        );
    }
    let tests = tests_for_kernel(&kernel, arch, a.tests)?;
    let initrd = out.join("initramfs.cpio");
    make_initramfs(&tests, arch, &initrd)?;
    let run = boot_one(&kernel, &initrd, iommu, &out, a.timeout, None)?;
    if let Some(doc) = &run.report.ktap {
        let c = doc.leaf_counts();
        println!(
            "{} tests: {} pass, {} fail, {} skip",
            doc.tests.len(),
            c.pass,
            c.fail,
            c.skip
        );
    }
    if !run.passed() {
        print_failures(&run);
        bail!(
            "boot under {} failed (console: {})",
            iommu.name(),
            run.console_log.display()
        );
    }
    Ok(())
}

/// A kernel ready to boot: the image and the guest tests built for it.
struct ReadyKernel {
    arch: &'static ArchProfile,
    kernel: PathBuf,
    tests: PathBuf,
}

/// Boot `k` under each vIOMMU of its architecture, into
/// `<report_dir>/<side>-<iommu>/`.
fn test_side(
    side: &str,
    k: &ReadyKernel,
    iommus: &[Viommu],
    report_dir: &Path,
    timeout: u64,
    at_once: usize,
) -> Result<Vec<BootSummary>> {
    let initrd = report_dir.join(format!("{side}-{}-initramfs.cpio", k.arch.name));
    make_initramfs(&k.tests, k.arch, &initrd)?;
    let targets: Vec<Viommu> = iommus
        .iter()
        .copied()
        .filter(|v| v.arch() == k.arch)
        .collect();
    let runs = boot_all(
        &k.kernel, &initrd, &targets, report_dir, side, timeout, at_once,
    );
    let _ = std::fs::remove_file(&initrd);
    let mut out = Vec::new();
    for (iommu, run) in targets.iter().zip(runs) {
        let run = run?;
        if !run.passed() {
            print_failures(&run);
        }
        out.push(BootSummary::from_run(side, *iommu, &run));
    }
    Ok(out)
}

/// Boot `kernel` under each target, `at_once` guests at a time (each its
/// own QEMU, console log and QMP socket); the results in `targets` order.
/// A guest under TCG keeps about one host CPU busy (the tests run one
/// program at a time), so on a 2-CPU host two boots at once take little
/// longer than one.
fn boot_all(
    kernel: &Path,
    initrd: &Path,
    targets: &[Viommu],
    report_dir: &Path,
    side: &str,
    timeout: u64,
    at_once: usize,
) -> Vec<Result<BootRun>> {
    let dir_of = |iommu: Viommu| report_dir.join(format!("{side}-{}", iommu.name()));
    if at_once <= 1 || targets.len() <= 1 {
        return targets
            .iter()
            .map(|&v| boot_one(kernel, initrd, v, &dir_of(v), timeout, None))
            .collect();
    }
    let bars = indicatif::MultiProgress::new();
    let next = std::sync::atomic::AtomicUsize::new(0);
    let results: Vec<std::sync::Mutex<Option<Result<BootRun>>>> = targets
        .iter()
        .map(|_| std::sync::Mutex::new(None))
        .collect();
    std::thread::scope(|scope| {
        for _ in 0..at_once.min(targets.len()) {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let Some(&iommu) = targets.get(i) else { break };
                let run = boot_one(kernel, initrd, iommu, &dir_of(iommu), timeout, Some(&bars));
                *results[i].lock().unwrap_or_else(|e| e.into_inner()) = Some(run);
            });
        }
    });
    results
        .into_iter()
        .map(|slot| {
            slot.into_inner()
                .unwrap_or_else(|e| e.into_inner())
                .unwrap_or_else(|| Err(anyhow::anyhow!("a boot thread ended without a result")))
        })
        .collect()
}

fn new_report_dir() -> Result<PathBuf> {
    let root = paths::out_dir().join("report");
    let stamp = Command::new("date")
        .args(["-u", "+%Y%m%d-%H%M%S"])
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| format!("pid{}", std::process::id()));
    let dir = root.join(&stamp);
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let latest = root.join("latest");
    let _ = std::fs::remove_file(&latest);
    let _ = std::os::unix::fs::symlink(&stamp, &latest);
    Ok(dir)
}

/// Writes the run's own report (table.txt, report.json) and, after it, the
/// extra KCIDB output; then gives the verdict. The report is written
/// whatever happens to the extra output, and a failed extra output fails
/// the run after the verdict was printed.
fn finish_run(
    report: &Report,
    dir: &Path,
    kcidb_out: Option<(&kcidb::Source, &Path)>,
) -> Result<()> {
    let table = report.table();
    let path = dir.join("table.txt");
    std::fs::write(&path, &table).with_context(|| format!("cannot write {}", path.display()))?;
    let path = dir.join("report.json");
    std::fs::write(&path, serde_json::to_string_pretty(report)?)
        .with_context(|| format!("cannot write {}", path.display()))?;
    println!("{table}");
    println!("report: {}", dir.display());
    let extra = kcidb_out.and_then(|(src, path)| write_kcidb(report, src, path).err());
    if let Some(e) = &extra {
        eprintln!(
            "series: error: {e:#} (the run's report is in {})",
            dir.display()
        );
    }
    verdict(report, dir)?;
    match extra {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// Refuses, before any work, an output file that cannot be written: a run
/// must not boot for twenty minutes and then lose its results.
fn check_writable(path: &Path, flag: &str) -> Result<()> {
    let existed = path.exists();
    std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(path)
        .with_context(|| {
            format!(
                "cannot write {flag} {}: nothing was built or booted; give a writable path",
                path.display()
            )
        })?;
    if !existed {
        let _ = std::fs::remove_file(path);
    }
    Ok(())
}

fn verdict(report: &Report, dir: &Path) -> Result<()> {
    let failures = report.failure_lines();
    if !report.passed() {
        for f in &failures {
            eprintln!("  {f}");
        }
        bail!(
            "kernel tests failed ({} problem(s)); see {}",
            failures.len().max(1),
            dir.display()
        );
    }
    Ok(())
}

/// Build a tree's kernel and its guest tests. The tests' sources (the
/// selftests) come from `test_src`, or from the tree itself.
fn ready_kernel(
    tree: &Path,
    arch: &'static ArchProfile,
    config: &str,
    tests: Option<&Path>,
    test_src: Option<&Path>,
) -> Result<(ReadyKernel, BuildOutput)> {
    let plan = build_plan(tree, arch, config, None, None)?;
    let out = do_build(&plan)?;
    let tests = match tests {
        Some(t) => t.to_path_buf(),
        None => guest_tests(&plan.build_dir, arch, Some(test_src.unwrap_or(&plan.tree)))?,
    };
    Ok((
        ReadyKernel {
            arch,
            kernel: out.image.clone(),
            tests,
        },
        out,
    ))
}

pub fn test(_patches: &Path, a: TestArgs) -> Result<()> {
    if let Some(path) = &a.kcidb {
        check_writable(path, "--kcidb")?;
    }
    let mut iommus = Viommu::parse_list(&a.iommu)?;
    let mut sides = Vec::new();
    let mut kernels = Vec::new();
    match a.kernel {
        Some(kernel) => {
            // One image, one architecture: the targets that can boot it.
            let arch = image_arch(&kernel)?;
            iommus.retain(|v| v.arch() == arch);
            if iommus.is_empty() {
                bail!(
                    "{} is an {} kernel and none of --iommu {} boots it",
                    kernel.display(),
                    arch.name,
                    a.iommu
                );
            }
            let tests = tests_for_kernel(&kernel, arch, a.tests)?;
            sides.push(SideStatus {
                name: "kernel".into(),
                arch: arch.name.into(),
                status: "built".into(),
                tree: None,
                kernel: Some(kernel.clone()),
                build_seconds: None,
            });
            kernels.push(ReadyKernel {
                arch,
                kernel,
                tests,
            });
        }
        None => {
            let tree = a.tree.unwrap_or_else(paths::default_tree);
            for arch in profile::arches_of(&iommus) {
                let (k, out) = ready_kernel(&tree, arch, &a.config, a.tests.as_deref(), None)?;
                sides.push(SideStatus {
                    name: tree_label(&tree),
                    arch: arch.name.into(),
                    status: "built".into(),
                    tree: Some(tree.clone()),
                    kernel: Some(out.image),
                    build_seconds: Some(out.seconds),
                });
                kernels.push(k);
            }
        }
    };
    let dir = new_report_dir()?;
    let mut boots = Vec::new();
    for (k, st) in kernels.iter().zip(&sides) {
        boots.extend(test_side(&st.name, k, &iommus, &dir, a.timeout, a.boots)?);
    }
    let report = Report {
        config: a.config,
        sides,
        iommus,
        boots,
        known_base_failures: Vec::new(),
        expected_base_test_failures: Vec::new(),
    };
    // The tree's HEAD is what was tested (a series applied as commits is
    // part of it): no separate patchset.
    let src = kcidb::Source {
        base_commit: report.sides[0]
            .tree
            .as_deref()
            .and_then(|t| git_rev(t, "HEAD")),
        base_name: None,
        patches: Vec::new(),
        arch: "x86_64".into(),
        log_base_url: None,
    };
    finish_run(&report, &dir, a.kcidb.as_deref().map(|p| (&src, p)))
}

/// `git rev-parse REV` in a tree, when it works.
fn git_rev(tree: &Path, rev: &str) -> Option<String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(tree)
        .args(["rev-parse", "--verify", "--quiet", rev])
        .output()
        .ok()?;
    let s = String::from_utf8_lossy(&out.stdout).trim().to_string();
    (out.status.success() && s.len() == 40).then_some(s)
}

/// Write a run's KCIDB JSON and say where.
fn write_kcidb(report: &Report, src: &kcidb::Source, path: &Path) -> Result<()> {
    let doc = kcidb::from_report(report, src)?;
    let problems = kcidb::completeness_problems(&doc);
    if !problems.is_empty() {
        bail!("KCIDB output incomplete: {}", problems.join("; "));
    }
    std::fs::write(path, serde_json::to_string_pretty(&doc)?)
        .with_context(|| format!("cannot write {}", path.display()))?;
    eprintln!(
        "KCIDB: {} ({} tests; check with ci/kcidb/validate)",
        path.display(),
        doc["tests"].as_array().map_or(0, |t| t.len())
    );
    Ok(())
}

/// Tools `run` needs; when one is missing it calls ci/setup.
const NEEDED_TOOLS: &[&str] = &["make", "gcc", "flex", "bison", "bc", "git", "cpio"];

/// The tools plus each architecture's QEMU and compiler.
fn missing_tools(arches: &[&'static ArchProfile]) -> Vec<String> {
    let mut tools: Vec<String> = NEEDED_TOOLS.iter().map(|t| t.to_string()).collect();
    for arch in arches {
        tools.push(arch.qemu.to_string());
        tools.push(arch.user_cc());
    }
    tools
        .into_iter()
        .filter(|t| !series_kernel::build::have(t))
        .collect()
}

fn ensure_setup(arches: &[&'static ArchProfile]) -> Result<()> {
    let missing = missing_tools(arches);
    let no_busybox = !Path::new("/bin/busybox").is_file();
    if missing.is_empty() && !no_busybox {
        return Ok(());
    }
    eprintln!("missing tools ({}): running ci/setup", missing.join(" "));
    let status = Command::new(paths::project_root().join("ci/setup"))
        .status()
        .context("cannot run ci/setup")?;
    if !status.success() {
        bail!("ci/setup failed; install the packages it lists and run again");
    }
    Ok(())
}

/// Run this same `series` binary with another verb.
fn git(tree: &Path, args: &[&str]) -> Result<()> {
    let out = Command::new("git")
        .arg("-C")
        .arg(tree)
        .args(args)
        .output()
        .context("cannot run git")?;
    if !out.status.success() {
        bail!(
            "git {} in {} failed: {}",
            args.join(" "),
            tree.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

/// Does the series directory hold any patch yet?
fn has_patches(patches: &Path) -> bool {
    std::fs::read_dir(patches)
        .map(|rd| {
            rd.flatten()
                .any(|e| e.file_name().to_string_lossy().ends_with(".patch"))
        })
        .unwrap_or(false)
}

/// The patched work tree: a work tree of the base, reset to the base
/// commit (files that did not change keep their times, so the build stays
/// incremental), then `series apply`.
fn prepare_patched(patches: &Path, tree: &Path) -> Result<()> {
    hand_out_worktree(patches, tree)?;
    git(
        tree,
        &[
            "checkout",
            "--quiet",
            "--force",
            "--detach",
            crate::base_cache::BASE_REF,
        ],
    )?;
    git(tree, &["clean", "--quiet", "-fdx"])?;
    crate::cmd_apply::run(
        patches,
        crate::cmd_apply::ApplyArgs {
            tree: Some(tree.to_path_buf()),
            branch: None,
            input: None,
            force_base: false,
            abort: false,
        },
    )
}

/// `series base --worktree TREE`, in process.
fn hand_out_worktree(patches: &Path, tree: &Path) -> Result<()> {
    crate::cmd_base::run(
        patches,
        crate::cmd_base::BaseArgs {
            tree: None,
            worktree: Some(tree.to_path_buf()),
            no_worktree: false,
        },
    )
}

/// Build one side for one architecture, turning a failure into its
/// status line.
fn build_side(
    name: &str,
    tree: &Path,
    arch: &'static ArchProfile,
    config: &str,
    tests: Option<&Path>,
    test_src: Option<&Path>,
) -> (Option<ReadyKernel>, SideStatus) {
    let mut st = SideStatus {
        name: name.into(),
        arch: arch.name.into(),
        status: "built".into(),
        tree: Some(tree.to_path_buf()),
        kernel: None,
        build_seconds: None,
    };
    match ready_kernel(tree, arch, config, tests, test_src) {
        Ok((k, out)) => {
            st.kernel = Some(out.image);
            st.build_seconds = Some(out.seconds);
            (Some(k), st)
        }
        Err(e) => {
            eprintln!("{name} ({}): {e:#}", arch.name);
            st.status = format!(
                "build failed: {}",
                format!("{e:#}").lines().next().unwrap_or("")
            );
            (None, st)
        }
    }
}

/// A side that did not get to the build, for every architecture.
fn unbuilt(
    name: &str,
    arches: &[&'static ArchProfile],
    status: &str,
    tree: Option<&Path>,
) -> Vec<SideStatus> {
    arches
        .iter()
        .map(|arch| SideStatus {
            name: name.into(),
            arch: arch.name.into(),
            status: status.into(),
            tree: tree.map(Path::to_path_buf),
            kernel: None,
            build_seconds: None,
        })
        .collect()
}

/// The vIOMMUs the base boots under: `--base-iommu`, which must be among
/// the run's, or all of them.
fn base_boot_targets(a: &RunArgs, iommus: &[Viommu]) -> Result<Vec<Viommu>> {
    let Some(list) = &a.base_iommu else {
        if a.ci {
            // CI boots the base on x86_64 only: its arm64 results are the
            // base's own (docs/pipeline.md) and a second arm64 build would
            // not fit CI's hour.
            return Ok(iommus
                .iter()
                .copied()
                .filter(|v| v.arch().name == CI_BASE_ARCH)
                .collect());
        }
        return Ok(iommus.to_vec());
    };
    let listed = Viommu::parse_list(list)?;
    if let Some(v) = listed.iter().find(|v| !iommus.contains(v)) {
        bail!(
            "--base-iommu {} is not among the vIOMMUs of this run ({}): add it to --iommu",
            v.name(),
            iommus
                .iter()
                .map(|v| v.name())
                .collect::<Vec<_>>()
                .join(",")
        );
    }
    Ok(listed)
}

/// The architecture whose base `run --ci` builds and boots.
const CI_BASE_ARCH: &str = "x86_64";

/// `--known-base-failure`, or else the manifest's `base.known_failures`.
fn known_base_failures(a: &RunArgs, patches: &Path) -> Result<Vec<Viommu>> {
    if let Some(list) = &a.known_base_failure {
        return Viommu::parse_list(list);
    }
    match crate::manifest::Manifest::load(patches) {
        Ok(m) if !m.base.known_failures.is_empty() => {
            Viommu::parse_list(&m.base.known_failures.join(",")).with_context(|| {
                format!("base.known_failures of {}/series.toml", patches.display())
            })
        }
        _ => Ok(Vec::new()),
    }
}

pub fn run(patches: &Path, a: RunArgs) -> Result<()> {
    let start = Instant::now();
    if let Some(path) = &a.kcidb {
        check_writable(path, "--kcidb")?;
    }
    let (config, iommus) = if a.ci {
        ("ci".to_string(), Viommu::parse_list("all")?)
    } else {
        (a.config.clone(), Viommu::parse_list(&a.iommu)?)
    };
    let arches = profile::arches_of(&iommus);
    let timeout = if a.ci { a.timeout.min(600) } else { a.timeout };
    let base_iommus = base_boot_targets(&a, &iommus)?;
    let known_base_failures = known_base_failures(&a, patches)?;
    if !a.no_setup {
        ensure_setup(&arches)?;
    }
    let work = paths::out_dir().join("run");
    let base_tree = work.join("base");
    let patched_tree = work.join("patched");
    hand_out_worktree(patches, &base_tree)?;
    // What the KCIDB output will say about the source, known before any
    // build: a problem with it shows now, not after the boots.
    let src = match &a.kcidb {
        Some(_) => {
            let manifest = crate::manifest::Manifest::load(patches).ok();
            Some(kcidb::Source {
                base_commit: git_rev(&base_tree, crate::base_cache::BASE_REF)
                    .or_else(|| git_rev(&base_tree, "HEAD")),
                base_name: manifest
                    .and_then(|m| Some(format!("{} {}", m.base.package?, m.base.package_version?))),
                patches: if a.base_only {
                    Vec::new()
                } else {
                    crate::cmd_check::patch_files(patches)?.patches
                },
                arch: "x86_64".into(),
                log_base_url: None,
            })
        }
        None => None,
    };
    let dir = new_report_dir()?;
    let mut sides = Vec::new();
    let mut boots = Vec::new();

    // The patched tree is made first (apply takes seconds): its selftests
    // (the series adds dma_owner) are built once per side from it, so base
    // and patched kernels run the same tests.
    let applied = if a.base_only || !has_patches(patches) {
        None
    } else {
        Some(prepare_patched(patches, &patched_tree))
    };
    let test_src = match &applied {
        Some(Ok(())) => Some(patched_tree.as_path()),
        _ => None,
    };

    // Base first, each architecture booted right after its build: the
    // first verdict comes before the other builds.
    // An architecture with no base boot gets no base build either.
    let base_arches = arches
        .iter()
        .filter(|&&arch| !a.patched_only && base_iommus.iter().any(|v| v.arch() == arch));
    for &arch in base_arches {
        let (k, st) = build_side(
            "base",
            &base_tree,
            arch,
            &config,
            a.tests.as_deref(),
            test_src,
        );
        sides.push(st);
        if let Some(k) = &k {
            boots.extend(test_side("base", k, &base_iommus, &dir, timeout, a.boots)?);
        }
    }
    match applied {
        None if a.base_only => {}
        None => sides.extend(unbuilt("patched", &arches, "no series", None)),
        Some(Ok(())) => {
            for &arch in &arches {
                let (k, st) = build_side(
                    "patched",
                    &patched_tree,
                    arch,
                    &config,
                    a.tests.as_deref(),
                    test_src,
                );
                sides.push(st);
                if let Some(k) = &k {
                    boots.extend(test_side("patched", k, &iommus, &dir, timeout, a.boots)?);
                }
            }
        }
        Some(Err(e)) => {
            let why = format!(
                "apply failed: {}",
                format!("{e:#}").lines().next().unwrap_or("")
            );
            sides.extend(unbuilt("patched", &arches, &why, Some(&patched_tree)));
        }
    }
    let report = Report {
        config,
        sides,
        iommus,
        boots,
        known_base_failures,
        expected_base_test_failures: a
            .expected_base_failure
            .as_deref()
            .map(|l| {
                l.split(',')
                    .map(|t| t.trim().to_string())
                    .filter(|t| !t.is_empty())
                    .collect()
            })
            .unwrap_or_default(),
    };
    eprintln!("run took {:.0}s", start.elapsed().as_secs_f64());
    finish_run(&report, &dir, src.as_ref().zip(a.kcidb.as_deref()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Wrap {
        #[command(flatten)]
        run: RunArgs,
    }

    fn run_args(words: &[&str]) -> RunArgs {
        Wrap::parse_from(std::iter::once("run").chain(words.iter().copied())).run
    }

    #[test]
    fn ci_boots_the_base_on_x86_64_only_unless_told() {
        let all = Viommu::parse_list("all").unwrap();
        let base = base_boot_targets(&run_args(&["--ci"]), &all).unwrap();
        assert_eq!(base, Viommu::parse_list("x86_64").unwrap());
        let base = base_boot_targets(&run_args(&["--ci", "--base-iommu", "smmuv3-dt"]), &all);
        assert_eq!(base.unwrap(), [Viommu::Smmuv3Dt]);
        let arm = Viommu::parse_list("arm64").unwrap();
        assert_eq!(base_boot_targets(&run_args(&[]), &arm).unwrap(), arm);
    }
}
