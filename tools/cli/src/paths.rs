//! Where things live: the project root, the series directory, the cache and output folders.

use anyhow::{Context, Result};
use std::path::PathBuf;

/// The project checkout this binary belongs to: `SERIES_ROOT` (which
/// `tools/series` sets), else the checkout the binary was built in (found
/// from the binary's own location, so its scripts are found from any
/// directory), else the current directory.
pub fn project_root() -> PathBuf {
    if let Some(root) = std::env::var_os("SERIES_ROOT") {
        return PathBuf::from(root);
    }
    std::env::current_exe()
        .ok()
        .and_then(|exe| checkout_holding(&exe))
        .unwrap_or_else(|| std::env::current_dir().unwrap_or_else(|_| PathBuf::from(".")))
}

/// The nearest ancestor of `path` that is this project's checkout (holds
/// the `tools/series` entry point and the ci/ scripts).
fn checkout_holding(path: &std::path::Path) -> Option<PathBuf> {
    path.ancestors()
        .skip(1)
        .find(|dir| dir.join("tools/series").is_file() && dir.join("ci/setup").is_file())
        .map(PathBuf::from)
}

pub fn default_series_dir() -> PathBuf {
    project_root().join("patches")
}

/// Output folder for trees, builds and reports: `$SERIES_OUT` or `<root>/out`.
pub fn out_dir() -> PathBuf {
    std::env::var_os("SERIES_OUT")
        .map(PathBuf::from)
        .unwrap_or_else(|| project_root().join("out"))
}

/// The default kernel work tree that `base` hands out and `apply` uses.
pub fn default_tree() -> PathBuf {
    out_dir().join("linux")
}

/// The kernel tree a verb works on (`--tree`, else out/linux), as an
/// absolute path: verbs run the tree's scripts from inside it.
pub fn resolve_tree(tree: Option<PathBuf>) -> Result<PathBuf> {
    let tree = tree.unwrap_or_else(default_tree);
    tree.canonicalize().with_context(|| {
        format!(
            "no kernel tree at {}; run `tools/series base` or pass --tree",
            tree.display()
        )
    })
}

/// Cache of prepared bases: `$SERIES_CACHE`, `$XDG_CACHE_HOME/series` or `~/.cache/series`.
pub fn cache_dir() -> PathBuf {
    if let Some(p) = std::env::var_os("SERIES_CACHE") {
        return PathBuf::from(p);
    }
    if let Some(p) = std::env::var_os("XDG_CACHE_HOME") {
        return PathBuf::from(p).join("series");
    }
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| "/tmp".into());
    home.join(".cache").join("series")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_checkout_is_found_from_the_binary_s_location() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("project");
        for f in ["tools/series", "ci/setup", "target/release/series"] {
            let p = root.join(f);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, "").unwrap();
        }
        assert_eq!(
            checkout_holding(&root.join("target/release/series")),
            Some(root.clone())
        );
        assert_eq!(checkout_holding(&dir.path().join("elsewhere/series")), None);
    }
}
