//! Test guest `sleep`: `evaluate` sleeps for a day with `std::thread::sleep`, which on WASI
//! is a blocking host call (`monotonic-clock.subscribe-duration`, then `poll.block`), not wasm
//! code the epoch deadline can interrupt. The host's timers are virtual: the sleep must end
//! at once, with the plugin's clock a day later. The one card says how much time the plugin
//! saw pass.

use std::time::Duration;

use livelab_plugin_sdk::{
    Card, EvaluationError, Guest, HookKind, Indicator, PluginInfo, Request, Source,
};

pub struct Sleep;

impl Guest for Sleep {
    fn describe() -> PluginInfo {
        PluginInfo {
            id: "sleep".into(),
            name: "Sleep (test guest)".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "Sleeps for a day on every evaluation.".into(),
            hooks: vec![HookKind::PatientView, HookKind::OrderSign],
            data_needs: vec![],
        }
    }

    fn evaluate(_request: Request) -> Result<Vec<Card>, EvaluationError> {
        let start = std::time::Instant::now();
        std::thread::sleep(Duration::from_secs(24 * 3600));
        let slept = start.elapsed().as_secs();
        let source = Source::for_plugin("test guest", "sleep");
        Ok(vec![Card::new(
            format!("slept: {slept} s"),
            Indicator::Info,
            source,
        )])
    }
}

#[cfg(target_arch = "wasm32")]
livelab_plugin_sdk::export!(Sleep);
