//! Token verification tests. Keys: the PEM fixtures in `tests/fixtures/` (see its README);
//! the JWK Sets are derived from them here, so they cannot drift.

use std::sync::atomic::{AtomicU64, Ordering};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, EncodingKey};
use serde_json::{Value, json};

use super::*;
use crate::ErrorResponse;

const ES384_PRIVATE: &[u8] = include_bytes!("../../tests/fixtures/es384-private.pem");
const ES384_PUBLIC: &[u8] = include_bytes!("../../tests/fixtures/es384-public.pem");
const ES384_OTHER_PRIVATE: &[u8] = include_bytes!("../../tests/fixtures/es384-other-private.pem");
const RS384_PRIVATE: &[u8] = include_bytes!("../../tests/fixtures/rs384-private.pem");
const RS384_PUBLIC: &[u8] = include_bytes!("../../tests/fixtures/rs384-public.pem");

const ISS: &str = "https://ehr.example.org";
const OTHER_ISS: &str = "https://other.example.org";
const JKU: &str = "https://ehr.example.org/.well-known/jwks.json";
const AUD: &str = "https://livelab.example.org/cds-services/metformin-egfr";
const NOW: u64 = 1_700_000_000;

fn es_key() -> EncodingKey {
    EncodingKey::from_ec_pem(ES384_PRIVATE).unwrap_or_else(|e| panic!("fixture: {e}"))
}

fn es_other_key() -> EncodingKey {
    EncodingKey::from_ec_pem(ES384_OTHER_PRIVATE).unwrap_or_else(|e| panic!("fixture: {e}"))
}

fn rs_key() -> EncodingKey {
    EncodingKey::from_rsa_pem(RS384_PRIVATE).unwrap_or_else(|e| panic!("fixture: {e}"))
}

/// The public JWK of a fixture key, with a kid.
fn public_jwk(key: &EncodingKey, alg: Algorithm, kid: &str) -> Value {
    let jwk = Jwk::from_encoding_key(key, alg).unwrap_or_else(|e| panic!("jwk: {e}"));
    let mut value = serde_json::to_value(jwk).unwrap_or_default();
    value["kid"] = json!(kid);
    value["use"] = json!("sig");
    value
}

fn jwks() -> Value {
    json!({"keys": [
        public_jwk(&es_key(), Algorithm::ES384, "es"),
        public_jwk(&rs_key(), Algorithm::RS384, "rs"),
    ]})
}

fn key_set(value: &Value) -> KeySet {
    KeySet::from_json(value.to_string().as_bytes()).unwrap_or_else(|e| panic!("jwks: {e}"))
}

fn verifier_with(settings: VerifierSettings) -> Verifier {
    let issuers = vec![
        TrustedIssuer {
            iss: ISS.into(),
            jku: Some(JKU.into()),
            keys: key_set(&jwks()),
        },
        TrustedIssuer {
            iss: OTHER_ISS.into(),
            jku: None,
            keys: key_set(&json!({"keys": [public_jwk(&rs_key(), Algorithm::RS384, "other-rs")]})),
        },
    ];
    Verifier::new(settings, issuers).unwrap_or_else(|e| panic!("verifier: {e}"))
}

fn verifier() -> Verifier {
    verifier_with(VerifierSettings::default())
}

fn unique_jti() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    format!("jti-{}", NEXT.fetch_add(1, Ordering::Relaxed))
}

fn header(alg: &str, kid: &str) -> Value {
    json!({"alg": alg, "typ": "JWT", "kid": kid})
}

fn claims() -> Value {
    json!({"iss": ISS, "aud": AUD, "exp": NOW + 120, "iat": NOW, "jti": unique_jti()})
}

fn b64(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(value.to_string())
}

/// A token with exactly this header and payload, signed by `key` under `alg`.
fn sign(header: &Value, claims: &Value, key: &EncodingKey, alg: Algorithm) -> String {
    let message = format!("{}.{}", b64(header), b64(claims));
    let signature = jsonwebtoken::crypto::sign(message.as_bytes(), key, alg)
        .unwrap_or_else(|e| panic!("sign: {e}"));
    format!("{message}.{signature}")
}

fn es_token(claims: &Value) -> String {
    sign(&header("ES384", "es"), claims, &es_key(), Algorithm::ES384)
}

fn check(verifier: &Verifier, token: &str) -> Result<VerifiedClient, AuthError> {
    verifier.verify_at(Some(&format!("Bearer {token}")), AUD, NOW)
}

fn code_of(result: &Result<VerifiedClient, AuthError>) -> &'static str {
    match result {
        Ok(_) => "ok",
        Err(error) => error.code(),
    }
}

