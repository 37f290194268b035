//! `GET {base}/cds-services`: what the service offers.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::error::RequestError;
use super::hook::Hook;
use super::template::{TemplateError, validate_template};
use crate::text::quote;

/// The discovery document: `{"services": [...]}` (an empty array when there are none).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiscoveryResponse {
    pub services: Vec<ServiceDescriptor>,
}

/// One CDS service as discovery lists it. The service answers at `{base}/cds-services/{id}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceDescriptor {
    /// The hook this service is invoked on.
    pub hook: Hook,
    /// Human-friendly name (recommended).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    pub description: String,
    /// The `{id}` path segment.
    pub id: String,
    /// Prefetch key → FHIR query template (see [`crate::prefetch`]).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub prefetch: BTreeMap<String, String>,
    /// Human-readable preconditions for using the service.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage_requirements: Option<String>,
}

/// Why a service description cannot be published.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DescriptorError {
    #[error("service id \"{id}\" is not 1 to 64 of [A-Za-z0-9._~-] (it is a URL path segment)")]
    InvalidId { id: String },
    #[error("service \"{id}\" has an empty description")]
    EmptyDescription { id: String },
    #[error("service \"{id}\" has an empty title (omit it instead)")]
    EmptyTitle { id: String },
    #[error("service \"{id}\": prefetch key \"{key}\" is not 1 to 64 of [A-Za-z0-9_-]")]
    InvalidPrefetchKey { id: String, key: String },
    #[error("service \"{id}\": prefetch `{key}`: {source}")]
    InvalidTemplate {
        id: String,
        key: String,
        source: TemplateError,
    },
    #[error("two services have the id \"{id}\"")]
    DuplicateId { id: String },
}

impl ServiceDescriptor {
    /// Checks what a client relies on: a URL-safe id, a description, and prefetch templates
    /// that use only tokens this hook offers (see [`validate_template`]).
    pub fn validate(&self) -> Result<(), DescriptorError> {
        let id = || quote(&self.id);
        if !is_service_id(&self.id) {
            return Err(DescriptorError::InvalidId { id: id() });
        }
        if self.description.trim().is_empty() {
            return Err(DescriptorError::EmptyDescription { id: id() });
        }
        if self.title.as_deref().is_some_and(|t| t.trim().is_empty()) {
            return Err(DescriptorError::EmptyTitle { id: id() });
        }
        for (key, template) in &self.prefetch {
            if !is_prefetch_key(key) {
                return Err(DescriptorError::InvalidPrefetchKey {
                    id: id(),
                    key: quote(key),
                });
            }
            validate_template(template, self.hook).map_err(|source| {
                DescriptorError::InvalidTemplate {
                    id: id(),
                    key: key.clone(),
                    source,
                }
            })?;
        }
        Ok(())
    }
}

impl DiscoveryResponse {
    /// Checks every service and that ids are unique (a request names a service by id alone).
    pub fn validate(&self) -> Result<(), DescriptorError> {
        let mut seen = std::collections::BTreeSet::new();
        for service in &self.services {
            service.validate()?;
            if !seen.insert(service.id.as_str()) {
                return Err(DescriptorError::DuplicateId {
                    id: quote(&service.id),
                });
            }
        }
        Ok(())
    }

    /// The service a request's `{id}` path segment names; 404 when there is none.
    pub fn find(&self, id: &str) -> Result<&ServiceDescriptor, RequestError> {
        self.services
            .iter()
            .find(|service| service.id == id)
            .ok_or_else(|| RequestError::UnknownService { id: quote(id) })
    }
}

/// 1 to 64 URL-unreserved characters: the id is a path segment and must need no escaping.
fn is_service_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'~' | b'-'))
}

/// Prefetch keys are JSON keys the client echoes back; keep them boring.
fn is_prefetch_key(key: &str) -> bool {
    !key.is_empty()
        && key.len() <= 64
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-'))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::ErrorResponse;

    fn service(id: &str) -> ServiceDescriptor {
        ServiceDescriptor {
            hook: Hook::PatientView,
            title: Some("Metformin and kidney function".into()),
            description: "Flags metformin use with a low eGFR.".into(),
            id: id.into(),
            prefetch: BTreeMap::from([(
                "patient".to_string(),
                "Patient/{{context.patientId}}".to_string(),
            )]),
            usage_requirements: None,
        }
    }

    #[test]
    fn serialises_as_the_spec_shows() {
        let doc = DiscoveryResponse {
            services: vec![service("metformin-egfr")],
        };
        assert_eq!(
            serde_json::to_value(&doc).ok(),
            Some(json!({"services": [{
                "hook": "patient-view",
                "title": "Metformin and kidney function",
                "description": "Flags metformin use with a low eGFR.",
                "id": "metformin-egfr",
                "prefetch": {"patient": "Patient/{{context.patientId}}"}
            }]}))
        );
        assert_eq!(
            serde_json::to_value(DiscoveryResponse::default()).ok(),
            Some(json!({"services": []}))
        );
    }

    #[test]
    fn optional_fields_are_omitted_not_null() {
        let mut bare = service("x");
        bare.title = None;
        bare.prefetch.clear();
        bare.usage_requirements = Some("Needs eGFR results.".into());
        let value = serde_json::to_value(&bare).unwrap_or_default();
        assert!(value.get("title").is_none());
        assert!(value.get("prefetch").is_none());
        assert_eq!(value["usageRequirements"], "Needs eGFR results.");
    }

    #[test]
    fn validation() {
        assert_eq!(service("metformin-egfr").validate(), Ok(()));
        let cases: Vec<(ServiceDescriptor, &str)> = vec![
            (service(""), "InvalidId"),
            (service("a/b"), "InvalidId"),
            (service(&"x".repeat(65)), "InvalidId"),
            (
                ServiceDescriptor {
                    description: " ".into(),
                    ..service("x")
                },
                "EmptyDescription",
            ),
            (
                ServiceDescriptor {
                    title: Some(String::new()),
                    ..service("x")
                },
                "EmptyTitle",
            ),
            (
                ServiceDescriptor {
                    prefetch: BTreeMap::from([("bad key".into(), "Patient/1".into())]),
                    ..service("x")
                },
                "InvalidPrefetchKey",
            ),
            (
                ServiceDescriptor {
                    prefetch: BTreeMap::from([(
                        "obs".into(),
                        "Observation?patient={{context.patientId}}&date=ge{{today() - 90 days}}"
                            .into(),
                    )]),
                    ..service("x")
                },
                "InvalidTemplate",
            ),
        ];
        for (descriptor, want) in cases {
            let got = descriptor.validate();
            assert!(
                format!("{got:?}").contains(want),
                "{:?}: want {want}, got {got:?}",
                descriptor.id
            );
        }
    }

    #[test]
    fn find_and_duplicates() {
        let doc = DiscoveryResponse {
            services: vec![service("a"), service("b")],
        };
        assert_eq!(doc.validate(), Ok(()));
        assert_eq!(doc.find("b").map(|s| s.id.as_str()), Ok("b"));
        let missing = doc.find("nope\n").err();
        assert_eq!(missing.as_ref().map(ErrorResponse::status), Some(404));
        assert_eq!(
            missing.map(|e| e.to_string()),
            Some("there is no CDS service with id \"nope\\u{a}\"".into())
        );
        let twice = DiscoveryResponse {
            services: vec![service("a"), service("a")],
        };
        assert!(matches!(
            twice.validate(),
            Err(DescriptorError::DuplicateId { .. })
        ));
    }
}
