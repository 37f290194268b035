//! Test guest `terminal-escape`: every evaluation fails with a message built to attack the
//! terminal a run is watched in, and the CSV it is read from: an OSC sequence that sets the
//! window title, cursor-up and erase-line sequences that would overwrite the rows above, a
//! bell, a right-to-left override that makes text read backwards, and a line break that would
//! start a forged row. The host must show all of it as inert text.

use livelab_plugin_sdk::{Card, ErrorKind, EvaluationError, Guest, HookKind, PluginInfo, Request};

/// What the plugin says when it fails.
pub const MESSAGE: &str = "\u{1b}]0;livelab: all plugins passed\u{7}\u{1b}[1A\u{1b}[2K\u{1b}[32mok\u{1b}[0m \u{202e}kcart\nmetformin-egfr,ok,0 errors";

pub struct TerminalEscape;

impl Guest for TerminalEscape {
    fn describe() -> PluginInfo {
        PluginInfo {
            id: "terminal-escape".into(),
            name: "Terminal escape (test guest)".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "Fails every evaluation with escape sequences in its message.".into(),
            hooks: vec![HookKind::PatientView, HookKind::OrderSign],
            data_needs: vec![],
        }
    }

    fn evaluate(_request: Request) -> Result<Vec<Card>, EvaluationError> {
        Err(EvaluationError::new(ErrorKind::Other, MESSAGE))
    }
}

#[cfg(target_arch = "wasm32")]
livelab_plugin_sdk::export!(TerminalEscape);
