//! `sigc convert -t spark` on a real Spark (PySpark from PyPI, `local[2]`), checked against
//! sigc's evaluator. One test, because local Spark takes ~15 s to start and every step batches
//! its work into one Spark run (`tests/spark/driver.py`, or the generated job itself):
//!
//! 1. Every corpus and bundled rule converts or is refused with a reason (the refusals are
//!    Windows log sources no route maps, which the evaluator does not run either), and every
//!    emitted `SELECT` is analysed by Spark (`EXPLAIN`) without error.
//! 2. The one-scan `pyspark_job` for the whole rule set, over the SigmaHQ regression events and
//!    a fixed sample of the Security-Datasets events (every sixth event of the stream, and the
//!    first of every archive: over 100,000 events from every archive), selects for every rule
//!    exactly the events `sigc eval` selects. Spark reads the events as `sigc eval --fields`
//!    writes them (the fields the rules read, named as they read them); `sigc eval` reads the
//!    original files.
//! 3. The per-rule `SELECT`s, over the regression events and the first 50,000 sampled events,
//!    select what the one-scan job selects there. Batched 50 to a `UNION ALL`, each query over
//!    a view narrowed to the columns it names (a view with every column the corpus names makes
//!    Spark's planning of a batch slow and exhausts the driver's memory).
//! 4. The Threat Hunter Playbook's analytics (seed 001): the SQL sigc emits for the bundled
//!    rules returns the rows the playbook's own SQL returns on `empire_psremoting_stager.zip`.
//! 5. Correlations (sliding windows) over the evaluator's correlation fixtures report what
//!    `sigc eval` reports (`spark_correlations`).
//!
//! Needs `SIGC_SPARK_PYTHON` (a Python with PySpark; `scripts/test.sh` installs one under
//! `target/spark-venv`) or that venv. Run: `cargo test --release --test spark_engine --
//! --nocapture`; disagreements go to `target/tmp/spark_disagreements.jsonl`.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use serde_json::Value;

const SIGC: &str = env!("CARGO_BIN_EXE_sigc");
const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const SAMPLE_EVERY: usize = 6;
const SELECT_SAMPLE: usize = 50_000;

fn shared(rel: &str) -> String {
    let p = Path::new(ROOT).join("../shared").join(rel);
    assert!(
        p.exists(),
        "{} is missing: ../shared must sit beside the checkout",
        p.display()
    );
    p.display().to_string()
}

