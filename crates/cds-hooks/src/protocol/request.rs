//! `POST {base}/cds-services/{id}`: the service request and its hook context.

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;
use serde_json::{Map, Value};

use super::discovery::ServiceDescriptor;
use super::error::RequestError;
use super::hook::Hook;
use super::limits::{Limits, is_fhir_id};
use crate::text::{quote, untrusted_text};

/// A checked service request.
///
/// Built only by [`ServiceRequest::parse`] / [`ServiceRequest::parse_for`], so a value of
/// this type has every required field, a context typed for its hook with ids that are valid
/// FHIR ids, and a `prefetch` that is a JSON object. Whether the prefetched data is enough is
/// the job of [`crate::prefetch::PrefetchPlan::check`].
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceRequest {
    pub hook: Hook,
    /// The client's id for this hook call (a UUID by the spec; see [`ServiceRequest::parse`]).
    pub hook_instance: String,
    /// The client's FHIR base URL.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fhir_server: Option<String>,
    /// An access token for `fhir_server`, when the client grants one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fhir_authorization: Option<FhirAuthorization>,
    pub context: HookContext,
    /// Prefetch key → FHIR resource (usually a searchset Bundle), or `null` when the client's
    /// query found nothing. Keys the service did not ask for are kept here but ignored by
    /// [`crate::prefetch::PrefetchPlan::check`], which hands on declared keys only.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub prefetch: BTreeMap<String, Value>,
    /// Top-level fields this crate does not know (e.g. `extension`): tolerated, not
    /// interpreted.
    #[serde(flatten)]
    pub extensions: Map<String, Value>,
}

/// The OAuth 2.0 access token a client may pass for its FHIR server.
///
/// `Debug` redacts the token: requests get logged.
#[derive(Clone, PartialEq, Eq, Serialize)]
pub struct FhirAuthorization {
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: String,
    /// Lifetime of the token in seconds.
    pub expires_in: u64,
    pub scope: String,
    /// The OAuth 2.0 client id of this service at the client's authorisation server.
    pub subject: String,
    /// The patient the token is restricted to, when it carries patient scopes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub patient: Option<String>,
}

impl fmt::Debug for FhirAuthorization {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FhirAuthorization")
            .field("access_token", &"[redacted]")
            .field("token_type", &self.token_type)
            .field("expires_in", &self.expires_in)
            .field("scope", &self.scope)
            .field("subject", &self.subject)
            .field("patient", &self.patient)
            .finish()
    }
}

/// The hook's context, typed per hook (CDS Hooks library definitions).
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(untagged)]
pub enum HookContext {
    PatientView(PatientViewContext),
    OrderSelect(OrderSelectContext),
    OrderSign(OrderSignContext),
}

