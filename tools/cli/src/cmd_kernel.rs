//! `series build`, `boot`, `test`, `run`: the kernel pipeline (the work is
//! done by the series-kernel crate; this module wires paths and verbs).

use crate::{paths, progress};
use anyhow::{bail, Context, Result};
use clap::Args;
use series_kernel::boot::{self as kboot, BootRequest, BootRun};
use series_kernel::build::{self as kbuild, BuildOutput, BuildPlan};
use series_kernel::initramfs::{self, InitramfsSpec};
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
#[derive(Args)]
#[command(verbatim_doc_comment)]
pub struct BuildArgs {
    /// Kernel tree (default: out/linux, made by `series base`).
    #[arg(long)]
    pub tree: Option<PathBuf>,
    /// Config fragment name: ci or debug.
    #[arg(long, default_value = "ci")]
    pub config: String,
    /// Build directory (default: out/build/<tree name>-<config>).
    #[arg(long)]
    pub build_dir: Option<PathBuf>,
    /// Parallel jobs (default: number of CPUs).
    #[arg(long)]
    pub jobs: Option<usize>,
}

/// Boot a kernel in QEMU under a virtual IOMMU and run the guest tests.
///
/// Examples:
///   tools/series boot --iommu amd --kernel out/build/patched-ci/arch/x86/boot/bzImage
///   SERIES_GUEST_ENV="DMA_OWNER_CYCLES=20" tools/series boot --iommu intel
#[derive(Args)]
#[command(verbatim_doc_comment)]
pub struct BootArgs {
    /// intel, amd or virtio.
    #[arg(long, default_value = "intel")]
    pub iommu: String,
    /// bzImage to boot (default: the `build` output of out/linux, ci config).
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
#[derive(Args)]
#[command(verbatim_doc_comment)]
pub struct TestArgs {
    /// bzImage to test (default: build --tree/--config first, or use its output).
    #[arg(long)]
    pub kernel: Option<PathBuf>,
    /// Kernel tree to build and test (default: out/linux).
    #[arg(long)]
    pub tree: Option<PathBuf>,
    /// Config variant: ci or debug.
    #[arg(long, default_value = "ci")]
    pub config: String,
    /// vIOMMUs, comma separated, or `all`.
    #[arg(long, default_value = "all")]
    pub iommu: String,
    /// Guest tests directory (default: built with ci/guest/build.sh).
    #[arg(long)]
    pub tests: Option<PathBuf>,
    /// Hard timeout per boot, in seconds.
    #[arg(long, default_value_t = 900)]
    pub timeout: u64,
}

/// The main job: base → apply → build → boot → test, base and patched side by side.
///
/// Writes out/report/<time>/ (report.json, table.txt, console and KTAP logs
/// per boot; out/report/latest points there) and fails when any boot failed.
///
/// Examples:
///   tools/series run                       # ci config, intel, amd and virtio
///   tools/series run --config debug --iommu intel
///   tools/series run --ci                  # what CI runs (ci/kernel-stage)
#[derive(Args)]
#[command(verbatim_doc_comment)]
pub struct RunArgs {
    /// Config variant: ci or debug.
    #[arg(long, default_value = "ci")]
    pub config: String,
    /// vIOMMUs, comma separated, or `all`.
    #[arg(long, default_value = "all")]
    pub iommu: String,
    /// CI mode: ci config and all vIOMMUs whatever else is given, boot timeout at most 600 s.
    #[arg(long)]
    pub ci: bool,
    /// Do not call ci/setup even when tools are missing.
    #[arg(long)]
    pub no_setup: bool,
    /// Only the base kernel (skip the patched side).
    #[arg(long)]
    pub base_only: bool,
    /// Guest tests directory (default: built with ci/guest/build.sh).
    #[arg(long)]
    pub tests: Option<PathBuf>,
    /// Hard timeout per boot, in seconds.
    #[arg(long, default_value_t = 900)]
    pub timeout: u64,
    /// vIOMMUs (comma separated) under which the unpatched base is known
    /// to fail, a bug the series fixes: such a base FAIL still shows in the
    /// table (`FAIL (n, known)`) but only fails the run when the patched
    /// side did not pass under the same vIOMMU.
    #[arg(long, value_name = "IOMMUS")]
    pub known_base_failure: Option<String>,
}

fn overlay_dir() -> PathBuf {
    paths::project_root().join("kernel-overlay")
}

fn tree_label(tree: &Path) -> String {
    tree.file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_else(|| "linux".into())
}

fn build_plan(
    tree: &Path,
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
            .join(format!("{}-{config}", tree_label(&tree)))
    });
    Ok(BuildPlan {
        tree,
        build_dir,
        fragments: kbuild::fragments_for(&overlay_dir(), config)?,
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
        out.bzimage.display(),
        out.seconds,
        out.lock_wait_seconds,
        out.log.display()
    );
    Ok(out)
}

