//! Test guest `huge-error`: `evaluate` returns a domain error (not cards) whose message is
//! 1 MiB, so the host can check that the output bounds cover what a plugin says in an
//! error as well as in its cards.

use livelab_plugin_sdk::{Card, ErrorKind, EvaluationError, Guest, HookKind, PluginInfo, Request};

pub const MESSAGE_BYTES: usize = 1 << 20;

pub struct HugeError;

impl Guest for HugeError {
    fn describe() -> PluginInfo {
        PluginInfo {
            id: "huge-error".into(),
            name: "Huge error (test guest)".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "Reports an error with a 1 MiB message on every evaluation.".into(),
            hooks: vec![HookKind::PatientView, HookKind::OrderSign],
            data_needs: vec![],
        }
    }

    fn evaluate(_request: Request) -> Result<Vec<Card>, EvaluationError> {
        Err(EvaluationError::new(
            ErrorKind::Other,
            "e".repeat(MESSAGE_BYTES),
        ))
    }
}

#[cfg(target_arch = "wasm32")]
livelab_plugin_sdk::export!(HugeError);
