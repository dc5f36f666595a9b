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
        "q" | "Q" => decode_q(text, true)?,
        "b" | "B" => decode_base64(text)?,
        _ => return Ok(None),
    };
    let decoded = to_utf8(&bytes, charset)
        .with_context(|| format!("cannot decode the header word {:?}", &s[..end + 2]))?;
    Ok(Some((decoded, end + 2)))
}

/// Quoted-printable (`underscore_is_space` for RFC 2047 `Q` words).
pub fn decode_q(text: &str, underscore_is_space: bool) -> Result<Vec<u8>> {
    let b = text.as_bytes();
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

pub fn decode_base64(text: &str) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let mut acc: u32 = 0;
    let mut bits = 0;
    for c in text.bytes() {
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

/// Text in `charset` as UTF-8 (UTF-8, US-ASCII and ISO-8859-1 are known).
pub fn to_utf8(bytes: &[u8], charset: &str) -> Result<String> {
    let cs = charset.to_ascii_lowercase();
    let cs = cs.split('*').next().unwrap_or("");
    match cs {
        "utf-8" | "utf8" | "us-ascii" | "ascii" | "" => String::from_utf8(bytes.to_vec())
            .map_err(|_| anyhow::anyhow!("text is not valid {charset}")),
        "iso-8859-1" | "latin1" | "iso-8859-15" => Ok(bytes.iter().map(|&b| b as char).collect()),
        _ => {
            bail!("unsupported charset {charset:?} (UTF-8, US-ASCII and ISO-8859-1 are supported)")
        }
    }
}

/// `Name <email>` (name may be quoted) → (name, email), like `git mailinfo`.
pub fn parse_address(value: &str) -> Result<(String, String)> {
    let value = value.trim();
    let (name, email) = match (value.rfind('<'), value.rfind('>')) {
        (Some(lt), Some(gt)) if lt < gt => (
            value[..lt].trim().to_string(),
            value[lt + 1..gt].trim().to_string(),
        ),
        _ if value.contains('@') && !value.contains(' ') => (String::new(), value.to_string()),
        _ => bail!("the address {value:?} is not of the form `Name <email>`"),
    };
    let name = unquote(&name);
    let name = if name.is_empty() { email.clone() } else { name };
    Ok((name, email))
}

/// `"Doe, John \"JD\""` → `Doe, John "JD"`.
fn unquote(s: &str) -> String {
    let Some(inner) = s.strip_prefix('"').and_then(|t| t.strip_suffix('"')) else {
        return s.to_string();
    };
    let mut out = String::new();
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(n) = chars.next() {
                out.push(n);
            }
        } else {
            out.push(c);
        }
    }
    out
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
    s.split_whitespace().collect::<Vec<_>>().join(" ")
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
