//! FHIR R4 JSON for the latent patients: typed structs with a fixed field order, so the output
//! is byte-stable whatever serde_json features the build enables.

use jiff::civil::Date;
use serde::Serialize;

use super::codes::{self, Coding};
use super::scenario::{Category, ObsKind, Patient, Performer, Value};

/// The resource types written, in Bulk Data file order (`<Type>.000.ndjson`).
pub const RESOURCE_TYPES: [&str; 6] = [
    "Patient",
    "Condition",
    "Observation",
    "MedicationRequest",
    "AllergyIntolerance",
    "Encounter",
];

/// How resources point at their patient.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RefStyle {
    /// `urn:uuid:<patient uuid>`, resolvable inside a Bundle.
    Bundle,
    /// `Patient/<pseudonym>`, as in FHIR Bulk Data NDJSON.
    Ndjson,
}

#[derive(Serialize)]
pub struct CodeableConcept {
    coding: &'static [Coding],
}

fn cc(coding: &'static [Coding]) -> CodeableConcept {
    CodeableConcept { coding }
}

#[derive(Serialize)]
pub struct Reference<'a> {
    reference: &'a str,
}

#[derive(Serialize)]
#[serde(untagged)]
pub enum Number {
    Int(i64),
    Dec(f64),
}

impl From<Value> for Number {
    fn from(v: Value) -> Self {
        match v {
            Value::Int(i) => Number::Int(i),
            // Tenths are small integers: t / 10.0 is the correctly rounded decimal, which
            // serde_json prints shortest-first (`5.2`, `5.0`; never `5.2000000000000002`).
            Value::Tenths(t) => Number::Dec(t as f64 / 10.0),
        }
    }
}

#[derive(Serialize)]
pub struct Quantity {
    value: Number,
    unit: &'static str,
    system: &'static str,
    code: &'static str,
}

