//! The realistic mix: a Dutch GP list's age structure and the prevalences of the sample
//! topics' conditions, co-medication and monitoring. Nothing is built toward a label: the
//! labels are whatever the recorded data give, so alert rates and predictive values measured
//! on this mix are of the order a practice would see.
//!
//! Sources and assumptions (rounded; where a figure is a modelling assumption it says so):
//! - **Age**: CBS population of the Netherlands on 1 January 2024 by decade (0–19 ≈ 22 %,
//!   65+ ≈ 21 %, 80+ ≈ 5 %); a GP list follows the population it serves.
//! - **Type 2 diabetes** ~6–7 % of adults (about 1.2 million Dutch people have diabetes, ~90 %
//!   type 2; NIVEL/Diabetesfonds), rising from ~1 % in the thirties to ~16–18 % from 70.
//!   **Metformin**: first choice in the NHG-Standaard M01; ~80 % of type 2 patients use it
//!   (assumption), fewer when the eGFR is below 30. The GP adapts the dose to the known kidney
//!   function in 80 % of users (assumption): the remaining 20 %, and measurements that scatter
//!   across a threshold, are where the metformin-egfr alerts come from.
//! - **Atrial fibrillation** ~2 % overall, rising steeply with age (~0.3 % in the forties, 3 %
//!   in the sixties, 8 % in the seventies, 14–17 % from 80; men ~1.5 × women), as Dutch GP
//!   registrations and the ESC 2020 guideline report. Comorbidity raises with AF: hypertension,
//!   heart failure (×3) and stroke/TIA (×2). **Oral anticoagulation** in ~80 % of AF patients
//!   with an indication (CHA2DS2-VASc ≥ 2 men, ≥ 3 women; registries report 75–85 %), ~45 %
//!   one point below, ~15 % lower; DOACs ~70 % of Dutch users, vitamin K antagonists the rest.
//! - **Chronic kidney disease stage 3+** (latent eGFR < 60) in ~10 % of patients 65+
//!   (assumption at the top of the 5–10 % usually quoted for older adults; screening studies
//!   find more), ×2.5 with diabetes (so that roughly a quarter of older type 2 patients has
//!   CKD 3+, as reported), ×2 with heart failure. Other adults' eGFR follows the age decline
//!   (~125 − 0.75 × age, ±12, at least 62).
//! - **Kidney-function monitoring** (assumption following NHG practice): diabetes, CKD, heart
//!   failure or metformin: 96 % have an eGFR, 85 % of them within 12 months, every 3–7 months
//!   with CKD else yearly; hypertension, AF, vascular disease or age 70+: 80 %, 70 % recent;
//!   other adults: 20 %. The rest have no eGFR, or only one older than 12 months.
//! - **Home blood-pressure series** (7 days, morning and evening) at any moment in ~2–3 % of
//!   adults: 6 % of those with hypertension, 2.5 % of other adults from 40 (assumption). 70 %
//!   complete, 10 % with one or two readings missed, 10 % broken off, 10 % finished 1–4 weeks ago.
//!   Home means follow a latent level (systolic ~128 ± 12, +8 with hypertension) with reading
//!   scatter (8/5 mmHg).
//!
//! These figures are a plausible model, not a registry extract: check a figure before quoting
//! it as epidemiology.

use jiff::civil::Date;
use rand::RngExt;
use rand::seq::SliceRandom;

use crate::codes;
use crate::measure::{div_round, z_milli};
use crate::patient::{
    Allergy, ClinStatus, CondKind, Encounter, Gender, LabKind, MedKind, MedStatus, Performer,
    birth_year_for,
};
use crate::scenario::{Builder, anticoagulation_threshold, cha2ds2_vasc, pick, truth};

/// Share of the list per decade of age (0–9, 10–19, ..., 90+), per mille (CBS 2024, rounded).
const AGE_PER_MILLE: [u32; 10] = [105, 115, 125, 125, 120, 135, 125, 100, 40, 10];

