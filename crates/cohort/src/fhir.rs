//! FHIR R4 JSON for the latent patients: typed structs with a fixed field order, so the output
//! is byte-stable whatever serde_json features the build enables.
//!
//! The shapes real exports write are all here, each on a fraction of the items (drawn in
//! `scenario.rs`): `medicationReference` to a `Medication` resource (a Bundle entry with a
//! `urn:uuid:` fullUrl, or a line of `Medication.000.ndjson` referenced as `Medication/<id>`),
//! a `contained` Medication referenced as `#med`, `MedicationStatement` (patient-reported, with
//! `dosage` instead of `dosageInstruction`), Observations timed by `effectivePeriod` or only by
//! `issued`, `comparator` on quantities, Conditions without `verificationStatus` or with
//! `refuted` / `entered-in-error` (the latter without `clinicalStatus`, FHIR con-5), and
//! extensions, core and vendor.
//!
//! The Synthea shape's padding resources (Claim, ExplanationOfBenefit, ...) are defined here
//! too and built by `synthea.rs`: [`Resource`] names only this module's types, so this module
//! does not depend on `synthea.rs`.

use std::borrow::Cow;

use jiff::civil::Date;
use serde::Serialize;

use crate::codes::{self, Coding};
use crate::patient::{
    Category, Hms, LabKind, LabTiming, MedForm, ObsKind, Patient, Performer, Value, Verification,
};
use crate::spec::CohortShape;

/// Every resource type the generator writes, in Bulk Data file order (`<Type>.000.ndjson`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum ResourceType {
    Patient,
    Condition,
    Observation,
    MedicationRequest,
    MedicationStatement,
    Medication,
    AllergyIntolerance,
    Encounter,
    // The Synthea shape's padding.
    Claim,
    ExplanationOfBenefit,
    DiagnosticReport,
    Immunization,
    Procedure,
    CarePlan,
    CareTeam,
    ImagingStudy,
    Provenance,
}

impl ResourceType {
    pub const ALL: [ResourceType; 17] = [
        ResourceType::Patient,
        ResourceType::Condition,
        ResourceType::Observation,
        ResourceType::MedicationRequest,
        ResourceType::MedicationStatement,
        ResourceType::Medication,
        ResourceType::AllergyIntolerance,
        ResourceType::Encounter,
        ResourceType::Claim,
        ResourceType::ExplanationOfBenefit,
        ResourceType::DiagnosticReport,
        ResourceType::Immunization,
        ResourceType::Procedure,
        ResourceType::CarePlan,
        ResourceType::CareTeam,
        ResourceType::ImagingStudy,
        ResourceType::Provenance,
    ];

    /// The types the plain shape writes (the first eight of [`Self::ALL`]).
    pub const PLAIN: &'static [ResourceType] = {
        let (plain, _) = Self::ALL.split_at(8);
        plain
    };

    pub fn name(self) -> &'static str {
        match self {
            ResourceType::Patient => "Patient",
            ResourceType::Condition => "Condition",
            ResourceType::Observation => "Observation",
            ResourceType::MedicationRequest => "MedicationRequest",
            ResourceType::MedicationStatement => "MedicationStatement",
            ResourceType::Medication => "Medication",
            ResourceType::AllergyIntolerance => "AllergyIntolerance",
            ResourceType::Encounter => "Encounter",
            ResourceType::Claim => "Claim",
            ResourceType::ExplanationOfBenefit => "ExplanationOfBenefit",
            ResourceType::DiagnosticReport => "DiagnosticReport",
            ResourceType::Immunization => "Immunization",
            ResourceType::Procedure => "Procedure",
            ResourceType::CarePlan => "CarePlan",
            ResourceType::CareTeam => "CareTeam",
            ResourceType::ImagingStudy => "ImagingStudy",
            ResourceType::Provenance => "Provenance",
        }
    }

    /// The types the `shape` writes, in [`Self::ALL`] order.
    pub fn written_in(shape: CohortShape) -> &'static [ResourceType] {
        match shape {
            CohortShape::Plain => ResourceType::PLAIN,
            CohortShape::Synthea => &ResourceType::ALL,
        }
    }

    /// Position in [`Self::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }
}

