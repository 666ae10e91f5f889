#!/usr/bin/env python3
"""Python faster-whisper on the same model files, threads and beam as speech-coach's bench.

Prints one JSON line per file with the same fields as `cargo bench --bench asr_rtf`, so
bench/asr.sh can put both in one table. Run it in its own process per file: peak RSS
(ru_maxrss) is per process.

    python bench/faster_whisper.py --model-dir models/whisper-base --threads 2 FILE.wav
"""
import argparse
import json
import os
import resource
import sys
import time
import wave

# This file's own name would shadow the faster_whisper package: drop its folder from the path.
_here = os.path.dirname(os.path.abspath(__file__))
sys.path = [p for p in sys.path if os.path.abspath(p or ".") != _here]

import numpy as np  # noqa: E402


def read_wav(path):
    with wave.open(path, "rb") as w:
        if w.getsampwidth() != 2 or w.getframerate() != 16000:
            sys.exit(f"{path}: need 16-bit PCM at 16 kHz")
        data = np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16)
        ch = w.getnchannels()
    audio = data.astype(np.float32) / 32768.0
    if ch > 1:
        audio = audio.reshape(-1, ch).mean(axis=1)
    return audio


def rss_mib():
    with open("/proc/self/status") as f:
        fields = dict(line.split(":", 1) for line in f if ":" in line)
    return float(fields["VmRSS"].split()[0]) / 1024


def main():
    p = argparse.ArgumentParser()
    p.add_argument("files", nargs="+")
    p.add_argument("--model-dir", default="models/whisper-base")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--beam-size", type=int, default=5)
    p.add_argument("--compute-type", default="int8")
    p.add_argument("--no-vad", action="store_true", help="disable faster-whisper's Silero VAD filter")
    p.add_argument("--language", default=None, help="force a language (default: detect)")
    args = p.parse_args()

    from faster_whisper import WhisperModel
    import faster_whisper

    t0 = time.perf_counter()
    model = WhisperModel(args.model_dir, device="cpu", compute_type=args.compute_type,
                         cpu_threads=args.threads, num_workers=1)
    load_s = time.perf_counter() - t0
    rss_loaded = rss_mib()
    for path in args.files:
        audio = read_wav(path)
        t = time.perf_counter()
        # Each window decoded on its own, as speech-coach does (no previous-text prompt).
        segments, info = model.transcribe(audio, beam_size=args.beam_size, word_timestamps=True,
                                          vad_filter=not args.no_vad, language=args.language,
                                          condition_on_previous_text=False)
        segments = list(segments)  # the generator does the work
        secs = time.perf_counter() - t
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        words = sum(len(s.words or []) for s in segments)
        print(json.dumps({
            "impl": f"faster-whisper {faster_whisper.__version__}",
            "file": path,
            "duration_s": len(audio) / 16000,
            "threads": args.threads,
            "beam_size": args.beam_size,
            "compute_type": args.compute_type,
            "load_s": load_s,
            "transcribe_s": secs,
            "rtf": secs / (len(audio) / 16000),
            "rss_after_load_mib": rss_loaded,
            "peak_rss_mib": peak,
            "language": info.language,
            "words": words,
            "text": " ".join(s.text.strip() for s in segments),
        }, ensure_ascii=False), flush=True)


if __name__ == "__main__":
    main()
