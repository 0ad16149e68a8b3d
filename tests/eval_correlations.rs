//! Correlation rules through `sigc eval`: every type, group-by, aliases, chains, order, window
//! edges, `generate`, routing of group-by fields, and matches that cannot take part. Fixtures:
//! `tests/fixtures/eval/correlations/<case>.yml` with `<case>.jsonl` events.

use std::process::Command;

use serde_json::Value;

const DIR: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/eval/correlations"
);

struct Run {
    lines: Vec<Value>,
    stderr: String,
    code: Option<i32>,
}

fn eval_with(rules: &str, events: &str, extra: &[&str]) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_sigc"))
        .arg("eval")
        .args(extra)
        .arg(format!("{DIR}/{events}.jsonl"))
        .arg("--rules")
        .arg(format!("{DIR}/{rules}.yml"))
        .output()
        .expect("run sigc");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let lines = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    Run {
        lines,
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        code: out.status.code(),
    }
}

fn eval(case: &str) -> Run {
    eval_with(case, case, &[])
}

impl Run {
    /// Reports of one correlation as `(group values, window end, value)`.
    fn reports(&self, title: &str) -> Vec<(String, String, Value)> {
        self.lines
            .iter()
            .filter(|l| l.get("correlation").is_some() && l["title"] == title)
            .map(|l| {
                let group = l["group"]
                    .as_object()
                    .map(|g| {
                        g.values()
                            .map(|v| v.as_str().unwrap_or("?").to_string())
                            .collect::<Vec<_>>()
                            .join("/")
                    })
                    .unwrap_or_default();
                let end = l["window_end"].as_str().unwrap_or("").to_string();
                (group, end, l["value"].clone())
            })
            .collect()
    }

    /// Titles of the base matches printed, in order.
    fn matches(&self) -> Vec<String> {
        self.lines
            .iter()
            .filter(|l| l.get("correlation").is_none())
            .map(|l| l["title"].as_str().unwrap_or("").to_string())
            .collect()
    }
}

fn r(group: &str, end: &str, value: impl Into<Value>) -> (String, String, Value) {
    (
        group.to_string(),
        format!("2024-05-01T{end}Z"),
        value.into(),
    )
}

#[test]
fn event_count_slides_and_reports_once_per_timespan() {
    let run = eval("counts");
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert_eq!(
        run.reports("Brute force on one account"),
        vec![
            // alice: 0 s, 4 s, 10 s just fit in 10 s; her fourth failure is in the reported
            // timespan. bob's third failure is 1 ms too late. dave is reported again once a
            // window starts after his first report.
            r("alice", "10:00:10", 3),
            r("dave", "10:00:32", 3),
            r("dave", "10:00:47", 3),
        ]
    );
}

#[test]
fn event_count_range_condition() {
    let run = eval("counts");
    assert_eq!(
        run.reports("Three failures, no more"),
        vec![
            r("alice", "10:00:10", 3),
            r("bob", "10:00:10.001", 3),
            r("dave", "10:00:32", 3),
        ]
    );
}

