//! The SigmaHQ corpus in `../shared` (beside the checkout; CI has it):
//! - all 3,141 rules of `rules/` load and lower without error;
//! - each of the 87 legacy v1 files in `unsupported/` gets at least one error, and every v1
//!   aggregation construct (`|` aggregation, `count(`/`sum(`... , `near`, a `timeframe` key) is
//!   reported as `E043` with a message naming that construct;
//! - sigc never panics on any of them (exit code 0 or 1, never 101).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

const RULES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/corpus/sigma/rules");
const UNSUPPORTED: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../shared/corpus/sigma/unsupported"
);

/// Fail (not skip) when the corpus is missing: CI has it, and a silent pass would hide that.
fn corpus(dir: &str) -> &str {
    assert!(
        Path::new(dir).is_dir(),
        "{dir} is missing: the corpus tests need ../shared (the SigmaHQ corpus) beside this \
         checkout, as CI has it"
    );
    dir
}

fn sigc(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sigc"))
        .args(args)
        .output()
        .expect("run sigc")
}

fn yaml_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read corpus folder") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            yaml_files(&path, out);
        } else if matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("yml" | "yaml")
        ) {
            out.push(path);
        }
    }
}

/// `check --format json` output, one value per document.
fn json_lines(out: &Output) -> Vec<Value> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad JSON line {l:?}: {e}")))
        .collect()
}

fn assert_no_panic(out: &Output, what: &str) {
    let code = out.status.code();
    assert!(
        matches!(code, Some(0 | 1)),
        "{what}: exit code {code:?} (101 is a panic)\nstderr:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn every_sigmahq_rule_loads() {
    let dir = corpus(RULES);
    let mut files = Vec::new();
    yaml_files(Path::new(dir), &mut files);
    assert_eq!(files.len(), 3141, "the corpus should hold 3,141 rule files");

    let out = sigc(&["check", "--format", "json", dir]);
    assert_no_panic(&out, "check rules/");
    let docs = json_lines(&out);
    let mut by_path: BTreeMap<String, usize> = BTreeMap::new();
    let mut bad = Vec::new();
    for d in &docs {
        let path = d["path"].as_str().expect("path").to_string();
        *by_path.entry(path.clone()).or_default() += 1;
        if d["status"] != "ok" {
            bad.push(format!("{path}: {}", d["diagnostics"]));
        }
        assert_eq!(d["kind"], "rule", "{path} is not a plain rule");
    }
    assert!(
        bad.is_empty(),
        "{} rules failed:\n{}",
        bad.len(),
        bad.join("\n")
    );
    assert_eq!(by_path.len(), files.len(), "one report per file");
    assert_eq!(out.status.code(), Some(0));
}

/// The v1 constructs a legacy file uses, found in its text (not through sigc), each with the
/// text an `E043` message must contain to name it.
fn legacy_constructs(text: &str) -> Vec<(&'static str, &'static str)> {
    let mut found = Vec::new();
    for line in text.lines() {
        let trimmed = line.trim_start();
        if trimmed.starts_with("timeframe:") {
            found.push(("timeframe key", "`timeframe`"));
        }
        let Some(cond) = trimmed.strip_prefix("condition:") else {
            continue;
        };
        // Drop a trailing YAML comment.
        let cond = cond.split(" #").next().unwrap_or(cond);
        let words: Vec<&str> = cond
            .split(|c: char| !(c.is_alphanumeric() || c == '_'))
            .collect();
        let agg = ["count", "sum", "min", "max", "avg"]
            .into_iter()
            .find(|f| cond.contains(&format!("{f}(")));
        if let Some(f) = agg {
            found.push((
                "aggregation function",
                match f {
                    "count" => "`count(",
                    "sum" => "`sum(",
                    "min" => "`min(",
                    "max" => "`max(",
                    _ => "`avg(",
                },
            ));
        } else if words.contains(&"near") {
            found.push(("near", "`near`"));
        } else if cond.contains('|') {
            found.push(("| aggregation", "`|`"));
        }
    }
    found
}

#[test]
fn every_legacy_file_is_rejected() {
    let dir = corpus(UNSUPPORTED);
    let mut files = Vec::new();
    yaml_files(Path::new(dir), &mut files);
    files.sort();
    assert_eq!(
        files.len(),
        87,
        "the unsupported corpus should hold 87 files"
    );

    let mut failures = Vec::new();
    let mut with_constructs = 0;
    for file in &files {
        let name = file.strip_prefix(dir).unwrap_or(file).display().to_string();
        let out = sigc(&["check", "--format", "json", &file.to_string_lossy()]);
        assert_no_panic(&out, &name);
        if out.status.code() != Some(1) {
            failures.push(format!("{name}: exit code {:?}, want 1", out.status.code()));
        }
        let docs = json_lines(&out);
        let diags: Vec<&Value> = docs
            .iter()
            .flat_map(|d| d["diagnostics"].as_array().into_iter().flatten())
            .collect();
        if !diags.iter().any(|d| d["severity"] == "error") {
            failures.push(format!("{name}: no error"));
        }
        if docs.iter().all(|d| d["status"] == "ok") {
            failures.push(format!("{name}: every document ok"));
        }
        let text = std::fs::read_to_string(file).expect("read legacy file");
        let constructs = legacy_constructs(&text);
        if !constructs.is_empty() {
            with_constructs += 1;
        }
        for (what, needle) in constructs {
            let named = diags.iter().any(|d| {
                d["code"] == "E043" && d["message"].as_str().is_some_and(|m| m.contains(needle))
            });
            if !named {
                let got: Vec<String> = diags
                    .iter()
                    .map(|d| format!("{} {}", d["code"], d["message"]))
                    .collect();
                failures.push(format!(
                    "{name}: uses {what}, but no E043 names {needle}; got {got:?}"
                ));
            }
        }
    }
    // Guard the text scan itself: most of this corpus is v1 aggregation.
    assert!(
        with_constructs >= 55,
        "only {with_constructs} files recognised as using v1 aggregation"
    );
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

/// The whole legacy folder in one run: reports every document, exits 1, does not panic.
#[test]
fn legacy_folder_in_one_run() {
    let dir = corpus(UNSUPPORTED);
    let out = sigc(&["check", "--format", "json", dir]);
    assert_no_panic(&out, "check unsupported/");
    assert_eq!(out.status.code(), Some(1));
    let docs = json_lines(&out);
    let paths: std::collections::BTreeSet<&str> =
        docs.iter().filter_map(|d| d["path"].as_str()).collect();
    assert_eq!(paths.len(), 87, "one or more reports for every file");
}
