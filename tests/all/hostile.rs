//! The hostile-plugin suite: components that try to break out of the sandbox, exhaust the
//! host or lose other evaluations, each in its own test. Every case asserts that the host
//! contains it with a clear, specific result and that it keeps running without losing
//! anything else:
//!
//! - a plugin that misbehaves while evaluating runs beside metformin-egfr ([`contained`]):
//!   the run completes, every (plugin, record) has its line, metformin's lines are exactly
//!   those of a run without the hostile plugin, and the host's own memory and time stay
//!   bounded ([`MAX_HOST_RSS`], [`RUN_TIMEOUT`]);
//! - a plugin that probes a capability reports what it observed as cards, and the case
//!   asserts on exactly what it saw;
//! - a component the host must not load at all is refused before any record is read, with
//!   an `error: ` line that names the file and what is wrong.
//!
//! Adding a class is one entry in the [`hostile_cases!`] table below, plus its guest: a
//! crate in `plugins/test-guests/<name>/` (`crates/test-programs/build.rs` finds it; add it to the members of
//! `plugins/Cargo.toml`; its path is `test_guests::<NAME>`), or a component built here from
//! WAT ([`wat_guest`]) for what Rust cannot express.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;

use crate::support::*;

/// Records of the cohort a hostile plugin runs on.
const PATIENTS: usize = 6;
/// The host's resident memory may not go past this in any hostile run. A legitimate run
/// here stays far below (a few hundred MiB at most with two workers at the 64 MiB cap); a
/// host that copies whatever a plugin points it at does not.
const MAX_HOST_RSS: u64 = 1 << 30;
/// No hostile run may take longer than this: every limit is per evaluation and short.
const RUN_TIMEOUT: Duration = Duration::from_secs(30);

// ------------------------------------------------------------------------------------------
// The table of classes.

/// The hostile component a case runs.
#[derive(Clone, Copy)]
enum Guest {
    /// A component built from `plugins/test-guests/` by `crates/test-programs` (`test_guests::*`).
    Built(&'static str),
    /// A file the case writes into the test's temporary directory: WAT-built components
    /// and broken bytes.
    Made(fn(&Path) -> PathBuf),
}

/// What the host must do with it.
enum Expect {
    /// Every evaluation fails with this cause, and its message contains each needle.
    Fails {
        cause: &'static str,
        message: &'static [&'static str],
    },
    /// The plugin ran, contained; the function checks what it did or saw.
    Check(fn(&Contained)),
    /// `livelab run` refuses the plugin before reading any record, with an `error: ` line
    /// that names the file and contains each needle.
    Refused(&'static [&'static str]),
}

struct Case {
    guest: Guest,
    /// Extra `livelab run` arguments (limits, seed, jobs).
    args: &'static [&'static str],
    expect: Expect,
}

