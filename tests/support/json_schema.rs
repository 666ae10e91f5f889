//! A small JSON Schema validator for the OpenAPI 3.1 document the service serves, enough to hold
//! real responses to it: `$ref` (inside the document), `type` (one or a list, `null` included),
//! `nullable` (OpenAPI 3.0 style), `enum`, `const`, `properties`, `required`,
//! `additionalProperties` (`false` or a schema), `items`, `allOf`, `anyOf`, `oneOf` (exactly
//! one), `minimum`/`maximum`, `minItems`/`maxItems`. Formats, patterns and string lengths are
//! descriptions here, not checked. Every violation is reported with the JSON pointer of the
//! value at fault (`/transcript/segments/0/words/0/start_sec: …`).

use serde_json::Value;

/// How deep `$ref`s may nest before the document is taken to be cyclic.
const MAX_DEPTH: usize = 200;

/// Validates instances against schemas of one document (the target of every `$ref`).
pub struct Validator<'d> {
    doc: &'d Value,
}

impl<'d> Validator<'d> {
    pub fn new(doc: &'d Value) -> Self {
        Self { doc }
    }

    /// `Ok` or every violation found, one line each.
    pub fn validate(&self, schema: &Value, instance: &Value) -> Result<(), Vec<String>> {
        let mut errors = Vec::new();
        self.check(schema, instance, "", 0, &mut errors);
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }

    /// The schema a `$ref` points at (`#/components/schemas/Word`); panics on a dangling one.
    pub fn resolve(&self, reference: &str) -> &'d Value {
        let pointer = reference
            .strip_prefix('#')
            .unwrap_or_else(|| panic!("only local $refs are supported: {reference}"));
        self.doc
            .pointer(pointer)
            .unwrap_or_else(|| panic!("dangling $ref {reference}"))
    }

    fn check(&self, schema: &Value, v: &Value, at: &str, depth: usize, errors: &mut Vec<String>) {
        assert!(depth < MAX_DEPTH, "a $ref cycle in the document at {at}");
        let s = match schema {
            Value::Bool(true) => return,
            Value::Bool(false) => return errors.push(format!("{at}: no value is allowed here")),
            Value::Object(s) => s,
            other => panic!("not a schema at {at}: {other}"),
        };
        if let Some(r) = s.get("$ref").and_then(Value::as_str) {
            self.check(self.resolve(r), v, at, depth + 1, errors);
        }
        if v.is_null() && s.get("nullable") == Some(&Value::Bool(true)) {
            return;
        }
        if let Some(t) = s.get("type") {
            let allowed: Vec<&str> = match t {
                Value::String(one) => vec![one.as_str()],
                Value::Array(many) => many.iter().filter_map(Value::as_str).collect(),
                other => panic!("bad type {other} at {at}"),
            };
            if !allowed.iter().any(|t| is_type(v, t)) {
                errors.push(format!(
                    "{at}: expected {}, got {}",
                    allowed.join(" or "),
                    describe(v)
                ));
                return;
            }
        }
        if let Some(Value::Array(options)) = s.get("enum")
            && !options.contains(v)
        {
            errors.push(format!(
                "{at}: {v} is not one of {}",
                Value::Array(options.clone())
            ));
        }
        if let Some(c) = s.get("const")
            && c != v
        {
            errors.push(format!("{at}: {v} is not {c}"));
        }
        if let Some(n) = v.as_f64() {
            if let Some(min) = s.get("minimum").and_then(Value::as_f64)
                && n < min
            {
                errors.push(format!("{at}: {n} is below the minimum {min}"));
            }
            if let Some(max) = s.get("maximum").and_then(Value::as_f64)
                && n > max
            {
                errors.push(format!("{at}: {n} is above the maximum {max}"));
            }
        }
        if let Value::Object(members) = v {
            self.check_object(s, members, at, depth, errors);
        }
        if let Value::Array(items) = v {
            if let Some(min) = s.get("minItems").and_then(Value::as_u64)
                && (items.len() as u64) < min
            {
                errors.push(format!(
                    "{at}: {} items, at least {min} expected",
                    items.len()
                ));
            }
            if let Some(max) = s.get("maxItems").and_then(Value::as_u64)
                && (items.len() as u64) > max
            {
                errors.push(format!(
                    "{at}: {} items, at most {max} expected",
                    items.len()
                ));
            }
            if let Some(item) = s.get("items") {
                for (i, x) in items.iter().enumerate() {
                    self.check(item, x, &format!("{at}/{i}"), depth + 1, errors);
                }
            }
        }
        if let Some(Value::Array(parts)) = s.get("allOf") {
            for part in parts {
                self.check(part, v, at, depth + 1, errors);
            }
        }
        if let Some(Value::Array(alternatives)) = s.get("anyOf") {
            let results = self.each(alternatives, v, at, depth);
            if !results.iter().any(Vec::is_empty) {
                errors.push(format!(
                    "{at}: matches none of anyOf: {}",
                    closest(&results, at)
                ));
            }
        }
        if let Some(Value::Array(alternatives)) = s.get("oneOf") {
            let results = self.each(alternatives, v, at, depth);
            match results.iter().filter(|r| r.is_empty()).count() {
                1 => {}
                0 => errors.push(format!(
                    "{at}: matches none of oneOf: {}",
                    closest(&results, at)
                )),
                n => errors.push(format!("{at}: matches {n} alternatives of oneOf, not one")),
            }
        }
    }

    fn check_object(
        &self,
        s: &serde_json::Map<String, Value>,
        members: &serde_json::Map<String, Value>,
        at: &str,
        depth: usize,
        errors: &mut Vec<String>,
    ) {
        let empty = serde_json::Map::new();
        let properties = s
            .get("properties")
            .and_then(Value::as_object)
            .unwrap_or(&empty);
        if let Some(Value::Array(required)) = s.get("required") {
            for name in required.iter().filter_map(Value::as_str) {
                if !members.contains_key(name) {
                    errors.push(format!("{at}: required member `{name}` is missing"));
                }
            }
        }
        for (name, value) in members {
            let here = format!("{at}/{}", escape(name));
            match (properties.get(name), s.get("additionalProperties")) {
                (Some(p), _) => self.check(p, value, &here, depth + 1, errors),
                (None, Some(Value::Bool(false))) => {
                    errors.push(format!("{here}: member `{name}` is not in the schema"));
                }
                (None, Some(extra)) => self.check(extra, value, &here, depth + 1, errors),
                (None, None) => {}
            }
        }
    }

    /// The violations of `v` against each alternative.
    fn each(&self, alternatives: &[Value], v: &Value, at: &str, depth: usize) -> Vec<Vec<String>> {
        alternatives
            .iter()
            .map(|alt| {
                let mut e = Vec::new();
                self.check(alt, v, at, depth + 1, &mut e);
                e
            })
            .collect()
    }
}

