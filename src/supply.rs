//! The supply chain: `package`, `keygen`, `sign`, `verify` and `check` — what a publisher
//! does to ship a plugin and what a region's reviewer does before admitting it.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context as _, bail};
use clap::Args;
use livelab_host::package::manifest::{LoadedManifest, PluginSource, SIGNATURE_FILE};
use livelab_host::package::signing::{self, PluginSignature, SecretKey, TrustPolicy};
use livelab_host::plugin::write_package::{PackageRequest, write_package};
use livelab_host::sandbox::LimitOverrides;
use livelab_host::{ArtifactCache, EvaluationContext, Limits, LoadOptions, Plugin, RecordReader};

use crate::terminal::progress;

#[derive(Args)]
pub struct PackageArgs {
    /// The plugin component (.wasm).
    component: PathBuf,
    /// The package directory to write (created; must not hold another package).
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// Who publishes the plugin (as it will appear to reviewers).
    #[arg(long)]
    publisher: String,
    /// A directory of read-only data to ship and grant (mounted at /data in the plugin).
    #[arg(long, value_name = "DIR")]
    data: Option<PathBuf>,
}

#[derive(Args)]
pub struct KeygenArgs {
    /// Where to write the secret key (never overwritten; keep it like a password).
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
    /// The publisher name to print in the trust-policy entry.
    #[arg(long, default_value = "my organisation")]
    publisher: String,
}

#[derive(Args)]
pub struct SignArgs {
    /// The plugin package (directory holding plugin.toml).
    package: PathBuf,
    /// The publisher's secret key (`livelab keygen`).
    #[arg(long, value_name = "FILE")]
    key: PathBuf,
}

#[derive(Args)]
pub struct VerifyArgs {
    /// The plugin package (directory holding plugin.toml).
    package: PathBuf,
    /// The region's trust policy.
    #[arg(long, value_name = "FILE")]
    trust: PathBuf,
}

#[derive(Args)]
pub struct CheckArgs {
    /// A plugin package (directory or plugin.toml) or a bare component (.wasm).
    plugin: PathBuf,
    /// The region's trust policy; without it every signature is untrusted.
    #[arg(long, value_name = "FILE")]
    trust: Option<PathBuf>,
    /// Accept a plugin without a trusted signature (local authoring).
    #[arg(long)]
    allow_unsigned: bool,
    /// The component SHA-256 the trial pins.
    #[arg(long, value_name = "HEX")]
    sha256: Option<String>,
    /// Records for the smoke run (the first readable one is used).
    #[arg(long, value_name = "PATH", default_value = crate::artifacts::SAMPLE_RECORDS)]
    records: PathBuf,
}

pub fn package(args: PackageArgs) -> anyhow::Result<ExitCode> {
    let packaged = write_package(
        &progress::sandbox(1)?,
        &progress::cache(ArtifactCache::default_dir()),
        &PackageRequest {
            component: &args.component,
            out: &args.out,
            publisher: &args.publisher,
            data: args.data.as_deref(),
            limits: LimitOverrides::default(),
            extra_dirs: &[],
            replace: false,
        },
    )?;
    println!(
        "packaged {} {} into {} (component sha256 {}); review it with `livelab check {}`, sign it with `livelab sign`",
        packaged.info.id,
        packaged.info.version,
        args.out.display(),
        packaged.sha256,
        args.out.display()
    );
    Ok(ExitCode::SUCCESS)
}

pub fn keygen(args: KeygenArgs) -> anyhow::Result<ExitCode> {
    let key = SecretKey::generate();
    key.write(&args.out)?;
    eprintln!(
        "wrote the secret key to {} (keep it private); give regions this entry for their trust policy:",
        args.out.display()
    );
    println!(
        "[[publisher]]\nname = {:?}\nkey = \"{}\"",
        args.publisher,
        key.public_key()
    );
    Ok(ExitCode::SUCCESS)
}

fn open_package(path: &Path) -> anyhow::Result<LoadedManifest> {
    match PluginSource::open(path)? {
        PluginSource::Package(manifest) => Ok(*manifest),
        PluginSource::Component(_) => bail!(
            "{} is a bare component, not a package; package it first (`livelab package`)",
            path.display()
        ),
    }
}

