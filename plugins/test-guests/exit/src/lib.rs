//! Test guest `exit`: `evaluate` calls `std::process::exit(3)` (WASI `cli/exit`, which
//! carries only success or failure, so the host sees status 1), which a plugin has no
//! business doing: the host must end that one evaluation, not itself, and say that the
//! plugin exited.

use livelab_plugin_sdk::{Card, EvaluationError, Guest, HookKind, PluginInfo, Request};

pub struct Exit;

impl Guest for Exit {
    fn describe() -> PluginInfo {
        PluginInfo {
            id: "exit".into(),
            name: "Exit (test guest)".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "Exits the process with status 3 on every evaluation.".into(),
            hooks: vec![HookKind::PatientView, HookKind::OrderSign],
            data_needs: vec![],
        }
    }

    fn evaluate(_request: Request) -> Result<Vec<Card>, EvaluationError> {
        std::process::exit(3)
    }
}

#[cfg(target_arch = "wasm32")]
livelab_plugin_sdk::export!(Exit);
