//! Verification of the CDS client's `Authorization: Bearer <JWT>`.
//!
//! CDS Hooks 2.0 has every call (discovery included) carry a JWT signed by the CDS client:
//! header `alg`, `kid`, `typ: JWT`, optional `jku`; claims `iss`, `aud` (the URL called),
//! `exp`, `iat`, `jti`, optional `tenant`. This module checks all of it, in an order chosen
//! so that nothing an attacker controls is used before it has to be:
//!
//! 1. The header is present, `Bearer`, at most [`MAX_TOKEN_BYTES`], a three-part JWS whose
//!    parts are canonical unpadded base64url.
//! 2. **`alg` is `ES384` or `RS384`, compared as a string, before any key is looked up**:
//!    `none`, every HMAC algorithm (the public-key-as-HMAC-secret confusion) and everything
//!    else are refused without touching a key.
//! 3. `typ` is `JWT` (case-insensitive; required unless configured otherwise); `crit` is
//!    refused (no extensions are understood); `kid` is present. Embedded keys (`jwk`, `x5c`,
//!    `x5u`) are ignored, never trusted.
//! 4. The payload is decoded *unverified* only to read `iss`, which picks the issuer on the
//!    allowlist; an unknown issuer stops here.
//! 5. A `jku`, when present, must equal the issuer's configured `jku`, whose JWK Set was
//!    loaded from a file at start-up. Nothing is fetched (network fetching is out of scope
//!    for now); any other URL is refused.
//! 6. `kid` must name a key of that set able to verify `alg` (type, curve, `alg`, `use`).
//! 7. The signature is verified (jsonwebtoken, RustCrypto backend).
//! 8. Claims: `aud` equals the called URL (a string, or an array containing it, as RFC 7519
//!    allows); `exp` is in the future, `nbf` (if any) in the past, `iat` not in the future,
//!    each with the configured leeway; `exp - iat` is at most the maximum lifetime; `jti` is
//!    a string of 1 to 256 bytes.
//! 9. Only then is the `jti` recorded in the replay cache (below). Recording last means
//!    unsigned or invalid tokens cannot fill the cache or burn an honest client's `jti`.
//!
//! # Replay cache
//!
//! A `jti` is remembered per issuer until the token would expire (`exp` + leeway); after that
//! the token is refused as expired anyway and the entry is dropped. The cache is bounded by
//! count ([`VerifierSettings::replay_cache_capacity`]) and, through the maximum lifetime, by
//! time. **When it is full, new tokens are refused** (503, [`AuthError::ReplayCacheFull`]);
//! only expired entries are ever evicted. Evicting a live entry would reopen the replay
//! window for that token — the attack the cache exists to stop — so refusing service for a
//! moment is the safe failure. A capacity of (peak calls per second) × (max lifetime + 2 ×
//! leeway) never fills with honest traffic: 100 000 (the default) covers about 270 calls per
//! second with the default 5-minute lifetime. The cache lives in memory: a restart forgets it,
//! so a token captured before a restart can be replayed until its `exp` (at most the maximum
//! lifetime).
//!
//! Refusals are [`AuthError`]s: 401 with a `WWW-Authenticate` value, or 503 when the replay
//! cache is full.
//!
//! # Modules
//!
//! Each imports only from those before it; this file holds the [`Verifier`] and re-exports
//! their public items.
//!
//! - `alg`: [`Alg`], the accepted signature algorithms.
//! - `error`: [`AuthError`] and [`Claim`].
//! - `replay`: the bounded `jti` replay cache.
//! - `keys`: [`KeySet`], a JWK Set loaded from a file.
//! - `config`: [`VerifierSettings`], [`TrustedIssuer`], [`AllowlistError`], and the allowlist
//!   file ([`ConfigError`]).

mod alg;
mod config;
mod error;
mod keys;
mod replay;

#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::path::Path;
use std::sync::Mutex;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;
use serde_json::Value;

pub use alg::Alg;
pub use config::{AllowlistError, ConfigError, MAX_CONFIG_BYTES, TrustedIssuer, VerifierSettings};
pub use error::{AuthError, Claim};
pub use keys::{JwksError, KeySet, MAX_JWKS_BYTES, RSA_BITS};

