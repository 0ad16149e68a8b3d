//! `sigc check --fix` and `sigc migrate`: rewrite what check reports into valid Sigma v2.1.
//!
//! Edits are made on the source text, at the spans the diagnostics point to (ruff's fix
//! model), so comments, quoting and key order survive. `--fix` makes only the edits with one
//! right answer (re-indenting flattened YAML, v1 dates). `migrate` also makes the edits each
//! diagnostic's help suggests (`notin` → `neq`, dropping `|all` where it can never match, a
//! fresh UUID, a flat value list) and turns a v1-style aggregation (`| count ... by ... within`,
//! or a custom `clustering:` block) into a correlation rule referencing the base rule.

use indexmap::IndexMap;

use crate::diagnostic::Code;
use crate::load::{self, Doc};
use crate::source::{SourceFile, Span};
use crate::syntax::ast::{Document, Value};
use crate::syntax::flattened;
use crate::yaml;

/// The edits with one right answer: re-indent, then v1 dates to v2.
pub(crate) fn fix_text(text: &str) -> String {
    let text = flattened::reindent(text).unwrap_or_else(|| text.to_string());
    let mut out = String::with_capacity(text.len());
    for line in text.split_inclusive('\n') {
        out.push_str(&fix_date_line(line).unwrap_or_else(|| line.to_string()));
    }
    out
}

/// `date: 2025/02/27` → `date: 2025-02-27` (top-level `date`/`modified` only).
fn fix_date_line(line: &str) -> Option<String> {
    let (key, rest) = line.split_once(':')?;
    if !matches!(key, "date" | "modified") {
        return None;
    }
    let value = rest.trim().trim_matches(['\'', '"']);
    let b = value.as_bytes();
    let v1 = b.len() == 10
        && b[4] == b'/'
        && b[7] == b'/'
        && value.bytes().filter(u8::is_ascii_digit).count() == 8;
    v1.then(|| line.replacen(value, &value.replace('/', "-"), 1))
}

/// One replacement of a byte range of the text.
struct Edit {
    span: Span,
    with: String,
}

/// An aggregation found in a rule: the expression after `|` and the custom block's settings.
#[derive(Default)]
struct Aggregation {
    expr: String,
    settings: IndexMap<String, Vec<String>>,
}

/// Migrate one file's text; the error is what stopped it.
pub(crate) fn migrate_text(name: &str, text: &str) -> Result<String, String> {
    let text = fix_text(text);
    let set = load::load_text(name, &text);
    let mut edits: Vec<Edit> = Vec::new();
    let mut correlations = Vec::new();
    for doc in &set.docs {
        let Some(ast) = doc.ast_or_partial() else {
            let first = doc.diagnostics.iter().find(|d| d.is_error());
            return Err(first.map_or_else(
                || "the document could not be read".to_string(),
                |d| d.to_string(),
            ));
        };
        let diags = super::diagnostics(doc);
        let mut agg = Aggregation::default();
        let mut new_id = None;
        for d in &diags {
            let Some(loc) = &d.location else { continue };
            let span = loc.span;
            let at = slice(&text, span);
            match d.code {
                Code::UnknownModifier if matches!(at, "notin" | "not_in" | "notequals" | "ne") => {
                    edits.push(Edit {
                        span,
                        with: "neq".into(),
                    });
                }
                Code::InvalidId => {
                    let id = uuid_from(&format!("{name}\0{at}"));
                    edits.push(Edit {
                        span,
                        with: id.clone(),
                    });
                    new_id = Some(id);
                }
                Code::NeverMatches => {
                    if let Some(i) = at.find("|all") {
                        edits.push(Edit {
                            span: span.sub(i, 4),
                            with: String::new(),
                        });
                    }
                }
                Code::NestedValue => edits.extend(flatten_list(&text, span)),
                Code::LegacyAggregation if at.starts_with('|') => {
                    // Cut the condition at the pipe; the rest becomes the correlation.
                    let end = line_end(&text, span.start as usize);
                    let start = trim_back(&text, span.start as usize);
                    agg.expr = text[span.start as usize + 1..end].trim().to_string();
                    edits.push(Edit {
                        span: Span::new(start, end),
                        with: String::new(),
                    });
                }
                Code::LegacyAggregation => {
                    if let Some((block, settings)) = block_of(&text, ast, span) {
                        agg.settings = settings;
                        edits.push(Edit {
                            span: block,
                            with: String::new(),
                        });
                    }
                }
                _ => {}
            }
        }
        if !agg.expr.is_empty() {
            let id = new_id
                .or_else(|| doc.id.clone())
                .ok_or("the rule has no `id` for the correlation to reference")?;
            correlations.push(correlation(name, doc, ast, &id, &agg)?);
        }
    }
    // Back to front, so earlier offsets stay valid; one edit per span.
    edits.sort_by_key(|e| std::cmp::Reverse((e.span.start, e.span.end)));
    edits.dedup_by_key(|e| e.span);
    let mut out = text.clone();
    let mut floor = usize::MAX;
    for e in edits {
        let (start, end) = (e.span.start as usize, e.span.end as usize);
        // Overlapping edits would corrupt each other: keep the later one.
        if end > floor || out.get(start..end).is_none() {
            continue;
        }
        out.replace_range(start..end, &e.with);
        floor = start;
    }
    for c in correlations {
        if !out.ends_with('\n') {
            out.push('\n');
        }
        out.push_str("---\n");
        out.push_str(&c);
    }
    Ok(out)
}

