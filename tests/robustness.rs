//! Hostile and broken input, each through the built binary with a watchdog: sigc must answer
//! with a clear diagnostic and exit code 1, never panic (101), overflow its stack (a signal)
//! or hang. The time bound only catches hangs; it is not a speed test.

use std::io::{Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// Far above what any of these inputs needs in a debug build on a loaded 2-core machine.
const DEADLINE: Duration = Duration::from_secs(60);

struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Run {
    /// The JSON reports of `check --format json`, one per document.
    fn docs(&self) -> Vec<Value> {
        self.stdout
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad JSON {l:?}: {e}")))
            .collect()
    }

    /// Every diagnostic of every document.
    fn diagnostics(&self) -> Vec<Value> {
        self.docs()
            .iter()
            .flat_map(|d| d["diagnostics"].as_array().cloned().unwrap_or_default())
            .collect()
    }
}

/// Run sigc, killing it if it outlives [`DEADLINE`].
fn sigc(args: &[&str]) -> Run {
    let mut child = Command::new(env!("CARGO_BIN_EXE_sigc"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn sigc");
    // Drain the pipes on threads so a chatty child cannot block on a full pipe.
    let mut out = child.stdout.take().expect("stdout");
    let mut err = child.stderr.take().expect("stderr");
    let out_t = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = out.read_to_end(&mut s);
        s
    });
    let err_t = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = err.read_to_end(&mut s);
        s
    });
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for sigc") {
            break status;
        }
        if start.elapsed() > DEADLINE {
            let _ = child.kill();
            let _ = child.wait();
            panic!("sigc {args:?} still running after {DEADLINE:?}: killed");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let run = Run {
        code: status.code(),
        stdout: String::from_utf8_lossy(&out_t.join().expect("stdout thread")).into_owned(),
        stderr: String::from_utf8_lossy(&err_t.join().expect("stderr thread")).into_owned(),
    };
    assert!(
        !run.stderr.contains("panicked") && !run.stderr.contains("stack overflow"),
        "sigc {args:?} crashed:\n{}",
        run.stderr
    );
    run
}

/// `check --format json` on one file: exit code 1 and an error with `code` among the
/// diagnostics. Returns that diagnostic.
fn check_rejects(path: &Path, code: &str) -> Value {
    let run = sigc(&["check", "--format", "json", &path.to_string_lossy()]);
    assert_eq!(
        run.code,
        Some(1),
        "exit code for {}; stderr:\n{}",
        path.display(),
        run.stderr
    );
    let diags = run.diagnostics();
    let found = diags
        .iter()
        .find(|d| d["code"] == code && d["severity"] == "error")
        .unwrap_or_else(|| panic!("no error {code} for {}: {diags:?}", path.display()))
        .clone();
    assert!(
        found["message"].as_str().is_some_and(|m| m.len() > 10),
        "unclear message: {found}"
    );
    // The text renderer must cope with the same input.
    let text = sigc(&["check", &path.to_string_lossy()]);
    assert_eq!(text.code, Some(1));
    assert!(
        text.stdout.contains(&format!("error[{code}]")),
        "{}",
        text.stdout
    );
    found
}

fn write(dir: &tempfile::TempDir, name: &str, bytes: &[u8]) -> std::path::PathBuf {
    let path = dir.path().join(name);
    std::fs::write(&path, bytes).expect("write temp file");
    path
}

/// A valid rule with `condition` set to the given text (a plain YAML scalar).
fn rule_with_condition(condition: &str) -> String {
    format!(
        "title: t\nlogsource:\n    product: windows\ndetection:\n    sel:\n        a: b\n    condition: {condition}\n"
    )
}

#[test]
fn malformed_yaml() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(
        &dir,
        "bad.yml",
        b"title: [unclosed\nlogsource: {product: windows\n",
    );
    check_rejects(&p, "E010");
}

#[test]
fn alias_bomb() {
    // "Billion laughs": 9 levels of 9 aliases each would expand to 9^9 strings.
    let mut text = String::from(
        "a0: &a0 [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n",
    );
    for i in 1..=9 {
        let p = i - 1;
        let refs = vec![format!("*a{p}"); 9].join(",");
        text.push_str(&format!("a{i}: &a{i} [{refs}]\n"));
    }
    let dir = tempfile::tempdir().unwrap();
    let p = write(&dir, "bomb.yml", text.as_bytes());
    check_rejects(&p, "E011");
}

#[test]
fn condition_with_10000_parentheses() {
    let cond = format!("{}sel{}", "(".repeat(10_000), ")".repeat(10_000));
    let dir = tempfile::tempdir().unwrap();
    let p = write(&dir, "parens.yml", rule_with_condition(&cond).as_bytes());
    let d = check_rejects(&p, "E044");
    assert_eq!(d["line"], 7, "points into the condition line: {d}");
}

