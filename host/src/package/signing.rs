//! Signed plugin manifests: which binary ran, and who vouches for it.
//!
//! A region's data protection officer must be able to say exactly which plugin ran and
//! which publisher stands behind it. `plugin.toml` pins the component by sha256, so an
//! Ed25519 signature over the manifest covers the component, its data needs and its grants.
//! The signature lives in `plugin.sig` beside the manifest; the region's trust policy lists
//! the publisher keys it accepts.
//!
//! Threat model: anyone who can write to a plugin directory may change the manifest, the
//! component or `plugin.sig`; such a plugin must come out `Invalid` or `UntrustedKey`, never
//! `Trusted`. The names in `plugin.sig` (`publisher`, `signed_at`) are not signed and so are
//! claims only: a trusted plugin is reported under the name the policy gives its key. The
//! secret key file, the trust policy and the artifact cache are trusted like the host binary:
//! whoever can change them can change the host itself.

use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use rand::Rng;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::digest::hex;

const SECRET_KEY_HEADER: &str = "livelab-ed25519-secret-key";
/// Domain separation: a livelab manifest signature can never be replayed as, or made from, a
/// signature over anything else the same key signs.
const DOMAIN: &[u8] = b"livelab-plugin-manifest-v1\0";

/// Why a key, signature file or trust policy cannot be used. Each message names the file.
#[derive(Debug, thiserror::Error)]
pub enum SigningError {
    #[error("cannot read {what} {path}: {source}; check the path")]
    Read {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "cannot write {what} {path}: {source}; check that the directory exists and is writable"
    )]
    Write {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "{path} already exists; refusing to overwrite a secret key (move it away first, or choose another path)"
    )]
    KeyExists { path: PathBuf },
    #[error(
        "{path} is not a livelab secret key: {reason}; a key file is the line `livelab-ed25519-secret-key` followed by a line of 64 lowercase hex characters (generate a new key rather than editing one)"
    )]
    BadKeyFile { path: PathBuf, reason: String },
    #[error(
        "{path} is not a valid plugin signature file: {reason}; sign the manifest again to rewrite it"
    )]
    BadSignatureFile { path: PathBuf, reason: String },
    #[error(
        "{path} is not a valid trust policy: {reason}; the file holds `[[publisher]]` entries, each with only `name` and `key = \"ed25519:<64 hex>\"`"
    )]
    BadPolicy { path: PathBuf, reason: String },
    #[error(
        "{path}: [[publisher]] entry {index} (\"{name}\"): {reason}; copy the key exactly as the publisher printed it, or remove the entry"
    )]
    BadPolicyEntry {
        path: PathBuf,
        /// 1-based, in file order.
        index: usize,
        name: String,
        reason: String,
    },
    #[error(
        "`{text}` is not an Ed25519 public key: {reason}; expected `ed25519:` and 64 hex characters"
    )]
    BadPublicKey { text: String, reason: String },
}

/// A publisher's signing key. Its file holds only the 32-byte seed; keep it like a password.
pub struct SecretKey(SigningKey);

impl SecretKey {
    /// A fresh key from the thread-local CSPRNG (ChaCha, seeded from the operating system).
    pub fn generate() -> SecretKey {
        let mut seed = [0u8; 32];
        rand::rng().fill_bytes(&mut seed);
        SecretKey::from_seed(&seed)
    }

    fn from_seed(seed: &[u8; 32]) -> SecretKey {
        SecretKey(SigningKey::from_bytes(seed))
    }

    /// Reads a key file written by [`SecretKey::write`].
    pub fn load(path: &Path) -> Result<SecretKey, SigningError> {
        let text = read(path, "secret key")?;
        let bad = |reason: &str| SigningError::BadKeyFile {
            path: path.to_owned(),
            reason: reason.to_owned(),
        };
        let mut lines = text.trim_end().lines().map(str::trim_end);
        if lines.next() != Some(SECRET_KEY_HEADER) {
            return Err(bad("the first line is not `livelab-ed25519-secret-key`"));
        }
        let line = lines.next().ok_or_else(|| bad("the key line is missing"))?;
        if lines.next().is_some() {
            return Err(bad("there is more than one line after the header"));
        }
        if line.bytes().any(|b| b.is_ascii_uppercase()) {
            return Err(bad("the key line has uppercase hex"));
        }
        let seed = unhex::<32>(line).map_err(|e| bad(&format!("the key line {e}")))?;
        Ok(SecretKey::from_seed(&seed))
    }