fn slice(text: &str, span: Span) -> &str {
    text.get(span.start as usize..span.end as usize)
        .unwrap_or_default()
}

fn line_end(text: &str, from: usize) -> usize {
    text[from..].find('\n').map_or(text.len(), |i| from + i)
}

fn line_start(text: &str, at: usize) -> usize {
    text[..at].rfind('\n').map_or(0, |i| i + 1)
}

/// Back over the spaces before `at` on its line.
fn trim_back(text: &str, at: usize) -> usize {
    at - text[..at].len() + text[..at].trim_end_matches(' ').len()
}

/// `- ['/create', '-create']`: spellings of one flag become that flag under `windash` (the
/// key's `|all`, which would require every spelling at once, goes); other nested lists become
/// one list item per value, at the same indentation.
fn flatten_list(text: &str, span: Span) -> Vec<Edit> {
    // A flow sequence's span stops before its closing bracket.
    let span = match text.as_bytes().get(span.end as usize) {
        Some(b']') if !slice(text, span).ends_with(']') => {
            Span::new(span.start as usize, span.end as usize + 1)
        }
        _ => span,
    };
    let file = SourceFile::new("<list>", slice(text, span).to_string());
    let Some(values) = yaml::parse_documents(&file).ok().and_then(|nodes| {
        let items = nodes.first()?.as_seq()?;
        items
            .iter()
            .map(|i| i.scalar_text().map(str::to_string))
            .collect::<Option<Vec<String>>>()
    }) else {
        return Vec::new();
    };
    let start = line_start(text, span.start as usize);
    let prefix = &text[start..span.start as usize];
    if prefix.trim() != "-" || values.is_empty() {
        return Vec::new();
    }
    let flag = |s: &str| s.strip_prefix(['-', '/']).map(str::to_string);
    let one_flag = values.len() > 1
        && values.iter().all(|v| flag(v).is_some())
        && values.windows(2).all(|w| flag(&w[0]) == flag(&w[1]));
    let item = Span::new(start, span.end as usize);
    if one_flag {
        let value = values[0].replacen('/', "-", 1);
        let mut edits = vec![Edit {
            span: item,
            with: format!("{prefix}{}", quote(&value)),
        }];
        // The key is the nearest line above that ends with `:`.
        let mut at = start;
        while at > 0 {
            let ls = line_start(text, at - 1);
            let line = &text[ls..at - 1];
            if let Some(key) = line.trim_end().strip_suffix(':') {
                let key_start = ls + (line.len() - line.trim_start().len());
                let key = key.trim_start();
                let (from, to) = match key.find("|all") {
                    Some(i) => (key_start + i, key_start + i + 4),
                    None => (key_start + key.len(), key_start + key.len()),
                };
                if !key.contains("|windash") {
                    edits.push(Edit {
                        span: Span::new(from, to),
                        with: "|windash".into(),
                    });
                }
                break;
            }
            at = ls;
        }
        return edits;
    }
    let with = values
        .iter()
        .map(|v| format!("{prefix}{}", quote(v)))
        .collect::<Vec<_>>()
        .join("\n");
    vec![Edit { span: item, with }]
}

