//! The series of a project and the order between them.
//!
//! `patches/` holds either one series (`patches/series.toml` beside its
//! patches) or several, one directory each (`patches/<name>/series.toml`)
//! beside the project's one base (`patches/base.toml`). A series names the
//! ones that go first in `series.requires`; every verb works on one series
//! (`--series NAME`) and, where the tree matters, on the series it
//! requires below it.

use crate::manifest::{Manifest, MANIFEST_FILE, PROJECT_BASE_FILE};
use anyhow::{bail, Result};
use std::path::{Path, PathBuf};

/// One series of the project: its directory and manifest.
#[derive(Debug, Clone)]
pub struct Member {
    pub name: String,
    pub dir: PathBuf,
    pub manifest: Manifest,
}

/// Every series of a project, in directory-name order.
#[derive(Debug)]
pub struct Project {
    pub root: PathBuf,
    /// Several series, one directory each (else one, in `root` itself).
    pub several: bool,
    pub members: Vec<Member>,
}

/// The ref `apply` sets at the last commit of each series it applied.
pub fn applied_ref(name: &str) -> String {
    format!("refs/series/applied/{name}")
}

/// The name of the series in `dir` when it is one of several in a
/// project (its refs and records are kept apart by it), else None.
pub fn member_name(dir: &Path) -> Option<String> {
    let parent = dir.parent()?;
    is_several_series_root(parent)
        .then(|| dir.file_name().map(|n| n.to_string_lossy().into_owned()))?
}

/// Whether `dir` is the root of a several-series project.
pub fn is_several_series_root(dir: &Path) -> bool {
    dir.join(PROJECT_BASE_FILE).is_file() && !dir.join(MANIFEST_FILE).is_file()
}

impl Project {
    /// The project rooted at `root`, or None when `root` holds neither a
    /// manifest nor a project base (a plain directory of patches).
    pub fn discover(root: &Path) -> Result<Option<Project>> {
        if root.join(MANIFEST_FILE).is_file() {
            let manifest = Manifest::load(root)?;
            let member = Member {
                name: manifest.series.name.clone(),
                dir: root.to_path_buf(),
                manifest,
            };
            return Ok(Some(Project {
                root: root.to_path_buf(),
                several: false,
                members: vec![member],
            }));
        }
        if !root.join(PROJECT_BASE_FILE).is_file() {
            return Ok(None);
        }
        let mut dirs: Vec<PathBuf> = std::fs::read_dir(root)?
            .filter_map(|e| e.ok())
            .map(|e| e.path())
            .filter(|p| p.join(MANIFEST_FILE).is_file())
            .collect();
        dirs.sort();
        let mut members = Vec::new();
        for dir in dirs {
            let manifest = Manifest::load(&dir)?;
            let dir_name = dir
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            if manifest.series.name != dir_name {
                bail!(
                    "{}: series.name is {:?}, but the directory is {dir_name:?}: in a \
                     several-series project a series' directory is its name; rename one",
                    dir.join(MANIFEST_FILE).display(),
                    manifest.series.name
                );
            }
            members.push(Member {
                name: dir_name,
                dir,
                manifest,
            });
        }
        if members.is_empty() {
            bail!(
                "{} holds {PROJECT_BASE_FILE} but no series (no <name>/{MANIFEST_FILE})",
                root.display()
            );
        }
        let project = Project {
            root: root.to_path_buf(),
            several: true,
            members,
        };
        project.check_requires()?;
        Ok(Some(project))
    }

    /// The project a series directory belongs to.
    pub fn of_series_dir(dir: &Path) -> Result<Option<Project>> {
        match dir.parent() {
            Some(parent) if is_several_series_root(parent) => Project::discover(parent),
            _ => Project::discover(dir),
        }
    }

    pub fn member(&self, name: &str) -> Option<&Member> {
        self.members.iter().find(|m| m.name == name)
    }

