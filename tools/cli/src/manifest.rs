//! `patches/series.toml`: the series manifest (name, version, base, author, mail, changelog).

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

pub const MANIFEST_FILE: &str = "series.toml";
/// The project's base when `patches/` holds several series, one
/// directory each (`patches/<name>/series.toml`): `patches/base.toml`.
pub const PROJECT_BASE_FILE: &str = "base.toml";

/// The manifest as written: `[base]` is absent in a series of a
/// several-series project, whose base is the project's.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ManifestFile {
    series: SeriesInfo,
    base: Option<BaseSpec>,
    author: Identity,
    #[serde(default)]
    mail: Mail,
    #[serde(default)]
    changelog: Vec<ChangelogEntry>,
}

/// `patches/base.toml`: the one base of a several-series project.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ProjectBaseFile {
    base: BaseSpec,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub series: SeriesInfo,
    pub base: BaseSpec,
    pub author: Identity,
    #[serde(default)]
    pub mail: Mail,
    #[serde(default)]
    pub changelog: Vec<ChangelogEntry>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeriesInfo {
    pub name: String,
    pub version: u32,
    #[serde(default = "default_prefix")]
    pub subject_prefix: String,
    /// Length of abbreviated object ids in the patches (`index` lines,
    /// range-diff), as `git -c core.abbrev=N format-patch` writes them:
    /// a number from 4 to 40, or "auto" for git's automatic length (which
    /// follows how many objects the exporting repository has packed, so
    /// the same commits export differently before and after `git gc`).
    #[serde(default)]
    pub abbrev: Abbrev,
    /// "always" (the default) writes a cover letter; "auto" only when the
    /// series has more than one patch, as git's format.coverLetter=auto.
    #[serde(default)]
    pub cover_letter: CoverLetterPolicy,
    /// The series that go first (their directories' names, beside this
    /// one under `patches/`): applied, built and sent ahead of this one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub requires: Vec<String>,
}

fn default_prefix() -> String {
    "PATCH".to_string()
}

/// `series.cover_letter`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CoverLetterPolicy {
    #[default]
    Always,
    Auto,
}

/// `series.abbrev`: a fixed length or git's automatic one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Abbrev {
    Length(u32),
    Named(AbbrevName),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AbbrevName {
    Auto,
}

/// The length a kernel developer's git is usually set to
/// (`core.abbrev = 12`, as Documentation/process/submitting-patches.rst
/// recommends for commit ids), so that exports do not depend on packing.
pub const DEFAULT_ABBREV: u32 = 12;

impl Default for Abbrev {
    fn default() -> Abbrev {
        Abbrev::Length(DEFAULT_ABBREV)
    }
}

