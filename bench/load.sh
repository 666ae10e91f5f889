#!/usr/bin/env bash
# Admission-control load test (issue 8), loopback only, bounded in time (< 2 min after the build).
#
# Starts a fake OpenAI-compatible ASR (examples/fake_asr.rs, fixed delay) and the real
# speech-coach binary with ASR_BACKEND=openai pointed at it, so cold uploads take real pipeline
# time (decode, VAD, WAV re-encode, HTTP round trip, analysis) without Whisper's CPU cost. Then
# examples/load.rs: hits alone, then the same hits while cold uploads keep every slot busy;
# prints hit p50/p99 for both phases, status counts, server RSS over the run, and fails on any
# 5xx other than 503.
#
#   bench/load.sh                      build (release, no whisper feature) and run
#   SPEECH_COACH_BIN=/path/to/bin bench/load.sh   use a given server binary
#   ASR_DELAY_MS=500 MAX_CONCURRENT_ANALYSES=2 MAX_QUEUED_ANALYSES=4 COLD_WORKERS=10 bench/load.sh
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$repo/target}"
delay_ms="${ASR_DELAY_MS:-500}"

cd "$repo"
cargo build --release --no-default-features --bin speech-coach --example fake_asr --example load
bin="${SPEECH_COACH_BIN:-$CARGO_TARGET_DIR/release/speech-coach}"
examples="$CARGO_TARGET_DIR/release/examples"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
work="$(mktemp -d)"
asr_pid=""; srv_pid=""
cleanup() {
  [[ -n "$srv_pid" ]] && kill "$srv_pid" 2>/dev/null || true
  [[ -n "$asr_pid" ]] && kill "$asr_pid" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

asr_port="$(free_port)"
"$examples/fake_asr" "127.0.0.1:$asr_port" "$delay_ms" >"$work/asr.log" 2>&1 &
asr_pid=$!

srv_port="$(free_port)"
env -u REDIS_URL BIND_ADDR="127.0.0.1:$srv_port" \
  ASR_BACKEND=openai ASR_URL="http://127.0.0.1:$asr_port" \
  GIGACHAT_ENABLED=false \
  MAX_CONCURRENT_ANALYSES="${MAX_CONCURRENT_ANALYSES:-2}" \
  MAX_QUEUED_ANALYSES="${MAX_QUEUED_ANALYSES:-4}" \
  QUEUE_TIMEOUT_SEC="${QUEUE_TIMEOUT_SEC:-10}" \
  UPLOAD_DIR="$work/uploads" CACHE_DIR="$work/cache" LOG_FILE="$work/app.log" LOG_LEVEL=warn \
  "$bin" serve >"$work/server.out" 2>&1 &
srv_pid=$!

for _ in $(seq 1 200); do
  curl -fsS "http://127.0.0.1:$srv_port/health" >/dev/null 2>&1 && break
  kill -0 "$srv_pid" 2>/dev/null || { cat "$work/server.out"; exit 1; }
  sleep 0.05
done

echo "server pid $srv_pid on 127.0.0.1:$srv_port, fake ASR on :$asr_port (${delay_ms} ms)"
status=0
timeout 150 "$examples/load" "http://127.0.0.1:$srv_port" "$srv_pid" || status=$?
echo "fake ASR calls: $(curl -fsS "http://127.0.0.1:$asr_port/calls")"
exit $status
