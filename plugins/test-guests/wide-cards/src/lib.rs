//! Test guest `wide-cards`: returns 20 cards (the default card bound) whose details are
//! 4 KiB each (under the default per-string bound of 8 KiB): every card is acceptable on its
//! own, but together they are 80 KiB of text, past the default total of 64 KiB. So the host
//! can check that the total is bounded, not only each part.

use livelab_plugin_sdk::{
    Card, EvaluationError, Guest, HookKind, Indicator, PluginInfo, Request, Source,
};

pub const CARDS: usize = 20;
pub const DETAIL_BYTES: usize = 4 << 10;

pub struct WideCards;

impl Guest for WideCards {
    fn describe() -> PluginInfo {
        PluginInfo {
            id: "wide-cards".into(),
            name: "Wide cards (test guest)".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "Returns 20 cards with 4 KiB details on every evaluation.".into(),
            hooks: vec![HookKind::PatientView, HookKind::OrderSign],
            data_needs: vec![],
        }
    }

    fn evaluate(_request: Request) -> Result<Vec<Card>, EvaluationError> {
        let source = Source::for_plugin("livelab wide-cards test guest", "wide-cards");
        Ok((0..CARDS)
            .map(|i| {
                Card::new(format!("wide card {i}"), Indicator::Info, source.clone())
                    .with_detail("w".repeat(DETAIL_BYTES))
            })
            .collect())
    }
}

#[cfg(target_arch = "wasm32")]
livelab_plugin_sdk::export!(WideCards);
