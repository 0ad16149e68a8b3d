//! Error fixtures: deliberately broken copies of one SigmaHQ rule
//! (`windows/process_creation/proc_creation_win_dns_susp_child_process.yml`), one mistake each.
//! For each, `sigc check --format json` must report the exact code at the exact line:column of
//! the mistake, the document must fail, and the exit code must be 1. The rendered text output is
//! snapshotted too (`snapshots/check_errors@*.snap`).

mod convert_support;

use std::path::Path;

use serde_json::Value;

use convert_support::{manifest_dir, sigc};

/// `(fixture, code, line, column)`: where the first error must point. Lines and columns are
/// 1-based and were worked out from the fixture text, not copied from sigc's output: each is
/// the first character of the offending token (the key, modifier, identifier, parenthesis or
/// keyword the message is about).
const EXPECTED: &[(&str, &str, usize, usize)] = &[
    // `condition` indented by 6 instead of 4 under `filter:`. The YAML parser notices at the
    // `:` after `condition` (a key where a value of `Image|endswith` could continue).
    ("bad_indentation.yml", "E010", 22, 16),
    // `ParentImage|endwith`: the modifier starts after the `|` at column 21.
    ("unknown_modifier.yml", "E030", 19, 21),
    // `condition: selection and not filters`: `filters` starts at column 34.
    ("undefined_identifier.yml", "E041", 22, 34),
    // `condition: (selection and not filter`: the `(` that is never closed, column 16.
    ("unbalanced_open_paren.yml", "E040", 22, 16),
    // `condition: selection and not filter)`: the stray `)`, column 40.
    ("unbalanced_close_paren.yml", "E040", 22, 40),
    // `condition: selection AND NOT filter`: `AND` at column 26.
    ("uppercase_and.yml", "E040", 22, 26),
    // `- - '\csrss.exe'` on line 23: the inner list starts at column 15.
    ("nested_list.yml", "E033", 23, 15),
    // `selection:` defined again on line 20 (first on line 18).
    ("duplicate_key.yml", "E012", 20, 5),
    // `... and not filter | count() by Computer > 5`: `count` at column 43.
    ("v1_count.yml", "E043", 22, 43),
    // `timeframe: 5m` inside `detection`, line 22 column 5.
    ("timeframe.yml", "E043", 22, 5),
    // `condition: selection | near filter`: v1 `near`, reported at its pipe, column 26.
    ("v1_near.yml", "E043", 22, 26),
    // `filter: {}`: an empty search would match every event; the `{` is at column 13.
    ("empty_search_map.yml", "E022", 20, 13),
    // `condition: []`: no condition at all; the `[` is at column 16.
    ("empty_condition_list.yml", "E040", 22, 16),
];

#[test]
fn every_error_fixture_is_listed() {
    let mut on_disk: Vec<String> = std::fs::read_dir(manifest_dir().join("tests/fixtures/errors"))
        .expect("tests/fixtures/errors exists")
        .map(|e| {
            e.expect("dir entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .filter(|n| n.ends_with(".yml"))
        .collect();
    on_disk.sort();
    let mut listed: Vec<String> = EXPECTED.iter().map(|e| e.0.to_string()).collect();
    listed.sort();
    assert_eq!(
        on_disk, listed,
        "EXPECTED and tests/fixtures/errors disagree"
    );
}

#[test]
fn json_reports_code_and_position() {
    let mut failures = Vec::new();
    for &(file, code, line, column) in EXPECTED {
        let path = format!("tests/fixtures/errors/{file}");
        let out = sigc(&["check", "--format", "json", &path]);
        let stdout = String::from_utf8(out.stdout).expect("UTF-8");
        if out.status.code() != Some(1) {
            failures.push(format!("{file}: exit code {:?}, want 1", out.status.code()));
        }
        let docs: Vec<Value> = stdout
            .lines()
            .map(|l| serde_json::from_str(l).expect("each line is a JSON object"))
            .collect();
        if docs.len() != 1 {
            failures.push(format!("{file}: {} JSON lines, want 1", docs.len()));
            continue;
        }
        let doc = &docs[0];
        assert_eq!(doc["path"], path.as_str(), "{file}: path");
        for key in ["id", "title", "kind", "status", "diagnostics"] {
            assert!(doc.get(key).is_some(), "{file}: no `{key}` in {doc}");
        }
        if doc["status"] != "error" {
            failures.push(format!("{file}: status {}, want \"error\"", doc["status"]));
        }
        let errors: Vec<&Value> = doc["diagnostics"]
            .as_array()
            .expect("diagnostics is a list")
            .iter()
            .filter(|d| d["severity"] == "error")
            .collect();
        let Some(first) = errors.first() else {
            failures.push(format!("{file}: no error diagnostic in {doc}"));
            continue;
        };
        let got = (
            first["code"].as_str().unwrap_or_default(),
            first["line"].as_u64().unwrap_or_default() as usize,
            first["column"].as_u64().unwrap_or_default() as usize,
        );
        if got != (code, line, column) {
            failures.push(format!(
                "{file}: got {}:{}:{} ({}), want {code} at {line}:{column}",
                got.0, got.1, got.2, first["message"]
            ));
        }
        if file == "v1_near.yml"
            && !first["message"]
                .as_str()
                .is_some_and(|m| m.contains("`near`"))
        {
            failures.push(format!(
                "{file}: the message does not name `near`: {}",
                first["message"]
            ));
        }
        if first["message"].as_str().is_none_or(str::is_empty) {
            failures.push(format!("{file}: empty message"));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

/// The original rule loads: each fixture's error comes from its one change.
#[test]
fn the_unbroken_rule_is_ok() {
    let base = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../shared/corpus/sigma/rules/windows/process_creation/proc_creation_win_dns_susp_child_process.yml"
    );
    assert!(
        Path::new(base).exists(),
        "../shared (the SigmaHQ corpus) must sit beside this checkout: {base} is missing"
    );
    let out = sigc(&["check", "--format", "json", base]);
    let doc: Value = serde_json::from_slice(&out.stdout).expect("one JSON object");
    assert_eq!(doc["status"], "ok", "{doc}");
    assert_eq!(out.status.code(), Some(0));
}

#[test]
fn text_output() {
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path("../snapshots");
    settings.set_prepend_module_to_snapshot(false);
    settings.bind(|| {
        insta::glob!("fixtures", "errors/*.yml", |path| {
            let rel = path.strip_prefix(manifest_dir()).expect("inside the crate");
            let out = sigc(&["check", &rel.to_string_lossy()]);
            assert_eq!(out.status.code(), Some(1));
            insta::assert_snapshot!(
                "check_errors",
                String::from_utf8(out.stdout).expect("UTF-8")
            );
        });
    });
}
