//! Talks of real length (10, 60 minutes), made when a test runs from the corpus clips: the clips
//! of one language one after another, separated by silences of varied length, until the target
//! length is reached. Nothing this size is committed; the text of what was spoken is known exactly.
//!
//! Part of `tests/support` (`support::long_talk`); a bench or example includes it on its own
//! with `#[path = "../tests/support/long_talk.rs"] mod long_talk;` (it brings its own `corpus`).
#![allow(dead_code)]

// Its own copy, so benches and examples can include this file alone; inside `support` the
// same file is also `support::corpus` (same items, no state).
#[allow(clippy::duplicate_mod)]
#[path = "corpus.rs"]
mod corpus;

use std::path::{Path, PathBuf};

/// The rate of every corpus clip in `clips/` (16 kHz mono, 16-bit PCM).
pub const RATE: u32 = 16_000;

/// A talk assembled from corpus clips.
pub struct LongTalk {
    /// Mono 16-bit samples at [`RATE`].
    pub samples: Vec<i16>,
    /// What was spoken, clip by clip, with where each clip starts and ends (seconds).
    pub parts: Vec<Part>,
}

/// One clip inside a long talk.
pub struct Part {
    /// The corpus file, e.g. `clips/en_talk_1.wav`.
    pub clip: String,
    pub start_sec: f64,
    pub end_sec: f64,
    /// The clip's exact text (from the manifest).
    pub text: String,
}

impl LongTalk {
    pub fn duration_sec(&self) -> f64 {
        self.samples.len() as f64 / f64::from(RATE)
    }

    /// Everything that was said, in order.
    pub fn text(&self) -> String {
        self.parts
            .iter()
            .map(|p| p.text.as_str())
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// The talk as a 16 kHz mono 16-bit WAV file.
    pub fn write_wav(&self, path: &Path) -> PathBuf {
        write_wav(path, &self.samples, RATE, 1);
        path.to_path_buf()
    }
}

/// The samples of a 16 kHz mono 16-bit corpus WAV.
pub fn read_clip(clip: &str) -> Vec<i16> {
    let path = corpus::path(clip);
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{clip}: {e}"));
    assert_eq!(&bytes[0..4], b"RIFF", "{clip}");
    read_wav_samples(&path)
}

/// Clips of a language usable for long talks (intelligible voices only for Russian).
pub fn clips_for(language: &str) -> &'static [&'static str] {
    match language {
        "en" => &["clips/en_talk_1.wav", "clips/en_talk_2.wav"],
        "ru" => &["clips/ru_talk_1_fest.wav", "clips/ru_talk_2_fest.wav"],
        other => panic!("no clips for {other}"),
    }
}

/// A talk of exactly `minutes` minutes in `language` (`en` or `ru`): the language's clips in
/// turn, separated by silences cycling through 0.7, 1.6, 3.2 and 6.5 s (breaths, pauses, a long
/// silence that a VAD-packing recogniser may cut out), as many clips as fit, then silence to the
/// end (a 60-minute talk is 3600.0 s, exactly the default `MAX_AUDIO_DURATION_SEC`).
pub fn build(minutes: f64, language: &str) -> LongTalk {
    let clips: Vec<(String, Vec<i16>, String)> = clips_for(language)
        .iter()
        .map(|c| (c.to_string(), read_clip(c), corpus::text(c).to_string()))
        .collect();
    let gaps_sec = [0.7, 1.6, 3.2, 6.5];
    let target = (minutes * 60.0 * f64::from(RATE)) as usize;
    let mut samples: Vec<i16> = Vec::with_capacity(target + 40 * RATE as usize);
    let mut parts = Vec::new();
    let mut i = 0usize;
    loop {
        let (name, audio, text) = &clips[i % clips.len()];
        if samples.len() + audio.len() > target {
            break;
        }
        let start_sec = samples.len() as f64 / f64::from(RATE);
        samples.extend_from_slice(audio);
        parts.push(Part {
            clip: name.clone(),
            start_sec,
            end_sec: samples.len() as f64 / f64::from(RATE),
            text: text.clone(),
        });
        let gap = (gaps_sec[i % gaps_sec.len()] * f64::from(RATE)) as usize;
        samples.extend(std::iter::repeat_n(0i16, gap));
        i += 1;
    }
    samples.resize(target, 0);
    LongTalk { samples, parts }
}

