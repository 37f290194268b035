//! What every plugin's native unit tests share: a patient and its record items, a run of the
//! plugin's `evaluate`, and the cards reduced to what a test compares.
//!
//! Behind the cargo feature `testing`, which a plugin enables for its tests only:
//!
//! ```toml
//! [dev-dependencies]
//! livelab-plugin-sdk = { workspace = true, features = ["testing"] }
//! ```
//!
//! A plugin's tests keep their own small builders (the codes, days and doses they vary) and
//! call these for the rest:
//!
//! ```
//! use livelab_plugin_sdk::testing::{self, patient};
//! use livelab_plugin_sdk::*;
//!
//! fn evaluate(request: &Request) -> Result<Vec<Card>, EvaluationError> {
//!     request.ensure_hook(&[HookKind::PatientView])?;
//!     let source = Source::for_plugin("No guideline", "my-plugin");
//!     Ok((request.patient.age_years > 100)
//!         .then(|| Card::new("Hello", Indicator::Info, source))
//!         .into_iter()
//!         .collect())
//! }
//!
//! let conditions = vec![testing::condition(
//!     CodeSystem::Icpc,
//!     "K78",
//!     ClinicalStatus::Active,
//!     Some(1000),
//! )];
//! let cards = testing::run(evaluate, Patient { conditions, ..patient(101, Sex::Female) });
//! assert_eq!(
//!     testing::outcome(cards.clone()),
//!     Some((Indicator::Info, "Hello".to_string()))
//! );
//! assert_eq!(testing::one(cards).source.topic, testing::topic("my-plugin"));
//! assert!(testing::run(evaluate, patient(100, Sex::Male)).is_empty());
//! let order_sign = testing::order_sign(patient(101, Sex::Male), vec![]);
//! assert_eq!(
//!     testing::error(evaluate, &order_sign).kind,
//!     ErrorKind::UnsupportedHook
//! );
//! ```
//!
//! The builders take every field a test may care about and set only empty lists and
//! `abated_days_ago: None` themselves, so a fixture built with them is the struct literal it
//! replaces.

use crate::*;

// ------------------------------------------------------------------------------- requests

/// A patient of `age_years` and `sex` with an empty record. Fill in sections with struct
/// update syntax: `Patient { conditions, ..patient(80, Sex::Male) }`.
pub fn patient(age_years: u8, sex: Sex) -> Patient {
    Patient {
        age_years,
        sex,
        conditions: Vec::new(),
        observations: Vec::new(),
        medications: Vec::new(),
        allergies: Vec::new(),
    }
}

/// A `patient-view` request for `patient`.
pub fn patient_view(patient: Patient) -> Request {
    Request {
        hook: Hook::PatientView,
        patient,
    }
}

/// An `order-sign` request for `patient` with the draft `orders`.
pub fn order_sign(patient: Patient, orders: Vec<Medication>) -> Request {
    Request {
        hook: Hook::OrderSign(orders),
        patient,
    }
}

/// The cards `evaluate` returns for `request`; panics (fails the test) on an error.
pub fn cards<F>(evaluate: F, request: &Request) -> Vec<Card>
where
    F: Fn(&Request) -> Result<Vec<Card>, EvaluationError>,
{
    match evaluate(request) {
        Ok(cards) => cards,
        Err(error) => panic!("evaluate failed: {error:?}"),
    }
}

/// The cards for a `patient-view` of `patient`: [`cards`] of [`patient_view`].
pub fn run<F>(evaluate: F, patient: Patient) -> Vec<Card>
where
    F: Fn(&Request) -> Result<Vec<Card>, EvaluationError>,
{
    cards(evaluate, &patient_view(patient))
}

/// The error `evaluate` returns for `request`; panics (fails the test) when it returns cards.
pub fn error<F>(evaluate: F, request: &Request) -> EvaluationError
where
    F: Fn(&Request) -> Result<Vec<Card>, EvaluationError>,
{
    match evaluate(request) {
        Ok(cards) => panic!("evaluate returned cards, not an error: {cards:?}"),
        Err(error) => error,
    }
}

// ---------------------------------------------------------------------------------- cards

