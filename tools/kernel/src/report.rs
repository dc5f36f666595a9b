//! The run report: one table test × vIOMMU × {base, patched} with
//! pass/fail/skip and times, and the same data as JSON.

use crate::boot::BootRun;
use crate::ktap::{Counts, Outcome};
use crate::qemu::Viommu;
use serde::Serialize;
use std::path::PathBuf;

/// One top-level test of one boot.
#[derive(Debug, Clone, Serialize)]
pub struct TestSummary {
    pub name: String,
    pub outcome: Outcome,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub directive: Option<String>,
    pub seconds: Option<f64>,
    /// Leaf counts when the test has subtests.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subtests: Option<Counts>,
}

/// One boot (a kernel side under one vIOMMU).
#[derive(Debug, Clone, Serialize)]
pub struct BootSummary {
    pub side: String,
    pub iommu: Viommu,
    pub passed: bool,
    pub failures: Vec<String>,
    pub accel: Option<String>,
    pub seconds: f64,
    pub ktap_end_seconds: Option<f64>,
    pub console_log: PathBuf,
    pub ktap_log: PathBuf,
    pub tests: Vec<TestSummary>,
}

impl BootSummary {
    pub fn from_run(side: &str, iommu: Viommu, run: &BootRun) -> BootSummary {
        let secs = run.test_seconds();
        let tests = match &run.report.ktap {
            None => Vec::new(),
            Some(doc) => doc
                .tests
                .iter()
                .enumerate()
                .map(|(i, t)| TestSummary {
                    name: t.name.clone(),
                    outcome: t.outcome,
                    directive: t.directive.clone(),
                    seconds: secs.get(i).copied().flatten(),
                    subtests: t
                        .subtests
                        .as_ref()
                        .filter(|s| !s.tests.is_empty())
                        .map(|s| s.leaf_counts()),
                })
                .collect(),
        };
        BootSummary {
            side: side.to_string(),
            iommu,
            passed: run.passed(),
            failures: run.failures(),
            accel: run.accel.clone(),
            seconds: run.seconds,
            ktap_end_seconds: run.ktap_end_seconds,
            console_log: run.console_log.clone(),
            ktap_log: run.ktap_log.clone(),
            tests,
        }
    }
}

/// A kernel side of the run (`base`, `patched`) and what happened to it
/// before booting.
#[derive(Debug, Clone, Serialize)]
pub struct SideStatus {
    pub name: String,
    /// The architecture this side was built for (`x86_64`, `arm64`).
    pub arch: String,
    /// `built`, `no series`, or why it could not be built.
    pub status: String,
    pub tree: Option<PathBuf>,
    pub kernel: Option<PathBuf>,
    pub build_seconds: Option<f64>,
}

impl SideStatus {
    pub fn is_built(&self) -> bool {
        self.status == "built"
    }
}

/// The whole run.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub config: String,
    pub sides: Vec<SideStatus>,
    pub iommus: Vec<Viommu>,
    pub boots: Vec<BootSummary>,
    /// vIOMMUs under which the unpatched base is known to fail (a bug
    /// the series fixes). Their failures still show; see [`Report::excused`].
    pub known_base_failures: Vec<Viommu>,
    /// Tests written to show a bug of the base that the series fixes (the
    /// owner_regress cases: a claim without a group, devres teardown,
    /// device_del() on a bus the IOMMU core does not watch): on the base they are
    /// expected to fail. See [`Report::excused`].
    pub expected_base_test_failures: Vec<String>,
}

impl Report {
    /// The run passes when every built side passed every boot and no side
    /// failed before booting (`no series` is not a failure). A failed base
    /// boot under a vIOMMU of `known_base_failures` does not count, as long
    /// as the patched side passed under that vIOMMU (see [`Report::excused`]).
    pub fn passed(&self) -> bool {
        self.boots.iter().all(|b| b.passed || self.excused(b))
            && self
                .sides
                .iter()
                .all(|s| s.is_built() || s.status == "no series")
            && !self.boots.is_empty()
    }