/// Prevalence per decade of age.
type ByDecade = [f64; 10];
const DIABETES: ByDecade = [0.0, 0.001, 0.003, 0.01, 0.03, 0.07, 0.11, 0.16, 0.18, 0.17];
const ATRIAL_FIBRILLATION: ByDecade = [
    0.0, 0.0, 0.0005, 0.0005, 0.003, 0.01, 0.03, 0.08, 0.14, 0.17,
];
const HYPERTENSION: ByDecade = [0.0, 0.0, 0.02, 0.04, 0.09, 0.18, 0.30, 0.42, 0.50, 0.50];
const HEART_FAILURE: ByDecade = [0.0, 0.0, 0.0, 0.0, 0.001, 0.003, 0.01, 0.035, 0.09, 0.13];
const STROKE_OR_TIA: ByDecade = [0.0, 0.0, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.08, 0.09];
const VASCULAR: ByDecade = [0.0, 0.0, 0.0, 0.002, 0.01, 0.03, 0.07, 0.12, 0.15, 0.15];
const CKD_STAGE_3: ByDecade = [
    0.0, 0.0, 0.002, 0.003, 0.005, 0.012, 0.03, 0.065, 0.12, 0.20,
];
const COPD: ByDecade = [0.0, 0.0, 0.0, 0.0, 0.01, 0.02, 0.04, 0.07, 0.08, 0.08];

/// Metformin regimens (kind, mg per dose, doses per day).
const METFORMIN_NL: [(MedKind, u32, u32); 6] = [
    (MedKind::Metformin, 500, 1),
    (MedKind::Metformin, 500, 2),
    (MedKind::Metformin, 500, 3),
    (MedKind::Metformin, 850, 2),
    (MedKind::Metformin, 1000, 2),
    (MedKind::Metformin, 850, 3),
];
const METFORMIN_US: [(MedKind, u32, u32); 6] = [
    (MedKind::Metformin, 500, 1),
    (MedKind::Metformin, 500, 2),
    (MedKind::Metformin, 1000, 2),
    (MedKind::MetforminEr, 500, 1),
    (MedKind::MetforminEr, 1000, 1),
    (MedKind::MetforminEr, 2000, 1),
];

/// How closely kidney function is followed.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Monitoring {
    Close,
    Regular,
    Occasional,
}

/// The diagnoses drawn for a patient, before they are written.
struct Diagnoses {
    diabetes: bool,
    af: bool,
    hypertension: bool,
    heart_failure: bool,
    stroke: bool,
    vascular: bool,
}

impl Builder {
    /// Builds a patient of a Dutch GP list.
    pub(super) fn realistic(&mut self, as_of: Date) {
        let age = self.list_age();
        self.p.birth_year = birth_year_for(as_of, age);
        self.history_cap_days = u32::try_from(age).unwrap_or(0) * 365;
        let decade = usize::try_from(age / 10).unwrap_or(0).min(9);
        let adult = age >= 18;
        let male = self.p.gender == Gender::Male;
        let sexed = anticoagulation_threshold(self.p.gender).is_some();

        let diabetes = adult && self.chance(DIABETES[decade]);
        let af = sexed && self.chance(ATRIAL_FIBRILLATION[decade] * if male { 1.2 } else { 0.8 });
        let extra = f64::from(u8::from(diabetes)) * 0.2 + f64::from(u8::from(af)) * 0.15;
        let dx = Diagnoses {
            diabetes,
            af,
            hypertension: adult && self.chance((HYPERTENSION[decade] + extra).min(0.9)),
            heart_failure: self
                .chance((HEART_FAILURE[decade] * if af { 3.0 } else { 1.0 }).min(0.5)),
            stroke: self.chance((STROKE_OR_TIA[decade] * if af { 2.0 } else { 1.0 }).min(0.5)),
            vascular: self.chance((VASCULAR[decade] * if male { 1.4 } else { 0.7 }).min(0.6)),
        };
        self.write_diagnoses(&dx);
        if adult && self.chance(0.004) {
            // Pulmonary embolism: a DOAC for some months, then stopped.
            let active = self.chance(0.3);
            let status = if active {
                ClinStatus::Active
            } else {
                ClinStatus::Resolved
            };
            self.condition(CondKind::PulmonaryEmbolism, status);
            let med = if active {
                MedStatus::Active
            } else {
                MedStatus::Completed
            };
            self.medication(MedKind::Rivaroxaban, med, 20_000, 1, 1);
        }

        let latent_egfr = adult.then(|| self.latent_kidney_function(age, decade, &dx));
        self.p.latent_egfr = latent_egfr;
        let on_metformin = self.diabetes_care(&dx, latent_egfr);
        if dx.af {
            self.anticoagulation(as_of);
        }
        self.cardiovascular_medication(&dx, age);
        if let Some(latent) = latent_egfr {
            let monitoring = if dx.diabetes || dx.heart_failure || on_metformin || latent < 60 {
                Monitoring::Close
            } else if dx.hypertension || dx.af || dx.vascular || dx.stroke || age >= 70 {
                Monitoring::Regular
            } else {
                Monitoring::Occasional
            };
            self.kidney_monitoring(latent, monitoring);
        }
        let home_series = self.blood_pressure_care(age, dx.hypertension);
        self.other_care(age, decade, &dx);

        self.p.scenario[..3].copy_from_slice(&[
            if on_metformin {
                "metformin"
            } else {
                "no-metformin"
            },
            if dx.af { "af" } else { "no-af" },
            if home_series {
                "home-series"
            } else {
                "no-home-series"
            },
        ]);
        self.p.intended = truth(&self.p, as_of);
    }

