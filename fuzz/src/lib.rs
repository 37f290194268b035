//! What the fuzz targets share: one scratch directory per process, for the parsers whose
//! entry point takes a path (a region hands livelab files, so the targets go through the same
//! `open`/`load` functions the CLI calls), and the fixed inputs some targets pair the fuzzed
//! bytes with.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use livelab_host::ingest::IngestOptions;
use livelab_host::package::signing::{PluginSignature, TrustPolicy};

/// The process's scratch directory, created on first use and reused by every input (removed
/// when the process exits normally; libFuzzer's crash exit leaves it under the temp dir).
pub fn scratch() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| {
        tempfile::Builder::new()
            .prefix("livelab-fuzz-")
            .tempdir()
            .expect("a scratch directory for the fuzz inputs")
    })
    .path()
}

/// A subdirectory of the scratch directory (created once).
pub fn scratch_dir(name: &str) -> PathBuf {
    let dir = scratch().join(name);
    std::fs::create_dir_all(&dir).expect("a scratch subdirectory");
    dir
}

/// Writes `data` to `dir/name` (replacing the previous input) and returns the path.
pub fn write(dir: &Path, name: &str, data: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, data).expect("writing a fuzz input to the scratch directory");
    path
}

/// The evaluation date every ingest target reads with.
pub fn evaluation_date() -> jiff::civil::Date {
    jiff::civil::date(2026, 11, 1)
}

/// Ingest options with the shipped terminology, parsed once per process (building it per
/// input would spend most of the time re-reading the shipped ConceptMaps).
pub fn ingest_options() -> IngestOptions {
    static OPTIONS: OnceLock<IngestOptions> = OnceLock::new();
    OPTIONS
        .get_or_init(|| IngestOptions {
            terminology: Arc::new(livelab_host::ingest::terminology::Terminology::shipped()),
            ..IngestOptions::default()
        })
        .clone()
}

/// Opens `path` as a record source and reads every record, as `livelab run`/`trial` do.
/// Errors are expected outcomes; only a panic (or a sanitizer report) is a finding.
pub fn read_records(path: &Path, options: IngestOptions) {
    if let Ok(reader) = livelab_host::RecordReader::open_with(path, evaluation_date(), options) {
        let _ = reader.format();
        let _ = reader.file_count();
        for outcome in reader {
            if let Ok(record) = outcome {
                std::hint::black_box(&record);
            }
        }
    }
}

/// The manifest bytes the fixed signature signs (`corpus/signature/*` sign these bytes).
pub const SIGNED_MANIFEST: &[u8] = b"id = \"metformin-egfr\"\nversion = \"1.0.0\"\n";

/// The RFC 8032 test vector 1 public key: the key of the seed signatures.
pub const TEST_PUBLIC_KEY: &str =
    "ed25519:d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";

/// A valid signature over [`SIGNED_MANIFEST`] by [`TEST_PUBLIC_KEY`] (its secret key is the
/// RFC 8032 test vector 1 seed), for the trust-policy target to verify against.
pub fn fixed_signature() -> PluginSignature {
    PluginSignature {
        publisher: "Test publisher".into(),
        public_key: TEST_PUBLIC_KEY.into(),
        manifest_sha256: SIGNED_MANIFEST_SHA256.into(),
        signature: SIGNED_MANIFEST_SIGNATURE.into(),
        signed_at: None,
    }
}

/// A policy that trusts [`TEST_PUBLIC_KEY`], read through `TrustPolicy::load` once.
pub fn fixed_policy() -> &'static TrustPolicy {
    static POLICY: OnceLock<TrustPolicy> = OnceLock::new();
    POLICY.get_or_init(|| {
        let text =
            format!("[[publisher]]\nname = \"Test publisher\"\nkey = \"{TEST_PUBLIC_KEY}\"\n");
        let path = write(&scratch_dir("fixed-policy"), "trust.toml", text.as_bytes());
        TrustPolicy::load(&path).expect("the fixed trust policy is valid")
    })
}

pub const SIGNED_MANIFEST_SHA256: &str =
    "09f909984f03997f5dfb33324dfad399f2693db3417429a1f64022d812b1b148";
pub const SIGNED_MANIFEST_SIGNATURE: &str = "20457a41f1e67c36c8d928ac41b7b53a8c788e771abac45c543193a3672c71197084fbbba557a1d15f172b5f2a52fe321e9bf939b9a42b848e1acb212c1e1504";