/// How resources point at each other.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RefStyle {
    /// `urn:uuid:<uuid>`, resolvable inside a Bundle.
    Bundle,
    /// `<Type>/<id>`, as in FHIR Bulk Data NDJSON.
    Ndjson,
}

impl RefStyle {
    /// The reference to the resource of type `t` whose id (and Bundle uuid) is `uuid`.
    pub fn to(self, t: ResourceType, uuid: &str) -> Reference {
        let reference = match self {
            RefStyle::Bundle => format!("urn:uuid:{uuid}"),
            RefStyle::Ndjson => format!("{}/{uuid}", t.name()),
        };
        Reference { reference }
    }

    /// The reference to the patient: by uuid in a Bundle, by pseudonym (the Patient's id) in
    /// NDJSON.
    pub fn patient(self, p: &Patient) -> Reference {
        match self {
            RefStyle::Bundle => self.to(ResourceType::Patient, &p.uuid),
            RefStyle::Ndjson => self.to(ResourceType::Patient, &p.pseudonym),
        }
    }
}

#[derive(Serialize)]
pub struct CodeableConcept {
    coding: &'static [Coding],
}

pub fn cc(coding: &'static [Coding]) -> CodeableConcept {
    CodeableConcept { coding }
}

#[derive(Clone, Serialize)]
pub struct Reference {
    reference: String,
}

impl Reference {
    /// A reference to something outside the export (a practitioner, an organisation).
    pub fn external(reference: String) -> Reference {
        Reference { reference }
    }
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
            // Tenths and hundredths are small integers: t / 10.0 is the correctly rounded
            // decimal, which serde_json prints shortest-first (`5.2`, `5.0`; never
            // `5.2000000000000002`).
            Value::Tenths(t) => Number::Dec(t as f64 / 10.0),
            Value::Hundredths(h) => Number::Dec(h as f64 / 100.0),
        }
    }
}

#[derive(Serialize)]
pub struct Quantity {
    value: Number,
    #[serde(skip_serializing_if = "Option::is_none")]
    comparator: Option<&'static str>,
    unit: &'static str,
    system: &'static str,
    code: &'static str,
}

/// A UCUM quantity.
pub fn quantity(value: Number, unit: &'static str) -> Quantity {
    Quantity {
        value,
        comparator: None,
        unit,
        system: codes::UCUM,
        code: unit,
    }
}

#[derive(Clone, Serialize)]
pub struct Period {
    start: String,
    end: String,
}

impl Period {
    pub fn new(start: String, end: String) -> Period {
        Period { start, end }
    }

    pub fn end(&self) -> &str {
        &self.end
    }
}

/// A FHIR extension with one of the value types the generator writes.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Extension {
    url: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    value_code: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    value_date_time: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    value_codeable_concept: Option<CodeableConcept>,
}

impl Extension {
    fn code(url: &'static str, code: &'static str) -> Extension {
        Extension {
            url,
            value_code: Some(code),
            value_date_time: None,
            value_codeable_concept: None,
        }
    }

    fn date_time(url: &'static str, when: String) -> Extension {
        Extension {
            url,
            value_code: None,
            value_date_time: Some(when),
            value_codeable_concept: None,
        }
    }

