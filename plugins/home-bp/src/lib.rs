//! Sample eHealth plugin `home-bp`: a week of home blood-pressure self-measurements.
//!
//! Rule 4 of `docs/CLINICAL_REFERENCE.md`: a mean of a 7-day home series ≥ 135/85 mmHg means
//! hypertension (ESC/ESH 2023 home threshold; the office threshold is 140/90). The protocol
//! asks 2 readings a day, morning and evening, for 7 days.

use livelab_plugin_sdk::{
    Card, CodeFilter, CodeSystem, Coded, DataNeed, EvaluationError, HookKind, Indicator,
    Observation, Origin, PluginInfo, Quantity, Request, Section, Source,
};

pub const ID: &str = "home-bp";
const HOOKS: [HookKind; 1] = [HookKind::PatientView];
const GUIDELINE: &str = "ESC/ESH 2023 hypertension guideline: home blood-pressure monitoring";

/// LOINC blood-pressure panel and its systolic and diastolic components.
const BP_PANEL_LOINC: &str = "85354-9";
const SYSTOLIC_LOINC: &str = "8480-6";
const DIASTOLIC_LOINC: &str = "8462-4";
/// Days 0..=6 before the evaluation date: the last 7 days (rule 4).
const LOOK_BACK_DAYS: u32 = 6;
/// At least 12 of the protocol's 14 readings (2 a day for 7 days, rule 4): a week with up to
/// two missed readings still counts as a series.
const FULL_SERIES: usize = 12;
/// ESC/ESH 2023 home blood-pressure thresholds (mmHg), compared with the unrounded means.
const HOME_SYSTOLIC: f64 = 135.0;
const HOME_DIASTOLIC: f64 = 85.0;

pub fn describe() -> PluginInfo {
    PluginInfo {
        id: ID.into(),
        name: "Home blood pressure".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        description: "Reviews the last 7 days of patient-measured blood pressure against the \
                      ESC/ESH home threshold of 135/85 mmHg."
            .into(),
        hooks: HOOKS.to_vec(),
        data_needs: vec![DataNeed::new(
            Section::Observations,
            vec![CodeFilter::new(CodeSystem::Loinc, BP_PANEL_LOINC)],
            Some(LOOK_BACK_DAYS),
        )],
    }
}

/// The pressure in mmHg of the panel's component `loinc`, if that component has a
/// quantity in mm[Hg] (UCUM; the common non-UCUM spelling `mmHg` is accepted too).
fn mm_hg(o: &Observation, loinc: &str) -> Option<f64> {
    o.component_quantity(&CodeSystem::Loinc, loinc)
        .and_then(Quantity::mm_hg)
}

pub fn evaluate(request: &Request) -> Result<Vec<Card>, EvaluationError> {
    request.ensure_hook(&HOOKS)?;
    let readings: Vec<(f64, f64)> = request
        .patient
        .observations
        .iter()
        .filter(|o| {
            o.origin == Origin::PatientGenerated
                && o.within_days(LOOK_BACK_DAYS)
                && o.has_code(&CodeSystem::Loinc, BP_PANEL_LOINC)
        })
        .filter_map(|o| Some((mm_hg(o, SYSTOLIC_LOINC)?, mm_hg(o, DIASTOLIC_LOINC)?)))
        .collect();
    let n = readings.len();
    if n == 0 {
        return Ok(Vec::new());
    }
    let source = Source::for_plugin(GUIDELINE, ID);
    if n < FULL_SERIES {
        return Ok(vec![
            Card::new(
                format!(
                    "Incomplete home blood-pressure series ({n} readings in 7 days, protocol \
                     asks 2 a day)"
                ),
                Indicator::Info,
                source,
            )
            .with_detail(format!(
                "The {GUIDELINE} bases the diagnosis on a home series of 2 readings a day, \
                 morning and evening, for 7 days; {n} usable readings were found, fewer than \
                 {FULL_SERIES}. Ask the patient to complete the series."
            )),
        ]);
    }
    let mean = |f: fn(&(f64, f64)) -> f64| readings.iter().map(f).sum::<f64>() / n as f64;
    let (systolic, diastolic) = (mean(|r| r.0), mean(|r| r.1));
    if systolic < HOME_SYSTOLIC && diastolic < HOME_DIASTOLIC {
        return Ok(Vec::new());
    }
    let (s, d) = (systolic.round(), diastolic.round());
    Ok(vec![
        Card::new(
            format!("Home blood pressure mean {s:.0}/{d:.0} mmHg is at or above 135/85"),
            Indicator::Warning,
            source,
        )
        .with_detail(format!(
            "Mean of {n} home readings in the last 7 days: {s:.0}/{d:.0} mmHg. The {GUIDELINE} \
             takes a home mean ≥ 135/85 mmHg as hypertension (the office threshold is 140/90 \
             mmHg, which does not apply to self-measurements)."
        )),
    ])
}

