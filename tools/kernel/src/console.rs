//! Reading a guest console log: kernel splats (`BUG:`, `WARNING:`, lockdep,
//! KASAN, panics), the KTAP document the guest tests printed, and the
//! markers `/init` prints (`SERIES-BOOTED`, `SERIES-DONE`).

use crate::ktap::{self, KtapDocument};
use serde::Serialize;

/// Printed by `/init` once the file systems are mounted.
pub const BOOTED_MARKER: &str = "SERIES-BOOTED";
/// Printed by `/init` after `run-tests.sh` returned.
pub const DONE_MARKER: &str = "SERIES-DONE";
/// Printed by a guest test that wants the host to send a QMP command.
pub const QMP_REQUEST: &str = "SERIES-QMP:";
/// Written by the host into the console log after a QMP command.
pub const QMP_REPLY: &str = "SERIES-QMP-REPLY:";

/// Kernel messages that fail a run whatever the tests said, and the kind
/// reported for each. Checked in order; the first match names the finding.
const SPLATS: &[(&str, &str)] = &[
    ("Kernel panic", "panic"),
    ("KASAN:", "kasan"),
    ("possible circular locking dependency", "lockdep"),
    ("possible recursive locking", "lockdep"),
    ("inconsistent lock state", "lockdep"),
    ("possible irq lock inversion", "lockdep"),
    ("suspicious RCU usage", "lockdep"),
    ("UBSAN:", "ubsan"),
    ("BUG:", "bug"),
    ("kernel BUG at", "bug"),
    ("Oops", "oops"),
    ("general protection fault", "oops"),
    ("WARNING:", "warning"),
    ("blocked for more than", "hung-task"),
    ("detected stall", "rcu-stall"),
];

/// One kernel splat found in the log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// `warning`, `bug`, `lockdep`, `kasan`, `oops`, `panic`, ...
    pub kind: String,
    /// 1-based line number in the console log.
    pub line: usize,
    /// The kernel message (timestamp stripped).
    pub text: String,
}

/// Everything the host concludes from a console log.
#[derive(Debug, Clone, Serialize)]
pub struct ConsoleReport {
    pub findings: Vec<Finding>,
    pub booted: bool,
    pub done: bool,
    /// The KTAP document, if a `KTAP version` line was printed.
    pub ktap: Option<KtapDocument>,
    /// Index of the first and one past the last line of the KTAP document.
    #[serde(skip)]
    pub ktap_span: Option<(usize, usize)>,
}

impl ConsoleReport {
    /// Reasons this run failed, empty when it passed: splats, missing or
    /// incomplete results, failed tests.
    pub fn failures(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .findings
            .iter()
            .map(|f| format!("kernel {} at console line {}: {}", f.kind, f.line, f.text))
            .collect();
        match &self.ktap {
            None => out.push("no test results (no `KTAP version` line on the console)".into()),
            Some(doc) => {
                out.extend(
                    doc.all_problems()
                        .into_iter()
                        .map(|p| format!("test results: {p}")),
                );
                for t in &doc.tests {
                    if t.outcome == ktap::Outcome::Fail {
                        out.push(format!("test failed: {}", t.name));
                    }
                }
            }
        }
        if !self.done {
            out.push(format!(
                "guest did not finish (no {DONE_MARKER} on the console)"
            ));
        }
        out
    }

    pub fn passed(&self) -> bool {
        self.failures().is_empty()
    }
}

/// Byte offsets of each `[    1.234567]` printk timestamp in `line`.
fn timestamp_spans(line: &str) -> Vec<(usize, usize)> {
    let b = line.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'[' {
            let mut j = i + 1;
            while j < b.len() && b[j] == b' ' {
                j += 1;
            }
            let d0 = j;
            while j < b.len() && b[j].is_ascii_digit() {
                j += 1;
            }
            if j > d0 && j < b.len() && b[j] == b'.' {
                j += 1;
                let f0 = j;
                while j < b.len() && b[j].is_ascii_digit() {
                    j += 1;
                }
                if j > f0 && j < b.len() && b[j] == b']' {
                    out.push((i, j + 1));
                    i = j + 1;
                    continue;
                }
            }
        }
        i += 1;
    }
    out
}

/// Text before a timestamp that makes the line a KTAP diagnostic.
fn is_diagnostic_prefix(before: &str) -> bool {
    before.trim_start().starts_with('#')
}

/// Kernel messages carried by a console line: the text after each printk
/// timestamp. A line without a timestamp yields nothing, and so does a
/// KTAP diagnostic (`# dmesg: [    2.19] WARNING: ...` quotes the log, the
/// kernel printed that message on its own line already).
pub fn kernel_messages(line: &str) -> Vec<&str> {
    let spans = timestamp_spans(line);
    if spans
        .first()
        .is_some_and(|&(start, _)| is_diagnostic_prefix(&line[..start]))
    {
        return Vec::new();
    }
    spans
        .iter()
        .enumerate()
        .map(|(k, &(_, end))| {
            let stop = spans.get(k + 1).map(|s| s.0).unwrap_or(line.len());
            line[end..stop].trim()
        })
        .collect()
}

