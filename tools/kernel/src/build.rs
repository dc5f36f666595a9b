//! `series build`: configure a kernel tree out of tree (O=) from tinyconfig
//! plus config fragments, check every fragment option stuck, then build
//! the boot image (bzImage, Image) and the UAPI headers, with the kernel's
//! output in a log file. What differs per architecture comes from its
//! `profile::ArchProfile`.

use crate::kconfig;
use crate::profile::ArchProfile;
use anyhow::{bail, Context, Result};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

/// Everything one build needs.
#[derive(Debug, Clone)]
pub struct BuildPlan {
    /// Kernel source tree (only read).
    pub tree: PathBuf,
    /// Target architecture (make ARCH, cross compiler, image).
    pub arch: &'static ArchProfile,
    /// O= directory; `.config`, objects, the image and `build.log` go here.
    pub build_dir: PathBuf,
    /// Fragments merged over tinyconfig, in order.
    pub fragments: Vec<PathBuf>,
    pub jobs: usize,
    /// Serialize the heavy make step with `flock LOCK make ...` when set.
    pub lock: Option<PathBuf>,
}

/// What a finished build produced.
#[derive(Debug, Clone)]
pub struct BuildOutput {
    /// The bootable kernel image (bzImage, Image).
    pub image: PathBuf,
    pub headers: PathBuf,
    pub log: PathBuf,
    /// Configure + build + headers, without the time waiting for the lock.
    pub seconds: f64,
    pub lock_wait_seconds: f64,
}

impl BuildPlan {
    pub fn log_path(&self) -> PathBuf {
        self.build_dir.join("build.log")
    }
    pub fn image(&self) -> PathBuf {
        self.build_dir.join(self.arch.image_path)
    }
    /// The UAPI headers for the guest tests: `make headers` leaves them in
    /// `<build dir>/usr/include` (`headers_install` with INSTALL_HDR_PATH
    /// needs rsync since Linux 7.x, and only copies them).
    pub fn headers_dir(&self) -> PathBuf {
        self.build_dir.join("usr")
    }
}

/// The fragment files for a config name (`ci`, `debug`) under the overlay:
/// the architecture's ci fragments, then `series-<name>.config` for any
/// other name.
pub fn fragments_for(overlay: &Path, arch: &ArchProfile, name: &str) -> Result<Vec<PathBuf>> {
    let dir = overlay.join("kernel/configs");
    let mut list: Vec<PathBuf> = arch.ci_fragments.iter().map(|f| dir.join(f)).collect();
    if name != "ci" {
        let own = dir.join(format!("series-{name}.config"));
        if !own.is_file() {
            bail!(
                "unknown config `{name}`: expected `ci`, `debug` or a fragment {}",
                own.display()
            );
        }
        list.push(own);
    }
    for f in &list {
        if !f.is_file() {
            bail!("config fragment {} is missing", f.display());
        }
    }
    Ok(list)
}

/// Number of parallel jobs: the machine's CPUs.
pub fn default_jobs() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2)
}

/// Whether `program` is an executable file in a directory of `$PATH` (or,
/// when it holds a `/`, at that path), as the shell's `command -v` finds it.
pub fn have(program: &str) -> bool {
    use std::os::unix::fs::PermissionsExt;
    let executable = |p: &Path| {
        p.metadata()
            .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
            .unwrap_or(false)
    };
    if program.contains('/') {
        return executable(Path::new(program));
    }
    let Some(path) = std::env::var_os("PATH") else {
        return false;
    };
    std::env::split_paths(&path).any(|dir| !program.is_empty() && executable(&dir.join(program)))
}

/// Make arguments common to every step.
fn make_args(plan: &BuildPlan) -> Vec<String> {
    let mut args = vec![
        "-C".to_string(),
        plan.tree.display().to_string(),
        format!("O={}", plan.build_dir.display()),
        format!("ARCH={}", plan.arch.make_arch),
    ];
    let cross = plan.arch.cross_compile;
    if !cross.is_empty() {
        args.push(format!("CROSS_COMPILE={cross}"));
    }
    if have("ccache") {
        args.push(format!("CC=ccache {cross}gcc"));
    }
    args
}

fn make_command(plan: &BuildPlan, locked: bool) -> Command {
    let mut cmd = match (&plan.lock, locked) {
        (Some(lock), true) => {
            // Print a marker once the lock is held, to tell waiting from building.
            let mut c = Command::new("flock");
            c.arg(lock)
                .args([
                    "sh",
                    "-c",
                    &format!("echo '{LOCK_ACQUIRED}'; exec \"$@\""),
                    "sh",
                ])
                .arg("make");
            c
        }
        _ => Command::new("make"),
    };
    cmd.args(make_args(plan));
    // Same version string every time: reproducible and ccache friendly.
    cmd.env("KBUILD_BUILD_USER", "series")
        .env("KBUILD_BUILD_HOST", "series")
        .env("KBUILD_BUILD_TIMESTAMP", "Thu Jan  1 00:00:00 UTC 1970");
    cmd
}