    /// Writes the key to a new file (mode 0600 on unix). Never overwrites: losing a signing
    /// key to a slip of the command line would orphan every plugin signed with it.
    pub fn write(&self, path: &Path) -> Result<(), SigningError> {
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let write_err = |source| SigningError::Write {
            what: "secret key",
            path: path.to_owned(),
            source,
        };
        let mut file = options.open(path).map_err(|e| match e.kind() {
            std::io::ErrorKind::AlreadyExists => SigningError::KeyExists {
                path: path.to_owned(),
            },
            _ => write_err(e),
        })?;
        let text = format!("{SECRET_KEY_HEADER}\n{}\n", hex(self.0.as_bytes()));
        file.write_all(text.as_bytes())
            .and_then(|()| file.sync_all())
            .map_err(write_err)
    }

    pub fn public_key(&self) -> PublicKey {
        PublicKey(self.0.verifying_key())
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretKey(public {})", self.public_key())
    }
}

/// An Ed25519 public key, written `ed25519:<64 hex>`.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct PublicKey(VerifyingKey);

impl PublicKey {
    /// The first 16 hex characters of the sha256 of the key bytes, for short display.
    pub fn fingerprint(&self) -> String {
        hex(&Sha256::digest(self.0.as_bytes())[..8])
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ed25519:{}", hex(self.0.as_bytes()))
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl FromStr for PublicKey {
    type Err = SigningError;
    fn from_str(text: &str) -> Result<PublicKey, SigningError> {
        parse_key(text).map_err(|reason| SigningError::BadPublicKey {
            text: text.to_owned(),
            reason,
        })
    }
}

impl Serialize for PublicKey {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for PublicKey {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<PublicKey, D::Error> {
        let text = String::deserialize(d)?;
        parse_key(&text).map_err(serde::de::Error::custom)
    }
}

fn parse_key(text: &str) -> Result<PublicKey, String> {
    let digits = text
        .strip_prefix("ed25519:")
        .ok_or("it does not start with `ed25519:`")?;
    let bytes = unhex::<32>(digits).map_err(|e| format!("the key {e}"))?;
    match VerifyingKey::from_bytes(&bytes) {
        Ok(key) if !key.is_weak() => Ok(PublicKey(key)),
        Ok(_) => Err("it is a weak (small-order) key that anyone can sign for".into()),
        Err(_) => Err("it is not a point on the Ed25519 curve".into()),
    }
}

/// The contents of `plugin.sig`. Values are kept as text: [`verify`] checks them and turns a
/// malformed one into [`SignatureStatus::Invalid`] (a file that is not TOML at all fails
/// [`PluginSignature::load`]). Only the manifest digest is signed; `publisher` and
/// `signed_at` are claims.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PluginSignature {
    /// Who signed, as the signer names itself.
    pub publisher: String,
    /// `ed25519:<64 hex>`.
    pub public_key: String,
    /// Hex sha256 of the exact manifest bytes.
    pub manifest_sha256: String,
    /// 128 hex characters: Ed25519 over `DOMAIN || sha256(manifest)`.
    pub signature: String,
    /// When, as the caller put it (library code does not read the clock).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signed_at: Option<String>,
}

/// Signs the exact manifest bytes. Set `signed_at` on the result if wanted.
pub fn sign(manifest_bytes: &[u8], key: &SecretKey, publisher: &str) -> PluginSignature {
    let digest = sha256(manifest_bytes);
    PluginSignature {
        publisher: publisher.to_owned(),
        public_key: key.public_key().to_string(),
        manifest_sha256: hex(&digest),
        signature: hex(&key.0.sign(&message(&digest)).to_bytes()),
        signed_at: None,
    }
}

impl PluginSignature {
    pub fn load(path: &Path) -> Result<PluginSignature, SigningError> {
        let text = read(path, "plugin signature")?;
        let bad = |reason: String| SigningError::BadSignatureFile {
            path: path.to_owned(),
            reason,
        };
        toml::from_str(&text).map_err(|e| bad(e.to_string().trim_end().to_owned()))
    }

    pub fn to_toml(&self) -> String {
        let body = toml::to_string(self).expect("a struct of strings always serialises to TOML");
        format!(
            "# livelab plugin signature over plugin.toml (see the region's trust policy)\n{body}"
        )
    }

    /// Writes (or replaces: signing again is routine) the signature file.
    pub fn write(&self, path: &Path) -> Result<(), SigningError> {
        std::fs::write(path, self.to_toml()).map_err(|source| SigningError::Write {
            what: "plugin signature",
            path: path.to_owned(),
            source,
        })
    }
}

/// A publisher the region accepts: its name, as the region knows it, and its key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrustedPublisher {
    pub name: String,
    pub key: PublicKey,
}

/// The publisher keys a region accepts, written by the region (not by publishers).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TrustPolicy {
    publishers: Vec<TrustedPublisher>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyFile {
    #[serde(default)]
    publisher: Vec<PolicyEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyEntry {
    name: String,
    key: String,
}

impl TrustPolicy {
    /// Trusts nobody: every signed plugin is `UntrustedKey`.
    pub fn empty() -> TrustPolicy {
        TrustPolicy::default()
    }

    /// The policy in `path`, or the empty policy (trusting no one) when there is none: the
    /// one way every command reads a region's trust policy.
    pub fn load_or_empty(path: Option<&Path>) -> Result<TrustPolicy, SigningError> {
        match path {
            Some(path) => TrustPolicy::load(path),
            None => Ok(TrustPolicy::empty()),
        }
    }

    pub fn load(path: &Path) -> Result<TrustPolicy, SigningError> {
        let text = read(path, "trust policy")?;
        let bad = |reason: String| SigningError::BadPolicy {
            path: path.to_owned(),
            reason,
        };
        let file: PolicyFile =
            toml::from_str(&text).map_err(|e| bad(e.to_string().trim_end().to_owned()))?;
        let mut publishers: Vec<TrustedPublisher> = Vec::new();
        for (i, entry) in file.publisher.into_iter().enumerate() {
            let bad_entry = |reason: String| SigningError::BadPolicyEntry {
                path: path.to_owned(),
                index: i + 1,
                name: entry.name.clone(),
                reason,
            };
            let key = parse_key(&entry.key)
                .map_err(|e| bad_entry(format!("key `{}`: {e}", entry.key)))?;
            if let Some(first) = publishers.iter().find(|p| p.key == key) {
                let reason = format!("its key is already listed for \"{}\"", first.name);
                return Err(bad_entry(reason));
            }
            publishers.push(TrustedPublisher {
                name: entry.name,
                key,
            });
        }
        Ok(TrustPolicy { publishers })
    }

    pub fn publishers(&self) -> &[TrustedPublisher] {
        &self.publishers
    }

    /// The policy's name for the publisher holding this key, if the region trusts it.
    pub fn trusts(&self, key: &PublicKey) -> Option<&str> {
        self.publishers
            .iter()
            .find(|p| p.key == *key)
            .map(|p| p.name.as_str())
    }
}

/// What the signature says about a plugin. Only `Trusted` vouches for it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "kebab-case")]
pub enum SignatureStatus {
    /// Valid signature by a key the policy lists; `publisher` is the policy's name for it.
    Trusted {
        publisher: String,
        key: PublicKey,
    },
    Unsigned,
    /// Valid signature, but by a key the policy does not list.
    UntrustedKey {
        claimed_publisher: String,
        key: PublicKey,
    },
    /// The manifest or `plugin.sig` was changed, or `plugin.sig` is malformed.
    Invalid {
        reason: String,
    },
}

impl SignatureStatus {
    pub fn is_trusted(&self) -> bool {
        matches!(self, SignatureStatus::Trusted { .. })
    }
}

impl fmt::Display for SignatureStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SignatureStatus::Trusted { publisher, key } => write!(
                f,
                "signed by {publisher} (ed25519 key fingerprint {}), trusted by the region's policy",
                key.fingerprint()
            ),
            SignatureStatus::Unsigned => write!(f, "unsigned"),
            SignatureStatus::UntrustedKey {
                claimed_publisher,
                key,
            } => write!(
                f,
                "signed by a key the trust policy does not list: {key} (fingerprint {}), claiming to be {claimed_publisher:?}; add it to the policy only after confirming it with that publisher",
                key.fingerprint()
            ),
            SignatureStatus::Invalid { reason } => write!(f, "INVALID signature: {reason}"),
        }
    }
}

