//! A fixture for the review flow: a small kernel-like tree with a
//! MAINTAINERS file, a project checkout with patches/, the `series` binary
//! run on them with a private HOME, and a real SMTP server on a free port.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

pub const AUTHOR: &str = "A U Thor <author@example.org>";

/// A stand-in for scripts/get_maintainer.pl: the same output lines
/// (`addr (maintainer:SECTION)`, `(reviewer:...)`, `(open list:...)`) for
/// the F: patterns of the --mpath file that the patch's files match.
const GET_MAINTAINER: &str = r#"#!/usr/bin/perl
use strict;
my ($mpath, @files);
while (@ARGV) {
    my $a = shift @ARGV;
    if ($a eq '--mpath') { $mpath = shift @ARGV; next; }
    if ($a eq '--separator') { shift @ARGV; next; }
    next if $a =~ /^--/;
    push @files, $a;
}
my %paths;
for my $f (@files) {
    open(my $p, '<', $f) or die "cannot read $f";
    while (<$p>) { $paths{$1} = 1 if m{^\+\+\+ b/(\S+)} || m{^--- a/(\S+)}; }
}
open(my $m, '<', $mpath) or die "no MAINTAINERS at $mpath";
my ($title, @entries, @out, %seen);
sub flush_section {
    my @pats = map { $_->[1] } grep { $_->[0] eq 'F' } @entries;
    my $hit = 0;
    for my $path (keys %paths) { for my $pat (@pats) { $hit = 1 if index($path, $pat) == 0; } }
    return unless $hit;
    for my $e (@entries) {
        my ($k, $v) = @$e;
        my $role = $k eq 'M' ? 'maintainer' : $k eq 'R' ? 'reviewer' : $k eq 'L' ? 'open list' : next;
        push @out, "$v ($role:$title)" unless $seen{$v}++;
    }
}
while (<$m>) {
    chomp;
    if (/^([A-Z]):\s*(.*)$/) { push @entries, [$1, $2]; next; }
    if (/^\S/) { flush_section() if defined $title; $title = $_; @entries = (); }
}
flush_section() if defined $title;
print "$_\n" for @out;
"#;

const MAINTAINERS: &str = "\
DRIVER CORE
M:\tGreg Core <greg@example.org>
R:\tRita Review <rita@example.org>
L:\tcore-list@example.org
F:\tdrivers/base/

IOMMU
M:\tJoe Iommu <joe@example.org>
L:\tiommu@example.org
F:\tdrivers/iommu/
";

const SNIPPET: &str = "\
DMA OWNERSHIP SELFTEST
M:\tSam Test <sam@example.org>
F:\ttools/testing/
";

pub struct Fixture {
    pub dir: tempfile::TempDir,
    pub tree: PathBuf,
    pub project: PathBuf,
    pub patches: PathBuf,
    pub home: PathBuf,
}

pub fn git_in(dir: &Path, home: &Path, args: &[&str]) -> Output {
    let mut cmd = Command::new("git");
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("GIT_") {
            cmd.env_remove(k);
        }
    }
    cmd.args(args)
        .current_dir(dir)
        .env("HOME", home)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_AUTHOR_NAME", "A U Thor")
        .env("GIT_AUTHOR_EMAIL", "author@example.org")
        .env("GIT_COMMITTER_NAME", "A U Thor")
        .env("GIT_COMMITTER_EMAIL", "author@example.org")
        .env("GIT_AUTHOR_DATE", "1700000000 +0000")
        .env("GIT_COMMITTER_DATE", "1700000000 +0000")
        .output()
        .expect("run git")
}

