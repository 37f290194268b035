//! livelab plugin `{{name}}`: an example rule to replace with your own.
//!
//! Example rule: the most recent HbA1c of the last year above the target of 53 mmol/mol gives a
//! warning card (NHG-Standaard Diabetes mellitus type 2, M01). It shows the whole contract:
//! `describe` declares the data the plugin needs (the host passes nothing else), `evaluate`
//! returns CDS Hooks cards for one patient. See wit/README.md in livelab for the interface.

#[allow(missing_docs, clippy::all)]
mod bindings {
    // The interface, from the copy of livelab's wit/cds.wit in ./wit.
    wit_bindgen::generate!({ path: "wit", world: "plugin" });
}

use bindings::exports::livelab::cds::evaluator::Guest;
use bindings::livelab::cds::types::{
    Card, CodeFilter, CodeSystem, Coding, DataNeed, ErrorKind, EvaluationError, Hook, HookKind,
    Indicator, ObservationValue, PluginInfo, Request, Section, Source,
};

const ID: &str = "{{name}}";
const GUIDELINE: &str = "NHG-Standaard Diabetes mellitus type 2 (M01)";
/// LOINC HbA1c (IFCC, mmol/mol); the host converts % (DCCT) values to mmol/mol.
const HBA1C_LOINC: &str = "4548-4";
/// Only results of the last year.
const LOOK_BACK_DAYS: u32 = 365;
/// The HbA1c target in mmol/mol.
const TARGET: f64 = 53.0;

struct Plugin;

impl Guest for Plugin {
    fn describe() -> PluginInfo {
        PluginInfo {
            id: ID.into(),
            name: "{{title}}".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description:
                "Example: warns when the latest HbA1c of the last year is above 53 mmol/mol.".into(),
            hooks: vec![HookKind::PatientView],
            data_needs: vec![DataNeed {
                section: Section::Observations,
                codes: vec![CodeFilter {
                    system: CodeSystem::Loinc,
                    prefix: HBA1C_LOINC.into(),
                }],
                look_back_days: Some(LOOK_BACK_DAYS),
            }],
        }
    }

    fn evaluate(request: Request) -> Result<Vec<Card>, EvaluationError> {
        if !matches!(request.hook, Hook::PatientView) {
            return Err(EvaluationError {
                kind: ErrorKind::UnsupportedHook,
                message: "only patient-view is served".into(),
            });
        }
        // The most recent HbA1c in mmol/mol (the first in record order on a tie).
        let latest = request
            .patient
            .observations
            .iter()
            .filter(|o| {
                o.code.iter().any(|c| {
                    matches!(c.system, CodeSystem::Loinc) && c.code.starts_with(HBA1C_LOINC)
                })
            })
            .filter_map(|o| match &o.value {
                Some(ObservationValue::Quantity(q)) if q.unit == "mmol/mol" => {
                    Some((o.effective_days_ago, q.value))
                }
                _ => None,
            })
            .min_by_key(|(days, _)| *days);
        let Some((days, value)) = latest else {
            return Ok(Vec::new());
        };
        if value <= TARGET {
            return Ok(Vec::new());
        }
        Ok(vec![Card {
            summary: format!("HbA1c {value} mmol/mol is above the target of 53 mmol/mol"),
            detail: Some(format!(
                "The most recent HbA1c ({days} days ago) is {value} mmol/mol. The {GUIDELINE} \
                 aims for at most 53 mmol/mol for most patients: review the treatment."
            )),
            indicator: Indicator::Warning,
            source: Source {
                label: GUIDELINE.into(),
                url: None,
                topic: Some(Coding {
                    system: CodeSystem::Other("urn:livelab:topic".into()),
                    code: ID.into(),
                }),
            },
            suggestions: vec![],
        }])
    }
}

bindings::export!(Plugin with_types_in bindings);
