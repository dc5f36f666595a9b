//! `patches/series.toml`: the series manifest (name, version, base, author, mail, changelog).

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

pub const MANIFEST_FILE: &str = "series.toml";

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
}

fn default_prefix() -> String {
    "PATCH".to_string()
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
        Manifest::parse(&text).with_context(|| {
            format!(
                "{} is not a valid manifest (see docs/manifest.md)",
                path.display()
            )
        })
    }

    /// Like [`Manifest::load`], but a missing file is `None` (a series received by mail).
    pub fn load_optional(dir: &Path) -> Result<Option<Manifest>> {
        if dir.join(MANIFEST_FILE).is_file() {
            Manifest::load(dir).map(Some)
        } else {
            Ok(None)
        }
    }

    pub fn parse(text: &str) -> Result<Manifest> {
        let m: Manifest = toml::from_str(text)?;
        m.validate()?;
        Ok(m)
    }

    fn validate(&self) -> Result<()> {
        if self.series.version == 0 {
            bail!("series.version must be 1 or more");
        }
        if self.base.package.is_none() && self.base.revision.is_none() {
            bail!("[base] needs either `package` (a Debian source package) or `revision` (a git revision)");
        }
        if self.base.package.is_some() && self.base.revision.is_some() {
            bail!("[base] takes `package` or `revision`, not both");
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
    fn kernel_version() {
        assert_eq!(parse_kernel_version("6.12.117"), Some((6, 12, 117)));
        assert_eq!(parse_kernel_version("6.12"), None);
        assert_eq!(parse_kernel_version("6.12.1.2"), None);
    }
}
