//! Encoder priming of the audio track of an MP4/M4A/MOV file, from its edit list.
//!
//! AAC encoders put ~1024 samples of priming before the first real sample and record that in
//! the track's edit list (`moov/trak/edts/elst` media time). Symphonia's MP4 reader does not
//! apply edit lists, so without this every AAC recording would start 64 ms (at 16 kHz) late and
//! every pause would be reported that much late.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

/// Largest `moov` box read into memory. A sample table for an hour of audio is a few MB; a
/// larger `moov` is left alone (no trimming) rather than read.
const MAX_MOOV_BYTES: u64 = 32 << 20;

/// Most top-level boxes walked before giving up (a hostile file could hold millions).
const MAX_TOP_LEVEL_BOXES: usize = 4096;

/// Priming of the first sound track, as (media time to skip, media timescale); `None` when the
/// file has no readable edit list for its sound track (then nothing is trimmed).
pub(crate) fn audio_priming(path: &Path) -> Option<(u64, u32)> {
    let mut file = File::open(path).ok()?;
    let len = file.metadata().ok()?.len();
    let moov = read_moov(&mut file, len)?;
    children(&moov)
        .filter(|(kind, _)| kind == b"trak")
        .find_map(|(_, trak)| sound_track_priming(trak))
}

fn read_moov(file: &mut File, len: u64) -> Option<Vec<u8>> {
    let mut pos = 0u64;
    for _ in 0..MAX_TOP_LEVEL_BOXES {
        if pos + 8 > len {
            return None;
        }
        file.seek(SeekFrom::Start(pos)).ok()?;
        let mut header = [0u8; 16];
        file.read_exact(&mut header[..8]).ok()?;
        let size32 = u32::from_be_bytes(header[..4].try_into().ok()?);
        let (size, header_len) = match size32 {
            0 => (len - pos, 8),
            1 => {
                file.read_exact(&mut header[8..16]).ok()?;
                (u64::from_be_bytes(header[8..16].try_into().ok()?), 16)
            }
            n => (u64::from(n), 8),
        };
        if size < header_len || pos.checked_add(size)? > len {
            return None;
        }
        if &header[4..8] == b"moov" {
            let body = size - header_len;
            if body > MAX_MOOV_BYTES {
                return None;
            }
            let mut moov = vec![0u8; body as usize];
            file.read_exact(&mut moov).ok()?;
            return Some(moov);
        }
        pos += size;
    }
    None
}

/// Child boxes of a container body: (type, body). Stops at the first malformed size.
fn children(body: &[u8]) -> impl Iterator<Item = ([u8; 4], &[u8])> {
    let mut pos = 0usize;
    std::iter::from_fn(move || {
        let header = body.get(pos..pos + 8)?;
        let size = u32::from_be_bytes(header[..4].try_into().ok()?) as usize;
        let kind: [u8; 4] = header[4..8].try_into().ok()?;
        let (start, end) = match size {
            0 => (pos + 8, body.len()),
            1 => {
                let large = u64::from_be_bytes(body.get(pos + 8..pos + 16)?.try_into().ok()?);
                (pos + 16, pos.checked_add(usize::try_from(large).ok()?)?)
            }
            n if n >= 8 => (pos + 8, pos.checked_add(n)?),
            _ => return None,
        };
        let child = body.get(start..end)?;
        pos = end;
        Some((kind, child))
    })
}

fn child<'a>(body: &'a [u8], kind: &[u8; 4]) -> Option<&'a [u8]> {
    children(body).find(|(k, _)| k == kind).map(|(_, b)| b)
}

