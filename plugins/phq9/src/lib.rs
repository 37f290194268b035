//! Sample eHealth plugin `phq9`: the PHQ-9 depression questionnaire a patient filled in.
//!
//! Rule 6 of `docs/CLINICAL_REFERENCE.md` (PHQ-9, Kroenke, Spitzer & Williams 2001): the total
//! score 0–27 bands as 0–4 minimal, 5–9 mild, 10–14 moderate, 15–19 moderately severe and
//! ≥ 20 severe; any positive answer on item 9 (thoughts that you would be better off dead or of
//! hurting yourself) is a critical card for review.
//!
//! Codes (LOINC, verified against the LOINC PHQ-9 panel 44249-1 "PHQ-9 quick depression
//! assessment panel [Reported.PHQ]"): total score 44261-6; items 1–9 are 44250-9 (little
//! interest or pleasure), 44255-8 (feeling down, depressed or hopeless), 44259-0 (trouble
//! sleeping), 44254-1 (tired, little energy), 44251-7 (poor appetite or overeating), 44258-2
//! (feeling bad about yourself), 44252-5 (trouble concentrating), 44253-3 (moving or speaking
//! slowly, or restless) and 44260-8 (item 9: better off dead or hurting yourself). Answers are
//! scored 0–3 (LOINC answer list LL358-3: not at all, several days, more than half the days,
//! nearly every day).
//!
//! A questionnaire is an observation coded 44249-1 (the panel, its answers and total as
//! components) or 44261-6 (the total score as the value, possibly with the items as
//! components); answers and totals as integers or as quantities (unit `{score}`). The host does
//! not read QuestionnaireResponse. The most recent questionnaire of the last 30 days decides,
//! whoever recorded it (filled in at home — patient-generated — or with the GP: the instrument is
//! the same). Its total is the recorded total, else the sum of nine answered items; item 9 is
//! its 44260-8 answer, when recorded.
//!
//! Cards: item 9 answered 1–3 → critical; else total ≥ 10 (moderate or worse) → warning;
//! total 5–9 (mild) → info (watchful waiting: repeat the questionnaire); 0–4 → none.

use livelab_plugin_sdk::{
    Card, CodeSystem, Coded, DataNeed, EvaluationError, HookKind, Indicator, Observation,
    ObservationValue, PluginInfo, Request, Section, Source, filters,
};

pub const ID: &str = "phq9";
const HOOKS: [HookKind; 1] = [HookKind::PatientView];
const GUIDELINE: &str = "PHQ-9 depression severity (Kroenke, Spitzer & Williams 2001)";

pub const PANEL_LOINC: &str = "44249-1";
pub const TOTAL_LOINC: &str = "44261-6";
/// Items 1–9, in questionnaire order.
pub const ITEM_LOINC: [&str; 9] = [
    "44250-9", "44255-8", "44259-0", "44254-1", "44251-7", "44258-2", "44252-5", "44253-3",
    "44260-8",
];
/// The most recent questionnaire of the last 30 days (days 0..=30) decides.
pub const LOOK_BACK_DAYS: u32 = 30;

pub fn describe() -> PluginInfo {
    PluginInfo {
        id: ID.into(),
        name: "PHQ-9 depression questionnaire".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        description: "Reviews the most recent PHQ-9 questionnaire of the last 30 days: \
                      severity band of the total score, and any positive answer on item 9."
            .into(),
        hooks: HOOKS.to_vec(),
        data_needs: vec![DataNeed::new(
            Section::Observations,
            filters(CodeSystem::Loinc, &[PANEL_LOINC, TOTAL_LOINC]),
            Some(LOOK_BACK_DAYS),
        )],
    }
}

/// A whole-number score in `0..=max` from an integer or a quantity.
fn score(value: Option<&ObservationValue>, max: i64) -> Option<i64> {
    let v = match value? {
        ObservationValue::Integer(i) => *i,
        ObservationValue::Quantity(q) if q.value.fract() == 0.0 && q.value.abs() < 1e6 => {
            q.value as i64
        }
        _ => return None,
    };
    (0..=max).contains(&v).then_some(v)
}

