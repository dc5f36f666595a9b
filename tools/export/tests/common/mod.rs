//! Shared helpers: small git repositories made with the real `git`, fixed
//! identities and dates, `git format-patch` runs and byte comparisons.

#![allow(dead_code)]

use series_export::{ExportOptions, GeneratedFile};
use std::path::{Path, PathBuf};
use std::process::Command;

pub const AUTHOR: (&str, &str) = ("A U Thor", "author@example.org");
pub const COMMITTER: (&str, &str) = ("C O Mitter", "committer@example.org");
pub const DATE: &str = "1700000000 +0100";

/// The git binaries on this machine to compare against.
pub fn gits() -> Vec<PathBuf> {
    let mut out = Vec::new();
    for p in ["/usr/local/bin/git", "/usr/bin/git"] {
        let p = PathBuf::from(p);
        if p.exists() && !out.contains(&p) {
            out.push(p);
        }
    }
    if out.is_empty() {
        out.push(PathBuf::from("git"));
    }
    out
}

/// `git --version` as (major, minor).
pub fn git_version(git: &Path) -> (u32, u32) {
    let out = Command::new(git)
        .arg("--version")
        .output()
        .expect("git --version");
    let text = String::from_utf8_lossy(&out.stdout);
    let v = text.split_whitespace().nth(2).unwrap_or("0.0");
    let mut it = v.split('.').map(|p| p.parse().unwrap_or(0));
    (it.next().unwrap_or(0), it.next().unwrap_or(0))
}

/// The gits that RFC 2047-encode the cover letter's headers like export
/// (git 2.39 writes them raw; newer git encodes them as in patches).
pub fn gits_encoding_cover_headers() -> Vec<PathBuf> {
    gits()
        .into_iter()
        .filter(|g| git_version(g) >= (2, 43))
        .collect()
}

pub struct TestRepo {
    _dir: tempfile::TempDir,
    pub path: PathBuf,
    pub home: PathBuf,
}

fn git_command(git: &Path, cwd: &Path, home: &Path) -> Command {
    let mut cmd = Command::new(git);
    cmd.current_dir(cwd);
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("GIT_") {
            cmd.env_remove(key);
        }
    }
    cmd.env("HOME", home)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_AUTHOR_NAME", AUTHOR.0)
        .env("GIT_AUTHOR_EMAIL", AUTHOR.1)
        .env("GIT_AUTHOR_DATE", DATE)
        .env("GIT_COMMITTER_NAME", COMMITTER.0)
        .env("GIT_COMMITTER_EMAIL", COMMITTER.1)
        .env("GIT_COMMITTER_DATE", DATE)
        .env("LC_ALL", "C.UTF-8");
    cmd
}

impl TestRepo {
    pub fn new() -> TestRepo {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("tree");
        let home = dir.path().join("home");
        std::fs::create_dir_all(&path).unwrap();
        std::fs::create_dir_all(&home).unwrap();
        let repo = TestRepo {
            _dir: dir,
            path,
            home,
        };
        repo.git(&["init", "-q", "-b", "main"]);
        repo
    }

    pub fn scratch(&self, name: &str) -> PathBuf {
        let p = self.home.join(name);
        std::fs::create_dir_all(&p).unwrap();
        p
    }

    /// Runs the first git with `args`; panics on failure; returns stdout.
    pub fn git(&self, args: &[&str]) -> String {
        self.git_with(&gits()[0], args, &[])
    }

    pub fn git_with(&self, git: &Path, args: &[&str], env: &[(&str, &str)]) -> String {
        let mut cmd = git_command(git, &self.path, &self.home);
        cmd.args(args);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out = cmd.output().expect("run git");
        assert!(
            out.status.success(),
            "git {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    pub fn write(&self, name: &str, contents: impl AsRef<[u8]>) {
        let p = self.path.join(name);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, contents).unwrap();
    }

    pub fn remove(&self, name: &str) {
        std::fs::remove_file(self.path.join(name)).unwrap();
    }

