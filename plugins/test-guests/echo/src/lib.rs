//! Test guest `echo`: returns one `info` card per record item it received, so the host's
//! integration tests can check data minimisation from the outside.
//!
//! Card summaries, in order:
//! 1. `patient age=<age> sex=<female|male|other|unknown>`
//! 2. one per condition, observation, medication, allergy (in that order):
//!    `<section> <system>:<code>[,<system>:<code>...] <days>`, where `<system>` is the WIT name
//!    of the code system (or the URI of an `other` system) and `<days>` is
//!    `onset-days-ago` / `effective-days-ago` / `started-days-ago`, or `-` when there is none.

use livelab_plugin_sdk::{
    Card, CodeFilter, CodeSystem, Coding, DataNeed, EvaluationError, Guest, HookKind, Indicator,
    PluginInfo, Request, Section, Source,
};

const ID: &str = "echo";

fn describe() -> PluginInfo {
    PluginInfo {
        id: ID.into(),
        name: "Echo (test guest)".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        description: "Echoes the codes of every record item it receives, one card each.".into(),
        hooks: vec![HookKind::PatientView, HookKind::OrderSign],
        data_needs: vec![
            DataNeed::new(
                Section::Conditions,
                vec![CodeFilter::new(CodeSystem::Icpc, "K78")],
                None,
            ),
            DataNeed::new(
                Section::Observations,
                vec![CodeFilter::new(CodeSystem::Loinc, "33914-3")],
                Some(365),
            ),
            DataNeed::new(
                Section::Medications,
                vec![CodeFilter::new(CodeSystem::Atc, "B01A")],
                None,
            ),
        ],
    }
}

fn line(section: &str, concept: &[Coding], days: Option<u32>) -> String {
    let codes = concept
        .iter()
        .map(|c| format!("{}:{}", c.system.as_str(), c.code))
        .collect::<Vec<_>>()
        .join(",");
    let days = days.map_or_else(|| "-".to_string(), |d| d.to_string());
    format!("{section} {codes} {days}")
}

fn evaluate(request: &Request) -> Result<Vec<Card>, EvaluationError> {
    let p = &request.patient;
    let summaries = std::iter::once(format!(
        "patient age={} sex={}",
        p.age_years,
        p.sex.as_str()
    ))
    .chain(
        p.conditions
            .iter()
            .map(|c| line("condition", &c.code, c.onset_days_ago)),
    )
    .chain(
        p.observations
            .iter()
            .map(|o| line("observation", &o.code, Some(o.effective_days_ago))),
    )
    .chain(
        p.medications
            .iter()
            .map(|m| line("medication", &m.code, m.started_days_ago)),
    )
    .chain(p.allergies.iter().map(|a| line("allergy", &a.code, None)));
    let source = Source::for_plugin("livelab echo test guest", ID);
    Ok(summaries
        .map(|s| Card::new(s, Indicator::Info, source.clone()))
        .collect())
}

pub struct Echo;

impl Guest for Echo {
    fn describe() -> PluginInfo {
        describe()
    }

    fn evaluate(request: Request) -> Result<Vec<Card>, EvaluationError> {
        evaluate(&request)
    }
}

#[cfg(target_arch = "wasm32")]
livelab_plugin_sdk::export!(Echo);

#[cfg(test)]
mod tests {
    use super::*;
    use livelab_plugin_sdk::{
        Allergy, ClinicalStatus, Condition, Hook, Medication, MedicationStatus, Observation,
        ObservationCategory, Origin, Patient, Sex,
    };

    #[test]
    fn echoes_every_item_in_order() {
        let request = Request {
            hook: Hook::PatientView,
            patient: Patient {
                age_years: 81,
                sex: Sex::Unknown,
                conditions: vec![Condition {
                    code: vec![
                        Coding::new(CodeSystem::Icpc, "K78"),
                        Coding::new(CodeSystem::SnomedCt, "49436004"),
                    ],
                    status: ClinicalStatus::Active,
                    onset_days_ago: None,
                    abated_days_ago: None,
                }],
                observations: vec![Observation {
                    code: vec![Coding::new(CodeSystem::Other("urn:x".into()), "1")],
                    category: ObservationCategory::Laboratory,
                    origin: Origin::Clinical,
                    effective_days_ago: 0,
                    value: None,
                    components: vec![],
                }],
                medications: vec![Medication {
                    code: vec![Coding::new(CodeSystem::Atc, "B01AF01")],
                    status: MedicationStatus::Active,
                    started_days_ago: Some(12),
                    daily_dose: None,
                }],
                allergies: vec![Allergy {
                    code: vec![],
                    active: true,
                }],
            },
        };
        let summaries: Vec<_> = evaluate(&request)
            .unwrap()
            .into_iter()
            .map(|c| c.summary)
            .collect();
        assert_eq!(
            summaries,
            [
                "patient age=81 sex=unknown",
                "condition icpc:K78,snomed-ct:49436004 -",
                "observation urn:x:1 0",
                "medication atc:B01AF01 12",
                "allergy  -",
            ]
        );
        assert_eq!(describe().id, "echo");
    }
}
