//! `livelab dashboard`: the run registry as web pages. Parses the arguments, starts
//! `livelab_dashboard` and prints the address it listens on (the first line on stdout).

use std::io::Write as _;
use std::net::SocketAddr;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Args;
use livelab_registry::RegistryUrl;

#[derive(Args)]
pub struct DashboardArgs {
    /// The run registry: sqlite://FILE or postgres://USER@HOST:PORT/DATABASE. Default:
    /// $LIVELAB_REGISTRY, else registry.sqlite in the platform's data directory.
    #[arg(long, value_name = "URL")]
    registry: Option<String>,
    /// The address to listen on (port 0: any free port; the bound address is printed). The
    /// pages have no login: keep it on a loopback address, or behind a proxy that has one.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8090")]
    addr: SocketAddr,
}

pub fn dashboard(args: DashboardArgs) -> anyhow::Result<ExitCode> {
    let url = RegistryUrl::resolve(args.registry.as_deref())?;
    livelab_dashboard::serve(&url, args.addr, |addr| {
        println!("http://{addr}");
        let _ = std::io::stdout().flush();
        eprintln!("the dashboard of the registry {url} is at http://{addr}/ (Ctrl-C stops it)");
    })
    .with_context(|| format!("serving the dashboard of the registry {url}"))?;
    Ok(ExitCode::SUCCESS)
}
