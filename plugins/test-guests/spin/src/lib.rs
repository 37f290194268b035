//! Test guest `spin`: `evaluate` never returns, so the host can check that fuel or epoch
//! interruption stops a runaway plugin.

use livelab_plugin_sdk::{Card, EvaluationError, Guest, HookKind, PluginInfo, Request};

pub struct Spin;

impl Guest for Spin {
    fn describe() -> PluginInfo {
        PluginInfo {
            id: "spin".into(),
            name: "Spin (test guest)".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "Loops forever on every evaluation.".into(),
            hooks: vec![HookKind::PatientView, HookKind::OrderSign],
            data_needs: vec![],
        }
    }

    fn evaluate(_request: Request) -> Result<Vec<Card>, EvaluationError> {
        let mut counter = 0u64;
        loop {
            // `black_box` keeps the optimiser from proving the loop useless.
            counter = core::hint::black_box(counter.wrapping_add(1));
        }
    }
}

#[cfg(target_arch = "wasm32")]
livelab_plugin_sdk::export!(Spin);
