//! Compiling a component under bounds.
//!
//! Compiling is the one step that runs before any sandbox limit applies, and its cost is set by
//! the component: a 58 KB component whose one function nests 4,000 blocks around a `br_table`
//! takes 15 s and 1.5 GB to compile, and cost grows about with the cube of its size (a 170 KB
//! one took 242 s and 4.6 GiB). So, before compiling, the component's structure is checked
//! with wasmparser (its size, its number of functions, its largest function body, its table
//! sizes), and then the compiler runs in a child process with an address-space limit and a
//! timeout. A bound that stops a component names itself and the flag that raises it, for a
//! region that trusts the plugin.
//!
//! The child is the host's own executable, which must route its hidden `compile-worker`
//! command to [`worker`]; the CLI does. A library user that compiles only trusted components
//! can compile in process ([`Compiler::InProcess`]): the structural checks still apply.

use std::io::{Read as _, Write as _};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use wasmparser::{Parser, Payload};

use crate::sandbox::{Limits, compiler_engine};

/// The bounds a component's compilation runs under.
#[derive(Clone, Debug, PartialEq)]
pub struct CompileBounds {
    /// Largest component accepted, in bytes. The shipped Python plugin is 18.4 MB.
    pub max_component_bytes: u64,
    /// Most core functions, over all core modules. The Python runtime has 13,355.
    pub max_functions: u64,
    /// Largest function body, in bytes. The Python runtime's largest is 427 KB.
    pub max_function_body_bytes: u64,
    /// How long the compiler process may run. The JavaScript plugin compiles in 10 s on
    /// 2 cores.
    pub timeout: Duration,
    /// The compiler process's address-space limit. Compiling the JavaScript plugin peaks at
    /// 470 MB resident.
    pub address_space_bytes: u64,
    pub compiler: Compiler,
}

impl Default for CompileBounds {
    fn default() -> Self {
        CompileBounds {
            max_component_bytes: 64 << 20,
            max_functions: 100_000,
            max_function_body_bytes: 2 << 20,
            timeout: Duration::from_secs(120),
            address_space_bytes: 4 << 30,
            compiler: Compiler::InProcess,
        }
    }
}

/// Where the compiler runs.
#[derive(Clone, Debug, PartialEq)]
pub enum Compiler {
    /// In this process, with no time or memory bound: for trusted components only.
    InProcess,
    /// In a child process: `program args... --meter-fuel B --address-space-bytes N`, which
    /// must call [`worker`].
    Child { program: PathBuf, args: Vec<String> },
}

/// Which bound stopped a compilation, or why it failed.
#[derive(Debug, thiserror::Error)]
pub enum CompileError {
    #[error(
        "the component is {bytes} bytes, over the bound of {bound} (--compile-max-mib raises it for a plugin you trust)"
    )]
    TooLarge { bytes: u64, bound: u64 },
    #[error(
        "the component defines {count} functions, over the bound of {bound} (--compile-max-functions raises it for a plugin you trust)"
    )]
    TooManyFunctions { count: u64, bound: u64 },
    #[error(
        "function {index} has a body of {bytes} bytes, over the bound of {bound} (--compile-max-body-kib raises it for a plugin you trust)"
    )]
    FunctionTooLarge { index: u64, bytes: u64, bound: u64 },
    #[error(
        "table {index} starts with {initial} elements, more than the host's ceiling of {ceiling} (no limit can go past it)"
    )]
    TableTooLarge {
        index: u64,
        initial: u64,
        ceiling: u64,
    },
    #[error(
        "compiling it took longer than {secs} s and was stopped (--compile-timeout-secs raises the bound for a plugin you trust)"
    )]
    Timeout { secs: u64 },
    #[error(
        "compiling it needed more than {mib} MiB of address space and was stopped (--compile-memory-mib raises the bound for a plugin you trust)"
    )]
    Memory { mib: u64 },
    /// The component is not valid WebAssembly (wasmparser's or wasmtime's message).
    #[error("{0}")]
    Invalid(String),
    #[error("the compiler process failed: {0}")]
    Process(String),
}

