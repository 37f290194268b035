//! The patient data model: what the generator decided about one patient (conditions,
//! medications, observations, allergies, encounters), as the record shows it, and the age rule.
//! The mixes build it (`scenario.rs` and the mix modules), the labels read it, the FHIR writers
//! render it.

use jiff::civil::Date;

use crate::codes::{self, Term};
use crate::spec::TOPIC_COUNT;

// ------------------------------------------------------------------ ages

/// True when `as_of` falls before 1 July, the birthday the host imputes to a birth year.
fn before_july(as_of: Date) -> bool {
    (as_of.month(), as_of.day()) < (7, 1)
}

/// Age in whole years at `as_of` of someone born in `birth_year`, with the host's rule: year
/// difference, minus one when `as_of` is before 1 July.
pub fn age_at(as_of: Date, birth_year: i16) -> i32 {
    i32::from(as_of.year()) - i32::from(birth_year) - i32::from(before_july(as_of))
}

/// The birth year that gives `age` at `as_of` under [`age_at`].
pub(super) fn birth_year_for(as_of: Date, age: i32) -> i16 {
    let year = i32::from(as_of.year()) - age - i32::from(before_july(as_of));
    i16::try_from(year).expect("as_of validated to a year where every birth year fits")
}

// ------------------------------------------------------------------ model

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Gender {
    Female,
    Male,
    Other,
    Unknown,
}

impl Gender {
    pub fn code(self) -> &'static str {
        match self {
            Gender::Female => "female",
            Gender::Male => "male",
            Gender::Other => "other",
            Gender::Unknown => "unknown",
        }
    }
}

/// FHIR `Condition.clinicalStatus`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClinStatus {
    Active,
    Recurrence,
    Relapse,
    Inactive,
    Remission,
    Resolved,
}

impl ClinStatus {
    /// active, recurrence or relapse: the statuses the CHA2DS2-VASc rule counts for HF, HTN, DM
    /// and AF itself.
    pub fn is_active(self) -> bool {
        matches!(
            self,
            ClinStatus::Active | ClinStatus::Recurrence | ClinStatus::Relapse
        )
    }

    pub fn index(self) -> usize {
        self as usize
    }
}

/// FHIR `Condition.verificationStatus`, as the generator writes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verification {
    Confirmed,
    /// Left out, as many GP exports do: read as confirmed.
    Unstated,
    /// Ruled out. The export still says `clinicalStatus: active` (as real systems do when the
    /// diagnosis is refuted but the episode is not closed): it must not count all the same.
    Refuted,
    /// Recorded by mistake; written without `clinicalStatus` (FHIR invariant con-5).
    EnteredInError,
}

impl Verification {
    /// Whether a clinician takes the diagnosis as given.
    pub fn counts(self) -> bool {
        matches!(self, Verification::Confirmed | Verification::Unstated)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CondKind {
    Diabetes,
    Hypertension,
    HypertensionOrganDamage,
    AtrialFibrillation,
    HeartFailure,
    Stroke,
    Tia,
    PulmonaryEmbolism,
    MyocardialInfarction,
    ChronicIhd,
    PeripheralArterialDisease,
    Asthma,
    Copd,
    Depression,
    PepticUlcer,
    DuodenalUlcer,
    GastricUlcer,
}

/// A CHA2DS2-VASc category.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Chads {
    HeartFailure,
    Hypertension,
    Diabetes,
    Thromboembolism,
    Vascular,
}

impl CondKind {
    pub fn term(self) -> &'static Term {
        match self {
            CondKind::Diabetes => &codes::DIABETES_T2,
            CondKind::Hypertension => &codes::HYPERTENSION,
            CondKind::HypertensionOrganDamage => &codes::HYPERTENSION_ORGAN_DAMAGE,
            CondKind::AtrialFibrillation => &codes::ATRIAL_FIBRILLATION,
            CondKind::HeartFailure => &codes::HEART_FAILURE,
            CondKind::Stroke => &codes::STROKE,
            CondKind::Tia => &codes::TIA,
            CondKind::PulmonaryEmbolism => &codes::PULMONARY_EMBOLISM,
            CondKind::MyocardialInfarction => &codes::MYOCARDIAL_INFARCTION,
            CondKind::ChronicIhd => &codes::CHRONIC_IHD,
            CondKind::PeripheralArterialDisease => &codes::PERIPHERAL_ARTERIAL_DISEASE,
            CondKind::Asthma => &codes::ASTHMA,
            CondKind::Copd => &codes::COPD,
            CondKind::Depression => &codes::DEPRESSION,
            CondKind::PepticUlcer => &codes::PEPTIC_ULCER,
            CondKind::DuodenalUlcer => &codes::DUODENAL_ULCER,
            CondKind::GastricUlcer => &codes::GASTRIC_ULCER,
        }
    }