#[test]
fn valid_es384() {
    let verified = check(&verifier(), &es_token(&claims()));
    let Ok(verified) = verified else {
        panic!("{verified:?}");
    };
    assert_eq!(verified.iss, ISS);
    assert_eq!(verified.kid, "es");
    assert_eq!(verified.alg, Alg::Es384);
    assert_eq!(verified.issued_at, NOW);
    assert_eq!(verified.expires_at, NOW + 120);
    assert_eq!(verified.tenant, None);
}

#[test]
fn valid_rs384() {
    let token = sign(
        &header("RS384", "rs"),
        &claims(),
        &rs_key(),
        Algorithm::RS384,
    );
    let verified = check(&verifier(), &token);
    assert_eq!(
        verified.map(|v| (v.kid, v.alg)),
        Ok(("rs".into(), Alg::Rs384))
    );
}

#[test]
fn tokens_made_by_jsonwebtoken_encode_verify() {
    let mut header = jsonwebtoken::Header::new(Algorithm::ES384);
    header.kid = Some("es".into());
    let token = jsonwebtoken::encode(&header, &claims(), &es_key());
    let token = token.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(code_of(&check(&verifier(), &token)), "ok");
}

#[test]
fn tenant_is_passed_on() {
    let mut c = claims();
    c["tenant"] = json!("hospital-a");
    let verified = check(&verifier(), &es_token(&c));
    assert_eq!(verified.map(|v| v.tenant), Ok(Some("hospital-a".into())));
}

/// Time rules with the default 30 s leeway and 300 s maximum lifetime.
#[test]
fn time_claims() {
    type Edit = fn(&mut Value);
    #[rustfmt::skip]
    let cases: Vec<(&str, Edit, &str)> = vec![
        ("expired", |c| { c["exp"] = json!(NOW - 31); c["iat"] = json!(NOW - 100); }, "expired"),
        ("expired within leeway", |c| { c["exp"] = json!(NOW - 29); c["iat"] = json!(NOW - 100); }, "ok"),
        ("expires now, no leeway left", |c| { c["exp"] = json!(NOW - 30); c["iat"] = json!(NOW - 100); }, "expired"),
        ("iat in the future", |c| { c["iat"] = json!(NOW + 31); c["exp"] = json!(NOW + 200); }, "iat-in-future"),
        ("iat in the future within leeway", |c| { c["iat"] = json!(NOW + 29); c["exp"] = json!(NOW + 200); }, "ok"),
        ("nbf in the future", |c| c["nbf"] = json!(NOW + 31), "not-yet-valid"),
        ("nbf within leeway", |c| c["nbf"] = json!(NOW + 29), "ok"),
        ("lifetime 300 s", |c| c["exp"] = json!(NOW + 300), "ok"),
        ("lifetime too long", |c| c["exp"] = json!(NOW + 301), "lifetime-too-long"),
        ("exp before iat", |c| { c["exp"] = json!(NOW + 10); c["iat"] = json!(NOW + 20); }, "invalid-exp"),
        ("non-integer dates", |c| { c["exp"] = json!(NOW as f64 + 60.5); c["iat"] = json!(NOW as f64 + 0.25); }, "ok"),
        ("exp a string", |c| c["exp"] = json!("soon"), "invalid-exp"),
        ("iat negative", |c| c["iat"] = json!(-1), "invalid-iat"),
        ("exp absurd", |c| c["exp"] = json!(1e300), "invalid-exp"),
        ("nbf a bool", |c| c["nbf"] = json!(true), "invalid-nbf"),
        ("u64::MAX exp", |c| c["exp"] = json!(u64::MAX), "lifetime-too-long"),
    ];
    let verifier = verifier();
    for (name, edit, want) in cases {
        let mut c = claims();
        edit(&mut c);
        assert_eq!(code_of(&check(&verifier, &es_token(&c))), want, "{name}");
    }
}