/// Checks `plugin.sig` against the exact manifest bytes and the region's policy. Never
/// fails: every problem is a status, so a caller cannot forget to handle one.
pub fn verify(
    manifest_bytes: &[u8],
    signature: Option<&PluginSignature>,
    policy: &TrustPolicy,
) -> SignatureStatus {
    let Some(sig) = signature else {
        return SignatureStatus::Unsigned;
    };
    match check(manifest_bytes, sig) {
        Err(reason) => SignatureStatus::Invalid { reason },
        Ok(key) => match policy.trusts(&key) {
            Some(name) => SignatureStatus::Trusted {
                publisher: name.to_owned(),
                key,
            },
            None => SignatureStatus::UntrustedKey {
                claimed_publisher: sig.publisher.clone(),
                key,
            },
        },
    }
}

/// The key that made `sig` over exactly these manifest bytes, or why there is none.
fn check(manifest_bytes: &[u8], sig: &PluginSignature) -> Result<PublicKey, String> {
    let key = parse_key(&sig.public_key).map_err(|e| format!("plugin.sig's public_key: {e}"))?;
    let signed = unhex::<32>(&sig.manifest_sha256)
        .map_err(|e| format!("plugin.sig's manifest_sha256 {e}"))?;
    let digest = sha256(manifest_bytes);
    if digest != signed {
        let (signed, found) = (hex(&signed), hex(&digest));
        return Err(format!(
            "the manifest was changed after signing (sha256 differs: signed {signed}, found {found})"
        ));
    }
    let bytes = unhex::<64>(&sig.signature).map_err(|e| format!("plugin.sig's signature {e}"))?;
    key.0
        .verify_strict(&message(&digest), &Signature::from_bytes(&bytes))
        .map_err(|_| format!("the signature was not made by {key} over this manifest (plugin.sig was altered or assembled from parts)"))?;
    Ok(key)
}

