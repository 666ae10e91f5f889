//! The filler-word lexicon (`config/fillers.toml`): hesitation sounds and discourse fillers per
//! language. The file documents its own format.

use serde::Deserialize;
use std::collections::BTreeMap;

use super::tokens::normalize;

/// The lexicon compiled into the binary: the default unless `FILLERS_LEXICON_PATH` points
/// elsewhere.
pub const BUILTIN_LEXICON_TOML: &str = include_str!("../../config/fillers.toml");

/// Confidence of an unambiguous filler when the lexicon entry doesn't give one.
const DEFAULT_FILLER_CONFIDENCE: f64 = 0.8;

/// Why a lexicon file was refused.
#[derive(Debug, thiserror::Error)]
pub enum LexiconError {
    #[error("lexicon is not valid TOML: {0}")]
    Toml(#[from] toml::de::Error),
    #[error("lexicon entry {entry:?} ({language}): {problem}")]
    Entry {
        language: String,
        entry: String,
        problem: String,
    },
}

/// One discourse filler ("как бы", "you know", "вот").
#[derive(Debug, Clone, PartialEq)]
pub struct FillerEntry {
    /// Normalised words of the filler, in order.
    pub words: Vec<String>,
    /// Filler only when set apart by punctuation or pauses on both sides.
    pub ambiguous: bool,
    /// Confidence of an occurrence of a non-ambiguous entry, 0..=1.
    pub confidence: f64,
    /// Vetoing neighbours (normalised), see the lexicon file.
    pub not_after: Vec<String>,
    pub not_before: Vec<String>,
    /// Ambiguous entry that counts at the start of an utterance with no boundary after it.
    pub at_start: bool,
    /// When not empty, `at_start` holds only before one of these words.
    pub at_start_before: Vec<String>,
    /// Language table the entry came from.
    pub language: String,
}

impl FillerEntry {
    /// The filler as reported: its words joined by spaces.
    pub fn text(&self) -> String {
        self.words.join(" ")
    }
}

/// A hesitation sound pattern ("э" matches "э-э-э"), see the lexicon file.
#[derive(Debug, Clone, PartialEq)]
pub struct Hesitation {
    /// The normalised entry, hyphens removed.
    pattern: Vec<char>,
    /// Reported form of a match (the entry itself).
    pub text: String,
}

impl Hesitation {
    /// Whether a normalised word is this hesitation: same letters in the same order, each
    /// letter of the pattern standing for a run of one or more, hyphens ignored, and at least as
    /// long as the pattern ("мм" needs two m's).
    pub fn matches(&self, norm: &str) -> bool {
        let word: Vec<char> = norm.chars().filter(|&c| c != '-').collect();
        if word.len() < self.pattern.len() || word.is_empty() {
            return false;
        }
        collapse(&word) == collapse(&self.pattern)
    }
}

fn collapse(chars: &[char]) -> Vec<char> {
    let mut out: Vec<char> = Vec::with_capacity(chars.len());
    for &c in chars {
        if out.last() != Some(&c) {
            out.push(c);
        }
    }
    out
}

/// The lexicon: hesitations and fillers of every language in it. Matching uses all languages
/// at once, so mixed ru/en speech is covered; the scripts keep the entries apart.
#[derive(Debug, Clone, PartialEq)]
pub struct Lexicon {
    pub hesitations: Vec<Hesitation>,
    /// Longest entries first, so "в общем" wins over a one-word entry at the same place.
    pub fillers: Vec<FillerEntry>,
    version: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LanguageTable {
    #[serde(default)]
    hesitations: Vec<String>,
    #[serde(default)]
    fillers: Vec<RawEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEntry {
    text: String,
    #[serde(default)]
    ambiguous: bool,
    confidence: Option<f64>,
    #[serde(default)]
    not_after: Vec<String>,
    #[serde(default)]
    not_before: Vec<String>,
    #[serde(default)]
    at_start: bool,
    #[serde(default)]
    at_start_before: Vec<String>,
}

impl Lexicon {
    /// The lexicon embedded in the binary (`config/fillers.toml`).
    pub fn builtin() -> Self {
        Self::from_toml_str(BUILTIN_LEXICON_TOML)
            .expect("the embedded config/fillers.toml is valid")
    }

    /// Parse a lexicon file. Entries are normalised (lower case, ё→е); empty entries and
    /// confidences outside 0..=1 are refused.
    pub fn from_toml_str(text: &str) -> Result<Self, LexiconError> {
        let tables: BTreeMap<String, LanguageTable> = toml::from_str(text)?;
        let mut hesitations = Vec::new();
        let mut fillers = Vec::new();
        for (language, table) in tables {
            for h in table.hesitations {
                let pattern: Vec<char> =
                    normalize(h.trim()).chars().filter(|&c| c != '-').collect();
                if pattern.is_empty() || pattern.iter().any(|c| !c.is_alphabetic()) {
                    return Err(LexiconError::Entry {
                        language,
                        entry: h,
                        problem: "a hesitation must be letters only".into(),
                    });
                }
                hesitations.push(Hesitation {
                    pattern,
                    text: normalize(h.trim()),
                });
            }
            for raw in table.fillers {
                let words: Vec<String> = normalize(&raw.text)
                    .split_whitespace()
                    .map(str::to_string)
                    .collect();
                if words.is_empty() {
                    return Err(LexiconError::Entry {
                        language,
                        entry: raw.text,
                        problem: "empty filler".into(),
                    });
                }
                let confidence = raw.confidence.unwrap_or(DEFAULT_FILLER_CONFIDENCE);
                if !(0.0..=1.0).contains(&confidence) {
                    return Err(LexiconError::Entry {
                        language,
                        entry: raw.text,
                        problem: format!("confidence {confidence} is outside 0..=1"),
                    });
                }
                let norm_all = |v: Vec<String>| v.iter().map(|w| normalize(w.trim())).collect();
                fillers.push(FillerEntry {
                    words,
                    ambiguous: raw.ambiguous,
                    confidence,
                    not_after: norm_all(raw.not_after),
                    not_before: norm_all(raw.not_before),
                    at_start: raw.at_start,
                    at_start_before: norm_all(raw.at_start_before),
                    language: language.clone(),
                });
            }
        }
        // Stable sort: longest first, file order otherwise.
        fillers.sort_by_key(|f| std::cmp::Reverse(f.words.len()));
        let version = format!("fillers-{}", &blake3::hash(text.as_bytes()).to_hex()[..16]);
        Ok(Self {
            hesitations,
            fillers,
            version,
        })
    }

    /// A stable identifier of the lexicon's content (a hash of the file), for cache keys.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// The hesitation a normalised word is, if any; the longest matching entry wins (first in
    /// file order among equals), so "э-э-э" is reported as "э-э", not "э".
    pub fn hesitation(&self, norm: &str) -> Option<&Hesitation> {
        self.hesitations.iter().filter(|h| h.matches(norm)).fold(
            None,
            |best: Option<&Hesitation>, h| match best {
                Some(b) if b.pattern.len() >= h.pattern.len() => Some(b),
                _ => Some(h),
            },
        )
    }
}

impl Default for Lexicon {
    fn default() -> Self {
        Self::builtin()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_parses_with_both_languages() {
        let lex = Lexicon::builtin();
        assert!(
            lex.fillers
                .iter()
                .any(|f| f.language == "ru" && f.text() == "как бы")
        );
        assert!(
            lex.fillers
                .iter()
                .any(|f| f.language == "en" && f.text() == "you know")
        );
        assert!(lex.version().starts_with("fillers-"));
        // Longest first.
        assert!(lex.fillers[0].words.len() >= lex.fillers.last().unwrap().words.len());
    }

    #[test]
    fn hesitation_variants_match() {
        let lex = Lexicon::builtin();
        for w in [
            "э", "ээ", "эээ", "э-э", "э-э-э", "эм", "эммм", "мм", "ммм", "um", "umm", "uhh",
        ] {
            assert!(lex.hesitation(w).is_some(), "{w} should be a hesitation");
        }
        for w in ["м", "а", "эта", "это", "mum", "me", "under"] {
            assert!(lex.hesitation(w).is_none(), "{w} is not a hesitation");
        }
        assert_eq!(lex.hesitation("э-э-э").unwrap().text, "э-э");
        assert_eq!(lex.hesitation("эээ").unwrap().text, "э-э");
        assert_eq!(lex.hesitation("э").unwrap().text, "э");
        assert_eq!(lex.hesitation("ummm").unwrap().text, "um");
    }

    #[test]
    fn version_changes_with_content() {
        let a = Lexicon::from_toml_str("[ru]\nhesitations = [\"э\"]\n").unwrap();
        let b = Lexicon::from_toml_str("[ru]\nhesitations = [\"эм\"]\n").unwrap();
        assert_ne!(a.version(), b.version());
    }

    #[test]
    fn refuses_bad_entries() {
        assert!(Lexicon::from_toml_str("[ru]\nfillers = [{ text = \" \" }]").is_err());
        assert!(
            Lexicon::from_toml_str("[ru]\nfillers = [{ text = \"ну\", confidence = 2.0 }]")
                .is_err()
        );
        assert!(Lexicon::from_toml_str("[ru]\nhesitations = [\"э1\"]").is_err());
        assert!(Lexicon::from_toml_str("[ru]\nunknown = 1").is_err());
        assert!(Lexicon::from_toml_str("not toml [").is_err());
    }

    #[test]
    fn entries_are_normalised() {
        let lex = Lexicon::from_toml_str("[ru]\nfillers = [{ text = \"Всё  Же\" }]").unwrap();
        assert_eq!(lex.fillers[0].words, ["все", "же"]);
        assert_eq!(lex.fillers[0].confidence, DEFAULT_FILLER_CONFIDENCE);
    }
}
