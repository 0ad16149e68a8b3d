//! A rule's condition as a Spark SQL boolean expression, exact on Spark's engine (3.5, 4.x):
//!
//! - Strings, case-insensitive unless `cased`: `lower(col) = 'v'`, `lower(col) IN (...)`,
//!   `startswith`, `endswith`, `contains`, and `LIKE` for values with wildcards inside (`%` and
//!   `_` for `*` and `?`, with `\`, `%` and `_` in values escaped). The value is lowercased here as the evaluator lowercases it, character by
//!   character. (Java's `lower` writes a final capital sigma `ς` where the evaluator writes
//!   `σ`: the one known difference, on Greek text only.)
//! - `re`: `RLIKE` with the pattern made to mean in Java what it means in the evaluator
//!   (see [`super::regex`]).
//! - Whole-number equality is text equality, `CAST(col AS STRING) = '9'`, as the evaluator
//!   reads it (plain decimal). Other comparisons read the value as the evaluator does (decimal,
//!   `0x` hex, surrounding white space) with `TRY_CAST`, so a text column compares numerically
//!   and a value that is no number is false, never an error under ANSI mode.
//! - `null` is `IS NULL`, `exists` is `IS NOT NULL`, the empty string is `= ''`: all distinct.
//!   (A table cannot tell a JSON `null` from a missing field: both are `NULL`.)
//! - `cidr`: IPv4 networks as an anchored pattern over the dotted quad; IPv6 networks by
//!   expanding the address text to 32 hex digits in SQL and comparing with the network's
//!   first and last address (see [`super::cidr`]).
//! - `fieldref`: `lower(a) = lower(b)`, `startswith`, `endswith`, `contains`.
//! - Keywords: `exists(values, v -> ...)` over an array column of every value of the event
//!   (state `spark_keyword_values`, default `sigc_values`, which the `pyspark_job` builds).
//! - Refused: time-part modifiers (the spec reads the timestamp as written; Spark's `hour()`
//!   converts to the session time zone), unresolved placeholders.
//!
//! SQL's `NULL` makes `NOT` three-valued: a test of a missing column is `NULL`, and `NOT NULL`
//! is `NULL` again, where Sigma's `not` of a failed test holds. Every `NOT` therefore wraps its
//! operand in `coalesce(..., false)`; under `AND`/`OR` alone a `NULL` already acts as false.
//!
//! Identifiers are quoted with backticks (doubled inside); string literals are written `'...'`
//! with `\\`, `\'` and control characters (`\uXXXX`) escaped, so no value can end the literal.

use crate::ir::Expr;
use crate::ir::pred::{
    FieldRef, NumOp, NumValue, Number, Piece, Pred, RefShape, Shape, StrMatch, Test,
};

/// What the expression reads besides the fields: where keywords look.
pub(crate) struct Context<'a> {
    /// An array<string> column holding every value of the event.
    pub keyword_values: &'a str,
}

pub(crate) fn condition(e: &Expr, cx: &Context) -> Result<String, String> {
    Ok(match e {
        Expr::True => "true".into(),
        Expr::False => "false".into(),
        Expr::Pred(p) => pred(p, cx)?,
        Expr::Not(x) => format!("NOT coalesce({}, false)", condition(x, cx)?),
        Expr::Or(items) => {
            // Exact matches of one column among the alternatives become one `IN` list.
            let mut parts = Vec::with_capacity(items.len());
            let mut grouped: Vec<(ExactKey, Vec<String>)> = Vec::new();
            for i in items {
                match exact(i) {
                    Some((key, v)) => match grouped.iter_mut().find(|(k, _)| *k == key) {
                        Some((_, vs)) => vs.push(v),
                        None => grouped.push((key, vec![v])),
                    },
                    None => parts.push(condition(i, cx)?),
                }
            }
            for ((field, cased), values) in grouped {
                let col = text_column(&ident(field), cased);
                let values: Vec<String> = values.iter().map(|v| string(v)).collect();
                parts.push(if values.len() == 1 {
                    format!("{col} = {}", values[0])
                } else {
                    format!("{col} IN ({})", values.join(", "))
                });
            }
            super::super::strings::balanced(parts, " OR ")
        }
        Expr::And(items) => super::super::strings::balanced(
            items
                .iter()
                .map(|i| condition(i, cx))
                .collect::<Result<Vec<_>, _>>()?,
            " AND ",
        ),
    })
}

type ExactKey<'a> = (&'a str, bool);

/// An exact string match: (column, cased) and the value as compared (lowercased unless cased).
fn exact(e: &Expr) -> Option<(ExactKey<'_>, String)> {
    match e {
        Expr::Pred(Pred {
            field: Some(f),
            test: Test::Str(m),
        }) => match m.shape() {
            Shape::Exact(v) => Some(((f.as_str(), m.cased), fold(v, m.cased))),
            _ => None,
        },
        _ => None,
    }
}

