//! Sample plugin `score2`: the SCORE2 10-year risk of fatal and non-fatal cardiovascular
//! disease (ESC 2021), calibrated for a low-risk region (the Netherlands).
//!
//! Rule 5 of `docs/CLINICAL_REFERENCE.md`, for people aged 40–69 without diabetes:
//!
//! - cage = (age − 60)/5, csbp = (SBP − 120)/20, ctc = TC − 6, chdl = (HDL − 1.3)/0.5,
//!   smoke ∈ {0, 1} (mmol/L, mmHg);
//! - LP = β · (cage, smoke, csbp, ctc, chdl, cage·smoke, cage·csbp, cage·ctc, cage·chdl) with
//!   the sex-specific β below;
//! - p0 = 1 − S0^exp(LP); risk = 1 − exp(−exp(a + b·ln(−ln(1 − p0)))) with the low-risk
//!   region's calibration (a, b);
//! - bands (ESC 2021): age < 50: < 2.5 % low-to-moderate, 2.5–7.5 % high, ≥ 7.5 % very high;
//!   age 50–69: < 5 %, 5–10 %, ≥ 10 %.
//!
//! Inputs, each the most recent within the last 730 days (two years):
//!
//! - systolic blood pressure: clinic readings only (origin `clinical`: SCORE2 is calibrated on
//!   office pressure; home self-measurements run ~5 mmHg lower and are left to `home-bp`), a
//!   LOINC 85354-9 panel's 8480-6 component or a 8480-6 observation, in mm[Hg]. When several
//!   clinic readings fall on the most recent day, their mean is used.
//! - total cholesterol LOINC 2093-3 and HDL cholesterol LOINC 2085-9 in mmol/L (the host
//!   converts mg/dL; a value still in mg/dL is divided by 38.67 here). Several values on the
//!   most recent day: their mean.
//! - smoking: LOINC 72166-2 (tobacco smoking status) with a SNOMED CT value. Current smoker:
//!   77176002 smoker, 65568007 cigarette smoker, 449868002 smokes tobacco daily,
//!   428041000124106 occasional tobacco smoker, 428061000124105 light and 428071000124103
//!   heavy tobacco smoker. Not a current smoker: 8517006 ex-smoker, 266919005 never smoked
//!   tobacco, 8392000 non-smoker. Any other value (e.g. 266927001 unknown) is no status. If
//!   the most recent day holds a current-smoker value, the patient smokes.
//!
//! Out of scope, without a card: age outside 40–69, sex other than male or female (SCORE2 is
//! sex-specific), active diabetes (ICPC T90 or SNOMED CT 44054006 / 73211009; the rule as given
//! excludes only diabetes), or any input missing. A missing input gives no card rather than an
//! info card: a reminder on every record without a lipid panel is alert fatigue, and risk
//! assessment is planned elsewhere. Cards: very high band → warning, high band → info,
//! low-to-moderate → none.

use livelab_plugin_sdk::{
    Card, CodeSystem, Coded, DataNeed, EvaluationError, HookKind, Indicator, Observation,
    ObservationValue, Origin, PluginInfo, Quantity, Request, Section, Sex, Source, filters,
};

pub const ID: &str = "score2";
const HOOKS: [HookKind; 1] = [HookKind::PatientView];
const GUIDELINE: &str = "ESC 2021 Guidelines on cardiovascular disease prevention in clinical \
                         practice: SCORE2, low-risk region";

