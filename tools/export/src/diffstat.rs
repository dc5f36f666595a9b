//! `git diff --stat --summary` text as format-patch writes it (72 columns).

use crate::changes::FilePair;
use crate::quote::{needs_quoting, quote_c_style};

/// format-patch's `--stat` width (`MAIL_DEFAULT_WRAP`).
const STAT_WIDTH: usize = 72;

/// One line of the stat: the pair and its changed line counts (for a
/// binary file: its new and old size in bytes, 0 when unchanged).
pub struct StatEntry<'a> {
    pub pair: &'a FilePair,
    pub added: usize,
    pub deleted: usize,
    pub binary: bool,
}

/// git's `pprint_rename`: `dir/{old => new}/file`.
pub fn rename_name(a: &[u8], b: &[u8]) -> Vec<u8> {
    if needs_quoting(a) || needs_quoting(b) {
        let mut out = quote_c_style(a);
        out.extend_from_slice(b" => ");
        out.extend(quote_c_style(b));
        return out;
    }
    let at = |s: &[u8], i: usize| s.get(i).copied().unwrap_or(0);
    let mut pfx = 0usize;
    let mut i = 0usize;
    while i < a.len() && i < b.len() && a[i] == b[i] {
        if a[i] == b'/' {
            pfx = i + 1;
        }
        i += 1;
    }
    let adjust = usize::from(pfx > 0);
    let mut sfx = 0usize;
    let (mut oa, mut ob) = (a.len() as isize, b.len() as isize);
    let floor = pfx as isize - adjust as isize;
    while floor <= oa && floor <= ob && at(a, oa as usize) == at(b, ob as usize) {
        if at(a, oa as usize) == b'/' {
            sfx = a.len() - oa as usize;
        }
        oa -= 1;
        ob -= 1;
    }
    let a_mid = (a.len() as isize - pfx as isize - sfx as isize).max(0) as usize;
    let b_mid = (b.len() as isize - pfx as isize - sfx as isize).max(0) as usize;
    let mut out = Vec::new();
    if pfx + sfx > 0 {
        out.extend_from_slice(&a[..pfx]);
        out.push(b'{');
    }
    out.extend_from_slice(&a[pfx..pfx + a_mid]);
    out.extend_from_slice(b" => ");
    out.extend_from_slice(&b[pfx..pfx + b_mid]);
    if pfx + sfx > 0 {
        out.push(b'}');
        out.extend_from_slice(&a[a.len() - sfx..]);
    }
    out
}

fn print_name(pair: &FilePair) -> Vec<u8> {
    match (&pair.old, &pair.new, pair.rename_score) {
        (Some(o), Some(n), Some(_)) => rename_name(&o.path, &n.path),
        _ => quote_c_style(pair.path()),
    }
}

fn scale_linear(it: usize, width: usize, max_change: usize) -> usize {
    if it == 0 {
        0
    } else {
        1 + it * (width - 1) / max_change
    }
}

fn decimal_width(n: usize) -> usize {
    n.to_string().len()
}

