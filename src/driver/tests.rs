//! Rules' tests, run without printing: SigmaHQ regression data and `<rule>.tests.yml` files.
//!
//! Two kinds of tests:
//! - SigmaHQ regression tests: a rule's `regression_tests_path` names an `info.yml` (relative
//!   to the repository root, found by walking up from the rule) whose `regression_tests_info`
//!   entries name event files and the expected `match_count` (at least one match when absent).
//!   Each test runs on its `.evtx` file and on the `.json` export beside it, when present.
//! - sigc's own format, for `rules/`: a file `<rule>.tests.yml` beside `<rule>.yml` with
//!   `match:` (events the rule must match) and `no_match:` (events it must not), each a list
//!   of events written as YAML maps of field to value (flat, as Security-Datasets writes them).
//!
//! A test whose data file is absent is skipped with the reason, not failed.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::eval::engine::{self, Options, Sink};
use crate::eval::event::Event;
use crate::eval::input::ReadError;
use crate::eval::{json, vm::Vm};
use crate::ir::rule::RuleIr;
use crate::load::RuleSet;
use crate::pipeline::Pipelines;
use crate::source::SourceFile;
use crate::yaml::{self, Node, NodeKind};

/// One test's result.
#[derive(Debug)]
pub(crate) struct Outcome {
    pub(crate) rule_id: String,
    pub(crate) path: String,
    pub(crate) test: String,
    /// `pass`, `fail` or `skip`.
    pub(crate) status: &'static str,
    pub(crate) expected: Option<u64>,
    pub(crate) actual: Option<u64>,
    pub(crate) reason: Option<String>,
}

/// Every test of every rule of the set, in rule order; a document that does not load is one
/// failed test (`load`) with its first error, so no rule is left out of the report.
pub(crate) fn run(set: &RuleSet, routes: &[Pipelines]) -> Vec<Outcome> {
    let mut outcomes: Vec<Outcome> = set
        .docs
        .iter()
        .filter(|d| d.failed())
        .map(|d| Outcome {
            rule_id: d.id.clone().unwrap_or_default(),
            path: d.path.clone(),
            test: "load".into(),
            status: "fail",
            expected: None,
            actual: None,
            reason: Some(
                d.diagnostics
                    .iter()
                    .find(|x| x.is_error())
                    .map_or_else(|| "the document did not load".into(), ToString::to_string),
            ),
        })
        .collect();
    for rule in set.rules() {
        if let Some(rel) = rule.header.get_str("regression_tests_path") {
            regression(rule, rel, routes, &mut outcomes);
        }
        own_tests(rule, routes, &mut outcomes);
    }
    outcomes
}

fn outcome(rule: &RuleIr, test: String) -> Outcome {
    Outcome {
        rule_id: rule.header.id.clone().unwrap_or_default(),
        path: rule.origin.file.path.clone(),
        test,
        status: "skip",
        expected: None,
        actual: None,
        reason: None,
    }
}

fn rule_vm(rule: &Arc<RuleIr>, routes: &[Pipelines]) -> Result<Vm, String> {
    let (program, problems) = engine::compile(std::slice::from_ref(rule), routes);
    if let Some(p) = problems.first() {
        // A rule left out of evaluation (no route) cannot pass its tests either.
        return Err(p.message.clone());
    }
    Vm::new(program)
}

/// Find `rel` under an ancestor folder of the rule file.
fn find_up(rule_path: &Path, rel: &str) -> Option<(PathBuf, PathBuf)> {
    rule_path.ancestors().skip(1).find_map(|dir| {
        let p = dir.join(rel);
        p.exists().then(|| (dir.to_path_buf(), p))
    })
}

fn regression(rule: &Arc<RuleIr>, rel: &str, routes: &[Pipelines], out: &mut Vec<Outcome>) {
    let rule_path = PathBuf::from(&rule.origin.file.path);
    let Some((root, info_path)) = find_up(&rule_path, rel) else {
        let mut o = outcome(rule, rel.to_string());
        o.reason = Some(format!("regression data `{rel}` not found"));
        out.push(o);
        return;
    };
    let loaded = read_yaml(&info_path).and_then(|info| Ok((info, rule_vm(rule, routes)?)));
    let (info, vm) = match loaded {
        Ok(v) => v,
        Err(e) => {
            let mut o = outcome(rule, rel.to_string());
            o.status = "fail";
            o.reason = Some(e);
            out.push(o);
            return;
        }
    };
    let tests = info
        .get("regression_tests_info")
        .and_then(Node::as_seq)
        .unwrap_or_default();
    for t in tests {
        let name = t.get("name").and_then(Node::scalar_text).unwrap_or("test");
        let expected = match t.get("match_count").map(|n| &n.kind) {
            Some(NodeKind::Int(i, _)) => Some(*i as u64),
            _ => None,
        };
        let Some(data) = t.get("path").and_then(Node::scalar_text) else {
            continue;
        };
        let evtx = root.join(data);
        let json = evtx.with_extension("json");
        for file in [evtx, json] {
            let kind = file
                .extension()
                .and_then(|e| e.to_str())
                .unwrap_or("")
                .to_string();
            let mut o = outcome(rule, format!("{name} [{kind}]"));
            o.expected = expected;
            if !file.exists() {
                o.reason = Some(format!("data file {} is absent", file.display()));
                out.push(o);
                continue;
            }
            let count = count_matches(&vm, &file);
            o.actual = Some(count.0);
            let ok = match expected {
                Some(e) => count.0 == e,
                None => count.0 > 0,
            };
            o.status = if ok && count.1.is_empty() {
                "pass"
            } else {
                "fail"
            };
            if let Some(e) = count.1.first() {
                o.reason = Some(format!(
                    "unreadable record at {}:{}: {}",
                    e.source, e.index, e.message
                ));
            }
            out.push(o);
        }
    }
}

