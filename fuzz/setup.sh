#!/usr/bin/env bash
# Installs what fuzzing needs on a machine that has only stable rustup: the nightly toolchain
# (cargo-fuzz builds with -Zsanitizer / sancov, which need nightly) and cargo-fuzz itself, at a
# pinned version, into the clone's own target/tools/cargo-fuzz (nothing outside the clone).
# Idempotent: skips what is already there. Prints the path of the cargo-fuzz binary's directory
# on stdout (callers put it on PATH); everything else goes to stderr.
set -euo pipefail
CARGO_FUZZ_VERSION=0.13.2
cd "$(dirname "$0")/.."
root=$PWD/target/tools/cargo-fuzz

if ! rustup run nightly rustc --version >/dev/null 2>&1; then
    echo "installing the nightly toolchain (minimal profile)" >&2
    rustup toolchain install nightly --profile minimal >&2
fi

installed=$("$root/bin/cargo-fuzz" --version 2>/dev/null || true)
if [ "$installed" != "cargo-fuzz $CARGO_FUZZ_VERSION" ]; then
    echo "installing cargo-fuzz $CARGO_FUZZ_VERSION into $root (was: ${installed:-none})" >&2
    # Built with stable; its own target dir under the clone's target/ so reruns are quick.
    CARGO_TARGET_DIR="$PWD/target/tools/cargo-fuzz-build" \
        cargo +stable install cargo-fuzz --version "=$CARGO_FUZZ_VERSION" --locked \
        --root "$root" --force >&2
fi
echo "$root/bin"
