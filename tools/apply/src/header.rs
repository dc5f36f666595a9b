//! Mail header fields as `git mailinfo` reads them: unfolding, RFC 2047
//! encoded words, `Name <email>` addresses, RFC 2822 dates and the
//! subject clean-up that drops `Re:` and `[PATCH ...]` prefixes.

use anyhow::{bail, Context, Result};

/// Joins folded header lines: each continuation's leading white space
/// becomes one space and the line before it loses its trailing blanks.
pub fn unfold(lines: &[&str]) -> String {
    let mut out = String::new();
    for (i, line) in lines.iter().enumerate() {
        if i == 0 {
            out.push_str(line);
        } else {
            out.truncate(out.trim_end().len());
            out.push(' ');
            out.push_str(&line[1..]);
        }
    }
    out
}

/// Decodes RFC 2047 encoded words (`=?charset?q|b?text?=`); white space
/// between two adjacent encoded words is dropped, as the RFC says.
pub fn decode_words(value: &str) -> Result<String> {
    let mut out = String::new();
    let mut rest = value;
    let mut pending_space = String::new();
    let mut last_was_word = false;
    while !rest.is_empty() {
        if let Some((decoded, used)) = encoded_word(rest)? {
            if !last_was_word {
                out.push_str(&pending_space);
            }
            pending_space.clear();
            out.push_str(&decoded);
            rest = &rest[used..];
            last_was_word = true;
            continue;
        }
        let ch = rest.chars().next().expect("not empty");
        if ch == ' ' || ch == '\t' {
            pending_space.push(ch);
        } else {
            out.push_str(&pending_space);
            pending_space.clear();
            out.push(ch);
            last_was_word = false;
        }
        rest = &rest[ch.len_utf8()..];
    }
    out.push_str(&pending_space);
    Ok(out)
}

/// One encoded word at the start of `s`: its text and the bytes it used.
fn encoded_word(s: &str) -> Result<Option<(String, usize)>> {
    if !s.starts_with("=?") {
        return Ok(None);
    }
    let Some(q1) = s[2..].find('?').map(|i| i + 2) else {
        return Ok(None);
    };
    let charset = &s[2..q1];
    let Some(encoding) = s.get(q1 + 1..q1 + 2) else {
        return Ok(None);
    };
    if s.get(q1 + 2..q1 + 3) != Some("?") {
        return Ok(None);
    }
    let text_start = q1 + 3;
    let Some(end) = s[text_start..].find("?=").map(|i| i + text_start) else {
        return Ok(None);
    };
    let text = &s[text_start..end];
    let bytes = match encoding {
        "q" | "Q" => decode_q(text.as_bytes(), true)?,
        "b" | "B" => decode_base64(text.as_bytes())?,
        _ => return Ok(None),
    };
    let decoded = to_utf8(&bytes, charset)
        .with_context(|| format!("cannot decode the header word {:?}", &s[..end + 2]))?;
    Ok(Some((decoded, end + 2)))
}

/// Quoted-printable (`underscore_is_space` for RFC 2047 `Q` words).
pub fn decode_q(text: &[u8], underscore_is_space: bool) -> Result<Vec<u8>> {
    let b = text;
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'=' => match (b.get(i + 1), b.get(i + 2)) {
                (Some(b'\n'), _) => i += 2,
                (None, _) => i += 1,
                (Some(&hi), Some(&lo)) if hi.is_ascii_hexdigit() && lo.is_ascii_hexdigit() => {
                    out.push(hex_value(hi) * 16 + hex_value(lo));
                    i += 3;
                }
                _ => {
                    out.push(b'=');
                    i += 1;
                }
            },
            b'_' if underscore_is_space => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    Ok(out)
}

fn hex_value(c: u8) -> u8 {
    (c as char).to_digit(16).unwrap_or(0) as u8
}

pub fn decode_base64(text: &[u8]) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let mut acc: u32 = 0;
    let mut bits = 0;
    for &c in text {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            b'=' => break,
            b' ' | b'\t' | b'\r' | b'\n' => continue,
            _ => bail!("invalid base64 character {:?}", c as char),
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Ok(out)
}

/// Bytes as text the way git's commit writing repairs them: valid UTF-8
/// stays, every other byte is read as a Latin-1 character.
pub fn latin1_fallback(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    let mut rest = bytes;
    while !rest.is_empty() {
        match std::str::from_utf8(rest) {
            Ok(text) => {
                out.push_str(text);
                break;
            }
            Err(e) => {
                let (good, bad) = rest.split_at(e.valid_up_to());
                out.push_str(std::str::from_utf8(good).unwrap_or_default());
                out.push(char::from(bad[0]));
                rest = &bad[1..];
            }
        }
    }
    out
}

fn is_utf8_name(charset: &str) -> bool {
    matches!(charset, "utf-8" | "utf8" | "us-ascii" | "ascii" | "")
}