/// One `#[test]` per case: `name: Case { .. },`.
macro_rules! hostile_cases {
    ($($(#[$doc:meta])* $name:ident: $case:expr,)+) => {
        $(
            $(#[$doc])*
            #[test]
            fn $name() {
                check(&$case);
            }
        )+
    };
}

use Expect::*;
use Guest::*;

hostile_cases! {
    // ------------------------------------------------------------ CPU, stack, memory, tables
    /// An endless loop is stopped by the deadline (epoch interruption), promptly. The
    /// deadline applies to the neighbour too, so it is long enough that a busy machine does not
    /// stop metformin-egfr (0.3 ms at p99 when idle; it failed once at 40 ms under two builds),
    /// and the fuel budget is the ceiling's (seconds of spinning), so the deadline comes first.
    an_endless_loop_hits_the_deadline: Case {
        guest: Built(test_guests::SPIN),
        args: &["--deadline-ms", "250", "--fuel", "100000000000"],
        expect: Check(|c| {
            assert_all_failed(&c.lines, "deadline-exceeded", &["longer than 250 ms"]);
            for line in &c.lines {
                let ms = line["latency_ns"].as_u64().unwrap() / 1_000_000;
                assert!((250..3_000).contains(&ms), "stopped after {ms} ms");
                // The interrupted loop's fuel was never stored: what was counted is only a
                // lower bound, and is not reported as the cost (issue 12, item 7).
                assert!(line.get("fuel").is_none(), "fuel reported as exact: {line}");
                assert!(line["fuel_at_least"].is_u64(), "no lower bound: {line}");
            }
            let spin = &plugin_summary(&c.summary, "spin");
            assert_eq!(spin["fuel"], Value::Null, "{spin}");
            assert_eq!(spin["fuel_lower_bounds"], c.lines.len(), "{spin}");
            // The neighbour's fuel stays exact.
            let neighbour = &plugin_summary(&c.summary, "metformin-egfr");
            assert_eq!(neighbour["fuel_lower_bounds"], 0, "{neighbour}");
            assert!(neighbour["fuel"]["max"].as_u64().unwrap() > 0, "{neighbour}");
        }),
    },
    /// `std::thread::sleep` for a day is a blocking host call (a WASI timer and
    /// `poll.block`), which epoch interruption cannot reach. The host's timers are virtual:
    /// the sleep ends at once, the plugin sees a day pass on its clock, and the evaluation
    /// stays far inside a 250 ms deadline (long enough for a busy machine, short beside a day).
    a_sleep_in_a_host_call_passes_virtual_time_only: Case {
        guest: Built(test_guests::SLEEP),
        args: &["--deadline-ms", "250"],
        expect: Check(|c| {
            for line in &c.lines {
                assert_eq!(line["status"], "ok", "{line}");
                assert_eq!(card_summaries(line), ["slept: 86400 s"], "{line}");
                let ms = line["latency_ns"].as_u64().unwrap() / 1_000_000;
                assert!(ms < 250, "a virtual sleep took {ms} ms");
            }
        }),
    },
    /// Under the default limits, the CPU bound is fuel, not wall time: the loop is stopped
    /// after exactly the budget on any machine, however busy (it was the 250 ms deadline,
    /// which load can reach; issue 12, item 11).
    an_endless_loop_under_the_default_limits_runs_out_of_fuel: Case {
        guest: Built(test_guests::SPIN),
        args: &[],
        expect: Fails {
            cause: "fuel-exhausted",
            message: &["its whole budget of 1000000000 fuel"],
        },
    },
    /// With a fuel budget, the same loop runs out of fuel (long before the deadline), and
    /// every successful evaluation reports the fuel it consumed.
    an_endless_loop_runs_out_of_fuel: Case {
        guest: Built(test_guests::SPIN),
        args: &["--fuel", "5000000", "--deadline-ms", "10000"],
        expect: Check(|c| {
            assert_all_failed(&c.lines, "fuel-exhausted", &["fuel", "5000000"]);
            for line in &c.neighbour {
                let fuel = line["fuel"].as_u64().unwrap_or_else(|| panic!("no fuel: {line}"));
                assert!((1..=5_000_000).contains(&fuel), "{line}");
            }
        }),
    },
    /// Unbounded recursion overflows the guest's WebAssembly stack, not the host's.
    deep_recursion_is_a_stack_overflow: Case {
        guest: Built(test_guests::RECURSE),
        args: &[],
        expect: Fails { cause: "stack-overflow", message: &["stack overflow"] },
    },
    /// Unbounded recursion with large frames overflows Rust's stack in linear memory first:
    /// an out-of-bounds access, a trap like any other stray pointer.
    deep_recursion_in_linear_memory_is_a_trap: Case {
        guest: Built(test_guests::RECURSE_SHADOW),
        args: &[],
        expect: Fails { cause: "trap", message: &["out of bounds memory access"] },
    },
    /// Unbounded allocation stops at the memory cap, and the peak never passes it.
    unbounded_allocation_hits_the_memory_cap: Case {
        guest: Built(test_guests::HOG),
        args: &["--memory-mib", "16"],
        expect: Check(|c| {
            assert_all_failed(&c.lines, "memory-limit", &["the cap is 16777216"]);
            for line in &c.lines {
                assert!(line["peak_memory_bytes"].as_u64().unwrap() <= 16 << 20, "{line}");
            }
        }),
    },
    /// Host resources (WASI timers) created without end and never dropped live in host
    /// memory the memory cap does not see: their number is bounded, and the evaluation
    /// ends as the plugin's failure, not the host's.
    leaking_host_resources_is_bounded: Case {
        guest: Built(test_guests::LEAK_HANDLES),
        args: &[],
        expect: Check(|c| {
            for line in &c.lines {
                assert_eq!(line["status"], "error", "{line}");
                let cause = line["error"]["cause"].as_str().unwrap();
                assert!(
                    !["host", "host-error", "deadline-exceeded"].contains(&cause),
                    "not a specific cause: {line}"
                );
            }
        }),
    },
    /// `table.grow` in a loop stops at the table cap (20,000 elements by default).
    table_growth_hits_the_table_cap: Case {
        guest: Made(wat_guest::table_grower),
        args: &[],
        expect: Fails {
            cause: "table-limit",
            message: &["table limit exceeded", "the cap is 20000"],
        },
    },

    /// A table that starts above the pool's old default (20,000) but within the ceiling
    /// loads when the limit allows it (it was refused as "not a valid WebAssembly component",
    /// issue 12, item 6) ...
    a_large_table_within_the_ceiling_loads_when_the_limit_allows_it: Case {
        guest: Made(|dir| wat_guest::with_table(dir, 30_000)),
        args: &["--table-elements", "50000"],
        expect: Check(|c| {
            for line in &c.lines {
                assert_eq!(line["status"], "ok", "{line}");
            }
        }),
    },
    /// ... and under the default limit it is refused when it loads (its first instance is
    /// `describe`'s) with the table limit, naming the cap.
    a_large_table_above_the_limit_names_the_table_limit: Case {
        guest: Made(|dir| wat_guest::with_table(dir, 30_000)),
        args: &[],
        expect: Refused(&["table limit exceeded", "30000", "the cap is 20000"]),
    },
    /// A table above the host's ceiling is refused before compiling, naming the ceiling.
    a_table_above_the_ceiling_is_refused_naming_the_ceiling: Case {
        guest: Made(|dir| wat_guest::with_table(dir, 2_000_000)),
        args: &[],
        expect: Refused(&[
            "was not compiled",
            "table 0 starts with 2000000 elements",
            "ceiling of 1000000",
        ]),
    },

    // ------------------------------------------------------------------------ compiling
    // A component's compile cost grows about with the cube of its largest function: the
    // bomb's one function nests 3,000 blocks around a `br_table` over 500 locals (43 KB;
    // ~10 s and ~1 GB to compile unbounded on the reference machine).
    /// The compiler runs under a timeout ...
    a_compile_bomb_is_stopped_by_the_compile_timeout: Case {
        guest: Made(wat_guest::compile_bomb),
        args: &["--compile-timeout-secs", "2"],
        expect: Refused(&[
            "compile-bomb.wasm was not compiled",
            "took longer than 2 s",
            "--compile-timeout-secs",
        ]),
    },
    /// ... and an address-space limit ...
    a_compile_bomb_is_stopped_by_the_compile_memory_bound: Case {
        guest: Made(wat_guest::compile_bomb),
        args: &["--compile-memory-mib", "256", "--compile-timeout-secs", "60"],
        expect: Refused(&[
            "compile-bomb.wasm was not compiled",
            "needed more than 256 MiB of address space",
            "--compile-memory-mib",
        ]),
    },
    /// ... and, before any of that, its structure is checked without compiling.
    a_compile_bomb_over_the_function_size_bound_is_refused_before_compiling: Case {
        guest: Made(wat_guest::compile_bomb),
        args: &["--compile-max-body-kib", "16"],
        expect: Refused(&[
            "compile-bomb.wasm was not compiled",
            "over the bound of 16384",
            "--compile-max-body-kib",
        ]),
    },

    // ------------------------------------------------------------------------ traps
    /// A panic is a trap whose message carries the panic's text.
    a_panic_is_a_trap_with_its_message: Case {
        guest: Built(test_guests::TRAP),
        args: &[],
        expect: Check(|c| {
            assert_all_failed(&c.lines, "trap", &["deliberate panic in trap guest"]);
            let trap = plugin_summary(&c.summary, "trap");
            assert_eq!(trap["errors"]["trap"]["count"], PATIENTS);
            assert_eq!(trap["ok"], 0);
        }),
    },
    /// `std::process::abort` is a trap too (wasm `unreachable`), without a panic message.
    an_abort_is_a_trap: Case {
        guest: Built(test_guests::ABORT),
        args: &[],
        expect: Check(|c| {
            assert_all_failed(&c.lines, "trap", &["unreachable"]);
            for line in &c.lines {
                assert!(line["error"].get("panic").is_none(), "{line}");
            }
        }),
    },
    /// `std::process::exit` (WASI `cli/exit`, which carries only success or failure) ends
    /// the evaluation, not the host, and the result says the plugin exited rather than
    /// blaming the host.
    exiting_ends_the_evaluation_not_the_host: Case {
        guest: Built(test_guests::EXIT),
        args: &[],
        expect: Fails { cause: "trap", message: &["exit"] },
    },
    /// A plugin that traps on some records only (odd ages) loses exactly those evaluations,
    /// in a run of many records on two workers; nothing else is lost or reordered.
    trapping_half_way_through_many_records_loses_only_those: Case {
        guest: Built(test_guests::FLAKY),
        args: &[],
        expect: Check(|c| check_flaky(c, 120)),
    },

    // ------------------------------------------------------------------------ output
    /// 10,000 cards are refused as output, not passed on.
    a_flood_of_cards_hits_the_card_limit: Case {
        guest: Built(test_guests::FLOOD_CARDS),
        args: &[],
        expect: Fails { cause: "output-limit", message: &["10000 cards, the limit is 20"] },
    },
    /// A 10 MiB detail is refused by the per-string bound, which names the field.
    a_huge_string_hits_the_per_string_bound: Case {
        guest: Built(test_guests::HUGE_STRING),
        args: &[],
        expect: Fails { cause: "output-limit", message: &["detail", "per string"] },
    },
    /// A card whose summary points past the end of the plugin's memory: the plugin broke the
    /// canonical ABI, which is its fault (`invalid-output`), not the host's.
    a_string_pointer_out_of_bounds_is_invalid_output: Case {
        guest: Made(wat_guest::out_of_bounds_summary),
        args: &[],
        expect: Fails {
            cause: "invalid-output",
            message: &["canonical ABI", "out of bounds of memory"],
        },
    },
    /// 20 cards of 4 KiB each pass the card and per-string bounds but not the total.
    output_under_each_bound_hits_the_total_bound: Case {
        guest: Built(test_guests::WIDE_CARDS),
        args: &[],
        expect: Fails {
            cause: "output-limit",
            message: &["bytes of card output", "the limit is 65536"],
        },
    },
    /// One card with one suggestion of 500,000 empty actions: no text, yet 17.5 MB per
    /// evaluation in results.jsonl before every element was counted (issue 12, item 5).
    a_flood_of_empty_actions_hits_the_output_bounds: Case {
        guest: Made(|dir| wat_guest::action_flood(dir, 500_000)),
        args: &[],
        expect: Fails {
            cause: "output-limit",
            message: &["500000 actions, the limit per suggestion is 16"],
        },
    },
    /// Within the per-suggestion cap, elements still count against the total: 20 cards of
    /// 16 suggestions of 16 empty actions are 5,460 elements, 349 KB at 64 bytes each.
    many_small_elements_hit_the_total_output_bound: Case {
        guest: Made(|dir| wat_guest::element_flood(dir, 20, 16, 16)),
        args: &[],
        expect: Fails {
            cause: "output-limit",
            message: &["bytes of card output", "64 per card", "the limit is 65536"],
        },
    },
    /// A domain error (`evaluation-error`) with a 1 MiB message: what a plugin says in an
    /// error is output too, and may not write more into the results than its cards could.
    /// The error's kind is written as the contract names it.
    a_huge_error_message_is_bounded: Case {
        guest: Built(test_guests::HUGE_ERROR),
        args: &[],
        expect: Check(|c| {
            for line in &c.lines {
                assert_eq!(line["status"], "error");
                let bytes = line.to_string().len();
                assert!(bytes <= 64 << 10, "a {bytes}-byte results line");
                if line["error"]["cause"] == "plugin-error" {
                    assert_eq!(line["error"]["kind"], "other", "{}", &line["error"]["kind"]);
                }
            }
            let bytes = c.summary.to_string().len();
            assert!(bytes <= 1 << 20, "a {bytes}-byte summary.json");
        }),
    },
    /// 100,000 cards whose summaries all point at one 1 MiB string in the plugin's memory
    /// (the canonical ABI lets them alias): 100 GiB if the host copied each before checking
    /// the output. The host must refuse it within bounded memory, as too much output.
    aliased_output_cannot_amplify_into_host_memory: Case {
        guest: Made(wat_guest::aliased_output_bomb),
        args: &[],
        expect: Fails { cause: "output-limit", message: &[] },
    },

    // ------------------------------------------------------------------------ logs
    /// Logging without end stops at the log bound (100 lines by default).
    a_log_flood_hits_the_log_limit: Case {
        guest: Built(test_guests::FLOOD_LOG),
        args: &[],
        expect: Fails { cause: "log-limit", message: &["more than 100 lines"] },
    },
    /// A lower bound from the command line applies, and the lines before it are kept (they
    /// are what shows the plugin's author where it went wrong).
    the_log_bound_is_configurable: Case {
        guest: Built(test_guests::CHATTY),
        args: &["--max-log-lines", "2"],
        expect: Check(|c| {
            assert_all_failed(&c.lines, "log-limit", &["more than 2 lines"]);
            for line in &c.lines {
                assert_eq!(line["log"][0], "info: evaluation started", "{line}");
                assert_eq!(line["log"].as_array().map(Vec::len), Some(2), "{line}");
            }
        }),
    },
    /// Writing to stdout without end is bounded like the log (stdout and stderr count).
    a_stdout_flood_hits_the_log_limit: Case {
        guest: Built(test_guests::FLOOD_STDOUT),
        args: &[],
        expect: Fails { cause: "log-limit", message: &["log"] },
    },

    // ------------------------------------------------ capabilities: what a plugin can see
    /// No file can be read, listed or written: absolute paths, `.`, `..`, `/proc`, the
    /// records directory by its relative name, `/tmp`; nor `/data` or escapes from it,
    /// which a plugin without a data grant does not have at all. (With a grant, see
    /// `supply_chain::a_granted_data_directory_is_readable_at_slash_data_and_nothing_else_is`.)
    the_file_system_is_denied: Case {
        guest: Built(test_guests::PROBE),
        args: &[],
        expect: Check(|c| {
            // The files exist on the host: "denied" is the sandbox, not their absence.
            assert!(Path::new("/etc/passwd").is_file());
            assert!(Path::new("sample-records").is_dir(), "tests run in the package root");
            for seen in probes(&c.lines) {
                let fs: Vec<_> = seen
                    .iter()
                    .filter(|(probe, _)| probe.starts_with("fs ") || probe.starts_with("data "))
                    .collect();
                assert_eq!(fs.len(), 11, "{seen:?}");
                for (probe, observation) in fs {
                    assert!(observation.starts_with("denied ("), "{probe}: {observation}");
                }
            }
            assert!(!Path::new("/tmp/livelab-probe.txt").exists());
        }),
    },
    /// No environment variable, no argument, and no host working directory.
    environment_and_arguments_are_empty: Case {
        guest: Built(test_guests::PROBE),
        args: &[],
        expect: Check(|c| {
            let host_cwd = std::env::current_dir().unwrap();
            for seen in probes(&c.lines) {
                assert_eq!(seen["env"], "0 vars");
                assert_eq!(seen["args"], "0");
                let cwd = &seen["cwd"];
                assert!(
                    cwd.starts_with("denied") || cwd == "/",
                    "the plugin sees a working directory: {cwd}"
                );
                assert_ne!(Path::new(cwd), host_cwd);
            }
        }),
    },
    /// The wall clock is frozen at the Unix epoch (through WASI and through std), whatever
    /// the evaluation date, and the monotonic clock starts at zero: no real time leaks in,
    /// and no date a plugin could behave differently on (issue 12, item 10).
    the_clocks_are_virtual: Case {
        guest: Built(test_guests::PROBE),
        args: &[],
        expect: Check(|c| {
            const EPOCH: &str = "0 s 0 ns, std 0 s";
            for seen in probes(&c.lines) {
                assert_eq!(seen["wall clock"], EPOCH);
                let readings: Vec<u64> = seen["monotonic"]
                    .split(" ns")
                    .filter_map(|part| part.trim_start_matches(" then ").parse().ok())
                    .collect();
                let [first, second] = readings[..] else {
                    panic!("{}", seen["monotonic"]);
                };
                assert!(first < 1_000_000, "monotonic clock starts at {first} ns");
                assert!(second > first, "{first} then {second}");
            }
            // Another evaluation date does not move it.
            for seen in probes(&c.rerun("other-date", &["--date", "2031-02-28"])) {
                assert_eq!(seen["wall clock"], EPOCH);
            }
        }),
    },
    /// Randomness is seeded: the same `--seed` gives the same bytes, another seed others,
    /// and each record gets its own.
    randomness_is_virtual_and_seeded: Case {
        guest: Built(test_guests::PROBE),
        args: &["--seed", "11"],
        expect: Check(|c| {
            let random = |lines: &[Value]| -> Vec<String> {
                probes(lines).into_iter().map(|seen| seen["random"].clone()).collect()
            };
            let first = random(&c.lines);
            assert_eq!(first.len(), PATIENTS);
            for r in &first {
                let parts: Vec<&str> = r.split(' ').collect();
                assert!(
                    matches!(parts[..], ["secure", _, "insecure", _, "seed", _]),
                    "{r}"
                );
                for value in [parts[1], parts[3], parts[5]] {
                    assert!(value.chars().any(|c| c != '0'), "all zero: {r}");
                }
            }
            let distinct: std::collections::BTreeSet<_> = first.iter().collect();
            assert_eq!(distinct.len(), PATIENTS, "records share randomness: {first:?}");
            assert_eq!(random(&c.rerun("same-seed", &["--seed", "11"])), first);
            let other = random(&c.rerun("other-seed", &["--seed", "12"]));
            for (a, b) in first.iter().zip(&other) {
                assert_ne!(a, b, "another seed gave the same randomness");
            }
        }),
    },
    /// No TCP connection, UDP socket or name lookup, through WASI or std: sockets refused
    /// by policy (`access-denied`, not merely unreachable), and `localhost`, which any real
    /// resolver answers, not resolved (wasmtime reports a disabled lookup as a permanent
    /// resolver failure).
    the_network_is_denied: Case {
        guest: Built(test_guests::PROBE),
        args: &[],
        expect: Check(|c| {
            for seen in probes(&c.lines) {
                let (tcp, std_tcp) = seen["tcp connect 127.0.0.1:80"]
                    .split_once("; std: ")
                    .expect("WASI and std observations");
                assert_eq!(tcp, "denied (access-denied)");
                assert!(std_tcp.starts_with("denied ("), "std: {std_tcp}");
                assert_eq!(seen["udp bind 127.0.0.1:0"], "denied (access-denied)");
                assert_eq!(seen["dns localhost"], "denied (permanent-resolver-failure)");
            }
        }),
    },
    /// Nothing survives from one patient to the next: no global, no flag set by
    /// `describe`, no byte of linear memory (one worker, so pool slots are reused).
    no_state_survives_between_patients: Case {
        guest: Built(test_guests::STATEFUL),
        args: &["--jobs", "1"],
        expect: Check(|c| {
            for line in &c.lines {
                assert_eq!(line["status"], "ok", "{line}");
                let summaries = card_summaries(line);
                assert_eq!(summaries.len(), 1, "state survived: {summaries:?}");
                assert!(summaries[0].starts_with("fresh instance: age "), "{summaries:?}");
                // The static it checks must lie in the prefix the pool keeps resident and
                // resets by memset, or that path would go untested (issue 15).
                let address = summaries[0]
                    .rsplit_once("static at 0x")
                    .and_then(|(_, hex)| usize::from_str_radix(hex, 16).ok())
                    .unwrap_or_else(|| panic!("no static address in {summaries:?}"));
                assert!(
                    address + (8 << 10) <= livelab_host::sandbox::KEEP_RESIDENT_BYTES,
                    "the static at {address:#x} is outside the kept-resident prefix"
                );
            }
        }),
    },

    // ------------------------------------------------------------ refused at load time
    /// Bytes that start like a component and then are garbage.
    a_malformed_component_is_refused: Case {
        guest: Made(|dir| {
            let path = dir.join("malformed.wasm");
            let mut bytes = b"\0asm\x0d\0\x01\0".to_vec();
            bytes.extend((0u8..=255).cycle().take(300).map(|b| b.wrapping_mul(37)));
            std::fs::write(&path, bytes).unwrap();
            path
        }),
        args: &[],
        expect: Refused(&["malformed.wasm", "not a valid WebAssembly component"]),
    },
    /// A core module is not a component; the message says how to make one.
    a_core_module_is_refused: Case {
        guest: Made(|dir| {
            let path = dir.join("core.wasm");
            let module = wat::parse_str(r#"(module (func (export "evaluate")))"#).unwrap();
            std::fs::write(&path, module).unwrap();
            path
        }),
        args: &[],
        expect: Refused(&[
            "core.wasm",
            "core WebAssembly module, not a component",
            "wasm32-wasip2",
        ]),
    },
    /// A valid component for another world is refused, naming what it exports.
    a_component_for_another_world_is_refused: Case {
        guest: Built(test_guests::OTHER_WORLD),
        args: &[],
        expect: Refused(&[
            "does not export `livelab:cds/evaluator@0.1.0`",
            "example:greeter/greet@1.0.0",
            "wit/",
        ]),
    },
    /// A plugin built against another version of the contract is refused, naming both.
    a_component_for_another_version_is_refused: Case {
        guest: Built(test_guests::WRONG_VERSION),
        args: &[],
        expect: Refused(&[
            "built against livelab:cds@0.2.0",
            "speaks livelab:cds@0.1.0",
            "rebuild",
        ]),
    },
    /// The right interface name and version with other function types is refused before
    /// anything is called, and the message says the types do not match.
    a_component_with_incompatible_types_is_refused: Case {
        guest: Made(wat_guest::incompatible_types),
        args: &[],
        expect: Refused(&["incompatible.wasm", "livelab:cds/evaluator@0.1.0", "wit/"]),
    },
    /// An import the host does not provide is refused at load time, naming it.
    an_import_the_host_does_not_provide_is_refused: Case {
        guest: Made(wat_guest::unknown_import),
        args: &[],
        expect: Refused(&[
            "unknown-import.wasm",
            "imports something this host does not provide",
            "hostile:extra/exfil@0.1.0",
        ]),
    },
    /// 200,000 declared code filters: the host cuts every record down to them on its own
    /// threads, outside the plugin's deadline and fuel, and holds them for the whole run.
    /// No guideline needs that many; the host refuses such a declaration when it loads the
    /// plugin, naming it.
    a_describe_with_too_many_data_needs_is_refused: Case {
        guest: Built(test_guests::GREEDY_DESCRIBE),
        args: &[],
        expect: Refused(&["greedy_describe.wasm", "describe"]),
    },
    /// A `describe` that never returns is stopped by the deadline, and the plugin refused.
    a_describe_that_never_returns_is_refused: Case {
        guest: Made(wat_guest::endless_describe),
        args: &["--deadline-ms", "40"],
        expect: Refused(&["endless-describe.wasm", "`describe` failed", "deadline exceeded"]),
    },
    /// A start function that never returns stops instantiation, before `describe` is
    /// called: the refusal says so, rather than blaming `describe`.
    a_start_function_that_never_returns_is_refused_as_instantiation: Case {
        guest: Made(wat_guest::endless_start),
        args: &["--deadline-ms", "40"],
        expect: Refused(&[
            "endless-start.wasm",
            "instantiating the component failed before `describe` could run",
            "deadline exceeded",
        ]),
    },
}

// ------------------------------------------------------------------------------------------
// Running a case.

fn check(case: &Case) {
    let tmp = temp_dir();
    let plugin = match case.guest {
        Built(path) => PathBuf::from(path),
        Made(make) => make(tmp.path()),
    };
    match &case.expect {
        Fails { cause, message } => {
            let c = contained(&plugin, PATIENTS, case.args);
            assert_all_failed(&c.lines, cause, message);
            assert_summary_counts(&c.summary, &c.lines);
        }
        Check(inspect) => {
            let c = contained(&plugin, PATIENTS, case.args);
            inspect(&c);
            assert_summary_counts(&c.summary, &c.lines);
        }
        Refused(needles) => {
            let out = tmp.path().join("out");
            let mut args = vec![
                "run",
                "--plugin",
                plugin.to_str().unwrap(),
                "--records",
                SAMPLE_RECORDS,
                "--out",
                out.to_str().unwrap(),
            ];
            args.extend(case.args);
            let output = watched(&args);
            assert_error(&output, needles);
            assert!(
                stderr(&output).contains(plugin.to_str().unwrap()),
                "the error does not name the file: {}",
                stderr(&output)
            );
            assert!(
                !out.exists(),
                "records were evaluated before the plugin was refused"
            );
        }
    }
}

/// A run of [`livelab_watched`] that must end by itself within the suite's bounds.
#[track_caller]
fn watched(args: &[&str]) -> std::process::Output {
    livelab_watched(args, MAX_HOST_RSS, RUN_TIMEOUT).unwrap_or_else(|why| panic!("{why}"))
}

/// Like [`support::run`](crate::support::run), but watched.
fn run_watched(records: &Path, plugins: &[&Path], out: &Path, extra: &[&str]) -> Vec<Value> {
    let mut args = vec![
        "run",
        "--records",
        records.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ];
    if !extra.contains(&"--date") {
        args.extend(["--date", SAMPLE_DATE]);
    }
    for plugin in plugins {
        args.extend(["--plugin", plugin.to_str().unwrap()]);
    }
    args.extend(extra);
    let output = watched(&args);
    assert_success(&output);
    results(out)
}

/// A hostile plugin's run beside metformin-egfr, already checked for containment.
struct Contained {
    /// The hostile plugin's lines, in record order.
    lines: Vec<Value>,
    /// metformin-egfr's lines from the same run.
    neighbour: Vec<Value>,
    summary: Value,
    records: PathBuf,
    plugin: PathBuf,
    tmp: tempfile::TempDir,
}

impl Contained {
    /// Runs the hostile plugin alone again on the same records, with other arguments.
    fn rerun(&self, name: &str, extra: &[&str]) -> Vec<Value> {
        run_watched(
            &self.records,
            &[&self.plugin],
            &self.tmp.path().join(name),
            extra,
        )
    }
}

/// Runs metformin-egfr beside `hostile` on a fresh cohort of `patients`, and checks that the
/// run completed within bounds, that every evaluation has its line, and that metformin's
/// lines equal those of a run of metformin alone.
fn contained(hostile: &Path, patients: usize, extra: &[&str]) -> Contained {
    let tmp = temp_dir();
    let records = cohort(tmp.path(), "cohort", patients, "bundles");
    let metformin = Path::new(METFORMIN_EGFR);
    let alone = run_watched(&records, &[metformin], &tmp.path().join("alone"), extra);
    let out = tmp.path().join("beside");
    let beside = run_watched(&records, &[metformin, hostile], &out, extra);
    assert_eq!(
        beside.len(),
        2 * patients,
        "every evaluation is accounted for"
    );
    let (neighbour, lines): (Vec<Value>, Vec<Value>) = beside
        .into_iter()
        .partition(|l| l["plugin"] == "metformin-egfr");
    let comparable =
        |lines: &[Value]| -> Vec<Value> { lines.iter().cloned().map(without_timing).collect() };
    assert!(
        comparable(&neighbour) == comparable(&alone),
        "the well-behaved plugin was affected"
    );
    assert_eq!(lines.len(), patients);
    let keys =
        |lines: &[Value]| -> Vec<Value> { lines.iter().map(|l| l["record"].clone()).collect() };
    assert_eq!(
        keys(&lines),
        keys(&neighbour),
        "both plugins saw every record, in order"
    );
    Contained {
        lines,
        neighbour,
        summary: summary(&out),
        records,
        plugin: hostile.to_owned(),
        tmp,
    }
}

/// summary.json counts the plugin's outcomes under the same cause names as its lines.
#[track_caller]
fn assert_summary_counts(summary: &Value, lines: &[Value]) {
    let id = lines[0]["plugin"].as_str().unwrap();
    let mut causes = BTreeMap::<String, u64>::new();
    for line in lines.iter().filter(|l| l["status"] == "error") {
        *causes
            .entry(line["error"]["cause"].as_str().unwrap().to_owned())
            .or_default() += 1;
    }
    let ok = lines.iter().filter(|l| l["status"] == "ok").count();
    let plugin = plugin_summary(summary, id);
    assert_eq!(plugin["ok"], ok, "{plugin}");
    let counted: BTreeMap<String, u64> = plugin["errors"]
        .as_object()
        .map(|errors| {
            errors
                .iter()
                .map(|(cause, e)| (cause.clone(), e["count"].as_u64().unwrap()))
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(
        counted, causes,
        "summary.json and results.jsonl name the causes differently"
    );
}

#[track_caller]
fn assert_all_failed(lines: &[Value], cause: &str, message: &[&str]) {
    for line in lines {
        assert_eq!(line["status"], "error", "{line}");
        assert_eq!(line["error"]["cause"], cause, "{line}");
        let text = line["error"]["message"].as_str().unwrap();
        for needle in message {
            assert!(text.contains(needle), "message {text:?} lacks {needle:?}");
        }
    }
}

fn plugin_summary(summary: &Value, id: &str) -> Value {
    summary["plugins"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == id)
        .cloned()
        .unwrap_or_else(|| panic!("no plugin {id} in {summary}"))
}

fn card_summaries(line: &Value) -> Vec<String> {
    line["cards"]
        .as_array()
        .unwrap_or_else(|| panic!("no cards: {line}"))
        .iter()
        .map(|c| c["summary"].as_str().unwrap().to_owned())
        .collect()
}

/// The probe guest's observations, one map (probe → what it saw) per evaluation.
fn probes(lines: &[Value]) -> Vec<BTreeMap<String, String>> {
    lines
        .iter()
        .map(|line| {
            assert_eq!(line["status"], "ok", "{line}");
            card_summaries(line)
                .iter()
                .map(|s| {
                    let (probe, seen) = s.split_once(": ").unwrap_or_else(|| panic!("{s}"));
                    (probe.to_owned(), seen.to_owned())
                })
                .collect()
        })
        .collect()
}

/// `flaky` traps on odd ages. On the small cohort and on one of `patients` (two workers),
/// its errors must be exactly the records whose age (as the `echo` guest reports it) is odd,
/// each a trap naming that age; the others are ok with `even age <age>`.
fn check_flaky(small: &Contained, patients: usize) {
    check_flaky_lines(small);
    check_flaky_lines(&contained(
        Path::new(test_guests::FLAKY),
        patients,
        &["--jobs", "2"],
    ));
}

fn check_flaky_lines(c: &Contained) {
    let echo = run_watched(
        &c.records,
        &[Path::new(test_guests::ECHO)],
        &c.tmp.path().join("echo"),
        &[],
    );
    let age_of: BTreeMap<&str, u64> = echo
        .iter()
        .map(|l| {
            let first = card_summaries(l)[0].clone();
            let age = first
                .strip_prefix("patient age=")
                .and_then(|r| r.split(' ').next())
                .and_then(|a| a.parse().ok())
                .unwrap_or_else(|| panic!("echo's first card: {first}"));
            (l["record"].as_str().unwrap(), age)
        })
        .collect();
    assert_eq!(age_of.len(), c.lines.len());
    let (mut ok, mut failed) = (0, 0);
    for line in &c.lines {
        let age = age_of[line["record"].as_str().unwrap()];
        if age % 2 == 1 {
            failed += 1;
            assert_eq!(line["status"], "error", "odd age {age}: {line}");
            assert_eq!(line["error"]["cause"], "trap", "{line}");
            let message = line["error"]["message"].as_str().unwrap();
            assert!(
                message.contains(&format!("deliberate trap on odd age {age}")),
                "{message}"
            );
        } else {
            ok += 1;
            assert_eq!(line["status"], "ok", "even age {age}: {line}");
            assert_eq!(card_summaries(line), [format!("even age {age}")]);
        }
    }
    assert_eq!(ok + failed, c.lines.len());
    assert!(
        ok > 0 && failed > 0,
        "the cohort has both parities ({ok} ok, {failed} failed)"
    );
    let summary = plugin_summary(&c.summary, "flaky");
    assert_eq!(summary["ok"], ok);
    assert_eq!(summary["errors"]["trap"]["count"], failed);
}

// ------------------------------------------------------------------------------------------
// Components built from WAT at test time, for what a Rust guest cannot express.

/// Components built from a core module in WAT and the WIT with `wit-component`, as
/// `wasm-tools component new` would. The core modules implement the canonical ABI by hand:
/// a bump allocator (`cabi_realloc`), `describe` returning a static `plugin-info`, and an
/// `evaluate` that does the hostile thing.
mod wat_guest {
    use std::fmt::Write as _;
    use std::path::{Path, PathBuf};

    use wit_component::{ComponentEncoder, StringEncoding};
    use wit_parser::Resolve;

    const EVALUATOR: &str = "livelab:cds/evaluator@0.1.0";
    /// `evaluate`'s core signature: `request` flattens to 13 i32s (hook: discriminant and
    /// list; patient: age, sex and four lists); the result is returned through a pointer.
    const EVALUATE_SIGNATURE: &str =
        "(param i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32) (result i32)";
    /// Size of a `card` in linear memory (canonical ABI): summary 0, detail 8, indicator 20,
    /// source 24 (label 24, url 32, topic 44), suggestions 68.
    pub const CARD_SIZE: u32 = 76;
    /// Where static data starts, and where `evaluate`'s result record goes.
    const DATA: u32 = 16;
    const RESULT: u32 = 1024;

    /// Static data of a module: strings and records at fixed offsets below 1 KiB.
    struct Data {
        bytes: Vec<u8>,
    }

    impl Data {
        fn new() -> Data {
            Data {
                bytes: vec![0; DATA as usize],
            }
        }

        fn align(&mut self) -> u32 {
            while !self.bytes.len().is_multiple_of(4) {
                self.bytes.push(0);
            }
            self.bytes.len() as u32
        }

        /// A UTF-8 string: its (pointer, length).
        fn string(&mut self, s: &str) -> (u32, u32) {
            let ptr = self.align();
            self.bytes.extend(s.as_bytes());
            (ptr, s.len() as u32)
        }

        /// Little-endian 32-bit words: their pointer.
        fn words(&mut self, words: &[u32]) -> u32 {
            let ptr = self.align();
            for w in words {
                self.bytes.extend(w.to_le_bytes());
            }
            ptr
        }

        fn wat(&self) -> String {
            assert!(
                self.bytes.len() < RESULT as usize,
                "static data overlaps the result"
            );
            let mut text = String::from("(data (i32.const 0) \"");
            for b in &self.bytes {
                write!(text, "\\{b:02x}").unwrap();
            }
            text.push_str("\")");
            text
        }
    }

    /// The parts of a plugin module a guest chooses.
    struct Module<'a> {
        id: &'a str,
        /// Imports (WAT text allows them only before every definition).
        imports: &'a str,
        /// Other module fields: tables, helper functions.
        fields: &'a str,
        /// `describe`'s body; `None` returns the static plugin-info.
        describe: Option<&'a str>,
        /// `evaluate`'s locals and body; `$label` and `$label_len` are a static source label.
        evaluate: &'a str,
    }

    impl Module<'_> {
        fn wat(&self) -> String {
            let mut data = Data::new();
            let id = data.string(self.id);
            let name = data.string(&format!("{} (WAT test guest)", self.id));
            let version = data.string("0.1.0");
            let description = data.string("A hostile plugin built from WAT by the tests.");
            let label = data.string("livelab WAT test guest");
            // hooks: one `hook-kind` (a byte), patient-view = 0.
            let hooks = data.words(&[0]);
            let info = data.words(&[
                id.0,
                id.1,
                name.0,
                name.1,
                version.0,
                version.1,
                description.0,
                description.1,
                hooks,
                1,
                0,
                0,
            ]);
            let describe = self
                .describe
                .map_or_else(|| format!("(i32.const {info})"), str::to_owned);
            format!(
                r#"(module
  {imports}
  (memory (export "memory") 2)
  {data}
  ;; A bump allocator from the second page up; memory is never freed.
  (global $heap (mut i32) (i32.const 65536))
  (global $label i32 (i32.const {label_ptr}))
  (global $label_len i32 (i32.const {label_len}))
  (func $realloc (export "cabi_realloc")
    (param i32 i32) (param $align i32) (param $size i32) (result i32)
    (local $ptr i32) (local $end i32)
    (local.set $ptr
      (i32.and
        (i32.add (global.get $heap) (i32.sub (local.get $align) (i32.const 1)))
        (i32.sub (i32.const 0) (local.get $align))))
    (local.set $end (i32.add (local.get $ptr) (local.get $size)))
    (if (i32.gt_u (local.get $end) (i32.mul (memory.size) (i32.const 65536)))
      (then
        (if (i32.eq
              (memory.grow
                (i32.add
                  (i32.shr_u
                    (i32.sub (local.get $end) (i32.mul (memory.size) (i32.const 65536)))
                    (i32.const 16))
                  (i32.const 1)))
              (i32.const -1))
          (then unreachable))))
    (global.set $heap (local.get $end))
    (local.get $ptr))
  (func $alloc (param $size i32) (result i32)
    (call $realloc (i32.const 0) (i32.const 0) (i32.const 4) (local.get $size)))
  {fields}
  (func (export "{EVALUATOR}#describe") (result i32)
    {describe})
  (func (export "{EVALUATOR}#evaluate") {EVALUATE_SIGNATURE}
    {evaluate})
)"#,
                imports = self.imports,
                data = data.wat(),
                label_ptr = label.0,
                label_len = label.1,
                fields = self.fields,
                evaluate = self.evaluate,
            )
        }
    }

    /// Writes `result<list<card>, _>::ok(list at $cards, $count)` and returns its pointer.
    fn ok_cards(cards: &str, count: &str) -> String {
        format!(
            "(i32.store8 (i32.const {RESULT}) (i32.const 0))
    (i32.store offset=4 (i32.const {RESULT}) {cards})
    (i32.store offset=8 (i32.const {RESULT}) {count})
    (i32.const {RESULT})"
        )
    }

    /// The contract in this livelab's `wit/`, plus `extra` WIT (another package) if any.
    fn resolve(extra: Option<&str>) -> (Resolve, wit_parser::PackageId) {
        let mut resolve = Resolve::default();
        let (cds, _) = resolve
            .push_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/wit"))
            .expect("parsing wit/");
        let main = match extra {
            Some(text) => resolve
                .push_str("hostile.wit", text)
                .expect("parsing the extra WIT"),
            None => cds,
        };
        (resolve, main)
    }

    /// Encodes the core module `wat` as a component of `world` in `resolve`, into
    /// `dir/file`.
    fn encode(
        dir: &Path,
        file: &str,
        (resolve, package): (Resolve, wit_parser::PackageId),
        world: &str,
        wat: &str,
    ) -> PathBuf {
        let world = resolve
            .select_world(&[package], Some(world))
            .expect("selecting the world");
        let mut module = wat::parse_str(wat).unwrap_or_else(|e| panic!("{e}\n{wat}"));
        wit_component::embed_component_metadata(
            &mut module,
            &resolve,
            world,
            StringEncoding::UTF8,
            false,
        )
        .expect("embedding the world");
        let component = ComponentEncoder::default()
            .validate(true)
            .module(&module)
            .and_then(|encoder| encoder.encode())
            .unwrap_or_else(|e| panic!("encoding the component: {e:#}\n{wat}"));
        let path = dir.join(file);
        std::fs::write(&path, component).unwrap();
        path
    }

    fn plugin(dir: &Path, file: &str, module: Module) -> PathBuf {
        encode(dir, file, resolve(None), "plugin", &module.wat())
    }

    /// `evaluate` returns `count` cards whose summaries all alias one string of
    /// `summary_bytes` bytes of `a` (and whose labels alias the static label).
    pub fn aliased_cards(dir: &Path, file: &str, count: u32, summary_bytes: u32) -> PathBuf {
        aliased(dir, file, count, summary_bytes, Aliased::Summary)
    }

    /// Which field of every card aliases the one large string.
    pub enum Aliased {
        Summary,
        /// The detail; the summary is the static label (valid, so the cards are kept).
        Detail,
    }

    /// `evaluate` returns `count` cards whose `field` all alias one string of `bytes` bytes
    /// of `a` (and whose labels alias the static label).
    pub fn aliased(dir: &Path, file: &str, count: u32, bytes: u32, field: Aliased) -> PathBuf {
        let set_field = match field {
            Aliased::Summary => format!(
                "(i32.store offset=0 (local.get $card) (local.get $text))
      (i32.store offset=4 (local.get $card) (i32.const {bytes}))"
            ),
            Aliased::Detail => format!(
                "(i32.store offset=0 (local.get $card) (global.get $label))
      (i32.store offset=4 (local.get $card) (global.get $label_len))
      (i32.store8 offset=8 (local.get $card) (i32.const 1))
      (i32.store offset=12 (local.get $card) (local.get $text))
      (i32.store offset=16 (local.get $card) (i32.const {bytes}))"
            ),
        };
        let evaluate = format!(
            "(local $text i32) (local $cards i32) (local $card i32) (local $i i32)
    (local.set $text (call $alloc (i32.const {bytes})))
    (memory.fill (local.get $text) (i32.const 0x61) (i32.const {bytes}))
    ;; Fresh pages are zero: every option is none and every list empty unless set.
    (local.set $cards (call $alloc (i32.const {cards_bytes})))
    (loop $each
      (local.set $card
        (i32.add (local.get $cards) (i32.mul (local.get $i) (i32.const {CARD_SIZE}))))
      {set_field}
      (i32.store offset=24 (local.get $card) (global.get $label))
      (i32.store offset=28 (local.get $card) (global.get $label_len))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $each (i32.lt_u (local.get $i) (i32.const {count}))))
    {ok}",
            cards_bytes = count * CARD_SIZE,
            ok = ok_cards("(local.get $cards)", &format!("(i32.const {count})")),
        );
        plugin(
            dir,
            file,
            Module {
                id: "aliased-output",
                imports: "",
                fields: "",
                describe: None,
                evaluate: &evaluate,
            },
        )
    }

    /// `cards` cards, each with `suggestions` suggestions of `actions` empty actions, every
    /// card's summary and label the static label. Zeroed memory is an empty `create` action.
    pub fn element_flood(dir: &Path, cards: u32, suggestions: u32, actions: u32) -> PathBuf {
        const SUGGESTION_SIZE: u32 = 20;
        const ACTION_SIZE: u32 = 12;
        let evaluate = format!(
            "(local $cards i32) (local $card i32) (local $suggestions i32) (local $s i32)
    (local $actions i32) (local $i i32) (local $j i32)
    (local.set $cards (call $alloc (i32.const {cards_bytes})))
    ;; One list of actions, shared by every suggestion: cheap for the plugin.
    (local.set $actions (call $alloc (i32.const {actions_bytes})))
    (loop $each_card
      (local.set $card
        (i32.add (local.get $cards) (i32.mul (local.get $i) (i32.const {CARD_SIZE}))))
      (i32.store offset=0 (local.get $card) (global.get $label))
      (i32.store offset=4 (local.get $card) (global.get $label_len))
      (i32.store offset=24 (local.get $card) (global.get $label))
      (i32.store offset=28 (local.get $card) (global.get $label_len))
      (local.set $suggestions (call $alloc (i32.const {suggestions_bytes})))
      (local.set $j (i32.const 0))
      (loop $each_suggestion
        (local.set $s
          (i32.add (local.get $suggestions) (i32.mul (local.get $j) (i32.const {SUGGESTION_SIZE}))))
        (i32.store offset=0 (local.get $s) (global.get $label))
        (i32.store offset=4 (local.get $s) (global.get $label_len))
        (i32.store offset=12 (local.get $s) (local.get $actions))
        (i32.store offset=16 (local.get $s) (i32.const {actions}))
        (local.set $j (i32.add (local.get $j) (i32.const 1)))
        (br_if $each_suggestion (i32.lt_u (local.get $j) (i32.const {suggestions}))))
      (i32.store offset=68 (local.get $card) (local.get $suggestions))
      (i32.store offset=72 (local.get $card) (i32.const {suggestions}))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $each_card (i32.lt_u (local.get $i) (i32.const {cards}))))
    {ok}",
            cards_bytes = cards * CARD_SIZE,
            actions_bytes = actions * ACTION_SIZE,
            suggestions_bytes = suggestions * SUGGESTION_SIZE,
            ok = ok_cards("(local.get $cards)", &format!("(i32.const {cards})")),
        );
        plugin(
            dir,
            &format!("element-flood-{cards}-{suggestions}-{actions}.wasm"),
            Module {
                id: "element-flood",
                imports: "",
                fields: "",
                describe: None,
                evaluate: &evaluate,
            },
        )
    }

    /// One card with one suggestion of `actions` empty actions.
    pub fn action_flood(dir: &Path, actions: u32) -> PathBuf {
        element_flood(dir, 1, 1, actions)
    }

    /// 100,000 cards aliasing one 1 MiB summary: 7.6 MB of plugin memory, 100 GiB if copied.
    pub fn aliased_output_bomb(dir: &Path) -> PathBuf {
        aliased_cards(dir, "aliased-output-bomb.wasm", 100_000, 1 << 20)
    }

    /// `evaluate` grows a table by 1,000 elements at a time until the host stops it.
    pub fn table_grower(dir: &Path) -> PathBuf {
        plugin(
            dir,
            "table-grower.wasm",
            Module {
                id: "table-grower",
                imports: "",
                fields: "(table $grown 1 funcref)",
                describe: None,
                evaluate: "(loop $grow
      (br_if $grow
        (i32.ne (table.grow $grown (ref.null func) (i32.const 1000)) (i32.const -1))))
    ;; table.grow reported failure instead of the host stopping the plugin.
    unreachable",
            },
        )
    }

    /// A plugin with a table of `initial` elements whose `evaluate` returns no cards.
    pub fn with_table(dir: &Path, initial: u32) -> PathBuf {
        let evaluate = ok_cards("(i32.const 0)", "(i32.const 0)");
        plugin(
            dir,
            &format!("table-{initial}.wasm"),
            Module {
                id: "large-table",
                imports: "",
                fields: &format!("(table {initial} funcref)"),
                describe: None,
                evaluate: &evaluate,
            },
        )
    }

    /// A plugin with a function that is cheap to write and costly to compile: 3,000
    /// nested blocks around one `br_table` that can leave any of them, over 500 locals.
    pub fn compile_bomb(dir: &Path) -> PathBuf {
        const DEPTH: usize = 3_000;
        const LOCALS: usize = 500;
        let mut bomb = format!(
            "(func $bomb (param i32) (result i32) (local{})",
            " i64".repeat(LOCALS)
        );
        bomb.push_str(&"(block ".repeat(DEPTH));
        let targets: Vec<String> = (0..DEPTH).map(|i| i.to_string()).collect();
        write!(bomb, "(br_table {} (local.get 0))", targets.join(" ")).unwrap();
        for i in 0..DEPTH {
            write!(
                bomb,
                ") (local.set {} (i64.add (local.get {}) (i64.const {i})))",
                1 + i % LOCALS,
                1 + (i * 7) % LOCALS
            )
            .unwrap();
        }
        bomb.push_str(" (i32.const 0))");
        plugin(
            dir,
            "compile-bomb.wasm",
            Module {
                id: "compile-bomb",
                imports: "",
                fields: &bomb,
                describe: None,
                evaluate: "unreachable",
            },
        )
    }

    /// `evaluate` returns one card whose summary is 16 bytes at 0xffff_0000, far past the end
    /// of the plugin's memory.
    pub fn out_of_bounds_summary(dir: &Path) -> PathBuf {
        let evaluate = format!(
            "(local $card i32)
    (local.set $card (call $alloc (i32.const {CARD_SIZE})))
    (i32.store offset=0 (local.get $card) (i32.const 0xffff0000))
    (i32.store offset=4 (local.get $card) (i32.const 16))
    (i32.store offset=24 (local.get $card) (global.get $label))
    (i32.store offset=28 (local.get $card) (global.get $label_len))
    {ok}",
            ok = ok_cards("(local.get $card)", "(i32.const 1)"),
        );
        plugin(
            dir,
            "out-of-bounds-summary.wasm",
            Module {
                id: "out-of-bounds-summary",
                imports: "",
                fields: "",
                describe: None,
                evaluate: &evaluate,
            },
        )
    }

    /// The core module's start function loops forever: instantiation never ends.
    pub fn endless_start(dir: &Path) -> PathBuf {
        plugin(
            dir,
            "endless-start.wasm",
            Module {
                id: "endless-start",
                imports: "",
                fields: "(func $boot (loop $spin (br $spin))) (start $boot)",
                describe: None,
                evaluate: "unreachable",
            },
        )
    }

    /// `describe` loops forever.
    pub fn endless_describe(dir: &Path) -> PathBuf {
        plugin(
            dir,
            "endless-describe.wasm",
            Module {
                id: "endless-describe",
                imports: "",
                fields: "",
                describe: Some("(loop $spin (br $spin)) unreachable"),
                evaluate: "unreachable",
            },
        )
    }

    /// A plugin whose world also imports `hostile:extra/exfil`, which the host does not
    /// provide; `evaluate` would send the source label through it.
    pub fn unknown_import(dir: &Path) -> PathBuf {
        const EXTRA: &str = "package hostile:extra@0.1.0;

interface exfil {
    send: func(data: string);
}

world plugin-plus {
    include livelab:cds/plugin@0.1.0;
    import exfil;
}
";
        let module = Module {
            id: "unknown-import",
            imports: r#"(import "hostile:extra/exfil@0.1.0" "send" (func $send (param i32 i32)))"#,
            fields: "",
            describe: None,
            evaluate: &format!(
                "(call $send (global.get $label) (global.get $label_len))
    {}",
                ok_cards("(i32.const 0)", "(i32.const 0)")
            ),
        };
        encode(
            dir,
            "unknown-import.wasm",
            resolve(Some(EXTRA)),
            "plugin-plus",
            &module.wat(),
        )
    }

    /// Exports `livelab:cds/evaluator@0.1.0` with the right names and other types:
    /// `describe` and `evaluate` take and return strings.
    pub fn incompatible_types(dir: &Path) -> PathBuf {
        const WIT: &str = "package livelab:cds@0.1.0;

interface evaluator {
    describe: func() -> string;
    evaluate: func(request: string) -> string;
}

world plugin {
    export evaluator;
}
";
        let mut data = Data::new();
        let text = data.string("hello");
        let string = data.words(&[text.0, text.1]);
        let wat = format!(
            r#"(module
  (memory (export "memory") 1)
  {data}
  (func (export "cabi_realloc") (param i32 i32 i32 i32) (result i32) (i32.const 2048))
  (func (export "{EVALUATOR}#describe") (result i32) (i32.const {string}))
  (func (export "{EVALUATOR}#evaluate") (param i32 i32) (result i32) (i32.const {string}))
)"#,
            data = data.wat()
        );
        let mut resolve = Resolve::default();
        let package = resolve.push_str("incompatible.wit", WIT).unwrap();
        encode(dir, "incompatible.wasm", (resolve, package), "plugin", &wat)
    }
}

