//! Reading FHIR R4 exports into anonymised [`Record`]s.
//!
//! Two shapes of export are read, as real tools write them:
//! - **Bundles**: a directory of JSON files (or one file), each a `Bundle` of type
//!   `collection`, `transaction`, `batch` or `searchset`, usually one patient per file
//!   (Synthea). References may be `urn:uuid:` full URLs or `Patient/<id>`. One file is in
//!   memory at a time, so memory does not grow with the number of patients.
//! - **Bulk Data NDJSON**: a directory of `<Type>.<n>.ndjson` files (or the files a Bulk
//!   `manifest.json` lists), one resource per line, references as `Patient/<id>`. A patient is
//!   spread over every file, so [`bulk`] first routes each line to a partition by patient,
//!   then splits one partition at a time into one unit per patient, whose lines the run's
//!   workers parse: memory is bounded by the partition size, not the export (see
//!   [`IngestOptions::partition_bytes`]).
//!
//! Mapping a resource ([`mapping`]) keeps only what the WIT record holds; codings are then
//! translated by the region's [`terminology::Terminology`] (original kept, mapped added) and quantities
//! normalised to the units plugins compare ([`crate::ingest::units`]).
//!
//! Nothing is lost silently. Resource types the record does not use are skipped and counted
//! by type; resources that are used but unusable (no code, entered in error, dated after the
//! evaluation date, an unresolvable medicationReference, ...) are dropped and counted by
//! reason in [`IngestStats`]. A resource whose JSON does not have the FHIR shape makes its
//! whole record an error that names the file and entry or line: a plugin must not see a
//! patient with a silently missing medication. A Patient that still carries direct
//! identifiers (name, identifier value, telecom, address line, photo, contact) is refused
//! unless the run allows it ([`IngestOptions::allow_identifiers`]).
//!
//! Here is the [`RecordReader`] only; its parts, each used by those after it: [`listing`] (what
//! an export directory holds and what is passed over), [`error`], [`stats`], [`options`], `shapes` (the serde shapes), [`mapping`] (resources to WIT types,
//! references, dates), [`assemble`] (one patient's record from its resources), [`bundle`] and
//! [`bulk`] (the two export shapes).

mod assemble;
mod bulk;
mod bundle;
mod error;
pub mod listing;
mod mapping;
mod options;
pub mod record;
mod shapes;
mod stats;
pub mod terminology;
pub mod units;

pub use error::{RecordError, SourceError};
pub use listing::SourceFormat;
pub use options::IngestOptions;
pub use stats::IngestStats;

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use jiff::civil::Date;

use bulk::BulkReader;
use bundle::{Assembled, assemble_entries, read_bundle_file};
use options::Ingest;
use record::{Position, Record, SourceLocation};

/// One patient's record from resources held in memory, as `(fullUrl, resource)`: what a CDS
/// Hooks client prefetched. The same path as a Bundle file's entries (parsing, mapping,
/// terminology, units, the identifier guard), so a record served live is the record a batch
/// run would have read. Exactly one of the resources must be a Patient; every record key is
/// `key` (the caller's pseudonym), and places are named `source` with the resource's index.
pub fn record_from_resources(
    resources: &[(Option<&str>, &serde_json::Value)],
    key: &str,
    source: &str,
    evaluation_date: Date,
    options: IngestOptions,
) -> (Result<Record, RecordError>, IngestStats) {
    let ingest = Ingest {
        evaluation_date,
        options,
    };
    let mut stats = IngestStats::default();
    let at = |i| SourceLocation {
        file: PathBuf::from(source),
        position: Some(Position::Entry(i)),
    };
    let error = |message: &str| RecordError {
        location: SourceLocation {
            file: PathBuf::from(source),
            position: None,
        },
        key: Some(key.to_owned()),
        message: message.to_owned(),
    };
    let patients = resources
        .iter()
        .filter(|(_, r)| r.get("resourceType").and_then(|t| t.as_str()) == Some("Patient"))
        .count();
    if patients != 1 {
        return (
            Err(error(&format!(
                "expected one Patient among the resources, found {patients}"
            ))),
            stats,
        );
    }
    let entries = resources
        .iter()
        .map(|(url, resource)| (*url, Some(*resource)));
    let same_key = |_: Option<&str>, _: Option<&str>, _: usize| key.to_owned();
    let result = match assemble_entries(entries, &at, &same_key, &ingest, &mut stats) {
        Assembled::Records(mut records) if records.len() == 1 => {
            records.pop().unwrap_or_else(|| Err(error("no record")))
        }
        Assembled::Records(_) | Assembled::NoPatient(None) => Err(error("no Patient")),
        Assembled::NoPatient(Some(error)) => Err(error),
        Assembled::Unreadable { entry, message } => Err(RecordError {
            location: at(entry),
            key: Some(key.to_owned()),
            message,
        }),
    };
    (result, stats)
}

enum Source {
    Bundles { files: Vec<PathBuf>, next: usize },
    Bulk(BulkReader),
}

/// An opened record source: iterate it for one `Result<Record, RecordError>` per patient, or
/// take it [`Unit`] by unit ([`RecordReader::next_unit`]) to read the units on several threads.
pub struct RecordReader {
    source: Source,
    file_count: usize,
    /// The units a Bulk partition was split into, not yet taken.
    units: VecDeque<Unit>,
    /// When iterated: the records of the unit being handed out.
    records: VecDeque<Result<Record, RecordError>>,
    ingest: Arc<Ingest>,
    stats: IngestStats,
}