/// Text in `charset` as UTF-8, as `git mailinfo` converts it: no charset
/// or UTF-8 keeps the bytes (a byte that is not UTF-8 is then read as
/// Latin-1, as git's commit writing does), ISO-8859-1 maps each byte to
/// its code point, other charsets are decoded by their WHATWG label.
pub fn to_utf8(bytes: &[u8], charset: &str) -> Result<String> {
    let cs = charset.trim().to_ascii_lowercase();
    let cs = cs.split('*').next().unwrap_or("");
    if is_utf8_name(cs) {
        return Ok(latin1_fallback(bytes));
    }
    if matches!(cs, "iso-8859-1" | "iso8859-1" | "latin1" | "latin-1" | "l1") {
        return Ok(bytes.iter().map(|&b| char::from(b)).collect());
    }
    let Some(encoding) = encoding_rs::Encoding::for_label(cs.as_bytes()) else {
        bail!("unknown charset {charset:?}; re-send the patch as UTF-8");
    };
    let (text, had_errors) = encoding.decode_without_bom_handling(bytes);
    if had_errors {
        bail!("the text is not valid {charset}");
    }
    Ok(text.into_owned())
}

/// git's `isspace`: space, tab, line feed and carriage return only.
pub fn is_git_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r')
}

/// `Name <email>`, `email (Name)` or a bare address → (name, email), as
/// `git mailinfo` reads a From: line and `git am` writes the ident: the
/// email is the word around the first `@`, the rest (quotes removed,
/// blanks squeezed, a `(...)` around it dropped) is the name; a name that
/// is empty, longer than 60 bytes or holds `@`, `<` or `>` is replaced by
/// the email; both lose leading and trailing punctuation and blanks.
pub fn parse_address(value: &str) -> Result<(String, String)> {
    let mut line = unquote_pairs(value);
    let (name, email) = match line.find('@') {
        Some(at) => {
            let mut begin = at;
            while begin > 0 {
                let c = line.as_bytes()[begin - 1];
                if c == b'<' {
                    line.replace_range(begin - 1..begin, " ");
                    break;
                }
                if c.is_ascii() && is_git_space(char::from(c)) {
                    break;
                }
                begin -= 1;
            }
            let len = line[begin..]
                .find([' ', '\n', '\t', '\r', '\x0b', '\x0c', '>'])
                .unwrap_or(line.len() - begin);
            let email = line[begin..begin + len].to_string();
            // The byte after the email (a blank or `>`) goes with it.
            let cut = (begin + len + 1).min(line.len());
            let mut name = line[..begin].to_string();
            name.push_str(&line[cut..]);
            let name = squeeze_spaces(&name);
            let name = name.trim_matches(is_git_space);
            let name = match name.strip_prefix('(').and_then(|n| n.strip_suffix(')')) {
                Some(inner) => inner,
                None => name,
            };
            (name.to_string(), email)
        }
        None => match (line.find('<'), line.find('>')) {
            (Some(lt), Some(gt)) if lt < gt => (
                line[..lt].trim_matches(is_git_space).to_string(),
                line[lt + 1..gt].to_string(),
            ),
            _ => bail!("the address {value:?} is not of the form `Name <email>`"),
        },
    };
    let name = if name.is_empty() || name.len() > 60 || name.contains(['@', '<', '>']) {
        email.clone()
    } else {
        name
    };
    let (name, email) = (without_crud(&name), without_crud(&email));
    if name.is_empty() || email.is_empty() {
        bail!("the address {value:?} has an empty name or email");
    }
    Ok((name, email))
}

/// git's ident clean-up: control characters, blanks and `,:;<>"\'` at
/// either end go (a final `.` stays), `<`, `>` and newlines inside go.
fn without_crud(s: &str) -> String {
    let crud = |c: char| c <= ' ' || ",:;<>\"\\'".contains(c);
    s.trim_matches(crud)
        .chars()
        .filter(|c| !matches!(c, '\n' | '<' | '>'))
        .collect()
}

/// Runs of git blanks become one space.
fn squeeze_spaces(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut in_space = false;
    for c in s.chars() {
        if is_git_space(c) {
            if !in_space {
                out.push(' ');
            }
            in_space = true;
        } else {
            out.push(c);
            in_space = false;
        }
    }
    out
}

/// RFC 822 quoted strings lose their quotes and backslashes; comments
/// keep their parentheses but lose their backslashes.
fn unquote_pairs(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => quoted_string(&mut out, &mut chars),
            '(' => comment(&mut out, &mut chars),
            c => out.push(c),
        }
    }
    out
}

fn quoted_string(out: &mut String, chars: &mut std::str::Chars) {
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.extend(chars.next()),
            '"' => return,
            c => out.push(c),
        }
    }
}