fn component_score(o: &Observation, loinc: &str, max: i64) -> Option<i64> {
    o.components
        .iter()
        .filter(|c| c.has_code(&CodeSystem::Loinc, loinc))
        .find_map(|c| score(c.value.as_ref(), max))
}

/// What one questionnaire says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Answers {
    pub total: Option<i64>,
    pub item9: Option<i64>,
}

/// Reads a questionnaire; `None` when the observation is not one or holds nothing usable.
pub fn answers(o: &Observation) -> Option<Answers> {
    let total_coded = o.has_code(&CodeSystem::Loinc, TOTAL_LOINC);
    if !total_coded && !o.has_code(&CodeSystem::Loinc, PANEL_LOINC) {
        return None;
    }
    let items: Vec<Option<i64>> = ITEM_LOINC
        .iter()
        .map(|code| component_score(o, code, 3))
        .collect();
    let total = total_coded
        .then(|| score(o.value.as_ref(), 27))
        .flatten()
        .or_else(|| component_score(o, TOTAL_LOINC, 27))
        .or_else(|| items.iter().copied().sum::<Option<i64>>());
    let item9 = items[8];
    (total.is_some() || item9.is_some()).then_some(Answers { total, item9 })
}

/// The PHQ-9 severity band of a total score.
pub fn band(total: i64) -> &'static str {
    match total {
        ..=4 => "minimal",
        5..=9 => "mild",
        10..=14 => "moderate",
        15..=19 => "moderately severe",
        _ => "severe",
    }
}

pub fn evaluate(request: &Request) -> Result<Vec<Card>, EvaluationError> {
    request.ensure_hook(&HOOKS)?;
    let latest = request
        .patient
        .observations
        .iter()
        .filter(|o| o.within_days(LOOK_BACK_DAYS))
        .filter_map(|o| answers(o).map(|a| (o.effective_days_ago, a)))
        .min_by_key(|(days, _)| *days);
    let Some((days, Answers { total, item9 })) = latest else {
        return Ok(Vec::new());
    };
    let when = match days {
        0 => "today".to_string(),
        1 => "1 day ago".to_string(),
        n => format!("{n} days ago"),
    };
    let total_text = match total {
        Some(t) => format!("total {t} ({})", band(t)),
        None => "total not recorded".to_string(),
    };
    let source = Source::for_plugin(GUIDELINE, ID);
    if let Some(answer) = item9.filter(|&a| a > 0) {
        return Ok(vec![
            Card::new(
                format!(
                    "PHQ-9 item 9 positive (thoughts of death or self-harm): review suicide \
                     risk; {total_text}"
                ),
                Indicator::Critical,
                source,
            )
            .with_detail(format!(
                "PHQ-9 filled in {when}: item 9 (\"thoughts that you would be better off dead, \
                 or of hurting yourself in some way\") answered {answer} of 3; {total_text}. \
                 Any positive answer on item 9 calls for a clinician's review of suicide risk \
                 the same day, whatever the total ({GUIDELINE})."
            )),
        ]);
    }
    let Some(total) = total else {
        return Ok(Vec::new());
    };
    let (indicator, advice) = match total {
        10.. => (
            Indicator::Warning,
            "A total of 10 or more (moderate or worse) warrants a consultation to assess \
             depression and discuss treatment.",
        ),
        5..=9 => (
            Indicator::Info,
            "Mild symptoms: watchful waiting; repeat the questionnaire in 2 to 4 weeks.",
        ),
        _ => return Ok(Vec::new()),
    };
    Ok(vec![
        Card::new(
            format!("PHQ-9 total {total}: {} depressive symptoms", band(total)),
            indicator,
            source,
        )
        .with_detail(format!(
            "PHQ-9 filled in {when}: total {total} of 27, {} ({GUIDELINE}: 0–4 minimal, 5–9 \
             mild, 10–14 moderate, 15–19 moderately severe, 20–27 severe). {advice}",
            band(total)
        )),
    ])
}

livelab_plugin_sdk::component!(Phq9);

#[cfg(test)]
mod tests {
    use super::*;
    use livelab_plugin_sdk::testing::{self, patient};
    use livelab_plugin_sdk::{
        CodeFilter, Coding, ErrorKind, ObservationCategory, ObservationComponent, Origin, Patient,
        Sex,
    };

