//! Differential test of the evaluator: random IR expressions over every kind of test, compiled
//! to bytecode and run by the VM on random events, must agree with a deliberately simple
//! reference interpreter written here from the semantics in `src/eval/matcher.rs`'s docs.
//! The reference works on `serde_json::Value` events and turns string patterns into regexes,
//! so it shares no matching code with the evaluator.

use std::sync::Arc;

use proptest::prelude::*;
use serde_json::{Value, json};

use sigc::bytecode::compile::Compiler;
use sigc::eval::event::Event;
use sigc::eval::json as event_json;
use sigc::eval::prefilter::Cache;
use sigc::eval::vm::Vm;
use sigc::ir::Expr;
use sigc::ir::pred::*;
use sigc::ir::rule::{Header, Origin, RuleIr};
use sigc::source::{SourceFile, Span};

const FIELDS: &[&str] = &["a", "b", "c", "ip", "t"];

fn rule() -> Arc<RuleIr> {
    Arc::new(RuleIr {
        origin: Origin {
            file: SourceFile::new("t.yml", String::new()),
            index: 0,
            span: Span::default(),
        },
        header: Header {
            title: "t".into(),
            ..Header::default()
        },
        logsource: Default::default(),
        conditions: Vec::new(),
        state: Default::default(),
        applied: Vec::new(),
        filters: Vec::new(),
    })
}

// ---------- generators ----------

fn piece() -> impl Strategy<Value = Piece> {
    prop_oneof![
        4 => "[aAbB1\\\\ ]{1,3}".prop_map(Piece::Lit),
        1 => Just(Piece::AnyStr),
        1 => Just(Piece::AnyChar),
    ]
}

fn num(i: i64) -> Number {
    Number {
        text: i.to_string(),
        value: NumValue::Int(i),
    }
}

fn op() -> impl Strategy<Value = NumOp> {
    prop_oneof![
        Just(NumOp::Eq),
        Just(NumOp::Lt),
        Just(NumOp::Lte),
        Just(NumOp::Gt),
        Just(NumOp::Gte)
    ]
}

fn test() -> impl Strategy<Value = Test> {
    prop_oneof![
        4 => (prop::collection::vec(piece(), 0..4), any::<bool>(), any::<bool>(), any::<bool>())
            .prop_map(|(p, s, e, c)| Test::Str(StrMatch::new(p, s, e, c))),
        1 => (prop_oneof![Just("a+b"), Just("^b"), Just("1$"), Just("A.b"), Just("(a|1)b")], any::<bool>())
            .prop_map(|(p, i)| Test::Regex(RegexMatch { pattern: p.into(), ignore_case: i, multi_line: false, dot_all: false })),
        2 => (op(), -3i64..20).prop_map(|(o, n)| Test::Num(o, num(n))),
        1 => any::<bool>().prop_map(Test::Bool),
        1 => Just(Test::Null),
        1 => Just(Test::Exists),
        1 => prop_oneof![Just("10.0.0.0/8"), Just("10.1.2.0/24"), Just("fe80::/10"), Just("192.168.0.0/16")]
            .prop_map(|n| Test::Cidr(n.parse().unwrap())),
        1 => (0..3usize, prop_oneof![Just(RefShape::Equal), Just(RefShape::StartsWith), Just(RefShape::EndsWith), Just(RefShape::Contains)], any::<bool>())
            .prop_map(|(f, shape, cased)| Test::FieldRef(FieldRef { other: FIELDS[f].into(), shape, cased })),
        1 => (prop_oneof![Just(TimePart::Hour), Just(TimePart::Minute), Just(TimePart::Month), Just(TimePart::Year)], op(), 0i64..13)
            .prop_map(|(p, o, v)| Test::TimePart(p, o, if p == TimePart::Year { 2020 + v % 3 } else { v })),
    ]
}

