#!/usr/bin/env bash
# End-to-end cache-hit benchmark of POST /analyze on 127.0.0.1: the release binary (no Whisper:
# ASR_BACKEND=openai against examples/fake_asr_instant.rs), memory + disk cache (no Redis), a
# 1 MB and a 10 MB WAV uploaded once (cold, analysed), then hammered with hits by
# examples/hit_load.rs at 1, 16 and 64 connections. Prints Markdown rows; docs/bench/cache_http.md
# records a run.
#
#   bench/hit_load.sh                      10 s (or 20000 requests) per case
#   SECONDS_PER_CASE=5 CONNECTIONS="1 16" bench/hit_load.sh
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
corpus="${CORPUS:-$repo/tests/corpus}"
seconds="${SECONDS_PER_CASE:-10}"
max_requests="${MAX_REQUESTS:-20000}"
connections="${CONNECTIONS:-1 16 64}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$repo/target}"

cd "$repo"
cargo build --release --no-default-features --bin speech-coach \
  --example fake_asr_instant --example hit_load >&2
bin="$CARGO_TARGET_DIR/release"

work="$(mktemp -d)"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

# Inputs: the 1 MB corpus talk, and ten of it back to back as one 10 MB WAV.
cp "$corpus/clips/en_talk_1.wav" "$work/talk_1mb.wav"
python3 - "$corpus/clips/en_talk_1.wav" "$work/talk_10mb.wav" <<'EOF'
import sys, wave
src, dst = sys.argv[1], sys.argv[2]
with wave.open(src, "rb") as r:
    params, frames = r.getparams(), r.readframes(r.getnframes())
with wave.open(dst, "wb") as w:
    w.setparams(params)
    w.writeframes(frames * 10)
EOF

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
asr_port="$(free_port)"
app_port="$(free_port)"

"$bin/examples/fake_asr_instant" "127.0.0.1:$asr_port" >"$work/asr.log" 2>&1 &
pids+=($!)

ASR_BACKEND=openai ASR_URL="http://127.0.0.1:$asr_port" BIND_ADDR="127.0.0.1:$app_port" \
  GIGACHAT_ENABLED=false LOG_FILE= LOG_LEVEL=warn \
  UPLOAD_DIR="$work/uploads" CACHE_DIR="$work/cache" \
  "$bin/speech-coach" serve >"$work/app.log" 2>&1 &
app_pid=$!
pids+=($app_pid)

url="http://127.0.0.1:$app_port"
for _ in $(seq 1 200); do
  curl -fsS "$url/health" >/dev/null 2>&1 && break
  sleep 0.05
done
curl -fsS "$url/health" >/dev/null || { cat "$work/app.log" >&2; exit 1; }

echo "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg), $(date -u +%FT%TZ)"
echo
echo "Cold uploads (analysed once; the fake ASR answers at once):"
echo
for f in talk_1mb talk_10mb; do
  t="$(curl -sS -o "$work/$f.json" -w '%{http_code} %{time_total}' \
    -H 'content-type: audio/wav' --data-binary "@$work/$f.wav" "$url/analyze")"
  echo "- $f.wav ($(stat -c %s "$work/$f.wav") bytes): HTTP ${t% *}, ${t#* } s," \
    "x-cache miss → words_total $(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["metrics"]["words_total"])' "$work/$f.json")"
done
echo
echo "| upload | connections | requests | p50 ms | p90 ms | p99 ms | max ms | req/s | MB/s | server CPU ms/req |"
echo "|---|---|---|---|---|---|---|---|---|---|"
for f in talk_1mb talk_10mb; do
  for c in $connections; do
    "$bin/examples/hit_load" "$url/analyze" "$work/$f.wav" "$c" "$seconds" "$max_requests" "$app_pid"
  done
done
echo
curl -fsS "$url/stats/cache"
echo
