//! Test guest `leak-handles`: `evaluate` creates WASI resources (pollables) in an endless
//! loop and never drops them. Each lives in the host's resource table, in host memory the
//! plugin's memory cap does not see, so the host must bound how many a plugin can hold.

use livelab_plugin_sdk::{Card, EvaluationError, Guest, HookKind, PluginInfo, Request};

pub struct LeakHandles;

impl Guest for LeakHandles {
    fn describe() -> PluginInfo {
        PluginInfo {
            id: "leak-handles".into(),
            name: "Leak handles (test guest)".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "Creates WASI resources without end on every evaluation.".into(),
            hooks: vec![HookKind::PatientView, HookKind::OrderSign],
            data_needs: vec![],
        }
    }

    fn evaluate(_request: Request) -> Result<Vec<Card>, EvaluationError> {
        #[cfg(target_arch = "wasm32")]
        loop {
            // A zero-length timer: cheap to make, and a host resource all the same.
            std::mem::forget(wasip2::clocks::monotonic_clock::subscribe_duration(0));
        }
        #[cfg(not(target_arch = "wasm32"))]
        Ok(Vec::new())
    }
}

#[cfg(target_arch = "wasm32")]
livelab_plugin_sdk::export!(LeakHandles);
