#!/usr/bin/env bash
# Runs the whole test suite from a fresh checkout: installs what the tests need (cmake, Redis, PostgreSQL,
# ffmpeg, Chromium), fetches the Whisper model, checks formatting and lints, runs every test.
# The tests start their own redis-server and postgres instances on free ports.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh test
scripts/fetch-model.sh
# A persistent target dir: CTranslate2's C++ build takes minutes on 2 cores.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/speech-coach/target}"
# The ASR tests must not skip silently when the model is missing.
export SPEECH_COACH_REQUIRE_MODEL=1
cargo fmt --all -- --check
# Release profile everywhere: scripts/run.sh builds the same, so CTranslate2 (C++) is compiled once.
cargo clippy --release --all-targets -- -D warnings
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
# lib, binaries and integration tests (the crate has no doc tests; benches run via their scripts).
status=0
cargo test --release --no-fail-fast --lib --bins --tests -- --test-threads="${TEST_THREADS:-2}" 2>&1 | tee "$log" || status=$?
# One closing line over every test binary.
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i; if ($(i+1) ~ /^ignored/) s += $i } }
     END { printf "total: %d passed, %d failed, %d skipped\n", p, f, s }' "$log"
exit "$status"
