//! Cache keys: what was uploaded (content hash) + how it is analysed (settings fingerprint).

/// A cache key: `<64 hex of the upload's BLAKE3>.<16 hex of the settings fingerprint>`.
///
/// Same bytes + same analysis settings → same key; changing the model, language choice,
/// lexicon or analysis version changes the fingerprint, so a stale report is never served.
/// Short, ASCII, safe as a file name and inside a Redis key.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CacheKey(String);

impl CacheKey {
    /// Builds the key from the upload's content hash and the analysis settings.
    ///
    /// `settings` are `(name, value)` pairs (e.g. `("model", "whisper-base")`,
    /// `("language", "auto")`, `("lexicon", "3")`, `("analysis", "1")`); their order does not
    /// matter. Names and values are length-prefixed before hashing so `("a","bc")` and
    /// `("ab","c")` differ.
    pub fn new(content_hash: &blake3::Hash, settings: &[(&str, &str)]) -> Self {
        Self(format!(
            "{}.{}",
            content_hash.to_hex(),
            settings_fingerprint(settings)
        ))
    }

    /// The key as a string, for [`super::TieredCache`] calls.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The hex content hash part (the report `id`).
    pub fn content_hash_hex(&self) -> &str {
        self.0.split('.').next().unwrap_or(&self.0)
    }
}

impl std::fmt::Display for CacheKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for CacheKey {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// 16 hex chars (64 bits) of BLAKE3 over the sorted, length-prefixed settings.
///
/// 64 bits is plenty: the fingerprint only has to tell apart the handful of settings
/// combinations a deployment ever uses; the content hash carries the collision resistance.
pub fn settings_fingerprint(settings: &[(&str, &str)]) -> String {
    let mut sorted: Vec<_> = settings.to_vec();
    sorted.sort_unstable();
    let mut h = blake3::Hasher::new();
    for (name, value) in sorted {
        for part in [name, value] {
            h.update(&(part.len() as u64).to_le_bytes());
            h.update(part.as_bytes());
        }
    }
    hex::encode(&h.finalize().as_bytes()[..8])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_upload_and_settings_give_the_same_key_in_any_settings_order() {
        let h = blake3::hash(b"talk");
        let a = CacheKey::new(&h, &[("model", "base"), ("language", "ru")]);
        let b = CacheKey::new(&h, &[("language", "ru"), ("model", "base")]);
        assert_eq!(a, b);
        assert_eq!(a.content_hash_hex(), h.to_hex().as_str());
        assert_eq!(a.as_str().len(), 64 + 1 + 16);
    }

    #[test]
    fn any_setting_change_changes_the_key() {
        let h = blake3::hash(b"talk");
        let base = CacheKey::new(&h, &[("model", "base"), ("analysis", "1")]);
        assert_ne!(
            base,
            CacheKey::new(&h, &[("model", "small"), ("analysis", "1")])
        );
        assert_ne!(
            base,
            CacheKey::new(&h, &[("model", "base"), ("analysis", "2")])
        );
        assert_ne!(
            base,
            CacheKey::new(
                &blake3::hash(b"other"),
                &[("model", "base"), ("analysis", "1")]
            )
        );
    }

    #[test]
    fn length_prefixing_keeps_boundaries() {
        assert_ne!(
            settings_fingerprint(&[("a", "bc")]),
            settings_fingerprint(&[("ab", "c")])
        );
    }
}
