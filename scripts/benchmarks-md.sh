#!/usr/bin/env bash
# Rebuilds BENCHMARKS.md from its summary header and the per-area results in docs/bench/*.md.
# Each area's file records the machine, command and date of its run.
set -euo pipefail
cd "$(dirname "$0")/.."
{
  cat docs/bench/README.md
  for area in audio asr domain cache cache_http admission coach coach_http web history jobs replicas long_talks; do
    f="docs/bench/${area}.md"
    [ -f "$f" ] || continue
    echo
    echo "---"
    echo
    # Demote headings one level so each area nests under this page.
    sed -e 's/^# /## /' -e 's/^## \(.*\)/### \1/' "$f" | sed -e '0,/^### /s//## /'
  done
} > BENCHMARKS.md
