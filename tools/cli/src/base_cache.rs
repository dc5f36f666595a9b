//! The cache of prepared base trees: one git repository per base version,
//! made from a Debian `linux-source-X.Y` tarball with a reproducible commit.

use crate::manifest::Manifest;
use crate::progress;
use anyhow::{bail, Context, Result};
use git2::{IndexAddOption, Oid, Repository, Signature, Time};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The ref that names the commit a series applies on; `export` diffs from it.
pub use series_apply::BASE_REF;
/// Fixed identity and date of base commits, so a tarball always gives the same id.
const BASE_NAME: &str = "series base";
const BASE_EMAIL: &str = "base@series.invalid";
const BASE_TIME: i64 = 946_684_800; // 2000-01-01T00:00:00Z

/// A base tree ready to hand out work trees from.
#[derive(Debug, Clone)]
pub struct PreparedBase {
    pub repo_path: PathBuf,
    pub commit: Oid,
    /// `VERSION.PATCHLEVEL.SUBLEVEL` read from the base's Makefile.
    pub kernel_version: String,
    /// Package version actually used (may differ from the manifest: drift).
    pub package_version: Option<String>,
}

/// The installed version of a Debian package, or `None` when not installed.
pub fn installed_package_version(package: &str) -> Option<String> {
    let out = Command::new("dpkg-query")
        .args(["-W", "-f=${Status}\t${Version}", package])
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let (status, version) = text.split_once('\t')?;
    (out.status.success() && status.ends_with("installed") && !version.is_empty())
        .then(|| version.to_string())
}

fn is_root() -> bool {
    // SAFETY: geteuid() has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// Make sure the package's tarball exists, installing the package when we
/// are root. The system's own apt sources are tried first; a package they do
/// not carry (linux-source-7.2 on Debian 12) comes from Debian unstable
/// through `ci/fetch-unstable`, a private apt configuration that changes
/// nothing in the system's package sources.
fn ensure_tarball(package: &str, version: Option<&str>, tarball: &Path) -> Result<()> {
    if tarball.is_file() {
        return Ok(());
    }
    let fetch = crate::paths::project_root().join("ci/fetch-unstable");
    if !is_root() {
        bail!(
            "{} is missing; install it with: sudo {} {package}",
            tarball.display(),
            fetch.display()
        );
    }
    eprintln!(
        "series: {} is missing, installing {package}",
        tarball.display()
    );
    // No shell: the package name and version come from a manifest that
    // may have arrived by mail; they are validated (Manifest::validate)
    // and passed as single arguments.
    let from_system = Command::new("apt-get")
        .args(["install", "-y", "-q", "--"])
        .arg(package)
        .env("DEBIAN_FRONTEND", "noninteractive")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    let status = if from_system && tarball.is_file() {
        std::process::ExitStatus::default()
    } else {
        let mut fetch_cmd = Command::new(&fetch);
        fetch_cmd.arg(package);
        if let Some(v) = version {
            fetch_cmd.arg(v);
        }
        fetch_cmd
            .env("DEBIAN_FRONTEND", "noninteractive")
            .status()
            .with_context(|| format!("cannot run {}", fetch.display()))?
    };
    if !status.success() || !tarball.is_file() {
        bail!(
            "could not install {package}; install it by hand ({} {package}) and retry",
            fetch.display()
        );
    }
    Ok(())
}

/// `VERSION.PATCHLEVEL.SUBLEVEL` of a kernel tree's top Makefile.
pub fn makefile_version(tree: &Path) -> Result<String> {
    let path = tree.join("Makefile");
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("{} is not a kernel tree (no Makefile)", tree.display()))?;
    makefile_version_of(&text)
        .with_context(|| format!("{} has no VERSION/PATCHLEVEL/SUBLEVEL", path.display()))
}