#[test]
fn required_and_typed_claims() {
    #[rustfmt::skip]
    let cases: Vec<(&str, Value, &str)> = vec![
        ("no exp", json!({"exp": null}), "missing-exp"),
        ("no iat", json!({"iat": null}), "missing-iat"),
        ("no jti", json!({"jti": null}), "missing-jti"),
        ("no aud", json!({"aud": null}), "missing-aud"),
        ("no iss", json!({"iss": null}), "missing-iss"),
        ("iss a number", json!({"iss": 7}), "invalid-iss"),
        ("jti a number", json!({"jti": 7}), "invalid-jti"),
        ("jti empty", json!({"jti": ""}), "invalid-jti"),
        ("jti too long", json!({"jti": "j".repeat(257)}), "invalid-jti"),
        ("tenant a number", json!({"tenant": 5}), "invalid-tenant"),
        ("wrong aud", json!({"aud": "https://livelab.example.org/cds-services/other"}), "wrong-audience"),
        ("aud with trailing slash", json!({"aud": format!("{AUD}/")}), "wrong-audience"),
        ("aud array with it", json!({"aud": ["https://x.example", AUD]}), "ok"),
        ("aud array without it", json!({"aud": ["https://x.example"]}), "wrong-audience"),
        ("aud empty array", json!({"aud": []}), "invalid-aud"),
        ("aud a number", json!({"aud": 1}), "invalid-aud"),
        ("aud array of numbers", json!({"aud": [1]}), "invalid-aud"),
        ("unknown iss", json!({"iss": "https://evil.example"}), "unknown-issuer"),
        ("another allowlisted iss without the kid", json!({"iss": OTHER_ISS}), "unknown-kid"),
    ];
    let verifier = verifier();
    for (name, edits, want) in cases {
        let mut c = claims();
        for (field, value) in edits.as_object().into_iter().flatten() {
            if value.is_null() {
                c.as_object_mut().map(|m| m.remove(field));
            } else {
                c[field] = value.clone();
            }
        }
        assert_eq!(code_of(&check(&verifier, &es_token(&c))), want, "{name}");
    }
}

#[test]
fn alg_none_is_refused() {
    let verifier = verifier();
    for signature in ["", "AAAA"] {
        for alg in ["none", "None", "NONE"] {
            let token = format!("{}.{}.{signature}", b64(&header(alg, "es")), b64(&claims()));
            let got = check(&verifier, &token);
            assert_eq!(
                code_of(&got),
                "algorithm-not-allowed",
                "{alg} with signature {signature:?}"
            );
        }
    }
    let token = format!("{}.{}.AAAA", b64(&header("none", "es")), b64(&claims()));
    assert_eq!(
        check(&verifier, &token).err(),
        Some(AuthError::AlgorithmNotAllowed { alg: "none".into() })
    );
}

/// The classic confusion: a token claiming HS256 whose HMAC "secret" is the verifier's public
/// key, which an attacker knows. Refused on the algorithm, before any key is looked up: the
/// same refusal with an unknown issuer and an unknown kid proves no lookup happened.
#[test]
fn hs256_with_the_public_key_as_secret_is_refused() {
    let verifier = verifier();
    for public in [ES384_PUBLIC, RS384_PUBLIC] {
        let secret = EncodingKey::from_secret(public).unwrap_or_else(|e| panic!("{e}"));
        for (kid, iss) in [("es", ISS), ("rs", ISS), ("nope", "https://evil.example")] {
            let mut c = claims();
            c["iss"] = json!(iss);
            let token = sign(&header("HS256", kid), &c, &secret, Algorithm::HS256);
            assert_eq!(
                check(&verifier, &token).err(),
                Some(AuthError::AlgorithmNotAllowed {
                    alg: "HS256".into()
                }),
                "kid {kid}, iss {iss}"
            );
        }
    }
}

#[test]
fn every_other_algorithm_is_refused() {
    let verifier = verifier();
    let secret = EncodingKey::from_secret(b"0123456789abcdef0123456789abcdef")
        .unwrap_or_else(|e| panic!("{e}"));
    #[rustfmt::skip]
    let cases: Vec<(&str, String)> = vec![
        ("HS384", sign(&header("HS384", "es"), &claims(), &secret, Algorithm::HS384)),
        ("HS512", sign(&header("HS512", "es"), &claims(), &secret, Algorithm::HS512)),
        ("RS256", sign(&header("RS256", "rs"), &claims(), &rs_key(), Algorithm::RS256)),
        ("RS512", sign(&header("RS512", "rs"), &claims(), &rs_key(), Algorithm::RS512)),
        ("PS384", sign(&header("PS384", "rs"), &claims(), &rs_key(), Algorithm::PS384)),
        ("es384", format!("{}.{}.AAAA", b64(&header("es384", "es")), b64(&claims()))),
        ("ES384 ", format!("{}.{}.AAAA", b64(&header("ES384 ", "es")), b64(&claims()))),
        ("EdDSA", format!("{}.{}.AAAA", b64(&header("EdDSA", "es")), b64(&claims()))),
    ];
    for (alg, token) in cases {
        assert_eq!(
            code_of(&check(&verifier, &token)),
            "algorithm-not-allowed",
            "{alg}"
        );
    }
}