/// The lines of a custom aggregation block (the search key `span` names) and its settings.
fn block_of(
    text: &str,
    ast: &Document,
    span: Span,
) -> Option<(Span, IndexMap<String, Vec<String>>)> {
    let crate::syntax::ast::Body::Rule(rule) = &ast.body else {
        return None;
    };
    let search = rule
        .detection
        .searches
        .iter()
        .find(|s| s.name.span == span)?;
    let mut settings = IndexMap::new();
    let items: Vec<_> = match &search.body {
        crate::syntax::ast::SearchBody::Map(items) => items.iter().collect(),
        _ => return None,
    };
    for item in items {
        let Some(f) = &item.field else { continue };
        let values = item
            .values
            .iter()
            .filter_map(|v| match &v.node {
                Value::Str(s) | Value::Int(_, s) | Value::Float(_, s) => Some(s.clone()),
                _ => None,
            })
            .collect();
        settings.insert(f.node.clone(), values);
    }
    // The block runs from its key's line to the next line indented no deeper.
    let start = line_start(text, span.start as usize);
    let indent = span.start as usize - start;
    let mut end = line_end(text, span.start as usize) + 1;
    while end < text.len() {
        let next = line_end(text, end);
        let line = &text[end..next];
        let depth = line.len() - line.trim_start().len();
        if !line.trim().is_empty() && depth <= indent {
            break;
        }
        end = (next + 1).min(text.len());
    }
    Some((Span::new(start, end), settings))
}

/// The correlation rule for an aggregation, as YAML.
fn correlation(
    name: &str,
    doc: &Doc,
    ast: &Document,
    base_id: &str,
    agg: &Aggregation,
) -> Result<String, String> {
    let words = tokens(&agg.expr);
    // Resolve `block.key` references to the block's values.
    let resolve = |w: &str| -> Vec<String> {
        match w.split_once('.') {
            Some((_, key)) if agg.settings.contains_key(key) => {
                agg.settings.get(key).cloned().unwrap_or_default()
            }
            _ => vec![w.trim_matches(['\'', '"', ',']).to_string()],
        }
    };
    let mut group_by: Vec<String> = Vec::new();
    let mut timespan = None;
    let mut distinct: Option<(String, String, String)> = None;
    let mut count: Option<(String, String)> = None;
    let mut count_field: Option<String> = None;
    let mut i = 0;
    while i < words.len() {
        let w = words[i].as_str();
        let next = |k: usize| words.get(i + k).map(String::as_str).unwrap_or_default();
        match w {
            "by" => {
                let mut j = i + 1;
                while let Some(g) = words.get(j) {
                    if is_op(g) || matches!(g.as_str(), "within" | "and") {
                        break;
                    }
                    group_by.extend(resolve(g));
                    j += 1;
                }
                i = j;
                continue;
            }
            "within" => timespan = resolve(next(1)).into_iter().next(),
            _ if w.starts_with("distinct(") || w.starts_with("count(") && w.len() > 7 => {
                let field = w
                    .split_once('(')
                    .map(|(_, r)| r.trim_end_matches(')').to_string())
                    .unwrap_or_default();
                if w.starts_with("distinct(") {
                    if is_op(next(1)) {
                        let n = resolve(next(2)).into_iter().next().unwrap_or_default();
                        distinct = Some((field, next(1).to_string(), n));
                    }
                } else {
                    count_field = Some(field);
                }
            }
            _ if w == "count" || w == "count()" => {}
            _ if is_op(w) && count.is_none() && distinct.is_none() => {
                let n = resolve(next(1)).into_iter().next().unwrap_or_default();
                count = Some((w.to_string(), n));
            }
            _ => {}
        }
        i += 1;
    }
    let timespan = timespan
        .or_else(|| {
            ["timeframe", "timespan", "window"]
                .iter()
                .find_map(|k| agg.settings.get(*k)?.first().cloned())
        })
        .ok_or("the aggregation has no time window (`within` or `timeframe`)")?;
    let (kind, field, op, n) = match (&distinct, &count_field, &count) {
        (Some((f, op, n)), _, _) => ("value_count", Some(f.clone()), op.clone(), n.clone()),
        (None, Some(f), Some((op, n))) if !f.is_empty() => {
            ("value_count", Some(f.clone()), op.clone(), n.clone())
        }
        (None, _, Some((op, n))) => ("event_count", None, op.clone(), n.clone()),
        _ => return Err("the aggregation has no condition (`> N`)".into()),
    };
    if let Some(f) = &field {
        group_by.retain(|g| g != f);
    }
    let key = match op.as_str() {
        ">" => "gt",
        ">=" => "gte",
        "<" => "lt",
        "<=" => "lte",
        "=" | "==" => "eq",
        _ => return Err(format!("unknown comparison `{op}` in the aggregation")),
    };
    let n: i64 = n
        .parse()
        .map_err(|_| format!("`{n}` is not a whole number"))?;
    let meta = |k: &str| {
        ast.meta
            .fields
            .iter()
            .find(|(key, _)| key.node == k)
            .and_then(|(_, v)| v.scalar_text().map(str::to_string))
    };
    let title = doc.title.clone().unwrap_or_default();
    let mut y = String::new();
    y.push_str(&format!(
        "title: {}\n",
        quote(&format!("{title} (correlation)"))
    ));
    y.push_str(&format!(
        "id: {}\n",
        uuid_from(&format!("{name}\0{base_id}\0correlation"))
    ));
    if let Some(s) = meta("status") {
        y.push_str(&format!("status: {s}\n"));
    }
    y.push_str(&format!(
        "description: {}\n",
        quote(&format!(
            "Migrated by sigc from the aggregation `{}`.",
            agg.expr
        ))
    ));
    for k in ["author", "date"] {
        if let Some(v) = meta(k) {
            y.push_str(&format!("{k}: {}\n", quote(&v.replace('/', "-"))));
        }
    }
    y.push_str(&format!(
        "correlation:\n    type: {kind}\n    rules:\n        - {base_id}\n"
    ));
    if !group_by.is_empty() {
        y.push_str("    group-by:\n");
        for g in &group_by {
            y.push_str(&format!("        - {}\n", quote(g)));
        }
    }
    y.push_str(&format!("    timespan: {timespan}\n    condition:\n"));
    if let Some(f) = &field {
        y.push_str(&format!("        field: {}\n", quote(f)));
    }
    y.push_str(&format!("        {key}: {n}\n"));
    if let (Some(_), Some((op, n))) = (&distinct, &count) {
        y.push_str(&format!(
            "# The original also required `count {op} {n}` per group; one correlation has one\n# condition: chain an event_count correlation to keep it.\n"
        ));
    }
    if let Some(level) = meta("level") {
        y.push_str(&format!("level: {level}\n"));
    }
    Ok(y)
}