#[test]
fn condition_with_10000_nots() {
    let cond = format!("{}sel", "not ".repeat(10_000));
    let dir = tempfile::tempdir().unwrap();
    let p = write(&dir, "nots.yml", rule_with_condition(&cond).as_bytes());
    let d = check_rejects(&p, "E044");
    assert_eq!(d["line"], 7, "points into the condition line: {d}");
}

#[test]
fn condition_at_the_depth_limit_still_loads() {
    // Just inside the limit (the grammar's MAX_DEPTH is 128): a real, if silly, condition.
    let cond = format!("{}sel{}", "(".repeat(100), ")".repeat(100));
    let dir = tempfile::tempdir().unwrap();
    let p = write(&dir, "ok.yml", rule_with_condition(&cond).as_bytes());
    let run = sigc(&["check", "--format", "json", &p.to_string_lossy()]);
    assert_eq!(run.code, Some(0), "{}", run.stdout);
}

#[test]
fn file_of_100_mb() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("huge.yml");
    let mut f = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
    f.write_all(b"title: huge\n").unwrap();
    let line = format!("# {}\n", "x".repeat(1022));
    for _ in 0..100 * 1024 {
        f.write_all(line.as_bytes()).unwrap();
    }
    f.flush().unwrap();
    drop(f);
    assert!(std::fs::metadata(&path).unwrap().len() >= 100 * 1024 * 1024);
    let d = check_rejects(&path, "E003");
    assert!(d["message"].as_str().unwrap().contains("16 MiB"), "{d}");
}

#[test]
fn file_just_under_the_cap_is_read() {
    // 16 MiB exactly is allowed (the cap refuses what is larger): it parses, and fails only
    // for being no Sigma rule, not for its size.
    let dir = tempfile::tempdir().unwrap();
    let mut text = String::from(
        "title: t\nlogsource: {product: windows}\ndetection:\n    sel: {a: b}\n    condition: sel\n",
    );
    let pad = 16 * 1024 * 1024 - text.len();
    text.push_str(&format!("#{}", "x".repeat(pad - 2)));
    text.push('\n');
    assert_eq!(text.len(), 16 * 1024 * 1024);
    let p = write(&dir, "big.yml", text.as_bytes());
    let run = sigc(&["check", "--format", "json", &p.to_string_lossy()]);
    assert_eq!(run.code, Some(0), "{}", run.stdout);
}

#[test]
fn non_utf8_bytes() {
    // Line 3 is `  product: wä` + 0xFF: 13 characters precede the bad byte, so it is at
    // column 14 (`ä` counts as one column although it is two bytes).
    let mut bytes = b"title: t\nlogsource:\n  product: w".to_vec();
    bytes.extend_from_slice("ä".as_bytes());
    bytes.push(0xFF);
    bytes.extend_from_slice(b"indows\ndetection:\n  sel: {a: b}\n  condition: sel\n");
    let dir = tempfile::tempdir().unwrap();
    let p = write(&dir, "latin1.yml", &bytes);
    let d = check_rejects(&p, "E002");
    assert_eq!(
        (d["line"].as_u64(), d["column"].as_u64()),
        (Some(3), Some(14))
    );
    assert!(d["message"].as_str().unwrap().contains("0xff"), "{d}");
}

#[test]
fn non_utf8_on_the_first_byte() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(&dir, "bom16.yml", b"\xff\xfet\x00i\x00");
    let d = check_rejects(&p, "E002");
    assert_eq!(
        (d["line"].as_u64(), d["column"].as_u64()),
        (Some(1), Some(1))
    );
}

#[test]
fn empty_file() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(&dir, "empty.yml", b"");
    check_rejects(&p, "E020");
    let p = write(&dir, "comments.yml", b"# nothing here\n---\n# nor here\n");
    check_rejects(&p, "E020");
}

#[test]
fn document_that_is_a_list() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(&dir, "list.yml", b"- title: t\n- logsource: {}\n");
    let d = check_rejects(&p, "E020");
    assert_eq!(
        (d["line"].as_u64(), d["column"].as_u64()),
        (Some(1), Some(1))
    );
}

