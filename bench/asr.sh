#!/usr/bin/env bash
# ASR benchmark: speech-coach's in-process Whisper vs Python faster-whisper, same model files,
# same thread count, same beam, same machine, same run. Writes JSON lines to
# $SPEECH_COACH_CACHE/bench-results/asr-<date>.jsonl and prints them; docs/bench/asr.md records a run.
#
#   bench/asr.sh                 30 s and 3 min clips, 3 runs each per implementation
#   RUNS=1 THREADS=2 bench/asr.sh
#   bench/asr.sh --fillers       only the filler-prompt experiment (WER, filler recall)
#
# faster-whisper is installed once into a venv under ${SPEECH_COACH_CACHE:-~/.cache/speech-coach}.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cache="${SPEECH_COACH_CACHE:-$HOME/.cache/speech-coach}"
corpus="${CORPUS:-$repo/tests/corpus}"
threads="${THREADS:-2}"
runs="${RUNS:-3}"
beam="${BEAM:-5}"
# The dev profile shares CTranslate2 (built as optimised C++ in every profile) with the test
# build; PROFILE=release measures a fully optimised binary at the cost of a second C++ build.
profile="${PROFILE:-dev}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$repo/target}"

model_dir="$("$repo/scripts/fetch-model.sh")"

if [[ "${1:-}" == "--fillers" ]]; then
  cd "$repo"
  WHISPER_MODEL_DIR="$model_dir" WHISPER_THREADS="$threads" \
    cargo bench --profile "$profile" --bench asr_rtf -- --fillers
  exit 0
fi

venv="$cache/venv-faster-whisper"
if [[ ! -x "$venv/bin/python" ]] || ! "$venv/bin/python" -c "import faster_whisper" 2>/dev/null; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet "faster-whisper==1.2.1"
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
clip30="$corpus/clips/en_talk_1.wav"
# 3 minutes of English: the two English talks repeated, cut at 180 s.
list=()
for _ in 1 2 3 4 5; do list+=(-i "$corpus/clips/en_talk_1.wav" -i "$corpus/clips/en_talk_2.wav"); done
ffmpeg -nostdin -hide_banner -loglevel error -y "${list[@]}" \
  -filter_complex "concat=n=10:v=0:a=1,atrim=0:180" -ar 16000 -ac 1 -c:a pcm_s16le "$work/en_3min.wav"

(cd "$repo" && cargo bench --profile "$profile" --bench asr_rtf --no-run)
bench_bin="$(cd "$repo" && cargo bench --profile "$profile" --bench asr_rtf --no-run --message-format=json 2>/dev/null \
  | python3 -c 'import json,sys; print([m["executable"] for m in map(json.loads, sys.stdin) if m.get("reason")=="compiler-artifact" and m["target"]["name"]=="asr_rtf" and m.get("executable")][-1])')"

mkdir -p "$cache/bench-results"
out="$cache/bench-results/asr-$(date +%Y%m%d-%H%M%S).jsonl"
for clip in "$clip30" "$work/en_3min.wav"; do
  for ((i = 1; i <= runs; i++)); do
    # One process per measurement so each peak RSS is its own.
    WHISPER_MODEL_DIR="$model_dir" WHISPER_THREADS="$threads" WHISPER_BEAM_SIZE="$beam" \
      "$bench_bin" "$clip" | tee -a "$out"
    "$venv/bin/python" "$repo/bench/faster_whisper.py" --model-dir "$model_dir" \
      --threads "$threads" --beam-size "$beam" "$clip" | tee -a "$out"
  done
done
echo "results: $out" >&2