    pub fn chmod_x(&self, name: &str) {
        use std::os::unix::fs::PermissionsExt;
        let p = self.path.join(name);
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    /// Stages everything and commits with `msg` (author: [`AUTHOR`]).
    pub fn commit(&self, msg: &str) {
        self.commit_as(AUTHOR.0, AUTHOR.1, msg);
    }

    pub fn commit_as(&self, name: &str, email: &str, msg: &str) {
        self.git(&["add", "-A"]);
        self.git_with(
            &gits()[0],
            &["commit", "-q", "--allow-empty-message", "-m", msg],
            &[("GIT_AUTHOR_NAME", name), ("GIT_AUTHOR_EMAIL", email)],
        );
    }

    /// Records HEAD as the series base (`refs/series/base`).
    pub fn mark_base(&self) {
        self.git(&["update-ref", series_export::BASE_REF, "HEAD"]);
    }

    /// `git format-patch` with the flags export reproduces, into a new dir.
    pub fn format_patch(&self, git: &Path, version: u32, prefix: &str, extra: &[&str]) -> PathBuf {
        self.format_patch_configured(git, version, prefix, extra, &[], "")
    }

    /// [`TestRepo::format_patch`] with git configuration given as
    /// `(key, value)` pairs (as `git -c key=value` would), into a new
    /// directory whose name ends in `tag`.
    pub fn format_patch_configured(
        &self,
        git: &Path,
        version: u32,
        prefix: &str,
        extra: &[&str],
        config: &[(&str, &str)],
        tag: &str,
    ) -> PathBuf {
        let out = self.scratch(&format!(
            "git-{}-{version}{tag}",
            git.display().to_string().replace('/', "_")
        ));
        let prefix_arg = format!("--subject-prefix={prefix}");
        let out_arg = out.display().to_string();
        let v = format!("-v{version}");
        let mut args = vec![
            "-c",
            "diff.algorithm=myers",
            "format-patch",
            "-q",
            "--cover-letter",
            "--zero-commit",
            "--signature=series",
            &prefix_arg,
            "--base=refs/series/base",
            "--no-thread",
            "-o",
            &out_arg,
        ];
        if version > 1 {
            args.push(&v);
        }
        args.extend_from_slice(extra);
        args.push("refs/series/base..HEAD");
        let count = config.len().to_string();
        let keys: Vec<(String, String)> = config
            .iter()
            .enumerate()
            .flat_map(|(i, (k, v))| {
                [
                    (format!("GIT_CONFIG_KEY_{i}"), k.to_string()),
                    (format!("GIT_CONFIG_VALUE_{i}"), v.to_string()),
                ]
            })
            .collect();
        let mut env: Vec<(&str, &str)> = vec![("GIT_CONFIG_COUNT", &count)];
        env.extend(keys.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        self.git_with(git, &args, &env);
        out
    }

    pub fn options(&self, version: u32, prefix: &str, cover_from: Option<&Path>) -> ExportOptions {
        ExportOptions {
            tree: self.path.clone(),
            base: None,
            version,
            subject_prefix: prefix.to_string(),
            cover_from: cover_from.map(Path::to_path_buf),
            ..Default::default()
        }
    }

    /// Runs export into a new directory and returns it.
    pub fn export(&self, version: u32, prefix: &str) -> PathBuf {
        let out = self.scratch(&format!("export-{version}"));
        let series =
            series_export::generate(&self.options(version, prefix, Some(&out))).expect("export");
        series_export::write(&out, &series.files).expect("write");
        out
    }
}

/// Files of `dir` (name, bytes), sorted by name, without export's record
/// of what it wrote (git format-patch writes none).
pub fn read_dir(dir: &Path) -> Vec<GeneratedFile> {
    let mut files: Vec<GeneratedFile> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.file_name() != series_export::RECORD_FILE)
        .map(|e| GeneratedFile {
            name: e.file_name().to_string_lossy().into_owned(),
            contents: std::fs::read(e.path()).unwrap(),
        })
        .collect();
    files.sort_by(|a, b| a.name.cmp(&b.name));
    files
}

/// Panics with a readable diff unless both directories hold the same bytes.
pub fn assert_same_dirs(expected: &Path, actual: &Path) {
    let e = read_dir(expected);
    let a = read_dir(actual);
    let en: Vec<&str> = e.iter().map(|f| f.name.as_str()).collect();
    let an: Vec<&str> = a.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(en, an, "file names differ");
    for (ef, af) in e.iter().zip(&a) {
        if ef.contents != af.contents {
            let et = String::from_utf8_lossy(&ef.contents);
            let at = String::from_utf8_lossy(&af.contents);
            let diff = similar::TextDiff::from_lines(et.as_ref(), at.as_ref());
            panic!(
                "{} differs (- {}, + export):\n{}",
                ef.name,
                expected.display(),
                diff.unified_diff().header("git", "export")
            );
        }
    }
}

/// Exports and compares with every git on the machine.
pub fn assert_matches_git(repo: &TestRepo, version: u32, prefix: &str) {
    let ours = repo.export(version, prefix);
    for git in gits() {
        let theirs = repo.format_patch(&git, version, prefix, &[]);
        assert_same_dirs(&theirs, &ours);
    }
}