pub fn makefile_version_of(text: &str) -> Option<String> {
    let field = |key: &str| {
        text.lines().take(20).find_map(|l| {
            let (k, v) = l.split_once('=')?;
            (k.trim() == key).then(|| v.trim().to_string())
        })
    };
    Some(format!(
        "{}.{}.{}",
        field("VERSION")?,
        field("PATCHLEVEL")?,
        field("SUBLEVEL")?
    ))
}

fn sanitize(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Prepare (or find in the cache) the base of a package manifest.
pub fn prepare_package_base(manifest: &Manifest, cache: &Path) -> Result<PreparedBase> {
    let package = manifest
        .base
        .package
        .as_deref()
        .context("the manifest's base is a git revision: use `series base --tree PATH`")?;
    let tarball = manifest.package_tarball().expect("package base");
    ensure_tarball(package, manifest.base.package_version.as_deref(), &tarball)?;
    let version = installed_package_version(package);
    if let (Some(have), Some(want)) = (&version, &manifest.base.package_version) {
        if have != want {
            eprintln!(
                "series: drift: the series was made on {package} {want}, this machine has {have}"
            );
        }
    }
    let key = format!(
        "{}_{}",
        package,
        sanitize(version.as_deref().unwrap_or("unknown"))
    );
    let repo_path = cache.join("base").join(key);
    let repo = match Repository::open(&repo_path) {
        Ok(repo) if repo.find_reference(BASE_REF).is_ok() => repo,
        _ => import_tarball(&tarball, &repo_path, package, version.as_deref())?,
    };
    let commit = repo
        .refname_to_id(BASE_REF)
        .with_context(|| format!("{} has no {BASE_REF}", repo_path.display()))?;
    Ok(PreparedBase {
        kernel_version: makefile_version(&repo_path)?,
        repo_path,
        commit,
        package_version: version,
    })
}

/// Extract the tarball into a fresh directory and commit it reproducibly.
/// Works in a temporary sibling directory renamed into place at the end,
/// so an interrupted import never leaves a half-made base behind.
fn import_tarball(
    tarball: &Path,
    dest: &Path,
    package: &str,
    version: Option<&str>,
) -> Result<Repository> {
    let parent = dest.parent().expect("cache path has a parent");
    std::fs::create_dir_all(parent)
        .with_context(|| format!("cannot create the cache {}", parent.display()))?;
    if dest.exists() {
        std::fs::remove_dir_all(dest)
            .with_context(|| format!("cannot remove the broken cache {}", dest.display()))?;
    }
    let tmp = parent.join(format!(".import-{}", std::process::id()));
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp)?;
    }
    std::fs::create_dir_all(&tmp)?;

    let pb = progress::spinner(&format!("extracting {}", tarball.display()));
    let status = Command::new("tar")
        .arg("-C")
        .arg(&tmp)
        .args(["--strip-components=1", "-xJf"])
        .arg(tarball)
        .status()
        .context("cannot run tar")?;
    pb.finish_and_clear();
    if !status.success() {
        let _ = std::fs::remove_dir_all(&tmp);
        bail!("tar could not extract {}", tarball.display());
    }

    let commit = commit_tree_reproducibly(&tmp, package, version)?;
    std::fs::rename(&tmp, dest)
        .with_context(|| format!("cannot move the new base into {}", dest.display()))?;
    eprintln!("series: base commit {commit} in {}", dest.display());
    Ok(Repository::open(dest)?)
}