use keys::KeyLookup;
use replay::{Refusal, ReplayCache};

use crate::text::quote;

/// The longest bearer token accepted, in bytes. A CDS client's JWT is a few hundred bytes;
/// the bound keeps hostile input from costing base64 and JSON work.
pub const MAX_TOKEN_BYTES: usize = 8 * 1024;

/// The longest `jti` accepted, in bytes (it is kept in the replay cache).
pub const MAX_JTI_BYTES: usize = 256;

/// A token that passed every check: who called, with which key, until when.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedClient {
    /// The issuer, as on the allowlist.
    pub iss: String,
    pub kid: String,
    pub alg: Alg,
    pub jti: String,
    /// `iat`, unix seconds.
    pub issued_at: u64,
    /// `exp`, unix seconds.
    pub expires_at: u64,
    /// The optional `tenant` claim (the client's tenant, for multi-tenant EHRs).
    pub tenant: Option<String>,
}

/// Verifies CDS clients' bearer tokens against an allowlist. `Send + Sync`: share one per
/// service (the replay cache inside is behind a mutex).
pub struct Verifier {
    settings: VerifierSettings,
    /// iss → (index for the replay cache, issuer).
    issuers: HashMap<String, (usize, TrustedIssuer)>,
    replay: Mutex<ReplayCache>,
}

impl std::fmt::Debug for Verifier {
    /// Settings and issuers; never the remembered `jti`s.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier")
            .field("settings", &self.settings)
            .field("issuers", &self.issuers())
            .finish_non_exhaustive()
    }
}

impl Verifier {
    /// Builds a verifier from settings and trusted issuers (see also
    /// [`Verifier::from_config_file`]).
    pub fn new(
        settings: VerifierSettings,
        issuers: Vec<TrustedIssuer>,
    ) -> Result<Verifier, AllowlistError> {
        settings.check()?;
        keys::crypto_provider().ok_or(AllowlistError::NoCryptoProvider)?;
        if issuers.is_empty() {
            return Err(AllowlistError::NoIssuers);
        }
        let mut by_iss = HashMap::with_capacity(issuers.len());
        for (index, issuer) in issuers.into_iter().enumerate() {
            if issuer.iss.is_empty() {
                return Err(AllowlistError::EmptyIss);
            }
            if issuer
                .jku
                .as_deref()
                .is_some_and(|jku| !jku.starts_with("https://"))
            {
                return Err(AllowlistError::JkuNotHttps {
                    iss: quote(&issuer.iss),
                });
            }
            let iss = issuer.iss.clone();
            if by_iss.insert(iss.clone(), (index, issuer)).is_some() {
                return Err(AllowlistError::DuplicateIssuer { iss: quote(&iss) });
            }
        }
        Ok(Verifier {
            replay: Mutex::new(ReplayCache::new(settings.replay_cache_capacity)),
            settings,
            issuers: by_iss,
        })
    }

    /// Loads the allowlist file and every JWK Set it names (paths relative to the file's
    /// directory), and builds the verifier. Any problem fails here, naming the file.
    ///
    /// ```toml
    /// # Optional; the values shown are the defaults.
    /// [settings]
    /// leeway_secs = 30             # clock skew tolerated on exp, nbf and iat
    /// max_lifetime_secs = 300      # longest exp - iat accepted
    /// replay_cache_capacity = 100000
    /// require_typ = true           # refuse tokens whose header has no `typ`
    ///
    /// [[issuer]]
    /// iss = "https://sandbox.cds-hooks.org"
    /// jwks_path = "keys/sandbox.jwks.json"   # relative to this file
    /// # Optional: a token whose header names a `jku` is accepted only when it is exactly
    /// # this URL, and is then verified with the keys of `jwks_path` (nothing is fetched).
    /// jku = "https://sandbox.cds-hooks.org/.well-known/jwks.json"
    /// ```
    ///
    /// Unknown keys are errors, so a typo (`jwks_pth`) fails start-up instead of silently
    /// trusting nobody — or somebody. A JWK Set file is `{"keys": [...]}` with public EC
    /// P-384 or RSA (2048–4096 bit) keys, each with a unique `kid`; symmetric keys and
    /// private key material are refused ([`JwksError`]).
    pub fn from_config_file(path: &Path) -> Result<Verifier, ConfigError> {
        let (settings, issuers) = config::load(path)?;
        Verifier::new(settings, issuers).map_err(|source| ConfigError::Allowlist {
            path: path.to_owned(),
            source,
        })
    }