/// The error of a failed evaluation names each field once: a results line whose `message`
/// appears twice (with different text) reads differently in every JSON reader. Checked on
/// the causes whose failure carries a message of its own (memory, output, log, table).
#[test]
fn error_lines_name_each_field_once() {
    let tmp = temp_dir();
    let records = cohort(tmp.path(), "cohort", 2, "bundles");
    let out = tmp.path().join("out");
    let plugins = [
        test_guests::HOG,
        test_guests::FLOOD_CARDS,
        test_guests::FLOOD_LOG,
    ]
    .map(Path::new);
    let lines = run_watched(&records, &plugins, &out, &["--memory-mib", "16"]);
    assert_eq!(lines.len(), 2 * plugins.len());
    let text = std::fs::read_to_string(out.join("results.jsonl")).unwrap();
    for line in text.lines() {
        if let Err(e) = serde_json::from_str::<UniqueKeys>(line) {
            panic!("results.jsonl: {e}: {line}");
        }
    }
    let summary = std::fs::read_to_string(out.join("summary.json")).unwrap();
    serde_json::from_str::<UniqueKeys>(&summary).unwrap();
}

/// Any JSON value in which no object repeats a key. serde_json's `Value` keeps the last of
/// two equal keys without a word, so a line saying two different things would pass unseen;
/// other readers keep the first, or refuse the line.
struct UniqueKeys;

