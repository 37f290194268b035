//! Reading FHIR R4 exports into anonymised [`Record`]s.
//!
//! Two shapes of export are read, as real tools write them:
//! - **Bundles**: a directory of JSON files (or one file), each a `Bundle` of type
//!   `collection`, `transaction`, `batch` or `searchset`, usually one patient per file
//!   (Synthea). References may be `urn:uuid:` full URLs or `Patient/<id>`.
//! - **Bulk Data NDJSON**: a directory of `<Type>.<n>.ndjson` files, one resource per line,
//!   references as `Patient/<id>`.
//!
//! Resource types the record does not use are skipped and counted by type; resources that
//! are used but unusable (no code, entered in error, dated after the evaluation date, ...) are
//! dropped and counted by reason in [`IngestStats`]. A resource whose JSON does not have the
//! FHIR shape makes its whole record an error that names the file and entry or line: a
//! plugin must not see a patient with a silently missing medication.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fs;
use std::path::{Path, PathBuf};

use jiff::civil::Date;
use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_json::value::RawValue;

use crate::record::{Position, Record, SourceLocation};
use crate::wit::{
    Allergy, ClinicalStatus, CodeSystem, Coding, Condition, Medication, MedicationStatus,
    Observation, ObservationCategory, ObservationComponent, ObservationValue, Origin, Patient,
    Quantity, Sex,
};

/// Files in a records directory that describe the cohort rather than hold patients.
pub const METADATA_FILES: &[&str] = &["cohort.json", "manifest.json"];

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

/// Counts of what ingest read, used, skipped and dropped.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct IngestStats {
    pub files: u64,
    pub resources: u64,
    /// Resources mapped into a record, by type.
    pub used: BTreeMap<String, u64>,
    /// Resources of types the record does not hold, by type.
    pub skipped: BTreeMap<String, u64>,
    /// Resources of a used type that could not be used, by reason.
    pub dropped: BTreeMap<String, u64>,
}

impl IngestStats {
    fn drop_resource(&mut self, reason: &str) {
        *self.dropped.entry(reason.to_owned()).or_default() += 1;
    }
}

/// The shape of an export.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SourceFormat {
    Bundles,
    Ndjson,
}

/// An opened record source: iterate it for one `Result<Record, RecordError>` per patient.
pub struct RecordReader {
    format: SourceFormat,
    files: Vec<PathBuf>,
    next_file: usize,
    pending: VecDeque<Result<Record, RecordError>>,
    evaluation_date: Date,
    stats: IngestStats,
}

impl RecordReader {
    /// Opens a directory (or a single file) of FHIR records.
    pub fn open(path: &Path, evaluation_date: Date) -> Result<RecordReader, SourceError> {
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
        let mut files = if meta.is_dir() {
            let mut files = Vec::new();
            for entry in fs::read_dir(path).map_err(io)? {
                let file = entry.map_err(io)?.path();
                let name = file.file_name().and_then(|n| n.to_str()).unwrap_or("");
                if file.is_file() && !METADATA_FILES.contains(&name) {
                    files.push(file);
                }
            }
            files
        } else {
            vec![path.to_owned()]
        };
        files.sort();
        let is = |f: &PathBuf, ext: &str| f.extension().is_some_and(|e| e == ext);
        let bundles = files.iter().filter(|f| is(f, "json")).count();
        let ndjson = files.iter().filter(|f| is(f, "ndjson")).count();
        let format = match (bundles, ndjson) {
            (0, 0) => {
                return Err(SourceError::Empty {
                    path: path.to_owned(),
                });
            }
            (_, 0) => SourceFormat::Bundles,
            (0, _) => SourceFormat::Ndjson,
            _ => {
                return Err(SourceError::Mixed {
                    path: path.to_owned(),
                });
            }
        };
        let ext = match format {
            SourceFormat::Bundles => "json",
            SourceFormat::Ndjson => "ndjson",
        };
        files.retain(|f| is(f, ext));
        if format == SourceFormat::Ndjson {
            // Patients first, so that every other resource finds its patient.
            files.sort_by_key(|f| !resource_type_of_ndjson(f).eq("Patient"));
        }
        Ok(RecordReader {
            format,
            files,
            next_file: 0,
            pending: VecDeque::new(),
            evaluation_date,
            stats: IngestStats::default(),
        })
    }

