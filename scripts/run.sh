#!/usr/bin/env bash
# Sets up everything and runs the service with embedded defaults: no Redis, no GigaChat
# (rule-based feedback), the multilingual Whisper base model fetched once into models/.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh run
scripts/fetch-model.sh
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/speech-coach/target}"
# Built together with one small test target: cargo then resolves features with the
# dev-dependencies in (tokio's test-util, the WebDriver client's TLS and macro crates), exactly as
# scripts/test.sh does, so after the test command nothing is compiled again (a plain
# `cargo run --release` would rebuild ~70 crates for its smaller feature set: 5.4 min measured).
cargo build --release --bin speech-coach --test deploy_files
exec "$CARGO_TARGET_DIR/release/speech-coach" serve
