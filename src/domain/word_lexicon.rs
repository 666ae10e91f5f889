//! The word lexicon (`config/words.toml`): hedges and weak words, stop-words, idiomatic doubles
//! and the vocabulary reference band per language. The file documents its own format.

use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};

use super::labels::WordKind;
use super::tokens::normalize;

/// The lexicon compiled into the binary.
pub const BUILTIN_WORDS_TOML: &str = include_str!("../../config/words.toml");

/// Why a word lexicon was refused.
#[derive(Debug, thiserror::Error)]
pub enum WordLexiconError {
    #[error("word lexicon is not valid TOML: {0}")]
    Toml(#[from] toml::de::Error),
    #[error("word lexicon entry {entry:?} ({language}): {problem}")]
    Entry {
        language: String,
        entry: String,
        problem: String,
    },
}

/// One hedge or weak word with its context rules (see the lexicon file).
#[derive(Debug, Clone, PartialEq)]
pub struct HedgeEntry {
    /// Normalised words, in order.
    pub words: Vec<String>,
    pub kind: WordKind,
    pub not_after: Vec<String>,
    pub not_before: Vec<String>,
    pub not_before_suffix: Vec<String>,
    /// When not empty, counted only when the next word ends with one of these.
    pub only_before_suffix: Vec<String>,
    /// Not counted as the last word of a sentence.
    pub needs_next: bool,
    /// A degree word: counted only when said in one breath with the next word (no punctuation
    /// right after it, not the last word of a segment).
    pub modifies_next: bool,
    /// Counted only after a boundary (sentence start, punctuation, pause).
    pub set_apart: bool,
    /// Counted only before a boundary (punctuation, pause, end of the talk or segment) or one of
    /// `clause_words`.
    pub set_apart_after: bool,
    /// With `set_apart_after`: next words that open a clause and so count as a boundary ("что").
    pub clause_words: Vec<String>,
}

impl HedgeEntry {
    /// The entry as reported: its words joined by spaces.
    pub fn text(&self) -> String {
        self.words.join(" ")
    }
}

/// One language's table.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct WordTable {
    /// Longest entries first, so "как мне кажется" wins over "мне кажется".
    pub hedges: Vec<HedgeEntry>,
    pub stopwords: BTreeSet<String>,
    pub doubles: BTreeSet<String>,
    /// Usual MATTR (window 50, stems) of speech: (low, high).
    pub mattr_band: (f64, f64),
}

