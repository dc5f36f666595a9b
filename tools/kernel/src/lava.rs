//! LAVA job definitions for the boot matrix, and LAVA's results read back.
//!
//! One job per kernel × vIOMMU, for LAVA's `qemu` device type:
//!
//! - `deploy: to: tmpfs` with the kernel and the initramfs as URLs and
//!   their sha256; the kernel's `image_arg` carries the guest command line;
//! - `boot: method: qemu`: the machine, CPU, memory, vIOMMU and the PCI
//!   topology go through the job `context` (`arch`, `machine`, `cpu`,
//!   `memory`, `extra_options`), which the lab's `qemu.jinja2` device
//!   template turns into the QEMU command line;
//! - `test: monitors`: LAVA watches the console between `SERIES-BOOTED`
//!   and `SERIES-DONE` and turns every top-level KTAP result line into a
//!   test case (`ok` pass, `not ok` fail, `# SKIP` skip): the same
//!   pass/fail/skip per test as the run table.
//!
//! The QEMU data is not kept here: it is read out of [`crate::qemu::args`],
//! the command line `series boot` itself runs, so a new profile (arm64)
//! gives its jobs without a change here.

use crate::qemu::{self, QemuSpec, Viommu};
use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Name of the monitor test (also LAVA's test definition name in results).
pub const MONITOR_NAME: &str = "series-ktap";

/// Guest words every LAVA job adds to the kernel command line: LAVA has no
/// relay for the guest's `SERIES-QMP:` requests, so the hotplug test skips
/// itself (ci/guest/run-tests.sh) instead of failing on a missing host.
pub const LAVA_GUEST_ENV: &[&str] = &["SERIES_QMP_RELAY=0"];

/// The regular expression LAVA's monitor applies to the console stream.
///
/// Only top-level result lines count (a nested one starts with spaces, so
/// the `\n` before `ok` does not match it). `test_case_id` is the test
/// name, captured in a lookahead that also asks for the end of the line:
/// the monitor matches a stream, and without it a line cut by a read
/// matched with a cut name (`dma_ow`) and without its SKIP directive
/// (a pass). `result` is `SKIP` when the line carries
/// a SKIP directive (the optional group consumes the line up to it), else
/// `not ok` or `ok`. [`FIXUP`] maps those words onto LAVA's results.
pub const KTAP_PATTERN: &str = concat!(
    r"\n(?=(?:not )?ok \d+ (?:- )?(?P<test_case_id>[^\s#]+)[^\n]*\n)",
    r"(?:(?:not )?ok \d+ [^#\r\n]*# *(?=SKIP|skip|Skip))?",
    r"(?P<result>SKIP|skip|Skip|not ok|ok)"
);

/// KTAP words → LAVA results.
pub const FIXUP: &[(&str, &str)] = &[
    ("ok", "pass"),
    ("not ok", "fail"),
    ("SKIP", "skip"),
    ("skip", "skip"),
    ("Skip", "skip"),
];

/// Architectures whose `qemu.jinja2` branch takes `machine` and `cpu` from
/// the context; for the others (x86_64) the template ignores them, so they
/// travel in `extra_options`.
const TEMPLATE_SETS_MACHINE: &[&str] = &["arm64", "aarch64", "arm", "riscv64"];

/// A file the lab downloads, with where it is and its checksum.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Artifact {
    pub path: PathBuf,
    pub url: String,
    pub sha256: String,
}

/// Hex sha256 of a file.
pub fn sha256_file(path: &Path) -> Result<String> {
    let mut f =
        std::fs::File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut h = Sha256::new();
    std::io::copy(&mut f, &mut h).with_context(|| format!("cannot read {}", path.display()))?;
    Ok(hex(&h.finalize()))
}

/// Lower-case hex of a digest.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `base` + `rel`: a `file://` URL of an absolute path when `base` is
/// empty (percent-encoded: a `#` or `?` in a directory name is part of the
/// path, not a fragment or query), else the base URL (a trailing `/` is
/// added) joined with `rel`.
pub fn artifact_url(base: Option<&str>, abs: &Path, rel: &str) -> String {
    match base {
        None => url::Url::from_file_path(abs)
            .map(String::from)
            .unwrap_or_else(|()| format!("file://{}", abs.display())),
        Some(b) => format!("{}/{}", b.trim_end_matches('/'), rel),
    }
}

/// What the QEMU command line of one boot means for a LAVA qemu device.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct QemuContext {
    pub arch: String,
    /// For templates that take it from the context (arm64); else in extras.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub machine: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu: Option<String>,
    /// MiB.
    pub memory: u32,
    pub extra_options: Vec<String>,
    /// The guest kernel command line (`-append`).
    #[serde(skip)]
    pub append: String,
}