    fn concept(url: &'static str, coding: &'static [Coding]) -> Extension {
        Extension {
            url,
            value_code: None,
            value_date_time: None,
            value_codeable_concept: Some(cc(coding)),
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PatientResource<'a> {
    id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    extension: Option<[Extension; 1]>,
    gender: &'static str,
    birth_date: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConditionResource<'a> {
    id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    extension: Option<[Extension; 1]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    clinical_status: Option<CodeableConcept>,
    #[serde(skip_serializing_if = "Option::is_none")]
    verification_status: Option<CodeableConcept>,
    code: CodeableConcept,
    subject: Reference,
    onset_date_time: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    abatement_date_time: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Component {
    code: CodeableConcept,
    #[serde(skip_serializing_if = "Option::is_none")]
    value_quantity: Option<Quantity>,
    #[serde(skip_serializing_if = "Option::is_none")]
    value_integer: Option<i64>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ObservationResource<'a> {
    pub(super) id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) extension: Option<[Extension; 1]>,
    pub(super) status: &'static str,
    pub(super) category: [CodeableConcept; 1],
    pub(super) code: CodeableConcept,
    pub(super) subject: Reference,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) encounter: Option<Reference>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) effective_date_time: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) effective_period: Option<Period>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) issued: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) performer: Option<[Reference; 1]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) value_quantity: Option<Quantity>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) value_codeable_concept: Option<CodeableConcept>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) component: Option<Vec<Component>>,
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
pub struct MedicationResource<'a> {
    id: &'a str,
    code: CodeableConcept,
}

/// A resource inside another's `contained`.
#[derive(Serialize)]
#[serde(tag = "resourceType")]
pub enum Contained<'a> {
    Medication(MedicationResource<'a>),
}

/// The local id of a contained Medication.
const CONTAINED_MEDICATION: &str = "med";

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MedicationRequestResource<'a> {
    id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    extension: Option<[Extension; 1]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    contained: Option<[Contained<'a>; 1]>,
    status: &'static str,
    intent: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    medication_codeable_concept: Option<CodeableConcept>,
    #[serde(skip_serializing_if = "Option::is_none")]
    medication_reference: Option<Reference>,
    subject: Reference,
    authored_on: String,
    dosage_instruction: [Dosage; 1],
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MedicationStatementResource<'a> {
    id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    extension: Option<[Extension; 1]>,
    status: &'static str,
    medication_codeable_concept: CodeableConcept,
    subject: Reference,
    effective_date_time: String,
    date_asserted: String,
    information_source: Reference,
    dosage: [Dosage; 1],
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
    patient: Reference,
}

/// `Encounter.participant`.
#[derive(Serialize)]
pub struct Participant {
    #[serde(rename = "type")]
    kind: [CodeableConcept; 1],
    period: Period,
    individual: Reference,
}

impl Participant {
    pub fn primary_performer(period: Period, individual: Reference) -> Participant {
        Participant {
            kind: [cc(&codes::PRIMARY_PERFORMER)],
            period,
            individual,
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EncounterResource<'a> {
    pub(super) id: &'a str,
    pub(super) status: &'static str,
    pub(super) class: Coding,
    /// The Synthea shape's encounters say more: type, participant, provider.
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub(super) kind: Option<[CodeableConcept; 1]>,
    pub(super) subject: Reference,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) participant: Option<[Participant; 1]>,
    pub(super) period: Period,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) service_provider: Option<Reference>,
}

// ------------------------------------------------------------------ the Synthea shape's padding
// Built by `synthea.rs`; here so that `Resource` names only this module's types.
#[derive(Serialize)]
pub struct Money {
    pub(super) value: Number,
    pub(super) currency: &'static str,
}

/// A reference by display only (a payer outside the export).
#[derive(Serialize)]
pub struct Display {
    pub(super) display: &'static str,
}

/// A period that has not ended.
#[derive(Serialize)]
pub struct Since {
    pub(super) start: String,
}

#[derive(Serialize)]
pub struct ClaimInsurance {
    pub(super) sequence: u32,
    pub(super) focal: bool,
    pub(super) coverage: Display,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ClaimItem {
    pub(super) sequence: u32,
    pub(super) product_or_service: CodeableConcept,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) encounter: Option<[Reference; 1]>,
    pub(super) net: Money,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ClaimResource<'a> {
    pub(super) id: &'a str,
    pub(super) status: &'static str,
    #[serde(rename = "type")]
    pub(super) kind: CodeableConcept,
    #[serde(rename = "use")]
    pub(super) purpose: &'static str,
    pub(super) patient: Reference,
    pub(super) billable_period: Period,
    pub(super) created: String,
    pub(super) provider: Reference,
    pub(super) priority: CodeableConcept,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) prescription: Option<Reference>,
    pub(super) insurance: [ClaimInsurance; 1],
    pub(super) item: [ClaimItem; 1],
    pub(super) total: Money,
}