#[test]
fn signatures() {
    let verifier = verifier();
    let c = claims();
    #[rustfmt::skip]
    let cases: Vec<(&str, String, &str)> = vec![
        ("another P-384 key under kid es", sign(&header("ES384", "es"), &c, &es_other_key(), Algorithm::ES384), "bad-signature"),
        ("RSA signature under an ES384 header", {
            let rs = sign(&header("RS384", "rs"), &c, &rs_key(), Algorithm::RS384);
            let signature = rs.rsplit('.').next().unwrap_or_default().to_owned();
            format!("{}.{}.{signature}", b64(&header("ES384", "es")), b64(&c))
        }, "bad-signature"),
        ("ES384 header naming the RSA key", sign(&header("ES384", "rs"), &c, &es_key(), Algorithm::ES384), "key-algorithm-mismatch"),
        ("RS384 header naming the EC key", sign(&header("RS384", "es"), &c, &rs_key(), Algorithm::RS384), "key-algorithm-mismatch"),
        ("payload swapped after signing", {
            let good = es_token(&c);
            let mut parts: Vec<String> = good.split('.').map(str::to_owned).collect();
            let mut forged = c.clone();
            forged["aud"] = json!("https://elsewhere.example");
            parts[1] = b64(&forged);
            parts.join(".")
        }, "bad-signature"),
        ("signature of wrong length", format!("{}.{}.AAAA", b64(&header("ES384", "es")), b64(&c)), "bad-signature"),
        ("signature not base64url", format!("{}.{}.%%%", b64(&header("ES384", "es")), b64(&c)), "malformed-token"),
    ];
    for (name, token, want) in cases {
        assert_eq!(code_of(&check(&verifier, &token)), want, "{name}");
    }
}

#[test]
fn header_rules() {
    let with = |edit: &dyn Fn(&mut Value)| {
        let mut h = header("ES384", "es");
        edit(&mut h);
        h
    };
    #[rustfmt::skip]
    let cases: Vec<(&str, Value, &str)> = vec![
        ("missing kid", with(&|h| { h.as_object_mut().map(|m| m.remove("kid")); }), "missing-kid"),
        ("empty kid", with(&|h| h["kid"] = json!("")), "missing-kid"),
        ("kid a number", with(&|h| h["kid"] = json!(1)), "malformed-token"),
        ("unknown kid", with(&|h| h["kid"] = json!("es-2019")), "unknown-kid"),
        ("missing typ", with(&|h| { h.as_object_mut().map(|m| m.remove("typ")); }), "missing-typ"),
        ("typ lowercase", with(&|h| h["typ"] = json!("jwt")), "ok"),
        ("typ at+jwt", with(&|h| h["typ"] = json!("at+jwt")), "wrong-typ"),
        ("typ a number", with(&|h| h["typ"] = json!(1)), "wrong-typ"),
        ("crit", with(&|h| h["crit"] = json!(["exp"])), "unsupported-crit"),
        ("configured jku", with(&|h| h["jku"] = json!(JKU)), "ok"),
        ("other jku", with(&|h| h["jku"] = json!("https://evil.example/jwks.json")), "jku-not-allowed"),
        ("jku with a different case", with(&|h| h["jku"] = json!(JKU.to_uppercase())), "jku-not-allowed"),
        ("jku a number", with(&|h| h["jku"] = json!(1)), "malformed-token"),
        ("embedded jwk is ignored", with(&|h| h["jwk"] = public_jwk(&es_other_key(), Algorithm::ES384, "es")), "ok"),
        ("no alg", with(&|h| { h.as_object_mut().map(|m| m.remove("alg")); }), "malformed-token"),
        ("alg a number", with(&|h| h["alg"] = json!(384)), "malformed-token"),
    ];
    let verifier = verifier();
    for (name, h, want) in cases {
        let token = sign(&h, &claims(), &es_key(), Algorithm::ES384);
        assert_eq!(code_of(&check(&verifier, &token)), want, "{name}");
    }
}

#[test]
fn jku_is_refused_for_an_issuer_without_one() {
    let mut c = claims();
    c["iss"] = json!(OTHER_ISS);
    let mut h = header("RS384", "other-rs");
    h["jku"] = json!(JKU);
    let token = sign(&h, &c, &rs_key(), Algorithm::RS384);
    assert_eq!(code_of(&check(&verifier(), &token)), "jku-not-allowed");
    h.as_object_mut().map(|m| m.remove("jku"));
    let token = sign(&h, &c, &rs_key(), Algorithm::RS384);
    assert_eq!(code_of(&check(&verifier(), &token)), "ok");
}