/// Options of `series boot`'s command line that LAVA owns or that have no
/// meaning in a lab: the serial console (the template's `-nographic`),
/// QMP, the accelerator (the template's `-enable-kvm` or not), display and
/// defaults, and the images (the deploy action).
const LAVA_OWNS: &[&str] = &[
    "-nodefaults",
    "-no-user-config",
    "-display",
    "-accel",
    "-chardev",
    "-serial",
    "-qmp",
    "-kernel",
    "-initrd",
    "-append",
];

/// Options that never take a value.
const FLAGS: &[&str] = &["-nodefaults", "-no-user-config", "-no-reboot"];

/// Turn `series boot`'s QEMU arguments into the job context.
pub fn context_from_args(arch: &str, args: &[String]) -> Result<QemuContext> {
    let mut ctx = QemuContext {
        arch: arch.to_string(),
        memory: 1024,
        ..QemuContext::default()
    };
    let template_machine = TEMPLATE_SETS_MACHINE.contains(&arch);
    let mut i = 0;
    while i < args.len() {
        let opt = args[i].as_str();
        if !opt.starts_with('-') {
            bail!("unexpected QEMU argument `{opt}` (not after an option)");
        }
        let takes_value =
            !FLAGS.contains(&opt) && args.get(i + 1).is_some_and(|v| !v.starts_with('-'));
        let value = takes_value.then(|| args[i + 1].clone());
        i += if takes_value { 2 } else { 1 };
        match (opt, value) {
            ("-append", Some(v)) => ctx.append = v,
            (o, _) if LAVA_OWNS.contains(&o) => {}
            ("-m", Some(v)) => {
                ctx.memory = v
                    .parse()
                    .with_context(|| format!("QEMU memory `{v}` is not a number of MiB"))?
            }
            ("-machine", Some(v)) if template_machine => ctx.machine = Some(v),
            ("-cpu", Some(v)) if template_machine => ctx.cpu = Some(v),
            (o, Some(v)) => ctx.extra_options.push(format!("{o} {v}")),
            (o, None) => ctx.extra_options.push(o.to_string()),
        }
    }
    if ctx.append.is_empty() {
        bail!("the QEMU command line has no -append: cannot build the guest command line");
    }
    Ok(ctx)
}

/// The context of one vIOMMU's boot, read from [`qemu::args`].
pub fn context_for(iommu: Viommu, memory_mb: u32, cpus: u32) -> Result<QemuContext> {
    let spec = QemuSpec {
        kernel: "/lava/kernel".into(),
        initrd: "/lava/initrd".into(),
        iommu,
        qmp_socket: "/lava/qmp.sock".into(),
        memory_mb,
        cpus,
        kvm: false,
    };
    context_from_args("x86_64", &qemu::args(&spec))
}

/// Everything one job needs.
#[derive(Debug, Clone)]
pub struct JobSpec {
    /// `base`, `patched`, or a kernel's label.
    pub side: String,
    pub iommu: Viommu,
    pub context: QemuContext,
    pub kernel: Artifact,
    pub initrd: Artifact,
    /// The boot's hard timeout (seconds): the monitor waits that long.
    pub timeout: u64,
}

impl JobSpec {
    pub fn job_name(&self) -> String {
        format!("series-{}-{}", self.side, self.iommu.name())
    }

    /// The guest command line LAVA's QEMU gets.
    pub fn append(&self) -> String {
        let mut words: Vec<&str> = self.context.append.split_whitespace().collect();
        for w in LAVA_GUEST_ENV {
            if !words.contains(w) {
                words.push(w);
            }
        }
        words.join(" ")
    }
}

#[derive(Serialize)]
struct Timeout {
    seconds: u64,
}

fn secs(seconds: u64) -> Timeout {
    Timeout {
        seconds: seconds.max(1),
    }
}

#[derive(Serialize)]
struct Image {
    url: String,
    sha256sum: String,
    image_arg: String,
}

#[derive(Serialize)]
struct Monitor {
    name: String,
    start: String,
    end: String,
    pattern: String,
    fixupdict: BTreeMap<String, String>,
}

/// The body of one action; the job lists each as `{deploy: ...}` etc.
#[derive(Serialize)]
#[serde(untagged)]
enum Action {
    Deploy {
        timeout: Timeout,
        to: String,
        os: String,
        images: BTreeMap<String, Image>,
    },
    Boot {
        timeout: Timeout,
        method: String,
        media: String,
    },
    Test {
        timeout: Timeout,
        monitors: Vec<Monitor>,
    },
}

