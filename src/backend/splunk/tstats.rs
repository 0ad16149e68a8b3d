//! `-f tstats`: a rule as a `| tstats` search over a CIM data model, in the shape of Splunk's
//! own security_content detections:
//!
//! ```text
//! | tstats `security_content_summariesonly` count min(_time) as firstTime max(_time) as lastTime
//!   from datamodel=Endpoint.Processes where <terms> by <fields>
//! | `drop_dm_object_name(Processes)`
//! | `security_content_ctime(firstTime)`
//! | `security_content_ctime(lastTime)`
//! | `<rule_name>_filter`
//! ```
//!
//! The data model comes from the pipeline state the `splunk_cim` pipeline sets (`data_model`,
//! `data_object`, `node_name`, `by_fields`, `name_fields`; see `backends/splunk/README.md`).
//! State keys override the rest: `tstats_summariesonly` (the text after `tstats`),
//! `tstats_aggregations`, `tstats_span` (adds `_time span=...` to the `by` fields) and
//! `tstats_by` (replaces the `by` fields).
//!
//! Exactness: the `where` clause of tstats takes search terms only. A conjunct that needs eval
//! (a regex, `?`, `cased`, a numeric comparison, a field reference) is filtered after tstats
//! with `| where`, on fields added to `by` so that they survive the aggregation. A rule naming a
//! field outside its data model, or whose log source has no data model, is refused.
//!
//! Two rewrites give the form Splunk's detections use: a path field's `endswith "\name"`
//! becomes the name field's equality (`Processes.process_name="cmd.exe"`), and a regex that
//! tests the last path component for a substring (`\\[^\\]*powershell[^\\]*$`) becomes a
//! wildcard on the name field; both mean the same when the name field holds the path's last
//! component, as the CIM defines it. Sysmon `Hashes` values (`SHA256=...`) become the digest
//! compared with the CIM hash field.
//!
//! Refused as well: a rule routed to a data model by its event codes that could match without
//! them (state `event_code_field`), and a test that the data model's own fill of an empty
//! field would change (state `empty_fills`, see [`Fill`]): the CIM writes `unknown` for an
//! empty `Processes.user`, so `user=*` holds there for every event, where Sigma's `User: '*'`
//! needs a user.

use crate::ir::Expr;
use crate::ir::pred::{NumOp, Piece, Pred, StrMatch, Test};
use crate::ir::rule::RuleIr;

use super::spl;

pub(crate) fn convert(rule: &RuleIr) -> Result<String, String> {
    let state = |k: &str| rule.state.get(k).map(String::as_str);
    let Some(model) = state("data_model") else {
        return Err(format!(
            "the log source {} has no CIM data model in the pipelines given (splunk_cim maps every log source the CIM covers)",
            super::super::logsource_text(rule)
        ));
    };
    let object = state("data_object")
        .map(str::to_string)
        .unwrap_or_else(|| model.rsplit('.').next().unwrap_or(model).to_string());
    let names = name_fields(state("name_fields").unwrap_or(""));
    let e = rewrite(&rule.matcher(), &object, model, &names)?;
    check_fills(&e, &fills(state("empty_fills").unwrap_or("")), model)?;
    if let Some(code) = state("event_code_field") {
        // The rule's event codes chose the data model: exact only if every way the rule can
        // match needs one of those codes. With every test of the code made false, nothing may
        // be left that could match.
        if without_field(&e, code) != Expr::False {
            return Err(format!(
                "the rule can match events without its event codes, which {model} may not hold (its EventID test does not hold in every branch)"
            ));
        }
    }

    let (terms, post) = spl::split(&e)?;
    let mut by: Vec<String> = state("tstats_by")
        .or(state("by_fields"))
        .unwrap_or("")
        .split_whitespace()
        .map(str::to_string)
        .collect();
    if post.is_some() {
        // The fields `where` reads must survive the aggregation.
        let mut used = Vec::new();
        fields_of(&e, &mut used);
        for f in used {
            if !by.contains(&f) {
                by.push(f);
            }
        }
    }
    if let Some(span) = state("tstats_span") {
        by.push(format!("_time span={span}"));
    }
    let summaries = state("tstats_summariesonly").unwrap_or("`security_content_summariesonly`");
    let aggregations = state("tstats_aggregations")
        .unwrap_or("count min(_time) as firstTime max(_time) as lastTime");
    let mut q = format!("| tstats {summaries} {aggregations} from datamodel={model}");
    let mut where_terms = Vec::new();
    if let Some(node) = state("node_name") {
        where_terms.push(format!("nodename={node}"));
    }
    if terms != "*" {
        where_terms.push(terms);
    }
    if !where_terms.is_empty() {
        q.push_str(" where ");
        q.push_str(&where_terms.join(" AND "));
    }
    if !by.is_empty() {
        q.push_str(" by ");
        q.push_str(&by.join(" "));
    }
    if let Some(w) = post {
        q.push_str("\n| where ");
        q.push_str(&w);
    }
    q.push_str(&format!("\n| `drop_dm_object_name({object})`"));
    if aggregations.contains("as firstTime") {
        q.push_str("\n| `security_content_ctime(firstTime)`");
    }
    if aggregations.contains("as lastTime") {
        q.push_str("\n| `security_content_ctime(lastTime)`");
    }
    q.push_str(&format!("\n| `{}_filter`", rule_name(rule)));
    Ok(q)
}

