//! The closed sets of labels a report uses (pace flags, pause classes, filler sources…), one enum
//! each. Their JSON names are the strings the report has always carried; domain, coach, CLI and
//! HTTP compare the enums, never the strings.

/// Declares a label enum: serde names, `as_str`, `ALL` and `Display` from one list. The names are
/// `tt`, not `literal`: a `literal` fragment reaches derives wrapped in an invisible group, which
/// utoipa's `ToSchema` does not read (it would name the variants, not their JSON names).
macro_rules! labels {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $text:tt),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord,
            serde::Serialize, serde::Deserialize, utoipa::ToSchema,
        )]
        pub enum $name {
            $($(#[$vmeta])* #[serde(rename = $text)] $variant),+
        }

        impl $name {
            /// Every label, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The JSON name.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

labels! {
    /// A pace window against the comfortable band.
    PaceFlag {
        Ok = "ok",
        TooFast = "too_fast",
        TooSlow = "too_slow",
    }
}

labels! {
    /// A silence between words, by length.
    PauseClass {
        /// Breathing between phrases.
        Natural = "natural",
        /// Long enough to be heard as an effect.
        Deliberate = "deliberate",
        /// Long enough to lose a listener.
        Long = "long",
        /// A silence the audience notices as a stall.
        Awkward = "awkward",
    }
}

labels! {
    /// Phrases on average, by their number of words.
    PhraseLength {
        Short = "short",
        Balanced = "balanced",
        Long = "long",
    }
}

labels! {
    /// Moving-average type-token ratio against the language's reference band.
    VocabularyFlag {
        /// Fewer words than one window: not judged.
        TooShort = "too_short",
        Low = "low",
        Ok = "ok",
        High = "high",
    }
}

labels! {
    /// Where a filler was found.
    FillerSource {
        /// A filler word in the recogniser's text.
        Transcript = "transcript",
        /// A hesitation sound the recogniser left out, found in the signal.
        Acoustic = "acoustic",
    }
}

labels! {
    /// An entry of the word lexicon.
    WordKind {
        /// Undercuts a claim ("I think maybe", "наверное").
        Hedge = "hedge",
        /// Adds nothing ("really", "очень").
        Weak = "weak",
    }
}

labels! {
    /// A disfluency in the words.
    RepetitionKind {
        /// A word or phrase said twice in a row.
        Repeat = "repeat",
        /// A beginning abandoned and started again.
        Restart = "restart",
    }
}

labels! {
    /// What a timeline event marks.
    TimelineKind {
        Speech = "speech",
        Filler = "filler",
        Pause = "pause",
        PaceWindow = "pace_window",
        Monotone = "monotone",
        FillerBurst = "filler_burst",
        Hedge = "hedge",
        Repetition = "repetition",
        OverusedPhrase = "overused_phrase",
        LongSentence = "long_sentence",
    }
}

labels! {
    /// What an advice is about.
    AdviceCategory {
        Pace = "pace",
        Fillers = "fillers",
        Pauses = "pauses",
        Phrasing = "phrasing",
        Voice = "voice",
        /// What the words say: hedges, repeats, over-used phrases, vocabulary, sentences.
        Words = "words",
        /// About the recording as a whole (no speech heard).
        General = "general",
        /// The change against the speaker's earlier rehearsals.
        Progress = "progress",
    }
}

labels! {
    /// How much an advice matters. Declared most severe first: sorting puts warnings first.
    Severity {
        /// Costs the audience's attention: fix it first.
        Warning = "warning",
        /// Worth working on.
        Suggestion = "suggestion",
        /// Fine as it is, or only informative.
        Info = "info",
    }
}

impl TimelineKind {
    /// Order of kinds at the same start: wide context first, point events last.
    pub fn rank(self) -> u8 {
        match self {
            Self::PaceWindow => 0,
            Self::Speech => 1,
            Self::Monotone => 2,
            Self::FillerBurst => 3,
            Self::LongSentence => 4,
            Self::Pause => 5,
            Self::Filler | Self::Hedge | Self::Repetition | Self::OverusedPhrase => 6,
        }
    }
}

impl Default for VocabularyFlag {
    /// No words yet: nothing to judge.
    fn default() -> Self {
        Self::TooShort
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_names_are_as_str() {
        for flag in PaceFlag::ALL {
            let json = serde_json::to_value(flag).unwrap();
            assert_eq!(json, flag.as_str());
            assert_eq!(serde_json::from_value::<PaceFlag>(json).unwrap(), *flag);
        }
        assert_eq!(PauseClass::Awkward.to_string(), "awkward");
        assert_eq!(
            serde_json::to_value(VocabularyFlag::TooShort).unwrap(),
            "too_short"
        );
    }

    /// The OpenAPI schema of every label enum lists its JSON names, in order.
    #[test]
    fn schemas_list_the_json_names() {
        fn check<T: utoipa::PartialSchema + Copy + std::fmt::Display>(all: &[T]) {
            let schema = serde_json::to_value(T::schema()).unwrap();
            let names: Vec<String> = all.iter().map(|l| l.to_string()).collect();
            assert_eq!(schema["enum"], serde_json::json!(names));
        }
        check(PaceFlag::ALL);
        check(PauseClass::ALL);
        check(PhraseLength::ALL);
        check(VocabularyFlag::ALL);
        check(FillerSource::ALL);
        check(WordKind::ALL);
        check(RepetitionKind::ALL);
        check(TimelineKind::ALL);
        check(AdviceCategory::ALL);
        check(Severity::ALL);
    }
}
