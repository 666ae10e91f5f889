//! Decode + resample + VAD on a 10-minute recording, per input format: real-time factor and
//! peak memory.
//!
//! `cargo bench --no-default-features --bench audio_pipeline`
//!
//! The parent builds a 10-minute clip by repeating the corpus talks (16 kHz mono WAV), converts it
//! with ffmpeg into the other formats in a temp dir, then runs one child process per format so
//! each peak-RSS reading (`VmHWM`) belongs to that format alone. Each child decodes the file
//! `RUNS` times; the first run gives the peak memory, the fastest the time.

use speech_coach::audio::vad::{self, VadConfig};
use speech_coach::audio::{DecodeLimits, TARGET_SAMPLE_RATE, decode_file, find_ffmpeg};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

const CORPUS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/corpus");
const TARGET_SEC: f64 = 600.0;
const RUNS: usize = 3;
const CHILD_ENV: &str = "AUDIO_BENCH_FILE";

/// (label, file name, ffmpeg output arguments; empty = the WAV written directly).
const FORMATS: &[(&str, &str, &[&str])] = &[
    ("WAV pcm_s16le 16 kHz mono", "talk.wav", &[]),
    (
        "WAV pcm_s16le 44.1 kHz stereo",
        "talk_44k.wav",
        &["-ar", "44100", "-ac", "2", "-c:a", "pcm_s16le"],
    ),
    ("FLAC 16 kHz mono", "talk.flac", &["-c:a", "flac"]),
    (
        "MP3 48 kbit/s 16 kHz mono",
        "talk.mp3",
        &["-c:a", "libmp3lame", "-b:a", "48k"],
    ),
    (
        "MP3 128 kbit/s 44.1 kHz stereo",
        "talk_44k.mp3",
        &[
            "-ar",
            "44100",
            "-ac",
            "2",
            "-c:a",
            "libmp3lame",
            "-b:a",
            "128k",
        ],
    ),
    (
        "AAC 48 kbit/s in M4A",
        "talk.m4a",
        &["-c:a", "aac", "-b:a", "48k"],
    ),
    (
        "Ogg/Vorbis q3",
        "talk.ogg",
        &["-c:a", "libvorbis", "-q:a", "3"],
    ),
    (
        "WebM/Opus 24 kbit/s (ffmpeg fallback)",
        "talk.webm",
        &["-c:a", "libopus", "-b:a", "24k"],
    ),
];

fn main() {
    if let Ok(file) = std::env::var(CHILD_ENV) {
        child(Path::new(&file));
        return;
    }
    let ffmpeg = find_ffmpeg().expect("the benchmark needs ffmpeg on PATH to build its inputs");
    let dir = tempfile::tempdir().unwrap();
    let wav = dir.path().join("talk.wav");
    let secs = write_long_wav(&wav);
    eprintln!("built a {secs:.0} s clip in {}", dir.path().display());

    println!(
        "| format | file MB | decode s | VAD s | total s | real-time factor | peak RSS MB | peak / decoded |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    for (label, name, args) in FORMATS {
        let path = dir.path().join(name);
        if !args.is_empty() {
            let status = Command::new(&ffmpeg)
                .args(["-nostdin", "-hide_banner", "-loglevel", "error", "-y", "-i"])
                .arg(&wav)
                .args(*args)
                .arg(&path)
                .status()
                .unwrap();
            assert!(status.success(), "ffmpeg could not make {name}");
        }
        let out = Command::new(std::env::current_exe().unwrap())
            .env(CHILD_ENV, &path)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{label}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let line = String::from_utf8_lossy(&out.stdout);
        let v: Vec<f64> = line
            .split_whitespace()
            .map(|x| x.parse().unwrap())
            .collect();
        let (decode_s, vad_s, audio_s, hwm_mb) = (v[0], v[1], v[2], v[3]);
        let decoded_mb = audio_s * f64::from(TARGET_SAMPLE_RATE) * 4.0 / 1e6;
        let file_mb = std::fs::metadata(&path).unwrap().len() as f64 / 1e6;
        println!(
            "| {label} | {file_mb:.1} | {decode_s:.3} | {vad_s:.3} | {:.3} | {:.0}× | {hwm_mb:.1} | {:.2}× |",
            decode_s + vad_s,
            audio_s / (decode_s + vad_s),
            hwm_mb / decoded_mb
        );
    }
}

/// Measure one file: prints `decode_s vad_s audio_s peak_rss_mb`.
fn child(path: &Path) {
    let limits = DecodeLimits {
        ffmpeg_path: find_ffmpeg(),
        ..DecodeLimits::default()
    };
    let cfg = VadConfig::default();
    let (mut best_decode, mut best_vad, mut audio_s, mut peak_mb) = (f64::MAX, f64::MAX, 0.0, 0.0);
    for run in 0..RUNS {
        let t = Instant::now();
        let audio = decode_file(path, &limits).expect("decodes");
        let decode_s = t.elapsed().as_secs_f64();
        let t = Instant::now();
        let map = vad::detect(&audio.samples, TARGET_SAMPLE_RATE, &cfg);
        let vad_s = t.elapsed().as_secs_f64();
        assert!(!map.speech.is_empty());
        best_decode = best_decode.min(decode_s);
        best_vad = best_vad.min(vad_s);
        audio_s = audio.info.duration_sec;
        if run == 0 {
            peak_mb = vm_hwm_kb() as f64 * 1024.0 / 1e6;
        }
    }
    println!("{best_decode} {best_vad} {audio_s} {peak_mb}");
}

fn vm_hwm_kb() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// Repeat the corpus talks (16 kHz mono 16-bit WAVs) to `TARGET_SEC` and write one WAV.
fn write_long_wav(out: &Path) -> f64 {
    let clips: Vec<PathBuf> = [
        "en_talk_1",
        "ru_talk_1_fest",
        "en_talk_2",
        "ru_talk_2",
        "ru_talk_1",
        "ru_talk_2_fest",
    ]
    .iter()
    .map(|c| Path::new(CORPUS).join(format!("clips/{c}.wav")))
    .collect();
    let mut pcm: Vec<u8> = Vec::new();
    let want = (TARGET_SEC * f64::from(TARGET_SAMPLE_RATE)) as usize * 2;
    'fill: loop {
        for clip in &clips {
            let bytes = std::fs::read(clip).unwrap();
            // The corpus WAVs have the canonical 44-byte header.
            pcm.extend_from_slice(&bytes[44..]);
            if pcm.len() >= want {
                break 'fill;
            }
        }
    }
    pcm.truncate(want);
    let mut f = std::fs::File::create(out).unwrap();
    let rate = TARGET_SAMPLE_RATE;
    let mut h = Vec::new();
    h.extend_from_slice(b"RIFF");
    h.extend_from_slice(&(36 + pcm.len() as u32).to_le_bytes());
    h.extend_from_slice(b"WAVEfmt ");
    h.extend_from_slice(&16u32.to_le_bytes());
    h.extend_from_slice(&1u16.to_le_bytes());
    h.extend_from_slice(&1u16.to_le_bytes());
    h.extend_from_slice(&rate.to_le_bytes());
    h.extend_from_slice(&(rate * 2).to_le_bytes());
    h.extend_from_slice(&2u16.to_le_bytes());
    h.extend_from_slice(&16u16.to_le_bytes());
    h.extend_from_slice(b"data");
    h.extend_from_slice(&(pcm.len() as u32).to_le_bytes());
    f.write_all(&h).unwrap();
    f.write_all(&pcm).unwrap();
    (pcm.len() / 2) as f64 / f64::from(rate)
}
