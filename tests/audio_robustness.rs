//! Hostile input: random bytes, random cuts and flipped bytes of real files, a hanging or
//! missing ffmpeg. The decoder must return (Ok or a 4xx error) — never panic, never hang.

mod support;

use speech_coach::audio::{AudioError, DecodeLimits, decode_file, find_ffmpeg};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use support::corpus;

/// Deterministic xorshift, so a failure names a reproducible case.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn write_temp(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::File::create(&path)
        .unwrap()
        .write_all(bytes)
        .unwrap();
    path
}

/// Decode and check the outcome is a clean one: success or a 4xx error. Returns the outcome.
fn decode_cleanly(path: &Path, limits: &DecodeLimits, case: &str) -> Result<(), AudioError> {
    let started = Instant::now();
    let result = std::panic::catch_unwind(|| decode_file(path, limits));
    let result = result.unwrap_or_else(|_| panic!("{case}: decode_file panicked"));
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "{case}: took {:?}",
        started.elapsed()
    );
    match result {
        Ok(audio) => {
            assert!(
                audio.samples.iter().all(|x| x.is_finite()),
                "{case}: non-finite samples"
            );
            Ok(())
        }
        Err(e) => {
            assert!(
                (400..500).contains(&e.http_status()),
                "{case}: {e} is not a 4xx"
            );
            Err(e)
        }
    }
}

fn sources() -> Vec<PathBuf> {
    [
        "clips/en_talk_2.wav",
        "formats/en_talk_2.mp3",
        "formats/en_talk_2.flac",
        "formats/en_talk_2.ogg",
        "formats/en_talk_2.m4a",
        "formats/en_talk_2.mp4",
        "formats/en_talk_2.webm",
        "formats/en_talk_2_8k_f32.wav",
    ]
    .iter()
    .map(|r| corpus::path(r))
    .collect()
}

#[test]
fn random_bytes_never_panic() {
    let dir = tempfile::tempdir().unwrap();
    let limits = DecodeLimits {
        ffmpeg_path: find_ffmpeg(),
        ..DecodeLimits::default()
    };
    let mut rng = Rng(0x5eed_1234_abcd_0001);
    for i in 0..200 {
        let len = [1, 4, 12, 44, 100, 1000, 5000][i % 7] + rng.below(64);
        let mut bytes: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        // Half the cases start with a real magic number so the container parsers are reached.
        let magic: &[&[u8]] = &[
            b"RIFF\x24\x00\x00\x00WAVEfmt ",
            b"fLaC",
            b"OggS\x00\x02",
            b"\x00\x00\x00\x20ftypM4A ",
            b"\x1A\x45\xDF\xA3",
            b"ID3\x04\x00\x00\x00\x00\x00\x10",
            b"\xFF\xFB\x90\x00",
        ];
        if i % 2 == 0 {
            let m = magic[rng.below(magic.len())];
            let n = m.len().min(bytes.len());
            bytes[..n].copy_from_slice(&m[..n]);
        }
        let path = write_temp(dir.path(), &format!("r{i}.bin"), &bytes);
        let _ = decode_cleanly(&path, &limits, &format!("random case {i} ({len} bytes)"));
    }
}

#[test]
fn truncated_and_damaged_corpus_files_never_panic() {
    let dir = tempfile::tempdir().unwrap();
    let limits = DecodeLimits {
        ffmpeg_path: find_ffmpeg(),
        ..DecodeLimits::default()
    };
    let mut rng = Rng(0x0dd_ba11_cafe_f00d);
    for src in sources() {
        let original = std::fs::read(&src).unwrap();
        let name = src.file_name().unwrap().to_string_lossy().into_owned();
        for k in 0..12 {
            // Cuts: inside the header, and anywhere in the data.
            let cut = if k < 4 {
                rng.below(200.min(original.len())) + 1
            } else {
                rng.below(original.len()) + 1
            };
            let path = write_temp(dir.path(), &format!("cut{k}_{name}"), &original[..cut]);
            let _ = decode_cleanly(&path, &limits, &format!("{name} cut at {cut}"));

            // Flipped bytes: a few in the header region, a few anywhere.
            let mut damaged = original.clone();
            for _ in 0..8 {
                let at = if rng.below(2) == 0 {
                    rng.below(256.min(damaged.len()))
                } else {
                    rng.below(damaged.len())
                };
                damaged[at] = rng.next() as u8;
            }
            let path = write_temp(dir.path(), &format!("dmg{k}_{name}"), &damaged);
            let _ = decode_cleanly(&path, &limits, &format!("{name} damaged #{k}"));
        }
    }
}

