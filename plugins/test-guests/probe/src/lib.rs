//! Test guest `probe`: tries each capability a plugin might reach for through WASI and
//! reports what it observed, one card per probe, summary `<probe>: <observation>`. The host
//! tests assert on exactly what the plugin saw, so that "denied" means the attempt was made
//! and refused, and "virtual" clocks and randomness are checked by their values.
//!
//! Probes (at most 20 cards, the host's default bound; summaries stay under 140 chars):
//! - file system: reads and listings of absolute, relative and `..` paths, `/proc`, a write
//!   to `/tmp`; and the `/data` grant a packaged plugin may get (a read, an escape from it
//!   with `..`, a write to it, which a read-only grant refuses);
//! - environment: variables, arguments, working directory;
//! - clocks: wall clock (WASI and std), monotonic clock (two readings);
//! - randomness: secure bytes, insecure bytes, insecure seed;
//! - network: TCP connect (WASI, and std in the same card), UDP bind, name lookup.

use std::io;

use livelab_plugin_sdk::{
    Card, EvaluationError, Guest, HookKind, Indicator, PluginInfo, Request, Source,
};

pub struct Probe;

impl Guest for Probe {
    fn describe() -> PluginInfo {
        PluginInfo {
            id: "probe".into(),
            name: "Probe (test guest)".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "Tries every WASI capability and reports what it observed.".into(),
            hooks: vec![HookKind::PatientView, HookKind::OrderSign],
            data_needs: vec![],
        }
    }

    fn evaluate(_request: Request) -> Result<Vec<Card>, EvaluationError> {
        let source = Source::for_plugin("livelab probe test guest", "probe");
        Ok(observations()
            .into_iter()
            .map(|(probe, seen)| {
                let mut summary = format!("{probe}: {seen}");
                truncate(&mut summary, 139);
                Card::new(summary, Indicator::Info, source.clone())
            })
            .collect())
    }
}

fn truncate(text: &mut String, chars: usize) {
    if let Some((i, _)) = text.char_indices().nth(chars) {
        text.truncate(i);
    }
}

fn denied(e: &io::Error) -> String {
    format!("denied ({:?})", e.kind())
}

/// A printable excerpt of what was read, on one line.
fn excerpt(bytes: &[u8]) -> String {
    let mut text: String = String::from_utf8_lossy(bytes)
        .chars()
        .map(|c| if c.is_control() { '|' } else { c })
        .collect();
    truncate(&mut text, 60);
    text
}

fn read(path: &str) -> String {
    match std::fs::read(path) {
        Ok(bytes) => format!("READ {} bytes: {}", bytes.len(), excerpt(&bytes)),
        Err(e) => denied(&e),
    }
}

fn list(path: &str) -> String {
    match std::fs::read_dir(path) {
        Ok(entries) => {
            let names: Vec<String> = entries
                .filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect();
            format!("LISTED {} entries: {}", names.len(), names.join(","))
        }
        Err(e) => denied(&e),
    }
}

fn write(path: &str) -> String {
    match std::fs::write(path, b"written by the livelab probe guest") {
        Ok(()) => "WROTE".into(),
        Err(e) => denied(&e),
    }
}

fn observations() -> Vec<(&'static str, String)> {
    let mut seen = vec![
        ("fs read /etc/passwd", read("/etc/passwd")),
        ("fs list /", list("/")),
        ("fs list .", list(".")),
        ("fs list ..", list("..")),
        ("fs read /proc/self/environ", read("/proc/self/environ")),
        ("fs list sample-records", list("sample-records")),
        (
            "fs write /tmp/livelab-probe.txt",
            write("/tmp/livelab-probe.txt"),
        ),
        ("data read /data/table.csv", read("/data/table.csv")),
        ("data read /data/../etc/passwd", read("/data/../etc/passwd")),
        ("data list /data/../..", list("/data/../..")),
        ("data write /data/table.csv", write("/data/table.csv")),
        ("env", format!("{} vars", std::env::vars_os().count())),
        ("args", std::env::args_os().count().to_string()),
        (
            "cwd",
            match std::env::current_dir() {
                Ok(dir) => format!("{}", dir.display()),
                Err(e) => denied(&e),
            },
        ),
    ];
    seen.extend(wasi::clocks());
    seen.extend(wasi::randomness());
    seen.extend(wasi::network());
    seen
}