#[test]
fn typ_can_be_optional() {
    let verifier = verifier_with(VerifierSettings {
        require_typ: false,
        ..VerifierSettings::default()
    });
    let token = sign(
        &json!({"alg": "ES384", "kid": "es"}),
        &claims(),
        &es_key(),
        Algorithm::ES384,
    );
    assert_eq!(code_of(&check(&verifier, &token)), "ok");
}

#[test]
fn replayed_jti() {
    let verifier = verifier();
    let token = es_token(&claims());
    assert_eq!(code_of(&check(&verifier, &token)), "ok");
    assert_eq!(check(&verifier, &token).err(), Some(AuthError::Replayed));
    // Re-signed with the same jti: still a replay.
    let c: Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(token.split('.').nth(1).unwrap_or_default())
            .unwrap_or_default(),
    )
    .unwrap_or_default();
    let again = sign(&header("RS384", "rs"), &c, &rs_key(), Algorithm::RS384);
    assert_eq!(check(&verifier, &again).err(), Some(AuthError::Replayed));
    // Once the token is past exp + leeway, it is refused as expired, and forgotten.
    let later = verifier.verify_at(Some(&format!("Bearer {token}")), AUD, NOW + 150);
    assert_eq!(code_of(&later), "expired");
    assert_eq!(verifier.replay_cache_len(), 1);
    let _ = verifier.verify_at(
        Some(&format!(
            "Bearer {}",
            es_token(&json!({
                "iss": ISS, "aud": AUD, "exp": NOW + 400, "iat": NOW + 151, "jti": unique_jti()
            }))
        )),
        AUD,
        NOW + 151,
    );
    assert_eq!(
        verifier.replay_cache_len(),
        1,
        "the expired jti was dropped"
    );
}

#[test]
fn refused_tokens_do_not_burn_their_jti() {
    let verifier = verifier();
    let mut c = claims();
    c["aud"] = json!("https://elsewhere.example");
    assert_eq!(code_of(&check(&verifier, &es_token(&c))), "wrong-audience");
    let forged = format!("{}.{}.AAAA", b64(&header("ES384", "es")), b64(&claims()));
    assert_eq!(code_of(&check(&verifier, &forged)), "bad-signature");
    assert_eq!(verifier.replay_cache_len(), 0);
    c["aud"] = json!(AUD);
    assert_eq!(code_of(&check(&verifier, &es_token(&c))), "ok");
}

#[test]
fn a_full_replay_cache_refuses_with_503() {
    let verifier = verifier_with(VerifierSettings {
        replay_cache_capacity: 1,
        ..VerifierSettings::default()
    });
    assert_eq!(code_of(&check(&verifier, &es_token(&claims()))), "ok");
    let full = check(&verifier, &es_token(&claims())).err();
    assert_eq!(full, Some(AuthError::ReplayCacheFull { capacity: 1 }));
    assert_eq!(full.as_ref().map(ErrorResponse::status), Some(503));
    assert_eq!(full.and_then(|e| e.www_authenticate()), None);
}

#[test]
fn authorization_header_forms() {
    let verifier = verifier();
    let token = es_token(&claims());
    let second = es_token(&claims());
    let third = es_token(&claims());
    #[rustfmt::skip]
    let cases: Vec<(Option<String>, &str)> = vec![
        (None, "missing-authorization"),
        (Some(String::new()), "not-bearer"),
        (Some(format!("Basic {token}")), "not-bearer"),
        (Some("Bearer".into()), "not-bearer"),
        (Some("Bearer ".into()), "malformed-token"),
        (Some(format!("Bearer{token}")), "not-bearer"),
        (Some(format!("Bearer {token}")), "ok"),
        (Some(format!("bearer {second}")), "ok"),
        (Some(format!("BEARER   {third}  ")), "ok"),
        (Some(format!("Bearer {}", "a".repeat(MAX_TOKEN_BYTES + 1))), "token-too-large"),
        (Some(format!("Bearer {}", "a".repeat(100_000))), "token-too-large"),
    ];
    for (header, want) in cases {
        let got = verifier.verify_at(header.as_deref(), AUD, NOW);
        assert_eq!(
            code_of(&got),
            want,
            "{:?}",
            header.map(|h| h.chars().take(20).collect::<String>())
        );
    }
}

