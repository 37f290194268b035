//! One patient of a cohort, a pure function of (seed, patient index, as_of, mix): the seeds
//! and pseudonyms, the mix that decides the first three topics (`enriched.rs`, `realistic.rs`),
//! the export shapes every mix gets, then the guideline topics (`guideline_topics.rs`) from an
//! RNG stream of their own, and a shuffled record order.

use jiff::civil::Date;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{RngExt, SeedableRng};

use crate::patient::{EgfrReport, Gender, Patient};
use crate::scenario::{Builder, uuid};
use crate::spec::{CohortMix, TOPIC_COUNT};

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
            egfr_report: EgfrReport::Standard,
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