/// The part of a console line that was printed by user space: the line
/// without any kernel message glued to it.
pub fn user_text(line: &str) -> &str {
    let line = line.trim_end_matches(['\r', '\n']);
    match timestamp_spans(line).first() {
        Some(&(start, _)) if !is_diagnostic_prefix(&line[..start]) => &line[..start],
        _ => line,
    }
}

/// QMP request/reply lines: part of the log, not of the KTAP document.
fn is_host_relay(line: &str) -> bool {
    let t = line.trim();
    t.starts_with(QMP_REQUEST) || t.starts_with(QMP_REPLY)
}

fn classify(msg: &str) -> Option<&'static str> {
    SPLATS
        .iter()
        .find(|(pat, _)| msg.contains(pat))
        .map(|(_, kind)| *kind)
}

/// Scan a whole console log.
pub fn analyze(log: &str) -> ConsoleReport {
    let lines: Vec<&str> = log.lines().map(|l| l.trim_end_matches('\r')).collect();
    let has_timestamps = lines.iter().any(|l| !timestamp_spans(l).is_empty());
    let mut findings = Vec::new();
    let mut booted = false;
    let mut done = false;
    let mut ktap_start = None;
    let mut ktap_end = None;
    let mut user_lines: Vec<&str> = Vec::with_capacity(lines.len());
    for (i, line) in lines.iter().enumerate() {
        let user = user_text(line);
        user_lines.push(user);
        let trimmed = user.trim();
        if trimmed.starts_with(QMP_REPLY) {
            continue;
        }
        if trimmed == BOOTED_MARKER {
            booted = true;
        }
        if trimmed == DONE_MARKER && ktap_end.is_none() {
            done = true;
            ktap_end = Some(i);
        }
        let user_ktap_start = ktap_start.is_none()
            && (user.starts_with("KTAP version") || user.starts_with("TAP version"));
        if user_ktap_start {
            ktap_start = Some(i);
        }
        let messages: Vec<&str> = if has_timestamps {
            kernel_messages(line)
        } else if ktap_start.is_some() && ktap_end.is_none() {
            Vec::new() // inside the test output: user space text, not kernel
        } else {
            vec![line.trim()]
        };
        for msg in messages {
            if let Some(kind) = classify(msg) {
                findings.push(Finding {
                    kind: kind.to_string(),
                    line: i + 1,
                    text: msg.to_string(),
                });
            }
        }
    }
    let (ktap, ktap_span) = match ktap_start {
        Some(start) => {
            let end = ktap_end.filter(|&e| e > start).unwrap_or(lines.len());
            // QMP requests become blank lines so that line indices stay
            // aligned with the log (test timing uses them).
            let doc_lines: Vec<&str> = user_lines[start..end]
                .iter()
                .map(|l| if is_host_relay(l) { "" } else { *l })
                .collect();
            (Some(ktap::parse_document(&doc_lines)), Some((start, end)))
        }
        None => (None, None),
    };
    ConsoleReport {
        findings,
        booted,
        done,
        ktap,
        ktap_span,
    }
}

/// The KTAP document's lines as printed (user space part only), for
/// saving next to the console log.
pub fn ktap_text(log: &str, report: &ConsoleReport) -> String {
    let Some((start, end)) = report.ktap_span else {
        return String::new();
    };
    let mut out = String::new();
    for line in log.lines().skip(start).take(end - start) {
        let user = user_text(line);
        if user.trim().is_empty() || is_host_relay(user) {
            continue;
        }
        out.push_str(user.trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_message_after_user_text() {
        let line = "ok 3 foo[    2.000001] WARNING: CPU: 0 PID: 1 at x.c:1";
        assert_eq!(user_text(line), "ok 3 foo");
        assert_eq!(
            kernel_messages(line),
            vec!["WARNING: CPU: 0 PID: 1 at x.c:1"]
        );
    }

    #[test]
    fn quoted_dmesg_in_a_diagnostic_is_not_a_second_splat() {
        let line = "    # dmesg: [    2.192919] WARNING: CPU: 1 PID: 51 at x.c:1";
        assert!(kernel_messages(line).is_empty());
        assert_eq!(user_text(line), line);
    }

    #[test]
    fn user_warning_is_not_a_splat() {
        let log = "[    0.1] booting\nSERIES-BOOTED\nKTAP version 1\n1..1\n# WARNING: user text\nok 1 a\nSERIES-DONE\n";
        let r = analyze(log);
        assert!(r.findings.is_empty(), "{:?}", r.findings);
        assert!(r.passed(), "{:?}", r.failures());
    }
}
