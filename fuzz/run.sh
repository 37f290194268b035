#!/usr/bin/env bash
# Fuzzes one target, by default for 10 minutes:
#
#     fuzz/run.sh TARGET [SECONDS]        # e.g. fuzz/run.sh fhir_bundle 600
#
# One libFuzzer worker (`-jobs=1 -workers=1`: the machines have 2 cores). The run starts from
# the committed seeds (fuzz/corpus/TARGET) plus what earlier runs found, kept in a working
# corpus under fuzz/target/corpus/TARGET, so the committed corpus does not grow; fold finds
# back with `cargo +nightly fuzz cmin` if wanted. Crashes land in fuzz/artifacts/TARGET/.
# libFuzzer's own log is fuzz/target/logs/TARGET.log; the last status line (cov, ft, exec/s)
# is printed at the end. SANITIZER=none builds without ASan (default: address, see README.md).
# KEEP_GOING=1 fuzzes on past crashes (fork mode), for a target with a known, unfixed crash.
set -euo pipefail
fuzz=$(cd "$(dirname "$0")" && pwd)
target=${1:?usage: fuzz/run.sh TARGET [SECONDS]}
seconds=${2:-600}
sanitizer=${SANITIZER:-address}

PATH="$("$fuzz/setup.sh"):$PATH"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$fuzz/target}"
cd "$fuzz"
if ! grep -qx "name = \"$target\"" Cargo.toml; then
    echo "unknown target $target; the targets are:" >&2
    cargo +nightly fuzz list >&2
    exit 2
fi

work=$CARGO_TARGET_DIR/corpus/$target
logs=$CARGO_TARGET_DIR/logs
mkdir -p "$work" "$logs" "artifacts/$target"

cargo +nightly fuzz build --sanitizer "$sanitizer" "$target"
start=$SECONDS
status=0
log=$logs/$target.log
if [ -n "${KEEP_GOING:-}" ]; then
    # After a crash is known: fork mode with one child, which records every crash in
    # fuzz/artifacts/TARGET/ and goes on fuzzing (-ignore_crashes works in fork mode only).
    mode=(-fork=1 -ignore_crashes=1)
else
    mode=(-jobs=1 -workers=1)
fi
# With -jobs=1 the fuzzer runs in a child process whose output goes to fuzz-0.log in the
# current directory: run it from the log directory and append that to the target's log.
(cd "$logs" && rm -f fuzz-0.log && cargo +nightly fuzz run --fuzz-dir "$fuzz" \
    --sanitizer "$sanitizer" "$target" "$work" "$fuzz/corpus/$target" -- \
    -max_total_time="$seconds" "${mode[@]}" -print_final_stats=1 \
    -artifact_prefix="$fuzz/artifacts/$target/") >"$log" 2>&1 || status=$?
if [ -f "$logs/fuzz-0.log" ]; then
    cat "$logs/fuzz-0.log" >>"$log"
    rm -f "$logs/fuzz-0.log"
fi
elapsed=$((SECONDS - start))
last=$(grep -E '#[0-9]+.*cov: [0-9]+ ft: [0-9]+' "$log" | tail -1 || true)
echo "== $target: ran ${elapsed}s; last status: ${last:-none}"
if grep -qE 'ERROR: libFuzzer|ERROR: AddressSanitizer|panicked at|deadly signal' "$log"; then
    echo "== $target: CRASH, see $log and fuzz/artifacts/$target/" >&2
    exit 1
fi
exit "$status"
