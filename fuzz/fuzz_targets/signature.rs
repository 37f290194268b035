//! A package's `plugin.sig`: the bytes are the signature file, loaded with
//! `PluginSignature::load` and checked with `verify` against fixed manifest bytes and a policy
//! that trusts the seeds' key (so mutations of a valid seed reach the Ed25519 check).
#![no_main]

use libfuzzer_sys::fuzz_target;
use livelab_fuzz::{SIGNED_MANIFEST, fixed_policy, scratch_dir, write};
use livelab_host::package::signing::{PluginSignature, verify};

fuzz_target!(|data: &[u8]| {
    let policy = fixed_policy();
    let path = write(&scratch_dir("signature"), "plugin.sig", data);
    let Ok(signature) = PluginSignature::load(&path) else {
        return;
    };
    let status = verify(SIGNED_MANIFEST, Some(&signature), policy);
    std::hint::black_box((status.is_trusted(), status.to_string(), signature.to_toml()));
});
