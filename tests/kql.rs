//! `sigc convert -t kql` through the binary: snapshots of every bundled rule with each KQL
//! pipeline (in the `default`, `sentinel_rule` and `defender_detection` formats) and of every
//! correlation fixture (`tests/fixtures/correlations/` with `sentinel`, and the KQL-only
//! `tests/fixtures/kql_correlations/` with every pipeline; both window methods), the SigmaHQ
//! corpus coverage of each pipeline (every refusal names the
//! missing table or column), and that every Sentinel rule and Defender detection written over
//! the corpus reads back with its required keys and the rule's own query.
//!
//! That every emitted query parses and type-checks is `tests/kql_validate.rs` (Microsoft's
//! Kusto language service).

mod convert_support;

use convert_support::{convert, manifest_dir, settings};

const PIPELINES: &[&str] = &["microsoft_xdr", "sentinel_asim", "sentinel"];
const TEMPLATE_FORMATS: &[&str] = &["sentinel_rule", "defender_detection"];
const CORPUS: &str = "../shared/corpus/sigma/rules";

#[test]
fn bundled_rules() {
    settings().bind(|| {
        insta::glob!("../rules", "windows/**/*.yml", |path| {
            if path.to_string_lossy().ends_with(".tests.yml") {
                return;
            }
            let rel = path.strip_prefix(manifest_dir()).expect("inside the crate");
            let rel = rel.to_str().expect("UTF-8 path");
            for p in PIPELINES {
                let (code, out, err) = convert(&["-t", "kql", "-p", p, rel]);
                insta::assert_snapshot!(format!("kql_{p}"), format!("exit {code}\n{out}{err}"));
                // The deployable formats of every pipeline that converts the rule (a format's
                // own refusal, e.g. Defender's of a Sentinel table, is snapshotted too).
                if code != 0 {
                    continue;
                }
                for f in TEMPLATE_FORMATS {
                    let (code, out, err) = convert(&["-t", "kql", "-f", f, "-p", p, rel]);
                    insta::assert_snapshot!(
                        format!("kql_{f}_{p}"),
                        format!("exit {code}\n{out}{err}")
                    );
                }
            }
        });
    });
}

#[test]
fn correlations() {
    settings().bind(|| {
        insta::glob!("fixtures", "correlations/*.yml", |path| {
            let rel = path.strip_prefix(manifest_dir()).expect("inside the crate");
            let rel = rel.to_str().expect("UTF-8");
            let (code, out, err) = convert(&["-t", "kql", "-p", "sentinel", rel]);
            insta::assert_snapshot!("kql_correlation", format!("exit {code}\n{out}{err}"));
            let (code, out, err) = convert(&[
                "-t",
                "kql",
                "-p",
                "sentinel",
                "--correlation-method",
                "sliding",
                rel,
            ]);
            insta::assert_snapshot!(
                "kql_correlation_sliding",
                format!("exit {code}\n{out}{err}")
            );
        });
    });
}

/// What the shared correlation fixtures cannot show in KQL (their rules read tables the
/// Defender and ASIM pipelines lack, or different tables): aliases and `temporal_ordered`
/// over one table, computed columns, pySigma's `percentile` key, no group-by, explicit
/// bounds; with every pipeline and both window methods.
#[test]
fn kql_correlations() {
    settings().bind(|| {
        insta::glob!("fixtures", "kql_correlations/*.yml", |path| {
            let rel = path.strip_prefix(manifest_dir()).expect("inside the crate");
            let rel = rel.to_str().expect("UTF-8");
            for p in PIPELINES {
                for m in ["buckets", "sliding"] {
                    let (code, out, err) =
                        convert(&["-t", "kql", "-p", p, "--correlation-method", m, rel]);
                    insta::assert_snapshot!(
                        format!("kql_correlation_{m}_{p}"),
                        format!("exit {code}\n{out}{err}")
                    );
                }
            }
        });
    });
}

/// The sliding form's invariants, for every fixture that converts: the window is the
/// evaluator's `[end - timespan, end]` (`between` includes both ends), the join keeps every
/// matching pair (`kind=inner`, not the default `innerunique`), rows without a time take no
/// part.
#[test]
fn sliding_windows_are_the_evaluators() {
    let mut seen = 0;
    for dir in ["correlations", "kql_correlations"] {
        let dir = manifest_dir().join("tests/fixtures").join(dir);
        for entry in std::fs::read_dir(&dir).expect("fixtures") {
            let path = entry.expect("fixture").path();
            let path = path.to_str().expect("UTF-8");
            for p in PIPELINES {
                let args = ["-t", "kql", "-p", p, "--correlation-method", "sliding"];
                let (_, out, _) = convert(&[&args[..], &["--json", path]].concat());
                for line in out.lines() {
                    let v: serde_json::Value = serde_json::from_str(line).expect("JSON line");
                    let Some(q) = v["query"].as_str() else {
                        continue;
                    };
                    if !q.contains("sigc_window_end") {
                        continue;
                    }
                    seen += 1;
                    assert!(q.contains("\n| join kind=inner (sigc_events"), "{q}");
                    assert!(
                        q.contains("\n| where sigc_time between ((sigc_window_end - "),
                        "{q}"
                    );
                    assert!(q.contains("s) .. sigc_window_end)\n"), "{q}");
                    assert!(q.contains("| where isnotnull(sigc_time)"), "{q}");
                    assert!(!q.contains("bin(sigc_time, 0s)"), "{q}");
                }
            }
        }
    }
    assert!(seen >= 20, "only {seen} sliding queries");
}