#[derive(Serialize)]
pub struct Adjudication {
    pub(super) category: CodeableConcept,
    pub(super) amount: Money,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EobItem {
    pub(super) sequence: u32,
    pub(super) category: CodeableConcept,
    pub(super) product_or_service: CodeableConcept,
    pub(super) serviced_period: Period,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) encounter: Option<[Reference; 1]>,
    pub(super) adjudication: [Adjudication; 5],
}

#[derive(Serialize)]
pub struct EobCareTeam {
    pub(super) sequence: u32,
    pub(super) provider: Reference,
    pub(super) role: CodeableConcept,
}

#[derive(Serialize)]
pub struct EobInsurance {
    pub(super) focal: bool,
    pub(super) coverage: Display,
}

#[derive(Serialize)]
pub struct Payment {
    pub(super) amount: Money,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExplanationOfBenefitResource<'a> {
    pub(super) id: &'a str,
    pub(super) status: &'static str,
    #[serde(rename = "type")]
    pub(super) kind: CodeableConcept,
    #[serde(rename = "use")]
    pub(super) purpose: &'static str,
    pub(super) patient: Reference,
    pub(super) billable_period: Period,
    pub(super) created: String,
    pub(super) insurer: Display,
    pub(super) provider: Reference,
    pub(super) claim: Reference,
    pub(super) outcome: &'static str,
    pub(super) care_team: [EobCareTeam; 1],
    pub(super) insurance: [EobInsurance; 1],
    pub(super) item: [EobItem; 1],
    pub(super) total: [Adjudication; 2],
    pub(super) payment: Payment,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DiagnosticReportResource<'a> {
    pub(super) id: &'a str,
    pub(super) status: &'static str,
    pub(super) category: [CodeableConcept; 1],
    pub(super) code: CodeableConcept,
    pub(super) subject: Reference,
    pub(super) effective_date_time: String,
    pub(super) issued: String,
    pub(super) performer: [Reference; 1],
    pub(super) result: [Reference; 1],
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ImmunizationResource<'a> {
    pub(super) id: &'a str,
    pub(super) status: &'static str,
    pub(super) vaccine_code: CodeableConcept,
    pub(super) patient: Reference,
    pub(super) occurrence_date_time: String,
    pub(super) primary_source: bool,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProcedureResource<'a> {
    pub(super) id: &'a str,
    pub(super) status: &'static str,
    pub(super) code: CodeableConcept,
    pub(super) subject: Reference,
    pub(super) encounter: Reference,
    pub(super) performed_period: Period,
}

#[derive(Serialize)]
pub struct ActivityDetail {
    pub(super) code: CodeableConcept,
    pub(super) status: &'static str,
}

#[derive(Serialize)]
pub struct Activity {
    pub(super) detail: ActivityDetail,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CarePlanResource<'a> {
    pub(super) id: &'a str,
    pub(super) status: &'static str,
    pub(super) intent: &'static str,
    pub(super) category: [CodeableConcept; 2],
    pub(super) subject: Reference,
    pub(super) period: Since,
    pub(super) care_team: [Reference; 1],
    pub(super) addresses: [Reference; 1],
    pub(super) activity: [Activity; 2],
}

