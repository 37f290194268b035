//! What ingest counted: every resource read is used, skipped by type or dropped by reason.

use std::collections::BTreeMap;

use super::record::SourceLocation;
use super::terminology::CodingStats;
use super::units::{UnitStats, Withheld};

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
    /// Quantities converted to the unit plugins compare.
    pub units: UnitStats,
    /// Values withheld from every plugin (unit not convertible, implausible, ambiguous
    /// analyte: [`super::units`]), by reason, with the first place each reason was seen.
    #[serde(default)]
    pub withheld: BTreeMap<String, Seen>,
    /// Records whose Patient carried direct identifiers and were admitted because the run
    /// allowed it (`--allow-identifiers`); without it they are record errors.
    pub identified_records_admitted: u64,
    /// Records refused because their Patient carried direct identifiers (record errors): a
    /// run with any exits non-zero, since the export was not anonymised.
    #[serde(default)]
    pub identified_records_refused: u64,
    /// Partitions a Bulk export was grouped into (0 for Bundles).
    pub bulk_partitions: u64,
}

/// How often something was seen, and the first place it was (file and entry or line, with
/// the detail), so a reader can find an example.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Seen {
    pub count: u64,
    pub first: String,
}

impl IngestStats {
    pub(crate) fn withhold(&mut self, reason: &Withheld, location: &SourceLocation) {
        self.withheld
            .entry(reason.reason())
            .and_modify(|seen| seen.count += 1)
            .or_insert_with(|| Seen {
                count: 1,
                first: format!("{location}: {reason}"),
            });
    }

    pub(crate) fn drop_resource(&mut self, reason: &str) {
        *self.dropped.entry(reason.to_owned()).or_default() += 1;
    }

    pub(crate) fn use_resource(&mut self, kind: &str) {
        *self.used.entry(kind.to_owned()).or_default() += 1;
    }
}
