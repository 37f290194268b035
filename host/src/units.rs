//! Unit normalisation for the quantities plugins compare against thresholds.
//!
//! STUB: the API below is the contract `fhir.rs` codes against; the implementation is being
//! written (see the helper brief).

use std::collections::BTreeMap;

use crate::wit::{Coding, Quantity};

/// Counts by what happened, e.g. `"hba1c: % -> mmol/mol"` or `"hba1c: unknown unit mg"`.
pub type UnitStats = BTreeMap<String, u64>;

/// Converts `quantity` to the canonical unit of the analyte `code` names (if it names one
/// livelab knows); an unknown unit stays as given and is counted, never guessed.
pub fn normalise_observation(_code: &[Coding], _quantity: &mut Quantity, _stats: &mut UnitStats) {}

/// Converts a daily dose to milligrams when it is a mass in another unit (g, mcg, ...).
pub fn normalise_dose(_quantity: &mut Quantity, _stats: &mut UnitStats) {}