const BP_PANEL_LOINC: &str = "85354-9";
const SYSTOLIC_LOINC: &str = "8480-6";
const TOTAL_CHOLESTEROL_LOINC: &str = "2093-3";
const HDL_LOINC: &str = "2085-9";
const SMOKING_STATUS_LOINC: &str = "72166-2";
/// Inputs older than two years are not used.
pub const LOOK_BACK_DAYS: u32 = 730;
/// Diabetes: ICPC T90 and the SNOMED CT codes of the shipped map (declared directly too, so a
/// record read without terminology maps is never scored as non-diabetic by mistake).
const DIABETES_ICPC: &str = "T90";
const DIABETES_SNOMED: [&str; 2] = ["44054006", "73211009"];
const CURRENT_SMOKER: [&str; 6] = [
    "77176002",
    "65568007",
    "449868002",
    "428041000124106",
    "428061000124105",
    "428071000124103",
];
const NOT_CURRENT_SMOKER: [&str; 3] = ["8517006", "266919005", "8392000"];
/// mg/dL per mmol/L of cholesterol (total and HDL alike).
const CHOLESTEROL_MG_DL_PER_MMOL_L: f64 = 38.67;

/// The sex-specific SCORE2 model and its low-risk-region calibration (ESC 2021).
pub struct Model {
    /// Coefficients of (cage, smoke, csbp, ctc, chdl, cage·smoke, cage·csbp, cage·ctc,
    /// cage·chdl).
    pub beta: [f64; 9],
    /// Baseline 10-year survival.
    pub s0: f64,
    /// Recalibration intercept and slope for the low-risk region.
    pub a: f64,
    pub b: f64,
}

pub const MEN: Model = Model {
    beta: [
        0.3742, 0.6012, 0.2777, 0.1458, -0.2698, -0.0755, -0.0255, -0.0281, 0.0426,
    ],
    s0: 0.9605,
    a: -0.5699,
    b: 0.7476,
};

pub const WOMEN: Model = Model {
    beta: [
        0.4648, 0.7744, 0.3131, 0.1002, -0.2606, -0.1088, -0.0277, -0.0226, 0.0613,
    ],
    s0: 0.9776,
    a: -0.7380,
    b: 0.7019,
};

/// The risk factors SCORE2 takes.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Inputs {
    pub age: f64,
    /// Systolic blood pressure, mmHg.
    pub sbp: f64,
    /// Total cholesterol, mmol/L.
    pub total_cholesterol: f64,
    /// HDL cholesterol, mmol/L.
    pub hdl: f64,
    pub smoker: bool,
}

impl Model {
    /// The model for `sex`; `None` for other and unknown (SCORE2 is sex-specific).
    pub fn for_sex(sex: Sex) -> Option<&'static Model> {
        match sex {
            Sex::Male => Some(&MEN),
            Sex::Female => Some(&WOMEN),
            Sex::Other | Sex::Unknown => None,
        }
    }

    /// The linear predictor.
    pub fn linear_predictor(&self, x: &Inputs) -> f64 {
        let cage = (x.age - 60.0) / 5.0;
        let smoke = if x.smoker { 1.0 } else { 0.0 };
        let csbp = (x.sbp - 120.0) / 20.0;
        let ctc = x.total_cholesterol - 6.0;
        let chdl = (x.hdl - 1.3) / 0.5;
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
        self.beta.iter().zip(terms).map(|(b, t)| b * t).sum()
    }

    /// The calibrated 10-year risk in percent.
    pub fn risk_percent(&self, x: &Inputs) -> f64 {
        let p0 = 1.0 - self.s0.powf(self.linear_predictor(x).exp());
        let calibrated = 1.0 - (-(self.a + self.b * (-(1.0 - p0).ln()).ln()).exp()).exp();
        100.0 * calibrated
    }
}

/// ESC 2021 risk categories for apparently healthy people.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Band {
    LowToModerate,
    High,
    VeryHigh,
}

impl Band {
    pub fn name(self) -> &'static str {
        match self {
            Band::LowToModerate => "low to moderate",
            Band::High => "high",
            Band::VeryHigh => "very high",
        }
    }
}

/// The band edges (high from, very high from) in percent for an age in 40–69.
pub fn band_edges(age: u8) -> (f64, f64) {
    if age < 50 { (2.5, 7.5) } else { (5.0, 10.0) }
}

