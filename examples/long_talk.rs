//! Writes a long talk built from the corpus clips (the same builder the tests use), for
//! benchmarks and manual tries at real size:
//!
//!   cargo run --release --example long_talk -- 60 en /tmp/talk60.wav
//!
//! Arguments: minutes, language (`en` or `ru`), output path (`.wav`; `.flac`/`.mp3`/`.m4a` are
//! encoded with ffmpeg from the WAV). Prints the duration and the number of words spoken.

#[path = "../tests/support/long_talk.rs"]
mod long_talk;

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let minutes: f64 = args.next().as_deref().unwrap_or("10").parse()?;
    let language = args.next().unwrap_or_else(|| "en".into());
    let out = std::path::PathBuf::from(args.next().unwrap_or_else(|| "talk.wav".into()));
    let talk = long_talk::build(minutes, &language);
    let ext = out
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("wav")
        .to_string();
    let wav = out.with_extension("wav");
    talk.write_wav(&wav);
    if ext != "wav" {
        long_talk::encode(&wav, &ext);
        std::fs::remove_file(&wav)?;
    }
    println!(
        "{} duration_sec={:.1} words={}",
        out.display(),
        talk.duration_sec(),
        talk.text().split_whitespace().count()
    );
    Ok(())
}
