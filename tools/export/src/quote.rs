//! Path quoting as git's `quote_c_style` does it (with `core.quotePath` on).

/// True when git would put `name` in double quotes.
pub fn needs_quoting(name: &[u8]) -> bool {
    name.iter().any(|&b| needs_escape(b))
}

fn needs_escape(b: u8) -> bool {
    b < 0x20 || b == b'"' || b == b'\\' || b == 0x7f || b >= 0x80
}

/// `name` as git prints it: verbatim, or C-quoted when it has special bytes.
pub fn quote_c_style(name: &[u8]) -> Vec<u8> {
    if !needs_quoting(name) {
        return name.to_vec();
    }
    quote_always(name)
}

/// `prefix` + `name`, quoted as one string when the name needs it
/// (git's `quote_two_c_style`, used for `a/path` and `b/path`).
pub fn quote_prefixed(prefix: &str, name: &[u8]) -> Vec<u8> {
    let mut whole = prefix.as_bytes().to_vec();
    whole.extend_from_slice(name);
    if needs_quoting(name) {
        quote_always(&whole)
    } else {
        whole
    }
}

fn quote_always(name: &[u8]) -> Vec<u8> {
    let mut out = vec![b'"'];
    for &b in name {
        match b {
            0x07 => out.extend_from_slice(b"\\a"),
            0x08 => out.extend_from_slice(b"\\b"),
            b'\t' => out.extend_from_slice(b"\\t"),
            b'\n' => out.extend_from_slice(b"\\n"),
            0x0b => out.extend_from_slice(b"\\v"),
            0x0c => out.extend_from_slice(b"\\f"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b if needs_escape(b) => out.extend_from_slice(format!("\\{b:03o}").as_bytes()),
            b => out.push(b),
        }
    }
    out.push(b'"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_and_special_names() {
        assert_eq!(quote_c_style(b"a/b.c"), b"a/b.c");
        assert_eq!(quote_c_style("é".as_bytes()), b"\"\\303\\251\"");
        assert_eq!(quote_prefixed("a/", b"x\"y"), b"\"a/x\\\"y\"");
    }
}
