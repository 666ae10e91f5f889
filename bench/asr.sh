#!/usr/bin/env bash
# ASR benchmark: speech-coach vs bare Python faster-whisper on the same CTranslate2 weights, same
# thread count, same beam, same machine, same run (the two systems' runs interleaved). Writes JSON
# lines to $SPEECH_COACH_CACHE/bench-results/asr-<mode>-<date>.jsonl and prints them;
# docs/bench/asr.md records a run.
#
#   bench/asr.sh                 talk length (default): a 10-minute English talk (held-out text,
#                                espeak-ng) and a 3-minute Russian talk (corpus Festival clips),
#                                made in the setup; our service end to end (POST /analyze, raw body,
#                                language given, fresh cache) vs faster-whisper transcription:
#                                time, peak RSS, WER, deletion rate. RUNS runs each, interleaved.
#   bench/asr.sh --batch         WHISPER_BATCH_SIZE 1..8 on the 10-minute talk (in-process, no HTTP)
#   bench/asr.sh --concurrency   MAX_CONCURRENT_ANALYSES=2: two analyses at once vs one after the
#                                other (and MAX_CONCURRENT_ANALYSES=1 one after the other)
#   bench/asr.sh --clips         the 30 s clip and a 3-minute clip, in-process (the old table)
#   bench/asr.sh --fillers       the filler-prompt experiment (WER, filler recall)
#   RUNS=1 THREADS=2 BEAM=5 bench/asr.sh
#   OUR_BEAM=1 bench/asr.sh      our service greedy (talks, concurrency), faster-whisper at BEAM
#   FEATURES=mkl bench/asr.sh    our side built with CTranslate2 on oneMKL (scripts/fetch-mkl.sh)
#   FEATURES=openmp OUR_ENV="OMP_WAIT_POLICY=passive" REPLICAS=1 bench/asr.sh   one copy, CTranslate2
#                                with GNU OpenMP; OUR_ENV is set for our server only
#   FEATURES=dnnl bench/asr.sh   CTranslate2 on oneDNN (scripts/features.sh: oneDNN fetched, LD_LIBRARY_PATH
#                                set, built into ~/.cache/speech-coach/target-dnnl)
#   FEATURES=mkl CT2_USE_MKL=1 bench/asr.sh   the same on an AMD CPU (CTranslate2 uses MKL only
#                                on Intel unless told; faster-whisper is run without the variable)
#   REPLICAS=1 bench/asr.sh      our service with 1 model copy of THREADS threads (default: THREADS
#                                copies of 1 thread, MAX_CONCURRENT_ANALYSES=THREADS, as the service
#                                runs on a THREADS-core machine; one analysis decodes on all at once)
#   NOISE=1 RUNS=5 bench/asr.sh  run i transcribes the talks with a ±4-step noise floor of seed i
#                                (both systems the same file): beam search turns the smallest input
#                                change into different words, so one file is one draw of a WER;
#                                the summary gives each system's mean and spread over the seeds
#
# faster-whisper is installed once into a venv under ${SPEECH_COACH_CACHE:-~/.cache/speech-coach}.
# Needs espeak-ng and ffmpeg (scripts/deps.sh test).
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cache="${SPEECH_COACH_CACHE:-$HOME/.cache/speech-coach}"
corpus="${CORPUS:-$repo/tests/corpus}"
threads="${THREADS:-2}"
runs="${RUNS:-3}"
beam="${BEAM:-5}"
our_beam="${OUR_BEAM:-$beam}" # our service's beam (talks, concurrency); faster-whisper keeps BEAM
read -r -a our_env <<<"${OUR_ENV:-}" # extra VAR=value for our server only
replicas="${REPLICAS:-$threads}" # model copies; the service default is one per core
features="${FEATURES:-}"
noise="${NOISE:-0}"
seed=0 # the noise-floor seed of the talk being measured (talks, NOISE=1)
mode="${1:-talks}"
mode="${mode#--}"
# shellcheck source=../scripts/features.sh
source "$repo/scripts/features.sh"

