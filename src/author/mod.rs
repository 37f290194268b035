//! Plugin authoring: `livelab new` scaffolds a working plugin in Rust, JavaScript or Python,
//! `livelab build` turns a plugin's source into a package (component + `plugin.toml`).
//!
//! The toolchains are pinned in `tools/` and installed by livelab itself when a build first
//! needs them (or by `.ci/setup`): componentize-js with `npm ci` into `<tools>/js/`,
//! componentize-py with pip into the venv `<tools>/venv/`, where `<tools>` is
//! `$LIVELAB_TOOLS_DIR`, else `target/tools/` of this checkout. Rust plugins build with cargo
//! for `wasm32-wasip2` (wit-bindgen comes from the plugin's own `Cargo.toml`).
//!
//! - [`scaffold`]: `livelab new`;
//! - [`build`]: `livelab build`, with the pinned JavaScript and Python toolchains;
//! - [`checks`]: `livelab test` and `livelab bench`, a plugin's own checks.

pub mod build;
pub mod checks;
pub mod scaffold;

use clap::ValueEnum;

/// The contract, as this livelab speaks it: every scaffold and every JS/Python build uses it.
const CDS_WIT: &str = include_str!("../../wit/cds.wit");
/// The world a plugin targets.
const WORLD: &str = "plugin";

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Lang {
    Rust,
    Js,
    Python,
}

impl Lang {
    fn name(self) -> &'static str {
        match self {
            Lang::Rust => "Rust",
            Lang::Js => "JavaScript",
            Lang::Python => "Python",
        }
    }
}
