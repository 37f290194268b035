//! A CDS client's JWK Set, loaded from a file and checked once, at start-up.
//!
//! The set is parsed with this crate's own minimal reader rather than
//! `jsonwebtoken::jwk::JwkSet`, to refuse what must never be trusted (symmetric keys,
//! private key material, weak RSA keys, duplicate key ids) with a clear message naming the
//! key, and to keep key types this service cannot use (P-256, Ed25519, ...) as "present but
//! unusable", so that a token naming one is refused as a key/algorithm mismatch rather than
//! an unknown key.

use std::collections::HashMap;
use std::io::Read;
use std::path::Path;

use base64::Engine;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, URL_SAFE_NO_PAD};
use jsonwebtoken::crypto::CryptoProvider;
use jsonwebtoken::{Algorithm, DecodingKey};
use serde::Deserialize;
use serde_json::{Map, Value};

use super::alg::Alg;
use crate::text::quote;

/// The largest JWK Set file read.
pub const MAX_JWKS_BYTES: u64 = 1024 * 1024;

/// The RSA modulus sizes accepted, in bits: at least 2048 (NIST SP 800-131A), at most 4096
/// (the largest the RustCrypto backend verifies).
pub const RSA_BITS: std::ops::RangeInclusive<usize> = 2048..=4096;

/// JWK members that only private or symmetric keys have.
const PRIVATE_MEMBERS: [&str; 8] = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

/// Why a JWK Set cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum JwksError {
    #[error("cannot read it: {0}")]
    Read(#[from] std::io::Error),
    #[error("it is more than {max} bytes")]
    TooLarge { max: u64 },
    #[error("it is not a JWK Set (`{{\"keys\": [...]}}`): {0}")]
    Json(#[from] serde_json::Error),
    #[error("it has no keys")]
    NoKeys,
    #[error("key {index} has no `kid`; CDS clients name their key by kid")]
    MissingKid { index: usize },
    #[error("kid \"{kid}\" appears twice; a kid must be unique within a JWK Set")]
    DuplicateKid { kid: String },
    #[error("key \"{kid}\" is symmetric (`oct`); only public ES384/RS384 keys are trusted")]
    SymmetricKey { kid: String },
    #[error("key \"{kid}\" holds private key material; publish only the public key")]
    PrivateKeyMaterial { kid: String },
    #[error("RSA key \"{kid}\" has {bits} bits; {} to {} are accepted", RSA_BITS.start(), RSA_BITS.end())]
    RsaKeySize { kid: String, bits: usize },
    #[error("key \"{kid}\" is invalid: {reason}")]
    InvalidKey { kid: String, reason: &'static str },
    #[error("no jsonwebtoken crypto provider is available")]
    NoCryptoProvider,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum KeyKind {
    P384,
    Rsa,
    /// Another key type or curve: kept so that its kid is known, never used.
    Unsupported,
}

#[derive(Clone)]
struct StoredKey {
    kind: KeyKind,
    /// The JWK's `alg`, when it pins one.
    alg: Option<String>,
    /// `use` is absent or `sig`, and `key_ops` is absent or has `verify`.
    for_signatures: bool,
    key: Option<DecodingKey>,
}

/// What a kid lookup found.
#[derive(Debug)]
pub(crate) enum KeyLookup<'a> {
    Found(&'a DecodingKey),
    Unknown,
    Mismatch,
}

/// A JWK Set: public keys by kid.
#[derive(Clone)]
pub struct KeySet {
    keys: HashMap<String, StoredKey>,
}

impl std::fmt::Debug for KeySet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut kids: Vec<&String> = self.keys.keys().collect();
        kids.sort();
        f.debug_struct("KeySet").field("kids", &kids).finish()
    }
}

#[derive(Deserialize)]
struct RawSet {
    keys: Vec<Map<String, Value>>,
}

impl KeySet {
    /// Reads and checks a JWK Set file (at most [`MAX_JWKS_BYTES`]).
    pub fn from_file(path: &Path) -> Result<KeySet, JwksError> {
        let file = std::fs::File::open(path)?;
        let mut bytes = Vec::new();
        file.take(MAX_JWKS_BYTES + 1).read_to_end(&mut bytes)?;
        if bytes.len() as u64 > MAX_JWKS_BYTES {
            return Err(JwksError::TooLarge {
                max: MAX_JWKS_BYTES,
            });
        }
        KeySet::from_json(&bytes)
    }

    /// Parses and checks a JWK Set. Every usable key is built (and, for EC keys, its point
    /// checked to be on P-384) now, so that a bad key fails start-up, not a request.
    pub fn from_json(bytes: &[u8]) -> Result<KeySet, JwksError> {
        let provider = crypto_provider().ok_or(JwksError::NoCryptoProvider)?;
        let raw: RawSet = serde_json::from_slice(bytes)?;
        if raw.keys.is_empty() {
            return Err(JwksError::NoKeys);
        }
        let mut keys = HashMap::new();
        for (index, jwk) in raw.keys.iter().enumerate() {
            let kid = match jwk.get("kid").and_then(Value::as_str) {
                Some(kid) if !kid.is_empty() => kid.to_owned(),
                _ => return Err(JwksError::MissingKid { index }),
            };
            let stored = stored_key(jwk, &kid, provider)?;
            if keys.insert(kid.clone(), stored).is_some() {
                return Err(JwksError::DuplicateKid { kid: quote(&kid) });
            }
        }
        Ok(KeySet { keys })
    }

    /// How many keys (usable or not) the set holds.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The key ids, sorted.
    pub fn kids(&self) -> Vec<&str> {
        let mut kids: Vec<&str> = self.keys.keys().map(String::as_str).collect();
        kids.sort_unstable();
        kids
    }

    /// The key to verify a token signed with `alg` under `kid`.
    pub(crate) fn lookup(&self, kid: &str, alg: Alg) -> KeyLookup<'_> {
        let Some(stored) = self.keys.get(kid) else {
            return KeyLookup::Unknown;
        };
        let kind_fits = matches!(
            (stored.kind, alg),
            (KeyKind::P384, Alg::Es384) | (KeyKind::Rsa, Alg::Rs384)
        );
        let alg_fits = stored.alg.as_deref().is_none_or(|a| a == alg.as_str());
        match &stored.key {
            Some(key) if kind_fits && alg_fits && stored.for_signatures => KeyLookup::Found(key),
            _ => KeyLookup::Mismatch,
        }
    }
}

