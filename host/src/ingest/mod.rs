//! Reading FHIR R4 exports into anonymised [`Record`]s.
//!
//! Two shapes of export are read, as real tools write them:
//! - **Bundles**: a directory of JSON files (or one file), each a `Bundle` of type
//!   `collection`, `transaction`, `batch` or `searchset`, usually one patient per file
//!   (Synthea). References may be `urn:uuid:` full URLs or `Patient/<id>`. One file is in
//!   memory at a time, so memory does not grow with the number of patients.
//! - **Bulk Data NDJSON**: a directory of `<Type>.<n>.ndjson` files (or the files a Bulk
//!   `manifest.json` lists), one resource per line, references as `Patient/<id>`. A patient is
//!   spread over every file, so [`bulk`] first routes each line to a partition by patient and
//!   then reads one partition at a time: memory is bounded by the partition size, not the
//!   export (see [`IngestOptions::partition_bytes`]).
//!
//! Mapping a resource ([`mapping`]) keeps only what the WIT record holds; codings are then
//! translated by the region's [`Terminology`] (original kept, mapped added) and quantities
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

mod bulk;
mod mapping;
pub mod record;
mod shapes;
pub mod terminology;
pub mod units;

use std::collections::{BTreeMap, VecDeque};
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use jiff::civil::Date;
use serde::Deserialize;

use crate::ingest::record::{CodingOrigin, Position, Record, SourceLocation};
use crate::ingest::terminology::{CodingStats, Terminology};
use crate::wit::{Allergy, Condition, Medication, Observation, ObservationValue, Patient, Sex};
use mapping::{
    MapContext, MedicationIndex, concept, map_allergy, map_condition, map_medication,
    map_observation,
};
use shapes::{Bundle, FhirAllergy, FhirCondition, FhirMedication, FhirMedicationUse};
use shapes::{FhirObservation, FhirPatient, ResourceHead};
use units::UnitStats;

/// Files in a records directory that describe the cohort or export rather than hold patients.
pub const METADATA_FILES: &[&str] = &["cohort.json", "manifest.json"];

/// The Bulk Data export manifest, when a directory has one.
const BULK_MANIFEST: &str = "manifest.json";

/// A problem with the record source as a whole: nothing can be read.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error(
        "records not found: {path} does not exist (pass --records DIR with FHIR Bundles or Bulk NDJSON)"
    )]
    NotFound { path: PathBuf },
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "no FHIR records in {path}: expected Bundle files (*.json) or Bulk Data files (*.ndjson)"
    )]
    Empty { path: PathBuf },
    #[error(
        "{path} holds both Bundle files (*.json) and Bulk Data files (*.ndjson); point --records at one export"
    )]
    Mixed { path: PathBuf },
    #[error("{path}: {message}")]
    Manifest { path: PathBuf, message: String },
    #[error(
        "cannot make a scratch directory for grouping the Bulk export by patient: {source} (set TMPDIR to a writable directory)"
    )]
    Scratch { source: std::io::Error },
}

/// A record that could not be read. It is reported in the results beside the outcomes of
/// the records that could.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("{location}: {message}")]
pub struct RecordError {
    pub location: SourceLocation,
    /// The record's pseudonym, when it could be read.
    pub key: Option<String>,
    pub message: String,
}

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
    fn drop_resource(&mut self, reason: &str) {
        *self.dropped.entry(reason.to_owned()).or_default() += 1;
    }

    fn use_resource(&mut self, kind: &str) {
        *self.used.entry(kind.to_owned()).or_default() += 1;
    }
}

/// How to read an export.
#[derive(Clone, Debug)]
pub struct IngestOptions {
    /// Code translations applied to every coding of every used resource.
    pub terminology: Arc<Terminology>,
    /// Admit records whose Patient still carries direct identifiers (counted in the stats).
    /// For data a region has reviewed; the default refuses them.
    pub allow_identifiers: bool,
    /// Bulk NDJSON is grouped by patient in partitions of about this many bytes of input;
    /// ingest holds one partition (and its parsed records) at a time.
    pub partition_bytes: u64,
}

impl IngestOptions {
    /// 32 MiB: a partition and its parsed records stay near 100 MiB.
    pub const DEFAULT_PARTITION_BYTES: u64 = 32 << 20;
}

