//! The stable, readable text form of the IR (`sigc debug ir`): one predicate per line, groups
//! indented, strings quoted with only `"` and control characters escaped so Windows paths read
//! as written.

use std::fmt::Write;

use super::expr::Expr;
use super::pred::*;
use super::rule::*;
use crate::syntax::ast::LogSource;

pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

pub fn logsource(ls: &LogSource) -> String {
    let mut parts = Vec::new();
    for (k, v) in [
        ("product", &ls.product),
        ("category", &ls.category),
        ("service", &ls.service),
    ] {
        if let Some(v) = v {
            parts.push(format!("{k}={v}"));
        }
    }
    for (k, v) in &ls.custom {
        parts.push(format!("{k}={v}"));
    }
    if parts.is_empty() {
        "(any)".into()
    } else {
        parts.join(" ")
    }
}

pub fn pred(p: &Pred) -> String {
    let field = p.field.as_deref().unwrap_or("<keyword>");
    let cased = |c: bool| if c { " (cased)" } else { "" };
    match &p.test {
        Test::Str(m) => {
            let body = match m.shape() {
                Shape::Exact(s) => format!("== {}", quote(s)),
                Shape::Prefix(s) => format!("startswith {}", quote(s)),
                Shape::Suffix(s) => format!("endswith {}", quote(s)),
                Shape::Contains(s) => format!("contains {}", quote(s)),
                Shape::Glob => {
                    let mut parts: Vec<String> = Vec::new();
                    if !m.anchor_start {
                        parts.push("*".into());
                    }
                    for piece in &m.pieces {
                        parts.push(match piece {
                            Piece::Lit(s) => quote(s),
                            Piece::AnyStr => "*".into(),
                            Piece::AnyChar => "?".into(),
                            Piece::Placeholder(n) => format!("%{n}%"),
                        });
                    }
                    if !m.anchor_end {
                        parts.push("*".into());
                    }
                    format!("glob {}", parts.join(" "))
                }
            };
            format!("{field} {body}{}", cased(m.cased))
        }
        Test::Regex(r) => {
            let flags: String = [(r.ignore_case, 'i'), (r.multi_line, 'm'), (r.dot_all, 's')]
                .iter()
                .filter(|(on, _)| *on)
                .map(|(_, c)| *c)
                .collect();
            format!(
                "{field} regex {}{}",
                quote(&r.pattern),
                if flags.is_empty() {
                    String::new()
                } else {
                    format!(" flags={flags}")
                }
            )
        }
        Test::Num(op, n) => format!("{field} {} {}", op.symbol(), n.text),
        Test::Bool(b) => format!("{field} == {b}"),
        Test::Null => format!("{field} is null"),
        Test::Exists => format!("{field} exists"),
        Test::Cidr(net) => format!("{field} cidr {net}"),
        Test::FieldRef(r) => {
            let op = match r.shape {
                RefShape::Equal => "==",
                RefShape::StartsWith => "startswith",
                RefShape::EndsWith => "endswith",
                RefShape::Contains => "contains",
            };
            format!("{field} {op} field {}{}", r.other, cased(r.cased))
        }
        Test::TimePart(part, op, v) => format!("{field} {}() {} {v}", part.name(), op.symbol()),
        Test::Expression(e) => format!("{field} expression {}", quote(e)),
    }
}

pub fn expr(e: &Expr, indent: usize, out: &mut String) {
    let pad = "  ".repeat(indent);
    match e {
        Expr::True => {
            let _ = writeln!(out, "{pad}true");
        }
        Expr::False => {
            let _ = writeln!(out, "{pad}false");
        }
        Expr::Pred(p) => {
            let _ = writeln!(out, "{pad}{}", pred(p));
        }
        Expr::Not(x) => {
            let _ = writeln!(out, "{pad}not");
            expr(x, indent + 1, out);
        }
        Expr::And(items) | Expr::Or(items) => {
            let _ = writeln!(
                out,
                "{pad}{}",
                if matches!(e, Expr::And(_)) {
                    "and"
                } else {
                    "or"
                }
            );
            for i in items {
                expr(i, indent + 1, out);
            }
        }
    }
}

