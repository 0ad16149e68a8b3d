//! The lints of `sigc check`, one fixture each in `tests/fixtures/check/lints/` (named for the
//! lint's module in `src/check/`). Each fixture's rendered text is snapshotted
//! (`snapshots/check_lints@*.snap`); besides, each must raise its lint's code at the listed
//! line:column, and `clean.yml` (near misses of every lint) must raise nothing.

mod convert_support;

use serde_json::Value;

use convert_support::{manifest_dir, sigc};

/// One diagnostic: (code, line, column).
type Finding = (String, u64, u64);

/// Every diagnostic of `sigc check --format json` on one file.
fn findings(path: &str) -> Vec<Finding> {
    let out = sigc(&["check", "--format", "json", path]);
    String::from_utf8(out.stdout)
        .expect("UTF-8")
        .lines()
        .flat_map(|l| {
            let doc: Value = serde_json::from_str(l).expect("one JSON object a line");
            doc["diagnostics"]
                .as_array()
                .expect("diagnostics list")
                .iter()
                .map(|d| {
                    (
                        d["code"].as_str().unwrap_or_default().to_string(),
                        d["line"].as_u64().unwrap_or_default(),
                        d["column"].as_u64().unwrap_or_default(),
                    )
                })
                .collect::<Vec<_>>()
        })
        .collect()
}

/// `(fixture, code, line, column)`, worked out from the fixture text: the key, value or
/// condition each finding is about.
const EXPECTED: &[(&str, &str, u64, u64)] = &[
    // `ParentImage|endswith|all` with two suffixes neither of which ends the other.
    ("never_matches.yml", "E046", 9, 9),
    // `Image: cmd.exe` and `Image|endswith: \powershell.exe` in one map: the search name.
    ("never_matches.yml", "E046", 22, 5),
    // `TerminalSessionId|gt: 10` and `|lt: 5`.
    ("never_matches.yml", "E046", 35, 5),
    // `selection and filter` where filter says the field is absent: the condition.
    ("never_matches.yml", "E046", 52, 16),
    // `selection and not selection`.
    ("never_matches.yml", "E046", 64, 16),
    ("always_matches.yml", "W006", 12, 16),
    ("always_matches.yml", "W007", 10, 5),
    ("unused_search.yml", "W007", 10, 5),
    // `foobar` is covered by `foo`; `BAZ` repeats `baz`; under `all`, `tool.exe` is implied.
    ("redundant_value.yml", "W008", 11, 15),
    ("redundant_value.yml", "W008", 13, 15),
    ("redundant_value.yml", "W008", 16, 15),
    ("regex_portability.yml", "W003", 9, 25),
    ("regex_portability.yml", "W003", 11, 19),
    // Lookahead does not parse: refused while loading.
    ("regex_portability.yml", "E032", 23, 25),
    ("backtracking.yml", "W009", 9, 25),
    ("backtracking.yml", "W009", 11, 25),
    ("unknown_field.yml", "W010", 9, 9),
    ("unknown_field.yml", "W010", 10, 9),
    ("suspicious_value.yml", "W011", 10, 15),
    ("metadata.yml", "E024", 2, 5),
    ("metadata.yml", "E025", 3, 9),
    ("metadata.yml", "W013", 12, 7),
    ("metadata.yml", "E026", 13, 8),
    ("metadata.yml", "W012", 15, 1),
    ("aggregation_block.yml", "E043", 10, 5),
];

#[test]
fn each_lint_reports_at_the_right_place() {
    let mut missing = Vec::new();
    let mut cache: Vec<(&str, Vec<Finding>)> = Vec::new();
    for &(file, code, line, col) in EXPECTED {
        if !cache.iter().any(|(f, _)| *f == file) {
            let got = findings(&format!("tests/fixtures/check/lints/{file}"));
            cache.push((file, got));
        }
        let got = &cache.iter().find(|(f, _)| *f == file).expect("cached").1;
        if !got
            .iter()
            .any(|g| (g.0.as_str(), g.1, g.2) == (code, line, col))
        {
            missing.push(format!("{file}: no {code} at {line}:{col}; got {got:?}"));
        }
    }
    assert!(missing.is_empty(), "\n{}", missing.join("\n"));
}

#[test]
fn every_lint_fixture_is_listed() {
    let dir = manifest_dir().join("tests/fixtures/check/lints");
    for entry in std::fs::read_dir(dir).expect("fixtures folder") {
        let name = entry
            .expect("entry")
            .file_name()
            .to_string_lossy()
            .into_owned();
        if name == "clean.yml" {
            continue;
        }
        assert!(
            EXPECTED.iter().any(|e| e.0 == name),
            "{name} has no expected finding in EXPECTED"
        );
    }
}

#[test]
fn near_misses_raise_nothing() {
    let got = findings("tests/fixtures/check/lints/clean.yml");
    assert!(got.is_empty(), "clean.yml raised {got:?}");
    let out = sigc(&[
        "check",
        "--deny",
        "warnings",
        "tests/fixtures/check/lints/clean.yml",
    ]);
    assert_eq!(out.status.code(), Some(0));
}

#[test]
fn deny_warnings_fails_on_warnings_only() {
    let path = "tests/fixtures/check/lints/unused_search.yml";
    assert_eq!(sigc(&["check", path]).status.code(), Some(0));
    assert_eq!(
        sigc(&["check", "--deny", "warnings", path]).status.code(),
        Some(1)
    );
}

#[test]
fn explain_prints_the_lint_documentation() {
    let out = sigc(&["explain", "E046"]);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8(out.stdout).expect("UTF-8");
    assert!(text.starts_with("E046 (never-matches, error)"), "{text}");
    assert!(text.contains("x and not x"), "{text}");
    assert_eq!(sigc(&["explain", "never-matches"]).status.code(), Some(0));
    assert_eq!(sigc(&["explain", "E999"]).status.code(), Some(2));
}

#[test]
fn text_output() {
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path("../snapshots");
    settings.set_prepend_module_to_snapshot(false);
    settings.bind(|| {
        insta::glob!("fixtures", "check/lints/*.yml", |path| {
            let rel = path.strip_prefix(manifest_dir()).expect("inside the crate");
            let out = sigc(&["check", &rel.to_string_lossy()]);
            insta::assert_snapshot!("check_lints", String::from_utf8(out.stdout).expect("UTF-8"));
        });
    });
}

/// A rule with a huge `|all` list stays a quick, ordinary finding (the pairwise lints are
/// bounded, so this is not quadratic in the number of values).
#[test]
fn huge_all_lists_are_linted() {
    let values: String = (0..20_000)
        .map(|i| format!("            - '\\v{i}.exe'\n"))
        .collect();
    let text = format!(
        "title: t\nlogsource:\n    category: process_creation\n    product: windows\ndetection:\n    sel:\n        Image|endswith|all:\n{values}    condition: sel\n"
    );
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("huge.yml");
    std::fs::write(&path, text).expect("write");
    let got = findings(&path.to_string_lossy());
    assert!(got.contains(&("E046".to_string(), 7, 9)), "{got:?}");
}