fn python() -> PathBuf {
    let p = std::env::var_os("SIGC_SPARK_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(ROOT).join("target/spark-venv/bin/python"));
    assert!(
        p.exists(),
        "no PySpark at {} (run scripts/setup-spark.sh)",
        p.display()
    );
    p
}

fn sigc(args: &[&str]) -> String {
    let o = Command::new(SIGC)
        .args(args)
        .output()
        .expect("running sigc");
    assert!(
        o.status.code().is_some_and(|c| c <= 1),
        "sigc {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).expect("utf-8")
}

fn driver(cmd: &str, input: &Path, events: &Path, out: &Path) {
    let st = Command::new(python())
        .env("PYSPARK_SUBMIT_ARGS", "--driver-memory 6g pyspark-shell")
        .arg(Path::new(ROOT).join("tests/spark/driver.py"))
        .args([
            cmd.as_ref(),
            input.as_os_str(),
            events.as_os_str(),
            out.as_os_str(),
        ])
        .stdout(Stdio::null())
        .status()
        .expect("running the Spark driver");
    assert!(st.success(), "driver {cmd} failed");
}

/// An empty folder `name` under the tests' temporary folder (left behind for inspection).
fn fresh_dir(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn json_lines(path: &Path) -> Vec<Value> {
    let f = std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    BufReader::new(f)
        .lines()
        .map(|l| serde_json::from_str(&l.unwrap()).unwrap())
        .collect()
}

/// (rule id, event source, event index).
type Hit = (String, String, u64);

fn hit(rule: &Value, source: &Value, index: &Value) -> Hit {
    let index = match index {
        Value::Number(n) => n.as_u64().unwrap(),
        Value::String(s) => s.parse().unwrap(),
        other => panic!("index {other}"),
    };
    (
        rule.as_str().unwrap().to_string(),
        source.as_str().unwrap().to_string(),
        index,
    )
}

#[test]
#[cfg_attr(
    debug_assertions,
    ignore = "minutes of Spark: scripts/test.sh runs it in release"
)]
fn spark_engine() {
    let tmp = fresh_dir("spark");
    let rules = [shared("corpus/sigma/rules"), format!("{ROOT}/rules")];
    let rule_args: Vec<&str> = rules.iter().map(String::as_str).collect();

    // 1. Conversion, and Spark's analysis of every query.
    let t = Instant::now();
    let mut args = vec!["convert", "-t", "spark", "--json"];
    args.extend(&rule_args);
    // Correlation rules (the pack has one) select windows, not events: Spark analyses their
    // queries below, and `spark_correlations` compares what they select.
    let mut check_args = vec!["check", "--format", "json"];
    check_args.extend(&rule_args);
    let correlations: HashSet<String> = sigc(&check_args)
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|v| v["kind"] == "correlation")
        .filter_map(|v| v["id"].as_str().map(str::to_string))
        .collect();
    let mut queries = Vec::new();
    let mut correlation_queries = Vec::new();
    let mut refused = Vec::new();
    for line in sigc(&args).lines() {
        let v: Value = serde_json::from_str(line).unwrap();
        let key = v["id"]
            .as_str()
            .unwrap_or_else(|| v["title"].as_str().unwrap())
            .to_string();
        match (v["query"].as_str(), v["error"].as_str()) {
            (Some(q), _) if correlations.contains(&key) => {
                correlation_queries.push(serde_json::json!({"key": key, "query": q}));
            }
            (Some(q), _) => queries.push(serde_json::json!({"key": key, "query": q})),
            (None, Some(e)) => refused.push(format!("{}: {e}", v["path"])),
            _ => panic!("{line}"),
        }
    }
    println!(
        "converted {} rules, refused {}:",
        queries.len(),
        refused.len()
    );
    for r in &refused {
        println!("  {r}");
        assert!(
            r.contains("no route for the log source"),
            "unexpected refusal {r}"
        );
    }
    assert!(queries.len() >= 3_100, "{} queries", queries.len());
    let qfile = tmp.join("queries.jsonl");
    write_lines(&qfile, queries.iter().map(Value::to_string));
    // Spark also analyses the pack's correlations and the correlation fixtures, with both
    // window methods.
    let mut analysed = queries.clone();
    analysed.extend(correlation_queries);
    // Each fixture on its own: they reuse rule names across files.
    let mut fixtures: Vec<PathBuf> =
        std::fs::read_dir(format!("{ROOT}/tests/fixtures/correlations"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
    fixtures.sort();
    for fixture in &fixtures {
        for method in ["buckets", "sliding"] {
            let f = fixture.to_str().unwrap();
            let args = [
                "convert",
                "-t",
                "spark",
                "--json",
                "--correlation-method",
                method,
                f,
            ];
            for line in sigc(&args).lines() {
                let v: Value = serde_json::from_str(line).unwrap();
                if let Some(q) = v["query"].as_str().filter(|q| q.starts_with("WITH ")) {
                    let key = format!("{} ({method})", v["path"].as_str().unwrap_or_default());
                    analysed.push(serde_json::json!({"key": key, "query": q}));
                }
            }
        }
    }
    assert!(
        analysed.len() >= queries.len() + 16,
        "correlation fixtures missing"
    );
    let afile = tmp.join("analysed.jsonl");
    write_lines(&afile, analysed.iter().map(Value::to_string));

    // Events: the regression data and the sample, as the rules read them.
    let fields = |inputs: &[String]| {
        let mut a = vec!["eval".to_string()];
        for r in &rules {
            a.extend(["--rules".to_string(), r.clone()]);
        }
        a.push("--fields".into());
        a.extend(inputs.iter().cloned());
        Command::new(SIGC)
            .args(&a)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("sigc eval --fields")
    };
    let mut lines: Vec<String> = Vec::new();
    let mut regression = fields(&[shared("corpus/sigma/regression_data")]);
    lines.extend(
        BufReader::new(regression.stdout.take().unwrap())
            .lines()
            .map(Result::unwrap),
    );
    regression.wait().unwrap();
    let n_regression = lines.len();
    let mut datasets = fields(&[shared("datasets")]);
    let mut last_source = String::new();
    let mut n_datasets = 0;
    for (i, line) in BufReader::new(datasets.stdout.take().unwrap())
        .lines()
        .enumerate()
    {
        let line = line.unwrap();
        n_datasets += 1;
        let v: Value = serde_json::from_str(&line).unwrap();
        let source = v["sigc_source"].as_str().unwrap();
        if i % SAMPLE_EVERY == 0 || source != last_source {
            last_source = source.to_string();
            lines.push(line);
        }
    }
    datasets.wait().unwrap();
    let n_sample = lines.len() - n_regression;
    println!(
        "events: {n_regression} regression, {n_sample} of {n_datasets} Security-Datasets events"
    );
    assert!(n_sample >= 100_000, "sample of {n_sample}");
    let events = tmp.join("events.jsonl");
    write_lines(&events, lines.iter().cloned());
    let small = tmp.join("events_small.jsonl");
    write_lines(
        &small,
        lines.iter().take(n_regression + SELECT_SAMPLE).cloned(),
    );
    let keys: HashSet<(String, u64)> = lines
        .iter()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            let (_, s, i) = hit(&Value::from(""), &v["sigc_source"], &v["sigc_index"]);
            (s, i)
        })
        .collect();
    drop(lines);
    println!("prepared in {:.1?}", t.elapsed());

    let t = Instant::now();
    let analysis = tmp.join("analysis.jsonl");
    driver("analyse", &afile, &small, &analysis);
    let errors = json_lines(&analysis);
    for e in errors.iter().take(10) {
        println!("Spark rejects {}: {}", e["key"], e["error"]);
    }
    assert!(errors.is_empty(), "{} queries Spark rejects", errors.len());
    println!("analysed {} queries in {:.1?}", analysed.len(), t.elapsed());

    // 2. The one-scan job against the evaluator.
    let t = Instant::now();
    let job = tmp.join("job.py");
    let mut args = vec![
        "convert",
        "-t",
        "spark",
        "-f",
        "pyspark_job",
        "-o",
        job.to_str().unwrap(),
    ];
    args.extend(&rule_args);
    sigc(&args);
    let out = tmp.join("job_out");
    // Local mode runs the job in the driver: give it the memory a 3,000-rule plan needs.
    let st = Command::new(python())
        .env("PYSPARK_SUBMIT_ARGS", "--driver-memory 6g pyspark-shell")
        .arg(&job)
        .args([
            "--input",
            events.to_str().unwrap(),
            "--output",
            out.to_str().unwrap(),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("running the job");
    assert!(st.success(), "the pyspark job failed");
    let mut job_hits: HashSet<Hit> = HashSet::new();
    for f in std::fs::read_dir(&out).unwrap() {
        let p = f.unwrap().path();
        if p.extension().is_some_and(|e| e == "json") {
            for v in json_lines(&p) {
                job_hits.insert(hit(&v["rule_id"], &v["sigc_source"], &v["sigc_index"]));
            }
        }
    }
    println!(
        "one-scan job: {} matches in {:.1?}",
        job_hits.len(),
        t.elapsed()
    );
    let mut args = vec!["eval"];
    for r in &rule_args {
        args.extend(["--rules", r]);
    }
    let regression_data = shared("corpus/sigma/regression_data");
    let datasets_dir = shared("datasets");
    args.extend(["--", &regression_data, &datasets_dir]);
    let eval_hits: HashSet<Hit> = sigc(&args)
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            hit(&v["rule_id"], &v["source"], &v["record"])
        })
        .filter(|(_, s, i)| keys.contains(&(s.clone(), *i)))
        .collect();
    let disagreements = report("one-scan job", &job_hits, &eval_hits, &tmp);
    assert_eq!(disagreements, 0, "the one-scan job and sigc eval disagree");

    // 3. Per-rule SELECTs against the one-scan job, on the smaller sample.
    let t = Instant::now();
    let selected = tmp.join("selected.jsonl");
    driver("select", &qfile, &small, &selected);
    let small_keys: HashSet<(String, u64)> = json_lines(&small)
        .iter()
        .map(|v| {
            let (_, s, i) = hit(&Value::from(""), &v["sigc_source"], &v["sigc_index"]);
            (s, i)
        })
        .collect();
    let select_hits: HashSet<Hit> = json_lines(&selected)
        .iter()
        .map(|v| hit(&v["key"], &v["source"], &v["index"]))
        .collect();
    let job_small: HashSet<Hit> = job_hits
        .iter()
        .filter(|(_, s, i)| small_keys.contains(&(s.clone(), *i)))
        .cloned()
        .collect();
    println!(
        "per-rule SELECTs: {} matches in {:.1?}",
        select_hits.len(),
        t.elapsed()
    );
    assert_eq!(
        report("per-rule SELECTs", &select_hits, &job_small, &tmp),
        0
    );
}

