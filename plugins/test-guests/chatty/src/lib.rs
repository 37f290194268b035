//! Test guest `chatty`: writes three log lines per evaluation through the `log` import, so
//! the host can check that the log reaches the results and that its bound is enforced.

use livelab_plugin_sdk::{Card, EvaluationError, Guest, HookKind, Level, PluginInfo, Request, log};

pub struct Chatty;

impl Guest for Chatty {
    fn describe() -> PluginInfo {
        PluginInfo {
            id: "chatty".into(),
            name: "Chatty (test guest)".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "Logs three lines per evaluation and returns no cards.".into(),
            hooks: vec![HookKind::PatientView],
            data_needs: vec![],
        }
    }

    fn evaluate(request: Request) -> Result<Vec<Card>, EvaluationError> {
        log(Level::Info, "evaluation started");
        log(Level::Debug, &format!("age {}", request.patient.age_years));
        log(Level::Warn, "no rule here");
        Ok(Vec::new())
    }
}

#[cfg(target_arch = "wasm32")]
livelab_plugin_sdk::export!(Chatty);
