//! The latent patient model: each patient's scenario is decided first, then the items (conditions,
//! medications, observations, ...) that express it, then the reference labels, computed from
//! those items by the rule text (never by plugin code).
//!
//! Items are what the record *shows*: a lab value here is the recorded value (the latent truth
//! plus measurement scatter, in the patient's reporting unit), so labels follow the recorded
//! data, as a clinician reading the record would. Items that a clinician would disregard —
//! conditions whose `verificationStatus` is `refuted` or `entered-in-error`, orders and results
//! entered in error — are kept in the record and never count toward a label.
//!
//! Everything here is a pure function of (seed, patient index, as_of, mix): each patient has its
//! own RNG, seeded from the cohort seed and the patient's index, so a cohort streams one patient
//! at a time and any patient can be regenerated alone.

use jiff::civil::Date;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{RngExt, SeedableRng};

use super::CohortMix;
use super::codes::{self, Term};
use super::measure;

// ------------------------------------------------------------------ seeds and pseudonyms

/// SplitMix64 finaliser: a fixed, well-mixed 64-bit hash.
pub fn splitmix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The seed of patient `index`'s own RNG.
fn patient_seed(seed: u64, index: u64) -> u64 {
    splitmix64(seed ^ splitmix64(index ^ 0x7061_7469_656e_7421))
}

/// Largest number of patients a cohort can hold: pseudonyms are 48-bit.
pub const MAX_PATIENTS: u64 = 1 << 48;

const MASK24: u64 = (1 << 24) - 1;

/// Turns a patient index into its pseudonym: a keyed 4-round Feistel permutation of the 48-bit
/// index space, so pseudonyms look random, come from the seeded RNG, and never collide (no set
/// of issued ids to keep: O(1) memory however large the cohort).
pub struct Pseudonymiser {
    keys: [u64; 4],
}

impl Pseudonymiser {
    pub fn new(seed: u64) -> Self {
        let mut rng = StdRng::seed_from_u64(splitmix64(seed ^ 0x7073_6575_646f_6e79));
        Self {
            keys: [rng.random(), rng.random(), rng.random(), rng.random()],
        }
    }

    /// `pt-` and 12 lowercase hex digits.
    pub fn pseudonym(&self, index: u64) -> String {
        debug_assert!(index < MAX_PATIENTS);
        let (mut left, mut right) = ((index >> 24) & MASK24, index & MASK24);
        for key in self.keys {
            let f = splitmix64(right ^ key) & MASK24;
            (left, right) = (right, left ^ f);
        }
        format!("pt-{:012x}", (left << 24) | right)
    }
}

