//! Every KQL query sigc emits passes Microsoft's Kusto language service with zero diagnostics.
//!
//! `sigc convert -t kql --json` runs over the SigmaHQ corpus (`../shared/corpus/sigma/rules`),
//! the bundled `rules/` and the correlation fixtures (`tests/fixtures/correlations/` and
//! `tests/fixtures/kql_correlations/`, one file at a time, with both `--correlation-method`s;
//! these alone are also a quick test of their own), for every KQL pipeline of `backends/kql/`
//! that exists and every output format of the target; all the queries go to one `node tests/kusto/validate.js` run, which
//! parses and semantically analyses them with `@kusto/language-service-next` against the table
//! schemas of `tests/kusto/schemas/` (Defender XDR tables for `microsoft_xdr`; Log Analytics
//! tables and the ASIM parser functions for `sentinel_asim` and `sentinel`). Errors and
//! warnings count; suggestions (performance advice) do not. See `tests/kusto/README.md`.
//!
//! Needs Node.js and `tests/kusto/node_modules`: `scripts/setup-kusto.sh` installs it (the test
//! command runs it first).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use serde_json::{Value, json};
use yaml_rust2::{Yaml, YamlLoader};

/// The KQL pipelines and the schema database their queries run against.
const TARGETS: &[(&str, &str)] = &[
    ("microsoft_xdr", "xdr"),
    ("sentinel_asim", "sentinel"),
    ("sentinel", "sentinel"),
];

const CORPUS: &str = "../shared/corpus/sigma/rules";

/// How many failing queries the report prints in full (at least one of each kind).
const SHOWN: usize = 25;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn kusto_dir() -> PathBuf {
    root().join("tests/kusto")
}

/// Node.js and the language service, or a failure that says how to install them. Under
/// `scripts/test.sh --quick` (SIGC_QUICK set), which installs no npm packages, a missing service
/// skips the test instead (false).
fn require_node() -> bool {
    let installed = kusto_dir().join("node_modules/@kusto/language-service-next/package.json");
    if std::env::var_os("SIGC_QUICK").is_some() && !installed.is_file() {
        eprintln!("skipped: the Kusto language service is not installed (quick tier)");
        return false;
    }
    assert!(
        installed.is_file(),
        "{} is missing: run scripts/setup-kusto.sh (npm ci in tests/kusto) to install Microsoft's \
         Kusto language service; the test command runs it",
        installed.display()
    );
    let node = Command::new("node").arg("--version").output();
    assert!(
        node.as_ref().is_ok_and(|o| o.status.success()),
        "`node` is not runnable ({node:?}): the KQL validation needs Node.js (18 or later) on PATH"
    );
    true
}

/// One query to validate and where it came from.
struct Query {
    pipeline: &'static str,
    format: String,
    method: String,
    database: &'static str,
    path: String,
    title: String,
    query: String,
}

/// The validator's verdict on one query: its counted diagnostics.
struct Failure {
    index: usize,
    diagnostics: Vec<Value>,
}

/// Run `validate.js` over the queries; the failures, and the summary it wrote to stderr.
fn validate(queries: &[(&str, &str)]) -> (Vec<Failure>, String) {
    let mut child = Command::new("node")
        .arg(kusto_dir().join("validate.js"))
        .arg("--failures-only")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run node tests/kusto/validate.js");
    let mut input = String::new();
    for (i, (database, query)) in queries.iter().enumerate() {
        input.push_str(&json!({"id": i, "database": database, "query": query}).to_string());
        input.push('\n');
    }
    let mut stdin = child.stdin.take().expect("validator stdin");
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let out = child.wait_with_output().expect("validator output");
    writer
        .join()
        .expect("stdin writer")
        .expect("write the queries to the validator");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let code = out.status.code();
    assert!(
        matches!(code, Some(0 | 1)) && stderr.contains("kusto validate: "),
        "validate.js failed (exit {code:?}):\n{stderr}"
    );
    let failures: Vec<Failure> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|line| {
            let v: Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("validator wrote a bad line {line:?}: {e}"));
            Failure {
                index: v["id"].as_u64().expect("id") as usize,
                diagnostics: v["diagnostics"].as_array().cloned().unwrap_or_default(),
            }
        })
        .collect();
    assert_eq!(
        code == Some(1),
        !failures.is_empty(),
        "exit code and output disagree:\n{stderr}"
    );
    (failures, stderr)
}

