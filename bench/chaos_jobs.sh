#!/usr/bin/env bash
# Jobs across replicas under chaos (issue 15), loopback only, bounded (TIME_LIMIT_SEC, 900 s).
#
# Starts a redis-server (AOF), the fake OpenAI-compatible ASR (examples/fake_asr.rs) with a fixed
# CPU cost per call, and speech-coach replicas (one slot, one worker each) on free ports. Measures
# jobs/s at 1, 2 and 3 replicas, then posts 200 jobs over 3 replicas while one replica is killed
# (SIGKILL) and restarted every few seconds, and checks every job ends `done` exactly once with
# nothing left in the stream. Prints one JSON object (bench/chaos_jobs.py does the work).
#
#   bench/chaos_jobs.sh                                   build (release, no whisper) and run
#   SPEECH_COACH_BIN=… FAKE_ASR_BIN=… bench/chaos_jobs.sh  use given binaries
#   JOBS=30 CHAOS_JOBS=200 ASR_CPU_MS=300 KILL_EVERY_SEC=4 DOWN_SEC=1 bench/chaos_jobs.sh
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$repo/target}"
cd "$repo"
if [[ -z "${SPEECH_COACH_BIN:-}" || -z "${FAKE_ASR_BIN:-}" ]]; then
  cargo build --release --no-default-features --bin speech-coach --example fake_asr
fi
export SPEECH_COACH_BIN="${SPEECH_COACH_BIN:-$CARGO_TARGET_DIR/release/speech-coach}"
export FAKE_ASR_BIN="${FAKE_ASR_BIN:-$CARGO_TARGET_DIR/release/examples/fake_asr}"
command -v redis-server >/dev/null || { echo "redis-server not on PATH" >&2; exit 2; }
exec python3 "$repo/bench/chaos_jobs.py"