    fn int(v: i64) -> Option<ObservationValue> {
        Some(ObservationValue::Integer(v))
    }

    fn component(code: &str, value: Option<ObservationValue>) -> ObservationComponent {
        testing::component(CodeSystem::Loinc, code, value)
    }

    /// A panel with nine answers (item 9 = `item9`, the others filled up to `total`) and the
    /// total as a component.
    fn panel(days: u32, total: i64, item9: i64) -> Observation {
        let mut rest = total - item9;
        let mut components: Vec<ObservationComponent> = ITEM_LOINC[..8]
            .iter()
            .map(|code| {
                let a = rest.min(3);
                rest -= a;
                component(code, int(a))
            })
            .collect();
        assert_eq!(rest, 0, "total reachable");
        components.push(component(ITEM_LOINC[8], int(item9)));
        components.push(component(TOTAL_LOINC, int(total)));
        Observation {
            components,
            ..testing::observation(
                CodeSystem::Loinc,
                PANEL_LOINC,
                ObservationCategory::Survey,
                Origin::PatientGenerated,
                days,
                None,
            )
        }
    }

    /// A total-score observation as a GP system writes it (quantity `{score}`, no items).
    fn total_only(days: u32, total: f64) -> Observation {
        testing::observation(
            CodeSystem::Loinc,
            TOTAL_LOINC,
            ObservationCategory::Survey,
            Origin::Clinical,
            days,
            testing::quantity(total, "{score}"),
        )
    }

    fn run(observations: Vec<Observation>) -> Vec<Card> {
        let patient = Patient {
            observations,
            ..patient(34, Sex::Female)
        };
        testing::run(evaluate, patient)
    }

    fn outcome(observations: Vec<Observation>) -> Option<(Indicator, String)> {
        testing::outcome(run(observations))
    }

    fn indicator(observations: Vec<Observation>) -> Option<Indicator> {
        outcome(observations).map(|o| o.0)
    }

    #[test]
    fn describes_itself() {
        let info = describe();
        assert_eq!(info.id, "phq9");
        assert_eq!(info.hooks, vec![HookKind::PatientView]);
        assert_eq!(info.data_needs.len(), 1);
        let need = &info.data_needs[0];
        assert_eq!(need.section, Section::Observations);
        assert_eq!(
            need.codes,
            vec![
                CodeFilter::new(CodeSystem::Loinc, "44249-1"),
                CodeFilter::new(CodeSystem::Loinc, "44261-6")
            ]
        );
        assert_eq!(need.look_back_days, Some(30));
    }

    #[test]
    fn bands_and_their_edges() {
        assert_eq!(band(0), "minimal");
        assert_eq!(band(4), "minimal");
        assert_eq!(band(5), "mild");
        assert_eq!(band(9), "mild");
        assert_eq!(band(10), "moderate");
        assert_eq!(band(14), "moderate");
        assert_eq!(band(15), "moderately severe");
        assert_eq!(band(19), "moderately severe");
        assert_eq!(band(20), "severe");
        assert_eq!(band(27), "severe");
    }

    #[test]
    fn total_thresholds() {
        assert_eq!(indicator(vec![panel(3, 0, 0)]), None);
        assert_eq!(indicator(vec![panel(3, 4, 0)]), None);
        assert_eq!(
            outcome(vec![panel(3, 5, 0)]),
            Some((
                Indicator::Info,
                "PHQ-9 total 5: mild depressive symptoms".into()
            ))
        );
        assert_eq!(indicator(vec![panel(3, 9, 0)]), Some(Indicator::Info));
        assert_eq!(
            outcome(vec![panel(3, 10, 0)]),
            Some((
                Indicator::Warning,
                "PHQ-9 total 10: moderate depressive symptoms".into()
            ))
        );
        assert_eq!(indicator(vec![panel(3, 15, 0)]), Some(Indicator::Warning));
        assert_eq!(
            outcome(vec![panel(3, 24, 0)]).unwrap().1,
            "PHQ-9 total 24: severe depressive symptoms"
        );
    }

