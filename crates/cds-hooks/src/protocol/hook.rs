//! The hooks this service understands. A leaf module: it imports nothing of this crate.

use std::fmt;

use serde::{Deserialize, Serialize};

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
}
