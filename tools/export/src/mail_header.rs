//! The e-mail headers of a patch as `git format-patch` writes them: From
//! (RFC 822 quoting or RFC 2047 encoding), Date (RFC 2822) and Subject
//! (folded at 78 columns, or RFC 2047 encoded when not ASCII).

use crate::wrap::add_wrapped_text;

/// Longest header line git aims for (RFC 2822).
const MAX_LENGTH: i32 = 78;
/// Longest RFC 2047 encoded line.
const MAX_ENCODED_LENGTH: usize = 76;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Rfc2047Kind {
    Address,
    Subject,
}

/// git's `non_ascii`: bytes outside ASCII, and ESC.
pub fn non_ascii(b: u8) -> bool {
    b >= 0x80 || b == 0x1b
}

fn last_line_length(buf: &[u8]) -> usize {
    match buf.iter().rposition(|&b| b == b'\n') {
        Some(p) => buf.len() - p - 1,
        None => buf.len(),
    }
}

fn needs_rfc2047_encoding(text: &[u8]) -> bool {
    text.iter()
        .enumerate()
        .any(|(i, &b)| non_ascii(b) || b == b'\n' || (b == b'=' && text.get(i + 1) == Some(&b'?')))
}

fn is_rfc822_special(b: u8) -> bool {
    b"()<>[]:;@,.\"\\".contains(&b)
}

fn is_rfc2047_special(b: u8, kind: Rfc2047Kind) -> bool {
    if non_ascii(b) || !(0x20..0x7f).contains(&b) {
        return true;
    }
    if b == b' ' || b == b'=' || b == b'?' || b == b'_' {
        return true;
    }
    if kind != Rfc2047Kind::Address {
        return false;
    }
    !(b.is_ascii_alphanumeric() || b"!*+-/".contains(&b))
}

/// Length of the UTF-8 character starting at `text[0]` (1 when invalid).
fn utf8_char_len(text: &[u8]) -> usize {
    let want = match text[0] {
        0xc0..=0xdf => 2,
        0xe0..=0xef => 3,
        0xf0..=0xf7 => 4,
        _ => return 1,
    };
    if text.len() >= want && text[1..want].iter().all(|&b| (0x80..0xc0).contains(&b)) {
        want
    } else {
        1
    }
}

fn add_rfc2047(buf: &mut Vec<u8>, text: &[u8], kind: Rfc2047Kind) {
    const ENCODING: &str = "UTF-8";
    let mut line_len = last_line_length(buf);
    buf.extend_from_slice(format!("=?{ENCODING}?q?").as_bytes());
    line_len += ENCODING.len() + 5;
    let mut rest = text;
    while !rest.is_empty() {
        let len = utf8_char_len(rest);
        let (ch, tail) = rest.split_at(len);
        rest = tail;
        let special = len > 1 || is_rfc2047_special(ch[0], kind);
        let encoded_len = if special { 3 * len } else { 1 };
        if line_len + encoded_len + 2 > MAX_ENCODED_LENGTH {
            buf.extend_from_slice(format!("?=\n =?{ENCODING}?q?").as_bytes());
            line_len = ENCODING.len() + 5 + 1;
        }
        for &b in ch {
            if special {
                buf.extend_from_slice(format!("={b:02X}").as_bytes());
            } else {
                buf.push(b);
            }
        }
        line_len += encoded_len;
    }
    buf.extend_from_slice(b"?=");
}

fn rfc822_quoted(name: &[u8]) -> Vec<u8> {
    let mut out = vec![b'"'];
    for &b in name {
        if b == b'"' || b == b'\\' {
            out.push(b'\\');
        }
        out.push(b);
    }
    out.push(b'"');
    out
}

/// `From: Name <email>\n` as git's `pp_user_info` writes it for e-mail.
pub fn from_header(name: &[u8], email: &[u8]) -> Vec<u8> {
    let mut buf = b"From: ".to_vec();
    let mut max_length = MAX_LENGTH as usize;
    if needs_rfc2047_encoding(name) {
        add_rfc2047(&mut buf, name, Rfc2047Kind::Address);
        max_length = MAX_ENCODED_LENGTH;
    } else if name.iter().any(|&b| is_rfc822_special(b)) {
        add_wrapped_text(&mut buf, &rfc822_quoted(name), -6, 1, MAX_LENGTH);
    } else {
        add_wrapped_text(&mut buf, name, -6, 1, MAX_LENGTH);
    }
    if max_length < last_line_length(&buf) + 2 + email.len() + 1 {
        buf.push(b'\n');
    }
    buf.extend_from_slice(b" <");
    buf.extend_from_slice(email);
    buf.extend_from_slice(b">\n");
    buf
}

/// `Subject: [PREFIX] title\n`, folded or RFC 2047 encoded as git does.
pub fn subject_header(prefix: &str, title: &[u8]) -> Vec<u8> {
    let mut buf = format!("Subject: {prefix}").into_bytes();
    if needs_rfc2047_encoding(title) {
        add_rfc2047(&mut buf, title, Rfc2047Kind::Subject);
    } else {
        let used = last_line_length(&buf) as i32;
        add_wrapped_text(&mut buf, title, -used, 1, MAX_LENGTH);
    }
    buf.push(b'\n');
    buf
}

/// The headers git adds when the message is not plain ASCII.
pub const MIME_HEADERS: &str =
    "MIME-Version: 1.0\nContent-Type: text/plain; charset=UTF-8\nContent-Transfer-Encoding: 8bit\n";

/// `Date: Tue, 14 Nov 2023 23:13:20 +0100\n` for a time and its offset.
pub fn date_header(seconds: i64, offset_minutes: i32) -> String {
    format!("Date: {}\n", rfc2822_date(seconds, offset_minutes))
}

/// RFC 2822 date as git's `show_date(DATE_RFC2822)` prints it.
pub fn rfc2822_date(seconds: i64, offset_minutes: i32) -> String {
    const DAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let local = seconds + i64::from(offset_minutes) * 60;
    let days = local.div_euclid(86_400);
    let secs = local.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    let weekday = (days + 4).rem_euclid(7) as usize;
    let sign = if offset_minutes < 0 { '-' } else { '+' };
    let off = offset_minutes.unsigned_abs();
    format!(
        "{}, {} {} {} {:02}:{:02}:{:02} {}{:02}{:02}",
        DAYS[weekday],
        day,
        MONTHS[(month - 1) as usize],
        year,
        secs / 3600,
        secs % 3600 / 60,
        secs % 60,
        sign,
        off / 60,
        off % 60
    )
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian.
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(
            rfc2822_date(1_700_000_000, 60),
            "Tue, 14 Nov 2023 23:13:20 +0100"
        );
        assert_eq!(
            rfc2822_date(1_700_000_000, -210),
            "Tue, 14 Nov 2023 18:43:20 -0330"
        );
        assert_eq!(rfc2822_date(0, 0), "Thu, 1 Jan 1970 00:00:00 +0000");
    }

    #[test]
    fn from_headers() {
        assert_eq!(from_header(b"Tester", b"t@x"), b"From: Tester <t@x>\n");
        assert_eq!(from_header(b"A. U.", b"t@x"), b"From: \"A. U.\" <t@x>\n");
        assert_eq!(
            String::from_utf8(from_header("Jöhn Dœ".as_bytes(), b"t@example.org")).unwrap(),
            "From: =?UTF-8?q?J=C3=B6hn=20D=C5=93?= <t@example.org>\n"
        );
    }
}
