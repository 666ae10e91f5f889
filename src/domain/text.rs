//! Text in the recording's language: the one place that knows how Russian and English write
//! numbers, plural forms, quotes and moments. The advice (`domain::advice`), the rule-based
//! feedback and the chat prompt (`coach::rules`, `coach::prompt`) all write through it.
//!
//! Sentences are data: a [`Text`] holds a Russian and an English template with `{name}`
//! placeholders, and [`Lang::fill`] picks one and fills it. A rule computes its numbers once and
//! both languages use them, so a rule's sentence is written once per language and nowhere else.

/// The recording's language as far as text goes: Russian for a `ru…` code, English otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    Ru,
    En,
}

/// A sentence (or a word) in both languages; may hold `{name}` placeholders for [`Lang::fill`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Text {
    pub ru: &'static str,
    pub en: &'static str,
}

impl Text {
    pub const fn new(ru: &'static str, en: &'static str) -> Self {
        Self { ru, en }
    }
}

/// A noun's forms: Russian has three (1 пауза, 2 паузы, 5 пауз), English two.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Noun {
    pub ru: [&'static str; 3],
    pub en: [&'static str; 2],
}

impl Noun {
    pub const fn new(ru: [&'static str; 3], en: [&'static str; 2]) -> Self {
        Self { ru, en }
    }
}

/// Which of the three Russian forms goes with `n`: 0 for 1, 21, 101 (but not 11); 1 for 2–4,
/// 22–24 (but not 12–14); 2 for the rest.
pub fn russian_plural(n: usize) -> usize {
    let (m10, m100) = (n % 10, n % 100);
    if m10 == 1 && m100 != 11 {
        0
    } else if (2..=4).contains(&m10) && !(12..=14).contains(&m100) {
        1
    } else {
        2
    }
}

impl Lang {
    /// The language of a code such as `ru`, `RU-ru` or `en`.
    pub fn of(code: &str) -> Self {
        if code.trim().to_ascii_lowercase().starts_with("ru") {
            Lang::Ru
        } else {
            Lang::En
        }
    }

    pub fn is_ru(self) -> bool {
        self == Lang::Ru
    }

    /// The Russian or the English one of two.
    pub fn pick<T>(self, ru: T, en: T) -> T {
        match self {
            Lang::Ru => ru,
            Lang::En => en,
        }
    }

    /// `text` in this language, as written.
    pub fn text(self, text: Text) -> &'static str {
        self.pick(text.ru, text.en)
    }

    /// `text` in this language with its placeholders filled from `args`.
    pub fn fill(self, text: Text, args: &[(&str, String)]) -> String {
        fill(self.text(text), args)
    }

    /// A number with `decimals` places, decimal comma in Russian.
    pub fn num(self, x: f64, decimals: usize) -> String {
        let s = fixed(x, decimals);
        if self.is_ru() { s.replace('.', ",") } else { s }
    }

    /// The form of `noun` that goes with `n`.
    pub fn form(self, n: usize, noun: Noun) -> &'static str {
        match self {
            Lang::Ru => noun.ru[russian_plural(n)],
            Lang::En if n == 1 => noun.en[0],
            Lang::En => noun.en[1],
        }
    }

    /// `n` with the noun in the right form: "5 пауз", "1 pause".
    pub fn count(self, n: usize, noun: Noun) -> String {
        format!("{n} {}", self.form(n, noun))
    }

    /// «word» in Russian, “word” in English.
    pub fn quote(self, w: &str) -> String {
        match self {
            Lang::Ru => guillemets(w),
            Lang::En => format!("\u{201c}{w}\u{201d}"),
        }
    }
}

/// A number with `decimals` places and a decimal point whatever the language (the prompt and
/// the rule-based feedback write numbers so).
pub fn fixed(x: f64, decimals: usize) -> String {
    format!("{x:.decimals$}")
}

/// «word», whatever the language.
pub fn guillemets(w: &str) -> String {
    format!("«{w}»")
}

/// Seconds as `m:ss` (`h:mm:ss` past an hour), for quoting moments. Negative and non-finite
/// times read `0:00`.
pub fn mmss(sec: f64) -> String {
    let total = if sec.is_finite() && sec > 0.0 {
        sec.round() as u64
    } else {
        0
    };
    let (h, m, s) = (total / 3600, total / 60 % 60, total % 60);
    if h > 0 {
        format!("{h}:{m:02}:{s:02}")
    } else {
        format!("{m}:{s:02}")
    }
}