/// The fields every CIM dataset inherits from `BaseEvent` besides `_time`: indexed with each
/// event, so tstats filters and groups on them without a dataset prefix (`source` names a
/// Windows channel where the dataset holds every channel).
const INHERITED: [&str; 3] = ["host", "source", "sourcetype"];

/// The rule's name in security_content's style: [`RuleIr::file_stem`].
pub(crate) fn rule_name(rule: &RuleIr) -> String {
    rule.file_stem()
}

/// `path=name` pairs.
fn name_fields(spec: &str) -> Vec<(String, String)> {
    spec.split_whitespace()
        .filter_map(|p| p.split_once('='))
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

/// Check every field is in the data model and apply the name and hash rewrites.
fn rewrite(
    e: &Expr,
    object: &str,
    model: &str,
    names: &[(String, String)],
) -> Result<Expr, String> {
    Ok(match e {
        Expr::True | Expr::False => e.clone(),
        Expr::Not(x) => Expr::not(rewrite(x, object, model, names)?),
        Expr::And(items) => Expr::and(
            items
                .iter()
                .map(|i| rewrite(i, object, model, names))
                .collect::<Result<Vec<_>, _>>()?,
        ),
        Expr::Or(items) => Expr::or(
            items
                .iter()
                .map(|i| rewrite(i, object, model, names))
                .collect::<Result<Vec<_>, _>>()?,
        ),
        Expr::Pred(p) => {
            let Some(field) = &p.field else {
                return Err(
                    "keywords have no form in a tstats search: it reads CIM data model fields only"
                        .into(),
                );
            };
            let prefix = format!("{object}.");
            if INHERITED.contains(&field.as_str()) {
                return Ok(e.clone());
            }
            if !field.starts_with(&prefix) {
                return Err(format!(
                    "the field `{field}` has no CIM field in the data model {model}"
                ));
            }
            if let Test::FieldRef(r) = &p.test
                && !r.other.starts_with(&prefix)
            {
                return Err(format!(
                    "the field `{}` has no CIM field in the data model {model}",
                    r.other
                ));
            }
            if field.ends_with("_hash") {
                return hash(p);
            }
            let name = names.iter().find(|(path, _)| path == field).map(|(_, n)| n);
            match (name, &p.test) {
                (Some(name), Test::Str(m)) => match last_component(m) {
                    Some(lit) => Expr::pred(Pred {
                        field: Some(name.clone()),
                        test: Test::Str(StrMatch::new(vec![Piece::Lit(lit)], true, true, false)),
                    }),
                    None => e.clone(),
                },
                (Some(name), Test::Regex(r)) => match component_contains(r) {
                    Some(lit) => Expr::pred(Pred {
                        field: Some(name.clone()),
                        test: Test::Str(StrMatch::new(vec![Piece::Lit(lit)], false, false, false)),
                    }),
                    None => e.clone(),
                },
                _ => e.clone(),
            }
        }
    })
}

/// `endswith "\name"` (or `/name`), case-insensitive, with no other separator or wildcard:
/// the name.
fn last_component(m: &StrMatch) -> Option<String> {
    if m.cased || m.anchor_start || !m.anchor_end {
        return None;
    }
    let [Piece::Lit(s)] = m.pieces.as_slice() else {
        return None;
    };
    let name = s.strip_prefix('\\').or_else(|| s.strip_prefix('/'))?;
    (!name.is_empty() && !name.contains(['\\', '/', '*', '?'])).then(|| name.to_string())
}

/// A case-insensitive regex `\\[^\\]*X[^\\]*$` (X plain text): the name contains X.
fn component_contains(r: &crate::ir::pred::RegexMatch) -> Option<String> {
    if !r.ignore_case {
        return None;
    }
    let x = r
        .pattern
        .strip_prefix(r"\\[^\\]*")?
        .strip_suffix(r"[^\\]*$")?;
    (!x.is_empty()
        && x.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | ' ')))
    .then(|| x.to_string())
}

