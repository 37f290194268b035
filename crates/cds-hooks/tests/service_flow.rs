//! The crate's public API composed the way `livelab serve`'s router will use it: allowlist
//! file → bearer token → service lookup → request parse → prefetch check → cards. A sketch of
//! the wiring as much as a test.

use std::collections::BTreeMap;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, EncodingKey};
use livelab_cds_hooks::ErrorResponse;
use livelab_cds_hooks::auth::Verifier;
use livelab_cds_hooks::prefetch::{
    CodeFilter, CodeSystem, DataNeed, PrefetchOptions, PrefetchPlan, Section, derive_prefetch,
};
use livelab_cds_hooks::protocol::{
    Card, CdsResponse, DiscoveryResponse, Hook, Indicator, Limits, ServiceDescriptor,
    ServiceRequest, Source,
};
use serde_json::{Value, json};

const BASE: &str = "https://livelab.example.org";
const ISS: &str = "https://ehr.example.org";
const NOW: u64 = 1_700_000_000;
const ES384_PRIVATE: &[u8] = include_bytes!("fixtures/es384-private.pem");

struct Service {
    verifier: Verifier,
    discovery: DiscoveryResponse,
    plans: BTreeMap<String, PrefetchPlan>,
    _dir: tempfile::TempDir,
}

fn key() -> EncodingKey {
    EncodingKey::from_ec_pem(ES384_PRIVATE).unwrap_or_else(|e| panic!("{e}"))
}

fn service() -> Service {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let jwk = Jwk::from_encoding_key(&key(), Algorithm::ES384).unwrap_or_else(|e| panic!("{e}"));
    let mut jwk = serde_json::to_value(jwk).unwrap_or_default();
    jwk["kid"] = json!("ehr-2024");
    let write = |name: &str, text: String| {
        std::fs::write(dir.path().join(name), text).unwrap_or_else(|e| panic!("{e}"));
    };
    write("ehr.jwks.json", json!({"keys": [jwk]}).to_string());
    write(
        "cds-clients.toml",
        format!("[[issuer]]\niss = \"{ISS}\"\njwks_path = \"ehr.jwks.json\"\n"),
    );
    let verifier = Verifier::from_config_file(&dir.path().join("cds-clients.toml"))
        .unwrap_or_else(|e| panic!("{e}"));

    // What the metformin-egfr plugin would `describe`.
    let needs = [
        DataNeed {
            section: Section::Observations,
            codes: vec![CodeFilter {
                system: CodeSystem::Loinc,
                prefix: "62238-1".into(),
            }],
            look_back_days: Some(365),
        },
        DataNeed {
            section: Section::Medications,
            codes: vec![CodeFilter {
                system: CodeSystem::Atc,
                prefix: "A10BA".into(),
            }],
            look_back_days: None,
        },
    ];
    let plan = derive_prefetch(&needs, &PrefetchOptions::default());
    let descriptor = ServiceDescriptor {
        hook: Hook::PatientView,
        title: Some("Metformin and kidney function".into()),
        description: "Flags metformin use with an eGFR below 30.".into(),
        id: "metformin-egfr".into(),
        prefetch: plan.discovery_map(),
        usage_requirements: None,
    };
    let discovery = DiscoveryResponse {
        services: vec![descriptor],
    };
    discovery.validate().unwrap_or_else(|e| panic!("{e}"));
    Service {
        verifier,
        discovery,
        plans: BTreeMap::from([("metformin-egfr".to_string(), plan)]),
        _dir: dir,
    }
}

fn token(aud: &str) -> String {
    let header = json!({"alg": "ES384", "typ": "JWT", "kid": "ehr-2024"});
    let claims = json!({"iss": ISS, "aud": aud, "exp": NOW + 60, "iat": NOW, "jti": aud.len().to_string() + aud});
    let message = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let signature = jsonwebtoken::crypto::sign(message.as_bytes(), &key(), Algorithm::ES384)
        .unwrap_or_else(|e| panic!("{e}"));
    format!("Bearer {message}.{signature}")
}

fn error<E: ErrorResponse>(error: E) -> (u16, Value) {
    (error.status(), error.operation_outcome())
}