fn stored_key(
    jwk: &Map<String, Value>,
    kid: &str,
    provider: &CryptoProvider,
) -> Result<StoredKey, JwksError> {
    let kty = jwk.get("kty").and_then(Value::as_str).unwrap_or("");
    let invalid = |reason| JwksError::InvalidKey {
        kid: quote(kid),
        reason,
    };
    if kty == "oct" {
        return Err(JwksError::SymmetricKey { kid: quote(kid) });
    }
    if PRIVATE_MEMBERS.iter().any(|m| jwk.contains_key(*m)) {
        return Err(JwksError::PrivateKeyMaterial { kid: quote(kid) });
    }
    let text = |member: &str| jwk.get(member).and_then(Value::as_str);
    let alg = match jwk.get("alg") {
        None => None,
        Some(Value::String(alg)) => Some(alg.clone()),
        Some(_) => return Err(invalid("`alg` is not a string")),
    };
    let use_ok = match jwk.get("use") {
        None => true,
        Some(value) => value.as_str() == Some("sig"),
    };
    let ops_ok = match jwk.get("key_ops") {
        None => true,
        Some(Value::Array(ops)) => ops.iter().any(|op| op.as_str() == Some("verify")),
        Some(_) => return Err(invalid("`key_ops` is not an array")),
    };
    let (kind, key) = match (kty, text("crv")) {
        ("EC", Some("P-384")) => {
            let x = coordinate(text("x")).ok_or(invalid("`x` is not 48 base64url bytes"))?;
            let y = coordinate(text("y")).ok_or(invalid("`y` is not 48 base64url bytes"))?;
            let key = DecodingKey::from_ec_components(&x, &y)
                .map_err(|_| invalid("its coordinates do not decode"))?;
            (provider.verifier_factory)(&Algorithm::ES384, &key)
                .map_err(|_| invalid("its point is not on P-384"))?;
            (KeyKind::P384, Some(key))
        }
        ("RSA", _) => {
            let n = lenient_b64(text("n")).ok_or(invalid("`n` is not base64url"))?;
            let e = lenient_b64(text("e")).ok_or(invalid("`e` is not base64url"))?;
            let bits = bit_length(&n);
            if !RSA_BITS.contains(&bits) {
                return Err(JwksError::RsaKeySize {
                    kid: quote(kid),
                    bits,
                });
            }
            if !is_sound_exponent(&e) {
                return Err(invalid("`e` is not an odd exponent between 3 and 2^33 - 1"));
            }
            let key = DecodingKey::from_rsa_raw_components(&n, &e);
            (provider.verifier_factory)(&Algorithm::RS384, &key)
                .map_err(|_| invalid("the RSA backend refuses it"))?;
            (KeyKind::Rsa, Some(key))
        }
        _ => (KeyKind::Unsupported, None),
    };
    Ok(StoredKey {
        kind,
        alg,
        for_signatures: use_ok && ops_ok,
        key,
    })
}

