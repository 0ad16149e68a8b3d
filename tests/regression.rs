//! SigmaHQ's own regression tests through `sigc test --format json` over the whole corpus:
//! every test passes except the known failures below, every skip is a test whose data is not in
//! `../shared`, and the counts are the ones the corpus and this list imply (worked out here from
//! the files, not copied from sigc's output). The `.evtx` and the `.json` form of each test must
//! give the same count.

mod eval_support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use eval_support::{path_str, shared, sigc};
use serde_json::Value;

/// Rules whose regression test fails, by file stem, with the number of matches sigc finds on
/// each form of the data (checked by hand with `sigc eval --with-event`) and why that number is
/// right and `info.yml` is wrong.
const KNOWN_FAILURES: &[(&str, u64, &str)] = &[
    (
        "file_event_win_anydesk_artefact",
        3,
        "info.yml says 1, but 3 of the 5 Sysmon 11 events create \\AppData\\Roaming\\AnyDesk\\user.conf.new or user.conf~RF*.TMP, which `TargetFilename|contains: \\AppData\\Roaming\\AnyDesk\\user.conf` matches as written",
    ),
    (
        "file_event_win_cred_dump_tools_dropped_files",
        3,
        "info.yml says 1, but the events drop procdump.exe, procdump64.exe and procdump64a.exe, all three in the rule's `TargetFilename|endswith` list (the other 3 are :Zone.Identifier streams)",
    ),
];

fn known(stem: &str) -> Option<&'static (&'static str, u64, &'static str)> {
    KNOWN_FAILURES.iter().find(|k| k.0 == stem)
}

/// One `sigc test` JSON line.
#[derive(Debug)]
struct Outcome {
    path: PathBuf,
    test: String,
    status: String,
    expected: Option<u64>,
    actual: Option<u64>,
    reason: String,
}

impl Outcome {
    fn stem(&self) -> &str {
        self.path.file_stem().and_then(|s| s.to_str()).unwrap_or("")
    }
}

fn run_corpus() -> Vec<Outcome> {
    let rules = shared("corpus/sigma/rules");
    let run = sigc(&["test", "--format", "json", &path_str(&rules)]).run();
    // Failures exist (the known ones), so the exit code is 1; 2 would be a usage error.
    let expected_code = i32::from(!KNOWN_FAILURES.is_empty());
    assert_eq!(run.code, Some(expected_code), "stderr:\n{}", run.stderr);
    run.json_lines()
        .iter()
        .map(|v: &Value| Outcome {
            path: PathBuf::from(v["path"].as_str().expect("path")),
            test: v["test"].as_str().expect("test").to_string(),
            status: v["status"].as_str().expect("status").to_string(),
            expected: v["expected"].as_u64(),
            actual: v["actual"].as_u64(),
            reason: v["reason"].as_str().unwrap_or("").to_string(),
        })
        .collect()
}

/// A rule's `regression_tests_path`, unless the line is commented out.
fn regression_path(rule: &Path) -> Option<String> {
    let text = std::fs::read_to_string(rule).ok()?;
    text.lines().find_map(|l| {
        l.strip_prefix("regression_tests_path:")
            .map(|v| v.trim().trim_matches(['\'', '"']).to_string())
    })
}

fn rule_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir)
        .expect("read corpus folder")
        .flatten()
    {
        let p = e.path();
        if p.is_dir() {
            rule_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "yml") {
            out.push(p);
        }
    }
}

