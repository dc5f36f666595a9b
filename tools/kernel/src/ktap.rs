//! KTAP parsing: `KTAP version 1`, `1..N`, `ok N name`, `not ok N name`,
//! `# SKIP` directives and indented (nested) subtests.
//!
//! The parser is fed the lines of a KTAP document (already cut out of the
//! console log by [`crate::console`]). It keeps every result it can read
//! and records what is wrong with the document in [`KtapDocument::problems`]
//! instead of failing, so a half-printed document still shows what ran.

use serde::Serialize;

/// What one test reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Pass,
    Fail,
    Skip,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Pass => "pass",
            Outcome::Fail => "fail",
            Outcome::Skip => "skip",
        }
    }
}

/// One `ok`/`not ok` line with the subtests indented above it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TestCase {
    pub number: usize,
    pub name: String,
    pub outcome: Outcome,
    /// Text after `#` on the result line (`SKIP no hotplug slot`), if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub directive: Option<String>,
    /// Index (0-based) of the result line in the lines given to [`parse`].
    pub line: usize,
    /// The nested document printed before the result line, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subtests: Option<KtapDocument>,
}

/// A KTAP document (top level or nested).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct KtapDocument {
    /// `KTAP version 1` → `"KTAP version 1"` (also accepts `TAP version 13`).
    pub version: Option<String>,
    /// The `1..N` plan.
    pub plan: Option<usize>,
    pub tests: Vec<TestCase>,
    /// Things that make the document incomplete or malformed.
    pub problems: Vec<String>,
}

impl KtapDocument {
    /// Counts of pass/fail/skip over the leaves of the tree (a test with
    /// subtests counts its subtests instead of itself).
    pub fn leaf_counts(&self) -> Counts {
        let mut c = Counts::default();
        for t in &self.tests {
            match &t.subtests {
                Some(sub) if !sub.tests.is_empty() => c.add(sub.leaf_counts()),
                _ => c.bump(t.outcome),
            }
        }
        c
    }

    /// Every problem in this document and its nested documents, prefixed
    /// with the path of the test that holds it.
    pub fn all_problems(&self) -> Vec<String> {
        let mut out = self.problems.clone();
        for t in &self.tests {
            if let Some(sub) = &t.subtests {
                out.extend(
                    sub.all_problems()
                        .into_iter()
                        .map(|p| format!("{}: {p}", t.name)),
                );
            }
        }
        out
    }

    /// True when a plan was printed and every planned result is there.
    pub fn is_complete(&self) -> bool {
        self.plan.is_some() && self.all_problems().is_empty()
    }
}

/// Pass/fail/skip counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub pass: usize,
    pub fail: usize,
    pub skip: usize,
}

impl Counts {
    fn bump(&mut self, o: Outcome) {
        match o {
            Outcome::Pass => self.pass += 1,
            Outcome::Fail => self.fail += 1,
            Outcome::Skip => self.skip += 1,
        }
    }
    fn add(&mut self, o: Counts) {
        self.pass += o.pass;
        self.fail += o.fail;
        self.skip += o.skip;
    }
    pub fn total(&self) -> usize {
        self.pass + self.fail + self.skip
    }
}

/// Width of the leading whitespace (a tab counts as 8 columns).
fn indent_of(line: &str) -> usize {
    let mut n = 0;
    for ch in line.chars() {
        match ch {
            ' ' => n += 1,
            '\t' => n += 8,
            _ => break,
        }
    }
    n
}

/// A result line split into its parts.
struct ResultLine {
    ok: bool,
    number: usize,
    name: String,
    directive: Option<String>,
}

fn parse_result(body: &str) -> Option<ResultLine> {
    let (ok, rest) = if let Some(r) = body.strip_prefix("not ok ") {
        (false, r)
    } else if let Some(r) = body.strip_prefix("ok ") {
        (true, r)
    } else {
        return None;
    };
    let rest = rest.trim_start();
    let digits: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
    let number = digits.parse().ok()?;
    let rest = rest[digits.len()..].trim_start();
    let rest = rest.strip_prefix("- ").unwrap_or(rest);
    let (name, directive) = match rest
        .find(" #")
        .or_else(|| rest.strip_prefix('#').map(|_| 0))
    {
        Some(i) => {
            let d = rest[i..].trim_start().trim_start_matches('#').trim();
            (rest[..i].trim(), (!d.is_empty()).then(|| d.to_string()))
        }
        None => (rest.trim(), None),
    };
    Some(ResultLine {
        ok,
        number,
        name: name.to_string(),
        directive,
    })
}

fn outcome_of(r: &ResultLine) -> Outcome {
    let skip = r
        .directive
        .as_deref()
        .is_some_and(|d| d.to_ascii_uppercase().starts_with("SKIP"));
    if skip {
        Outcome::Skip
    } else if r.ok {
        Outcome::Pass
    } else {
        Outcome::Fail
    }
}

fn parse_plan(body: &str) -> Option<usize> {
    let n = body.strip_prefix("1..")?;
    let digits: String = n.chars().take_while(|c| c.is_ascii_digit()).collect();
    digits.parse().ok()
}

