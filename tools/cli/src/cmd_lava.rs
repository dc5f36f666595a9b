//! `series lava`: the boot matrix as LAVA jobs (tools/kernel/src/lava.rs),
//! validated with lava-common's schema and, with `--run`, run here by
//! Debian's `lava-run`, whose results are compared with a run report.

use crate::{cmd_kernel, paths};
use anyhow::{bail, Context, Result};
use clap::Args;
use serde::Serialize;
use series_kernel::lava::{self, Artifact, JobSpec, LavaCase};
use series_kernel::profile::X86_64;
use series_kernel::qemu::Viommu;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

/// Write one LAVA job (qemu device type) per kernel × vIOMMU of the matrix.
///
/// DIR gets artifacts/<kernel>/{bzImage,initramfs.cpio}, jobs/series-<kernel>-<iommu>.yaml
/// and devices/series-<kernel>-<iommu>.yaml (a rendered qemu device dictionary for
/// lava-run on this machine; a lab renders its own). Upload DIR/artifacts to
/// the URL given with --artifacts, or leave the default file:// URLs for a
/// local dispatcher. Every job is checked with lava-common's schema
/// (/usr/bin/python3, package lava-common), what a LAVA server runs on submission.
///
/// Examples:
///   tools/series lava --out out/lava                          # base and patched of `run`
///   tools/series lava --out out/lava --artifacts https://lab.example/series/v1
///   tools/series lava --out out/lava --kernel base=out/build/base-ci/arch/x86/boot/bzImage \
///       --run --run-iommu virtio --compare out/report/latest/report.json
#[derive(Args)]
#[command(verbatim_doc_comment)]
pub struct LavaArgs {
    /// Output folder.
    #[arg(long)]
    pub out: PathBuf,
    /// Base URL of DIR/artifacts in the lab (default: file:// paths).
    #[arg(long)]
    pub artifacts: Option<String>,
    /// NAME=bzImage, repeatable (default: base and patched kernels of `run`,
    /// out/build/{base,patched}-<config>, those that exist).
    #[arg(long = "kernel")]
    pub kernels: Vec<String>,
    /// Config of the default kernels.
    #[arg(long, default_value = "ci")]
    pub config: String,
    /// vIOMMUs, comma separated, or `x86_64` for all three x86 ones. The
    /// kernels and initramfs staged here are x86_64 ones: arm64 jobs are
    /// not written yet.
    #[arg(long, default_value = "x86_64")]
    pub iommu: String,
    /// Guest tests directory (default: built for each kernel with ci/guest/build.sh).
    #[arg(long)]
    pub tests: Option<PathBuf>,
    /// The test action's timeout per job, in seconds (the boot's hard timeout).
    #[arg(long, default_value_t = 900, value_parser = clap::value_parser!(u64).range(1..))]
    pub timeout: u64,
    /// Run the jobs here with lava-run (Debian's lava-dispatcher).
    #[arg(long)]
    pub run: bool,
    /// With --run: only the jobs of these vIOMMUs (comma separated, or `all`).
    #[arg(long, default_value = "all")]
    pub run_iommu: String,
    /// With --run: compare LAVA's results with a run report (report.json);
    /// any difference fails.
    #[arg(long)]
    pub compare: Option<PathBuf>,
}

/// Python with lava_common (Debian's, not the first python3 on PATH).
const LAVA_PYTHON: &str = "/usr/bin/python3";
const LAVA_RUN: &str = "/usr/bin/lava-run";

fn default_kernels(config: &str) -> Vec<(String, PathBuf)> {
    ["base", "patched"]
        .iter()
        .map(|side| {
            (
                side.to_string(),
                paths::out_dir()
                    .join("build")
                    .join(format!("{side}-{config}"))
                    .join("arch/x86/boot/bzImage"),
            )
        })
        .filter(|(_, k)| k.is_file())
        .collect()
}

