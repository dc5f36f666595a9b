//! The KCIDB JSON of a run passes the published KCIDB schema (kcidb-io
//! from PyPI, installed by ci/setup, through ci/kcidb/validate); a result
//! with a test status missing, or one KCIDB does not know, is rejected.

use series_kernel::kcidb::{self, Source};
use series_kernel::ktap::Outcome;
use series_kernel::qemu::Viommu;
use series_kernel::report::{BootSummary, Report, SideStatus, TestSummary};
use std::path::{Path, PathBuf};
use std::process::Command;

fn validate(file: &Path) -> (bool, String) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../ci/kcidb/validate");
    let out = Command::new("python3")
        .arg(script)
        .arg(file)
        .output()
        .expect("python3 missing");
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert_ne!(
        out.status.code(),
        Some(2),
        "kcidb-io missing (ci/setup): {text}"
    );
    (out.status.success(), text)
}

fn report(dir: &Path) -> Report {
    let ktap = dir.join("ktap.log");
    std::fs::write(
        &ktap,
        "KTAP version 1\n1..3\n    KTAP version 1\n    1..2\n    ok 1 hotplug_cycle_1\n    \
         not ok 2 hotplug cycle.2\nnot ok 1 hotplug\nok 2 iommufd # SKIP no mock\n\
         ok 3 iommufd_fail_nth\n",
    )
    .unwrap();
    let side = |name: &str| SideStatus {
        name: name.into(),
        arch: "x86_64".into(),
        status: "built".into(),
        tree: None,
        kernel: Some(dir.join(format!("{name}-bzImage"))),
        build_seconds: Some(300.0),
    };
    let mut boots = Vec::new();
    for s in ["base", "patched"] {
        for iommu in Viommu::parse_list("x86_64").unwrap() {
            boots.push(BootSummary {
                side: s.into(),
                iommu,
                passed: false,
                failures: vec!["top-level test `hotplug` failed".into()],
                accel: Some("tcg".into()),
                seconds: 30.0,
                ktap_end_seconds: Some(28.0),
                console_log: dir.join(format!("{s}-{}-console.log", iommu.name())),
                ktap_log: ktap.clone(),
                tests: vec![TestSummary {
                    name: "hotplug".into(),
                    outcome: Outcome::Fail,
                    directive: None,
                    seconds: Some(10.0),
                    subtests: None,
                }],
            });
        }
    }
    Report {
        config: "ci".into(),
        sides: vec![side("base"), side("patched")],
        iommus: Viommu::parse_list("x86_64").unwrap(),
        boots,
        known_base_failures: Vec::new(),
        expected_base_test_failures: Vec::new(),
    }
}

#[test]
fn run_results_pass_kcidb_and_broken_ones_do_not() {
    let dir = tempfile::tempdir().unwrap();
    let patches: Vec<PathBuf> = (1..=2)
        .map(|n| {
            let p = dir.path().join(format!("000{n}-x.patch"));
            std::fs::write(&p, format!("patch {n}\n")).unwrap();
            p
        })
        .collect();
    let src = Source {
        base_commit: Some("963b401c527e4384032ed9436558ac1fe30cf70e".into()),
        base_name: Some("linux-source-7.2 7.2.13-1".into()),
        patches,
        arch: "x86_64".into(),
        log_base_url: None,
    };
    let doc = kcidb::from_report(&report(dir.path()), &src).unwrap();
    // base and patched × 3 vIOMMUs × (verdict + 3 top-level + 2 nested)
    assert_eq!(doc["tests"].as_array().unwrap().len(), 2 * 3 * 6);
    let good = dir.path().join("good.json");
    std::fs::write(&good, serde_json::to_string_pretty(&doc).unwrap()).unwrap();
    let (ok, text) = validate(&good);
    assert!(ok, "{text}");
    assert!(text.contains("2 checkouts, 2 builds, 36 tests"), "{text}");

    let mut missing = doc.clone();
    missing["tests"][3]
        .as_object_mut()
        .unwrap()
        .remove("status");
    let f = dir.path().join("missing-status.json");
    std::fs::write(&f, missing.to_string()).unwrap();
    let (ok, text) = validate(&f);
    assert!(!ok, "{text}");
    assert!(text.contains("has no status"), "{text}");

    let mut unknown = doc.clone();
    unknown["tests"][3]["status"] = "GREEN".into();
    let f = dir.path().join("bad-status.json");
    std::fs::write(&f, unknown.to_string()).unwrap();
    let (ok, text) = validate(&f);
    assert!(!ok, "{text}");
    assert!(text.contains("schema v5.3"), "{text}");
}