fn is_op(w: &str) -> bool {
    matches!(w, ">" | ">=" | "<" | "<=" | "=" | "==")
}

/// Words of an aggregation expression; operators are words of their own.
fn tokens(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            ' ' | '\t' => {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
            }
            '>' | '<' | '=' => {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
                let mut op = c.to_string();
                if chars.peek() == Some(&'=') {
                    op.push('=');
                    chars.next();
                }
                out.push(op);
            }
            _ => cur.push(c),
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// A single-quoted YAML scalar.
fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// A version-4-shaped UUID derived from `seed`, so migrating twice writes the same ids.
fn uuid_from(seed: &str) -> String {
    let fnv = |basis: u64| {
        seed.bytes().fold(basis, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
        })
    };
    let hi = fnv(0xcbf2_9ce4_8422_2325);
    let lo = fnv(0x6c62_272e_07bb_0142);
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&hi.to_be_bytes());
    bytes[8..].copy_from_slice(&lo.to_be_bytes());
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let h: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuids_are_stable_and_well_formed() {
        let a = uuid_from("x");
        assert_eq!(a, uuid_from("x"));
        assert_ne!(a, uuid_from("y"));
        assert!(super::super::metadata::is_uuid(&a));
        assert_eq!(&a[14..15], "4");
    }

    #[test]
    fn v1_dates_are_rewritten() {
        assert_eq!(fix_text("date: 2025/02/27\n"), "date: 2025-02-27\n");
        assert_eq!(fix_text("title: 2025/02/27\n"), "title: 2025/02/27\n");
    }

    #[test]
    fn aggregation_words() {
        assert_eq!(
            tokens("count > x.y by a within 5m and distinct(Host)>=2"),
            [
                "count",
                ">",
                "x.y",
                "by",
                "a",
                "within",
                "5m",
                "and",
                "distinct(Host)",
                ">=",
                "2"
            ]
        );
    }
}