    /// Side names in first-seen order (one column per side and target).
    fn side_names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = Vec::new();
        for s in &self.sides {
            if !names.contains(&s.name.as_str()) {
                names.push(&s.name);
            }
        }
        names
    }

    /// The status of `side` built for the architecture `iommu` runs on.
    fn side_for(&self, side: &str, iommu: Viommu) -> Option<&SideStatus> {
        let arch = iommu.arch().name;
        self.sides.iter().find(|s| s.name == side && s.arch == arch)
    }

    /// A failed boot that does not fail the run: a base boot, with the
    /// patched side booted under the same vIOMMU and passed there, that
    /// either ran under a vIOMMU listed in `known_base_failures` or whose
    /// only failures are tests listed in `expected_base_test_failures`
    /// (no splat, no hang, no other test). Without a passing patched boot
    /// the base failure counts: nothing shows that the series fixes it.
    pub fn excused(&self, b: &BootSummary) -> bool {
        let only_expected_tests = !b.failures.is_empty()
            && b.failures.iter().all(|f| {
                f.strip_prefix("test failed: ")
                    .is_some_and(|t| self.expected_base_test_failures.iter().any(|e| e == t))
            });
        !b.passed
            && b.side == "base"
            && (self.known_base_failures.contains(&b.iommu) || only_expected_tests)
            && self.boot("patched", b.iommu).is_some_and(|p| p.passed)
    }

    fn boot(&self, side: &str, iommu: Viommu) -> Option<&BootSummary> {
        self.boots
            .iter()
            .find(|b| b.side == side && b.iommu == iommu)
    }

    /// Test names in first-seen order over all boots.
    fn test_names(&self) -> Vec<String> {
        let mut names: Vec<String> = Vec::new();
        for b in &self.boots {
            for t in &b.tests {
                if !names.contains(&t.name) {
                    names.push(t.name.clone());
                }
            }
        }
        names
    }

    fn cell(&self, side: &str, iommu: Viommu, test: &str) -> String {
        let Some(side) = self.side_for(side, iommu) else {
            return "not built".to_string();
        };
        if !side.is_built() {
            return side.status.clone();
        }
        let Some(b) = self.boot(&side.name, iommu) else {
            return "not run".to_string();
        };
        let Some(t) = b.tests.iter().find(|t| t.name == test) else {
            return "MISSING".to_string();
        };
        let word = match t.outcome {
            Outcome::Pass => "pass",
            Outcome::Fail => "FAIL",
            Outcome::Skip => "skip",
        };
        let mut s = word.to_string();
        if let Some(c) = t.subtests {
            s.push_str(&format!(" {}/{}", c.pass, c.total()));
        }
        if let Some(sec) = t.seconds {
            s.push_str(&format!(" {sec:.1}s"));
        }
        s
    }

    fn verdict_cell(&self, side: &str, iommu: Viommu) -> String {
        let Some(side) = self.side_for(side, iommu) else {
            return "not built".to_string();
        };
        if !side.is_built() {
            return side.status.clone();
        }
        match self.boot(&side.name, iommu) {
            None => "not run".into(),
            Some(b) if b.passed => format!("PASS {:.0}s", b.ktap_end_seconds.unwrap_or(b.seconds)),
            Some(b) if self.excused(b) => format!("FAIL ({}, known)", b.failures.len()),
            Some(b) => format!("FAIL ({})", b.failures.len()),
        }
    }

    fn console_cell(&self, side: &str, iommu: Viommu) -> String {
        let Some(side) = self.side_for(side, iommu) else {
            return String::new();
        };
        if !side.is_built() {
            return String::new();
        }
        match self.boot(&side.name, iommu) {
            None => String::new(),
            Some(b) => {
                let splats: Vec<&String> = b
                    .failures
                    .iter()
                    .filter(|f| f.starts_with("kernel ") || f.starts_with("hard timeout"))
                    .collect();
                if splats.is_empty() {
                    "clean".into()
                } else {
                    let first = splats[0];
                    let kind = first.split_whitespace().nth(1).unwrap_or("splat");
                    if first.starts_with("hard timeout") {
                        "TIMEOUT".into()
                    } else {
                        format!("{} {kind}", splats.len())
                    }
                }
            }
        }
    }

    /// The text table.
    pub fn table(&self) -> String {
        let sides = self.side_names();
        let mut header = vec!["test".to_string()];
        for iommu in &self.iommus {
            for side in &sides {
                header.push(format!("{} {side}", iommu.name()));
            }
        }
        let mut rows = vec![header];
        for name in self.test_names() {
            let mut row = vec![name.clone()];
            for &iommu in &self.iommus {
                for side in &sides {
                    row.push(self.cell(side, iommu, &name));
                }
            }
            rows.push(row);
        }
        let mut console_row = vec!["(console)".to_string()];
        let mut verdict_row = vec!["(verdict)".to_string()];
        for &iommu in &self.iommus {
            for side in &sides {
                console_row.push(self.console_cell(side, iommu));
                verdict_row.push(self.verdict_cell(side, iommu));
            }
        }
        rows.push(console_row);
        rows.push(verdict_row);
        render_table(&rows)
    }

    /// Every failure reason, prefixed with its boot.
    pub fn failure_lines(&self) -> Vec<String> {
        let mut out = Vec::new();
        for s in &self.sides {
            if !s.is_built() && s.status != "no series" {
                out.push(format!("{} {}: {}", s.name, s.arch, s.status));
            }
        }
        for b in &self.boots {
            let known = if self.excused(b) {
                " (known base failure)"
            } else {
                ""
            };
            for f in &b.failures {
                out.push(format!("{} {}{known}: {f}", b.side, b.iommu.name()));
            }
        }
        out
    }
}

