//! Reading GigaChat's answer: find the JSON object (bare, in a code fence, or inside prose),
//! validate it and clamp it into [`Feedback`].

use serde_json::Value;

use super::{Feedback, FeedbackSource};

/// Most items kept per list: feedback is read by a person, not scrolled.
const MAX_ITEMS: usize = 7;
/// Longest item kept, characters; longer ones are cut at a word boundary.
const MAX_ITEM_CHARS: usize = 600;
/// Longest overall assessment kept, characters.
const MAX_ASSESSMENT_CHARS: usize = 1500;
/// Confidence when the model gave none: "some", neither a claim of certainty nor of doubt.
const DEFAULT_CONFIDENCE: f64 = 0.5;

/// Why a reply could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReplyError {
    #[error("no JSON object found in the reply")]
    MissingJson,
    #[error("the reply has no overall_assessment")]
    MissingAssessment,
    #[error("the reply has no strengths, areas for improvement or recommendations")]
    EmptyLists,
}

/// Parses the model's text into feedback with `source: gigachat` and `model`.
pub fn parse_feedback(content: &str, model: &str) -> Result<Feedback, ReplyError> {
    let obj = extract_object(content).ok_or(ReplyError::MissingJson)?;
    let overall = text_of(obj.get("overall_assessment"))
        .map(|s| clip(&s, MAX_ASSESSMENT_CHARS))
        .filter(|s| !s.is_empty())
        .ok_or(ReplyError::MissingAssessment)?;
    let strengths = list_of(obj.get("strengths"));
    let areas = list_of(obj.get("areas_for_improvement"));
    let recommendations = list_of(obj.get("recommendations"));
    let key_insights = list_of(obj.get("key_insights"));
    if strengths.is_empty() && areas.is_empty() && recommendations.is_empty() {
        return Err(ReplyError::EmptyLists);
    }
    Ok(Feedback {
        source: FeedbackSource::Gigachat,
        reason: None,
        model: Some(model.to_owned()),
        overall_assessment: overall,
        strengths,
        areas_for_improvement: areas,
        recommendations,
        key_insights,
        confidence: confidence_of(obj.get("confidence")),
    })
}

/// The first JSON object in `content` that parses: the whole text, then each fenced block, then
/// each balanced `{…}` span in the prose.
fn extract_object(content: &str) -> Option<serde_json::Map<String, Value>> {
    let as_object = |s: &str| match serde_json::from_str::<Value>(s.trim()) {
        Ok(Value::Object(m)) => Some(m),
        _ => None,
    };
    if let Some(m) = as_object(content) {
        return Some(m);
    }
    for block in fenced_blocks(content) {
        if let Some(m) = as_object(block) {
            return Some(m);
        }
    }
    balanced_objects(content).find_map(as_object)
}

/// Contents of ``` fenced blocks (an info string such as `json` on the opening line is skipped).
fn fenced_blocks(content: &str) -> impl Iterator<Item = &str> {
    content
        .split("```")
        .skip(1)
        .step_by(2)
        .map(|block| match block.split_once('\n') {
            Some((info, rest)) if !info.trim_start().starts_with('{') => rest,
            _ => block,
        })
}

/// Every top-level `{…}` span whose braces balance (braces inside JSON strings ignored).
fn balanced_objects(content: &str) -> impl Iterator<Item = &str> {
    let bytes = content.as_bytes();
    let mut spans = Vec::new();
    let mut start = None;
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    for (i, &b) in bytes.iter().enumerate() {
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' if depth > 0 => in_string = true,
            b'{' => {
                if depth == 0 {
                    start = Some(i);
                }
                depth += 1;
            }
            b'}' if depth > 0 => {
                depth -= 1;
                if depth == 0
                    && let Some(s) = start.take()
                {
                    spans.push(&content[s..=i]);
                }
            }
            _ => {}
        }
    }
    spans.into_iter()
}