impl Default for IngestOptions {
    /// The shipped terminology, identifiers refused.
    fn default() -> Self {
        IngestOptions {
            terminology: Arc::new(Terminology::shipped()),
            allow_identifiers: false,
            partition_bytes: Self::DEFAULT_PARTITION_BYTES,
        }
    }
}

/// The shape of an export.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SourceFormat {
    Bundles,
    Ndjson,
}

/// What reading needs besides the files: shared by Bundle and Bulk reading.
struct Ingest {
    evaluation_date: Date,
    options: IngestOptions,
}

enum Source {
    Bundles { files: Vec<PathBuf>, next: usize },
    Bulk(bulk::BulkReader),
}

/// An opened record source: iterate it for one `Result<Record, RecordError>` per patient.
pub struct RecordReader {
    source: Source,
    file_count: usize,
    pending: VecDeque<Result<Record, RecordError>>,
    ingest: Ingest,
    stats: IngestStats,
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
        let io = |source| SourceError::Io {
            path: path.to_owned(),
            source,
        };
        let meta = fs::metadata(path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => SourceError::NotFound {
                path: path.to_owned(),
            },
            _ => io(e),
        })?;
        let mut files = Vec::new();
        let mut manifest = None;
        if meta.is_dir() {
            for entry in fs::read_dir(path).map_err(io)? {
                let file = entry.map_err(io)?.path();
                let name = file.file_name().and_then(|n| n.to_str()).unwrap_or("");
                if name == BULK_MANIFEST && file.is_file() {
                    manifest = Some(file);
                } else if file.is_file() && !METADATA_FILES.contains(&name) {
                    files.push(file);
                }
            }
        } else {
            files.push(path.to_owned());
        }
        files.sort();
        let is = |f: &PathBuf, ext: &str| f.extension().is_some_and(|e| e == ext);
        let bundles = files.iter().filter(|f| is(f, "json")).count();
        let ndjson = files.iter().filter(|f| is(f, "ndjson")).count();
        let source = if let Some(manifest) = manifest {
            if bundles > 0 {
                return Err(SourceError::Mixed {
                    path: path.to_owned(),
                });
            }
            files.retain(|f| is(f, "ndjson"));
            Source::Bulk(bulk::BulkReader::with_manifest(&manifest, files)?)
        } else {
            match (bundles, ndjson) {
                (0, 0) => {
                    return Err(SourceError::Empty {
                        path: path.to_owned(),
                    });
                }
                (_, 0) => {
                    files.retain(|f| is(f, "json"));
                    Source::Bundles { files, next: 0 }
                }
                (0, _) => {
                    files.retain(|f| is(f, "ndjson"));
                    Source::Bulk(bulk::BulkReader::new(files))
                }
                _ => {
                    return Err(SourceError::Mixed {
                        path: path.to_owned(),
                    });
                }
            }
        };
        let file_count = match &source {
            Source::Bundles { files, .. } => files.len(),
            Source::Bulk(bulk) => bulk.file_count(),
        };
        Ok(RecordReader {
            source,
            file_count,
            pending: VecDeque::new(),
            ingest: Ingest {
                evaluation_date,
                options,
            },
            stats: IngestStats::default(),
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

    pub fn stats(&self) -> &IngestStats {
        &self.stats
    }

    /// Reads the next batch of records into `pending`; false when the source is exhausted.
    fn read_more(&mut self) -> bool {
        match &mut self.source {
            Source::Bundles { files, next } => {
                let Some(file) = files.get(*next) else {
                    return false;
                };
                *next += 1;
                self.stats.files += 1;
                let outcomes = read_bundle_file(file, &self.ingest, &mut self.stats);
                self.pending.extend(outcomes);
                true
            }
            Source::Bulk(bulk) => match bulk.next_batch(&self.ingest, &mut self.stats) {
                Some(outcomes) => {
                    self.pending.extend(outcomes);
                    true
                }
                None => false,
            },
        }
    }
}

impl Iterator for RecordReader {
    type Item = Result<Record, RecordError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(outcome) = self.pending.pop_front() {
                return Some(outcome);
            }
            if !self.read_more() {
                return None;
            }
        }
    }
}

// ------------------------------------------------------------------------------------------
// Assembling records.