impl<'de> serde::Deserialize<'de> for UniqueKeys {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(UniqueKeys)
    }
}

impl<'de> serde::de::Visitor<'de> for UniqueKeys {
    type Value = UniqueKeys;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, _: bool) -> Result<UniqueKeys, E> {
        Ok(UniqueKeys)
    }
    fn visit_i64<E>(self, _: i64) -> Result<UniqueKeys, E> {
        Ok(UniqueKeys)
    }
    fn visit_u64<E>(self, _: u64) -> Result<UniqueKeys, E> {
        Ok(UniqueKeys)
    }
    fn visit_f64<E>(self, _: f64) -> Result<UniqueKeys, E> {
        Ok(UniqueKeys)
    }
    fn visit_str<E>(self, _: &str) -> Result<UniqueKeys, E> {
        Ok(UniqueKeys)
    }
    fn visit_unit<E>(self) -> Result<UniqueKeys, E> {
        Ok(UniqueKeys)
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<UniqueKeys, A::Error> {
        while seq.next_element::<UniqueKeys>()?.is_some() {}
        Ok(UniqueKeys)
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<UniqueKeys, A::Error> {
        let mut seen = std::collections::BTreeSet::new();
        while let Some(key) = map.next_key::<String>()? {
            if !seen.insert(key.clone()) {
                return Err(serde::de::Error::custom(format!(
                    "the key {key:?} appears twice"
                )));
            }
            map.next_value::<UniqueKeys>()?;
        }
        Ok(UniqueKeys)
    }
}

/// The harness itself: a WAT-built plugin that behaves is evaluated like any other, cards
/// and all (so a WAT case that fails is the host's doing, not the harness's layout).
#[test]
fn a_well_behaved_wat_plugin_returns_its_cards() {
    let tmp = temp_dir();
    let plugin = wat_guest::aliased_cards(tmp.path(), "two-cards.wasm", 2, 7);
    let c = contained(&plugin, 2, &[]);
    for line in &c.lines {
        assert_eq!(line["status"], "ok", "{line}");
        assert_eq!(card_summaries(line), ["aaaaaaa", "aaaaaaa"]);
        assert_eq!(
            line["cards"][0]["source"]["label"],
            "livelab WAT test guest"
        );
    }
}

/// A plugin's error message that attacks the terminal and the CSV (a title-setting OSC
/// sequence, cursor movement, a bell, a right-to-left override, a forged line) reaches
/// neither as anything but inert, escaped text: not on stdout or stderr of `run` or `trial`,
/// not in results.csv, and results.jsonl keeps it escaped too.
#[test]
fn a_plugins_error_text_cannot_act_on_the_terminal_or_forge_a_csv_row() {
    let tmp = temp_dir();
    let records = cohort(tmp.path(), "cohort", 3, "bundles");
    let ran = tmp.path().join("run");
    let run = livelab(&[
        "run",
        "--records",
        records.to_str().unwrap(),
        "--out",
        ran.to_str().unwrap(),
        "--date",
        SAMPLE_DATE,
        "--plugin",
        test_guests::TERMINAL_ESCAPE,
    ]);
    assert_success(&run);
    let trial_file = tmp.path().join("trial.toml");
    std::fs::write(
        &trial_file,
        format!(
            "name = \"terminal escape\"\nregion = \"test\"\nrecords = {records:?}\nlabels = {labels:?}\n\
             evaluation_date = {SAMPLE_DATE:?}\nallow_unsigned = true\n\n\
             [[plugin]]\npath = {plugin:?}\ntopic = \"metformin-egfr\"\n",
            records = records.to_str().unwrap(),
            labels = records.join("labels.csv").to_str().unwrap(),
            plugin = test_guests::TERMINAL_ESCAPE,
        ),
    )
    .unwrap();
    let tried = tmp.path().join("trial");
    let trial = run_trial(&trial_file, &tried);
    assert_success(&trial);
    let csv = std::fs::read(tried.join("results.csv")).unwrap();
    for (place, bytes) in [
        ("run's stdout", &run.stdout),
        ("run's stderr", &run.stderr),
        (
            "run's results.jsonl",
            &std::fs::read(ran.join("results.jsonl")).unwrap(),
        ),
        ("trial's stdout", &trial.stdout),
        ("trial's stderr", &trial.stderr),
        ("trial's results.csv", &csv),
        (
            "trial's results.jsonl",
            &std::fs::read(tried.join("results.jsonl")).unwrap(),
        ),
    ] {
        let text = String::from_utf8_lossy(bytes);
        for (what, forbidden) in [("ESC", '\u{1b}'), ("BEL", '\u{7}'), ("RLO", '\u{202e}')] {
            if let Some(at) = text.find(forbidden) {
                panic!(
                    "{place} carries the plugin's {what} at byte {at}: {:?}",
                    &text[at.saturating_sub(40)..(at + 40).min(text.len())]
                );
            }
        }
    }
    // One header and one row per record: the plugin's line break forged no row.
    let csv = String::from_utf8(csv).unwrap();
    let rows: Vec<csv::StringRecord> = csv::Reader::from_reader(csv.as_bytes())
        .records()
        .map(Result::unwrap)
        .collect();
    assert_eq!(rows.len(), 3, "results.csv rows:\n{csv}");
    assert_eq!(csv.lines().count(), 4, "a physical line per row:\n{csv}");
    assert!(
        csv.contains("\\u{1b}]0;livelab: all plugins passed\\u{7}"),
        "the message is shown, escaped:\n{csv}"
    );
}

/// Large valid output on every record, faster than the writer can write it: the host's
/// memory stays flat, because workers run only a bounded window ahead of the writer
/// (issue 12, item 5). Each evaluation returns 1,000 cards whose details alias one 4 KiB
/// string: 4 MiB lifted into the host per record, 8 MiB written (results.jsonl and the
/// decision log), for 120 records.
#[test]
fn large_output_on_every_record_keeps_host_memory_flat() {
    const RECORDS: usize = 120;
    // Under 150 MiB with the window; without it, 400 MiB within half a second and rising.
    const BOUND: u64 = 256 << 20;
    let tmp = temp_dir();
    let records = cohort(tmp.path(), "cohort", RECORDS, "bundles");
    let plugin = wat_guest::aliased(
        tmp.path(),
        "large-output.wasm",
        1_000,
        4 << 10,
        wat_guest::Aliased::Detail,
    );
    let out = tmp.path().join("out");
    let log = tmp.path().join("decisions.jsonl");
    let args = [
        "run",
        "--records",
        records.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--plugin",
        plugin.to_str().unwrap(),
        "--date",
        SAMPLE_DATE,
        "--decision-log",
        log.to_str().unwrap(),
        "--max-cards",
        "1000",
        "--max-string-bytes",
        "4096",
        "--max-output-bytes",
        "16777216",
        "-j",
        "2",
    ];
    let output = livelab_watched(&args, BOUND, Duration::from_secs(300))
        .unwrap_or_else(|why| panic!("large output on {RECORDS} records: {why}"));
    assert_success(&output);
    let lines = results(&out);
    assert_eq!(lines.len(), RECORDS, "every record is accounted for");
    for line in &lines {
        assert_eq!(
            line["status"], "ok",
            "{}: {}",
            line["record"], line["error"]
        );
        assert_eq!(
            line["cards"].as_array().map(Vec::len),
            Some(1_000),
            "{}",
            line["record"]
        );
    }
}