fn quantity(value: Number, unit: &'static str) -> Quantity {
    Quantity {
        value,
        unit,
        system: codes::UCUM,
        code: unit,
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PatientResource<'a> {
    id: &'a str,
    gender: &'static str,
    birth_date: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConditionResource<'a> {
    id: &'a str,
    clinical_status: CodeableConcept,
    verification_status: CodeableConcept,
    code: CodeableConcept,
    subject: Reference<'a>,
    onset_date_time: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    abatement_date_time: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Component {
    code: CodeableConcept,
    value_quantity: Quantity,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ObservationResource<'a> {
    id: &'a str,
    status: &'static str,
    category: [CodeableConcept; 1],
    code: CodeableConcept,
    subject: Reference<'a>,
    effective_date_time: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    performer: Option<[Reference<'a>; 1]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    value_quantity: Option<Quantity>,
    #[serde(skip_serializing_if = "Option::is_none")]
    component: Option<[Component; 2]>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Repeat {
    frequency: u32,
    period: u32,
    period_unit: &'static str,
}

#[derive(Serialize)]
pub struct Timing {
    repeat: Repeat,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DoseAndRate {
    dose_quantity: Quantity,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Dosage {
    timing: Timing,
    dose_and_rate: [DoseAndRate; 1],
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MedicationRequestResource<'a> {
    id: &'a str,
    status: &'static str,
    intent: &'static str,
    medication_codeable_concept: CodeableConcept,
    subject: Reference<'a>,
    authored_on: String,
    dosage_instruction: [Dosage; 1],
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AllergyIntoleranceResource<'a> {
    id: &'a str,
    clinical_status: CodeableConcept,
    verification_status: CodeableConcept,
    #[serde(rename = "type")]
    kind: &'static str,
    category: [&'static str; 1],
    code: CodeableConcept,
    patient: Reference<'a>,
}

#[derive(Serialize)]
pub struct Period {
    start: String,
    end: String,
}

#[derive(Serialize)]
pub struct EncounterResource<'a> {
    id: &'a str,
    status: &'static str,
    class: Coding,
    subject: Reference<'a>,
    period: Period,
}

/// One FHIR resource; `resourceType` comes first.
#[derive(Serialize)]
#[serde(tag = "resourceType")]
pub enum Resource<'a> {
    Patient(PatientResource<'a>),
    Condition(ConditionResource<'a>),
    Observation(ObservationResource<'a>),
    MedicationRequest(MedicationRequestResource<'a>),
    AllergyIntolerance(AllergyIntoleranceResource<'a>),
    Encounter(EncounterResource<'a>),
}

/// A resource with its Bundle `fullUrl` uuid and its index in [`RESOURCE_TYPES`].
pub struct Rendered<'a> {
    pub type_index: usize,
    pub uuid: &'a str,
    pub resource: Resource<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Entry<'a> {
    full_url: String,
    resource: Resource<'a>,
}

/// A FHIR R4 `collection` Bundle.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Bundle<'a> {
    resource_type: &'static str,
    #[serde(rename = "type")]
    kind: &'static str,
    entry: Vec<Entry<'a>>,
}

impl<'a> Bundle<'a> {
    pub fn new(resources: Vec<Rendered<'a>>) -> Self {
        Bundle {
            resource_type: "Bundle",
            kind: "collection",
            entry: resources
                .into_iter()
                .map(|r| Entry {
                    full_url: format!("urn:uuid:{}", r.uuid),
                    resource: r.resource,
                })
                .collect(),
        }
    }
}

/// Dates relative to the cohort's `as_of`.
struct Clock(Date);

impl Clock {
    fn date(&self, days_ago: u32) -> String {
        self.0
            .saturating_sub(jiff::Span::new().days(i64::from(days_ago)))
            .to_string()
    }

    fn date_time(&self, days_ago: u32, (h, m, s): (u8, u8, u8)) -> String {
        format!("{}T{h:02}:{m:02}:{s:02}+01:00", self.date(days_ago))
    }
}

/// Renders a patient's resources: Patient first, then conditions, observations, medication
/// requests, allergies and encounters. `patient_ref` is the reference string to the patient.
pub fn render<'a>(p: &'a Patient, as_of: Date, patient_ref: &'a str) -> Vec<Rendered<'a>> {
    let clock = Clock(as_of);
    let us = p.us;
    let subject = || Reference {
        reference: patient_ref,
    };
    let mut out = Vec::with_capacity(
        1 + p.conditions.len()
            + p.observations.len()
            + p.medications.len()
            + p.allergies.len()
            + p.encounters.len(),
    );
    out.push(Rendered {
        type_index: 0,
        uuid: &p.uuid,
        resource: Resource::Patient(PatientResource {
            id: &p.pseudonym,
            gender: p.gender.code(),
            birth_date: format!("{:04}", p.birth_year),
        }),
    });
    for c in &p.conditions {
        out.push(Rendered {
            type_index: 1,
            uuid: &c.uuid,
            resource: Resource::Condition(ConditionResource {
                id: &c.uuid,
                clinical_status: cc(&codes::CONDITION_STATUS[c.status.index()]),
                verification_status: cc(&codes::CONFIRMED),
                code: cc(c.kind.term().codings(us)),
                subject: subject(),
                onset_date_time: clock.date(c.onset_days),
                abatement_date_time: c.abated_days.map(|d| clock.date(d)),
            }),
        });
    }
    for o in &p.observations {
        let resource = match &o.kind {
            ObsKind::Lab { kind, value } => ObservationResource {
                id: &o.uuid,
                status: "final",
                category: [cc(match kind.category() {
                    Category::Laboratory => &codes::CAT_LABORATORY,
                    Category::Survey => &codes::CAT_SURVEY,
                })],
                code: cc(kind.term().codings(us)),
                subject: subject(),
                effective_date_time: clock.date(o.days_ago),
                performer: None,
                value_quantity: Some(quantity((*value).into(), kind.unit(us))),
                component: None,
            },
            ObsKind::BloodPressure {
                systolic,
                diastolic,
                performer,
                time,
            } => ObservationResource {
                id: &o.uuid,
                status: "final",
                category: [cc(&codes::CAT_VITAL_SIGNS)],
                code: cc(&codes::BP_PANEL),
                subject: subject(),
                effective_date_time: clock.date_time(o.days_ago, *time),
                performer: match performer {
                    Performer::Patient => Some([subject()]),
                    Performer::Practitioner(reference) => Some([Reference { reference }]),
                    Performer::Unrecorded => None,
                },
                value_quantity: None,
                component: Some([
                    Component {
                        code: cc(&codes::BP_SYSTOLIC),
                        value_quantity: quantity(Number::Int(*systolic), "mm[Hg]"),
                    },
                    Component {
                        code: cc(&codes::BP_DIASTOLIC),
                        value_quantity: quantity(Number::Int(*diastolic), "mm[Hg]"),
                    },
                ]),
            },
        };
        out.push(Rendered {
            type_index: 2,
            uuid: &o.uuid,
            resource: Resource::Observation(resource),
        });
    }
    for m in &p.medications {
        let dose = if m.dose_ug % 1000 == 0 {
            Number::Int(i64::from(m.dose_ug / 1000))
        } else {
            Number::Dec(f64::from(m.dose_ug) / 1000.0)
        };
        out.push(Rendered {
            type_index: 3,
            uuid: &m.uuid,
            resource: Resource::MedicationRequest(MedicationRequestResource {
                id: &m.uuid,
                status: m.status.code(),
                intent: "order",
                medication_codeable_concept: cc(m.kind.term().codings(us)),
                subject: subject(),
                authored_on: clock.date(m.authored_days),
                dosage_instruction: [Dosage {
                    timing: Timing {
                        repeat: Repeat {
                            frequency: m.frequency,
                            period: m.period_days,
                            period_unit: "d",
                        },
                    },
                    dose_and_rate: [DoseAndRate {
                        dose_quantity: quantity(dose, "mg"),
                    }],
                }],
            }),
        });
    }
    for a in &p.allergies {
        out.push(Rendered {
            type_index: 4,
            uuid: &a.uuid,
            resource: Resource::AllergyIntolerance(AllergyIntoleranceResource {
                id: &a.uuid,
                clinical_status: cc(&codes::ALLERGY_STATUS[usize::from(!a.active)]),
                verification_status: cc(&codes::ALLERGY_CONFIRMED),
                kind: "allergy",
                category: ["medication"],
                code: cc(codes::PENICILLIN.codings(us)),
                patient: subject(),
            }),
        });
    }
    for e in &p.encounters {
        let (h, m) = e.time;
        out.push(Rendered {
            type_index: 5,
            uuid: &e.uuid,
            resource: Resource::Encounter(EncounterResource {
                id: &e.uuid,
                status: "finished",
                class: codes::ENCOUNTER_CLASS[e.class],
                subject: subject(),
                period: Period {
                    start: clock.date_time(e.days_ago, (h, m, 0)),
                    end: clock.date_time(e.days_ago, (h, m + 4, 0)),
                },
            }),
        });
    }
    out
}
