//! Decode an uploaded file to mono f32 at 16 kHz.
//!
//! Order of work: sniff the bytes ([`super::probe`]) → refuse non-media and absurd headers
//! before any decoder sees them → symphonia (pure Rust) for what it can read → an ffmpeg
//! subprocess (time- and resource-limited) for what it cannot (Opus, AVI, WMA, AMR…). Samples
//! are downmixed and resampled packet by packet, so the source-rate signal never exists whole.

use super::ffmpeg;
use super::probe::{self, Container, HEAD_LEN, Sniffed, WavHeader};
use super::resample::StreamResampler;
use super::{AudioError, AudioInfo, DecodeLimits, DecodedAudio, TARGET_SAMPLE_RATE};
use std::fs::File;
use std::io::Read;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::time::Instant;
use symphonia::core::audio::GenericAudioBufferRef;
use symphonia::core::codecs::audio::{
    AudioCodecId, AudioCodecParameters, AudioDecoder, AudioDecoderOptions, well_known as codec_ids,
};
use symphonia::core::errors::Error as SymError;
use symphonia::core::formats::probe::Hint;
use symphonia::core::formats::{FormatOptions, FormatReader, TrackType};
use symphonia::core::io::{MediaSourceStream, MediaSourceStreamOptions};
use symphonia::core::meta::MetadataOptions;

/// Least decodable audio, seconds, that makes a broken file worth analysing with a warning
/// rather than refusing it: below this there is no phrase to measure.
pub const MIN_USABLE_SEC: f64 = 0.5;

/// Consecutive undecodable packets after which the rest of the stream is taken to be garbage.
/// Isolated bad packets (a damaged frame) are skipped; a run this long means the data broke off.
const MAX_CONSECUTIVE_ERRORS: u32 = 32;

/// Decode `path` to mono f32 at [`TARGET_SAMPLE_RATE`]. Blocking; CPU-bound.
///
/// The format is detected from the bytes. Truncated input that still holds at least
/// [`MIN_USABLE_SEC`] of audio is decoded up to the break, with a warning
/// `truncated input: analysed first N s`.
pub fn decode_file(path: &Path, limits: &DecodeLimits) -> Result<DecodedAudio, AudioError> {
    let started = Instant::now();
    let mut file = File::open(path)?;
    let file_len = file.metadata()?.len();
    if file_len == 0 {
        return Err(AudioError::Empty);
    }
    let mut head = Vec::with_capacity(HEAD_LEN.min(file_len as usize));
    (&mut file).take(HEAD_LEN as u64).read_to_end(&mut head)?;
    drop(file);

    let container = match probe::sniff(&head) {
        Sniffed::Media(c) => c,
        Sniffed::NotMedia(what) => {
            return Err(AudioError::Unsupported {
                detected: what.to_string(),
            });
        }
        Sniffed::Unknown => {
            return Err(AudioError::Unsupported {
                detected: "unrecognised binary data (no known audio or video signature)".into(),
            });
        }
    };

    let wav = if container == Container::Wav {
        let header = probe::parse_wav_header(&head, file_len)?;
        if header.available_data_bytes < header.frame_bytes() {
            return Err(AudioError::NoSamples);
        }
        // What is really in the file decides, not what the header claims.
        if header.available_sec() > limits.max_duration_sec {
            return Err(AudioError::TooLong {
                duration_sec: header.available_sec(),
                max_sec: limits.max_duration_sec,
            });
        }
        Some(header)
    } else {
        None
    };

    let raw = if container.symphonia_can_demux() {
        // Last line of defence: a decoder bug on hostile bytes must not take the worker down.
        let attempt = catch_unwind(AssertUnwindSafe(|| {
            decode_symphonia(path, container, limits, started)
        }))
        .unwrap_or_else(|_| {
            Err(Failure::Fatal(AudioError::Corrupt(format!(
                "the {} decoder could not read this file",
                container.name()
            ))))
        });
        match attempt {
            Ok(raw) => raw,
            Err(Failure::Fatal(e)) => return Err(e),
            Err(Failure::NeedsFfmpeg { what }) => {
                run_ffmpeg(path, container, &what, limits, started)?
            }
        }
    } else {
        run_ffmpeg(
            path,
            container,
            &format!("{} files", container.name()),
            limits,
            started,
        )?
    };
    finish(raw, wav.as_ref(), limits)
}

/// What a decoder produced before the checks on completeness.
pub(crate) struct RawDecode {
    pub samples: Vec<f32>,
    pub info: AudioInfo,
    /// Duration the container declares, seconds, if it does.
    pub declared_sec: Option<f64>,
    /// Why reading stopped early, if it did (an error rather than a clean end of stream).
    pub broke_off: Option<String>,
    /// Packets skipped as undecodable.
    pub bad_packets: u32,
}