    /// An age drawn from the list's age structure.
    fn list_age(&mut self) -> i32 {
        let mut r = self.rng.random_range(0..1000);
        let mut decade = 0;
        while r >= AGE_PER_MILLE[decade] {
            r -= AGE_PER_MILLE[decade];
            decade += 1;
        }
        10 * decade as i32 + self.rng.random_range(0..10)
    }

    fn write_diagnoses(&mut self, dx: &Diagnoses) {
        if dx.diabetes {
            self.condition(CondKind::Diabetes, ClinStatus::Active);
        }
        if dx.af {
            // Paroxysmal AF after ablation or cardioversion is sometimes closed.
            let status = match self.pct() {
                0..80 => ClinStatus::Active,
                80..85 => ClinStatus::Recurrence,
                85..88 => ClinStatus::Relapse,
                88..94 => ClinStatus::Resolved,
                _ => ClinStatus::Inactive,
            };
            self.condition(CondKind::AtrialFibrillation, status);
        }
        if dx.hypertension {
            let kind = if self.chance(0.8) {
                CondKind::Hypertension
            } else {
                CondKind::HypertensionOrganDamage
            };
            let status = if self.chance(0.95) {
                self.counting_status()
            } else {
                ClinStatus::Resolved
            };
            self.condition(kind, status);
        }
        if dx.heart_failure {
            let status = if self.chance(0.9) {
                self.counting_status()
            } else {
                self.past_status()
            };
            self.condition(CondKind::HeartFailure, status);
        }
        if dx.stroke {
            let kind = if self.chance(0.6) {
                CondKind::Stroke
            } else {
                CondKind::Tia
            };
            let status = self.any_status();
            self.condition(kind, status);
        }
        if dx.vascular {
            let kind = match self.pct() {
                0..35 => CondKind::MyocardialInfarction,
                35..80 => CondKind::ChronicIhd,
                _ => CondKind::PeripheralArterialDisease,
            };
            let status = self.any_status();
            self.condition(kind, status);
        }
    }

    /// The latent eGFR at `as_of`.
    fn latent_kidney_function(&mut self, age: i32, decade: usize, dx: &Diagnoses) -> i64 {
        let mut p = CKD_STAGE_3[decade];
        if dx.diabetes {
            p *= 2.5;
        }
        if dx.heart_failure {
            p *= 2.0;
        }
        if self.chance(p.min(0.6)) {
            match self.pct() {
                0..70 => self.rng.random_range(45..=59),
                70..92 => self.rng.random_range(30..=44),
                92..98 => self.rng.random_range(15..=29),
                _ => self.rng.random_range(6..=14),
            }
        } else {
            let median = 125 - div_round(3 * i64::from(age), 4);
            (median + self.rng.random_range(-12..=12)).max(62)
        }
    }

