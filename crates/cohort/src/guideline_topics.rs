//! The guideline topics `nsaid-gastroprotection`, `score2` and `phq9` (rules 3, 5 and 6 of
//! `docs/CLINICAL_REFERENCE.md`), built on a patient the first three topics have finished,
//! from an RNG stream of their own (see `generate` in `generator.rs`).
//!
//! - **nsaid-gastroprotection**: an NSAID order (ibuprofen, naproxen, diclofenac — Dutch
//!   only — at doses on both sides of the high-dose limits 1600 / 750 / 100 mg a day), perhaps
//!   a PPI (active or stopped), a prior ulcer (any status; sometimes refuted, which never
//!   counts), and risk factors (SSRI, corticosteroid, aspirin or anticoagulant, heart failure,
//!   diabetes). In the enriched mix patients aged 58–73 are far more often on an NSAID, so ages
//!   60, 70 and 71 occur.
//! - **score2**: a risk profile — smoking status (LOINC 72166-2 with a SNOMED CT value), total
//!   and HDL cholesterol on one lab day, a clinic blood pressure — for patients around 40–69;
//!   some miss one input; in the enriched mix a third have the systolic pressure chosen so the
//!   risk lands just above or just below a band edge.
//! - **phq9**: home PHQ-9 questionnaires (panel 44249-1, nine answers and the total), totals at
//!   the band edges (4/5, 9/10, 14/15, 19/20) and item 9 answered 0 or ≥ 1, dated inside and
//!   just outside the 30-day look-back (day 30 / 31), sometimes after an older one.
//!
//! The labels are [`truth`] on the finished patient; the scenario name
//! records what was built, for summaries and tests.

use jiff::civil::Date;
use rand::RngExt;

use crate::measure;
use crate::patient::{
    ClinStatus, CondKind, Gender, LabKind, MedKind, MedStatus, ObsKind, ObsStatus, Observation,
    Performer, Smoking, Verification, age_at,
};
use crate::scenario::{
    Builder, latest_phq9, nsaid_assessment, pick, score2_edges, score2_of, truth,
};
use crate::spec::CohortMix;

impl Builder {
    pub(super) fn guideline_topics(&mut self, as_of: Date, mix: CohortMix) {
        let enriched = mix == CohortMix::Enriched;
        self.p.scenario[3] = self.nsaid_scenario(as_of, enriched);
        self.p.scenario[4] = self.score2_scenario(as_of, enriched);
        self.p.scenario[5] = self.phq9_scenario(enriched);
        let truth = truth(&self.p, as_of);
        self.p.intended[3..].copy_from_slice(&truth[3..]);
    }

    /// A day in `range` on which no observation matching `taken` was recorded (or the first
    /// free day after it).
    fn free_day(
        &mut self,
        range: std::ops::RangeInclusive<u32>,
        taken: impl Fn(&ObsKind) -> bool,
    ) -> u32 {
        let used: Vec<u32> = self
            .p
            .observations
            .iter()
            .filter(|o| taken(&o.kind))
            .map(|o| o.days_ago)
            .collect();
        let mut day = self.days(range);
        while used.contains(&day) {
            day += 1;
        }
        day
    }

    // -------------------------------------------------------------- nsaid-gastroprotection