    pub(super) fn chads(self) -> Option<Chads> {
        match self {
            CondKind::HeartFailure => Some(Chads::HeartFailure),
            CondKind::Hypertension | CondKind::HypertensionOrganDamage => Some(Chads::Hypertension),
            CondKind::Diabetes => Some(Chads::Diabetes),
            CondKind::Stroke | CondKind::Tia | CondKind::PulmonaryEmbolism => {
                Some(Chads::Thromboembolism)
            }
            CondKind::MyocardialInfarction
            | CondKind::ChronicIhd
            | CondKind::PeripheralArterialDisease => Some(Chads::Vascular),
            _ => None,
        }
    }

    /// Diagnoses usually made in hospital: in a Dutch GP record some arrive as a hospital
    /// letter's SNOMED CT coding instead of an ICPC episode.
    pub(super) fn diagnosed_in_hospital(self) -> bool {
        matches!(
            self,
            CondKind::AtrialFibrillation
                | CondKind::HeartFailure
                | CondKind::Stroke
                | CondKind::Tia
                | CondKind::PulmonaryEmbolism
                | CondKind::MyocardialInfarction
                | CondKind::ChronicIhd
                | CondKind::PeripheralArterialDisease
        )
    }
}

#[derive(Clone, Debug)]
pub struct Condition {
    pub uuid: String,
    pub kind: CondKind,
    pub status: ClinStatus,
    pub verification: Verification,
    pub onset_days: u32,
    pub abated_days: Option<u32>,
    /// A Dutch-coded record's diagnosis taken over from a hospital letter: coded in SNOMED CT
    /// only. Labels do not change: a clinician's judgement does not depend on the code system.
    pub from_letter: bool,
    /// Written with the `condition-assertedDate` extension, this many days ago.
    pub asserted_days: Option<u32>,
}

impl Condition {
    /// Counts toward a label (not refuted, not entered in error).
    pub fn counts(&self) -> bool {
        self.verification.counts()
    }
}

/// `MedicationRequest.status` / `MedicationStatement.status` (the codes used are valid in both).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MedStatus {
    Active,
    OnHold,
    Completed,
    Stopped,
    EnteredInError,
}

