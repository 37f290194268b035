//! The one place that generates host bindings from `wit/` (package `livelab:cds`).
//!
//! Everything else in the host uses these types through [`crate::wit`].

wasmtime::component::bindgen!({
    path: "../wit",
    world: "plugin",
    // The log import traps the evaluation when a plugin floods it.
    imports: { "livelab:cds/log.log": trappable },
    additional_derives: [serde::Serialize, serde::Deserialize, PartialEq],
});