/// The data file paths an `info.yml` lists (`regression_tests_info[].path`).
fn info_paths(info: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(info).expect("read info.yml");
    let docs = yaml_rust2::YamlLoader::load_from_str(&text).expect("info.yml is YAML");
    docs[0]["regression_tests_info"]
        .as_vec()
        .map(|tests| {
            tests
                .iter()
                .filter_map(|t| t["path"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

#[derive(Debug, Default, PartialEq, Eq)]
struct Counts {
    pass: usize,
    fail: usize,
    skip: usize,
}

/// The counts the corpus implies: a rule whose `info.yml` is absent is one skip; otherwise each
/// test in it runs on its `.evtx` and its `.json` file (a skip where that file is absent), and
/// passes unless the rule is a known failure.
fn implied_counts() -> Counts {
    let root = shared("corpus/sigma");
    let mut rules = Vec::new();
    rule_files(&root.join("rules"), &mut rules);
    let mut c = Counts::default();
    for rule in rules {
        let Some(rel) = regression_path(&rule) else {
            continue;
        };
        let info = root.join(&rel);
        if !info.exists() {
            c.skip += 1;
            continue;
        }
        let stem = rule.file_stem().and_then(|s| s.to_str()).unwrap_or("");
        for data in info_paths(&info) {
            let evtx = root.join(&data);
            for file in [evtx.clone(), evtx.with_extension("json")] {
                if !file.exists() {
                    c.skip += 1;
                } else if known(stem).is_some() {
                    c.fail += 1;
                } else {
                    c.pass += 1;
                }
            }
        }
    }
    c
}

#[test]
fn sigmahq_regression_tests() {
    let outcomes = run_corpus();
    let root = shared("corpus/sigma");
    let mut counts = Counts::default();
    let mut unexpected = Vec::new();
    for o in &outcomes {
        match o.status.as_str() {
            "pass" => {
                counts.pass += 1;
                if known(o.stem()).is_some() {
                    unexpected.push(format!(
                        "{} {} passes now: take it off KNOWN_FAILURES",
                        o.stem(),
                        o.test
                    ));
                }
            }
            "fail" => {
                counts.fail += 1;
                match known(o.stem()) {
                    Some((_, actual, _)) if o.actual == Some(*actual) => {}
                    Some((_, actual, _)) => unexpected.push(format!(
                        "{} {}: known failure with {actual} matches, now {:?} ({})",
                        o.stem(),
                        o.test,
                        o.actual,
                        o.reason
                    )),
                    None => unexpected.push(format!(
                        "{} {}: expected {:?}, got {:?} {}",
                        o.path.display(),
                        o.test,
                        o.expected,
                        o.actual,
                        o.reason
                    )),
                }
            }
            "skip" => {
                counts.skip += 1;
                // The reason names the missing file, and it really is missing.
                let named = o
                    .reason
                    .split('`')
                    .nth(1)
                    .map(|rel| root.join(rel))
                    .or_else(|| {
                        o.reason
                            .strip_prefix("data file ")
                            .and_then(|r| r.strip_suffix(" is absent"))
                            .map(PathBuf::from)
                    });
                match named {
                    Some(p) if !p.exists() => {}
                    Some(p) => unexpected.push(format!(
                        "{} skipped for a missing {}, which exists",
                        o.stem(),
                        p.display()
                    )),
                    None => unexpected.push(format!(
                        "{} {} skipped without naming an absent data file: {:?}",
                        o.stem(),
                        o.test,
                        o.reason
                    )),
                }
            }
            s => unexpected.push(format!("{} {}: status {s:?}", o.stem(), o.test)),
        }
    }
    assert!(
        unexpected.is_empty(),
        "regression tests:\n{}",
        unexpected.join("\n")
    );
    // Every known failure still fails, on both forms of its data.
    for (stem, _, why) in KNOWN_FAILURES {
        let failing = outcomes
            .iter()
            .filter(|o| o.stem() == *stem && o.status == "fail")
            .count();
        assert_eq!(failing, 2, "{stem} ({why}) should fail on .evtx and .json");
    }
    assert_eq!(counts, implied_counts(), "pass/fail/skip counts");
    // The corpus snapshot has regression data: a run that found none is broken.
    assert!(counts.pass > 100, "{counts:?}");
}

#[test]
fn evtx_and_json_forms_agree() {
    let outcomes = run_corpus();
    // (rule, test name) → count per form.
    type Forms = Vec<(String, Option<u64>)>;
    let mut forms: BTreeMap<(PathBuf, String), Forms> = BTreeMap::new();
    for o in &outcomes {
        let Some((name, kind)) = o.test.rsplit_once(" [") else {
            continue;
        };
        if o.status == "skip" {
            continue;
        }
        forms
            .entry((o.path.clone(), name.to_string()))
            .or_default()
            .push((kind.trim_end_matches(']').to_string(), o.actual));
    }
    assert!(!forms.is_empty());
    let mut differ = Vec::new();
    for ((path, name), counts) in &forms {
        let kinds: Vec<&str> = counts.iter().map(|c| c.0.as_str()).collect();
        assert_eq!(kinds, ["evtx", "json"], "{} {name}", path.display());
        if counts[0].1 != counts[1].1 || counts[0].1.is_none() {
            differ.push(format!("{} {name}: {counts:?}", path.display()));
        }
    }
    assert!(
        differ.is_empty(),
        ".evtx and .json give different counts:\n{}",
        differ.join("\n")
    );
}