#[derive(Serialize)]
pub struct TeamMember {
    pub(super) role: [CodeableConcept; 1],
    pub(super) member: Reference,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CareTeamResource<'a> {
    pub(super) id: &'a str,
    pub(super) status: &'static str,
    pub(super) subject: Reference,
    pub(super) period: Since,
    pub(super) participant: [TeamMember; 3],
    pub(super) reason_reference: [Reference; 1],
    pub(super) managing_organization: [Reference; 1],
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ImagingInstance<'a> {
    pub(super) uid: &'a str,
    pub(super) sop_class: Coding,
    pub(super) number: u32,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ImagingSeries<'a> {
    pub(super) uid: &'a str,
    pub(super) number: u32,
    pub(super) modality: Coding,
    pub(super) number_of_instances: u32,
    pub(super) body_site: Coding,
    pub(super) started: String,
    pub(super) instance: Vec<ImagingInstance<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ImagingStudyResource<'a> {
    pub(super) id: &'a str,
    pub(super) status: &'static str,
    pub(super) modality: [Coding; 1],
    pub(super) subject: Reference,
    pub(super) started: String,
    pub(super) number_of_series: u32,
    pub(super) number_of_instances: u32,
    pub(super) series: [ImagingSeries<'a>; 1],
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Agent {
    #[serde(rename = "type")]
    pub(super) kind: CodeableConcept,
    pub(super) who: Reference,
    pub(super) on_behalf_of: Reference,
}

#[derive(Serialize)]
pub struct ProvenanceResource<'a> {
    pub(super) id: &'a str,
    pub(super) target: Vec<Reference>,
    pub(super) recorded: String,
    pub(super) agent: [Agent; 1],
}

// ------------------------------------------------------------------ resources and Bundles

/// One FHIR resource; `resourceType` comes first.
// Only one patient's resources live at a time: unboxed variants cost a few hundred bytes each,
// boxing would cost an allocation per resource.
#[expect(
    clippy::large_enum_variant,
    reason = "short-lived, one patient at a time"
)]
#[derive(Serialize)]
#[serde(tag = "resourceType")]
pub enum Resource<'a> {
    Patient(PatientResource<'a>),
    Condition(ConditionResource<'a>),
    Observation(ObservationResource<'a>),
    MedicationRequest(MedicationRequestResource<'a>),
    MedicationStatement(MedicationStatementResource<'a>),
    Medication(MedicationResource<'a>),
    AllergyIntolerance(AllergyIntoleranceResource<'a>),
    Encounter(EncounterResource<'a>),
    Claim(ClaimResource<'a>),
    ExplanationOfBenefit(ExplanationOfBenefitResource<'a>),
    DiagnosticReport(DiagnosticReportResource<'a>),
    Immunization(ImmunizationResource<'a>),
    Procedure(ProcedureResource<'a>),
    CarePlan(CarePlanResource<'a>),
    CareTeam(CareTeamResource<'a>),
    ImagingStudy(ImagingStudyResource<'a>),
    Provenance(ProvenanceResource<'a>),
}

/// A resource with its type and its Bundle `fullUrl` uuid (also its id, except the Patient's).
pub struct Rendered<'a> {
    pub rtype: ResourceType,
    pub uuid: Cow<'a, str>,
    pub resource: Resource<'a>,
}

/// `Bundle.entry.request` of a transaction.
#[derive(Serialize)]
pub struct Request {
    method: &'static str,
    url: &'static str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Entry<'a> {
    full_url: String,
    resource: Resource<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    request: Option<Request>,
}

/// A FHIR R4 Bundle of one patient.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Bundle<'a> {
    resource_type: &'static str,
    #[serde(rename = "type")]
    kind: &'static str,
    entry: Vec<Entry<'a>>,
}

impl<'a> Bundle<'a> {
    /// A `collection` Bundle (the plain shape).
    pub fn collection(resources: Vec<Rendered<'a>>) -> Self {
        Self::new("collection", resources, false)
    }

    /// A `transaction` Bundle: every entry a `POST` to its type, as Synthea writes them.
    pub fn transaction(resources: Vec<Rendered<'a>>) -> Self {
        Self::new("transaction", resources, true)
    }

    fn new(kind: &'static str, resources: Vec<Rendered<'a>>, post: bool) -> Self {
        Bundle {
            resource_type: "Bundle",
            kind,
            entry: resources
                .into_iter()
                .map(|r| Entry {
                    full_url: format!("urn:uuid:{}", r.uuid),
                    request: post.then(|| Request {
                        method: "POST",
                        url: r.rtype.name(),
                    }),
                    resource: r.resource,
                })
                .collect(),
        }
    }
}

/// Dates relative to the cohort's `as_of`.
pub struct Clock(pub Date);

impl Clock {
    pub fn date(&self, days_ago: u32) -> String {
        self.0
            .saturating_sub(jiff::Span::new().days(i64::from(days_ago)))
            .to_string()
    }

    /// A local date-time (+01:00) that is also a valid `instant`.
    pub fn date_time(&self, days_ago: u32, (h, m, s): Hms) -> String {
        format!("{}T{h:02}:{m:02}:{s:02}+01:00", self.date(days_ago))
    }
}

/// The dosage of `frequency` doses of `dose_ug` µg per `period` days, in mg.
fn dosage(dose_ug: u32, frequency: u32, period: u32) -> Dosage {
    let dose = if dose_ug.is_multiple_of(1000) {
        Number::Int(i64::from(dose_ug / 1000))
    } else {
        Number::Dec(f64::from(dose_ug) / 1000.0)
    };
    Dosage {
        timing: Timing {
            repeat: Repeat {
                frequency,
                period,
                period_unit: "d",
            },
        },
        dose_and_rate: [DoseAndRate {
            dose_quantity: quantity(dose, "mg"),
        }],
    }
}

/// Renders a patient's resources: Patient first, then conditions, observations, medications
/// (a referenced `Medication` right before the request that names it), allergies and
/// encounters.
pub fn render<'a>(p: &'a Patient, as_of: Date, style: RefStyle) -> Vec<Rendered<'a>> {
    let clock = Clock(as_of);
    let us = p.us;
    let subject = || style.patient(p);
    let mut out = Vec::with_capacity(
        1 + p.conditions.len()
            + p.observations.len()
            + 2 * p.medications.len()
            + p.allergies.len()
            + p.encounters.len(),
    );
    let birthsex = match p.gender.code() {
        "female" => "F",
        _ => "M",
    };
    out.push(Rendered {
        rtype: ResourceType::Patient,
        uuid: Cow::Borrowed(&p.uuid),
        resource: Resource::Patient(PatientResource {
            id: &p.pseudonym,
            extension: p
                .birthsex_extension
                .then(|| [Extension::code(codes::EXT_US_CORE_BIRTHSEX, birthsex)]),
            gender: p.gender.code(),
            birth_date: format!("{:04}", p.birth_year),
        }),
    });
    for c in &p.conditions {
        let (clinical_status, verification_status) = match c.verification {
            Verification::Confirmed => (Some(c.status), Some(&codes::CONFIRMED)),
            Verification::Unstated => (Some(c.status), None),
            Verification::Refuted => (Some(c.status), Some(&codes::REFUTED)),
            // FHIR con-5: no clinicalStatus on a condition entered in error.
            Verification::EnteredInError => (None, Some(&codes::ENTERED_IN_ERROR)),
        };
        out.push(Rendered {
            rtype: ResourceType::Condition,
            uuid: Cow::Borrowed(&c.uuid),
            resource: Resource::Condition(ConditionResource {
                id: &c.uuid,
                extension: c.asserted_days.map(|d| {
                    [Extension::date_time(
                        codes::EXT_ASSERTED_DATE,
                        clock.date(d),
                    )]
                }),
                clinical_status: clinical_status.map(|s| cc(&codes::CONDITION_STATUS[s.index()])),
                verification_status: verification_status.map(|v| cc(v)),
                code: cc(c.kind.term().codings(us || c.from_letter)),
                subject: subject(),
                onset_date_time: clock.date(c.onset_days),
                abatement_date_time: c.abated_days.map(|d| clock.date(d)),
            }),
        });
    }
    for o in &p.observations {
        let resource = match &o.kind {
            ObsKind::Lab {
                kind,
                value,
                above_limit,
                timing,
            } => {
                let day = o.days_ago;
                let (effective_date_time, effective_period, issued) = match *timing {
                    LabTiming::Date => (Some(clock.date(day)), None, None),
                    LabTiming::DateAndIssued(at) => {
                        (Some(clock.date(day)), None, Some(clock.date_time(day, at)))
                    }
                    LabTiming::Period {
                        start: (h, m, s),
                        minutes,
                    } => {
                        let end = u32::from(h) * 60 + u32::from(m) + u32::from(minutes);
                        let end = ((end / 60) as u8, (end % 60) as u8, s);
                        let period =
                            Period::new(clock.date_time(day, (h, m, s)), clock.date_time(day, end));
                        (None, Some(period), None)
                    }
                    LabTiming::IssuedOnly(at) => (None, None, Some(clock.date_time(day, at))),
                };
                let (unit, codings) = match kind {
                    LabKind::Egfr => (p.egfr_report.unit(), p.egfr_report.codings(us)),
                    _ => (kind.unit(us), kind.term().codings(us)),
                };
                let mut value_quantity = quantity((*value).into(), unit);
                if *above_limit {
                    value_quantity.comparator = Some(">");
                }
                ObservationResource {
                    id: &o.uuid,
                    extension: None,
                    status: o.status.code(),
                    category: [cc(match kind.category() {
                        Category::Laboratory => &codes::CAT_LABORATORY,
                        Category::Survey => &codes::CAT_SURVEY,
                    })],
                    code: cc(codings),
                    subject: subject(),
                    encounter: None,
                    effective_date_time,
                    effective_period,
                    issued,
                    performer: None,
                    value_quantity: Some(value_quantity),
                    value_codeable_concept: None,
                    component: None,
                }
            }
            ObsKind::Smoking(status) => ObservationResource {
                id: &o.uuid,
                extension: None,
                status: o.status.code(),
                category: [cc(&codes::CAT_SOCIAL_HISTORY)],
                code: cc(&codes::SMOKING_STATUS),
                subject: subject(),
                encounter: None,
                effective_date_time: Some(clock.date(o.days_ago)),
                effective_period: None,
                issued: None,
                performer: None,
                value_quantity: None,
                value_codeable_concept: Some(cc(&codes::SMOKING_VALUES[status.index()])),
                component: None,
            },
            ObsKind::Phq9Panel { items, time } => {
                let mut component: Vec<Component> = items
                    .iter()
                    .zip(&codes::PHQ9_ITEMS)
                    .map(|(&answer, code)| Component {
                        code: cc(code),
                        value_quantity: None,
                        value_integer: Some(i64::from(answer)),
                    })
                    .collect();
                component.push(Component {
                    code: cc(&codes::PHQ9_TOTAL),
                    value_quantity: None,
                    value_integer: Some(items.iter().map(|&a| i64::from(a)).sum()),
                });
                ObservationResource {
                    id: &o.uuid,
                    extension: None,
                    status: o.status.code(),
                    category: [cc(&codes::CAT_SURVEY)],
                    code: cc(&codes::PHQ9_PANEL),
                    subject: subject(),
                    encounter: None,
                    effective_date_time: Some(clock.date_time(o.days_ago, *time)),
                    effective_period: None,
                    issued: None,
                    performer: Some([subject()]),
                    value_quantity: None,
                    value_codeable_concept: None,
                    component: Some(component),
                }
            }
            ObsKind::BloodPressure {
                systolic,
                diastolic,
                performer,
                time,
                body_position,
            } => ObservationResource {
                id: &o.uuid,
                extension: body_position.then(|| {
                    [Extension::concept(
                        codes::EXT_BODY_POSITION,
                        &codes::SITTING,
                    )]
                }),
                status: o.status.code(),
                category: [cc(&codes::CAT_VITAL_SIGNS)],
                code: cc(&codes::BP_PANEL),
                subject: subject(),
                encounter: None,
                effective_date_time: Some(clock.date_time(o.days_ago, *time)),
                effective_period: None,
                issued: None,
                performer: match performer {
                    Performer::Patient => Some([subject()]),
                    Performer::Practitioner(reference) => {
                        Some([Reference::external(reference.clone())])
                    }
                    Performer::Unrecorded => None,
                },
                value_quantity: None,
                value_codeable_concept: None,
                component: Some(vec![
                    Component {
                        code: cc(&codes::BP_SYSTOLIC),
                        value_quantity: Some(quantity(Number::Int(*systolic), "mm[Hg]")),
                        value_integer: None,
                    },
                    Component {
                        code: cc(&codes::BP_DIASTOLIC),
                        value_quantity: Some(quantity(Number::Int(*diastolic), "mm[Hg]")),
                        value_integer: None,
                    },
                ]),
            },
        };
        out.push(Rendered {
            rtype: ResourceType::Observation,
            uuid: Cow::Borrowed(&o.uuid),
            resource: Resource::Observation(resource),
        });
    }
    for m in &p.medications {
        let codings = m.kind.term().codings(us);
        let extension = m.vendor_extension.then(|| {
            [Extension::code(
                codes::EXT_VENDOR_PRESCRIBER_ROLE,
                "general-practitioner",
            )]
        });
        let dosage = dosage(m.dose_ug, m.frequency, m.period_days);
        if let MedForm::Statement { asserted_days } = m.form {
            out.push(Rendered {
                rtype: ResourceType::MedicationStatement,
                uuid: Cow::Borrowed(&m.uuid),
                resource: Resource::MedicationStatement(MedicationStatementResource {
                    id: &m.uuid,
                    extension,
                    status: m.status.code(),
                    medication_codeable_concept: cc(codings),
                    subject: subject(),
                    effective_date_time: clock.date(m.authored_days),
                    date_asserted: clock.date(asserted_days),
                    information_source: subject(),
                    dosage: [dosage],
                }),
            });
            continue;
        }
        let (contained, medication_codeable_concept, medication_reference) = match &m.form {
            MedForm::Coded => (None, Some(cc(codings)), None),
            MedForm::Referenced(medication) => {
                out.push(Rendered {
                    rtype: ResourceType::Medication,
                    uuid: Cow::Borrowed(medication),
                    resource: Resource::Medication(MedicationResource {
                        id: medication,
                        code: cc(codings),
                    }),
                });
                let reference = style.to(ResourceType::Medication, medication);
                (None, None, Some(reference))
            }
            MedForm::Contained => (
                Some([Contained::Medication(MedicationResource {
                    id: CONTAINED_MEDICATION,
                    code: cc(codings),
                })]),
                None,
                Some(Reference::external(format!("#{CONTAINED_MEDICATION}"))),
            ),
            MedForm::Statement { .. } => unreachable!("written above"),
        };
        out.push(Rendered {
            rtype: ResourceType::MedicationRequest,
            uuid: Cow::Borrowed(&m.uuid),
            resource: Resource::MedicationRequest(MedicationRequestResource {
                id: &m.uuid,
                extension,
                contained,
                status: m.status.code(),
                intent: "order",
                medication_codeable_concept,
                medication_reference,
                subject: subject(),
                authored_on: clock.date(m.authored_days),
                dosage_instruction: [dosage],
            }),
        });
    }
    for a in &p.allergies {
        out.push(Rendered {
            rtype: ResourceType::AllergyIntolerance,
            uuid: Cow::Borrowed(&a.uuid),
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
            rtype: ResourceType::Encounter,
            uuid: Cow::Borrowed(&e.uuid),
            resource: Resource::Encounter(EncounterResource {
                id: &e.uuid,
                status: "finished",
                class: codes::ENCOUNTER_CLASS[e.class],
                kind: None,
                subject: subject(),
                participant: None,
                period: Period::new(
                    clock.date_time(e.days_ago, (h, m, 0)),
                    clock.date_time(e.days_ago, (h, m + 4, 0)),
                ),
                service_provider: None,
            }),
        });
    }
    out
}