/// The only card, or `None` without cards; panics (fails the test) on more than one card.
pub fn only(cards: Vec<Card>) -> Option<Card> {
    assert!(cards.len() <= 1, "{cards:?}");
    cards.into_iter().next()
}

/// (indicator, summary) of the only card, or `None` without cards; panics on more than one.
pub fn outcome(cards: Vec<Card>) -> Option<(Indicator, String)> {
    only(cards).map(|c| (c.indicator, c.summary))
}

/// The indicator of the only card, or `None` without cards; panics on more than one.
pub fn indicator(cards: &[Card]) -> Option<Indicator> {
    assert!(cards.len() <= 1, "{cards:?}");
    cards.first().map(|c| c.indicator)
}

/// The one card; panics (fails the test) unless there is exactly one.
pub fn one(cards: Vec<Card>) -> Card {
    assert_eq!(cards.len(), 1, "{cards:?}");
    cards.into_iter().next().unwrap()
}

/// The [`Source::topic`] of a card from plugin `plugin_id`, spelled out as the contract has it
/// (`urn:livelab:topic`, not [`TOPIC_SYSTEM`]), so a test that compares with it also checks
/// the constant.
pub fn topic(plugin_id: &str) -> Option<Coding> {
    Some(Coding::new(
        CodeSystem::Other("urn:livelab:topic".into()),
        plugin_id,
    ))
}

// --------------------------------------------------------------------------- record items

/// A condition coded `system`/`code` (abatement not recorded).
pub fn condition(
    system: CodeSystem,
    code: &str,
    status: ClinicalStatus,
    onset_days_ago: Option<u32>,
) -> Condition {
    Condition {
        code: vec![Coding::new(system, code)],
        status,
        onset_days_ago,
        abated_days_ago: None,
    }
}

/// A medication coded `system`/`code`.
pub fn medication(
    system: CodeSystem,
    code: &str,
    status: MedicationStatus,
    started_days_ago: Option<u32>,
    daily_dose: Option<Quantity>,
) -> Medication {
    Medication {
        code: vec![Coding::new(system, code)],
        status,
        started_days_ago,
        daily_dose,
    }
}

/// An observation coded `system`/`code` without components (add them with struct update
/// syntax: `Observation { components, ..observation(...) }`).
pub fn observation(
    system: CodeSystem,
    code: &str,
    category: ObservationCategory,
    origin: Origin,
    effective_days_ago: u32,
    value: Option<ObservationValue>,
) -> Observation {
    Observation {
        code: vec![Coding::new(system, code)],
        category,
        origin,
        effective_days_ago,
        value,
        components: Vec::new(),
    }
}

/// An observation component coded `system`/`code`.
pub fn component(
    system: CodeSystem,
    code: &str,
    value: Option<ObservationValue>,
) -> ObservationComponent {
    ObservationComponent {
        code: vec![Coding::new(system, code)],
        value,
    }
}

