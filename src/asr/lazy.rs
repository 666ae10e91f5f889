//! A transcriber whose model is loaded on first use (or by a background preload at startup).
//!
//! The service starts at once even when the model is missing (health says so and `/analyze`
//! answers 503 until it appears); a failed load is retried by the next request.

use async_trait::async_trait;
use std::path::PathBuf;
use std::sync::Arc;
use tokio::sync::OnceCell;

use super::{AsrError, AsrHealth, AsrInput, AsrStatus, Transcriber, Transcript};

/// Loads the real transcriber (blocking) when first needed.
pub type Loader = Arc<dyn Fn() -> Result<Arc<dyn Transcriber>, AsrError> + Send + Sync>;

pub struct LazyTranscriber {
    cell: OnceCell<Arc<dyn Transcriber>>,
    loader: Loader,
    /// Identity without loading: model dir, `model.bin` size and mtime, decoding settings.
    identity: String,
    model_dir: PathBuf,
}

impl LazyTranscriber {
    pub fn new(model_dir: PathBuf, decoding: String, loader: Loader) -> Self {
        Self {
            cell: OnceCell::new(),
            loader,
            identity: decoding,
            model_dir,
        }
    }

    /// Loads now (e.g. from a background task at startup); errors are logged, not fatal.
    pub async fn preload(&self) {
        match self.get().await {
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "speech recognition model not loaded"),
        }
    }

    async fn get(&self) -> Result<&Arc<dyn Transcriber>, AsrError> {
        self.cell
            .get_or_try_init(|| async {
                let loader = self.loader.clone();
                tokio::task::spawn_blocking(move || loader())
                    .await
                    .map_err(|e| AsrError::ModelUnavailable(format!("model load panicked: {e}")))?
            })
            .await
    }

    fn model_stamp(&self) -> String {
        match std::fs::metadata(self.model_dir.join("model.bin")) {
            Ok(m) => {
                let mtime = m
                    .modified()
                    .ok()
                    .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                    .map_or(0, |d| d.as_secs());
                format!("{}-{mtime}", m.len())
            }
            Err(_) => "absent".into(),
        }
    }
}

#[async_trait]
impl Transcriber for LazyTranscriber {
    async fn transcribe(&self, input: AsrInput) -> Result<Transcript, AsrError> {
        self.get().await?.transcribe(input).await
    }

    fn fingerprint(&self) -> String {
        let dir = self
            .model_dir
            .file_name()
            .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
        format!("whisper:{dir}:{}:{}", self.model_stamp(), self.identity)
    }

    fn health(&self) -> AsrHealth {
        let dir = || self.model_dir.display().to_string();
        match self.cell.get() {
            Some(t) => t.health(),
            None if self.model_dir.join("model.bin").is_file() => {
                AsrHealth::not_ready(AsrStatus::Loading, dir())
            }
            None => AsrHealth::not_ready(AsrStatus::Unavailable, dir()),
        }
    }
}
