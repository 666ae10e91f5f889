#!/usr/bin/env bash
# Sets up everything and runs the service with embedded defaults: no Redis, no GigaChat
# (rule-based feedback), the multilingual Whisper base model fetched once into models/.
# FEATURES=dnnl scripts/run.sh builds CTranslate2 on oneDNN instead (fetched once through pip):
# the build that is faster than faster-whisper on 2 cores (BENCHMARKS.md). A build with other
# features gets a target dir of its own, so switching back does not recompile CTranslate2.
set -euo pipefail
cd "$(dirname "$0")/.."
repo="$PWD"
scripts/deps.sh run
scripts/fetch-model.sh
# shellcheck source=features.sh
source scripts/features.sh
# Built together with one small test target: cargo then resolves features with the
# dev-dependencies in (tokio's test-util, the WebDriver client's TLS and macro crates), exactly as
# scripts/test.sh does, so after the test command nothing is compiled again (a plain
# `cargo run --release` would rebuild ~70 crates for its smaller feature set: 5.4 min measured).
cargo build --release "${feature_args[@]}" --bin speech-coach --test deploy_files
exec "$CARGO_TARGET_DIR/release/speech-coach" serve
