//! Which patches a tree already holds, matched as `git patch-id --stable`
//! matches them (whitespace and line numbers do not count).

use anyhow::{bail, Context, Result};
use std::collections::HashMap;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

/// How far back a tree without `refs/series/base` is searched.
pub const SEARCH_DEPTH: usize = 1000;

/// The stable patch id of each diff, in order.
pub fn of_diffs(tree: &Path, diffs: &[&[u8]]) -> Result<Vec<String>> {
    let mut input = Vec::new();
    for (i, diff) in diffs.iter().enumerate() {
        // A stand-in commit id per diff, so that each gets its own line.
        input.extend(format!("commit {:040x}\n", i + 1).bytes());
        input.extend_from_slice(diff);
        if !diff.ends_with(b"\n") {
            input.push(b'\n');
        }
    }
    let ids = run_patch_id(tree, input)?;
    (1..=diffs.len())
        .map(|i| {
            ids.get(&format!("{i:040x}")).cloned().with_context(|| {
                format!("git patch-id gave no id for patch {i} (it holds no diff?)")
            })
        })
        .collect()
}

/// Patch id → commit, for the commits of `range` (a `git log` range: the
/// commits since the base, or the last [`SEARCH_DEPTH`] of HEAD).
pub fn in_tree(tree: &Path, range: &[&str]) -> Result<HashMap<String, String>> {
    let depth = format!("--max-count={SEARCH_DEPTH}");
    let mut args = vec![
        "-c",
        "diff.noprefix=false",
        "-c",
        "diff.mnemonicPrefix=false",
        "log",
        "--no-color",
        "--no-ext-diff",
        "--no-merges",
        "-M",
        "-p",
        "--format=commit %H",
        &depth,
    ];
    args.extend_from_slice(range);
    let out = Command::new("git")
        .current_dir(tree)
        .args(&args)
        .output()
        .context("cannot run `git log` (is git installed?)")?;
    if !out.status.success() {
        bail!(
            "git log {} failed in {}: {}",
            range.join(" "),
            tree.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(run_patch_id(tree, out.stdout)?
        .into_iter()
        .map(|(commit, id)| (id, commit))
        .collect())
}

/// commit → patch id, from `git patch-id --stable` over `input`.
fn run_patch_id(tree: &Path, input: Vec<u8>) -> Result<HashMap<String, String>> {
    let mut child = Command::new("git")
        .args(["patch-id", "--stable"])
        .current_dir(tree)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("cannot run `git patch-id` (is git installed?)")?;
    let mut stdin = child.stdin.take().context("no stdin for git patch-id")?;
    let writer = std::thread::spawn(move || stdin.write_all(&input));
    let out = child.wait_with_output()?;
    writer
        .join()
        .map_err(|_| anyhow::anyhow!("the writer to git patch-id panicked"))?
        .context("cannot feed the diffs to git patch-id")?;
    if !out.status.success() {
        bail!(
            "git patch-id --stable failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(id, commit)| (commit.to_string(), id.to_string()))
        .collect())
}
