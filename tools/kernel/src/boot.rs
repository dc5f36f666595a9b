//! One guest run: start QEMU, copy the serial console to a log file while
//! watching it live (relaying `SERIES-QMP:` requests to the QMP socket),
//! kill the guest at the hard timeout, then judge the log.

use crate::console::{self, ConsoleReport, QMP_REPLY, QMP_REQUEST};
use crate::profile::{ArchProfile, Firmware};
use crate::qemu::{self, QemuSpec};
use crate::qmp::Qmp;
use anyhow::{bail, Context, Result};
use serde::Serialize;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::{Duration, Instant};

/// Where a boot writes, and how long it may take.
#[derive(Debug, Clone)]
pub struct BootRequest {
    pub qemu: QemuSpec,
    /// Gets `console.log`, `ktap.log`, `qemu.log`.
    pub out_dir: PathBuf,
    pub timeout: Duration,
}

/// The outcome of one boot.
#[derive(Debug, Clone, Serialize)]
pub struct BootRun {
    pub console_log: PathBuf,
    pub ktap_log: PathBuf,
    pub report: ConsoleReport,
    pub timed_out: bool,
    /// QEMU's exit code (`None` when killed).
    pub qemu_exit: Option<i32>,
    /// `kvm` or `tcg` as QEMU reported it over QMP.
    pub accel: Option<String>,
    /// Seconds from QEMU start to its end.
    pub seconds: f64,
    /// Seconds from QEMU start to the end of the KTAP document.
    pub ktap_end_seconds: Option<f64>,
    /// Seconds since QEMU start at which each console log line arrived.
    #[serde(skip)]
    pub line_times: Vec<f64>,
    /// Last lines of QEMU's own stderr, when it failed.
    pub qemu_errors: Option<String>,
}

impl BootRun {
    /// Why this boot failed; empty when it passed.
    pub fn failures(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.timed_out {
            out.push("hard timeout: the guest hung and QEMU was killed".to_string());
        }
        if let Some(err) = &self.qemu_errors {
            out.push(format!("QEMU failed: {err}"));
        }
        out.extend(self.report.failures());
        out
    }

    pub fn passed(&self) -> bool {
        self.failures().is_empty()
    }

    /// Seconds each top-level test took: from the previous result (or the
    /// KTAP start) to its own result line, by host arrival time.
    pub fn test_seconds(&self) -> Vec<Option<f64>> {
        let (Some(doc), Some((start, _))) = (&self.report.ktap, self.report.ktap_span) else {
            return Vec::new();
        };
        let mut prev = self.line_times.get(start).copied();
        doc.tests
            .iter()
            .map(|t| {
                let at = self.line_times.get(start + t.line).copied();
                let d = match (prev, at) {
                    (Some(p), Some(a)) => Some(a - p),
                    _ => None,
                };
                prev = at.or(prev);
                d
            })
            .collect()
    }
}

/// Read QEMU's stdout in a thread, one line at a time, with arrival times.
fn spawn_line_reader(mut out: impl Read + Send + 'static) -> mpsc::Receiver<(Instant, String)> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        loop {
            match out.read(&mut chunk) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    buf.extend_from_slice(&chunk[..n]);
                    while let Some(pos) = buf.iter().position(|&b| b == b'\n') {
                        let line: Vec<u8> = buf.drain(..=pos).collect();
                        let text = String::from_utf8_lossy(&line[..line.len() - 1])
                            .trim_end_matches('\r')
                            .to_string();
                        if tx.send((Instant::now(), text)).is_err() {
                            return;
                        }
                    }
                }
            }
        }
        if !buf.is_empty() {
            let _ = tx.send((Instant::now(), String::from_utf8_lossy(&buf).to_string()));
        }
    });
    rx
}