/// `git init` + add every file (ignored ones too: the base is the tarball,
/// byte for byte) + one commit with a fixed identity and date.
pub fn commit_tree_reproducibly(dir: &Path, package: &str, version: Option<&str>) -> Result<Oid> {
    let repo = Repository::init(dir)
        .with_context(|| format!("cannot create a git repository in {}", dir.display()))?;
    let mut index = repo.index()?;
    let pb = progress::spinner("hashing the base tree");
    let mut n: u64 = 0;
    let mut cb = |_: &Path, _: &[u8]| -> i32 {
        n += 1;
        if n.is_multiple_of(2000) {
            pb.set_message(format!("hashing the base tree: {n} files"));
        }
        0
    };
    index
        .add_all(["*"], IndexAddOption::FORCE, Some(&mut cb))
        .context("cannot add the base files to the index")?;
    index.write()?;
    let tree_id = index.write_tree()?;
    pb.finish_and_clear();
    let tree = repo.find_tree(tree_id)?;
    let sig = Signature::new(BASE_NAME, BASE_EMAIL, &Time::new(BASE_TIME, 0))?;
    let kver = makefile_version(dir).unwrap_or_else(|_| "unknown".into());
    let message = format!(
        "Linux {kver} from {package} {}\n",
        version.unwrap_or("(unknown version)")
    );
    let commit = repo.commit(Some("refs/heads/base"), &sig, &sig, &message, &tree, &[])?;
    repo.set_head("refs/heads/base")?;
    repo.reference(BASE_REF, commit, true, "series base")?;
    Ok(commit)
}

/// Hand out a work tree of `repo` at `commit` (detached HEAD), made with
/// `git worktree add`: the objects are shared, only the files are written.
/// An existing work tree of the same repository is left as it is.
pub fn ensure_worktree(repo_path: &Path, path: &Path, commit: Oid) -> Result<bool> {
    if path.exists() {
        let wt = Repository::open(path).with_context(|| {
            format!(
                "{} exists and is not a git work tree; remove it or pass another path",
                path.display()
            )
        })?;
        let same = wt.commondir().canonicalize().ok() == repo_path.join(".git").canonicalize().ok();
        if !same {
            bail!(
                "{} is a work tree of another repository ({}); pass another path",
                path.display(),
                wt.commondir().display()
            );
        }
        return Ok(false);
    }
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    // A work tree deleted by hand leaves an entry behind that blocks re-adding.
    let _ = Command::new("git")
        .arg("-C")
        .arg(repo_path)
        .args(["worktree", "prune"])
        .status();
    let pb = progress::spinner(&format!("checking out {}", path.display()));
    let out = Command::new("git")
        .arg("-C")
        .arg(repo_path)
        .args(["worktree", "add", "--detach", "--quiet"])
        .arg(path)
        .arg(commit.to_string())
        .output()
        .context("cannot run git worktree add")?;
    pb.finish_and_clear();
    if !out.status.success() {
        bail!(
            "git worktree add {} failed: {}",
            path.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_makefile_version() {
        let mk = "# SPDX\nVERSION = 6\nPATCHLEVEL = 12\nSUBLEVEL = 117\nEXTRAVERSION =\n";
        assert_eq!(makefile_version_of(mk).as_deref(), Some("6.12.117"));
        assert_eq!(makefile_version_of("VERSION = 6\n"), None);
    }

    #[test]
    fn same_files_give_the_same_commit() {
        let make = || {
            let dir = tempfile::tempdir().unwrap();
            std::fs::write(
                dir.path().join("Makefile"),
                "VERSION = 6\nPATCHLEVEL = 1\nSUBLEVEL = 2\n",
            )
            .unwrap();
            std::fs::create_dir(dir.path().join("scripts")).unwrap();
            std::fs::write(dir.path().join("scripts/x.sh"), "#!/bin/sh\n").unwrap();
            std::fs::write(dir.path().join(".gitignore"), "*.o\n").unwrap();
            std::fs::write(dir.path().join("ignored.o"), "obj\n").unwrap();
            let id = commit_tree_reproducibly(dir.path(), "pkg", Some("1")).unwrap();
            (dir, id)
        };
        let (d1, a) = make();
        let (_d2, b) = make();
        assert_eq!(a, b);
        let repo = Repository::open(d1.path()).unwrap();
        let tree = repo.find_commit(a).unwrap().tree().unwrap();
        // Ignored files are part of the base: it is the tarball, byte for byte.
        assert!(tree.get_name("ignored.o").is_some());
        assert_eq!(repo.refname_to_id(BASE_REF).unwrap(), a);
    }
}
