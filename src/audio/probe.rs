//! What is this file? Decided from its first bytes (magic numbers), never from its name.
//!
//! [`sniff`] sorts the head of an upload into a known media container, a known non-media type
//! (named, so the 415 message can say "this is a PDF"), or unknown bytes. [`parse_wav_header`]
//! checks a RIFF/WAVE header before any decoder trusts it: a header may declare 0 channels or a
//! 4 GHz sample rate, and a decoder that divides or allocates by those values fails.

use super::AudioError;

/// How many bytes of the file head the sniffers look at. Enough for every magic number and for a
/// WAV header with a few metadata chunks before `fmt `; an ID3 tag larger than this is trusted
/// as "MP3-like" without seeing the first frame.
pub const HEAD_LEN: usize = 64 * 1024;

/// A media container recognised from its bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Container {
    /// RIFF/WAVE.
    Wav,
    /// RF64/BW64 (WAV for files over 4 GiB); symphonia cannot read it.
    Rf64,
    /// AIFF / AIFF-C.
    Aiff,
    /// Apple Core Audio Format.
    Caf,
    /// MPEG audio frames (MP3, MP2), possibly after an ID3v2 tag.
    MpegAudio,
    /// Raw AAC in ADTS frames.
    Adts,
    /// Native FLAC.
    Flac,
    /// Ogg, with the codec of its first stream.
    Ogg(OggCodec),
    /// ISO base media (MP4, M4A, MOV, 3GP), with its `ftyp` major brand family.
    Mp4(Mp4Brand),
    /// Matroska; `webm` when the EBML doc type says so.
    Matroska { webm: bool },
    /// AVI (RIFF/AVI): video with audio; only ffmpeg reads it here.
    Avi,
    /// ASF (WMA/WMV); only ffmpeg reads it here.
    Asf,
    /// AMR narrow/wide band (phone voice memos); only ffmpeg reads it here.
    Amr,
}

/// Codec of the first logical stream of an Ogg file, from its first packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OggCodec {
    Vorbis,
    Opus,
    Flac,
    Speex,
    Unknown,
}

/// Family of an ISO-BMFF file, from its `ftyp` major brand.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mp4Brand {
    /// `M4A `, `M4B `, `M4P `: audio-only MPEG-4.
    M4a,
    /// `qt  `: QuickTime movie.
    Mov,
    /// `3gp*`, `3g2*`: phone recordings.
    ThreeGp,
    /// Anything else (`isom`, `mp41`, `mp42`, `dash`, …).
    Mp4,
}

impl Container {
    /// Short name reported in [`super::AudioInfo::container`].
    pub fn name(&self) -> &'static str {
        match self {
            Container::Wav => "wav",
            Container::Rf64 => "rf64",
            Container::Aiff => "aiff",
            Container::Caf => "caf",
            Container::MpegAudio => "mp3",
            Container::Adts => "aac",
            Container::Flac => "flac",
            Container::Ogg(_) => "ogg",
            Container::Mp4(Mp4Brand::M4a) => "m4a",
            Container::Mp4(Mp4Brand::Mov) => "mov",
            Container::Mp4(Mp4Brand::ThreeGp) => "3gp",
            Container::Mp4(Mp4Brand::Mp4) => "mp4",
            Container::Matroska { webm: true } => "webm",
            Container::Matroska { webm: false } => "mkv",
            Container::Avi => "avi",
            Container::Asf => "asf",
            Container::Amr => "amr",
        }
    }

    /// File extension handed to symphonia's probe as a hint (it still checks the bytes).
    pub fn symphonia_hint(&self) -> Option<&'static str> {
        match self {
            Container::Wav
            | Container::Aiff
            | Container::Caf
            | Container::MpegAudio
            | Container::Adts
            | Container::Flac
            | Container::Ogg(_) => Some(self.name()),
            // One demuxer for every brand of each.
            Container::Mp4(_) => Some("mp4"),
            Container::Matroska { .. } => Some("mkv"),
            Container::Rf64 | Container::Avi | Container::Asf | Container::Amr => None,
        }
    }

    /// Whether symphonia has a demuxer for this container (codec support is checked later).
    pub fn symphonia_can_demux(&self) -> bool {
        self.symphonia_hint().is_some()
    }
}

/// Result of looking at a file's head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sniffed {
    /// A media container we know.
    Media(Container),
    /// Something we recognise that is not audio or video; the string names it for the user.
    NotMedia(&'static str),
    /// No known signature.
    Unknown,
}

