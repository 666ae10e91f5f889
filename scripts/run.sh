#!/usr/bin/env bash
# Sets up everything and runs the service with embedded defaults: no Redis, no GigaChat
# (rule-based feedback), the multilingual Whisper base model fetched once into models/.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh run
scripts/fetch-model.sh
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/speech-coach/target}"
exec cargo run --release --bin speech-coach -- serve