fn pred(p: &Pred, cx: &Context) -> Result<String, String> {
    let Some(field) = &p.field else {
        return keyword(&p.test, cx);
    };
    let col = ident(field);
    Ok(match &p.test {
        Test::Str(m) => string_test(&col, m)?,
        Test::Regex(r) => format!(
            "CAST({col} AS STRING) RLIKE {}",
            string(&super::regex::java(r)?)
        ),
        Test::Num(
            NumOp::Eq,
            Number {
                value: NumValue::Int(i),
                ..
            },
        ) => format!("CAST({col} AS STRING) = '{i}'"),
        Test::Num(op, n) => format!("{} {} {}", number(&col), op_symbol(*op), n.value.as_f64()),
        Test::Bool(b) => format!(
            "CAST({col} AS STRING) RLIKE {}",
            string(&format!("^(?U)(?i)\\s*{b}\\s*\\z"))
        ),
        Test::Null => format!("{col} IS NULL"),
        Test::Exists => format!("{col} IS NOT NULL"),
        Test::Cidr(net) => super::cidr::test(&format!("CAST({col} AS STRING)"), net),
        Test::FieldRef(r) => field_ref(&col, r),
        Test::TimePart(..) => {
            return Err("time-part modifiers have no exact Spark SQL form (Spark's date parts convert to the session time zone; the spec reads the timestamp as written)".into());
        }
        Test::Expression(x) => x.replace("{field}", &col),
    })
}

/// A keyword: the test over every value of the event.
fn keyword(t: &Test, cx: &Context) -> Result<String, String> {
    let inner = match t {
        Test::Str(m) => string_test("v", m)?,
        Test::Regex(r) => format!("v RLIKE {}", string(&super::regex::java(r)?)),
        _ => return Err("a keyword that is not a string or a regex has no Spark SQL form".into()),
    };
    Ok(format!(
        "exists({}, v -> {inner})",
        ident(cx.keyword_values)
    ))
}

/// A string test on `col` (an identifier or a lambda variable).
fn string_test(col: &str, m: &StrMatch) -> Result<String, String> {
    let text = text_column(col, m.cased);
    // Plain shapes as functions: Spark turns LIKE into a regex once a pattern holds an
    // escape (any Windows path does), and these compare bytes.
    let shaped = |f: &str, v: &str| format!("{f}({text}, {})", string(&fold(v, m.cased)));
    match m.shape() {
        Shape::Exact(v) => return Ok(format!("{text} = {}", string(&fold(v, m.cased)))),
        Shape::Glob => {}
        _ if m.pieces.is_empty() => return Ok(format!("{col} IS NOT NULL")),
        Shape::Prefix(v) => return Ok(shaped("startswith", v)),
        Shape::Suffix(v) => return Ok(shaped("endswith", v)),
        Shape::Contains(v) => return Ok(shaped("contains", v)),
    }
    let mut like = String::new();
    if !m.anchor_start {
        like.push('%');
    }
    for p in &m.pieces {
        match p {
            Piece::Lit(s) => {
                for c in fold(s, m.cased).chars() {
                    if matches!(c, '\\' | '%' | '_') {
                        like.push('\\');
                    }
                    like.push(c);
                }
            }
            Piece::AnyStr => like.push('%'),
            Piece::AnyChar => like.push('_'),
            Piece::Placeholder(name) => {
                return Err(format!(
                    "the placeholder %{name}% was not resolved by a pipeline"
                ));
            }
        }
    }
    if !m.anchor_end && !like.ends_with('%') {
        like.push('%');
    }
    Ok(format!("{text} LIKE {}", string(&like)))
}

/// `col` as compared: text, lowercased unless `cased`. Numbers match by their text, as in the
/// evaluator.
fn text_column(col: &str, cased: bool) -> String {
    let as_text = if col == "v" {
        col.to_string()
    } else {
        format!("CAST({col} AS STRING)")
    };
    if cased {
        as_text
    } else {
        format!("lower({as_text})")
    }
}

fn fold(s: &str, cased: bool) -> String {
    if cased {
        s.to_string()
    } else {
        crate::eval::event::lowercase(s)
    }
}

fn field_ref(col: &str, r: &FieldRef) -> String {
    let a = text_column(col, r.cased);
    let b = text_column(&ident(&r.other), r.cased);
    match r.shape {
        RefShape::Equal => format!("{a} = {b}"),
        RefShape::StartsWith => format!("startswith({a}, {b})"),
        RefShape::EndsWith => format!("endswith({a}, {b})"),
        RefShape::Contains => format!("contains({a}, {b})"),
    }
}

