//! Between the host's types and the CDS Hooks wire: a plugin's declared data needs as the
//! protocol crate's, a plugin's cards as spec cards (with fresh UUIDs), and a prefetched
//! Patient reduced to what a record is made of. A leaf module: it imports nothing of this
//! crate.

use livelab_cds_hooks::prefetch::{CodeFilter, CodeSystem, DataNeed, Section};
use livelab_cds_hooks::protocol::{Card, Coding, Indicator, SelectionBehavior, Source, Suggestion};
use livelab_host::wit;
use serde_json::{Map, Value};

/// The fields of a prefetched Patient that reach ingest; everything else (names,
/// identifiers, telecom, address, photo, contact, extensions, narrative) is dropped before a
/// record is built, so it can reach no plugin, log or decision log.
pub const PATIENT_FIELDS: &[&str] = &["resourceType", "id", "gender", "birthDate"];

/// A prefetched Patient with only [`PATIENT_FIELDS`].
pub fn strip_patient(patient: &Value) -> Value {
    let kept: Map<String, Value> = PATIENT_FIELDS
        .iter()
        .filter_map(|field| {
            patient
                .get(*field)
                .map(|value| ((*field).to_owned(), value.clone()))
        })
        .collect();
    Value::Object(kept)
}

/// A plugin's declared needs in the protocol crate's terms (for its prefetch templates).
pub fn data_needs(needs: &[wit::DataNeed]) -> Vec<DataNeed> {
    needs
        .iter()
        .map(|need| DataNeed {
            section: match need.section {
                wit::Section::Conditions => Section::Conditions,
                wit::Section::Observations => Section::Observations,
                wit::Section::Medications => Section::Medications,
                wit::Section::Allergies => Section::Allergies,
            },
            codes: need
                .codes
                .iter()
                .map(|filter| CodeFilter {
                    system: code_system(&filter.system),
                    prefix: filter.prefix.clone(),
                })
                .collect(),
            look_back_days: need.look_back_days,
        })
        .collect()
}

fn code_system(system: &wit::CodeSystem) -> CodeSystem {
    match system {
        wit::CodeSystem::Icpc => CodeSystem::Icpc,
        wit::CodeSystem::Atc => CodeSystem::Atc,
        wit::CodeSystem::Loinc => CodeSystem::Loinc,
        wit::CodeSystem::SnomedCt => CodeSystem::SnomedCt,
        wit::CodeSystem::Rxnorm => CodeSystem::Rxnorm,
        wit::CodeSystem::NhgTabel45 => CodeSystem::NhgTabel45,
        wit::CodeSystem::GStandaard => CodeSystem::GStandaard,
        wit::CodeSystem::Ucum => CodeSystem::Ucum,
        wit::CodeSystem::Other(uri) => CodeSystem::Other(uri.clone()),
    }
}

/// A random (version 4) UUID, as the spec asks of a card and a suggestion.
pub fn uuid_v4() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// A plugin's card as a spec card, with a fresh `uuid` for the card and each suggestion.
///
/// A WIT action carries a kind and a description but no FHIR resource, and the spec requires
/// a `resource` (create, update) or `resourceId` (delete): so suggestions are sent with their
/// label, uuid and `isRecommended`, and without actions. `selectionBehavior` is `at-most-one`
/// when there are suggestions (a plugin's alternatives, such as "stop" and "lower the dose",
/// exclude each other).
pub fn card(card: &wit::Card) -> Card {
    Card {
        uuid: Some(uuid_v4()),
        summary: card.summary.clone(),
        detail: card.detail.clone(),
        indicator: match card.indicator {
            wit::Indicator::Info => Indicator::Info,
            wit::Indicator::Warning => Indicator::Warning,
            wit::Indicator::Critical => Indicator::Critical,
        },
        source: Source {
            label: card.source.label.clone(),
            url: card.source.url.clone(),
            icon: None,
            topic: card.source.topic.as_ref().map(|topic| Coding {
                system: Some(topic.system.uri().to_owned()),
                code: topic.code.clone(),
                display: None,
            }),
        },
        suggestions: card
            .suggestions
            .iter()
            .map(|s| Suggestion {
                label: s.label.clone(),
                uuid: Some(uuid_v4()),
                is_recommended: Some(s.is_recommended),
                actions: Vec::new(),
            })
            .collect(),
        selection_behavior: (!card.suggestions.is_empty()).then_some(SelectionBehavior::AtMostOne),
        override_reasons: Vec::new(),
        links: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_patient_keeps_only_what_a_record_needs() {
        let patient = serde_json::json!({
            "resourceType": "Patient", "id": "p1", "gender": "female", "birthDate": "1950-02-03",
            "name": [{"family": "Jansen"}], "identifier": [{"value": "999999990"}],
            "telecom": [{"value": "0612345678"}], "address": [{"line": ["Dorpsstraat 1"]}],
        });
        assert_eq!(
            strip_patient(&patient),
            serde_json::json!({"resourceType": "Patient", "id": "p1", "gender": "female", "birthDate": "1950-02-03"})
        );
    }
}
