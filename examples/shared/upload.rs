//! The upload of `POST /v1/audio/transcriptions` as the fake recognisers read it (`fake_asr`,
//! `fake_asr_instant`; each includes this file with `#[path]`).

use axum::extract::Multipart;
use axum::http::StatusCode;

/// A transcription request's upload: the length of its `file` part, and its `language` if given.
pub struct Upload {
    pub file_len: usize,
    pub language: Option<String>,
}

/// Reads the form; 400 on a malformed one or one without a `file` part.
pub async fn read(mut form: Multipart) -> Result<Upload, (StatusCode, String)> {
    let bad = |e: String| (StatusCode::BAD_REQUEST, e);
    let mut file_len = None;
    let mut language = None;
    while let Some(field) = form.next_field().await.map_err(|e| bad(e.to_string()))? {
        match field.name() {
            Some("file") => {
                file_len = Some(field.bytes().await.map_err(|e| bad(e.to_string()))?.len())
            }
            Some("language") => {
                language = Some(field.text().await.map_err(|e| bad(e.to_string()))?)
            }
            _ => {}
        }
    }
    let file_len = file_len.ok_or_else(|| bad("no file part".into()))?;
    Ok(Upload { file_len, language })
}