/// A resource of a used type, parsed but not yet attached to its patient.
enum Parsed {
    Patient(FhirPatient),
    Condition(FhirCondition),
    Observation(FhirObservation),
    /// A MedicationRequest or MedicationStatement (the type, for the counts).
    MedicationUse(FhirMedicationUse, &'static str),
    Allergy(FhirAllergy),
    /// What a medicationReference points at; belongs to no patient.
    Medication(FhirMedication),
}

impl Parsed {
    fn subject(&self) -> Option<&str> {
        let reference = match self {
            Parsed::Patient(_) | Parsed::Medication(_) => return None,
            Parsed::Condition(r) => r.subject.as_ref(),
            Parsed::Observation(r) => r.subject.as_ref(),
            Parsed::MedicationUse(r, _) => r.subject.as_ref(),
            Parsed::Allergy(r) => r.patient.as_ref(),
        };
        reference.and_then(|r| r.reference.as_deref())
    }
}

/// Is this a resource type a record is made of?
fn is_used_type(resource_type: &str) -> bool {
    matches!(
        resource_type,
        "Patient"
            | "Condition"
            | "Observation"
            | "MedicationRequest"
            | "MedicationStatement"
            | "AllergyIntolerance"
            | "Medication"
    )
}

/// Parses one resource if its type is one the record uses; `Ok(None)` for other types.
fn parse_resource(raw: &str, stats: &mut IngestStats) -> Result<Option<Parsed>, String> {
    let head: ResourceHead =
        serde_json::from_str(raw).map_err(|e| format!("not a FHIR resource: {e}"))?;
    let Some(resource_type) = head.resource_type else {
        return Err("resource has no resourceType".into());
    };
    stats.resources += 1;
    fn typed<'a, T: Deserialize<'a>>(raw: &'a str, ty: &str) -> Result<T, String> {
        serde_json::from_str(raw).map_err(|e| format!("{ty} does not have the FHIR R4 shape: {e}"))
    }
    let ty = resource_type.as_ref();
    let parsed = match ty {
        "Patient" => Parsed::Patient(typed(raw, ty)?),
        "Condition" => Parsed::Condition(typed(raw, ty)?),
        "Observation" => Parsed::Observation(typed(raw, ty)?),
        "MedicationRequest" => Parsed::MedicationUse(typed(raw, ty)?, "MedicationRequest"),
        "MedicationStatement" => Parsed::MedicationUse(typed(raw, ty)?, "MedicationStatement"),
        "AllergyIntolerance" => Parsed::Allergy(typed(raw, ty)?),
        "Medication" => Parsed::Medication(typed(raw, ty)?),
        other => {
            debug_assert!(!is_used_type(other));
            *stats.skipped.entry(other.to_owned()).or_default() += 1;
            return Ok(None);
        }
    };
    Ok(Some(parsed))
}

/// Adds a Medication to the index under every name it goes by.
fn index_medication(
    medication: FhirMedication,
    full_url: Option<&str>,
    index: &mut MedicationIndex,
    stats: &mut IngestStats,
) {
    let names: Vec<String> = full_url
        .map(str::to_owned)
        .into_iter()
        .chain(
            medication
                .id
                .as_deref()
                .map(|id| format!("Medication/{id}")),
        )
        .collect();
    if names.is_empty() {
        stats.drop_resource("Medication without id or fullUrl");
        return;
    }
    let code = concept(medication.code);
    stats.use_resource("Medication");
    for name in names {
        index.insert(normalise_reference(&name).to_owned(), code.clone());
    }
}

/// A patient being assembled from its resources.
struct Builder {
    key: String,
    location: SourceLocation,
    patient: FhirPatient,
    /// Every reference that names this patient (fullUrl, `Patient/id`).
    names: Vec<String>,
    conditions: Vec<Condition>,
    observations: Vec<Observation>,
    medications: Vec<Medication>,
    allergies: Vec<Allergy>,
    coding: CodingOrigin,
    /// The first reason this record cannot be evaluated, if any.
    error: Option<RecordError>,
}

impl Builder {
    fn new(
        key: String,
        location: SourceLocation,
        patient: FhirPatient,
        names: Vec<String>,
    ) -> Self {
        Builder {
            key,
            location,
            patient,
            names,
            conditions: Vec::new(),
            observations: Vec::new(),
            medications: Vec::new(),
            allergies: Vec::new(),
            coding: CodingOrigin::None,
            error: None,
        }
    }

    fn fail(&mut self, location: SourceLocation, message: String) {
        if self.error.is_none() {
            self.error = Some(RecordError {
                location,
                key: Some(self.key.clone()),
                message,
            });
        }
    }