    /// HbA1c, glucose and glucose-lowering drugs; returns whether the patient uses metformin.
    fn diabetes_care(&mut self, dx: &Diagnoses, latent_egfr: Option<i64>) -> bool {
        if !dx.diabetes {
            return false;
        }
        let egfr = latent_egfr.unwrap_or(90);
        let latent_hba1c = self.rng.random_range(44..=75);
        let mut days = self.days(14..=200);
        for _ in 0..self.rng.random_range(1..=3) {
            self.measure(LabKind::Hba1c, days, latent_hba1c);
            days += self.days(90..=200);
        }
        if self.chance(0.5) {
            self.glucose(true);
        }
        let on_metformin = self.chance(if egfr < 30 { 0.3 } else { 0.82 });
        if on_metformin {
            let regimens: &[(MedKind, u32, u32)] = if self.p.us {
                &METFORMIN_US
            } else {
                &METFORMIN_NL
            };
            if self.chance(0.2) {
                let (kind, mg, times) = pick(&mut self.rng, regimens);
                let status = pick(&mut self.rng, &[MedStatus::Stopped, MedStatus::Completed]);
                self.medication(kind, status, mg * 1000, times, 1);
            }
            // NHG/KNMP limits the GP follows when adapting the dose: 500 mg/day at eGFR
            // 10–30, 1000 mg/day at 30–50; below 10 metformin is stopped.
            let limit_mg = match egfr {
                ..10 => 0,
                10..30 => 500,
                30..50 => 1000,
                _ => u32::MAX,
            };
            let allowed: Vec<_> = regimens
                .iter()
                .copied()
                .filter(|&(_, mg, times)| mg * times <= limit_mg)
                .collect();
            let (kind, mg, times) = if !allowed.is_empty() && self.chance(0.8) {
                pick(&mut self.rng, &allowed)
            } else {
                pick(&mut self.rng, regimens)
            };
            let status = if limit_mg == 0 && self.chance(0.7) {
                MedStatus::Stopped
            } else {
                MedStatus::Active
            };
            self.medication(kind, status, mg * 1000, times, 1);
        }
        if !self.p.us && egfr >= 30 && self.chance(0.25) {
            self.medication(MedKind::Gliclazide, MedStatus::Active, 80_000, 1, 1);
        }
        on_metformin
    }

    /// Anticoagulation of a patient with AF, by CHA2DS2-VASc (the diagnoses are written).
    fn anticoagulation(&mut self, as_of: Date) {
        let threshold = anticoagulation_threshold(self.p.gender).expect("AF only with a sex");
        let score = cha2ds2_vasc(&self.p, as_of);
        let p = if score >= threshold {
            0.82
        } else if score == threshold - 1 {
            0.45
        } else {
            0.15
        };
        let anticoagulants: &[(MedKind, u32, u32)] = if self.p.us {
            &[
                (MedKind::Apixaban, 5, 2),
                (MedKind::Rivaroxaban, 20, 1),
                (MedKind::Warfarin, 5, 1),
            ]
        } else {
            &[
                (MedKind::Apixaban, 5, 2),
                (MedKind::Rivaroxaban, 20, 1),
                (MedKind::Edoxaban, 60, 1),
                (MedKind::Dabigatran, 150, 2),
                (MedKind::Acenocoumarol, 1, 1),
                (MedKind::Phenprocoumon, 3, 1),
            ]
        };
        if self.chance(p) {
            let (kind, mg, times) = self.anticoagulant(anticoagulants);
            self.medication(kind, MedStatus::Active, mg * 1000, times, 1);
        }
        if self.chance(0.1) {
            let (kind, mg, times) = self.anticoagulant(anticoagulants);
            self.medication(kind, MedStatus::Stopped, mg * 1000, times, 1);
        }
    }

    /// One of `choices`; for Dutch patients the last two (vitamin K antagonists) get 30 %,
    /// the DOACs the rest.
    fn anticoagulant(&mut self, choices: &[(MedKind, u32, u32)]) -> (MedKind, u32, u32) {
        if self.p.us {
            pick(&mut self.rng, choices)
        } else if self.chance(0.3) {
            pick(&mut self.rng, &choices[choices.len() - 2..])
        } else {
            pick(&mut self.rng, &choices[..choices.len() - 2])
        }
    }

