//! Why a CDS client's bearer token is refused.

use std::fmt;

use crate::protocol::outcome::{ErrorResponse, IssueType};

/// A JWT claim, for [`AuthError::MissingClaim`] and [`AuthError::InvalidClaim`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Claim {
    Iss,
    Aud,
    Exp,
    Iat,
    Nbf,
    Jti,
    Tenant,
}

impl Claim {
    /// The claim's name in the token.
    pub fn as_str(self) -> &'static str {
        match self {
            Claim::Iss => "iss",
            Claim::Aud => "aud",
            Claim::Exp => "exp",
            Claim::Iat => "iat",
            Claim::Nbf => "nbf",
            Claim::Jti => "jti",
            Claim::Tenant => "tenant",
        }
    }
}

impl fmt::Display for Claim {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a request's `Authorization` is refused: one variant per reason.
///
/// Every `String` field holding token content (an algorithm name, an issuer, a key id, an
/// audience) is client-controlled and has been passed through [`crate::untrusted_text`]: at
/// most [`crate::QUOTE_MAX_CHARS`] characters, escaped. Numbers are the token's own values
/// after parsing. The `jti` is never quoted: it is a replay secret of sorts and says nothing a
/// legitimate client needs.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("the request has no Authorization header")]
    MissingAuthorization,

    #[error("the Authorization header does not carry a Bearer token")]
    NotBearer,

    #[error("the bearer token is {len} bytes, more than the {max} accepted")]
    TokenTooLarge { len: usize, max: usize },

    #[error("the bearer token is malformed: {0}")]
    Malformed(&'static str),

    #[error("the token's algorithm \"{alg}\" is not accepted: only ES384 and RS384 are")]
    AlgorithmNotAllowed { alg: String },

    #[error("the token's header has no `typ`; CDS Hooks requires `JWT`")]
    MissingType,

    #[error("the token's header `typ` is \"{typ}\", not `JWT`")]
    WrongType { typ: String },

    #[error(
        "the token's header has critical extensions (`crit`), which this service does not support"
    )]
    CriticalHeader,

    #[error("the token's header has no `kid`")]
    MissingKid,

    #[error("the token has no `{0}` claim")]
    MissingClaim(Claim),

    #[error("the token's `{0}` claim has the wrong type or an impossible value")]
    InvalidClaim(Claim),

    #[error("issuer \"{iss}\" is not on this service's allowlist")]
    UnknownIssuer { iss: String },

    #[error("the token's `jku` \"{jku}\" is not the JWK Set URL configured for issuer \"{iss}\"")]
    JkuNotAllowed { iss: String, jku: String },

    #[error("issuer \"{iss}\" has no key with kid \"{kid}\" in its JWK Set")]
    UnknownKid { iss: String, kid: String },

    #[error("key \"{kid}\" cannot verify {alg} (key type, curve, `alg` or `use` differ)")]
    KeyAlgorithmMismatch { kid: String, alg: &'static str },

    #[error("the token's signature does not verify")]
    BadSignature,

    #[error("the token's audience \"{aud}\" is not the URL called")]
    WrongAudience { aud: String },

    #[error("the token expired at {exp} (now {now})")]
    Expired { exp: u64, now: u64 },

    #[error("the token is not valid before {nbf} (now {now})")]
    NotYetValid { nbf: u64, now: u64 },

    #[error("the token was issued in the future, at {iat} (now {now})")]
    IssuedInFuture { iat: u64, now: u64 },

    #[error("the token is valid for {lifetime} s, more than the {max} s accepted")]
    LifetimeTooLong { lifetime: u64, max: u64 },

    #[error("the token's `jti` was already used")]
    Replayed,

    #[error("too many live tokens to remember ({capacity}); try again shortly")]
    ReplayCacheFull { capacity: usize },
}

impl AuthError {
    /// The `WWW-Authenticate` header value to send with a 401 (RFC 6750 §3), or `None` for an
    /// error that is not the client's (503).
    pub fn www_authenticate(&self) -> Option<&'static str> {
        match self {
            AuthError::MissingAuthorization | AuthError::NotBearer => Some("Bearer"),
            AuthError::ReplayCacheFull { .. } => None,
            _ => Some("Bearer error=\"invalid_token\""),
        }
    }
}

impl ErrorResponse for AuthError {
    fn status(&self) -> u16 {
        match self {
            AuthError::ReplayCacheFull { .. } => 503,
            _ => 401,
        }
    }

    fn code(&self) -> &'static str {
        match self {
            AuthError::MissingAuthorization => "missing-authorization",
            AuthError::NotBearer => "not-bearer",
            AuthError::TokenTooLarge { .. } => "token-too-large",
            AuthError::Malformed(_) => "malformed-token",
            AuthError::AlgorithmNotAllowed { .. } => "algorithm-not-allowed",
            AuthError::MissingType => "missing-typ",
            AuthError::WrongType { .. } => "wrong-typ",
            AuthError::CriticalHeader => "unsupported-crit",
            AuthError::MissingKid => "missing-kid",
            AuthError::MissingClaim(claim) => match claim {
                Claim::Iss => "missing-iss",
                Claim::Aud => "missing-aud",
                Claim::Exp => "missing-exp",
                Claim::Iat => "missing-iat",
                Claim::Nbf => "missing-nbf",
                Claim::Jti => "missing-jti",
                Claim::Tenant => "missing-tenant",
            },
            AuthError::InvalidClaim(claim) => match claim {
                Claim::Iss => "invalid-iss",
                Claim::Aud => "invalid-aud",
                Claim::Exp => "invalid-exp",
                Claim::Iat => "invalid-iat",
                Claim::Nbf => "invalid-nbf",
                Claim::Jti => "invalid-jti",
                Claim::Tenant => "invalid-tenant",
            },
            AuthError::UnknownIssuer { .. } => "unknown-issuer",
            AuthError::JkuNotAllowed { .. } => "jku-not-allowed",
            AuthError::UnknownKid { .. } => "unknown-kid",
            AuthError::KeyAlgorithmMismatch { .. } => "key-algorithm-mismatch",
            AuthError::BadSignature => "bad-signature",
            AuthError::WrongAudience { .. } => "wrong-audience",
            AuthError::Expired { .. } => "expired",
            AuthError::NotYetValid { .. } => "not-yet-valid",
            AuthError::IssuedInFuture { .. } => "iat-in-future",
            AuthError::LifetimeTooLong { .. } => "lifetime-too-long",
            AuthError::Replayed => "replayed-jti",
            AuthError::ReplayCacheFull { .. } => "replay-cache-full",
        }
    }

    fn issue_type(&self) -> IssueType {
        match self {
            AuthError::MissingAuthorization | AuthError::NotBearer => IssueType::Login,
            AuthError::Expired { .. } => IssueType::Expired,
            AuthError::ReplayCacheFull { .. } => IssueType::Transient,
            _ => IssueType::Security,
        }
    }
}