#[test]
fn cuts_that_leave_enough_audio_are_salvaged_with_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let limits = DecodeLimits {
        ffmpeg_path: find_ffmpeg(),
        ..DecodeLimits::default()
    };
    for rel in [
        "formats/en_talk_2.flac",
        "formats/en_talk_2.ogg",
        "clips/en_talk_2.wav",
        "formats/en_talk_2_8k_f32.wav",
    ] {
        let original = corpus::read(rel);
        let path = write_temp(dir.path(), "half", &original[..original.len() / 2]);
        let audio =
            decode_file(&path, &limits).unwrap_or_else(|e| panic!("{rel} cut in half: {e}"));
        assert!(
            audio.info.duration_sec > 4.0 && audio.info.duration_sec < 8.0,
            "{rel}: {}",
            audio.info.duration_sec
        );
        assert_eq!(audio.warnings.len(), 1, "{rel}: {:?}", audio.warnings);
        assert_eq!(
            audio.warnings[0],
            format!(
                "truncated input: analysed first {:.1} s",
                audio.info.duration_sec
            )
        );
    }
}

#[cfg(unix)]
fn fake_ffmpeg(dir: &Path, script: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join("ffmpeg");
    std::fs::write(&path, format!("#!/bin/sh\n{script}\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

#[cfg(unix)]
#[test]
fn hanging_ffmpeg_is_killed_at_the_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let ffmpeg = fake_ffmpeg(dir.path(), "exec sleep 30");
    let limits = DecodeLimits {
        timeout: Duration::from_millis(300),
        ffmpeg_path: Some(ffmpeg),
        ..DecodeLimits::default()
    };
    let started = Instant::now();
    let r = decode_file(&corpus::path("formats/en_talk_2.webm"), &limits);
    assert!(matches!(r, Err(AudioError::Timeout(_))), "{r:?}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "killed after {:?}",
        started.elapsed()
    );
}

#[cfg(unix)]
#[test]
fn failing_ffmpeg_is_corrupt_audio_with_its_message() {
    let dir = tempfile::tempdir().unwrap();
    let ffmpeg = fake_ffmpeg(
        dir.path(),
        "echo 'x.webm: Invalid data found when processing input' >&2; exit 1",
    );
    let limits = DecodeLimits {
        ffmpeg_path: Some(ffmpeg),
        ..DecodeLimits::default()
    };
    match decode_file(&corpus::path("formats/en_talk_2.webm"), &limits) {
        Err(AudioError::Corrupt(msg)) => assert!(msg.contains("Invalid data found"), "{msg}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn opus_without_ffmpeg_says_ffmpeg_is_needed() {
    for ffmpeg_path in [None, Some(PathBuf::from("/nonexistent/ffmpeg"))] {
        let limits = DecodeLimits {
            ffmpeg_path,
            ..DecodeLimits::default()
        };
        match decode_file(&corpus::path("formats/en_talk_2.webm"), &limits) {
            Err(AudioError::UnsupportedCodec { what, hint }) => {
                assert!(what.contains("opus"), "{what}");
                assert!(hint.contains("ffmpeg"), "{hint}");
            }
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn format_is_detected_from_bytes_not_the_name() {
    let dir = tempfile::tempdir().unwrap();
    let flac = corpus::read("formats/en_talk_2.flac");
    let path = write_temp(dir.path(), "recording.mp3", &flac);
    let audio = decode_file(&path, &DecodeLimits::default()).unwrap();
    assert_eq!(
        (audio.info.container.as_str(), audio.info.codec.as_str()),
        ("flac", "flac")
    );
}

#[test]
fn ogg_opus_and_avi_go_through_ffmpeg() {
    let Some(ffmpeg) = find_ffmpeg() else {
        // Without ffmpeg these must be refused as needing it (checked for WebM above).
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let src = corpus::path("clips/en_talk_2.wav");
    for (name, args) in [
        ("talk.opus", &["-c:a", "libopus", "-b:a", "24k"][..]),
        ("talk.avi", &["-c:a", "pcm_s16le"][..]),
    ] {
        let out = dir.path().join(name);
        let ok = std::process::Command::new(&ffmpeg)
            .args(["-nostdin", "-loglevel", "error", "-y", "-i"])
            .arg(&src)
            .args(args)
            .arg(&out)
            .status()
            .unwrap()
            .success();
        assert!(ok, "ffmpeg could not make {name}");
        let limits = DecodeLimits {
            ffmpeg_path: Some(ffmpeg.clone()),
            ..DecodeLimits::default()
        };
        let audio = decode_file(&out, &limits).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(audio.info.decoder, "ffmpeg", "{name}");
        assert!(
            (audio.info.duration_sec - 12.5).abs() < 0.05,
            "{name}: {}",
            audio.info.duration_sec
        );
        assert!(audio.warnings.is_empty(), "{name}: {:?}", audio.warnings);
    }
}
