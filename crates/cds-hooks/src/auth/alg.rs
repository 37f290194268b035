//! The signature algorithms accepted. A leaf module: it imports nothing of this crate.

/// The signature algorithms accepted: the two CDS Hooks recommends, both asymmetric.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Alg {
    /// ECDSA with P-384 and SHA-384.
    Es384,
    /// RSASSA-PKCS1-v1_5 with SHA-384.
    Rs384,
}

impl Alg {
    /// The JOSE name.
    pub fn as_str(self) -> &'static str {
        match self {
            Alg::Es384 => "ES384",
            Alg::Rs384 => "RS384",
        }
    }

    /// The algorithm a header names, compared exactly (JOSE names are case-sensitive).
    pub(super) fn from_header(name: &str) -> Option<Alg> {
        match name {
            "ES384" => Some(Alg::Es384),
            "RS384" => Some(Alg::Rs384),
            _ => None,
        }
    }

    pub(super) fn jsonwebtoken(self) -> jsonwebtoken::Algorithm {
        match self {
            Alg::Es384 => jsonwebtoken::Algorithm::ES384,
            Alg::Rs384 => jsonwebtoken::Algorithm::RS384,
        }
    }
}