/// The formats of the KQL target, from the error that names them for an unknown one.
fn formats() -> Vec<String> {
    let out = Command::new(env!("CARGO_BIN_EXE_sigc"))
        .current_dir(root())
        .args(["convert", "-t", "kql", "-f", "sigc-no-such-format", "rules"])
        .output()
        .expect("run sigc");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let list = stderr
        .lines()
        .find_map(|l| l.split_once("formats: ").map(|(_, f)| f.trim().to_string()))
        .unwrap_or_else(|| panic!("sigc did not list the kql formats:\n{stderr}"));
    list.split(',').map(|f| f.trim().to_string()).collect()
}

/// The KQL inside one converted rule: the whole text for `default`, otherwise the `query`
/// (`queryText`) value of the YAML or JSON document the format writes.
fn extract(format: &str, text: &str) -> Option<String> {
    if format == "default" {
        return Some(text.to_string());
    }
    fn find(y: &Yaml) -> Option<String> {
        match y {
            Yaml::Hash(h) => {
                for key in ["query", "queryText", "QueryText", "Query"] {
                    if let Some(Yaml::String(s)) = h.get(&Yaml::String(key.into())) {
                        return Some(s.clone());
                    }
                }
                h.values().find_map(find)
            }
            Yaml::Array(a) => a.iter().find_map(find),
            _ => None,
        }
    }
    let docs = YamlLoader::load_from_str(text).ok()?;
    docs.iter().find_map(find)
}

/// The correlation fixtures (each file a correlation and the rules it uses), relative paths:
/// the shared ones and the KQL-only ones.
fn correlation_fixtures() -> Vec<String> {
    let mut files = Vec::new();
    for dir in [
        "tests/fixtures/correlations",
        "tests/fixtures/kql_correlations",
    ] {
        let entries =
            std::fs::read_dir(root().join(dir)).unwrap_or_else(|e| panic!("read {dir}: {e}"));
        files.extend(
            entries
                .filter_map(|e| e.ok()?.file_name().into_string().ok())
                .filter(|n| n.ends_with(".yml") && !n.ends_with(".tests.yml"))
                .map(|n| format!("{dir}/{n}")),
        );
    }
    files.sort();
    files
}

/// The correlation window methods (`--correlation-method`).
const METHODS: &[&str] = &["buckets", "sliding"];

/// Convert `inputs` with one pipeline, format and correlation method: the number of queries
/// (added to `queries`) and of refused rules, and the rules whose output holds no recognisable
/// query.
fn convert(
    pipeline: &'static str,
    database: &'static str,
    file: &Path,
    format: &str,
    method: &str,
    inputs: &[String],
    queries: &mut Vec<Query>,
) -> (usize, usize, Vec<String>) {
    let out = Command::new(env!("CARGO_BIN_EXE_sigc"))
        .current_dir(root())
        .args(["convert", "-t", "kql", "--json", "-f", format])
        .args(["--correlation-method", method, "-p"])
        .arg(file)
        .args(inputs)
        .output()
        .expect("run sigc");
    let code = out.status.code();
    assert!(
        matches!(code, Some(0 | 1)),
        "sigc convert -t kql -f {format} -p {pipeline} exited {code:?}:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (mut converted, mut refused) = (0, 0);
    let mut unreadable = Vec::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let v: Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("sigc --json wrote a bad line {line:?}: {e}"));
        // A template format puts its rendered document under `output`.
        let Some(text) = v["query"].as_str().or_else(|| v["output"].as_str()) else {
            refused += 1;
            continue;
        };
        let path = v["path"].as_str().unwrap_or("?").to_string();
        match extract(format, text) {
            Some(query) => {
                converted += 1;
                queries.push(Query {
                    pipeline,
                    format: format.to_string(),
                    method: method.to_string(),
                    database,
                    path,
                    title: v["title"].as_str().unwrap_or("").to_string(),
                    query,
                });
            }
            None => unreadable.push(path),
        }
    }
    (converted, refused, unreadable)
}