#[test]
fn deep_yaml_nesting() {
    let dir = tempfile::tempdir().unwrap();
    // Flow style, closed: yaml-rust2's scanner has its own limit; either way it is E011.
    let flow = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    check_rejects(&write(&dir, "flow.yml", flow.as_bytes()), "E011");
    // Flow style, never closed.
    check_rejects(
        &write(&dir, "open.yml", "{a: ".repeat(10_000).as_bytes()),
        "E011",
    );
    // Block style: 200 nested maps under a real rule's detection.
    let mut block = String::from("title: t\nlogsource: {product: windows}\ndetection:\n");
    for i in 0..200 {
        block.push_str(&format!("{}k{i}:\n", "  ".repeat(i + 1)));
    }
    block.push_str("  condition: k0\n");
    check_rejects(&write(&dir, "block.yml", block.as_bytes()), "E011");
}

#[test]
fn folder_with_a_good_and_a_bad_rule() {
    let dir = tempfile::tempdir().unwrap();
    write(&dir, "a_good.yml", rule_with_condition("sel").as_bytes());
    write(
        &dir,
        "b_bad.yml",
        rule_with_condition("sel and nope").as_bytes(),
    );
    let run = sigc(&["check", "--format", "json", &dir.path().to_string_lossy()]);
    assert_eq!(run.code, Some(1), "one bad rule fails the run");
    let docs = run.docs();
    assert_eq!(docs.len(), 2, "both rules reported: {}", run.stdout);
    let by_name = |n: &str| {
        docs.iter()
            .find(|d| d["path"].as_str().is_some_and(|p| p.ends_with(n)))
            .unwrap_or_else(|| panic!("no report for {n}"))
            .clone()
    };
    let good = by_name("a_good.yml");
    assert_eq!(good["status"], "ok", "{good}");
    assert_eq!(good["diagnostics"], serde_json::json!([]));
    let bad = by_name("b_bad.yml");
    assert_eq!(bad["status"], "error", "{bad}");
    assert_eq!(bad["diagnostics"][0]["code"], "E041");
    // The text summary counts both.
    let text = sigc(&["check", &dir.path().to_string_lossy()]);
    assert!(
        text.stdout
            .contains("checked 2 documents: 1 ok, 1 with errors"),
        "{}",
        text.stdout
    );
}

/// Correlations chained 40 deep, each naming the previous one twice: the reference-cycle
/// check once walked every path (2^40) and never finished.
#[test]
fn correlation_chain_with_shared_references() {
    let mut docs = vec![
        "title: base\nname: r0\nlogsource: {product: windows}\ndetection:\n    sel: {a: 1}\n    condition: sel\n".to_string(),
        "title: c0\nname: c0\ncorrelation:\n    type: event_count\n    rules: [r0]\n    timespan: 1m\n    condition: {gte: 1}\n".to_string(),
    ];
    for i in 1..40 {
        let p = i - 1;
        docs.push(format!(
            "title: c{i}\nname: c{i}\ncorrelation:\n    type: event_count\n    rules: [c{p}, c{p}]\n    timespan: 1m\n    condition: {{gte: 1}}\n"
        ));
    }
    let dir = tempfile::tempdir().unwrap();
    let p = write(&dir, "chain.yml", docs.join("---\n").as_bytes());
    let run = sigc(&["check", "--format", "json", &p.to_string_lossy()]);
    assert_eq!(run.code, Some(0), "{}", run.stdout);
    assert_eq!(run.docs().len(), 41);
}

/// A correlation that reaches itself is an error (E053) for every correlation on the loop, and
/// only for those.
#[test]
fn correlation_cycles_are_errors() {
    let text = "\
title: base
name: r0
logsource: {product: windows}
detection:
    sel: {a: 1}
    condition: sel
---
title: a
name: a
correlation: {type: event_count, rules: [b], timespan: 1m, condition: {gte: 1}}
---
title: b
name: b
correlation: {type: event_count, rules: [a, r0], timespan: 1m, condition: {gte: 1}}
---
title: self
name: self
correlation: {type: event_count, rules: [self], timespan: 1m, condition: {gte: 1}}
---
title: outside
name: outside
correlation: {type: event_count, rules: [a], timespan: 1m, condition: {gte: 1}}
";
    let dir = tempfile::tempdir().unwrap();
    let p = write(&dir, "cycle.yml", text.as_bytes());
    let run = sigc(&["check", "--format", "json", &p.to_string_lossy()]);
    assert_eq!(run.code, Some(1));
    let status: Vec<(String, String, Vec<String>)> = run
        .docs()
        .iter()
        .map(|d| {
            let codes = d["diagnostics"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x["code"].as_str().unwrap().to_string())
                .collect();
            (
                d["title"].as_str().unwrap().to_string(),
                d["status"].as_str().unwrap().to_string(),
                codes,
            )
        })
        .collect();
    let get = |t: &str| status.iter().find(|s| s.0 == t).unwrap().clone();
    assert_eq!(get("base").1, "ok");
    for t in ["a", "b", "self"] {
        let (_, st, codes) = get(t);
        assert_eq!(st, "error", "{t}");
        assert!(codes.contains(&"E053".to_string()), "{t}: {codes:?}");
    }
    // `outside` references the loop but is not on it: no cycle error of its own.
    assert!(
        !get("outside").2.contains(&"E053".to_string()),
        "{status:?}"
    );
}

