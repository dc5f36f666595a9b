//! A run's results as KCIDB JSON (schema v5.3, KernelCI's common results
//! database): checkouts → builds → tests.
//!
//! - one checkout per side: the base commit, and for `patched` the same
//!   commit plus the series as `patchset_files` and its `patchset_hash`
//!   (sha256 over the newline-terminated sha256 hex of each patch, in
//!   order: what `sha256sum *.patch | cut -c-64 | sha256sum` prints);
//! - one build per side × config × architecture;
//! - per boot (vIOMMU), a test at path `series` (the boot's verdict,
//!   kernel splats and timeouts included) and one per KTAP path below it:
//!   `series.hotplug`, `series.hotplug.hotplug_cycle_1`, ...; the vIOMMU
//!   is the test's environment.

use crate::ktap::{self, KtapDocument, Outcome};
use crate::report::{BootSummary, Report, SideStatus};
use anyhow::{Context, Result};
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// KCIDB origin (the submitting CI system): `[a-z0-9_]+`.
pub const ORIGIN: &str = "series";
pub const SCHEMA_MAJOR: u64 = 5;
pub const SCHEMA_MINOR: u64 = 3;

/// What the run knows about where its code came from.
#[derive(Debug, Clone, Default)]
pub struct Source {
    /// 40-hex commit of the base (`refs/series/base`), or of the tree
    /// tested; `None` for a bare bzImage.
    pub base_commit: Option<String>,
    /// `git describe`-like name, e.g. `linux-source-7.2 7.2.13-1`.
    pub base_name: Option<String>,
    /// The series' patches in order (cover letter excluded).
    pub patches: Vec<PathBuf>,
    /// Architecture of the builds (`x86_64`).
    pub arch: String,
    /// Where the artifacts and logs will be reachable; file:// when empty.
    pub log_base_url: Option<String>,
}

/// KCIDB's patchset hash of patch contents, in order; empty for none.
pub fn patchset_hash(patches: &[Vec<u8>]) -> String {
    if patches.is_empty() {
        return String::new();
    }
    let mut outer = Sha256::new();
    for p in patches {
        outer.update(crate::lava::hex(&Sha256::digest(p)).as_bytes());
        outer.update(b"\n");
    }
    crate::lava::hex(&outer.finalize())
}

fn url_of(src: &Source, path: &Path) -> String {
    match &src.log_base_url {
        Some(base) => format!(
            "{}/{}",
            base.trim_end_matches('/'),
            path.file_name().unwrap_or_default().to_string_lossy()
        ),
        None => format!("file://{}", path.display()),
    }
}

/// A path segment KCIDB accepts (`[a-zA-Z0-9_-]+`).
pub fn path_segment(name: &str) -> String {
    let s: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if s.is_empty() {
        "_".into()
    } else {
        s
    }
}

fn status_of(o: Outcome) -> &'static str {
    match o {
        Outcome::Pass => "PASS",
        Outcome::Fail => "FAIL",
        Outcome::Skip => "SKIP",
    }
}

