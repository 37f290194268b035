//! The test guests: plugins that exist to test the host (hostile, broken or probing), built
//! from `plugins/test-guests/<name>/` by this crate's build script. Each constant is the path
//! of one guest's component; the doc comment at the top of each guest's `src/lib.rs` says what
//! it does.
//!
//! Dev-only (as wasmtime's `test-programs`): livelab's tests depend on it, its CLI does not.

include!(concat!(env!("OUT_DIR"), "/test_guests.rs"));
