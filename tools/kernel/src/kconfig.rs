//! Kernel config fragments: parse them, merge them over a generated
//! `.config`, and check after `make olddefconfig` that every option a
//! fragment asks for stuck.

use anyhow::{Context, Result};
use std::path::Path;

/// One line of a fragment: `CONFIG_X=value` or `# CONFIG_X is not set`
/// (kept as the value `n`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigOption {
    /// Without the `CONFIG_` prefix.
    pub symbol: String,
    pub value: String,
}

impl ConfigOption {
    pub fn line(&self) -> String {
        if self.value == "n" {
            format!("# CONFIG_{} is not set", self.symbol)
        } else {
            format!("CONFIG_{}={}", self.symbol, self.value)
        }
    }
}

/// Parse `CONFIG_X=v` and `# CONFIG_X is not set` lines; other comments
/// and blank lines are ignored.
pub fn parse(text: &str) -> Vec<ConfigOption> {
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if let Some(rest) = line.strip_prefix("# CONFIG_") {
            if let Some(sym) = rest.strip_suffix(" is not set") {
                out.push(ConfigOption {
                    symbol: sym.to_string(),
                    value: "n".to_string(),
                });
            }
        } else if let Some(rest) = line.strip_prefix("CONFIG_") {
            if let Some((sym, val)) = rest.split_once('=') {
                out.push(ConfigOption {
                    symbol: sym.to_string(),
                    value: val.to_string(),
                });
            }
        }
    }
    out
}

pub fn read_fragment(path: &Path) -> Result<Vec<ConfigOption>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read config fragment {}", path.display()))?;
    Ok(parse(&text))
}

/// The value a `.config` gives `symbol` (`n` when unset or absent).
pub fn value_in(config: &[ConfigOption], symbol: &str) -> String {
    config
        .iter()
        .rev()
        .find(|o| o.symbol == symbol)
        .map(|o| o.value.clone())
        .unwrap_or_else(|| "n".to_string())
}

/// `base` (a generated `.config`) with every symbol the fragments set
/// removed, followed by the fragments in order (later ones win).
pub fn merge(base: &str, fragments: &[Vec<ConfigOption>]) -> String {
    let wanted: std::collections::HashSet<&str> = fragments
        .iter()
        .flatten()
        .map(|o| o.symbol.as_str())
        .collect();
    let mut out = String::new();
    for line in base.lines() {
        let parsed = parse(line);
        if parsed
            .first()
            .is_some_and(|o| wanted.contains(o.symbol.as_str()))
        {
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    for frag in fragments {
        out.push_str("# --- series fragment ---\n");
        for o in frag {
            out.push_str(&o.line());
            out.push('\n');
        }
    }
    out
}

/// An option a fragment asked for that `olddefconfig` changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dropped {
    pub symbol: String,
    pub wanted: String,
    pub got: String,
}

impl std::fmt::Display for Dropped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "CONFIG_{}: wanted {}, got {}",
            self.symbol, self.wanted, self.got
        )
    }
}

/// Options of `fragments` whose final value in `config` differs (the last
/// fragment setting a symbol decides what is wanted).
pub fn dropped(fragments: &[Vec<ConfigOption>], config: &str) -> Vec<Dropped> {
    let final_cfg = parse(config);
    let mut wanted: Vec<(String, String)> = Vec::new();
    for o in fragments.iter().flatten() {
        match wanted.iter_mut().find(|(s, _)| *s == o.symbol) {
            Some(w) => w.1 = o.value.clone(),
            None => wanted.push((o.symbol.clone(), o.value.clone())),
        }
    }
    wanted
        .into_iter()
        .filter_map(|(symbol, want)| {
            let got = value_in(&final_cfg, &symbol);
            (got != want).then_some(Dropped {
                symbol,
                wanted: want,
                got,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_both_forms() {
        let o = parse("CONFIG_A=y\n# CONFIG_B is not set\n# comment\nCONFIG_C=\"x\"\n");
        assert_eq!(o.len(), 3);
        assert_eq!(
            o[1],
            ConfigOption {
                symbol: "B".into(),
                value: "n".into()
            }
        );
        assert_eq!(o[2].value, "\"x\"");
    }

    #[test]
    fn merge_replaces_and_later_fragment_wins() {
        let base = "CONFIG_A=y\n# CONFIG_B is not set\nCONFIG_Z=y\n";
        let f1 = parse("CONFIG_B=y\nCONFIG_A=n\n");
        let f2 = parse("# CONFIG_B is not set\n");
        let merged = merge(base, &[f1.clone(), f2.clone()]);
        assert!(merged.contains("CONFIG_Z=y"));
        let m = parse(&merged);
        assert_eq!(value_in(&m, "B"), "n");
        assert_eq!(m.iter().filter(|o| o.symbol == "A").count(), 1);
        // What is wanted: A=n (f1), B=n (f2 wins over f1).
        let d = dropped(&[f1, f2], "CONFIG_A=y\nCONFIG_Z=y\n");
        assert_eq!(
            d,
            vec![Dropped {
                symbol: "A".into(),
                wanted: "n".into(),
                got: "y".into()
            }]
        );
    }

    #[test]
    fn absent_symbol_counts_as_dropped_yes() {
        let f = parse("CONFIG_IOMMUFD_TEST=y\n");
        let d = dropped(&[f], "CONFIG_IOMMUFD=y\n");
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].to_string(), "CONFIG_IOMMUFD_TEST: wanted y, got n");
    }
}