/// The band of an unrounded risk (percent) at `age`.
pub fn band(age: u8, risk_percent: f64) -> Band {
    let (high, very_high) = band_edges(age);
    if risk_percent >= very_high {
        Band::VeryHigh
    } else if risk_percent >= high {
        Band::High
    } else {
        Band::LowToModerate
    }
}

pub fn describe() -> PluginInfo {
    let mut diabetes = filters(CodeSystem::Icpc, &[DIABETES_ICPC]);
    diabetes.extend(filters(CodeSystem::SnomedCt, &DIABETES_SNOMED));
    PluginInfo {
        id: ID.into(),
        name: "SCORE2 cardiovascular risk".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        description: "Computes the SCORE2 10-year cardiovascular risk (ESC 2021, low-risk \
                      region) for people aged 40-69 without diabetes from the most recent \
                      clinic systolic pressure, total and HDL cholesterol and smoking status."
            .into(),
        hooks: HOOKS.to_vec(),
        data_needs: vec![
            DataNeed::new(
                Section::Observations,
                filters(
                    CodeSystem::Loinc,
                    &[
                        BP_PANEL_LOINC,
                        SYSTOLIC_LOINC,
                        TOTAL_CHOLESTEROL_LOINC,
                        HDL_LOINC,
                        SMOKING_STATUS_LOINC,
                    ],
                ),
                Some(LOOK_BACK_DAYS),
            ),
            // Active conditions always pass a look-back; ended ones are not needed.
            DataNeed::new(Section::Conditions, diabetes, Some(0)),
        ],
    }
}

/// A clinic systolic pressure of this observation, if it has one.
fn systolic(o: &Observation) -> Option<f64> {
    if o.origin != Origin::Clinical {
        return None;
    }
    let q = if o.has_code(&CodeSystem::Loinc, SYSTOLIC_LOINC) {
        o.quantity()
    } else if o.has_code(&CodeSystem::Loinc, BP_PANEL_LOINC) {
        o.component_quantity(&CodeSystem::Loinc, SYSTOLIC_LOINC)
    } else {
        None
    };
    q.and_then(Quantity::mm_hg)
        .filter(|v| v.is_finite() && *v > 0.0)
}

/// A cholesterol value in mmol/L of an observation coded `loinc`.
fn cholesterol(o: &Observation, loinc: &str) -> Option<f64> {
    if !o.has_code(&CodeSystem::Loinc, loinc) {
        return None;
    }
    let q = o.quantity()?;
    let v = match q.unit.as_str() {
        "mmol/L" => q.value,
        "mg/dL" => q.value / CHOLESTEROL_MG_DL_PER_MMOL_L,
        _ => return None,
    };
    (v.is_finite() && v > 0.0).then_some(v)
}

/// Current smoker (`Some(true)`), not (`Some(false)`), or no usable status.
fn smoking(o: &Observation) -> Option<bool> {
    if !o.has_code(&CodeSystem::Loinc, SMOKING_STATUS_LOINC) {
        return None;
    }
    let Some(ObservationValue::Coded(concept)) = &o.value else {
        return None;
    };
    let any = |codes: &[&str]| {
        concept
            .iter()
            .any(|c| c.system == CodeSystem::SnomedCt && codes.contains(&c.code.as_str()))
    };
    if any(&CURRENT_SMOKER) {
        Some(true)
    } else if any(&NOT_CURRENT_SMOKER) {
        Some(false)
    } else {
        None
    }
}