/// Run sigc under an address-space limit (MiB), so an input that makes it allocate without
/// bound fails fast instead of taking the machine down.
fn sigc_limited(mem_mib: u64, args: &[&str]) -> Run {
    let script = format!("ulimit -v {}; exec \"$0\" \"$@\"", mem_mib * 1024);
    let mut all = vec!["-c", script.as_str(), env!("CARGO_BIN_EXE_sigc")];
    all.extend_from_slice(args);
    let out = Command::new("sh")
        .args(&all)
        .stdin(Stdio::null())
        .output()
        .expect("run sh");
    Run {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Regression (fixed in 15cff3b): `windash` capped the variants of one value (6 flags,
/// 5^6 = 15,625) but not of a field: 200 such values (a 7.6 KB file) took 15 s and 1.3 GB in a
/// release build; 2,000 values (76 KB) would need ~13 GB. Now a clear error (E032, too many
/// alternatives) within 1 GiB.
#[test]
fn windash_expansion_is_bounded_per_field() {
    let values: String = (0..2000)
        .map(|i| format!("            - ' -a{i} -b -c -d -e -f'\n"))
        .collect();
    let text = format!(
        "title: t\nlogsource: {{product: windows}}\ndetection:\n    sel:\n        CommandLine|windash|contains:\n{values}    condition: sel\n"
    );
    let dir = tempfile::tempdir().unwrap();
    let p = write(&dir, "windash.yml", text.as_bytes());
    let run = sigc_limited(1024, &["check", "--format", "json", &p.to_string_lossy()]);
    assert_eq!(run.code, Some(1), "stderr: {}", run.stderr);
    assert!(run.stdout.contains("E032"), "{}", run.stdout);
}

/// Regression (fixed in 15cff3b): every reference to a search in the condition cloned its
/// whole expression before duplicates were dropped, so `sel and sel and ...` multiplied memory
/// by the number of references: 5,000 references to a 1,000-value search (61 KB) took 0.9 GB.
/// The rule is valid and must load in bounded memory.
#[test]
fn repeated_references_load_in_bounded_memory() {
    let values: String = (0..1000)
        .map(|i| format!("            - 'v{i}'\n"))
        .collect();
    let cond = vec!["sel"; 50_000].join(" and ");
    let text = format!(
        "title: t\nlogsource: {{product: windows}}\ndetection:\n    sel:\n        CommandLine|contains:\n{values}    condition: {cond}\n"
    );
    let dir = tempfile::tempdir().unwrap();
    let p = write(&dir, "refs.yml", text.as_bytes());
    let run = sigc_limited(1024, &["check", "--format", "json", &p.to_string_lossy()]);
    assert_eq!(run.code, Some(0), "stderr: {}", run.stderr);
}

/// Regression (fixed in 15cff3b), spec: "`null` cannot be part of a list of field values"
/// (rules spec, § Detection); sigc used to accept `[null, 'x']` and OR a null test in.
#[test]
fn null_in_a_value_list_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(
        &dir,
        "null_list.yml",
        b"title: t\nlogsource: {product: windows}\ndetection:\n    sel:\n        User:\n            - null\n            - 'admin'\n    condition: sel\n",
    );
    let run = sigc(&["check", "--format", "json", &p.to_string_lossy()]);
    assert_eq!(run.code, Some(1), "{}", run.stdout);
}

/// Regression (fixed in 15cff3b): a correlation naming a rule that failed to load reported
/// `ok`, and a backend would then meet a reference to a document with no IR.
#[test]
fn correlation_on_a_failed_rule_fails() {
    let text = "\
title: broken
name: broken
logsource: {product: windows}
detection:
    sel: {a: 1}
    condition: sel and nope
---
title: corr
correlation: {type: event_count, rules: [broken], timespan: 1m, condition: {gte: 1}}
";
    let dir = tempfile::tempdir().unwrap();
    let p = write(&dir, "failed_ref.yml", text.as_bytes());
    let run = sigc(&["check", "--format", "json", &p.to_string_lossy()]);
    let docs = run.docs();
    let corr = docs.iter().find(|d| d["title"] == "corr").unwrap();
    assert_eq!(corr["status"], "error", "{corr}");
}