/// The built x86_64 sides of a run report and their kernels (LAVA jobs are
/// written for x86_64 only; a report without `arch` is an x86_64 one).
fn report_kernels(report: &serde_json::Value) -> Vec<(String, PathBuf)> {
    report["sides"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|s| s["status"] == "built")
        .filter(|s| s["arch"].as_str().unwrap_or(X86_64.name) == X86_64.name)
        .filter_map(|s| {
            Some((
                s["name"].as_str()?.to_string(),
                PathBuf::from(s["kernel"].as_str()?),
            ))
        })
        .collect()
}

fn parse_kernels(list: &[String]) -> Result<Vec<(String, PathBuf)>> {
    let kernels = list
        .iter()
        .map(|s| {
            let (name, path) = s
                .split_once('=')
                .with_context(|| format!("--kernel {s}: use NAME=path/to/bzImage"))?;
            if name.is_empty()
                || !name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            {
                bail!("--kernel {s}: NAME may hold letters, digits, - and _ only");
            }
            Ok((name.to_string(), PathBuf::from(path)))
        })
        .collect::<Result<Vec<_>>>()?;
    for (i, (name, _)) in kernels.iter().enumerate() {
        if kernels[..i].iter().any(|(n, _)| n == name) {
            bail!(
                "--kernel {name}=... is given twice: each kernel needs its own NAME (its jobs \
                 and artifacts are named after it)"
            );
        }
    }
    Ok(kernels)
}

/// Refuses flag combinations that would do nothing and still pass: a
/// comparison without a run, or a run whose vIOMMUs select no job.
fn check_run_flags(a: &LavaArgs, iommus: &[Viommu], run_iommus: &[Viommu]) -> Result<()> {
    if a.compare.is_some() && !a.run {
        bail!("--compare needs --run: only jobs run here have results to compare");
    }
    if a.run && !iommus.iter().any(|v| run_iommus.contains(v)) {
        bail!(
            "--run-iommu {} selects none of the jobs' vIOMMUs (--iommu {}): nothing would run",
            a.run_iommu,
            a.iommu
        );
    }
    Ok(())
}

/// Copy the kernel, pack the initramfs, checksum both.
fn stage_artifacts(
    name: &str,
    kernel: &Path,
    tests: Option<PathBuf>,
    out: &Path,
    base_url: Option<&str>,
) -> Result<(Artifact, Artifact)> {
    if !kernel.is_file() {
        bail!(
            "no kernel at {}: build it (`series build`) or fix --kernel",
            kernel.display()
        );
    }
    let dir = out.join("artifacts").join(name);
    std::fs::create_dir_all(&dir)?;
    let k = dir.join("bzImage");
    std::fs::copy(kernel, &k)
        .with_context(|| format!("cannot copy {} to {}", kernel.display(), k.display()))?;
    // The guest tests `run`/`test` booted with this kernel (run builds both
    // sides' tests from the patched tree), else built now for it.
    let built = cmd_kernel::build_dir_of(kernel)
        .map(|bd| bd.join("guest"))
        .filter(|g| g.join("run-tests.sh").is_file());
    let tests = match (tests, built) {
        (Some(t), _) => t,
        (None, Some(g)) => g,
        (None, None) => cmd_kernel::tests_for_kernel(kernel, &X86_64, None)?,
    };
    let i = dir.join("initramfs.cpio");
    cmd_kernel::make_initramfs(&tests, &X86_64, &i)?;
    let art = |path: PathBuf, file: &str| -> Result<Artifact> {
        let abs = path.canonicalize()?;
        Ok(Artifact {
            url: lava::artifact_url(base_url, &abs, &format!("{name}/{file}")),
            sha256: lava::sha256_file(&abs)?,
            path: abs,
        })
    };
    Ok((art(k, "bzImage")?, art(i, "initramfs.cpio")?))
}

