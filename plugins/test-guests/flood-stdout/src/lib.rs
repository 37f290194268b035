//! Test guest `flood-stdout`: writes to stdout in an endless loop, ignoring write errors as a
//! careless plugin would, so the host can check that stdout is bounded like the log.

use std::io::Write as _;

use livelab_plugin_sdk::{Card, EvaluationError, Guest, HookKind, PluginInfo, Request};

pub struct FloodStdout;

impl Guest for FloodStdout {
    fn describe() -> PluginInfo {
        PluginInfo {
            id: "flood-stdout".into(),
            name: "Stdout flood (test guest)".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "Prints to stdout without end on every evaluation.".into(),
            hooks: vec![HookKind::PatientView, HookKind::OrderSign],
            data_needs: vec![],
        }
    }

    fn evaluate(_request: Request) -> Result<Vec<Card>, EvaluationError> {
        let mut stdout = std::io::stdout();
        let mut line = 0u64;
        loop {
            // Errors are ignored on purpose: the host, not the plugin's manners, must stop this.
            let _ = writeln!(stdout, "flood line {line}");
            let _ = stdout.flush();
            line += 1;
        }
    }
}

#[cfg(target_arch = "wasm32")]
livelab_plugin_sdk::export!(FloodStdout);
