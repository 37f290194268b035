#!/usr/bin/env bash
# CI's short fuzz run: installs nightly and cargo-fuzz (setup.sh), builds every target once,
# then for each target, one at a time and one process each: replays every saved regression
# input (fuzz/regressions/TARGET/*, each a crash found earlier), and fuzzes it for
# SMOKE_SECONDS (default 20) on a throwaway copy of its corpus. Goes through every target and
# fails at the end if any crashed (or timed out, or ran out of memory).
#
#     fuzz/smoke.sh           # SMOKE_SECONDS=20 SANITIZER=none by default;
#                             # CODEGEN_UNITS=N passes --codegen-units N (default: cargo-fuzz's 1)
set -euo pipefail
fuzz=$(cd "$(dirname "$0")" && pwd)
seconds=${SMOKE_SECONDS:-20}
sanitizer=${SANITIZER:-none}
codegen_units=${CODEGEN_UNITS:-}
step() { printf '\n== fuzz smoke: %s (%ss)\n' "$1" "$SECONDS"; }

step "setup (nightly, cargo-fuzz)"
PATH="$("$fuzz/setup.sh"):$PATH"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$fuzz/target}"
cd "$fuzz"

step "build every target (sanitizer: $sanitizer)"
cargo +nightly fuzz build --sanitizer "$sanitizer" ${codegen_units:+--codegen-units "$codegen_units"}
bin=$CARGO_TARGET_DIR/$(rustc +nightly -vV | sed -n 's/^host: //p')/release

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
failed=()
for target in $(cargo +nightly fuzz list); do
    if [ -d "regressions/$target" ]; then
        inputs=()
        for f in "regressions/$target"/*; do
            case "$f" in *.diff | *.md) ;; *) [ -f "$f" ] && inputs+=("$f") ;; esac
        done
        if [ "${#inputs[@]}" -gt 0 ]; then
            step "$target: ${#inputs[@]} regression input(s)"
            set +e
            "$bin/$target" -rss_limit_mb=2048 -timeout=20 "${inputs[@]}" 2>&1 \
                | grep -E '^(Running|Executed)|panicked|ERROR|SUMMARY'
            status=${PIPESTATUS[0]}
            set -e
            if [ "$status" -ne 0 ]; then
                echo "fuzz smoke: $target: a regression input crashes again" >&2
                failed+=("$target (regression)")
            fi
        fi
    fi
    step "$target: fuzzing ${seconds}s"
    mkdir -p "$scratch/$target"
    cp corpus/"$target"/* "$scratch/$target/"
    set +e
    "$bin/$target" "$scratch/$target" -max_total_time="$seconds" -rss_limit_mb=2048 \
        -timeout=20 -print_final_stats=1 -artifact_prefix="$scratch/$target-" 2>&1 \
        | grep -vE '^#[0-9]+[[:space:]]+(NEW|REDUCE|pulse)'
    status=${PIPESTATUS[0]}
    set -e
    if [ "$status" -ne 0 ]; then
        mkdir -p "artifacts/$target"
        for f in "$scratch/$target"-*; do [ -e "$f" ] && cp "$f" "artifacts/$target/"; done
        echo "fuzz smoke: $target crashed; the input is in fuzz/artifacts/$target/ (minimise" \
             "it with cargo fuzz tmin, fix the cause, keep it in fuzz/regressions/$target/)" >&2
        failed+=("$target")
    fi
done
if [ "${#failed[@]}" -gt 0 ]; then
    step "FAILED: ${failed[*]}"
    exit 1
fi
step "done: every regression input passed and every target ran ${seconds}s without a crash"
