//! The cache key of a report: what was uploaded and how it is analysed.

/// `v<analysis version>:<16 hex of the settings fingerprint>:<language or auto>:<64 hex BLAKE3
/// of the upload>`.
///
/// Same bytes + same analysis settings + same requested language → same key. Changing the model,
/// decoding, VAD or analysis settings changes the fingerprint, and a new analysis version the
/// prefix, so a stale report is never served. Short, ASCII, safe as a file name and inside a
/// Redis key.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CacheKey(String);

impl CacheKey {
    /// The key of the upload with hex BLAKE3 `content_hash`, analysed by settings whose
    /// fingerprint is `settings_fingerprint` (hex, at least 16 characters), in `language`
    /// (`None`: detected).
    pub fn new(
        analysis_version: u32,
        settings_fingerprint: &str,
        language: Option<&str>,
        content_hash: &str,
    ) -> Self {
        let fingerprint = settings_fingerprint
            .get(..16)
            .unwrap_or(settings_fingerprint);
        Self(format!(
            "v{analysis_version}:{fingerprint}:{}:{content_hash}",
            language.unwrap_or("auto")
        ))
    }

    /// The key as a string, for [`super::TieredCache`] calls.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The hex content hash part (the report `id`).
    pub fn content_hash(&self) -> &str {
        self.0.rsplit(':').next().unwrap_or(&self.0)
    }
}

impl std::fmt::Display for CacheKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FP: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn the_key_names_version_settings_language_and_content() {
        let h = blake3::hash(b"talk").to_hex().to_string();
        let k = CacheKey::new(2, FP, Some("ru"), &h);
        assert_eq!(k.as_str(), format!("v2:0123456789abcdef:ru:{h}"));
        assert_eq!(k.content_hash(), h);
        assert_eq!(
            CacheKey::new(2, FP, None, &h).as_str(),
            format!("v2:0123456789abcdef:auto:{h}")
        );
    }

    #[test]
    fn any_part_changing_changes_the_key() {
        let h = blake3::hash(b"talk").to_hex().to_string();
        let base = CacheKey::new(2, FP, Some("en"), &h);
        assert_ne!(base, CacheKey::new(3, FP, Some("en"), &h));
        assert_ne!(base, CacheKey::new(2, "fedcba9876543210", Some("en"), &h));
        assert_ne!(base, CacheKey::new(2, FP, None, &h));
        let other = blake3::hash(b"other").to_hex().to_string();
        assert_ne!(base, CacheKey::new(2, FP, Some("en"), &other));
    }
}