/// The KCIDB document of a run.
pub fn from_report(report: &Report, src: &Source) -> Result<Value> {
    let patch_texts: Vec<Vec<u8>> = src
        .patches
        .iter()
        .map(|p| std::fs::read(p).with_context(|| format!("cannot read {}", p.display())))
        .collect::<Result<_>>()?;
    let hash = patchset_hash(&patch_texts);
    let short = match &src.base_commit {
        Some(c) => c[..c.len().min(12)].to_string(),
        None => "unknown".to_string(),
    };
    let mut checkouts = Vec::new();
    let mut builds = Vec::new();
    let mut tests = Vec::new();
    for side in &report.sides {
        let patched = side.name != "base" && !src.patches.is_empty();
        if side.status == "no series" {
            continue;
        }
        let checkout_id = if patched {
            format!("{ORIGIN}:{short}+{}", &hash[..16])
        } else {
            format!("{ORIGIN}:{short}")
        };
        if !checkouts
            .iter()
            .any(|c: &Value| c["id"] == checkout_id.as_str())
        {
            let mut c = json!({
                "id": checkout_id,
                "origin": ORIGIN,
                "patchset_hash": if patched { hash.as_str() } else { "" },
                "valid": !side.status.starts_with("apply failed"),
            });
            if let Some(commit) = &src.base_commit {
                c["git_commit_hash"] = json!(commit);
            }
            if let Some(name) = &src.base_name {
                c["git_commit_name"] = json!(name);
            }
            if patched {
                c["patchset_files"] = src
                    .patches
                    .iter()
                    .map(|p| {
                        json!({
                            "name": p.file_name().unwrap_or_default().to_string_lossy(),
                            "url": url_of(src, p),
                        })
                    })
                    .collect();
            }
            if side.status.starts_with("apply failed") {
                c["comment"] = json!(side.status);
            }
            checkouts.push(c);
        }
        if side.status.starts_with("apply failed") {
            continue;
        }
        let arch = side_arch(side, src);
        let build_id = format!("{checkout_id}:{}:{}:{arch}", side.name, report.config);
        builds.push(build_json(&build_id, &checkout_id, side, report, src));
        if !side.is_built() {
            continue;
        }
        // Each build's own boots: a run of both architectures has a base
        // (and a patched) side per architecture.
        for boot in report
            .boots
            .iter()
            .filter(|b| b.side == side.name && b.iommu.arch().name == arch)
        {
            tests.extend(boot_tests(&build_id, boot, src));
        }
    }
    Ok(json!({
        "version": {"major": SCHEMA_MAJOR, "minor": SCHEMA_MINOR},
        "checkouts": checkouts,
        "builds": builds,
        "tests": tests,
    }))
}

/// The architecture a side was built for (older reports carry none: the
/// source's).
fn side_arch<'a>(side: &'a SideStatus, src: &'a Source) -> &'a str {
    if side.arch.is_empty() {
        &src.arch
    } else {
        &side.arch
    }
}

fn build_json(
    id: &str,
    checkout_id: &str,
    side: &SideStatus,
    report: &Report,
    src: &Source,
) -> Value {
    let mut b = json!({
        "id": id,
        "origin": ORIGIN,
        "checkout_id": checkout_id,
        "architecture": side_arch(side, src),
        "config_name": report.config,
        "status": if side.is_built() { "PASS" } else { "FAIL" },
    });
    if let Some(s) = side.build_seconds {
        b["duration"] = json!(s);
    }
    if !side.is_built() {
        b["comment"] = json!(side.status);
    }
    if let Some(k) = &side.kernel {
        let name = k.file_name().unwrap_or_default().to_string_lossy();
        b["output_files"] = json!([{"name": name, "url": url_of(src, k)}]);
    }
    b
}

fn environment(boot: &BootSummary) -> Value {
    let mut misc = Map::new();
    misc.insert("iommu".into(), json!(boot.iommu.name()));
    if let Some(a) = &boot.accel {
        misc.insert("accel".into(), json!(a));
    }
    json!({
        "comment": format!("QEMU under the {} vIOMMU", boot.iommu.name()),
        "misc": misc,
    })
}

/// The tests of one boot: `series` (the verdict), then every KTAP path.
fn boot_tests(build_id: &str, boot: &BootSummary, src: &Source) -> Vec<Value> {
    let prefix = format!("{build_id}:{}", boot.iommu.name());
    let env = environment(boot);
    let mut verdict = json!({
        "id": format!("{prefix}:series"),
        "origin": ORIGIN,
        "build_id": build_id,
        "path": "series",
        "status": if boot.passed { "PASS" } else { "FAIL" },
        "environment": env,
        "duration": boot.seconds,
        "log_url": url_of(src, &boot.console_log),
    });
    if !boot.failures.is_empty() {
        let text = boot.failures.join("\n");
        verdict["log_excerpt"] = json!(text.chars().take(16000).collect::<String>());
    }
    let mut out = vec![verdict];
    // The nested results come from the boot's ktap.log; the top level from
    // the report (with its times) when the log is gone.
    let doc = std::fs::read_to_string(&boot.ktap_log)
        .ok()
        .map(|t| ktap::parse_document(&t.lines().collect::<Vec<_>>()));
    match doc {
        Some(doc) if !doc.tests.is_empty() => {
            ktap_tests(&doc, "series", &prefix, build_id, &env, &mut out);
            for t in &boot.tests {
                let path = format!("series.{}", path_segment(&t.name));
                if let (Some(v), Some(s)) = (
                    out.iter_mut().find(|v| v["path"] == path.as_str()),
                    t.seconds,
                ) {
                    v["duration"] = json!(s);
                }
            }
        }
        _ => {
            for t in &boot.tests {
                let path = format!("series.{}", path_segment(&t.name));
                let mut v = json!({
                    "id": format!("{prefix}:{path}"),
                    "origin": ORIGIN,
                    "build_id": build_id,
                    "path": path,
                    "status": status_of(t.outcome),
                    "environment": env,
                });
                if let Some(s) = t.seconds {
                    v["duration"] = json!(s);
                }
                out.push(v);
            }
        }
    }
    out
}

