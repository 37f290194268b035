//! Test guest `trap`: describes itself normally, then panics in `evaluate` (a trap in the
//! component), so the host can check that a guest bug is reported as such.

use livelab_plugin_sdk::{Card, EvaluationError, Guest, HookKind, PluginInfo, Request};

pub struct Trap;

impl Guest for Trap {
    fn describe() -> PluginInfo {
        PluginInfo {
            id: "trap".into(),
            name: "Trap (test guest)".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "Panics on every evaluation.".into(),
            hooks: vec![HookKind::PatientView, HookKind::OrderSign],
            data_needs: vec![],
        }
    }

    fn evaluate(_request: Request) -> Result<Vec<Card>, EvaluationError> {
        panic!("deliberate panic in trap guest")
    }
}

#[cfg(target_arch = "wasm32")]
livelab_plugin_sdk::export!(Trap);