/// Rows as a text table: the first row is the header, underlined; columns
/// padded to their widest cell, counted in characters (a cell may hold
/// non-ASCII text), separated by ` | `.
pub fn render_table(rows: &[Vec<String>]) -> String {
    let cols = rows.first().map_or(0, Vec::len);
    let widths: Vec<usize> = (0..cols)
        .map(|c| {
            rows.iter()
                .map(|r| r.get(c).map_or(0, |s| s.chars().count()))
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for (i, row) in rows.iter().enumerate() {
        let cells: Vec<String> = row
            .iter()
            .enumerate()
            .map(|(c, s)| format!("{s:<w$}", w = widths.get(c).copied().unwrap_or(0)))
            .collect();
        out.push_str(cells.join(" | ").trim_end());
        out.push('\n');
        if i == 0 {
            let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
            out.push_str(&rule.join("-+-"));
            out.push('\n');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn render_table_pads_by_characters_and_underlines_the_header() {
        let rows = vec![
            vec!["test".to_string(), "intel base".to_string()],
            vec!["Jörg".to_string(), "pass".to_string()],
        ];
        assert_eq!(
            render_table(&rows),
            "test | intel base\n-----+-----------\nJörg | pass\n"
        );
    }

    fn summary(side: &str, iommu: Viommu, outcome: Outcome, passed: bool) -> BootSummary {
        BootSummary {
            side: side.into(),
            iommu,
            passed,
            failures: if passed {
                vec![]
            } else {
                vec!["kernel warning at console line 3: WARNING: x".into()]
            },
            accel: Some("tcg".into()),
            seconds: 5.0,
            ktap_end_seconds: Some(4.0),
            console_log: "c".into(),
            ktap_log: "k".into(),
            tests: vec![TestSummary {
                name: "unbind_rebind".into(),
                outcome,
                directive: None,
                seconds: Some(1.25),
                subtests: None,
            }],
        }
    }

    #[test]
    fn table_shows_no_series_and_failures() {
        let r = Report {
            config: "ci".into(),
            sides: vec![
                SideStatus {
                    name: "base".into(),
                    arch: "x86_64".into(),
                    status: "built".into(),
                    tree: None,
                    kernel: None,
                    build_seconds: None,
                },
                SideStatus {
                    name: "patched".into(),
                    arch: "x86_64".into(),
                    status: "no series".into(),
                    tree: None,
                    kernel: None,
                    build_seconds: None,
                },
            ],
            iommus: vec![Viommu::Intel],
            boots: vec![summary("base", Viommu::Intel, Outcome::Fail, false)],
            known_base_failures: vec![],
            expected_base_test_failures: vec![],
        };
        let t = r.table();
        assert!(t.contains("intel base"), "{t}");
        assert!(t.contains("FAIL 1.2s"), "{t}");
        assert!(t.contains("no series"), "{t}");
        assert!(t.contains("1 warning"), "{t}");
        assert!(!r.passed());
        let ok = Report {
            boots: vec![summary("base", Viommu::Intel, Outcome::Pass, true)],
            ..r
        };
        assert!(ok.passed());
    }

    #[test]
    fn columns_per_target_and_side_across_arches() {
        let side = |name: &str, arch: &str, status: &str| SideStatus {
            name: name.into(),
            arch: arch.into(),
            status: status.into(),
            tree: None,
            kernel: None,
            build_seconds: None,
        };
        let r = Report {
            config: "ci".into(),
            sides: vec![
                side("base", "x86_64", "built"),
                side("base", "arm64", "build failed: no cross compiler"),
            ],
            iommus: vec![Viommu::Intel, Viommu::Smmuv3Dt, Viommu::Smmuv3Acpi],
            boots: vec![summary("base", Viommu::Intel, Outcome::Pass, true)],
            known_base_failures: Vec::new(),
            expected_base_test_failures: Vec::new(),
        };
        let t = r.table();
        let header = t.lines().next().unwrap();
        assert!(header.contains("intel base"), "{t}");
        assert!(header.contains("smmuv3-dt base"), "{t}");
        assert!(header.contains("smmuv3-acpi base"), "{t}");
        assert_eq!(header.matches(" base").count(), 3, "{t}");
        assert!(t.contains("build failed: no cross compiler"), "{t}");
        assert!(!r.passed());
        assert!(r
            .failure_lines()
            .iter()
            .any(|l| l.starts_with("base arm64: build failed")));
    }

    fn built(name: &str) -> SideStatus {
        SideStatus {
            name: name.into(),
            arch: "x86_64".into(),
            status: "built".into(),
            tree: None,
            kernel: None,
            build_seconds: None,
        }
    }

    #[test]
    fn known_base_failure_needs_a_passing_patched_boot() {
        let r = Report {
            config: "debug".into(),
            sides: vec![built("base"), built("patched")],
            iommus: vec![Viommu::Intel, Viommu::Virtio],
            boots: vec![
                summary("base", Viommu::Intel, Outcome::Pass, true),
                summary("base", Viommu::Virtio, Outcome::Fail, false),
                summary("patched", Viommu::Intel, Outcome::Pass, true),
                summary("patched", Viommu::Virtio, Outcome::Pass, true),
            ],
            known_base_failures: vec![Viommu::Virtio],
            expected_base_test_failures: Vec::new(),
        };
        assert!(r.passed());
        let t = r.table();
        assert!(t.contains("FAIL (1, known)"), "{t}");
        assert!(
            r.failure_lines()[0].starts_with("base virtio (known base failure): kernel warning"),
            "{:?}",
            r.failure_lines()
        );

        // Not listed: the base failure fails the run.
        let unlisted = Report {
            known_base_failures: vec![Viommu::Intel],
            ..r.clone()
        };
        assert!(!unlisted.passed());
        assert!(
            unlisted.table().contains("FAIL (1) "),
            "{}",
            unlisted.table()
        );

        // The patched side fails too: nothing is excused.
        let mut both = r.clone();
        both.boots[3] = summary("patched", Viommu::Virtio, Outcome::Fail, false);
        assert!(!both.passed());
        assert!(!both.table().contains("known"));

        // No patched side at all: the base failure counts.
        let base_only = Report {
            boots: r.boots[..2].to_vec(),
            sides: vec![built("base")],
            ..r.clone()
        };
        assert!(!base_only.passed());
    }

    #[test]
    fn expected_base_test_failures_are_excused_only_alone() {
        let with_failures = |side: &str, iommu, failures: &[&str]| {
            let mut b = summary(side, iommu, Outcome::Fail, false);
            b.failures = failures.iter().map(|f| f.to_string()).collect();
            b
        };
        let r = Report {
            config: "ci".into(),
            sides: vec![built("base"), built("patched")],
            iommus: vec![Viommu::Intel],
            boots: vec![
                with_failures("base", Viommu::Intel, &["test failed: owner_regress"]),
                summary("patched", Viommu::Intel, Outcome::Pass, true),
            ],
            known_base_failures: Vec::new(),
            expected_base_test_failures: vec!["owner_regress".into()],
        };
        assert!(r.passed());

        // Another test failing on the base as well: not excused.
        let mut other = r.clone();
        other.boots[0] = with_failures(
            "base",
            Viommu::Intel,
            &["test failed: owner_regress", "test failed: dma_owner"],
        );
        assert!(!other.passed());

        // A splat next to the expected failure: not excused.
        let mut splat = r.clone();
        splat.boots[0] = with_failures(
            "base",
            Viommu::Intel,
            &[
                "test failed: owner_regress",
                "kernel WARNING at console line 3: x",
            ],
        );
        assert!(!splat.passed());

        // The patched side fails the same test: not excused.
        let mut both = r.clone();
        both.boots[1] = with_failures("patched", Viommu::Intel, &["test failed: owner_regress"]);
        assert!(!both.passed());
    }
}