/// The stat lines, the summary lines and the totals line.
pub fn render(entries: &[StatEntry]) -> Vec<u8> {
    let mut out = Vec::new();
    if entries.is_empty() {
        return out;
    }
    let names: Vec<Vec<u8>> = entries.iter().map(|e| print_name(e.pair)).collect();
    let max_len = names.iter().map(|n| n.len()).max().unwrap_or(0);
    let text = entries.iter().filter(|e| !e.binary);
    let max_change = text.map(|e| e.added + e.deleted).max().unwrap_or(0);
    // "Bin XXX -> YYY bytes" is as wide as this; its "Bin" takes the
    // place of the change count, which becomes at least 3 wide.
    let bin_width = entries
        .iter()
        .filter(|e| e.binary)
        .map(|e| 14 + decimal_width(e.added) + decimal_width(e.deleted))
        .max();
    let number_width = decimal_width(max_change).max(if bin_width.is_some() { 3 } else { 0 });
    let bin_width = bin_width.unwrap_or(0);

    let width = STAT_WIDTH.max(16 + 6 + number_width);
    let mut graph_width = if max_change + 4 > bin_width {
        max_change
    } else {
        bin_width - 4
    };
    let mut name_width = max_len;
    if name_width + number_width + 6 + graph_width > width {
        let cap = (width * 3 / 8) as isize - number_width as isize - 6;
        if graph_width as isize > cap {
            graph_width = cap.max(6) as usize;
        }
        if name_width > width - number_width - 6 - graph_width {
            name_width = width - number_width - 6 - graph_width;
        } else {
            graph_width = width - number_width - 6 - name_width;
        }
    }

    for (e, name) in entries.iter().zip(&names) {
        let mut shown: &[u8] = name;
        let mut prefix = "";
        let mut len = name_width;
        if name_width < name.len() {
            prefix = "...";
            len = len.saturating_sub(3);
            shown = &name[name.len() - len..];
            if let Some(slash) = shown.iter().position(|&b| b == b'/') {
                shown = &shown[slash..];
            }
        }
        let padding = len.saturating_sub(shown.len());
        out.push(b' ');
        out.extend_from_slice(prefix.as_bytes());
        out.extend_from_slice(shown);
        out.extend(std::iter::repeat_n(b' ', padding));
        if e.binary {
            out.extend(format!(" | {:>number_width$}", "Bin").bytes());
            if e.added + e.deleted > 0 {
                out.extend(format!(" {} -> {} bytes", e.deleted, e.added).bytes());
            }
            out.push(b'\n');
            continue;
        }
        let total = e.added + e.deleted;
        let (mut add, mut del) = (e.added, e.deleted);
        if graph_width <= max_change {
            let mut t = scale_linear(total, graph_width, max_change);
            if t < 2 && add > 0 && del > 0 {
                t = 2;
            }
            if add < del {
                add = scale_linear(add, graph_width, max_change);
                del = t - add;
            } else {
                del = scale_linear(del, graph_width, max_change);
                add = t - del;
            }
        }
        out.extend(format!(" | {total:>number_width$}").bytes());
        if total > 0 {
            out.push(b' ');
        }
        out.extend(std::iter::repeat_n(b'+', add));
        out.extend(std::iter::repeat_n(b'-', del));
        out.push(b'\n');
    }

    // The sizes of binary files are not lines.
    let files = entries.len();
    let ins: usize = entries.iter().filter(|e| !e.binary).map(|e| e.added).sum();
    let dels: usize = entries
        .iter()
        .filter(|e| !e.binary)
        .map(|e| e.deleted)
        .sum();
    let mut totals = format!(" {files} file{} changed", if files == 1 { "" } else { "s" });
    if ins > 0 || dels == 0 {
        totals += &format!(", {ins} insertion{}(+)", if ins == 1 { "" } else { "s" });
    }
    if dels > 0 || ins == 0 {
        totals += &format!(", {dels} deletion{}(-)", if dels == 1 { "" } else { "s" });
    }
    out.extend(totals.bytes());
    out.push(b'\n');

    for e in entries {
        summary_line(&mut out, e.pair);
    }
    out
}

/// git's `--summary` lines for one pair.
fn summary_line(out: &mut Vec<u8>, pair: &FilePair) {
    match (&pair.old, &pair.new) {
        (None, Some(n)) => {
            out.extend(format!(" create mode {:06o} ", n.mode).bytes());
            out.extend(quote_c_style(&n.path));
            out.push(b'\n');
        }
        (Some(o), None) => {
            out.extend(format!(" delete mode {:06o} ", o.mode).bytes());
            out.extend(quote_c_style(&o.path));
            out.push(b'\n');
        }
        (Some(o), Some(n)) => {
            let renamed = pair.rename_score.is_some();
            if renamed {
                out.extend_from_slice(b" rename ");
                out.extend(rename_name(&o.path, &n.path));
                out.extend(format!(" ({}%)\n", pair.similarity_percent()).bytes());
            }
            if o.mode != n.mode {
                out.extend(format!(" mode change {:06o} => {:06o}", o.mode, n.mode).bytes());
                if !renamed {
                    out.push(b' ');
                    out.extend(quote_c_style(&n.path));
                }
                out.push(b'\n');
            }
        }
        (None, None) => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rename_names() {
        assert_eq!(rename_name(b"b.txt", b"d.txt"), b"b.txt => d.txt");
        assert_eq!(rename_name(b"a/b/c.c", b"a/x/c.c"), b"a/{b => x}/c.c");
        assert_eq!(rename_name(b"dir/a.c", b"dir/b.c"), b"dir/{a.c => b.c}");
        assert_eq!(rename_name(b"a.c", b"sub/a.c"), b"a.c => sub/a.c");
        assert_eq!(rename_name(b"x/a.c", b"x/sub/a.c"), b"x/{ => sub}/a.c");
    }
}