#[derive(Serialize)]
struct JobTimeouts {
    job: Timeout,
    action: Timeout,
    connections: BTreeMap<String, Timeout>,
}

#[derive(Serialize)]
struct Job {
    device_type: String,
    job_name: String,
    timeouts: JobTimeouts,
    priority: String,
    visibility: String,
    context: QemuContext,
    metadata: BTreeMap<String, String>,
    actions: Vec<BTreeMap<String, Action>>,
}

/// Seconds the lab gets to download the artifacts and start QEMU.
const DEPLOY_SECONDS: u64 = 300;
const BOOT_SECONDS: u64 = 120;

/// The job definition as YAML.
pub fn job_yaml(spec: &JobSpec) -> Result<String> {
    let mut images = BTreeMap::new();
    images.insert(
        "kernel".to_string(),
        Image {
            url: spec.kernel.url.clone(),
            sha256sum: spec.kernel.sha256.clone(),
            image_arg: format!("-kernel {{kernel}} -append \"{}\"", spec.append()),
        },
    );
    images.insert(
        "initrd".to_string(),
        Image {
            url: spec.initrd.url.clone(),
            sha256sum: spec.initrd.sha256.clone(),
            image_arg: "-initrd {initrd}".to_string(),
        },
    );
    let mut connections = BTreeMap::new();
    // A test action's connection timeout is how long the monitor waits
    // for the next line it knows: dma_owner prints nothing for minutes.
    connections.insert("lava-test-monitor".to_string(), secs(spec.timeout));
    let job = Job {
        device_type: "qemu".into(),
        job_name: spec.job_name(),
        timeouts: JobTimeouts {
            job: secs(DEPLOY_SECONDS + BOOT_SECONDS + spec.timeout + 60),
            action: secs(spec.timeout),
            connections,
        },
        priority: "medium".into(),
        visibility: "public".into(),
        context: spec.context.clone(),
        metadata: BTreeMap::from([
            ("series.side".to_string(), spec.side.clone()),
            ("series.iommu".to_string(), spec.iommu.name().to_string()),
        ]),
        actions: vec![
            BTreeMap::from([(
                "deploy".to_string(),
                Action::Deploy {
                    timeout: secs(DEPLOY_SECONDS),
                    to: "tmpfs".into(),
                    os: "oe".into(),
                    images,
                },
            )]),
            BTreeMap::from([(
                "boot".to_string(),
                Action::Boot {
                    timeout: secs(BOOT_SECONDS),
                    method: "qemu".into(),
                    media: "tmpfs".into(),
                },
            )]),
            BTreeMap::from([(
                "test".to_string(),
                Action::Test {
                    timeout: secs(spec.timeout),
                    monitors: vec![Monitor {
                        name: MONITOR_NAME.into(),
                        start: crate::console::BOOTED_MARKER.into(),
                        end: crate::console::DONE_MARKER.into(),
                        pattern: KTAP_PATTERN.into(),
                        fixupdict: FIXUP
                            .iter()
                            .map(|(k, v)| (k.to_string(), v.to_string()))
                            .collect(),
                    }],
                },
            )]),
        ],
    };
    let mut text = format!(
        "# LAVA job written by `series lava` (tools/kernel/src/lava.rs): {} kernel\n\
         # under the {} vIOMMU, for the `qemu` device type.\n",
        spec.side,
        spec.iommu.name()
    );
    text.push_str(&serde_yaml_ng::to_string(&job)?);
    Ok(text)
}

/// A device dictionary for `lava-run`, rendered the way LAVA's
/// `qemu.jinja2` renders a `qemu` device from a job's context, for a
/// worker without KVM (`no_kvm`). A lab renders its own; this one lets
/// Debian's lava-dispatcher run the jobs on this machine.
pub fn local_device_yaml(ctx: &QemuContext) -> Result<String> {
    let command = match ctx.arch.as_str() {
        "arm64" | "aarch64" => "qemu-system-aarch64".to_string(),
        "amd64" | "x86_64" => "qemu-system-x86_64".to_string(),
        other => format!("qemu-system-{other}"),
    };
    let mut options = Vec::new();
    if TEMPLATE_SETS_MACHINE.contains(&ctx.arch.as_str()) {
        options.push(format!(
            "-cpu {}",
            ctx.cpu.as_deref().unwrap_or("cortex-a57")
        ));
        options.push(format!(
            "-machine {}",
            ctx.machine.as_deref().unwrap_or("virt")
        ));
    }
    options.push("-nographic".into());
    options.push("-net nic,model=virtio,macaddr=52:54:00:12:34:58 -net user".into());
    options.push(format!("-m {}", ctx.memory));
    options.push("-monitor none".into());
    let device = serde_json::json!({
        "available_architectures": ["arm64", "aarch64", "amd64", "x86_64"],
        "actions": {
            "deploy": {
                "connections": {"serial": null, "lxc": null},
                "methods": {"image": {"parameters": {"guest": {
                    "size": 512, "interface": "ide", "driveid": "lavatest"}}}},
            },
            "boot": {
                "connections": {"serial": null},
                "methods": {"qemu": {"parameters": {
                    "command": command,
                    "options": options,
                    "extra": ctx.extra_options,
                }}},
            },
        },
        "timeouts": {
            "actions": {}, "connections": {},
        },
    });
    Ok(serde_yaml_ng::to_string(&device)?)
}