struct Count(u64, Vec<ReadError>);

impl Sink for Count {
    fn on_match(&mut self, _m: &engine::Match) {
        self.0 += 1;
    }
    fn on_error(&mut self, e: &ReadError) {
        self.1.push(e.clone());
    }
}

fn count_matches(vm: &Vm, file: &Path) -> (u64, Vec<ReadError>) {
    let mut c = Count(0, Vec::new());
    engine::run(
        vm,
        &[file.to_path_buf()],
        &Options {
            keep_event: false,
            batch: 256,
            capture: Vec::new(),
        },
        &mut c,
    );
    (c.0, c.1)
}

fn read_yaml(path: &Path) -> Result<Node, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let file = SourceFile::new(path.display().to_string(), text);
    let docs = yaml::parse_documents(&file).map_err(|d| d.to_string())?;
    docs.into_iter()
        .next()
        .ok_or_else(|| format!("{}: empty", path.display()))
}

/// sigc's own tests: `<rule>.tests.yml` beside the rule.
fn own_tests(rule: &Arc<RuleIr>, routes: &[Pipelines], out: &mut Vec<Outcome>) {
    let rule_path = PathBuf::from(&rule.origin.file.path);
    let Some(stem) = rule_path.file_stem().and_then(|s| s.to_str()) else {
        return;
    };
    let tests_path = rule_path.with_file_name(format!("{stem}.tests.yml"));
    if !tests_path.exists() {
        return;
    }
    let fail = |test: &str, reason: String, out: &mut Vec<Outcome>| {
        let mut o = outcome(rule, test.to_string());
        o.status = "fail";
        o.reason = Some(reason);
        out.push(o);
    };
    let doc = match read_yaml(&tests_path) {
        Ok(d) => d,
        Err(e) => return fail("tests file", e, out),
    };
    // A misspelt key would silently drop its events: only `match` and `no_match` are allowed,
    // and at least one event.
    let shape = "a tests file is a map with `match:` and `no_match:` lists of events";
    let Some(entries) = doc.as_map() else {
        let reason = format!("{}: {shape}", tests_path.display());
        return fail("tests file", reason, out);
    };
    for (k, v) in entries {
        let k = k.scalar_text().unwrap_or("");
        let problem = if !matches!(k, "match" | "no_match") {
            format!("unknown key `{k}`")
        } else if v.as_seq().is_none() {
            format!("`{k}` is not a list")
        } else {
            continue;
        };
        let reason = format!("{}: {problem} ({shape})", tests_path.display());
        return fail("tests file", reason, out);
    }
    let events = |key| doc.get(key).and_then(Node::as_seq).map_or(0, <[Node]>::len);
    if events("match") + events("no_match") == 0 {
        let reason = format!(
            "{}: no events (write them under `match:` and `no_match:`)",
            tests_path.display()
        );
        return fail("tests file", reason, out);
    }
    let vm = match rule_vm(rule, routes) {
        Ok(vm) => vm,
        Err(e) => return fail("compile", e, out),
    };
    for (key, must_match) in [("match", true), ("no_match", false)] {
        for (i, ev) in doc
            .get(key)
            .and_then(Node::as_seq)
            .unwrap_or_default()
            .iter()
            .enumerate()
        {
            let test = format!("{key}[{i}]");
            let json = yaml_to_json(ev).to_string();
            let mut event = Event::new(vm.program.fields.len());
            if let Err(e) = json::read(&json, &vm.program.fields, &mut event) {
                fail(
                    &test,
                    format!(
                        "{}: event {i} is not a map of fields: {}",
                        tests_path.display(),
                        e.message
                    ),
                    out,
                );
                continue;
            }
            let matched = (0..vm.program.rules.len()).any(|r| vm.matches(r, &mut event));
            let mut o = outcome(rule, test);
            o.expected = Some(u64::from(must_match));
            o.actual = Some(u64::from(matched));
            o.status = if matched == must_match {
                "pass"
            } else {
                "fail"
            };
            out.push(o);
        }
    }
}

fn yaml_to_json(n: &Node) -> serde_json::Value {
    use serde_json::Value as J;
    match &n.kind {
        NodeKind::Null => J::Null,
        NodeKind::Bool(b) => J::Bool(*b),
        NodeKind::Int(i, _) => J::from(*i),
        NodeKind::Float(f, _) => serde_json::Number::from_f64(*f).map_or(J::Null, J::Number),
        NodeKind::Str(s, _) => J::String(s.clone()),
        NodeKind::Seq(items) => J::Array(items.iter().map(yaml_to_json).collect()),
        NodeKind::Map(entries) => J::Object(
            entries
                .iter()
                .map(|(k, v)| {
                    (
                        k.scalar_text().unwrap_or_default().to_string(),
                        yaml_to_json(v),
                    )
                })
                .collect(),
        ),
    }
}