/// A Sysmon `Hashes` test (`SHA256=<digest>`, exact or contained) as the digest's equality.
fn hash(p: &Pred) -> Result<Expr, String> {
    let Test::Str(m) = &p.test else {
        return Err("only string tests of `Hashes` have a CIM form".into());
    };
    let [Piece::Lit(s)] = m.pieces.as_slice() else {
        return Err(
            "a `Hashes` value with wildcards has no CIM form (the CIM field holds one digest)"
                .into(),
        );
    };
    let (algo, digest) = s.split_once('=').unwrap_or(("", s));
    let len_ok = match algo.to_ascii_uppercase().as_str() {
        "MD5" => digest.len() == 32,
        "SHA1" => digest.len() == 40,
        "SHA256" => digest.len() == 64,
        "" => matches!(digest.len(), 32 | 40 | 64),
        other => {
            return Err(format!("a `{other}` hash has no CIM field"));
        }
    };
    if !len_ok || !digest.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(format!(
            "`{s}` is not one whole digest, which the CIM hash field holds"
        ));
    }
    Ok(Expr::pred(Pred {
        field: p.field.clone(),
        test: Test::Str(StrMatch::new(
            vec![Piece::Lit(digest.to_string())],
            true,
            true,
            false,
        )),
    }))
}

/// `e` with every test of `field` replaced by `false` (negations included, so `not code=x`
/// becomes `true`: a branch that matches without the code).
fn without_field(e: &Expr, field: &str) -> Expr {
    match e {
        Expr::True | Expr::False => e.clone(),
        Expr::Not(x) => Expr::not(without_field(x, field)),
        Expr::And(items) => Expr::and(items.iter().map(|i| without_field(i, field))),
        Expr::Or(items) => Expr::or(items.iter().map(|i| without_field(i, field))),
        Expr::Pred(p) if p.field.as_deref() == Some(field) => Expr::False,
        Expr::Pred(_) => e.clone(),
    }
}

/// What a CIM data model writes in place of a field's value (state `empty_fills`: space-separated
/// `field=kind[+kind]` entries, kinds as below), from the data model's calculated fields.
#[derive(Debug, Default, Clone, Copy)]
struct Fill {
    /// `unknown`: a null or empty value becomes `unknown`.
    unknown: bool,
    /// `dash`: `-` becomes `unknown` too (Web).
    dash: bool,
    /// `zero`: a value that is not a number becomes 0 (ports).
    zero: bool,
    /// `lower`: the value is lowercased, so a `cased` test no longer means the same.
    lower: bool,
    /// `fallback`: a null or empty value becomes another field's value (`app` the
    /// sourcetype, `result_id` the signature_id): only equality with a value stays exact.
    /// A kind this code does not know counts as `fallback`, the strictest.
    fallback: bool,
}

