//! Text wrapping as git's `strbuf_add_wrapped_text` does it: used for the
//! Subject and From headers and for the cover letter's shortlog.

fn at(text: &[u8], i: usize) -> u8 {
    text.get(i).copied().unwrap_or(0)
}

/// git's `isspace` (no form feed, no vertical tab).
fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

/// Display width of the character starting at `text[i]` and its length
/// in bytes, as git's `utf8_width`: East Asian wide characters take two
/// columns, combining marks none, control characters count -1; a byte
/// that does not start a valid character counts one.
fn char_width(text: &[u8], i: usize) -> (i32, usize) {
    let len = match text[i] {
        0x00..=0x7f => 1,
        0xc0..=0xdf => 2,
        0xe0..=0xef => 3,
        0xf0..=0xf7 => 4,
        _ => 1,
    };
    let len = len.min(text.len() - i);
    let Some(ch) = std::str::from_utf8(&text[i..i + len])
        .ok()
        .and_then(|s| s.chars().next())
    else {
        return (1, 1);
    };
    let code = u32::from(ch);
    if code < 0x20 || (0x7f..0xa0).contains(&code) {
        return (-1, len);
    }
    let width = unicode_width::UnicodeWidthChar::width(ch).unwrap_or(0);
    (width as i32, len)
}

/// Appends `text` to `buf`, wrapped at `width` columns. `indent1` is the
/// indent of the first line (negative: that many columns are already used
/// on the current line), `indent2` the indent of the following lines.
pub fn add_wrapped_text(buf: &mut Vec<u8>, text: &[u8], indent1: i32, indent2: i32, width: i32) {
    let mut bol = 0usize;
    let mut indent = indent1;
    let mut w = indent1;
    let mut space: Option<usize> = None;
    if indent < 0 {
        w = -indent;
        space = Some(0);
    }
    let mut t = 0usize;
    loop {
        let c = at(text, t);
        if c == 0 || is_space(c) {
            let mut new_line = false;
            if w <= width || space.is_none() {
                let mut start = bol;
                if c == 0 && t == start {
                    return;
                }
                match space {
                    Some(s) => start = s,
                    None => buf.extend(std::iter::repeat_n(b' ', indent.max(0) as usize)),
                }
                buf.extend_from_slice(&text[start..t]);
                if c == 0 {
                    return;
                }
                space = Some(t);
                if c == b'\t' {
                    w |= 0x07;
                } else if c == b'\n' {
                    let s = t + 1;
                    space = Some(s);
                    if at(text, s) == b'\n' {
                        buf.push(b'\n');
                        new_line = true;
                    } else if !at(text, s).is_ascii_alphanumeric() {
                        new_line = true;
                    } else {
                        buf.push(b' ');
                    }
                }
                if !new_line {
                    w += 1;
                    t += 1;
                }
            } else {
                new_line = true;
            }
            if new_line {
                buf.push(b'\n');
                let s = space.expect("a wrap point");
                t = s + usize::from(is_space(at(text, s)));
                bol = t;
                space = None;
                indent = indent2;
                w = indent2;
            }
            continue;
        }
        let (cw, len) = char_width(text, t);
        w += cw;
        t += len;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wraps_at_width_with_indents() {
        let mut out = Vec::new();
        add_wrapped_text(&mut out, b"aaa bbb ccc ddd", 2, 4, 9);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "  aaa bbb\n    ccc\n    ddd"
        );
    }

    #[test]
    fn wide_characters_take_two_columns() {
        let mut out = Vec::new();
        add_wrapped_text(&mut out, "日本語 日本語 x".as_bytes(), 0, 0, 8);
        assert_eq!(String::from_utf8(out).unwrap(), "日本語\n日本語 x");
    }

    #[test]
    fn continues_a_started_line() {
        let mut out = b"Subject: ".to_vec();
        add_wrapped_text(&mut out, b"one two three", -9, 1, 16);
        assert_eq!(String::from_utf8(out).unwrap(), "Subject: one two\n three");
    }
}