pub fn sign(args: SignArgs) -> anyhow::Result<ExitCode> {
    let manifest = open_package(&args.package)?;
    let key = SecretKey::load(&args.key)?;
    // Signing vouches for the component the manifest pins: check it is the one present.
    let component = std::fs::read(&manifest.component_path)
        .with_context(|| format!("reading {}", manifest.component_path.display()))?;
    if manifest.component_mismatch(&component).is_some() {
        bail!(
            "{} does not match the sha256 in {}; re-package before signing",
            manifest.component_path.display(),
            manifest.path.display()
        );
    }
    let mut signature = signing::sign(&manifest.bytes, &key, &manifest.manifest.plugin.publisher);
    signature.signed_at = Some(jiff::Timestamp::now().to_string());
    let path = manifest
        .path
        .parent()
        .unwrap_or(Path::new("."))
        .join(SIGNATURE_FILE);
    signature.write(&path)?;
    println!(
        "signed {} as {} with {}; wrote {}",
        manifest.path.display(),
        manifest.manifest.plugin.publisher,
        key.public_key(),
        path.display()
    );
    Ok(ExitCode::SUCCESS)
}

pub fn verify(args: VerifyArgs) -> anyhow::Result<ExitCode> {
    let manifest = open_package(&args.package)?;
    let policy = TrustPolicy::load(&args.trust)?;
    let signature = manifest
        .signature_path
        .as_deref()
        .map(PluginSignature::load)
        .transpose()?;
    let status = signing::verify(&manifest.bytes, signature.as_ref(), &policy);
    let component = std::fs::read(&manifest.component_path)
        .with_context(|| format!("reading {}", manifest.component_path.display()))?;
    let component_ok = manifest.component_mismatch(&component).is_none();
    println!("{}: {status}", manifest.path.display());
    if !component_ok {
        println!(
            "{}: does NOT match the sha256 the manifest pins: the component was changed",
            manifest.component_path.display()
        );
    }
    Ok(if status.is_trusted() && component_ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// What a reviewer needs, in one screen; exits non-zero on anything a trial would refuse.
pub fn check(args: CheckArgs) -> anyhow::Result<ExitCode> {
    let trust = Arc::new(TrustPolicy::load_or_empty(args.trust.as_deref())?);
    let sandbox = progress::sandbox(1)?;
    let cache = progress::cache(ArtifactCache::default_dir());
    let options = LoadOptions {
        limits: Limits::default(),
        overrides: Default::default(),
        expected_sha256: args.sha256.clone(),
        trust,
        allow_unsigned: args.allow_unsigned,
    };
    let plugin = match Plugin::load(&sandbox, &cache, &args.plugin, &options) {
        Ok(plugin) => plugin,
        Err(e) => {
            print!("{}", describe_unloadable(&args.plugin));
            println!("verdict     REFUSED: {e}");
            return Ok(ExitCode::FAILURE);
        }
    };
    let mut out = String::new();
    let info = &plugin.info;
    let w = &mut out;
    writeln!(
        w,
        "plugin      {} {} — {}",
        info.id, info.version, info.name
    )?;
    writeln!(w, "            {}", info.description)?;
    match &plugin.manifest {
        Some(m) => {
            writeln!(
                w,
                "package     {} (publisher {:?}, manifest sha256 {})",
                m.path.display(),
                m.manifest.plugin.publisher,
                m.sha256
            )?;
        }
        None => writeln!(
            w,
            "package     none: a bare component (no manifest, no grants; package it for a trial)"
        )?,
    }
    writeln!(w, "component   {}", plugin.component_path.display())?;
    writeln!(
        w,
        "sha256      {} ({})",
        plugin.sha256,
        if plugin.pinned {
            "matches the pin"
        } else {
            "not pinned"
        }
    )?;
    writeln!(w, "signature   {}", plugin.signature)?;
    writeln!(
        w,
        "interface   exports {} (world {}/plugin, version {})",
        livelab_host::wit::EVALUATOR_EXPORT,
        livelab_host::wit::PACKAGE,
        livelab_host::wit::PACKAGE_VERSION
    )?;
    writeln!(
        w,
        "imports     (all provided by the host; nothing else can be imported)"
    )?;
    for import in plugin.imports(sandbox.engine()) {
        writeln!(
            w,
            "            {import}: {}",
            import_meaning(&import, &plugin)
        )?;
    }
    writeln!(w, "reads       age and sex, and:")?;
    if info.data_needs.is_empty() {
        writeln!(w, "            nothing else")?;
    }
    for need in &info.data_needs {
        writeln!(
            w,
            "            {}",
            livelab_host::package::manifest::ManifestDataNeed::from_wit(need)
        )?;
    }
    match &plugin.data_dir {
        Some(dir) => writeln!(
            w,
            "grants      data: {} (read-only at /data, tree sha256 {})",
            dir.display(),
            plugin
                .manifest
                .as_ref()
                .and_then(|m| m.manifest.grants.data_sha256.as_deref())
                .unwrap_or("-")
        )?,
        None => writeln!(w, "grants      none")?,
    }
    writeln!(w, "limits      {}", describe_limits(&plugin.limits))?;
    if let Some(m) = &plugin.manifest
        && m.manifest.limits != Default::default()
    {
        writeln!(
            w,
            "            (the manifest asks for: {})",
            toml::to_string(&m.manifest.limits)?
                .trim()
                .replace('\n', ", ")
        )?;
    }
    let (smoke, smoke_ok) = smoke_run(&sandbox, &plugin, &args.records)?;
    writeln!(w, "smoke run   {smoke}")?;
    if smoke_ok {
        writeln!(w, "verdict     accepted for a trial under this policy")?;
    } else {
        writeln!(w, "verdict     REFUSED: the smoke run failed")?;
    }
    print!("{out}");
    Ok(if smoke_ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// What can be said of a plugin that did not load: its manifest, if it has one.
fn describe_unloadable(path: &Path) -> String {
    let mut out = String::new();
    if let Ok(PluginSource::Package(m)) = PluginSource::open(path) {
        let p = &m.manifest.plugin;
        let _ = writeln!(
            out,
            "plugin      {} {} (publisher {:?}, from its manifest {})",
            p.id,
            p.version,
            p.publisher,
            m.path.display()
        );
        let _ = writeln!(
            out,
            "component   {} (manifest pins {})",
            m.component_path.display(),
            p.sha256
        );
    } else {
        let _ = writeln!(out, "plugin      {}", path.display());
    }
    out
}

fn import_meaning(import: &str, plugin: &Plugin) -> &'static str {
    let interface = import.split('@').next().unwrap_or(import);
    match interface {
        "livelab:cds/log" => "diagnostic log, bounded in lines and bytes",
        "wasi:filesystem/types" | "wasi:filesystem/preopens" => {
            if plugin.data_dir.is_some() {
                "files: only the granted data directory, read-only at /data"
            } else {
                "files: none (no directory is opened to the plugin)"
            }
        }
        "wasi:cli/environment" => "environment and arguments: empty",
        "wasi:clocks/wall-clock" => "wall clock: frozen at midnight UTC of the evaluation date",
        "wasi:clocks/monotonic-clock" => "monotonic clock: virtual, starts at 0",
        "wasi:random/random" | "wasi:random/insecure" | "wasi:random/insecure-seed" => {
            "randomness: seeded per evaluation (reproducible)"
        }
        "wasi:cli/stdout" | "wasi:cli/stderr" => "captured into the bounded log",
        "wasi:cli/stdin" => "empty",
        "livelab:cds/types" => "type definitions only (no functions)",
        "wasi:cli/exit" => "ends the evaluation (reported as an error)",
        i if i.starts_with("wasi:sockets/") => "network: denied (every socket call fails)",
        i if i.starts_with("wasi:io/") => "streams for the above",
        i if i.starts_with("wasi:cli/terminal") => "no terminal",
        _ => "provided by WASI p2, with nothing granted",
    }
}

fn describe_limits(l: &Limits) -> String {
    format!(
        "deadline {} ms · fuel {} · memory {} MiB · table {} elements · {} cards · {} KiB card text ({} KiB per string) · {} log lines / {} KiB · stack {} KiB (host-wide)",
        l.deadline_ms,
        l.fuel
            .map_or("unlimited (metered)".to_owned(), |f| f.to_string()),
        l.memory_bytes >> 20,
        l.table_elements,
        l.max_cards,
        l.max_output_bytes >> 10,
        l.max_string_bytes >> 10,
        l.max_log_lines,
        l.max_log_bytes >> 10,
        livelab_host::sandbox::STACK_BYTES >> 10,
    )
}

/// One evaluation on the first readable record of `records`, and whether it succeeded.
fn smoke_run(
    sandbox: &livelab_host::Sandbox,
    plugin: &Plugin,
    records: &Path,
) -> anyhow::Result<(String, bool)> {
    let (date, _) = progress::evaluation_date(None, records)?;
    let mut reader = RecordReader::open(records, date)?;
    let Some(record) = reader.by_ref().find_map(Result::ok) else {
        return Ok((
            format!("skipped: no readable record in {}", records.display()),
            true,
        ));
    };
    let ctx = EvaluationContext {
        evaluation_date: date,
        seed: 0,
        keep_inputs: false,
    };
    let outcome = plugin.evaluate(sandbox, &record, &ctx);
    let result = match &outcome.result {
        Ok(cards) => format!(
            "ok, {} card(s){}",
            cards.len(),
            cards
                .first()
                .map(|c| format!(" (first: {} — {})", c.indicator.as_str(), c.summary))
                .unwrap_or_default()
        ),
        Err(failure) => format!("FAILED: {failure}"),
    };
    Ok((
        format!(
            "record {} from {}: {result}; {:.2} ms, fuel {}, peak memory {} KiB",
            record.key,
            records.display(),
            outcome.latency_ns as f64 / 1e6,
            outcome.fuel,
            outcome.peak_memory_bytes >> 10
        ),
        outcome.result.is_ok(),
    ))
}
