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
use super::record::{CodingOrigin, Record, SourceCodings, SourceLocation, WithheldValue};
use super::shapes::{
    FhirAllergy, FhirCondition, FhirMedication, FhirMedicationUse, FhirObservation, FhirPatient,
    ResourceType,
};
use super::stats::IngestStats;
use super::terminology::{CodingStats, Terminology};
use super::units::{self, UnitStats, Withheld};
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

/// One resource's JSON as it was read: the text of a Bundle entry or a Bulk line, or a value
/// a CDS Hooks service was sent (read where it is, not written out as text and parsed again).
pub(crate) trait ResourceJson<'a>: Copy {
    fn read<T: Deserialize<'a>>(self) -> serde_json::Result<T>;
}

impl<'a> ResourceJson<'a> for &'a str {
    fn read<T: Deserialize<'a>>(self) -> serde_json::Result<T> {
        serde_json::from_str(self)
    }
}

impl<'a> ResourceJson<'a> for &'a serde_json::Value {
    fn read<T: Deserialize<'a>>(self) -> serde_json::Result<T> {
        T::deserialize(self)
    }
}

/// Parses one resource if its type is one the record uses; `Ok(None)` for other types.
pub(crate) fn parse_resource<'a>(
    raw: impl ResourceJson<'a>,
    stats: &mut IngestStats,
) -> Result<Option<Parsed>, String> {
    let head: ResourceType = raw
        .read()
        .map_err(|e| format!("not a FHIR resource: {e}"))?;
    let Some(resource_type) = head.resource_type else {
        return Err("resource has no resourceType".into());
    };
    stats.resources += 1;
    fn typed<'a, T: Deserialize<'a>>(raw: impl ResourceJson<'a>, ty: &str) -> Result<T, String> {
        raw.read()
            .map_err(|e| format!("{ty} does not have the FHIR R4 shape: {e}"))
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
    // Each item with how many of its codings the source wrote (before translation).
    conditions: Vec<(Condition, usize)>,
    observations: Vec<(Observation, usize)>,
    medications: Vec<(Medication, usize)>,
    allergies: Vec<(Allergy, usize)>,
    withheld: Vec<WithheldValue>,
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
            withheld: Vec::new(),
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
                stats.identified_records_refused += 1;
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
        let (conditions, source_conditions) = canonical_order(self.conditions);
        let (observations, source_observations) = canonical_order(self.observations);
        let (medications, source_medications) = canonical_order(self.medications);
        let (allergies, source_allergies) = canonical_order(self.allergies);
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
            source_codings: SourceCodings {
                conditions: source_conditions,
                observations: source_observations,
                medications: source_medications,
                allergies: source_allergies,
            },
            withheld: self.withheld,
        })
    }

    /// Maps one parsed resource, read at `location`, into this record (codes translated,
    /// units normalised), or drops it with a counted reason.
    pub(crate) fn add(
        &mut self,
        resource: Parsed,
        location: &SourceLocation,
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
                let written = c.code.len();
                terms.translate(&mut c.code, &mut stats.codings);
                self.conditions.push((c, written));
                "Condition"
            }),
            Parsed::Observation(r) => map_observation(r, &ctx).and_then(|mut o| {
                let written = o.code.len();
                let (own, components) =
                    enrich_observation(&mut o, terms, &mut stats.codings, &mut stats.units);
                let whole = own.is_some();
                for (observation, reason) in own.into_iter().chain(components) {
                    stats.withhold(&reason, location);
                    self.withheld.push(WithheldValue {
                        observation,
                        reason,
                        location: location.clone(),
                    });
                }
                // Its own value withheld, the observation is not given at all: a plugin
                // must not read an eGFR it cannot trust as "no recent eGFR" either way, but
                // an observation without its value could be read as one.
                if whole {
                    return Err("value withheld (unit or plausibility)");
                }
                self.observations.push((o, written));
                Ok("Observation")
            }),
            Parsed::MedicationUse(r, kind) => map_medication(r, &ctx).map(|mut m| {
                self.coding = self.coding.with(&m.code);
                let written = m.code.len();
                terms.translate(&mut m.code, &mut stats.codings);
                if let Some(dose) = &mut m.daily_dose {
                    units::normalise_dose(dose, &mut stats.units);
                }
                self.medications.push((m, written));
                kind
            }),
            Parsed::Allergy(r) => map_allergy(r, &ctx).map(|mut a| {
                let written = a.code.len();
                terms.translate(&mut a.code, &mut stats.codings);
                self.allergies.push((a, written));
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
/// may only be recognisable by its mapped code. Returns what was withheld ([`units`]): the
/// observation's own value (the caller leaves the observation out), and the components,
/// which are taken out of it here.
#[allow(clippy::type_complexity)]
fn enrich_observation(
    o: &mut Observation,
    terms: &Terminology,
    codings: &mut CodingStats,
    unit_stats: &mut UnitStats,
) -> (
    Option<(Observation, Withheld)>,
    Vec<(Observation, Withheld)>,
) {
    fn enrich_value(
        value: &mut Option<ObservationValue>,
        code: &[crate::wit::Coding],
        terms: &Terminology,
        codings: &mut CodingStats,
        unit_stats: &mut UnitStats,
    ) -> Result<(), Withheld> {
        match value {
            Some(ObservationValue::Quantity(q)) => {
                units::normalise_observation(code, q, unit_stats)
            }
            Some(ObservationValue::Coded(c)) => {
                terms.translate(c, codings);
                Ok(())
            }
            _ => Ok(()),
        }
    }
    terms.translate(&mut o.code, codings);
    let own = enrich_value(&mut o.value, &o.code, terms, codings, unit_stats)
        .err()
        .map(|reason| (o.clone(), reason));
    let mut withheld = Vec::new();
    let mut components = std::mem::take(&mut o.components);
    components.retain_mut(|c| {
        terms.translate(&mut c.code, codings);
        match enrich_value(&mut c.value, &c.code, terms, codings, unit_stats) {
            Ok(()) => true,
            Err(reason) => {
                // The component as a plugin would have been given it: its code and value at
                // the observation's date.
                let alone = Observation {
                    code: c.code.clone(),
                    category: o.category,
                    origin: o.origin,
                    effective_days_ago: o.effective_days_ago,
                    value: c.value.clone(),
                    components: Vec::new(),
                };
                withheld.push((alone, reason));
                false
            }
        }
    });
    o.components = components;
    (own, withheld)
}

/// Sorts a section's items by their serialised form: a total order over every field, so that
/// two exports of the same data give the same request. Each item's count of source codings
/// moves with it; returned beside the items.
fn canonical_order<T: serde::Serialize>(mut items: Vec<(T, usize)>) -> (Vec<T>, Vec<usize>) {
    if items.len() > 1 {
        items.sort_by_cached_key(|(item, _)| {
            serde_json::to_vec(item).expect("a WIT value serialises")
        });
    }
    items.into_iter().unzip()
}
