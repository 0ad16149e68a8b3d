//! `sigc check --format sarif` output validates against the SARIF 2.1.0 JSON schema (vendored
//! in `tests/fixtures/check/`, see its README), for every check fixture; and the validator
//! does reject a log that breaks the schema, so a pass means something.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

fn manifest_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn validator() -> jsonschema::Validator {
    let text = std::fs::read_to_string(
        manifest_dir().join("tests/fixtures/check/sarif-schema-2.1.0.json"),
    )
    .expect("the vendored schema");
    let schema: Value = serde_json::from_str(&text).expect("the schema is JSON");
    jsonschema::draft4::new(&schema).expect("the schema compiles")
}

fn sarif(path: &str) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_sigc"))
        .current_dir(manifest_dir())
        .args(["check", "--format", "sarif", path])
        .output()
        .expect("run sigc");
    serde_json::from_slice(&out.stdout).expect("SARIF is one JSON document")
}

fn errors(v: &jsonschema::Validator, log: &Value) -> Vec<String> {
    v.iter_errors(log)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect()
}

#[test]
fn sarif_output_validates() {
    let v = validator();
    let mut checked = 0;
    for dir in ["tests/fixtures/check/seed", "tests/fixtures/check/lints"] {
        let mut files: Vec<_> = std::fs::read_dir(manifest_dir().join(dir))
            .expect("fixture folder")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".yml"))
            .collect();
        files.sort();
        for f in files {
            let path = format!("{dir}/{f}");
            let log = sarif(&path);
            let errs = errors(&v, &log);
            assert!(errs.is_empty(), "{path}:\n{}", errs.join("\n"));
            checked += 1;
        }
    }
    assert!(checked >= 10);
}

#[test]
fn results_carry_code_level_and_region() {
    let log = sarif("tests/fixtures/check/seed/remote_schtasks_winrm.yml");
    let run = &log["runs"][0];
    let results = run["results"].as_array().expect("results");
    let hit = results
        .iter()
        .find(|r| r["ruleId"] == "E046")
        .expect("the endswith|all finding");
    assert_eq!(hit["level"], "error");
    let region = &hit["locations"][0]["physicalLocation"]["region"];
    assert_eq!(
        (region["startLine"].as_u64(), region["startColumn"].as_u64()),
        (Some(16), Some(9))
    );
    let index = hit["ruleIndex"].as_u64().expect("ruleIndex") as usize;
    assert_eq!(run["tool"]["driver"]["rules"][index]["id"], "E046");
}

#[test]
fn the_validator_rejects_a_broken_log() {
    let v = validator();
    let mut log = sarif("tests/fixtures/check/seed/remote_schtasks_winrm.yml");
    log["runs"][0]["results"][0]["level"] = "fatal".into();
    assert!(!errors(&v, &log).is_empty(), "an unknown level must fail");
    let mut log = sarif("tests/fixtures/check/seed/remote_schtasks_winrm.yml");
    log["version"] = "2.0.0".into();
    assert!(!errors(&v, &log).is_empty(), "a wrong version must fail");
}