impl Abbrev {
    /// The fixed length to export with, None for git's automatic length.
    pub fn fixed_length(self) -> Option<usize> {
        match self {
            Abbrev::Length(n) => Some(n as usize),
            Abbrev::Named(AbbrevName::Auto) => None,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BaseSpec {
    /// Debian source package, e.g. `linux-source-6.12`.
    pub package: Option<String>,
    /// The package version the series was made on.
    pub package_version: Option<String>,
    /// A git revision, when the base is an existing checkout instead of a package.
    pub revision: Option<String>,
    /// `VERSION.PATCHLEVEL.SUBLEVEL` of the base tree's Makefile.
    pub kernel_version: String,
    /// vIOMMUs under which this base fails because of a bug the series
    /// fixes: `series run` shows such a base boot as `FAIL (n, known)` and
    /// lets it pass the run when the patched boot passes
    /// (`--known-base-failure` overrides the list).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub known_failures: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Identity {
    pub name: String,
    pub email: String,
    /// The author is a stand-in for whoever sends: `send` refuses to mail
    /// the patches as this identity (the sender's replaces it in From:
    /// and Signed-off-by:).
    #[serde(default)]
    pub stand_in: bool,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mail {
    #[serde(default)]
    pub to: Vec<String>,
    #[serde(default)]
    pub cc: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChangelogEntry {
    pub version: u32,
    pub changes: Vec<String>,
}

impl Manifest {
    pub fn load(dir: &Path) -> Result<Manifest> {
        let path = dir.join(MANIFEST_FILE);
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read the manifest {}", path.display()))?;
        Manifest::parse_in(dir, &text)
    }

    /// Parses the text of `dir`'s manifest; a manifest without `[base]`
    /// takes the project's (`../base.toml`, a several-series project).
    pub fn parse_in(dir: &Path, text: &str) -> Result<Manifest> {
        let path = dir.join(MANIFEST_FILE);
        let invalid = || {
            format!(
                "{} is not a valid manifest (see docs/manifest.md)",
                path.display()
            )
        };
        let file: ManifestFile = toml::from_str(text).with_context(invalid)?;
        let project_base = project_base_file(dir);
        let base = match (file.base, project_base) {
            (Some(base), None) => base,
            (None, Some(base_path)) => load_project_base(&base_path)?,
            (Some(_), Some(base_path)) => bail!(
                "{} has a [base] table, but this project's base is {}: a project has one \
                 base; remove [base] from the series manifest",
                path.display(),
                base_path.display()
            ),
            (None, None) => bail!(
                "{} has no [base] and there is no {} beside its directory: give the base \
                 in one of them (docs/manifest.md)",
                path.display(),
                PROJECT_BASE_FILE
            ),
        };
        let m = Manifest {
            series: file.series,
            base,
            author: file.author,
            mail: file.mail,
            changelog: file.changelog,
        };
        m.validate().with_context(invalid)?;
        if !m.series.requires.is_empty() && dir.parent().and_then(project_base_file_in).is_none() {
            bail!(
                "{}: series.requires names other series, but they live beside it only in a \
                 several-series project (patches/<name>/series.toml and patches/{})",
                path.display(),
                PROJECT_BASE_FILE
            );
        }
        Ok(m)
    }

    /// Like [`Manifest::load`], but a missing file is `None` (a series received by mail).
    pub fn load_optional(dir: &Path) -> Result<Option<Manifest>> {
        if dir.join(MANIFEST_FILE).is_file() {
            Manifest::load(dir).map(Some)
        } else {
            Ok(None)
        }
    }

    /// Parses a manifest that carries its own `[base]`.
    #[cfg(test)]
    pub fn parse(text: &str) -> Result<Manifest> {
        let m: Manifest = toml::from_str(text)?;
        m.validate()?;
        Ok(m)
    }

    fn validate(&self) -> Result<()> {
        if self.series.version == 0 {
            bail!("series.version must be 1 or more");
        }
        // Both go into mail headers and Message-IDs: nothing that could end
        // a header, a Message-ID or a subject tag.
        let name = &self.series.name;
        if !is_series_name(name) {
            bail!(
                "series.name {name:?} may hold only letters, digits, '.', '_' and '-' \
                 (it goes into branch names and Message-IDs)"
            );
        }
        for r in &self.series.requires {
            if !is_series_name(r) {
                bail!(
                    "series.requires: {r:?} is not a series name (letters, digits, '.', '_', '-')"
                );
            }
            if r == name {
                bail!("series.requires names the series itself ({r:?})");
            }
        }
        let prefix = &self.series.subject_prefix;
        if prefix.is_empty()
            || prefix.len() > 40
            || !prefix.chars().all(|c| c.is_ascii_graphic() || c == ' ')
            || prefix.contains(['[', ']'])
        {
            bail!(
                "series.subject_prefix {prefix:?} must be 1 to 40 printable ASCII characters \
                 without brackets (\"PATCH\", \"RFC PATCH\", \"PATCH net-next\")"
            );
        }
        if let Abbrev::Length(n) = self.series.abbrev {
            if !(4..=40).contains(&n) {
                bail!("series.abbrev = {n}: give a length from 4 to 40, or \"auto\"");
            }
        }
        if self.base.package.is_none() && self.base.revision.is_none() {
            bail!("[base] needs either `package` (a Debian source package) or `revision` (a git revision)");
        }
        if self.base.package.is_some() && self.base.revision.is_some() {
            bail!("[base] takes `package` or `revision`, not both");
        }
        if let Some(p) = &self.base.package {
            if !is_debian_package_name(p) {
                bail!(
                    "base.package {p:?} is not a Debian package name (lower-case letters, \
                     digits, '+', '-', '.'; starting with a letter or digit)"
                );
            }
        }
        if let Some(v) = &self.base.package_version {
            if !is_debian_version(v) {
                bail!(
                    "base.package_version {v:?} is not a Debian version \
                     ([epoch:]upstream[-revision] of letters, digits and . + ~ - :)"
                );
            }
        }
        if parse_kernel_version(&self.base.kernel_version).is_none() {
            bail!(
                "base.kernel_version {:?} is not of the form X.Y.Z",
                self.base.kernel_version
            );
        }
        if !self.author.email.contains('@') {
            bail!(
                "author.email {:?} is not an e-mail address",
                self.author.email
            );
        }
        Ok(())
    }

    /// The `[PATCH v2` part of subjects; version 1 carries no `v1`, as git does.
    pub fn reroll(&self) -> Option<u32> {
        (self.series.version > 1).then_some(self.series.version)
    }

    /// Path of the tarball of a Debian `linux-source-X.Y` package.
    pub fn package_tarball(&self) -> Option<PathBuf> {
        self.base
            .package
            .as_ref()
            .map(|p| PathBuf::from(format!("/usr/src/{p}.tar.xz")))
    }
}

/// What a series name may hold: it names a directory, a ref and goes
/// into Message-IDs.
pub fn is_series_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
}

/// `dir/../base.toml` when it exists: `dir` is a series of a
/// several-series project.
fn project_base_file(dir: &Path) -> Option<PathBuf> {
    dir.parent().and_then(project_base_file_in)
}

fn project_base_file_in(project: &Path) -> Option<PathBuf> {
    let path = project.join(PROJECT_BASE_FILE);
    path.is_file().then_some(path)
}

fn load_project_base(path: &Path) -> Result<BaseSpec> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the project's base {}", path.display()))?;
    let file: ProjectBaseFile = toml::from_str(&text).with_context(|| {
        format!(
            "{} is not a valid project base: it holds one [base] table (docs/manifest.md)",
            path.display()
        )
    })?;
    Ok(file.base)
}

/// A package name as Debian policy 5.6.1 defines it: at least two
/// characters of `a-z0-9+-.`, starting with a letter or digit.
pub fn is_debian_package_name(name: &str) -> bool {
    name.len() >= 2
        && name.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "+-.".contains(c))
}

/// A package version as Debian policy 5.6.12 defines it:
/// `[epoch:]upstream_version[-debian_revision]`, the epoch a number, the
/// upstream version starting with a digit, only `A-Za-z0-9.+~-:` overall.
pub fn is_debian_version(version: &str) -> bool {
    let (epoch, rest) = match version.split_once(':') {
        Some((e, r)) => (Some(e), r),
        None => (None, version),
    };
    if epoch.is_some_and(|e| e.is_empty() || !e.chars().all(|c| c.is_ascii_digit())) {
        return false;
    }
    let allowed = |c: char| c.is_ascii_alphanumeric() || ".+~-:".contains(c);
    let upstream = rest.rsplit_once('-').map_or(rest, |(u, _)| u);
    rest.chars().all(allowed)
        && upstream.starts_with(|c: char| c.is_ascii_digit())
        && !rest.ends_with('-')
        && (epoch.is_some() || !rest.contains(':'))
}

/// `"6.12.117"` → `(6, 12, 117)`.
pub fn parse_kernel_version(v: &str) -> Option<(u32, u32, u32)> {
    let mut it = v.split('.').map(|p| p.parse::<u32>().ok());
    let r = (it.next()??, it.next()??, it.next()??);
    it.next().is_none().then_some(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
[series]
name = "x"
version = 2
[base]
package = "linux-source-6.12"
package_version = "6.12.117-1~deb12u1"
kernel_version = "6.12.117"
[author]
name = "A U Thor"
email = "a@example.org"
"#;

    #[test]
    fn parses_and_defaults() {
        let m = Manifest::parse(GOOD).unwrap();
        assert_eq!(m.series.subject_prefix, "PATCH");
        assert_eq!(m.series.abbrev.fixed_length(), Some(12));
        assert_eq!(m.reroll(), Some(2));
        assert!(m.mail.to.is_empty());
        assert_eq!(
            m.package_tarball().unwrap(),
            PathBuf::from("/usr/src/linux-source-6.12.tar.xz")
        );
    }

    #[test]
    fn rejects_unknown_key_and_bad_version() {
        assert!(Manifest::parse(&GOOD.replace("[author]", "bogus = 1\n[author]")).is_err());
        assert!(Manifest::parse(&GOOD.replace("\"6.12.117\"", "\"6.12\"")).is_err());
        assert!(Manifest::parse(&GOOD.replace("version = 2", "version = 0")).is_err());
    }

    #[test]
    fn abbrev_takes_a_length_or_auto_and_nothing_else() {
        let with = |v: &str| {
            Manifest::parse(&GOOD.replace("version = 2", &format!("version = 2\nabbrev = {v}")))
        };
        assert_eq!(with("9").unwrap().series.abbrev.fixed_length(), Some(9));
        assert_eq!(with("\"auto\"").unwrap().series.abbrev.fixed_length(), None);
        assert!(with("3").is_err());
        assert!(with("41").is_err());
        assert!(with("\"short\"").is_err());
    }

    #[test]
    fn a_base_package_or_version_that_is_not_debian_s_is_refused() {
        for hostile in [
            "linux-source-7.2$(touch /tmp/pwned)",
            "linux-source-7.2; rm -rf /",
            "Linux-Source",
            "-oAPT::x=y",
            "x",
            "linux source",
        ] {
            let text = GOOD.replace("linux-source-6.12\"", &format!("{hostile}\""));
            let err = format!("{:#}", Manifest::parse(&text).unwrap_err());
            assert!(
                err.contains("not a Debian package name"),
                "{hostile}: {err}"
            );
        }
        for hostile in ["6.12`id`", "$(id)", "-1", "1.0 2", "a1.0", "1:", "1.0-"] {
            let text = GOOD.replace("6.12.117-1~deb12u1", hostile);
            let err = format!("{:#}", Manifest::parse(&text).unwrap_err());
            assert!(err.contains("not a Debian version"), "{hostile}: {err}");
        }
        for good in ["7.3~rc7-1~exp1", "1:2.66-4+deb12u3+b1", "7.2.13-1", "2.0"] {
            assert!(is_debian_version(good), "{good}");
        }
        assert!(is_debian_package_name("linux-source-7.3"));
        assert!(is_debian_package_name("g++"));
    }

    #[test]
    fn names_and_prefixes_that_would_break_a_header_are_refused() {
        for bad in ["a b", "x>y", "x\\ny", "", "dma@owner"] {
            let text = GOOD.replace("name = \"x\"", &format!("name = {bad:?}"));
            assert!(Manifest::parse(&text).is_err(), "{bad:?}");
        }
        for bad in ["", "PATCH\nBcc: x@y", "PATCH]", "PATCH\u{e9}"] {
            let text = GOOD.replace(
                "version = 2",
                &format!("version = 2\nsubject_prefix = {bad:?}"),
            );
            assert!(Manifest::parse(&text).is_err(), "{bad:?}");
        }
        let ok = GOOD.replace(
            "version = 2",
            "version = 2\nsubject_prefix = \"RFC PATCH net-next\"",
        );
        assert!(Manifest::parse(&ok).is_ok());
    }

    #[test]
    fn kernel_version() {
        assert_eq!(parse_kernel_version("6.12.117"), Some((6, 12, 117)));
        assert_eq!(parse_kernel_version("6.12"), None);
        assert_eq!(parse_kernel_version("6.12.1.2"), None);
    }
}
