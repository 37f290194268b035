//! One patient's record from its parsed resources, shared by Bundle and Bulk reading: parse a
//! resource of a used type, index Medications, attach each resource to its patient (mapped,
//! codes translated, units normalised) or count why it was dropped, and finish the record
//! (identifier guard, age).

use serde::Deserialize;

use super::error::RecordError;
use super::mapping::{
    MapContext, MedicationIndex, age_at, concept, map_allergy, map_condition, map_medication,
    map_observation, normalise_reference,
};
use super::options::Ingest;
use super::record::{CodingOrigin, Record, SourceLocation};
use super::shapes::{
    FhirAllergy, FhirCondition, FhirMedication, FhirMedicationUse, FhirObservation, FhirPatient,
    ResourceHead,
};
use super::stats::IngestStats;
use super::terminology::{CodingStats, Terminology};
use super::units::{self, UnitStats};
use crate::wit::{Allergy, Condition, Medication, Observation, ObservationValue, Patient, Sex};

/// A resource of a used type, parsed but not yet attached to its patient.
pub(crate) enum Parsed {
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
    pub(crate) fn subject(&self) -> Option<&str> {
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
pub(crate) fn is_used_type(resource_type: &str) -> bool {
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
pub(crate) fn parse_resource(raw: &str, stats: &mut IngestStats) -> Result<Option<Parsed>, String> {
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
pub(crate) fn index_medication(
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
pub(crate) struct Builder {
    key: String,
    location: SourceLocation,
    patient: FhirPatient,
    /// Every reference that names this patient (fullUrl, `Patient/id`).
    pub(crate) names: Vec<String>,
    conditions: Vec<Condition>,
    observations: Vec<Observation>,
    medications: Vec<Medication>,
    allergies: Vec<Allergy>,
    coding: CodingOrigin,
    /// The first reason this record cannot be evaluated, if any.
    error: Option<RecordError>,
}

impl Builder {
    pub(crate) fn new(
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

    pub(crate) fn fail(&mut self, location: SourceLocation, message: String) {
        if self.error.is_none() {
            self.error = Some(RecordError {
                location,
                key: Some(self.key.clone()),
                message,
            });
        }
    }

    pub(crate) fn finish(
        self,
        ingest: &Ingest,
        stats: &mut IngestStats,
    ) -> Result<Record, RecordError> {
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
        // A canonical order within each section, whatever the export's layout: a Bundle
        // lists a patient's resources in one order, Bulk NDJSON files in another, and a
        // plugin that walks its list may do different work (the same cards, different fuel,
        // was seen between the two formats of one cohort).
        let (mut conditions, mut observations, mut medications, mut allergies) = (
            self.conditions,
            self.observations,
            self.medications,
            self.allergies,
        );
        canonical_order(&mut conditions);
        canonical_order(&mut observations);
        canonical_order(&mut medications);
        canonical_order(&mut allergies);
        Ok(Record {
            key: self.key,
            source: self.location,
            patient: Patient {
                age_years,
                sex,
                conditions,
                observations,
                medications,
                allergies,
            },
            coding: self.coding,
        })
    }

    /// Maps one parsed resource into this record (codes translated, units normalised), or
    /// drops it with a counted reason.
    pub(crate) fn add(
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

/// Sorts a section's items by their serialised form: a total order over every field, so that
/// two exports of the same data give the same request.
fn canonical_order<T: serde::Serialize>(items: &mut [T]) {
    if items.len() > 1 {
        items.sort_by_cached_key(|item| serde_json::to_vec(item).expect("a WIT value serialises"));
    }
}
