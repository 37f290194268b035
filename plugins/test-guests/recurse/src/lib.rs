//! Test guest `recurse`: `evaluate` recurses without bound on WebAssembly's own stack (small
//! frames held in wasm locals, nothing in linear memory), so the host can check that a stack
//! overflow ends the evaluation with its own cause instead of crashing the host.
//! (`recurse-shadow` overflows Rust's stack in linear memory instead.)

use std::sync::atomic::{AtomicU64, Ordering};

use livelab_plugin_sdk::{Card, EvaluationError, Guest, HookKind, PluginInfo, Request};

/// Never reached; an atomic load the optimiser cannot fold keeps the recursion from being
/// proved endless, without putting anything of the frame in linear memory.
static BOTTOM: AtomicU64 = AtomicU64::new(u64::MAX);

/// Not a tail call (the result is combined after it returns) and not an accumulator
/// pattern LLVM turns into a loop, so every level is a real wasm frame.
#[inline(never)]
fn descend(depth: u64) -> u64 {
    if depth >= BOTTOM.load(Ordering::Relaxed) {
        return depth;
    }
    let below = descend(depth + 1);
    below.rotate_left((depth % 63) as u32) ^ depth
}

pub struct Recurse;

impl Guest for Recurse {
    fn describe() -> PluginInfo {
        PluginInfo {
            id: "recurse".into(),
            name: "Recurse (test guest)".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "Recurses until the stack runs out.".into(),
            hooks: vec![HookKind::PatientView, HookKind::OrderSign],
            data_needs: vec![],
        }
    }

    fn evaluate(_request: Request) -> Result<Vec<Card>, EvaluationError> {
        core::hint::black_box(descend(core::hint::black_box(0)));
        Ok(Vec::new())
    }
}

#[cfg(target_arch = "wasm32")]
livelab_plugin_sdk::export!(Recurse);
