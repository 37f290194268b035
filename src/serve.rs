//! `livelab serve [TRIAL_FILE]`: parses the arguments, starts a `livelab_serve` session on the
//! trial's plugins, and prints the address it listens on (the first line on stdout).

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use livelab_serve::{
    AuthMode, DEFAULT_REQUEST_DEADLINE_MS, KeySource, PLUGIN_DEADLINE_MARGIN_MS, ServeOptions,
    Session, SessionOptions, serve,
};

use crate::args::CacheArgs;
use crate::trials::{load_trial, sample_package};

#[derive(Args)]
pub struct ServeArgs {
    /// The trial file (TOML) whose plugins are served. Default: the sample trial.
    file: Option<PathBuf>,
    /// The address to listen on (port 0: any free port; the bound address is printed).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    addr: SocketAddr,
    /// Shadow mode: evaluate and log every call, answer `{"cards": []}`.
    #[arg(long)]
    silent: bool,
    /// The issuer allowlist: each CDS client's `iss` and its JWK Set (TOML; see
    /// crates/cds-hooks). Every call must carry a JWT signed by one of them.
    #[arg(long, value_name = "FILE", required_unless_present = "no_auth")]
    issuers: Option<PathBuf>,
    /// No client authentication: only on a loopback address; every response says so
    /// (`X-Livelab-Auth: disabled`).
    #[arg(long, conflicts_with = "issuers")]
    no_auth: bool,
    /// The URL clients call, when it is not http://ADDR (behind a proxy): a token's `aud`
    /// must be this plus the path.
    #[arg(long, value_name = "URL")]
    base_url: Option<String>,
    /// Where the decision log goes.
    #[arg(long, value_name = "DIR", default_value = "livelab-serve-out")]
    out: PathBuf,
    /// The pseudonym key (as `livelab anonymise`): record keys are keyed pseudonyms of the
    /// patient id. Default: the trial file's `pseudonym_key`, else a random key for this
    /// session only.
    #[arg(long, value_name = "FILE")]
    key_file: Option<PathBuf>,
    /// Evaluations in flight at once. Default: one per core.
    #[arg(long, short = 'j')]
    jobs: Option<usize>,
    /// Calls that may wait for an evaluation slot; beyond them a call is answered 503 with
    /// `Retry-After: 1`. Default: as many as --jobs.
    #[arg(long, value_name = "N")]
    queue: Option<usize>,
    /// A call not answered within this is answered 503. Every plugin's own deadline is
    /// capped below it.
    #[arg(long, value_name = "MS", default_value_t = DEFAULT_REQUEST_DEADLINE_MS,
          value_parser = clap::value_parser!(u64).range(PLUGIN_DEADLINE_MARGIN_MS + 1..))]
    request_deadline_ms: u64,
    #[command(flatten)]
    cache: CacheArgs,
}

pub fn serve_trial(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let trial = load_trial(args.file.as_deref())?;
    let session = Session::start(
        &trial,
        SessionOptions {
            out: Some(args.out),
            key_file: args.key_file,
            workers: args.jobs,
            cache: args.cache.cache(),
            samples: &sample_package,
            request_deadline_ms: Some(args.request_deadline_ms),
        },
    )?;
    if session.key_source == KeySource::Random {
        eprintln!(
            "no --key-file and no pseudonym_key in the trial file: record keys are pseudonyms under a random key that lives only as long as this session"
        );
    }
    let log = session.decision_log_path();
    let feedback = session.feedback_log_path();
    let options = ServeOptions {
        addr: args.addr,
        auth: match args.issuers {
            Some(path) => AuthMode::Issuers(path),
            None => AuthMode::Disabled,
        },
        silent: args.silent,
        base_url: args.base_url,
        request_deadline: Duration::from_millis(args.request_deadline_ms),
        queue: args.queue,
    };
    serve(session, options, |addr| {
        println!("http://{addr}");
        let _ = std::io::stdout().flush();
        eprintln!(
            "serving {} as CDS Hooks services at http://{addr}/cds-services; decision log {}, feedback {}",
            trial.spec.name,
            log.display(),
            feedback.display()
        );
    })?;
    Ok(ExitCode::SUCCESS)
}