/// One test case LAVA recorded.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct LavaCase {
    pub definition: String,
    pub case: String,
    pub result: String,
}

#[derive(Deserialize)]
struct LogLine {
    lvl: String,
    msg: serde_yaml_ng::Value,
}

/// The test cases in a LAVA job log (lava-run's output: one YAML mapping a
/// line; `lvl: results` lines carry the results).
pub fn results_from_log(log: &str) -> Vec<LavaCase> {
    log.lines()
        .map(|l| l.trim_start_matches("- "))
        .filter(|l| l.contains("\"results\""))
        .filter_map(|l| serde_yaml_ng::from_str::<LogLine>(l).ok())
        .filter(|l| l.lvl == "results")
        .filter_map(|l| serde_yaml_ng::from_value::<LavaCase>(l.msg).ok())
        .collect()
}

/// The job's own verdict in the log: the `job` case of the `lava` suite.
pub fn job_result(cases: &[LavaCase]) -> Option<&str> {
    cases
        .iter()
        .find(|c| c.definition == "lava" && c.case == "job")
        .map(|c| c.result.as_str())
}

/// The monitor's cases (name → pass/fail/skip).
pub fn ktap_cases(cases: &[LavaCase]) -> BTreeMap<String, String> {
    cases
        .iter()
        .filter(|c| c.definition == MONITOR_NAME)
        .map(|c| (c.case.clone(), c.result.clone()))
        .collect()
}

