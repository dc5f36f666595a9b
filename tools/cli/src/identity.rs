//! People as mail names them: `Name <email>` parsed as RFC 5322 does
//! (quoted names, comments) and decoded from RFC 2047, so that the same
//! person is recognised however a header spells them.

use anyhow::{bail, Result};

/// A display name and an address, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub name: String,
    pub email: String,
}

impl Identity {
    /// The series author the manifest names.
    pub fn author_of(manifest: &crate::manifest::Manifest) -> Identity {
        Identity {
            name: manifest.author.name.clone(),
            email: manifest.author.email.clone(),
        }
    }

    /// `Name <email>`, `"A. U. Thor" <email>`, `=?UTF-8?q?...?= <email>`.
    pub fn parse(text: &str) -> Result<Identity> {
        let list = match mailparse::addrparse(text) {
            Ok(l) => l,
            Err(e) => bail!("{text:?} is not an address: {e}"),
        };
        match list.extract_single_info() {
            Some(one) if one.addr.contains('@') => Ok(Identity {
                name: one.display_name.unwrap_or_default(),
                email: one.addr,
            }),
            _ => bail!("{text:?} is not one \"Name <email>\""),
        }
    }

    /// The same person: equal names, addresses equal ignoring case.
    pub fn same_as(&self, other: &Identity) -> bool {
        self.name == other.name && self.email.eq_ignore_ascii_case(&other.email)
    }

    /// As a trailer writes it: `Name <email>`, never quoted or encoded.
    pub fn trailer_form(&self) -> String {
        format!("{} <{}>", self.name, self.email)
    }

    /// A `From:` header as git format-patch writes it (RFC 822 quoting or
    /// RFC 2047 encoding where the name needs it), with its newline.
    pub fn as_from_header(&self) -> String {
        String::from_utf8(series_export::from_header(
            self.name.as_bytes(),
            self.email.as_bytes(),
        ))
        .expect("UTF-8 in, UTF-8 out")
    }
}

/// The header block of a mail (with the newline that ends its last
/// line) and the rest, from the first empty line on. Mails are bytes.
pub fn split_headers(mail: &[u8]) -> (&[u8], &[u8]) {
    match mail.windows(2).position(|w| w == b"\n\n") {
        Some(i) => mail.split_at(i + 1),
        None => (mail, &[]),
    }
}

/// The decoded `From:` of a mail, when it names one person.
pub fn mail_from(mail: &str) -> Option<Identity> {
    let (head, _) = split_headers(mail.as_bytes());
    let (headers, _) = mailparse::parse_headers(head).ok()?;
    let from = headers
        .iter()
        .find(|h| h.get_key_ref().eq_ignore_ascii_case("from"))?;
    match mailparse::addrparse_header(from)
        .ok()?
        .extract_single_info()
    {
        Some(one) => Some(Identity {
            name: one.display_name.unwrap_or_default(),
            email: one.addr,
        }),
        None => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_and_encoded_names_decode_to_the_person() {
        let thor = Identity::parse("A. U. Thor <a@x.org>").unwrap();
        assert_eq!(thor.name, "A. U. Thor");
        let quoted = Identity::parse("\"A. U. Thor\" <A@X.org>").unwrap();
        assert!(quoted.same_as(&thor));
        let mail = "From: =?UTF-8?q?J=C3=B6rg=20R=C3=B6del?= <joro@x.org>\nSubject: s\n\nbody\n";
        let joerg = mail_from(mail).unwrap();
        assert_eq!(joerg.name, "Jörg Rödel");
        assert_eq!(joerg.email, "joro@x.org");
        assert!(Identity::parse("not an address").is_err());
    }

    #[test]
    fn from_header_quotes_or_encodes_as_git_does() {
        let thor = Identity::parse("A. U. Thor <a@x.org>").unwrap();
        assert_eq!(thor.as_from_header(), "From: \"A. U. Thor\" <a@x.org>\n");
        let joerg = Identity::parse("Jörg Rödel <joro@x.org>").unwrap();
        assert_eq!(
            joerg.as_from_header(),
            "From: =?UTF-8?q?J=C3=B6rg=20R=C3=B6del?= <joro@x.org>\n"
        );
        assert_eq!(thor.trailer_form(), "A. U. Thor <a@x.org>");
    }
}