/// JWK Set files are operator-supplied: accept base64url with or without padding.
fn lenient_b64(text: Option<&str>) -> Option<Vec<u8>> {
    const ENGINE: GeneralPurpose = GeneralPurpose::new(
        &base64::alphabet::URL_SAFE,
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
    );
    ENGINE.decode(text?).ok().filter(|bytes| !bytes.is_empty())
}

/// A P-384 coordinate, re-encoded unpadded for `DecodingKey::from_ec_components`.
fn coordinate(text: Option<&str>) -> Option<String> {
    lenient_b64(text)
        .filter(|bytes| bytes.len() == 48)
        .map(|bytes| URL_SAFE_NO_PAD.encode(bytes))
}

fn bit_length(big_endian: &[u8]) -> usize {
    let significant: &[u8] = match big_endian.iter().position(|b| *b != 0) {
        Some(first) => &big_endian[first..],
        None => return 0,
    };
    significant.len() * 8 - significant[0].leading_zeros() as usize
}

fn is_sound_exponent(e: &[u8]) -> bool {
    if bit_length(e) > 34 {
        return false;
    }
    let value = e.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b));
    value >= 3 && value % 2 == 1 && value < (1 << 33)
}

/// The process's jsonwebtoken crypto provider, installing the RustCrypto one if none is.
///
/// jsonwebtoken picks a provider from its crate features; with both or neither of
/// `rust_crypto` and `aws_lc_rs` enabled in the final build (feature unification across the
/// workspace can do that) it has none and would panic on first use. Installing ours when
/// that happens turns a panic at request time into a working verifier.
pub(crate) fn crypto_provider() -> Option<&'static CryptoProvider> {
    if let Some(provider) = CryptoProvider::try_get_default() {
        return Some(provider);
    }
    // Losing a race to another installer is fine: any installed provider will do.
    let _ = jsonwebtoken::crypto::rust_crypto::DEFAULT_PROVIDER.install_default();
    CryptoProvider::try_get_default()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// A valid P-384 point (the curve generator).
    fn p384(kid: &str) -> Value {
        json!({
            "kty": "EC", "crv": "P-384", "kid": kid, "use": "sig", "alg": "ES384",
            "x": "qofKIr6LBTeOscce8yCtdG4dO2KLp5uYWfdB4IJUKjhVAvJdv1UpbDpUXjhydgq3",
            "y": "NhfeSpYmLG9dnpi_kpLcKfj0Hb0omhR86doxE7XwuMAKYLHOHX6BnXpDHXyQ6g5f",
        })
    }

    fn rsa(kid: &str, bits: usize) -> Value {
        let mut n = vec![0xffu8; bits / 8];
        n[bits / 8 - 1] = 0x01;
        json!({"kty": "RSA", "kid": kid, "n": URL_SAFE_NO_PAD.encode(n), "e": "AQAB"})
    }

    fn load(keys: Vec<Value>) -> Result<KeySet, JwksError> {
        KeySet::from_json(json!({ "keys": keys }).to_string().as_bytes())
    }

    #[test]
    fn loads_usable_and_unusable_keys() {
        let set = load(vec![
            p384("ec"),
            rsa("rsa", 2048),
            json!({"kty": "OKP", "crv": "Ed25519", "kid": "ed", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}),
            json!({"kty": "EC", "crv": "P-256", "kid": "p256", "x": "a", "y": "b"}),
        ]);
        let Ok(set) = set else {
            panic!("{set:?}");
        };
        assert_eq!(set.kids(), ["ec", "ed", "p256", "rsa"]);
        assert!(matches!(set.lookup("ec", Alg::Es384), KeyLookup::Found(_)));
        assert!(matches!(set.lookup("rsa", Alg::Rs384), KeyLookup::Found(_)));
        assert!(matches!(set.lookup("ec", Alg::Rs384), KeyLookup::Mismatch));
        assert!(matches!(set.lookup("rsa", Alg::Es384), KeyLookup::Mismatch));
        assert!(matches!(set.lookup("ed", Alg::Es384), KeyLookup::Mismatch));
        assert!(matches!(
            set.lookup("p256", Alg::Es384),
            KeyLookup::Mismatch
        ));
        assert!(matches!(set.lookup("nope", Alg::Es384), KeyLookup::Unknown));
    }

    #[test]
    fn alg_and_use_pin_a_key() {
        let mut pinned = p384("ec");
        pinned["alg"] = json!("ES512");
        let mut encryption = rsa("enc", 2048);
        encryption["use"] = json!("enc");
        let mut ops = rsa("ops", 2048);
        ops["key_ops"] = json!(["encrypt"]);
        let set = load(vec![pinned, encryption, ops]);
        let Ok(set) = set else {
            panic!("{set:?}");
        };
        assert!(matches!(set.lookup("ec", Alg::Es384), KeyLookup::Mismatch));
        assert!(matches!(set.lookup("enc", Alg::Rs384), KeyLookup::Mismatch));
        assert!(matches!(set.lookup("ops", Alg::Rs384), KeyLookup::Mismatch));
    }

    #[test]
    fn refusals() {
        let mut off_curve = p384("ec");
        off_curve["y"] = off_curve["x"].clone();
        let mut private = p384("ec");
        private["d"] = json!("AAAA");
        let mut odd_e = rsa("r", 2048);
        odd_e["e"] = json!("AQAA");
        let cases: Vec<(Value, &str)> = vec![
            (json!({"keys": []}), "NoKeys"),
            (json!({"nokeys": []}), "Json"),
            (json!([]), "Json"),
            (json!({"keys": [{"kty": "EC"}]}), "MissingKid"),
            (json!({"keys": [p384("a"), p384("a")]}), "DuplicateKid"),
            (
                json!({"keys": [{"kty": "oct", "kid": "h", "k": "c2VjcmV0"}]}),
                "SymmetricKey",
            ),
            (json!({"keys": [private]}), "PrivateKeyMaterial"),
            (json!({"keys": [rsa("small", 1024)]}), "RsaKeySize"),
            (json!({"keys": [rsa("huge", 8192)]}), "RsaKeySize"),
            (json!({"keys": [odd_e]}), "InvalidKey"),
            (json!({"keys": [off_curve]}), "InvalidKey"),
            (
                json!({"keys": [{"kty": "EC", "crv": "P-384", "kid": "short", "x": "AAAA", "y": "AAAA"}]}),
                "InvalidKey",
            ),
        ];
        for (set, want) in cases {
            let got = KeySet::from_json(set.to_string().as_bytes());
            assert!(
                format!("{got:?}").starts_with(&format!("Err({want}")),
                "{set}: {got:?}"
            );
        }
    }

    #[test]
    fn padded_base64_is_accepted_in_files() {
        let mut padded = rsa("r", 2048);
        padded["e"] = json!("AQAB");
        padded["n"] = json!(format!("{}==", padded["n"].as_str().unwrap_or_default()));
        // 256 bytes encode to 342 unpadded characters, so `==` is the right padding.
        assert!(load(vec![padded]).is_ok());
    }

    #[test]
    fn bit_lengths_and_exponents() {
        assert_eq!(bit_length(&[0, 0, 1]), 1);
        assert_eq!(bit_length(&[0x80, 0]), 16);
        assert_eq!(bit_length(&[]), 0);
        assert!(is_sound_exponent(&[1, 0, 1]));
        assert!(is_sound_exponent(&[3]));
        assert!(!is_sound_exponent(&[1]));
        assert!(!is_sound_exponent(&[4]));
        assert!(!is_sound_exponent(&[2, 0, 0, 0, 1]));
        assert!(!is_sound_exponent(&[0xff; 9]));
    }

    #[test]
    fn debug_lists_kids_only() {
        let set = load(vec![p384("ec")]).ok();
        assert_eq!(format!("{set:?}"), "Some(KeySet { kids: [\"ec\"] })");
    }
}
