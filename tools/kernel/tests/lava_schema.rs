//! Every job of the matrix (base and patched × intel, amd, virtio) passes
//! lava-common's schema validation, the check a LAVA server runs when a
//! job is submitted; a job with a broken field does not. Needs Debian's
//! /usr/bin/python3 with lava_common (package lava-common, ci/setup).

use series_kernel::lava::{self, Artifact, JobSpec};
use series_kernel::qemu::Viommu;
use std::path::{Path, PathBuf};
use std::process::Command;

fn validator() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../ci/lava/validate-jobs")
}

fn artifact(dir: &Path, name: &str) -> Artifact {
    let p = dir.join(name);
    std::fs::write(&p, name).unwrap();
    Artifact {
        url: lava::artifact_url(Some("https://lab.example/series"), &p, name),
        sha256: lava::sha256_file(&p).unwrap(),
        path: p,
    }
}

fn validate(files: &[PathBuf]) -> (bool, String) {
    let out = Command::new("/usr/bin/python3")
        .arg(validator())
        .args(files)
        .output()
        .expect("/usr/bin/python3 missing: run ci/setup");
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(
        !text.contains("No module named"),
        "lava_common is not importable by /usr/bin/python3 (ci/setup installs lava-common): {text}"
    );
    (out.status.success(), text)
}

#[test]
fn the_whole_matrix_is_valid_for_lava() {
    let dir = tempfile::tempdir().unwrap();
    let mut files = Vec::new();
    for side in ["base", "patched"] {
        let k = artifact(dir.path(), &format!("{side}-bzImage"));
        let i = artifact(dir.path(), &format!("{side}-initramfs.cpio"));
        for iommu in Viommu::parse_list("x86_64").unwrap() {
            let spec = JobSpec {
                side: side.into(),
                iommu,
                context: lava::context_for(iommu, 1024, 2).unwrap(),
                kernel: k.clone(),
                initrd: i.clone(),
                timeout: 600,
            };
            let f = dir.path().join(format!("{}.yaml", spec.job_name()));
            std::fs::write(&f, lava::job_yaml(&spec).unwrap()).unwrap();
            files.push(f);
        }
    }
    let (ok, text) = validate(&files);
    assert!(ok, "{text}");
    assert_eq!(text.matches(": valid").count(), 6, "{text}");

    // The same job with a test timeout longer than the job's is refused,
    // and so is an unknown context variable.
    let good = std::fs::read_to_string(&files[0]).unwrap();
    let long = dir.path().join("long.yaml");
    std::fs::write(&long, good.replacen("seconds: 600", "seconds: 99999", 1)).unwrap();
    let odd = dir.path().join("odd.yaml");
    std::fs::write(
        &odd,
        good.replacen("context:\n", "context:\n  vfio: yes\n", 1),
    )
    .unwrap();
    let (ok, text) = validate(&[long, odd]);
    assert!(!ok, "{text}");
    assert_eq!(text.matches("INVALID").count(), 2, "{text}");
}

/// The monitor's pattern, run by Python's `re` (the engine pexpect and so
/// LAVA use) over a console with nested KTAP, gives the same top-level
/// outcomes as our own KTAP parser.
#[test]
fn monitor_pattern_reads_top_level_ktap_like_our_parser() {
    let console = "SERIES-BOOTED\r\nKTAP version 1\r\n1..5\r\n    KTAP version 1\r\n    1..2\r\n\
        \x20   ok 1 cycle_1\r\n    not ok 2 cycle_2\r\nnot ok 1 dma_owner\r\n\
        ok 2 hotplug # SKIP no QMP relay on this host (SERIES_QMP_RELAY=0)\r\n\
        [   12.345678] e1000 0000:01:00.0: some kernel line\r\n\
        not ok 3 iommufd # SKIP no /dev/iommu\r\nok 4 - iommufd_fail_nth\r\n\
        ok 5 last_one\r\nSERIES-DONE\r\n";
    let script = r#"
import json, re, sys
pattern, fixup = sys.argv[1], json.loads(sys.argv[2])
text = sys.stdin.read()
text = text[text.index("SERIES-BOOTED") + len("SERIES-BOOTED"):text.index("SERIES-DONE")]
for m in re.finditer(pattern, text, re.DOTALL):
    case = re.sub(r"\W+", "_", m.group("test_case_id").strip().lower())
    print(case, fixup[m.group("result")])
"#;
    let lava_view = run_monitor_script(script, &[], console);

    let lines: Vec<&str> = console.lines().map(|l| l.trim_end_matches('\r')).collect();
    let report = series_kernel::console::analyze(&lines.join("\n"));
    let doc = report.ktap.expect("a KTAP document");
    let ours: String = doc
        .tests
        .iter()
        .map(|t| format!("{} {}\n", lava::lava_case_name(&t.name), t.outcome.as_str()))
        .collect();
    assert_eq!(lava_view, ours);
    assert_eq!(
        ours,
        "dma_owner fail\nhotplug skip\niommufd skip\niommufd_fail_nth pass\nlast_one pass\n"
    );
}

/// LAVA's monitor matches the console while it streams in (pexpect
/// searches the buffer after every read and drops what a match consumed),
/// so the pattern must not match a result line before its end has come:
/// fed in small pieces, a name must not be cut (`dma_ow`) nor a SKIP seen
/// as a pass. Seen with lava-run on a real guest before the pattern asked
/// for the line's end.
#[test]
fn monitor_pattern_waits_for_whole_lines_in_a_stream() {
    let console = "SERIES-BOOTED\r\nKTAP version 1\r\n1..4\r\n    KTAP version 1\r\n\
        \x20   ok 1 cycle_1\r\nok 1 dma_owner\r\n\
        ok 2 hotplug # SKIP no QMP relay on this host (SERIES_QMP_RELAY=0)\r\n\
        not ok 3 owner_regress\r\nok 4 - iommufd_fail_nth\r\nSERIES-DONE\r\n";
    let script = r#"
import json, re, sys
pattern, fixup, step = sys.argv[1], json.loads(sys.argv[2]), int(sys.argv[3])
text = sys.stdin.read()
rx = re.compile(pattern, re.DOTALL)
buf, seen = "", []
for i in range(0, len(text), step):
    buf += text[i:i + step]
    while True:
        m = rx.search(buf)
        if not m:
            break
        seen.append(m.group("test_case_id") + " " + fixup[m.group("result")])
        buf = buf[m.end():]
print("\n".join(seen))
"#;
    for step in [1, 3, 7, 16] {
        assert_eq!(
            run_monitor_script(script, &[&step.to_string()], console),
            "dma_owner pass\nhotplug skip\nowner_regress fail\niommufd_fail_nth pass\n",
            "console fed {step} byte(s) at a time"
        );
    }
}

/// Runs a Python `script` (Python's `re` is the engine pexpect and so LAVA
/// use) with the monitor's pattern, the fixup table as JSON and `extra`
/// arguments, `console` on its stdin; returns what it printed.
fn run_monitor_script(script: &str, extra: &[&str], console: &str) -> String {
    use std::io::Write;
    let fixup: std::collections::BTreeMap<&str, &str> = lava::FIXUP.iter().copied().collect();
    let mut child = Command::new("/usr/bin/python3")
        .args(["-c", script, lava::KTAP_PATTERN])
        .arg(serde_json::to_string(&fixup).unwrap())
        .args(extra)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("/usr/bin/python3");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(console.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap()
}
