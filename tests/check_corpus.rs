//! The noise budget of `sigc check`'s lints on the SigmaHQ corpus (`../shared`, as CI has it).
//!
//! - Every error-level finding must be a real defect of the rule: `ERRORS` lists each with a
//!   one-line justification, and the test fails when the set changes (a new error is either a
//!   defect to list here or a false positive to fix in the lint).
//! - Warnings are counted per code in `tests/fixtures/check/corpus_warnings.txt`, so a change
//!   to a lint shows its effect in review. `SIGC_BLESS=1` rewrites the file.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use serde_json::Value;

const RULES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/corpus/sigma/rules");
const REPORT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/check/corpus_warnings.txt"
);

/// `(path under rules/, code, line, why it is a real defect)`. SigmaHQ's rules pass pySigma's
/// validators in their CI, and sigc's error-level lints find nothing else wrong in them: the
/// list is empty, and any entry added must name the defect.
const ERRORS: &[(&str, &str, u64, &str)] = &[];

fn findings() -> Vec<(String, Value)> {
    assert!(
        Path::new(RULES).is_dir(),
        "{RULES} is missing: ../shared (the SigmaHQ corpus) must sit beside this checkout"
    );
    let out = Command::new(env!("CARGO_BIN_EXE_sigc"))
        .args(["check", "--format", "json", RULES])
        .output()
        .expect("run sigc");
    assert!(matches!(out.status.code(), Some(0 | 1)), "sigc crashed");
    let mut all = Vec::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let doc: Value = serde_json::from_str(line).expect("one JSON object a line");
        let path = doc["path"].as_str().unwrap_or_default();
        let rel = path
            .split_once("/rules/")
            .map_or(path, |(_, r)| r)
            .to_string();
        for d in doc["diagnostics"].as_array().cloned().unwrap_or_default() {
            all.push((rel.clone(), d));
        }
    }
    all
}

#[test]
fn corpus_errors_are_all_listed_defects_and_warnings_are_counted() {
    let all = findings();
    let mut errors: Vec<(String, String, u64)> = all
        .iter()
        .filter(|(_, d)| d["severity"] == "error")
        .map(|(p, d)| {
            (
                p.clone(),
                d["code"].as_str().unwrap_or_default().to_string(),
                d["line"].as_u64().unwrap_or_default(),
            )
        })
        .collect();
    errors.sort();
    let mut listed: Vec<(String, String, u64)> = ERRORS
        .iter()
        .map(|(p, c, l, _)| (p.to_string(), c.to_string(), *l))
        .collect();
    listed.sort();
    assert_eq!(
        errors, listed,
        "error-level findings on the corpus changed: list real defects in ERRORS with a \
         justification, or fix the false positives"
    );

    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for (_, d) in all.iter().filter(|(_, d)| d["severity"] == "warning") {
        *counts
            .entry(d["code"].as_str().unwrap_or_default().to_string())
            .or_default() += 1;
    }
    let report: String = counts
        .iter()
        .map(|(code, n)| format!("{code} {n}\n"))
        .collect();
    let report = format!(
        "# Warnings of `sigc check` over ../shared/corpus/sigma/rules, per code (tests/check_corpus.rs;\n# SIGC_BLESS=1 rewrites this file).\n{report}"
    );
    if std::env::var_os("SIGC_BLESS").is_some() {
        std::fs::write(REPORT, &report).expect("write the report");
    }
    let on_disk = std::fs::read_to_string(REPORT).unwrap_or_default();
    assert_eq!(
        on_disk, report,
        "warning counts changed; review them and rerun with SIGC_BLESS=1"
    );
}
