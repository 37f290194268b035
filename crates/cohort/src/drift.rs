//! What a series' drift does to one export: which generated patients the export keeps (the
//! population drifts: prevalence, age) and how a kept patient is written (the recording
//! drifts: coding habits, the eGFR's unit or code). Labels are computed on the patient as
//! altered, so they stay the patient's true state whatever the recording does.

use crate::generator::splitmix64;
use crate::patient::{EgfrReport, Patient, age_at};
use crate::spec::{DriftKind, TOPIC_COUNT};

use jiff::civil::Date;

/// Salt of the keep/alter draws: a stream apart from the patients' own.
const DRIFT_SALT: u64 = 0x6472_6966_7421_2121;

/// Of the patients a population drift leaves out, it keeps this many per thousand.
const KEEP_PERMILLE: u64 = 333;
/// A Dutch-coded diagnosis is coded in SNOMED CT with this probability per thousand.
const SNOMED_PERMILLE: u64 = 700;

/// The topic the prevalence drift raises.
pub const PREVALENCE_TOPIC: usize = 0;
const _: () = assert!(PREVALENCE_TOPIC < TOPIC_COUNT);

/// The drift in force in one export, or none.
#[derive(Clone, Copy, Debug)]
pub struct ExportDrift {
    kind: Option<DriftKind>,
    seed: u64,
}

impl ExportDrift {
    /// No drift: every patient kept, nothing altered.
    pub const NONE: ExportDrift = ExportDrift {
        kind: None,
        seed: 0,
    };

    /// `kind` in force in the export with this seed.
    pub fn new(kind: DriftKind, seed: u64) -> Self {
        ExportDrift {
            kind: Some(kind),
            seed,
        }
    }

    /// A draw in 0..1000 for (candidate `index`, `item`), fixed by the export's seed.
    fn permille(&self, index: u64, item: u64) -> u64 {
        splitmix64(self.seed ^ DRIFT_SALT ^ splitmix64(index ^ splitmix64(item))) % 1000
    }

    /// Whether candidate `index`, with these labels, is part of the export.
    pub fn keep(&self, index: u64, p: &Patient, truth: &[bool; TOPIC_COUNT], as_of: Date) -> bool {
        let left_out = match self.kind {
            Some(DriftKind::Prevalence) => !truth[PREVALENCE_TOPIC],
            Some(DriftKind::Age) => age_at(as_of, p.birth_year) < 65,
            _ => false,
        };
        !left_out || self.permille(index, u64::MAX) < KEEP_PERMILLE
    }

    /// Changes how candidate `index` is recorded.
    pub fn alter(&self, index: u64, p: &mut Patient) {
        match self.kind {
            Some(DriftKind::Coding) if !p.us => {
                for (i, c) in p.conditions.iter_mut().enumerate() {
                    if self.permille(index, i as u64) < SNOMED_PERMILLE {
                        c.from_letter = true;
                    }
                }
            }
            Some(DriftKind::EgfrUnit) => p.egfr_report = EgfrReport::AbsoluteUnit,
            Some(DriftKind::EgfrCode) => p.egfr_report = EgfrReport::LocalCode,
            _ => {}
        }
    }
}