pub fn git(dir: &Path, home: &Path, args: &[&str]) -> String {
    let out = git_in(dir, home, args);
    assert!(
        out.status.success(),
        "git {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

impl Fixture {
    /// A base tree and a series of three patches (driver core, iommu,
    /// selftest), exported into patches/ as v1.
    pub fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let tree = dir.path().join("linux");
        let project = dir.path().join("project");
        let patches = project.join("patches");
        let home = dir.path().join("home");
        for d in [&tree, &patches, &home] {
            std::fs::create_dir_all(d).unwrap();
        }
        let f = Fixture {
            dir,
            tree,
            project,
            patches,
            home,
        };
        f.write("Makefile", "VERSION = 7\nPATCHLEVEL = 2\nSUBLEVEL = 13\n");
        f.write("MAINTAINERS", MAINTAINERS);
        f.write("scripts/get_maintainer.pl", GET_MAINTAINER);
        f.write("drivers/base/dd.c", "int probe;\nint bind;\n");
        f.write("drivers/iommu/iommu.c", "int group;\nint owner;\n");
        f.git(&["init", "-q", "-b", "main"]);
        f.git(&["config", "user.name", "A U Thor"]);
        f.git(&["config", "user.email", "author@example.org"]);
        f.commit("Linux 7.2.13");
        f.git(&["update-ref", "refs/series/base", "HEAD"]);
        f.write("drivers/base/dd.c", "int probe;\nint bind;\nint claim;\n");
        f.commit(
            "driver core: Claim DMA ownership in really_probe()\n\n\
             The driver core knows when a driver binds.\n\n\
             Suggested-by: Jason Example <jason@example.net>\n\
             Signed-off-by: A U Thor <author@example.org>\n",
        );
        f.write(
            "drivers/iommu/iommu.c",
            "int group;\nint owner;\nint kernel;\n",
        );
        f.commit(
            "iommu: Rename the kernel DMA claim\n\n\
             Say what it does.\n\n\
             Signed-off-by: A U Thor <author@example.org>\n",
        );
        f.write("tools/testing/dma_owner.sh", "#!/bin/sh\necho ok\n");
        f.commit(
            "selftests: Add a DMA ownership test\n\n\
             Test the rule.\n\n\
             Signed-off-by: A U Thor <author@example.org>\n",
        );
        std::fs::write(f.project.join("MAINTAINERS.snippet"), SNIPPET).unwrap();
        std::fs::write(
            f.patches.join("series.toml"),
            "[series]\nname = \"dma-owner\"\nversion = 1\n\n[base]\nrevision = \"main\"\n\
             kernel_version = \"7.2.13\"\n\n[author]\nname = \"A U Thor\"\n\
             email = \"author@example.org\"\n\n[mail]\nto = []\ncc = [\"lkml@example.org\"]\n\n\
             [[changelog]]\nversion = 1\nchanges = [\"Initial posting.\"]\n",
        )
        .unwrap();
        f.series_ok(&["export"]);
        let cover = f.patches.join("0000-cover-letter.patch");
        let text = std::fs::read_to_string(&cover).unwrap();
        std::fs::write(
            &cover,
            text.replace("*** SUBJECT HERE ***", "driver core: Claim DMA ownership")
                .replace(
                    "*** BLURB HERE ***",
                    "The driver core claims DMA ownership.",
                ),
        )
        .unwrap();
        f.series_ok(&["export"]);
        git(&f.project, &f.home, &["init", "-q", "-b", "main"]);
        f.commit_project("v1");
        f
    }

    pub fn write(&self, name: &str, text: &str) {
        let p = self.tree.join(name);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }

    pub fn git(&self, args: &[&str]) -> String {
        git(&self.tree, &self.home, args)
    }

    pub fn commit(&self, msg: &str) {
        self.git(&["add", "-A"]);
        self.git(&["commit", "-q", "-m", msg]);
    }

    pub fn commit_project(&self, msg: &str) {
        git(&self.project, &self.home, &["add", "-A"]);
        git(&self.project, &self.home, &["commit", "-q", "-m", msg]);
    }

    /// Runs `series` with the tree and patches of the fixture.
    pub fn series(&self, args: &[&str]) -> Output {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_series"));
        for (k, _) in std::env::vars_os() {
            if k.to_string_lossy().starts_with("GIT_") {
                cmd.env_remove(k);
            }
        }
        cmd.args(args)
            .arg("--patches")
            .arg(&self.patches)
            .current_dir(&self.project)
            .env("HOME", &self.home)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("SERIES_ROOT", &self.project)
            .env("SERIES_OUT", self.dir.path().join("out"));
        if !args.contains(&"--tree") && !args.contains(&"--series") {
            cmd.arg("--tree").arg(&self.tree);
        }
        cmd.output().expect("run series")
    }

    pub fn series_ok(&self, args: &[&str]) -> String {
        let out = self.series(args);
        assert!(
            out.status.success(),
            "series {args:?} failed:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    pub fn series_err(&self, args: &[&str]) -> String {
        let out = self.series(args);
        assert!(!out.status.success(), "series {args:?} should have failed");
        String::from_utf8_lossy(&out.stderr).into_owned()
    }
}

/// The SMTP server of smtp_sink.py on a free local port.
pub struct Smtp {
    child: Child,
    pub port: u16,
    pub maildir: PathBuf,
}

impl Smtp {
    pub fn start(maildir: &Path, fail_at: Option<usize>) -> Smtp {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/smtp_sink.py");
        let mut cmd = Command::new("/usr/bin/python3");
        cmd.arg(script).arg(port.to_string()).arg(maildir);
        if let Some(n) = fail_at {
            cmd.arg(n.to_string());
        }
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start /usr/bin/python3 smtp_sink.py (python3-aiosmtpd)");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line.trim(), "ready", "the SMTP server did not start");
        Smtp {
            child,
            port,
            maildir: maildir.to_path_buf(),
        }
    }

    pub fn flags(&self) -> Vec<String> {
        vec![
            "--smtp-server=127.0.0.1".to_string(),
            format!("--smtp-server-port={}", self.port),
        ]
    }

    /// The received messages, in the order they arrived.
    pub fn received(&self) -> Vec<String> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(self.maildir.join("new"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        files
            .iter()
            .map(|f| std::fs::read_to_string(f).unwrap().replace("\r\n", "\n"))
            .collect()
    }
}

impl Drop for Smtp {
    fn drop(&mut self) {
        drop(self.child.stdin.take());
        let _ = self.child.wait();
    }
}

/// The value of header `name` (unfolded) of a mail.
pub fn header(mail: &str, name: &str) -> Option<String> {
    let head = mail.split("\n\n").next().unwrap_or("");
    let mut value: Option<String> = None;
    for line in head.lines() {
        if let Some(v) = value.as_mut() {
            if line.starts_with([' ', '\t']) {
                v.push(' ');
                v.push_str(line.trim());
                continue;
            }
            break;
        }
        if let Some((n, v)) = line.split_once(':') {
            if n.eq_ignore_ascii_case(name) {
                value = Some(v.trim().to_string());
            }
        }
    }
    value
}

/// The messages as an mbox.
pub fn mbox(mails: &[String]) -> String {
    let mut out = String::new();
    for m in mails {
        out.push_str("From mboxrd@z Thu Jan  1 00:00:00 1970\n");
        out.push_str(m);
        if !m.ends_with('\n') {
            out.push('\n');
        }
        out.push('\n');
    }
    out
}

pub fn write_file(path: &Path, text: &str) {
    let mut f = std::fs::File::create(path).unwrap();
    f.write_all(text.as_bytes()).unwrap();
}

/// `series` with `extra` arguments, `--from AUTHOR` and the SMTP flags of
/// `smtp`.
pub fn send(f: &Fixture, smtp: &Smtp, extra: &[&str]) -> Output {
    let flags = smtp.flags();
    let mut args: Vec<&str> = extra.to_vec();
    args.extend(["--from", AUTHOR]);
    args.extend(flags.iter().map(String::as_str));
    f.series(&args)
}
