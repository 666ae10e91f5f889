//! `speech-coach analyze FILE`: prints a report for a real recording, fails clearly on bad input.

mod support;

use std::process::{Command, Output};
use support::{fake_asr, long_talk};

/// A corpus file as a command-line argument.
fn corpus(rel: &str) -> String {
    support::corpus::path(rel).display().to_string()
}

fn cli() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_speech-coach"));
    cmd.env("GIGACHAT_ENABLED", "false").env("LOG_FILE", "");
    if !cfg!(feature = "whisper") {
        // No in-process recogniser compiled in: a remote one that these tests never reach.
        cmd.env("ASR_BACKEND", "openai");
    }
    cmd
}

/// Runs `cmd`, asserting it exits 0 (else fails with its stderr).
fn succeeds(cmd: &mut Command) -> Output {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

#[test]
fn a_bad_file_exits_non_zero_with_a_clear_message() {
    for (file, needle) in [
        ("bad/text.mp3", "unsupported_media_type"),
        ("bad/zero_channels.wav", "invalid_audio_header"),
        ("bad/empty.wav", "empty"),
    ] {
        let out = cli().args(["analyze", &corpus(file)]).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{file}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(needle), "{file}: {err}");
        assert!(out.stdout.is_empty());
    }
    let out = cli()
        .args(["analyze", "/no/such/file.wav"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/no/such/file.wav"));
}

/// Silence needs no recogniser: the whole CLI path runs without a model.
#[test]
fn silence_prints_a_report_that_says_no_speech() {
    let out = succeeds(cli().args(["analyze", &corpus("edge/silence_5s.wav"), "--json"]));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["metrics"]["words_total"], 0);
    assert_eq!(report["audio"]["duration_sec"], 5.0);
    let out = cli()
        .args(["analyze", &corpus("edge/silence_5s.wav")])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("(no speech)") && text.contains("Advice"),
        "{text}"
    );
}

/// The real model on a real clip (needs `scripts/fetch-model.sh`; CI sets SPEECH_COACH_REQUIRE_MODEL).
#[cfg(feature = "whisper")]
#[test]
fn a_corpus_clip_prints_the_readable_report() {
    let Some(model) = support::model::whisper_or_skip("the CLI Whisper test") else {
        return;
    };
    let out = succeeds(cli().env("WHISPER_MODEL_DIR", &model).args([
        "analyze",
        &corpus("clips/en_talk_2.wav"),
        "--language",
        "en",
    ]));
    let text = String::from_utf8_lossy(&out.stdout);
    for section in [
        "Transcript",
        "Pace",
        "Fillers",
        "Pauses",
        "Advice",
        "Feedback — rule-based (disabled)",
    ] {
        assert!(text.contains(section), "{section} missing:\n{text}");
    }
    assert!(text.to_lowercase().contains("thank you"), "{text}");
}

/// A 60-minute talk (FLAC, as a user would bring it: 16 kHz WAV would be 115 MB) through the CLI:
/// the whole length is decoded and analysed. The recogniser is a fake OpenAI-compatible server
/// (the CLI is another process), hearing the talk's known text.
#[test]
fn a_sixty_minute_talk_through_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let talk = long_talk::build(60.0, "en");
    let wav = talk.write_wav(&dir.path().join("talk60.wav"));
    let flac = long_talk::encode(&wav, "flac");
    std::fs::remove_file(&wav).unwrap();
    let asr = fake_asr::start(&talk.text());
    let out = succeeds(
        cli()
            .env("ASR_BACKEND", "openai")
            .env("ASR_URL", &asr.url)
            .args([
                "analyze",
                flac.to_str().unwrap(),
                "--language",
                "en",
                "--json",
            ]),
    );
    assert_eq!(asr.calls(), 1);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let duration = report["audio"]["duration_sec"].as_f64().unwrap();
    assert!(
        (duration - talk.duration_sec()).abs() < 0.1,
        "{duration} s vs {} s",
        talk.duration_sec()
    );
    let spoken = talk.text().split_whitespace().count() as u64;
    let words = report["metrics"]["words_total"].as_u64().unwrap();
    assert!(words.abs_diff(spoken) <= spoken / 50, "{words} of {spoken}");
}