/// A diagnostic's kind, as the summary groups them: severity, code, message without names.
fn kind(d: &Value) -> String {
    let message = d["message"].as_str().unwrap_or("");
    let mut out = String::new();
    let mut quoted = false;
    for c in message.lines().next().unwrap_or("").chars() {
        if c == '\'' {
            quoted = !quoted;
            out.push_str(if quoted { "'…" } else { "'" });
        } else if !quoted {
            out.push(c);
        }
    }
    format!(
        "{} {}: {out}",
        d["severity"].as_str().unwrap_or("?"),
        d["code"].as_str().unwrap_or("?")
    )
}

/// The query around a diagnostic, on one line.
fn excerpt(query: &str, d: &Value) -> String {
    let start = d["start"].as_u64().unwrap_or(0) as usize;
    // The validator's offsets count UTF-16 code units (JavaScript strings).
    let mut units = 0;
    let mut byte = query.len();
    for (i, c) in query.char_indices() {
        if units >= start {
            byte = i;
            break;
        }
        units += c.len_utf16();
    }
    let from = query[..byte]
        .char_indices()
        .rev()
        .nth(120)
        .map_or(0, |(i, _)| i);
    let to = query[byte..]
        .char_indices()
        .nth(160)
        .map_or(query.len(), |(i, _)| byte + i);
    format!(
        "{}{}{}",
        if from > 0 { "…" } else { "" },
        query[from..to].replace('\n', " "),
        if to < query.len() { "…" } else { "" }
    )
}

#[test]
#[cfg_attr(
    debug_assertions,
    ignore = "a minute and more in a debug build: scripts/test.sh runs it in release"
)]
fn every_emitted_query_passes_the_kusto_language_service() {
    if !require_node() {
        return;
    }
    assert!(
        root().join(CORPUS).is_dir(),
        "{CORPUS} is missing: the KQL validation needs ../shared (the SigmaHQ corpus) beside this \
         checkout, as CI has it"
    );
    let formats = formats();
    let mut queries = Vec::new();
    let mut pipelines = 0;
    for &(pipeline, database) in TARGETS {
        let file = root().join(format!("backends/kql/{pipeline}.yml"));
        if !file.is_file() {
            println!("skipped {pipeline}: backends/kql/{pipeline}.yml does not exist yet");
            continue;
        }
        pipelines += 1;
        for format in &formats {
            // The corpus and the bundled rules in one run; each correlation fixture on its own
            // (the fixtures reuse rule names across files), with each window method.
            let mut runs: Vec<(&str, Vec<String>)> =
                vec![("buckets", vec![CORPUS.into(), "rules".into()])];
            for f in correlation_fixtures() {
                runs.extend(METHODS.iter().map(|m| (*m, vec![f.clone()])));
            }
            let (mut converted, mut refused) = (0, 0);
            for (method, inputs) in &runs {
                let (c, r, unreadable) = convert(
                    pipeline,
                    database,
                    &file,
                    format,
                    method,
                    inputs,
                    &mut queries,
                );
                assert!(
                    unreadable.is_empty(),
                    "-f {format}: no query (a `query` or `queryText` value) found in the output \
                     of {} rules, e.g. {}",
                    unreadable.len(),
                    unreadable[0]
                );
                converted += c;
                refused += r;
            }
            println!(
                "{pipeline} -f {format}: {converted} queries ({refused} rules refused), \
                 validated against the `{database}` schemas"
            );
        }
    }
    if pipelines == 0 {
        println!("no KQL pipeline under backends/kql/ yet: nothing to validate");
        return;
    }
    assert!(!queries.is_empty(), "no rule converted to KQL");

    let started = Instant::now();
    let input: Vec<(&str, &str)> = queries
        .iter()
        .map(|q| (q.database, q.query.as_str()))
        .collect();
    let (failures, summary) = validate(&input);
    println!(
        "validated {} queries in {:.1} s\n{summary}",
        queries.len(),
        started.elapsed().as_secs_f64()
    );
    if failures.is_empty() {
        return;
    }
    panic!("{}", report(&queries, &failures));
}