    #[test]
    fn item_9_is_critical_whatever_the_total() {
        assert_eq!(indicator(vec![panel(3, 1, 1)]), Some(Indicator::Critical));
        assert_eq!(indicator(vec![panel(3, 9, 0)]), Some(Indicator::Info));
        let (ind, summary) = outcome(vec![panel(3, 12, 3)]).unwrap();
        assert_eq!(ind, Indicator::Critical);
        assert_eq!(
            summary,
            "PHQ-9 item 9 positive (thoughts of death or self-harm): review suicide risk; \
             total 12 (moderate)"
        );
        // Answer 0 on item 9 with a minimal total: nothing.
        assert_eq!(indicator(vec![panel(3, 2, 0)]), None);
    }

    #[test]
    fn the_most_recent_questionnaire_in_30_days_decides() {
        // An older critical one is replaced by a newer minimal one.
        assert_eq!(indicator(vec![panel(20, 12, 2), panel(5, 3, 0)]), None);
        assert_eq!(
            indicator(vec![panel(5, 12, 2), panel(20, 3, 0)]),
            Some(Indicator::Critical)
        );
        // Day 30 is inside the look-back, day 31 is not.
        assert_eq!(indicator(vec![panel(30, 12, 0)]), Some(Indicator::Warning));
        assert_eq!(indicator(vec![panel(31, 12, 1)]), None);
        // A GP-recorded total counts like a home one.
        assert_eq!(
            indicator(vec![total_only(2, 11.0), panel(6, 3, 0)]),
            Some(Indicator::Warning)
        );
        assert_eq!(indicator(vec![total_only(9, 11.0), panel(6, 3, 0)]), None);
    }

    #[test]
    fn totals_from_value_component_or_items() {
        // The 44261-6 value.
        assert_eq!(
            indicator(vec![total_only(1, 10.0)]),
            Some(Indicator::Warning)
        );
        let mut integer = total_only(1, 0.0);
        integer.value = int(10);
        assert_eq!(indicator(vec![integer]), Some(Indicator::Warning));
        // The sum of nine answers when no total is recorded.
        let mut items_only = panel(1, 10, 0);
        items_only.components.pop();
        assert_eq!(
            indicator(vec![items_only.clone()]),
            Some(Indicator::Warning)
        );
        // Eight answers and no total: not scored; item 9 alone still counts.
        let mut eight = items_only.clone();
        eight.components.remove(0);
        assert_eq!(indicator(vec![eight]), None);
        let mut item9_only = panel(1, 1, 1);
        item9_only.components.drain(..8);
        item9_only.components.pop();
        assert_eq!(
            outcome(vec![item9_only]).unwrap().1,
            "PHQ-9 item 9 positive (thoughts of death or self-harm): review suicide risk; \
             total not recorded"
        );
        // Out-of-range or fractional values are not scores.
        assert_eq!(indicator(vec![total_only(1, 28.0)]), None);
        assert_eq!(indicator(vec![total_only(1, 10.5)]), None);
        let mut bad_item9 = panel(1, 3, 0);
        bad_item9.components[8].value = int(4);
        assert_eq!(indicator(vec![bad_item9]), None);
        // Other codes are not questionnaires.
        let mut phq2 = total_only(1, 6.0);
        phq2.code = vec![Coding::new(CodeSystem::Loinc, "55758-7")];
        assert_eq!(indicator(vec![phq2]), None);
    }

    #[test]
    fn cards_name_the_guideline_and_topic() {
        for obs in [panel(0, 12, 1), panel(1, 12, 0), panel(2, 6, 0)] {
            let card = run(vec![obs]).remove(0);
            assert_eq!(card.source.label, GUIDELINE);
            assert_eq!(card.source.topic, testing::topic("phq9"));
            assert!(card.detail.unwrap().contains("Kroenke"));
            assert!(card.summary.len() < 140);
        }
    }

    #[test]
    fn order_sign_is_not_served() {
        let patient = Patient {
            observations: vec![panel(1, 20, 2)],
            ..patient(34, Sex::Male)
        };
        let err = testing::error(evaluate, &testing::order_sign(patient, vec![]));
        assert_eq!(err.kind, ErrorKind::UnsupportedHook);
    }
}
