//! CDS Hooks 2.0 wire types and the checks of what clients send.
//!
//! Input types (the service request, feedback) tolerate fields they do not know: clients send
//! `extension` objects and newer fields, and refusing them would break interop for no safety
//! gain. The caller bounds the body's size ([`Limits`]); the parse functions check that bound
//! again so a router that forgets cannot be flooded. Output types (discovery, cards) omit
//! absent optional fields instead of writing `null` or `[]`, which the spec prohibits.

mod discovery;
mod error;
mod feedback;
pub mod outcome;
mod request;
mod response;

use std::fmt;

use serde::{Deserialize, Serialize};

pub use discovery::{DescriptorError, DiscoveryResponse, ServiceDescriptor};
pub use error::{GapReason, PrefetchGap, RequestError, ResponseError};
pub use feedback::{
    AcceptedSuggestion, Feedback, FeedbackOutcome, FeedbackRequest, OverrideReason,
};
pub use request::{
    FhirAuthorization, HookContext, OrderSelectContext, OrderSignContext, PatientViewContext,
    ServiceRequest,
};
pub use response::{
    Action, ActionType, Card, CardError, CdsResponse, Coding, Indicator, Link, LinkType,
    SUMMARY_MAX_CHARS, SelectionBehavior, Source, Suggestion,
};

/// The hooks this service understands.
///
/// `patient-view` and `order-sign` are what the plugin contract (`wit/cds.wit`,
/// `hook-kind`) serves today; `order-select` is typed too because its context is a superset of
/// `order-sign`'s and a later WIT version may add it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Hook {
    PatientView,
    OrderSelect,
    OrderSign,
}

impl Hook {
    pub const ALL: [Hook; 3] = [Hook::PatientView, Hook::OrderSelect, Hook::OrderSign];

    /// The hook's name on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Hook::PatientView => "patient-view",
            Hook::OrderSelect => "order-select",
            Hook::OrderSign => "order-sign",
        }
    }

    /// The hook with this wire name, if this crate knows it.
    pub fn from_name(name: &str) -> Option<Hook> {
        Hook::ALL.into_iter().find(|hook| hook.as_str() == name)
    }

    /// The context fields the hook definition marks as prefetch tokens (usable as
    /// `{{context.<field>}}`). All three hooks offer the same three: only root-level fields
    /// with a primitive value can be tokens, so `draftOrders` and `selections` never are.
    pub fn prefetch_tokens(self) -> &'static [&'static str] {
        match self {
            Hook::PatientView | Hook::OrderSelect | Hook::OrderSign => {
                &["userId", "patientId", "encounterId"]
            }
        }
    }
}

impl fmt::Display for Hook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Bounds on what a client may send.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// The largest request body accepted, in bytes (413 above it). Prefetched data travels in
    /// the body, so this must fit a patient's prefetched record; the default, 8 MiB, fits
    /// years of primary-care observations.
    pub max_body_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_body_bytes: 8 * 1024 * 1024,
        }
    }
}

/// Whether `id` is a FHIR logical id (`[A-Za-z0-9\-\.]{1,64}`). Context ids are substituted
/// into FHIR queries and logged, so anything else is refused.
pub fn is_fhir_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hook_names_round_trip() {
        for hook in Hook::ALL {
            assert_eq!(Hook::from_name(hook.as_str()), Some(hook));
            let json = serde_json::to_string(&hook).unwrap_or_default();
            assert_eq!(json, format!("\"{hook}\""));
        }
        assert_eq!(Hook::from_name("encounter-start"), None);
        assert_eq!(Hook::from_name("Patient-View"), None);
    }

    #[test]
    fn fhir_ids() {
        for ok in ["123", "a.b-C", &"x".repeat(64)] {
            assert!(is_fhir_id(ok), "{ok}");
        }
        for bad in ["", "a b", "a/b", "{{x}}", "é", &"x".repeat(65), "a&b=c"] {
            assert!(!is_fhir_id(bad), "{bad}");
        }
    }
}
