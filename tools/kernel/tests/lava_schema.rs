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
        for iommu in Viommu::ALL {
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