enum Failure {
    Fatal(AudioError),
    /// Symphonia knows the container but not the codec (or the container variant).
    NeedsFfmpeg {
        what: String,
    },
}

impl From<AudioError> for Failure {
    fn from(e: AudioError) -> Self {
        Failure::Fatal(e)
    }
}

fn run_ffmpeg(
    path: &Path,
    container: Container,
    what: &str,
    limits: &DecodeLimits,
    started: Instant,
) -> Result<RawDecode, AudioError> {
    let Some(ffmpeg_path) = limits.ffmpeg_path.as_deref() else {
        return Err(AudioError::UnsupportedCodec {
            what: what.to_string(),
            hint: "the built-in decoder cannot read it and no ffmpeg is configured (set FFMPEG_PATH), or convert the recording to WAV, MP3, FLAC, Ogg/Vorbis or M4A".into(),
        });
    };
    let remaining = limits.timeout.saturating_sub(started.elapsed());
    ffmpeg::decode(
        ffmpeg_path,
        path,
        container,
        what,
        limits.max_duration_sec,
        remaining,
        limits.timeout,
    )
}

/// Completeness checks shared by both decoders: empty, truncated, too long.
fn finish(
    raw: RawDecode,
    wav: Option<&WavHeader>,
    limits: &DecodeLimits,
) -> Result<DecodedAudio, AudioError> {
    let RawDecode {
        mut samples,
        mut info,
        declared_sec,
        broke_off,
        bad_packets,
    } = raw;
    let decoded_sec = samples.len() as f64 / f64::from(TARGET_SAMPLE_RATE);
    if samples.is_empty() {
        return Err(match broke_off {
            Some(why) => AudioError::Corrupt(format!("no audio could be decoded ({why})")),
            None if bad_packets > 0 => {
                AudioError::Corrupt("no packet of the audio track could be decoded".into())
            }
            None => AudioError::NoSamples,
        });
    }
    if decoded_sec > limits.max_duration_sec {
        // ffmpeg stops just past the limit: the declared length says how long it really is.
        let duration_sec = declared_sec.unwrap_or(decoded_sec).max(decoded_sec);
        return Err(AudioError::TooLong {
            duration_sec,
            max_sec: limits.max_duration_sec,
        });
    }
    // A WAV header states exactly how many bytes should follow; other containers may declare a
    // frame count or duration. Encoder delay and padding make those differ by a few codec
    // frames, hence the tolerance.
    let declared = wav.map(|h| h.declared_sec()).or(declared_sec);
    let short_of_declared = declared.is_some_and(|d| d - decoded_sec > (0.02 * d).max(0.25));
    let truncated = broke_off.is_some() || short_of_declared;
    let mut warnings = Vec::new();
    if truncated {
        if decoded_sec < MIN_USABLE_SEC {
            return Err(AudioError::Corrupt(format!(
                "only {decoded_sec:.2} s could be decoded before the data broke off{}",
                broke_off.map(|w| format!(" ({w})")).unwrap_or_default()
            )));
        }
        warnings.push(format!(
            "truncated input: analysed first {decoded_sec:.1} s"
        ));
    }
    if bad_packets > 0 {
        warnings.push(format!("skipped {bad_packets} damaged audio packet(s)"));
    }
    samples.shrink_to_fit();
    info.duration_sec = decoded_sec;
    Ok(DecodedAudio {
        samples,
        info,
        warnings,
    })
}

/// The codec's decoder; one Symphonia lacks is left to ffmpeg.
fn make_decoder(
    params: &AudioCodecParameters,
    codec: &str,
    container: Container,
) -> Result<Box<dyn AudioDecoder>, Failure> {
    symphonia::default::get_codecs()
        .make_audio_decoder(params, &AudioDecoderOptions::default())
        .map_err(|e| match e {
            SymError::Unsupported(_) => Failure::NeedsFfmpeg {
                what: format!("{codec} audio in {}", container.name()),
            },
            other => Failure::Fatal(AudioError::Corrupt(format!(
                "cannot start the {codec} decoder: {other}"
            ))),
        })
}

