//! `sigc convert -t spark` through the binary: snapshots of every bundled rule (the `default`
//! and `where` formats, and the one-scan `pyspark_job` for the whole folder), of every
//! correlation fixture with both correlation methods, and the SigmaHQ corpus: every rule
//! converts or is refused with its reason, deterministically.
//!
//! That the SQL means on Spark what the evaluator means is `tests/spark_engine.rs` (a real
//! Spark, in release builds).

mod convert_support;

use convert_support::{convert, manifest_dir, settings};

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
            for f in ["default", "where"] {
                let (code, out, err) = convert(&["-t", "spark", "-f", f, rel]);
                insta::assert_snapshot!(format!("spark_{f}"), format!("exit {code}\n{out}{err}"));
            }
        });
    });
}

#[test]
fn one_scan_job() {
    let (code, out, err) = convert(&["-t", "spark", "-f", "pyspark_job", "rules"]);
    // The pack's correlation rule is the one refusal (the job writes rules only).
    assert_eq!(code, 1, "{err}");
    assert_eq!(err.matches("error[").count(), 1, "{err}");
    assert!(
        err.contains("the pyspark_job format writes rules, not correlation rules"),
        "{err}"
    );
    // Every bundled rule is one entry of the job's rule list, read in one scan.
    assert!(out.contains("RULES = ["), "{out}");
    assert!(
        out.contains("F.array_distinct(F.array_compact(F.flatten("),
        "{out}"
    );
    settings().bind(|| insta::assert_snapshot!("spark_pyspark_job", out));
}

#[test]
fn correlations() {
    settings().bind(|| {
        insta::glob!("fixtures", "correlations/*.yml", |path| {
            let rel = path.strip_prefix(manifest_dir()).expect("inside the crate");
            let rel = rel.to_str().expect("UTF-8");
            for m in ["buckets", "sliding"] {
                let (code, out, err) = convert(&["-t", "spark", "--correlation-method", m, rel]);
                insta::assert_snapshot!(
                    format!("spark_correlation_{m}"),
                    format!("exit {code}\n{out}{err}")
                );
            }
        });
    });
}

/// Every corpus rule converts, but Windows rules whose log source no route maps (the evaluator
/// does not run those either); the output is the same bytes on a second run.
#[test]
fn corpus() {
    let (_, out, _) = convert(&["-t", "spark", "--json", CORPUS]);
    let lines: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect();
    assert_eq!(lines.len(), 3141, "every rule is reported");
    let refused: Vec<String> = lines
        .iter()
        .filter_map(|l| l["error"].as_str().map(|e| format!("{}: {e}", l["path"])))
        .collect();
    for r in &refused {
        assert!(r.contains("no route for the log source"), "{r}");
    }
    assert!(refused.len() <= 10, "{refused:#?}");
    let (_, again, _) = convert(&["-t", "spark", "--json", CORPUS]);
    assert!(out == again, "conversion is deterministic");
}

/// `--table` names the table; a target without tables refuses it.
#[test]
fn table_option() {
    let rule = "rules/windows/builtin/win_security_winrm_inbound_connection.yml";
    let (code, out, _) = convert(&["-t", "spark", "--table", "dataTable", rule]);
    assert_eq!(code, 0);
    assert!(
        out.starts_with("SELECT * FROM `dataTable`\nWHERE "),
        "{out}"
    );
    let (code, _, err) = convert(&["-t", "splunk", "--table", "x", rule]);
    assert_eq!(code, 2, "{err}");
}

/// Under the default routing the evaluator reads a correlation's group-by field by whichever
/// of its route names an event has (`Image` for Sysmon, `NewProcessName` for Security 4688);
/// one query has one name, so such a correlation is refused rather than grouped by one route's
/// name only. With one route (`-p`) the same correlation converts.
#[test]
fn correlation_fields_named_differently_by_routes_are_refused() {
    let rule = "tests/fixtures/eval/correlations/routes.yml";
    let (code, out, err) = convert(&["-t", "spark", rule]);
    assert_eq!(code, 1, "{out}");
    assert!(
        err.contains("the routes name this correlation's fields differently (Image in one, NewProcessName in another)"),
        "{err}"
    );
    let (code, out, err) = convert(&["-t", "spark", "-p", "security_datasets", rule]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("GROUP BY window(sigc_time, '60 seconds'), `Image`"),
        "{out}"
    );
}