/// Classify the head of a file (`head` = its first bytes, at most [`HEAD_LEN`] needed).
pub fn sniff(head: &[u8]) -> Sniffed {
    if let Some(media) = sniff_media(head) {
        return Sniffed::Media(media);
    }
    if let Some(what) = sniff_non_media(head) {
        return Sniffed::NotMedia(what);
    }
    Sniffed::Unknown
}

fn sniff_media(h: &[u8]) -> Option<Container> {
    let at = |off: usize, magic: &[u8]| {
        h.len() >= off + magic.len() && &h[off..off + magic.len()] == magic
    };

    if at(0, b"RIFF") && at(8, b"WAVE") {
        return Some(Container::Wav);
    }
    if (at(0, b"RF64") || at(0, b"BW64")) && at(8, b"WAVE") {
        return Some(Container::Rf64);
    }
    if at(0, b"RIFF") && at(8, b"AVI ") {
        return Some(Container::Avi);
    }
    if at(0, b"FORM") && (at(8, b"AIFF") || at(8, b"AIFC")) {
        return Some(Container::Aiff);
    }
    if at(0, b"caff") {
        return Some(Container::Caf);
    }
    if at(0, b"fLaC") {
        return Some(Container::Flac);
    }
    if at(0, b"OggS") {
        return Some(Container::Ogg(ogg_codec(h)));
    }
    if at(4, b"ftyp") {
        let brand = h.get(8..12).unwrap_or_default();
        let family = match brand {
            b"M4A " | b"M4B " | b"M4P " => Mp4Brand::M4a,
            b"qt  " => Mp4Brand::Mov,
            [b'3', b'g', ..] => Mp4Brand::ThreeGp,
            _ => Mp4Brand::Mp4,
        };
        return Some(Container::Mp4(family));
    }
    // QuickTime files without `ftyp` start straight with a `moov`/`mdat`/`wide` atom.
    if at(4, b"moov") || at(4, b"mdat") || at(4, b"wide") {
        return Some(Container::Mp4(Mp4Brand::Mov));
    }
    if at(0, &[0x1A, 0x45, 0xDF, 0xA3]) {
        // The EBML header carries a DocType string within its first few dozen bytes.
        let window = &h[..h.len().min(64)];
        let webm = window.windows(4).any(|w| w == b"webm");
        return Some(Container::Matroska { webm });
    }
    if at(0, &[0x30, 0x26, 0xB2, 0x75, 0x8E, 0x66, 0xCF, 0x11]) {
        return Some(Container::Asf);
    }
    if at(0, b"#!AMR") {
        return Some(Container::Amr);
    }
    if at(0, b"ID3") && h.len() >= 10 {
        // An ID3v2 tag is audio metadata; what follows is usually MPEG audio (sometimes ADTS).
        let size = syncsafe(&h[6..10]);
        let footer = if h[5] & 0x10 != 0 { 10 } else { 0 };
        let start = 10usize.saturating_add(size).saturating_add(footer);
        if start >= h.len() {
            // Tag bigger than what we looked at (cover art): trust the tag.
            return Some(Container::MpegAudio);
        }
        return Some(frames_at(&h[start..]).unwrap_or(Container::MpegAudio));
    }
    frames_at(h)
}

/// MPEG audio or ADTS frames at (or within a few bytes of junk after) the start of `h`.
fn frames_at(h: &[u8]) -> Option<Container> {
    // Some encoders leave a little padding before the first frame; look a short way in.
    let scan = h.len().min(2048);
    for off in 0..scan {
        if h[off] != 0xFF {
            continue;
        }
        if confirmed_chain(&h[off..], mpeg_frame_len) {
            return Some(Container::MpegAudio);
        }
        if confirmed_chain(&h[off..], adts_frame_len) {
            return Some(Container::Adts);
        }
    }
    None
}

/// A frame header at 0 whose length leads to another valid header (or exactly to the end of a
/// tiny file). One header alone is too weak: random bytes contain `FF Ex` often enough.
fn confirmed_chain(h: &[u8], frame_len: fn(&[u8]) -> Option<usize>) -> bool {
    let Some(first) = frame_len(h) else {
        return false;
    };
    match h.get(first..) {
        Some([]) => true,
        Some(rest) if rest.len() < 4 => false,
        Some(rest) => frame_len(rest).is_some(),
        None => false,
    }
}

