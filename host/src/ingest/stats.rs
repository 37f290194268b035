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
    /// What the export held that is not patient data or holds none, by reason, with where:
    /// files beside the data (metadata, README, checksums, sub-directories, unreadable links:
    /// [`super::listing`]), Bundles without entries or without a Patient, entries without a
    /// resource. Nothing an export holds is passed over without being counted here.
    #[serde(default)]
    pub passed_over: BTreeMap<String, Seen>,
    /// Files that started with a UTF-8 byte-order mark (accepted and dropped).
    #[serde(default)]
    pub byte_order_marks: u64,
}

/// How often something was seen, and the first places it was (file and entry or line, with
/// the detail), so a reader can find it.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Seen {
    pub count: u64,
    pub first: String,
    /// The next places, up to [`Seen::PLACES`] in all with `first`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub more: Vec<String>,
}

impl Seen {
    /// How many places are kept: enough to find the cases, bounded whatever the export holds.
    pub const PLACES: usize = 10;

    fn new(place: String) -> Seen {
        Seen {
            count: 1,
            first: place,
            more: Vec::new(),
        }
    }

    /// Adds what `other` saw after what `self` saw, keeping the first places.
    fn merge(&mut self, other: Seen) {
        self.count += other.count;
        let room = Self::PLACES.saturating_sub(self.more.len() + 1);
        self.more
            .extend(other.places().take(room).map(str::to_owned));
    }

    fn add(&mut self, place: impl FnOnce() -> String) {
        self.count += 1;
        if self.more.len() + 1 < Self::PLACES {
            self.more.push(place());
        }
    }

    /// Every place kept, first first.
    pub fn places(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.first.as_str()).chain(self.more.iter().map(String::as_str))
    }
}

/// Counts `place` under `reason` in `map`.
fn see(map: &mut BTreeMap<String, Seen>, reason: &str, place: impl FnOnce() -> String) {
    match map.get_mut(reason) {
        Some(seen) => seen.add(place),
        None => {
            map.insert(reason.to_owned(), Seen::new(place()));
        }
    }
}

impl IngestStats {
    /// Adds the counts of what was read after what `self` counted (a run's units, read on
    /// several threads, merged in source order): the result is what reading it all in one
    /// go counts.
    pub fn merge(&mut self, other: IngestStats) {
        // Destructured, so that a new field cannot be forgotten here.
        let IngestStats {
            files,
            resources,
            used,
            skipped,
            dropped,
            codings,
            units,
            withheld,
            identified_records_admitted,
            identified_records_refused,
            bulk_partitions,
            passed_over,
            byte_order_marks,
        } = other;
        self.files += files;
        self.resources += resources;
        for (mine, theirs) in [
            (&mut self.used, used),
            (&mut self.skipped, skipped),
            (&mut self.dropped, dropped),
            (&mut self.units, units),
        ] {
            for (key, n) in theirs {
                *mine.entry(key).or_default() += n;
            }
        }
        for (system, count) in codings {
            let mine = self.codings.entry(system).or_default();
            mine.codings += count.codings;
            mine.mapped += count.mapped;
            mine.unmapped += count.unmapped;
        }
        for (mine, theirs) in [
            (&mut self.withheld, withheld),
            (&mut self.passed_over, passed_over),
        ] {
            for (reason, seen) in theirs {
                match mine.get_mut(&reason) {
                    Some(kept) => kept.merge(seen),
                    None => {
                        mine.insert(reason, seen);
                    }
                }
            }
        }
        self.identified_records_admitted += identified_records_admitted;
        self.identified_records_refused += identified_records_refused;
        self.bulk_partitions += bulk_partitions;
        self.byte_order_marks += byte_order_marks;
    }

    pub(crate) fn withhold(&mut self, reason: &Withheld, location: &SourceLocation) {
        see(&mut self.withheld, &reason.reason(), || {
            format!("{location}: {reason}")
        });
    }

    /// Counts something the export held that no record uses, with where it is.
    pub(crate) fn pass_over(&mut self, reason: &str, place: impl FnOnce() -> String) {
        see(&mut self.passed_over, reason, place);
    }

    pub(crate) fn drop_resource(&mut self, reason: &str) {
        *self.dropped.entry(reason.to_owned()).or_default() += 1;
    }

    pub(crate) fn use_resource(&mut self, kind: &str) {
        *self.used.entry(kind.to_owned()).or_default() += 1;
    }
}