    fn finish(self, ingest: &Ingest, stats: &mut IngestStats) -> Result<Record, RecordError> {
        if let Some(error) = self.error {
            return Err(error);
        }
        let fhir = self.patient;
        let error = |message: String| RecordError {
            location: self.location.clone(),
            key: Some(self.key.clone()),
            message,
        };
        let identifiers = fhir.direct_identifiers();
        if !identifiers.is_empty() {
            if !ingest.options.allow_identifiers {
                return Err(error(format!(
                    "the record carries direct identifiers ({}); livelab runs on anonymised records: \
                     run `livelab anonymise` on the export first, or pass --allow-identifiers if \
                     the region has reviewed this data",
                    identifiers.join(", ")
                )));
            }
            stats.identified_records_admitted += 1;
        }
        let birth = fhir.birth_date.as_deref().ok_or_else(|| {
            error("Patient has no birthDate; the record needs an age (the year is enough)".into())
        })?;
        let age_years = age_at(birth, ingest.evaluation_date).map_err(error)?;
        let sex = match fhir.gender.as_deref() {
            Some("female") => Sex::Female,
            Some("male") => Sex::Male,
            Some("other") => Sex::Other,
            _ => Sex::Unknown,
        };
        Ok(Record {
            key: self.key,
            source: self.location,
            patient: Patient {
                age_years,
                sex,
                conditions: self.conditions,
                observations: self.observations,
                medications: self.medications,
                allergies: self.allergies,
            },
            coding: self.coding,
        })
    }

