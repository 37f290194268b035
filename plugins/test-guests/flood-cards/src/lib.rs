//! Test guest `flood-cards`: returns 10,000 small, valid cards per evaluation, so the host
//! can check its bound on the number of cards.

use livelab_plugin_sdk::{
    Card, EvaluationError, Guest, HookKind, Indicator, PluginInfo, Request, Source,
};

pub const CARDS: usize = 10_000;

pub struct FloodCards;

impl Guest for FloodCards {
    fn describe() -> PluginInfo {
        PluginInfo {
            id: "flood-cards".into(),
            name: "Flood of cards (test guest)".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "Returns 10,000 cards on every evaluation.".into(),
            hooks: vec![HookKind::PatientView, HookKind::OrderSign],
            data_needs: vec![],
        }
    }

    fn evaluate(_request: Request) -> Result<Vec<Card>, EvaluationError> {
        let source = Source::for_plugin("livelab flood-cards test guest", "flood-cards");
        Ok((0..CARDS)
            .map(|i| Card::new(format!("card {i}"), Indicator::Info, source.clone()))
            .collect())
    }
}

#[cfg(target_arch = "wasm32")]
livelab_plugin_sdk::export!(FloodCards);