fn pred() -> impl Strategy<Value = Expr> {
    (prop::option::weighted(0.9, 0..FIELDS.len()), test()).prop_map(|(f, t)| {
        // Keywords only make sense for string tests.
        let field = match (&t, f) {
            (Test::Str(_) | Test::Regex(_), None) => None,
            (_, f) => Some(FIELDS[f.unwrap_or(0)].to_string()),
        };
        Expr::pred(Pred { field, test: t })
    })
}

fn expr() -> impl Strategy<Value = Expr> {
    pred().prop_recursive(4, 24, 4, |inner| {
        prop_oneof![
            inner.clone().prop_map(Expr::not),
            prop::collection::vec(inner.clone(), 1..4).prop_map(Expr::and),
            prop::collection::vec(inner, 1..4).prop_map(Expr::or),
        ]
    })
}

fn scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        4 => "[aAbB1\\\\ ]{0,5}".prop_map(Value::String),
        2 => (-3i64..20).prop_map(Value::from),
        1 => (-3i64..20).prop_map(|i| Value::String(i.to_string())),
        1 => (0i64..20).prop_map(|i| Value::String(format!("0x{i:x}"))),
        1 => any::<bool>().prop_map(Value::Bool),
        1 => Just(Value::Null),
        1 => prop_oneof![Just("10.1.2.3"), Just("10.9.9.9"), Just("192.168.1.1"), Just("fe80::1"), Just("8.8.8.8")].prop_map(|s| Value::String(s.into())),
        1 => (2020i64..2023, 1i64..13, 0i64..24, 0i64..60)
            .prop_map(|(y, mo, h, mi)| Value::String(format!("{y}-{mo:02}-15T{h:02}:{mi:02}:00Z"))),
    ]
}

fn event() -> impl Strategy<Value = Value> {
    prop::collection::vec(
        prop::option::weighted(0.8, prop_oneof![4 => scalar(), 1 => prop::collection::vec(scalar(), 0..3).prop_map(Value::Array)]),
        FIELDS.len(),
    )
    .prop_map(|vals| {
        let mut m = serde_json::Map::new();
        for (name, v) in FIELDS.iter().zip(vals) {
            if let Some(v) = v {
                m.insert((*name).into(), v);
            }
        }
        Value::Object(m)
    })
}

// ---------- the reference interpreter ----------

/// The scalar values of a field (array elements flattened); `None` when absent.
fn values<'a>(ev: &'a Value, field: &str) -> Option<Vec<&'a Value>> {
    match ev.get(field)? {
        Value::Array(items) => Some(items.iter().collect()),
        v => Some(vec![v]),
    }
}

fn text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn number(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => {
            let s = s.trim();
            match s.strip_prefix("0x") {
                Some(h) => i64::from_str_radix(h, 16).ok().map(|i| i as f64),
                None => s.parse::<f64>().ok(),
            }
        }
        _ => None,
    }
}

fn cmp(x: f64, op: NumOp, y: f64) -> bool {
    match op {
        NumOp::Eq => x == y,
        NumOp::Lt => x < y,
        NumOp::Lte => x <= y,
        NumOp::Gt => x > y,
        NumOp::Gte => x >= y,
    }
}

fn glob_regex(m: &StrMatch) -> regex::Regex {
    let mut re = String::from(if m.cased { "(?s)" } else { "(?si)" });
    if m.anchor_start {
        re.push('^');
    }
    for p in &m.pieces {
        match p {
            Piece::Lit(s) => re.push_str(&regex::escape(s)),
            Piece::AnyStr => re.push_str(".*"),
            Piece::AnyChar => re.push('.'),
            Piece::Placeholder(_) => unreachable!(),
        }
    }
    if m.anchor_end {
        re.push('$');
    }
    regex::Regex::new(&re).unwrap()
}

fn ref_test(ev: &Value, field: Option<&str>, t: &Test) -> bool {
    let Some(field) = field else {
        // Keyword: any scalar anywhere in the event.
        let all: Vec<&Value> = FIELDS
            .iter()
            .filter_map(|f| values(ev, f))
            .flatten()
            .collect();
        return all.into_iter().any(|v| ref_scalar(ev, v, t));
    };
    match t {
        Test::Null => values(ev, field).is_none_or(|vs| vs.iter().all(|v| v.is_null())),
        Test::Exists => ev.get(field).is_some(),
        _ => values(ev, field).is_some_and(|vs| vs.into_iter().any(|v| ref_scalar(ev, v, t))),
    }
}

