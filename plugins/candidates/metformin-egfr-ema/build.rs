//! Sets `cfg(metformin_egfr_embedded)` for this crate, which on wasm32 compiles the source of
//! `metformin-egfr` into itself as a module (see `src/lib.rs`): under that cfg the embedded
//! file leaves the component export to this crate.

fn main() {
    println!("cargo::rustc-check-cfg=cfg(metformin_egfr_embedded)");
    println!("cargo::rustc-cfg=metformin_egfr_embedded");
}
