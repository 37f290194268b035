//! A region's trust policy (`trust = ...` of a trial, `--trust`): the bytes are the policy
//! file, loaded with `TrustPolicy::load`; a policy that loads then judges a fixed valid
//! signature with `verify`, as loading a plugin does.
#![no_main]

use libfuzzer_sys::fuzz_target;
use livelab_fuzz::{SIGNED_MANIFEST, fixed_signature, scratch_dir, write};
use livelab_host::package::signing::{TrustPolicy, verify};

fuzz_target!(|data: &[u8]| {
    let path = write(&scratch_dir("policy"), "trust.toml", data);
    let Ok(policy) = TrustPolicy::load(&path) else {
        return;
    };
    let _ = policy.publishers();
    let status = verify(SIGNED_MANIFEST, Some(&fixed_signature()), &policy);
    std::hint::black_box(status.to_string());
});
