//! The allowlist of CDS clients, as a TOML file (format:
//! [`crate::auth::Verifier::from_config_file`]), and why an allowlist cannot be built.

use std::io::Read;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::keys::{JwksError, KeySet};

/// The largest allowlist file read.
pub const MAX_CONFIG_BYTES: u64 = 1024 * 1024;

/// How the verifier judges time and how much it remembers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct VerifierSettings {
    /// Clock skew tolerated, in seconds, on `exp`, `nbf` and `iat` (at most 300).
    pub leeway_secs: u64,
    /// The longest `exp - iat` accepted, in seconds (1 to 86 400). CDS Hooks sets no limit;
    /// the default, 5 minutes, is what the CDS Hooks sandbox issues and what SMART Backend
    /// Services allows. It also bounds how long a `jti` must be remembered.
    pub max_lifetime_secs: u64,
    /// How many live `jti`s are remembered (1 to 10 000 000); beyond it new tokens are
    /// refused with 503 (see [`crate::auth`]).
    pub replay_cache_capacity: usize,
    /// Refuse tokens without a `typ` header. CDS Hooks requires `typ: JWT`; turn this off
    /// only for a client that omits it.
    pub require_typ: bool,
}

impl Default for VerifierSettings {
    fn default() -> Self {
        VerifierSettings {
            leeway_secs: 30,
            max_lifetime_secs: 300,
            replay_cache_capacity: 100_000,
            require_typ: true,
        }
    }
}

impl VerifierSettings {
    pub(crate) fn check(&self) -> Result<(), AllowlistError> {
        if self.leeway_secs > 300 {
            return Err(AllowlistError::InvalidSettings(
                "leeway_secs must be at most 300",
            ));
        }
        if !(1..=86_400).contains(&self.max_lifetime_secs) {
            return Err(AllowlistError::InvalidSettings(
                "max_lifetime_secs must be between 1 and 86400",
            ));
        }
        if !(1..=10_000_000).contains(&self.replay_cache_capacity) {
            return Err(AllowlistError::InvalidSettings(
                "replay_cache_capacity must be between 1 and 10000000",
            ));
        }
        Ok(())
    }
}

/// One trusted CDS client.
#[derive(Clone, Debug)]
pub struct TrustedIssuer {
    /// The exact `iss` its tokens carry.
    pub iss: String,
    /// The `jku` its tokens may name; its keys are [`TrustedIssuer::keys`].
    pub jku: Option<String>,
    /// Its public keys.
    pub keys: KeySet,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    #[serde(default)]
    settings: VerifierSettings,
    #[serde(default, rename = "issuer")]
    issuers: Vec<IssuerEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct IssuerEntry {
    iss: String,
    jwks_path: PathBuf,
    #[serde(default)]
    jku: Option<String>,
}

/// Why an allowlist cannot be built.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AllowlistError {
    #[error("no issuers: with an empty allowlist no CDS client could call")]
    NoIssuers,
    #[error("an issuer has an empty `iss`")]
    EmptyIss,
    #[error("issuer \"{iss}\" is listed twice")]
    DuplicateIssuer { iss: String },
    #[error("issuer \"{iss}\": `jku` must be an https:// URL")]
    JkuNotHttps { iss: String },
    #[error("settings: {0}")]
    InvalidSettings(&'static str),
    #[error("no jsonwebtoken crypto provider is available")]
    NoCryptoProvider,
}

/// Why the allowlist file cannot be used. Every variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read CDS client allowlist {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("CDS client allowlist {path} is more than {max} bytes")]
    TooLarge { path: PathBuf, max: u64 },
    #[error("CDS client allowlist {path}: {source}")]
    Parse {
        path: PathBuf,
        source: toml::de::Error,
    },
    #[error("CDS client allowlist {path}: issuer \"{iss}\": JWK Set {jwks_path}: {source}")]
    Jwks {
        path: PathBuf,
        iss: String,
        jwks_path: PathBuf,
        source: JwksError,
    },
    #[error("CDS client allowlist {path}: {source}")]
    Allowlist {
        path: PathBuf,
        source: AllowlistError,
    },
}

/// Reads the allowlist file and every JWK Set it names (paths relative to the file's
/// directory): the settings and issuers to build the verifier from. The format is documented
/// on [`crate::auth::Verifier::from_config_file`].
pub(super) fn load(path: &Path) -> Result<(VerifierSettings, Vec<TrustedIssuer>), ConfigError> {
    let read_error = |source| ConfigError::Read {
        path: path.to_owned(),
        source,
    };
    let file = std::fs::File::open(path).map_err(read_error)?;
    let mut text = String::new();
    file.take(MAX_CONFIG_BYTES + 1)
        .read_to_string(&mut text)
        .map_err(read_error)?;
    if text.len() as u64 > MAX_CONFIG_BYTES {
        return Err(ConfigError::TooLarge {
            path: path.to_owned(),
            max: MAX_CONFIG_BYTES,
        });
    }
    let config: ConfigFile = toml::from_str(&text).map_err(|source| ConfigError::Parse {
        path: path.to_owned(),
        source,
    })?;
    let base = path.parent().unwrap_or(Path::new(""));
    let mut issuers = Vec::with_capacity(config.issuers.len());
    for entry in config.issuers {
        let jwks_path = base.join(&entry.jwks_path);
        let keys = KeySet::from_file(&jwks_path).map_err(|source| ConfigError::Jwks {
            path: path.to_owned(),
            iss: entry.iss.clone(),
            jwks_path: jwks_path.clone(),
            source,
        })?;
        issuers.push(TrustedIssuer {
            iss: entry.iss,
            jku: entry.jku,
            keys,
        });
    }
    Ok((config.settings, issuers))
}