    pub fn format(&self) -> SourceFormat {
        self.format
    }

    /// How many files the source has (for progress; a Bundle file is usually one patient).
    pub fn file_count(&self) -> usize {
        self.files.len()
    }

    pub fn stats(&self) -> &IngestStats {
        &self.stats
    }

    fn read_next_file(&mut self) {
        match self.format {
            SourceFormat::Bundles => {
                let file = self.files[self.next_file].clone();
                self.next_file += 1;
                self.stats.files += 1;
                let outcomes = read_bundle_file(&file, self.evaluation_date, &mut self.stats);
                self.pending.extend(outcomes);
            }
            SourceFormat::Ndjson => {
                // Bulk exports spread a patient over several files: read them all, then
                // emit patients in the order of the Patient files. Memory is proportional
                // to the export (see docs/ARCHITECTURE.md).
                let files = std::mem::take(&mut self.files);
                self.next_file = 0;
                self.stats.files += files.len() as u64;
                let outcomes = read_ndjson_files(&files, self.evaluation_date, &mut self.stats);
                self.pending.extend(outcomes);
            }
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
            if self.next_file >= self.files.len() {
                return None;
            }
            self.read_next_file();
        }
    }
}

/// `Condition.000.ndjson` → `Condition`.
fn resource_type_of_ndjson(file: &Path) -> &str {
    file.file_name()
        .and_then(|n| n.to_str())
        .and_then(|n| n.split('.').next())
        .unwrap_or("")
}

// ------------------------------------------------------------------------------------------
// The FHIR JSON shapes read (only the fields used; everything else is ignored).

#[derive(Deserialize)]
struct ResourceHead<'a> {
    #[serde(rename = "resourceType", borrow)]
    resource_type: Option<&'a str>,
}

#[derive(Deserialize)]
struct Bundle<'a> {
    #[serde(rename = "resourceType")]
    resource_type: Option<String>,
    #[serde(default, borrow)]
    entry: Vec<BundleEntry<'a>>,
}

#[derive(Deserialize)]
struct BundleEntry<'a> {
    #[serde(rename = "fullUrl")]
    full_url: Option<String>,
    #[serde(borrow)]
    resource: Option<&'a RawValue>,
}

#[derive(Deserialize, Default)]
struct CodeableConcept {
    #[serde(default)]
    coding: Vec<FhirCoding>,
}

#[derive(Deserialize)]
struct FhirCoding {
    system: Option<String>,
    code: Option<String>,
}

#[derive(Deserialize)]
struct Reference {
    reference: Option<String>,
}

#[derive(Deserialize)]
struct Period {
    start: Option<String>,
    end: Option<String>,
}