livelab_plugin_sdk::component!(HomeBp);

#[cfg(test)]
mod tests {
    use super::*;
    use livelab_plugin_sdk::testing::{self, patient};
    use livelab_plugin_sdk::{
        Coding, ErrorKind, ObservationCategory, ObservationComponent, Patient, Sex,
    };

    fn component(code: &str, value: f64, unit: &str) -> ObservationComponent {
        testing::component(CodeSystem::Loinc, code, testing::quantity(value, unit))
    }

    fn reading(days: u32, systolic: f64, diastolic: f64) -> Observation {
        Observation {
            components: vec![
                component("8480-6", systolic, "mm[Hg]"),
                component("8462-4", diastolic, "mm[Hg]"),
            ],
            ..testing::observation(
                CodeSystem::Loinc,
                "85354-9",
                ObservationCategory::VitalSigns,
                Origin::PatientGenerated,
                days,
                None,
            )
        }
    }

    /// `n` readings spread over days 0..=6.
    fn series(n: u32, systolic: f64, diastolic: f64) -> Vec<Observation> {
        (0..n)
            .map(|i| reading(i % 7, systolic, diastolic))
            .collect()
    }

    fn run(observations: Vec<Observation>) -> Vec<Card> {
        let patient = Patient {
            observations,
            ..patient(55, Sex::Female)
        };
        testing::run(evaluate, patient)
    }

    fn outcome(observations: Vec<Observation>) -> Option<(Indicator, String)> {
        testing::outcome(run(observations))
    }

    fn incomplete(n: usize) -> Option<(Indicator, String)> {
        Some((
            Indicator::Info,
            format!(
                "Incomplete home blood-pressure series ({n} readings in 7 days, protocol asks 2 \
                 a day)"
            ),
        ))
    }

    #[test]
    fn describes_itself() {
        let info = describe();
        assert_eq!(info.id, "home-bp");
        assert_eq!(info.hooks, vec![HookKind::PatientView]);
        assert_eq!(info.data_needs.len(), 1);
        let need = &info.data_needs[0];
        assert_eq!(need.section, Section::Observations);
        assert_eq!(
            need.codes,
            vec![CodeFilter::new(CodeSystem::Loinc, "85354-9")]
        );
        assert_eq!(need.look_back_days, Some(6));
    }

    #[test]
    fn no_readings_no_card() {
        assert_eq!(outcome(vec![]), None);
    }

    #[test]
    fn incomplete_series_is_info() {
        assert_eq!(outcome(series(1, 170.0, 100.0)), incomplete(1));
        assert_eq!(outcome(series(11, 170.0, 100.0)), incomplete(11));
        assert_eq!(outcome(series(11, 110.0, 70.0)), incomplete(11));
        let card = run(series(3, 120.0, 80.0)).remove(0);
        assert!(card.detail.unwrap().contains("ESC/ESH 2023"));
    }

