//! Defects found by feeding sigc what a careless shell or a hostile file gives it: closed pipes,
//! byte-order marks, UTF-16, floods of bad records, and the first things a new user types. Each
//! test failed before its fix.

mod eval_support;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use eval_support::sigc;

const SIGC: &str = env!("CARGO_BIN_EXE_sigc");

const RULE: &str = "title: Whoami
id: 2b8c5a3e-7d41-4c8e-9f10-6a5b4c3d2e1f
logsource: {category: process_creation, product: windows}
detection:
  sel: {Image|endswith: '\\whoami.exe'}
  condition: sel
level: low
";

fn path_str(p: &Path) -> String {
    p.display().to_string()
}

/// A pipe whose reading end is already closed: every write to the other end fails (EPIPE).
fn closed_pipe() -> Stdio {
    let (reader, writer) = std::io::pipe().expect("pipe");
    drop(reader);
    Stdio::from(writer)
}

/// Run sigc with a closed stdout or stderr; its exit code, killed (and failed) after a minute.
fn run_with_closed(args: &[&str], closed_stdout: bool) -> Option<i32> {
    let mut cmd = Command::new(SIGC);
    cmd.args(args).stdin(Stdio::null());
    if closed_stdout {
        cmd.stdout(closed_pipe()).stderr(Stdio::null());
    } else {
        cmd.stdout(Stdio::null()).stderr(closed_pipe());
    }
    let mut child = cmd.spawn().expect("spawn sigc");
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            return status.code();
        }
        if start.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("sigc {args:?} hung with a closed pipe");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// 1 MiB of bytes that are no JSON (a fixed pseudo-random sequence).
fn random_bytes() -> Vec<u8> {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    (0..1 << 20)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

#[test]
fn a_closed_stdout_ends_the_output_not_the_process() {
    for args in [
        &["list", "codes"][..],
        &["list", "pipelines"],
        &["list", "targets"],
        &["explain", "E046"],
    ] {
        assert_eq!(run_with_closed(args, true), Some(0), "sigc {args:?}");
    }
    // A conversion whose output cannot be written failed (1), not a bad command line (2).
    let dir = tempfile::tempdir().expect("tempdir");
    let rule = dir.path().join("r.yml");
    std::fs::write(&rule, RULE).expect("rule");
    let code = run_with_closed(&["convert", "-t", "splunk", &path_str(&rule)], true);
    assert_eq!(code, Some(1));
}

#[test]
fn eval_with_a_closed_stderr_neither_panics_nor_hangs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rule = dir.path().join("r.yml");
    std::fs::write(&rule, RULE).expect("rule");
    let events = dir.path().join("random.json");
    std::fs::write(&events, random_bytes()).expect("events");
    for threads in ["1", "2"] {
        let code = run_with_closed(
            &[
                "eval",
                "--threads",
                threads,
                "--rules",
                &path_str(&rule),
                &path_str(&events),
            ],
            false,
        );
        // The records are unreadable (exit 1); what matters is an exit at all, and no panic.
        assert_eq!(code, Some(1), "--threads {threads}");
    }
}

#[test]
fn a_flood_of_bad_records_prints_twenty_warnings_and_a_count() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rule = dir.path().join("r.yml");
    std::fs::write(&rule, RULE).expect("rule");
    let events = dir.path().join("random.json");
    std::fs::write(&events, random_bytes()).expect("events");
    let run = sigc(&["eval", "--rules", &path_str(&rule), &path_str(&events)]).run();
    assert_eq!(run.code, Some(1));
    let warnings = run
        .stderr
        .lines()
        .filter(|l| l.starts_with("warning:"))
        .count();
    assert_eq!(warnings, 20, "{}", run.stderr);
    assert!(
        run.stderr.contains("(the first 20 shown above)"),
        "{}",
        run.stderr
    );
}

#[test]
fn eval_rules_then_events_reads_the_events() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rules = dir.path().join("rules");
    std::fs::create_dir_all(&rules).expect("mkdir");
    std::fs::write(rules.join("r.yml"), RULE).expect("rule");
    let events = dir.path().join("events.jsonl");
    std::fs::write(
        &events,
        "{\"Channel\":\"Microsoft-Windows-Sysmon/Operational\",\"EventID\":1,\"Image\":\"C:\\\\Windows\\\\System32\\\\whoami.exe\"}\n",
    )
    .expect("events");
    // As the README writes it: `sigc eval --rules DIR EVENTS`.
    let run = sigc(&["eval", "--rules", &path_str(&rules), &path_str(&events)]).run();
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert_eq!(run.out().lines().count(), 1, "{}", run.out());
}

#[test]
fn a_utf8_byte_order_mark_is_skipped_and_utf16_is_named() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rule = dir.path().join("bom.yml");
    std::fs::write(
        &rule,
        [b"\xEF\xBB\xBF".as_slice(), RULE.as_bytes()].concat(),
    )
    .expect("rule");
    let run = sigc(&["check", &path_str(&rule)]).run();
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let pipeline = dir.path().join("p.yml");
    std::fs::write(
        &pipeline,
        "\u{feff}name: renames\ntransformations:\n  - type: field_name_mapping\n    mapping: {Image: process_path}\n",
    )
    .expect("pipeline");
    let run = sigc(&[
        "convert",
        "-t",
        "splunk",
        "-p",
        &path_str(&pipeline),
        &path_str(&rule),
    ])
    .run();
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert!(run.out().contains("process_path="), "{}", run.out());

    let utf16: Vec<u8> = [0xFF, 0xFE]
        .into_iter()
        .chain(RULE.encode_utf16().flat_map(u16::to_le_bytes))
        .collect();
    let rule16 = dir.path().join("utf16.yml");
    std::fs::write(&rule16, utf16).expect("rule");
    let run = sigc(&["check", &path_str(&rule16)]).run();
    assert_eq!(run.code, Some(1));
    assert!(
        run.out().contains("the file is UTF-16 (little-endian)"),
        "{}",
        run.out()
    );
}

