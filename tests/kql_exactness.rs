//! Exactness of `sigc convert -t kql -p microsoft_xdr`, checked rather than asserted: an
//! independent parser and evaluator of the emitted KQL subset (`tests/kql_eval/`) runs every
//! converted corpus rule over Defender rows made from the SigmaHQ regression events and the
//! Security-Datasets events in `../shared`, and must keep exactly the rows sigc's own evaluator
//! (`sigc eval -p microsoft_xdr`) selects for the same rule.
//!
//! Like for like. Both sides read the same rows, so what is compared is the meaning of the KQL
//! operators against the meaning of the IR predicates, not how well a Sysmon event turns into a
//! Defender row:
//!
//! - Each Sysmon event becomes a row of the Defender table its log source maps to (process
//!   creation, network, image load, file, registry, driver load, named pipe, remote thread), for
//!   each log source category of that table, filled the way the pipeline maps fields: every
//!   Sigma field the pipeline renames to a column gives that column its value (typed by the
//!   table's schema, `tests/kusto/schemas/`); the fields it maps to a computed column give the
//!   columns that computed column is built from (user → domain and name, registry path → hive
//!   in full, key and value name, ...); `ActionType` follows the event id, as the pipeline's
//!   conditions expect.
//! - The computed columns (`kql_extend_*`) are evaluated by this runner's KQL evaluator and
//!   written into the row sigc reads, so `sigc eval` sees the value the `| extend` produces.
//!   `sigc_hashes` (the pseudo-field the backend turns into hash-column tests) carries Sysmon's
//!   own `Hashes` text for sigc, and its digests fill the hash columns for KQL.
//! - A Kusto string column has no null: a missing value and an empty one both read as `""`.
//!   The row sigc reads leaves such a column out, so for sigc too an empty column is a missing
//!   field (`null`), which is what the backend's `isempty()` says.
//! - Each rule is compared over the rows of its own category's file; `sigc eval` runs every
//!   rule over every file and its selections in other files are not looked at.
//!
//! Failures: any disagreement, any query outside the subset the evaluator knows (a new
//! construct must be taught to `tests/kql_eval/`, with its documented meaning), any query whose
//! result depends on behaviour the reference leaves open (e.g. `tolong("0x10")`).
//!
//! Run: `cargo test --release --test kql_exactness -- --nocapture` (prints counts and timings;
//! disagreements also go to `target/tmp/kql_exactness_disagreements.jsonl`).

mod eval_support;
mod kql_eval;
mod spl;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;
use std::process::Command;
use std::sync::Mutex;
use std::time::Instant;

use rayon::prelude::*;
use serde_json::Value;

use eval_support::{Converted, converted, shared, walk};

use kql_eval::eval::{Compiled, Row, Schema, Type, V, compile, re2};
use kql_eval::parse::{parse_expr, parse_query};
use spl::{Event, split_records};

const SIGC: &str = env!("CARGO_BIN_EXE_sigc");
const PIPELINE: &str = "microsoft_xdr";
const SYSMON: &str = "microsoft-windows-sysmon/operational";

// ===================================================================================== unit tests

fn schema_of(cols: &[(&str, Type)]) -> Schema {
    cols.iter().map(|(c, t)| (c.to_string(), *t)).collect()
}

fn row(vals: &[(&str, V)]) -> Row {
    vals.iter()
        .map(|(c, v)| (c.to_string(), v.clone()))
        .collect()
}

fn keeps(query: &str, schema: &Schema, r: &Row) -> Result<bool, String> {
    compile(parse_query(query)?, schema)?.matches(r)
}

fn t_schema() -> Schema {
    schema_of(&[
        ("S", Type::Str),
        ("E", Type::Str),
        ("N", Type::Long),
        ("M", Type::Long),
        ("D", Type::Dyn),
        ("IP", Type::Str),
    ])
}

fn t_row() -> Row {
    row(&[
        ("S", V::Str("C:\\Windows\\CMD.exe".into())),
        ("N", V::Long(9)),
        (
            "D",
            V::Dyn(serde_json::json!({"PipeName": "\\Device\\NamedPipe\\x"})),
        ),
        ("IP", V::Str("10.1.2.3".into())),
    ])
}