/// The values `read` finds on the most recent day (within the look-back) that has any.
fn most_recent_day<T>(
    observations: &[Observation],
    read: impl Fn(&Observation) -> Option<T>,
) -> Vec<T> {
    let found: Vec<(u32, T)> = observations
        .iter()
        .filter(|o| o.within_days(LOOK_BACK_DAYS))
        .filter_map(|o| read(o).map(|v| (o.effective_days_ago, v)))
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

pub fn evaluate(request: &Request) -> Result<Vec<Card>, EvaluationError> {
    request.ensure_hook(&HOOKS)?;
    let patient = &request.patient;
    let age = patient.age_years;
    if !(40..=69).contains(&age) {
        return Ok(Vec::new());
    }
    let Some(model) = Model::for_sex(patient.sex) else {
        return Ok(Vec::new());
    };
    let diabetes = patient.conditions.iter().any(|c| {
        c.is_active()
            && (c.has_code(&CodeSystem::Icpc, DIABETES_ICPC)
                || c.has_any_code(&CodeSystem::SnomedCt, &DIABETES_SNOMED))
    });
    if diabetes {
        return Ok(Vec::new());
    }
    let obs = &patient.observations;
    let sbp = mean(&most_recent_day(obs, systolic));
    let tc = mean(&most_recent_day(obs, |o| {
        cholesterol(o, TOTAL_CHOLESTEROL_LOINC)
    }));
    let hdl = mean(&most_recent_day(obs, |o| cholesterol(o, HDL_LOINC)));
    let smokes = most_recent_day(obs, smoking);
    let smoker = (!smokes.is_empty()).then(|| smokes.contains(&true));
    let (Some(sbp), Some(tc), Some(hdl), Some(smoker)) = (sbp, tc, hdl, smoker) else {
        return Ok(Vec::new());
    };
    let inputs = Inputs {
        age: f64::from(age),
        sbp,
        total_cholesterol: tc,
        hdl,
        smoker,
    };
    let risk = model.risk_percent(&inputs);
    let band = band(age, risk);
    let indicator = match band {
        Band::VeryHigh => Indicator::Warning,
        Band::High => Indicator::Info,
        Band::LowToModerate => return Ok(Vec::new()),
    };
    let (high, very_high) = band_edges(age);
    let range = match band {
        Band::VeryHigh => format!("≥ {very_high} %"),
        _ => format!("{high}–{very_high} %"),
    };
    let sex = patient.sex.as_str();
    let smoking = if smoker {
        "current smoker"
    } else {
        "non-smoker"
    };
    Ok(vec![
        Card::new(
            format!(
                "SCORE2 10-year cardiovascular risk {risk:.1} %: {} for age {age} ({range})",
                band.name()
            ),
            indicator,
            Source::for_plugin(GUIDELINE, ID),
        )
        .with_detail(format!(
            "SCORE2 (low-risk region calibration, as for the Netherlands) for a {age}-year-old \
             {sex}, {smoking}, systolic blood pressure {sbp:.0} mmHg (clinic), total \
             cholesterol {tc:.2} mmol/L, HDL cholesterol {hdl:.2} mmol/L: 10-year risk of \
             fatal and non-fatal cardiovascular disease {risk:.1} %. The {GUIDELINE} bands \
             this age as low to moderate below {high} %, high from {high} % and very high from \
             {very_high} %; treat risk factors accordingly (very high: treatment generally \
             recommended; high: consider)."
        )),
    ])
}

livelab_plugin_sdk::component!(Score2);

#[cfg(test)]
mod tests {
    use super::*;
    use livelab_plugin_sdk::testing::{self, patient, quantity};
    use livelab_plugin_sdk::{
        ClinicalStatus, Coding, Condition, ErrorKind, ObservationCategory, Patient,
    };

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-4
    }

    fn inputs(age: f64, sbp: f64, tc: f64, hdl: f64, smoker: bool) -> Inputs {
        Inputs {
            age,
            sbp,
            total_cholesterol: tc,
            hdl,
            smoker,
        }
    }

    // Hand computations. Reference values cross-checked with a short Python computation
    // (stdlib `math` only) of the same formula; printed to 6 decimals.

    /// Man, 60, SBP 120, TC 6.0, HDL 1.3, non-smoker: every centred term is 0.
    /// LP = 0; p0 = 1 − 0.9605^1 = 0.0395; ln(−ln(1 − 0.0395)) = ln(0.040300) = −3.211372;
    /// a + b·(…) = −0.5699 + 0.7476 × (−3.211372) = −2.970721;
    /// risk = 1 − exp(−exp(−2.970721)) = 1 − exp(−0.051270) = 4.997437 %.
    /// Age 60 → band edges 5 / 10: just below 5 %, low to moderate.
    #[test]
    fn man_60_reference_values() {
        let x = inputs(60.0, 120.0, 6.0, 1.3, false);
        assert_eq!(MEN.linear_predictor(&x), 0.0);
        let r = MEN.risk_percent(&x);
        assert!(close(r, 4.997437), "{r}");
        assert_eq!(band(60, r), Band::LowToModerate);
    }

    /// Man, 60, SBP 140, TC 6.0, HDL 1.3, smoker: csbp = 1, smoke = 1, cage = 0.
    /// LP = 0.6012 + 0.2777 = 0.8789; exp(LP) = 2.408249; p0 = 1 − 0.9605^2.408249 = 0.092494;
    /// ln(−ln(1 − p0)) = −2.332472; a + b·(…) = −0.5699 + 0.7476 × (−2.332472) = −2.313656;
    /// risk = 1 − exp(−exp(−2.313656)) = 9.416584 % → high (5–10).
    #[test]
    fn man_60_smoker_reference_values() {
        let x = inputs(60.0, 140.0, 6.0, 1.3, true);
        assert!(close(MEN.linear_predictor(&x), 0.8789));
        let r = MEN.risk_percent(&x);
        assert!(close(r, 9.416584), "{r}");
        assert_eq!(band(60, r), Band::High);
    }

    /// Woman, 45, SBP 130, TC 5.5, HDL 1.5, smoker: cage = −3, csbp = 0.5, ctc = −0.5,
    /// chdl = 0.4. LP = 0.4648(−3) + 0.7744(1) + 0.3131(0.5) + 0.1002(−0.5) − 0.2606(0.4)
    /// − 0.1088(−3) − 0.0277(−1.5) − 0.0226(1.5) + 0.0613(−1.2) = −0.3573;
    /// exp(LP) = 0.699563; p0 = 1 − 0.9776^0.699563 = 0.015723; ln(−ln(1 − p0)) = −4.144688;
    /// a + b·(…) = −0.7380 + 0.7019 × (−4.144688) = −3.647157; risk = 2.572837 % → high for
    /// age < 50 (2.5–7.5).
    #[test]
    fn woman_45_smoker_reference_values() {
        let x = inputs(45.0, 130.0, 5.5, 1.5, true);
        assert!(close(WOMEN.linear_predictor(&x), -0.3573));
        let r = WOMEN.risk_percent(&x);
        assert!(close(r, 2.572837), "{r}");
        assert_eq!(band(45, r), Band::High);
    }

    /// Man, 55, SBP 150, TC 6.5, HDL 1.0, smoker: cage = −1, csbp = 1.5, ctc = 0.5,
    /// chdl = −0.6. LP = −0.3742 + 0.6012 + 0.41655 + 0.0729 + 0.16188 + 0.0755 +
    /// 0.03825 + 0.01405 − 0.02556 = 1.031690; exp(LP) = 2.805804; p0 = 0.106919;
    /// ln(−ln(1 − p0)) = −2.179682; a + b·(…) = −2.199430; risk = 10.494162 % → very high.
    #[test]
    fn man_55_smoker_reference_values() {
        let x = inputs(55.0, 150.0, 6.5, 1.0, true);
        assert!(close(MEN.linear_predictor(&x), 1.031690));
        let r = MEN.risk_percent(&x);
        assert!(close(r, 10.494162), "{r}");
        assert_eq!(band(55, r), Band::VeryHigh);
    }

    /// Woman, 68, SBP 160, TC 7.0, HDL 1.1, smoker: LP = 2.010608, p0 = 0.155645,
    /// a + b·(…) = −1.985122, risk = 12.834697 %. Woman, 65, SBP 130, TC 5.0, HDL 1.4,
    /// non-smoker: LP = 0.490040, p0 = 0.036306, risk = 4.614631 %.
    /// Man, 40, SBP 110, TC 4.0, HDL 1.8, non-smoker: LP = −2.643250, p0 = 0.002863,
    /// risk = 0.708082 %. Man, 49, SBP 160, TC 7.0, HDL 0.9, smoker: LP = 1.110096,
    /// p0 = 0.115117, risk = 11.091208 % (very high: ≥ 7.5 below 50).
    #[test]
    fn more_reference_values() {
        let cases = [
            (&WOMEN, inputs(68.0, 160.0, 7.0, 1.1, true), 12.834697),
            (&WOMEN, inputs(65.0, 130.0, 5.0, 1.4, false), 4.614631),
            (&MEN, inputs(40.0, 110.0, 4.0, 1.8, false), 0.708082),
            (&MEN, inputs(49.0, 160.0, 7.0, 0.9, true), 11.091208),
        ];
        for (model, x, expected) in cases {
            let r = model.risk_percent(&x);
            assert!(close(r, expected), "{x:?}: {r} vs {expected}");
        }
    }

    #[test]
    fn band_edges_by_age() {
        assert_eq!(band(40, 2.4999), Band::LowToModerate);
        assert_eq!(band(49, 2.5), Band::High);
        assert_eq!(band(49, 7.4999), Band::High);
        assert_eq!(band(49, 7.5), Band::VeryHigh);
        assert_eq!(band(50, 7.5), Band::High);
        assert_eq!(band(50, 4.9999), Band::LowToModerate);
        assert_eq!(band(50, 5.0), Band::High);
        assert_eq!(band(69, 9.9999), Band::High);
        assert_eq!(band(69, 10.0), Band::VeryHigh);
    }

    fn bp(days: u32, systolic: f64, origin: Origin) -> Observation {
        let components = vec![
            testing::component(
                CodeSystem::Loinc,
                SYSTOLIC_LOINC,
                quantity(systolic, "mm[Hg]"),
            ),
            testing::component(CodeSystem::Loinc, "8462-4", quantity(80.0, "mm[Hg]")),
        ];
        Observation {
            components,
            ..testing::observation(
                CodeSystem::Loinc,
                BP_PANEL_LOINC,
                ObservationCategory::VitalSigns,
                origin,
                days,
                None,
            )
        }
    }

    fn lab(code: &str, days: u32, value: f64, unit: &str) -> Observation {
        testing::observation(
            CodeSystem::Loinc,
            code,
            ObservationCategory::Laboratory,
            Origin::Clinical,
            days,
            quantity(value, unit),
        )
    }

    fn smoking_status(days: u32, snomed: &str) -> Observation {
        let value = ObservationValue::Coded(vec![Coding::new(CodeSystem::SnomedCt, snomed)]);
        testing::observation(
            CodeSystem::Loinc,
            SMOKING_STATUS_LOINC,
            ObservationCategory::SocialHistory,
            Origin::Clinical,
            days,
            Some(value),
        )
    }

    /// A complete set of inputs: SBP, TC, HDL (mmol/L) and smoking status.
    fn record(sbp: f64, tc: f64, hdl: f64, smoker: bool) -> Vec<Observation> {
        vec![
            bp(30, sbp, Origin::Clinical),
            lab(TOTAL_CHOLESTEROL_LOINC, 100, tc, "mmol/L"),
            lab(HDL_LOINC, 100, hdl, "mmol/L"),
            smoking_status(200, if smoker { "449868002" } else { "266919005" }),
        ]
    }

    fn run_with(
        age: u8,
        sex: Sex,
        observations: Vec<Observation>,
        conditions: Vec<Condition>,
    ) -> Vec<Card> {
        let patient = Patient {
            conditions,
            observations,
            ..patient(age, sex)
        };
        testing::run(evaluate, patient)
    }

    fn outcome(age: u8, sex: Sex, observations: Vec<Observation>) -> Option<Indicator> {
        testing::indicator(&run_with(age, sex, observations, vec![]))
    }

    #[test]
    fn describes_itself() {
        let info = describe();
        assert_eq!(info.id, "score2");
        assert_eq!(info.hooks, vec![HookKind::PatientView]);
        assert_eq!(info.data_needs.len(), 2);
        assert_eq!(info.data_needs[0].section, Section::Observations);
        assert_eq!(info.data_needs[0].look_back_days, Some(730));
        assert_eq!(info.data_needs[0].codes.len(), 5);
        assert_eq!(info.data_needs[1].section, Section::Conditions);
        assert_eq!(info.data_needs[1].look_back_days, Some(0));
    }

    #[test]
    fn cards_by_band() {
        // 9.42 %, age 60: high → info.
        let cards = run_with(60, Sex::Male, record(140.0, 6.0, 1.3, true), vec![]);
        assert_eq!(cards.len(), 1);
        assert_eq!(cards[0].indicator, Indicator::Info);
        assert_eq!(
            cards[0].summary,
            "SCORE2 10-year cardiovascular risk 9.4 %: high for age 60 (5–10 %)"
        );
        assert_eq!(cards[0].source.topic, testing::topic("score2"));
        assert!(cards[0].detail.as_ref().unwrap().contains("ESC 2021"));
        // 10.49 %, age 55: very high → warning.
        let cards = run_with(55, Sex::Male, record(150.0, 6.5, 1.0, true), vec![]);
        assert_eq!(cards[0].indicator, Indicator::Warning);
        assert_eq!(
            cards[0].summary,
            "SCORE2 10-year cardiovascular risk 10.5 %: very high for age 55 (≥ 10 %)"
        );
        // 4.997 %, age 60: low to moderate → no card.
        assert_eq!(outcome(60, Sex::Male, record(120.0, 6.0, 1.3, false)), None);
        // Below 50 the edges are 2.5 and 7.5: 2.57 % is high, 11.1 % very high.
        assert_eq!(
            outcome(45, Sex::Female, record(130.0, 5.5, 1.5, true)),
            Some(Indicator::Info)
        );
        assert_eq!(
            outcome(49, Sex::Male, record(160.0, 7.0, 0.9, true)),
            Some(Indicator::Warning)
        );
        assert_eq!(outcome(40, Sex::Male, record(110.0, 4.0, 1.8, false)), None);
    }

    #[test]
    fn out_of_scope_gives_no_card() {
        let high = || record(180.0, 8.0, 0.8, true);
        assert_eq!(outcome(39, Sex::Male, high()), None);
        assert_eq!(outcome(40, Sex::Male, high()), Some(Indicator::Warning));
        assert_eq!(outcome(69, Sex::Male, high()), Some(Indicator::Warning));
        assert_eq!(outcome(70, Sex::Male, high()), None);
        assert_eq!(outcome(60, Sex::Other, high()), None);
        assert_eq!(outcome(60, Sex::Unknown, high()), None);
        let diabetes =
            |system, code: &str, status| testing::condition(system, code, status, Some(1000));
        let with = |c| run_with(60, Sex::Male, high(), vec![c]);
        assert!(with(diabetes(CodeSystem::Icpc, "T90.02", ClinicalStatus::Active)).is_empty());
        assert!(
            with(diabetes(
                CodeSystem::SnomedCt,
                "44054006",
                ClinicalStatus::Active
            ))
            .is_empty()
        );
        // Diabetes resolved: in scope again.
        assert_eq!(
            with(diabetes(
                CodeSystem::Icpc,
                "T90.02",
                ClinicalStatus::Resolved
            ))
            .len(),
            1
        );
    }

    #[test]
    fn missing_inputs_give_no_card() {
        for drop in 0..4 {
            let mut obs = record(180.0, 8.0, 0.8, true);
            obs.remove(drop);
            assert_eq!(outcome(60, Sex::Male, obs), None, "without input {drop}");
        }
        // Unknown smoking status is no status.
        let mut obs = record(180.0, 8.0, 0.8, true);
        obs[3] = smoking_status(10, "266927001");
        assert_eq!(outcome(60, Sex::Male, obs), None);
        // Older than two years: not used.
        let mut obs = record(180.0, 8.0, 0.8, true);
        obs[1].effective_days_ago = 731;
        assert_eq!(outcome(60, Sex::Male, obs.clone()), None);
        obs[1].effective_days_ago = 730;
        assert_eq!(outcome(60, Sex::Male, obs), Some(Indicator::Warning));
    }

    #[test]
    fn most_recent_clinic_values_decide() {
        // A recent low home reading does not count; a recent low clinic reading does.
        let mut obs = record(150.0, 6.5, 1.0, true);
        obs.push(bp(1, 100.0, Origin::PatientGenerated));
        assert_eq!(
            outcome(55, Sex::Male, obs.clone()),
            Some(Indicator::Warning)
        );
        // SBP 100: 6.10 %, high → info.
        obs.push(bp(2, 100.0, Origin::Clinical));
        assert_eq!(outcome(55, Sex::Male, obs.clone()), Some(Indicator::Info));
        // Two clinic readings on the most recent day: their mean (100 and 200 → 150).
        obs.push(bp(2, 200.0, Origin::Clinical));
        assert_eq!(outcome(55, Sex::Male, obs), Some(Indicator::Warning));
        // A newer ex-smoker status replaces an older current-smoker one (non-smoker: 6.47 %,
        // high → info).
        let mut obs = record(150.0, 6.5, 1.0, true);
        obs.push(smoking_status(5, "8517006"));
        assert_eq!(outcome(55, Sex::Male, obs.clone()), Some(Indicator::Info));
        // A current-smoker value on the same most recent day wins.
        obs.push(smoking_status(5, "449868002"));
        assert_eq!(outcome(55, Sex::Male, obs), Some(Indicator::Warning));
        // A newer HDL decides (2.0 mmol/L: 6.71 %, high → info).
        let mut obs = record(150.0, 6.5, 1.0, true);
        obs.push(lab(HDL_LOINC, 50, 2.0, "mmol/L"));
        assert_eq!(outcome(55, Sex::Male, obs), Some(Indicator::Info));
    }

    #[test]
    fn standalone_systolic_and_units() {
        // A standalone 8480-6 reading in mmHg, cholesterol in mg/dL (6.5 × 38.67 = 251.355).
        let obs = vec![
            lab(SYSTOLIC_LOINC, 3, 150.0, "mmHg"),
            lab(TOTAL_CHOLESTEROL_LOINC, 3, 251.355, "mg/dL"),
            lab(HDL_LOINC, 3, 1.0, "mmol/L"),
            smoking_status(3, "77176002"),
        ];
        assert_eq!(
            outcome(55, Sex::Male, obs.clone()),
            Some(Indicator::Warning)
        );
        // kPa and unknown cholesterol units are not read.
        let mut kpa = obs.clone();
        kpa[0] = lab(SYSTOLIC_LOINC, 3, 20.0, "kPa");
        assert_eq!(outcome(55, Sex::Male, kpa), None);
        let mut mg = obs;
        mg[2] = lab(HDL_LOINC, 3, 1.0, "g/L");
        assert_eq!(outcome(55, Sex::Male, mg), None);
    }

    #[test]
    fn order_sign_is_not_served() {
        let request = testing::order_sign(patient(60, Sex::Male), vec![]);
        let err = testing::error(evaluate, &request);
        assert_eq!(err.kind, ErrorKind::UnsupportedHook);
    }
}
