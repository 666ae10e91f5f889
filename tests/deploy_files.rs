//! The deploy files are checked against the settings the binary knows: Docker cannot run on the
//! development machines, so this is what keeps `.env.example` and `docker-compose.yml` honest.

use speech_coach::config::{Config, Source};
use std::collections::BTreeSet;

fn root(rel: &str) -> String {
    std::fs::read_to_string(format!("{}/{rel}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

fn env_example() -> Vec<(String, String)> {
    root(".env.example")
        .lines()
        .filter(|l| !l.trim_start().starts_with('#') && l.contains('='))
        .map(|l| {
            let (k, v) = l.split_once('=').unwrap();
            (k.trim().to_string(), v.trim().to_string())
        })
        .collect()
}

#[test]
fn env_example_documents_exactly_the_known_settings() {
    let known: BTreeSet<String> = Config::known_variables().into_iter().collect();
    let documented: BTreeSet<String> = env_example().into_iter().map(|(k, _)| k).collect();
    let missing: Vec<_> = known.difference(&documented).collect();
    let unknown: Vec<_> = documented.difference(&known).collect();
    assert!(
        missing.is_empty(),
        "settings missing from .env.example: {missing:?}"
    );
    assert!(
        unknown.is_empty(),
        ".env.example names unknown settings: {unknown:?}"
    );
}

#[test]
fn env_example_values_are_valid_and_are_the_defaults() {
    // Loading .env.example as-is must give the embedded defaults.
    let from_example = Config::from_source(&Source::from_pairs(env_example())).unwrap();
    let defaults = Config::default();
    assert_eq!(format!("{from_example:?}"), format!("{defaults:?}"));
}

#[test]
fn compose_environment_uses_known_settings() {
    let compose = root("docker-compose.yml");
    let known: BTreeSet<String> = Config::known_variables().into_iter().collect();
    let mut in_env = false;
    let mut seen = 0;
    // Only the app's settings are ours; other services (postgres) have their own variables.
    let mut service = String::new();
    for line in compose.lines() {
        let t = line.trim();
        // `  app:` or `  app: &app` (a YAML anchor the second replica merges).
        if line.starts_with("  ")
            && !line.starts_with("   ")
            && let Some((name, rest)) = t.split_once(':')
            && (rest.is_empty() || rest.trim_start().starts_with('&'))
        {
            service = name.to_string();
        }
        if t == "environment:" {
            in_env = service == "app";
            continue;
        }
        if in_env {
            let indented = line.starts_with("      ");
            match t.split_once(':') {
                Some((k, _))
                    if indented
                        && k.chars()
                            .all(|c| c.is_ascii_uppercase() || c == '_' || c.is_ascii_digit()) =>
                {
                    assert!(known.contains(k), "docker-compose sets unknown {k}");
                    seen += 1;
                }
                _ => in_env = false,
            }
        }
    }
    assert!(seen >= 4, "no environment block parsed");
    assert!(compose.contains("env_file: .env"));
    assert!(compose.contains("redis-server") || compose.contains("image: redis"));
    assert!(compose.contains("image: postgres") && compose.contains("DATABASE_URL: postgres://"));
    // The app listens where the healthcheck and port mapping look.
    assert!(compose.contains("BIND_ADDR: 0.0.0.0:8000") && compose.contains("\"8000:8000\""));
}

#[test]
fn dockerfile_copies_what_exists_and_checks_health() {
    let dockerfile = root("Dockerfile");
    for line in dockerfile
        .lines()
        .filter(|l| l.starts_with("COPY ") && !l.contains("--from"))
    {
        let parts: Vec<&str> = line.split_whitespace().collect();
        for src in &parts[1..parts.len() - 1] {
            let path = format!("{}/{src}", env!("CARGO_MANIFEST_DIR"));
            assert!(
                std::path::Path::new(&path).exists(),
                "Dockerfile copies missing {src}"
            );
        }
    }
    assert!(dockerfile.contains("HEALTHCHECK") && dockerfile.contains("/health"));
    assert!(dockerfile.contains("USER app"));
}

/// Files embedded with `include_str!` from outside `src/` must be in the Docker build context.
#[test]
fn dockerfile_copies_every_embedded_file() {
    let dockerfile = root("Dockerfile");
    let copied: Vec<String> = dockerfile
        .lines()
        .filter(|l| l.starts_with("COPY ") && !l.contains("--from"))
        .flat_map(|l| {
            let parts: Vec<&str> = l.split_whitespace().collect();
            parts[1..parts.len() - 1]
                .iter()
                .map(|s| s.trim_start_matches("./").to_string())
                .collect::<Vec<_>>()
        })
        .collect();
    let mut checked = 0;
    let mut stack = vec![std::path::PathBuf::from(format!(
        "{}/src",
        env!("CARGO_MANIFEST_DIR")
    ))];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            for part in text.split("include_str!(\"").skip(1) {
                let rel = part.split('"').next().unwrap();
                let target = path.parent().unwrap().join(rel).canonicalize().unwrap();
                let from_root = target
                    .strip_prefix(std::fs::canonicalize(env!("CARGO_MANIFEST_DIR")).unwrap())
                    .unwrap()
                    .display()
                    .to_string();
                if from_root.starts_with("src/") {
                    continue;
                }
                assert!(
                    copied
                        .iter()
                        .any(|c| from_root == *c || from_root.starts_with(&format!("{c}/"))),
                    "{} embeds {from_root}, which the Dockerfile does not copy",
                    path.display()
                );
                checked += 1;
            }
        }
    }
    assert!(checked >= 2, "no embedded files found");
}

/// One setting of `.env.example`: its section, name, default and its own description (the
/// comment lines directly above it).
struct Documented {
    section: String,
    name: String,
    default: String,
    description: String,
}

fn documented_settings() -> Vec<Documented> {
    let mut out = Vec::new();
    let mut section = String::new();
    let mut comment: Vec<String> = Vec::new();
    for line in root(".env.example").lines() {
        let t = line.trim();
        if let Some(rest) = t.strip_prefix("# ---") {
            section = rest
                .trim_matches(|c: char| c == '-' || c.is_whitespace())
                .to_string();
            comment.clear();
        } else if let Some(text) = t.strip_prefix('#') {
            comment.push(text.trim().to_string());
        } else if let Some((name, default)) = t.split_once('=') {
            out.push(Documented {
                section: section.clone(),
                name: name.trim().to_string(),
                default: default.trim().to_string(),
                description: comment.join(" "),
            });
            // A comment describes the one setting under it, never the next ones too.
            comment.clear();
        } else {
            comment.clear();
        }
    }
    out
}

#[test]
fn every_setting_has_its_own_description() {
    let settings = documented_settings();
    let mut seen: std::collections::BTreeMap<&str, &str> = Default::default();
    for s in &settings {
        assert!(
            !s.description.is_empty(),
            "{} in .env.example has no comment line of its own directly above it",
            s.name
        );
        if let Some(other) = seen.insert(&s.description, &s.name) {
            panic!(
                "{} and {other} share one description in .env.example: {:?}",
                s.name, s.description
            );
        }
    }
}

fn config_table() -> String {
    let mut out = String::from("| setting | default | meaning |\n|---|---|---|\n");
    let mut section = String::new();
    for s in documented_settings() {
        if s.section != section {
            section.clone_from(&s.section);
            out.push_str(&format!("| **{}** | | |\n", s.section));
        }
        let default = if s.default.is_empty() {
            "(unset)".to_string()
        } else {
            format!("`{}`", s.default)
        };
        out.push_str(&format!(
            "| `{}` | {default} | {} |\n",
            s.name,
            s.description.replace('|', "\\|")
        ));
    }
    out
}

/// The README's configuration table is generated from `.env.example`; a stale table fails here.
/// `UPDATE_README=1 cargo test --release --test deploy_files` rewrites it.
#[test]
fn readme_configuration_table_matches_env_example() {
    let path = format!("{}/README.md", env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(&path).unwrap();
    let start_marker = "<!-- config-table: generated";
    let end_marker = "<!-- config-table:end -->";
    let start = readme
        .find(start_marker)
        .expect("README has the config-table start marker");
    let body_start = start + readme[start..].find('\n').unwrap() + 1;
    let end = readme
        .find(end_marker)
        .expect("README has the config-table end marker");
    let table = config_table();
    if std::env::var_os("UPDATE_README").is_some() {
        let updated = format!("{}{table}{}", &readme[..body_start], &readme[end..]);
        std::fs::write(&path, updated).unwrap();
        return;
    }
    assert_eq!(
        &readme[body_start..end],
        table,
        "README's configuration table is stale: run UPDATE_README=1 cargo test --test deploy_files"
    );
}