/// A string field (numbers and booleans are rendered; anything else is absent).
fn text_of(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) => Some(s.trim().to_owned()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// A list of strings. Accepts a single string, and objects whose values are strings (models
/// sometimes write `{"title": …, "text": …}` items): their string values are joined.
fn list_of(v: Option<&Value>) -> Vec<String> {
    let items: Vec<&Value> = match v {
        Some(Value::Array(a)) => a.iter().collect(),
        Some(s @ Value::String(_)) => vec![s],
        _ => Vec::new(),
    };
    let mut out: Vec<String> = Vec::new();
    for item in items {
        let text = match item {
            Value::String(s) => s.trim().to_owned(),
            // serde_json's map is sorted by key; put a title first so it reads "Title: text".
            Value::Object(m) => m
                .get("title")
                .into_iter()
                .chain(m.iter().filter(|(k, _)| *k != "title").map(|(_, v)| v))
                .filter_map(|v| v.as_str().map(str::trim))
                .filter(|s| !s.is_empty())
                .collect::<Vec<_>>()
                .join(": "),
            _ => continue,
        };
        let text = clip(&text, MAX_ITEM_CHARS);
        if !text.is_empty() && !out.contains(&text) {
            out.push(text);
        }
        if out.len() == MAX_ITEMS {
            break;
        }
    }
    out
}

/// Confidence in 0..=1. Accepts a number, a numeric string, or a percentage (`85`, `"85%"`).
fn confidence_of(v: Option<&Value>) -> f64 {
    let raw = match v {
        Some(Value::Number(n)) => n.as_f64(),
        Some(Value::String(s)) => s.trim().trim_end_matches('%').trim().parse::<f64>().ok(),
        _ => None,
    };
    match raw {
        Some(x) if x.is_finite() && x > 1.0 && x <= 100.0 => x / 100.0,
        Some(x) if x.is_finite() => x.clamp(0.0, 1.0),
        _ => DEFAULT_CONFIDENCE,
    }
}

/// At most `max` characters, cut at the last space when possible, with an ellipsis.
fn clip(s: &str, max: usize) -> String {
    let s = s.trim();
    if s.chars().count() <= max {
        return s.to_owned();
    }
    let cut: String = s.chars().take(max).collect();
    let cut = match cut.rfind(' ') {
        Some(i) if i > cut.len() / 2 => &cut[..i],
        _ => &cut[..],
    };
    format!("{}…", cut.trim_end())
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"{"overall_assessment":"Уверенное выступление.","strengths":["Темп 130 слов/мин"],
        "areas_for_improvement":["Паразиты: 12"],"recommendations":["Паузы вместо «ну»"],
        "key_insights":["Всплеск на 1:20"],"confidence":0.8}"#;

    #[test]
    fn parses_a_bare_object() {
        let f = parse_feedback(GOOD, "GigaChat").unwrap();
        assert_eq!(f.source, FeedbackSource::Gigachat);
        assert_eq!(f.model.as_deref(), Some("GigaChat"));
        assert_eq!(f.reason, None);
        assert_eq!(f.overall_assessment, "Уверенное выступление.");
        assert_eq!(f.strengths, vec!["Темп 130 слов/мин"]);
        assert_eq!(f.key_insights, vec!["Всплеск на 1:20"]);
        assert_eq!(f.confidence, 0.8);
    }

    #[test]
    fn parses_json_in_a_code_fence_with_prose_around() {
        let text = format!("Вот разбор:\n```json\n{GOOD}\n```\nУдачи!");
        assert!(parse_feedback(&text, "m").is_ok());
        let text = format!("```\n{GOOD}\n```");
        assert!(parse_feedback(&text, "m").is_ok());
    }

    #[test]
    fn parses_json_inside_prose_with_braces_in_strings() {
        let body = r#"{"overall_assessment":"Use {pauses} well","recommendations":["a } b"]}"#;
        let text = format!("Sure! {{not json}} Here it is: {body} Hope it helps.");
        let f = parse_feedback(&text, "m").unwrap();
        assert_eq!(f.overall_assessment, "Use {pauses} well");
        assert_eq!(f.recommendations, vec!["a } b"]);
    }

    #[test]
    fn garbage_and_empty_replies_are_rejected() {
        assert_eq!(
            parse_feedback("I cannot help with that.", "m"),
            Err(ReplyError::MissingJson)
        );
        assert_eq!(parse_feedback("[1,2,3]", "m"), Err(ReplyError::MissingJson));
        assert_eq!(
            parse_feedback(r#"{"strengths":["x"]}"#, "m"),
            Err(ReplyError::MissingAssessment)
        );
        assert_eq!(
            parse_feedback(r#"{"overall_assessment":"ok","strengths":[]}"#, "m"),
            Err(ReplyError::EmptyLists)
        );
    }

    #[test]
    fn clamps_confidence_lists_and_lengths() {
        let long = "слово ".repeat(300);
        let many: Vec<String> = (0..20).map(|i| format!("r{i}")).collect();
        let v = serde_json::json!({
            "overall_assessment": long,
            "recommendations": many,
            "strengths": "single string",
            "areas_for_improvement": [{"title": "Pace", "text": "slow down"}, 5, "", "dup", "dup"],
            "confidence": "85%"
        });
        let f = parse_feedback(&v.to_string(), "m").unwrap();
        assert!(f.overall_assessment.chars().count() <= MAX_ASSESSMENT_CHARS + 1);
        assert!(f.overall_assessment.ends_with('…'));
        assert_eq!(f.recommendations.len(), MAX_ITEMS);
        assert_eq!(f.strengths, vec!["single string"]);
        assert_eq!(f.areas_for_improvement, vec!["Pace: slow down", "dup"]);
        assert_eq!(f.confidence, 0.85);
        assert!(f.key_insights.is_empty());

        for (raw, want) in [
            (serde_json::json!(7.5), 0.075),
            (serde_json::json!(-1), 0.0),
            (serde_json::json!(250), 1.0),
            (serde_json::json!("n/a"), DEFAULT_CONFIDENCE),
        ] {
            assert!((confidence_of(Some(&raw)) - want).abs() < 1e-9, "{raw}");
        }
    }
}