    fn cardiovascular_medication(&mut self, dx: &Diagnoses, age: i32) {
        let us = self.p.us;
        let anticoagulated = self
            .p
            .medications
            .iter()
            .any(|m| m.status == MedStatus::Active && m.kind.is_anticoagulant());
        if (dx.vascular || dx.stroke) && !anticoagulated && self.chance(0.75) {
            let (kind, mg) = if us {
                pick(
                    &mut self.rng,
                    &[(MedKind::Aspirin, 81), (MedKind::Clopidogrel, 75)],
                )
            } else {
                pick(
                    &mut self.rng,
                    &[
                        (MedKind::Carbasalate, 100),
                        (MedKind::Aspirin, 80),
                        (MedKind::Clopidogrel, 75),
                    ],
                )
            };
            self.medication(kind, MedStatus::Active, mg * 1000, 1, 1);
        }
        let statin = if dx.vascular || dx.stroke || dx.diabetes {
            0.7
        } else if age >= 60 {
            0.15
        } else {
            0.0
        };
        if self.chance(statin) {
            let (kind, mg) = if us || self.chance(0.5) {
                (MedKind::Simvastatin, 40)
            } else {
                (MedKind::Atorvastatin, 20)
            };
            self.medication(kind, MedStatus::Active, mg * 1000, 1, 1);
        }
        if dx.hypertension && self.chance(0.55) {
            self.medication(MedKind::Lisinopril, MedStatus::Active, 10_000, 1, 1);
        }
    }

    /// eGFR measurements around the latent value: how many and how recent follows
    /// `monitoring`; the kidney function declines with time, faster with CKD.
    fn kidney_monitoring(&mut self, latent: i64, monitoring: Monitoring) {
        let (p_any, p_recent) = match monitoring {
            Monitoring::Close => (0.96, 0.85),
            Monitoring::Regular => (0.80, 0.70),
            Monitoring::Occasional => (0.20, 0.45),
        };
        if !self.chance(p_any) {
            return;
        }
        let latest = if self.chance(p_recent) {
            self.days(0..=365)
        } else {
            self.days(366..=1400)
        };
        let decline = if latent < 60 {
            self.rng.random_range(1..=3)
        } else {
            self.rng.random_range(0..=1)
        };
        let then = latent + div_round(decline * i64::from(latest), 365);
        self.measure(LabKind::Egfr, latest, then);
        let (count, step) = match monitoring {
            Monitoring::Close if latent < 60 => (self.rng.random_range(2..=6), 90..=200),
            Monitoring::Close => (self.rng.random_range(1..=4), 250..=420),
            Monitoring::Regular => (self.rng.random_range(0..=2), 300..=600),
            Monitoring::Occasional => (self.rng.random_range(0..=1), 300..=900),
        };
        self.egfr_history(latest, latent, count, step, decline);
        // Creatinine (the eGFR's input) and potassium come from the same blood sample. A rough
        // inverse of the eGFR equation, creatinine ≈ 7000 / eGFR µmol/L, is close enough for a
        // lab no rule reads.
        if self.chance(0.5) {
            let creatinine = div_round(7000, then.max(5)).max(40);
            self.measure(LabKind::Creatinine, latest, creatinine);
        }
        if self.chance(0.4) {
            let potassium = self.rng.random_range(38..=49) + i64::from(latent < 30) * 4;
            self.measure(LabKind::Potassium, latest, potassium);
        }
    }

    /// One reading of a latent blood pressure (scatter SD 8/5 mmHg).
    fn bp_reading(&mut self, (systolic, diastolic): (i64, i64)) -> (i64, i64) {
        (
            systolic + div_round(8 * z_milli(&mut self.rng), 1000),
            diastolic + div_round(5 * z_milli(&mut self.rng), 1000),
        )
    }

