//! Real-time factor and peak memory of the in-process Whisper backend, and the filler-prompt
//! experiment. Driven by `bench/asr.sh`, which runs one process per measurement so peak RSS is
//! per clip, and runs `bench/faster_whisper.py` on the same clips for comparison.
//!
//! ```text
//! cargo bench --bench asr_rtf -- FILE.wav [...]   one JSON line per file (RTF, peak RSS, text)
//! cargo bench --bench asr_rtf -- --fillers        WER and filler recall with/without the prompt
//! cargo bench --bench asr_rtf -- --make-talk en10 OUT.wav   the held-out 10-minute English talk
//!                                                  (espeak-ng), its text in OUT.txt
//! cargo bench --bench asr_rtf -- --make-talk ru3 OUT.wav    3 minutes of the Russian corpus talks
//! cargo bench --bench asr_rtf -- --wer REF.txt HYP.txt      WER / deletion rate as the tests count
//! cargo bench --bench asr_rtf -- --noise-floor IN.wav OUT.wav SEED   IN with a ±4-step noise
//!                                                  floor (seeded), its text copied
//! ```
//! Settings come from the same env vars as the service (`WHISPER_MODEL_DIR`, `WHISPER_THREADS`,
//! `WHISPER_BEAM_SIZE`, `WHISPER_COMPUTE_TYPE`, `WHISPER_LANGUAGE`, `WHISPER_FILLER_PROMPT`,
//! `WHISPER_BATCH_SIZE`, `WHISPER_PACK_SILENCE_SEC`). Speech spans come from the service's VAD.

#[path = "../tests/support/asr.rs"]
mod asr_support;
#[cfg(feature = "whisper")]
#[path = "../tests/support/long_talk.rs"]
mod long_talk;

#[cfg(not(feature = "whisper"))]
fn main() {
    eprintln!("asr_rtf needs the `whisper` feature");
}

#[cfg(feature = "whisper")]
fn main() {
    bench::main();
}

#[cfg(feature = "whisper")]
mod bench {
    use std::path::{Path, PathBuf};
    use std::sync::Arc;
    use std::time::Instant;

    use speech_coach::asr::{AsrInput, WhisperConfig, WhisperTranscriber};

    use speech_coach::audio::vad::{VadConfig, detect};

    use super::asr_support::{
        align, energy_speech_spans, filler_recall, manifest_entry, normalise_words, read_clip,
        read_wav, wer,
    };
    use super::long_talk;

    fn config() -> WhisperConfig {
        let mut cfg = WhisperConfig::default();
        let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        cfg.model_dir = env("WHISPER_MODEL_DIR").map_or_else(
            || PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/models/whisper-base")),
            PathBuf::from,
        );
        if let Some(v) = env("WHISPER_THREADS") {
            cfg.threads = v.parse().expect("WHISPER_THREADS");
        }
        if let Some(v) = env("WHISPER_BEAM_SIZE") {
            cfg.beam_size = v.parse().expect("WHISPER_BEAM_SIZE");
        }
        if let Some(v) = env("WHISPER_COMPUTE_TYPE") {
            cfg.compute_type = v.parse().expect("WHISPER_COMPUTE_TYPE");
        }
        if let Some(v) = env("WHISPER_LANGUAGE") {
            cfg.language = v;
        }
        if let Some(v) = env("WHISPER_FILLER_PROMPT") {
            cfg.filler_prompt = matches!(v.as_str(), "1" | "true" | "yes");
        }
        if let Some(v) = env("WHISPER_WORKERS") {
            cfg.workers = v.parse().expect("WHISPER_WORKERS");
        }
        if let Some(v) = env("WHISPER_BATCH_SIZE") {
            cfg.batch_size = v.parse().expect("WHISPER_BATCH_SIZE");
        }
        if let Some(v) = env("WHISPER_PACK_SILENCE_SEC") {
            cfg.pack_silence_sec = v.parse().expect("WHISPER_PACK_SILENCE_SEC");
        }
        cfg
    }