fn message(digest: &[u8; 32]) -> Vec<u8> {
    [DOMAIN, digest.as_slice()].concat()
}

fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

fn read(path: &Path, what: &'static str) -> Result<String, SigningError> {
    std::fs::read_to_string(path).map_err(|source| SigningError::Read {
        what,
        path: path.to_owned(),
        source,
    })
}

/// Exactly `2 * N` hex digits (either case); the error completes "the <field> ...".
fn unhex<const N: usize>(text: &str) -> Result<[u8; N], String> {
    if text.len() != 2 * N {
        return Err(format!(
            "has {} characters, expected {} hex",
            text.len(),
            2 * N
        ));
    }
    let nibble = |b: u8| char::from(b).to_digit(16).map(|d| d as u8);
    let mut out = [0u8; N];
    for (byte, pair) in out.iter_mut().zip(text.as_bytes().chunks_exact(2)) {
        match (nibble(pair[0]), nibble(pair[1])) {
            (Some(hi), Some(lo)) => *byte = hi << 4 | lo,
            _ => return Err("contains a character that is not hex".into()),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MANIFEST: &[u8] = b"id = \"metformin-egfr\"\nversion = \"1.0.0\"\n";

    fn file(dir: &tempfile::TempDir, name: &str, text: &str) -> PathBuf {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    fn policy_for(key: &SecretKey, name: &str) -> (tempfile::TempDir, TrustPolicy) {
        let dir = tempfile::tempdir().unwrap();
        let text = format!(
            "[[publisher]]\nname = \"{name}\"\nkey = \"{}\"\n",
            key.public_key()
        );
        let policy = TrustPolicy::load(&file(&dir, "trust.toml", &text)).unwrap();
        (dir, policy)
    }

    #[test]
    fn rfc8032_test_vector_1() {
        let dir = tempfile::tempdir().unwrap();
        let secret = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
        let path = file(&dir, "k", &format!("{SECRET_KEY_HEADER}\n{secret} \n\n"));
        let key = SecretKey::load(&path).unwrap();
        let public = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";
        assert_eq!(key.public_key().to_string(), format!("ed25519:{public}"));
        let expected = "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b";
        let raw = key.0.sign(b"");
        assert_eq!(hex(&raw.to_bytes()), expected);
        assert!(key.public_key().0.verify_strict(b"", &raw).is_ok());
    }

    /// Cross-checked with an independent Ed25519 implementation (OpenSSL via Python).
    #[test]
    fn known_answer_is_stable() {
        let key = SecretKey::from_seed(&[7u8; 32]);
        let public = "ed25519:ea4a6c63e29c520abef5507b132ec5f9954776aebebe7b92421eea691446d22c";
        assert_eq!(key.public_key().to_string(), public);
        assert_eq!(key.public_key().fingerprint(), "fe812c12f3ab4ce6");
        assert_eq!(public.parse::<PublicKey>().unwrap(), key.public_key());
        let sig = sign(MANIFEST, &key, "livelab samples");
        assert_eq!(
            sig.manifest_sha256,
            "09f909984f03997f5dfb33324dfad399f2693db3417429a1f64022d812b1b148"
        );
        assert_eq!(
            sig.signature,
            "1fb786808ac5e74f21a1a2ed1bff73007e76e1e4f832816747e6f28e8056bf776288a16b993a893b997ddbc0da48f7ed057271b815820921ea148fe8ceca3402"
        );
    }

    #[test]
    fn round_trip_uses_the_policy_name() {
        let dir = tempfile::tempdir().unwrap();
        let key = SecretKey::generate();
        key.write(&dir.path().join("k")).unwrap();
        let key = SecretKey::load(&dir.path().join("k")).unwrap();
        let mut sig = sign(MANIFEST, &key, "someone else");
        sig.signed_at = Some("2026-05-01T10:00:00Z".into());
        let path = dir.path().join("plugin.sig");
        sig.write(&path).unwrap();
        let loaded = PluginSignature::load(&path).unwrap();
        assert_eq!(loaded, sig);
        let (_d, policy) = policy_for(&key, "livelab samples");
        let status = verify(MANIFEST, Some(&loaded), &policy);
        let expected = SignatureStatus::Trusted {
            publisher: "livelab samples".into(),
            key: key.public_key(),
        };
        assert_eq!(status, expected);
        assert!(status.is_trusted());
        let shown = status.to_string();
        assert!(
            shown.starts_with("signed by livelab samples (ed25519 key fingerprint "),
            "{shown}"
        );
        let json = toml::to_string(&status).unwrap();
        assert!(json.contains("status = \"trusted\""), "{json}");
    }

    #[test]
    fn tampered_manifest_is_invalid() {
        let key = SecretKey::generate();
        let sig = sign(MANIFEST, &key, "p");
        let mut changed = MANIFEST.to_vec();
        changed[6] ^= 1;
        let (_d, policy) = policy_for(&key, "p");
        let status = verify(&changed, Some(&sig), &policy);
        assert!(
            status.to_string().starts_with(
                "INVALID signature: the manifest was changed after signing (sha256 differs"
            ),
            "{status}"
        );
    }

    #[test]
    fn other_keys_are_invalid_or_untrusted() {
        let (trusted, other) = (SecretKey::generate(), SecretKey::generate());
        let (_d, policy) = policy_for(&trusted, "region's publisher");
        // Made by another key but claiming the trusted one: forged.
        let mut forged = sign(MANIFEST, &other, "region's publisher");
        forged.public_key = trusted.public_key().to_string();
        let status = verify(MANIFEST, Some(&forged), &policy);
        assert!(
            matches!(status, SignatureStatus::Invalid { .. }),
            "{status}"
        );
        // Honestly signed by a key the region does not list.
        let status = verify(
            MANIFEST,
            Some(&sign(MANIFEST, &other, "x\u{1b}[2J")),
            &policy,
        );
        let expected = SignatureStatus::UntrustedKey {
            claimed_publisher: "x\u{1b}[2J".into(),
            key: other.public_key(),
        };
        assert_eq!(status, expected);
        assert!(status.to_string().contains("\"x\\u{1b}[2J\""), "{status}");
        let empty = verify(MANIFEST, Some(&forged), &TrustPolicy::empty());
        assert!(!empty.is_trusted());
        assert_eq!(verify(MANIFEST, None, &policy), SignatureStatus::Unsigned);
        assert_eq!(SignatureStatus::Unsigned.to_string(), "unsigned");
    }

    #[test]
    fn malformed_signature_fields_are_invalid() {
        let key = SecretKey::generate();
        let good = sign(MANIFEST, &key, "p");
        type Edit = fn(&mut PluginSignature);
        let cases: [(Edit, &str); 4] = [
            (|s| s.signature.truncate(100), "signature has 100"),
            (|s| s.signature.replace_range(0..1, "g"), "not hex"),
            (
                |s| s.public_key = "ed25519:00".into(),
                "public_key: the key",
            ),
            (|s| s.manifest_sha256 = "zz".into(), "manifest_sha256 has 2"),
        ];
        for (change, reason) in cases {
            let mut sig = good.clone();
            change(&mut sig);
            let status = verify(MANIFEST, Some(&sig), &TrustPolicy::empty());
            assert!(status.to_string().contains(reason), "{status}");
        }
        let dir = tempfile::tempdir().unwrap();
        let path = file(&dir, "s", &(good.to_toml() + "extra = 1\n"));
        let err = PluginSignature::load(&path).unwrap_err();
        assert!(
            matches!(err, SigningError::BadSignatureFile { .. }),
            "{err}"
        );
    }

    #[test]
    fn key_file_errors() {
        let dir = tempfile::tempdir().unwrap();
        let (seed, k) = ("ab".repeat(32), |s: &str| {
            format!("{SECRET_KEY_HEADER}\n{s}\n")
        });
        let cases = [
            (format!("livelab-key\n{seed}\n"), "first line"),
            (format!("{SECRET_KEY_HEADER}\n"), "missing"),
            (k(&seed.to_uppercase()), "uppercase"),
            (k(&seed[2..]), "62 characters"),
            (k(&format!("{seed}\nmore")), "more than one line"),
            (k(&format!("{}xy", &seed[2..])), "not hex"),
        ];
        for (text, reason) in cases {
            let err = SecretKey::load(&file(&dir, "k", &text))
                .map(drop)
                .unwrap_err();
            let err = err.to_string();
            assert!(
                err.contains(reason) && err.contains("/k is not a livelab"),
                "{err}"
            );
        }
        let err = SecretKey::load(&dir.path().join("none")).unwrap_err();
        assert!(matches!(err, SigningError::Read { .. }), "{err}");
    }

    #[test]
    fn secret_key_write_refuses_to_overwrite() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("publisher.key");
        let key = SecretKey::generate();
        key.write(&path).unwrap();
        let err = SecretKey::generate().write(&path).unwrap_err();
        assert!(matches!(err, SigningError::KeyExists { .. }), "{err}");
        assert_eq!(
            SecretKey::load(&path).unwrap().public_key(),
            key.public_key()
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o077, 0, "{mode:o}");
        }
    }

    #[test]
    fn policy_errors() {
        let dir = tempfile::tempdir().unwrap();
        let good = SecretKey::generate().public_key();
        let e =
            |name: &str, key: &str| format!("[[publisher]]\nname = \"{name}\"\nkey = \"{key}\"\n");
        let g = good.to_string();
        let cases = [
            (
                e("a", &g) + &e("b", "ed25519:12"),
                "entry 2 (\"b\"): key `ed25519:12`: the key has 2",
            ),
            (e("a", &g.replace("ed25519:", "rsa:")), "entry 1 (\"a\")"),
            (e("a", &g) + &e("b", &g), "already listed for \"a\""),
            (e("a", &g) + "trusted = true\n", "unknown field `trusted`"),
            (
                "[[publisher]]\nname = \"a\"\n".into(),
                "missing field `key`",
            ),
        ];
        for (text, reason) in cases {
            let path = file(&dir, "trust.toml", &text);
            let err = TrustPolicy::load(&path).unwrap_err().to_string();
            assert!(err.contains(reason) && err.contains("trust.toml"), "{err}");
        }
        let policy = TrustPolicy::load(&file(&dir, "t", "# nobody yet\n")).unwrap();
        assert_eq!(policy, TrustPolicy::empty());
        assert!(policy.publishers().is_empty() && policy.trusts(&good).is_none());
    }
}
