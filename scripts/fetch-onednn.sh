#!/usr/bin/env bash
# Fetch a prebuilt oneDNN (shared library with GNU OpenMP, and its headers) for the opt-in `dnnl`
# cargo feature and print its folder, to use as ONEDNN_ROOT:
#
#   ONEDNN_ROOT="$(scripts/fetch-onednn.sh)" cargo build --release --features dnnl
#
# The faster-whisper wheel runs CTranslate2's int8 GEMM on oneDNN on AMD CPUs (AVX-512 VNNI
# kernels where the CPU has them). ct2rs's `dnnl` feature would build oneDNN from source through the
# `onednn-src` crate: 1,149 objects, hours on two cores. Cargo.toml patches `onednn-src` with
# `crates/onednn-prebuilt`, which points CTranslate2 at this folder instead. oneDNN ships on the
# package index as the wheels `onednn-cpu-gomp` and `onednn-devel-cpu-gomp`, fetched with
# `pip download --no-deps` (nothing is installed into a Python environment), kept in
# ${SPEECH_COACH_CACHE:-~/.cache/speech-coach}/onednn-<version>/{include,lib}. A second run does no work.
set -euo pipefail

VERSION="${ONEDNN_VERSION:-2023.2.0}" # oneDNN 3.2; ONEDNN_VERSION=2023.1.0 is 3.1 (the faster-whisper wheel has 3.1.1)
cache_root="${SPEECH_COACH_CACHE:-${HOME}/.cache/speech-coach}"
root="$cache_root/onednn-$VERSION"
log() { echo "fetch-onednn: $*" >&2; }

if [[ -f "$root/include/dnnl.h" && -f "$root/lib/libdnnl.so" && -f "$root/.complete" ]]; then
  echo "$root"
  exit 0
fi
wheels="$cache_root/wheels"
mkdir -p "$wheels"
log "downloading onednn-cpu-gomp and onednn-devel-cpu-gomp $VERSION (about 60 MB)"
python3 -m pip download --quiet --no-deps -d "$wheels" \
  "onednn-cpu-gomp==$VERSION" "onednn-devel-cpu-gomp==$VERSION" >&2
rm -rf "$root.new"
mkdir -p "$root.new"
for w in "$wheels"/onednn_cpu_gomp-"$VERSION"-*.whl "$wheels"/onednn_devel_cpu_gomp-"$VERSION"-*.whl; do
  python3 "$(dirname "$0")/wheel-data.py" "$w" "$root.new" libdnnl.so libdnnl.so.3
done
[[ -f "$root.new/include/dnnl.h" && -f "$root.new/lib/libdnnl.so" ]] || { log "error: the wheels lack dnnl.h or libdnnl.so"; exit 1; }
touch "$root.new/.complete"
rm -rf "$root"
mv "$root.new" "$root"
log "ready: $root"
echo "$root"