/// What a plain `std` plugin gets for a TCP connection (through the same WASI sockets).
#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
fn std_tcp_connect() -> String {
    match std::net::TcpStream::connect(("127.0.0.1", 80)) {
        Ok(_) => "CONNECTED".into(),
        Err(e) => denied(&e),
    }
}

#[cfg(target_arch = "wasm32")]
mod wasi {
    use std::fmt::Write as _;

    use wasip2::sockets::network::{
        ErrorCode, IpAddressFamily, IpSocketAddress, Ipv4SocketAddress,
    };
    use wasip2::sockets::{instance_network, ip_name_lookup, tcp_create_socket, udp_create_socket};

    pub fn clocks() -> Vec<(&'static str, String)> {
        let wall = wasip2::clocks::wall_clock::now();
        let std_secs = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or_else(|_| "before 1970".to_string(), |d| d.as_secs().to_string());
        let first = wasip2::clocks::monotonic_clock::now();
        let second = wasip2::clocks::monotonic_clock::now();
        vec![
            (
                "wall clock",
                format!(
                    "{} s {} ns, std {std_secs} s",
                    wall.seconds, wall.nanoseconds
                ),
            ),
            ("monotonic", format!("{first} ns then {second} ns")),
        ]
    }

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().fold(String::new(), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
    }

    pub fn randomness() -> Vec<(&'static str, String)> {
        let secure = wasip2::random::random::get_random_bytes(8);
        let insecure = wasip2::random::insecure::get_insecure_random_bytes(8);
        let (a, b) = wasip2::random::insecure_seed::insecure_seed();
        vec![(
            "random",
            format!(
                "secure {} insecure {} seed {a:016x}{b:016x}",
                hex(&secure),
                hex(&insecure)
            ),
        )]
    }

    fn code(e: ErrorCode) -> String {
        format!("denied ({})", e.name())
    }

    const LOOPBACK: (u8, u8, u8, u8) = (127, 0, 0, 1);

    fn tcp_connect() -> String {
        let network = instance_network::instance_network();
        let socket = match tcp_create_socket::create_tcp_socket(IpAddressFamily::Ipv4) {
            Ok(s) => s,
            Err(e) => return code(e),
        };
        let target = IpSocketAddress::Ipv4(Ipv4SocketAddress {
            port: 80,
            address: LOOPBACK,
        });
        if let Err(e) = socket.start_connect(&network, target) {
            return code(e);
        }
        socket.subscribe().block();
        match socket.finish_connect() {
            Ok(_) => "CONNECTED".into(),
            Err(e) => format!("attempted, then {}", e.name()),
        }
    }

    fn udp_bind() -> String {
        let network = instance_network::instance_network();
        let socket = match udp_create_socket::create_udp_socket(IpAddressFamily::Ipv4) {
            Ok(s) => s,
            Err(e) => return code(e),
        };
        let local = IpSocketAddress::Ipv4(Ipv4SocketAddress {
            port: 0,
            address: LOOPBACK,
        });
        if let Err(e) = socket.start_bind(&network, local) {
            return code(e);
        }
        socket.subscribe().block();
        match socket.finish_bind() {
            Ok(()) => "BOUND".into(),
            Err(e) => format!("attempted, then {}", e.name()),
        }
    }

    fn dns() -> String {
        let network = instance_network::instance_network();
        let stream = match ip_name_lookup::resolve_addresses(&network, "localhost") {
            Ok(s) => s,
            Err(e) => return code(e),
        };
        loop {
            match stream.resolve_next_address() {
                Ok(Some(address)) => return format!("RESOLVED {address:?}"),
                Ok(None) => return "resolved to nothing".into(),
                Err(ErrorCode::WouldBlock) => stream.subscribe().block(),
                Err(e) => return code(e),
            }
        }
    }

    pub fn network() -> Vec<(&'static str, String)> {
        vec![
            (
                "tcp connect 127.0.0.1:80",
                format!("{}; std: {}", tcp_connect(), super::std_tcp_connect()),
            ),
            ("udp bind 127.0.0.1:0", udp_bind()),
            ("dns localhost", dns()),
        ]
    }
}

/// Natively (a host build of the workspace) there is no WASI to probe.
#[cfg(not(target_arch = "wasm32"))]
mod wasi {
    pub fn clocks() -> Vec<(&'static str, String)> {
        Vec::new()
    }
    pub fn randomness() -> Vec<(&'static str, String)> {
        Vec::new()
    }
    pub fn network() -> Vec<(&'static str, String)> {
        Vec::new()
    }
}

#[cfg(target_arch = "wasm32")]
livelab_plugin_sdk::export!(Probe);