#[test]
fn string_operators_and_case() {
    let (s, r) = (t_schema(), t_row());
    let k = |q: &str| keeps(&format!("T\n| where {q}"), &s, &r).unwrap();
    assert!(k(r#"S =~ "c:\\windows\\cmd.EXE""#));
    assert!(!k(r#"S == "c:\\windows\\cmd.exe""#), "== is case-sensitive");
    assert!(k(r#"S endswith @"\cmd.exe""#));
    assert!(!k(r#"S endswith_cs @"\cmd.exe""#));
    assert!(k(r#"S startswith_cs "C:" and S contains "windows""#));
    assert!(k(r#"S in~ ("x", "C:\\WINDOWS\\cmd.exe")"#));
    assert!(!k(r#"S in ("x", "C:\\WINDOWS\\cmd.exe")"#));
    assert!(k(r#"S !contains "notepad""#));
    assert!(k(r#"S matches regex @"(?i)\\cmd\.exe$""#));
    assert!(
        !k(r#"S matches regex @"\\cmd\.exe$""#),
        "RE2 is case-sensitive"
    );
    assert!(
        k(r#"S matches regex "^C:""#),
        "no implicit anchors, a match anywhere"
    );
    // A missing string column reads as "".
    assert!(k(
        r#"isempty(E) and E == "" and E =~ "" and not(isnotempty(E))"#
    ));
    assert!(k(r#"tostring(D.PipeName) endswith @"\x""#));
    assert!(k(
        r#"tostring(parse_json(D).PipeName) startswith @"\Device""#
    ));
}

#[test]
fn numbers_nulls_and_three_valued_logic() {
    let (s, r) = (t_schema(), t_row());
    let k = |q: &str| keeps(&format!("T\n| where {q}"), &s, &r).unwrap();
    assert!(k("N == 9 and tostring(N) == \"9\" and N > 8 and N <= 9"));
    assert!(!k("M == 9"), "null == x is false");
    assert!(k("M != 9"), "null != x is true");
    assert!(
        !k("M > 1") && !k("not(M > 1)"),
        "null compared is null, not(null) is null"
    );
    assert!(k("M > 1 or N == 9"), "null or true");
    assert!(!k("M > 1 and true"));
    assert!(k(
        "isnull(M) and isnotnull(N) and isempty(M) and isempty(tostring(M))"
    ));
    assert!(k(r#"tolong("09") == 9 and isnull(tolong("abc"))"#));
    // What the reference leaves open is an error, not a guess.
    assert!(keeps(r#"T | where tolong("0x9") == 9"#, &s, &r).is_err());
    assert!(keeps(r#"T | where tolong(" 9") == 9"#, &s, &r).is_err());
    // Wrong types and unknown names are errors.
    assert!(keeps(r#"T | where N == "9""#, &s, &r).is_err());
    assert!(keeps(r#"T | where N contains "9""#, &s, &r).is_err());
    assert!(keeps(r#"T | where Nope == 1"#, &s, &r).is_err());
    assert!(keeps(r#"T | where strlen(S) == 1"#, &s, &r).is_err());
    assert!(keeps(r#"T | where S has "cmd""#, &s, &r).is_err());
    assert!(keeps(r#"T | where isnull(S)"#, &s, &r).is_err());
}

#[test]
fn ip_ranges() {
    let (s, r) = (t_schema(), t_row());
    let k = |q: &str| keeps(&format!("T\n| where {q}"), &s, &r).unwrap();
    assert!(k(r#"ipv4_is_in_range(IP, "10.0.0.0/8")"#));
    assert!(!k(r#"ipv4_is_in_range(IP, "10.0.0.0/16")"#));
    assert!(
        !k(r#"ipv4_is_in_range(S, "0.0.0.0/0")"#),
        "not an address: null"
    );
    assert!(!k(r#"ipv6_is_in_range(IP, "::1/128")"#));
    assert!(
        k(r#"ipv6_is_in_range(IP, "::ffff:10.0.0.0/104")"#),
        "IPv4 read as mapped"
    );
    let v6 = row(&[("IP", V::Str("fe80::1".into()))]);
    assert!(keeps(r#"T | where ipv6_is_in_range(IP, "fe80::/10")"#, &s, &v6).unwrap());
    assert!(!keeps(r#"T | where ipv4_is_in_range(IP, "0.0.0.0/0")"#, &s, &v6).unwrap());
}

#[test]
fn computed_columns() {
    let s = schema_of(&[
        ("AccountDomain", Type::Str),
        ("AccountName", Type::Str),
        ("K", Type::Str),
        ("T", Type::Str),
        ("Data", Type::Str),
    ]);
    let r = row(&[
        ("AccountName", V::Str("bob".into())),
        (
            "K",
            V::Str("HKEY_LOCAL_MACHINE\\SYSTEM\\ControlSet001\\x".into()),
        ),
        ("T", V::Str("Dword".into())),
        ("Data", V::Str("26".into())),
    ]);
    let q = r#"X
| extend u = iff(isempty(AccountDomain), AccountName, strcat(AccountDomain, @"\", AccountName))
| extend k = replace_regex(replace_regex(K, @"(?i)^HKEY_LOCAL_MACHINE\\", @"HKLM\\"), @"(?i)^HKLM\\SYSTEM\\ControlSet\d{3}\\", @"HKLM\\System\\CurrentControlSet\\")
| extend d = case(T =~ "Dword", strcat("DWORD (0x", tohex(tolong(Data), 8), ")"), Data)
| extend h = extract(@"^(?:[a-z]+://)?([^/:]+)", 1, "https://example.org:8/a")
| where u == "bob" and k == @"HKLM\System\CurrentControlSet\x" and d == "DWORD (0x0000001a)" and h == "example.org""#;
    assert!(keeps(q, &s, &r).unwrap());
}

#[test]
fn re2_classes_are_ascii() {
    let m = |p: &str, t: &str| re2(p).unwrap().is_match(t);
    assert!(m(r"^\d$", "5") && !m(r"^\d$", "٣"));
    assert!(m(r"^\w+$", "a_1") && !m(r"^\w$", "é"));
    assert!(m(r"^[\w.]+$", "a.b") && !m(r"^[\w.]+$", "é"));
    assert!(m(r"\bcmd\b", "a cmd b") && !m(r"\bcmd\b", "acmd"));
    assert!(m(r"^\s$", "\t") && !m(r"^\s$", "\u{a0}"));
    assert!(re2(r"(?=a)").is_err(), "RE2 has no look-around");
    assert!(re2(r"a\Z").is_err());
}

#[test]
fn parser_refuses_what_it_does_not_know() {
    for bad in [
        "T | where A == 1 | project A",
        "T | summarize count()",
        "T",
        "T | where A = 1",
        "T | where (A == 1",
        "T | where A == 1 // c",
        "T | where A matches \"x\"",
        "T | where -1 == A",
    ] {
        assert!(parse_query(bad).is_err(), "{bad} must be refused");
    }
    let q = parse_query("T\n| extend x = strcat(A, \"\\\\\")\n| where x !in~ (\"a\", 'b') and ['odd name'] =~ \"\\u0041\"").unwrap();
    assert_eq!(q.table, "T");
    assert_eq!(q.extends.len(), 1);
}

// ================================================================================ end to end

fn sigc(args: &[String]) -> (i32, String, String) {
    let o = Command::new(SIGC)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("running sigc: {e}"));
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// One rule as `sigc debug ir -p microsoft_xdr` prints it: its log source and pipeline state.
struct IrRule {
    category: Option<String>,
    product: Option<String>,
    state: Vec<(String, String)>,
}

fn debug_ir(rule_dirs: &[String]) -> HashMap<String, IrRule> {
    let mut a = vec!["debug".into(), "ir".into(), "-p".into(), PIPELINE.into()];
    a.extend(rule_dirs.iter().cloned());
    let (code, out, err) = sigc(&a);
    assert!(code == 0 || code == 1, "sigc debug ir: {err}");
    let mut map = HashMap::new();
    for block in out.split("\n# ") {
        let Some(id) = block.lines().find_map(|l| l.strip_prefix("  id: ")) else {
            continue;
        };
        let ls = block
            .lines()
            .find_map(|l| l.strip_prefix("  logsource: "))
            .unwrap_or("");
        let part = |k: &str| {
            ls.split_whitespace()
                .find_map(|w| w.strip_prefix(k))
                .map(str::to_string)
        };
        let state = block
            .lines()
            .filter_map(|l| l.strip_prefix("  state: "))
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        map.insert(
            id.to_string(),
            IrRule {
                category: part("category="),
                product: part("product="),
                state,
            },
        );
    }
    map
}

/// rule id → (path, query or the backend's refusal).
fn convert(rule_dirs: &[String]) -> Converted {
    let mut a = vec![
        "convert".into(),
        "-t".into(),
        "kql".into(),
        "-p".into(),
        PIPELINE.into(),
        "--json".into(),
    ];
    a.extend(rule_dirs.iter().cloned());
    let (code, out, err) = sigc(&a);
    assert!(code == 0 || code == 1, "sigc convert exited {code}: {err}");
    converted(&out)
}

/// The pipeline's plain field renames per log source category (Windows rules): Sigma field →
/// column or computed column. Renames that depend on the values (`ParentImage` outside process
/// creation, `Initiated`, `EventType`) are left out: the rows get `ActionType` from the event id.
fn field_mappings() -> HashMap<String, Vec<(String, String)>> {
    let path = format!("{}/backends/kql/{PIPELINE}.yml", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap();
    let docs = yaml_rust2::YamlLoader::load_from_str(&text).unwrap();
    let mut out: HashMap<String, Vec<(String, String)>> = HashMap::new();
    for t in docs[0]["transformations"].as_vec().unwrap() {
        if t["type"].as_str() != Some("field_name_mapping")
            || !t["detection_item_conditions"].is_badvalue()
        {
            continue;
        }
        let mut cats = Vec::new();
        for c in t["rule_conditions"].as_vec().unwrap() {
            let product = c["product"].as_str();
            if product.is_none() || product == Some("windows") {
                cats.push(c["category"].as_str().unwrap().to_string());
            }
        }
        for (k, v) in t["mapping"].as_hash().unwrap() {
            for c in &cats {
                out.entry(c.clone()).or_default().push((
                    k.as_str().unwrap().to_string(),
                    v.as_str().unwrap().to_string(),
                ));
            }
        }
    }
    out
}

/// A log source category the rows are made for: its table, schema, renames and computed
/// columns (as a query whose `extend`s this runner evaluates).
struct Category {
    name: String,
    table: String,
    schema: Schema,
    mapping: Vec<(String, String)>,
    extends: Vec<(String, String)>,
    extender: Compiled,
    hashes: Vec<(String, String)>,
    file: String,
    /// The category whose rows this one reads: the first one with the same table, renames and
    /// computed columns (the five registry categories share one set of rows).
    rows_of: usize,
}

/// Sysmon event ids → the categories whose table records them, and the row's ActionType.
fn sysmon_kind(eid: &str, ev: &Event) -> Option<(&'static [&'static str], String)> {
    const PROC: &[&str] = &["process_creation"];
    const NET: &[&str] = &["network_connection"];
    const IMG: &[&str] = &["image_load"];
    const DEV: &[&str] = &["driver_load", "create_remote_thread", "pipe_created"];
    const FILE: &[&str] = &["file_event", "file_delete", "file_rename"];
    const REG: &[&str] = &[
        "registry_add",
        "registry_delete",
        "registry_set",
        "registry_event",
        "registry_rename",
    ];
    let first = |f: &str| {
        ev.get(f)
            .first()
            .map(|v| v.text.clone())
            .unwrap_or_default()
    };
    Some(match eid {
        "1" => (PROC, "ProcessCreated".into()),
        "3" => (
            NET,
            if first("Initiated").eq_ignore_ascii_case("true") {
                "ConnectionSuccess".into()
            } else {
                "InboundConnectionAccepted".into()
            },
        ),
        "7" => (IMG, "ImageLoaded".into()),
        "6" => (DEV, "DriverLoad".into()),
        "8" => (DEV, "CreateRemoteThreadApiCall".into()),
        "17" | "18" => (DEV, "NamedPipeEvent".into()),
        "11" => (FILE, "FileCreated".into()),
        "23" | "26" => (FILE, "FileDeleted".into()),
        "12" => (
            REG,
            match first("EventType").as_str() {
                "CreateKey" => "RegistryKeyCreated".into(),
                "DeleteKey" => "RegistryKeyDeleted".into(),
                _ => "RegistryValueDeleted".into(),
            },
        ),
        "13" => (REG, "RegistryValueSet".into()),
        "14" => (REG, "RegistryKeyRenamed".into()),
        _ => return None,
    })
}

/// A Sysmon registry path with the hive written in full, as Defender writes it.
fn hive_long(path: &str) -> String {
    let l = path.to_ascii_lowercase();
    for (short, long) in [
        (
            "hklm\\system\\currentcontrolset\\",
            "HKEY_LOCAL_MACHINE\\SYSTEM\\ControlSet001\\",
        ),
        ("hklm\\", "HKEY_LOCAL_MACHINE\\"),
        ("hku\\", "HKEY_USERS\\"),
        ("hkcr\\", "HKEY_CLASSES_ROOT\\"),
    ] {
        if l.starts_with(short) {
            return format!("{long}{}", &path[short.len()..]);
        }
    }
    path.to_string()
}

fn split_last(path: &str) -> (&str, &str) {
    path.rsplit_once('\\').unwrap_or(("", path))
}

/// The columns (as text) of category `cat`'s row for event `ev`, and what sigc alone reads.
fn raw_row(
    ev: &Event,
    cat: &Category,
    action: &str,
) -> (HashMap<String, String>, serde_json::Map<String, Value>) {
    let mut raw: HashMap<String, String> = HashMap::new();
    let mut only_sigc = serde_json::Map::new();
    let first = |f: &str| ev.get(f).first().map(|v| v.text.clone());
    for (field, target) in &cat.mapping {
        let Some(text) = first(field) else { continue };
        if cat.schema.contains_key(target) {
            raw.insert(target.clone(), text);
            continue;
        }
        match target.as_str() {
            "sigc_hashes" => {
                for part in text.split(',') {
                    if let Some((algo, digest)) = part.split_once('=')
                        && let Some((_, col)) = cat
                            .hashes
                            .iter()
                            .find(|(a, _)| a.eq_ignore_ascii_case(algo))
                    {
                        raw.insert(col.clone(), digest.to_string());
                    }
                }
                only_sigc.insert("sigc_hashes".into(), Value::String(text));
            }
            "sigc_user" | "sigc_parent_user" | "sigc_source_user" => {
                // iff(isempty(<domain>), <name>, strcat(<domain>, @"\", <name>))
                let def = &cat.extends.iter().find(|(n, _)| n == target).unwrap().1;
                let inner = def.strip_prefix("iff(isempty(").unwrap();
                let (domain, rest) = inner.split_once("), ").unwrap();
                let name = rest.split_once(',').unwrap().0;
                let (d, n) = text.split_once('\\').unwrap_or(("", &text));
                raw.insert(domain.into(), d.into());
                raw.insert(name.into(), n.into());
            }
            "sigc_file_path" | "sigc_target_image" => {
                // File tables write the folder in FolderPath; the others the full path.
                let (dir, name) = split_last(&text);
                let folder = if cat.table == "DeviceFileEvents" {
                    dir
                } else {
                    &text
                };
                raw.insert("FolderPath".into(), folder.to_string());
                raw.insert("FileName".into(), name.to_string());
            }
            "sigc_registry_path" => {
                let value_event = matches!(action, "RegistryValueSet" | "RegistryValueDeleted");
                let (key, value) = if value_event {
                    let (k, v) = split_last(&text);
                    (
                        hive_long(k),
                        if v == "(Default)" { "" } else { v }.to_string(),
                    )
                } else {
                    (hive_long(&text), String::new())
                };
                let previous = matches!(
                    action,
                    "RegistryKeyDeleted" | "RegistryValueDeleted" | "RegistryKeyRenamed"
                );
                let (kc, vc) = if previous {
                    ("PreviousRegistryKey", "PreviousRegistryValueName")
                } else {
                    ("RegistryKey", "RegistryValueName")
                };
                raw.insert(kc.into(), key);
                raw.insert(vc.into(), value);
            }
            "sigc_registry_new_name" => {
                raw.insert("RegistryKey".into(), hive_long(&text));
            }
            "sigc_registry_details" => {
                let (ty, data) = if let Some(hex) = text
                    .strip_prefix("DWORD (0x")
                    .and_then(|h| h.strip_suffix(')'))
                {
                    (
                        "Dword",
                        i64::from_str_radix(hex, 16).map_or(text.clone(), |n| n.to_string()),
                    )
                } else if text.starts_with("QWORD (") {
                    ("Qword", text.clone())
                } else if text == "Binary Data" {
                    ("Binary", String::new())
                } else if text == "(Empty)" {
                    ("String", String::new())
                } else {
                    ("String", text.clone())
                };
                raw.insert("RegistryValueType".into(), ty.into());
                raw.insert("RegistryValueData".into(), data);
            }
            "sigc_pipe_name" => {
                raw.insert(
                    "AdditionalFields".into(),
                    serde_json::json!({ "PipeName": format!("\\Device\\NamedPipe{text}") })
                        .to_string(),
                );
            }
            t if t.starts_with("sigc_source_") || t.starts_with("sigc_destination_") => {}
            other => panic!(
                "{}: the runner does not know how to fill the computed column {other} (from {field})",
                cat.name
            ),
        }
    }
    if cat.table == "DeviceNetworkEvents" {
        let inbound = action == "InboundConnectionAccepted";
        let (local, remote) = if inbound {
            ("Destination", "Source")
        } else {
            ("Source", "Destination")
        };
        for (col, field) in [
            ("LocalIP", format!("{local}Ip")),
            ("LocalPort", format!("{local}Port")),
            ("DeviceName", format!("{local}Hostname")),
            ("RemoteIP", format!("{remote}Ip")),
            ("RemotePort", format!("{remote}Port")),
            ("RemoteUrl", format!("{remote}Hostname")),
        ] {
            if let Some(t) = first(&field) {
                raw.insert(col.into(), t);
            }
        }
    }
    raw.insert("ActionType".into(), action.into());
    (raw, only_sigc)
}

/// Text typed by the column's schema type; `None` where the table would hold no value.
fn typed(text: &str, t: Type) -> Option<V> {
    match t {
        Type::Str => (!text.is_empty()).then(|| V::Str(text.to_string())),
        Type::Long => {
            let d = text.strip_prefix('-').unwrap_or(text);
            let plain = !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit());
            plain.then(|| text.parse().ok().map(V::Long)).flatten()
        }
        Type::Bool => match text.to_ascii_lowercase().as_str() {
            "true" => Some(V::Bool(true)),
            "false" => Some(V::Bool(false)),
            _ => None,
        },
        Type::Dyn => serde_json::from_str(text).ok().map(V::Dyn),
        Type::Real | Type::DateTime => None,
    }
}

fn to_json(v: &V) -> Option<Value> {
    Some(match v {
        V::Null => return None,
        V::Str(s) if s.is_empty() => return None,
        V::Str(s) => Value::String(s.clone()),
        V::Long(i) => Value::from(*i),
        V::Bool(b) => Value::Bool(*b),
        V::Real(f) => Value::from(*f),
        V::Dyn(d) => d.clone(),
    })
}

/// One row for the KQL side, its computed columns, and the row with them as JSON for sigc.
fn make_row(
    ev: &Event,
    cat: &Category,
    action: &str,
) -> Result<(Row, HashMap<String, V>, String), String> {
    let (raw, mut obj) = raw_row(ev, cat, action);
    let mut r = Row::new();
    let mut cols: Vec<_> = raw.into_iter().collect();
    cols.sort();
    for (c, text) in cols {
        if let Some(v) = typed(&text, cat.schema[&c]) {
            if let Some(j) = to_json(&v) {
                obj.insert(c.clone(), j);
            }
            r.insert(c, v);
        }
    }
    let mut computed = HashMap::new();
    for (name, v) in cat.extender.extend(&r)? {
        if let Some(j) = to_json(&v) {
            obj.insert(name.clone(), j);
        }
        computed.insert(name, v);
    }
    Ok((r, computed, Value::Object(obj).to_string()))
}

struct RuleInfo {
    id: String,
    path: String,
    query: String,
    compiled: Compiled,
    /// The category whose rows it runs over (see [`Category::rows_of`]).
    category: usize,
    /// Its own category.
    kind: usize,
    /// Its `extend`s are the category's, word for word: the row's computed columns serve.
    same_extends: bool,
}

/// The `| extend name = value` steps of a query as written.
fn extend_steps(query: &str) -> Vec<(String, String)> {
    query
        .lines()
        .filter_map(|l| l.strip_prefix("| extend "))
        .filter_map(|l| l.split_once(" = "))
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect()
}

#[test]
#[cfg_attr(
    debug_assertions,
    ignore = "minutes in a debug build: scripts/test.sh runs it in release"
)]
fn kql_exactness() {
    let t0 = Instant::now();
    let rule_dirs = vec![
        shared("corpus/sigma/rules").display().to_string(),
        concat!(env!("CARGO_MANIFEST_DIR"), "/rules").to_string(),
    ];
    let ir = debug_ir(&rule_dirs);
    let converted = convert(&rule_dirs);
    let mappings = field_mappings();
    let out_dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("kql_exactness");
    std::fs::create_dir_all(&out_dir).unwrap();

    // ---- categories: table, schema, renames and computed columns from a Windows rule's state
    let mut cats: Vec<Category> = Vec::new();
    let mut ids: Vec<&String> = ir.keys().collect();
    ids.sort();
    for id in &ids {
        let r = &ir[*id];
        let (Some(cat), Some("windows")) = (&r.category, r.product.as_deref()) else {
            continue;
        };
        if cats.iter().any(|c| &c.name == cat) || !mappings.contains_key(cat) {
            continue;
        }
        let st = |k: &str| r.state.iter().find(|(x, _)| x == k).map(|(_, v)| v.clone());
        let Some(table) = st("kql_table") else {
            continue;
        };
        let schema = kql_eval::schema(&table).unwrap();
        let extends: Vec<(String, String)> = r
            .state
            .iter()
            .filter_map(|(k, v)| Some((k.strip_prefix("kql_extend_")?.to_string(), v.clone())))
            .collect();
        let mut text = table.clone();
        for (n, v) in &extends {
            parse_expr(v).unwrap_or_else(|e| panic!("{cat}: kql_extend_{n}: {e}"));
            text.push_str(&format!("\n| extend {n} = {v}"));
        }
        text.push_str("\n| where true");
        let extender = compile(parse_query(&text).unwrap(), &schema)
            .unwrap_or_else(|e| panic!("{cat}: computed columns: {e}"));
        let hashes = st("kql_hash_columns")
            .unwrap_or_default()
            .split_whitespace()
            .filter_map(|p| p.split_once('='))
            .map(|(a, c)| (a.to_string(), c.to_string()))
            .collect();
        cats.push(Category {
            name: cat.clone(),
            file: out_dir.join(format!("{cat}.jsonl")).display().to_string(),
            table,
            schema,
            mapping: mappings[cat].clone(),
            extends,
            extender,
            hashes,
            rows_of: 0,
        });
    }
    cats.sort_by(|a, b| a.name.cmp(&b.name));
    for i in 0..cats.len() {
        let owner = (0..=i)
            .find(|&j| {
                cats[j].table == cats[i].table
                    && cats[j].mapping == cats[i].mapping
                    && cats[j].extends == cats[i].extends
            })
            .unwrap_or(i);
        cats[i].rows_of = owner;
        cats[i].file = cats[owner].file.clone();
    }

    // ---- rules
    let mut rules: Vec<RuleInfo> = Vec::new();
    let mut refused = 0;
    let mut other_category: BTreeMap<String, usize> = BTreeMap::new();
    let mut outside: Vec<(String, String)> = Vec::new();
    let mut cids: Vec<&String> = converted.keys().collect();
    cids.sort();
    for id in cids {
        let (path, res) = &converted[id];
        let Ok(query) = res else {
            refused += 1;
            continue;
        };
        let category = ir
            .get(id)
            .and_then(|r| r.category.clone())
            .unwrap_or_default();
        let Some(ci) = cats.iter().position(|c| c.name == category) else {
            *other_category
                .entry(format!(
                    "{category} ({})",
                    query.lines().next().unwrap_or("")
                ))
                .or_default() += 1;
            continue;
        };
        match parse_query(query).and_then(|q| compile(q, &cats[ci].schema)) {
            Ok(compiled) => rules.push(RuleInfo {
                id: id.clone(),
                path: path.clone(),
                query: query.clone(),
                compiled,
                category: cats[ci].rows_of,
                kind: ci,
                same_extends: extend_steps(query)
                    .iter()
                    .all(|e| cats[ci].extends.contains(e)),
            }),
            Err(e) => outside.push((path.clone(), e)),
        }
    }

    // ---- rows from the events
    let mut event_files = Vec::new();
    walk(
        &shared("datasets/security-datasets"),
        &|s| s.ends_with(".zip") || s.ends_with(".tar.gz"),
        &mut event_files,
    );
    walk(
        &shared("corpus/sigma/regression_data"),
        &|s| s.ends_with(".json"),
        &mut event_files,
    );
    let t_convert = t0.elapsed();
    let t_rows = Instant::now();
    let events_read = std::sync::atomic::AtomicU64::new(0);
    type Made = (usize, Row, HashMap<String, V>, String);
    let per_file: Vec<Vec<Made>> = event_files
        .par_iter()
        .map(|file| {
            let mut out = Vec::new();
            spl::read_archive(file, &mut |m| {
                let Ok(text) = m.text else { return };
                for rec in split_records(&text) {
                    let Ok(ev) = Event::from_json(rec.text) else {
                        continue;
                    };
                    events_read.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let is_sysmon = ev.get("Channel").iter().any(|c| c.lower() == SYSMON);
                    let Some(eid) = ev.get("EventID").first().map(|v| v.text.clone()) else {
                        continue;
                    };
                    if !is_sysmon {
                        continue;
                    }
                    let Some((kinds, action)) = sysmon_kind(&eid, &ev) else {
                        continue;
                    };
                    for (ci, cat) in cats.iter().enumerate() {
                        if cat.rows_of == ci && kinds.contains(&cat.name.as_str()) {
                            let (r, computed, json) =
                                make_row(&ev, cat, &action).unwrap_or_else(|e| {
                                    panic!("{}: {}:{}: {e}", cat.name, m.source, rec.line)
                                });
                            out.push((ci, r, computed, json));
                        }
                    }
                }
            });
            out
        })
        .collect();
    let mut rows: Vec<Vec<(Row, HashMap<String, V>)>> = vec![Vec::new(); cats.len()];
    let mut texts: Vec<String> = vec![String::new(); cats.len()];
    for f in per_file {
        for (ci, r, computed, json) in f {
            rows[ci].push((r, computed));
            texts[ci].push_str(&json);
            texts[ci].push('\n');
        }
    }
    let mut files = Vec::new();
    for (ci, c) in cats.iter().enumerate() {
        if c.rows_of == ci {
            std::fs::write(&c.file, &texts[ci]).unwrap();
            files.push(c.file.clone());
        }
    }
    let t_rows = t_rows.elapsed();

    // ---- sigc's side
    let t1 = Instant::now();
    let mut a = vec!["eval".into(), "-p".into(), PIPELINE.into()];
    for r in rule_dirs {
        a.extend(["--rules".to_string(), r.clone()]);
    }
    a.push("--".into());
    a.extend(files);
    let (code, out, err) = sigc(&a);
    assert!(code == 0 || code == 1, "sigc eval: {err}");
    let mut sigc_sel: HashMap<String, HashSet<(String, u64)>> = HashMap::new();
    for line in out.lines() {
        let v: Value = serde_json::from_str(line).unwrap();
        let (Some(id), Some(src), Some(rec)) = (
            v["rule_id"].as_str(),
            v["source"].as_str(),
            v["record"].as_u64(),
        ) else {
            continue;
        };
        sigc_sel
            .entry(id.to_string())
            .or_default()
            .insert((src.to_string(), rec));
    }
    let t_sigc = t1.elapsed();

    // ---- the KQL side
    let t2 = Instant::now();
    let errors: Mutex<Vec<(usize, u64, String)>> = Default::default();
    let kql_sel: Vec<HashSet<u64>> = rules
        .par_iter()
        .enumerate()
        .map(|(ri, r)| {
            let mut hits = HashSet::new();
            for (i, (row, computed)) in rows[r.category].iter().enumerate() {
                let kept = if r.same_extends {
                    r.compiled.matches_extended(row, computed)
                } else {
                    r.compiled.matches(row)
                };
                match kept {
                    Ok(true) => {
                        hits.insert(i as u64 + 1);
                    }
                    Ok(false) => {}
                    Err(e) => errors.lock().unwrap().push((ri, i as u64 + 1, e)),
                }
            }
            hits
        })
        .collect();
    let t_kql = t2.elapsed();

    // ---- compare
    let empty = HashSet::new();
    let mut disagreements: Vec<(usize, u64, &str)> = Vec::new();
    let mut agreed = 0usize;
    let mut selecting = 0usize;
    for (ri, r) in rules.iter().enumerate() {
        let file = &cats[r.category].file;
        let theirs: HashSet<u64> = sigc_sel
            .get(&r.id)
            .unwrap_or(&empty)
            .iter()
            .filter(|(s, _)| s == file)
            .map(|(_, l)| *l)
            .collect();
        let ours = &kql_sel[ri];
        if !ours.is_empty() || !theirs.is_empty() {
            selecting += 1;
        }
        agreed += ours.intersection(&theirs).count();
        disagreements.extend(ours.difference(&theirs).map(|l| (ri, *l, "KQL only")));
        disagreements.extend(theirs.difference(ours).map(|l| (ri, *l, "sigc eval only")));
    }
    disagreements.sort();
    let errors = errors.into_inner().unwrap();

    println!("== kql exactness (microsoft_xdr) ==");
    println!(
        "rules: {} converted and compared; {refused} refused by the backend; {} outside the subset; converted in categories without rows: {other_category:?}",
        rules.len(),
        outside.len()
    );
    println!("events read: {}", events_read.into_inner());
    for (ci, c) in cats.iter().enumerate() {
        let n = rules.iter().filter(|r| r.kind == ci).count();
        let shared = if c.rows_of == ci {
            String::new()
        } else {
            format!(" (those of {})", cats[c.rows_of].name)
        };
        println!(
            "  {:<22} {:<22} {n:>5} rules over {:>7} rows{shared}",
            c.name,
            c.table,
            rows[c.rows_of].len()
        );
    }
    println!(
        "selections: {agreed} agreed, {} disagreements; {selecting} rules select at least one row",
        disagreements.len()
    );
    println!(
        "time: convert+ir {:.1?}, rows {:.1?}, sigc eval {:.1?}, KQL evaluation {:.1?}, total {:.1?}",
        t_convert,
        t_rows,
        t_sigc,
        t_kql,
        t0.elapsed()
    );
    for (p, e) in &outside {
        println!("OUTSIDE THE SUBSET: {p}: {e}");
    }
    let mut seen = HashSet::new();
    for (ri, line, e) in &errors {
        if seen.insert(*ri) {
            println!(
                "EVALUATION ERROR: {} (row {line} of {}): {e}",
                rules[*ri].path, cats[rules[*ri].category].name
            );
        }
    }
    let report = out_dir.join("../kql_exactness_disagreements.jsonl");
    let mut lines = String::new();
    let mut per_rule: BTreeMap<usize, usize> = BTreeMap::new();
    for (ri, line, side) in &disagreements {
        *per_rule.entry(*ri).or_default() += 1;
        let r = &rules[*ri];
        let text = texts[r.category]
            .lines()
            .nth(*line as usize - 1)
            .unwrap_or("");
        lines.push_str(
            &serde_json::json!({"rule": r.path, "id": r.id, "query": r.query, "category": cats[r.category].name, "record": line, "selected_by": side, "row": text})
                .to_string(),
        );
        lines.push('\n');
    }
    std::fs::write(&report, lines).unwrap();
    for (ri, n) in per_rule.iter().take(40) {
        let r = &rules[*ri];
        let first = disagreements.iter().find(|d| d.0 == *ri).unwrap();
        println!(
            "DISAGREEMENT: {} ({n} rows; first row {} of {} selected by {})\n    {}\n    {}",
            r.path,
            first.1,
            cats[r.category].name,
            first.2,
            texts[r.category]
                .lines()
                .nth(first.1 as usize - 1)
                .unwrap_or(""),
            r.query.replace('\n', "\n    ")
        );
    }
    if !disagreements.is_empty() {
        println!(
            "all {} disagreements: {}",
            disagreements.len(),
            report.display()
        );
    }
    assert!(
        outside.is_empty(),
        "{} queries outside the KQL subset",
        outside.len()
    );
    assert!(errors.is_empty(), "{} evaluation errors", errors.len());
    assert!(rules.len() > 1000, "only {} rules compared", rules.len());
    assert!(agreed > 0, "no row selected by both sides");
    assert!(
        disagreements.is_empty(),
        "{} disagreements over {} rules",
        disagreements.len(),
        per_rule.len()
    );
}