/// `patient-view`: the user opened a patient's record.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PatientViewContext {
    /// `Type/id` of the user: Practitioner, PractitionerRole, Patient or RelatedPerson.
    pub user_id: String,
    pub patient_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encounter_id: Option<String>,
    /// Context fields this crate does not know; tolerated.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `order-select`: the user selected orders among the draft orders.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderSelectContext {
    pub user_id: String,
    pub patient_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encounter_id: Option<String>,
    /// `Type/id` of the newly selected orders; each names an entry of `draft_orders`.
    pub selections: Vec<String>,
    /// A FHIR Bundle of the draft orders (kept as JSON: the host maps it).
    pub draft_orders: Value,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `order-sign`: the user is about to sign the draft orders.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderSignContext {
    pub user_id: String,
    pub patient_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encounter_id: Option<String>,
    /// A FHIR Bundle of the orders being signed (kept as JSON: the host maps it).
    pub draft_orders: Value,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl HookContext {
    pub fn hook(&self) -> Hook {
        match self {
            HookContext::PatientView(_) => Hook::PatientView,
            HookContext::OrderSelect(_) => Hook::OrderSelect,
            HookContext::OrderSign(_) => Hook::OrderSign,
        }
    }

    pub fn user_id(&self) -> &str {
        match self {
            HookContext::PatientView(c) => &c.user_id,
            HookContext::OrderSelect(c) => &c.user_id,
            HookContext::OrderSign(c) => &c.user_id,
        }
    }

    pub fn patient_id(&self) -> &str {
        match self {
            HookContext::PatientView(c) => &c.patient_id,
            HookContext::OrderSelect(c) => &c.patient_id,
            HookContext::OrderSign(c) => &c.patient_id,
        }
    }

    pub fn encounter_id(&self) -> Option<&str> {
        match self {
            HookContext::PatientView(c) => c.encounter_id.as_deref(),
            HookContext::OrderSelect(c) => c.encounter_id.as_deref(),
            HookContext::OrderSign(c) => c.encounter_id.as_deref(),
        }
    }

    /// The draft orders Bundle (`order-select`, `order-sign`).
    pub fn draft_orders(&self) -> Option<&Value> {
        match self {
            HookContext::PatientView(_) => None,
            HookContext::OrderSelect(c) => Some(&c.draft_orders),
            HookContext::OrderSign(c) => Some(&c.draft_orders),
        }
    }

    /// The value of the prefetch token `{{context.<field>}}`, if the hook offers it and the
    /// request has it.
    pub fn token(&self, field: &str) -> Option<&str> {
        match field {
            "userId" => Some(self.user_id()),
            "patientId" => Some(self.patient_id()),
            "encounterId" => self.encounter_id(),
            _ => None,
        }
    }
}

impl ServiceRequest {
    /// Parses and checks a request body for any hook this crate knows.
    ///
    /// Checks, in order: size (413), JSON object, `hook` known, `hookInstance`,
    /// `fhirServer` / `fhirAuthorization`, the context for the hook, `prefetch` an object
    /// (all 400). `hookInstance` must be 1 to 128 printable ASCII characters: the spec calls
    /// it a UUID, but refusing a client whose ids are unique yet not UUID-shaped would gain
    /// nothing, so the format is not enforced.
    pub fn parse(body: &[u8], limits: &Limits) -> Result<ServiceRequest, RequestError> {
        parse(body, None, limits)
    }

    /// [`ServiceRequest::parse`] for a given service: a request whose `hook` is not the
    /// service's is refused (400) before its context is looked at.
    pub fn parse_for(
        body: &[u8],
        service: &ServiceDescriptor,
        limits: &Limits,
    ) -> Result<ServiceRequest, RequestError> {
        parse(body, Some(service.hook), limits)
    }
}

/// Parses a body into a JSON object, with the size bound. Shared with feedback.
pub(super) fn parse_object(
    body: &[u8],
    limits: &Limits,
) -> Result<Map<String, Value>, RequestError> {
    if body.len() > limits.max_body_bytes {
        return Err(RequestError::BodyTooLarge {
            size: body.len(),
            max: limits.max_body_bytes,
        });
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(RequestError::MalformedJson {
            detail: "the body is not a JSON object".into(),
        }),
        Err(error) => Err(RequestError::MalformedJson {
            detail: untrusted_text(&error.to_string(), 200),
        }),
    }
}

fn parse(
    body: &[u8],
    expected: Option<Hook>,
    limits: &Limits,
) -> Result<ServiceRequest, RequestError> {
    let mut map = parse_object(body, limits)?;

    let hook_name = required_string(&mut map, "hook", "hook")?;
    let hook = Hook::from_name(&hook_name).ok_or_else(|| RequestError::UnsupportedHook {
        hook: quote(&hook_name),
    })?;
    if let Some(expected) = expected
        && expected != hook
    {
        return Err(RequestError::WrongHook {
            expected,
            got: hook,
        });
    }

    let hook_instance = required_string(&mut map, "hookInstance", "hookInstance")?;
    if hook_instance.len() > 128 || !hook_instance.bytes().all(|b| (b' '..=b'~').contains(&b)) {
        return Err(RequestError::InvalidField {
            field: "hookInstance",
            reason: "must be 1 to 128 printable ASCII characters (a UUID)",
        });
    }

    let fhir_server = optional_string(&mut map, "fhirServer", "fhirServer")?;
    if let Some(url) = &fhir_server
        && !is_http_url(url)
    {
        return Err(RequestError::InvalidField {
            field: "fhirServer",
            reason: "must be an absolute http(s) URL of at most 2048 characters",
        });
    }
    let fhir_authorization = match take(&mut map, "fhirAuthorization") {
        None => None,
        Some(Value::Object(auth)) => Some(fhir_authorization(auth)?),
        Some(_) => {
            return Err(RequestError::InvalidField {
                field: "fhirAuthorization",
                reason: "must be an object",
            });
        }
    };
    if fhir_authorization.is_some() && fhir_server.is_none() {
        return Err(RequestError::FhirServerRequired);
    }

    let context = match take(&mut map, "context") {
        None => return Err(RequestError::MissingField { field: "context" }),
        Some(Value::Object(context)) => hook_context(hook, context)?,
        Some(_) => {
            return Err(RequestError::InvalidField {
                field: "context",
                reason: "must be an object",
            });
        }
    };

    let prefetch = match take(&mut map, "prefetch") {
        None => BTreeMap::new(),
        Some(Value::Object(prefetch)) => prefetch.into_iter().collect(),
        Some(_) => {
            return Err(RequestError::InvalidField {
                field: "prefetch",
                reason: "must be an object",
            });
        }
    };

    Ok(ServiceRequest {
        hook,
        hook_instance,
        fhir_server,
        fhir_authorization,
        context,
        prefetch,
        extensions: map,
    })
}

fn fhir_authorization(mut auth: Map<String, Value>) -> Result<FhirAuthorization, RequestError> {
    let access_token =
        required_string(&mut auth, "access_token", "fhirAuthorization.access_token")?;
    let token_type = required_string(&mut auth, "token_type", "fhirAuthorization.token_type")?;
    if !token_type.eq_ignore_ascii_case("bearer") {
        return Err(RequestError::InvalidField {
            field: "fhirAuthorization.token_type",
            reason: "must be `Bearer`",
        });
    }
    let expires_in = match take(&mut auth, "expires_in") {
        None => {
            return Err(RequestError::MissingField {
                field: "fhirAuthorization.expires_in",
            });
        }
        Some(value) => value.as_u64().ok_or(RequestError::InvalidField {
            field: "fhirAuthorization.expires_in",
            reason: "must be a non-negative integer",
        })?,
    };
    let scope = required_string(&mut auth, "scope", "fhirAuthorization.scope")?;
    let subject = required_string(&mut auth, "subject", "fhirAuthorization.subject")?;
    let patient = optional_string(&mut auth, "patient", "fhirAuthorization.patient")?;
    if patient.as_deref().is_some_and(|id| !is_fhir_id(id)) {
        return Err(RequestError::InvalidField {
            field: "fhirAuthorization.patient",
            reason: "must be a FHIR id",
        });
    }
    Ok(FhirAuthorization {
        access_token,
        token_type: "Bearer".into(),
        expires_in,
        scope,
        subject,
        patient,
    })
}

fn hook_context(hook: Hook, mut map: Map<String, Value>) -> Result<HookContext, RequestError> {
    let user_id = required_string(&mut map, "userId", "context.userId")?;
    if !is_user_reference(&user_id) {
        return Err(RequestError::InvalidField {
            field: "context.userId",
            reason: "must be Practitioner/, PractitionerRole/, Patient/ or RelatedPerson/ and a FHIR id",
        });
    }
    let patient_id = required_string(&mut map, "patientId", "context.patientId")?;
    if !is_fhir_id(&patient_id) {
        return Err(RequestError::InvalidField {
            field: "context.patientId",
            reason: "must be a FHIR id",
        });
    }
    let encounter_id = optional_string(&mut map, "encounterId", "context.encounterId")?;
    if encounter_id.as_deref().is_some_and(|id| !is_fhir_id(id)) {
        return Err(RequestError::InvalidField {
            field: "context.encounterId",
            reason: "must be a FHIR id",
        });
    }
    Ok(match hook {
        Hook::PatientView => HookContext::PatientView(PatientViewContext {
            user_id,
            patient_id,
            encounter_id,
            extra: map,
        }),
        Hook::OrderSign => {
            let draft_orders = draft_orders(&mut map)?;
            HookContext::OrderSign(OrderSignContext {
                user_id,
                patient_id,
                encounter_id,
                draft_orders,
                extra: map,
            })
        }
        Hook::OrderSelect => {
            let draft_orders = draft_orders(&mut map)?;
            let selections = selections(&mut map, &draft_orders)?;
            HookContext::OrderSelect(OrderSelectContext {
                user_id,
                patient_id,
                encounter_id,
                selections,
                draft_orders,
                extra: map,
            })
        }
    })
}

fn draft_orders(map: &mut Map<String, Value>) -> Result<Value, RequestError> {
    const FIELD: &str = "context.draftOrders";
    let bundle = take(map, "draftOrders").ok_or(RequestError::MissingField { field: FIELD })?;
    if bundle.get("resourceType").and_then(Value::as_str) != Some("Bundle") {
        return Err(RequestError::InvalidField {
            field: FIELD,
            reason: "must be a FHIR Bundle",
        });
    }
    if bundle.get("entry").is_some_and(|entry| !entry.is_array()) {
        return Err(RequestError::InvalidField {
            field: FIELD,
            reason: "Bundle.entry must be an array",
        });
    }
    Ok(bundle)
}

fn selections(
    map: &mut Map<String, Value>,
    draft_orders: &Value,
) -> Result<Vec<String>, RequestError> {
    const FIELD: &str = "context.selections";
    let value = take(map, "selections").ok_or(RequestError::MissingField { field: FIELD })?;
    let invalid = |reason| RequestError::InvalidField {
        field: FIELD,
        reason,
    };
    let items = value
        .as_array()
        .filter(|items| !items.is_empty())
        .ok_or(invalid("must be a non-empty array of strings"))?;
    let drafts: Vec<String> = draft_orders
        .get("entry")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|entry| {
            let resource = entry.get("resource")?;
            let ty = resource.get("resourceType")?.as_str()?;
            let id = resource.get("id")?.as_str()?;
            Some(format!("{ty}/{id}"))
        })
        .collect();
    items
        .iter()
        .map(|item| {
            let selection = item
                .as_str()
                .ok_or(invalid("must be a non-empty array of strings"))?;
            if !drafts.iter().any(|draft| draft == selection) {
                return Err(invalid("names an order that is not in draftOrders"));
            }
            Ok(selection.to_owned())
        })
        .collect()
}

