//! Test guest `greedy-describe`: declares 200,000 code filters in `describe`. The host cuts
//! every record down to the declared needs on its own threads, outside the plugin's deadline
//! and fuel, so a declaration this large would make every evaluation cost the host dearly;
//! the host must refuse it when it loads the plugin.

use livelab_plugin_sdk::{
    Card, CodeFilter, CodeSystem, DataNeed, EvaluationError, Guest, HookKind, PluginInfo, Request,
    Section,
};

pub const FILTERS: usize = 200_000;

pub struct GreedyDescribe;

impl Guest for GreedyDescribe {
    fn describe() -> PluginInfo {
        let filters = (0..FILTERS)
            .map(|i| CodeFilter::new(CodeSystem::Loinc, format!("{i}-")))
            .collect();
        PluginInfo {
            id: "greedy-describe".into(),
            name: "Greedy describe (test guest)".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "Declares 200,000 code filters.".into(),
            hooks: vec![HookKind::PatientView, HookKind::OrderSign],
            data_needs: vec![DataNeed::new(Section::Observations, filters, None)],
        }
    }

    fn evaluate(_request: Request) -> Result<Vec<Card>, EvaluationError> {
        Ok(Vec::new())
    }
}

#[cfg(target_arch = "wasm32")]
livelab_plugin_sdk::export!(GreedyDescribe);