/// Adds a recorder's noise floor to 16-bit samples: uniform white noise of ±`amplitude` steps
/// (±4 is 2.6 steps RMS, −82 dBFS), the same for the same `seed`. Whisper's beam search is sensitive
/// to the smallest change of its input, so one file gives one draw of a recogniser's WER; the
/// ASR bench transcribes several seeds of a talk to see how far WER moves by chance.
pub fn add_noise_floor(samples: &mut [i16], seed: u64, amplitude: i16) {
    // xorshift64*: enough for noise, and the same on every machine.
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let span = 2 * i64::from(amplitude) + 1;
    for s in samples {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        let r = state.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 33;
        let noise = (r as i64 % span) - i64::from(amplitude);
        *s = (i64::from(*s) + noise).clamp(i64::from(i16::MIN), i64::from(i16::MAX)) as i16;
    }
}

/// Writes 16-bit PCM samples (interleaved if `channels` > 1) as a WAV file.
pub fn write_wav(path: &Path, samples: &[i16], rate: u32, channels: u16) {
    use std::io::Write;
    let data_len = (samples.len() * 2) as u32;
    let mut out = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    out.write_all(b"RIFF").unwrap();
    out.write_all(&(36 + data_len).to_le_bytes()).unwrap();
    out.write_all(b"WAVEfmt ").unwrap();
    out.write_all(&16u32.to_le_bytes()).unwrap();
    out.write_all(&1u16.to_le_bytes()).unwrap();
    out.write_all(&channels.to_le_bytes()).unwrap();
    out.write_all(&rate.to_le_bytes()).unwrap();
    out.write_all(&(rate * 2 * u32::from(channels)).to_le_bytes())
        .unwrap();
    out.write_all(&(2 * channels).to_le_bytes()).unwrap();
    out.write_all(&16u16.to_le_bytes()).unwrap();
    out.write_all(b"data").unwrap();
    out.write_all(&data_len.to_le_bytes()).unwrap();
    let mut buf = Vec::with_capacity(samples.len() * 2);
    for s in samples {
        buf.extend_from_slice(&s.to_le_bytes());
    }
    out.write_all(&buf).unwrap();
    out.flush().unwrap();
}

/// The talk as 48 kHz stereo WAV (what a recorder writes: 192 kB per second), made by repeating
/// each 16 kHz sample three times on both channels — the content stays exactly the talk's.
pub fn write_wav_48k_stereo(talk: &LongTalk, path: &Path) -> PathBuf {
    let mut out = Vec::with_capacity(talk.samples.len() * 6);
    for &s in &talk.samples {
        for _ in 0..3 {
            out.push(s);
            out.push(s);
        }
    }
    write_wav(path, &out, 48_000, 2);
    path.to_path_buf()
}

/// Encodes a WAV with ffmpeg (`ext`: mp3, flac, m4a, ogg…); panics with ffmpeg's message on failure.
pub fn encode(wav: &Path, ext: &str) -> PathBuf {
    let out = wav.with_extension(ext);
    let status = std::process::Command::new("ffmpeg")
        .args(["-nostdin", "-hide_banner", "-loglevel", "error", "-y", "-i"])
        .arg(wav)
        .args(match ext {
            "mp3" => &["-c:a", "libmp3lame", "-b:a", "64k"][..],
            "m4a" => &["-c:a", "aac", "-b:a", "64k"][..],
            _ => &[][..],
        })
        .arg(&out)
        .status()
        .expect("ffmpeg (scripts/deps.sh installs it)");
    assert!(status.success(), "ffmpeg failed encoding {}", out.display());
    out
}

