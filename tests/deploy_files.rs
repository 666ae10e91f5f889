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
    for line in compose.lines() {
        let t = line.trim();
        if t == "environment:" {
            in_env = true;
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