/// A piece of an export that reads into records by itself: a Bundle file, one patient's
/// lines of a Bulk export, or a record already read (an error found while routing). A run's
/// workers take units from the reader and read them ([`Unit::read`]) in parallel, so that
/// parsing, the costly part of reading, is not done under the reader's lock (issue 15).
/// Reading the units in the reader's order and merging their stats in that order gives what
/// iterating the reader gives.
pub struct Unit(UnitKind);

#[allow(
    clippy::large_enum_variant,
    reason = "a unit is moved once, from the reader to a worker; boxing would allocate per unit"
)]
enum UnitKind {
    BundleFile { file: PathBuf, ingest: Arc<Ingest> },
    BulkPatient(bulk::PatientLines),
    Read(Result<Record, RecordError>),
}

impl Unit {
    /// A record already read (by the caller, or a reader that must read ahead).
    pub fn read_already(record: Result<Record, RecordError>) -> Unit {
        Unit(UnitKind::Read(record))
    }

    /// The unit's records in source order, with what reading them counted.
    pub fn read(self) -> (Vec<Result<Record, RecordError>>, IngestStats) {
        let mut stats = IngestStats::default();
        let records = match self.0 {
            UnitKind::BundleFile { file, ingest } => read_bundle_file(&file, &ingest, &mut stats),
            UnitKind::BulkPatient(lines) => lines.assemble(&mut stats),
            UnitKind::Read(record) => vec![record],
        };
        (records, stats)
    }
}

impl RecordReader {
    /// Opens a directory (or a single file) of FHIR records with the default options.
    pub fn open(path: &Path, evaluation_date: Date) -> Result<RecordReader, SourceError> {
        Self::open_with(path, evaluation_date, IngestOptions::default())
    }

    /// Opens a directory (or a single file) of FHIR records.
    pub fn open_with(
        path: &Path,
        evaluation_date: Date,
        options: IngestOptions,
    ) -> Result<RecordReader, SourceError> {
        let listing = listing::list(path)?;
        let mut stats = IngestStats::default();
        for passed in &listing.passed_over {
            stats.pass_over(passed.why.reason(), || passed.place());
        }
        let source = match (listing.format, listing.manifest) {
            (SourceFormat::Bundles, _) => Source::Bundles {
                files: listing.files,
                next: 0,
            },
            (SourceFormat::Ndjson, Some(manifest)) => {
                Source::Bulk(BulkReader::with_manifest(&manifest, listing.files)?)
            }
            (SourceFormat::Ndjson, None) => Source::Bulk(BulkReader::new(listing.files)),
        };
        let file_count = match &source {
            Source::Bundles { files, .. } => files.len(),
            Source::Bulk(bulk) => bulk.file_count(),
        };
        Ok(RecordReader {
            source,
            file_count,
            units: VecDeque::new(),
            records: VecDeque::new(),
            ingest: Arc::new(Ingest {
                evaluation_date,
                options,
            }),
            stats,
        })
    }

    pub fn format(&self) -> SourceFormat {
        match self.source {
            Source::Bundles { .. } => SourceFormat::Bundles,
            Source::Bulk(_) => SourceFormat::Ndjson,
        }
    }

    /// How many files the source has (for progress; a Bundle file is usually one patient).
    pub fn file_count(&self) -> usize {
        self.file_count
    }

    /// What reading counted so far: everything, once the reader is exhausted by iteration;
    /// when it was taken [`Unit`] by unit, what the units' readers counted is theirs to merge
    /// ([`IngestStats::merge`]).
    pub fn stats(&self) -> &IngestStats {
        &self.stats
    }

    /// The next unit to read, `None` when the source is exhausted. Cheap: a Bundle file is
    /// only named (its reading is the unit's); a Bulk export is routed here on the first
    /// call (each line's head read) and then split a partition at a time into one unit per
    /// patient, their lines not yet parsed (see [`bulk`]).
    pub fn next_unit(&mut self) -> Option<Unit> {
        loop {
            if let Some(unit) = self.units.pop_front() {
                return Some(unit);
            }
            match &mut self.source {
                Source::Bundles { files, next } => {
                    let file = files.get(*next)?.clone();
                    *next += 1;
                    self.stats.files += 1;
                    return Some(Unit(UnitKind::BundleFile {
                        file,
                        ingest: Arc::clone(&self.ingest),
                    }));
                }
                Source::Bulk(bulk) => {
                    let pieces = bulk.next_batch(&self.ingest, &mut self.stats)?;
                    self.units
                        .extend(pieces.into_iter().map(|piece| match piece {
                            bulk::Piece::Read(record) => Unit::read_already(record),
                            bulk::Piece::Patient(lines) => Unit(UnitKind::BulkPatient(lines)),
                        }));
                }
            }
        }
    }
}

impl Iterator for RecordReader {
    type Item = Result<Record, RecordError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(outcome) = self.records.pop_front() {
                return Some(outcome);
            }
            let (records, stats) = self.next_unit()?.read();
            self.stats.merge(stats);
            self.records.extend(records);
        }
    }
}