    /// Maps one parsed resource into this record (codes translated, units normalised), or
    /// drops it with a counted reason.
    fn add(
        &mut self,
        resource: Parsed,
        medications: &MedicationIndex,
        ingest: &Ingest,
        stats: &mut IngestStats,
    ) {
        let ctx = MapContext {
            evaluation_date: ingest.evaluation_date,
            patient_refs: &self.names,
            medications,
        };
        let terms = &ingest.options.terminology;
        let result = match resource {
            Parsed::Patient(_) => Err("duplicate Patient"),
            Parsed::Medication(_) => unreachable!("Medications are indexed, not attached"),
            Parsed::Condition(r) => map_condition(r, &ctx).map(|mut c| {
                self.coding = self.coding.with(&c.code);
                terms.translate(&mut c.code, &mut stats.codings);
                self.conditions.push(c);
                "Condition"
            }),
            Parsed::Observation(r) => map_observation(r, &ctx).map(|mut o| {
                enrich_observation(&mut o, terms, &mut stats.codings, &mut stats.units);
                self.observations.push(o);
                "Observation"
            }),
            Parsed::MedicationUse(r, kind) => map_medication(r, &ctx).map(|mut m| {
                self.coding = self.coding.with(&m.code);
                terms.translate(&mut m.code, &mut stats.codings);
                if let Some(dose) = &mut m.daily_dose {
                    units::normalise_dose(dose, &mut stats.units);
                }
                self.medications.push(m);
                kind
            }),
            Parsed::Allergy(r) => map_allergy(r, &ctx).map(|mut a| {
                terms.translate(&mut a.code, &mut stats.codings);
                self.allergies.push(a);
                "AllergyIntolerance"
            }),
        };
        match result {
            Ok(kind) => stats.use_resource(kind),
            Err(reason) => stats.drop_resource(reason),
        }
    }
}

/// Translates an observation's codes (its own, its components', coded values) and converts
/// its quantities to the units plugins compare. Codes first: the analyte a unit belongs to
/// may only be recognisable by its mapped code.
fn enrich_observation(
    o: &mut Observation,
    terms: &Terminology,
    codings: &mut CodingStats,
    unit_stats: &mut UnitStats,
) {
    fn enrich_value(
        value: &mut Option<ObservationValue>,
        code: &[crate::wit::Coding],
        terms: &Terminology,
        codings: &mut CodingStats,
        unit_stats: &mut UnitStats,
    ) {
        match value {
            Some(ObservationValue::Quantity(q)) => {
                units::normalise_observation(code, q, unit_stats)
            }
            Some(ObservationValue::Coded(c)) => terms.translate(c, codings),
            _ => {}
        }
    }
    terms.translate(&mut o.code, codings);
    enrich_value(&mut o.value, &o.code, terms, codings, unit_stats);
    for c in &mut o.components {
        terms.translate(&mut c.code, codings);
        enrich_value(&mut c.value, &c.code, terms, codings, unit_stats);
    }
}

fn read_bundle_file(
    file: &Path,
    ingest: &Ingest,
    stats: &mut IngestStats,
) -> Vec<Result<Record, RecordError>> {
    let whole_file_error = |message: String| {
        vec![Err(RecordError {
            location: SourceLocation {
                file: file.to_owned(),
                position: None,
            },
            key: None,
            message,
        })]
    };
    let text = match fs::read_to_string(file) {
        Ok(text) => text,
        Err(e) => return whole_file_error(format!("cannot read file: {e}")),
    };
    let bundle: Bundle = match serde_json::from_str(&text) {
        Ok(bundle) => bundle,
        Err(e) => return whole_file_error(format!("not valid JSON: {e}")),
    };
    if bundle.resource_type.as_deref() != Some("Bundle") {
        return whole_file_error(format!(
            "expected a FHIR Bundle, found resourceType {:?}; a records directory holds one Bundle per file",
            bundle.resource_type.as_deref().unwrap_or("(none)")
        ));
    }
    let at = |i| SourceLocation {
        file: file.to_owned(),
        position: Some(Position::Entry(i)),
    };

    // Pass 1: parse used resources, find the patients (and every name they go by) and the
    // Medications that medicationReferences point at.
    let mut parsed: Vec<Parsed> = Vec::new();
    let mut unreadable: Vec<(usize, String)> = Vec::new();
    let mut builders: Vec<Builder> = Vec::new();
    let mut medications = MedicationIndex::new();
    for (i, entry) in bundle.entry.iter().enumerate() {
        let Some(raw) = entry.resource else { continue };
        match parse_resource(raw.get(), stats) {
            Ok(Some(Parsed::Patient(p))) => {
                let mut names = Vec::new();
                if let Some(url) = &entry.full_url {
                    names.push(url.clone());
                }
                if let Some(id) = &p.id {
                    names.push(format!("Patient/{id}"));
                }
                let key =
                    p.id.clone()
                        .or_else(|| entry.full_url.clone())
                        .unwrap_or_else(|| format!("{}#entry{i}", file.display()));
                stats.use_resource("Patient");
                builders.push(Builder::new(key, at(i), p, names));
            }
            Ok(Some(Parsed::Medication(m))) => {
                index_medication(m, entry.full_url.as_deref(), &mut medications, stats)
            }
            Ok(Some(other)) => parsed.push(other),
            Ok(None) => {}
            Err(message) => unreadable.push((i, message)),
        }
    }
    if builders.is_empty() {
        if !bundle.entry.is_empty() {
            stats.drop_resource("bundle without a Patient");
        }
        return match unreadable.into_iter().next() {
            Some((i, message)) => vec![Err(RecordError {
                location: at(i),
                key: None,
                message,
            })],
            None => Vec::new(),
        };
    }
    // An unreadable entry could belong to anyone; with one patient, it is theirs.
    for (i, message) in unreadable {
        if builders.len() == 1 {
            builders[0].fail(at(i), message);
        } else {
            return whole_file_error(format!("Bundle.entry[{i}]: {message}"));
        }
    }

    // Pass 2: attach every resource to its patient.
    for resource in parsed {
        let owner = match resource.subject() {
            Some(r) => {
                let reference = normalise_reference(r);
                builders
                    .iter()
                    .position(|b| b.names.iter().any(|n| normalise_reference(n) == reference))
            }
            // A single-patient Bundle (Synthea) may leave the subject implicit.
            None if builders.len() == 1 => Some(0),
            None => None,
        };
        match owner {
            Some(owner) => builders[owner].add(resource, &medications, ingest, stats),
            None => stats.drop_resource("unknown patient reference"),
        }
    }
    builders
        .into_iter()
        .map(|b| b.finish(ingest, stats))
        .collect()
}

/// `http://example.org/fhir/Patient/123/_history/2` and `Patient/123` name the same patient.
fn normalise_reference(reference: &str) -> &str {
    if reference.starts_with("urn:") {
        return reference;
    }
    let path = reference.split("/_history/").next().unwrap_or(reference);
    let mut parts = path.rsplitn(3, '/');
    match (parts.next(), parts.next()) {
        (Some(id), Some(ty)) => &path[path.len() - id.len() - ty.len() - 1..],
        _ => path,
    }
}

// ------------------------------------------------------------------------------------------
// Dates.

/// A FHIR `date` or `dateTime` as a calendar date. Partial dates are imputed to the middle
/// of the period they name (`1956` → 1 July 1956, `2024-03` → 15 March 2024); the time of
/// day and time zone of a `dateTime` are ignored, the date as written is the local date.
pub(crate) fn parse_fhir_date(value: &str) -> Option<Date> {
    let full = match value.len() {
        4 => format!("{value}-07-01"),
        7 => format!("{value}-15"),
        n if n >= 10 => value.get(..10)?.to_owned(),
        _ => return None,
    };
    full.parse().ok()
}

/// Whole years from `birth` (a FHIR date, possibly partial) to `on`.
pub(crate) fn age_at(birth: &str, on: Date) -> Result<u8, String> {
    let born = parse_fhir_date(birth).ok_or_else(|| {
        format!("Patient.birthDate {birth:?} is not a FHIR date (YYYY, YYYY-MM or YYYY-MM-DD)")
    })?;
    if born > on {
        return Err(format!(
            "Patient.birthDate {birth} is after the evaluation date {on}"
        ));
    }
    let mut years = on.year() - born.year();
    if (on.month(), on.day()) < (born.month(), born.day()) {
        years -= 1;
    }
    u8::try_from(years).map_err(|_| format!("Patient.birthDate {birth} gives an age over 255"))
}

#[cfg(test)]
mod tests {
    use super::mapping::daily_dose;
    use super::shapes::Dosage;
    use super::*;