    pub fn settings(&self) -> &VerifierSettings {
        &self.settings
    }

    /// The allowlisted issuers, sorted.
    pub fn issuers(&self) -> Vec<&str> {
        let mut issuers: Vec<&str> = self.issuers.keys().map(String::as_str).collect();
        issuers.sort_unstable();
        issuers
    }

    /// How many `jti`s the replay cache holds now (for a metrics gauge).
    pub fn replay_cache_len(&self) -> usize {
        self.replay_cache().len()
    }

    /// Verifies an `Authorization` header value for a call to `audience` (the exact URL the
    /// client called, e.g. `https://livelab.example.org/cds-services/metformin-egfr`), at the
    /// system clock's time.
    ///
    /// Pass `None` when the request has no `Authorization` header, and also when its value is
    /// not visible ASCII (an HTTP library's `to_str` fails): either way there is no usable
    /// token.
    pub fn verify(
        &self,
        authorization: Option<&str>,
        audience: &str,
    ) -> Result<VerifiedClient, AuthError> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|elapsed| elapsed.as_secs())
            .unwrap_or(0);
        self.verify_at(authorization, audience, now)
    }

    /// [`Verifier::verify`] at a given time (unix seconds): for tests and replays.
    pub fn verify_at(
        &self,
        authorization: Option<&str>,
        audience: &str,
        now: u64,
    ) -> Result<VerifiedClient, AuthError> {
        let token = bearer_token(authorization)?;
        self.verify_token_at(token, audience, now)
    }

    /// Verifies a bare token (the part after `Bearer `) at a given time.
    pub fn verify_token_at(
        &self,
        token: &str,
        audience: &str,
        now: u64,
    ) -> Result<VerifiedClient, AuthError> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(AuthError::TokenTooLarge {
                len: token.len(),
                max: MAX_TOKEN_BYTES,
            });
        }
        let mut parts = token.split('.');
        let (Some(header_b64), Some(payload_b64), Some(signature_b64), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(AuthError::Malformed("not three dot-separated parts"));
        };

        // 2. The algorithm, before anything keyed.
        let header: RawHeader = decode_part(
            header_b64,
            "the header is not base64url",
            "the header is not a JSON object (or repeats a field)",
        )?;
        let alg_name = match &header.alg {
            Some(Value::String(name)) => name.as_str(),
            Some(_) => return Err(AuthError::Malformed("the header's `alg` is not a string")),
            None => return Err(AuthError::Malformed("the header has no `alg`")),
        };
        let alg = Alg::from_header(alg_name).ok_or_else(|| AuthError::AlgorithmNotAllowed {
            alg: quote(alg_name),
        })?;

        if signature_b64.is_empty() {
            return Err(AuthError::Malformed("the signature is empty"));
        }

        // 3. The rest of the header.
        match &header.typ {
            None if self.settings.require_typ => return Err(AuthError::MissingType),
            None => {}
            Some(Value::String(typ)) if typ.eq_ignore_ascii_case("JWT") => {}
            Some(Value::String(typ)) => return Err(AuthError::WrongType { typ: quote(typ) }),
            Some(_) => {
                return Err(AuthError::WrongType {
                    typ: "(not a string)".into(),
                });
            }
        }
        if header.crit.is_some() {
            return Err(AuthError::CriticalHeader);
        }
        let kid = match &header.kid {
            Some(Value::String(kid)) if !kid.is_empty() => kid.as_str(),
            Some(Value::String(_)) | None => return Err(AuthError::MissingKid),
            Some(_) => return Err(AuthError::Malformed("the header's `kid` is not a string")),
        };

        // 4. The issuer, from the not yet verified payload.
        let claims: RawClaims = decode_part(
            payload_b64,
            "the payload is not base64url",
            "the payload is not a JSON object (or repeats a claim)",
        )?;
        let iss = required_string(&claims.iss, Claim::Iss)?;
        let (issuer_index, issuer) = self
            .issuers
            .get(iss)
            .ok_or_else(|| AuthError::UnknownIssuer { iss: quote(iss) })?;

        // 5. jku.
        match &header.jku {
            None => {}
            Some(Value::String(jku)) if issuer.jku.as_deref() == Some(jku.as_str()) => {}
            Some(Value::String(jku)) => {
                return Err(AuthError::JkuNotAllowed {
                    iss: quote(iss),
                    jku: quote(jku),
                });
            }
            Some(_) => return Err(AuthError::Malformed("the header's `jku` is not a string")),
        }

        // 6. The key.
        let key = match issuer.keys.lookup(kid, alg) {
            KeyLookup::Found(key) => key,
            KeyLookup::Unknown => {
                return Err(AuthError::UnknownKid {
                    iss: quote(iss),
                    kid: quote(kid),
                });
            }
            KeyLookup::Mismatch => {
                return Err(AuthError::KeyAlgorithmMismatch {
                    kid: quote(kid),
                    alg: alg.as_str(),
                });
            }
        };

        // 7. The signature, over the exact bytes received.
        let signed = &token[..header_b64.len() + 1 + payload_b64.len()];
        if !is_canonical_b64(signature_b64) {
            return Err(AuthError::Malformed("the signature is not base64url"));
        }
        match jsonwebtoken::crypto::verify(
            signature_b64,
            signed.as_bytes(),
            key,
            alg.jsonwebtoken(),
        ) {
            Ok(true) => {}
            Ok(false) | Err(_) => return Err(AuthError::BadSignature),
        }

        // 8. Claims.
        check_audience(&claims.aud, audience)?;
        let leeway = self.settings.leeway_secs;
        let exp =
            numeric_date(&claims.exp, Claim::Exp)?.ok_or(AuthError::MissingClaim(Claim::Exp))?;
        let iat =
            numeric_date(&claims.iat, Claim::Iat)?.ok_or(AuthError::MissingClaim(Claim::Iat))?;
        let nbf = numeric_date(&claims.nbf, Claim::Nbf)?;
        if exp.saturating_add(leeway) <= now {
            return Err(AuthError::Expired { exp, now });
        }
        if let Some(nbf) = nbf
            && nbf > now.saturating_add(leeway)
        {
            return Err(AuthError::NotYetValid { nbf, now });
        }
        if iat > now.saturating_add(leeway) {
            return Err(AuthError::IssuedInFuture { iat, now });
        }
        if exp <= iat {
            return Err(AuthError::InvalidClaim(Claim::Exp));
        }
        if exp - iat > self.settings.max_lifetime_secs {
            return Err(AuthError::LifetimeTooLong {
                lifetime: exp - iat,
                max: self.settings.max_lifetime_secs,
            });
        }
        let jti = required_string(&claims.jti, Claim::Jti)?;
        if jti.is_empty() || jti.len() > MAX_JTI_BYTES {
            return Err(AuthError::InvalidClaim(Claim::Jti));
        }
        let tenant = match &claims.tenant {
            None => None,
            Some(Value::String(tenant)) => Some(tenant.clone()),
            Some(_) => return Err(AuthError::InvalidClaim(Claim::Tenant)),
        };

        // 9. Replay, last.
        self.replay_cache()
            .record(*issuer_index, jti, exp.saturating_add(leeway), now)
            .map_err(|refusal| match refusal {
                Refusal::Replayed => AuthError::Replayed,
                Refusal::Full => AuthError::ReplayCacheFull {
                    capacity: self.settings.replay_cache_capacity,
                },
            })?;

        Ok(VerifiedClient {
            iss: issuer.iss.clone(),
            kid: kid.to_owned(),
            alg,
            jti: jti.to_owned(),
            issued_at: iat,
            expires_at: exp,
            tenant,
        })
    }

    /// The replay cache. A panic while it was held cannot leave it inconsistent (its updates
    /// do not panic), so a poisoned lock is taken over rather than propagated.
    fn replay_cache(&self) -> std::sync::MutexGuard<'_, ReplayCache> {
        self.replay
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// The header fields looked at. Derived `Deserialize` refuses duplicate fields, so a header
/// with two `alg`s (read differently by different parsers) is malformed, not ambiguous.
#[derive(Deserialize)]
struct RawHeader {
    alg: Option<Value>,
    typ: Option<Value>,
    kid: Option<Value>,
    jku: Option<Value>,
    crit: Option<Value>,
}