    /// Clinic readings, and perhaps a home series (returns whether one was drawn).
    fn blood_pressure_care(&mut self, age: i32, hypertension: bool) -> bool {
        if age < 18 {
            return false;
        }
        let age = i64::from(age);
        let htn = i64::from(hypertension);
        // Clinic readings: never count for home-bp.
        let office = (
            118 + age / 3 + 14 * htn + div_round(10 * z_milli(&mut self.rng), 1000),
            74 + age / 20 + 8 * htn + div_round(6 * z_milli(&mut self.rng), 1000),
        );
        let clinic = if hypertension {
            self.rng.random_range(1..=4)
        } else {
            u32::from(self.chance(0.3))
        };
        for _ in 0..clinic {
            let days = self.days(0..=730);
            let performer = if self.chance(0.5) {
                self.practitioner()
            } else {
                Performer::Unrecorded
            };
            let bp = self.bp_reading(office);
            self.blood_pressure(days, true, bp, performer);
        }
        let p_series = if hypertension {
            0.06
        } else if age >= 40 {
            0.025
        } else {
            0.005
        };
        if self.chance(p_series) {
            let home = (
                128 + 8 * htn + div_round(12 * z_milli(&mut self.rng), 1000),
                80 + 4 * htn + div_round(7 * z_milli(&mut self.rng), 1000),
            );
            // Morning and evening over 7 days, most recent last.
            let mut slots: Vec<(u32, bool)> = (0..=6)
                .rev()
                .flat_map(|d| [(d, true), (d, false)])
                .collect();
            match self.pct() {
                0..70 => {}
                70..80 => {
                    slots.shuffle(&mut self.rng);
                    let keep = self.rng.random_range(12..=13);
                    slots.truncate(keep);
                }
                80..90 => {
                    let keep = self.rng.random_range(5..=11);
                    slots.truncate(keep);
                }
                _ => {
                    let ended = self.days(7..=30);
                    for slot in &mut slots {
                        slot.0 += ended;
                    }
                }
            }
            for (days, morning) in slots {
                let bp = self.bp_reading(home);
                self.blood_pressure(days, morning, bp, Performer::Patient);
            }
            return true;
        }
        if self.chance(0.02) {
            // A few sporadic self-measurements: far too few to count.
            for _ in 0..self.rng.random_range(1..=3) {
                let days = self.days(0..=30);
                let morning = self.chance(0.5);
                let bp = self.bp_reading(office);
                self.blood_pressure(days, morning, bp, Performer::Patient);
            }
        }
        false
    }

    /// Conditions, drugs and labs no topic reads.
    fn other_care(&mut self, age: i32, decade: usize, dx: &Diagnoses) {
        let adult = age >= 18;
        if age >= 4 && self.chance(0.06) {
            self.condition(CondKind::Asthma, ClinStatus::Active);
            if self.chance(0.8) {
                self.medication(MedKind::Salbutamol, MedStatus::Active, 100, 4, 1);
            }
        }
        if self.chance(COPD[decade]) {
            self.condition(CondKind::Copd, ClinStatus::Active);
        }
        if adult && self.chance(0.05) {
            let status = self.any_status();
            self.condition(CondKind::Depression, status);
            if self.chance(0.5) {
                let days = self.days(0..=400);
                let score = self.rng.random_range(2..=24);
                self.measure(LabKind::Phq9, days, score);
            }
        }
        if adult && self.chance(if age >= 60 { 0.12 } else { 0.05 }) {
            self.medication(MedKind::Omeprazole, MedStatus::Active, 20_000, 1, 1);
        }
        let cardiovascular = dx.diabetes || dx.vascular || dx.stroke || dx.hypertension;
        let p_lipids = if cardiovascular {
            0.6
        } else if age >= 40 {
            0.15
        } else {
            0.0
        };
        if self.chance(p_lipids) {
            self.cholesterol();
        }
        if !dx.diabetes && age >= 40 && self.chance(0.08) {
            self.glucose(false);
        }
        if self.chance(0.06) {
            let uuid = self.uuid();
            let active = self.chance(0.85);
            self.p.allergies.push(Allergy { uuid, active });
        }
        let cap = self.history_cap_days.min(700);
        for _ in 0..self.rng.random_range(0..=3) {
            let uuid = self.uuid();
            let days_ago = self.days(0..=cap);
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