fn ref_scalar(ev: &Value, v: &Value, t: &Test) -> bool {
    match t {
        Test::Str(m) => text(v).is_some_and(|s| glob_regex(m).is_match(&s)),
        Test::Regex(r) => text(v).is_some_and(|s| {
            regex::RegexBuilder::new(&r.pattern)
                .case_insensitive(r.ignore_case)
                .build()
                .unwrap()
                .is_match(&s)
        }),
        // Equality with a whole number is its plain decimal text; order reads hex and decimal.
        Test::Num(
            NumOp::Eq,
            Number {
                value: NumValue::Int(i),
                ..
            },
        ) => matches!(v, Value::String(_) | Value::Number(_)) && text(v) == Some(i.to_string()),
        Test::Num(op, n) => number(v).is_some_and(|x| cmp(x, *op, n.value.as_f64())),
        Test::Bool(b) => match v {
            Value::Bool(x) => x == b,
            Value::String(s) => s.eq_ignore_ascii_case(if *b { "true" } else { "false" }),
            _ => false,
        },
        Test::Cidr(net) => match v {
            Value::String(s) => s
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| net.contains(&ip)),
            _ => false,
        },
        Test::FieldRef(r) => {
            let Some(a) = text(v) else { return false };
            values(ev, &r.other)
                .unwrap_or_default()
                .into_iter()
                .filter_map(text)
                .any(|b| {
                    let (a, b) = if r.cased {
                        (a.clone(), b)
                    } else {
                        (a.to_lowercase(), b.to_lowercase())
                    };
                    match r.shape {
                        RefShape::Equal => a == b,
                        RefShape::StartsWith => a.starts_with(&b),
                        RefShape::EndsWith => a.ends_with(&b),
                        RefShape::Contains => a.contains(&b),
                    }
                })
        }
        Test::TimePart(part, op, n) => {
            let Some(s) = v.as_str() else { return false };
            let re = regex::Regex::new(r"^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})").unwrap();
            re.captures(s).is_some_and(|c| {
                let idx = match part {
                    TimePart::Year => 1,
                    TimePart::Month => 2,
                    TimePart::Day => 3,
                    TimePart::Hour => 4,
                    TimePart::Minute => 5,
                    TimePart::Week => return false,
                };
                cmp(c[idx].parse::<f64>().unwrap(), *op, *n as f64)
            })
        }
        Test::Null | Test::Exists | Test::Expression(_) => false,
    }
}

fn ref_eval(ev: &Value, e: &Expr) -> bool {
    match e {
        Expr::True => true,
        Expr::False => false,
        Expr::Pred(p) => ref_test(ev, p.field.as_deref(), &p.test),
        Expr::Not(x) => !ref_eval(ev, x),
        Expr::And(items) => items.iter().all(|i| ref_eval(ev, i)),
        Expr::Or(items) => items.iter().any(|i| ref_eval(ev, i)),
    }
}

fn vm_eval(e: &Expr, ev: &Value) -> bool {
    vm_eval_all(std::slice::from_ref(e), ev)[0]
}

/// Compile every expression as a rule of one program (so they share tests, literal automata
/// and anchor tables, as a real rule set does) and run each on the event with one cache.
fn vm_eval_all(exprs: &[Expr], ev: &Value) -> Vec<bool> {
    let mut c = Compiler::new();
    for f in FIELDS {
        c.intern_field(f);
    }
    for e in exprs {
        c.add_rule(&rule(), e);
    }
    let vm = Vm::new(c.finish()).unwrap();
    let mut event = Event::new(vm.program.fields.len());
    event_json::read(&ev.to_string(), &vm.program.fields, &mut event).unwrap();
    let mut cache = Cache::default();
    // Routes the event, lowercases what the rules read and drops the rules the anchor index
    // rules out (none has a routing guard).
    let mut candidates = Vec::new();
    vm.candidates(&mut event, &mut candidates, &mut cache);
    let got: Vec<bool> = (0..exprs.len())
        .map(|r| vm.matches_with(r, &event, &mut cache))
        .collect();
    for (r, &m) in got.iter().enumerate() {
        assert!(
            !m || candidates.contains(&(r as u32)),
            "rule {r} matches but was not a candidate"
        );
    }
    got
}