/// The value of `col` as the evaluator reads a number: decimal or `0x` hex text with white
/// space around it; `NULL` for anything else.
fn number(col: &str) -> String {
    let text = format!("CAST({col} AS STRING)");
    let hex = r"^(?U)\s*(-?)0[xX]([0-9a-fA-F]+)\s*\z";
    let dec = r"^(?U)\s*([-+]?[0-9.eE+-]+)\s*\z";
    format!(
        "(CASE WHEN {text} RLIKE {h} THEN TRY_CAST(concat(regexp_extract({text}, {h}, 1), conv(regexp_extract({text}, {h}, 2), 16, 10)) AS DOUBLE) \
         WHEN {text} RLIKE {d} THEN TRY_CAST(regexp_extract({text}, {d}, 1) AS DOUBLE) END)",
        h = string(hex),
        d = string(dec),
    )
}

fn op_symbol(op: NumOp) -> &'static str {
    match op {
        NumOp::Eq => "=",
        NumOp::Lt => "<",
        NumOp::Lte => "<=",
        NumOp::Gt => ">",
        NumOp::Gte => ">=",
    }
}

/// A column name in backticks.
pub(crate) fn ident(name: &str) -> String {
    format!("`{}`", name.replace('`', "``"))
}

/// A Spark SQL string literal: backslash escapes (Spark's default parser reads them), so
/// quotes, backslashes and control characters cannot end or bend it.
pub(crate) fn string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('\'');
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

/// The fields an expression reads (keyword tests read none).
pub(crate) fn fields(e: &Expr, out: &mut Vec<String>) {
    e.for_each_pred(&mut |p| {
        if let Some(f) = &p.field {
            out.push(f.clone());
        }
        if let Test::FieldRef(r) = &p.test {
            out.push(r.other.clone());
        }
    });
}

/// Does the expression search keywords?
pub(crate) fn has_keywords(e: &Expr) -> bool {
    let mut found = false;
    e.for_each_pred(&mut |p| found |= p.field.is_none());
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Spark's reading of a `'...'` literal (`unescapeSQLString`), for the escapes `string`
    /// writes; `None` if the literal ends early or holds an escape `string` never writes.
    fn spark_unescape(lit: &str) -> Option<String> {
        let body = lit.strip_prefix('\'')?.strip_suffix('\'')?;
        let mut out = String::new();
        let mut chars = body.chars();
        while let Some(c) = chars.next() {
            match c {
                '\'' => return None,
                '\\' => match chars.next()? {
                    '\\' => out.push('\\'),
                    '\'' => out.push('\''),
                    'u' => {
                        let hex: String = chars.by_ref().take(4).collect();
                        out.push(char::from_u32(u32::from_str_radix(&hex, 16).ok()?)?);
                    }
                    _ => return None,
                },
                c => out.push(c),
            }
        }
        Some(out)
    }

    proptest::proptest! {
        /// No value can end a string literal early or come back changed.
        #[test]
        fn literals_round_trip(s in "\\PC{0,16}|[\\\\'\"%_\n\r\t\u{0}\u{7f}`]{0,16}") {
            proptest::prop_assert_eq!(spark_unescape(&string(&s)), Some(s));
        }

        /// A LIKE pattern of a literal value matches exactly that value (`%`, `_` and `\`
        /// escaped), read as Spark reads LIKE (a regex over the whole value, `(?s)`).
        #[test]
        fn like_literals_match_themselves(s in "[a-z%_\\\\.*]{0,10}") {
            let m = StrMatch::new(vec![Piece::Lit(s.clone()), Piece::AnyChar], true, true, true);
            let sql = string_test("v", &m).unwrap();
            let lit = sql.strip_prefix("v LIKE ").unwrap();
            let pattern = spark_unescape(lit).unwrap();
            let mut re = String::from("(?s)^");
            let mut chars = pattern.chars();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => re.push_str(&regex::escape(&chars.next().unwrap().to_string())),
                    '%' => re.push_str(".*"),
                    '_' => re.push('.'),
                    c => re.push_str(&regex::escape(&c.to_string())),
                }
            }
            re.push('$');
            let re = regex::Regex::new(&re).unwrap();
            let with_one_more = format!("{s}x");
            proptest::prop_assert!(re.is_match(&with_one_more));
            proptest::prop_assert!(!re.is_match(&s));
        }
    }

    #[test]
    fn null_safe_negation_and_identifiers() {
        let p = Expr::pred(Pred {
            field: Some("a`b".into()),
            test: Test::Null,
        });
        let cx = Context {
            keyword_values: "sigc_values",
        };
        assert_eq!(
            condition(&Expr::not(p), &cx).unwrap(),
            "NOT coalesce(`a``b` IS NULL, false)"
        );
    }
}