fn fills(spec: &str) -> Vec<(&str, Fill)> {
    spec.split_whitespace()
        .filter_map(|entry| entry.split_once('='))
        .map(|(field, kinds)| {
            let mut f = Fill::default();
            for k in kinds.split('+') {
                match k {
                    "unknown" => f.unknown = true,
                    "dash" => f.dash = true,
                    "zero" => f.zero = true,
                    "lower" => f.lower = true,
                    _ => f.fallback = true,
                }
            }
            (field, f)
        })
        .collect()
}

/// Refuse a test whose outcome the data model's fill of `field` changes: the test must give
/// the same answer on every value the fill merges (`unknown` for a null or empty value), so
/// that it holds in tstats exactly where it holds on the event.
fn check_fills(e: &Expr, fills: &[(&str, Fill)], model: &str) -> Result<(), String> {
    match e {
        Expr::True | Expr::False => Ok(()),
        Expr::Not(x) => check_fills(x, fills, model),
        Expr::And(items) | Expr::Or(items) => {
            items.iter().try_for_each(|i| check_fills(i, fills, model))
        }
        Expr::Pred(p) => {
            let fill_of = |f: &str| fills.iter().find(|(n, _)| *n == f).map(|(_, k)| *k);
            let Some(field) = p.field.as_deref() else {
                return Ok(());
            };
            let other = match &p.test {
                Test::FieldRef(r) => fill_of(&r.other),
                _ => None,
            };
            let Some(fill) = fill_of(field).or(other) else {
                return Ok(());
            };
            if !fill_changes(&p.test, fill) {
                Ok(())
            } else {
                Err(format!(
                    "the CIM data model {model} rewrites an empty or missing `{field}` (as `unknown`, 0 or another field's value), which changes the rule's test of it; it has no exact form there"
                ))
            }
        }
    }
}

/// Does `fill` change what `test` selects? It does when the test can tell apart the values the
/// fill merges (a missing value, the empty string, `unknown`), or reads what the fill rewrites.
fn fill_changes(test: &Test, fill: Fill) -> bool {
    use crate::eval::matcher::StrMatcher;
    let merged: &[&str] = if fill.dash {
        &["", "unknown", "-"]
    } else {
        &["", "unknown"]
    };
    match test {
        Test::Null
        | Test::Exists
        | Test::FieldRef(_)
        | Test::TimePart(..)
        | Test::Expression(_) => true,
        Test::Str(m) => {
            let Ok(sm) = StrMatcher::new(m) else {
                return true;
            };
            let literal = m.pieces.iter().all(|p| matches!(p, Piece::Lit(_)));
            let whole = literal && m.anchor_start && m.anchor_end;
            (fill.lower && m.cased)
                || (fill.unknown && merged.iter().any(|v| sm.matches(v)))
                || (fill.zero && (!literal || sm.matches("0")))
                || (fill.fallback && (!whole || sm.matches("")))
        }
        Test::Regex(r) => {
            let Ok(re) = crate::eval::matcher::regex(r) else {
                return true;
            };
            fill.zero
                || fill.fallback
                || (fill.lower && !r.ignore_case)
                || (fill.unknown && merged.iter().any(|v| re.is_match(v)))
        }
        Test::Num(op, n) => {
            let x = n.value.as_f64();
            let zero_holds = match op {
                NumOp::Eq => x == 0.0,
                NumOp::Lt => 0.0 < x,
                NumOp::Lte => 0.0 <= x,
                NumOp::Gt => 0.0 > x,
                NumOp::Gte => 0.0 >= x,
            };
            (fill.zero && zero_holds) || (fill.fallback && *op != NumOp::Eq)
        }
        Test::Bool(_) | Test::Cidr(_) => fill.fallback,
    }
}

fn fields_of(e: &Expr, out: &mut Vec<String>) {
    match e {
        Expr::True | Expr::False => {}
        Expr::Not(x) => fields_of(x, out),
        Expr::And(items) | Expr::Or(items) => items.iter().for_each(|i| fields_of(i, out)),
        Expr::Pred(p) => {
            if let Some(f) = &p.field
                && !out.contains(f)
            {
                out.push(f.clone());
            }
            if let Test::FieldRef(r) = &p.test
                && !out.contains(&r.other)
            {
                out.push(r.other.clone());
            }
        }
    }
}
