//! Test guest `wrong-version`: an otherwise empty plugin built against a copy of the contract
//! whose package version is `livelab:cds@0.2.0` (see `wit/cds.wit` next to this crate). The
//! host must refuse to load it, with a clear message.
//!
//! This is the only guest that does not use the SDK: the SDK's bindings are for `@0.1.0`.

#[allow(missing_docs, clippy::all)]
mod bindings {
    wit_bindgen::generate!({
        path: "wit",
        world: "plugin",
    });
}

use bindings::exports::livelab::cds::evaluator::Guest;
use bindings::livelab::cds::types::{Card, EvaluationError, HookKind, PluginInfo, Request};

pub struct WrongVersion;

impl Guest for WrongVersion {
    fn describe() -> PluginInfo {
        PluginInfo {
            id: "wrong-version".into(),
            name: "Wrong version (test guest)".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "Targets livelab:cds@0.2.0; the host must refuse it.".into(),
            hooks: vec![HookKind::PatientView],
            data_needs: vec![],
        }
    }

    fn evaluate(_request: Request) -> Result<Vec<Card>, EvaluationError> {
        Ok(Vec::new())
    }
}

#[cfg(target_arch = "wasm32")]
bindings::export!(WrongVersion with_types_in bindings);

#[cfg(test)]
mod tests {
    /// The copy must stay the contract with only the version changed.
    #[test]
    fn wit_copy_differs_only_in_version() {
        let contract = include_str!("../../../../wit/cds.wit");
        let copy = include_str!("../wit/cds.wit");
        assert!(contract.contains("package livelab:cds@0.1.0;"));
        assert_eq!(
            copy,
            contract.replace("package livelab:cds@0.1.0;", "package livelab:cds@0.2.0;")
        );
    }
}