    fn nsaid_scenario(&mut self, as_of: Date, enriched: bool) -> &'static str {
        let age = age_at(as_of, self.p.birth_year);
        let share = match (enriched, age) {
            (_, ..18) => 0.0,
            (true, 58..=73) => 0.7,
            (true, 40..) => 0.25,
            (true, _) => 0.1,
            (false, 60..) => 0.08,
            (false, _) => 0.04,
        };
        if !self.chance(share) {
            return "no-nsaid";
        }
        let us = self.p.us;
        // (drug, mg a dose, doses a day): daily doses on both sides of the high-dose limits.
        const NL: [(MedKind, u32, u32); 9] = [
            (MedKind::Ibuprofen, 400, 3),
            (MedKind::Ibuprofen, 400, 4),
            (MedKind::Ibuprofen, 600, 3),
            (MedKind::Naproxen, 250, 2),
            (MedKind::Naproxen, 375, 2),
            (MedKind::Naproxen, 500, 2),
            (MedKind::Diclofenac, 50, 2),
            (MedKind::Diclofenac, 50, 3),
            (MedKind::Diclofenac, 75, 2),
        ];
        const US: [(MedKind, u32, u32); 6] = [
            (MedKind::Ibuprofen, 400, 3),
            (MedKind::Ibuprofen, 400, 4),
            (MedKind::Ibuprofen, 800, 3),
            (MedKind::Naproxen, 220, 2),
            (MedKind::Naproxen, 220, 3),
            (MedKind::Naproxen, 440, 2),
        ];
        let regimens: &[(MedKind, u32, u32)] = if us { &US } else { &NL };
        let (kind, dose, times) = pick(&mut self.rng, regimens);
        let status = match self.pct() {
            0..85 => MedStatus::Active,
            85..93 => MedStatus::Stopped,
            _ => MedStatus::Completed,
        };
        self.medication(kind, status, dose * 1000, times, 1);