model_dir="$("$repo/scripts/fetch-model.sh")"
cd "$repo"

if [[ "$mode" == fillers ]]; then
  WHISPER_MODEL_DIR="$model_dir" WHISPER_THREADS="$threads" \
    cargo bench --profile release "${feature_args[@]}" --bench asr_rtf -- --fillers
  exit 0
fi

venv="$cache/venv-faster-whisper"
if [[ ! -x "$venv/bin/python" ]] || ! "$venv/bin/python" -c "import faster_whisper" 2>/dev/null; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet "faster-whisper==1.2.1"
fi

cargo build --release "${feature_args[@]}" --bin speech-coach
cargo bench --profile release "${feature_args[@]}" --bench asr_rtf --no-run
bench_bin="$(cargo bench --profile release "${feature_args[@]}" --bench asr_rtf --no-run --message-format=json 2>/dev/null \
  | python3 -c 'import json,sys; print([m["executable"] for m in map(json.loads, sys.stdin) if m.get("reason")=="compiler-artifact" and m["target"]["name"]=="asr_rtf" and m.get("executable")][-1])')"
server_bin="$CARGO_TARGET_DIR/release/speech-coach"

work="$(mktemp -d)"
srv_pid=""
cleanup() {
  if [[ -n "$srv_pid" ]]; then kill "$srv_pid" 2>/dev/null || true; wait "$srv_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
mkdir -p "$cache/bench-results"
out="$cache/bench-results/asr-$mode-$(date +%Y%m%d-%H%M%S).jsonl"
note() { echo "{\"note\": \"$1\", \"date\": \"$(date -u +%FT%TZ)\", \"loadavg\": \"$(cut -d' ' -f1-3 /proc/loadavg)\"}" | tee -a "$out"; }

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# Starts the service (model loaded, fresh cache and uploads dir); sets srv_pid and srv_port.
start_server() {
  srv_port="$(free_port)"
  rm -rf "$work/cache" "$work/uploads"
  env -u REDIS_URL BIND_ADDR="127.0.0.1:$srv_port" GIGACHAT_ENABLED=false \
    WHISPER_MODEL_DIR="$model_dir" WHISPER_BEAM_SIZE="$our_beam" \
    MAX_CONCURRENT_ANALYSES="${1:-1}" WHISPER_THREADS="${2:-0}" \
    UPLOAD_DIR="$work/uploads" CACHE_DIR="$work/cache" LOG_FILE="$work/app.log" LOG_LEVEL=warn \
    ${our_env[@]+"${our_env[@]}"} "$server_bin" serve >"$work/server.out" 2>&1 &
  srv_pid=$!
  for _ in $(seq 1 600); do
    if curl -fs "http://127.0.0.1:$srv_port/health" 2>/dev/null \
      | python3 -c 'import json,sys; sys.exit(json.load(sys.stdin)["components"]["asr"]["status"] != "ok")' 2>/dev/null; then
      return 0
    fi
    kill -0 "$srv_pid" 2>/dev/null || { cat "$work/server.out" >&2; exit 1; }
    sleep 0.2
  done
  echo "server did not load the model" >&2
  exit 1
}

stop_server() {
  kill "$srv_pid" 2>/dev/null || true
  wait "$srv_pid" 2>/dev/null || true
  srv_pid=""
}

# POST one file; prints the wall time in seconds; the report in $work/resp-<tag>.json.
post() { # file language tag
  curl -fsS --max-time 3600 -H 'content-type: application/octet-stream' --data-binary "@$1" \
    "http://127.0.0.1:$srv_port/analyze?language=$2" -o "$work/resp-$3.json" -w '%{time_total}'
}

# WER of a transcript text file against a reference text file (JSON).
score() { "$bench_bin" --wer "$1" "$2"; }

# One measurement of our service on a talk: a fresh server process, one request.
service_run() { # wav language
  start_server "$replicas" "$((threads / replicas > 0 ? threads / replicas : 1))"
  local secs peak
  secs="$(post "$1" "$2" one)"
  peak="$(awk '/VmHWM/ {print $2/1024}' "/proc/$srv_pid/status")"
  stop_server
  python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["transcript"]["text"])' \
    "$work/resp-one.json" >"$work/hyp.txt"
  local asr_ms words s
  asr_ms="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["timings_ms"].get("asr", 0))' "$work/resp-one.json")"
  words="$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["transcript"]["words"]))' "$work/resp-one.json")"
  s="$(score "${1%.wav}.txt" "$work/hyp.txt")"
  python3 -c 'import json,sys; d=json.loads(sys.argv[6]); d.update({"impl": "speech-coach service (POST /analyze)", "file": sys.argv[1], "time_s": float(sys.argv[2]), "asr_s": float(sys.argv[3])/1000, "peak_rss_mib": float(sys.argv[4]), "words": int(sys.argv[5]), "threads": int(sys.argv[7]), "beam_size": int(sys.argv[8]), "replicas": int(sys.argv[9]), "features": sys.argv[10], "noise_seed": int(sys.argv[11])}); print(json.dumps(d))' \
    "$(basename "$1")" "$secs" "$asr_ms" "$peak" "$words" "$s" "$threads" "$our_beam" "$replicas" "$features" "$seed" | tee -a "$out"
}

