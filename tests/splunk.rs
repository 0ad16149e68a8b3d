//! `sigc convert -t splunk` through the binary: snapshots of every bundled rule in every
//! format (the seed reproductions among them), and the SigmaHQ corpus: every rule converts to
//! SPL, and `-f tstats` converts every rule whose log source and fields have a CIM home,
//! refusing the others with a reason that names the missing data model or field.
//!
//! Exactness (that each query selects what the evaluator selects) is `tests/splunk_exactness.rs`.

mod convert_support;

use std::path::Path;
use std::process::Command;

use convert_support::{convert, manifest_dir, settings};

/// Every bundled rule, in every format (query and template formats), with the pipelines a
/// Splunk user would give.
#[test]
fn bundled_rules() {
    let formats: &[(&str, &[&str])] = &[
        ("default", &["-p", "sysmon", "-p", "splunk_windows"]),
        ("tstats", &["-p", "splunk_cim"]),
        // The template formats: savedsearches over plain SPL (a rule without a data model),
        // security_content over tstats (the form contentctl validates, see below).
        ("savedsearches", &["-p", "sysmon", "-p", "splunk_windows"]),
        ("security_content", &["-p", "splunk_cim"]),
    ];
    settings().bind(|| {
        insta::glob!("../rules", "windows/**/*.yml", |path| {
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
                // The CIM formats refuse a rule with no home in a data model (the playbook's
                // 5156 and PowerShell 400 rules), naming the log source or field.
                // The template formats and tstats write rules only, not the pack's correlation.
                let correlation = err
                    .contains("correlation rules convert to the default SPL format only")
                    || err.contains("writes rules, not correlation rules");
                let cim = format.contains("s") && pipelines.contains(&"splunk_cim");
                if code != 0 && (cim || correlation) {
                    assert!(
                        err.contains("has no CIM data model")
                            || err.contains("has no CIM field")
                            || correlation,
                        "{format} {rel}: {err}"
                    );
                    insta::assert_snapshot!(format!("splunk_{format}_refused"), err);
                    continue;
                }
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
        converted >= 1968,
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

/// The `splunk_cim` mappings that rewrite values as well as names (Sysmon's `Initiated` as
/// `All_Traffic.direction`, its registry `EventType` as `Registry.action`), the ones that hold
/// for some values only (`DestinationHostname` as `All_Traffic.dest`), the `Image` ->
/// `All_Traffic.app` mapping and the Event_Signatures routing, each with the cases that must
/// stay refused: a boolean `Initiated`, a delete `EventType` (CIM merges the two kinds), a
/// Linux `Image`, a host name an address could match, a System log event code.
#[test]
fn tstats_fixtures() {
    settings().bind(|| {
        insta::glob!("fixtures", "tstats/*.yml", |path| {
            let rel = path.strip_prefix(manifest_dir()).expect("inside the crate");
            let rel = rel.to_str().expect("UTF-8");
            let (code, out, err) =
                convert(&["-t", "splunk", "-f", "tstats", "-p", "splunk_cim", rel]);
            // A refusal names the field or log source it has no CIM home for (what the
            // corpus test asks).
            assert!(
                code == 0
                    || err.contains("has no CIM field")
                    || err.contains("has no CIM data model"),
                "{rel}: {err}"
            );
            insta::assert_snapshot!("splunk_tstats_fixture", format!("exit {code}\n{out}{err}"));
        });
    });
}

/// Every correlation fixture, as SPL (or the reason it has none).
#[test]
fn correlations() {
    settings().bind(|| {
        insta::glob!("fixtures", "correlations/*.yml", |path| {
            let rel = path.strip_prefix(manifest_dir()).expect("inside the crate");
            let rel = rel.to_str().expect("UTF-8");
            let (code, out, err) = convert(&["-t", "splunk", rel]);
            insta::assert_snapshot!("splunk_correlation", format!("exit {code}\n{out}{err}"));
            let (code, out, err) =
                convert(&["-t", "splunk", "--correlation-method", "sliding", rel]);
            insta::assert_snapshot!(
                "splunk_correlation_sliding",
                format!("exit {code}\n{out}{err}")
            );
        });
    });
}

/// contentctl, when installed: `$SIGC_CONTENTCTL` (scripts/test.sh sets it, and then it must
/// work), else the venv scripts/test.sh creates, else `contentctl` on the PATH.
fn contentctl() -> Option<std::path::PathBuf> {
    if let Some(p) = std::env::var_os("SIGC_CONTENTCTL") {
        return Some(p.into());
    }
    let venv = manifest_dir().join("target/contentctl-venv/bin/contentctl");
    if venv.is_file() {
        return Some(venv);
    }
    Command::new("contentctl")
        .arg("--help")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|_| "contentctl".into())
}

/// Copy a folder tree.
fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create folder");
    for entry in std::fs::read_dir(from).expect("read fixture folder") {
        let entry = entry.expect("fixture entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("file type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy fixture file");
        }
    }
}

/// Splunk's own validator accepts the security_content output for the bundled rules: a minimal
/// contentctl app (tests/fixtures/contentctl plus the folders contentctl insists on) with the
/// detections `--output-dir` writes, validated offline (no enrichments). Twice: as converted
/// (experimental detections, Sigma status `test`), and as production detections in an analytic
/// story, where contentctl also checks the risk objects against the search, the drilldowns and
/// the manual-test mark.
#[test]
fn contentctl_validates_security_content() {
    let Some(contentctl) = contentctl() else {
        println!(
            "skipping contentctl_validates_security_content: contentctl is not installed (scripts/test.sh installs it into target/contentctl-venv)"
        );
        return;
    };
    let rules = std::fs::read_dir(manifest_dir().join("rules/windows/process_creation"))
        .expect("bundled rules")
        .filter_map(Result::ok)
        .filter(|e| {
            let n = e.file_name().to_string_lossy().to_string();
            // A file holding a correlation gives no detection: its base rule is the
            // correlation's alone, and the format writes rules only.
            n.ends_with(".yml")
                && !n.ends_with(".tests.yml")
                && !std::fs::read_to_string(e.path()).is_ok_and(|t| t.contains("\ncorrelation:"))
        })
        .count();
    let variants: &[(&str, &[&str])] = &[
        ("as converted", &[]),
        (
            "production",
            &[
                "--set",
                "detection_status=production",
                "--set",
                "analytic_story=Windows Remote Management",
            ],
        ),
    ];
    for (variant, extra) in variants {
        let app = tempfile::tempdir().expect("temp dir");
        copy_dir(
            &manifest_dir().join("tests/fixtures/contentctl"),
            app.path(),
        );
        for dir in ["lookups", "baselines", "playbooks", "dashboards", "removed"] {
            std::fs::create_dir_all(app.path().join(dir)).expect("create folder");
        }
        let detections = app.path().join("detections/endpoint");
        let detections = detections.to_str().expect("UTF-8 temp path");
        let mut args = vec![
            "-t",
            "splunk",
            "-f",
            "security_content",
            "-p",
            "splunk_cim",
            "--output-dir",
            detections,
        ];
        args.extend_from_slice(extra);
        args.push("rules/windows/process_creation/");
        let (code, _, err) = convert(&args);
        // The pack's correlation rule is the one refusal.
        assert_eq!(code, 1, "{variant}: {err}");
        assert_eq!(err.matches("error[").count(), 1, "{variant}: {err}");
        assert!(
            err.contains("the security_content format writes rules, not correlation rules"),
            "{variant}: {err}"
        );
        let written = std::fs::read_dir(detections)
            .expect("detections written")
            .count();
        assert_eq!(written, rules, "{variant}: one detection per bundled rule");
        let out = Command::new(&contentctl)
            .arg("validate")
            .current_dir(app.path())
            .output()
            .unwrap_or_else(|e| panic!("run {}: {e}", contentctl.display()));
        assert!(
            out.status.success(),
            "{variant}: contentctl validate failed:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// The template options: `--template` replaces the built-in template with the same context,
/// `--set` reaches it (and the built-in security_content template rejects keys it does not
/// read), `fail()` refuses one rule at the rule, and a malformed template is a usage error.
#[test]
fn template_options() {
    let dir = tempfile::tempdir().expect("temp dir");
    let write = |name: &str, text: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).expect("write template");
        p.to_str().expect("UTF-8 temp path").to_string()
    };
    let list = write(
        "list.j2",
        "{% for r in rules %}{{ r.title }}|{{ r.target }}|{{ set.x }}|{{ r.settings.data_model }}\n{% endfor %}",
    );
    let (code, out, err) = convert(&[
        "-t",
        "splunk",
        "-f",
        "savedsearches",
        "-p",
        "splunk_cim",
        "--template",
        &list,
        "--set",
        "x=1",
        "rules/windows/process_creation/proc_creation_win_winrshost_shell.yml",
        "rules/windows/process_creation/proc_creation_win_wsmprovhost_lolbas_child.yml",
    ]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        out,
        "Windows Remote Management Execute Shell|None|1|Endpoint.Processes\n\
         Wsmprovhost LOLBAS Execution Process Spawn|None|1|Endpoint.Processes\n"
    );

    let refuse = write(
        "refuse.j2",
        "{% if 'LOLBAS' in rule.title %}{{ fail('no LOLBAS here') }}{% endif %}{{ rule.target.name }}\n",
    );
    let (code, out, err) = convert(&[
        "-t",
        "splunk",
        "-f",
        "security_content",
        "--template",
        &refuse,
        "rules/windows/process_creation/proc_creation_win_winrshost_shell.yml",
        "rules/windows/process_creation/proc_creation_win_wsmprovhost_lolbas_child.yml",
    ]);
    assert_eq!(code, 1);
    assert_eq!(out, "Windows Remote Management Execute Shell\n");
    assert!(
        err.contains(
            "error[E081]: the security_content format cannot write this rule: no LOLBAS here"
        ),
        "{err}"
    );
    assert!(
        err.contains("proc_creation_win_wsmprovhost_lolbas_child.yml:1:1"),
        "{err}"
    );

    let broken = write("broken.j2", "{% if %}");
    let (code, _, err) = convert(&[
        "-t",
        "splunk",
        "-f",
        "security_content",
        "--template",
        &broken,
        "rules/windows/process_creation/proc_creation_win_winrshost_shell.yml",
        "rules/windows/process_creation/proc_creation_win_wsmprovhost_lolbas_child.yml",
    ]);
    assert_eq!(code, 2);
    assert!(
        err.contains("error[E082]") && err.contains("syntax error"),
        "{err}"
    );

    let (code, _, err) = convert(&[
        "-t",
        "splunk",
        "-f",
        "security_content",
        "--set",
        "cron_schedule=x",
        "rules/windows/process_creation/proc_creation_win_winrshost_shell.yml",
        "rules/windows/process_creation/proc_creation_win_wsmprovhost_lolbas_child.yml",
    ]);
    assert_eq!(code, 2);
    assert!(
        err.contains("the security_content format has no setting `cron_schedule`"),
        "{err}"
    );

    let (code, _, err) = convert(&[
        "-t",
        "splunk",
        "-f",
        "tstats",
        "--set",
        "a=b",
        "rules/windows/process_creation/",
    ]);
    assert_eq!(code, 2);
    assert!(err.contains("is a query format"), "{err}");

    // savedsearches writes any other `--set` as a setting of every stanza.
    let (code, out, err) = convert(&[
        "-t",
        "splunk",
        "-f",
        "savedsearches",
        "-p",
        "splunk_cim",
        "--set",
        "cron_schedule=*/10 * * * *",
        "--set",
        "action.email.to=soc@example.com",
        "rules/windows/process_creation/proc_creation_win_winrshost_shell.yml",
        "rules/windows/process_creation/proc_creation_win_wsmprovhost_lolbas_child.yml",
    ]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        out.matches("cron_schedule = */10 * * * *\n").count(),
        2,
        "{out}"
    );
    assert_eq!(
        out.matches("action.email.to = soc@example.com\n").count(),
        2,
        "{out}"
    );
}

/// The CIM data models rewrite an empty value (`unknown` for a missing `Processes.process`, 0
/// for a port that is not a number, a lowercased `transport`): a test whose outcome that
/// changes is refused, not turned into a search that means something else; the same rule
/// without it converts.
#[test]
fn tstats_refuses_tests_the_cim_fill_changes() {
    let dir = tempfile::tempdir().expect("temp dir");
    let rule = dir.path().join("fill.yml");
    let tstats = |logsource: &str, base: &str, extra: &str| {
        let text = format!(
            "title: Fill\nid: 11111111-1111-4111-8111-111111111111\nlogsource:\n{logsource}detection:\n    s:\n        {base}\n    f:\n        {extra}\n    condition: s and not f\n"
        );
        std::fs::write(&rule, text).expect("write rule");
        let path = rule.to_str().expect("UTF-8");
        convert(&["-t", "splunk", "-f", "tstats", "-p", "splunk_cim", path])
    };
    let procs = "    category: process_creation\n    product: windows\n";
    let net = "    category: network_connection\n    product: windows\n";
    let aws = "    product: aws\n    service: cloudtrail\n";
    let image = "Image|endswith: '\\x.exe'";
    let cases = [
        // (log source, selection, filter, refused)
        (procs, image, "CommandLine: null", true),
        (procs, image, "CommandLine: ''", true),
        (procs, image, "User: '*'", true),
        (procs, image, "CommandLine|re: '^x?$'", true),
        (procs, image, "IntegrityLevel|cased: 'High'", true),
        (procs, image, "CommandLine|contains: ' -x'", false),
        (procs, image, "CommandLine|re: '^x+$'", false),
        (net, "Initiated: 'true'", "DestinationPort|lt: 1024", true),
        (net, "Initiated: 'true'", "Protocol|cased: 'TCP'", true),
        (net, "Initiated: 'true'", "DestinationPort: 4444", false),
        (
            aws,
            "eventSource: iam.amazonaws.com",
            "sourceIPAddress: null",
            true,
        ),
        (
            aws,
            "eventSource: iam.amazonaws.com",
            "eventName: CreateUser",
            false,
        ),
    ];
    for (logsource, base, extra, refused) in cases {
        let (code, out, err) = tstats(logsource, base, extra);
        if refused {
            assert_eq!(code, 1, "{extra}: {out}");
            assert!(
                err.contains("rewrites an empty or missing"),
                "{extra}: {err}"
            );
        } else {
            assert_eq!(code, 0, "{extra}: {err}");
            assert!(out.starts_with("| tstats "), "{extra}: {out}");
        }
    }
}
