//! The stable text form of the syntax tree (`sigc debug ast`): every node with its line:col,
//! modifiers as written, values with their YAML type.

use std::fmt::Write;

use super::ast::*;
use crate::ir::display::{logsource, quote};
use crate::source::{SourceFile, Span, Spanned};

struct P<'a> {
    file: &'a SourceFile,
    out: String,
}

impl P<'_> {
    fn at(&self, span: Span) -> String {
        let (l, c) = self.file.line_col(span.start);
        format!("@{l}:{c}")
    }

    fn line(&mut self, indent: usize, text: impl AsRef<str>) {
        let _ = writeln!(self.out, "{}{}", "  ".repeat(indent), text.as_ref());
    }
}

pub fn document(doc: &Document) -> String {
    let mut p = P {
        file: &doc.file,
        out: String::new(),
    };
    let title = doc
        .meta
        .title
        .as_ref()
        .map_or("(untitled)".to_string(), |t| quote(&t.node));
    p.line(0, format!("{} {title} {}", doc.kind(), p.at(doc.span)));
    for (k, v) in &doc.meta.fields {
        if matches!(k.node.as_str(), "title") {
            continue;
        }
        let value = v
            .scalar_text()
            .map(quote)
            .unwrap_or_else(|| v.type_name().to_string());
        p.line(1, format!("meta {} = {value} {}", k.node, p.at(k.span)));
    }
    match &doc.body {
        Body::Rule(r) => {
            p.line(1, format!("logsource {}", logsource(&r.logsource)));
            detection(&mut p, &r.detection);
        }
        Body::Filter(f) => {
            p.line(1, format!("logsource {}", logsource(&f.logsource)));
            match &f.rules {
                FilterRules::Any => p.line(1, "rules any"),
                FilterRules::List(l) => {
                    for r in l {
                        let at = p.at(r.span);
                        p.line(1, format!("rule {} {at}", quote(&r.node)));
                    }
                }
            }
            detection(&mut p, &f.detection);
        }
        Body::Correlation(c) => {
            let at = p.at(c.kind.span);
            p.line(1, format!("type {} {at}", c.kind.node.name()));
            for r in &c.rules {
                let at = p.at(r.span);
                p.line(1, format!("rule {} {at}", quote(&r.node)));
            }
            for g in &c.group_by {
                let at = p.at(g.span);
                p.line(1, format!("group-by {} {at}", g.node));
            }
            if let Some(t) = &c.timespan {
                let at = p.at(t.span);
                p.line(1, format!("timespan {} {at}", t.node));
            }
            for AliasAst {
                name: alias,
                fields: pairs,
            } in &c.aliases
            {
                let fields: Vec<String> = pairs
                    .iter()
                    .map(|(r, f)| format!("{}.{}", r.node, f.node))
                    .collect();
                let at = p.at(alias.span);
                p.line(
                    1,
                    format!("alias {} = {} {at}", alias.node, fields.join(", ")),
                );
            }
            match &c.condition {
                None => p.line(1, "condition (default)"),
                Some(CorrelationCondition::Compare {
                    span,
                    bounds,
                    fields,
                    percentile,
                }) => {
                    let b: Vec<String> = bounds
                        .iter()
                        .map(|(op, v)| format!("{} {}", op.node.name(), value(&v.node)))
                        .collect();
                    let f: Vec<&str> = fields.iter().map(|f| f.node.as_str()).collect();
                    let at = p.at(*span);
                    let pct = percentile
                        .as_ref()
                        .map_or(String::new(), |v| format!(" percentile {}", value(&v.node)));
                    p.line(
                        1,
                        format!(
                            "condition {} field [{}]{pct} {at}",
                            b.join(", "),
                            f.join(", ")
                        ),
                    );
                }
                Some(CorrelationCondition::Expr(e)) => {
                    let at = p.at(e.span);
                    p.line(1, format!("condition {} {at}", condition(e)));
                }
            }
            if c.generate {
                p.line(1, "generate true");
            }
        }
    }
    p.out
}

fn detection(p: &mut P, d: &Detection) {
    for s in &d.searches {
        let at = p.at(s.name.span);
        match &s.body {
            SearchBody::Map(items) => {
                p.line(1, format!("search {} map {at}", s.name.node));
                for i in items {
                    item(p, 2, i);
                }
            }
            SearchBody::AnyOf(maps) => {
                p.line(1, format!("search {} list-of-maps {at}", s.name.node));
                for (n, m) in maps.iter().enumerate() {
                    p.line(2, format!("map {n}"));
                    for i in m {
                        item(p, 3, i);
                    }
                }
            }
            SearchBody::Keywords(i) => {
                p.line(1, format!("search {} keywords {at}", s.name.node));
                item(p, 2, i);
            }
        }
    }
    for c in &d.conditions {
        let at = p.at(c.span);
        p.line(1, format!("condition {} {at}", condition(c)));
    }
}

fn item(p: &mut P, indent: usize, i: &FieldItem) {
    let field = i
        .field
        .as_ref()
        .map_or("<keywords>".to_string(), |f| f.node.clone());
    // As written (`wide` stays `wide`), read back from the source.
    let mods: Vec<&str> = i
        .modifiers
        .iter()
        .map(|m| {
            p.file
                .text
                .get(m.span.start as usize..m.span.end as usize)
                .unwrap_or(m.node.name())
        })
        .collect();
    let mods = if mods.is_empty() {
        String::new()
    } else {
        format!(" |{}", mods.join("|"))
    };
    let at = p.at(i.span);
    p.line(
        indent,
        format!(
            "field {field}{mods}{} {at}",
            if i.is_list { " list" } else { "" }
        ),
    );
    for v in &i.values {
        let at = p.at(v.span);
        p.line(indent + 1, format!("{} {at}", value(&v.node)));
    }
}

fn value(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => format!("bool {b}"),
        Value::Int(_, t) => format!("int {t}"),
        Value::Float(_, t) => format!("float {t}"),
        Value::Str(s) => format!("str {}", quote(s)),
    }
}

/// The condition as a fully parenthesised S-expression.
pub fn condition(c: &Spanned<Condition>) -> String {
    match &c.node {
        Condition::Ident(i) => i.node.clone(),
        Condition::Of {
            quantifier,
            pattern,
        } => {
            let q = match quantifier {
                Quantifier::One => "1",
                Quantifier::Any => "any",
                Quantifier::All => "all",
            };
            format!("({q} of {})", pattern.node)
        }
        Condition::Not(x) => format!("(not {})", condition(x)),
        Condition::And(v) => format!(
            "(and {})",
            v.iter().map(condition).collect::<Vec<_>>().join(" ")
        ),
        Condition::Or(v) => format!(
            "(or {})",
            v.iter().map(condition).collect::<Vec<_>>().join(" ")
        ),
    }
}
