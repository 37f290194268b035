//! Test guest `flaky`: panics on records whose age is odd and returns one card
//! (`even age <age>`) otherwise, so the host can check that a plugin that traps half-way
//! through a run loses exactly those evaluations and no others.

use livelab_plugin_sdk::{
    Card, EvaluationError, Guest, HookKind, Indicator, PluginInfo, Request, Source,
};

pub struct Flaky;

impl Guest for Flaky {
    fn describe() -> PluginInfo {
        PluginInfo {
            id: "flaky".into(),
            name: "Flaky (test guest)".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "Traps on patients of odd age.".into(),
            hooks: vec![HookKind::PatientView, HookKind::OrderSign],
            data_needs: vec![],
        }
    }

    fn evaluate(request: Request) -> Result<Vec<Card>, EvaluationError> {
        let age = request.patient.age_years;
        if age % 2 == 1 {
            panic!("deliberate trap on odd age {age}");
        }
        let source = Source::for_plugin("livelab flaky test guest", "flaky");
        Ok(vec![Card::new(
            format!("even age {age}"),
            Indicator::Info,
            source,
        )])
    }
}

#[cfg(target_arch = "wasm32")]
livelab_plugin_sdk::export!(Flaky);