/// The correlation queries alone, with both window methods and every pipeline: quick enough
/// for a debug build, so the sliding windows' joins are checked on every `cargo test`.
#[test]
fn every_correlation_query_passes_the_kusto_language_service() {
    if !require_node() {
        return;
    }
    let mut queries = Vec::new();
    for &(pipeline, database) in TARGETS {
        let file = root().join(format!("backends/kql/{pipeline}.yml"));
        for method in METHODS {
            for f in correlation_fixtures() {
                let (_, _, unreadable) = convert(
                    pipeline,
                    database,
                    &file,
                    "default",
                    method,
                    &[f],
                    &mut queries,
                );
                assert!(unreadable.is_empty(), "{unreadable:?}");
            }
        }
    }
    // The sliding form is there to be checked: every pipeline converts some fixtures with it.
    for &(pipeline, _) in TARGETS {
        let sliding = queries
            .iter()
            .filter(|q| q.pipeline == pipeline && q.query.contains("sigc_window_end"))
            .count();
        assert!(
            sliding >= 4,
            "{pipeline}: only {sliding} sliding correlation queries"
        );
    }
    let input: Vec<(&str, &str)> = queries
        .iter()
        .map(|q| (q.database, q.query.as_str()))
        .collect();
    let (failures, summary) = validate(&input);
    println!("{summary}");
    assert!(failures.is_empty(), "{}", report(&queries, &failures));
}

/// The failures, for a person: each kind of diagnostic with the number of queries that have
/// it, then the failing queries (the first of each kind first) around each diagnostic.
fn report(queries: &[Query], failures: &[Failure]) -> String {
    // Kinds of diagnostic, each with the number of queries and the first one that has it.
    let mut kinds: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    for (n, f) in failures.iter().enumerate() {
        let mut seen = std::collections::HashSet::new();
        for d in &f.diagnostics {
            let k = kind(d);
            if seen.insert(k.clone()) {
                kinds.entry(k).or_insert((0, n)).0 += 1;
            }
        }
    }
    let mut report = format!(
        "{} of {} KQL queries have Kusto diagnostics.\n\nBy kind (queries, first example):\n",
        failures.len(),
        queries.len()
    );
    let mut by_count: Vec<_> = kinds.iter().collect();
    by_count.sort_by_key(|k| std::cmp::Reverse(k.1.0));
    // Shown in full: the first query of each kind, then more in input order, up to SHOWN.
    let mut shown: Vec<usize> = Vec::new();
    for (k, (count, first)) in &by_count {
        let q = &queries[failures[*first].index];
        report.push_str(&format!(
            "  {count:5}  {k}\n         e.g. {} ({} -f {})\n",
            q.path, q.pipeline, q.format
        ));
        if !shown.contains(first) {
            shown.push(*first);
        }
    }
    for n in 0..failures.len() {
        if shown.len() >= SHOWN.max(by_count.len()) {
            break;
        }
        if !shown.contains(&n) {
            shown.push(n);
        }
    }
    report.push_str(&format!(
        "\n{} failing queries (the first of each kind first):\n",
        shown.len()
    ));
    for &n in &shown {
        let f = &failures[n];
        let q = &queries[f.index];
        report.push_str(&format!(
            "\n{} ({}) [{} -f {} --correlation-method {}, database {}]\n",
            q.path, q.title, q.pipeline, q.format, q.method, q.database
        ));
        for d in f.diagnostics.iter().take(5) {
            report.push_str(&format!(
                "  {} {} at {}: {}\n    {}\n",
                d["severity"].as_str().unwrap_or("?"),
                d["code"].as_str().unwrap_or("?"),
                d["start"],
                d["message"].as_str().unwrap_or("").replace('\n', " "),
                excerpt(&q.query, d)
            ));
        }
        if f.diagnostics.len() > 5 {
            report.push_str(&format!("  ... and {} more\n", f.diagnostics.len() - 5));
        }
    }
    report
}

