//! Upload intake: stream the body (multipart `file` field or a raw audio/video body) to a temp
//! file while hashing it, refusing it with 413 as soon as it passes the limit.
//!
//! Nothing is buffered whole. The temp file is deleted when the [`Upload`] is dropped — on every
//! path, errors and client disconnects included (the handler's future is dropped with it).

use axum::body::Body;
use axum::extract::{FromRequest, Multipart, Request};
use axum::http::header::CONTENT_TYPE;
use bytes::Bytes;
use futures::{Stream, StreamExt};
use std::path::Path;
use tempfile::NamedTempFile;
use tokio::io::AsyncWriteExt;

use super::ApiError;

/// A received upload on disk.
#[derive(Debug)]
pub struct Upload {
    /// The temp file (deleted on drop).
    pub file: NamedTempFile,
    pub size_bytes: u64,
    /// Hex BLAKE3 of the bytes: the content half of the cache key.
    pub content_hash: String,
    /// The client's declared file name, if any (informational only: formats are sniffed).
    pub file_name: Option<String>,
}

impl Upload {
    pub fn path(&self) -> &Path {
        self.file.path()
    }
}

/// Reads the upload from a request.
pub async fn receive(req: Request, dir: &Path, max_bytes: u64) -> Result<Upload, ApiError> {
    let content_type = req
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|s| s.to_ascii_lowercase());
    match content_type.as_deref() {
        Some(ct) if ct.starts_with("multipart/form-data") => {
            let mut multipart = Multipart::from_request(req, &())
                .await
                .map_err(|e| ApiError::bad_request("malformed_multipart", e.body_text()))?;
            loop {
                let field = multipart.next_field().await.map_err(multipart_error)?;
                let Some(field) = field else {
                    return Err(ApiError::bad_request(
                        "missing_file",
                        "the multipart form has no `file` field: send the recording as `file`",
                    ));
                };
                if field.name() == Some("file") {
                    let file_name = field.file_name().map(str::to_string);
                    let stream = field.map(|r| r.map_err(multipart_error));
                    return write_stream(stream, dir, max_bytes, file_name).await;
                }
                // Other form fields are ignored (their size is bounded by the overall limit).
            }
        }
        None => write_stream(body_stream(req.into_body()), dir, max_bytes, None).await,
        Some(ct) if is_media_type(ct) => {
            write_stream(body_stream(req.into_body()), dir, max_bytes, None).await
        }
        Some(other) => Err(ApiError::UnsupportedMediaType(format!(
            "Content-Type {other:?} is not accepted: send multipart/form-data with a `file` field, \
             or the raw recording with an audio/* or video/* Content-Type"
        ))),
    }
}

fn is_media_type(ct: &str) -> bool {
    ct.starts_with("audio/")
        || ct.starts_with("video/")
        || ct.starts_with("application/octet-stream")
        || ct.starts_with("application/ogg")
}

fn body_stream(body: Body) -> impl Stream<Item = Result<Bytes, ApiError>> {
    body.into_data_stream().map(|r| {
        r.map_err(|e| {
            // The body reader reports an over-limit body or a dropped client here.
            ApiError::bad_request("body_read_error", format!("could not read the upload: {e}"))
        })
    })
}

fn multipart_error(e: axum::extract::multipart::MultipartError) -> ApiError {
    if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
        too_large_generic()
    } else {
        ApiError::bad_request("malformed_multipart", e.body_text())
    }
}

fn too_large_generic() -> ApiError {
    ApiError::TooLarge {
        code: "payload_too_large",
        message: "the upload is larger than the server accepts (MAX_FILE_SIZE_MB)".into(),
    }
}

async fn write_stream<S>(
    stream: S,
    dir: &Path,
    max_bytes: u64,
    file_name: Option<String>,
) -> Result<Upload, ApiError>
where
    S: Stream<Item = Result<Bytes, ApiError>>,
{
    std::fs::create_dir_all(dir).map_err(ApiError::internal)?;
    let temp = tempfile::Builder::new()
        .prefix("upload-")
        .tempfile_in(dir)
        .map_err(ApiError::internal)?;
    let std_file = temp.as_file().try_clone().map_err(ApiError::internal)?;
    let mut out =
        tokio::io::BufWriter::with_capacity(256 * 1024, tokio::fs::File::from_std(std_file));
    let mut hasher = blake3::Hasher::new();
    let mut size: u64 = 0;
    futures::pin_mut!(stream);
    while let Some(chunk) = stream.next().await {
        let chunk = chunk?;
        size += chunk.len() as u64;
        if size > max_bytes {
            return Err(ApiError::TooLarge {
                code: "payload_too_large",
                message: format!(
                    "the upload is larger than {max_bytes} bytes (MAX_FILE_SIZE_MB); send a shorter \
                     or more compressed recording"
                ),
            });
        }
        hasher.update(&chunk);
        out.write_all(&chunk).await.map_err(ApiError::internal)?;
    }
    out.flush().await.map_err(ApiError::internal)?;
    if size == 0 {
        return Err(ApiError::bad_request(
            "empty_file",
            "the uploaded file is empty",
        ));
    }
    Ok(Upload {
        file: temp,
        size_bytes: size,
        content_hash: hasher.finalize().to_hex().to_string(),
        file_name,
    })
}