    fn names(&self) -> String {
        self.members
            .iter()
            .map(|m| m.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Every name in `requires` exists and the order has no cycle.
    fn check_requires(&self) -> Result<()> {
        for m in &self.members {
            for r in &m.manifest.series.requires {
                if self.member(r).is_none() {
                    bail!(
                        "{}: series.requires names {r:?}, but {} has no series of that name \
                         (it has: {})",
                        m.dir.join(MANIFEST_FILE).display(),
                        self.root.display(),
                        self.names()
                    );
                }
            }
        }
        for m in &self.members {
            self.chain(&m.name)?;
        }
        Ok(())
    }

    /// The series `name` stands on, prerequisites first (each once, in
    /// the order of `requires`, depth first), then `name` itself.
    pub fn chain(&self, name: &str) -> Result<Vec<&Member>> {
        let mut order: Vec<&Member> = Vec::new();
        let mut path: Vec<String> = Vec::new();
        self.visit(name, &mut path, &mut order)?;
        Ok(order)
    }

    fn visit<'p>(
        &'p self,
        name: &str,
        path: &mut Vec<String>,
        order: &mut Vec<&'p Member>,
    ) -> Result<()> {
        if path.iter().any(|p| p == name) {
            path.push(name.to_string());
            bail!(
                "series.requires forms a cycle: {} (in the manifests under {})",
                path.join(" -> "),
                self.root.display()
            );
        }
        if order.iter().any(|m| m.name == name) {
            return Ok(());
        }
        let Some(member) = self.member(name) else {
            bail!(
                "{} has no series {name:?} (it has: {})",
                self.root.display(),
                self.names()
            );
        };
        path.push(name.to_string());
        for r in &member.manifest.series.requires {
            self.visit(r, path, order)?;
        }
        path.pop();
        order.push(member);
        Ok(())
    }

    /// The series no other requires (the top of the stack).
    pub fn tops(&self) -> Vec<&Member> {
        self.members
            .iter()
            .filter(|m| {
                !self
                    .members
                    .iter()
                    .any(|o| o.manifest.series.requires.contains(&m.name))
            })
            .collect()
    }

    /// Whether another series requires `name`.
    pub fn is_required(&self, name: &str) -> bool {
        self.members
            .iter()
            .any(|o| o.manifest.series.requires.iter().any(|r| r == name))
    }

    /// The series a verb works on: `name`, else the only top.
    pub fn select(&self, name: Option<&str>) -> Result<&Member> {
        if let Some(name) = name {
            return match self.member(name) {
                Some(m) => Ok(m),
                None if !self.several => bail!(
                    "--series {name}: {} holds one series, {:?}",
                    self.root.display(),
                    self.members[0].name
                ),
                None => bail!(
                    "--series {name}: {} has no series of that name (it has: {})",
                    self.root.display(),
                    self.names()
                ),
            };
        }
        let tops = self.tops();
        match tops.as_slice() {
            [one] => Ok(one),
            _ => bail!(
                "{} holds several series that no other requires ({}): pick one with --series NAME",
                self.root.display(),
                tops.iter()
                    .map(|m| m.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    }
}

/// The directory every verb works on: the series `name` selects under
/// `patches` (the default one when None). A directory that is no project
/// (patches without a manifest) is passed on as it is when no name is given.
pub fn selected_dir(patches: &Path, name: Option<&str>) -> Result<PathBuf> {
    match Project::discover(patches)? {
        Some(project) => Ok(project.select(name)?.dir.clone()),
        None => match name {
            None => Ok(patches.to_path_buf()),
            Some(name) => bail!(
                "--series {name}: {} holds no series manifest ({MANIFEST_FILE} or {PROJECT_BASE_FILE})",
                patches.display()
            ),
        },
    }
}

/// The series a series directory stands on (prerequisites first, itself
/// last): just itself in a one-series project.
pub fn chain_of(dir: &Path) -> Result<Vec<Member>> {
    match Project::of_series_dir(dir)? {
        Some(project) if project.several => {
            let name = dir
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            Ok(project.chain(&name)?.into_iter().cloned().collect())
        }
        Some(project) => Ok(project.members),
        None => Ok(Vec::new()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = "[base]\npackage = \"linux-source-7.3\"\nkernel_version = \"7.3.0\"\n";

    fn write_series(root: &Path, name: &str, requires: &[&str]) {
        let dir = root.join(name);
        std::fs::create_dir_all(&dir).unwrap();
        let req: Vec<String> = requires.iter().map(|r| format!("{r:?}")).collect();
        std::fs::write(
            dir.join(MANIFEST_FILE),
            format!(
                "[series]\nname = {name:?}\nversion = 1\nrequires = [{}]\n\
                 [author]\nname = \"A\"\nemail = \"a@example.org\"\n",
                req.join(", ")
            ),
        )
        .unwrap();
    }

    fn project(series: &[(&str, &[&str])]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(PROJECT_BASE_FILE), BASE).unwrap();
        for (name, requires) in series {
            write_series(dir.path(), name, requires);
        }
        dir
    }

    #[test]
    fn the_chain_puts_prerequisites_first_each_once() {
        let dir = project(&[
            ("cdx", &[]),
            ("virtio", &[]),
            ("feature", &["cdx", "virtio", "cdx-tests"]),
            ("cdx-tests", &["cdx"]),
        ]);
        let p = Project::discover(dir.path()).unwrap().unwrap();
        let names: Vec<&str> = p
            .chain("feature")
            .unwrap()
            .iter()
            .map(|m| m.name.as_str())
            .collect();
        assert_eq!(names, ["cdx", "virtio", "cdx-tests", "feature"]);
        assert_eq!(p.select(None).unwrap().name, "feature");
        assert_eq!(p.select(Some("virtio")).unwrap().name, "virtio");
        assert!(p.is_required("cdx") && !p.is_required("feature"));
        let chain = chain_of(&dir.path().join("cdx-tests")).unwrap();
        assert_eq!(chain.len(), 2);
        assert_eq!(
            chain[1].manifest.base.package.as_deref(),
            Some("linux-source-7.3")
        );
    }

    #[test]
    fn cycles_unknown_names_and_mismatched_directories_are_refused() {
        let dir = project(&[("a", &["b"]), ("b", &["c"]), ("c", &["a"])]);
        let err = format!("{:#}", Project::discover(dir.path()).unwrap_err());
        assert!(err.contains("cycle: a -> b -> c -> a"), "{err}");

        let dir = project(&[("a", &["nope"])]);
        let err = format!("{:#}", Project::discover(dir.path()).unwrap_err());
        assert!(
            err.contains("a/series.toml: series.requires names \"nope\""),
            "{err}"
        );

        let dir = project(&[("a", &[])]);
        std::fs::rename(dir.path().join("a"), dir.path().join("b")).unwrap();
        let err = format!("{:#}", Project::discover(dir.path()).unwrap_err());
        assert!(err.contains("a series' directory is its name"), "{err}");
    }

    #[test]
    fn two_tops_need_a_name_and_a_series_base_in_a_project_is_refused() {
        let dir = project(&[("a", &[]), ("b", &[])]);
        let p = Project::discover(dir.path()).unwrap().unwrap();
        let err = format!("{:#}", p.select(None).unwrap_err());
        assert!(err.contains("pick one with --series NAME"), "{err}");
        let err = format!("{:#}", p.select(Some("c")).unwrap_err());
        assert!(err.contains("it has: a, b"), "{err}");

        let manifest = dir.path().join("a").join(MANIFEST_FILE);
        let text = std::fs::read_to_string(&manifest).unwrap();
        std::fs::write(&manifest, format!("{text}{BASE}")).unwrap();
        let err = format!("{:#}", Project::discover(dir.path()).unwrap_err());
        assert!(err.contains("a project has one base"), "{err}");
    }

    #[test]
    fn a_single_series_project_and_a_plain_directory_keep_working() {
        let dir = tempfile::tempdir().unwrap();
        assert!(Project::discover(dir.path()).unwrap().is_none());
        assert_eq!(selected_dir(dir.path(), None).unwrap(), dir.path());
        assert!(selected_dir(dir.path(), Some("x")).is_err());
        std::fs::write(
            dir.path().join(MANIFEST_FILE),
            format!(
                "[series]\nname = \"one\"\nversion = 2\n{BASE}\
                 [author]\nname = \"A\"\nemail = \"a@example.org\"\n"
            ),
        )
        .unwrap();
        assert_eq!(selected_dir(dir.path(), None).unwrap(), dir.path());
        assert_eq!(selected_dir(dir.path(), Some("one")).unwrap(), dir.path());
        assert!(selected_dir(dir.path(), Some("two")).is_err());
        assert_eq!(chain_of(dir.path()).unwrap().len(), 1);
        // requires without a project around it is refused.
        let text = std::fs::read_to_string(dir.path().join(MANIFEST_FILE))
            .unwrap()
            .replace("version = 2", "version = 2\nrequires = [\"other\"]");
        let err = format!("{:#}", Manifest::parse_in(dir.path(), &text).unwrap_err());
        assert!(err.contains("several-series project"), "{err}");
    }
}
