//! Test guest `hog`: `evaluate` allocates without bound (1 MiB at a time, every byte written)
//! and never returns normally, so the host can check its memory limit.

use livelab_plugin_sdk::{Card, EvaluationError, Guest, HookKind, PluginInfo, Request};

const CHUNK: usize = 1 << 20;

pub struct Hog;

impl Guest for Hog {
    fn describe() -> PluginInfo {
        PluginInfo {
            id: "hog".into(),
            name: "Hog (test guest)".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "Allocates memory until the host stops it.".into(),
            hooks: vec![HookKind::PatientView, HookKind::OrderSign],
            data_needs: vec![],
        }
    }

    fn evaluate(_request: Request) -> Result<Vec<Card>, EvaluationError> {
        let mut hoard: Vec<Vec<u8>> = Vec::new();
        loop {
            // `vec![1; n]` writes every byte, so the pages are touched, not just reserved;
            // `black_box` keeps the optimiser from dropping the allocation.
            let chunk = core::hint::black_box(vec![1u8; CHUNK]);
            hoard.push(chunk);
            core::hint::black_box(&mut hoard);
        }
    }
}

#[cfg(target_arch = "wasm32")]
livelab_plugin_sdk::export!(Hog);