/// Whether `v` is of JSON Schema type `t`.
fn is_type(v: &Value, t: &str) -> bool {
    match t {
        "null" => v.is_null(),
        "boolean" => v.is_boolean(),
        "string" => v.is_string(),
        "array" => v.is_array(),
        "object" => v.is_object(),
        "number" => v.is_number(),
        "integer" => v.is_i64() || v.is_u64() || v.as_f64().is_some_and(|n| n.fract() == 0.0),
        other => panic!("unknown type {other}"),
    }
}

fn describe(v: &Value) -> String {
    let kind = match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    };
    let mut shown = v.to_string();
    if shown.len() > 60 {
        shown.truncate(shown.floor_char_boundary(60));
        shown.push('…');
    }
    format!("{kind} {shown}")
}

/// The violations of the alternative that came closest, for the message: the fewest, among
/// those of the value's type when there are such (`null | Report` against an object names what
/// is wrong in the report, not that it is not null).
fn closest(results: &[Vec<String>], at: &str) -> String {
    let wrong_type = format!("{at}: expected ");
    let of_the_type: Vec<&Vec<String>> = results
        .iter()
        .filter(|r| !(r.len() == 1 && r[0].starts_with(&wrong_type)))
        .collect();
    let candidates = if of_the_type.is_empty() {
        results.iter().collect()
    } else {
        of_the_type
    };
    candidates
        .into_iter()
        .min_by_key(|r| r.len())
        .map(|r| format!("[{}]", r.join("; ")))
        .unwrap_or_default()
}

/// A member name as a JSON pointer token.
fn escape(name: &str) -> String {
    name.replace('~', "~0").replace('/', "~1")
}