    /// (current RSS, peak RSS) of this process in MiB, from /proc.
    fn rss_mib() -> (f64, f64) {
        let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
        let field = |name: &str| {
            status
                .lines()
                .find(|l| l.starts_with(name))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<f64>().ok())
                .map_or(0.0, |kib| kib / 1024.0)
        };
        (field("VmRSS:"), field("VmHWM:"))
    }

    pub fn main() {
        // RUST_LOG=speech_coach=debug shows every window's decoding decisions.
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_writer(std::io::stderr)
            .init();
        let args: Vec<String> = std::env::args()
            .skip(1)
            .filter(|a| a != "--bench")
            .collect();
        if args.iter().any(|a| a == "--fillers") {
            fillers();
            return;
        }
        if let [flag, kind, out] = &args[..]
            && flag == "--make-talk"
        {
            let talk = match kind.as_str() {
                "en10" => long_talk::held_out_english(),
                "ru3" => long_talk::build(3.0, "ru"),
                other => panic!("--make-talk {other}: expected en10 or ru3"),
            };
            let wav = talk.write_wav(Path::new(out));
            std::fs::write(wav.with_extension("txt"), talk.text()).expect("write text");
            println!(
                "{}",
                serde_json::json!({"talk": kind, "file": out, "duration_s": talk.duration_sec()})
            );
            return;
        }
        if let [flag, input, out, seed] = &args[..]
            && flag == "--noise-floor"
        {
            let mut samples = long_talk::read_wav_samples(Path::new(input));
            let seed: u64 = seed
                .parse()
                .expect("--noise-floor IN OUT SEED: SEED is a number");
            long_talk::add_noise_floor(&mut samples, seed, 4);
            long_talk::write_wav(Path::new(out), &samples, long_talk::RATE, 1);
            let text = Path::new(input).with_extension("txt");
            if text.is_file() {
                std::fs::copy(&text, Path::new(out).with_extension("txt")).expect("copy text");
            }
            return;
        }
        if let [flag, reference, hypothesis] = &args[..]
            && flag == "--wer"
        {
            let r = normalise_words(&std::fs::read_to_string(reference).expect("reference"));
            let h = normalise_words(&std::fs::read_to_string(hypothesis).expect("hypothesis"));
            let a = align(&r, &h);
            println!(
                "{}",
                serde_json::json!({
                    "wer": a.wer(), "deletion_rate": a.deletion_rate(),
                    "reference_words": r.len(), "hypothesis_words": h.len(),
                })
            );
            return;
        }
        if args.iter().any(|a| a == "--mel") {
            // The Rust-side share of a window: log-mel features of 30 s.
            let ex = speech_coach::asr::features::MelExtractor::new(80);
            let audio: Vec<f32> = (0..480_000)
                .map(|i| (i as f32 * 0.01).sin() * 0.1)
                .collect();
            let t = Instant::now();
            for _ in 0..5 {
                std::hint::black_box(ex.window_features(&audio));
            }
            println!(
                "{}",
                serde_json::json!({"mel_ms_per_30s_window": t.elapsed().as_secs_f64() * 200.0})
            );
            return;
        }
        let cfg = config();
        let t0 = Instant::now();
        let asr = WhisperTranscriber::load(cfg.clone()).expect("load model");
        let load_s = t0.elapsed().as_secs_f64();
        let (rss_loaded, _) = rss_mib();
        for file in args.iter().filter(|a| !a.starts_with("--")) {
            let (samples, rate) = read_wav(Path::new(file));
            assert_eq!(rate, 16_000, "{file}: resample to 16 kHz first");
            let speech = detect(&samples, rate, &VadConfig::default()).speech;
            let duration_s = samples.len() as f64 / 16_000.0;
            let input = AsrInput {
                samples: Arc::from(samples),
                speech,
                language: None,
                watcher: None,
            };
            let t = Instant::now();
            let tr = asr.transcribe_blocking(&input).expect("transcribe");
            let secs = t.elapsed().as_secs_f64();
            let (_, peak) = rss_mib();
            let line = serde_json::json!({
                "impl": "speech-coach (ct2rs)",
                "file": file,
                "duration_s": duration_s,
                "threads": cfg.effective_threads(),
                "beam_size": cfg.beam_size,
                "batch_size": cfg.batch_size,
                "workers": cfg.workers,
                "compute_type": cfg.compute_type.as_str(),
                "load_s": load_s,
                "transcribe_s": secs,
                "rtf": secs / duration_s,
                "rss_after_load_mib": rss_loaded,
                "peak_rss_mib": peak,
                "language": tr.language,
                "words": tr.words().count(),
                "text": tr.text(),
            });
            println!("{line}");
            if std::env::var_os("ASR_BENCH_WORDS").is_some() {
                for w in tr.words() {
                    eprintln!(
                        "  {:>8.3} {:>8.3} p={:.3} {}",
                        w.start_sec, w.end_sec, w.probability, w.word
                    );
                }
            }
        }
    }

    /// WER and filler recall on the corpus clips Whisper can understand, without and with the
    /// per-language filler prompt.
    fn fillers() {
        let clips = [
            "clips/en_talk_1.wav",
            "clips/en_talk_2.wav",
            "clips/ru_talk_1_fest.wav",
            "clips/ru_talk_2_fest.wav",
        ];
        for prompt in [false, true] {
            let cfg = WhisperConfig {
                filler_prompt: prompt,
                ..config()
            };
            let asr = WhisperTranscriber::load(cfg).expect("load model");
            let (mut found, mut total, mut wsum) = (0, 0, 0.0);
            for clip in clips {
                let entry = manifest_entry(clip);
                let samples = read_clip(clip);
                let speech = energy_speech_spans(&samples, 16_000, -40.0);
                let input = AsrInput {
                    samples: Arc::from(samples),
                    speech,
                    language: entry["language"].as_str().map(str::to_string),
                    watcher: None,
                };
                let tr = asr.transcribe_blocking(&input).expect("transcribe");
                let text = tr.text();
                let w = wer(entry["text"].as_str().unwrap(), &text);
                let (f, t) = filler_recall(&entry["fillers"], &text);
                found += f;
                total += t;
                wsum += w;
                let line = serde_json::json!({
                    "filler_prompt": prompt, "clip": clip, "wer": w,
                    "fillers_found": f, "fillers_total": t, "text": text,
                });
                println!("{line}");
            }
            let summary = serde_json::json!({
                "filler_prompt": prompt,
                "mean_wer": wsum / clips.len() as f64,
                "filler_recall": found as f64 / total as f64,
                "fillers_found": found, "fillers_total": total,
            });
            println!("{summary}");
        }
    }
}