pub fn build(_patches: &Path, a: BuildArgs) -> Result<()> {
    let tree = a.tree.unwrap_or_else(paths::default_tree);
    let plan = build_plan(&tree, &a.config, a.build_dir, a.jobs)?;
    let out = do_build(&plan)?;
    println!("{}", out.bzimage.display());
    Ok(())
}

/// The build directory a bzImage came from (`<dir>/arch/x86/boot/bzImage`).
fn build_dir_of(kernel: &Path) -> Option<PathBuf> {
    let dir = kernel.parent()?.parent()?.parent()?.parent()?;
    dir.join(".config").is_file().then(|| dir.to_path_buf())
}

/// The guest tests for a kernel: the directory given, or built next to
/// the kernel's `series build` directory.
fn tests_for_kernel(kernel: &Path, tests: Option<PathBuf>) -> Result<PathBuf> {
    if let Some(t) = tests {
        return Ok(t);
    }
    let bd = build_dir_of(kernel).with_context(|| {
        format!(
            "{} is not in a `series build` directory: pass --tests",
            kernel.display()
        )
    })?;
    guest_tests(&bd, None)
}

/// Build the guest tests with ci/guest/build.sh into `<build dir>/guest`.
fn guest_tests(build_dir: &Path, tree: Option<&Path>) -> Result<PathBuf> {
    let script = paths::project_root().join("ci/guest/build.sh");
    if !script.is_file() {
        bail!(
            "{} is missing: pass --tests DIR (run-tests.sh and bin/)",
            script.display()
        );
    }
    let headers = build_dir.join("uapi-headers");
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

/// Pack the initramfs for one kernel and its tests.
fn make_initramfs(tests: &Path, dest: &Path) -> Result<()> {
    let spec = InitramfsSpec {
        busybox: PathBuf::from("/bin/busybox"),
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
) -> Result<BootRun> {
    let qemu = QemuSpec {
        kernel: kernel.to_path_buf(),
        initrd: initrd.to_path_buf(),
        iommu,
        qmp_socket: kboot::qmp_socket_path(out, iommu.name()),
        memory_mb: 1024,
        cpus: 2,
        kvm: kboot::kvm_usable(),
    };
    let req = BootRequest {
        qemu,
        out_dir: out.to_path_buf(),
        timeout: Duration::from_secs(timeout),
    };
    let pb = progress::spinner(&format!("booting under {}", iommu.name()));
    let run = kboot::boot(&req, &mut |m| pb.set_message(m.to_string()));
    pb.finish_and_clear();
    let run = run?;
    let verdict = if run.passed() { "PASS" } else { "FAIL" };
    eprintln!(
        "{verdict} {} ({}, KTAP end at {}, {:.1}s total) — {}",
        iommu.name(),
        run.accel.as_deref().unwrap_or("?"),
        run.ktap_end_seconds
            .map(|s| format!("{s:.1}s"))
            .unwrap_or_else(|| "-".into()),
        run.seconds,
        run.console_log.display()
    );
    Ok(run)
}

fn print_failures(run: &BootRun) {
    for f in run.failures() {
        eprintln!("  {f}");
    }
}

fn default_kernel() -> PathBuf {
    paths::out_dir()
        .join("build")
        .join("linux-ci/arch/x86/boot/bzImage")
}

pub fn boot(_patches: &Path, a: BootArgs) -> Result<()> {
    let iommu = Viommu::parse(&a.iommu)?;
    let kernel = a.kernel.unwrap_or_else(default_kernel);
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
    let tests = tests_for_kernel(&kernel, a.tests)?;
    let initrd = out.join("initramfs.cpio");
    make_initramfs(&tests, &initrd)?;
    let run = boot_one(&kernel, &initrd, iommu, &out, a.timeout)?;
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

/// A kernel ready to boot: the bzImage and the guest tests built for it.
struct ReadyKernel {
    kernel: PathBuf,
    tests: PathBuf,
}

/// Boot `k` under each vIOMMU, into `<report_dir>/<side>-<iommu>/`.
fn test_side(
    side: &str,
    k: &ReadyKernel,
    iommus: &[Viommu],
    report_dir: &Path,
    timeout: u64,
) -> Result<Vec<BootSummary>> {
    let initrd = report_dir.join(format!("{side}-initramfs.cpio"));
    make_initramfs(&k.tests, &initrd)?;
    let mut out = Vec::new();
    for &iommu in iommus {
        let dir = report_dir.join(format!("{side}-{}", iommu.name()));
        let run = boot_one(&k.kernel, &initrd, iommu, &dir, timeout)?;
        if !run.passed() {
            print_failures(&run);
        }
        out.push(BootSummary::from_run(side, iommu, &run));
    }
    let _ = std::fs::remove_file(&initrd);
    Ok(out)
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

fn write_report(report: &Report, dir: &Path) -> Result<()> {
    let table = report.table();
    std::fs::write(dir.join("table.txt"), &table)?;
    std::fs::write(
        dir.join("report.json"),
        serde_json::to_string_pretty(report)?,
    )?;
    println!("{table}");
    println!("report: {}", dir.display());
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

/// Build a tree (or take a given bzImage) and its guest tests.
/// Build a tree's kernel and its guest tests. The tests' sources (the
/// selftests) come from `test_src`, or from the tree itself.
fn ready_kernel(
    tree: &Path,
    config: &str,
    tests: Option<&Path>,
    test_src: Option<&Path>,
) -> Result<(ReadyKernel, BuildOutput)> {
    let plan = build_plan(tree, config, None, None)?;
    let out = do_build(&plan)?;
    let tests = match tests {
        Some(t) => t.to_path_buf(),
        None => guest_tests(&plan.build_dir, Some(test_src.unwrap_or(&plan.tree)))?,
    };
    Ok((
        ReadyKernel {
            kernel: out.bzimage.clone(),
            tests,
        },
        out,
    ))
}

pub fn test(_patches: &Path, a: TestArgs) -> Result<()> {
    let iommus = Viommu::parse_list(&a.iommu)?;
    let (kernel, status) = match a.kernel {
        Some(kernel) => {
            let tests = tests_for_kernel(&kernel, a.tests)?;
            let st = SideStatus {
                name: "kernel".into(),
                status: "built".into(),
                tree: None,
                kernel: Some(kernel.clone()),
                build_seconds: None,
            };
            (ReadyKernel { kernel, tests }, st)
        }
        None => {
            let tree = a.tree.unwrap_or_else(paths::default_tree);
            let (k, out) = ready_kernel(&tree, &a.config, a.tests.as_deref(), None)?;
            let st = SideStatus {
                name: tree_label(&tree),
                status: "built".into(),
                tree: Some(tree),
                kernel: Some(out.bzimage),
                build_seconds: Some(out.seconds),
            };
            (k, st)
        }
    };
    let dir = new_report_dir()?;
    let boots = test_side(&status.name, &kernel, &iommus, &dir, a.timeout)?;
    let report = Report {
        config: a.config,
        sides: vec![status],
        iommus,
        boots,
        known_base_failures: Vec::new(),
    };
    write_report(&report, &dir)
}

/// Tools `run` needs; when one is missing it calls ci/setup.
const NEEDED_TOOLS: &[&str] = &[
    "make",
    "gcc",
    "flex",
    "bison",
    "bc",
    "qemu-system-x86_64",
    "git",
    "cpio",
];

fn missing_tools() -> Vec<&'static str> {
    NEEDED_TOOLS
        .iter()
        .copied()
        .filter(|t| {
            !Command::new("sh")
                .args(["-c", &format!("command -v {t} >/dev/null 2>&1")])
                .status()
                .map(|s| s.success())
                .unwrap_or(false)
        })
        .collect()
}

fn ensure_setup() -> Result<()> {
    let missing = missing_tools();
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
            series: None,
            force_base: false,
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

/// Build one side, turning a failure into its status line.
fn build_side(
    name: &str,
    tree: &Path,
    config: &str,
    tests: Option<&Path>,
    test_src: Option<&Path>,
) -> (Option<ReadyKernel>, SideStatus) {
    let mut st = SideStatus {
        name: name.into(),
        status: "built".into(),
        tree: Some(tree.to_path_buf()),
        kernel: None,
        build_seconds: None,
    };
    match ready_kernel(tree, config, tests, test_src) {
        Ok((k, out)) => {
            st.kernel = Some(out.bzimage);
            st.build_seconds = Some(out.seconds);
            (Some(k), st)
        }
        Err(e) => {
            eprintln!("{name}: {e:#}");
            st.status = format!(
                "build failed: {}",
                format!("{e:#}").lines().next().unwrap_or("")
            );
            (None, st)
        }
    }
}

pub fn run(patches: &Path, a: RunArgs) -> Result<()> {
    let start = Instant::now();
    let (config, iommus) = if a.ci {
        ("ci".to_string(), Viommu::ALL.to_vec())
    } else {
        (a.config.clone(), Viommu::parse_list(&a.iommu)?)
    };
    let timeout = if a.ci { a.timeout.min(600) } else { a.timeout };
    let known_base_failures = match &a.known_base_failure {
        Some(list) => Viommu::parse_list(list)?,
        None => Vec::new(),
    };
    if !a.no_setup {
        ensure_setup()?;
    }
    let work = paths::out_dir().join("run");
    let base_tree = work.join("base");
    let patched_tree = work.join("patched");
    hand_out_worktree(patches, &base_tree)?;
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

    // Base first, booted right away: its verdict comes before the patched
    // side's build.
    let (base_k, base_st) = build_side("base", &base_tree, &config, a.tests.as_deref(), test_src);
    sides.push(base_st);
    if let Some(k) = &base_k {
        boots.extend(test_side("base", k, &iommus, &dir, timeout)?);
    }
    let patched = match applied {
        None if a.base_only => None,
        None => {
            sides.push(SideStatus {
                name: "patched".into(),
                status: "no series".into(),
                tree: None,
                kernel: None,
                build_seconds: None,
            });
            None
        }
        Some(Ok(())) => {
            let (k, st) = build_side(
                "patched",
                &patched_tree,
                &config,
                a.tests.as_deref(),
                test_src,
            );
            sides.push(st);
            k
        }
        Some(Err(e)) => {
            sides.push(SideStatus {
                name: "patched".into(),
                status: format!(
                    "apply failed: {}",
                    format!("{e:#}").lines().next().unwrap_or("")
                ),
                tree: Some(patched_tree.clone()),
                kernel: None,
                build_seconds: None,
            });
            None
        }
    };
    if let Some(k) = &patched {
        boots.extend(test_side("patched", k, &iommus, &dir, timeout)?);
    }
    let report = Report {
        config,
        sides,
        iommus,
        boots,
        known_base_failures,
    };
    eprintln!("run took {:.0}s", start.elapsed().as_secs_f64());
    write_report(&report, &dir)
}