#[test]
fn malformed_tokens() {
    let verifier = verifier();
    let c = b64(&claims());
    let h = b64(&header("ES384", "es"));
    let padded = URL_SAFE_NO_PAD.encode(header("ES384", "es").to_string()) + "=";
    #[rustfmt::skip]
    let cases: Vec<(&str, String)> = vec![
        ("two parts", format!("{h}.{c}")),
        ("four parts", format!("{h}.{c}.AAAA.AAAA")),
        ("five parts (JWE)", format!("{h}.{c}.a.b.c")),
        ("empty signature", format!("{h}.{c}.")),
        ("header not base64", format!("!!.{c}.AAAA")),
        ("padded header", format!("{padded}.{c}.AAAA")),
        ("header not JSON", format!("{}.{c}.AAAA", URL_SAFE_NO_PAD.encode("not json"))),
        ("header an array", format!("{}.{c}.AAAA", URL_SAFE_NO_PAD.encode("[1]"))),
        ("duplicate alg", format!("{}.{c}.AAAA", URL_SAFE_NO_PAD.encode(r#"{"alg":"ES384","alg":"HS256","typ":"JWT","kid":"es"}"#))),
        ("payload not JSON", format!("{h}.{}.AAAA", URL_SAFE_NO_PAD.encode("{"))),
        ("duplicate iss", format!("{h}.{}.AAAA", URL_SAFE_NO_PAD.encode(format!(r#"{{"iss":"{ISS}","iss":"x"}}"#)))),
        ("empty", String::new()),
        ("dots", "..".into()),
    ];
    for (name, token) in cases {
        let got = verifier.verify_token_at(&token, AUD, NOW);
        assert_eq!(code_of(&got), "malformed-token", "{name}: {got:?}");
    }
}

#[test]
fn hostile_values_are_quoted_bounded_and_escaped() {
    let verifier = verifier();
    let hostile = format!("evil\r\nX-Injected: 1 {}", "\u{202e}".repeat(1000));
    let mut c = claims();
    c["iss"] = json!(hostile);
    let message = check(&verifier, &es_token(&c))
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        message.starts_with("issuer \"evil\\u{d}\\u{a}X-Injected: 1"),
        "{message}"
    );
    assert!(message.len() < 800, "{} bytes", message.len());
    assert!(!message.contains('\n') && !message.contains('\u{202e}'));
    let token = format!("{}.{}.AAAA", b64(&header(&hostile, "es")), b64(&claims()));
    let message = check(&verifier, &token)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(message.len() < 800 && !message.contains('\n'), "{message}");
}

#[test]
fn codes_statuses_and_bodies() {
    let all = vec![
        AuthError::MissingAuthorization,
        AuthError::NotBearer,
        AuthError::TokenTooLarge { len: 1, max: 1 },
        AuthError::Malformed("x"),
        AuthError::AlgorithmNotAllowed { alg: "none".into() },
        AuthError::MissingType,
        AuthError::WrongType { typ: "x".into() },
        AuthError::CriticalHeader,
        AuthError::MissingKid,
        AuthError::MissingClaim(Claim::Iss),
        AuthError::MissingClaim(Claim::Aud),
        AuthError::MissingClaim(Claim::Exp),
        AuthError::MissingClaim(Claim::Iat),
        AuthError::MissingClaim(Claim::Jti),
        AuthError::InvalidClaim(Claim::Iss),
        AuthError::InvalidClaim(Claim::Aud),
        AuthError::InvalidClaim(Claim::Exp),
        AuthError::InvalidClaim(Claim::Iat),
        AuthError::InvalidClaim(Claim::Nbf),
        AuthError::InvalidClaim(Claim::Jti),
        AuthError::InvalidClaim(Claim::Tenant),
        AuthError::UnknownIssuer { iss: "x".into() },
        AuthError::JkuNotAllowed {
            iss: "x".into(),
            jku: "y".into(),
        },
        AuthError::UnknownKid {
            iss: "x".into(),
            kid: "y".into(),
        },
        AuthError::KeyAlgorithmMismatch {
            kid: "x".into(),
            alg: "ES384",
        },
        AuthError::BadSignature,
        AuthError::WrongAudience { aud: "x".into() },
        AuthError::Expired { exp: 1, now: 2 },
        AuthError::NotYetValid { nbf: 2, now: 1 },
        AuthError::IssuedInFuture { iat: 2, now: 1 },
        AuthError::LifetimeTooLong {
            lifetime: 2,
            max: 1,
        },
        AuthError::Replayed,
        AuthError::ReplayCacheFull { capacity: 1 },
    ];
    let mut codes = std::collections::BTreeSet::new();
    for error in &all {
        let code = error.code();
        assert!(codes.insert(code), "duplicate code {code}");
        assert!(
            code.bytes().all(|b| b.is_ascii_lowercase() || b == b'-'),
            "{code}"
        );
        let want_status = if matches!(error, AuthError::ReplayCacheFull { .. }) {
            503
        } else {
            401
        };
        assert_eq!(error.status(), want_status, "{code}");
        assert_eq!(
            error.www_authenticate().is_some(),
            want_status == 401,
            "{code}"
        );
        let body = error.operation_outcome();
        assert_eq!(body["resourceType"], "OperationOutcome");
        assert_eq!(body["issue"][0]["details"]["coding"][0]["code"], code);
        assert_eq!(body["issue"][0]["diagnostics"], error.to_string());
    }
    assert_eq!(
        AuthError::Expired { exp: 1, now: 2 }.operation_outcome()["issue"][0]["code"],
        "expired"
    );
    assert_eq!(
        AuthError::MissingAuthorization.www_authenticate(),
        Some("Bearer")
    );
    assert_eq!(
        AuthError::BadSignature.www_authenticate(),
        Some("Bearer error=\"invalid_token\"")
    );
}

#[test]
fn verifier_is_shareable_across_threads() {
    fn shareable<T: Send + Sync>() {}
    shareable::<Verifier>();
    let verifier = verifier();
    let tokens: Vec<String> = (0..8).map(|_| es_token(&claims())).collect();
    std::thread::scope(|scope| {
        for token in &tokens {
            let verifier = &verifier;
            scope.spawn(move || assert_eq!(code_of(&check(verifier, token)), "ok"));
        }
    });
    assert_eq!(verifier.replay_cache_len(), 8);
}

#[test]
fn debug_does_not_list_jtis() {
    let verifier = verifier();
    let token = es_token(&claims());
    let _ = check(&verifier, &token);
    let shown = format!("{verifier:?}");
    assert!(!shown.contains("jti-"), "{shown}");
    assert!(shown.contains(ISS));
}

/// A small deterministic generator (xorshift), so the hostile-input tests need no crate.
fn xorshift(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

/// Thousands of mangled tokens: each must be refused (or, rarely, accepted), never panic.
#[test]
fn mangled_tokens_never_panic() {
    let verifier = verifier();
    let good = es_token(&claims());
    let header_json = header("ES384", "es").to_string();
    let claims_json = claims().to_string();
    let alphabet: Vec<char> = "AZaz09-_.=+/ {}[]\":,\n\u{0}\u{202e}é".chars().collect();
    let mut state = 0x9e37_79b9_7f4a_7c15;
    for round in 0..1500 {
        let token = match round % 3 {
            // Character edits of a good token.
            0 => {
                let mut chars: Vec<char> = good.chars().collect();
                for _ in 0..(1 + xorshift(&mut state) % 4) {
                    let at = (xorshift(&mut state) as usize) % chars.len();
                    chars[at] = alphabet[(xorshift(&mut state) as usize) % alphabet.len()];
                }
                chars.into_iter().collect::<String>()
            }
            // Edits of the JSON, re-encoded: reaches the header and claims parsers.
            1 | 2 => {
                let source = if round % 3 == 1 {
                    &header_json
                } else {
                    &claims_json
                };
                let mut chars: Vec<char> = source.chars().collect();
                let at = (xorshift(&mut state) as usize) % chars.len();
                chars[at] = alphabet[(xorshift(&mut state) as usize) % alphabet.len()];
                let edited: String = chars.into_iter().collect();
                let (h, c) = if round % 3 == 1 {
                    (edited, claims_json.clone())
                } else {
                    (header_json.clone(), edited)
                };
                // A short signature fails fast if parsing gets that far (debug-build ECDSA
                // is slow, and the parsers are what this round exercises).
                format!(
                    "{}.{}.AAAA",
                    URL_SAFE_NO_PAD.encode(h),
                    URL_SAFE_NO_PAD.encode(c)
                )
            }
            _ => unreachable!(),
        };
        let result = verifier.verify_token_at(&token, AUD, NOW);
        if let Err(error) = result {
            assert!(error.to_string().len() < 1000, "{error}");
        }
    }
}

// ------------------------------------------------------------- allowlist construction

#[test]
fn allowlist_errors() {
    let keys = key_set(&jwks());
    let issuer = |iss: &str, jku: Option<&str>| TrustedIssuer {
        iss: iss.into(),
        jku: jku.map(str::to_owned),
        keys: keys.clone(),
    };
    let settings = VerifierSettings::default();
    #[rustfmt::skip]
    let cases: Vec<(VerifierSettings, Vec<TrustedIssuer>, AllowlistError)> = vec![
        (settings, vec![], AllowlistError::NoIssuers),
        (settings, vec![issuer("", None)], AllowlistError::EmptyIss),
        (settings, vec![issuer(ISS, None), issuer(ISS, None)], AllowlistError::DuplicateIssuer { iss: ISS.into() }),
        (settings, vec![issuer(ISS, Some("http://ehr.example.org/jwks"))], AllowlistError::JkuNotHttps { iss: ISS.into() }),
        (VerifierSettings { leeway_secs: 301, ..settings }, vec![issuer(ISS, None)], AllowlistError::InvalidSettings("leeway_secs must be at most 300")),
        (VerifierSettings { max_lifetime_secs: 0, ..settings }, vec![issuer(ISS, None)], AllowlistError::InvalidSettings("max_lifetime_secs must be between 1 and 86400")),
        (VerifierSettings { replay_cache_capacity: 0, ..settings }, vec![issuer(ISS, None)], AllowlistError::InvalidSettings("replay_cache_capacity must be between 1 and 10000000")),
    ];
    for (settings, issuers, want) in cases {
        assert_eq!(
            Verifier::new(settings, issuers).err(),
            Some(want.clone()),
            "{want}"
        );
    }
}

// ------------------------------------------------------------- allowlist file

fn write(dir: &std::path::Path, name: &str, text: &str) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap_or_else(|e| panic!("write {name}: {e}"));
    path
}

#[test]
fn loads_the_allowlist_file() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    std::fs::create_dir(dir.path().join("keys")).unwrap_or_else(|e| panic!("{e}"));
    write(dir.path(), "keys/ehr.json", &jwks().to_string());
    let config = write(
        dir.path(),
        "clients.toml",
        &format!(
            r#"
[settings]
leeway_secs = 10
max_lifetime_secs = 600

[[issuer]]
iss = "{ISS}"
jwks_path = "keys/ehr.json"
jku = "{JKU}"
"#
        ),
    );
    let verifier = Verifier::from_config_file(&config);
    let Ok(verifier) = verifier else {
        panic!("{verifier:?}");
    };
    assert_eq!(verifier.issuers(), [ISS]);
    assert_eq!(verifier.settings().leeway_secs, 10);
    assert_eq!(verifier.settings().max_lifetime_secs, 600);
    assert_eq!(verifier.settings().replay_cache_capacity, 100_000);
    let mut h = header("ES384", "es");
    h["jku"] = json!(JKU);
    let token = sign(&h, &claims(), &es_key(), Algorithm::ES384);
    assert_eq!(code_of(&check(&verifier, &token)), "ok");
}

#[test]
fn allowlist_file_errors_name_the_file() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    write(dir.path(), "good.json", &jwks().to_string());
    write(
        dir.path(),
        "symmetric.json",
        r#"{"keys": [{"kty": "oct", "kid": "h", "k": "c2VjcmV0"}]}"#,
    );
    let issuer = |jwks: &str| format!("[[issuer]]\niss = \"{ISS}\"\njwks_path = \"{jwks}\"\n");
    #[rustfmt::skip]
    let cases: Vec<(&str, String, &[&str])> = vec![
        ("bad toml", "[[issuer]\n".into(), &["bad toml.toml"]),
        ("typo", "[[issuer]]\niss = \"x\"\njwks_pth = \"good.json\"\n".into(), &["typo.toml", "jwks_pth"]),
        ("unknown setting", format!("[settings]\nleway_secs = 1\n{}", issuer("good.json")), &["unknown setting.toml", "leway_secs"]),
        ("no issuers", "[settings]\nleeway_secs = 1\n".into(), &["no issuers.toml", "no issuers"]),
        ("missing jwks", issuer("absent.json"), &["missing jwks.toml", "absent.json", ISS]),
        ("symmetric jwks", issuer("symmetric.json"), &["symmetric jwks.toml", "symmetric.json", "symmetric (`oct`)"]),
        ("duplicate", format!("{}{}", issuer("good.json"), issuer("good.json")), &["duplicate.toml", "listed twice"]),
        ("http jku", format!("{}jku = \"http://x.example/jwks\"\n", issuer("good.json")), &["http jku.toml", "`jku` must be"]),
    ];
    for (name, text, wants) in cases {
        let path = write(dir.path(), &format!("{name}.toml"), &text);
        let message = Verifier::from_config_file(&path)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        for want in wants {
            assert!(message.contains(want), "{name}: {message:?} lacks {want:?}");
        }
    }
    let absent = dir.path().join("absent.toml");
    let message = Verifier::from_config_file(&absent)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(message.contains("absent.toml"), "{message}");
}
