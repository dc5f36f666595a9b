//! Judging guest console logs without a kernel: the sample logs under
//! tests/data/ are what the guest prints over the serial console.

use series_kernel::console::{self, ConsoleReport};
use series_kernel::ktap::{Counts, Outcome};

fn analyze(name: &str) -> (String, ConsoleReport) {
    let path = format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"));
    let log = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let report = console::analyze(&log);
    (log, report)
}

#[test]
fn clean_log_passes_with_all_results() {
    let (log, r) = analyze("clean.log");
    assert!(r.passed(), "{:?}", r.failures());
    assert!(r.booted && r.done);
    let doc = r.ktap.as_ref().unwrap();
    assert_eq!(doc.plan, Some(3));
    let names: Vec<&str> = doc.tests.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["ownership", "hotplug", "unbind_rebind"]);
    assert_eq!(doc.tests[1].outcome, Outcome::Skip);
    assert_eq!(doc.tests[0].subtests.as_ref().unwrap().tests.len(), 2);
    // QMP relay lines and kernel messages stay out of the KTAP text.
    let ktap = console::ktap_text(&log, &r);
    assert!(ktap.starts_with("KTAP version 1\n1..3\n"), "{ktap}");
    assert!(!ktap.contains("SERIES-QMP"), "{ktap}");
    assert!(!ktap.contains("pciehp"), "{ktap}");
}

#[test]
fn warning_fails_even_though_every_test_passed() {
    let (_, r) = analyze("warning.log");
    let doc = r.ktap.as_ref().unwrap();
    assert!(doc.tests.iter().all(|t| t.outcome == Outcome::Pass));
    assert!(!r.passed());
    assert_eq!(r.findings.len(), 1, "{:?}", r.findings);
    assert_eq!(r.findings[0].kind, "warning");
    assert_eq!(r.findings[0].line, 8);
    assert!(r.findings[0].text.contains("drivers/base/dd.c:640"));
}

#[test]
fn missing_results_fail() {
    let (_, r) = analyze("missing-results.log");
    assert!(r.ktap.is_none());
    assert!(r.findings.is_empty());
    let f = r.failures();
    assert_eq!(f.len(), 1, "{f:?}");
    assert!(f[0].contains("no test results"), "{f:?}");
}

#[test]
fn lockdep_splat_is_reported_as_lockdep() {
    let (_, r) = analyze("lockdep.log");
    assert!(!r.passed());
    let kinds: Vec<&str> = r.findings.iter().map(|f| f.kind.as_str()).collect();
    assert_eq!(kinds, ["lockdep"], "{:?}", r.findings);
    // The test itself said ok: only the splat fails the run.
    assert_eq!(r.failures().len(), 1, "{:?}", r.failures());
}

#[test]
fn nested_ktap_counts_leaves_and_keeps_structure() {
    let (_, r) = analyze("nested.log");
    assert!(r.findings.is_empty(), "{:?}", r.findings);
    let doc = r.ktap.as_ref().unwrap();
    assert!(doc.is_complete(), "{:?}", doc.all_problems());
    assert_eq!(doc.tests.len(), 2);
    let selftests = &doc.tests[0];
    assert_eq!(selftests.outcome, Outcome::Fail);
    let sub = selftests.subtests.as_ref().unwrap();
    assert_eq!(sub.plan, Some(3));
    assert_eq!(sub.tests[0].name, "iommufd");
    assert_eq!(
        sub.tests[0].subtests.as_ref().unwrap().tests[1].outcome,
        Outcome::Fail
    );
    assert_eq!(sub.tests[1].directive.as_deref(), Some("SKIP no hugepages"));
    // Leaves: simple_close pass, cmd_fail fail, ioas skip, fail_nth pass, hp_add, hp_remove pass.
    assert_eq!(
        doc.leaf_counts(),
        Counts {
            pass: 4,
            fail: 1,
            skip: 1
        }
    );
    // The kernel message inside the nested document did not break it.
    assert_eq!(doc.tests[1].subtests.as_ref().unwrap().tests.len(), 2);
    let f = r.failures();
    assert_eq!(f, vec!["test failed: iommufd_selftests".to_string()]);
}

#[test]
fn panic_with_cut_results_reports_all_reasons() {
    let (_, r) = analyze("truncated-panic.log");
    let kinds: Vec<&str> = r.findings.iter().map(|f| f.kind.as_str()).collect();
    assert_eq!(kinds, ["bug", "oops", "panic"], "{:?}", r.findings);
    let f = r.failures().join("\n");
    assert!(f.contains("plan says 3 tests, 1 results printed"), "{f}");
    assert!(f.contains("without a closing result line"), "{f}");
    assert!(f.contains("no SERIES-DONE"), "{f}");
}
