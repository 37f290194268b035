//! Reading one Bundle file: every patient in it, with the resources that reference them
//! (`urn:uuid:` full URLs or `Patient/<id>`; a single-patient Bundle may leave the subject
//! implicit).

use std::fs;
use std::path::Path;

use super::assemble::{Builder, Parsed, ResourceJson, index_medication, parse_resource};
use super::error::RecordError;
use super::listing::{self, PassReason};
use super::mapping::{MedicationIndex, normalise_reference};
use super::options::Ingest;
use super::record::{Position, Record, SourceLocation};
use super::shapes::Bundle;
use super::stats::IngestStats;
use crate::text::{BOM, strip_bom};

pub(crate) fn read_bundle_file(
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
    let bytes = match fs::read(file) {
        Ok(bytes) => bytes,
        Err(e) => return whole_file_error(listing::read_error(file, &e)),
    };
    if bytes.starts_with(BOM) {
        stats.byte_order_marks += 1;
    }
    // serde_json checks that the text is UTF-8, and says where it is not.
    let bundle: Bundle = match serde_json::from_slice(strip_bom(&bytes)) {
        Ok(bundle) => bundle,
        Err(e) => return whole_file_error(format!("not valid JSON: {e}")),
    };
    let name = || file.display().to_string();
    match bundle.resource_type.as_deref() {
        Some("Bundle") => {}
        // Not FHIR at all: a tool's metadata beside the Bundles.
        None => {
            stats.pass_over(PassReason::NotFhirJson.reason(), name);
            return Vec::new();
        }
        Some(other) => {
            return whole_file_error(format!(
                "expected a FHIR Bundle, found resourceType {other:?}; a records directory holds one Bundle per file"
            ));
        }
    }
    if bundle.entry.is_empty() {
        stats.pass_over("Bundle without entries", name);
        return Vec::new();
    }
    let at = |i| SourceLocation {
        file: file.to_owned(),
        position: Some(Position::Entry(i)),
    };
    let entries = bundle
        .entry
        .iter()
        .map(|entry| (entry.full_url.as_deref(), entry.resource.map(|r| r.get())));
    let key = |id: Option<&str>, full_url: Option<&str>, i: usize| {
        id.or(full_url)
            .map(str::to_owned)
            .unwrap_or_else(|| format!("{}#entry{i}", file.display()))
    };
    match assemble_entries(entries, &at, &key, ingest, stats) {
        Assembled::Records(records) => records,
        Assembled::NoPatient(first_unreadable) => {
            // Synthea writes its hospitals and practitioners so: not patient data, but named,
            // in case a region's export lost its Patients.
            stats.pass_over("Bundle without a Patient", name);
            first_unreadable.into_iter().map(Err).collect()
        }
        Assembled::Unreadable { entry, message } => {
            whole_file_error(format!("Bundle.entry[{entry}]: {message}"))
        }
    }
}

/// A Patient's record key from its id, its entry's fullUrl and the entry's index.
pub(crate) type RecordKey<'a> = dyn Fn(Option<&str>, Option<&str>, usize) -> String + 'a;

/// What [`assemble_entries`] made of a list of entries.
pub(crate) enum Assembled {
    /// One outcome per Patient.
    Records(Vec<Result<Record, RecordError>>),
    /// No Patient among the entries; the first unreadable entry, if any.
    NoPatient(Option<RecordError>),
    /// An unreadable entry among several patients: it could be anyone's.
    Unreadable { entry: usize, message: String },
}

/// The records of a list of Bundle entries, each `(fullUrl, resource JSON)`: what a Bundle
/// file holds, or what a CDS Hooks service was sent ([`super::record_from_resources`]). `at`
/// names an entry's place, `key` a Patient's record key from its id, fullUrl and entry index.
pub(crate) fn assemble_entries<'a>(
    entries: impl IntoIterator<Item = (Option<&'a str>, Option<impl ResourceJson<'a>>)>,
    at: &dyn Fn(usize) -> SourceLocation,
    key: &RecordKey<'_>,
    ingest: &Ingest,
    stats: &mut IngestStats,
) -> Assembled {
    // Pass 1: parse used resources, find the patients (and every name they go by) and the
    // Medications that medicationReferences point at.
    let mut parsed: Vec<(usize, Parsed)> = Vec::new();
    let mut unreadable: Vec<(usize, String)> = Vec::new();
    let mut builders: Vec<Builder> = Vec::new();
    let mut medications = MedicationIndex::new();
    for (i, (full_url, raw)) in entries.into_iter().enumerate() {
        let Some(raw) = raw else {
            stats.pass_over("Bundle entry without a resource", || at(i).to_string());
            continue;
        };
        match parse_resource(raw, stats) {
            Ok(Some(Parsed::Patient(p))) => {
                let mut names = Vec::new();
                if let Some(url) = full_url {
                    names.push(url.to_owned());
                }
                if let Some(id) = &p.id {
                    names.push(format!("Patient/{id}"));
                }
                let key = key(p.id.as_deref(), full_url, i);
                stats.use_resource("Patient");
                builders.push(Builder::new(key, at(i), p, names));
            }
            Ok(Some(Parsed::Medication(m))) => {
                index_medication(m, full_url, &mut medications, stats)
            }
            Ok(Some(other)) => parsed.push((i, other)),
            Ok(None) => {}
            Err(message) => unreadable.push((i, message)),
        }
    }
    if builders.is_empty() {
        return Assembled::NoPatient(unreadable.into_iter().next().map(|(i, message)| {
            RecordError {
                location: at(i),
                key: None,
                message,
            }
        }));
    }
    // An unreadable entry could belong to anyone; with one patient, it is theirs.
    for (i, message) in unreadable {
        if builders.len() == 1 {
            builders[0].fail(at(i), message);
        } else {
            return Assembled::Unreadable { entry: i, message };
        }
    }

    // Pass 2: attach every resource to its patient.
    for (i, resource) in parsed {
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
            Some(owner) => builders[owner].add(resource, &at(i), &medications, ingest, stats),
            None => stats.drop_resource("unknown patient reference"),
        }
    }
    Assembled::Records(
        builders
            .into_iter()
            .map(|b| b.finish(ingest, stats))
            .collect(),
    )
}