# One measurement of faster-whisper on a talk (its own process).
fw_run() { # wav language
  # CT2_USE_MKL (MKL on a non-Intel CPU) is for our side only: the wheel keeps its own choice.
  env -u CT2_USE_MKL "$venv/bin/python" "$repo/bench/faster_whisper.py" --model-dir "$model_dir" --threads "$threads" \
    --beam-size "$beam" --language "$2" "$1" >"$work/fw.json"
  python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["text"])' "$work/fw.json" >"$work/hyp.txt"
  local s
  s="$(score "${1%.wav}.txt" "$work/hyp.txt")"
  python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); d.pop("text"); d.update(json.loads(sys.argv[2])); d["file"]=sys.argv[3]; d["time_s"]=d["transcribe_s"]; d["noise_seed"]=int(sys.argv[4]); print(json.dumps(d))' \
    "$work/fw.json" "$s" "$(basename "$1")" "$seed" | tee -a "$out"
}

make_talks() {
  "$bench_bin" --make-talk en10 "$work/en_10min.wav" >&2
  "$bench_bin" --make-talk ru3 "$work/ru_3min.wav" >&2
}

case "$mode" in
talks)
  make_talks
  note "talks start: threads=$threads replicas=$replicas features=$features beam=$beam our_beam=$our_beam our_env=${OUR_ENV:-} runs=$runs noise=$noise"
  for ((i = 1; i <= runs; i++)); do
    for t in "en_10min en" "ru_3min ru"; do
      set -- $t
      wav="$work/$1.wav"
      seed=0
      if [[ "$noise" == 1 ]]; then
        seed="$i"
        wav="$work/$1-seed$i.wav"
        "$bench_bin" --noise-floor "$work/$1.wav" "$wav" "$seed"
      fi
      # Alternate which system goes first, so a load change hits both alike.
      if ((i % 2)); then
        fw_run "$wav" "$2"; service_run "$wav" "$2"
      else
        service_run "$wav" "$2"; fw_run "$wav" "$2"
      fi
    done
  done
  note "talks end"
  # Per system and talk: mean and range of time, WER and peak RSS over the runs.
  python3 - "$out" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if '"impl"' in l]