/// All languages of the word lexicon.
#[derive(Debug, Clone, PartialEq)]
pub struct WordLexicon {
    pub languages: BTreeMap<String, WordTable>,
    version: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTable {
    #[serde(default)]
    hedges: Vec<RawHedge>,
    #[serde(default)]
    stopwords: Vec<String>,
    #[serde(default)]
    doubles: Vec<String>,
    mattr_band: [f64; 2],
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHedge {
    text: String,
    kind: Option<String>,
    #[serde(default)]
    not_after: Vec<String>,
    #[serde(default)]
    not_before: Vec<String>,
    #[serde(default)]
    not_before_suffix: Vec<String>,
    #[serde(default)]
    only_before_suffix: Vec<String>,
    #[serde(default)]
    needs_next: bool,
    #[serde(default)]
    modifies_next: bool,
    #[serde(default)]
    set_apart: bool,
    #[serde(default)]
    set_apart_after: bool,
    #[serde(default)]
    clause_words: Vec<String>,
}

fn norm_all(v: Vec<String>) -> Vec<String> {
    v.iter().map(|w| normalize(w.trim())).collect()
}

impl WordLexicon {
    /// The lexicon embedded in the binary (`config/words.toml`).
    pub fn builtin() -> Self {
        Self::from_toml_str(BUILTIN_WORDS_TOML).expect("the embedded config/words.toml is valid")
    }

    /// Parse a word lexicon; entries are normalised, empty ones and bad bands refused.
    pub fn from_toml_str(text: &str) -> Result<Self, WordLexiconError> {
        let raw: BTreeMap<String, RawTable> = toml::from_str(text)?;
        let mut languages = BTreeMap::new();
        for (language, table) in raw {
            let [low, high] = table.mattr_band;
            if !(0.0..=1.0).contains(&low) || !(0.0..=1.0).contains(&high) || low >= high {
                return Err(WordLexiconError::Entry {
                    language,
                    entry: "mattr_band".into(),
                    problem: format!("[{low}, {high}] must be 0 <= low < high <= 1"),
                });
            }
            let mut hedges = Vec::new();
            for h in table.hedges {
                let words: Vec<String> = normalize(&h.text)
                    .split_whitespace()
                    .map(str::to_string)
                    .collect();
                let kind = match h.kind.as_deref() {
                    None | Some("hedge") => WordKind::Hedge,
                    Some("weak") => WordKind::Weak,
                    Some(other) => {
                        return Err(WordLexiconError::Entry {
                            language,
                            entry: h.text,
                            problem: format!("kind {other:?} is neither hedge nor weak"),
                        });
                    }
                };
                if words.is_empty() {
                    return Err(WordLexiconError::Entry {
                        language,
                        entry: h.text,
                        problem: "empty entry".into(),
                    });
                }
                if !h.clause_words.is_empty() && !h.set_apart_after {
                    return Err(WordLexiconError::Entry {
                        language,
                        entry: h.text,
                        problem: "clause_words needs set_apart_after".into(),
                    });
                }
                hedges.push(HedgeEntry {
                    words,
                    kind,
                    not_after: norm_all(h.not_after),
                    not_before: norm_all(h.not_before),
                    not_before_suffix: norm_all(h.not_before_suffix),
                    only_before_suffix: norm_all(h.only_before_suffix),
                    needs_next: h.needs_next,
                    modifies_next: h.modifies_next,
                    set_apart: h.set_apart,
                    set_apart_after: h.set_apart_after,
                    clause_words: norm_all(h.clause_words),
                });
            }
            hedges.sort_by_key(|h| std::cmp::Reverse(h.words.len()));
            languages.insert(
                language,
                WordTable {
                    hedges,
                    stopwords: norm_all(table.stopwords).into_iter().collect(),
                    doubles: norm_all(table.doubles).into_iter().collect(),
                    mattr_band: (low, high),
                },
            );
        }
        let version = format!("words-{}", &blake3::hash(text.as_bytes()).to_hex()[..16]);
        Ok(Self { languages, version })
    }

    /// A stable identifier of the content (a hash of the file), for cache keys.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// The table of a language (`ru…` → Russian; anything else → English, the service's two
    /// first languages), or an empty table when the lexicon has neither.
    pub fn table(&self, language: &str) -> &WordTable {
        static EMPTY: std::sync::OnceLock<WordTable> = std::sync::OnceLock::new();
        let key = if language.to_ascii_lowercase().starts_with("ru") {
            "ru"
        } else {
            "en"
        };
        self.languages
            .get(key)
            .or_else(|| self.languages.get(language))
            .unwrap_or_else(|| EMPTY.get_or_init(WordTable::default))
    }

    /// Whether `norm` is a stop-word in any language (mixed ru/en speech: the scripts keep the
    /// lists apart).
    pub fn is_stopword(&self, norm: &str) -> bool {
        self.languages.values().any(|t| t.stopwords.contains(norm))
    }

    /// Whether `norm` is said twice on purpose in any language.
    pub fn is_double(&self, norm: &str) -> bool {
        self.languages.values().any(|t| t.doubles.contains(norm))
    }
}

impl Default for WordLexicon {
    fn default() -> Self {
        Self::builtin()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_parses_both_languages() {
        let lex = WordLexicon::builtin();
        let ru = lex.table("ru");
        let en = lex.table("en");
        assert!(ru.hedges.iter().any(|h| h.text() == "наверное"));
        assert!(en.hedges.iter().any(|h| h.text() == "i think"));
        assert!(en.hedges[0].words.len() >= en.hedges.last().unwrap().words.len());
        assert!(ru.stopwords.contains("этот") && en.stopwords.contains("the"));
        assert!(ru.mattr_band.0 < ru.mattr_band.1);
        assert!(lex.version().starts_with("words-"));
        assert_eq!(lex.table("de"), en, "other languages use the English table");
    }

    #[test]
    fn refuses_bad_entries() {
        let band = "mattr_band = [0.6, 0.9]\n";
        assert!(
            WordLexicon::from_toml_str(&format!("[ru]\n{band}hedges = [{{ text = \" \" }}]"))
                .is_err()
        );
        assert!(
            WordLexicon::from_toml_str(&format!(
                "[ru]\n{band}hedges = [{{ text = \"а\", kind = \"strong\" }}]"
            ))
            .is_err()
        );
        assert!(WordLexicon::from_toml_str("[ru]\nmattr_band = [0.9, 0.6]").is_err());
        assert!(
            WordLexicon::from_toml_str("[ru]\nhedges = []").is_err(),
            "band required"
        );
        assert!(WordLexicon::from_toml_str(&format!("[ru]\n{band}unknown = 1")).is_err());
        assert!(
            WordLexicon::from_toml_str(&format!(
                "[ru]\n{band}hedges = [{{ text = \"я считаю\", clause_words = [\"что\"] }}]"
            ))
            .is_err(),
            "clause_words without set_apart_after"
        );
    }
}