/// Length in bytes of the MPEG audio frame whose header starts `h`, if it is a valid header.
pub(crate) fn mpeg_frame_len(h: &[u8]) -> Option<usize> {
    if h.len() < 4 || h[0] != 0xFF || h[1] & 0xE0 != 0xE0 {
        return None;
    }
    let version = (h[1] >> 3) & 3; // 0 = 2.5, 1 = reserved, 2 = 2, 3 = 1
    let layer = (h[1] >> 1) & 3; // 1 = III, 2 = II, 3 = I, 0 = reserved
    let bitrate_idx = (h[2] >> 4) as usize;
    let rate_idx = ((h[2] >> 2) & 3) as usize;
    let padding = ((h[2] >> 1) & 1) as usize;
    if version == 1 || layer == 0 || bitrate_idx == 0 || bitrate_idx == 15 || rate_idx == 3 {
        return None;
    }
    const V1_L1: [usize; 15] = [
        0, 32, 64, 96, 128, 160, 192, 224, 256, 288, 320, 352, 384, 416, 448,
    ];
    const V1_L2: [usize; 15] = [
        0, 32, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384,
    ];
    const V1_L3: [usize; 15] = [
        0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320,
    ];
    const V2_L1: [usize; 15] = [
        0, 32, 48, 56, 64, 80, 96, 112, 128, 144, 160, 176, 192, 224, 256,
    ];
    const V2_L23: [usize; 15] = [0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160];
    const RATES: [usize; 3] = [44100, 48000, 32000];
    let mpeg1 = version == 3;
    let kbps = match (mpeg1, layer) {
        (true, 3) => V1_L1[bitrate_idx],
        (true, 2) => V1_L2[bitrate_idx],
        (true, _) => V1_L3[bitrate_idx],
        (false, 3) => V2_L1[bitrate_idx],
        (false, _) => V2_L23[bitrate_idx],
    };
    let rate = RATES[rate_idx]
        >> if mpeg1 {
            0
        } else if version == 2 {
            1
        } else {
            2
        };
    let bps = kbps * 1000;
    let len = match layer {
        3 => (12 * bps / rate + padding) * 4,
        2 => 144 * bps / rate + padding,
        _ if mpeg1 => 144 * bps / rate + padding,
        _ => 72 * bps / rate + padding,
    };
    (len >= 4).then_some(len)
}

/// Length in bytes of the ADTS (raw AAC) frame whose header starts `h`, if valid.
pub(crate) fn adts_frame_len(h: &[u8]) -> Option<usize> {
    if h.len() < 7 || h[0] != 0xFF || h[1] & 0xF6 != 0xF0 {
        return None;
    }
    let rate_idx = (h[2] >> 2) & 0x0F;
    if rate_idx >= 13 {
        return None;
    }
    let len = (((h[3] & 0x03) as usize) << 11) | ((h[4] as usize) << 3) | ((h[5] >> 5) as usize);
    (len >= 7).then_some(len)
}

fn syncsafe(b: &[u8]) -> usize {
    b.iter()
        .fold(0usize, |acc, &x| (acc << 7) | (x & 0x7F) as usize)
}

/// Codec of the first Ogg page's first packet.
fn ogg_codec(h: &[u8]) -> OggCodec {
    // Page header: 27 bytes, then `segments` lacing values, then the packet data.
    let Some(&segments) = h.get(26) else {
        return OggCodec::Unknown;
    };
    let data = 27 + segments as usize;
    let packet = h.get(data..).unwrap_or_default();
    if packet.starts_with(b"\x01vorbis") {
        OggCodec::Vorbis
    } else if packet.starts_with(b"OpusHead") {
        OggCodec::Opus
    } else if packet.starts_with(b"\x7fFLAC") {
        OggCodec::Flac
    } else if packet.starts_with(b"Speex   ") {
        OggCodec::Speex
    } else {
        OggCodec::Unknown
    }
}