/// From one moment to another: `1:05–1:20`.
pub fn span(start_sec: f64, end_sec: f64) -> String {
    format!("{}–{}", mmss(start_sec), mmss(end_sec))
}

/// Counted items as `«ну» ×7, «типа» ×3`, each quoted by `quote`.
pub fn tally<'a>(
    items: impl IntoIterator<Item = (&'a str, usize)>,
    quote: impl Fn(&str) -> String,
) -> String {
    items
        .into_iter()
        .map(|(w, n)| format!("{} ×{n}", quote(w)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `template` with every `{name}` replaced by its value in `args`. A placeholder without a
/// value is a bug in a text table: it is kept as written (and fails debug builds and tests).
pub fn fill(template: &str, args: &[(&str, String)]) -> String {
    let mut out = String::with_capacity(template.len() + 32);
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let value = after.find('}').and_then(|close| {
            let name = &after[..close];
            args.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (v, close))
        });
        match value {
            Some((v, close)) => {
                out.push_str(v);
                rest = &after[close + 1..];
            }
            None => {
                debug_assert!(false, "no value for a placeholder in {template:?}");
                out.push('{');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAUSE: Noun = Noun::new(["пауза", "паузы", "пауз"], ["pause", "pauses"]);

    #[test]
    fn russian_plural_forms() {
        let got: Vec<String> = [1, 2, 5, 11, 12, 21, 22, 25, 111]
            .iter()
            .map(|&n| Lang::Ru.count(n, PAUSE))
            .collect();
        assert_eq!(
            got,
            [
                "1 пауза",
                "2 паузы",
                "5 пауз",
                "11 пауз",
                "12 пауз",
                "21 пауза",
                "22 паузы",
                "25 пауз",
                "111 пауз"
            ]
        );
        let forms: Vec<usize> = [0, 3, 4, 12, 13, 14, 100, 101, 104, 111, 112]
            .iter()
            .map(|&n| russian_plural(n))
            .collect();
        assert_eq!(forms, [2, 1, 1, 2, 2, 2, 2, 0, 1, 2, 2]);
        assert_eq!(Lang::En.count(1, PAUSE), "1 pause");
        assert_eq!(Lang::En.count(0, PAUSE), "0 pauses");
        assert_eq!(Lang::En.count(21, PAUSE), "21 pauses");
    }

    #[test]
    fn numbers() {
        assert_eq!(Lang::Ru.num(1.25, 1), "1,2");
        assert_eq!(Lang::Ru.num(6.0, 1), "6,0");
        assert_eq!(Lang::Ru.num(172.4, 0), "172");
        assert_eq!(Lang::Ru.num(0.523, 2), "0,52");
        assert_eq!(Lang::En.num(1.25, 1), "1.2");
        assert_eq!(Lang::En.num(0.523, 2), "0.52");
        assert_eq!(fixed(6.0, 1), "6.0");
        assert_eq!(fixed(159.6, 0), "160");
    }

    #[test]
    fn moments_read_the_same_everywhere() {
        assert_eq!(mmss(0.4), "0:00");
        assert_eq!(mmss(-3.0), "0:00");
        assert_eq!(mmss(f64::INFINITY), "0:00");
        assert_eq!(mmss(65.4), "1:05");
        assert_eq!(mmss(3599.4), "59:59");
        assert_eq!(mmss(3700.0), "1:01:40");
        assert_eq!(span(65.0, 3700.0), "1:05–1:01:40");
    }

    #[test]
    fn language_codes_quotes_and_tallies() {
        assert_eq!(Lang::of(" ru-RU"), Lang::Ru);
        assert_eq!(Lang::of("en"), Lang::En);
        assert_eq!(Lang::of("de"), Lang::En);
        assert_eq!(Lang::Ru.quote("ну"), "«ну»");
        assert_eq!(Lang::En.quote("um"), "\u{201c}um\u{201d}");
        assert_eq!(
            tally([("ну", 7), ("типа", 3)], guillemets),
            "«ну» ×7, «типа» ×3"
        );
        assert_eq!(tally([], guillemets), "");
    }

    #[test]
    fn fill_replaces_named_placeholders() {
        let t = Text::new("{n} из {of}: {n}", "{n} of {of}");
        let args = [("n", "3".to_string()), ("of", "5".to_string())];
        assert_eq!(Lang::Ru.fill(t, &args), "3 из 5: 3");
        assert_eq!(Lang::En.fill(t, &args), "3 of 5");
        assert_eq!(fill("no placeholders", &[]), "no placeholders");
    }
}