/// The claims looked at (duplicates refused as above; others ignored).
#[derive(Deserialize)]
struct RawClaims {
    iss: Option<Value>,
    aud: Option<Value>,
    exp: Option<Value>,
    iat: Option<Value>,
    nbf: Option<Value>,
    jti: Option<Value>,
    tenant: Option<Value>,
}

fn check_audience(aud: &Option<Value>, audience: &str) -> Result<(), AuthError> {
    match aud {
        None => Err(AuthError::MissingClaim(Claim::Aud)),
        Some(Value::String(aud)) if aud == audience => Ok(()),
        Some(Value::String(aud)) => Err(AuthError::WrongAudience { aud: quote(aud) }),
        Some(Value::Array(auds)) => {
            if !auds.iter().all(Value::is_string) || auds.is_empty() {
                return Err(AuthError::InvalidClaim(Claim::Aud));
            }
            if auds.iter().any(|aud| aud.as_str() == Some(audience)) {
                Ok(())
            } else {
                Err(AuthError::WrongAudience {
                    aud: quote(auds.first().and_then(Value::as_str).unwrap_or_default()),
                })
            }
        }
        Some(_) => Err(AuthError::InvalidClaim(Claim::Aud)),
    }
}

fn bearer_token(authorization: Option<&str>) -> Result<&str, AuthError> {
    let header = authorization.ok_or(AuthError::MissingAuthorization)?;
    if header.len() > MAX_TOKEN_BYTES + 64 {
        return Err(AuthError::TokenTooLarge {
            len: header.len(),
            max: MAX_TOKEN_BYTES,
        });
    }
    let (scheme, rest) = header.split_once(' ').ok_or(AuthError::NotBearer)?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(AuthError::NotBearer);
    }
    let token = rest.trim_matches(' ');
    if token.is_empty() {
        return Err(AuthError::Malformed("the Bearer token is empty"));
    }
    Ok(token)
}