fn ktap_tests(
    doc: &KtapDocument,
    parent: &str,
    prefix: &str,
    build_id: &str,
    env: &Value,
    out: &mut Vec<Value>,
) {
    for t in &doc.tests {
        let path = format!("{parent}.{}", path_segment(&t.name));
        let mut v = json!({
            "id": format!("{prefix}:{path}"),
            "origin": ORIGIN,
            "build_id": build_id,
            "path": path,
            "status": status_of(t.outcome),
            "environment": env,
            "misc": {"ktap_number": t.number},
        });
        if let Some(d) = &t.directive {
            v["comment"] = json!(d);
        }
        // Two results with one name under one parent: keep both, the
        // second with its number in the id.
        if out.iter().any(|o| o["id"] == v["id"]) {
            v["id"] = json!(format!("{prefix}:{path}#{}", t.number));
        }
        out.push(v);
        if let Some(sub) = &t.subtests {
            ktap_tests(sub, &path, prefix, build_id, env, out);
        }
    }
}

/// Problems KCIDB's schema lets through but that make a result useless
/// here: a test or build without a status (KCIDB would read it as
/// unknown), a test whose build or a build whose checkout is missing.
pub fn completeness_problems(doc: &Value) -> Vec<String> {
    let mut out = Vec::new();
    let ids = |key: &str| -> Vec<String> {
        doc[key]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|o| o["id"].as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default()
    };
    let checkouts = ids("checkouts");
    let builds = ids("builds");
    for b in doc["builds"].as_array().into_iter().flatten() {
        let id = b["id"].as_str().unwrap_or("?");
        if b.get("status").is_none() {
            out.push(format!("build {id} has no status"));
        }
        if !checkouts
            .iter()
            .any(|c| Some(c.as_str()) == b["checkout_id"].as_str())
        {
            out.push(format!("build {id} names a missing checkout"));
        }
    }
    for t in doc["tests"].as_array().into_iter().flatten() {
        let id = t["id"].as_str().unwrap_or("?");
        if t.get("status").is_none() {
            out.push(format!("test {id} has no status"));
        }
        if !builds
            .iter()
            .any(|b| Some(b.as_str()) == t["build_id"].as_str())
        {
            out.push(format!("test {id} names a missing build"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::qemu::Viommu;
    use crate::report::TestSummary;

    #[test]
    fn patchset_hash_is_kcidbs_recipe() {
        // printf 'a\n' > 1.patch; printf 'b\n' > 2.patch;
        // sha256sum *.patch | cut -c-64 | sha256sum | cut -c-64
        let h = patchset_hash(&[b"a\n".to_vec(), b"b\n".to_vec()]);
        assert_eq!(
            h,
            "7b77b1b66500ed66bdb3e5f10e78f55ab6d4b404fa676ec1bee2ab5b31346a80"
        );
        assert_eq!(patchset_hash(&[]), "");
    }

    pub(crate) fn sample_report(dir: &Path) -> Report {
        let ktap = dir.join("ktap.log");
        std::fs::write(
            &ktap,
            "KTAP version 1\n1..2\n    KTAP version 1\n    1..2\n    ok 1 cycle_1\n    ok 2 cycle 2\nok 1 hotplug\nok 2 iommufd # SKIP no mock\n",
        )
        .unwrap();
        let side = |name: &str, status: &str| SideStatus {
            name: name.into(),
            arch: "x86_64".into(),
            status: status.into(),
            tree: None,
            kernel: Some(dir.join("bzImage")),
            build_seconds: Some(12.5),
        };
        let boot = |side: &str| BootSummary {
            side: side.into(),
            iommu: Viommu::Virtio,
            passed: true,
            failures: vec![],
            accel: Some("tcg".into()),
            seconds: 20.0,
            ktap_end_seconds: Some(18.0),
            console_log: dir.join("console.log"),
            ktap_log: ktap.clone(),
            tests: vec![
                TestSummary {
                    name: "hotplug".into(),
                    outcome: Outcome::Pass,
                    directive: None,
                    seconds: Some(9.5),
                    subtests: None,
                },
                TestSummary {
                    name: "iommufd".into(),
                    outcome: Outcome::Skip,
                    directive: Some("SKIP no mock".into()),
                    seconds: Some(0.1),
                    subtests: None,
                },
            ],
        };
        Report {
            config: "ci".into(),
            sides: vec![side("base", "built"), side("patched", "built")],
            iommus: vec![Viommu::Virtio],
            boots: vec![boot("base"), boot("patched")],
            known_base_failures: Vec::new(),
            expected_base_test_failures: Vec::new(),
        }
    }

    #[test]
    fn report_becomes_checkouts_builds_and_ktap_paths() {
        let dir = tempfile::tempdir().unwrap();
        let p1 = dir.path().join("0001-a.patch");
        std::fs::write(&p1, "a\n").unwrap();
        let src = Source {
            base_commit: Some("963b401c527e".repeat(4)[..40].to_string()),
            base_name: Some("linux-source-7.2 7.2.13-1".into()),
            patches: vec![p1],
            arch: "x86_64".into(),
            log_base_url: None,
        };
        let doc = from_report(&sample_report(dir.path()), &src).unwrap();
        assert_eq!(doc["checkouts"].as_array().unwrap().len(), 2);
        assert_eq!(doc["checkouts"][0]["patchset_hash"], "");
        assert_eq!(
            doc["checkouts"][1]["patchset_hash"].as_str().unwrap().len(),
            64
        );
        assert_eq!(doc["builds"].as_array().unwrap().len(), 2);
        let paths: Vec<&str> = doc["tests"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|t| t["build_id"] == doc["builds"][0]["id"])
            .map(|t| t["path"].as_str().unwrap())
            .collect();
        assert_eq!(
            paths,
            [
                "series",
                "series.hotplug",
                "series.hotplug.cycle_1",
                "series.hotplug.cycle_2",
                "series.iommufd"
            ]
        );
        let skip = doc["tests"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["path"] == "series.iommufd")
            .unwrap();
        assert_eq!(skip["status"], "SKIP");
        assert_eq!(skip["environment"]["misc"]["iommu"], "virtio");
        assert!(completeness_problems(&doc).is_empty());
        let mut broken = doc.clone();
        broken["tests"][1].as_object_mut().unwrap().remove("status");
        assert_eq!(completeness_problems(&broken).len(), 1);
    }

    #[test]
    fn each_architecture_is_its_own_build_with_its_own_boots() {
        let dir = tempfile::tempdir().unwrap();
        let mut report = sample_report(dir.path());
        let mut arm = report.sides[0].clone();
        arm.arch = "arm64".into();
        arm.kernel = Some(dir.path().join("Image"));
        report.sides.push(arm);
        let mut arm_boot = report.boots[0].clone();
        arm_boot.iommu = Viommu::Smmuv3Dt;
        report.boots.push(arm_boot);
        let src = Source {
            base_commit: None,
            base_name: None,
            patches: Vec::new(),
            arch: "x86_64".into(),
            log_base_url: None,
        };
        let doc = from_report(&report, &src).unwrap();
        let builds = doc["builds"].as_array().unwrap();
        let arm_build = builds
            .iter()
            .find(|b| b["architecture"] == "arm64")
            .expect("an arm64 build");
        assert_eq!(arm_build["output_files"][0]["name"], "Image");
        let of_build = |id: &Value| {
            doc["tests"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|t| &t["build_id"] == id && t["path"] == "series")
                .map(|t| {
                    t["environment"]["misc"]["iommu"]
                        .as_str()
                        .unwrap()
                        .to_string()
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(of_build(&arm_build["id"]), ["smmuv3-dt"]);
        assert_eq!(of_build(&builds[0]["id"]), ["virtio"]);
    }
}