/// 4. The playbook's analytics (seed 001) on `empire_psremoting_stager.zip`.
#[test]
#[cfg_attr(
    debug_assertions,
    ignore = "a minute of Spark: scripts/test.sh runs it in release"
)]
fn spark_playbook() {
    let tmp = fresh_dir("spark_playbook");
    playbook(&tmp);
}

/// Step 5, correlations: every sliding-window query sigc writes for the evaluator's
/// correlation fixtures (`tests/fixtures/eval/correlations/<case>.yml` with `<case>.jsonl`),
/// run on Spark over the fixture's events, reports what `sigc eval` reports. Spark returns
/// every event whose window holds the condition; the evaluator reports the first of them per
/// group and then the next one more than a timespan later (its module documentation), so the
/// Spark rows go through that same rule before the two are compared, as (correlation, group
/// values, window end).
#[test]
#[cfg_attr(
    debug_assertions,
    ignore = "half a minute of Spark: scripts/test.sh runs it in release"
)]
fn spark_correlations() {
    let tmp = fresh_dir("spark_correlations");
    let dir = Path::new(ROOT).join("tests/fixtures/eval/correlations");
    let mut cases: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| {
            let p = e.unwrap().path();
            let stem = p.file_stem()?.to_str()?.to_string();
            (p.extension()? == "yml" && dir.join(format!("{stem}.jsonl")).exists()).then_some(stem)
        })
        .collect();
    cases.sort();
    // key → (group-by columns, timespan in ms), for the correlations Spark has a form for.
    let mut shape: BTreeMap<String, (Vec<String>, i64)> = BTreeMap::new();
    let mut queries = Vec::new();
    let mut eval_reports: BTreeSet<Report> = BTreeSet::new();
    for case in &cases {
        let rules = dir.join(format!("{case}.yml")).display().to_string();
        let raw_events = dir.join(format!("{case}.jsonl")).display().to_string();
        // Spark reads the events as the rules and correlations read them (flat names), as the
        // one-scan step does.
        let events = tmp.join(format!("{case}.jsonl"));
        std::fs::write(
            &events,
            sigc(&["eval", "--rules", &rules, "--fields", &raw_events]),
        )
        .unwrap();
        let events = events.display().to_string();
        // The evaluator prints a correlation that another one uses only with `generate: true`
        // (the spec's meaning); Spark runs each correlation on its own, so the evaluator's run
        // shows them all. `generate` changes what is printed, not what is reported.
        let shown = tmp.join(format!("{case}.yml"));
        let text = std::fs::read_to_string(&rules).unwrap();
        let text: String = text
            .lines()
            .filter(|l| !l.trim_start().starts_with("generate:"))
            .flat_map(|l| {
                let extra = (l == "correlation:").then_some("    generate: true");
                std::iter::once(l).chain(extra)
            })
            .map(|l| format!("{l}\n"))
            .collect();
        std::fs::write(&shown, text).unwrap();
        let shown = shown.display().to_string();
        let args = [
            "convert",
            "-t",
            "spark",
            "--correlation-method",
            "sliding",
            "--json",
            &rules,
        ];
        for line in sigc(&args).lines() {
            let v: Value = serde_json::from_str(line).unwrap();
            let key = format!("{case}/{}", v["title"].as_str().unwrap_or_default());
            match v["query"].as_str() {
                Some(q) if q.starts_with("WITH ") => {
                    shape.insert(key.clone(), window_shape(q));
                    queries.push(serde_json::json!({"key": key, "query": q, "events": events}));
                }
                Some(_) => {}
                None => println!("not compared: {key}: {}", v["error"]),
            }
        }
        for line in sigc(&["eval", &raw_events, "--rules", &shown]).lines() {
            let v: Value = serde_json::from_str(line).unwrap();
            if v.get("correlation").is_none() {
                continue;
            }
            let key = format!("{case}/{}", v["title"].as_str().unwrap());
            let group: Vec<String> = v["group"]
                .as_object()
                .map(|g| {
                    let mut kv: Vec<String> = g
                        .iter()
                        .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("?")))
                        .collect();
                    kv.sort();
                    kv
                })
                .unwrap_or_default();
            let end = epoch_ms(v["window_end"].as_str().unwrap());
            eval_reports.insert((key, group, end));
        }
    }
    eval_reports.retain(|(key, _, _)| shape.contains_key(key));
    let qfile = tmp.join("correlations.jsonl");
    write_lines(&qfile, queries.iter().map(Value::to_string));
    let out = tmp.join("rows.jsonl");
    driver("correlate", &qfile, Path::new("-"), &out);

    // Spark's rows per (correlation, group), in time order; then the evaluator's reporting rule.
    let mut rows: BTreeMap<(String, Vec<String>), Vec<i64>> = BTreeMap::new();
    for v in json_lines(&out) {
        let key = v["key"].as_str().unwrap().to_string();
        let (columns, _) = &shape[&key];
        let mut group: Vec<String> = columns
            .iter()
            .map(|c| format!("{c}={}", v["row"][c].as_str().unwrap_or("?")))
            .collect();
        group.sort();
        rows.entry((key, group))
            .or_default()
            .push(v["ms"].as_i64().unwrap());
    }
    let mut spark_reports: BTreeSet<Report> = BTreeSet::new();
    for ((key, group), mut times) in rows {
        let span = shape[&key].1;
        times.sort_unstable();
        let mut last: Option<i64> = None;
        for t in times {
            if last.is_none_or(|l| t > l + span) {
                spark_reports.insert((key.clone(), group.clone(), t));
                last = Some(t);
            }
        }
    }
    println!(
        "correlations: {} compared, {} reports from sigc eval, {} from Spark",
        shape.len(),
        eval_reports.len(),
        spark_reports.len()
    );
    for r in spark_reports.symmetric_difference(&eval_reports) {
        let side = if spark_reports.contains(r) {
            "Spark"
        } else {
            "sigc eval"
        };
        println!("  only {side}: {} {:?} at {} ms", r.0, r.1, r.2);
    }
    assert!(shape.len() >= 12, "{} correlations compared", shape.len());
    assert!(eval_reports.len() >= 12, "too few reports to compare");
    assert_eq!(spark_reports, eval_reports, "Spark and sigc eval disagree");
}

