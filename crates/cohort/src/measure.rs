//! From latent truth to what a lab reports: measurement scatter, the reporting unit and its
//! rounding. Integer arithmetic only, so every platform writes the same bytes.
//!
//! Scatter (analytical plus within-person biological variation, one SD) is an assumption of
//! the order the literature gives, not a fitted model: eGFR 6 % and creatinine 5 % (creatinine's
//! within-subject CV is ~4–6 %, and the eGFR equation carries it over), total cholesterol 5 %,
//! fasting glucose 8 %, HbA1c 2 mmol/mol, potassium 0.2 mmol/L. PHQ-9 is a questionnaire
//! score and is not scattered.
//!
//! US-coded patients get conventional units (`docs/CLINICAL_REFERENCE.md`, "Unit
//! conversions"): HbA1c % = mmol/mol ÷ 10.93 + 2.15; cholesterol mg/dL = mmol/L × 38.67;
//! creatinine mg/dL = µmol/L ÷ 88.4; glucose mg/dL = mmol/L × 18.016 (molar mass 180.16 g/mol).

use rand::RngExt;
use rand::rngs::StdRng;

use crate::patient::{LabKind, Value};

/// The lowest eGFR a lab reports (mL/min/1.73 m²).
pub const EGFR_MIN: i64 = 2;
/// Dutch labs report an eGFR above this as "> 90".
pub const EGFR_NL_LIMIT: i64 = 90;

/// `n / d` rounded half away from zero (`d > 0`).
pub fn div_round(n: i64, d: i64) -> i64 {
    debug_assert!(d > 0);
    if n >= 0 {
        (n + d / 2) / d
    } else {
        -((-n + d / 2) / d)
    }
}

/// An approximately standard-normal draw in thousandths: the Irwin–Hall sum of 12 uniforms,
/// centred (SD 1000, |z| < 6000, so no absurd tails).
pub fn z_milli(rng: &mut StdRng) -> i64 {
    (0..12).map(|_| rng.random_range(0..1000i64)).sum::<i64>() - 5994
}

/// `latent` with a relative SD of `cv_permille` per mille.
fn scatter_relative(rng: &mut StdRng, latent: i64, cv_permille: i64) -> i64 {
    latent + div_round(latent * cv_permille * z_milli(rng), 1_000_000)
}

/// `latent` with an absolute SD of `sd` (in the latent's unit).
fn scatter_absolute(rng: &mut StdRng, latent: i64, sd: i64) -> i64 {
    latent + div_round(sd * z_milli(rng), 1000)
}

/// One measurement of `latent`, in the SI unit [`record`] takes; never below the smallest
/// value a lab reports.
pub fn scatter(rng: &mut StdRng, kind: LabKind, latent: i64) -> i64 {
    let measured = match kind {
        LabKind::Egfr => scatter_relative(rng, latent, 60),
        LabKind::Creatinine => scatter_relative(rng, latent, 50),
        LabKind::Cholesterol | LabKind::Hdl => scatter_relative(rng, latent, 50),
        LabKind::Glucose => scatter_relative(rng, latent, 80),
        LabKind::Hba1c => scatter_absolute(rng, latent, 2),
        LabKind::Potassium => scatter_absolute(rng, latent, 2),
        LabKind::Phq9 => latent,
    };
    measured.max(match kind {
        LabKind::Egfr => EGFR_MIN,
        LabKind::Phq9 => 0,
        _ => 1,
    })
}

/// A measured value as the patient's lab reports it. `measured` is in the SI unit: eGFR
/// mL/min/1.73 m², HbA1c mmol/mol, cholesterol hundredths of mmol/L, potassium and glucose
/// tenths of mmol/L, creatinine µmol/L, PHQ-9 points.
pub fn record(kind: LabKind, measured: i64, us: bool) -> Value {
    match (kind, us) {
        (LabKind::Egfr | LabKind::Phq9, _) => Value::Int(measured),
        (LabKind::Hba1c, false) => Value::Int(measured),
        (LabKind::Hba1c, true) => Value::Tenths(hba1c_percent_tenths(measured)),
        (LabKind::Cholesterol | LabKind::Hdl, false) => Value::Tenths(div_round(measured, 10)),
        (LabKind::Cholesterol | LabKind::Hdl, true) => {
            Value::Int(div_round(measured * 3867, 10_000))
        }
        (LabKind::Potassium, _) => Value::Tenths(measured),
        (LabKind::Glucose, false) => Value::Tenths(measured),
        (LabKind::Glucose, true) => Value::Int(div_round(measured * 18_016, 10_000)),
        (LabKind::Creatinine, false) => Value::Int(measured),
        (LabKind::Creatinine, true) => Value::Hundredths(div_round(measured * 1000, 884)),
    }
}

/// HbA1c IFCC mmol/mol → NGSP %, in tenths: 10 × (m / 10.93 + 2.15) = (2000 m + 46 999) / 2186.
fn hba1c_percent_tenths(mmol_mol: i64) -> i64 {
    div_round(2000 * mmol_mol + 46_999, 2186)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn cohort_units_convert_as_the_reference_says() {
        assert_eq!(hba1c_percent_tenths(53), 70); // 53 mmol/mol = 7.0 %
        assert_eq!(hba1c_percent_tenths(48), 65);
        assert_eq!(record(LabKind::Cholesterol, 500, true), Value::Int(193));
        assert_eq!(record(LabKind::Cholesterol, 500, false), Value::Tenths(50));
        assert_eq!(
            record(LabKind::Creatinine, 88, true),
            Value::Hundredths(100)
        );
        assert_eq!(record(LabKind::Glucose, 55, true), Value::Int(99));
        assert_eq!(div_round(-15, 10), -2);
        assert_eq!(div_round(14, 10), 1);
    }

    #[test]
    fn cohort_scatter_has_the_stated_spread() {
        let mut rng = StdRng::seed_from_u64(1);
        let n = 20_000;
        let draws: Vec<i64> = (0..n)
            .map(|_| scatter(&mut rng, LabKind::Egfr, 1000))
            .collect();
        let mean = draws.iter().sum::<i64>() as f64 / n as f64;
        let sd = (draws
            .iter()
            .map(|&x| (x as f64 - mean).powi(2))
            .sum::<f64>()
            / n as f64)
            .sqrt();
        // 6 % of 1000 = 60; the mean is 1000 within 2 (≈ 4.7 standard errors).
        assert!((mean - 1000.0).abs() < 2.0, "{mean}");
        assert!((57.0..63.0).contains(&sd), "{sd}");
    }
}
