//! `sigc convert -t splunk` through the binary: snapshots of every bundled rule in every
//! format (the seed reproductions among them), and the SigmaHQ corpus: every rule converts to
//! SPL, and `-f tstats` converts every rule whose log source and fields have a CIM home,
//! refusing the others with a reason that names the missing data model or field.
//!
//! Exactness (that each query selects what the evaluator selects) is `tests/splunk_exactness.rs`.

use std::path::Path;
use std::process::Command;

fn manifest_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Run `sigc convert` from the crate root; (exit code, stdout, stderr).
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

/// Every bundled rule, in every format, with the pipelines a Splunk user would give.
#[test]
fn bundled_rules() {
    let formats: &[(&str, &[&str])] = &[
        ("default", &["-p", "sysmon", "-p", "splunk_windows"]),
        ("tstats", &["-p", "splunk_cim"]),
    ];
    settings().bind(|| {
        insta::glob!("../rules", "**/*.yml", |path| {
            if path.to_string_lossy().ends_with(".tests.yml") {
                return;
            }
            let rel = path.strip_prefix(manifest_dir()).expect("inside the crate");
            let rel = rel.to_str().expect("UTF-8 path");
            for (format, pipelines) in formats {
                let mut args = vec!["-t", "splunk", "-f", format];
                args.extend_from_slice(pipelines);
                args.push(rel);
                let (code, out, err) = convert(&args);
                assert_eq!(code, 0, "{format} {rel}: {err}");
                insta::assert_snapshot!(format!("splunk_{format}"), out);
            }
        });
    });
}

/// The two ESCU seeds, reproduced: the data model, the conditions on the CIM name fields, and
/// the macros and pipes of Splunk's own searches.
#[test]
fn seeds_reproduced() {
    let (code, out, err) = convert(&[
        "-t",
        "splunk",
        "-f",
        "tstats",
        "-p",
        "splunk_cim",
        "rules/windows/process_creation/proc_creation_win_winrshost_shell.yml",
    ]);
    assert_eq!(code, 0, "{err}");
    // Seed 003: parent_process_name="winrshost.exe" AND process_name IN ("cmd.exe","*powershell*")
    assert!(out.starts_with("| tstats `security_content_summariesonly` count min(_time) as firstTime max(_time) as lastTime from datamodel=Endpoint.Processes where "));
    assert!(out.contains(r#"Processes.parent_process_name="winrshost.exe""#));
    assert!(out.contains(r#"Processes.process_name IN ("cmd.exe", "*powershell*")"#));
    for pipe in [
        "| `drop_dm_object_name(Processes)`",
        "| `security_content_ctime(firstTime)`",
        "| `security_content_ctime(lastTime)`",
        "| `windows_remote_management_execute_shell_filter`",
    ] {
        assert!(out.contains(pipe), "{pipe} missing from\n{out}");
    }

    let (code, out, err) = convert(&[
        "-t",
        "splunk",
        "-f",
        "tstats",
        "-p",
        "splunk_cim",
        "rules/windows/process_creation/proc_creation_win_wsmprovhost_lolbas_child.yml",
    ]);
    assert_eq!(code, 0, "{err}");
    // Seed 002: parent_process_name=wsmprovhost.exe and process_name IN (55 LOLBAS names).
    assert!(out.contains(r#"Processes.parent_process_name="wsmprovhost.exe""#));
    let seed =
        std::fs::read_to_string(manifest_dir().join("../shared/seeds/002_228ed24f068d3ff7.txt"))
            .expect("the seeds sit beside the checkout");
    let names: Vec<&str> = seed
        .split("Processes.process_name IN (")
        .nth(1)
        .and_then(|s| s.split(')').next())
        .expect("seed 002 lists process names")
        .split(',')
        .map(|n| n.trim().trim_matches('"'))
        .collect();
    assert_eq!(names.len(), 55);
    for n in names {
        assert!(out.contains(&format!("\"{n}\"")), "{n} missing");
    }
    assert!(out.contains("| `wsmprovhost_lolbas_execution_process_spawn_filter`"));
}

/// Every corpus rule converts to SPL. A rule the backend refuses would be listed here with its
/// reason; there are none.
#[test]
fn corpus_converts_to_spl() {
    let corpus = "../shared/corpus/sigma/rules";
    let (code, out, err) = convert(&["-t", "splunk", "--json", corpus]);
    assert_eq!(code, 0, "{err}");
    let lines: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect();
    assert_eq!(lines.len(), 3141);
    assert!(lines.iter().all(|l| l["query"].is_string()));
}

/// `-f tstats` covers the rules with a CIM home and says why for the others.
#[test]
fn corpus_tstats_coverage() {
    let corpus = "../shared/corpus/sigma/rules";
    let (code, out, _) = convert(&[
        "-t",
        "splunk",
        "-f",
        "tstats",
        "-p",
        "splunk_cim",
        "--json",
        corpus,
    ]);
    assert_eq!(code, 1, "some corpus rules have no CIM home");
    let lines: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect();
    assert_eq!(lines.len(), 3141);
    let converted = lines.iter().filter(|l| l["query"].is_string()).count();
    assert!(
        converted >= 1870,
        "only {converted} rules convert to tstats"
    );
    for l in &lines {
        if let Some(e) = l["error"].as_str() {
            assert!(
                e.contains("data model") || e.contains("CIM"),
                "{}: a refusal must name the missing data model or field: {e}",
                l["path"]
            );
        }
    }
}

/// Every correlation fixture, as SPL (or the reason it has none).
#[test]
fn correlations() {
    settings().bind(|| {
        insta::glob!("fixtures", "correlations/*.yml", |path| {
            let rel = path.strip_prefix(manifest_dir()).expect("inside the crate");
            let (code, out, err) = convert(&["-t", "splunk", rel.to_str().expect("UTF-8")]);
            insta::assert_snapshot!("splunk_correlation", format!("exit {code}\n{out}{err}"));
        });
    });
}
