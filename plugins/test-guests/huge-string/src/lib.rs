//! Test guest `huge-string`: returns one card whose `detail` is 10 MiB, so the host can
//! check its bound on the size of a single string (and of the output as a whole).

use livelab_plugin_sdk::{
    Card, EvaluationError, Guest, HookKind, Indicator, PluginInfo, Request, Source,
};

pub const DETAIL_BYTES: usize = 10 << 20;

pub struct HugeString;

impl Guest for HugeString {
    fn describe() -> PluginInfo {
        PluginInfo {
            id: "huge-string".into(),
            name: "Huge string (test guest)".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "Returns a card with a 10 MiB detail on every evaluation.".into(),
            hooks: vec![HookKind::PatientView, HookKind::OrderSign],
            data_needs: vec![],
        }
    }

    fn evaluate(_request: Request) -> Result<Vec<Card>, EvaluationError> {
        let source = Source::for_plugin("livelab huge-string test guest", "huge-string");
        let card = Card::new("a card with a huge detail", Indicator::Info, source)
            .with_detail("x".repeat(DETAIL_BYTES));
        Ok(vec![card])
    }
}

#[cfg(target_arch = "wasm32")]
livelab_plugin_sdk::export!(HugeString);