/// Printed (into the build log) when the build lock is held.
const LOCK_ACQUIRED: &str = "### series: build lock acquired";

/// Run one make step, appending its output to the log, calling
/// `progress` with a short status line every output line. Returns the
/// seconds spent waiting for the build lock.
fn run_make(
    plan: &BuildPlan,
    targets: &[&str],
    locked: bool,
    what: &str,
    progress: &mut dyn FnMut(&str),
) -> Result<f64> {
    let log_path = plan.log_path();
    let mut log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .with_context(|| format!("cannot write build log {}", log_path.display()))?;
    let mut cmd = make_command(plan, locked);
    if locked {
        cmd.arg(format!("-j{}", plan.jobs));
    }
    cmd.args(targets)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    writeln!(log, "### series: make {} ({what})", targets.join(" "))?;
    let mut child = cmd
        .spawn()
        .context("cannot start `make`: is build-essential installed? (ci/setup)")?;
    // stderr is merged into the same reader through a thread.
    let stderr = child.stderr.take().expect("piped");
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    let tx2 = tx.clone();
    let t_err = std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(|l| l.ok()) {
            let _ = tx2.send(line);
        }
    });
    let stdout = child.stdout.take().expect("piped");
    let t_out = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(|l| l.ok()) {
            let _ = tx.send(line);
        }
    });
    let mut start = Instant::now();
    let mut lock_wait = 0.0;
    if locked && plan.lock.is_some() {
        progress(&format!("{what}: waiting for the build lock"));
    }
    let mut steps = 0usize;
    for line in rx {
        writeln!(log, "{line}")?;
        if line == LOCK_ACQUIRED {
            lock_wait = start.elapsed().as_secs_f64();
            start = Instant::now();
            continue;
        }
        let t = line.trim_start();
        if t.len() > 8 && t.as_bytes()[0].is_ascii_uppercase() && t.contains("  ") {
            steps += 1;
            let short: String = t.split_whitespace().collect::<Vec<_>>().join(" ");
            progress(&format!(
                "{what}: {steps} steps, {}s — {short}",
                start.elapsed().as_secs()
            ));
        }
    }
    let _ = t_out.join();
    let _ = t_err.join();
    let status = child.wait()?;
    if !status.success() {
        let text = std::fs::read_to_string(&log_path).unwrap_or_default();
        let first = first_error(&text).unwrap_or_else(|| "(no compiler error found)".to_string());
        bail!(
            "`make {}` failed ({what}); first error:\n{first}\nfull log: {}",
            targets.join(" "),
            log_path.display()
        );
    }
    writeln!(
        log,
        "### series: {what} took {:.0}s (+{lock_wait:.0}s waiting for the build lock)",
        start.elapsed().as_secs_f64()
    )?;
    Ok(lock_wait)
}

/// The first compiler/linker error in a build log, with the lines that
/// follow it (gcc prints the source line and a caret there).
pub fn first_error(log: &str) -> Option<String> {
    let lines: Vec<&str> = log.lines().collect();
    let is_error = |l: &str| {
        l.contains(": error: ")
            || l.contains(": fatal error: ")
            || l.contains("undefined reference to")
            || l.contains("*** No rule to make target")
    };
    let idx = lines.iter().position(|l| is_error(l)).or_else(|| {
        lines
            .iter()
            .position(|l| l.starts_with("make") && l.contains("***"))
    })?;
    // Include the "In function" context line just before, if present.
    let from = if idx > 0 && lines[idx - 1].contains("In function") {
        idx - 1
    } else {
        idx
    };
    let to = (idx + 4).min(lines.len());
    Some(lines[from..to].join("\n"))
}