/// One correlation report: (case/title, sorted `field=value` group, window end in epoch ms).
type Report = (String, Vec<String>, i64);

/// The group-by columns and the timespan (ms) of a sliding-window query, read from its
/// `PARTITION BY ... ORDER BY sigc_time RANGE BETWEEN INTERVAL N SECONDS PRECEDING`.
fn window_shape(query: &str) -> (Vec<String>, i64) {
    let (_, rest) = query
        .split_once("RANGE BETWEEN INTERVAL ")
        .expect("a sliding window");
    let seconds: i64 = rest.split_whitespace().next().unwrap().parse().unwrap();
    let columns = query
        .split_once("PARTITION BY ")
        .and_then(|(_, r)| r.split_once(" ORDER BY"))
        .map(|(cols, _)| {
            cols.split(", ")
                .map(|c| c.trim_matches('`').replace("``", "`"))
                .collect()
        })
        .unwrap_or_default();
    (columns, seconds * 1000)
}

/// A report's RFC 3339 time as epoch milliseconds.
fn epoch_ms(s: &str) -> i64 {
    s.parse::<jiff::Timestamp>()
        .unwrap_or_else(|e| panic!("{s}: {e}"))
        .as_millisecond()
}

/// Print and record the differences; their count.
fn report(what: &str, spark: &HashSet<Hit>, eval: &HashSet<Hit>, tmp: &Path) -> usize {
    let only_spark: BTreeSet<&Hit> = spark.difference(eval).collect();
    let only_eval: BTreeSet<&Hit> = eval.difference(spark).collect();
    println!(
        "{what}: {} agreed, {} only in Spark, {} only in the other",
        spark.intersection(eval).count(),
        only_spark.len(),
        only_eval.len()
    );
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(tmp.join("spark_disagreements.jsonl"))
        .unwrap();
    for (side, set) in [("spark", &only_spark), ("other", &only_eval)] {
        for (r, s, i) in set.iter() {
            if set.len() < 20 {
                println!("  {what}: only {side}: rule {r} event {s}:{i}");
            }
            let _ = writeln!(
                f,
                "{}",
                serde_json::json!({"check": what, "only": side, "rule": r, "source": s, "index": i})
            );
        }
    }
    only_spark.len() + only_eval.len()
}

