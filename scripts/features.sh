# Sourced by scripts/run.sh and bench/asr.sh: turns FEATURES (a comma-separated list of the crate's
# optional cargo features, e.g. `dnnl`) into `feature_args` for cargo and fetches and exports what
# those features need at build and run time (oneDNN for `dnnl`, oneMKL for `mkl`). The default
# CARGO_TARGET_DIR is the persistent ~/.cache/speech-coach/target, with a suffix for other features
# (target-dnnl), so one build does not recompile CTranslate2 over another's.
# Expects `repo` to be the repository's root.
features_suffix="${FEATURES:+-${FEATURES//,/-}}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/speech-coach/target$features_suffix}"
feature_args=()
if [[ -n "${FEATURES:-}" ]]; then
  feature_args=(--features "$FEATURES")
  if [[ ",$FEATURES," == *,dnnl,* ]]; then
    ONEDNN_ROOT="$("$repo/scripts/fetch-onednn.sh")"
    export ONEDNN_ROOT LD_LIBRARY_PATH="$ONEDNN_ROOT/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  fi
  if [[ ",$FEATURES," == *,mkl,* ]]; then
    MKLROOT="$("$repo/scripts/fetch-mkl.sh")"
    export MKLROOT
  fi
fi