for f in sorted({r["file"].split("-seed")[0] for r in rows}):
    for impl in sorted({r["impl"] for r in rows}):
        rs = [r for r in rows if r["impl"] == impl and r["file"].split("-seed")[0] == f]
        def stat(k):
            v = [r[k] for r in rs if k in r]
            return {"mean": round(statistics.mean(v), 4), "min": round(min(v), 4), "max": round(max(v), 4)} if v else None
        print(json.dumps({"summary": f, "impl": impl, "runs": len(rs), "time_s": stat("time_s"), "wer": stat("wer"), "peak_rss_mib": stat("peak_rss_mib")}))
PY
  ;;
batch)
  make_talks
  # The first 3 minutes of the English talk: eight windows, enough for a batch of 8.
  ffmpeg -nostdin -hide_banner -loglevel error -y -i "$work/en_10min.wav" -t 180 -c:a pcm_s16le "$work/en_3min.wav"
  note "batch start: threads=$threads beam=$beam"
  for b in ${BATCHES:-1 2 4 8}; do
    WHISPER_MODEL_DIR="$model_dir" WHISPER_THREADS="$threads" WHISPER_BEAM_SIZE="$beam" \
      WHISPER_BATCH_SIZE="$b" WHISPER_LANGUAGE=en "$bench_bin" "$work/en_3min.wav" \
      | python3 -c 'import json,sys; d=json.loads(sys.stdin.read()); d.pop("text"); print(json.dumps(d))' | tee -a "$out"
  done
  note "batch end"
  ;;
concurrency)
  make_talks
  # Two different recordings (no cache or single-flight sharing): the Russian talk and the first
  # 3 minutes of the English one.
  ffmpeg -nostdin -hide_banner -loglevel error -y -i "$work/en_10min.wav" -t 180 -c:a pcm_s16le "$work/en_3min.wav"
  a="$work/en_3min.wav"; b="$work/ru_3min.wav"
  note "concurrency start"
  for ((i = 1; i <= runs; i++)); do
    for max in 2 1; do
      start_server "$max" 0
      t0="$(date +%s.%N)"; post "$a" en a >/dev/null; post "$b" ru b >/dev/null; t1="$(date +%s.%N)"
      echo "{\"max_concurrent\": $max, \"how\": \"one after the other\", \"wall_s\": $(echo "$t1 - $t0" | bc)}" | tee -a "$out"
      stop_server
      if [[ "$max" == 2 ]]; then
        start_server 2 0
        t0="$(date +%s.%N)"
        post "$a" en a >/dev/null & p1=$!
        post "$b" ru b >/dev/null & p2=$!
        wait "$p1" "$p2"
        t1="$(date +%s.%N)"
        echo "{\"max_concurrent\": 2, \"how\": \"two at once\", \"wall_s\": $(echo "$t1 - $t0" | bc)}" | tee -a "$out"
        stop_server
      fi
    done
  done
  note "concurrency end"
  ;;
clips)
  clip30="$corpus/clips/en_talk_1.wav"
  list=()
  for _ in 1 2 3 4 5; do list+=(-i "$corpus/clips/en_talk_1.wav" -i "$corpus/clips/en_talk_2.wav"); done
  ffmpeg -nostdin -hide_banner -loglevel error -y "${list[@]}" \
    -filter_complex "concat=n=10:v=0:a=1,atrim=0:180" -ar 16000 -ac 1 -c:a pcm_s16le "$work/en_3min.wav"
  for clip in "$clip30" "$work/en_3min.wav"; do
    for ((i = 1; i <= runs; i++)); do
      # One process per measurement so each peak RSS is its own.
      WHISPER_MODEL_DIR="$model_dir" WHISPER_THREADS="$threads" WHISPER_BEAM_SIZE="$beam" \
        "$bench_bin" "$clip" | tee -a "$out"
      "$venv/bin/python" "$repo/bench/faster_whisper.py" --model-dir "$model_dir" \
        --threads "$threads" --beam-size "$beam" "$clip" | tee -a "$out"
    done
  done
  ;;
*)
  echo "unknown mode $mode (talks, batch, concurrency, clips, fillers)" >&2
  exit 2
  ;;
esac
echo "results: $out" >&2
