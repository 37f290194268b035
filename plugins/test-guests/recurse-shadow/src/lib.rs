//! Test guest `recurse-shadow`: recurses without bound with a large array in every frame.
//! Rust keeps such frames on its own stack in linear memory (the "shadow stack", at the bottom
//! of memory: 64 KiB for guests built by livelab, `livelab_guest_build::STACK_BYTES`, Rust's
//! default 1 MiB otherwise), which runs out long before WebAssembly's own stack: the stack pointer
//! walks below address 0 and the next store is an out-of-bounds access. The host cannot tell
//! that from any other stray pointer, so it is a trap, and the run goes on.

use livelab_plugin_sdk::{Card, EvaluationError, Guest, HookKind, PluginInfo, Request};

/// `black_box` on the frame's array forces it into linear memory, and on the condition
/// keeps the optimiser from proving the recursion endless.
#[inline(never)]
fn descend(depth: u64) -> u64 {
    let frame = core::hint::black_box([depth; 32]);
    if core::hint::black_box(true) {
        descend(depth + 1).wrapping_add(frame[(depth % 32) as usize])
    } else {
        depth
    }
}

pub struct RecurseShadow;

impl Guest for RecurseShadow {
    fn describe() -> PluginInfo {
        PluginInfo {
            id: "recurse-shadow".into(),
            name: "Recurse on the shadow stack (test guest)".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "Recurses with large frames until the stack in memory runs out.".into(),
            hooks: vec![HookKind::PatientView, HookKind::OrderSign],
            data_needs: vec![],
        }
    }

    fn evaluate(_request: Request) -> Result<Vec<Card>, EvaluationError> {
        core::hint::black_box(descend(0));
        Ok(Vec::new())
    }
}

#[cfg(target_arch = "wasm32")]
livelab_plugin_sdk::export!(RecurseShadow);