/// A case-insensitive exact, prefix, suffix or substring test of one literal on field `a`,
/// from a tiny alphabet so that the literals of a rule set overlap and share prefixes and
/// suffixes: the anchor index's anchored automata and the literal index's skip searcher
/// (literals of 3 bytes or more, values of a few hundred bytes) must find exactly what the
/// reference finds.
fn literal_pred() -> impl Strategy<Value = Expr> {
    ("[aAb.]{3,6}", 0u8..4).prop_map(|(lit, shape)| {
        let (starts, ends) =
            [(true, true), (true, false), (false, true), (false, false)][shape as usize];
        Expr::pred(Pred {
            field: Some("a".into()),
            test: Test::Str(StrMatch::new(vec![Piece::Lit(lit)], starts, ends, false)),
        })
    })
}

fn literal_event() -> impl Strategy<Value = Value> {
    prop_oneof!["[aAb.]{0,12}", "[aAb.]{90,400}"].prop_map(|a| json!({ "a": a }))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 3000, ..ProptestConfig::default() })]

    #[test]
    fn literal_heavy_rule_sets_agree_with_the_reference(
        es in prop::collection::vec(prop::collection::vec(literal_pred(), 1..4).prop_map(Expr::or), 8..40),
        ev in literal_event(),
    ) {
        let got = vm_eval_all(&es, &ev);
        for (i, e) in es.iter().enumerate() {
            prop_assert_eq!(got[i], ref_eval(&ev, e), "rule {} of {:?}\nevent {}", i, es, ev);
        }
    }

    #[test]
    fn vm_agrees_with_the_reference(e in expr(), ev in event()) {
        prop_assert_eq!(vm_eval(&e, &ev), ref_eval(&ev, &e), "expr {:?}\nevent {}", e, ev);
    }

    /// Several rules in one program: shared tests, memo, literal automata and the anchor index
    /// must not let one rule's work change another's verdict.
    #[test]
    fn rule_sets_agree_with_the_reference(es in prop::collection::vec(expr(), 2..8), ev in event()) {
        let got = vm_eval_all(&es, &ev);
        for (i, e) in es.iter().enumerate() {
            prop_assert_eq!(got[i], ref_eval(&ev, e), "rule {} of {:?}\nevent {}", i, es, ev);
        }
    }
}

#[test]
fn reference_sanity() {
    // The reference itself, on hand-checked cases, so a broken reference cannot hide a bug.
    let ev = json!({"a": "C:\\Windows\\cmd.exe", "b": 4688, "c": "0x10", "ip": "10.1.2.3", "t": "2021-05-03T07:08:00Z"});
    let m = StrMatch::new(vec![Piece::Lit("\\CMD.exe".into())], false, true, false);
    assert!(ref_test(&ev, Some("a"), &Test::Str(m.clone())));
    assert!(vm_eval(
        &Expr::pred(Pred {
            field: Some("a".into()),
            test: Test::Str(m)
        }),
        &ev
    ));
    assert!(ref_test(&ev, Some("c"), &Test::Num(NumOp::Gte, num(16))));
    assert!(!ref_test(&ev, Some("c"), &Test::Num(NumOp::Eq, num(16))));
    assert!(ref_test(&ev, Some("b"), &Test::Num(NumOp::Eq, num(4688))));
    assert!(ref_test(
        &ev,
        Some("t"),
        &Test::TimePart(TimePart::Hour, NumOp::Eq, 7)
    ));
    assert!(ref_test(&ev, Some("zz"), &Test::Null));
    assert!(!ref_test(&ev, Some("zz"), &Test::Exists));
}