fn header(kind: &str, h: &Header, out: &mut String) {
    let _ = writeln!(out, "{kind} {}", quote(&h.title));
    for (k, v) in [
        ("id", &h.id),
        ("name", &h.name),
        ("status", &h.status),
        ("level", &h.level),
    ] {
        if let Some(v) = v {
            let _ = writeln!(out, "  {k}: {v}");
        }
    }
    if !h.tags.is_empty() {
        let _ = writeln!(out, "  tags: {}", h.tags.join(", "));
    }
}

pub fn rule(r: &RuleIr) -> String {
    let mut out = String::new();
    header("rule", &r.header, &mut out);
    let _ = writeln!(out, "  logsource: {}", logsource(&r.logsource));
    for f in &r.filters {
        let _ = writeln!(out, "  filtered by: {f}");
    }
    for (k, v) in &r.state {
        let _ = writeln!(out, "  state: {k}={v}");
    }
    for (i, c) in r.conditions.iter().enumerate() {
        let _ = writeln!(out, "  condition {}:", i + 1);
        expr(c, 2, &mut out);
    }
    out
}

pub fn correlation(c: &CorrelationIr, name_of: &dyn Fn(usize) -> String) -> String {
    let mut out = String::new();
    header("correlation", &c.header, &mut out);
    let _ = writeln!(out, "  type: {}", c.kind.name());
    for r in &c.rules {
        let _ = writeln!(out, "  rule: {} -> {}", r.written, name_of(r.target));
    }
    if !c.group_by.is_empty() {
        let _ = writeln!(out, "  group-by: {}", c.group_by.join(", "));
    }
    if let Some(t) = &c.timespan {
        let _ = writeln!(out, "  timespan: {} ({}s)", t.text, t.seconds);
    }
    for a in &c.aliases {
        let fields: Vec<String> = a
            .fields
            .iter()
            .map(|(r, f)| format!("{}.{f}", r.written))
            .collect();
        let _ = writeln!(out, "  alias {}: {}", a.name, fields.join(", "));
    }
    match &c.condition {
        CorrelationCondition::Compare {
            bounds,
            fields,
            percentile,
        } => {
            let b: Vec<String> = bounds
                .iter()
                .map(|(op, n)| format!("{} {}", op.name(), n.text))
                .collect();
            let _ = write!(out, "  condition: {}", b.join(" and "));
            if !fields.is_empty() {
                let _ = write!(out, " over {}", fields.join(", "));
            }
            if let Some(p) = percentile {
                let _ = write!(out, " (percentile {})", p.text);
            }
            out.push('\n');
        }
        CorrelationCondition::Expr(e) => {
            let _ = writeln!(out, "  condition: {}", bool_expr(e, &c.rules));
        }
    }
    if c.generate {
        let _ = writeln!(out, "  generate: true");
    }
    out
}

fn bool_expr(e: &BoolExpr, rules: &[RuleRef]) -> String {
    match e {
        BoolExpr::Rule(i) => rules.get(*i).map_or("?".into(), |r| r.written.clone()),
        BoolExpr::Not(x) => format!("not {}", bool_expr(x, rules)),
        BoolExpr::And(v) => format!(
            "({})",
            v.iter()
                .map(|x| bool_expr(x, rules))
                .collect::<Vec<_>>()
                .join(" and ")
        ),
        BoolExpr::Or(v) => format!(
            "({})",
            v.iter()
                .map(|x| bool_expr(x, rules))
                .collect::<Vec<_>>()
                .join(" or ")
        ),
    }
}

pub fn filter(f: &FilterIr) -> String {
    let mut out = String::new();
    header("filter", &f.header, &mut out);
    let _ = writeln!(out, "  logsource: {}", logsource(&f.logsource));
    match &f.rules {
        None => {
            let _ = writeln!(out, "  rules: any");
        }
        Some(rs) => {
            for r in rs {
                let _ = writeln!(out, "  rule: {}", r.written);
            }
        }
    }
    let _ = writeln!(out, "  condition:");
    expr(&f.condition, 2, &mut out);
    out
}