fn write_lines(path: &Path, lines: impl Iterator<Item = String>) {
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    for l in lines {
        writeln!(f, "{l}").unwrap();
    }
}

/// The playbook's SQL (seed 001), as published, for each analytic, with the bundled rules that
/// express it. The playbook names the classic PowerShell log `Windows PowerShell/Operational`;
/// the channel is `Windows PowerShell` (the dataset's event 400 is in it), so Analytic I is also
/// run with that name corrected: sigc's rules must return what the corrected SQL returns, and
/// the published SQL's rows must be among them. Analytic V's SQL leaves out only NETWORK
/// SERVICE where its pandas query and its text also leave out SYSTEM: the rule follows the
/// text, so it is compared with SYSTEM left out, and its rows must be among the published ones.
const ANALYTICS: &[(&str, &str, &[&str])] = &[
    (
        "I",
        r#"SELECT `@timestamp`, Hostname, Channel
FROM dataTable
WHERE (Channel = "Microsoft-Windows-PowerShell/Operational" OR Channel = "Windows PowerShell/Operational")
AND (EventID = 400 OR EventID = 4103)
AND Message LIKE "%HostApplication%wsmprovhost%""#,
        &["powershell/posh_pc_wsmprovhost_session_host.yml"],
    ),
    (
        "II",
        r#"SELECT `@timestamp`, Hostname, Application, SourceAddress, DestAddress, LayerName
FROM dataTable
WHERE LOWER(Channel) = "security"
AND EventID = 5156
AND (DestPort = 5985 OR DestPort = 5986)
AND LayerRTID = 44"#,
        &["builtin/win_security_winrm_inbound_connection.yml"],
    ),
    (
        "III+IV",
        r#"SELECT `@timestamp`, Hostname, ParentProcessName, NewProcessName, ParentImage, Image FROM (
SELECT `@timestamp`, Hostname, ParentProcessName, NewProcessName, NULL AS ParentImage, NULL AS Image
FROM dataTable
WHERE LOWER(Channel) = "security"
      AND EventID = 4688
      AND (ParentProcessName LIKE "%wsmprovhost.exe" OR NewProcessName LIKE "%wsmprovhost.exe")
UNION ALL
SELECT `@timestamp`, Hostname, NULL, NULL, ParentImage, Image
FROM dataTable
WHERE Channel = "Microsoft-Windows-Sysmon/Operational"
      AND EventID = 1
      AND (ParentImage LIKE "%wsmprovhost.exe" OR Image LIKE "%wsmprovhost.exe"))"#,
        &["process_creation/proc_creation_win_wsmprovhost_session_process.yml"],
    ),
    (
        "V",
        r#"SELECT `@timestamp`, Hostname, User, Initiated, Image, SourceIp, DestinationIp
FROM dataTable
WHERE Channel = "Microsoft-Windows-Sysmon/Operational"
      AND EventID = 3
      AND (DestinationPort = 5985 OR DestinationPort = 5986)
      AND NOT User = "NT AUTHORITY\\NETWORK SERVICE""#,
        &["network_connection/net_connection_win_winrm_outbound.yml"],
    ),
];