impl MedStatus {
    pub fn code(self) -> &'static str {
        match self {
            MedStatus::Active => "active",
            MedStatus::OnHold => "on-hold",
            MedStatus::Completed => "completed",
            MedStatus::Stopped => "stopped",
            MedStatus::EnteredInError => "entered-in-error",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MedKind {
    Metformin,
    MetforminEr,
    Gliclazide,
    Warfarin,
    Phenprocoumon,
    Acenocoumarol,
    Dabigatran,
    Rivaroxaban,
    Apixaban,
    Edoxaban,
    Aspirin,
    Carbasalate,
    Clopidogrel,
    Simvastatin,
    Atorvastatin,
    Lisinopril,
    Salbutamol,
    Omeprazole,
    Ibuprofen,
    Naproxen,
    Diclofenac,
    Pantoprazole,
    Esomeprazole,
    Sertraline,
    Citalopram,
    Prednisolone,
    Prednisone,
}

impl MedKind {
    pub fn term(self) -> &'static Term {
        match self {
            MedKind::Metformin => &codes::METFORMIN,
            MedKind::MetforminEr => &codes::METFORMIN_ER,
            MedKind::Gliclazide => &codes::GLICLAZIDE,
            MedKind::Warfarin => &codes::WARFARIN,
            MedKind::Phenprocoumon => &codes::PHENPROCOUMON,
            MedKind::Acenocoumarol => &codes::ACENOCOUMAROL,
            MedKind::Dabigatran => &codes::DABIGATRAN,
            MedKind::Rivaroxaban => &codes::RIVAROXABAN,
            MedKind::Apixaban => &codes::APIXABAN,
            MedKind::Edoxaban => &codes::EDOXABAN,
            MedKind::Aspirin => &codes::ASPIRIN,
            MedKind::Carbasalate => &codes::CARBASALATE,
            MedKind::Clopidogrel => &codes::CLOPIDOGREL,
            MedKind::Simvastatin => &codes::SIMVASTATIN,
            MedKind::Atorvastatin => &codes::ATORVASTATIN,
            MedKind::Lisinopril => &codes::LISINOPRIL,
            MedKind::Salbutamol => &codes::SALBUTAMOL,
            MedKind::Omeprazole => &codes::OMEPRAZOLE,
            MedKind::Ibuprofen => &codes::IBUPROFEN,
            MedKind::Naproxen => &codes::NAPROXEN,
            MedKind::Diclofenac => &codes::DICLOFENAC,
            MedKind::Pantoprazole => &codes::PANTOPRAZOLE,
            MedKind::Esomeprazole => &codes::ESOMEPRAZOLE,
            MedKind::Sertraline => &codes::SERTRALINE,
            MedKind::Citalopram => &codes::CITALOPRAM,
            MedKind::Prednisolone => &codes::PREDNISOLONE,
            MedKind::Prednisone => &codes::PREDNISONE,
        }
    }

    /// The high-dose threshold of an NSAID (more than this many mg a day), `None` for other
    /// medications (`nsaid-gastroprotection`: ibuprofen 1600, naproxen 750, diclofenac 100).
    pub(super) fn nsaid_high_dose_mg(self) -> Option<u64> {
        match self {
            MedKind::Ibuprofen => Some(1600),
            MedKind::Naproxen => Some(750),
            MedKind::Diclofenac => Some(100),
            _ => None,
        }
    }

    pub(super) fn is_ppi(self) -> bool {
        matches!(
            self,
            MedKind::Omeprazole | MedKind::Pantoprazole | MedKind::Esomeprazole
        )
    }

    /// Anticoagulant (rule 2's) or aspirin (carbasalate calcium included).
    pub(super) fn is_anticoagulant_or_aspirin(self) -> bool {
        self.is_anticoagulant() || matches!(self, MedKind::Aspirin | MedKind::Carbasalate)
    }

    pub(super) fn is_metformin(self) -> bool {
        matches!(self, MedKind::Metformin | MedKind::MetforminEr)
    }

    /// Vitamin K antagonists (B01AA) and DOACs (B01AE, B01AF). Antiplatelets are not.
    pub(super) fn is_anticoagulant(self) -> bool {
        matches!(
            self,
            MedKind::Warfarin
                | MedKind::Phenprocoumon
                | MedKind::Acenocoumarol
                | MedKind::Dabigatran
                | MedKind::Rivaroxaban
                | MedKind::Apixaban
                | MedKind::Edoxaban
        )
    }
}

/// How an export carries a medication (all shapes real exports write).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MedForm {
    /// `MedicationRequest.medicationCodeableConcept`.
    Coded,
    /// `MedicationRequest.medicationReference` to a `Medication` resource of its own, with this
    /// uuid (a Bundle entry, or a line of `Medication.000.ndjson`).
    Referenced(String),
    /// `MedicationRequest` with the `Medication` in `contained`, referenced as `#med`.
    Contained,
    /// `MedicationStatement`: the patient reports using it; asserted this many days ago.
    Statement { asserted_days: u32 },
}

/// A medication: `dose_ug` micrograms, `frequency` times per `period_days` days.
#[derive(Clone, Debug)]
pub struct Medication {
    pub uuid: String,
    pub kind: MedKind,
    pub status: MedStatus,
    pub authored_days: u32,
    pub dose_ug: u32,
    pub frequency: u32,
    pub period_days: u32,
    pub form: MedForm,
    /// Carries a vendor extension the reader does not know.
    pub vendor_extension: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LabKind {
    Egfr,
    Hba1c,
    Cholesterol,
    Potassium,
    Creatinine,
    Glucose,
    Phq9,
    Hdl,
}

/// Observation category.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Category {
    Laboratory,
    Survey,
}