/// Whether a JWS part is unpadded base64url with no stray bits (the form a decoder reads in
/// exactly one way).
fn is_canonical_b64(part: &str) -> bool {
    URL_SAFE_NO_PAD.decode(part).is_ok()
}

fn decode_part<T: for<'de> Deserialize<'de>>(
    part: &str,
    not_base64: &'static str,
    not_json: &'static str,
) -> Result<T, AuthError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| AuthError::Malformed(not_base64))?;
    // Only an object: serde would also fill a struct from a JSON array, which no other JOSE
    // parser accepts.
    if bytes.trim_ascii_start().first() != Some(&b'{') {
        return Err(AuthError::Malformed(not_json));
    }
    serde_json::from_slice(&bytes).map_err(|_| AuthError::Malformed(not_json))
}

fn required_string(value: &Option<Value>, claim: Claim) -> Result<&str, AuthError> {
    match value {
        None | Some(Value::Null) => Err(AuthError::MissingClaim(claim)),
        Some(Value::String(text)) => Ok(text),
        Some(_) => Err(AuthError::InvalidClaim(claim)),
    }
}

/// A JWT NumericDate: seconds since the epoch, an integer or (RFC 7519 allows it) a
/// non-integer, truncated. Negative, non-finite or absurd values are invalid.
fn numeric_date(value: &Option<Value>, claim: Claim) -> Result<Option<u64>, AuthError> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(number)) => {
            if let Some(seconds) = number.as_u64() {
                return Ok(Some(seconds));
            }
            match number.as_f64() {
                Some(seconds) if seconds.is_finite() && (0.0..1e15).contains(&seconds) => {
                    Ok(Some(seconds as u64))
                }
                _ => Err(AuthError::InvalidClaim(claim)),
            }
        }
        Some(_) => Err(AuthError::InvalidClaim(claim)),
    }
}
