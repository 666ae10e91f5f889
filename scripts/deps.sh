#!/usr/bin/env bash
# Installs the system packages speech-coach needs to build and test, if missing (Debian/Ubuntu).
#   build: cmake, g++, pkg-config (CTranslate2 is compiled from source by the ct2rs crate)
#   run:   ffmpeg (fallback decoder for containers the built-in decoder cannot read, e.g. Opus)
#   tests: redis-server and postgresql (the harness starts its own servers on free ports),
#          chromium + chromium-driver, espeak-ng (talks synthesised at test time by
#          tests/asr_long_talk.rs, tests/words_e2e.rs and bench/asr.sh)
# Usage: scripts/deps.sh [run|test]
set -euo pipefail
mode="${1:-test}"
need=()
have() { command -v "$1" >/dev/null 2>&1; }
have cmake || need+=(cmake)
have g++ || need+=(g++)
have pkg-config || need+=(pkg-config)
have ffmpeg || need+=(ffmpeg)
have pip3 || have pip || need+=(python3-pip)
if [ "$mode" = test ]; then
  have redis-server || need+=(redis-server)
  have chromium || need+=(chromium)
  have chromedriver || need+=(chromium-driver)
  have espeak-ng || need+=(espeak-ng)
  # Debian keeps the server binaries off PATH, under /usr/lib/postgresql/<version>/bin.
  compgen -G "/usr/lib/postgresql/*/bin/postgres" >/dev/null || need+=(postgresql)
fi
if [ "${#need[@]}" -gt 0 ]; then
  echo "deps: installing ${need[*]}" >&2
  SUDO=""
  if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
