//! What ingest counted: every resource read is used, skipped by type or dropped by reason.

use std::collections::BTreeMap;

use super::terminology::CodingStats;
use super::units::UnitStats;

/// Counts of what ingest read, used, skipped, dropped, translated and converted.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct IngestStats {
    pub files: u64,
    pub resources: u64,
    /// Resources mapped into a record, by type.
    pub used: BTreeMap<String, u64>,
    /// Resources of types the record does not hold, by type.
    pub skipped: BTreeMap<String, u64>,
    /// Resources of a used type that could not be used, by reason.
    pub dropped: BTreeMap<String, u64>,
    /// Codings of used resources per code system, and how many a terminology map translated.
    pub codings: CodingStats,
    /// Quantities converted to the unit plugins compare, and units left as given.
    pub units: UnitStats,
    /// Records whose Patient carried direct identifiers and were admitted because the run
    /// allowed it (`--allow-identifiers`); without it they are record errors.
    pub identified_records_admitted: u64,
    /// Partitions a Bulk export was grouped into (0 for Bundles).
    pub bulk_partitions: u64,
}

impl IngestStats {
    pub(crate) fn drop_resource(&mut self, reason: &str) {
        *self.dropped.entry(reason.to_owned()).or_default() += 1;
    }

    pub(crate) fn use_resource(&mut self, kind: &str) {
        *self.used.entry(kind.to_owned()).or_default() += 1;
    }
}