fn is_version(body: &str) -> bool {
    body.starts_with("KTAP version ") || body.starts_with("TAP version ")
}

/// Parse a KTAP document. `lines` are the document's lines; blank lines and
/// diagnostics (`# ...`) are skipped.
pub fn parse<S: AsRef<str>>(lines: &[S]) -> KtapDocument {
    let items: Vec<(usize, usize, &str)> = lines
        .iter()
        .enumerate()
        .map(|(i, l)| {
            let l = l.as_ref().trim_end_matches(['\r', '\n']);
            (i, indent_of(l), l.trim())
        })
        .filter(|(_, _, body)| !body.is_empty())
        .collect();
    let base = items.first().map(|(_, ind, _)| *ind).unwrap_or(0);
    let mut pos = 0;
    parse_level(&items, &mut pos, base)
}

/// Parse the results at indentation `level`, starting at `items[*pos]`,
/// until a line less indented than `level` (the end of a nested document).
fn parse_level(items: &[(usize, usize, &str)], pos: &mut usize, level: usize) -> KtapDocument {
    let mut doc = KtapDocument::default();
    let mut pending_sub: Option<KtapDocument> = None;
    while *pos < items.len() {
        let (idx, ind, body) = items[*pos];
        if ind < level {
            break;
        }
        if ind > level {
            // A nested document: belongs to the next result line at `level`.
            let sub = parse_level(items, pos, ind);
            match &mut pending_sub {
                Some(prev) => {
                    prev.tests.extend(sub.tests);
                    prev.problems.extend(sub.problems);
                }
                None => pending_sub = Some(sub),
            }
            continue;
        }
        *pos += 1;
        if is_version(body) {
            if doc.version.is_none() && doc.tests.is_empty() {
                doc.version = Some(body.to_string());
            }
            continue;
        }
        if let Some(n) = parse_plan(body) {
            if doc.plan.is_some() {
                doc.problems.push(format!("second plan line `{body}`"));
            } else {
                doc.plan = Some(n);
            }
            continue;
        }
        if let Some(rest) = body.strip_prefix("Bail out!") {
            doc.problems.push(format!("bail out:{rest}"));
            continue;
        }
        if let Some(r) = parse_result(body) {
            let outcome = outcome_of(&r);
            let mut subtests = pending_sub.take();
            if let Some(sub) = &mut subtests {
                if sub.plan.is_none() && !sub.tests.is_empty() {
                    sub.problems.push("nested document has no plan".to_string());
                }
                check_plan(sub);
            }
            doc.tests.push(TestCase {
                number: r.number,
                name: r.name,
                outcome,
                directive: r.directive,
                line: idx,
                subtests,
            });
            continue;
        }
        // Diagnostics (`# ...`) and any other text: ignored.
    }
    if let Some(sub) = pending_sub {
        // Subtests printed but their parent's result line never came.
        let n = sub.tests.len();
        doc.problems.push(format!(
            "{n} nested result(s) without a closing result line (test cut short?)"
        ));
    }
    doc
}

fn check_plan(doc: &mut KtapDocument) {
    if let Some(plan) = doc.plan {
        let got = doc.tests.len();
        if got < plan {
            doc.problems
                .push(format!("plan says {plan} tests, {got} results printed"));
        } else if got > plan {
            doc.problems
                .push(format!("plan says {plan} tests, but {got} results printed"));
        }
    }
}

/// Parse a top-level document and check its plan.
pub fn parse_document<S: AsRef<str>>(lines: &[S]) -> KtapDocument {
    let mut doc = parse(lines);
    if doc.version.is_none() {
        doc.problems.push("no `KTAP version` line".to_string());
    }
    if doc.plan.is_none() {
        doc.problems.push("no plan line (`1..N`)".to_string());
    }
    check_plan(&mut doc);
    doc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn result_line_parts() {
        let r = parse_result("not ok 12 hotplug_e1000 # SKIP no slot").unwrap();
        assert!(!r.ok);
        assert_eq!(r.number, 12);
        assert_eq!(r.name, "hotplug_e1000");
        assert_eq!(r.directive.as_deref(), Some("SKIP no slot"));
        assert_eq!(outcome_of(&r), Outcome::Skip);
        let r = parse_result("ok 3 - a b c").unwrap();
        assert_eq!(r.name, "a b c");
        assert_eq!(outcome_of(&r), Outcome::Pass);
        assert!(parse_result("okay 3").is_none());
    }

    #[test]
    fn flat_document() {
        let doc = parse_document(&["KTAP version 1", "1..2", "ok 1 a", "not ok 2 b"]);
        assert_eq!(doc.plan, Some(2));
        assert_eq!(doc.tests[1].outcome, Outcome::Fail);
        assert!(doc.is_complete());
        assert_eq!(
            doc.leaf_counts(),
            Counts {
                pass: 1,
                fail: 1,
                skip: 0
            }
        );
    }

    #[test]
    fn short_document_is_incomplete() {
        let doc = parse_document(&["KTAP version 1", "1..3", "ok 1 a"]);
        assert!(!doc.is_complete());
        assert!(
            doc.problems[0].contains("plan says 3"),
            "{:?}",
            doc.problems
        );
    }
}