#[test]
fn referenced_rules_stay_quiet_and_hits_without_group_are_noted() {
    let run = eval("counts");
    assert!(run.matches().is_empty(), "{:?}", run.matches());
    assert!(
        run.stderr
            .contains("2 correlation hits lacked a group-by field"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("6 correlation reports from 2 of 2 correlations"),
        "{}",
        run.stderr
    );
}

#[test]
fn value_count() {
    let run = eval("values");
    // 203.0.113.8's third user comes 61 s after its first.
    assert_eq!(
        run.reports("Password spray from one address"),
        vec![r("203.0.113.7", "10:00:05", 3)]
    );
}

#[test]
fn value_sum_and_value_avg() {
    let run = eval("values");
    // h1: 600 + (n/a) + 300 + 200; h2: 100 + 200 + 900.
    assert_eq!(
        run.reports("Large upload volume"),
        vec![r("h2", "10:00:03", 1200), r("h1", "10:00:50", 1100)]
    );
    assert_eq!(
        run.reports("Large average upload"),
        vec![r("h1", "10:00:00", 600), r("h2", "10:00:04", 550)]
    );
}

#[test]
fn value_percentile_share_and_percentile_key() {
    let run = eval("values");
    // rare.exe is 1 of 11 processes on w1 (9.1%), 1 of 6 on w2.
    assert_eq!(
        run.reports("Rare process on a host"),
        vec![r("w1", "10:00:20", 100.0 / 11.0)]
    );
    // p90 of nine 10s and one 900 is 10; with a second 900 it is 900.
    assert_eq!(
        run.reports("Slow responses"),
        vec![r("s1", "10:00:41", 900)]
    );
}

#[test]
fn temporal_any_order_within_the_timespan() {
    let run = eval("temporal");
    // a: in any order; b: the third rule 1 s too late; c: exactly 5 min apart.
    assert_eq!(
        run.reports("Recon burst"),
        vec![r("a", "10:02:00", 3), r("c", "10:21:40", 3)]
    );
}

#[test]
fn temporal_ordered_in_and_out_of_order() {
    let run = eval("temporal");
    // alice: failure, success. bob: success, failure (wrong order). carol: success, failure,
    // success (the second success follows the failure). dave: 61 s apart.
    assert_eq!(
        run.reports("Logon after a failure"),
        vec![r("carol", "10:33:40", 2), r("alice", "10:33:50", 2)]
    );
}

#[test]
fn boolean_conditions() {
    let run = eval("temporal");
    assert_eq!(
        run.reports("Failure without success"),
        vec![r("alice", "10:33:20", 1), r("dave", "10:35:00", 1)]
    );
    // (whoami or net) before ipconfig: a ran ipconfig first; b's net user and ipconfig are
    // 4 min 51 s apart; c ran all three in order.
    assert_eq!(
        run.reports("Recon ending in ipconfig"),
        vec![r("b", "10:05:01", 2), r("c", "10:21:40", 3)]
    );
}

#[test]
fn out_of_order_input_within_and_beyond_the_timespan() {
    let run = eval_with("temporal", "late", &[]);
    // erin's failure arrives after her success but happened 30 s before it: in order by
    // event time. frank's failure arrives 2 min late: dropped and counted.
    assert_eq!(
        run.reports("Logon after a failure"),
        vec![r("erin", "11:00:30", 2)]
    );
    assert!(
        run.stderr
            .contains("2 correlation hits came more than a timespan out of time order"),
        "{}",
        run.stderr
    );
}

#[test]
fn aliases_read_each_rules_own_field() {
    let run = eval("aliases");
    // The connection at 1 s comes from another address, the one at 2 s goes the wrong way.
    assert_eq!(
        run.reports("Error followed by a connection between the same addresses"),
        vec![r("10.0.0.5/203.0.113.9", "10:00:05", 2)]
    );
    let line = run
        .lines
        .iter()
        .find(|l| l.get("correlation").is_some())
        .expect("a report");
    assert_eq!(line["group"]["internal_ip"], "10.0.0.5");
    assert_eq!(line["group"]["remote_ip"], "203.0.113.9");
}

/// `--fields` writes the fields correlations read as well (here the aliases' `source.ip` and
/// `destination.ip`, which no rule tests), flat: what another engine needs to run them.
#[test]
fn fields_include_what_correlations_read() {
    let run = eval_with("aliases", "aliases", &["--fields"]);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert_eq!(run.lines.len(), 4);
    let first = &run.lines[0];
    assert_eq!(first["source.ip"], "203.0.113.9");
    assert_eq!(first["destination.ip"], "10.0.0.5");
    assert_eq!(first["http.response.status_code"], "500");
}

#[test]
fn chained_correlations() {
    let run = eval("chain");
    assert_eq!(
        run.reports("Logon after many failures"),
        vec![r("alice", "10:01:00", 2)]
    );
    // The inner correlation reports (alice and bob) feed the outer one but do not print.
    assert!(run.reports("Many failed logons").is_empty());
    assert!(
        run.stderr
            .contains("2            Many failed logons (correlation)"),
        "{}",
        run.stderr
    );
    assert!(run.matches().is_empty());
}

#[test]
fn generate_prints_the_referenced_rules() {
    let run = eval("generate");
    assert_eq!(
        run.matches(),
        vec!["Failed logon", "Failed logon", "Administrator logon"]
    );
    assert_eq!(run.reports("Two failures"), vec![r("alice", "10:00:01", 2)]);
    assert_eq!(
        run.reports("Any success"),
        vec![r("administrator", "10:00:02", 1)]
    );
}

#[test]
fn group_by_follows_the_routes() {
    // Sysmon's Image and Security 4688's NewProcessName land in one group, each event with
    // its own timestamp field and format.
    let run = eval("routes");
    assert_eq!(
        run.reports("Mimikatz started twice from one path"),
        vec![r("C:\\Tools\\mimikatz.exe", "10:00:20.123", 2)]
    );
}

#[test]
fn matches_without_a_timestamp_take_no_part() {
    let run = eval("untimed");
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert_eq!(run.reports("Two failures"), vec![r("alice", "10:00:01", 2)]);
    assert!(
        run.stderr
            .contains("2 matches of correlated rules have no readable timestamp (first: ")
            && run.stderr.contains("untimed.jsonl:1)"),
        "{}",
        run.stderr
    );
    assert_eq!(run.stderr.matches("no readable timestamp").count(), 1);
}

#[test]
fn a_correlation_over_an_unevaluated_rule_is_skipped() {
    let run = eval("skipped");
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert!(
        run.stderr
            .contains("correlation `Failure near something unroutable` is skipped: `unroutable`"),
        "{}",
        run.stderr
    );
    // Nothing of it runs, and it hides none of its rules.
    assert_eq!(run.matches(), vec!["Failed logon"]);
    assert!(run.lines.iter().all(|l| l.get("correlation").is_none()));
}

#[test]
fn report_fields() {
    let run = eval("temporal");
    let line = run
        .lines
        .iter()
        .find(|l| l["title"] == "Recon burst")
        .expect("a report");
    assert_eq!(line["correlation"], "temporal");
    assert_eq!(line["level"], "high");
    assert_eq!(line["timespan"], "5m");
    assert_eq!(line["window_start"], "2024-05-01T10:00:00Z");
    assert_eq!(line["window_end"], "2024-05-01T10:02:00Z");
    assert_eq!(line["timestamp"], line["window_end"]);
    assert_eq!(line["events"], 3);
    assert_eq!(
        line["rules_fired"],
        serde_json::json!(["recon_whoami", "recon_net", "recon_ipconfig"])
    );
    assert!(
        line["source"]
            .as_str()
            .is_some_and(|s| s.ends_with("temporal.jsonl"))
    );
    assert_eq!(line["record"], 5);
}

#[test]
fn output_does_not_depend_on_threads() {
    for case in ["counts", "values", "temporal", "chain"] {
        let one = eval_with(case, case, &["--threads", "1"]);
        let two = eval_with(case, case, &["--threads", "2"]);
        assert_eq!(one.lines, two.lines, "{case}");
    }
}
