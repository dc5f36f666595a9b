//! Where things live: the project root, the series directory, the cache and output folders.

use anyhow::{Context, Result};
use std::path::PathBuf;

/// The project checkout this binary was started from (`tools/series` sets
/// `SERIES_ROOT`); falls back to the current directory.
pub fn project_root() -> PathBuf {
    std::env::var_os("SERIES_ROOT")
        .map(PathBuf::from)
        .unwrap_or_else(|| std::env::current_dir().unwrap_or_else(|_| PathBuf::from(".")))
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