fn decode_symphonia(
    path: &Path,
    container: Container,
    limits: &DecodeLimits,
    started: Instant,
) -> Result<RawDecode, Failure> {
    let (mut format, track_id, params, declared_sec) = open_container(path, container)?;
    let codec = codec_name(params.codec);
    let mut decoder = make_decoder(&params, &codec, container)?;

    // Symphonia applies no MP4 edit list: skip the AAC encoder priming it declares ourselves.
    let priming = match container {
        Container::Mp4(_) => super::mp4::audio_priming(path),
        _ => None,
    };
    let mut stream = Downmixer::new(&params, priming);
    let mut broke_off = None;
    let mut bad_packets = 0u32;
    let mut consecutive_bad = 0u32;

    loop {
        if started.elapsed() > limits.timeout {
            return Err(AudioError::Timeout(limits.timeout).into());
        }
        let packet = match format.next_packet() {
            Ok(Some(p)) => p,
            Ok(None) => break,
            // Chained Ogg streams: the first one is the recording; stop cleanly.
            Err(SymError::ResetRequired) => break,
            Err(SymError::IoError(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                broke_off = Some("unexpected end of file".to_string());
                break;
            }
            Err(e) => {
                broke_off = Some(e.to_string());
                break;
            }
        };
        if packet.track_id != track_id {
            continue;
        }
        let buf = match decoder.decode(&packet) {
            Ok(buf) => buf,
            Err(SymError::DecodeError(_) | SymError::IoError(_)) => {
                bad_packets += 1;
                consecutive_bad += 1;
                if consecutive_bad >= MAX_CONSECUTIVE_ERRORS {
                    broke_off = Some(format!("{consecutive_bad} undecodable packets in a row"));
                    break;
                }
                continue;
            }
            Err(SymError::Unsupported(what)) => {
                return Err(Failure::NeedsFfmpeg {
                    what: format!("{codec} audio ({what})"),
                });
            }
            Err(e) => {
                broke_off = Some(e.to_string());
                break;
            }
        };
        consecutive_bad = 0;
        if buf.frames() == 0 {
            continue;
        }
        if let Some(why) = stream.push(&buf)? {
            broke_off = Some(why);
            break;
        }
        let so_far = stream.seconds();
        if so_far > limits.max_duration_sec {
            let claimed = declared_sec.unwrap_or(so_far).max(so_far);
            return Err(AudioError::TooLong {
                duration_sec: claimed,
                max_sec: limits.max_duration_sec,
            }
            .into());
        }
    }

    let (source_rate, source_channels) = (stream.source_rate, stream.source_channels);
    Ok(RawDecode {
        samples: stream.finish()?,
        info: AudioInfo {
            container: container.name().to_string(),
            codec,
            sample_rate: source_rate,
            channels: u16::try_from(source_channels).unwrap_or(u16::MAX),
            duration_sec: 0.0,
            decoder: "symphonia".into(),
        },
        declared_sec,
        broke_off,
        bad_packets,
    })
}

/// An opened container: the reader, the audio track id, its codec parameters and the duration
/// it declares.
type OpenTrack = (
    Box<dyn FormatReader>,
    u32,
    AudioCodecParameters,
    Option<f64>,
);

/// Probes `path` and picks its audio track (rate and channels checked when declared).
fn open_container(path: &Path, container: Container) -> Result<OpenTrack, Failure> {
    let file = File::open(path).map_err(AudioError::Io)?;
    let mss = MediaSourceStream::new(Box::new(file), MediaSourceStreamOptions::default());
    let mut hint = Hint::new();
    if let Some(ext) = container.symphonia_hint() {
        hint.with_extension(ext);
    }
    let format = symphonia::default::get_probe()
        .probe(
            &hint,
            mss,
            FormatOptions::default(),
            MetadataOptions::default(),
        )
        .map_err(|e| match e {
            SymError::Unsupported(what) => Failure::NeedsFfmpeg {
                what: format!("this {} variant ({what})", container.name()),
            },
            other => Failure::Fatal(AudioError::Corrupt(format!(
                "cannot read the {} structure: {}",
                container.name(),
                other
            ))),
        })?;

    let track = format
        .default_track(TrackType::Audio)
        .ok_or(AudioError::NoSamples)?;
    let track_id = track.id;
    let params = track
        .codec_params
        .as_ref()
        .and_then(|p| p.audio())
        .cloned()
        .ok_or(AudioError::NoSamples)?;
    if let Some(rate) = params.sample_rate {
        probe::check_rate_and_channels(rate, params.channels.as_ref().map_or(1, |c| c.count()))?;
    } else if params.channels.as_ref().is_some_and(|c| c.count() == 0) {
        return Err(AudioError::InvalidHeader("the header declares 0 channels".into()).into());
    }
    let declared_sec = match (track.num_frames, params.sample_rate) {
        (Some(frames), Some(rate)) if frames > 0 => Some(frames as f64 / f64::from(rate)),
        _ => None,
    };
    Ok((format, track_id, params, declared_sec))
}

/// Decoded packets → mono → 16 kHz, packet by packet, skipping the encoder priming.
struct Downmixer {
    priming: Option<(u64, u32)>,
    skip_frames: u64,
    source_rate: u32,
    source_channels: usize,
    resampler: Option<StreamResampler>,
    interleaved: Vec<f32>,
    mono: Vec<f32>,
    source_frames: u64,
}

impl Downmixer {
    fn new(params: &AudioCodecParameters, priming: Option<(u64, u32)>) -> Self {
        Self {
            priming,
            skip_frames: 0,
            source_rate: params.sample_rate.unwrap_or(0),
            source_channels: params.channels.as_ref().map_or(0, |c| c.count()),
            resampler: None,
            interleaved: Vec::new(),
            mono: Vec::new(),
            source_frames: 0,
        }
    }

    /// Takes one decoded buffer; `Some(why)` when the stream changes format and decoding should
    /// stop here (what came before is kept).
    fn push(&mut self, buf: &GenericAudioBufferRef<'_>) -> Result<Option<String>, Failure> {
        let rate = buf.spec().rate();
        let channels = buf.spec().channels().count();
        probe::check_rate_and_channels(rate, channels)?;
        match &mut self.resampler {
            None => {
                self.resampler = Some(
                    StreamResampler::new(rate, TARGET_SAMPLE_RATE).map_err(AudioError::Corrupt)?,
                );
                self.source_rate = rate;
                self.source_channels = channels;
                // At most one second: a larger "priming" is an edit, not encoder delay.
                self.skip_frames = self
                    .priming
                    .map(|(time, scale)| time.saturating_mul(u64::from(rate)) / u64::from(scale))
                    .filter(|&frames| frames <= u64::from(rate))
                    .unwrap_or(0);
            }
            Some(_) if rate != self.source_rate || channels != self.source_channels => {
                // A mid-stream format change (broken or spliced file): keep what is consistent.
                return Ok(Some(format!(
                    "the stream changes from {} Hz to {rate} Hz mid-way",
                    self.source_rate
                )));
            }
            Some(_) => {}
        }
        buf.copy_to_vec_interleaved(&mut self.interleaved);
        downmix(&self.interleaved, channels, &mut self.mono);
        self.source_frames += self.mono.len() as u64;
        let skip_now = (self.skip_frames as usize).min(self.mono.len());
        self.skip_frames -= skip_now as u64;
        if let Some(r) = self.resampler.as_mut() {
            r.push(&self.mono[skip_now..])
                .map_err(AudioError::Corrupt)?;
        }
        Ok(None)
    }

    /// Source audio taken so far, seconds.
    fn seconds(&self) -> f64 {
        self.source_frames as f64 / f64::from(self.source_rate)
    }

    fn finish(self) -> Result<Vec<f32>, Failure> {
        match self.resampler {
            Some(r) => Ok(r.finish().map_err(AudioError::Corrupt)?),
            None => Ok(Vec::new()),
        }
    }
}

/// Average interleaved channels into `mono` (resized to the frame count).
pub(crate) fn downmix(interleaved: &[f32], channels: usize, mono: &mut Vec<f32>) {
    mono.clear();
    if channels <= 1 {
        mono.extend_from_slice(interleaved);
        return;
    }
    let scale = 1.0 / channels as f32;
    mono.extend(
        interleaved
            .chunks_exact(channels)
            .map(|frame| frame.iter().sum::<f32>() * scale),
    );
}

/// Short codec name, as ffprobe would print it where possible.
fn codec_name(id: AudioCodecId) -> String {
    if let Some(registered) = symphonia::default::get_codecs().get_audio_decoder(id) {
        return registered.codec.info.short_name.to_string();
    }
    let known = [
        (codec_ids::CODEC_ID_OPUS, "opus"),
        (codec_ids::CODEC_ID_VORBIS, "vorbis"),
        (codec_ids::CODEC_ID_AAC, "aac"),
        (codec_ids::CODEC_ID_MP3, "mp3"),
        (codec_ids::CODEC_ID_FLAC, "flac"),
        (codec_ids::CODEC_ID_ALAC, "alac"),
    ];
    known
        .iter()
        .find(|(k, _)| *k == id)
        .map_or_else(|| format!("codec {id}"), |(_, name)| (*name).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn downmix_averages_channels() {
        let mut mono = Vec::new();
        downmix(&[1.0, 0.0, 0.5, 0.5, -1.0, 1.0], 2, &mut mono);
        assert_eq!(mono, vec![0.5, 0.5, 0.0]);
        downmix(&[0.1, 0.2], 1, &mut mono);
        assert_eq!(mono, vec![0.1, 0.2]);
    }
}
