//! The ffmpeg fallback: a subprocess for what symphonia cannot read (Opus, AVI, WMA, AMR…).
//!
//! ffmpeg writes mono f32le at 16 kHz to a pipe (its own band-limited resampler does the rate
//! conversion). The child gets no stdin, runs on one thread, may not write files, and is
//! limited in address space and CPU time; it is killed when the wall-clock budget runs out or
//! when it produces more audio than the duration limit allows.

use super::decode::RawDecode;
use super::probe::Container;
use super::{AudioError, AudioInfo, TARGET_SAMPLE_RATE};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

/// Address-space cap for the child. Decoding audio needs tens of MB; video demuxing with
/// frame threads disabled stays well below this.
const CHILD_MEMORY_BYTES: u64 = 1 << 30;

/// Most stderr kept for error messages and stream facts; the rest is drained and dropped.
const STDERR_KEEP: usize = 64 * 1024;

/// How often the parent checks the child for exit or overrun.
const POLL: Duration = Duration::from_millis(5);

/// Find an `ffmpeg` executable on `PATH`, for configurations that say "use it if present".
pub fn find_ffmpeg() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join("ffmpeg"))
        .find(|p| p.is_file())
}

/// Decode `input` with the ffmpeg binary at `ffmpeg`, within `budget` of wall-clock time.
/// `what` names the codec/container for messages; `timeout` is the configured total budget.
pub(crate) fn decode(
    ffmpeg: &Path,
    input: &Path,
    container: Container,
    what: &str,
    max_duration_sec: f64,
    budget: Duration,
    timeout: Duration,
) -> Result<RawDecode, AudioError> {
    let mut cmd = command(ffmpeg, input, max_duration_sec);
    limit_resources(&mut cmd, budget);

    let mut child = cmd.spawn().map_err(|e| AudioError::UnsupportedCodec {
        what: what.to_string(),
        hint: format!(
            "the built-in decoder cannot read it and ffmpeg ({}) could not be started: {e}",
            ffmpeg.display()
        ),
    })?;

    let max_samples = ((max_duration_sec + 1.0) * f64::from(TARGET_SAMPLE_RATE)) as usize;
    let overran = Arc::new(AtomicBool::new(false));
    let stdout = child.stdout.take().expect("stdout is piped");
    let stderr = child.stderr.take().expect("stderr is piped");
    let out_flag = Arc::clone(&overran);
    let out_reader = thread::spawn(move || read_f32le(stdout, max_samples, &out_flag));
    let err_reader = thread::spawn(move || read_capped(stderr, STDERR_KEEP));

    let started = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) => {}
            Err(e) => {
                kill(&mut child);
                return Err(AudioError::Io(e));
            }
        }
        if overran.load(Ordering::Relaxed) {
            kill(&mut child);
            break None;
        }
        if started.elapsed() > budget {
            kill(&mut child);
            // Let the readers see EOF before returning, so no thread outlives the call.
            let _ = out_reader.join();
            let _ = err_reader.join();
            return Err(AudioError::Timeout(timeout));
        }
        thread::sleep(POLL);
    };
    let samples = out_reader.join().unwrap_or_default();
    let stderr = String::from_utf8_lossy(&err_reader.join().unwrap_or_default()).into_owned();
    let facts = StreamFacts::parse(&stderr);

    if overran.load(Ordering::Relaxed) {
        let decoded = samples.len() as f64 / f64::from(TARGET_SAMPLE_RATE);
        return Err(AudioError::TooLong {
            duration_sec: facts.duration_sec.unwrap_or(decoded).max(decoded),
            max_sec: max_duration_sec,
        });
    }
    let ok = status.is_some_and(|s| s.success());
    if samples.is_empty() {
        if stderr.contains("matches no streams") || stderr.contains("does not contain any stream") {
            return Err(AudioError::NoSamples);
        }
        if !ok {
            return Err(AudioError::Corrupt(format!(
                "ffmpeg could not decode it: {}",
                last_error_line(&stderr)
            )));
        }
    }
    Ok(RawDecode {
        samples,
        info: AudioInfo {
            container: container.name().to_string(),
            codec: facts.codec.unwrap_or_else(|| what.to_string()),
            sample_rate: facts.sample_rate.unwrap_or(0),
            channels: facts.channels.unwrap_or(0),
            duration_sec: 0.0,
            decoder: "ffmpeg".into(),
        },
        declared_sec: facts.duration_sec,
        broke_off: (!ok).then(|| last_error_line(&stderr)),
        bad_packets: 0,
    })
}

