//! The latent patient model: each patient's scenario is decided first, then the items (conditions,
//! medications, observations, ...) that express it, then the reference labels, computed from
//! those items by the rule text (never by plugin code).
//!
//! Everything here is a pure function of (seed, patient index, as_of): each patient has its own
//! RNG, seeded from the cohort seed and the patient's index, so a cohort streams one patient at a
//! time and any patient can be regenerated alone.

use jiff::civil::Date;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{RngExt, SeedableRng};

use super::codes::{self, Term};

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
fn birth_year_for(as_of: Date, age: i32) -> i16 {
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
}

/// A CHA2DS2-VASc category.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Chads {
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
        }
    }

    fn chads(self) -> Option<Chads> {
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
}

#[derive(Clone, Debug)]
pub struct Condition {
    pub uuid: String,
    pub kind: CondKind,
    pub status: ClinStatus,
    pub onset_days: u32,
    pub abated_days: Option<u32>,
}

/// `MedicationRequest.status`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MedStatus {
    Active,
    OnHold,
    Completed,
    Stopped,
}

impl MedStatus {
    pub fn code(self) -> &'static str {
        match self {
            MedStatus::Active => "active",
            MedStatus::OnHold => "on-hold",
            MedStatus::Completed => "completed",
            MedStatus::Stopped => "stopped",
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
        }
    }

    fn is_metformin(self) -> bool {
        matches!(self, MedKind::Metformin | MedKind::MetforminEr)
    }

    /// Vitamin K antagonists (B01AA) and DOACs (B01AE, B01AF). Antiplatelets are not.
    fn is_anticoagulant(self) -> bool {
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

/// A medication order: `dose_ug` micrograms, `frequency` times per `period_days` days.
#[derive(Clone, Debug)]
pub struct Medication {
    pub uuid: String,
    pub kind: MedKind,
    pub status: MedStatus,
    pub authored_days: u32,
    pub dose_ug: u32,
    pub frequency: u32,
    pub period_days: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LabKind {
    Egfr,
    Hba1c,
    Cholesterol,
    Potassium,
    Creatinine,
    Phq9,
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
            LabKind::Phq9 => &codes::PHQ9,
        }
    }

    /// UCUM unit (emitted as both `unit` and `code`).
    pub fn unit(self, us: bool) -> &'static str {
        match (self, us) {
            (LabKind::Egfr, _) => "mL/min/{1.73_m2}",
            (LabKind::Hba1c, false) => "mmol/mol",
            (LabKind::Hba1c, true) => "%",
            (LabKind::Cholesterol, false) => "mmol/L",
            (LabKind::Cholesterol, true) => "mg/dL",
            (LabKind::Potassium, _) => "mmol/L",
            (LabKind::Creatinine, false) => "umol/L",
            (LabKind::Creatinine, true) => "mg/dL",
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

/// A numeric value without float arithmetic: an integer, or an integer number of tenths.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Value {
    Int(i64),
    Tenths(i64),
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
        value: Value,
    },
    BloodPressure {
        systolic: i64,
        diastolic: i64,
        performer: Performer,
        /// Local time (+01:00): hour, minute, second.
        time: (u8, u8, u8),
    },
}