/// lava-common's schema check of job files; Err when any is invalid.
pub fn validate_jobs(jobs: &[PathBuf]) -> Result<String> {
    let script = paths::project_root().join("ci/lava/validate-jobs");
    if !script.is_file() {
        bail!(
            "the job validator {} is missing: run the tool from its checkout \
             (tools/series) or set SERIES_ROOT to it",
            script.display()
        );
    }
    let out = Command::new(LAVA_PYTHON)
        .arg(&script)
        .args(jobs)
        .output()
        .with_context(|| format!("cannot run {LAVA_PYTHON} {}", script.display()))?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if !out.status.success() {
        let hint = if text.contains("No module named") {
            " (lava-common is not importable by /usr/bin/python3: install it with ci/setup)"
        } else {
            ""
        };
        bail!("LAVA schema validation failed{hint}:\n{text}");
    }
    Ok(text)
}

/// One job run through lava-run.
#[derive(Debug, Serialize)]
struct JobOutcome {
    job: String,
    side: String,
    iommu: Viommu,
    seconds: f64,
    lava_run_exit: Option<i32>,
    job_result: Option<String>,
    cases: BTreeMap<String, String>,
    log: PathBuf,
}

fn run_job(id: usize, spec: &JobSpec, job: &Path, device: &Path, out: &Path) -> Result<JobOutcome> {
    let name = spec.job_name();
    let dir = out.join("lava-run").join(&name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    let log = out.join("lava-run").join(format!("{name}.log"));
    let start = Instant::now();
    eprintln!("lava-run {name} ...");
    let status = Command::new(LAVA_RUN)
        .arg("--job-id")
        .arg(id.to_string())
        .arg("--output-dir")
        .arg(&dir)
        .arg("--device")
        .arg(device)
        .arg(job)
        // lava-run logs (one YAML mapping a line) to stderr.
        .stdout(std::fs::File::create(
            out.join("lava-run").join(format!("{name}.out")),
        )?)
        .stderr(std::fs::File::create(&log)?)
        .status()
        .with_context(|| format!("cannot run {LAVA_RUN} (install lava-dispatcher: ci/setup)"))?;
    let seconds = start.elapsed().as_secs_f64();
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    let cases: Vec<LavaCase> = lava::results_from_log(&text);
    let outcome = JobOutcome {
        job: name.clone(),
        side: spec.side.clone(),
        iommu: spec.iommu,
        seconds,
        lava_run_exit: status.code(),
        job_result: lava::job_result(&cases).map(String::from),
        cases: lava::ktap_cases(&cases),
        log,
    };
    eprintln!(
        "lava-run {name}: job {} in {:.0}s, {} test cases ({})",
        outcome.job_result.as_deref().unwrap_or("without a result"),
        seconds,
        outcome.cases.len(),
        outcome
            .cases
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    Ok(outcome)
}

/// LAVA's results as a table in the run table's layout.
fn table(outcomes: &[JobOutcome]) -> String {
    let mut names: Vec<&String> = Vec::new();
    for o in outcomes {
        for k in o.cases.keys() {
            if !names.contains(&k) {
                names.push(k);
            }
        }
    }
    let mut rows = vec![{
        let mut h = vec!["test (LAVA)".to_string()];
        h.extend(
            outcomes
                .iter()
                .map(|o| format!("{} {}", o.iommu.name(), o.side)),
        );
        h
    }];
    for n in names {
        let mut r = vec![n.clone()];
        r.extend(
            outcomes
                .iter()
                .map(|o| match o.cases.get(n).map(String::as_str) {
                    Some("pass") => "pass".to_string(),
                    Some("fail") => "FAIL".to_string(),
                    Some(other) => other.to_string(),
                    None => "MISSING".to_string(),
                }),
        );
        rows.push(r);
    }
    let mut r = vec!["(lava job)".to_string()];
    r.extend(
        outcomes
            .iter()
            .map(|o| o.job_result.clone().unwrap_or_else(|| "none".into())),
    );
    rows.push(r);
    series_kernel::report::render_table(&rows)
}

/// Tests LAVA cannot run as the local runner does: `hotplug` needs the
/// host's QMP relay, so LAVA jobs make it skip (lava::LAVA_GUEST_ENV).
const NEEDS_QMP_RELAY: &[&str] = &["hotplug"];

/// Differences between LAVA's cases and the report's top-level tests.
/// A test that needs the QMP relay must be `skip` in LAVA whatever the
/// report says (listed in `notes`), unless the report ran without the
/// relay too, where it must match like every other test.
fn compare(report: &serde_json::Value, outcomes: &[JobOutcome]) -> (Vec<String>, Vec<String>) {
    let mut diffs = Vec::new();
    let mut notes = Vec::new();
    for o in outcomes {
        let boot = report["boots"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|b| b["side"] == o.side.as_str() && b["iommu"] == o.iommu.name());
        let Some(boot) = boot else {
            diffs.push(format!(
                "{}: no {} {} boot in the report",
                o.job,
                o.side,
                o.iommu.name()
            ));
            continue;
        };
        if o.job_result.as_deref() != Some("pass") {
            diffs.push(format!("{}: LAVA job result {:?}", o.job, o.job_result));
        }
        let mut seen = Vec::new();
        for t in boot["tests"].as_array().into_iter().flatten() {
            let name = t["name"].as_str().unwrap_or("?");
            let ours = t["outcome"].as_str().unwrap_or("?");
            let case = lava::lava_case_name(name);
            seen.push(case.clone());
            let theirs = o.cases.get(&case).map(String::as_str).unwrap_or("missing");
            if NEEDS_QMP_RELAY.contains(&name) && ours != "skip" {
                if theirs == "skip" {
                    notes.push(format!(
                        "{} {}: {name} {ours} here, skip in LAVA (no QMP relay there)",
                        o.side,
                        o.iommu.name()
                    ));
                } else {
                    diffs.push(format!(
                        "{}: {name} should skip in LAVA, got {theirs}",
                        o.job
                    ));
                }
            } else if ours != theirs {
                diffs.push(format!(
                    "{}: {name} is {ours} in the report, {theirs} in LAVA",
                    o.job
                ));
            }
        }
        for extra in o.cases.keys().filter(|k| !seen.contains(k)) {
            diffs.push(format!("{}: LAVA has {extra}, the report has not", o.job));
        }
    }
    (diffs, notes)
}

pub fn run(_patches: &Path, a: LavaArgs) -> Result<()> {
    let iommus = Viommu::parse_list(&a.iommu)?;
    if let Some(v) = iommus.iter().find(|v| v.arch() != &X86_64) {
        bail!(
            "--iommu {}: LAVA jobs are written for x86_64 kernels only (the artifacts staged \
             are a bzImage and an x86_64 initramfs); leave the arm64 targets out",
            v.name()
        );
    }
    let run_iommus = Viommu::parse_list(&a.run_iommu)?;
    check_run_flags(&a, &iommus, &run_iommus)?;
    let report_json = match &a.compare {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            Some(
                serde_json::from_str::<serde_json::Value>(&text).with_context(|| {
                    format!("{} is not a run report (report.json)", path.display())
                })?,
            )
        }
        None => None,
    };
    let kernels = match (&report_json, a.kernels.is_empty()) {
        (_, false) => parse_kernels(&a.kernels)?,
        (Some(r), true) => report_kernels(r),
        (None, true) => default_kernels(&a.config),
    };
    if kernels.is_empty() {
        bail!(
            "no kernels: run `series run` first (out/build/base-{}) or pass --kernel NAME=bzImage",
            a.config
        );
    }
    if let Some(url) = &a.artifacts {
        if !(url.starts_with("http://")
            || url.starts_with("https://")
            || url.starts_with("file://"))
        {
            bail!("--artifacts {url}: give an http(s):// or file:// base URL");
        }
    }
    std::fs::create_dir_all(&a.out)
        .with_context(|| format!("cannot create {}", a.out.display()))?;
    let out = a.out.canonicalize()?;
    for sub in ["jobs", "devices"] {
        std::fs::create_dir_all(out.join(sub))?;
    }
    let mut specs = Vec::new();
    for (name, kernel) in &kernels {
        let (k, i) = stage_artifacts(name, kernel, a.tests.clone(), &out, a.artifacts.as_deref())?;
        for &iommu in &iommus {
            specs.push(JobSpec {
                side: name.clone(),
                iommu,
                context: lava::context_for(iommu, 1024, 2)?,
                kernel: k.clone(),
                initrd: i.clone(),
                timeout: a.timeout,
            });
        }
    }
    let mut jobs = Vec::new();
    for spec in &specs {
        let job = out.join("jobs").join(format!("{}.yaml", spec.job_name()));
        std::fs::write(&job, lava::job_yaml(spec)?)?;
        std::fs::write(
            out.join("devices")
                .join(format!("{}.yaml", spec.job_name())),
            lava::local_device_yaml(&spec.context)?,
        )?;
        jobs.push(job);
    }
    print!("{}", validate_jobs(&jobs)?);
    println!("{} LAVA jobs in {}", jobs.len(), out.join("jobs").display());
    if !a.run {
        return Ok(());
    }
    let mut outcomes = Vec::new();
    for (n, (spec, job)) in specs.iter().zip(&jobs).enumerate() {
        if !run_iommus.contains(&spec.iommu) {
            continue;
        }
        let device = out
            .join("devices")
            .join(format!("{}.yaml", spec.job_name()));
        outcomes.push(run_job(n + 1, spec, job, &device, &out)?);
    }
    if outcomes.is_empty() {
        bail!("no LAVA job ran: nothing was checked");
    }
    let t = table(&outcomes);
    std::fs::write(out.join("lava-table.txt"), &t)?;
    std::fs::write(
        out.join("lava-results.json"),
        serde_json::to_string_pretty(&outcomes)?,
    )?;
    println!("{t}");
    let mut failed = outcomes
        .iter()
        .any(|o| o.job_result.as_deref() != Some("pass"));
    if let Some(report_json) = &report_json {
        let (diffs, notes) = compare(report_json, &outcomes);
        for n in &notes {
            println!("note: {n}");
        }
        if diffs.is_empty() {
            println!(
                "LAVA's results equal the report's for {} job(s)",
                outcomes.len()
            );
        } else {
            for d in &diffs {
                eprintln!("  {d}");
            }
            failed = true;
        }
    }
    if failed {
        bail!(
            "LAVA jobs failed or differ from the report; see {}",
            out.display()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(side: &str, iommu: Viommu, cases: &[(&str, &str)]) -> JobOutcome {
        JobOutcome {
            job: format!("series-{side}-{}", iommu.name()),
            side: side.into(),
            iommu,
            seconds: 1.0,
            lava_run_exit: Some(0),
            job_result: Some("pass".into()),
            cases: cases
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            log: "l".into(),
        }
    }

    fn report(hotplug: &str) -> serde_json::Value {
        serde_json::json!({"sides": [{"name": "base", "status": "built", "kernel": "/k"}],
            "boots": [{"side": "base", "iommu": "virtio", "tests": [
                {"name": "dma_owner", "outcome": "skip"},
                {"name": "hotplug", "outcome": hotplug},
                {"name": "iommufd", "outcome": "fail"}]}]})
    }

    #[test]
    fn compare_finds_equal_tables_and_each_difference() {
        let lava = outcome(
            "base",
            Viommu::Virtio,
            &[
                ("dma_owner", "skip"),
                ("hotplug", "skip"),
                ("iommufd", "fail"),
            ],
        );
        // The report ran hotplug with the relay: a note, not a difference.
        let (diffs, notes) = compare(&report("pass"), std::slice::from_ref(&lava));
        assert!(diffs.is_empty(), "{diffs:?}");
        assert_eq!(notes.len(), 1);
        // Without the relay on both sides: plainly equal.
        let (diffs, notes) = compare(&report("skip"), std::slice::from_ref(&lava));
        assert!(diffs.is_empty() && notes.is_empty());
        // A different outcome, a missing case, an extra case, a failed job.
        let mut other = outcome(
            "base",
            Viommu::Virtio,
            &[("dma_owner", "pass"), ("extra", "pass")],
        );
        other.job_result = Some("fail".into());
        let (diffs, _) = compare(&report("pass"), &[other]);
        assert_eq!(diffs.len(), 5, "{diffs:?}");
        // A job without a boot in the report.
        let (diffs, _) = compare(&report("pass"), &[outcome("patched", Viommu::Amd, &[])]);
        assert_eq!(diffs.len(), 1);
        assert_eq!(
            report_kernels(&report("pass")),
            vec![("base".to_string(), PathBuf::from("/k"))]
        );
    }

    #[test]
    fn only_the_reports_x86_64_kernels_become_jobs() {
        let r = serde_json::json!({"sides": [
            {"name": "base", "arch": "x86_64", "status": "built", "kernel": "/b"},
            {"name": "patched", "arch": "x86_64", "status": "built", "kernel": "/p"},
            {"name": "patched", "arch": "arm64", "status": "built", "kernel": "/Image"},
            {"name": "old", "status": "built", "kernel": "/o"}]});
        let names: Vec<String> = report_kernels(&r)
            .into_iter()
            .map(|(n, k)| format!("{n}={}", k.display()))
            .collect();
        assert_eq!(names, ["base=/b", "patched=/p", "old=/o"]);
    }

    fn args(flags: &[&str]) -> LavaArgs {
        use clap::Parser;
        #[derive(Parser)]
        struct Cli {
            #[command(flatten)]
            lava: LavaArgs,
        }
        let mut argv = vec!["series-lava", "--out", "o"];
        argv.extend_from_slice(flags);
        Cli::try_parse_from(argv).map(|c| c.lava).unwrap()
    }

    fn run_flags_error(flags: &[&str]) -> Option<String> {
        let a = args(flags);
        let iommus = Viommu::parse_list(&a.iommu).unwrap();
        let run_iommus = Viommu::parse_list(&a.run_iommu).unwrap();
        check_run_flags(&a, &iommus, &run_iommus)
            .err()
            .map(|e| e.to_string())
    }

    #[test]
    fn flags_that_would_check_nothing_are_refused() {
        let none = run_flags_error(&["--run", "--run-iommu", "virtio", "--iommu", "intel"]);
        assert!(none.unwrap().contains("nothing would run"));
        let compare = run_flags_error(&["--compare", "r.json"]);
        assert!(compare.unwrap().contains("--compare needs --run"));
        assert!(run_flags_error(&["--run", "--run-iommu", "virtio"]).is_none());
        assert!(run_flags_error(&[]).is_none());
    }

    #[test]
    fn a_zero_timeout_is_refused() {
        use clap::Parser;
        #[derive(Parser)]
        struct Cli {
            #[command(flatten)]
            lava: LavaArgs,
        }
        assert!(Cli::try_parse_from(["series-lava", "--out", "o", "--timeout", "0"]).is_err());
        assert_eq!(args(&["--timeout", "5"]).timeout, 5);
    }

    #[test]
    fn a_kernel_name_given_twice_is_refused() {
        let err = parse_kernels(&["base=/a".into(), "base=/b".into()]).unwrap_err();
        assert!(err.to_string().contains("given twice"), "{err}");
    }

    #[test]
    fn kernel_names_are_checked() {
        assert!(parse_kernels(&["base=/x".into()]).is_ok());
        assert!(parse_kernels(&["/x".into()]).is_err());
        assert!(parse_kernels(&["a b=/x".into()]).is_err());
    }

    #[test]
    fn lava_table_uses_the_run_layout() {
        let t = table(&[outcome(
            "base",
            Viommu::Intel,
            &[("hotplug", "skip"), ("iommufd", "fail")],
        )]);
        assert!(t.contains("intel base"), "{t}");
        assert!(t.contains("FAIL"), "{t}");
        let last = t.lines().last().unwrap();
        assert!(
            last.starts_with("(lava job)") && last.ends_with("| pass"),
            "{t}"
        );
    }
}
