//! Where settings come from: the process environment, then `.env`, then `config/*.toml`.
//!
//! Earlier sources win. Keys are the environment variable names everywhere (in TOML files too,
//! e.g. `MAX_FILE_SIZE_MB = 50`), so one name documents a setting in every place.

use std::collections::HashMap;
use std::path::Path;

/// A flat lookup of raw setting values by variable name.
#[derive(Debug, Clone, Default)]
pub struct Source {
    values: HashMap<String, String>,
}

impl Source {
    /// The real layering: environment > `.env` (in the working directory) > `config/*.toml`
    /// (files read in name order; a later file overrides an earlier one).
    pub fn from_environment(config_dir: &Path) -> Result<Self, String> {
        let mut values = HashMap::new();
        let mut toml_files: Vec<_> = std::fs::read_dir(config_dir)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "toml"))
            // fillers.toml and words.toml are lexicons, not settings.
            .filter(|p| {
                p.file_name()
                    .is_some_and(|n| n != "fillers.toml" && n != "words.toml")
            })
            .collect();
        toml_files.sort();
        for path in toml_files {
            let text = std::fs::read_to_string(&path)
                .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            let table: toml::Table =
                toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
            for (k, v) in table {
                let s = match v {
                    toml::Value::String(s) => s,
                    other => other.to_string(),
                };
                values.insert(k.to_ascii_uppercase(), s);
            }
        }
        if let Ok(iter) = dotenvy::from_path_iter(".env") {
            for item in iter {
                let (k, v) = item.map_err(|e| format!(".env: {e}"))?;
                values.insert(k, v);
            }
        }
        values.extend(std::env::vars());
        Ok(Self { values })
    }

    /// A source from explicit pairs (tests, `Config::default()`).
    pub fn from_pairs<I, K, V>(pairs: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        Self {
            values: pairs
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        }
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.values.get(key).map(String::as_str)
    }
}

/// Reads typed values from a [`Source`], collecting every error with the variable's name.
pub struct Reader<'a> {
    source: &'a Source,
    errors: Vec<String>,
    /// Every variable name asked for, so the documented set can be checked against the code.
    asked: Vec<String>,
}

impl<'a> Reader<'a> {
    pub fn new(source: &'a Source) -> Self {
        Self {
            source,
            errors: Vec::new(),
            asked: Vec::new(),
        }
    }

    /// The raw string, if set (an empty string counts as set).
    pub fn raw(&mut self, key: &str) -> Option<String> {
        if !self.asked.iter().any(|k| k == key) {
            self.asked.push(key.to_string());
        }
        self.source.get(key).map(|s| s.trim().to_string())
    }

    /// The names asked for so far.
    pub fn asked(&self) -> &[String] {
        &self.asked
    }

    pub fn string(&mut self, key: &str, default: &str) -> String {
        self.raw(key).unwrap_or_else(|| default.to_string())
    }

    /// A value parsed with `FromStr`, or the default when unset or empty.
    pub fn parse<T>(&mut self, key: &str, default: T) -> T
    where
        T: std::str::FromStr,
        T::Err: std::fmt::Display,
    {
        match self.raw(key) {
            None => default,
            Some(s) if s.is_empty() => default,
            Some(s) => match s.parse::<T>() {
                Ok(v) => v,
                Err(e) => {
                    self.errors.push(format!("{key}={s:?}: {e}"));
                    default
                }
            },
        }
    }

    /// A number that must lie in `range`.
    pub fn number<T>(&mut self, key: &str, default: T, range: std::ops::RangeInclusive<T>) -> T
    where
        T: std::str::FromStr + PartialOrd + Copy + std::fmt::Display,
        T::Err: std::fmt::Display,
    {
        let v = self.parse(key, default);
        if !range.contains(&v) {
            self.errors.push(format!(
                "{key}={v}: must be between {} and {}",
                range.start(),
                range.end()
            ));
            return default;
        }
        v
    }

    pub fn bool(&mut self, key: &str, default: bool) -> bool {
        match self.raw(key).map(|s| s.to_ascii_lowercase()) {
            None => default,
            Some(s) if s.is_empty() => default,
            Some(s) => match s.as_str() {
                "1" | "true" | "yes" | "on" => true,
                "0" | "false" | "no" | "off" => false,
                _ => {
                    self.errors
                        .push(format!("{key}={s:?}: expected true or false"));
                    default
                }
            },
        }
    }

    /// An optional value: unset or empty → `None`.
    pub fn optional(&mut self, key: &str) -> Option<String> {
        self.raw(key).filter(|s| !s.is_empty())
    }

    pub fn error(&mut self, message: String) {
        self.errors.push(message);
    }

    /// The errors so far (cleared), as `Err` when there are any.
    pub fn take_errors(&mut self) -> Result<(), Vec<String>> {
        let errors = std::mem::take(&mut self.errors);
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }

    pub fn finish(self) -> Result<(), Vec<String>> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(self.errors)
        }
    }
}