/// The harness itself: the validator flags broken queries in both databases and passes good
/// ones, so that a green run above means something.
#[test]
fn the_validator_flags_broken_queries() {
    if !require_node() {
        return;
    }
    let cases: &[(&str, &str, Option<&str>)] = &[
        (
            "xdr",
            "DeviceProcessEvents | where FolderPath endswith @'\\cmd.exe'",
            None,
        ),
        (
            "xdr",
            "DeviceProcessEvents | where ProcessCommandLine has_any ('a', 'b') and ProcessId == 4",
            None,
        ),
        (
            "xdr",
            "DeviceProcessEvents | where Image endswith 'cmd.exe'",
            Some("KS142"),
        ),
        (
            "xdr",
            "DeviceProcessEvents | where FolderPath endswith 'x' |",
            Some("KS176"),
        ),
        (
            "xdr",
            "DeviceProcessEvents | where LogonId =~ '0x3e7'",
            Some("KS106"),
        ),
        (
            "xdr",
            "SecurityEvent | where EventID == 4688",
            Some("KS204"),
        ),
        (
            "xdr",
            "DeviceProcessEvents | where isnull(FolderPath)",
            Some("KS501"),
        ),
        (
            "sentinel",
            "SecurityEvent | where EventID == 4688 and NewProcessName endswith 'x'",
            None,
        ),
        (
            "sentinel",
            "imProcessCreate | where TargetProcessName endswith 'x'",
            None,
        ),
        (
            "sentinel",
            "imProcessCreate(starttime=ago(1d)) | where TargetProcessCommandLine contains 'x'",
            None,
        ),
        (
            "sentinel",
            "imProcessCreate | where FolderPath endswith 'x'",
            Some("KS142"),
        ),
        (
            "sentinel",
            "imDns | where DnsQuery matches regex '(?i)^x$'",
            None,
        ),
        ("sentinel", "DeviceProcessEvents0 | take 1", Some("KS204")),
    ];
    let input: Vec<(&str, &str)> = cases.iter().map(|(db, q, _)| (*db, *q)).collect();
    let (failures, summary) = validate(&input);
    let mut failed: BTreeMap<usize, Vec<String>> = BTreeMap::new();
    for f in failures {
        let codes = f
            .diagnostics
            .iter()
            .map(|d| d["code"].as_str().unwrap_or("?").to_string())
            .collect();
        failed.insert(f.index, codes);
    }
    for (i, (db, query, expected)) in cases.iter().enumerate() {
        let got = failed.get(&i);
        match expected {
            None => assert!(
                got.is_none(),
                "{db}: {query}: unexpected {got:?}\n{summary}"
            ),
            Some(code) => assert!(
                got.is_some_and(|c| c.iter().any(|c| c == code)),
                "{db}: {query}: expected {code}, got {got:?}\n{summary}"
            ),
        }
    }
}

/// Every schema names the tables' source in tests/kusto/README.md.
#[test]
fn every_schema_is_listed_in_the_readme() {
    let readme = std::fs::read_to_string(kusto_dir().join("README.md")).expect("README.md");
    let mut missing = Vec::new();
    for entry in std::fs::read_dir(kusto_dir().join("schemas")).expect("schemas/") {
        let path = entry.expect("entry").path();
        let name = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("")
            .to_string();
        let schema: Value = serde_json::from_str(&std::fs::read_to_string(&path).expect("read"))
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert_eq!(
            schema["name"].as_str(),
            Some(name.as_str()),
            "{}",
            path.display()
        );
        assert!(
            schema["sources"].as_array().is_some_and(|s| !s.is_empty()),
            "{}: no sources",
            path.display()
        );
        if !readme.contains(&format!("`{name}`")) {
            missing.push(name);
        }
    }
    assert!(
        missing.is_empty(),
        "not in tests/kusto/README.md: {missing:?}"
    );
}
