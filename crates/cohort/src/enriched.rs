//! The enriched mix: far more patients on metformin, with atrial fibrillation or with a home
//! blood-pressure series than a practice has (~35 %, ~20 %, ~25 %, drawn independently per
//! topic), each topic's scenario built toward a chosen label with cases right at the rule's
//! thresholds. It makes small cohorts informative about a plugin's sensitivity and its edges;
//! its alert rates and predictive values say nothing about a practice (use the realistic mix).

use jiff::civil::Date;
use rand::RngExt;
use rand::seq::SliceRandom;

use crate::codes;
use crate::patient::{
    Allergy, Chads, ClinStatus, CondKind, Encounter, Gender, LabKind, MedKind, MedStatus, ObsKind,
    Performer, Value, birth_year_for,
};
use crate::scenario::{Builder, metformin_rule, pick};

impl Builder {
    /// Builds the patient's enriched scenarios, then the background every patient carries.
    pub(super) fn enriched(&mut self, as_of: Date) {
        let gender = self.p.gender;
        let metformin = self.chance(0.35);
        let af = self.chance(0.20) && matches!(gender, Gender::Female | Gender::Male);
        let home_bp = self.chance(0.25);
        if metformin {
            let (label, name) = self.metformin_scenario();
            self.p.intended[0] = label;
            self.p.scenario[0] = name;
        }
        let age = if af {
            let (age, label, name) = self.af_scenario(metformin);
            self.p.intended[1] = label;
            self.p.scenario[1] = name;
            age
        } else if metformin {
            self.rng.random_range(35..=90)
        } else {
            self.rng.random_range(20..=92)
        };
        self.p.birth_year = birth_year_for(as_of, age);
        if home_bp {
            let (label, name) = self.home_bp_scenario();
            self.p.intended[2] = label;
            self.p.scenario[2] = name;
        }
        self.background(af, metformin, home_bp, age);
        debug_assert!(!self.has_condition(CondKind::AtrialFibrillation) || af);
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
            0..45 => {
                let days = self.days(0..=350);
                let v = self.egfr_value();
                self.egfr(days, v);
                (Some(v), "egfr-fresh")
            }
            45..57 => {
                // Monitored kidney function: a declining series whose earlier values scatter
                // around the trend and may sit on the other side of a threshold.
                let days = self.days(0..=250);
                let v = self.egfr_value();
                self.egfr(days, v);
                let count = self.rng.random_range(2..=5);
                let decline = self.rng.random_range(1..=4);
                self.egfr_history(days, v, count, 60..=200, decline);
                (Some(v), "egfr-series")
            }
            57..70 => {
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
        // A week's 14 slots with some missed at random: `keep` readings remain.
        let week_with_gaps = |rng: &mut _, keep: usize| {
            let mut slots = twice_daily(0..=6);
            slots.shuffle(rng);
            slots.truncate(keep);
            slots
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
                let slots = week_with_gaps(&mut self.rng, 12);
                self.home_series(&slots, High, High);
                (true, "bp-12-readings-gaps")
            }
            58..64 => {
                // 11 readings: too few, however high.
                let slots = week_with_gaps(&mut self.rng, 11);
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
            // Kidney function measured for another reason: scattered around one latent value.
            let latent = self.rng.random_range(12..=110);
            self.p.latent_egfr = Some(latent);
            let mut days = self.days(0..=700);
            for _ in 0..self.rng.random_range(1..=2) {
                self.measure(LabKind::Egfr, days, latent);
                days += self.days(30..=400);
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
            let latent = self.rng.random_range(37..=50);
            self.measure(LabKind::Potassium, days, latent);
        }
        if self.chance(0.15) {
            let days = self.days(0..=700);
            let latent = self.rng.random_range(55..=220);
            self.measure(LabKind::Creatinine, days, latent);
        }
        if self.chance(0.1) {
            let diabetic = self.has_condition(CondKind::Diabetes);
            self.glucose(diabetic);
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