#[test]
fn a_duplicate_id_names_the_other_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("a.yml"), RULE).expect("a");
    std::fs::write(
        dir.path().join("b.yml"),
        RULE.replace("Whoami", "Whoami again"),
    )
    .expect("b");
    let run = sigc(&["check", &path_str(dir.path())]).run();
    let first = path_str(&dir.path().join("a.yml"));
    assert!(
        run.out()
            .contains(&format!("is also the id or name of {first}")),
        "{}",
        run.out()
    );
    assert!(!run.out().contains("document #"), "{}", run.out());
}

#[test]
fn test_json_reports_rules_that_do_not_load() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("bad.yml"),
        RULE.replace("endswith", "endswth"),
    )
    .expect("bad");
    let run = sigc(&["test", "--format", "json", &path_str(dir.path())]).run();
    assert_eq!(run.code, Some(1));
    let lines = run.json_lines();
    assert_eq!(lines.len(), 1, "{}", run.out());
    assert_eq!(lines[0]["test"], "load");
    assert_eq!(lines[0]["status"], "fail");
    assert!(
        lines[0]["reason"]
            .as_str()
            .is_some_and(|r| r.contains("endswth")),
        "{}",
        lines[0]
    );
}

#[test]
fn a_kql_table_from_pipeline_state_is_quoted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rule = dir.path().join("r.yml");
    std::fs::write(&rule, RULE).expect("rule");
    let pipeline = dir.path().join("p.yml");
    std::fs::write(
        &pipeline,
        "name: table\ntransformations:\n  - type: set_state\n    key: kql_table\n    val: \"Events | take 1\"\n",
    )
    .expect("pipeline");
    let run = sigc(&[
        "convert",
        "-t",
        "kql",
        "-p",
        &path_str(&pipeline),
        &path_str(&rule),
    ])
    .run();
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert!(
        run.out().starts_with("['Events | take 1']\n"),
        "{}",
        run.out()
    );
}

#[test]
fn what_a_new_user_trips_over() {
    // A misspelt pipeline gets the nearest name.
    let dir = tempfile::tempdir().expect("tempdir");
    let rule = dir.path().join("r.yml");
    std::fs::write(&rule, RULE).expect("rule");
    let run = sigc(&["convert", "-t", "splunk", "-p", "sysmn", &path_str(&rule)]).run();
    assert_eq!(run.code, Some(2));
    assert!(
        run.stderr.contains("did you mean `sysmon`?"),
        "{}",
        run.stderr
    );
    // convert says how many rules it converted.
    let run = sigc(&["convert", "-t", "splunk", &path_str(&rule)]).run();
    assert_eq!(run.code, Some(0));
    assert!(
        run.stderr
            .contains("converted 1 of 1 documents to splunk (default)"),
        "{}",
        run.stderr
    );
    // tstats' refusal does not tell a user who passed splunk_cim to pass it.
    let odd = dir.path().join("odd.yml");
    std::fs::write(&odd, RULE.replace("process_creation", "odd_category")).expect("odd");
    let run = sigc(&[
        "convert",
        "-t",
        "splunk",
        "-f",
        "tstats",
        "-p",
        "splunk_cim",
        &path_str(&odd),
    ])
    .run();
    assert_eq!(run.code, Some(1));
    assert!(
        run.stderr.contains("has no CIM data model"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("use -p splunk_cim"), "{}", run.stderr);
    // An unclosed quote is called that, not an indentation problem.
    let quote = dir.path().join("quote.yml");
    std::fs::write(&quote, "title: \"Whoami\nlogsource: {product: windows}\n").expect("quote");
    let run = sigc(&["check", &path_str(&quote)]).run();
    assert!(
        run.out().contains("a quoted string is not closed"),
        "{}",
        run.out()
    );
    assert!(run.out().contains(":1:8"), "{}", run.out());
    // Targets come with their formats.
    let run = sigc(&["list", "targets"]).run();
    assert!(
        run.out().lines().any(|l| l.starts_with("splunk")
            && l.contains("tstats")
            && l.contains("savedsearches")),
        "{}",
        run.out()
    );
}

#[test]
fn a_backtracking_regex_is_reported_on_backtracking_engines_and_refused_on_demand() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rule = dir.path().join("re.yml");
    std::fs::write(
        &rule,
        RULE.replace(
            "Image|endswith: '\\whoami.exe'",
            "CommandLine|re: '^(a+)+$'",
        ),
    )
    .expect("rule");
    let rule = path_str(&rule);
    for target in ["splunk", "spark"] {
        let run = sigc(&["convert", "-t", target, &rule]).run();
        assert_eq!(run.code, Some(0), "{target}: {}", run.stderr);
        assert!(
            run.stderr.contains("warning[W009]"),
            "{target}: {}",
            run.stderr
        );
        assert!(!run.out().is_empty());
        let run = sigc(&["convert", "-t", target, "--deny", "warnings", &rule]).run();
        assert_eq!(run.code, Some(1), "{target}: {}", run.stderr);
        assert!(
            run.stderr.contains("error[W009]"),
            "{target}: {}",
            run.stderr
        );
        assert!(run.out().is_empty(), "{target}: {}", run.out());
    }
    // RE2 (Kusto) does not backtrack: no warning.
    let run = sigc(&["convert", "-t", "kql", "-p", "microsoft_xdr", &rule]).run();
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert!(!run.stderr.contains("W009"), "{}", run.stderr);
}
