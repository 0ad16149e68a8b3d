//! Exactness of `sigc convert -t splunk`, checked rather than asserted: an independent parser
//! and evaluator of the emitted SPL subset (`tests/spl/`) runs every corpus rule's query over
//! the SigmaHQ regression events and the Security-Datasets events in `../shared`, and must
//! select exactly the events sigc's own evaluator (`sigc eval`) selects for the same rule.
//!
//! Like for like: `sigc eval` routes each rule through two pipeline sets (Sysmon, and the
//! Windows audit log) and ORs the routes that claim the rule; a rule no route claims runs on its
//! detection alone, but only on events without a `Channel`, and a Windows rule no route claims
//! is not evaluated. So each rule is converted with both sets, a route counts when it claims the
//! rule (its `sigc debug ir` differs from the IR without pipelines), and an event is selected on
//! the SPL side if a counted route's query selects it.
//!
//! Skipped, each counted and printed: rules with a keyword (Splunk searches `_raw`, whose form
//! depends on the source format), rules whose regex uses PCRE features the `regex` crate lacks
//! (sigc's evaluator cannot run those either), and Windows rules no route claims. Refusals of
//! the backend are listed, not failures. Failures: any disagreement, and any SPL outside the
//! subset the parser knows (a new construct must be taught to `tests/spl/parse.rs`, with its
//! documented meaning).
//!
//! Run: `cargo test --release --test splunk_exactness -- --nocapture` (the end-to-end test
//! prints its counts and timings; disagreements also go to
//! `target/tmp/splunk_exactness_disagreements.jsonl`).

mod eval_support;
mod spl;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use rayon::prelude::*;
use serde_json::Value;

use eval_support::{Converted, converted, shared, walk};

use spl::eval::{
    Compiled, Unsupported, compile, glob_match, like_regex, parse_number, pcre_to_rust,
};
use spl::parse::{Glob, Piece, Query, Search, TermValue, parse_query};
use spl::{Event, split_records};

const SIGC: &str = env!("CARGO_BIN_EXE_sigc");
const ROUTES: [&[&str]; 2] = [
    &["sysmon", "windows_powershell", "windows_logsources"],
    &["windows_audit", "windows_powershell", "windows_logsources"],
];

// ===================================================================================== unit tests

fn q(s: &str) -> Query {
    parse_query(s).unwrap_or_else(|e| panic!("{e}"))
}

fn ev(json: &str) -> Event {
    Event::from_json(json).unwrap()
}

fn sel(query: &str, json: &str) -> bool {
    compile(&q(query)).unwrap().matches(&ev(json))
}