    fn date(s: &str) -> Date {
        s.parse().unwrap()
    }

    #[test]
    fn partial_dates_are_imputed_mid_period() {
        assert_eq!(parse_fhir_date("1956"), Some(date("1956-07-01")));
        assert_eq!(parse_fhir_date("2024-03"), Some(date("2024-03-15")));
        assert_eq!(
            parse_fhir_date("2024-03-02T08:15:00+01:00"),
            Some(date("2024-03-02"))
        );
        assert_eq!(parse_fhir_date("03/02/2024"), None);
        assert_eq!(parse_fhir_date("2024-13-01"), None);
    }

    #[test]
    fn ages_count_whole_years() {
        assert_eq!(age_at("1956", date("2026-06-30")), Ok(69));
        assert_eq!(age_at("1956", date("2026-07-01")), Ok(70));
        assert_eq!(age_at("2000-02-29", date("2026-02-28")), Ok(25));
        assert!(
            age_at("2030", date("2026-01-01"))
                .unwrap_err()
                .contains("after")
        );
        assert!(
            age_at("someday", date("2026-01-01"))
                .unwrap_err()
                .contains("not a FHIR date")
        );
    }

    #[test]
    fn references_normalise_to_type_and_id() {
        assert_eq!(normalise_reference("Patient/1"), "Patient/1");
        assert_eq!(
            normalise_reference("https://fhir.example/r4/Patient/1/_history/3"),
            "Patient/1"
        );
        assert_eq!(normalise_reference("urn:uuid:abc"), "urn:uuid:abc");
    }

    #[test]
    fn daily_dose_follows_timing() {
        let dosage: Dosage = serde_json::from_str(
            r#"{"timing":{"repeat":{"frequency":2,"period":1,"periodUnit":"d"}},
                "doseAndRate":[{"doseQuantity":{"value":500,"unit":"mg","system":"http://unitsofmeasure.org","code":"mg"}}]}"#,
        )
        .unwrap();
        let dose = daily_dose(dosage).unwrap();
        assert_eq!((dose.value, dose.unit.as_str()), (1000.0, "mg"));
        let weekly: Dosage = serde_json::from_str(
            r#"{"timing":{"repeat":{"frequency":1,"period":1,"periodUnit":"wk"}},
                "doseAndRate":[{"doseQuantity":{"value":70,"unit":"mg"}}]}"#,
        )
        .unwrap();
        assert_eq!(daily_dose(weekly).unwrap().value, 10.0);
        let no_timing: Dosage =
            serde_json::from_str(r#"{"doseAndRate":[{"doseQuantity":{"value":70}}]}"#).unwrap();
        assert!(daily_dose(no_timing).is_none());
    }
}