/// Names of common files that are not recordings, for the 415 message.
fn sniff_non_media(h: &[u8]) -> Option<&'static str> {
    let starts = |magic: &[u8]| h.starts_with(magic);
    let binary: &[(&[u8], &str)] = &[
        (b"%PDF-", "PDF document"),
        (b"\x89PNG\r\n\x1a\n", "PNG image"),
        (b"\xFF\xD8\xFF", "JPEG image"),
        (b"GIF87a", "GIF image"),
        (b"GIF89a", "GIF image"),
        (b"PK\x03\x04", "ZIP archive (or an office document)"),
        (b"PK\x05\x06", "ZIP archive (empty)"),
        (b"\x1F\x8B", "gzip archive"),
        (b"BZh", "bzip2 archive"),
        (b"\xFD7zXZ\x00", "xz archive"),
        (b"7z\xBC\xAF\x27\x1C", "7-Zip archive"),
        (b"Rar!\x1A\x07", "RAR archive"),
        (b"\x7FELF", "ELF executable"),
        (b"MZ", "Windows executable"),
        (b"SQLite format 3\x00", "SQLite database"),
        (b"II*\x00", "TIFF image"),
        (b"MM\x00*", "TIFF image"),
        (b"MThd", "MIDI file (notes, not a recording)"),
        (b"\x00\x00\x01\x00", "icon image"),
    ];
    for (magic, name) in binary {
        if starts(magic) {
            return Some(name);
        }
    }
    if starts(b"RIFF") && h.get(8..12) == Some(b"WEBP") {
        return Some("WebP image");
    }
    if h.get(4..12) == Some(b"ftypheic") || h.get(4..12) == Some(b"ftypavif") {
        return Some("HEIF/AVIF image");
    }
    looks_like_text(h)
}

/// Text files, sub-classified by a few leading markers.
fn looks_like_text(h: &[u8]) -> Option<&'static str> {
    let sample = &h[..h.len().min(4096)];
    let body = sample.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(sample);
    // A multi-byte character may be cut at the end of the sample: accept a valid prefix.
    let text = match std::str::from_utf8(body) {
        Ok(t) => t,
        Err(e) if e.error_len().is_none() => std::str::from_utf8(&body[..e.valid_up_to()]).ok()?,
        Err(_) => return None,
    };
    if text.is_empty() {
        return None;
    }
    let total = text.chars().count();
    let printable = text
        .chars()
        .filter(|c| !c.is_control() || matches!(c, '\n' | '\r' | '\t'))
        .count();
    if printable * 100 < total * 97 {
        return None;
    }
    let lead = text.trim_start().to_ascii_lowercase();
    Some(
        if lead.starts_with("<!doctype html") || lead.starts_with("<html") {
            "HTML page"
        } else if lead.starts_with("<?xml") || lead.starts_with("<svg") {
            "XML document"
        } else if lead.starts_with('{') || lead.starts_with('[') {
            "JSON or other text"
        } else {
            "text"
        },
    )
}

/// What a RIFF/WAVE header declares, checked for plausibility.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WavHeader {
    /// `wFormatTag` (1 = PCM, 3 = IEEE float, 0xFFFE = extensible, …).
    pub format_tag: u16,
    pub channels: u16,
    pub sample_rate: u32,
    pub bits_per_sample: u16,
    /// Byte offset of the first sample.
    pub data_offset: u64,
    /// Size the `data` chunk declares.
    pub declared_data_bytes: u64,
    /// Bytes of sample data actually present in the file.
    pub available_data_bytes: u64,
}

impl WavHeader {
    /// Bytes per sample frame (all channels), never 0 for a validated header.
    pub fn frame_bytes(&self) -> u64 {
        u64::from(self.channels) * u64::from(self.bits_per_sample.div_ceil(8))
    }
    /// Duration of the samples present in the file, seconds.
    pub fn available_sec(&self) -> f64 {
        (self.available_data_bytes / self.frame_bytes()) as f64 / f64::from(self.sample_rate)
    }
    /// Duration the header declares, seconds.
    pub fn declared_sec(&self) -> f64 {
        (self.declared_data_bytes / self.frame_bytes()) as f64 / f64::from(self.sample_rate)
    }
}

/// Lowest and highest sample rate accepted from any header, Hz. Real recordings are 8–96 kHz;
/// the margins admit telephony oddities (4 kHz) and studio files (384 kHz), nothing absurd.
pub const MIN_SAMPLE_RATE: u32 = 4_000;
pub const MAX_SAMPLE_RATE: u32 = 384_000;
/// Most channels accepted (ambisonics and multitrack recorders stay well below).
pub const MAX_CHANNELS: usize = 64;

