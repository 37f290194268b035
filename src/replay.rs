//! `livelab replay LOG`: re-runs every evaluation of a decision log from what the log holds
//! (the component, pinned by hash; the exact input; the limits; the seed)
//! and checks that each gives the same output, byte for byte.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use clap::Args;
use livelab_host::package::signing::TrustPolicy;
use livelab_host::run::decision_log::{self, input_sha256, output_json};
use livelab_host::sandbox::StoreSetup;
use livelab_host::wit::Card;
use livelab_host::{ArtifactCache, Failure, LoadOptions, Plugin};

use crate::terminal::progress;

#[derive(Args)]
pub struct ReplayArgs {
    /// A decision log written by `run --decision-log` or a trial's `[decision_log]`.
    log: PathBuf,
    /// Show every evaluation, not just the differences.
    #[arg(long, short)]
    verbose: bool,
}

pub fn replay(args: ReplayArgs) -> anyhow::Result<ExitCode> {
    let decisions = decision_log::read(&args.log)?;
    let sandbox = progress::sandbox(1)?;
    let cache = progress::cache(ArtifactCache::default_dir());
    let mut plugins: HashMap<(String, String), Plugin> = HashMap::new();
    let (mut identical, mut different, mut unreplayable) = (0u64, 0u64, 0u64);
    for logged in &decisions {
        let (line, plugin, decision) = (logged.line, &logged.plugin, &logged.decision);
        let what = format!(
            "line {line}: {} on {}",
            plugin.id,
            decision.record.as_deref().unwrap_or("(record omitted)")
        );
        let Some(input) = &decision.input else {
            println!("{what}: NOT REPLAYABLE: the log omits the input (decision_log omit)");
            unreplayable += 1;
            continue;
        };
        if input_sha256(input) != decision.input_sha256 {
            println!(
                "{what}: NOT REPLAYABLE: the logged input does not match its hash (the log was edited)"
            );
            unreplayable += 1;
            continue;
        }
        let key = (plugin.path.clone(), plugin.sha256.clone());
        if !plugins.contains_key(&key) {
            let options = LoadOptions {
                limits: decision.limits.clone(),
                overrides: Default::default(),
                // The exact component that ran, or nothing.
                expected_sha256: Some(plugin.sha256.clone()),
                trust: Arc::new(TrustPolicy::empty()),
                allow_unsigned: true,
            };
            let plugin = Plugin::load(&sandbox, &cache, key.0.as_ref(), &options)
                .with_context(|| format!("{}, {what}", args.log.display()))?;
            plugins.insert(key.clone(), plugin);
        }
        let plugin = plugins.get_mut(&key).expect("inserted above");
        // Output checks use the logged limits, not whatever the manifest now asks for.
        plugin.limits = decision.limits.clone();
        let setup = StoreSetup {
            limits: decision.limits.clone(),
            random_seed: decision.random_seed,
            data_dir: plugin.data_dir.clone(),
        };
        let outcome = plugin.evaluate_request(&sandbox, input, &setup);
        let (_, sha256) = output_json(&outcome.result);
        let replayed = summary_of_result(&outcome.result);
        if sha256 == decision.output_sha256 {
            identical += 1;
            if args.verbose {
                println!("{what}: identical ({replayed})");
            }
        } else {
            different += 1;
            println!(
                "{what}: DIFFERENT: logged {}, replayed {}",
                decision
                    .output
                    .as_ref()
                    .map_or("(output omitted)".into(), |raw| summary_of_logged(raw)),
                replayed
            );
        }
    }
    println!(
        "replayed {} evaluation(s) from {}: {identical} identical, {different} different, {unreplayable} not replayable",
        decisions.len(),
        args.log.display()
    );
    Ok(if different == 0 && unreplayable == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// "ok, 2 card(s)" or "error: deadline-exceeded", of a replayed result.
fn summary_of_result(result: &Result<Vec<Card>, Failure>) -> String {
    match result {
        Ok(cards) => format!("ok, {} card(s)", cards.len()),
        Err(failure) => format!("error: {}", failure.cause()),
    }
}

/// The same of a logged output (as the file has it: read, not trusted to be well formed).
fn summary_of_logged(raw: &serde_json::value::RawValue) -> String {
    let output: serde_json::Value = serde_json::from_str(raw.get()).unwrap_or_default();
    match output["status"].as_str() {
        Some("ok") => format!(
            "ok, {} card(s)",
            output["cards"].as_array().map_or(0, Vec::len)
        ),
        // The log is a file anyone could have edited: what it says is escaped before it is
        // printed.
        _ => format!(
            "error: {}",
            livelab_host::text::escape_hidden(
                output["error"]["cause"].as_str().unwrap_or("unknown")
            )
        ),
    }
}