/// The held-out English talk (`texts/held_out_en_team_talk.txt`, about 1,100 words in 20
/// paragraphs, varied sentences) synthesised with espeak-ng when the test runs: one paragraph
/// after another, separated by silences cycling through 1.2, 3.5, 8 and 15 s (a 15 s silence is
/// a slide change a VAD-packing recogniser should cut out). About 10 minutes. Each part is one
/// paragraph with its exact text. Panics with a hint if espeak-ng or ffmpeg is missing
/// (`scripts/deps.sh test` installs them).
pub fn held_out_english() -> LongTalk {
    let text = std::fs::read_to_string(corpus::path("texts/held_out_en_team_talk.txt"))
        .expect("held-out talk text");
    let paragraphs: Vec<&str> = text
        .split("\n\n")
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .collect();
    synthesize(&paragraphs, "en-us", 140, &[1.2, 3.5, 8.0, 15.0])
}

/// Paragraphs spoken by espeak-ng (`voice`, `words_per_minute`) at 16 kHz, with the silences
/// `gaps_sec` (cycled) after each.
pub fn synthesize(
    paragraphs: &[&str],
    voice: &str,
    words_per_minute: u32,
    gaps_sec: &[f64],
) -> LongTalk {
    let dir = std::env::temp_dir().join(format!("speech-coach-espeak-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut samples: Vec<i16> = Vec::new();
    let mut parts = Vec::new();
    for (i, p) in paragraphs.iter().enumerate() {
        let raw = dir.join(format!("p{i}.wav"));
        let status = std::process::Command::new("espeak-ng")
            .args(["-v", voice, "-s", &words_per_minute.to_string(), "-w"])
            .arg(&raw)
            .arg(p)
            .status()
            .expect("espeak-ng (scripts/deps.sh test installs it)");
        assert!(status.success(), "espeak-ng failed");
        let out = dir.join(format!("p{i}_16k.wav"));
        let status = std::process::Command::new("ffmpeg")
            .args(["-nostdin", "-hide_banner", "-loglevel", "error", "-y", "-i"])
            .arg(&raw)
            .args(["-ar", "16000", "-ac", "1", "-c:a", "pcm_s16le"])
            .arg(&out)
            .status()
            .expect("ffmpeg (scripts/deps.sh installs it)");
        assert!(status.success(), "ffmpeg failed resampling espeak output");
        let audio = read_wav_samples(&out);
        let start_sec = samples.len() as f64 / f64::from(RATE);
        samples.extend_from_slice(&audio);
        parts.push(Part {
            clip: format!("espeak:{voice}:paragraph {i}"),
            start_sec,
            end_sec: samples.len() as f64 / f64::from(RATE),
            text: p.to_string(),
        });
        let gap = (gaps_sec[i % gaps_sec.len()] * f64::from(RATE)) as usize;
        samples.extend(std::iter::repeat_n(0i16, gap));
    }
    let _ = std::fs::remove_dir_all(&dir);
    LongTalk { samples, parts }
}

/// The 16-bit samples of any 16-bit PCM WAV file (the chunks walked to `data`: don't assume a
/// 44-byte header).
pub fn read_wav_samples(path: &Path) -> Vec<i16> {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut pos = 12;
    while pos + 8 <= bytes.len() {
        let len = u32::from_le_bytes(bytes[pos + 4..pos + 8].try_into().unwrap()) as usize;
        if &bytes[pos..pos + 4] == b"data" {
            let end = (pos + 8 + len).min(bytes.len());
            return bytes[pos + 8..end]
                .chunks_exact(2)
                .map(|c| i16::from_le_bytes([c[0], c[1]]))
                .collect();
        }
        pos += 8 + len + (len & 1);
    }
    panic!("{}: no data chunk", path.display());
}

/// The sentences of a text (split after `.`, `!`, `?` and `:`), for "no sentence lost" checks.
pub fn sentences(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    for c in text.chars() {
        cur.push(c);
        if matches!(c, '.' | '!' | '?' | ':') {
            let s = cur.trim().to_string();
            if !s.is_empty() {
                out.push(s);
            }
            cur.clear();
        }
    }
    if !cur.trim().is_empty() {
        out.push(cur.trim().to_string());
    }
    out
}