/// A quantity as an observation's or a component's value.
pub fn quantity(value: f64, unit: &str) -> Option<ObservationValue> {
    Some(ObservationValue::Quantity(Quantity::new(value, unit)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn card(summary: &str, indicator: Indicator) -> Card {
        Card::new(summary, indicator, Source::for_plugin("G", "p"))
    }

    /// Patient-view only; a card per condition, with the patient's age as the summary.
    fn echo(request: &Request) -> Result<Vec<Card>, EvaluationError> {
        request.ensure_hook(&[HookKind::PatientView])?;
        Ok(request
            .patient
            .conditions
            .iter()
            .map(|_| card(&request.patient.age_years.to_string(), Indicator::Info))
            .collect())
    }

    #[test]
    fn requests() {
        let p = patient(70, Sex::Other);
        assert_eq!((p.age_years, p.sex), (70, Sex::Other));
        assert!(p.conditions.is_empty() && p.observations.is_empty());
        assert!(p.medications.is_empty() && p.allergies.is_empty());
        assert_eq!(patient_view(p.clone()).hook, Hook::PatientView);
        assert_eq!(patient_view(p.clone()).patient, p);
        let draft = medication(
            CodeSystem::Atc,
            "A10BA02",
            MedicationStatus::Draft,
            None,
            None,
        );
        let os = order_sign(p.clone(), vec![draft.clone()]);
        assert_eq!(os.hook, Hook::OrderSign(vec![draft]));
        assert_eq!(os.patient, p);
    }

    #[test]
    fn running() {
        let k78 = condition(CodeSystem::Icpc, "K78", ClinicalStatus::Active, None);
        let two = Patient {
            conditions: vec![k78.clone(), k78],
            ..patient(80, Sex::Male)
        };
        let cards = run(echo, two.clone());
        assert_eq!(cards.len(), 2);
        assert_eq!(cards[0].summary, "80");
        assert!(run(echo, patient(80, Sex::Male)).is_empty());
        let err = error(echo, &order_sign(two, vec![]));
        assert_eq!(err.kind, ErrorKind::UnsupportedHook);
    }

    #[test]
    #[should_panic(expected = "evaluate failed")]
    fn cards_fail_on_an_error() {
        cards(echo, &order_sign(patient(80, Sex::Male), vec![]));
    }

    #[test]
    #[should_panic(expected = "not an error")]
    fn error_fails_on_cards() {
        error(echo, &patient_view(patient(80, Sex::Male)));
    }

    #[test]
    fn reductions() {
        let warning = || card("w", Indicator::Warning);
        assert_eq!(only(vec![]), None);
        assert_eq!(only(vec![warning()]), Some(warning()));
        assert_eq!(outcome(vec![]), None);
        assert_eq!(
            outcome(vec![warning()]),
            Some((Indicator::Warning, "w".to_string()))
        );
        assert_eq!(indicator(&[]), None);
        assert_eq!(indicator(&[warning()]), Some(Indicator::Warning));
        assert_eq!(one(vec![warning()]), warning());
        assert_eq!(
            topic("p"),
            Some(Coding::new(CodeSystem::Other(TOPIC_SYSTEM.into()), "p"))
        );
        assert_eq!(warning().source.topic, topic("p"));
    }

    #[test]
    #[should_panic]
    fn outcome_fails_on_two_cards() {
        outcome(vec![card("a", Indicator::Info), card("b", Indicator::Info)]);
    }

    #[test]
    #[should_panic]
    fn indicator_fails_on_two_cards() {
        indicator(&[card("a", Indicator::Info), card("b", Indicator::Info)]);
    }

    #[test]
    #[should_panic]
    fn one_fails_without_cards() {
        one(vec![]);
    }

    #[test]
    #[should_panic]
    fn one_fails_on_two_cards() {
        one(vec![card("a", Indicator::Info), card("b", Indicator::Info)]);
    }

    #[test]
    fn record_items() {
        assert_eq!(
            condition(CodeSystem::SnomedCt, "1", ClinicalStatus::Resolved, Some(3)),
            Condition {
                code: vec![Coding::new(CodeSystem::SnomedCt, "1")],
                status: ClinicalStatus::Resolved,
                onset_days_ago: Some(3),
                abated_days_ago: None,
            }
        );
        assert_eq!(
            medication(
                CodeSystem::Rxnorm,
                "1191",
                MedicationStatus::OnHold,
                Some(4),
                Some(Quantity::new(1.5, "g"))
            ),
            Medication {
                code: vec![Coding::new(CodeSystem::Rxnorm, "1191")],
                status: MedicationStatus::OnHold,
                started_days_ago: Some(4),
                daily_dose: Some(Quantity {
                    value: 1.5,
                    unit: "g".into()
                }),
            }
        );
        let value = Some(ObservationValue::Quantity(Quantity {
            value: 42.0,
            unit: "mmol/L".into(),
        }));
        assert_eq!(quantity(42.0, "mmol/L"), value);
        assert_eq!(
            observation(
                CodeSystem::Loinc,
                "2093-3",
                ObservationCategory::Laboratory,
                Origin::PatientGenerated,
                7,
                value.clone()
            ),
            Observation {
                code: vec![Coding::new(CodeSystem::Loinc, "2093-3")],
                category: ObservationCategory::Laboratory,
                origin: Origin::PatientGenerated,
                effective_days_ago: 7,
                value: value.clone(),
                components: vec![],
            }
        );
        assert_eq!(
            component(CodeSystem::Loinc, "8480-6", value.clone()),
            ObservationComponent {
                code: vec![Coding::new(CodeSystem::Loinc, "8480-6")],
                value,
            }
        );
    }
}