/// Configure: tinyconfig, merge the fragments, olddefconfig, verify.
pub fn configure(plan: &BuildPlan, progress: &mut dyn FnMut(&str)) -> Result<()> {
    std::fs::create_dir_all(&plan.build_dir)
        .with_context(|| format!("cannot create build dir {}", plan.build_dir.display()))?;
    if !plan.tree.join("Makefile").is_file() {
        bail!(
            "{} is not a kernel tree (no Makefile); run `series base` first",
            plan.tree.display()
        );
    }
    let _ = std::fs::remove_file(plan.log_path());
    progress("configure: tinyconfig");
    run_make(plan, &["tinyconfig"], false, "tinyconfig", progress)?;
    let config_path = plan.build_dir.join(".config");
    let tiny = std::fs::read_to_string(&config_path)?;
    let fragments = plan
        .fragments
        .iter()
        .map(|f| kconfig::read_fragment(f))
        .collect::<Result<Vec<_>>>()?;
    std::fs::write(&config_path, kconfig::merge(&tiny, &fragments))?;
    progress("configure: olddefconfig");
    run_make(plan, &["olddefconfig"], false, "olddefconfig", progress)?;
    let final_cfg = std::fs::read_to_string(&config_path)?;
    let dropped = kconfig::dropped(&fragments, &final_cfg);
    if !dropped.is_empty() {
        let list: Vec<String> = dropped.iter().map(|d| format!("  {d}")).collect();
        bail!(
            "`make olddefconfig` did not keep {} option(s) the fragments ask for \
             (a dependency is missing from the fragment?):\n{}\nfragments: {}",
            dropped.len(),
            list.join("\n"),
            plan.fragments
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    Ok(())
}

/// Fail early, with the package to install, when the compiler is missing.
fn check_compiler(plan: &BuildPlan) -> Result<()> {
    let cc = format!("{}gcc", plan.arch.cross_compile);
    if !have(&cc) {
        bail!(
            "`{cc}` is not installed: the {} build needs it (ci/setup)",
            plan.arch.name
        );
    }
    Ok(())
}

/// Configure and make only `targets` (directories such as `drivers/base/`,
/// or single objects): a compile check of a few subsystems, without the
/// boot image. Returns the seconds spent, without waiting for the lock.
pub fn build_targets(
    plan: &BuildPlan,
    targets: &[&str],
    progress: &mut dyn FnMut(&str),
) -> Result<f64> {
    let start = Instant::now();
    configure(plan, progress)?;
    check_compiler(plan)?;
    let waited = run_make(plan, targets, true, "build", progress)?;
    Ok(start.elapsed().as_secs_f64() - waited)
}

/// Configure and build the boot image and the UAPI headers.
pub fn build(plan: &BuildPlan, progress: &mut dyn FnMut(&str)) -> Result<BuildOutput> {
    let start = Instant::now();
    configure(plan, progress)?;
    check_compiler(plan)?;
    let lock_wait_seconds = run_make(plan, &[plan.arch.image_target], true, "build", progress)?;
    let headers = plan.headers_dir();
    run_make(plan, &["headers"], false, "headers", progress)?;
    let image = plan.image();
    if !image.is_file() {
        bail!("make succeeded but {} is missing", image.display());
    }
    Ok(BuildOutput {
        image,
        headers,
        log: plan.log_path(),
        seconds: start.elapsed().as_secs_f64() - lock_wait_seconds,
        lock_wait_seconds,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::{ARM64, X86_64};

    #[test]
    fn have_finds_programs_on_path_and_runs_nothing() {
        assert!(have("sh"));
        assert!(have("/bin/sh"));
        assert!(!have("no-such-program-series-test"));
        assert!(!have(""));
        // A shell would run this; a lookup only finds no such file.
        let dir = tempfile::tempdir().unwrap();
        let mark = dir.path().join("ran");
        assert!(!have(&format!("sh; touch {}", mark.display())));
        assert!(!mark.exists());
    }

    #[test]
    fn first_error_finds_compiler_error_with_context() {
        let log = "  CC      a.o\n\
                   drivers/base/dd.c: In function 'really_probe':\n\
                   drivers/base/dd.c:10:5: error: 'x' undeclared\n   10 |  x = 1;\n      |  ^\n\
                   make[4]: *** [x] Error 1\n";
        let e = first_error(log).unwrap();
        assert!(e.starts_with("drivers/base/dd.c: In function"), "{e}");
        assert!(e.contains("error: 'x' undeclared"));
        assert!(first_error("  CC a.o\n  LD b\n").is_none());
    }

    #[test]
    fn fragments_for_names() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("kernel/configs");
        std::fs::create_dir_all(&cfg).unwrap();
        std::fs::write(cfg.join("series-ci.config"), "CONFIG_A=y\n").unwrap();
        assert_eq!(fragments_for(dir.path(), &X86_64, "ci").unwrap().len(), 1);
        assert!(fragments_for(dir.path(), &X86_64, "debug").is_err());
        std::fs::write(cfg.join("series-debug.config"), "CONFIG_B=y\n").unwrap();
        assert_eq!(
            fragments_for(dir.path(), &X86_64, "debug").unwrap().len(),
            2
        );
        assert!(fragments_for(dir.path(), &X86_64, "nope").is_err());
        // arm64 has its own ci fragment; the debug one is shared.
        assert!(fragments_for(dir.path(), &ARM64, "ci").is_err());
        std::fs::write(cfg.join("series-arm64-ci.config"), "CONFIG_C=y\n").unwrap();
        let arm = fragments_for(dir.path(), &ARM64, "debug").unwrap();
        assert!(arm[0].ends_with("series-arm64-ci.config"));
        assert!(arm[1].ends_with("series-debug.config"));
    }
}