/// The ffmpeg command line: the first audio stream of `input` as mono f32le at 16 kHz on stdout,
/// cut a little past `max_duration_sec`; no stdin, one thread.
fn command(ffmpeg: &Path, input: &Path, max_duration_sec: f64) -> Command {
    let mut cmd = Command::new(ffmpeg);
    cmd.args([
        "-nostdin",
        "-hide_banner",
        "-nostats",
        "-loglevel",
        "info",
        "-threads",
        "1",
        "-i",
    ])
    .arg(input)
    .args(["-map", "0:a:0", "-vn", "-sn", "-dn", "-ac", "1", "-ar"])
    .arg(TARGET_SAMPLE_RATE.to_string())
    // A little over the limit, so "too long" is still detectable, without decoding hours.
    .args(["-t", &format!("{:.3}", max_duration_sec + 1.0)])
    .args(["-f", "f32le", "-acodec", "pcm_f32le", "pipe:1"])
    .stdin(Stdio::null())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    cmd
}

#[cfg(unix)]
fn limit_resources(cmd: &mut Command, budget: Duration) {
    use std::os::unix::process::CommandExt;
    let cpu_sec = budget.as_secs().saturating_add(2);
    // SAFETY: the closure runs between fork and exec and only calls setrlimit, which is
    // async-signal-safe; it touches no locks or heap allocations.
    unsafe {
        cmd.pre_exec(move || {
            let set = |resource, value: u64| {
                let lim = libc::rlimit {
                    rlim_cur: value as libc::rlim_t,
                    rlim_max: value as libc::rlim_t,
                };
                libc::setrlimit(resource, &lim);
            };
            set(libc::RLIMIT_AS, CHILD_MEMORY_BYTES);
            set(libc::RLIMIT_CPU, cpu_sec);
            // Output goes to a pipe; the child has no business writing files.
            set(libc::RLIMIT_FSIZE, 0);
            set(libc::RLIMIT_CORE, 0);
            Ok(())
        });
    }
}

#[cfg(not(unix))]
fn limit_resources(_cmd: &mut Command, _budget: Duration) {}

fn kill(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

/// Read little-endian f32 samples until EOF or until more than `max` arrive (then flag and stop).
fn read_f32le(mut src: impl Read, max: usize, overran: &AtomicBool) -> Vec<f32> {
    let mut out = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut carry = 0usize;
    loop {
        let n = match src.read(&mut buf[carry..]) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => break,
        };
        let filled = carry + n;
        let whole = filled / 4 * 4;
        out.extend(
            buf[..whole]
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])),
        );
        buf.copy_within(whole..filled, 0);
        carry = filled - whole;
        if out.len() > max {
            overran.store(true, Ordering::Relaxed);
            break;
        }
    }
    out
}

fn read_capped(mut src: impl Read, keep: usize) -> Vec<u8> {
    let mut kept = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        match src.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                let room = keep.saturating_sub(kept.len());
                kept.extend_from_slice(&buf[..n.min(room)]);
            }
        }
    }
    kept
}

fn last_error_line(stderr: &str) -> String {
    let line = stderr
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("no message");
    line.chars().take(200).collect()
}

/// Facts ffmpeg prints about its input: `Duration: 00:00:12.50, …` and
/// `Stream #0:0: Audio: opus, 48000 Hz, mono, fltp`.
#[derive(Debug, Default, PartialEq)]
struct StreamFacts {
    codec: Option<String>,
    sample_rate: Option<u32>,
    channels: Option<u16>,
    duration_sec: Option<f64>,
}

