#!/usr/bin/env bash
# End to end at real size: a 10- and a 60-minute talk (built from the corpus clips) through the
# release server with the real Whisper model, raw body, language given. For each talk a fresh
# server: wall time of POST /analyze, server RSS before, peak (VmHWM) and after.
#   bench/long_talk.sh [minutes...]      (default: 10 60)
# Needs scripts/fetch-model.sh to have run. Prints a markdown table.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/speech-coach/target}"
cargo build --release --bin speech-coach --example long_talk 2>/dev/null
bin="$CARGO_TARGET_DIR/release/speech-coach"
gen="$CARGO_TARGET_DIR/release/examples/long_talk"
work="$(mktemp -d)"
trap '[ -n "${pid:-}" ] && kill "$pid" 2>/dev/null; rm -rf "$work"' EXIT
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
kib() { awk -v f="$2" '$1==f {print $2}' "/proc/$1/status"; }
echo "| talk | file | size MB | wall s | RTF | server RSS before MiB | peak MiB | after MiB | words |"
echo "|---|---|---|---|---|---|---|---|---|"
for minutes in "${@:-10 60}"; do
  for m in $minutes; do
    # 16 kHz WAV up to 50 min fits the 100 MB limit; longer talks go as FLAC, as users send them.
    ext=wav; [ "$m" -gt 50 ] && ext=flac
    file="$work/talk$m.$ext"
    "$gen" "$m" en "$file" >/dev/null
    BIND_ADDR="127.0.0.1:$port" LOG_FILE="" GIGACHAT_ENABLED=false CACHE_DIR="$work/cache$m" \
      CACHE_MEMORY_MAX_MB=0 WHISPER_MODEL_DIR="$PWD/models/whisper-base" "$bin" serve >/dev/null 2>&1 &
    pid=$!
    until curl -sf "http://127.0.0.1:$port/health" | grep -q '"asr":{[^}]*"status":"ok"'; do sleep 0.5; done
    before=$(kib "$pid" VmRSS:)
    start=$(date +%s.%N)
    curl -sf --data-binary @"$file" -H 'content-type: application/octet-stream' \
      "http://127.0.0.1:$port/analyze?language=en&detail=summary" -o "$work/report$m.json"
    end=$(date +%s.%N)
    peak=$(kib "$pid" VmHWM:); after=$(kib "$pid" VmRSS:)
    python3 - "$work/report$m.json" "$m" "$ext" "$(stat -c %s "$file")" "$start" "$end" "$before" "$peak" "$after" <<'PY'
import json, sys
r = json.load(open(sys.argv[1])); m, ext, size = sys.argv[2], sys.argv[3], int(sys.argv[4])
start, end = float(sys.argv[5]), float(sys.argv[6]); b, p, a = (int(x) / 1024 for x in sys.argv[7:10])
wall = end - start; dur = r["audio"]["duration_sec"]
print(f"| {m} min ({dur:.0f} s) | {ext} | {size/1e6:.1f} | {wall:.1f} | {wall/dur:.3f} | {b:.0f} | {p:.0f} | {a:.0f} | {r['metrics']['words_total']} |")
PY
    kill "$pid"; wait "$pid" 2>/dev/null || true; pid=
  done
done
