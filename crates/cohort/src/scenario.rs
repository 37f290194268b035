//! The reference labels and the builder of a patient's scenario: each patient's scenario is
//! decided first (by a mix, on a [`Builder`]), then the items (conditions, medications,
//! observations, ...) that express it, then the reference labels, computed from those items by
//! the rule text (never by plugin code).
//!
//! Items are what the record *shows*: a lab value here is the recorded value (the latent truth
//! plus measurement scatter, in the patient's reporting unit), so labels follow the recorded
//! data, as a clinician reading the record would. Items that a clinician would disregard —
//! conditions whose `verificationStatus` is `refuted` or `entered-in-error`, orders and results
//! entered in error — are kept in the record and never count toward a label.
//!
//! Everything here is a pure function of the patient and its RNG: each patient has its own RNG,
//! seeded from the cohort seed and the patient's index (`generator.rs`), so a cohort streams one
//! patient at a time and any patient can be regenerated alone.

use jiff::civil::Date;
use rand::RngExt;
use rand::rngs::StdRng;

use crate::measure;
use crate::patient::{
    Chads, ClinStatus, CondKind, Condition, Gender, Hms, LabKind, LabTiming, MedForm, MedKind,
    MedStatus, Medication, ObsKind, ObsStatus, Observation, Patient, Performer, Value,
    Verification, age_at,
};
use crate::spec::TOPIC_COUNT;

// ------------------------------------------------------------------ ground truth

/// metformin-egfr: active metformin, and the most recent eGFR within 365 days is < 10, or
/// 10–30 with a daily dose > 500 mg, or 30–50 with a daily dose > 1000 mg
/// (NHG/KNMP dose limits, `docs/CLINICAL_REFERENCE.md` rule 1).
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
/// mean diastolic ≥ 85 (ESC/ESH home thresholds, `docs/CLINICAL_REFERENCE.md` rule 4).
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

/// The reference labels of a patient, in [`TOPICS`](crate::spec::TOPICS) order.
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
///
/// Deliberately written again here rather than shared with `plugins/score2` (and again in the
/// test re-reader): the labels must come from the rule text independently of the plugin they
/// judge, or a bug in one would be copied into the other and never be seen.
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
    pub(super) fn refuted_and_entered_in_error(&mut self, as_of: Date) {
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