    #[test]
    fn full_series_thresholds() {
        // 12 is a full series.
        assert_eq!(outcome(series(12, 134.9, 84.9)), None);
        assert_eq!(
            outcome(series(12, 135.0, 70.0)).map(|o| o.0),
            Some(Indicator::Warning)
        );
        assert_eq!(
            outcome(series(12, 120.0, 85.0)).map(|o| o.0),
            Some(Indicator::Warning)
        );
        assert_eq!(
            outcome(series(14, 150.0, 95.0)),
            Some((
                Indicator::Warning,
                "Home blood pressure mean 150/95 mmHg is at or above 135/85".into()
            ))
        );
    }

    #[test]
    fn compares_unrounded_means() {
        // Mean systolic 134.5 rounds to 135 in text but stays below the threshold;
        // mean diastolic 84.6 rounds to 85 likewise.
        let mut obs = series(6, 134.0, 84.2);
        obs.extend(series(6, 135.0, 85.0));
        assert_eq!(outcome(obs), None);
        // Mean exactly 135.0 over readings 130 and 140.
        let mut obs = series(6, 130.0, 80.0);
        obs.extend(series(6, 140.0, 80.0));
        assert_eq!(
            outcome(obs),
            Some((
                Indicator::Warning,
                "Home blood pressure mean 135/80 mmHg is at or above 135/85".into()
            ))
        );
        // Text rounds half away from zero: 135.5 → 136, 84.5 → 85 (warning via systolic).
        let mut obs = series(6, 135.0, 84.0);
        obs.extend(series(6, 136.0, 85.0));
        assert_eq!(
            outcome(obs).unwrap().1,
            "Home blood pressure mean 136/85 mmHg is at or above 135/85"
        );
    }

    #[test]
    fn only_patient_generated_recent_complete_readings_count() {
        let mut obs = series(11, 150.0, 95.0);
        // Clinical (office) reading: not counted.
        let mut office = reading(0, 150.0, 95.0);
        office.origin = Origin::Clinical;
        obs.push(office);
        // Day 7 is outside the last 7 days.
        obs.push(reading(7, 150.0, 95.0));
        // Missing diastolic, missing systolic value, unit not mmHg, wrong panel code.
        let mut no_diastolic = reading(1, 150.0, 95.0);
        no_diastolic.components.pop();
        obs.push(no_diastolic);
        let mut no_value = reading(1, 150.0, 95.0);
        no_value.components[0].value = None;
        obs.push(no_value);
        let mut kpa = reading(1, 20.0, 12.6);
        kpa.components[0] = component("8480-6", 20.0, "kPa");
        obs.push(kpa);
        let mut other_code = reading(1, 150.0, 95.0);
        other_code.code = vec![Coding::new(CodeSystem::Loinc, "55284-4")];
        obs.push(other_code);
        assert_eq!(outcome(obs.clone()), incomplete(11));
        // Day 6 counts, and `mmHg` is accepted: that makes 12.
        let mut day6 = reading(6, 150.0, 95.0);
        day6.components[1] = component("8462-4", 95.0, "mmHg");
        obs.push(day6);
        assert_eq!(outcome(obs).map(|o| o.0), Some(Indicator::Warning));
    }

    #[test]
    fn warning_card_names_guideline() {
        let card = run(series(14, 140.0, 90.0)).remove(0);
        assert_eq!(card.source.label, GUIDELINE);
        assert_eq!(card.source.topic, testing::topic("home-bp"));
        let detail = card.detail.unwrap();
        assert!(detail.contains("ESC/ESH 2023") && detail.contains("140/90"));
        assert!(detail.contains("Mean of 14 home readings"));
    }

    #[test]
    fn order_sign_is_not_served() {
        let patient = Patient {
            observations: series(14, 150.0, 95.0),
            ..patient(55, Sex::Male)
        };
        let err = testing::error(evaluate, &testing::order_sign(patient, vec![]));
        assert_eq!(err.kind, ErrorKind::UnsupportedHook);
    }
}
