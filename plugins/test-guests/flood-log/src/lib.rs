//! Test guest `flood-log`: calls the `log` import in an endless loop, so the host can check
//! that its log bound stops the evaluation (rather than the deadline, or the host's memory).

use livelab_plugin_sdk::{Card, EvaluationError, Guest, HookKind, Level, PluginInfo, Request, log};

pub struct FloodLog;

impl Guest for FloodLog {
    fn describe() -> PluginInfo {
        PluginInfo {
            id: "flood-log".into(),
            name: "Log flood (test guest)".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "Logs without end on every evaluation.".into(),
            hooks: vec![HookKind::PatientView, HookKind::OrderSign],
            data_needs: vec![],
        }
    }

    fn evaluate(_request: Request) -> Result<Vec<Card>, EvaluationError> {
        let mut line = 0u64;
        loop {
            log(Level::Info, &format!("flood line {line}"));
            line += 1;
        }
    }
}

#[cfg(target_arch = "wasm32")]
livelab_plugin_sdk::export!(FloodLog);
