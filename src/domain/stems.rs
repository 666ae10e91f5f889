//! A small suffix-stripping stemmer for Russian and English: enough to count "этот проект /
//! этого проекта / этому проекту" or "project / projects" as one word when looking for over-used
//! phrases and measuring vocabulary. Not a lemmatiser: irregular forms ("шёл/идти", "went/go")
//! stay apart, and two unrelated words may share a stem. Deterministic, no dictionary.

/// Russian endings, longest first within each group (adjectival, participle, verb, noun,
/// superlative), from the Snowball Russian stemmer's lists, merged into one pass.
const RU_ENDINGS: &[&str] = &[
    "ившись",
    "ывшись",
    "ейшими",
    "ейшего",
    "ейшему",
    "ующими",
    "ующего",
    "ующему",
    "ейших",
    "ейшая",
    "ейшее",
    "ейшие",
    "ейший",
    "ейшую",
    "ующих",
    "ующая",
    "ующее",
    "ующие",
    "ующий",
    "ующую",
    "ивши",
    "ывши",
    "ими",
    "ыми",
    "его",
    "ого",
    "ему",
    "ому",
    "ией",
    "иям",
    "иях",
    "ием",
    "иями",
    "ями",
    "ами",
    "ешь",
    "ишь",
    "ете",
    "ите",
    "йте",
    "ейте",
    "уйте",
    "ила",
    "ыла",
    "ена",
    "ило",
    "ыло",
    "ено",
    "или",
    "ыли",
    "ены",
    "ить",
    "ыть",
    "ует",
    "уют",
    "ать",
    "ять",
    "еть",
    "ее",
    "ие",
    "ые",
    "ое",
    "ей",
    "ий",
    "ый",
    "ой",
    "ем",
    "им",
    "ым",
    "ом",
    "их",
    "ых",
    "ую",
    "юю",
    "ая",
    "яя",
    "ою",
    "ею",
    "ах",
    "ях",
    "ам",
    "ям",
    "ов",
    "ев",
    "ие",
    "ье",
    "еи",
    "ии",
    "ия",
    "ья",
    "ию",
    "ью",
    "ла",
    "на",
    "ли",
    "ло",
    "но",
    "ет",
    "ют",
    "ны",
    "ть",
    "ят",
    "ит",
    "ыт",
    "ут",
    "ат",
    "ил",
    "ыл",
    "а",
    "е",
    "и",
    "й",
    "о",
    "у",
    "ы",
    "ь",
    "ю",
    "я",
    "л",
];

fn is_ru_vowel(c: char) -> bool {
    matches!(c, 'а' | 'е' | 'и' | 'о' | 'у' | 'ы' | 'э' | 'ю' | 'я')
}

fn is_en_vowel(c: char) -> bool {
    matches!(c, 'a' | 'e' | 'i' | 'o' | 'u' | 'y')
}

/// Russian: reflexive "-ся/-сь", then the longest ending that leaves a stem of at least three
/// letters with a vowel in it.
fn stem_ru(word: &str) -> String {
    let mut w: Vec<char> = word.chars().collect();
    for refl in ["ся", "сь"] {
        let r: Vec<char> = refl.chars().collect();
        if w.len() > 4 && w.ends_with(&r) {
            w.truncate(w.len() - 2);
            break;
        }
    }
    let mut best = 0;
    for e in RU_ENDINGS {
        let ec: Vec<char> = e.chars().collect();
        if ec.len() > best && w.ends_with(&ec) {
            let rest = &w[..w.len() - ec.len()];
            if rest.len() >= 3 && rest.iter().any(|&c| is_ru_vowel(c)) {
                best = ec.len();
            }
        }
    }
    w.truncate(w.len() - best);
    // "-нн" of participles and adjectives ("сделанного" → "сделанн" → "сделан").
    if w.len() > 4 && w.ends_with(&['н', 'н']) {
        w.pop();
    }
    w.into_iter().collect()
}

/// English: possessive, plural, -ing/-ed/-ly, a doubled final consonant, then a final "e"
/// ("make", "making", "made" still differ: irregular forms are out of scope).
fn stem_en(word: &str) -> String {
    let mut w = word.trim_end_matches("'s").to_string();
    let has_vowel = |s: &str| s.chars().any(is_en_vowel);
    if w.len() > 4 && w.ends_with("ies") {
        w.truncate(w.len() - 3);
        w.push('y');
    } else if w.len() > 4 && w.ends_with("sses") {
        w.truncate(w.len() - 2);
    } else if w.len() > 3
        && w.ends_with('s')
        && !w.ends_with("ss")
        && !w.ends_with("us")
        && !w.ends_with("is")
    {
        w.pop();
    }
    for suffix in ["ing", "ed", "ly"] {
        if w.len() >= suffix.len() + 3 && w.ends_with(suffix) {
            let rest = &w[..w.len() - suffix.len()];
            if has_vowel(rest) {
                w.truncate(rest.len());
                let b = w.as_bytes();
                let n = b.len();
                if n >= 2
                    && b[n - 1] == b[n - 2]
                    && !is_en_vowel(b[n - 1] as char)
                    && !matches!(b[n - 1], b'l' | b's' | b'z')
                {
                    w.pop();
                }
                break;
            }
        }
    }
    if w.len() > 3 && w.ends_with('e') {
        w.pop();
    }
    if w.len() > 3 && w.ends_with('y') && !is_en_vowel(w.as_bytes()[w.len() - 2] as char) {
        w.pop();
        w.push('i');
    }
    w
}

/// The stem of a normalised word (lower case, ё→е): Russian rules for Cyrillic words, English
/// rules for Latin ones, the word itself otherwise (numbers, other scripts).
pub fn stem(norm: &str) -> String {
    if norm.chars().any(|c| matches!(c, '\u{0400}'..='\u{04FF}')) {
        stem_ru(norm)
    } else if norm
        .chars()
        .all(|c| c.is_ascii_lowercase() || c == '\'' || c == '-')
    {
        stem_en(norm)
    } else {
        norm.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::stem;

    fn same(words: &[&str]) {
        let s: Vec<String> = words.iter().map(|w| stem(w)).collect();
        assert!(s.windows(2).all(|p| p[0] == p[1]), "{words:?} → {s:?}");
    }

    #[test]
    fn russian_inflections_share_a_stem() {
        same(&[
            "проект",
            "проекта",
            "проекту",
            "проектом",
            "проекте",
            "проекты",
            "проектов",
        ]);
        same(&["новый", "нового", "новому", "новая", "новые", "новых"]);
        same(&["команда", "команды", "команде", "командой", "команду"]);
        same(&["клиент", "клиента", "клиентов", "клиентам"]);
        same(&["данные", "данных", "данными"]);
        same(&["задача", "задачи", "задачу", "задач"]);
        assert_ne!(stem("дом"), stem("домен"));
        assert_eq!(stem("дом"), "дом", "short words stay whole");
    }

    #[test]
    fn english_inflections_share_a_stem() {
        same(&["project", "projects", "project's"]);
        same(&["work", "works", "working", "worked"]);
        same(&["stop", "stopped", "stopping"]);
        same(&["make", "makes", "making"]);
        same(&["story", "stories"]);
        same(&["customer", "customers"]);
        assert_eq!(stem("bus"), "bus");
        assert_ne!(stem("sing"), stem("song"));
    }

    #[test]
    fn other_words_unchanged() {
        assert_eq!(stem("2024"), "2024");
        assert_eq!(stem("straße"), "straße");
    }
}
