#!/usr/bin/env bash
# Fetch Intel oneMKL (static libraries and headers) for the opt-in `mkl` cargo feature and print the
# folder to use as MKLROOT:
#
#   MKLROOT="$(scripts/fetch-mkl.sh)" cargo build --release --features mkl
#
# CTranslate2's default GEMM here is Ruy; the faster-whisper wheel uses MKL's packed int8 GEMM on
# Intel CPUs, and that is most of the speed gap (docs/bench/asr.md). MKL ships on the package index
# as the wheels `mkl-static` and `mkl-include`, fetched with `pip download --no-deps` (nothing is
# installed into a Python environment). Only the four libraries CTranslate2 links (core, the ILP64
# interface, sequential and GNU threading layers) and the headers are kept, in
# ${SPEECH_COACH_CACHE:-~/.cache/speech-coach}/mkl-<version>/{include,lib}. A second run does no work.
set -euo pipefail

VERSION=2026.2.0
cache_root="${SPEECH_COACH_CACHE:-${HOME}/.cache/speech-coach}"
root="$cache_root/mkl-$VERSION"
log() { echo "fetch-mkl: $*" >&2; }

if [[ -f "$root/include/mkl.h" && -f "$root/lib/libmkl_core.a" && -f "$root/.complete" ]]; then
  echo "$root"
  exit 0
fi
wheels="$cache_root/wheels"
mkdir -p "$wheels"
log "downloading mkl-static and mkl-include $VERSION (about 250 MB)"
python3 -m pip download --quiet --no-deps -d "$wheels" "mkl-static==$VERSION" "mkl-include==$VERSION" >&2
rm -rf "$root.new"
mkdir -p "$root.new"
for w in "$wheels"/mkl_static-"$VERSION"-*.whl "$wheels"/mkl_include-"$VERSION"-*.whl; do
  python3 "$(dirname "$0")/wheel-data.py" "$w" "$root.new" \
    libmkl_core.a libmkl_intel_ilp64.a libmkl_sequential.a libmkl_gnu_thread.a
done
[[ -f "$root.new/include/mkl.h" && -f "$root.new/lib/libmkl_core.a" ]] || { log "error: the wheels lack mkl.h or libmkl_core.a"; exit 1; }
touch "$root.new/.complete"
rm -rf "$root"
mv "$root.new" "$root"
log "ready: $root"
echo "$root"