/// Removes a field, treating JSON `null` as absent (the spec forbids nulls where it does not
/// allow them; a client that sends one meant "absent").
fn take(map: &mut Map<String, Value>, key: &str) -> Option<Value> {
    map.remove(key).filter(|value| !value.is_null())
}

fn optional_string(
    map: &mut Map<String, Value>,
    key: &str,
    field: &'static str,
) -> Result<Option<String>, RequestError> {
    match take(map, key) {
        None => Ok(None),
        Some(Value::String(text)) if !text.is_empty() => Ok(Some(text)),
        Some(_) => Err(RequestError::InvalidField {
            field,
            reason: "must be a non-empty string",
        }),
    }
}

fn required_string(
    map: &mut Map<String, Value>,
    key: &str,
    field: &'static str,
) -> Result<String, RequestError> {
    optional_string(map, key, field)?.ok_or(RequestError::MissingField { field })
}

fn is_http_url(url: &str) -> bool {
    let lower = url
        .get(..8)
        .map(str::to_ascii_lowercase)
        .unwrap_or_default();
    (lower.starts_with("https://") || lower.starts_with("http://"))
        && url.len() <= 2048
        && url.bytes().all(|b| b.is_ascii_graphic())
}

/// `Practitioner/123` and the like: the user types the hooks allow, and a FHIR id.
fn is_user_reference(reference: &str) -> bool {
    reference.split_once('/').is_some_and(|(ty, id)| {
        matches!(
            ty,
            "Practitioner" | "PractitionerRole" | "Patient" | "RelatedPerson"
        ) && is_fhir_id(id)
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::ErrorResponse;

    fn draft_bundle() -> Value {
        json!({
            "resourceType": "Bundle",
            "type": "collection",
            "entry": [{"resource": {
                "resourceType": "MedicationRequest",
                "id": "draft-1",
                "status": "draft",
                "intent": "order",
                "medicationCodeableConcept": {"coding": [{"system": "http://www.whocc.no/atc", "code": "A10BA02"}]},
                "subject": {"reference": "Patient/p1"}
            }}]
        })
    }

    fn request(hook: &str) -> Value {
        let mut context =
            json!({"userId": "Practitioner/u1", "patientId": "p1", "encounterId": "e1"});
        if hook != "patient-view" {
            context["draftOrders"] = draft_bundle();
        }
        if hook == "order-select" {
            context["selections"] = json!(["MedicationRequest/draft-1"]);
        }
        json!({
            "hook": hook,
            "hookInstance": "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea",
            "fhirServer": "https://ehr.example.org/fhir",
            "fhirAuthorization": {
                "access_token": "secret-token",
                "token_type": "Bearer",
                "expires_in": 300,
                "scope": "user/Patient.read user/Observation.read",
                "subject": "livelab"
            },
            "context": context,
            "prefetch": {"patient": {"resourceType": "Patient", "id": "p1"}, "conditions": null},
            "extension": {"com.example.flag": true}
        })
    }

    fn parse_value(value: &Value) -> Result<ServiceRequest, RequestError> {
        ServiceRequest::parse(value.to_string().as_bytes(), &Limits::default())
    }

    #[test]
    fn parses_each_hook() {
        for hook in Hook::ALL {
            let parsed = parse_value(&request(hook.as_str()));
            let Ok(parsed) = parsed else {
                panic!("{hook}: {parsed:?}");
            };
            assert_eq!(parsed.hook, hook);
            assert_eq!(parsed.context.hook(), hook);
            assert_eq!(parsed.context.patient_id(), "p1");
            assert_eq!(parsed.context.user_id(), "Practitioner/u1");
            assert_eq!(parsed.context.encounter_id(), Some("e1"));
            assert_eq!(parsed.context.token("patientId"), Some("p1"));
            assert_eq!(parsed.context.token("draftOrders"), None);
            assert_eq!(parsed.prefetch.get("conditions"), Some(&Value::Null));
            assert_eq!(
                parsed.extensions.get("extension"),
                Some(&json!({"com.example.flag": true}))
            );
            assert_eq!(
                parsed.context.draft_orders().is_some(),
                hook != Hook::PatientView
            );
            if let HookContext::OrderSelect(select) = &parsed.context {
                assert_eq!(select.selections, ["MedicationRequest/draft-1"]);
            }
        }
    }

    #[test]
    fn serialises_back_to_the_wire_shape() {
        let original = request("order-select");
        let parsed = parse_value(&original).ok();
        let again = parsed.and_then(|p| serde_json::to_value(p).ok());
        assert_eq!(again, Some(original));
    }

    #[test]
    fn debug_redacts_the_access_token() {
        let parsed = parse_value(&request("patient-view")).ok();
        let shown = format!("{parsed:?}");
        assert!(!shown.contains("secret-token"), "{shown}");
        assert!(shown.contains("[redacted]"));
    }

    #[test]
    fn unknown_context_fields_are_tolerated() {
        let mut value = request("patient-view");
        value["context"]["com.example.tab"] = json!("summary");
        let parsed = parse_value(&value).ok();
        let Some(HookContext::PatientView(context)) = parsed.map(|p| p.context) else {
            panic!("not patient-view");
        };
        assert_eq!(
            context.extra.get("com.example.tab"),
            Some(&json!("summary"))
        );
    }

    /// Each case: a mutation of a valid request, the status and the code it must produce.
    #[test]
    fn refusals() {
        type Mutation = fn(&mut Value);
        #[rustfmt::skip]
        let cases: Vec<(&str, &str, Mutation, u16, &str)> = vec![
            ("not json", "patient-view", |_| {}, 400, "malformed-json"),
            ("array body", "patient-view", |v| *v = json!([1]), 400, "malformed-json"),
            ("no hook", "patient-view", |v| { v.as_object_mut().map(|m| m.remove("hook")); }, 400, "missing-field"),
            ("hook not a string", "patient-view", |v| v["hook"] = json!(7), 400, "invalid-field"),
            ("unknown hook", "patient-view", |v| v["hook"] = json!("encounter-start"), 400, "unsupported-hook"),
            ("no hookInstance", "patient-view", |v| { v.as_object_mut().map(|m| m.remove("hookInstance")); }, 400, "missing-field"),
            ("empty hookInstance", "patient-view", |v| v["hookInstance"] = json!(""), 400, "invalid-field"),
            ("newline in hookInstance", "patient-view", |v| v["hookInstance"] = json!("a\nb"), 400, "invalid-field"),
            ("auth without server", "patient-view", |v| { v.as_object_mut().map(|m| m.remove("fhirServer")); }, 400, "fhir-server-required"),
            ("server not a URL", "patient-view", |v| v["fhirServer"] = json!("file:///etc/passwd"), 400, "invalid-field"),
            ("token type", "patient-view", |v| v["fhirAuthorization"]["token_type"] = json!("MAC"), 400, "invalid-field"),
            ("no access token", "patient-view", |v| { v["fhirAuthorization"].as_object_mut().map(|m| m.remove("access_token")); }, 400, "missing-field"),
            ("negative expires_in", "patient-view", |v| v["fhirAuthorization"]["expires_in"] = json!(-1), 400, "invalid-field"),
            ("no context", "patient-view", |v| { v.as_object_mut().map(|m| m.remove("context")); }, 400, "missing-field"),
            ("context not object", "patient-view", |v| v["context"] = json!("p1"), 400, "invalid-field"),
            ("no patientId", "patient-view", |v| { v["context"].as_object_mut().map(|m| m.remove("patientId")); }, 400, "missing-field"),
            ("patientId injection", "patient-view", |v| v["context"]["patientId"] = json!("p1&_include=*"), 400, "invalid-field"),
            ("patientId number", "patient-view", |v| v["context"]["patientId"] = json!(12), 400, "invalid-field"),
            ("userId bare", "patient-view", |v| v["context"]["userId"] = json!("u1"), 400, "invalid-field"),
            ("userId device", "patient-view", |v| v["context"]["userId"] = json!("Device/d1"), 400, "invalid-field"),
            ("encounterId bad", "patient-view", |v| v["context"]["encounterId"] = json!("e 1"), 400, "invalid-field"),
            ("prefetch array", "patient-view", |v| v["prefetch"] = json!([]), 400, "invalid-field"),
            ("no draftOrders", "order-sign", |v| { v["context"].as_object_mut().map(|m| m.remove("draftOrders")); }, 400, "missing-field"),
            ("draftOrders not bundle", "order-sign", |v| v["context"]["draftOrders"] = json!({"resourceType": "MedicationRequest"}), 400, "invalid-field"),
            ("draftOrders entry object", "order-sign", |v| v["context"]["draftOrders"]["entry"] = json!({}), 400, "invalid-field"),
            ("no selections", "order-select", |v| { v["context"].as_object_mut().map(|m| m.remove("selections")); }, 400, "missing-field"),
            ("empty selections", "order-select", |v| v["context"]["selections"] = json!([]), 400, "invalid-field"),
            ("selection not in drafts", "order-select", |v| v["context"]["selections"] = json!(["MedicationRequest/other"]), 400, "invalid-field"),
            ("selection not string", "order-select", |v| v["context"]["selections"] = json!([1]), 400, "invalid-field"),
        ];
        for (name, hook, mutate, status, code) in cases {
            let mut value = request(hook);
            mutate(&mut value);
            let body = if name == "not json" {
                b"{\"hook\": ".to_vec()
            } else {
                value.to_string().into_bytes()
            };
            let got = ServiceRequest::parse(&body, &Limits::default());
            let Err(error) = got else {
                panic!("{name}: accepted");
            };
            assert_eq!(
                (error.status(), error.code()),
                (status, code),
                "{name}: {error}"
            );
            let outcome = error.operation_outcome();
            assert_eq!(
                outcome["issue"][0]["details"]["coding"][0]["code"], code,
                "{name}"
            );
        }
    }

    #[test]
    fn null_optional_fields_count_as_absent() {
        let mut value = request("patient-view");
        value["context"]["encounterId"] = Value::Null;
        value["prefetch"] = Value::Null;
        let parsed = parse_value(&value).ok();
        assert_eq!(parsed.as_ref().and_then(|p| p.context.encounter_id()), None);
        assert_eq!(parsed.map(|p| p.prefetch.len()), Some(0));
    }

    #[test]
    fn oversize_body_is_413_before_parsing() {
        let limits = Limits { max_body_bytes: 16 };
        let got = ServiceRequest::parse(&[b'x'; 17], &limits);
        assert_eq!(got.as_ref().err().map(ErrorResponse::status), Some(413));
        assert_eq!(got.err().map(|e| e.code()), Some("body-too-large"));
    }

    #[test]
    fn wrong_hook_for_the_service() {
        let service = ServiceDescriptor {
            hook: Hook::OrderSign,
            title: None,
            description: "d".into(),
            id: "s".into(),
            prefetch: BTreeMap::new(),
            usage_requirements: None,
        };
        let body = request("patient-view").to_string();
        let got = ServiceRequest::parse_for(body.as_bytes(), &service, &Limits::default());
        assert_eq!(
            got.err(),
            Some(RequestError::WrongHook {
                expected: Hook::OrderSign,
                got: Hook::PatientView
            })
        );
        let body = request("order-sign").to_string();
        assert!(ServiceRequest::parse_for(body.as_bytes(), &service, &Limits::default()).is_ok());
    }

    #[test]
    fn hostile_text_is_not_echoed_unbounded() {
        let mut value = request("patient-view");
        value["hook"] = json!(format!("x\n{}", "A".repeat(10_000)));
        let message = parse_value(&value)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(message.len() < 200, "{message}");
        assert!(!message.contains('\n'));
    }

    /// Thousands of byte-edited bodies: parse and the prefetch check refuse or accept, never
    /// panic.
    #[test]
    fn mangled_bodies_never_panic() {
        let plan = crate::prefetch::derive_prefetch(
            &[crate::prefetch::DataNeed {
                section: crate::prefetch::Section::Observations,
                codes: vec![],
                look_back_days: None,
            }],
            &crate::prefetch::PrefetchOptions::default(),
        );
        let mut state: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let sources: Vec<Vec<u8>> = Hook::ALL
            .iter()
            .map(|hook| request(hook.as_str()).to_string().into_bytes())
            .collect();
        let bytes = b"{}[]\",:0-aZ \n\xff\x00";
        for round in 0..3000 {
            let mut body = sources[round % sources.len()].clone();
            for _ in 0..(1 + next() % 3) {
                let at = (next() as usize) % body.len();
                body[at] = bytes[(next() as usize) % bytes.len()];
            }
            if let Ok(parsed) = ServiceRequest::parse(&body, &Limits::default()) {
                let _ = plan.check(&parsed);
            }
            let _ = crate::protocol::FeedbackRequest::parse(&body, &Limits::default());
        }
    }

    #[test]
    fn deeply_nested_json_is_refused_without_overflow() {
        let body = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        let got = ServiceRequest::parse(body.as_bytes(), &Limits::default());
        assert_eq!(got.err().map(|e| e.code()), Some("malformed-json"));
    }
}