impl LabKind {
    pub fn term(self) -> &'static Term {
        match self {
            LabKind::Egfr => &codes::EGFR,
            LabKind::Hba1c => &codes::HBA1C,
            LabKind::Cholesterol => &codes::CHOLESTEROL,
            LabKind::Potassium => &codes::POTASSIUM,
            LabKind::Creatinine => &codes::CREATININE,
            LabKind::Glucose => &codes::GLUCOSE,
            LabKind::Phq9 => &codes::PHQ9,
            LabKind::Hdl => &codes::HDL,
        }
    }

    /// UCUM unit (emitted as both `unit` and `code`): Dutch labs report SI units, US labs the
    /// conventional units where the US uses them (HbA1c %, cholesterol, creatinine and glucose
    /// in mg/dL).
    pub fn unit(self, us: bool) -> &'static str {
        match (self, us) {
            (LabKind::Egfr, _) => "mL/min/{1.73_m2}",
            (LabKind::Hba1c, false) => "mmol/mol",
            (LabKind::Hba1c, true) => "%",
            (LabKind::Cholesterol | LabKind::Hdl | LabKind::Glucose, false) => "mmol/L",
            (
                LabKind::Cholesterol | LabKind::Hdl | LabKind::Glucose | LabKind::Creatinine,
                true,
            ) => "mg/dL",
            (LabKind::Potassium, _) => "mmol/L",
            (LabKind::Creatinine, false) => "umol/L",
            (LabKind::Phq9, _) => "{score}",
        }
    }

    pub fn category(self) -> Category {
        match self {
            LabKind::Phq9 => Category::Survey,
            _ => Category::Laboratory,
        }
    }
}

/// A numeric value without float arithmetic: an integer, or an integer number of tenths or
/// hundredths.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Value {
    Int(i64),
    Tenths(i64),
    Hundredths(i64),
}

/// Local time of day: hour, minute, second.
pub type Hms = (u8, u8, u8);

/// How a lab result's time is written. Every form names the same calendar day (`days_ago`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LabTiming {
    /// `effectiveDateTime` as a date.
    Date,
    /// `effectiveDateTime` as a date and `issued` later that day.
    DateAndIssued(Hms),
    /// `effectivePeriod` from `start`, lasting `minutes` (the same day).
    Period { start: Hms, minutes: u8 },
    /// No `effective[x]`, only `issued` (some lab interfaces send only the report time).
    IssuedOnly(Hms),
}

/// `Observation.status`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ObsStatus {
    Final,
    Amended,
    Corrected,
    EnteredInError,
}

impl ObsStatus {
    pub fn code(self) -> &'static str {
        match self {
            ObsStatus::Final => "final",
            ObsStatus::Amended => "amended",
            ObsStatus::Corrected => "corrected",
            ObsStatus::EnteredInError => "entered-in-error",
        }
    }

    /// A result a clinician reads (not entered in error).
    pub fn counts(self) -> bool {
        self != ObsStatus::EnteredInError
    }
}

/// Who took a blood-pressure reading.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Performer {
    /// Self-measured at home: `performer` is the patient.
    Patient,
    /// Clinic reading by a practitioner: the `Practitioner/<id>` reference.
    Practitioner(String),
    /// Clinic reading without a performer.
    Unrecorded,
}

#[derive(Clone, Debug)]
pub enum ObsKind {
    Lab {
        kind: LabKind,
        /// The recorded value, in the patient's reporting unit.
        value: Value,
        /// Written with `comparator: ">"`: the lab's upper reporting limit (Dutch labs report
        /// an eGFR above 90 as "> 90"); `value` is that limit.
        above_limit: bool,
        timing: LabTiming,
    },
    /// Tobacco smoking status (LOINC 72166-2, SNOMED CT value), recorded at a consultation.
    Smoking(Smoking),
    /// A PHQ-9 filled in at home (performer: the patient): panel 44249-1 with the nine answers
    /// (0–3) and their total as components, at local time `time`.
    Phq9Panel { items: [u8; 9], time: Hms },
    BloodPressure {
        systolic: i64,
        diastolic: i64,
        performer: Performer,
        /// Local time (+01:00).
        time: Hms,
        /// Carries the `observation-bodyPosition` extension (sitting).
        body_position: bool,
    },
}

