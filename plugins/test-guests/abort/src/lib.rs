//! Test guest `abort`: `evaluate` calls `std::process::abort`, which on wasm32 is a trap
//! with no panic message, so the host can check that it is reported as a trap all the same.

use livelab_plugin_sdk::{Card, EvaluationError, Guest, HookKind, PluginInfo, Request};

pub struct Abort;

impl Guest for Abort {
    fn describe() -> PluginInfo {
        PluginInfo {
            id: "abort".into(),
            name: "Abort (test guest)".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "Aborts on every evaluation.".into(),
            hooks: vec![HookKind::PatientView, HookKind::OrderSign],
            data_needs: vec![],
        }
    }

    fn evaluate(_request: Request) -> Result<Vec<Card>, EvaluationError> {
        std::process::abort()
    }
}

#[cfg(target_arch = "wasm32")]
livelab_plugin_sdk::export!(Abort);