fn sound_track_priming(trak: &[u8]) -> Option<(u64, u32)> {
    let mdia = child(trak, b"mdia")?;
    let hdlr = child(mdia, b"hdlr")?;
    if hdlr.get(8..12)? != b"soun" {
        return None;
    }
    let mdhd = child(mdia, b"mdhd")?;
    let timescale = match mdhd.first()? {
        0 => u32::from_be_bytes(mdhd.get(12..16)?.try_into().ok()?),
        1 => u32::from_be_bytes(mdhd.get(20..24)?.try_into().ok()?),
        _ => return None,
    };
    let elst = child(child(trak, b"edts")?, b"elst")?;
    let version = *elst.first()?;
    let count = u32::from_be_bytes(elst.get(4..8)?.try_into().ok()?) as usize;
    let entry_len = if version == 1 { 20 } else { 12 };
    for i in 0..count.min(64) {
        let e = elst.get(8 + i * entry_len..8 + (i + 1) * entry_len)?;
        let media_time = if version == 1 {
            i64::from_be_bytes(e[8..16].try_into().ok()?)
        } else {
            i64::from(i32::from_be_bytes(e[4..8].try_into().ok()?))
        };
        // -1 marks an empty edit (a delay before the track starts); the next entry says
        // where the media begins.
        if media_time >= 0 {
            return (timescale > 0).then_some((media_time as u64, timescale));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn boxed(kind: &[u8; 4], body: &[u8]) -> Vec<u8> {
        let mut b = ((body.len() + 8) as u32).to_be_bytes().to_vec();
        b.extend_from_slice(kind);
        b.extend_from_slice(body);
        b
    }

    fn trak(handler: &[u8; 4], timescale: u32, edits: &[i32]) -> Vec<u8> {
        let mut hdlr = vec![0u8; 8];
        hdlr.extend_from_slice(handler);
        hdlr.extend_from_slice(&[0u8; 12]);
        let mut mdhd = vec![0u8; 12];
        mdhd.extend_from_slice(&timescale.to_be_bytes());
        mdhd.extend_from_slice(&[0u8; 8]);
        let mut elst = vec![0u8; 4];
        elst.extend_from_slice(&(edits.len() as u32).to_be_bytes());
        for &t in edits {
            elst.extend_from_slice(&1000u32.to_be_bytes());
            elst.extend_from_slice(&t.to_be_bytes());
            elst.extend_from_slice(&0x0001_0000u32.to_be_bytes());
        }
        let mdia = [boxed(b"mdhd", &mdhd), boxed(b"hdlr", &hdlr)].concat();
        let body = [
            boxed(b"tkhd", &[0u8; 84]),
            boxed(b"edts", &boxed(b"elst", &elst)),
            boxed(b"mdia", &mdia),
        ]
        .concat();
        boxed(b"trak", &body)
    }

    #[test]
    fn finds_the_sound_tracks_first_real_edit() {
        let moov = boxed(
            b"moov",
            &[
                trak(b"vide", 90_000, &[0]),
                trak(b"soun", 44_100, &[-1, 2112]),
            ]
            .concat(),
        );
        let file = [
            boxed(b"ftyp", b"M4A \0\0\0\0"),
            boxed(b"mdat", &[0u8; 100]),
            moov,
        ]
        .concat();
        let mut tmp = tempfile::NamedTempFile::new().unwrap();
        tmp.write_all(&file).unwrap();
        assert_eq!(audio_priming(tmp.path()), Some((2112, 44_100)));
    }

    #[test]
    fn malformed_boxes_give_none() {
        let mut tmp = tempfile::NamedTempFile::new().unwrap();
        // A box claiming to be larger than the file.
        tmp.write_all(&[0xFF, 0xFF, 0xFF, 0xF0, b'm', b'o', b'o', b'v', 1, 2, 3])
            .unwrap();
        assert_eq!(audio_priming(tmp.path()), None);
        let moov = boxed(b"moov", &boxed(b"trak", &[0, 0, 0, 3, b'x']));
        let mut tmp = tempfile::NamedTempFile::new().unwrap();
        tmp.write_all(&moov).unwrap();
        assert_eq!(audio_priming(tmp.path()), None);
    }
}