fn playbook(tmp: &Path) {
    let zip = shared(
        "datasets/security-datasets/atomic/windows/lateral_movement/host/empire_psremoting_stager.zip",
    );
    let dir = tmp.join("playbook");
    std::fs::create_dir_all(&dir).unwrap();
    // The dataset as the playbook reads it: the archive's JSON lines, types inferred.
    let st = Command::new(python())
        .args(["-c", "import sys, zipfile; z = zipfile.ZipFile(sys.argv[1]); open(sys.argv[2], 'wb').write(z.read(z.namelist()[0]))"])
        .arg(&zip)
        .arg(dir.join("dataset.json"))
        .status()
        .unwrap();
    assert!(st.success());
    let mut rows: HashMap<String, Vec<String>> = HashMap::new();
    let mut run = |name: &str, sql: &str| {
        let q = dir.join(format!("{name}.sql"));
        std::fs::write(&q, sql).unwrap();
        let out = dir.join(format!("{name}.out"));
        driver("sql", &q, &dir.join("dataset.json"), &out);
        let mut r: Vec<String> = json_lines(&out).iter().map(Value::to_string).collect();
        r.sort();
        rows.insert(name.to_string(), r);
    };
    for (name, sql, rule_files) in ANALYTICS {
        let columns = sql
            .split_once("SELECT ")
            .and_then(|(_, rest)| rest.split_once('\n'))
            .map(|(cols, _)| cols.trim_end_matches(" FROM (").to_string())
            .unwrap();
        let mut parts = Vec::new();
        for f in *rule_files {
            let q = sigc(&[
                "convert",
                "-t",
                "spark",
                "--table",
                "dataTable",
                &format!("{ROOT}/rules/windows/{f}"),
            ]);
            parts.push(format!("SELECT {columns} FROM (\n{}\n)", q.trim()));
        }
        run(&format!("sigc_{name}"), &parts.join("\nUNION ALL\n"));
        run(&format!("playbook_{name}"), sql);
        if *name == "V" {
            // The playbook's pandas query (and its text) also leave out SYSTEM; its SQL forgot.
            run(
                "playbook_V_corrected",
                &format!("{sql}\n      AND NOT User = \"NT AUTHORITY\\\\SYSTEM\""),
            );
        }
        if *name == "I" {
            run(
                "playbook_I_corrected",
                &sql.replace("Windows PowerShell/Operational", "Windows PowerShell"),
            );
        }
    }
    for (name, _, _) in ANALYTICS {
        let sigc_rows = &rows[&format!("sigc_{name}")];
        let published = &rows[&format!("playbook_{name}")];
        println!(
            "Analytic {name}: sigc {} rows, playbook {} rows",
            sigc_rows.len(),
            published.len()
        );
        if *name == "I" {
            let corrected = &rows["playbook_I_corrected"];
            assert_eq!(
                sigc_rows, corrected,
                "Analytic I against the corrected playbook SQL"
            );
            assert!(published.iter().all(|r| sigc_rows.contains(r)));
            assert!(
                !sigc_rows.is_empty(),
                "the dataset's event 400 from wsmprovhost"
            );
        } else if *name == "V" {
            let corrected = &rows["playbook_V_corrected"];
            assert_eq!(
                sigc_rows, corrected,
                "Analytic V against the playbook's pandas logic"
            );
            assert!(sigc_rows.iter().all(|r| published.contains(r)));
        } else {
            assert_eq!(sigc_rows, published, "Analytic {name}");
        }
    }
}