/// LAVA's name for a test case: lower case, runs of non-word characters
/// replaced by `_` (what lava_dispatcher's monitor does with the id).
pub fn lava_case_name(name: &str) -> String {
    let mut out = String::new();
    let mut in_run = false;
    for ch in name.trim().to_lowercase().chars() {
        if ch.is_alphanumeric() || ch == '_' {
            out.push(ch);
            in_run = false;
        } else if !in_run {
            out.push('_');
            in_run = true;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn artifact(name: &str) -> Artifact {
        Artifact {
            path: format!("/a/{name}").into(),
            url: format!("file:///a/{name}"),
            sha256: "0".repeat(64),
        }
    }

    fn spec(iommu: Viommu) -> JobSpec {
        JobSpec {
            side: "base".into(),
            iommu,
            context: context_for(iommu, 1024, 2).unwrap(),
            kernel: artifact("bzImage"),
            initrd: artifact("initramfs.cpio"),
            timeout: 600,
        }
    }

    #[test]
    fn context_carries_the_viommu_and_topology() {
        let ctx = context_for(Viommu::Intel, 1024, 2).unwrap();
        assert_eq!(ctx.arch, "x86_64");
        assert_eq!(ctx.memory, 1024);
        assert!(ctx.machine.is_none(), "x86 machine goes to extra_options");
        let extra = ctx.extra_options.join(" | ");
        for want in [
            "-machine q35,kernel-irqchip=split",
            "-cpu max",
            "-smp 2",
            "-no-reboot",
            "-device intel-iommu,intremap=on,caching-mode=on",
            "-device e1000,id=grpA,bus=pcibr,addr=0x1",
            "-device pcie-root-port,id=hotplug1",
        ] {
            assert!(extra.contains(want), "{want} missing: {extra}");
        }
        for gone in [
            "-qmp",
            "-chardev",
            "-serial",
            "-kernel",
            "-accel",
            "-nodefaults",
        ] {
            assert!(!extra.contains(gone), "{gone} kept: {extra}");
        }
        assert!(ctx.append.contains("intel_iommu=on"));
        // The IOMMU still comes before the devices it translates for.
        let iommu = ctx
            .extra_options
            .iter()
            .position(|o| o.contains("intel-iommu"));
        let nic = ctx.extra_options.iter().position(|o| o.contains("e1000"));
        assert!(iommu < nic);
    }

    #[test]
    fn arm_templates_take_machine_and_cpu_from_the_context() {
        let args: Vec<String> = [
            "-machine",
            "virt,iommu=smmuv3",
            "-cpu",
            "max",
            "-m",
            "512",
            "-append",
            "console=ttyAMA0",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let ctx = context_from_args("arm64", &args).unwrap();
        assert_eq!(ctx.machine.as_deref(), Some("virt,iommu=smmuv3"));
        assert_eq!(ctx.cpu.as_deref(), Some("max"));
        assert_eq!(ctx.memory, 512);
        assert!(ctx.extra_options.is_empty());
        let dev = local_device_yaml(&ctx).unwrap();
        assert!(dev.contains("-machine virt,iommu=smmuv3"), "{dev}");
        assert!(dev.contains("qemu-system-aarch64"), "{dev}");
    }

    #[test]
    fn context_rejects_a_command_line_without_append() {
        let args = vec!["-m".to_string(), "64".to_string()];
        assert!(context_from_args("x86_64", &args).is_err());
        let bad = vec![
            "-m".to_string(),
            "lots".to_string(),
            "-append".into(),
            "x".into(),
        ];
        assert!(context_from_args("x86_64", &bad).is_err());
    }

    #[test]
    fn job_has_artifacts_context_timeouts_and_monitor() {
        let y = job_yaml(&spec(Viommu::Amd)).unwrap();
        let v: serde_yaml_ng::Value = serde_yaml_ng::from_str(&y).unwrap();
        assert_eq!(v["device_type"], "qemu");
        assert_eq!(v["job_name"], "series-base-amd");
        assert_eq!(v["context"]["arch"], "x86_64");
        let deploy = &v["actions"][0]["deploy"];
        assert_eq!(deploy["images"]["kernel"]["url"], "file:///a/bzImage");
        assert_eq!(deploy["images"]["initrd"]["sha256sum"], "0".repeat(64));
        let arg = deploy["images"]["kernel"]["image_arg"].as_str().unwrap();
        assert!(arg.starts_with("-kernel {kernel} -append \"console=ttyS0"));
        assert!(arg.contains("SERIES_QMP_RELAY=0"), "{arg}");
        let mon = &v["actions"][2]["test"]["monitors"][0];
        assert_eq!(mon["start"], "SERIES-BOOTED");
        assert_eq!(mon["end"], "SERIES-DONE");
        assert_eq!(mon["fixupdict"]["not ok"], "fail");
        assert_eq!(
            v["timeouts"]["connections"]["lava-test-monitor"]["seconds"],
            600
        );
    }

    #[test]
    fn urls_are_file_or_under_the_base() {
        let abs = Path::new("/x/out/base/bzImage");
        assert_eq!(
            artifact_url(None, abs, "base/bzImage"),
            "file:///x/out/base/bzImage"
        );
        assert_eq!(
            artifact_url(None, Path::new("/x/out #1/a?b/bzImage"), "base/bzImage"),
            "file:///x/out%20%231/a%3Fb/bzImage"
        );
        assert_eq!(
            artifact_url(Some("https://lab.example/a/"), abs, "base/bzImage"),
            "https://lab.example/a/base/bzImage"
        );
    }

    #[test]
    fn results_are_read_from_a_lava_log() {
        let log = concat!(
            "- {\"dt\": \"2026-11-25T19:00:00\", \"lvl\": \"target\", \"msg\": \"ok 1 x\"}\n",
            "- {\"dt\": \"2026-11-25T19:00:01\", \"lvl\": \"results\", \"msg\": {\"definition\": \"series-ktap\", \"case\": \"dma_owner\", \"level\": \"3.1.1\", \"result\": \"skip\", \"extra\": {\"test_case_id\": \"dma_owner\"}}}\n",
            "- {\"dt\": \"2026-11-25T19:00:02\", \"lvl\": \"results\", \"msg\": {\"definition\": \"lava\", \"case\": \"job\", \"result\": \"pass\"}}\n",
        );
        let cases = results_from_log(log);
        assert_eq!(cases.len(), 2);
        assert_eq!(job_result(&cases), Some("pass"));
        assert_eq!(ktap_cases(&cases)["dma_owner"], "skip");
    }

    #[test]
    fn case_names_follow_lava() {
        assert_eq!(lava_case_name("iommufd_fail_nth"), "iommufd_fail_nth");
        assert_eq!(lava_case_name("Foo-Bar.baz"), "foo_bar_baz");
    }
}