/// Boot the guest and judge the console. `progress` gets short status lines.
pub fn boot(req: &BootRequest, progress: &mut dyn FnMut(&str)) -> Result<BootRun> {
    std::fs::create_dir_all(&req.out_dir)
        .with_context(|| format!("cannot create {}", req.out_dir.display()))?;
    let console_path = req.out_dir.join("console.log");
    let ktap_path = req.out_dir.join("ktap.log");
    let qemu_log = req.out_dir.join("qemu.log");
    let _ = std::fs::remove_file(&req.qemu.qmp_socket);
    let mut console = std::fs::File::create(&console_path)
        .with_context(|| format!("cannot create {}", console_path.display()))?;
    let args = qemu::args(&req.qemu);
    let target = req.qemu.iommu.profile();
    let program = target.arch.qemu;
    if let Firmware::Uefi(fw) = target.firmware {
        if !Path::new(fw).is_file() {
            bail!(
                "UEFI firmware {fw} is missing: install {} (ci/setup)",
                target.firmware_package
            );
        }
    }
    std::fs::write(
        req.out_dir.join("qemu.cmdline"),
        format!("{program} {}\n", args.join(" ")),
    )?;
    let start = Instant::now();
    let mut child = Command::new(program)
        .args(&args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&qemu_log)?)
        .spawn()
        .with_context(|| {
            format!(
                "cannot start {program} (install {}: ci/setup)",
                target.arch.qemu_package
            )
        })?;
    let rx = spawn_line_reader(child.stdout.take().expect("piped"));
    let mut qmp = Qmp::connect(&req.qemu.qmp_socket, Duration::from_secs(10)).ok();
    let accel = qmp.as_mut().and_then(|q| {
        let r = q
            .execute(&serde_json::json!({"execute": "query-kvm"}))
            .ok()?;
        let on = r.pointer("/return/enabled")?.as_bool()?;
        Some(if on { "kvm" } else { "tcg" }.to_string())
    });
    let deadline = start + req.timeout;
    let mut line_times = Vec::new();
    let mut timed_out = false;
    let mut done_at: Option<Instant> = None;
    let name = req.qemu.iommu.name();
    loop {
        let now = Instant::now();
        let limit = match done_at {
            Some(d) => (d + Duration::from_secs(15)).min(deadline),
            None => deadline,
        };
        if now >= limit {
            timed_out = done_at.is_none();
            break;
        }
        match rx.recv_timeout(limit - now) {
            Ok((at, line)) => {
                writeln!(console, "{line}")?;
                line_times.push(at.duration_since(start).as_secs_f64());
                let user = console::user_text(&line).trim().to_string();
                if let Some(json) = user.strip_prefix(QMP_REQUEST) {
                    let reply = match qmp.as_mut() {
                        Some(q) => match q.execute_text(json.trim()) {
                            Ok(v) => v.to_string(),
                            Err(e) => format!("{{\"host-error\":{:?}}}", format!("{e:#}")),
                        },
                        None => "{\"host-error\":\"no QMP connection\"}".to_string(),
                    };
                    writeln!(console, "{QMP_REPLY} {reply}")?;
                    line_times.push(start.elapsed().as_secs_f64());
                }
                if user == console::DONE_MARKER {
                    done_at = Some(Instant::now());
                }
                let short: String = user.chars().take(60).collect();
                progress(&format!(
                    "boot {name}: {}s — {short}",
                    start.elapsed().as_secs()
                ));
            }
            Err(RecvTimeoutError::Timeout) => continue,
            Err(RecvTimeoutError::Disconnected) => break,
        }
    }
    if timed_out {
        // Tell a hung guest from a hung QEMU: QMP is served by QEMU's main
        // loop, which a stuck device model blocks too.
        let qemu_state = match qmp.as_mut() {
            Some(q) => match q.execute(&serde_json::json!({"execute": "query-status"})) {
                Ok(v) if v.to_string().contains("internal-error") => format!(
                    "QEMU still answers QMP: {v}; the accelerator stopped the guest with an \
                     internal error: with KVM, run again with SERIES_ACCEL=tcg"
                ),
                Ok(v) => format!("QEMU still answers QMP: {v}"),
                Err(e) => format!("QEMU does not answer QMP either ({e:#})"),
            },
            None => "no QMP connection".to_string(),
        };
        writeln!(
            console,
            "SERIES-HOST: hard timeout after {}s ({qemu_state}), killing QEMU",
            req.timeout.as_secs()
        )?;
    }
    // A hung guest is killed at once; a finished one gets time to power off.
    let grace = if timed_out {
        Duration::ZERO
    } else {
        Duration::from_secs(5)
    };
    let qemu_exit = finish_child(&mut child, grace)?;
    drop(qmp);
    let seconds = start.elapsed().as_secs_f64();
    console.flush()?;
    drop(console);
    let log = std::fs::read_to_string(&console_path)?;
    let report = console::analyze(&log);
    std::fs::write(&ktap_path, console::ktap_text(&log, &report))?;
    let ktap_end_seconds = report
        .ktap_span
        .and_then(|(_, end)| line_times.get(end).copied());
    let qemu_errors = match qemu_exit {
        Some(0) | None => None,
        Some(code) => {
            let text = std::fs::read_to_string(&qemu_log).unwrap_or_default();
            let tail: Vec<&str> = text.lines().rev().take(5).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            Some(format!("exit code {code}: {}", tail.join(" | ")))
        }
    };
    let _ = std::fs::remove_file(&req.qemu.qmp_socket);
    Ok(BootRun {
        console_log: console_path,
        ktap_log: ktap_path,
        report,
        timed_out,
        qemu_exit,
        accel,
        seconds,
        ktap_end_seconds,
        line_times,
        qemu_errors,
    })
}

