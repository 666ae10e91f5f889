//! Upload intake: stream the body (multipart `file` field or a raw audio/video body) to a temp
//! file while hashing it, refusing it with 413 as soon as it passes the limit.
//!
//! Nothing is buffered whole. The temp file is deleted when the [`Upload`] is dropped — on every
//! path, errors and client disconnects included (the handler's future is dropped with it).

use axum::body::Body;
use axum::extract::Request;
use axum::http::header::CONTENT_TYPE;
use bytes::Bytes;
use futures::{Stream, StreamExt};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
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

/// Reads the upload from a request: a multipart form's `file` field or the raw body.
///
/// The limit is enforced here, once, for both shapes: the file's own bytes may be at most
/// `max_bytes` (one byte more → 413 while streaming, nothing kept). Multipart framing and other
/// form fields do not count against the file; they are bounded separately by
/// [`MULTIPART_OVERHEAD_BYTES`](super::MULTIPART_OVERHEAD_BYTES) so a form cannot stream junk
/// forever. No framework body limit applies (axum's 2 MiB multipart default is not used).
pub async fn receive(req: Request, dir: &Path, max_bytes: u64) -> Result<Upload, ApiError> {
    let content_type = req
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let lower = content_type.as_deref().map(str::to_ascii_lowercase);
    match lower.as_deref() {
        Some(ct) if ct.starts_with("multipart/form-data") => {
            // The boundary is case-sensitive: parse it from the header as sent.
            let boundary = multer::parse_boundary(content_type.as_deref().unwrap_or_default())
                .map_err(|e| {
                    ApiError::bad_request("malformed_multipart", format!("multipart form: {e}"))
                })?;
            let framing_limit = max_bytes.saturating_add(super::MULTIPART_OVERHEAD_BYTES);
            let over = Arc::new(AtomicBool::new(false));
            let body = capped(req.into_body(), framing_limit, over.clone());
            let mut form = multer::Multipart::new(body, boundary);
            loop {
                let field = form
                    .next_field()
                    .await
                    .map_err(|e| multipart_error(&e, &over))?;
                let Some(field) = field else {
                    return Err(ApiError::bad_request(
                        "missing_file",
                        "the multipart form has no `file` field: send the recording as `file`",
                    ));
                };
                if field.name() == Some("file") {
                    let file_name = field.file_name().map(str::to_string);
                    let over = over.clone();
                    let stream = field.map(move |r| r.map_err(|e| multipart_error(&e, &over)));
                    return write_stream(stream, dir, max_bytes, file_name).await;
                }
                // Other fields are skipped (read and dropped by the next `next_field`); they
                // count against the framing allowance only.
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
            // A client that goes away mid-upload ends up here.
            ApiError::bad_request("body_read_error", format!("could not read the upload: {e}"))
        })
    })
}

/// The request body as a byte stream that fails (and sets `over`) once more than `limit` bytes
/// have arrived.
fn capped(
    body: Body,
    limit: u64,
    over: Arc<AtomicBool>,
) -> impl Stream<Item = Result<Bytes, std::io::Error>> + Send {
    let mut seen: u64 = 0;
    body.into_data_stream().map(move |r| {
        let chunk = r.map_err(std::io::Error::other)?;
        seen += chunk.len() as u64;
        if seen > limit {
            over.store(true, Ordering::Relaxed);
            return Err(std::io::Error::other("multipart body over the limit"));
        }
        Ok(chunk)
    })
}

fn multipart_error(e: &multer::Error, over: &AtomicBool) -> ApiError {
    if over.load(Ordering::Relaxed) {
        too_large_generic()
    } else {
        ApiError::bad_request("malformed_multipart", format!("multipart form: {e}"))
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