#[test]
fn search_precedence_or_binds_tighter_than_and() {
    // Search: NOT > OR > AND, so `a AND b OR c` is `a AND (b OR c)`.
    let e = r#"{"a":"1","b":"0","c":"1"}"#;
    assert!(sel(r#"a="1" AND b="1" OR c="1""#, e));
    assert!(!sel(r#"a="0" AND b="1" OR c="1""#, e));
    // Implied AND, same precedence as AND.
    assert!(sel(r#"a="1" b="1" OR c="1""#, e));
    // NOT applies to the next term only.
    assert!(sel(r#"NOT b="1" a="1""#, e));
    assert!(!sel(r#"NOT (b="0" OR c="0") AND a="1" AND b="1""#, e));
}

#[test]
fn where_precedence_and_binds_tighter_than_or() {
    // Where (eval): NOT > comparison > AND > OR.
    let e = r#"{"a":"1","b":"0","c":"1"}"#;
    assert!(sel(r#"* | where 'a'=="0" AND 'b'=="1" OR 'c'=="1""#, e));
    assert!(!sel(r#"* | where 'a'=="0" AND ('b'=="1" OR 'c'=="1")"#, e));
    assert!(sel(r#"* | where NOT 'a'=="0" AND 'c'=="1""#, e));
}

#[test]
fn search_terms_wildcards_case_and_integers() {
    let e = r#"{"Image":"C:\\Windows\\System32\\CMD.exe","EventID":4688,"n":"-5","empty":""}"#;
    assert!(sel(r#"Image="*\\cmd.exe""#, e));
    assert!(sel(r#"Image="c:\\windows\\*""#, e));
    assert!(sel(r#"Image="*system32*""#, e));
    assert!(!sel(r#"Image="*system32""#, e));
    assert!(sel(r#"Image="*""#, e));
    assert!(sel(r#"EventID=4688"#, e));
    assert!(sel(r#"EventID="4688""#, e));
    assert!(!sel(r#"EventID=468"#, e));
    assert!(sel(r#"n=-5"#, e));
    assert!(sel(r#"empty="""#, e));
    assert!(sel(r#"empty="*""#, e));
    assert!(!sel(r#"missing="*""#, e));
    assert!(sel(r#"NOT missing="x""#, e));
    assert!(sel(r#"'Image'="*.EXE""#, e));
    assert!(sel(r#"Image IN ("*\\notepad.exe", "*\\cmd.exe")"#, e));
    assert!(!sel(r#"Image IN ("*\\notepad.exe", "*\\calc.exe")"#, e));
    assert!(sel(r#"EventID IN (1, 4688)"#, e));
    // A backslash cannot escape `*`: `\*` is a backslash and a wildcard.
    let star = r#"{"v":"a\\bc"}"#;
    assert!(sel(r#"v="a\*""#, star));
    assert!(sel(r#"v="a\\*""#, star));
    // Quotes inside strings.
    assert!(sel(r#"v="say \"hi\"""#, r#"{"v":"say \"hi\""}"#));
}

#[test]
fn search_terms_unicode_lowercase() {
    let e = r#"{"v":"ÄBC"}"#;
    assert!(sel(r#"v="äbc""#, e));
    assert!(sel(r#"v="*B*""#, e));
}

#[test]
fn multivalue_fields_match_any_value() {
    let e = r#"{"tags":["a","b"],"n":null,"o":{"x":1},"arr":[]}"#;
    assert!(sel(r#"tags="b""#, e));
    assert!(!sel(r#"tags="c""#, e));
    assert!(!sel(r#"n="*""#, e), "null is no value");
    assert!(!sel(r#"o="*""#, e), "an object is not a value");
    assert!(sel(r#"o.x=1"#, e));
    assert!(!sel(r#"arr="*""#, e));
    assert!(sel(
        r#"* | where isnull('n') AND isnull('arr') AND isnotnull('tags')"#,
        e
    ));
    assert!(sel(r#"* | where 'tags'=="b""#, e));
    assert!(sel(r#"* | where match('tags', "^b$")"#, e));
}

#[test]
fn where_null_semantics_are_three_valued() {
    let e = r#"{"a":"x"}"#;
    assert!(!sel(r#"* | where 'missing'=="x""#, e));
    assert!(
        !sel(r#"* | where NOT 'missing'=="x""#, e),
        "NOT null is null"
    );
    assert!(!sel(r#"* | where NOT match('missing', "x")"#, e));
    assert!(
        sel(r#"* | where 'missing'=="x" OR 'a'=="x""#, e),
        "null OR true"
    );
    assert!(!sel(r#"* | where 'missing'=="x" OR 'a'=="y""#, e));
    assert!(sel(
        r#"* | where NOT (isnotnull('missing') AND match('missing', "x"))"#,
        e
    ));
    assert!(sel(
        r#"* | where isnull('missing') OR NOT 'missing'=="y""#,
        e
    ));
}

#[test]
fn where_comparisons_and_functions() {
    let e = r#"{"s":"Hello","n":"42","f":3.5,"ip":"10.1.2.3","ip6":"2001:db8::1","cmd":"a\nb"}"#;
    assert!(sel(r#"* | where 's'=="Hello""#, e));
    assert!(!sel(r#"* | where 's'=="hello""#, e), "== is case-sensitive");
    assert!(sel(r#"* | where lower('s')=="hello""#, e));
    assert!(sel(
        r#"* | where 'n'==42 AND 'n'>4 AND 'n'<100 AND 'n'>=42 AND 'n'<=42"#,
        e
    ));
    assert!(sel(r#"* | where 'n'=="42""#, e));
    assert!(sel(r#"* | where tonumber('f')>3 AND tonumber('f')<4"#, e));
    assert!(!sel(r#"* | where tonumber('s')>0"#, e));
    assert!(
        !sel(r#"* | where 's'>0"#, e),
        "text against a number is null"
    );
    assert!(sel(
        r#"* | where len('s')==5 AND substr('s', 2, 3)=="ell" AND substr('s', -2)=="lo""#,
        e
    ));
    assert!(sel(r#"* | where 's'!="x""#, e));
    assert!(sel(r#"* | where cidrmatch("10.0.0.0/8", 'ip')"#, e));
    assert!(!sel(r#"* | where cidrmatch("10.0.0.0/16", 'ip')"#, e));
    assert!(sel(r#"* | where cidrmatch("2001:db8::/32", 'ip6')"#, e));
    assert!(!sel(r#"* | where cidrmatch("10.0.0.0/8", 's')"#, e));
    assert!(!sel(r#"* | where cidrmatch("::/0", 'ip')"#, e));
    assert!(sel(r#"* | where like('s', "H_l%")"#, e));
    assert!(
        !sel(r#"* | where like('s', "h%")"#, e),
        "like is case-sensitive"
    );
    assert!(sel(r#"* | where like('cmd', "a%")"#, e), "% spans newlines");
    assert!(sel(r#"* | where match('s', "(?i)^hel")"#, e));
    assert!(!sel(r#"* | where match('s', "^hel")"#, e));
}

#[test]
fn where_string_escapes() {
    let e = r#"{"p":"C:\\temp","t":"a\tb"}"#;
    assert!(sel(r#"* | where 'p'=="C:\\temp""#, e));
    // `\t` in an eval string is a TAB (Splunk's own example), not a backslash and a `t`.
    assert!(!sel(r#"* | where 'p'=="C:\temp""#, e));
    assert!(sel(r#"* | where 't'=="a\tb""#, e));
    // Regexes keep their backslashes: `\\\\` is one escaped backslash for the regex.
    assert!(sel(r#"* | where match('p', "^C:\\\\temp$")"#, e));
    assert!(sel(r#"* | where match('p', "\\\\t")"#, e));
}

#[test]
fn pcre_differences_are_bridged() {
    let m = |re: &str, s: &str| {
        regex::Regex::new(&pcre_to_rust(re).unwrap())
            .unwrap()
            .is_match(s)
    };
    // `$` also matches before a final newline in PCRE.
    assert!(m(r"exe$", "cmd.exe\n"));
    assert!(!m(r"exe$", "cmd.exe\nx"));
    assert!(m(r"(?m)exe$", "cmd.exe\nx"));
    assert!(m(r"(?m:exe$)", "cmd.exe\nx"));
    // ASCII classes.
    assert!(!m(r"^\d$", "٣"));
    assert!(!m(r"^\w$", "é"));
    assert!(m(r"^\w$", "e"));
    assert!(!m(r"(?i)^\w$", "\u{212A}"), "KELVIN SIGN is no \\w");
    // `\<` is a literal `<`.
    assert!(m(r"\<script", "a<script"));
    // Literal `[` `&` `~` in classes; `{` that is no quantifier.
    assert!(m(r"^[[&~]+$", "[&~"));
    assert!(m(r"a{b", "a{b"));
    assert!(m(r"^a{2}$", "aa"));
    assert!(m(r"[[:digit:]]", "5"));
    assert!(m(r"[\w.]+", "a.b"));
    assert!(m(r"[^\d]", "a"));
    // Refused.
    for re in [
        r"(?=a)", r"(?<!a)b", r"(a)\1", r"a++", r"(?x)a b", r"\Qa\E", r"(?>a)",
    ] {
        assert!(pcre_to_rust(re).is_err(), "{re}");
    }
}

#[test]
fn unknown_constructs_are_errors() {
    for bad in [
        "a!=\"x\"",
        "a>5",
        "keyword",
        "a=\"x\" | stats count",
        "a=\"x\" | where 'a'+1==2",
        "a=\"x\" | where strlen('a')==1",
        "a=x",
        "* | where 3a==\"x\"",
        "* | where 'a'==\"x\" AND",
        "(a=\"x\"",
    ] {
        assert!(parse_query(bad).is_err(), "{bad} must be refused");
    }
    assert!(matches!(compile(&q(r#""kw""#)), Err(Unsupported::Keyword)));
    assert!(matches!(
        compile(&q(r#"a="x" AND (b="y" OR "kw")"#)),
        Err(Unsupported::Keyword)
    ));
    assert!(matches!(
        compile(&q(r#"* | where match('a', "(?<=x)y")"#)),
        Err(Unsupported::Regex(_))
    ));
    assert!(matches!(
        compile(&q(r#"* | where 'a'"#)),
        Err(Unsupported::Construct(_))
    ));
}

#[test]
fn glob_matching() {
    let g = |p: &[&str]| Glob {
        pieces: p
            .iter()
            .map(|s| {
                if *s == "*" {
                    Piece::Star
                } else {
                    Piece::Lit(s.to_string())
                }
            })
            .collect(),
    };
    assert!(glob_match(&g(&["ab", "*", "b"]), "abb"));
    assert!(!glob_match(&g(&["ab", "*", "b"]), "ab"));
    assert!(glob_match(&g(&["*", "a", "*", "a", "*"]), "xaxa"));
    assert!(!glob_match(&g(&["*", "a", "*", "a", "*"]), "xax"));
    assert!(glob_match(&g(&[]), ""));
    assert!(glob_match(&g(&["*"]), ""));
    assert!(!like_regex("a_c").is_match("abbc"));
    assert_eq!(parse_number("1e3"), Some(1000.0));
    assert_eq!(parse_number("0x10"), None);
    assert_eq!(parse_number(" 1"), None);
}

#[test]
fn events_are_named_as_sigc_names_them() {
    let nested = r##"{"Event":{"#attributes":{"xmlns":"x"},"System":{"Provider":{"#attributes":{"Name":"Microsoft-Windows-Sysmon"}},"EventID":{"#text":"1","#attributes":{"Qualifiers":""}},"Channel":"Microsoft-Windows-Sysmon/Operational","Correlation":null},"EventData":{"Image":"C:\\a.exe","Hashes":["x","y"]},"UserData":{"Log":{"SubjectUserName":"bob"}}}}"##;
    let e = ev(nested);
    let one = |f: &str| e.get(f).iter().map(|v| v.text.clone()).collect::<Vec<_>>();
    assert_eq!(one("Provider_Name"), ["Microsoft-Windows-Sysmon"]);
    assert_eq!(one("EventID"), ["1"]);
    assert_eq!(one("EventID_Qualifiers"), [""]);
    assert_eq!(one("Channel"), ["Microsoft-Windows-Sysmon/Operational"]);
    assert_eq!(one("Image"), ["C:\\a.exe"]);
    assert_eq!(one("Hashes"), ["x", "y"]);
    assert_eq!(one("SubjectUserName"), ["bob"]);
    assert_eq!(
        one("Event.System.Provider.#attributes.Name"),
        ["Microsoft-Windows-Sysmon"]
    );
    assert_eq!(one("Event.EventData.Image"), ["C:\\a.exe"]);
    assert!(e.get("Correlation").is_empty());
    assert!(e.get("Provider").is_empty());
    let beat = r#"{"log_name":"Security","event_id":4688,"event_data":{"NewProcessName":"a"},"winlog":{"channel":"System","event_data":{"X":"1"}},"host":{"name":"h"}}"#;
    let e = ev(beat);
    let one = |f: &str| e.get(f).iter().map(|v| v.text.clone()).collect::<Vec<_>>();
    assert_eq!(one("Channel"), ["Security", "System"]);
    assert_eq!(one("log_name"), ["Security"]);
    assert_eq!(one("EventID"), ["4688"]);
    assert_eq!(one("NewProcessName"), ["a"]);
    assert_eq!(one("X"), ["1"]);
    assert_eq!(one("host.name"), ["h"]);
    assert_eq!(one("winlog.channel"), ["System"]);
}

#[test]
fn records_are_numbered_by_their_first_line() {
    let text =
        "{\"a\":1}\n\n{\"b\":\"}\\\"{\"}\n{\n  \"c\": {\n    \"d\": 1\n  }\n}\n{\"e\":[1,\n2]}\n";
    let recs = split_records(text);
    let lines: Vec<u64> = recs.iter().map(|r| r.line).collect();
    assert_eq!(lines, [1, 3, 4, 9]);
    for r in &recs {
        Event::from_json(r.text).unwrap();
    }
}

// ================================================================================ end to end

struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

fn sigc(args: &[String]) -> Out {
    let o = Command::new(SIGC)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("running sigc: {e}"));
    Out {
        code: o.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

fn pipeline_args(route: &[&str]) -> Vec<String> {
    route
        .iter()
        .flat_map(|p| ["-p".to_string(), p.to_string()])
        .collect()
}

/// `sigc debug ir` per rule id: the printed IR (to tell whether a route changed the rule) and
/// the product of the log source.
fn debug_ir(rule_dirs: &[String], route: &[&str]) -> HashMap<String, (String, Option<String>)> {
    let mut a = vec!["debug".to_string(), "ir".to_string()];
    a.extend(pipeline_args(route));
    a.extend(rule_dirs.iter().cloned());
    let out = sigc(&a);
    assert!(
        out.code == 0 || out.code == 1,
        "sigc debug ir: {}",
        out.stderr
    );
    let mut map = HashMap::new();
    let mut block = String::new();
    let mut flush = |block: &mut String| {
        if block.is_empty() {
            return;
        }
        let id = block
            .lines()
            .find_map(|l| l.strip_prefix("  id: "))
            .map(str::to_string);
        let product = block
            .lines()
            .find_map(|l| l.strip_prefix("  logsource: "))
            .and_then(|l| {
                l.split_whitespace()
                    .find_map(|w| w.strip_prefix("product="))
                    .map(str::to_string)
            });
        if let Some(id) = id {
            map.insert(id, (std::mem::take(block), product));
        }
        block.clear();
    };
    for line in out.stdout.lines() {
        if line.starts_with("# ") {
            flush(&mut block);
        }
        block.push_str(line);
        block.push('\n');
    }
    flush(&mut block);
    map
}

fn convert(rule_dirs: &[String], route: &[&str]) -> Converted {
    let mut a = vec!["convert".into(), "-t".into(), "splunk".into()];
    a.extend(pipeline_args(route));
    a.push("--json".into());
    a.extend(rule_dirs.iter().cloned());
    let out = sigc(&a);
    assert!(
        out.code == 0 || out.code == 1,
        "sigc convert exited {}: {}",
        out.code,
        out.stderr
    );
    converted(&out.stdout)
}

/// A query to run for a rule (one per route that claims it).
struct Unit {
    rule: usize,
    query: Compiled,
    /// Only events without a `Channel` (a non-Windows rule no route claims).
    no_channel: bool,
}

#[derive(Clone, PartialEq, Eq, Hash, Debug)]
enum Chan {
    Any,
    Is(String),
    Absent,
}

/// The exact lowercase values a conjunct requires of `field` (a term or an OR of terms).
fn required(s: &Search, field: &str) -> Option<Vec<String>> {
    match s {
        Search::Term { field: f, value } if f == field => match value {
            TermValue::Int(n) => Some(vec![n.clone()]),
            TermValue::Glob(g) => g.exact().map(|e| vec![e.to_string()]),
        },
        Search::Or(alts) => {
            let mut all = Vec::new();
            for a in alts {
                all.extend(required(a, field)?);
            }
            Some(all)
        }
        _ => None,
    }
}

/// The index keys of a unit: channels × event ids that every match needs.
fn keys(u: &Unit) -> Vec<(Chan, Option<String>)> {
    fn conjuncts<'a>(s: &'a Search, out: &mut Vec<&'a Search>) {
        match s {
            Search::And(v) => v.iter().for_each(|x| conjuncts(x, out)),
            other => out.push(other),
        }
    }
    let mut items = Vec::new();
    conjuncts(&u.query.search, &mut items);
    let mut chans = None;
    let mut ids = None;
    for it in items {
        if chans.is_none()
            && let Some(c) = required(it, "Channel")
        {
            chans = Some(c.into_iter().map(Chan::Is).collect::<Vec<_>>());
        } else if ids.is_none()
            && let Some(i) = required(it, "EventID")
        {
            ids = Some(i);
        }
    }
    if u.no_channel {
        chans = Some(vec![Chan::Absent]);
    }
    let chans = chans.unwrap_or(vec![Chan::Any]);
    let ids: Vec<Option<String>> = ids.map_or(vec![None], |i| i.into_iter().map(Some).collect());
    chans
        .iter()
        .flat_map(|c| ids.iter().map(move |i| (c.clone(), i.clone())))
        .collect()
}

struct Index {
    map: HashMap<(Chan, Option<String>), Vec<usize>>,
}

impl Index {
    fn candidates(&self, e: &Event, out: &mut Vec<usize>) {
        out.clear();
        let mut chans = vec![Chan::Any];
        let ch = e.get("Channel");
        if ch.is_empty() {
            chans.push(Chan::Absent);
        } else {
            chans.extend(ch.iter().map(|v| Chan::Is(v.lower().to_string())));
        }
        let mut ids = vec![None];
        ids.extend(e.get("EventID").iter().map(|v| Some(v.lower().to_string())));
        for c in &chans {
            for i in &ids {
                if let Some(units) = self.map.get(&(c.clone(), i.clone())) {
                    out.extend_from_slice(units);
                }
            }
        }
        out.sort_unstable();
        out.dedup();
    }
}

struct RuleInfo {
    id: String,
    path: String,
    queries: Vec<String>,
    /// The IR (`sigc debug ir`) of each route the queries come from, for the synthetic events.
    irs: Vec<String>,
}

#[derive(Default)]
struct Counts {
    rules: usize,
    compared: usize,
    keyword: Vec<String>,
    regex: Vec<(String, String)>,
    no_route: Vec<String>,
    refused: Vec<(String, String)>,
    outside_subset: Vec<(String, String)>,
    /// Rules by how many routes claim them: [none (non-Windows), one, two].
    routes: [usize; 3],
}

/// Everything both end-to-end tests need: the rules converted, parsed and compiled, and the
/// index of their queries.
struct Prepared {
    rule_dirs: Vec<String>,
    counts: Counts,
    rules: Vec<RuleInfo>,
    units: Vec<Unit>,
    index: Index,
}

fn prepare() -> Prepared {
    let targets = sigc(&["list".into(), "targets".into()]).stdout;
    assert!(
        targets
            .lines()
            .any(|l| l.split_whitespace().next() == Some("splunk")),
        "`sigc convert -t splunk` is not available (targets: {targets:?})"
    );
    let rule_dirs = vec![
        shared("corpus/sigma/rules").display().to_string(),
        concat!(env!("CARGO_MANIFEST_DIR"), "/rules").to_string(),
    ];
    let bare = debug_ir(&rule_dirs, &[]);
    let irs: Vec<_> = ROUTES.iter().map(|r| debug_ir(&rule_dirs, r)).collect();
    let converted: Vec<Converted> = ROUTES.iter().map(|r| convert(&rule_dirs, r)).collect();

    let mut counts = Counts::default();
    let mut rules: Vec<RuleInfo> = Vec::new();
    let mut units: Vec<Unit> = Vec::new();
    // Correlation rules (the pack has one) report windows, not events: their SPL is checked
    // by the correlation snapshots and the evaluator's correlation tests, not here.
    let mut check = vec!["check".to_string(), "--format".into(), "json".into()];
    check.extend(rule_dirs.iter().cloned());
    let correlations: HashSet<String> = sigc(&check)
        .stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["kind"] == "correlation")
        .filter_map(|v| v["id"].as_str().map(str::to_string))
        .collect();
    let mut ids: Vec<&String> = converted[0]
        .keys()
        .filter(|id| !correlations.contains(*id))
        .collect();
    ids.sort();
    for id in ids {
        counts.rules += 1;
        let path = converted[0][id].0.clone();
        let Some((bare_ir, product)) = bare.get(id) else {
            panic!("{path}: rule {id} missing from `sigc debug ir`");
        };
        let claimed: Vec<usize> = (0..ROUTES.len())
            .filter(|&r| irs[r].get(id).is_some_and(|(ir, _)| ir != bare_ir))
            .collect();
        let (routes, no_channel) = if !claimed.is_empty() {
            (claimed, false)
        } else if product.as_deref() == Some("windows") {
            counts.no_route.push(path);
            continue;
        } else {
            (vec![0], true)
        };
        let mut compiled = Vec::new();
        let mut texts = Vec::new();
        let mut route_irs = Vec::new();
        let mut skip = None;
        for &r in &routes {
            let Some((_, res)) = converted[r].get(id) else {
                panic!("{path}: rule {id} missing from route {r}'s conversion");
            };
            let text = match res {
                Ok(t) => t,
                Err(e) => {
                    skip = Some(("refused", e.clone()));
                    break;
                }
            };
            texts.push(text.clone());
            route_irs.push(if no_channel {
                bare_ir.clone()
            } else {
                irs[r][id].0.clone()
            });
            let parsed = match parse_query(text) {
                Ok(p) => p,
                Err(e) => {
                    skip = Some(("outside", e.to_string()));
                    break;
                }
            };
            match compile(&parsed) {
                Ok(c) => compiled.push(c),
                Err(Unsupported::Keyword) => {
                    skip = Some(("keyword", String::new()));
                    break;
                }
                Err(Unsupported::Regex(m)) => {
                    skip = Some(("regex", m));
                    break;
                }
                Err(Unsupported::Construct(m)) => {
                    skip = Some(("outside", format!("{m} in {text}")));
                    break;
                }
            }
        }
        match skip {
            Some(("refused", e)) => counts.refused.push((path, e)),
            Some(("outside", e)) => counts.outside_subset.push((path, e)),
            Some(("keyword", _)) => counts.keyword.push(path),
            Some((_, m)) => counts.regex.push((path, m)),
            None => {
                counts.compared += 1;
                counts.routes[if no_channel { 0 } else { routes.len() }] += 1;
                let rule = rules.len();
                for c in compiled {
                    units.push(Unit {
                        rule,
                        query: c,
                        no_channel,
                    });
                }
                rules.push(RuleInfo {
                    id: id.clone(),
                    path,
                    queries: texts,
                    irs: route_irs,
                });
            }
        }
    }
    let mut index = Index {
        map: HashMap::new(),
    };
    for (i, u) in units.iter().enumerate() {
        for k in keys(u) {
            index.map.entry(k).or_default().push(i);
        }
    }
    Prepared {
        rule_dirs,
        counts,
        rules,
        units,
        index,
    }
}

impl Prepared {
    fn print_counts(&self) {
        let c = &self.counts;
        println!(
            "rules: {} ({} compared: {} non-Windows on events without a Channel, {} with one route, {} with two; skipped: {} keyword, {} regex the regex crate cannot run, {} Windows rules no route claims; {} refused by the backend; {} outside the SPL subset)",
            c.rules,
            c.compared,
            c.routes[0],
            c.routes[1],
            c.routes[2],
            c.keyword.len(),
            c.regex.len(),
            c.no_route.len(),
            c.refused.len(),
            c.outside_subset.len()
        );
        if !c.keyword.is_empty() {
            println!(
                "skipped, keywords search _raw, whose form depends on the source format: {} rules (e.g. {})",
                c.keyword.len(),
                c.keyword[0]
            );
        }
        for (p, m) in &c.regex {
            println!("skipped, regex: {p}: {m}");
        }
        for p in &c.no_route {
            println!("not evaluated by sigc (a Windows log source no route claims): {p}");
        }
        for (p, e) in &c.refused {
            println!("refused: {p}: {e}");
        }
        for (p, e) in &c.outside_subset {
            println!("OUTSIDE THE SUBSET: {p}: {e}");
        }
    }
}

/// Rule id → the (source, record)s it selects.
type Selections = HashMap<String, HashSet<(String, u64)>>;

/// `sigc eval` over `events` with the same rules: rule id → the (source, record)s it selects,
/// and the event count it reports.
fn sigc_eval(rule_dirs: &[String], events: &[String]) -> (Selections, Option<u64>) {
    let mut a = vec!["eval".to_string()];
    for r in rule_dirs {
        a.extend(["--rules".to_string(), r.clone()]);
    }
    a.push("--".into());
    a.extend(events.iter().cloned());
    let out = sigc(&a);
    assert!(out.code == 0 || out.code == 1, "sigc eval: {}", out.stderr);
    let mut sel: HashMap<String, HashSet<(String, u64)>> = HashMap::new();
    for line in out.stdout.lines() {
        let v: Value = serde_json::from_str(line).unwrap();
        sel.entry(v["rule_id"].as_str().unwrap().to_string())
            .or_default()
            .insert((
                v["source"].as_str().unwrap().to_string(),
                v["record"].as_u64().unwrap(),
            ));
    }
    let n = out.stderr.lines().find_map(|l| {
        l.split_once(" events, ")
            .and_then(|(n, _)| n.trim().parse().ok())
    });
    let unreadable = out.stderr.lines().find_map(|l| {
        l.strip_suffix(" unreadable records")
            .and_then(|l| l.rsplit(", ").next())
            .and_then(|n| n.trim().parse::<u64>().ok())
    });
    assert_eq!(
        unreadable,
        Some(0),
        "sigc eval could not read some records: {}",
        out.stderr
    );
    (sel, n)
}

/// One disagreement: rule index, source, record, which side selected the event.
type Disagreement = (usize, String, u64, &'static str);

fn compare_sides(
    rules: &[RuleInfo],
    ours: &[HashSet<(String, u64)>],
    theirs: &HashMap<String, HashSet<(String, u64)>>,
    keep: &dyn Fn(usize, &str, u64) -> bool,
) -> (Vec<Disagreement>, usize) {
    let empty = HashSet::new();
    let mut out = Vec::new();
    let mut agreed = 0;
    for (ri, rule) in rules.iter().enumerate() {
        let t: HashSet<&(String, u64)> = theirs
            .get(&rule.id)
            .unwrap_or(&empty)
            .iter()
            .filter(|(s, l)| keep(ri, s, *l))
            .collect();
        let o: HashSet<&(String, u64)> = ours[ri].iter().collect();
        agreed += o.intersection(&t).count();
        for (s, l) in o.difference(&t) {
            out.push((ri, s.clone(), *l, "SPL only"));
        }
        for (s, l) in t.difference(&o) {
            out.push((ri, s.clone(), *l, "sigc eval only"));
        }
    }
    out.sort();
    (out, agreed)
}

/// Print the disagreements (the first 40 rules), write them all to `name` under the target's
/// temporary folder, and return how many rules disagree.
fn report(
    rules: &[RuleInfo],
    d: &[Disagreement],
    name: &str,
    event_text: &dyn Fn(&str, u64) -> Option<String>,
) -> usize {
    let path = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let mut lines = String::new();
    let mut per_rule: BTreeMap<usize, usize> = BTreeMap::new();
    for (ri, s, l, side) in d {
        *per_rule.entry(*ri).or_default() += 1;
        let r = &rules[*ri];
        lines.push_str(
            &serde_json::json!({"rule": r.path, "id": r.id, "queries": r.queries, "source": s, "record": l, "selected_by": side, "event": event_text(s, *l)})
                .to_string(),
        );
        lines.push('\n');
    }
    std::fs::write(&path, lines).unwrap();
    for (ri, n) in per_rule.iter().take(40) {
        let r = &rules[*ri];
        let first = d.iter().find(|x| x.0 == *ri).unwrap();
        println!(
            "DISAGREEMENT: {} ({} events; first {}:{} selected by {}{})\n    {}",
            r.path,
            n,
            first.1,
            first.2,
            first.3,
            event_text(&first.1, first.2).map_or(String::new(), |e| format!(": {e}")),
            r.queries.join("\n    ")
        );
    }
    if !d.is_empty() {
        println!("all {} disagreements: {}", d.len(), path.display());
    }
    per_rule.len()
}

#[test]
#[cfg_attr(
    debug_assertions,
    ignore = "minutes in a debug build: scripts/test.sh runs it in release"
)]
fn splunk_exactness() {
    let t0 = Instant::now();
    let prep = prepare();
    let Prepared {
        rule_dirs,
        rules,
        units,
        index,
        ..
    } = &prep;
    let mut event_files = Vec::new();
    walk(
        &shared("datasets/security-datasets"),
        &|s| s.ends_with(".zip") || s.ends_with(".tar.gz"),
        &mut event_files,
    );
    let n_archives = event_files.len();
    walk(
        &shared("corpus/sigma/regression_data"),
        &|s| s.ends_with(".json"),
        &mut event_files,
    );
    let t_convert = t0.elapsed();

    // ---- sigc's side ----
    let t1 = Instant::now();
    let (sigc_sel, sigc_events) = sigc_eval(rule_dirs, &event_files);
    let t_sigc = t1.elapsed();

    // ---- the SPL side ----
    let t2 = Instant::now();
    let events_read = AtomicU64::new(0);
    let evaluated = AtomicU64::new(0);
    let read_errors: Mutex<Vec<String>> = Default::default();
    let filtered = AtomicU64::new(0);
    let null_dependent: Mutex<Vec<(usize, String, bool)>> = Default::default();
    let selected: Vec<(usize, Arc<str>, u64)> = event_files
        .par_iter()
        .flat_map_iter(|file| {
            let mut out = Vec::new();
            spl::read_archive(file, &mut |m| {
                let source: Arc<str> = m.source.into();
                let text = match m.text {
                    Ok(t) => t,
                    Err(e) => {
                        read_errors.lock().unwrap().push(format!("{source}: {e}"));
                        return;
                    }
                };
                let recs = split_records(&text);
                let found: Vec<(usize, Arc<str>, u64)> = recs
                    .par_chunks(512)
                    .flat_map_iter(|chunk| {
                        let mut cands = Vec::new();
                        let mut hits = Vec::new();
                        let mut n = 0u64;
                        for r in chunk {
                            let e = match Event::from_json(r.text) {
                                Ok(e) => e,
                                Err(err) => {
                                    read_errors
                                        .lock()
                                        .unwrap()
                                        .push(format!("{source}:{}: {err}", r.line));
                                    continue;
                                }
                            };
                            events_read.fetch_add(1, Ordering::Relaxed);
                            index.candidates(&e, &mut cands);
                            n += cands.len() as u64;
                            let mut last = usize::MAX;
                            for &ui in &cands {
                                let u = &units[ui];
                                if u.rule == last || (u.no_channel && e.has("Channel")) {
                                    continue;
                                }
                                if u.query.has_filter() {
                                    filtered.fetch_add(1, Ordering::Relaxed);
                                    if let Some(kept) = u.query.null_sensitive(&e) {
                                        null_dependent.lock().unwrap().push((
                                            u.rule,
                                            format!("{source}:{}", r.line),
                                            kept,
                                        ));
                                    }
                                }
                                if u.query.matches(&e) {
                                    last = u.rule;
                                    hits.push((u.rule, source.clone(), r.line));
                                }
                            }
                        }
                        evaluated.fetch_add(n, Ordering::Relaxed);
                        hits
                    })
                    .collect();
                out.extend(found);
            });
            out
        })
        .collect();
    let t_spl = t2.elapsed();
    let mut spl_sel: Vec<HashSet<(String, u64)>> = vec![HashSet::new(); rules.len()];
    for (r, s, l) in selected {
        spl_sel[r].insert((s.to_string(), l));
    }

    // ---- compare and report ----
    let (disagreements, agreed) = compare_sides(rules, &spl_sel, &sigc_sel, &|_, _, _| true);
    let events = events_read.load(Ordering::Relaxed);
    println!("== splunk exactness: real events ==");
    prep.print_counts();
    println!(
        "queries run: {} ({} without a Channel/EventID index key); events: {} from {} archives and {} regression files (sigc eval read {:?})",
        units.len(),
        index.map.get(&(Chan::Any, None)).map_or(0, |v| v.len()),
        events,
        n_archives,
        event_files.len() - n_archives,
        sigc_events,
    );
    println!(
        "selections: {} agreed, {} disagreements; query evaluations after the index: {}",
        agreed,
        disagreements.len(),
        evaluated.load(Ordering::Relaxed)
    );
    println!(
        "time: convert+ir {:.1?}, sigc eval {:.1?}, SPL evaluation {:.1?}, total {:.1?}",
        t_convert,
        t_sigc,
        t_spl,
        t0.elapsed()
    );
    let selecting = rules
        .iter()
        .enumerate()
        .filter(|(i, r)| !spl_sel[*i].is_empty() || sigc_sel.contains_key(&r.id))
        .count();
    let with_filter: HashSet<usize> = units
        .iter()
        .filter(|u| u.query.has_filter())
        .map(|u| u.rule)
        .collect();
    let filter_selecting = with_filter
        .iter()
        .filter(|&&i| !spl_sel[i].is_empty())
        .count();
    println!(
        "coverage: {selecting} rules select at least one event; {} rules have a `| where` ({} of them select events), reached by {} event/query pairs",
        with_filter.len(),
        filter_selecting,
        filtered.load(Ordering::Relaxed)
    );
    print_null_dependent(rules, null_dependent.into_inner().unwrap());
    let n_rules = report(
        rules,
        &disagreements,
        "splunk_exactness_disagreements.jsonl",
        &|_, _| None,
    );
    let errors = read_errors.into_inner().unwrap();
    for e in errors.iter().take(20) {
        println!("unreadable: {e}");
    }
    assert!(
        prep.counts.outside_subset.is_empty(),
        "{} queries outside the SPL subset",
        prep.counts.outside_subset.len()
    );
    assert!(errors.is_empty(), "{} unreadable records", errors.len());
    assert_eq!(
        Some(events),
        sigc_events,
        "the two sides read different numbers of events"
    );
    assert!(prep.counts.compared > 0, "no rule compared");
    assert!(
        disagreements.is_empty(),
        "{} disagreements over {n_rules} rules",
        disagreements.len(),
    );
}

fn print_null_dependent(rules: &[RuleInfo], nd: Vec<(usize, String, bool)>) {
    let mut per_rule: BTreeMap<usize, (usize, &str, bool)> = BTreeMap::new();
    for (r, at, kept) in &nd {
        per_rule.entry(*r).or_insert((0, at, *kept)).0 += 1;
    }
    println!(
        "null-dependent verdicts (kept with three-valued nulls != kept when a null test is false): {} events over {} rules",
        nd.len(),
        per_rule.len()
    );
    for (r, (n, at, kept)) in per_rule.iter().take(10) {
        println!(
            "  {} ({n} events, e.g. {at}: kept={kept})\n    {}",
            rules[*r].path,
            rules[*r].queries.join("\n    ")
        );
    }
}

// ============================================================================ synthetic events

/// How a predicate of the IR can be satisfied: the pieces of a string (literal text, `*`, `?`).
#[derive(Debug, Clone)]
enum Make {
    Str(Vec<Bit>),
    Num {
        op: String,
        n: f64,
    },
    Bool(bool),
    /// `is null`: the field absent (or null).
    Null,
    Exists,
    Cidr(String),
}

#[derive(Debug, Clone, PartialEq)]
enum Bit {
    Lit(String),
    Star,
    One,
}

/// One predicate line of `sigc debug ir`: field, whether it sits under an odd number of `not`s,
/// and how to satisfy it (`None`: not generated, e.g. a regex too complex to invert).
struct IrPred {
    field: String,
    negated: bool,
    make: Option<Make>,
}

/// Unquote an IR string; returns the text and the rest of the line. The IR escapes `"` and
/// control characters but not backslashes, so `\n` may be a newline or a Windows path's
/// backslash before an `n`: read as the path (rule values hold far more paths than control
/// characters), and a `\"` that ends the line (or comes before ` (cased)`) as a backslash
/// closing the string.
fn ir_string(s: &str) -> Option<(String, &str)> {
    let s = s.strip_prefix('"')?;
    let mut out = String::new();
    let mut it = s.char_indices().peekable();
    while let Some((i, c)) = it.next() {
        match c {
            '"' => return Some((out, &s[i + 1..])),
            '\\' if s[i + 1..].starts_with('"') => {
                let after = &s[i + 2..];
                if after.is_empty() || after == " (cased)" || after.starts_with(" flags=") {
                    out.push('\\');
                    return Some((out, after));
                }
                out.push('"');
                it.next();
            }
            '\\' if s[i + 1..].starts_with("u{") => {
                let rest = &s[i + 3..];
                let end = rest.find('}')?;
                let code = u32::from_str_radix(&rest[..end], 16).ok()?;
                out.push(char::from_u32(code)?);
                for _ in 0..end + 3 {
                    it.next();
                }
            }
            c => out.push(c),
        }
    }
    None
}

/// A regex as plain text when it is one literal (optionally anchored, with `.*` gaps).
fn regex_literal(p: &str) -> Option<Vec<Bit>> {
    let mut p = p;
    while let Some(rest) = p.strip_prefix("(?") {
        let end = rest.find(')')?;
        if !rest[..end]
            .chars()
            .all(|c| c.is_ascii_alphabetic() || c == '-')
        {
            return None;
        }
        p = &rest[end + 1..];
    }
    let (start, p) = match p.strip_prefix('^') {
        Some(r) => (true, r),
        None => (false, p),
    };
    let (end, p) = match p.strip_suffix('$') {
        Some(r) if !r.ends_with('\\') => (true, r),
        _ => (false, p),
    };
    let mut bits = Vec::new();
    if !start {
        bits.push(Bit::Star);
    }
    let mut lit = String::new();
    let c: Vec<char> = p.chars().collect();
    let mut i = 0;
    while i < c.len() {
        match c[i] {
            '\\' => {
                let e = *c.get(i + 1)?;
                if e.is_ascii_alphanumeric() {
                    return None;
                }
                lit.push(e);
                i += 2;
            }
            '.' if matches!(c.get(i + 1), Some('*' | '+')) => {
                if !lit.is_empty() {
                    bits.push(Bit::Lit(std::mem::take(&mut lit)));
                }
                bits.push(Bit::Star);
                i += 2;
            }
            '.' => {
                if !lit.is_empty() {
                    bits.push(Bit::Lit(std::mem::take(&mut lit)));
                }
                bits.push(Bit::One);
                i += 1;
            }
            '[' | ']' | '(' | ')' | '{' | '}' | '|' | '?' | '+' | '*' | '^' | '$' => return None,
            ch => {
                lit.push(ch);
                i += 1;
            }
        }
    }
    if !lit.is_empty() {
        bits.push(Bit::Lit(lit));
    }
    if !end {
        bits.push(Bit::Star);
    }
    Some(bits)
}

fn parse_ir_pred(line: &str) -> Option<(String, Option<Make>)> {
    const OPS: [&str; 14] = [
        " == ",
        " != ",
        " startswith ",
        " endswith ",
        " contains ",
        " glob ",
        " regex ",
        " cidr ",
        " >= ",
        " <= ",
        " > ",
        " < ",
        " is null",
        " exists",
    ];
    let (at, op) = OPS
        .iter()
        .filter_map(|op| line.find(op).map(|i| (i, *op)))
        .min_by_key(|(i, op)| (*i, std::cmp::Reverse(op.len())))?;
    let field = line[..at].to_string();
    let rest = &line[at + op.len()..];
    let make = match op.trim() {
        "is null" => Some(Make::Null),
        "exists" => Some(Make::Exists),
        "cidr" => Some(Make::Cidr(rest.trim().to_string())),
        "regex" => ir_string(rest)
            .and_then(|(p, _)| regex_literal(&p))
            .map(Make::Str),
        "glob" => {
            let mut bits = Vec::new();
            let mut r = rest.trim_start();
            while !r.is_empty() && !r.starts_with('(') {
                if let Some(x) = r.strip_prefix('*') {
                    bits.push(Bit::Star);
                    r = x;
                } else if let Some(x) = r.strip_prefix('?') {
                    bits.push(Bit::One);
                    r = x;
                } else if r.starts_with('"') {
                    let (s, x) = ir_string(r)?;
                    bits.push(Bit::Lit(s));
                    r = x;
                } else {
                    // A placeholder (`%name%`): not generated.
                    return Some((field, None));
                }
                r = r.trim_start();
            }
            Some(Make::Str(bits))
        }
        op @ ("==" | "startswith" | "endswith" | "contains") => {
            if rest.starts_with("field ") {
                None
            } else if let Some((s, _)) = ir_string(rest) {
                let lit = Bit::Lit(s);
                Some(Make::Str(match op {
                    "==" => vec![lit],
                    "startswith" => vec![lit, Bit::Star],
                    "endswith" => vec![Bit::Star, lit],
                    _ => vec![Bit::Star, lit, Bit::Star],
                }))
            } else if rest == "true" || rest == "false" {
                Some(Make::Bool(rest == "true"))
            } else {
                rest.parse::<f64>()
                    .ok()
                    .map(|n| Make::Num { op: "==".into(), n })
            }
        }
        op => rest.trim().parse::<f64>().ok().map(|n| Make::Num {
            op: op.to_string(),
            n,
        }),
    };
    Some((field, make))
}

/// The predicates of an IR block, with their polarity.
fn ir_preds(block: &str) -> Vec<IrPred> {
    let mut out = Vec::new();
    // (indent, is `not`) of the open groups.
    let mut stack: Vec<(usize, bool)> = Vec::new();
    let mut in_cond = false;
    for line in block.lines() {
        if line.starts_with("  condition ") {
            in_cond = true;
            stack.clear();
            continue;
        }
        if !in_cond || !line.starts_with("    ") {
            continue;
        }
        let indent = line.len() - line.trim_start().len();
        let body = line.trim_start();
        while stack.last().is_some_and(|&(i, _)| i >= indent) {
            stack.pop();
        }
        match body {
            "and" | "or" | "true" | "false" => stack.push((indent, false)),
            "not" => stack.push((indent, true)),
            _ => {
                let negated = stack.iter().filter(|(_, n)| *n).count() % 2 == 1;
                if let Some((field, make)) = parse_ir_pred(body) {
                    out.push(IrPred {
                        field,
                        negated,
                        make,
                    });
                }
            }
        }
    }
    out
}

fn fill(bits: &[Bit], star: &str, one: &str) -> String {
    bits.iter()
        .map(|b| match b {
            Bit::Lit(s) => s.as_str(),
            Bit::Star => star,
            Bit::One => one,
        })
        .collect()
}

/// Values of a field that satisfy `m`, then near misses (`None`: the field absent).
fn candidates(m: &Make) -> Vec<Option<Value>> {
    let s = |x: String| Some(Value::String(x));
    match m {
        Make::Str(bits) => {
            let v = fill(bits, "Z", "Q");
            let mut out = vec![s(v.clone())];
            out.push(s(v.to_uppercase()));
            out.push(s(v.to_lowercase()));
            out.push(s(format!("{v}\n")));
            out.push(s(format!("\n{v}")));
            out.push(s(format!("{v} ")));
            let mut c = v.chars();
            c.next_back();
            out.push(s(c.as_str().to_string()));
            let mut c = v.chars();
            c.next();
            out.push(s(c.as_str().to_string()));
            out.push(s(fill(bits, "", "Q")));
            if bits.contains(&Bit::One) {
                out.push(s(fill(bits, "Z", "")));
                out.push(s(fill(bits, "Z", "QQ")));
            }
            out.push(s(fill(bits, "Z\nZ", "\n")));
            // A literal `*` or `?` in the rule's value must not act as a wildcard.
            if bits
                .iter()
                .any(|b| matches!(b, Bit::Lit(l) if l.contains(['*', '?'])))
            {
                let literal: Vec<Bit> = bits
                    .iter()
                    .map(|b| match b {
                        Bit::Lit(l) => Bit::Lit(l.replace(['*', '?'], "X")),
                        other => other.clone(),
                    })
                    .collect();
                out.push(s(fill(&literal, "Z", "Q")));
            }
            out.push(s(String::new()));
            out
        }
        Make::Num { op, n } => {
            let base = match op.as_str() {
                ">" => n + 1.0,
                "<" => n - 1.0,
                _ => *n,
            };
            let num = |x: f64| {
                Some(if x.fract() == 0.0 {
                    Value::from(x as i64)
                } else {
                    Value::from(x)
                })
            };
            let text = |x: f64| s(num(x).unwrap().to_string());
            let b = num(base).unwrap().to_string();
            let mut out = vec![
                num(base),
                text(base),
                num(*n),
                num(n + 1.0),
                num(n - 1.0),
                text(n + 0.5),
                s(format!("{b} ")),
                s(format!(" {b}")),
                s(format!("0{b}")),
                s(format!("+{b}")),
                s(format!("{b}.0")),
                s(format!("{b}e0")),
                // A JSON float (`9.0`).
                Some(serde_json::Number::from_f64(base).map_or(Value::Null, Value::Number)),
                s("x".into()),
            ];
            if base.fract() == 0.0 && base >= 0.0 {
                out.push(s(format!("0x{:x}", base as i64)));
            }
            out
        }
        Make::Bool(b) => vec![
            Some(Value::Bool(*b)),
            Some(Value::Bool(!*b)),
            s(b.to_string()),
            s(b.to_string().to_uppercase()),
        ],
        Make::Null => vec![None, Some(Value::Null), s(String::new()), s("x".into())],
        Make::Exists => vec![s("x".into()), s(String::new()), Some(Value::Null)],
        Make::Cidr(net) => {
            let (a, l) = net.split_once('/').unwrap_or((net, "128"));
            let l: u32 = l.parse().unwrap_or(128);
            match a.parse::<std::net::IpAddr>() {
                Ok(std::net::IpAddr::V4(v4)) => {
                    let base = u32::from(v4);
                    let outside = if l == 0 { base } else { base ^ (1 << (32 - l)) };
                    let ip = |x: u32| s(std::net::Ipv4Addr::from(x).to_string());
                    vec![
                        ip(base),
                        ip(base | if l >= 32 { 0 } else { u32::MAX >> l }),
                        ip(outside),
                        s(format!("::ffff:{}", std::net::Ipv4Addr::from(base))),
                        s(format!("{}:80", std::net::Ipv4Addr::from(base))),
                        s("x".into()),
                    ]
                }
                Ok(std::net::IpAddr::V6(v6)) => {
                    let base = u128::from(v6);
                    let outside = if l == 0 {
                        base
                    } else {
                        base ^ (1 << (128 - l))
                    };
                    let ip = |x: u128| s(std::net::Ipv6Addr::from(x).to_string());
                    vec![
                        ip(base),
                        ip(base | if l >= 128 { 0 } else { u128::MAX >> l }),
                        ip(outside),
                        s(std::net::Ipv6Addr::from(base).to_string().to_uppercase()),
                        s("x".into()),
                    ]
                }
                Err(_) => vec![],
            }
        }
    }
}

/// Events for one rule from the IR of one route: a base event satisfying every positive
/// predicate (the first one of each field), then the base with one field changed to each
/// candidate value of each predicate, positive or negated, and the base without each field.
fn synthetic_events(block: &str, out: &mut Vec<String>) {
    let preds = ir_preds(block);
    let mut base: serde_json::Map<String, Value> = serde_json::Map::new();
    for p in &preds {
        if p.negated || base.contains_key(&p.field) {
            continue;
        }
        if let Some(m) = &p.make
            && let Some(Some(v)) = candidates(m).into_iter().next()
        {
            base.insert(p.field.clone(), v);
        }
    }
    let mut seen = HashSet::new();
    let mut push = |m: &serde_json::Map<String, Value>| {
        let t = Value::Object(m.clone()).to_string();
        if seen.insert(t.clone()) {
            out.push(t);
        }
    };
    push(&base);
    for p in &preds {
        let Some(m) = &p.make else { continue };
        for v in candidates(m) {
            let mut e = base.clone();
            match v {
                Some(v) => {
                    e.insert(p.field.clone(), v);
                }
                None => {
                    e.remove(&p.field);
                }
            }
            push(&e);
        }
    }
    for f in base.keys() {
        let mut e = base.clone();
        e.remove(f);
        push(&e);
    }
}

/// The same comparison over events generated from each rule's own values: every predicate's
/// value and near misses of it (case changed, a newline or space added, a character dropped,
/// wildcards filled with nothing, newlines or two characters, the field missing or empty),
/// where the corpus data never goes. Each event is compared for the rule it was made for.
#[test]
#[cfg_attr(
    debug_assertions,
    ignore = "minutes in a debug build: scripts/test.sh runs it in release"
)]
fn splunk_exactness_synthetic() {
    let t0 = Instant::now();
    let prep = prepare();
    let Prepared {
        rule_dirs,
        rules,
        units,
        ..
    } = &prep;
    let mut lines: Vec<String> = Vec::new();
    let mut owner: Vec<usize> = Vec::new();
    for (ri, r) in rules.iter().enumerate() {
        let mut evs = Vec::new();
        for block in &r.irs {
            synthetic_events(block, &mut evs);
        }
        evs.sort();
        evs.dedup();
        owner.extend(std::iter::repeat_n(ri, evs.len()));
        lines.extend(evs);
    }
    let file = Path::new(env!("CARGO_TARGET_TMPDIR")).join("splunk_synthetic_events.jsonl");
    std::fs::write(&file, lines.join("\n") + "\n").unwrap();
    let source = file.display().to_string();
    let t_gen = t0.elapsed();

    let t1 = Instant::now();
    let (sigc_sel, sigc_events) = sigc_eval(rule_dirs, std::slice::from_ref(&source));
    let t_sigc = t1.elapsed();

    let t2 = Instant::now();
    let mut by_rule: Vec<Vec<usize>> = vec![Vec::new(); rules.len()];
    for (i, u) in units.iter().enumerate() {
        by_rule[u.rule].push(i);
    }
    let null_dependent: Mutex<Vec<(usize, String, bool)>> = Default::default();
    let hits: Vec<(usize, u64)> = lines
        .par_iter()
        .enumerate()
        .filter_map(|(i, text)| {
            let e = Event::from_json(text).unwrap();
            let ri = owner[i];
            let line = i as u64 + 1;
            let mut hit = false;
            for &ui in &by_rule[ri] {
                let u = &units[ui];
                if u.no_channel && e.has("Channel") {
                    continue;
                }
                if let Some(kept) = u.query.null_sensitive(&e) {
                    null_dependent
                        .lock()
                        .unwrap()
                        .push((ri, format!("{source}:{line}"), kept));
                }
                hit |= u.query.matches(&e);
            }
            hit.then_some((ri, line))
        })
        .collect();
    let t_spl = t2.elapsed();
    let mut spl_sel: Vec<HashSet<(String, u64)>> = vec![HashSet::new(); rules.len()];
    for (ri, line) in hits {
        spl_sel[ri].insert((source.clone(), line));
    }
    let (disagreements, agreed) = compare_sides(rules, &spl_sel, &sigc_sel, &|ri, _, l| {
        owner[l as usize - 1] == ri
    });
    println!("== splunk exactness: synthetic events ==");
    prep.print_counts();
    println!(
        "events: {} generated for {} rules (sigc eval read {:?}); selections: {} agreed, {} disagreements",
        lines.len(),
        rules.len(),
        sigc_events,
        agreed,
        disagreements.len()
    );
    println!(
        "time: convert+generate {:.1?}, sigc eval {:.1?}, SPL evaluation {:.1?}, total {:.1?}",
        t_gen,
        t_sigc,
        t_spl,
        t0.elapsed()
    );
    print_null_dependent(rules, null_dependent.into_inner().unwrap());
    let n_rules = report(
        rules,
        &disagreements,
        "splunk_exactness_synthetic_disagreements.jsonl",
        &|_, l| lines.get(l as usize - 1).cloned(),
    );
    assert_eq!(Some(lines.len() as u64), sigc_events);
    assert!(
        prep.counts.outside_subset.is_empty(),
        "{} queries outside the SPL subset",
        prep.counts.outside_subset.len()
    );
    assert!(
        disagreements.is_empty(),
        "{} disagreements over {n_rules} rules",
        disagreements.len(),
    );
}
