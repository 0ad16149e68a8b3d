//! `sigc convert -t kql` through the binary: snapshots of every bundled rule with each KQL
//! pipeline and of every correlation fixture, and the SigmaHQ corpus coverage of each pipeline
//! (every refusal names the missing table or column).
//!
//! That every emitted query parses and type-checks is `tests/kql_validate.rs` (Microsoft's
//! Kusto language service).

use std::path::Path;
use std::process::Command;

const PIPELINES: &[&str] = &["microsoft_xdr", "sentinel_asim", "sentinel"];

fn manifest_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn convert(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_sigc"))
        .current_dir(manifest_dir())
        .arg("convert")
        .args(args)
        .output()
        .expect("run sigc");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).expect("stdout is UTF-8"),
        String::from_utf8(out.stderr).expect("stderr is UTF-8"),
    )
}

fn settings() -> insta::Settings {
    let mut s = insta::Settings::clone_current();
    s.set_snapshot_path("../snapshots");
    s.set_prepend_module_to_snapshot(false);
    s
}

#[test]
fn bundled_rules() {
    settings().bind(|| {
        insta::glob!("../rules", "**/*.yml", |path| {
            if path.to_string_lossy().ends_with(".tests.yml") {
                return;
            }
            let rel = path.strip_prefix(manifest_dir()).expect("inside the crate");
            let rel = rel.to_str().expect("UTF-8 path");
            for p in PIPELINES {
                let (code, out, err) = convert(&["-t", "kql", "-p", p, rel]);
                insta::assert_snapshot!(format!("kql_{p}"), format!("exit {code}\n{out}{err}"));
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
        });
    });
}

/// Rules converted per pipeline: the floors, and the union over the three.
#[test]
fn corpus_coverage() {
    let corpus = "../shared/corpus/sigma/rules";
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