fn comment(out: &mut String, chars: &mut std::str::Chars) {
    out.push('(');
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.extend(chars.next()),
            '(' => comment(out, chars),
            ')' => {
                out.push(')');
                return;
            }
            c => out.push(c),
        }
    }
}

/// An RFC 2822 date (`Tue, 5 Mar 2024 10:20:30 +0100`) → (seconds since
/// the epoch, offset in minutes).
pub fn parse_date(value: &str) -> Result<(i64, i32)> {
    let bad = || format!("the date {value:?} is not an RFC 2822 date");
    let mut words: Vec<&str> = value.split_whitespace().collect();
    if words.first().is_some_and(|w| w.ends_with(',')) {
        words.remove(0);
    }
    if words.len() < 5 {
        bail!(bad());
    }
    let day: i64 = words[0].parse().with_context(bad)?;
    let month = [
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ]
    .iter()
    .position(|m| words[1].to_ascii_lowercase().starts_with(m))
    .with_context(bad)? as i64
        + 1;
    let year: i64 = words[2].parse().with_context(bad)?;
    let hms: Vec<i64> = words[3]
        .split(':')
        .map(|p| p.parse::<i64>())
        .collect::<Result<_, _>>()
        .ok()
        .with_context(bad)?;
    let (h, m, s) = match hms.as_slice() {
        [h, m] => (*h, *m, 0),
        [h, m, s] => (*h, *m, *s),
        _ => bail!(bad()),
    };
    let tz = words[4];
    let (sign, digits) = match tz.as_bytes().first() {
        Some(b'+') => (1, &tz[1..]),
        Some(b'-') => (-1, &tz[1..]),
        _ => bail!(bad()),
    };
    if digits.len() != 4 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        bail!(bad());
    }
    let hh: i32 = digits[..2].parse()?;
    let mm: i32 = digits[2..].parse()?;
    // git refuses these fields out of range; it moves a day past the end
    // of a month into the next one (31 Feb is 3 Mar), and so does this.
    let impossible = !(1..=31).contains(&day)
        || !(1970..=9999).contains(&year)
        || !(0..24).contains(&h)
        || !(0..60).contains(&m)
        || !(0..=60).contains(&s)
        || hh > 14
        || mm >= 60;
    if impossible {
        bail!(
            "the date {value:?} is impossible (a day, time, year or zone out of range); \
             fix the Date: line of the mail"
        );
    }
    let offset = sign * (hh * 60 + mm);
    let local = days_from_civil(year, month, day) * 86400 + h * 3600 + m * 60 + s;
    Ok((local - i64::from(offset) * 60, offset))
}

/// Days since 1970-01-01 of a proleptic Gregorian date.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146097 + doe - 719468
}

/// Drops leading `Re:`, `:`, blanks and `[...]` groups, then squeezes
/// white space, as `git mailinfo` does without `-k`.
pub fn clean_subject(subject: &str) -> String {
    let mut s = subject;
    loop {
        if s.len() > 3 && s.get(..3).is_some_and(|p| p.eq_ignore_ascii_case("re:")) {
            s = &s[3..];
        } else if s.starts_with([' ', '\t', ':']) {
            s = &s[1..];
        } else if s.starts_with('[') {
            match s.find(']') {
                Some(end) => s = &s[end + 1..],
                None => break,
            }
        } else {
            break;
        }
    }
    squeeze_spaces(s.trim_matches(is_git_space))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_encoded_words() {
        assert_eq!(
            decode_words("=?UTF-8?q?J=C3=B6rg_M?= =?UTF-8?q?=C3=BCller?= <j@x>").unwrap(),
            "Jörg Müller <j@x>"
        );
        assert_eq!(decode_words("=?utf-8?b?SsO2cmc=?=").unwrap(), "Jörg");
        assert_eq!(decode_words("plain  text").unwrap(), "plain  text");
    }

    #[test]
    fn cleans_subjects() {
        assert_eq!(
            clean_subject("[PATCH v2 3/7] driver core:  a\tb "),
            "driver core: a b"
        );
        assert_eq!(clean_subject("Re: [RFC] [PATCH] x"), "x");
        assert_eq!(clean_subject("[unclosed x"), "[unclosed x");
    }

    #[test]
    fn parses_dates_and_addresses() {
        assert_eq!(
            parse_date("Thu, 1 Jan 1970 01:00:00 +0100").unwrap(),
            (0, 60)
        );
        assert_eq!(
            parse_date("Tue, 5 Mar 2024 10:20:30 -0500").unwrap(),
            (1709652030, -300)
        );
        assert!(parse_date("yesterday").is_err());
        assert_eq!(
            parse_address("\"Doe, John\" <j@x.org>").unwrap(),
            ("Doe, John".to_string(), "j@x.org".to_string())
        );
    }
}