/// Checks the component's structure against `bounds` without compiling it.
pub fn check_structure(bytes: &[u8], bounds: &CompileBounds) -> Result<(), CompileError> {
    let size = bytes.len() as u64;
    if size > bounds.max_component_bytes {
        return Err(CompileError::TooLarge {
            bytes: size,
            bound: bounds.max_component_bytes,
        });
    }
    let ceiling = Limits::ceiling().table_elements as u64;
    let (mut functions, mut tables) = (0u64, 0u64);
    for payload in Parser::new(0).parse_all(bytes) {
        // What does not parse is left to the compiler, whose message is the one users know.
        let Ok(payload) = payload else { return Ok(()) };
        match payload {
            Payload::CodeSectionEntry(body) => {
                let range = body.range();
                let body_bytes = (range.end - range.start) as u64;
                if body_bytes > bounds.max_function_body_bytes {
                    return Err(CompileError::FunctionTooLarge {
                        index: functions,
                        bytes: body_bytes,
                        bound: bounds.max_function_body_bytes,
                    });
                }
                functions += 1;
                if functions > bounds.max_functions {
                    return Err(CompileError::TooManyFunctions {
                        count: functions,
                        bound: bounds.max_functions,
                    });
                }
            }
            Payload::FunctionSection(section) => {
                let count = functions + u64::from(section.count());
                if count > bounds.max_functions {
                    return Err(CompileError::TooManyFunctions {
                        count,
                        bound: bounds.max_functions,
                    });
                }
            }
            Payload::TableSection(section) => {
                for table in section {
                    let Ok(table) = table else { return Ok(()) };
                    if table.ty.initial > ceiling {
                        return Err(CompileError::TableTooLarge {
                            index: tables,
                            initial: table.ty.initial,
                            ceiling,
                        });
                    }
                    tables += 1;
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// Compiles `bytes` for an engine with these code settings, under `bounds`: the serialised
/// artifact, for `Component::deserialize` on the sandbox's engine.
pub fn compile(
    bytes: &[u8],
    meter_fuel: bool,
    bounds: &CompileBounds,
) -> Result<Vec<u8>, CompileError> {
    check_structure(bytes, bounds)?;
    match &bounds.compiler {
        Compiler::InProcess => compile_here(bytes, meter_fuel),
        Compiler::Child { program, args } => {
            compile_in_child(program, args, bytes, meter_fuel, bounds)
        }
    }
}

fn compile_here(bytes: &[u8], meter_fuel: bool) -> Result<Vec<u8>, CompileError> {
    let engine = compiler_engine(meter_fuel).map_err(|e| CompileError::Process(e.to_string()))?;
    engine
        .precompile_component(bytes)
        .map_err(|e| CompileError::Invalid(format!("{e:#}")))
}

fn compile_in_child(
    program: &PathBuf,
    args: &[String],
    bytes: &[u8],
    meter_fuel: bool,
    bounds: &CompileBounds,
) -> Result<Vec<u8>, CompileError> {
    let process = |what: &str, e: std::io::Error| {
        CompileError::Process(format!("{what} {}: {e}", program.display()))
    };
    let mut child = Command::new(program)
        .args(args)
        .arg("--meter-fuel")
        .arg(meter_fuel.to_string())
        .arg("--address-space-bytes")
        .arg(bounds.address_space_bytes.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| process("starting", e))?;
    // Feed and drain on threads, so that neither side blocks on a full pipe.
    let mut stdin = child.stdin.take().expect("stdin is piped");
    let input = bytes.to_vec();
    let feeder = std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let drain = |pipe: Option<Box<dyn std::io::Read + Send>>| {
        std::thread::spawn(move || {
            let mut out = Vec::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_end(&mut out);
            }
            out
        })
    };
    let stdout = drain(child.stdout.take().map(|p| Box::new(p) as _));
    let stderr = drain(child.stderr.take().map(|p| Box::new(p) as _));
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().map_err(|e| process("waiting for", e))? {
            break status;
        }
        if start.elapsed() > bounds.timeout {
            let _ = child.kill();
            let _ = child.wait();
            return Err(CompileError::Timeout {
                secs: bounds.timeout.as_secs(),
            });
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let _ = feeder.join();
    let stdout = stdout.join().unwrap_or_default();
    let stderr = String::from_utf8_lossy(&stderr.join().unwrap_or_default()).into_owned();
    if status.success() {
        return Ok(stdout);
    }
    // Out of address space shows as a failed allocation (Rust aborts), a failed mmap or a
    // thread that could not start, depending on where the compiler was when it hit the limit.
    const OUT_OF_MEMORY: [&str; 4] = [
        "memory allocation of",
        "Cannot allocate memory",
        "failed to spawn",
        "out of memory",
    ];
    if OUT_OF_MEMORY.iter().any(|needle| stderr.contains(needle)) {
        return Err(CompileError::Memory {
            mib: bounds.address_space_bytes >> 20,
        });
    }
    match stderr.strip_prefix(INVALID_PREFIX) {
        Some(message) if status.code() == Some(i32::from(INVALID_EXIT)) => {
            Err(CompileError::Invalid(message.trim_end().to_owned()))
        }
        _ => Err(CompileError::Process(format!(
            "{status}{}",
            stderr
                .lines()
                .last()
                .map(|l| format!(": {}", crate::text::escape_hidden(l)))
                .unwrap_or_default()
        ))),
    }
}

/// The worker's exit code and message prefix for a component that is not valid.
const INVALID_EXIT: u8 = 3;
const INVALID_PREFIX: &str = "invalid component: ";

/// The child's side: limits its own address space, reads a component on stdin, writes the
/// compiled artifact on stdout. Returns the process's exit code.
pub fn worker(meter_fuel: bool, address_space_bytes: u64) -> u8 {
    use rustix::process::{Resource, Rlimit, setrlimit};
    let limit = Rlimit {
        current: Some(address_space_bytes),
        maximum: Some(address_space_bytes),
    };
    if let Err(e) = setrlimit(Resource::As, limit) {
        eprintln!("cannot limit the compiler's address space: {e}");
        return 1;
    }
    let mut bytes = Vec::new();
    if let Err(e) = std::io::stdin().read_to_end(&mut bytes) {
        eprintln!("reading the component: {e}");
        return 1;
    }
    match compile_here(&bytes, meter_fuel) {
        Ok(artifact) => match std::io::stdout().write_all(&artifact) {
            Ok(()) => 0,
            Err(e) => {
                eprintln!("writing the artifact: {e}");
                1
            }
        },
        Err(CompileError::Invalid(message)) => {
            eprint!("{INVALID_PREFIX}{message}");
            INVALID_EXIT
        }
        Err(e) => {
            eprintln!("{e}");
            1
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A core module of `functions` empty functions and one table of `table` elements,
    /// in binary form (a component's structure is read the same way, module by module).
    fn module(functions: usize, table: u64) -> Vec<u8> {
        let funcs = "(func)".repeat(functions);
        wat::parse_str(format!("(module (table {table} funcref) {funcs})")).unwrap()
    }

    #[test]
    fn each_structural_bound_names_itself() {
        let bounds = CompileBounds {
            max_functions: 3,
            ..CompileBounds::default()
        };
        assert!(check_structure(&module(3, 10), &bounds).is_ok());
        let error = check_structure(&module(4, 10), &bounds).unwrap_err();
        assert!(
            matches!(error, CompileError::TooManyFunctions { count: 4, bound: 3 }),
            "{error}"
        );
        assert!(
            error.to_string().contains("--compile-max-functions"),
            "{error}"
        );

        let error = check_structure(&module(1, 1_000_001), &bounds).unwrap_err();
        assert!(
            matches!(
                error,
                CompileError::TableTooLarge {
                    index: 0,
                    initial: 1_000_001,
                    ceiling: 1_000_000
                }
            ),
            "{error}"
        );

        let small = CompileBounds {
            max_component_bytes: 8,
            ..CompileBounds::default()
        };
        let error = check_structure(&module(1, 1), &small).unwrap_err();
        assert!(
            matches!(error, CompileError::TooLarge { bound: 8, .. }),
            "{error}"
        );
        assert!(error.to_string().contains("--compile-max-mib"), "{error}");

        let tiny_bodies = CompileBounds {
            max_function_body_bytes: 1,
            ..CompileBounds::default()
        };
        let error = check_structure(&module(2, 1), &tiny_bodies).unwrap_err();
        assert!(
            matches!(
                error,
                CompileError::FunctionTooLarge {
                    index: 0,
                    bytes: 2,
                    bound: 1
                }
            ),
            "{error}"
        );
    }

    #[test]
    fn what_does_not_parse_is_left_to_the_compiler_and_called_invalid() {
        let garbage = b"\0asm\x0d\0\x01\0garbage";
        assert!(check_structure(garbage, &CompileBounds::default()).is_ok());
        let error = compile(garbage, true, &CompileBounds::default()).unwrap_err();
        assert!(matches!(error, CompileError::Invalid(_)), "{error}");
    }
}