impl StreamFacts {
    fn parse(stderr: &str) -> Self {
        let mut facts = StreamFacts::default();
        for line in stderr.lines() {
            let line = line.trim();
            if facts.duration_sec.is_none()
                && let Some(rest) = line.strip_prefix("Duration: ")
            {
                facts.duration_sec = parse_hms(rest.split(',').next().unwrap_or(""));
            }
            if facts.codec.is_none()
                && line.starts_with("Stream #")
                && let Some((_, audio)) = line.split_once("Audio: ")
            {
                let mut parts = audio.split(", ");
                let codec = parts.next().unwrap_or("");
                facts.codec = codec
                    .split([' ', '('])
                    .next()
                    .filter(|c| !c.is_empty())
                    .map(str::to_string);
                for part in parts {
                    if let Some(hz) = part.strip_suffix(" Hz") {
                        facts.sample_rate = hz.trim().parse().ok();
                    } else if facts.sample_rate.is_some() && facts.channels.is_none() {
                        facts.channels = parse_layout(part);
                    }
                }
            }
        }
        facts
    }
}

fn parse_hms(s: &str) -> Option<f64> {
    let mut it = s.trim().split(':');
    let h: f64 = it.next()?.parse().ok()?;
    let m: f64 = it.next()?.parse().ok()?;
    let sec: f64 = it.next()?.parse().ok()?;
    Some(h * 3600.0 + m * 60.0 + sec)
}

fn parse_layout(layout: &str) -> Option<u16> {
    let base = layout.split('(').next().unwrap_or(layout).trim();
    match base {
        "mono" => Some(1),
        "stereo" => Some(2),
        "quad" => Some(4),
        _ => {
            if let Some(n) = base.strip_suffix(" channels") {
                return n.trim().parse().ok();
            }
            // "5.1", "7.1", "2.1": main channels + LFE.
            let (main, lfe) = base.split_once('.')?;
            Some(main.parse::<u16>().ok()? + lfe.parse::<u16>().ok()?)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_stream_facts_from_ffmpeg_log() {
        let log = "Input #0, matroska,webm, from 'x.webm':\n  Duration: 00:00:12.50, start: -0.007000, bitrate: 19 kb/s\n  \
                   Stream #0:0: Audio: opus, 48000 Hz, mono, fltp (default)\nStream mapping:\n";
        let f = StreamFacts::parse(log);
        assert_eq!(f.codec.as_deref(), Some("opus"));
        assert_eq!(f.sample_rate, Some(48000));
        assert_eq!(f.channels, Some(1));
        assert!((f.duration_sec.unwrap() - 12.5).abs() < 1e-9);
        let log = "  Stream #0:1[0x2](und): Audio: aac (LC) (mp4a / 0x6134706D), 44100 Hz, 5.1(side), fltp, 128 kb/s";
        let f = StreamFacts::parse(log);
        assert_eq!(
            (f.codec.as_deref(), f.sample_rate, f.channels),
            (Some("aac"), Some(44100), Some(6))
        );
    }

    #[test]
    fn f32_reader_handles_split_samples_and_caps() {
        let bytes: Vec<u8> = [0.5f32, -0.25, 1.0]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        // A reader that returns 3 bytes at a time splits every sample.
        struct Dribble(Vec<u8>, usize);
        impl Read for Dribble {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                let n = 3.min(self.0.len() - self.1).min(buf.len());
                buf[..n].copy_from_slice(&self.0[self.1..self.1 + n]);
                self.1 += n;
                Ok(n)
            }
        }
        let flag = AtomicBool::new(false);
        assert_eq!(
            read_f32le(Dribble(bytes.clone(), 0), 10, &flag),
            vec![0.5, -0.25, 1.0]
        );
        assert!(!flag.load(Ordering::Relaxed));
        let _ = read_f32le(Dribble(bytes, 0), 1, &flag);
        assert!(flag.load(Ordering::Relaxed));
    }
}