/// Smoking status, indexed like [`codes::SMOKING_VALUES`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Smoking {
    Daily,
    Occasional,
    Ex,
    Never,
}

impl Smoking {
    pub fn index(self) -> usize {
        self as usize
    }

    pub fn current(self) -> bool {
        matches!(self, Smoking::Daily | Smoking::Occasional)
    }
}

#[derive(Clone, Debug)]
pub struct Observation {
    pub uuid: String,
    pub days_ago: u32,
    pub status: ObsStatus,
    pub kind: ObsKind,
}

#[derive(Clone, Debug)]
pub struct Allergy {
    pub uuid: String,
    pub active: bool,
}

#[derive(Clone, Debug)]
pub struct Encounter {
    pub uuid: String,
    pub days_ago: u32,
    pub class: usize,
    pub time: (u8, u8),
}

/// One synthetic patient, as the generator knows it.
#[derive(Clone, Debug)]
pub struct Patient {
    pub pseudonym: String,
    pub uuid: String,
    pub us: bool,
    pub gender: Gender,
    pub birth_year: i16,
    /// Written with the US Core birth-sex extension (US-coded, female or male only).
    pub birthsex_extension: bool,
    pub conditions: Vec<Condition>,
    pub medications: Vec<Medication>,
    pub observations: Vec<Observation>,
    pub allergies: Vec<Allergy>,
    pub encounters: Vec<Encounter>,
    /// The latent kidney function (eGFR, mL/min/1.73 m², at `as_of`), where the model drew one:
    /// recorded eGFRs scatter around it.
    pub latent_egfr: Option<i64>,
    /// Seed of the Synthea-shape padding: a stream of its own, so padding never changes the
    /// patient.
    pub padding_seed: u64,
    /// The label each topic's scenario was built to have (checked against the labels in tests).
    /// In the realistic mix nothing is built toward a label: it is the truth itself.
    pub intended: [bool; TOPIC_COUNT],
    /// Which scenario each topic drew, for summaries and tests.
    pub scenario: [&'static str; TOPIC_COUNT],
    /// How the patient's lab writes an eGFR: [`EgfrReport::Standard`] except in the exports of
    /// a series after a lab drift (`drift.rs`).
    pub egfr_report: EgfrReport,
}

/// How a lab writes an eGFR observation. The value is the same in every variant: only what
/// the reader needs to recognise it changes, which is the point of a lab drift.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum EgfrReport {
    /// The Dutch or US codings of [`codes::EGFR`] in `mL/min/{1.73_m2}`.
    #[default]
    Standard,
    /// The same codings in `mL/min`: a laboratory system that dropped the body-surface
    /// normalisation from the unit. An absolute clearance is not an eGFR, so a reader that
    /// checks units withholds it.
    AbsoluteUnit,
    /// Only a laboratory's local code ([`codes::EGFR_LOCAL`]): a lab that moved to a new
    /// equation and coded it locally before mapping it to LOINC.
    LocalCode,
}

impl EgfrReport {
    /// The codings of an eGFR written this way for a US-coded (`us`) or Dutch-coded patient.
    pub fn codings(self, us: bool) -> &'static [codes::Coding] {
        match self {
            EgfrReport::Standard | EgfrReport::AbsoluteUnit => codes::EGFR.codings(us),
            EgfrReport::LocalCode => codes::EGFR_LOCAL.nl,
        }
    }

    /// The UCUM unit of an eGFR written this way.
    pub fn unit(self) -> &'static str {
        match self {
            EgfrReport::Standard | EgfrReport::LocalCode => LabKind::Egfr.unit(false),
            EgfrReport::AbsoluteUnit => "mL/min",
        }
    }
}