/// Wait for QEMU to exit on its own for `grace`, then kill it.
fn finish_child(child: &mut std::process::Child, grace: Duration) -> Result<Option<i32>> {
    let until = Instant::now() + grace;
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(status.code());
        }
        if Instant::now() >= until {
            let _ = child.kill();
            let _ = child.wait();
            return Ok(None);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Whether boots use KVM: `SERIES_ACCEL=kvm` says yes, `SERIES_ACCEL=auto`
/// probes, anything else (the default) is TCG. A guest of another
/// architecture than the host's always runs under TCG.
///
/// TCG is the default because no cheap probe tells a KVM that works from
/// one that does not: on the machines this project runs on, /dev/kvm
/// opens, a paused guest starts and even the BIOS runs, yet the Linux
/// guest stops in its first second with QEMU's status "internal-error"
/// (nested virtualisation), and every boot then hangs until its hard
/// timeout.
pub fn kvm_usable(arch: &ArchProfile) -> bool {
    if !arch.kvm_possible {
        return false;
    }
    match std::env::var("SERIES_ACCEL").as_deref() {
        Ok("kvm") => true,
        Ok("auto") => kvm_probe(arch),
        _ => false,
    }
}

/// Can QEMU start a KVM guest here? Starts a paused QEMU with KVM and
/// asks it to quit over QMP: catches a /dev/kvm that fails at vCPU setup,
/// not one that fails once the guest runs (see [`kvm_usable`]).
fn kvm_probe(arch: &ArchProfile) -> bool {
    if std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/kvm")
        .is_err()
    {
        return false;
    }
    let child = Command::new(arch.qemu)
        .args([
            "-accel",
            "kvm",
            "-cpu",
            "max",
            "-machine",
            arch.kvm_probe_machine,
            "-nodefaults",
        ])
        .args(["-display", "none", "-m", "64", "-S", "-qmp", "stdio"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
    let Ok(mut child) = child else {
        return false;
    };
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(b"{\"execute\":\"qmp_capabilities\"}\n{\"execute\":\"quit\"}\n");
    }
    matches!(
        finish_child(&mut child, Duration::from_secs(10)),
        Ok(Some(0))
    )
}

/// A path for the QMP socket that fits in `sun_path` (108 bytes).
pub fn qmp_socket_path(out_dir: &Path, tag: &str) -> PathBuf {
    let p = out_dir.join("qmp.sock");
    if p.as_os_str().len() < 100 {
        p
    } else {
        std::env::temp_dir().join(format!("series-qmp-{}-{tag}.sock", std::process::id()))
    }
}