/// Check a declared sample rate and channel count before any decoder uses them.
pub fn check_rate_and_channels(sample_rate: u32, channels: usize) -> Result<(), AudioError> {
    if channels == 0 {
        return Err(AudioError::InvalidHeader(
            "the header declares 0 channels".into(),
        ));
    }
    if channels > MAX_CHANNELS {
        return Err(AudioError::InvalidHeader(format!(
            "the header declares {channels} channels (at most {MAX_CHANNELS} are supported)"
        )));
    }
    if !(MIN_SAMPLE_RATE..=MAX_SAMPLE_RATE).contains(&sample_rate) {
        return Err(AudioError::InvalidHeader(format!(
            "the header declares a sample rate of {sample_rate} Hz (expected {MIN_SAMPLE_RATE}–{MAX_SAMPLE_RATE} Hz)"
        )));
    }
    Ok(())
}

/// Walk the RIFF chunks in `head` (the file's first bytes; `file_len` its full size) to the
/// `fmt ` and `data` chunks and validate what they declare. Nothing is allocated by any
/// declared size.
pub fn parse_wav_header(head: &[u8], file_len: u64) -> Result<WavHeader, AudioError> {
    let le16 = |o: usize| u16::from_le_bytes([head[o], head[o + 1]]);
    let le32 = |o: usize| u32::from_le_bytes([head[o], head[o + 1], head[o + 2], head[o + 3]]);
    let mut fmt: Option<(u16, u16, u32, u16)> = None;
    let mut pos: usize = 12;
    loop {
        if pos + 8 > head.len() {
            let why = if (head.len() as u64) < file_len {
                "no `data` chunk in the first 64 KiB"
            } else {
                "the header ends before the `data` chunk"
            };
            return Err(AudioError::Corrupt(format!("WAV file: {why}")));
        }
        let id = &head[pos..pos + 4];
        let size = u64::from(le32(pos + 4));
        let body = pos + 8;
        match id {
            b"fmt " => {
                if size < 16 || body + 16 > head.len() {
                    return Err(AudioError::Corrupt(
                        "WAV file: `fmt ` chunk is too short".into(),
                    ));
                }
                let mut tag = le16(body);
                let channels = le16(body + 2);
                let rate = le32(body + 4);
                let bits = le16(body + 14);
                if tag == 0xFFFE && size >= 40 && body + 26 <= head.len() {
                    // WAVE_FORMAT_EXTENSIBLE: the real tag is the first two bytes of the GUID.
                    tag = le16(body + 24);
                }
                fmt = Some((tag, channels, rate, bits));
            }
            b"data" => {
                let Some((format_tag, channels, sample_rate, bits_per_sample)) = fmt else {
                    return Err(AudioError::Corrupt(
                        "WAV file: `data` chunk before `fmt `".into(),
                    ));
                };
                check_rate_and_channels(sample_rate, usize::from(channels))?;
                let plausible_bits = match format_tag {
                    1 => matches!(bits_per_sample, 8 | 16 | 24 | 32),
                    3 => matches!(bits_per_sample, 32 | 64),
                    6 | 7 => bits_per_sample == 8,
                    // ADPCM and others: the decoder knows its block layout; just not zero.
                    _ => bits_per_sample > 0 && bits_per_sample <= 64,
                };
                if !plausible_bits {
                    return Err(AudioError::InvalidHeader(format!(
                        "the header declares {bits_per_sample} bits per sample for format tag {format_tag:#x}"
                    )));
                }
                let data_offset = body as u64;
                let available = file_len.saturating_sub(data_offset);
                return Ok(WavHeader {
                    format_tag,
                    channels,
                    sample_rate,
                    bits_per_sample,
                    data_offset,
                    declared_data_bytes: size,
                    available_data_bytes: available.min(size),
                });
            }
            _ => {}
        }
        // Chunks are padded to an even size.
        let next = (body as u64).saturating_add(size).saturating_add(size & 1);
        if next > file_len {
            return Err(AudioError::Corrupt(format!(
                "WAV file: chunk `{}` runs past the end of the file",
                String::from_utf8_lossy(id)
            )));
        }
        pos = usize::try_from(next).unwrap_or(usize::MAX);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wav_header(tag: u16, channels: u16, rate: u32, bits: u16, data_bytes: u32) -> Vec<u8> {
        let block = channels * bits / 8;
        let mut h = Vec::new();
        h.extend_from_slice(b"RIFF");
        h.extend_from_slice(&(36 + data_bytes).to_le_bytes());
        h.extend_from_slice(b"WAVEfmt ");
        h.extend_from_slice(&16u32.to_le_bytes());
        h.extend_from_slice(&tag.to_le_bytes());
        h.extend_from_slice(&channels.to_le_bytes());
        h.extend_from_slice(&rate.to_le_bytes());
        h.extend_from_slice(&(rate.wrapping_mul(u32::from(block))).to_le_bytes());
        h.extend_from_slice(&block.to_le_bytes());
        h.extend_from_slice(&bits.to_le_bytes());
        h.extend_from_slice(b"data");
        h.extend_from_slice(&data_bytes.to_le_bytes());
        h
    }

    #[test]
    fn recognises_containers_by_magic() {
        assert_eq!(
            sniff(&wav_header(1, 1, 16000, 16, 0)),
            Sniffed::Media(Container::Wav)
        );
        assert_eq!(sniff(b"fLaC\0\0\0\x22"), Sniffed::Media(Container::Flac));
        assert_eq!(
            sniff(b"\0\0\0\x20ftypM4A \0\0\0\0"),
            Sniffed::Media(Container::Mp4(Mp4Brand::M4a))
        );
        assert_eq!(
            sniff(b"\0\0\0\x20ftypisom\0\0\0\0"),
            Sniffed::Media(Container::Mp4(Mp4Brand::Mp4))
        );
        assert_eq!(
            sniff(b"\0\0\0\x14ftypqt  \0\0\0\0"),
            Sniffed::Media(Container::Mp4(Mp4Brand::Mov))
        );
        let mut ebml = vec![0x1A, 0x45, 0xDF, 0xA3, 0x9F, 0x42, 0x82, 0x84];
        ebml.extend_from_slice(b"webm");
        assert_eq!(
            sniff(&ebml),
            Sniffed::Media(Container::Matroska { webm: true })
        );
    }

    #[test]
    fn mpeg_needs_two_chained_frames() {
        // MPEG-1 Layer III, 128 kbit/s, 44.1 kHz, no padding: 417-byte frames.
        let header = [0xFF, 0xFB, 0x90, 0x00];
        assert_eq!(mpeg_frame_len(&header), Some(417));
        let mut two = vec![0u8; 417 * 2];
        two[..4].copy_from_slice(&header);
        two[417..421].copy_from_slice(&header);
        assert_eq!(sniff(&two), Sniffed::Media(Container::MpegAudio));
        // The same first header followed by garbage is not enough.
        let mut one = vec![0x55u8; 417 * 2];
        one[..4].copy_from_slice(&header);
        assert_eq!(sniff(&one), Sniffed::Unknown);
    }

    #[test]
    fn names_common_non_media() {
        assert_eq!(sniff(b"%PDF-1.7\n"), Sniffed::NotMedia("PDF document"));
        assert_eq!(
            sniff(b"PK\x03\x04\x14\0"),
            Sniffed::NotMedia("ZIP archive (or an office document)")
        );
        assert_eq!(
            sniff(b"<!DOCTYPE html><html>"),
            Sniffed::NotMedia("HTML page")
        );
        assert_eq!(
            sniff("Привет, это не аудио.\n".as_bytes()),
            Sniffed::NotMedia("text")
        );
        assert_eq!(
            sniff(&[0x00, 0x13, 0x37, 0x99, 0xAB, 0x01]),
            Sniffed::Unknown
        );
    }

    #[test]
    fn wav_header_rejects_absurd_values_without_allocating() {
        let h = wav_header(1, 1, u32::MAX, 16, 32000);
        assert!(matches!(
            parse_wav_header(&h, 32044),
            Err(AudioError::InvalidHeader(_))
        ));
        let h = wav_header(1, 0, 16000, 16, 32000);
        assert!(matches!(
            parse_wav_header(&h, 32044),
            Err(AudioError::InvalidHeader(_))
        ));
        let h = wav_header(1, 1, 16000, 13, 32000);
        assert!(matches!(
            parse_wav_header(&h, 32044),
            Err(AudioError::InvalidHeader(_))
        ));
    }

    #[test]
    fn wav_header_reports_what_is_really_there() {
        // Declares 10 s but only 1 s of bytes follow.
        let h = wav_header(1, 2, 8000, 16, 320_000);
        let w = parse_wav_header(&h, 44 + 32_000).unwrap();
        assert_eq!(w.declared_data_bytes, 320_000);
        assert_eq!(w.available_data_bytes, 32_000);
        assert!((w.available_sec() - 1.0).abs() < 1e-9);
        assert!((w.declared_sec() - 10.0).abs() < 1e-9);
    }
}