/// Rules converted per pipeline: the floors, and the union over the three.
#[test]
fn corpus_coverage() {
    let corpus = CORPUS;
    let mut union = std::collections::BTreeSet::new();
    for (p, floor) in [
        ("microsoft_xdr", 1950),
        ("sentinel_asim", 1900),
        ("sentinel", 2500),
    ] {
        let (_, out, _) = convert(&["-t", "kql", "-p", p, "--json", corpus]);
        let lines: Vec<serde_json::Value> = out
            .lines()
            .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
            .collect();
        assert_eq!(lines.len(), 3141, "{p}: every rule is reported");
        let mut converted = 0;
        for l in &lines {
            if l["query"].is_string() {
                converted += 1;
                union.insert(l["path"].as_str().unwrap_or_default().to_string());
            } else {
                let e = l["error"].as_str().unwrap_or_default();
                assert!(
                    e.contains("table")
                        || e.contains("column")
                        || e.contains("hash")
                        || e.contains("keyword"),
                    "{p}: {}: a refusal must say what is missing: {e}",
                    l["path"]
                );
            }
        }
        assert!(
            converted >= floor,
            "{p}: only {converted} rules convert (floor {floor})"
        );
    }
    assert!(
        union.len() >= 2700,
        "only {} rules convert with some pipeline",
        union.len()
    );
}

/// `--json` lines of one corpus run: path → the query or document (refusals left out).
fn corpus_outputs(args: &[&str], key: &str) -> std::collections::BTreeMap<String, String> {
    let mut all = vec!["-t", "kql", "--json"];
    all.extend_from_slice(args);
    all.push(CORPUS);
    let (_, out, _) = convert(&all);
    out.lines()
        .filter_map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("one JSON object per line");
            Some((
                v["path"].as_str()?.to_string(),
                v[key].as_str()?.to_string(),
            ))
        })
        .collect()
}

/// Every Sentinel analytics rule written over the corpus (`-p sentinel`) is one YAML document
/// with the keys Azure-Sentinel's scheduled rules require, holding the rule's own query.
#[test]
fn corpus_sentinel_rules_read_back() {
    use yaml_rust2::{Yaml, YamlLoader};
    let queries = corpus_outputs(&["-p", "sentinel"], "query");
    let docs = corpus_outputs(&["-f", "sentinel_rule", "-p", "sentinel"], "output");
    assert!(
        docs.len() >= 2500,
        "only {} Sentinel rules written",
        docs.len()
    );
    assert_eq!(
        docs.len(),
        queries.len(),
        "every rule that converts is written as a Sentinel rule"
    );
    for (path, text) in &docs {
        let parsed = YamlLoader::load_from_str(text)
            .unwrap_or_else(|e| panic!("{path}: not YAML: {e}\n{text}"));
        assert_eq!(parsed.len(), 1, "{path}: one document");
        let doc = &parsed[0];
        let get = |k: &str| &doc[k];
        for k in [
            "id",
            "name",
            "description",
            "severity",
            "requiredDataConnectors",
            "queryFrequency",
            "queryPeriod",
            "triggerOperator",
            "triggerThreshold",
            "tactics",
            "relevantTechniques",
            "query",
            "version",
            "kind",
        ] {
            assert!(!get(k).is_badvalue(), "{path}: no `{k}`\n{text}");
        }
        let s = |k: &str| {
            get(k)
                .as_str()
                .unwrap_or_else(|| panic!("{path}: `{k}` is not text"))
        };
        assert_eq!(get("kind").as_str(), Some("Scheduled"), "{path}");
        assert!(
            ["Informational", "Low", "Medium", "High"].contains(&s("severity")),
            "{path}: severity {}",
            s("severity")
        );
        assert_eq!(s("id").len(), 36, "{path}: id is a UUID");
        assert!(
            !s("name").is_empty() && !s("description").is_empty(),
            "{path}"
        );
        assert_eq!(get("triggerThreshold").as_i64(), Some(0), "{path}");
        for k in ["tactics", "relevantTechniques", "requiredDataConnectors"] {
            assert!(matches!(get(k), Yaml::Array(_)), "{path}: `{k}` is a list");
        }
        for t in get("relevantTechniques").as_vec().into_iter().flatten() {
            let t = t.as_str().unwrap_or_default();
            assert!(t.starts_with('T') && t.len() >= 5, "{path}: technique {t}");
        }
        assert_eq!(
            Some(s("query")),
            queries.get(path).map(String::as_str),
            "{path}: the query reads back as the rule's -f default query"
        );
    }
}

/// Every Defender custom detection written over the corpus (`-p microsoft_xdr`) is a JSON
/// body holding the rule's own query.
#[test]
fn corpus_defender_detections_read_back() {
    let queries = corpus_outputs(&["-p", "microsoft_xdr"], "query");
    let docs = corpus_outputs(
        &["-f", "defender_detection", "-p", "microsoft_xdr"],
        "output",
    );
    assert_eq!(docs.len(), queries.len(), "every converted rule is written");
    for (path, text) in &docs {
        let v: serde_json::Value =
            serde_json::from_str(text).unwrap_or_else(|e| panic!("{path}: not JSON: {e}"));
        assert_eq!(
            v["queryCondition"]["queryText"].as_str(),
            queries.get(path).map(String::as_str),
            "{path}"
        );
        let alert = &v["detectionAction"]["alertTemplate"];
        assert!(
            v["displayName"].is_string() && alert["title"].is_string(),
            "{path}"
        );
        assert!(
            ["informational", "low", "medium", "high"]
                .contains(&alert["severity"].as_str().unwrap_or("")),
            "{path}"
        );
        assert!(
            alert["impactedAssets"]
                .as_array()
                .is_some_and(|a| !a.is_empty()),
            "{path}: an impacted asset"
        );
    }
}