        let ppis: &[MedKind] = &[
            MedKind::Omeprazole,
            MedKind::Pantoprazole,
            MedKind::Esomeprazole,
        ];
        let ppi_share = if enriched { 0.3 } else { 0.45 };
        if self.chance(ppi_share) {
            let ppi = pick(&mut self.rng, ppis);
            self.medication(ppi, MedStatus::Active, 20_000, 1, 1);
        } else if self.chance(0.1) {
            // A PPI course that ended: no protection now.
            let ppi = pick(&mut self.rng, ppis);
            self.medication(ppi, MedStatus::Completed, 40_000, 1, 1);
        }
        let ulcers = [
            CondKind::PepticUlcer,
            CondKind::DuodenalUlcer,
            CondKind::GastricUlcer,
        ];
        if self.chance(if enriched { 0.15 } else { 0.04 }) {
            let ulcer = pick(&mut self.rng, &ulcers);
            let status = match self.pct() {
                0..60 => ClinStatus::Resolved,
                60..80 => ClinStatus::Active,
                _ => ClinStatus::Inactive,
            };
            self.condition(ulcer, status);
        } else if enriched && self.chance(0.05) {
            // Suspected ulcer, ruled out at endoscopy: never counts.
            let ulcer = pick(&mut self.rng, &ulcers);
            let verification = if self.chance(0.5) {
                Verification::Refuted
            } else {
                Verification::EnteredInError
            };
            self.condition_verified(ulcer, ClinStatus::Active, verification);
        }
        let factor = if enriched { 1.0 } else { 0.5 };
        if self.chance(0.2 * factor) {
            let ssri = pick(&mut self.rng, &[MedKind::Sertraline, MedKind::Citalopram]);
            self.medication(ssri, MedStatus::Active, 20_000, 1, 1);
        }
        if self.chance(0.15 * factor) {
            let steroid = if us {
                MedKind::Prednisone
            } else {
                MedKind::Prednisolone
            };
            self.medication(steroid, MedStatus::Active, 10_000, 1, 1);
        }
        if self.chance(0.2 * factor) {
            // Aspirin only: an anticoagulant added here could change the AF label (the
            // anticoagulants of the AF scenarios count as risk factors all the same).
            let (drug, mg) = if us {
                (MedKind::Aspirin, 81)
            } else {
                pick(
                    &mut self.rng,
                    &[(MedKind::Carbasalate, 100), (MedKind::Aspirin, 80)],
                )
            };
            self.medication(drug, MedStatus::Active, mg * 1000, 1, 1);
        }
        // Heart failure or diabetes, only where no AF episode is recorded (they would change
        // CHA2DS2-VASc).
        let af = self
            .p
            .conditions
            .iter()
            .any(|c| c.kind == CondKind::AtrialFibrillation);
        if !af && self.chance(0.06 * factor) && !self.has_condition(CondKind::HeartFailure) {
            self.condition(CondKind::HeartFailure, ClinStatus::Active);
        }
        if !af && self.chance(0.06 * factor) && !self.has_condition(CondKind::Diabetes) {
            self.condition(CondKind::Diabetes, ClinStatus::Active);
        }
        match nsaid_assessment(&self.p, as_of) {
            None if status != MedStatus::Active => "nsaid-not-active",
            None => "nsaid-with-ppi",
            Some((true, _)) if age > 70 => "nsaid-over-70",
            Some((true, _)) => "nsaid-prior-ulcer",
            Some((false, n)) if n >= 2 => "nsaid-consider",
            Some(_) if age == 70 => "nsaid-age-70",
            Some(_) => "nsaid-low-risk",
        }
    }

    // -------------------------------------------------------------- score2

    fn score2_scenario(&mut self, as_of: Date, enriched: bool) -> &'static str {
        let age = age_at(as_of, self.p.birth_year);
        let share = match (enriched, age) {
            (true, 40..=69) => 0.6,
            (true, 35..=75) => 0.3,
            (false, 40..=69) => 0.3,
            (_, 18..) => 0.05,
            _ => 0.0,
        };
        if !self.chance(share) {
            return "no-risk-profile";
        }
        let us = self.p.us;
        let male = self.p.gender == Gender::Male;
        // Which input is missing, if any: 0 smoking, 1 HDL, 2 blood pressure.
        let missing = self.chance(0.12).then(|| self.rng.random_range(0..3));
        if missing != Some(0) {
            let status = match self.pct() {
                0..25 => Smoking::Daily,
                25..30 => Smoking::Occasional,
                30..55 => Smoking::Ex,
                _ => Smoking::Never,
            };
            let day = self.free_day(0..=700, |k| matches!(k, ObsKind::Smoking(_)));
            let uuid = self.uuid();
            self.p.observations.push(Observation {
                uuid,
                days_ago: day,
                status: ObsStatus::Final,
                kind: ObsKind::Smoking(status),
            });
        }
        // Lipids on one lab day, not shared with an earlier cholesterol.
        let day = self.free_day(0..=700, |k| {
            matches!(
                k,
                ObsKind::Lab {
                    kind: LabKind::Cholesterol | LabKind::Hdl,
                    ..
                }
            )
        });
        let tc = self.rng.random_range(350..=800);
        let hdl = if male {
            self.rng.random_range(80..=170)
        } else {
            self.rng.random_range(100..=220)
        };
        self.lab(
            LabKind::Cholesterol,
            day,
            measure::record(LabKind::Cholesterol, tc, us),
        );
        if missing != Some(1) {
            self.lab(LabKind::Hdl, day, measure::record(LabKind::Hdl, hdl, us));
        }
        if missing == Some(2) {
            // No clinic reading in the last two years (one older, perhaps).
            if self.chance(0.5) {
                let days = self.days(731..=1100);
                let performer = self.practitioner();
                self.blood_pressure(days, true, (150, 90), performer);
            }
            let clinic_recent = self.p.observations.iter().any(|o| {
                o.days_ago <= 730
                    && matches!(
                        o.kind,
                        ObsKind::BloodPressure {
                            performer: Performer::Practitioner(_) | Performer::Unrecorded,
                            ..
                        }
                    )
            });
            if !clinic_recent {
                return "score2-missing-input";
            }
        } else {
            let days = self.days(0..=400);
            let systolic = self.rng.random_range(105..=185);
            let diastolic = self.rng.random_range(65..=100).min(systolic - 25);
            let performer = if self.chance(0.7) {
                self.practitioner()
            } else {
                Performer::Unrecorded
            };
            let morning = self.chance(0.5);
            self.blood_pressure(days, morning, (systolic, diastolic), performer);
            if enriched && self.chance(0.5) && self.score2_edge(as_of) {
                return "score2-edge";
            }
        }
        match score2_of(&self.p, as_of) {
            None => "score2-out-of-scope",
            Some((age, risk)) => {
                let (high, very_high) = score2_edges(age);
                if risk >= very_high {
                    "score2-very-high"
                } else if risk >= high {
                    "score2-high"
                } else {
                    "score2-low"
                }
            }
        }
    }

    /// Moves the systolic pressure of the clinic reading just written so that the risk lands
    /// just above or just below one band edge; false when no pressure in 90–210 mmHg does.
    fn score2_edge(&mut self, as_of: Date) -> bool {
        let index = self.p.observations.len() - 1;
        let set = |b: &mut Builder, value: i64| {
            if let ObsKind::BloodPressure {
                systolic,
                diastolic,
                ..
            } = &mut b.p.observations[index].kind
            {
                *systolic = value;
                *diastolic = (*diastolic).min(value - 25);
            }
        };
        let Some((age, _)) = score2_of(&self.p, as_of) else {
            return false;
        };
        let (high, very_high) = score2_edges(age);
        let edge = if self.chance(0.7) { very_high } else { high };
        let above = self.chance(0.6);
        let original = match self.p.observations[index].kind {
            ObsKind::BloodPressure { systolic, .. } => systolic,
            _ => unreachable!("the clinic reading just written"),
        };
        let mut chosen = None;
        for sbp in 90..=210 {
            set(self, sbp);
            let Some((_, risk)) = score2_of(&self.p, as_of) else {
                break;
            };
            // Risk rises with the pressure: the first at or above the edge, or the last below.
            if risk >= edge {
                if above {
                    chosen = Some(sbp);
                }
                break;
            }
            if !above {
                chosen = Some(sbp);
            }
        }
        match chosen {
            Some(sbp) if sbp > 90 && sbp < 210 => {
                set(self, sbp);
                true
            }
            _ => {
                set(self, original);
                false
            }
        }
    }

    // -------------------------------------------------------------- phq9

    /// Nine answers 0–3 with item 9 `item9` and total `total` (clamped to what fits).
    fn phq9_answers(&mut self, total: u8, item9: u8) -> [u8; 9] {
        let item9 = item9.min(total);
        let mut rest = (total - item9).min(24);
        let mut items = [0u8; 9];
        items[8] = item9;
        while rest > 0 {
            let i = self.rng.random_range(0..8);
            if items[i] < 3 {
                items[i] += 1;
                rest -= 1;
            }
        }
        items
    }

    fn phq9_panel(&mut self, days_ago: u32, items: [u8; 9]) {
        let uuid = self.uuid();
        let time = self.hms(8..=22);
        self.p.observations.push(Observation {
            uuid,
            days_ago,
            status: ObsStatus::Final,
            kind: ObsKind::Phq9Panel { items, time },
        });
    }

    fn phq9_scenario(&mut self, enriched: bool) -> &'static str {
        let depression = self.has_condition(CondKind::Depression);
        let share = match (enriched, depression) {
            (true, true) => 0.7,
            (true, false) => 0.22,
            (false, true) => 0.3,
            (false, false) => 0.015,
        };
        if !self.chance(share) {
            return "no-phq9";
        }
        let questionnaire = |k: &ObsKind| {
            matches!(
                k,
                ObsKind::Phq9Panel { .. }
                    | ObsKind::Lab {
                        kind: LabKind::Phq9,
                        ..
                    }
            )
        };
        let (range, name) = match self.pct() {
            0..78 => (0..=29, "phq9-recent"),
            78..86 => (30..=30, "phq9-day-30"),
            86..93 => (31..=31, "phq9-day-31"),
            _ => (32..=90, "phq9-old"),
        };
        let day = self.free_day(range, questionnaire);
        let total = if enriched && self.chance(0.55) {
            pick(&mut self.rng, &[4, 5, 9, 10, 14, 15, 19, 20])
        } else {
            self.rng.random_range(0..=27)
        };
        let item9 = match self.pct() {
            0..78 => 0,
            78..92 => 1,
            _ => self.rng.random_range(2..=3),
        };
        let items = self.phq9_answers(total, item9);
        self.phq9_panel(day, items);
        if self.chance(0.3) {
            // An earlier questionnaire: the most recent one decides.
            let start = day + 1;
            let earlier = self.free_day(start..=start + 40, questionnaire);
            let total = self.rng.random_range(0..=27);
            let item9 = if self.chance(0.3) { 1 } else { 0 };
            let items = self.phq9_answers(total, item9);
            self.phq9_panel(earlier, items);
            if latest_phq9(&self.p).is_some_and(|(d, ..)| d == day) {
                return "phq9-series";
            }
        }
        name
    }
}