#[derive(Clone, Debug)]
pub struct Observation {
    pub uuid: String,
    pub days_ago: u32,
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
    pub conditions: Vec<Condition>,
    pub medications: Vec<Medication>,
    pub observations: Vec<Observation>,
    pub allergies: Vec<Allergy>,
    pub encounters: Vec<Encounter>,
    /// The label each topic's scenario was built to have (checked against [`truth`] in tests).
    pub intended: [bool; 3],
    /// Which scenario each topic drew, for summaries and tests.
    pub scenario: [&'static str; 3],
}

// ------------------------------------------------------------------ ground truth

/// metformin-egfr: active metformin, and the most recent eGFR within 365 days is < 10, or
/// 10–30 with a daily dose > 500 mg, or 30–50 with a daily dose > 1000 mg
/// (NHG/KNMP dose limits, `clinical-reference.md` rule 1).
fn metformin_rule(egfr: i64, dose_ug: u32, frequency: u32, period_days: u32) -> bool {
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

fn truth_metformin(p: &Patient) -> bool {
    let latest_egfr = p
        .observations
        .iter()
        .filter(|o| o.days_ago <= 365)
        .filter_map(|o| match o.kind {
            ObsKind::Lab {
                kind: LabKind::Egfr,
                value: Value::Int(v),
            } => Some((o.days_ago, v)),
            _ => None,
        })
        .min_by_key(|&(days, _)| days)
        .map(|(_, v)| v);
    let Some(egfr) = latest_egfr else {
        return false;
    };
    p.medications
        .iter()
        .filter(|m| m.kind.is_metformin() && m.status == MedStatus::Active)
        .any(|m| metformin_rule(egfr, m.dose_ug, m.frequency, m.period_days))
}

/// CHA2DS2-VASc from the patient's conditions, age and sex (ESC 2020).
fn cha2ds2_vasc(p: &Patient, as_of: Date) -> i32 {
    let has = |cat: Chads, active_only: bool| {
        p.conditions
            .iter()
            .any(|c| c.kind.chads() == Some(cat) && (!active_only || c.status.is_active()))
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

fn truth_af(p: &Patient, as_of: Date) -> bool {
    let af = p
        .conditions
        .iter()
        .any(|c| c.kind == CondKind::AtrialFibrillation && c.status.is_active());
    let anticoagulated = p
        .medications
        .iter()
        .any(|m| m.kind.is_anticoagulant() && m.status == MedStatus::Active);
    let threshold = match p.gender {
        Gender::Female => 3,
        Gender::Male => 2,
        // The rule has no threshold for other/unknown; the generator gives them no AF.
        Gender::Other | Gender::Unknown => return false,
    };
    af && !anticoagulated && cha2ds2_vasc(p, as_of) >= threshold
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
        {
            n += 1;
            sys += systolic;
            dia += diastolic;
        }
    }
    n >= 12 && (sys >= 135 * n || dia >= 85 * n)
}

/// The reference labels of a patient, in [`super::TOPICS`] order.
pub fn truth(p: &Patient, as_of: Date) -> [bool; 3] {
    [truth_metformin(p), truth_af(p, as_of), truth_home_bp(p)]
}

// ------------------------------------------------------------------ generation

struct Builder {
    rng: StdRng,
    p: Patient,
}

/// Draw one item from a non-empty list.
fn pick<T: Copy>(rng: &mut StdRng, items: &[T]) -> T {
    items[rng.random_range(0..items.len())]
}

impl Builder {
    fn pct(&mut self) -> u32 {
        self.rng.random_range(0..100)
    }

    fn chance(&mut self, p: f64) -> bool {
        self.rng.random_bool(p)
    }

    fn days(&mut self, range: std::ops::RangeInclusive<u32>) -> u32 {
        self.rng.random_range(range)
    }

    fn uuid(&mut self) -> String {
        uuid(&mut self.rng)
    }

    fn has_condition(&self, kind: CondKind) -> bool {
        self.p.conditions.iter().any(|c| c.kind == kind)
    }

    fn condition(&mut self, kind: CondKind, status: ClinStatus) {
        let onset_days = self.days(60..=7000);
        let abated_days = match status {
            ClinStatus::Inactive | ClinStatus::Remission | ClinStatus::Resolved => {
                Some(self.days(1..=onset_days - 1))
            }
            _ => None,
        };
        let uuid = self.uuid();
        self.p.conditions.push(Condition {
            uuid,
            kind,
            status,
            onset_days,
            abated_days,
        });
    }

    /// A status the CHA2DS2-VASc rule counts (mostly active).
    fn counting_status(&mut self) -> ClinStatus {
        match self.pct() {
            0..80 => ClinStatus::Active,
            80..90 => ClinStatus::Recurrence,
            _ => ClinStatus::Relapse,
        }
    }

    /// A status the rule does not count for HF/HTN/DM.
    fn past_status(&mut self) -> ClinStatus {
        pick(
            &mut self.rng,
            &[
                ClinStatus::Inactive,
                ClinStatus::Remission,
                ClinStatus::Resolved,
            ],
        )
    }

    fn any_status(&mut self) -> ClinStatus {
        match self.pct() {
            0..45 => ClinStatus::Active,
            45..55 => self.counting_status(),
            _ => self.past_status(),
        }
    }

    fn medication(
        &mut self,
        kind: MedKind,
        status: MedStatus,
        dose_ug: u32,
        frequency: u32,
        period_days: u32,
    ) {
        debug_assert!(!kind.term().codings(self.p.us).is_empty());
        let authored_days = self.days(7..=900);
        let uuid = self.uuid();
        self.p.medications.push(Medication {
            uuid,
            kind,
            status,
            authored_days,
            dose_ug,
            frequency,
            period_days,
        });
    }

    fn lab(&mut self, kind: LabKind, days_ago: u32, value: Value) {
        let uuid = self.uuid();
        self.p.observations.push(Observation {
            uuid,
            days_ago,
            kind: ObsKind::Lab { kind, value },
        });
    }

    fn blood_pressure(
        &mut self,
        days_ago: u32,
        morning: bool,
        (systolic, diastolic): (i64, i64),
        performer: Performer,
    ) {
        let hour = if morning {
            self.rng.random_range(7..=9)
        } else {
            self.rng.random_range(18..=22)
        };
        let time = (
            hour,
            self.rng.random_range(0..60),
            self.rng.random_range(0..60),
        );
        let uuid = self.uuid();
        self.p.observations.push(Observation {
            uuid,
            days_ago,
            kind: ObsKind::BloodPressure {
                systolic,
                diastolic,
                performer,
                time,
            },
        });
    }

    fn egfr(&mut self, days_ago: u32, value: i64) {
        self.lab(LabKind::Egfr, days_ago, Value::Int(value));
    }

    fn hba1c(&mut self) {
        let days = self.days(14..=400);
        let value = if self.p.us {
            Value::Tenths(self.rng.random_range(55..=95))
        } else {
            Value::Int(self.rng.random_range(38..=80))
        };
        self.lab(LabKind::Hba1c, days, value);
    }

    /// Total cholesterol: mmol/L for Dutch, mg/dL for US patients.
    fn cholesterol(&mut self) {
        let days = self.days(0..=700);
        let value = if self.p.us {
            Value::Int(self.rng.random_range(140..=280))
        } else {
            Value::Tenths(self.rng.random_range(36..=74))
        };
        self.lab(LabKind::Cholesterol, days, value);
    }

    fn practitioner(&mut self) -> Performer {
        Performer::Practitioner(format!(
            "Practitioner/prac-{:08x}",
            self.rng.random::<u32>()
        ))
    }

    // -------------------------------------------------------------- metformin-egfr

    /// An eGFR value, enriched for the decision bands and their edges (mL/min/1.73 m²).
    fn egfr_value(&mut self) -> i64 {
        if self.chance(0.25) {
            return pick(&mut self.rng, &[9, 10, 29, 30, 49, 50]);
        }
        match self.pct() {
            0..10 => self.rng.random_range(4..=9),
            10..35 => self.rng.random_range(10..=29),
            35..65 => self.rng.random_range(30..=49),
            _ => self.rng.random_range(50..=110),
        }
    }

    fn metformin_scenario(&mut self) -> (bool, &'static str) {
        let us = self.p.us;
        self.condition(CondKind::Diabetes, ClinStatus::Active);
        self.hba1c();
        let status = match self.pct() {
            0..80 => MedStatus::Active,
            80..89 => MedStatus::Stopped,
            89..96 => MedStatus::Completed,
            _ => MedStatus::OnHold,
        };
        // (kind, dose mg, times, per days): daily 500, 1000, 1500, 1700, 2000, 2550 mg, one
        // spelled as 14 doses a week to exercise dose × frequency / period.
        const NL: [(MedKind, u32, u32, u32); 8] = [
            (MedKind::Metformin, 500, 1, 1),
            (MedKind::Metformin, 500, 2, 1),
            (MedKind::Metformin, 500, 2, 1),
            (MedKind::Metformin, 500, 3, 1),
            (MedKind::Metformin, 850, 2, 1),
            (MedKind::Metformin, 1000, 2, 1),
            (MedKind::Metformin, 850, 3, 1),
            (MedKind::Metformin, 500, 14, 7),
        ];
        const US: [(MedKind, u32, u32, u32); 8] = [
            (MedKind::Metformin, 500, 1, 1),
            (MedKind::Metformin, 500, 2, 1),
            (MedKind::Metformin, 500, 3, 1),
            (MedKind::Metformin, 1000, 2, 1),
            (MedKind::MetforminEr, 500, 1, 1),
            (MedKind::MetforminEr, 1000, 1, 1),
            (MedKind::MetforminEr, 2000, 1, 1),
            (MedKind::Metformin, 500, 14, 7),
        ];
        let regimens: &[(MedKind, u32, u32, u32)] = if us { &US } else { &NL };
        let (kind, dose, freq, period) = pick(&mut self.rng, regimens);
        if self.chance(0.25) {
            // An earlier order, since replaced: it must not count.
            let (k, d, f, per) = pick(&mut self.rng, regimens);
            let old_status = pick(&mut self.rng, &[MedStatus::Stopped, MedStatus::Completed]);
            self.medication(k, old_status, d * 1000, f, per);
        }
        self.medication(kind, status, dose * 1000, freq, period);
        if status != MedStatus::Active && !us && self.chance(0.5) {
            self.medication(MedKind::Gliclazide, MedStatus::Active, 80_000, 1, 1);
        }

        // eGFR history: the most recent value within 365 days decides. Dates stay clear of the
        // 365-day boundary (fresh ≤ 350 days, stale ≥ 380 days) and never repeat a day.
        let (fresh, scenario) = match self.pct() {
            0..55 => {
                let days = self.days(0..=350);
                let v = self.egfr_value();
                self.egfr(days, v);
                (Some(v), "egfr-fresh")
            }
            55..70 => {
                let days = self.days(0..=300);
                let older = self.days(days + 14..=350);
                let (v, w) = (self.egfr_value(), self.egfr_value());
                self.egfr(older, w);
                self.egfr(days, v);
                (Some(v), "egfr-fresh-and-older")
            }
            70..80 => {
                let days = self.days(0..=350);
                let stale = self.days(380..=1100);
                let (v, w) = (self.egfr_value(), self.egfr_value());
                self.egfr(stale, w);
                self.egfr(days, v);
                (Some(v), "egfr-fresh-and-stale")
            }
            80..92 => {
                let stale = self.days(380..=1100);
                let w = self.egfr_value();
                self.egfr(stale, w);
                (None, "egfr-stale-only")
            }
            _ => (None, "egfr-none"),
        };
        let intended = status == MedStatus::Active
            && fresh.is_some_and(|v| metformin_rule(v, dose * 1000, freq, period));
        let scenario = match status {
            MedStatus::Active => scenario,
            _ => "metformin-not-active",
        };
        (intended, scenario)
    }

    // -------------------------------------------------------------- af-anticoagulation

    /// Builds an AF scenario around a chosen CHA2DS2-VASc score near the sex's threshold.
    /// Returns (age, intended label, scenario name).
    fn af_scenario(&mut self, dm_present: bool) -> (i32, bool, &'static str) {
        let female = self.p.gender == Gender::Female;
        let threshold: i32 = if female { 3 } else { 2 };
        let af_status = match self.pct() {
            0..62 => ClinStatus::Active,
            62..71 => ClinStatus::Recurrence,
            71..80 => ClinStatus::Relapse,
            80..87 => ClinStatus::Resolved,
            87..94 => ClinStatus::Inactive,
            _ => ClinStatus::Remission,
        };
        self.condition(CondKind::AtrialFibrillation, af_status);

        // One-point items still free to use (DM is already given when on metformin).
        let mut ones = vec![Chads::HeartFailure, Chads::Hypertension, Chads::Vascular];
        if !dm_present {
            ones.push(Chads::Diabetes);
        }
        let free_ones = ones.len() as i32;
        let fixed = i32::from(female) + i32::from(dm_present);
        let offset = match self.pct() {
            0..12 => -2,
            12..35 => -1,
            35..65 => 0,
            65..82 => 1,
            _ => self.rng.random_range(2..=4),
        };
        let score = (threshold + offset).clamp(fixed, fixed + 2 + 2 + free_ones);
        let rest = score - fixed;
        let age_points = self
            .rng
            .random_range((rest - 2 - free_ones).max(0)..=rest.min(2));
        let age = match age_points {
            0 if self.chance(0.2) => 64,
            0 => self.rng.random_range(40..=63),
            1 => match self.pct() {
                0..20 => 65,
                20..40 => 74,
                _ => self.rng.random_range(66..=73),
            },
            _ if self.chance(0.25) => 75,
            _ => self.rng.random_range(76..=95),
        };
        let mut rest = rest - age_points;
        let thrombo = rest > free_ones || (rest >= 2 && self.chance(0.4));
        if thrombo {
            rest -= 2;
        }
        ones.shuffle(&mut self.rng);
        let (scored, unscored) = ones.split_at(rest as usize);
        let (scored, unscored) = (scored.to_vec(), unscored.to_vec());

        if thrombo {
            let kinds = [CondKind::Stroke, CondKind::Tia, CondKind::PulmonaryEmbolism];
            let first = pick(&mut self.rng, &kinds);
            let status = self.any_status();
            self.condition(first, status);
            if self.chance(0.2) {
                // A second event in the same category: still 2 points, not 4.
                let second = pick(&mut self.rng, &kinds);
                if second != first {
                    let status = self.any_status();
                    self.condition(second, status);
                }
            }
        }
        for item in scored {
            let status = self.counting_status();
            match item {
                Chads::HeartFailure => self.condition(CondKind::HeartFailure, status),
                Chads::Hypertension => {
                    let kind = if self.chance(0.8) {
                        CondKind::Hypertension
                    } else {
                        CondKind::HypertensionOrganDamage
                    };
                    self.condition(kind, status);
                }
                Chads::Diabetes => {
                    self.condition(CondKind::Diabetes, status);
                    self.hba1c();
                }
                Chads::Vascular => {
                    let kinds = [
                        CondKind::MyocardialInfarction,
                        CondKind::ChronicIhd,
                        CondKind::PeripheralArterialDisease,
                    ];
                    let first = pick(&mut self.rng, &kinds);
                    let status = self.any_status();
                    self.condition(first, status);
                    if self.chance(0.2) {
                        // Two vascular diagnoses: still 1 point.
                        let second = pick(&mut self.rng, &kinds);
                        if second != first {
                            let status = self.any_status();
                            self.condition(second, status);
                        }
                    }
                }
                Chads::Thromboembolism => unreachable!("two-point item"),
            }
        }
        // Distractor: a past HF/HTN/DM episode that would cross the threshold if counted.
        let distractors: Vec<Chads> = unscored
            .iter()
            .copied()
            .filter(|c| *c != Chads::Vascular)
            .collect();
        if !distractors.is_empty() && self.chance(0.35) {
            let status = self.past_status();
            match pick(&mut self.rng, &distractors) {
                Chads::HeartFailure => self.condition(CondKind::HeartFailure, status),
                Chads::Hypertension => self.condition(CondKind::Hypertension, status),
                _ => self.condition(CondKind::Diabetes, status),
            }
        }

        // Anticoagulation.
        let us = self.p.us;
        let anticoagulants: &[(MedKind, u32, u32)] = if us {
            &[
                (MedKind::Warfarin, 5, 1),
                (MedKind::Apixaban, 5, 2),
                (MedKind::Rivaroxaban, 20, 1),
            ]
        } else {
            &[
                (MedKind::Acenocoumarol, 1, 1),
                (MedKind::Phenprocoumon, 3, 1),
                (MedKind::Warfarin, 5, 1),
                (MedKind::Dabigatran, 150, 2),
                (MedKind::Rivaroxaban, 20, 1),
                (MedKind::Apixaban, 5, 2),
                (MedKind::Edoxaban, 60, 1),
            ]
        };
        let antiplatelets: &[(MedKind, u32)] = if us {
            &[(MedKind::Aspirin, 81), (MedKind::Clopidogrel, 75)]
        } else {
            &[
                (MedKind::Aspirin, 80),
                (MedKind::Carbasalate, 100),
                (MedKind::Clopidogrel, 75),
            ]
        };
        let (anticoagulated, antiplatelet, treatment) = match self.pct() {
            0..50 => (false, self.chance(0.3), "none"),
            50..72 => (true, self.chance(0.1), "anticoagulant"),
            72..84 => {
                let status = match self.pct() {
                    0..70 => MedStatus::Stopped,
                    70..85 => MedStatus::Completed,
                    _ => MedStatus::OnHold,
                };
                let (kind, dose, freq) = pick(&mut self.rng, anticoagulants);
                self.medication(kind, status, dose * 1000, freq, 1);
                (false, self.chance(0.3), "anticoagulant-not-active")
            }
            _ => (false, true, "antiplatelet-only"),
        };
        if anticoagulated {
            let (kind, dose, freq) = pick(&mut self.rng, anticoagulants);
            self.medication(kind, MedStatus::Active, dose * 1000, freq, 1);
        }
        if antiplatelet {
            let (kind, dose) = pick(&mut self.rng, antiplatelets);
            self.medication(kind, MedStatus::Active, dose * 1000, 1, 1);
        }

        let intended = af_status.is_active() && !anticoagulated && score >= threshold;
        let scenario = if !af_status.is_active() {
            "af-not-active"
        } else if score == threshold || score == threshold - 1 {
            if anticoagulated {
                "af-threshold-anticoagulated"
            } else {
                "af-threshold"
            }
        } else {
            treatment
        };
        (age, intended, scenario)
    }

    // -------------------------------------------------------------- home-bp

    /// `n` integer readings summing exactly to `sum`, scattered ±6 around the mean.
    fn readings(&mut self, n: usize, sum: i64) -> Vec<i64> {
        let mean = sum / n as i64;
        let mut values: Vec<i64> = (0..n)
            .map(|_| mean + self.rng.random_range(-6..=6))
            .collect();
        let mut diff = sum - values.iter().sum::<i64>();
        let mut i = self.rng.random_range(0..n);
        while diff != 0 {
            let step = diff.signum();
            values[i % n] += step;
            diff -= step;
            i += 1;
        }
        values
    }

    /// Sum of `n` readings for a target relative to `threshold` (135 systolic, 85 diastolic).
    fn target_sum(&mut self, target: Target, n: usize, threshold: i64) -> i64 {
        let n = n as i64;
        match target {
            Target::High => {
                // Diastolic stays in 88–97 so it never nears the systolic value.
                let max_over = if threshold == 85 { 12 } else { 20 };
                (threshold + self.rng.random_range(3..=max_over)) * n + self.rng.random_range(0..n)
            }
            Target::Low => {
                (threshold - self.rng.random_range(4..=12)) * n - self.rng.random_range(0..n)
            }
            Target::Exact => threshold * n,
            Target::JustBelow => threshold * n - 1,
        }
    }

    /// A self-measured series over `slots` (days ago, morning?) with the given targets.
    fn home_series(&mut self, slots: &[(u32, bool)], systolic: Target, diastolic: Target) {
        let n = slots.len();
        let sys_sum = self.target_sum(systolic, n, 135);
        let dia_sum = self.target_sum(diastolic, n, 85);
        let sys = self.readings(n, sys_sum);
        let dia = self.readings(n, dia_sum);
        for (i, &(days, morning)) in slots.iter().enumerate() {
            self.blood_pressure(days, morning, (sys[i], dia[i]), Performer::Patient);
        }
    }

    fn home_bp_scenario(&mut self) -> (bool, &'static str) {
        use Target::{Exact, High, JustBelow, Low};
        // Morning and evening for each day in `days` (days ago, most recent last).
        let twice_daily = |days: std::ops::RangeInclusive<u32>| -> Vec<(u32, bool)> {
            days.rev().flat_map(|d| [(d, true), (d, false)]).collect()
        };
        match self.pct() {
            0..45 => {
                const TARGETS: [(Target, Target, bool, &str); 10] = [
                    (High, High, true, "bp-7d-high"),
                    (High, Low, true, "bp-7d-high-systolic"),
                    (Low, High, true, "bp-7d-high-diastolic"),
                    (Low, Low, false, "bp-7d-normal"),
                    (Exact, Low, true, "bp-7d-systolic-135"),
                    (JustBelow, Low, false, "bp-7d-systolic-below-135"),
                    (Low, Exact, true, "bp-7d-diastolic-85"),
                    (Low, JustBelow, false, "bp-7d-diastolic-below-85"),
                    (JustBelow, JustBelow, false, "bp-7d-both-just-below"),
                    (Exact, Exact, true, "bp-7d-both-exact"),
                ];
                let (s, d, label, name) = pick(&mut self.rng, &TARGETS);
                self.home_series(&twice_daily(0..=6), s, d);
                (label, name)
            }
            45..53 => {
                // Exactly 12 readings in the window: 6 days, twice daily.
                let high = self.chance(0.6);
                let t = if high { High } else { Low };
                self.home_series(&twice_daily(0..=5), t, Low);
                (high, "bp-12-readings")
            }
            53..58 => {
                // 14 slots, two missed: still 12.
                let mut slots = twice_daily(0..=6);
                slots.shuffle(&mut self.rng);
                slots.truncate(12);
                self.home_series(&slots, High, High);
                (true, "bp-12-readings-gaps")
            }
            58..64 => {
                // 11 readings: too few, however high.
                let mut slots = twice_daily(0..=6);
                slots.shuffle(&mut self.rng);
                slots.truncate(11);
                self.home_series(&slots, High, High);
                (false, "bp-11-readings")
            }
            64..70 => {
                // Series from 7 days ago to yesterday: only 12 readings fall in the window and
                // they average just below; the two out-of-window readings are very high.
                self.home_series(&twice_daily(1..=6), JustBelow, JustBelow);
                self.blood_pressure(7, true, (178, 104), Performer::Patient);
                self.blood_pressure(7, false, (182, 106), Performer::Patient);
                (false, "bp-window-edge")
            }
            70..78 => {
                // Incomplete: 5 high readings.
                let start = self.days(2..=6);
                let slots: Vec<(u32, bool)> =
                    twice_daily(start - 2..=start).into_iter().take(5).collect();
                self.home_series(&slots, High, High);
                (false, "bp-incomplete")
            }
            78..88 => {
                // An older series (ended 8–14 days ago), perhaps followed by a recent one.
                let end = self.days(8..=14);
                self.home_series(&twice_daily(end..=end + 6), High, High);
                if self.chance(0.4) {
                    let high = self.chance(0.5);
                    let t = if high { High } else { Low };
                    self.home_series(&twice_daily(0..=6), t, Low);
                    (high, "bp-old-and-recent")
                } else {
                    (false, "bp-old-series")
                }
            }
            _ => {
                // 10 home readings plus 4 clinic readings in the window, all high: clinic
                // readings do not count, so 10 < 12.
                self.home_series(&twice_daily(0..=4), High, High);
                for _ in 0..4 {
                    let days = self.days(0..=6);
                    let performer = if self.chance(0.5) {
                        self.practitioner()
                    } else {
                        Performer::Unrecorded
                    };
                    let bp = (
                        self.rng.random_range(145..=170),
                        self.rng.random_range(88..=100),
                    );
                    self.blood_pressure(days, true, bp, performer);
                }
                (false, "bp-home-plus-clinic")
            }
        }
    }

    // -------------------------------------------------------------- background

    /// Items unrelated to the topic's label, or related items in patients whose label they
    /// cannot change.
    fn background(&mut self, af: bool, metformin: bool, home_bp: bool, age: i32) {
        let us = self.p.us;
        if !af {
            if self.chance(0.3) {
                let kind = if self.chance(0.8) {
                    CondKind::Hypertension
                } else {
                    CondKind::HypertensionOrganDamage
                };
                let status = if self.chance(0.85) {
                    ClinStatus::Active
                } else {
                    ClinStatus::Resolved
                };
                self.condition(kind, status);
            }
            for (kind, p) in [
                (CondKind::HeartFailure, 0.04),
                (CondKind::MyocardialInfarction, 0.04),
                (CondKind::Stroke, 0.03),
                (CondKind::Tia, 0.03),
                (CondKind::PeripheralArterialDisease, 0.03),
            ] {
                if self.chance(p) {
                    let status = self.any_status();
                    self.condition(kind, status);
                    if kind != CondKind::HeartFailure && self.chance(0.7) {
                        let drug = if us {
                            MedKind::Aspirin
                        } else {
                            MedKind::Carbasalate
                        };
                        let dose = if us { 81 } else { 100 };
                        self.medication(drug, MedStatus::Active, dose * 1000, 1, 1);
                    }
                }
            }
            if self.chance(0.02) {
                // Pulmonary embolism on a DOAC, without AF.
                self.condition(CondKind::PulmonaryEmbolism, ClinStatus::Active);
                self.medication(MedKind::Rivaroxaban, MedStatus::Active, 20_000, 1, 1);
            }
            if !metformin && self.chance(0.1) {
                self.condition(CondKind::Diabetes, ClinStatus::Active);
                self.hba1c();
                if !us && self.chance(0.4) {
                    self.medication(MedKind::Gliclazide, MedStatus::Active, 80_000, 1, 1);
                }
            }
        }
        if !metformin && self.chance(0.25) {
            for _ in 0..self.rng.random_range(1..=2) {
                let days = self.days(0..=900);
                let v = self.rng.random_range(12..=110);
                self.egfr(days, v);
            }
        }
        if self.chance(0.1) {
            self.condition(CondKind::Asthma, ClinStatus::Active);
            self.medication(MedKind::Salbutamol, MedStatus::Active, 100, 4, 1);
        }
        if age >= 40 && self.chance(0.05) {
            self.condition(CondKind::Copd, ClinStatus::Active);
        }
        if self.chance(0.08) {
            let status = self.any_status();
            self.condition(CondKind::Depression, status);
            if self.chance(0.6) {
                let days = self.days(0..=400);
                let v = self.rng.random_range(2..=24);
                self.lab(LabKind::Phq9, days, Value::Int(v));
            }
        }
        if self.chance(0.3) {
            let (kind, dose) = if us || self.chance(0.5) {
                (MedKind::Simvastatin, 40)
            } else {
                (MedKind::Atorvastatin, 20)
            };
            self.medication(kind, MedStatus::Active, dose * 1000, 1, 1);
        }
        if self.chance(0.4) {
            self.cholesterol();
        }
        if self.chance(0.15) {
            let days = self.days(0..=700);
            let v = self.rng.random_range(35..=52);
            self.lab(LabKind::Potassium, days, Value::Tenths(v));
        }
        if self.chance(0.15) {
            let days = self.days(0..=700);
            let value = if us {
                Value::Tenths(self.rng.random_range(6..=25))
            } else {
                Value::Int(self.rng.random_range(55..=220))
            };
            self.lab(LabKind::Creatinine, days, value);
        }
        if self.p.conditions.iter().any(|c| {
            matches!(
                c.kind,
                CondKind::Hypertension | CondKind::HypertensionOrganDamage
            )
        }) && self.chance(0.6)
        {
            self.medication(MedKind::Lisinopril, MedStatus::Active, 10_000, 1, 1);
        }
        if self.chance(0.1) {
            self.medication(MedKind::Omeprazole, MedStatus::Active, 20_000, 1, 1);
        }
        // Clinic blood pressure: never counts for home-bp, some inside the 7-day window.
        for _ in 0..self.rng.random_range(0..=2) {
            let days = if self.chance(0.15) {
                self.days(0..=6)
            } else {
                self.days(7..=730)
            };
            let performer = if self.chance(0.5) {
                self.practitioner()
            } else {
                Performer::Unrecorded
            };
            let bp = (
                self.rng.random_range(115..=175),
                self.rng.random_range(65..=102),
            );
            self.blood_pressure(days, true, bp, performer);
        }
        // A few sporadic self-measurements outside a series: far too few to count.
        if !home_bp && self.chance(0.06) {
            for _ in 0..self.rng.random_range(1..=4) {
                let days = self.days(0..=30);
                let bp = (
                    self.rng.random_range(120..=165),
                    self.rng.random_range(70..=100),
                );
                let morning = self.chance(0.5);
                self.blood_pressure(days, morning, bp, Performer::Patient);
            }
        }
        // Every patient carries at least one item no topic looks at.
        let unrelated_condition = self.p.conditions.iter().any(|c| {
            matches!(
                c.kind,
                CondKind::Asthma | CondKind::Copd | CondKind::Depression
            )
        });
        let unrelated_medication = self.p.medications.iter().any(|m| {
            matches!(
                m.kind,
                MedKind::Simvastatin
                    | MedKind::Atorvastatin
                    | MedKind::Omeprazole
                    | MedKind::Salbutamol
            )
        });
        let unrelated_lab = self.p.observations.iter().any(|o| {
            matches!(
                o.kind,
                ObsKind::Lab {
                    kind: LabKind::Cholesterol
                        | LabKind::Potassium
                        | LabKind::Creatinine
                        | LabKind::Phq9,
                    ..
                }
            )
        });
        if !(unrelated_condition || unrelated_medication || unrelated_lab) {
            self.cholesterol();
        }
        if self.chance(0.06) {
            let uuid = self.uuid();
            let active = self.chance(0.85);
            self.p.allergies.push(Allergy { uuid, active });
        }
        for _ in 0..self.rng.random_range(1..=3) {
            let uuid = self.uuid();
            let days_ago = self.days(0..=700);
            let class = self.rng.random_range(0..codes::ENCOUNTER_CLASS.len());
            let time = (
                self.rng.random_range(8..=17),
                5 * self.rng.random_range(0..12),
            );
            self.p.encounters.push(Encounter {
                uuid,
                days_ago,
                class,
                time,
            });
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Target {
    High,
    Low,
    Exact,
    JustBelow,
}

/// Generates patient `index` of the cohort with this seed.
pub fn generate(seed: u64, index: u64, pseudonym: String, as_of: Date) -> Patient {
    let mut rng = StdRng::seed_from_u64(patient_seed(seed, index));
    let uuid = uuid(&mut rng);
    let us = rng.random_bool(0.2);
    let gender = match rng.random_range(0..200) {
        0 => Gender::Other,
        1 => Gender::Unknown,
        n if n % 2 == 0 => Gender::Female,
        _ => Gender::Male,
    };
    // Enriched prevalences, drawn independently per topic.
    let metformin = rng.random_bool(0.35);
    let af = rng.random_bool(0.20) && matches!(gender, Gender::Female | Gender::Male);
    let home_bp = rng.random_bool(0.25);

    let mut b = Builder {
        rng,
        p: Patient {
            pseudonym,
            uuid,
            us,
            gender,
            birth_year: 0,
            conditions: Vec::new(),
            medications: Vec::new(),
            observations: Vec::new(),
            allergies: Vec::new(),
            encounters: Vec::new(),
            intended: [false; 3],
            scenario: ["no-metformin", "no-af", "no-home-series"],
        },
    };
    if metformin {
        let (label, name) = b.metformin_scenario();
        b.p.intended[0] = label;
        b.p.scenario[0] = name;
    }
    let age = if af {
        let (age, label, name) = b.af_scenario(metformin);
        b.p.intended[1] = label;
        b.p.scenario[1] = name;
        age
    } else if metformin {
        b.rng.random_range(35..=90)
    } else {
        b.rng.random_range(20..=92)
    };
    b.p.birth_year = birth_year_for(as_of, age);
    if home_bp {
        let (label, name) = b.home_bp_scenario();
        b.p.intended[2] = label;
        b.p.scenario[2] = name;
    }
    b.background(af, metformin, home_bp, age);
    debug_assert!(!b.has_condition(CondKind::AtrialFibrillation) || af);

    // Record order carries no meaning: "most recent" must come from dates.
    let Builder { mut rng, mut p } = b;
    p.conditions.shuffle(&mut rng);
    p.medications.shuffle(&mut rng);
    p.observations.shuffle(&mut rng);
    p
}