#[derive(Deserialize)]
struct FhirQuantity {
    value: Option<f64>,
    unit: Option<String>,
    system: Option<String>,
    code: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct FhirPatient {
    id: Option<String>,
    gender: Option<String>,
    birth_date: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct FhirCondition {
    clinical_status: Option<CodeableConcept>,
    verification_status: Option<CodeableConcept>,
    code: Option<CodeableConcept>,
    subject: Option<Reference>,
    onset_date_time: Option<String>,
    onset_period: Option<Period>,
    recorded_date: Option<String>,
    abatement_date_time: Option<String>,
    abatement_period: Option<Period>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct FhirObservation {
    status: Option<String>,
    #[serde(default)]
    category: Vec<CodeableConcept>,
    code: Option<CodeableConcept>,
    subject: Option<Reference>,
    effective_date_time: Option<String>,
    effective_period: Option<Period>,
    effective_instant: Option<String>,
    issued: Option<String>,
    #[serde(default)]
    performer: Vec<Reference>,
    #[serde(flatten)]
    value: FhirValue,
    #[serde(default)]
    component: Vec<FhirComponent>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct FhirValue {
    value_quantity: Option<FhirQuantity>,
    value_codeable_concept: Option<CodeableConcept>,
    value_boolean: Option<bool>,
    value_integer: Option<i64>,
    // Present in real data, not (yet) representable in the record: counted, not guessed.
    value_string: Option<IgnoredAny>,
    value_range: Option<IgnoredAny>,
    value_ratio: Option<IgnoredAny>,
    value_date_time: Option<IgnoredAny>,
    value_period: Option<IgnoredAny>,
}

#[derive(Deserialize)]
struct FhirComponent {
    code: Option<CodeableConcept>,
    #[serde(flatten)]
    value: FhirValue,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct FhirMedicationUse {
    status: Option<String>,
    medication_codeable_concept: Option<CodeableConcept>,
    medication_reference: Option<Reference>,
    subject: Option<Reference>,
    // MedicationRequest
    authored_on: Option<String>,
    #[serde(default)]
    dosage_instruction: Vec<Dosage>,
    // MedicationStatement
    effective_date_time: Option<String>,
    effective_period: Option<Period>,
    #[serde(default)]
    dosage: Vec<Dosage>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Dosage {
    timing: Option<Timing>,
    #[serde(default)]
    dose_and_rate: Vec<DoseAndRate>,
}

#[derive(Deserialize)]
struct Timing {
    repeat: Option<TimingRepeat>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TimingRepeat {
    frequency: Option<f64>,
    period: Option<f64>,
    period_unit: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DoseAndRate {
    dose_quantity: Option<FhirQuantity>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct FhirAllergy {
    clinical_status: Option<CodeableConcept>,
    verification_status: Option<CodeableConcept>,
    code: Option<CodeableConcept>,
    patient: Option<Reference>,
}

// ------------------------------------------------------------------------------------------
// Assembling records.

/// A resource of a used type, parsed but not yet attached to its patient.
enum Parsed {
    Patient(FhirPatient),
    Condition(FhirCondition),
    Observation(FhirObservation),
    Medication(FhirMedicationUse),
    Allergy(FhirAllergy),
}

impl Parsed {
    fn subject(&self) -> Option<&str> {
        let reference = match self {
            Parsed::Patient(_) => return None,
            Parsed::Condition(r) => r.subject.as_ref(),
            Parsed::Observation(r) => r.subject.as_ref(),
            Parsed::Medication(r) => r.subject.as_ref(),
            Parsed::Allergy(r) => r.patient.as_ref(),
        };
        reference.and_then(|r| r.reference.as_deref())
    }
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
    let parsed = match resource_type {
        "Patient" => Parsed::Patient(typed(raw, resource_type)?),
        "Condition" => Parsed::Condition(typed(raw, resource_type)?),
        "Observation" => Parsed::Observation(typed(raw, resource_type)?),
        "MedicationRequest" | "MedicationStatement" => {
            Parsed::Medication(typed(raw, resource_type)?)
        }
        "AllergyIntolerance" => Parsed::Allergy(typed(raw, resource_type)?),
        other => {
            *stats.skipped.entry(other.to_owned()).or_default() += 1;
            return Ok(None);
        }
    };
    Ok(Some(parsed))
}

/// A patient being assembled from its resources.
struct Builder {
    key: String,
    location: SourceLocation,
    patient: FhirPatient,
    conditions: Vec<Condition>,
    observations: Vec<Observation>,
    medications: Vec<Medication>,
    allergies: Vec<Allergy>,
    /// The first reason this record cannot be evaluated, if any.
    error: Option<RecordError>,
}

impl Builder {
    fn new(key: String, location: SourceLocation, patient: FhirPatient) -> Self {
        Builder {
            key,
            location,
            patient,
            conditions: Vec::new(),
            observations: Vec::new(),
            medications: Vec::new(),
            allergies: Vec::new(),
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

    fn finish(self, evaluation_date: Date) -> Result<Record, RecordError> {
        if let Some(error) = self.error {
            return Err(error);
        }
        let fhir = self.patient;
        let error = |message: String| RecordError {
            location: self.location.clone(),
            key: Some(self.key.clone()),
            message,
        };
        let birth = fhir.birth_date.as_deref().ok_or_else(|| {
            error("Patient has no birthDate; the record needs an age (the year is enough)".into())
        })?;
        let age_years = age_at(birth, evaluation_date).map_err(error)?;
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
        })
    }

    /// Maps one parsed resource into this record, or drops it with a counted reason.
    fn add(&mut self, resource: Parsed, ctx: &MapContext, stats: &mut IngestStats) {
        let result = match resource {
            Parsed::Patient(_) => Err("duplicate Patient"),
            Parsed::Condition(r) => map_condition(r, ctx).map(|c| {
                self.conditions.push(c);
                "Condition"
            }),
            Parsed::Observation(r) => map_observation(r, ctx).map(|o| {
                self.observations.push(o);
                "Observation"
            }),
            Parsed::Medication(r) => map_medication(r, ctx).map(|m| {
                self.medications.push(m);
                "Medication"
            }),
            Parsed::Allergy(r) => map_allergy(r, ctx).map(|a| {
                self.allergies.push(a);
                "AllergyIntolerance"
            }),
        };
        match result {
            Ok(kind) => *stats.used.entry(kind.to_owned()).or_default() += 1,
            Err(reason) => stats.drop_resource(reason),
        }
    }
}

/// What mapping a resource needs to know besides the resource.
struct MapContext<'a> {
    evaluation_date: Date,
    /// References that name this resource's patient (for `performer`).
    patient_refs: &'a [String],
}

fn read_bundle_file(
    file: &Path,
    evaluation_date: Date,
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

    // Pass 1: parse used resources, find the patients and every name they go by.
    let mut parsed: Vec<Parsed> = Vec::new();
    let mut unreadable: Vec<(usize, String)> = Vec::new();
    let mut builders: Vec<Builder> = Vec::new();
    let mut refs: Vec<Vec<String>> = Vec::new();
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
                *stats.used.entry("Patient".into()).or_default() += 1;
                builders.push(Builder::new(key, at(i), p));
                refs.push(names);
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
    let resolve = |reference: &str| -> Option<usize> {
        let reference = normalise_reference(reference);
        refs.iter()
            .position(|names| names.iter().any(|n| normalise_reference(n) == reference))
    };
    for resource in parsed {
        let owner = match resource.subject() {
            Some(r) => resolve(r),
            // A single-patient Bundle (Synthea) may leave the subject implicit.
            None if builders.len() == 1 => Some(0),
            None => None,
        };
        attach(
            &mut builders,
            &refs,
            owner,
            resource,
            evaluation_date,
            stats,
        );
    }
    builders
        .into_iter()
        .map(|b| b.finish(evaluation_date))
        .collect()
}

/// Adds a resource to the record of its patient, or counts it when it has none.
fn attach(
    builders: &mut [Builder],
    refs: &[Vec<String>],
    owner: Option<usize>,
    resource: Parsed,
    evaluation_date: Date,
    stats: &mut IngestStats,
) {
    let Some(owner) = owner else {
        stats.drop_resource("unknown patient reference");
        return;
    };
    let ctx = MapContext {
        evaluation_date,
        patient_refs: &refs[owner],
    };
    builders[owner].add(resource, &ctx, stats);
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

fn read_ndjson_files(
    files: &[PathBuf],
    evaluation_date: Date,
    stats: &mut IngestStats,
) -> Vec<Result<Record, RecordError>> {
    let mut outcomes = Vec::new();
    let mut builders: Vec<Builder> = Vec::new();
    let mut refs: Vec<Vec<String>> = Vec::new();
    let mut by_ref: HashMap<String, usize> = HashMap::new();
    for file in files {
        let text = match fs::read_to_string(file) {
            Ok(text) => text,
            Err(e) => {
                outcomes.push(Err(RecordError {
                    location: SourceLocation {
                        file: file.clone(),
                        position: None,
                    },
                    key: None,
                    message: format!("cannot read file: {e}"),
                }));
                continue;
            }
        };
        for (n, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let at = SourceLocation {
                file: file.clone(),
                position: Some(Position::Line(n + 1)),
            };
            match parse_resource(line, stats) {
                Ok(Some(Parsed::Patient(p))) => {
                    let Some(id) = p.id.clone() else {
                        outcomes.push(Err(RecordError {
                            location: at,
                            key: None,
                            message: "Patient has no id; Bulk Data resources need one".into(),
                        }));
                        continue;
                    };
                    let reference = format!("Patient/{id}");
                    if by_ref.contains_key(&reference) {
                        stats.drop_resource("duplicate Patient");
                        continue;
                    }
                    *stats.used.entry("Patient".into()).or_default() += 1;
                    by_ref.insert(reference.clone(), builders.len());
                    refs.push(vec![reference]);
                    builders.push(Builder::new(id, at, p));
                }
                Ok(Some(resource)) => {
                    let owner = resource
                        .subject()
                        .and_then(|r| by_ref.get(normalise_reference(r)).copied());
                    attach(
                        &mut builders,
                        &refs,
                        owner,
                        resource,
                        evaluation_date,
                        stats,
                    );
                }
                Ok(None) => {}
                Err(message) => {
                    // Find whose resource it was, if the JSON is readable at all, so that
                    // patient is reported as an error rather than evaluated incomplete.
                    let owner = serde_json::from_str::<serde_json::Value>(line)
                        .ok()
                        .and_then(|v| {
                            let r = v.get("subject").or_else(|| v.get("patient"))?;
                            let r = r.get("reference")?.as_str()?;
                            by_ref.get(normalise_reference(r)).copied()
                        });
                    match owner {
                        Some(owner) => builders[owner].fail(at, message),
                        None => outcomes.push(Err(RecordError {
                            location: at,
                            key: None,
                            message,
                        })),
                    }
                }
            }
        }
    }
    outcomes.extend(builders.into_iter().map(|b| b.finish(evaluation_date)));
    outcomes
}

// ------------------------------------------------------------------------------------------
// Mapping resources to the WIT record. `Err` carries the counted reason for dropping.

type Mapped<T> = Result<T, &'static str>;

fn concept(cc: Option<CodeableConcept>) -> Vec<Coding> {
    cc.unwrap_or_default()
        .coding
        .into_iter()
        .filter_map(|c| {
            Some(Coding {
                system: CodeSystem::from_uri(c.system.as_deref()?),
                code: c.code?,
            })
        })
        .collect()
}

fn status_code(cc: &Option<CodeableConcept>) -> Option<&str> {
    cc.as_ref()?.coding.iter().find_map(|c| c.code.as_deref())
}

fn is_refuted(verification: &Option<CodeableConcept>) -> bool {
    matches!(
        status_code(verification),
        Some("refuted" | "entered-in-error")
    )
}

/// Days before the evaluation date; `Err` for data dated after it.
fn days_ago(value: &str, ctx: &MapContext) -> Result<Option<u32>, &'static str> {
    let date = parse_fhir_date(value).ok_or("unparseable date")?;
    let days = date
        .until(ctx.evaluation_date)
        .map_err(|_| "unparseable date")?
        .get_days();
    if days < 0 {
        return Err("dated after the evaluation date");
    }
    Ok(Some(days as u32))
}

fn map_condition(r: FhirCondition, ctx: &MapContext) -> Mapped<Condition> {
    if is_refuted(&r.verification_status) {
        return Err("refuted or entered-in-error");
    }
    let code = concept(r.code);
    if code.is_empty() {
        return Err("no code");
    }
    let status = match status_code(&r.clinical_status) {
        Some("active") => ClinicalStatus::Active,
        Some("recurrence") => ClinicalStatus::Recurrence,
        Some("relapse") => ClinicalStatus::Relapse,
        Some("inactive") => ClinicalStatus::Inactive,
        Some("remission") => ClinicalStatus::Remission,
        Some("resolved") => ClinicalStatus::Resolved,
        _ => ClinicalStatus::Unknown,
    };
    let onset = r
        .onset_date_time
        .or_else(|| r.onset_period.and_then(|p| p.start))
        .or(r.recorded_date);
    let onset_days_ago = match onset {
        Some(d) => days_ago(&d, ctx)?,
        None => None,
    };
    let abatement = r
        .abatement_date_time
        .or_else(|| r.abatement_period.and_then(|p| p.end.or(p.start)));
    let abated_days_ago = match abatement {
        // An abatement after the evaluation date has not happened yet.
        Some(d) => days_ago(&d, ctx).unwrap_or(None),
        None => None,
    };
    Ok(Condition {
        code,
        status,
        onset_days_ago,
        abated_days_ago,
    })
}

fn map_value(v: FhirValue) -> Result<Option<ObservationValue>, &'static str> {
    if let Some(q) = v.value_quantity {
        return map_quantity(q)
            .map(|q| Some(ObservationValue::Quantity(q)))
            .ok_or("quantity without a value");
    }
    if let Some(cc) = v.value_codeable_concept {
        return Ok(Some(ObservationValue::Coded(concept(Some(cc)))));
    }
    if let Some(b) = v.value_boolean {
        return Ok(Some(ObservationValue::Boolean(b)));
    }
    if let Some(i) = v.value_integer {
        return Ok(Some(ObservationValue::Integer(i)));
    }
    if v.value_string.is_some()
        || v.value_range.is_some()
        || v.value_ratio.is_some()
        || v.value_date_time.is_some()
        || v.value_period.is_some()
    {
        return Err("value type not supported");
    }
    Ok(None)
}

fn map_quantity(q: FhirQuantity) -> Option<Quantity> {
    let ucum = q.system.as_deref() == Some("http://unitsofmeasure.org");
    let unit = if ucum {
        q.code.or(q.unit)
    } else {
        q.unit.or(q.code)
    };
    Some(Quantity {
        value: q.value?,
        unit: unit.unwrap_or_default(),
    })
}

fn map_observation(r: FhirObservation, ctx: &MapContext) -> Mapped<Observation> {
    if matches!(r.status.as_deref(), Some("entered-in-error" | "cancelled")) {
        return Err("entered-in-error or cancelled");
    }
    let code = concept(r.code);
    if code.is_empty() {
        return Err("no code");
    }
    let effective = r
        .effective_date_time
        .or_else(|| r.effective_period.and_then(|p| p.start.or(p.end)))
        .or(r.effective_instant)
        .or(r.issued)
        .ok_or("no effective time")?;
    let effective_days_ago = days_ago(&effective, ctx)?.expect("a date gives days");
    const CATEGORY: &str = "http://terminology.hl7.org/CodeSystem/observation-category";
    let category = r
        .category
        .iter()
        .flat_map(|cc| &cc.coding)
        .find(|c| c.system.as_deref() == Some(CATEGORY))
        .and_then(|c| c.code.as_deref())
        .map(|code| match code {
            "laboratory" => ObservationCategory::Laboratory,
            "vital-signs" => ObservationCategory::VitalSigns,
            "survey" => ObservationCategory::Survey,
            "exam" => ObservationCategory::Exam,
            "social-history" => ObservationCategory::SocialHistory,
            "activity" => ObservationCategory::Activity,
            _ => ObservationCategory::Other,
        })
        .unwrap_or(ObservationCategory::Other);
    // Self-measured and patient-reported data name the patient (or a relative) as performer.
    let origin = if r.performer.iter().any(|p| {
        p.reference.as_deref().is_some_and(|reference| {
            let reference = normalise_reference(reference);
            reference.starts_with("Patient/")
                || reference.starts_with("RelatedPerson/")
                || ctx
                    .patient_refs
                    .iter()
                    .any(|n| normalise_reference(n) == reference)
        })
    }) {
        Origin::PatientGenerated
    } else {
        Origin::Clinical
    };
    let value = map_value(r.value)?;
    let components = r
        .component
        .into_iter()
        .map(|c| {
            Ok(ObservationComponent {
                code: concept(c.code),
                value: map_value(c.value)?,
            })
        })
        .collect::<Mapped<Vec<_>>>()?;
    if value.is_none() && components.iter().all(|c| c.value.is_none()) {
        return Err("no value");
    }
    Ok(Observation {
        code,
        category,
        origin,
        effective_days_ago,
        value,
        components,
    })
}

fn map_medication(r: FhirMedicationUse, ctx: &MapContext) -> Mapped<Medication> {
    let status = match r.status.as_deref() {
        Some("active") => MedicationStatus::Active,
        Some("on-hold") => MedicationStatus::OnHold,
        Some("completed") => MedicationStatus::Completed,
        Some("stopped" | "cancelled") => MedicationStatus::Stopped,
        Some("draft" | "intended") => MedicationStatus::Draft,
        Some("entered-in-error") => return Err("entered-in-error"),
        Some("not-taken") => return Err("not taken"),
        _ => MedicationStatus::Unknown,
    };
    if r.medication_codeable_concept.is_none() && r.medication_reference.is_some() {
        return Err("medicationReference (not yet resolved)");
    }
    let code = concept(r.medication_codeable_concept);
    if code.is_empty() {
        return Err("no code");
    }
    let start = r
        .authored_on
        .or(r.effective_date_time)
        .or_else(|| r.effective_period.and_then(|p| p.start));
    let started_days_ago = match start {
        Some(d) => days_ago(&d, ctx)?,
        None => None,
    };
    let dosage = r.dosage_instruction.into_iter().chain(r.dosage).next();
    Ok(Medication {
        code,
        status,
        started_days_ago,
        daily_dose: dosage.and_then(daily_dose),
    })
}

/// Dose × frequency ÷ period, per day. `None` when the dosage does not say enough.
fn daily_dose(dosage: Dosage) -> Option<Quantity> {
    let repeat = dosage.timing?.repeat?;
    let dose = dosage
        .dose_and_rate
        .into_iter()
        .find_map(|d| d.dose_quantity)
        .and_then(map_quantity)?;
    let days = repeat.period.unwrap_or(1.0)
        * match repeat.period_unit.as_deref().unwrap_or("d") {
            "s" => 1.0 / 86_400.0,
            "min" => 1.0 / 1_440.0,
            "h" => 1.0 / 24.0,
            "d" => 1.0,
            "wk" => 7.0,
            "mo" => 30.0,
            "a" => 365.0,
            _ => return None,
        };
    if days <= 0.0 {
        return None;
    }
    let per_day = dose.value * repeat.frequency.unwrap_or(1.0) / days;
    Some(Quantity {
        value: (per_day * 1e6).round() / 1e6,
        unit: dose.unit,
    })
}

fn map_allergy(r: FhirAllergy, _ctx: &MapContext) -> Mapped<Allergy> {
    if is_refuted(&r.verification_status) {
        return Err("refuted or entered-in-error");
    }
    let code = concept(r.code);
    if code.is_empty() {
        return Err("no code");
    }
    Ok(Allergy {
        code,
        active: matches!(status_code(&r.clinical_status), Some("active") | None),
    })
}

// ------------------------------------------------------------------------------------------
// Dates.

/// A FHIR `date` or `dateTime` as a calendar date. Partial dates are imputed to the middle
/// of the period they name (`1956` → 1 July 1956, `2024-03` → 15 March 2024); the time of
/// day and time zone of a `dateTime` are ignored, the date as written is the local date.
pub fn parse_fhir_date(value: &str) -> Option<Date> {
    let full = match value.len() {
        4 => format!("{value}-07-01"),
        7 => format!("{value}-15"),
        n if n >= 10 => value.get(..10)?.to_owned(),
        _ => return None,
    };
    full.parse().ok()
}

/// Whole years from `birth` (a FHIR date, possibly partial) to `on`.
pub fn age_at(birth: &str, on: Date) -> Result<u8, String> {
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