/// What the router's POST handler will do.
fn call(service: &Service, id: &str, authorization: Option<&str>, body: &Value) -> (u16, Value) {
    let aud = format!("{BASE}/cds-services/{id}");
    if let Err(e) = service.verifier.verify_at(authorization, &aud, NOW) {
        return error(e);
    }
    let descriptor = match service.discovery.find(id) {
        Ok(descriptor) => descriptor,
        Err(e) => return error(e),
    };
    let body = body.to_string();
    let request = match ServiceRequest::parse_for(body.as_bytes(), descriptor, &Limits::default()) {
        Ok(request) => request,
        Err(e) => return error(e),
    };
    let Some(plan) = service.plans.get(id) else {
        return (500, Value::Null);
    };
    let data = match plan.check(&request) {
        Ok(data) => data,
        Err(e) => return error(e),
    };
    // Here the host would minimise `data` and evaluate the plugin.
    let cards = if data.contains_key("observations") {
        vec![Card {
            uuid: Some("c0ffee00-0000-4000-8000-000000000001".into()),
            summary: "Metformin with eGFR below 30".into(),
            detail: None,
            indicator: Indicator::Warning,
            source: Source {
                label: "NHG-Standaard M01".into(),
                url: None,
                icon: None,
                topic: None,
            },
            suggestions: vec![],
            selection_behavior: None,
            override_reasons: vec![],
            links: vec![],
        }]
    } else {
        vec![]
    };
    let response = CdsResponse::new(cards);
    if let Err(e) = response.validate() {
        return error(e);
    }
    (200, serde_json::to_value(response).unwrap_or_default())
}

fn body(prefetch: Value) -> Value {
    json!({
        "hook": "patient-view",
        "hookInstance": "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea",
        "context": {"userId": "Practitioner/u1", "patientId": "p1"},
        "prefetch": prefetch,
    })
}

fn full_prefetch() -> Value {
    json!({
        "patient": {"resourceType": "Patient", "id": "p1", "gender": "female"},
        "observations": {"resourceType": "Bundle", "type": "searchset", "entry": []},
        "medicationRequests": null,
        "medicationStatements": null,
    })
}

#[test]
fn discovery_document() {
    let service = service();
    let value = serde_json::to_value(&service.discovery).unwrap_or_default();
    assert_eq!(
        value["services"][0]["prefetch"],
        json!({
            "patient": "Patient/{{context.patientId}}",
            "observations": "Observation?patient={{context.patientId}}&code=http://loinc.org|62238-1,urn:oid:2.16.840.1.113883.6.1|62238-1",
            "medicationRequests": "MedicationRequest?patient={{context.patientId}}",
            "medicationStatements": "MedicationStatement?patient={{context.patientId}}",
        })
    );
}

#[test]
fn a_good_call_gets_cards() {
    let service = service();
    let auth = token(&format!("{BASE}/cds-services/metformin-egfr"));
    let (status, value) = call(
        &service,
        "metformin-egfr",
        Some(&auth),
        &body(full_prefetch()),
    );
    assert_eq!(status, 200, "{value}");
    assert_eq!(value["cards"][0]["indicator"], "warning");
}

#[test]
fn refusals_map_to_statuses() {
    let url = |id: &str| format!("{BASE}/cds-services/{id}");
    let mut partial = full_prefetch();
    partial.as_object_mut().map(|m| m.remove("observations"));
    /// Name, service id, Authorization, body, status, error code.
    type Case<'a> = (&'a str, &'a str, Option<String>, Value, u16, &'a str);
    #[rustfmt::skip]
    let cases: Vec<Case> = vec![
        ("no token", "metformin-egfr", None, body(full_prefetch()), 401, "missing-authorization"),
        ("token for another service", "metformin-egfr", Some(token(&url("other"))), body(full_prefetch()), 401, "wrong-audience"),
        ("unknown service", "nope", Some(token(&url("nope"))), body(full_prefetch()), 404, "unknown-service"),
        ("wrong hook", "metformin-egfr", Some(token(&url("metformin-egfr"))), {
            let mut b = body(full_prefetch());
            b["hook"] = json!("order-sign");
            b["context"]["draftOrders"] = json!({"resourceType": "Bundle", "type": "collection"});
            b
        }, 400, "wrong-hook"),
        ("missing prefetch", "metformin-egfr", Some(token(&url("metformin-egfr"))), body(partial), 412, "missing-prefetch"),
    ];
    for (name, id, auth, body, status, code) in cases {
        // A fresh service per case: tokens are single-use.
        let (got_status, outcome) = call(&service(), id, auth.as_deref(), &body);
        assert_eq!(got_status, status, "{name}: {outcome}");
        assert_eq!(outcome["resourceType"], "OperationOutcome", "{name}");
        assert_eq!(
            outcome["issue"][0]["details"]["coding"][0]["code"], code,
            "{name}"
        );
    }
}

#[test]
fn a_token_is_good_for_one_call() {
    let service = service();
    let auth = token(&format!("{BASE}/cds-services/metformin-egfr"));
    assert_eq!(
        call(
            &service,
            "metformin-egfr",
            Some(&auth),
            &body(full_prefetch())
        )
        .0,
        200
    );
    let (status, outcome) = call(
        &service,
        "metformin-egfr",
        Some(&auth),
        &body(full_prefetch()),
    );
    assert_eq!(status, 401);
    assert_eq!(
        outcome["issue"][0]["details"]["coding"][0]["code"],
        "replayed-jti"
    );
}