/// A random UUID in v4 shape (version 4, RFC 4122 variant), from the given RNG.
pub fn uuid(rng: &mut StdRng) -> String {
    let hi: u64 = rng.random();
    let lo: u64 = rng.random();
    let hi = (hi & !0xf000) | 0x4000;
    let lo = (lo & 0x3fff_ffff_ffff_ffff) | 0x8000_0000_0000_0000;
    format!(
        "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
        hi >> 32,
        (hi >> 16) & 0xffff,
        hi & 0xffff,
        lo >> 48,
        lo & 0xffff_ffff_ffff
    )
}

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
    fn diagnosed_in_hospital(self) -> bool {
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
    /// The label each topic's scenario was built to have (checked against [`truth`] in tests).
    /// In the realistic mix nothing is built toward a label: it is the truth itself.
    pub intended: [bool; TOPIC_COUNT],
    /// Which scenario each topic drew, for summaries and tests.
    pub scenario: [&'static str; TOPIC_COUNT],
}

// ------------------------------------------------------------------ ground truth

/// metformin-egfr: active metformin, and the most recent eGFR within 365 days is < 10, or
/// 10–30 with a daily dose > 500 mg, or 30–50 with a daily dose > 1000 mg
/// (NHG/KNMP dose limits, `clinical-reference.md` rule 1).
pub(super) fn metformin_rule(egfr: i64, dose_ug: u32, frequency: u32, period_days: u32) -> bool {
    // daily dose > limit  <=>  dose × frequency > limit × period (exact integer arithmetic).
    let per_period = u64::from(dose_ug) * u64::from(frequency);
    let over = |limit_mg: u64| per_period > limit_mg * 1000 * u64::from(period_days);
    if egfr < 10 {
        true
    } else if egfr < 30 {
        over(500)
    } else if egfr < 50 {
        over(1000)
    } else {
        false
    }
}

/// The most recent eGFR a clinician would read (not entered in error) within `look_back`
/// days, as (days ago, value). The generator never records two such eGFRs on one day.
pub(super) fn latest_egfr(p: &Patient, look_back: u32) -> Option<(u32, i64)> {
    p.observations
        .iter()
        .filter(|o| o.days_ago <= look_back && o.status.counts())
        .filter_map(|o| match o.kind {
            ObsKind::Lab {
                kind: LabKind::Egfr,
                value: Value::Int(v),
                ..
            } => Some((o.days_ago, v)),
            _ => None,
        })
        .min_by_key(|&(days, _)| days)
}

pub(super) fn truth_metformin(p: &Patient) -> bool {
    let Some((_, egfr)) = latest_egfr(p, 365) else {
        return false;
    };
    p.medications
        .iter()
        .filter(|m| m.kind.is_metformin() && m.status == MedStatus::Active)
        .any(|m| metformin_rule(egfr, m.dose_ug, m.frequency, m.period_days))
}

/// CHA2DS2-VASc from the patient's conditions, age and sex (ESC 2020).
pub(super) fn cha2ds2_vasc(p: &Patient, as_of: Date) -> i32 {
    let has = |cat: Chads, active_only: bool| {
        p.conditions.iter().any(|c| {
            c.counts() && c.kind.chads() == Some(cat) && (!active_only || c.status.is_active())
        })
    };
    let age = age_at(as_of, p.birth_year);
    let mut score = 0;
    score += i32::from(has(Chads::HeartFailure, true));
    score += i32::from(has(Chads::Hypertension, true));
    score += i32::from(has(Chads::Diabetes, true));
    score += 2 * i32::from(has(Chads::Thromboembolism, false));
    score += i32::from(has(Chads::Vascular, false));
    score += if age >= 75 { 2 } else { i32::from(age >= 65) };
    score += i32::from(p.gender == Gender::Female);
    score
}

/// The score from which ESC 2020 recommends anticoagulation: men 2, women 3; `None` for
/// other/unknown sex (the rule has no threshold; the generator gives them no AF).
pub(super) fn anticoagulation_threshold(gender: Gender) -> Option<i32> {
    match gender {
        Gender::Female => Some(3),
        Gender::Male => Some(2),
        Gender::Other | Gender::Unknown => None,
    }
}

/// Active atrial fibrillation that counts.
pub(super) fn has_active_af(p: &Patient) -> bool {
    p.conditions
        .iter()
        .any(|c| c.counts() && c.kind == CondKind::AtrialFibrillation && c.status.is_active())
}

pub(super) fn is_anticoagulated(p: &Patient) -> bool {
    p.medications
        .iter()
        .any(|m| m.kind.is_anticoagulant() && m.status == MedStatus::Active)
}

fn truth_af(p: &Patient, as_of: Date) -> bool {
    let Some(threshold) = anticoagulation_threshold(p.gender) else {
        return false;
    };
    has_active_af(p) && !is_anticoagulated(p) && cha2ds2_vasc(p, as_of) >= threshold
}

/// home-bp: ≥ 12 self-measured readings dated as_of − 6 .. as_of, and mean systolic ≥ 135 or
/// mean diastolic ≥ 85 (ESC/ESH home thresholds, `clinical-reference.md` rule 4).
fn truth_home_bp(p: &Patient) -> bool {
    let (mut n, mut sys, mut dia) = (0i64, 0i64, 0i64);
    for o in &p.observations {
        if let ObsKind::BloodPressure {
            systolic,
            diastolic,
            performer: Performer::Patient,
            ..
        } = o.kind
            && o.days_ago <= 6
            && o.status.counts()
        {
            n += 1;
            sys += systolic;
            dia += diastolic;
        }
    }
    n >= 12 && (sys >= 135 * n || dia >= 85 * n)
}

/// The number of labelled topics ([`super::TOPICS`]).
pub const TOPIC_COUNT: usize = 6;

/// The reference labels of a patient, in [`super::TOPICS`] order.
pub fn truth(p: &Patient, as_of: Date) -> [bool; TOPIC_COUNT] {
    [
        truth_metformin(p),
        truth_af(p, as_of),
        truth_home_bp(p),
        truth_nsaid(p, as_of),
        truth_score2(p, as_of),
        truth_phq9(p),
    ]
}

// ------------------------------------------------------------------ the guideline topics

/// An active medication of a kind.
fn on(p: &Patient, pred: impl Fn(MedKind) -> bool) -> bool {
    p.medications
        .iter()
        .any(|m| m.status == MedStatus::Active && pred(m.kind))
}

/// A counting condition of one of `kinds`, active only if `active_only`.
fn has(p: &Patient, kinds: &[CondKind], active_only: bool) -> bool {
    p.conditions
        .iter()
        .any(|c| c.counts() && kinds.contains(&c.kind) && (!active_only || c.status.is_active()))
}

/// nsaid-gastroprotection (rule 3, CBO/NHG): the indications and risk factors of a patient on
/// an active NSAID without an active PPI, as (protect, risk factor count); `None` when no NSAID
/// or a PPI.
pub(super) fn nsaid_assessment(p: &Patient, as_of: Date) -> Option<(bool, usize)> {
    let nsaids: Vec<&Medication> = p
        .medications
        .iter()
        .filter(|m| m.status == MedStatus::Active && m.kind.nsaid_high_dose_mg().is_some())
        .collect();
    if nsaids.is_empty() || on(p, MedKind::is_ppi) {
        return None;
    }
    let age = age_at(as_of, p.birth_year);
    let ulcer = &[
        CondKind::PepticUlcer,
        CondKind::DuodenalUlcer,
        CondKind::GastricUlcer,
    ];
    let protect = age > 70 || has(p, ulcer, false);
    let high_dose = nsaids.iter().any(|m| {
        let limit = m.kind.nsaid_high_dose_mg().expect("an NSAID");
        u64::from(m.dose_ug) * u64::from(m.frequency) > limit * 1000 * u64::from(m.period_days)
    });
    let factors = [
        (60..=70).contains(&age),
        on(p, MedKind::is_anticoagulant_or_aspirin),
        on(p, |k| {
            matches!(k, MedKind::Prednisolone | MedKind::Prednisone)
        }),
        on(p, |k| {
            matches!(k, MedKind::Sertraline | MedKind::Citalopram)
        }),
        high_dose,
        has(p, &[CondKind::HeartFailure, CondKind::Diabetes], true),
    ];
    Some((protect, factors.iter().filter(|&&f| f).count()))
}

/// Label: an active NSAID, no active PPI, and age > 70 or a prior ulcer (any status).
pub(super) fn truth_nsaid(p: &Patient, as_of: Date) -> bool {
    nsaid_assessment(p, as_of).is_some_and(|(protect, _)| protect)
}

/// Inputs older than this are not used by SCORE2.
pub(super) const SCORE2_LOOK_BACK: u32 = 730;

/// A lab value as the host hands it to a plugin, in mmol/L: Dutch tenths as written, US mg/dL
/// divided by 38.67 and rounded to hundredths (the host's conversion; an exact tie cannot
/// occur, 3867 being odd).
fn cholesterol_mmol(value: Value) -> f64 {
    let hundredths = match value {
        Value::Tenths(t) => t * 10,
        Value::Int(mg) => measure::div_round(mg * 10_000, 3867),
        Value::Hundredths(h) => h,
    };
    hundredths as f64 / 100.0
}

/// The values `read` gives on the most recent day within the SCORE2 look-back, in record
/// order.
fn most_recent_day<T>(p: &Patient, read: impl Fn(&Observation) -> Option<T>) -> Vec<T> {
    let found: Vec<(u32, T)> = p
        .observations
        .iter()
        .filter(|o| o.days_ago <= SCORE2_LOOK_BACK && o.status.counts())
        .filter_map(|o| read(o).map(|v| (o.days_ago, v)))
        .collect();
    let Some(day) = found.iter().map(|f| f.0).min() else {
        return Vec::new();
    };
    found
        .into_iter()
        .filter(|f| f.0 == day)
        .map(|f| f.1)
        .collect()
}

fn mean(values: &[f64]) -> Option<f64> {
    (!values.is_empty()).then(|| values.iter().sum::<f64>() / values.len() as f64)
}

/// SCORE2 (ESC 2021, low-risk region; rule 5): the 10-year risk in percent from age, sex, SBP
/// (mmHg), total and HDL cholesterol (mmol/L) and smoking. The same floating-point steps as the
/// rule text, in the order written there.
pub fn score2_percent(male: bool, age: f64, sbp: f64, tc: f64, hdl: f64, smoker: bool) -> f64 {
    let (beta, s0, a, b): ([f64; 9], f64, f64, f64) = if male {
        (
            [
                0.3742, 0.6012, 0.2777, 0.1458, -0.2698, -0.0755, -0.0255, -0.0281, 0.0426,
            ],
            0.9605,
            -0.5699,
            0.7476,
        )
    } else {
        (
            [
                0.4648, 0.7744, 0.3131, 0.1002, -0.2606, -0.1088, -0.0277, -0.0226, 0.0613,
            ],
            0.9776,
            -0.7380,
            0.7019,
        )
    };
    let cage = (age - 60.0) / 5.0;
    let smoke = if smoker { 1.0 } else { 0.0 };
    let csbp = (sbp - 120.0) / 20.0;
    let ctc = tc - 6.0;
    let chdl = (hdl - 1.3) / 0.5;
    let terms = [
        cage,
        smoke,
        csbp,
        ctc,
        chdl,
        cage * smoke,
        cage * csbp,
        cage * ctc,
        cage * chdl,
    ];
    let lp: f64 = beta.iter().zip(terms).map(|(b, t)| b * t).sum();
    let p0 = 1.0 - s0.powf(lp.exp());
    100.0 * (1.0 - (-(a + b * (-(1.0 - p0).ln()).ln()).exp()).exp())
}

/// The SCORE2 band edges (high from, very high from), percent, for an age in 40–69.
pub(super) fn score2_edges(age: i32) -> (f64, f64) {
    if age < 50 { (2.5, 7.5) } else { (5.0, 10.0) }
}

/// SCORE2 of a patient in scope (age 40–69, female or male, no active diabetes, every input
/// recorded in the last 730 days): (age, risk in percent).
pub(super) fn score2_of(p: &Patient, as_of: Date) -> Option<(i32, f64)> {
    let age = age_at(as_of, p.birth_year);
    let male = match p.gender {
        Gender::Male => true,
        Gender::Female => false,
        Gender::Other | Gender::Unknown => return None,
    };
    if !(40..=69).contains(&age) || has(p, &[CondKind::Diabetes], true) {
        return None;
    }
    let sbp = mean(&most_recent_day(p, |o| match &o.kind {
        ObsKind::BloodPressure {
            systolic,
            performer: Performer::Practitioner(_) | Performer::Unrecorded,
            ..
        } => Some(*systolic as f64),
        _ => None,
    }))?;
    let lab = |wanted: LabKind| {
        mean(&most_recent_day(p, |o| match o.kind {
            ObsKind::Lab { kind, value, .. } if kind == wanted => Some(cholesterol_mmol(value)),
            _ => None,
        }))
    };
    let (tc, hdl) = (lab(LabKind::Cholesterol)?, lab(LabKind::Hdl)?);
    let smoking = most_recent_day(p, |o| match o.kind {
        ObsKind::Smoking(s) => Some(s.current()),
        _ => None,
    });
    if smoking.is_empty() {
        return None;
    }
    let risk = score2_percent(male, f64::from(age), sbp, tc, hdl, smoking.contains(&true));
    Some((age, risk))
}

/// Label: SCORE2 in the very-high band for the age (≥ 7.5 % below 50, ≥ 10 % from 50).
pub(super) fn truth_score2(p: &Patient, as_of: Date) -> bool {
    score2_of(p, as_of).is_some_and(|(age, risk)| risk >= score2_edges(age).1)
}

/// The PHQ-9 look-back: days 0..=30.
pub(super) const PHQ9_LOOK_BACK: u32 = 30;

/// The most recent PHQ-9 of the last 30 days as (days ago, total, item 9 if answered). The
/// generator never records two questionnaires on one day.
pub(super) fn latest_phq9(p: &Patient) -> Option<(u32, i64, Option<u8>)> {
    p.observations
        .iter()
        .filter(|o| o.days_ago <= PHQ9_LOOK_BACK && o.status.counts())
        .filter_map(|o| match o.kind {
            ObsKind::Lab {
                kind: LabKind::Phq9,
                value: Value::Int(total),
                ..
            } => Some((o.days_ago, total, None)),
            ObsKind::Phq9Panel { items, .. } => Some((
                o.days_ago,
                items.iter().map(|&i| i64::from(i)).sum(),
                Some(items[8]),
            )),
            _ => None,
        })
        .min_by_key(|q| q.0)
}

/// Label: the most recent PHQ-9 of the last 30 days has item 9 > 0 (critical) or a total ≥ 10
/// (moderate or worse).
pub(super) fn truth_phq9(p: &Patient) -> bool {
    latest_phq9(p).is_some_and(|(_, total, item9)| item9.is_some_and(|a| a > 0) || total >= 10)
}

// ------------------------------------------------------------------ generation

/// Builds one patient: the primitives every mix uses. The mixes (`enriched.rs`,
/// `realistic.rs`) decide what to build; the primitives decide how a real export would write
/// it (the export-shape draws live here, so every mix gets them).
pub(super) struct Builder {
    pub(super) rng: StdRng,
    pub(super) p: Patient,
    /// How far back the patient's history can reach (days): a condition's onset, a
    /// medication's start and a contact never precede birth.
    pub(super) history_cap_days: u32,
}

/// Draw one item from a non-empty list.
pub(super) fn pick<T: Copy>(rng: &mut StdRng, items: &[T]) -> T {
    items[rng.random_range(0..items.len())]
}

impl Builder {
    pub(super) fn pct(&mut self) -> u32 {
        self.rng.random_range(0..100)
    }

    pub(super) fn chance(&mut self, p: f64) -> bool {
        self.rng.random_bool(p)
    }

    pub(super) fn days(&mut self, range: std::ops::RangeInclusive<u32>) -> u32 {
        self.rng.random_range(range)
    }

    pub(super) fn uuid(&mut self) -> String {
        uuid(&mut self.rng)
    }

    pub(super) fn hms(&mut self, hours: std::ops::RangeInclusive<u8>) -> Hms {
        (
            self.rng.random_range(hours),
            self.rng.random_range(0..60),
            self.rng.random_range(0..60),
        )
    }

    /// Has a counting diagnosis of this kind (any clinical status).
    pub(super) fn has_condition(&self, kind: CondKind) -> bool {
        self.p
            .conditions
            .iter()
            .any(|c| c.counts() && c.kind == kind)
    }

    pub(super) fn condition(&mut self, kind: CondKind, status: ClinStatus) {
        let verification = if self.chance(0.1) {
            Verification::Unstated
        } else {
            Verification::Confirmed
        };
        self.condition_verified(kind, status, verification);
    }

    pub(super) fn condition_verified(
        &mut self,
        kind: CondKind,
        status: ClinStatus,
        verification: Verification,
    ) {
        let onset_days = self.days(60..=self.history_cap_days.clamp(61, 7000));
        let abated_days = match status {
            ClinStatus::Inactive | ClinStatus::Remission | ClinStatus::Resolved => {
                Some(self.days(1..=onset_days - 1))
            }
            _ => None,
        };
        let uuid = self.uuid();
        let from_letter = !self.p.us && kind.diagnosed_in_hospital() && self.chance(0.15);
        let asserted_days = if self.chance(0.1) {
            Some(self.days(0..=onset_days))
        } else {
            None
        };
        self.p.conditions.push(Condition {
            uuid,
            kind,
            status,
            verification,
            onset_days,
            abated_days,
            from_letter,
            asserted_days,
        });
    }

    /// A status the CHA2DS2-VASc rule counts (mostly active).
    pub(super) fn counting_status(&mut self) -> ClinStatus {
        match self.pct() {
            0..80 => ClinStatus::Active,
            80..90 => ClinStatus::Recurrence,
            _ => ClinStatus::Relapse,
        }
    }

    /// A status the rule does not count for HF/HTN/DM.
    pub(super) fn past_status(&mut self) -> ClinStatus {
        pick(
            &mut self.rng,
            &[
                ClinStatus::Inactive,
                ClinStatus::Remission,
                ClinStatus::Resolved,
            ],
        )
    }

    pub(super) fn any_status(&mut self) -> ClinStatus {
        match self.pct() {
            0..45 => ClinStatus::Active,
            45..55 => self.counting_status(),
            _ => self.past_status(),
        }
    }

    pub(super) fn medication(
        &mut self,
        kind: MedKind,
        status: MedStatus,
        dose_ug: u32,
        frequency: u32,
        period_days: u32,
    ) {
        debug_assert!(!kind.term().codings(self.p.us).is_empty());
        let authored_days = self.days(7..=self.history_cap_days.clamp(8, 900));
        let uuid = self.uuid();
        let form = match self.pct() {
            0..65 => MedForm::Coded,
            65..77 => MedForm::Referenced(self.uuid()),
            77..85 => MedForm::Contained,
            _ => MedForm::Statement {
                asserted_days: self.days(0..=authored_days),
            },
        };
        let vendor_extension = self.chance(0.1);
        self.p.medications.push(Medication {
            uuid,
            kind,
            status,
            authored_days,
            dose_ug,
            frequency,
            period_days,
            form,
            vendor_extension,
        });
    }

    /// Records a lab result as given (already in the patient's reporting unit).
    pub(super) fn lab(&mut self, kind: LabKind, days_ago: u32, value: Value) {
        self.lab_with_status(kind, days_ago, value, false, ObsStatus::Final);
    }

    fn lab_with_status(
        &mut self,
        kind: LabKind,
        days_ago: u32,
        value: Value,
        above_limit: bool,
        status: ObsStatus,
    ) {
        let uuid = self.uuid();
        let status = match (status, self.pct()) {
            (ObsStatus::Final, 0..3) => ObsStatus::Amended,
            (ObsStatus::Final, 3..6) => ObsStatus::Corrected,
            (status, _) => status,
        };
        // Blood is drawn in the morning; the report follows later that day.
        let timing = match self.pct() {
            0..55 => LabTiming::Date,
            55..80 => LabTiming::DateAndIssued(self.hms(12..=18)),
            80..90 => LabTiming::Period {
                start: self.hms(8..=11),
                minutes: self.rng.random_range(5..=40),
            },
            _ => LabTiming::IssuedOnly(self.hms(12..=18)),
        };
        self.p.observations.push(Observation {
            uuid,
            days_ago,
            status,
            kind: ObsKind::Lab {
                kind,
                value,
                above_limit,
                timing,
            },
        });
    }

    /// Measures `latent` (in the lab's SI unit, see [`measure::record`]) on `days_ago`: the
    /// recorded value scatters around it and is written in the patient's reporting unit.
    pub(super) fn measure(&mut self, kind: LabKind, days_ago: u32, latent: i64) {
        let measured = measure::scatter(&mut self.rng, kind, latent);
        if kind == LabKind::Egfr {
            self.egfr(days_ago, measured);
        } else {
            let value = measure::record(kind, measured, self.p.us);
            self.lab(kind, days_ago, value);
        }
    }

    /// Records an eGFR as reported. Dutch labs report values above 90 as "> 90" (the
    /// CKD-EPI estimate is not precise up there); it is recorded as 90 with comparator `>`,
    /// which changes no rule (every threshold is ≤ 50).
    pub(super) fn egfr(&mut self, days_ago: u32, value: i64) {
        self.egfr_with_status(days_ago, value, ObsStatus::Final);
    }

    pub(super) fn egfr_with_status(&mut self, days_ago: u32, value: i64, status: ObsStatus) {
        let value = value.max(measure::EGFR_MIN);
        let above_limit = !self.p.us && value > measure::EGFR_NL_LIMIT;
        let value = if above_limit {
            measure::EGFR_NL_LIMIT
        } else {
            value
        };
        self.lab_with_status(
            LabKind::Egfr,
            days_ago,
            Value::Int(value),
            above_limit,
            status,
        );
    }

    /// Earlier eGFRs of a series ending (most recently) `latest_days` ago: `count` more, each
    /// `step` days before the last, scattered around a latent that was `decline` mL/min higher
    /// per year back. They never share a day with the latest, so "most recent" is unambiguous.
    pub(super) fn egfr_history(
        &mut self,
        latest_days: u32,
        latent_now: i64,
        count: u32,
        step: std::ops::RangeInclusive<u32>,
        decline: i64,
    ) {
        let mut days = latest_days;
        for _ in 0..count {
            days += self.days(step.clone());
            let latent = latent_now + measure::div_round(decline * i64::from(days), 365);
            self.measure(LabKind::Egfr, days, latent);
        }
    }

    pub(super) fn blood_pressure(
        &mut self,
        days_ago: u32,
        morning: bool,
        (systolic, diastolic): (i64, i64),
        performer: Performer,
    ) {
        let time = if morning {
            self.hms(7..=9)
        } else {
            self.hms(18..=22)
        };
        let uuid = self.uuid();
        let body_position = self.chance(0.15);
        self.p.observations.push(Observation {
            uuid,
            days_ago,
            status: ObsStatus::Final,
            kind: ObsKind::BloodPressure {
                systolic,
                diastolic,
                performer,
                time,
                body_position,
            },
        });
    }

    /// An HbA1c around a latent value (mmol/mol) drawn for a diabetic: Dutch mmol/mol, US %.
    pub(super) fn hba1c(&mut self) {
        let days = self.days(14..=400);
        let latent = self.rng.random_range(40..=78);
        self.measure(LabKind::Hba1c, days, latent);
    }

    /// Total cholesterol around a latent 3.6–7.4 mmol/L: Dutch mmol/L, US mg/dL.
    pub(super) fn cholesterol(&mut self) {
        let days = self.days(0..=700);
        let latent = self.rng.random_range(360..=740);
        self.measure(LabKind::Cholesterol, days, latent);
    }

    /// Fasting glucose around a latent value (tenths of mmol/L): Dutch mmol/L, US mg/dL.
    pub(super) fn glucose(&mut self, diabetic: bool) {
        let days = self.days(0..=500);
        let latent = if diabetic {
            self.rng.random_range(62..=110)
        } else {
            self.rng.random_range(44..=60)
        };
        self.measure(LabKind::Glucose, days, latent);
    }

    pub(super) fn practitioner(&mut self) -> Performer {
        Performer::Practitioner(format!(
            "Practitioner/prac-{:08x}",
            self.rng.random::<u32>()
        ))
    }

    /// What real exports carry besides the truth: resources that are refuted or entered in
    /// error, placed where they would flip a label if a reader counted them. They never count
    /// (see [`truth`]); drawn after the mix has built the patient, in either mix.
    fn refuted_and_entered_in_error(&mut self, as_of: Date) {
        let us = self.p.us;
        let on_metformin = self
            .p
            .medications
            .iter()
            .any(|m| m.kind.is_metformin() && m.status == MedStatus::Active);
        if on_metformin && self.chance(0.06) {
            // A more recent eGFR entered in error, with a value that flips the label.
            let days = match latest_egfr(&self.p, 365) {
                Some((latest, _)) => self.days(0..=latest),
                None => self.days(0..=200),
            };
            let value = if truth_metformin(&self.p) { 75 } else { 8 };
            self.egfr_with_status(days, value, ObsStatus::EnteredInError);
        }
        if on_metformin && self.chance(0.03) {
            // A high-dose order entered in error.
            self.medication(
                MedKind::Metformin,
                MedStatus::EnteredInError,
                1_000_000,
                3,
                1,
            );
        }
        let sexed = anticoagulation_threshold(self.p.gender).is_some();
        if has_active_af(&self.p) {
            if self.chance(0.12) {
                // A diagnosis that would add CHA2DS2-VASc points: refuted (clinicalStatus
                // still active) or entered in error.
                let kind = pick(
                    &mut self.rng,
                    &[
                        CondKind::HeartFailure,
                        CondKind::Hypertension,
                        CondKind::Diabetes,
                        CondKind::Stroke,
                    ],
                );
                let verification = if self.chance(0.5) {
                    Verification::Refuted
                } else {
                    Verification::EnteredInError
                };
                self.condition_verified(kind, ClinStatus::Active, verification);
            }
            if !is_anticoagulated(&self.p) && self.chance(0.1) {
                let (kind, dose_ug, frequency) = if us {
                    (MedKind::Rivaroxaban, 20_000, 1)
                } else {
                    (MedKind::Apixaban, 5_000, 2)
                };
                self.medication(kind, MedStatus::EnteredInError, dose_ug, frequency, 1);
            }
        } else if sexed && self.chance(0.03) {
            // Suspected AF, ruled out (a Holter was normal): the episode stays active.
            self.condition_verified(
                CondKind::AtrialFibrillation,
                ClinStatus::Active,
                Verification::Refuted,
            );
        }
        // The first three topics; the guideline topics are built after (`guideline_topics.rs`).
        debug_assert_eq!(self.p.intended[..3], truth(&self.p, as_of)[..3]);
    }
}

/// Salt of the padding RNG stream.
const PADDING_SALT: u64 = 0x7061_6464_696e_6721;

/// Generates patient `index` of the cohort with this seed, in the given mix.
pub fn generate(seed: u64, index: u64, pseudonym: String, as_of: Date, mix: CohortMix) -> Patient {
    let patient_seed = patient_seed(seed, index);
    let mut rng = StdRng::seed_from_u64(patient_seed);
    let uuid = uuid(&mut rng);
    let us = rng.random_bool(0.2);
    let gender = match rng.random_range(0..200) {
        0 => Gender::Other,
        1 => Gender::Unknown,
        n if n % 2 == 0 => Gender::Female,
        _ => Gender::Male,
    };
    let birthsex_extension =
        us && matches!(gender, Gender::Female | Gender::Male) && rng.random_bool(0.5);
    let mut b = Builder {
        rng,
        p: Patient {
            pseudonym,
            uuid,
            us,
            gender,
            birth_year: 0,
            birthsex_extension,
            conditions: Vec::new(),
            medications: Vec::new(),
            observations: Vec::new(),
            allergies: Vec::new(),
            encounters: Vec::new(),
            latent_egfr: None,
            padding_seed: splitmix64(patient_seed ^ PADDING_SALT),
            intended: [false; TOPIC_COUNT],
            scenario: [
                "no-metformin",
                "no-af",
                "no-home-series",
                "no-nsaid",
                "no-risk-profile",
                "no-phq9",
            ],
        },
        history_cap_days: 7000,
    };
    match mix {
        CohortMix::Enriched => b.enriched(as_of),
        CohortMix::Realistic => b.realistic(as_of),
    }
    b.refuted_and_entered_in_error(as_of);

    // Record order carries no meaning: "most recent" must come from dates.
    let Builder {
        mut rng,
        mut p,
        history_cap_days,
    } = b;
    p.conditions.shuffle(&mut rng);
    p.medications.shuffle(&mut rng);
    p.observations.shuffle(&mut rng);

    // The guideline topics (nsaid-gastroprotection, score2, phq9) draw from a stream of their
    // own, on the finished patient: the first three topics' draws, and the records of patients
    // who get nothing for the later topics, are what they were before those topics existed.
    let mut b = Builder {
        rng: StdRng::seed_from_u64(splitmix64(patient_seed ^ GUIDELINE_SALT)),
        p,
        history_cap_days,
    };
    let before = (
        b.p.conditions.len(),
        b.p.medications.len(),
        b.p.observations.len(),
    );
    b.guideline_topics(as_of, mix);
    let Builder { mut rng, mut p, .. } = b;
    interleave(&mut rng, &mut p.conditions, before.0);
    interleave(&mut rng, &mut p.medications, before.1);
    interleave(&mut rng, &mut p.observations, before.2);
    p
}

/// Salt of the guideline topics' RNG stream.
const GUIDELINE_SALT: u64 = 0x6775_6964_656c_696e;

/// Moves the items from `from` on to random places among the earlier ones, keeping the earlier
/// ones' order.
fn interleave<T>(rng: &mut StdRng, items: &mut Vec<T>, from: usize) {
    let added = items.split_off(from);
    for item in added {
        let at = rng.random_range(0..=items.len());
        items.insert(at, item);
    }
}
