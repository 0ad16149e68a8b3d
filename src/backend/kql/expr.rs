//! A rule's condition as a KQL `where` expression, operator by operator exact:
//!
//! - Strings, case-insensitive unless `cased`: equality `=~` (`==`), lists of equalities
//!   `in~` (`in`), `startswith`, `endswith`, `contains` (`_cs` variants for `cased`). `has`
//!   is never used: its term semantics differ from a substring. A match with wildcards
//!   inside is `matches regex` on an anchored RE2 pattern with `(?is)` (`(?s)` when cased).
//! - `re`: `matches regex` with the rule's flags inline.
//! - Numbers: equality with a whole number compares text, `col == "9"` on a string column and
//!   `tostring(col) == "9"` on anything else, since the evaluator's `EventID: 9` holds only for
//!   the plain decimal `9` (not `"09"`, `" 9"`, `"0x9"`); `tostring()` of a long is its plain
//!   decimal. Ranges and fractions: `tolong()`/`todouble()` of the column compared.
//! - `null` is `isempty()`, `exists` is `isnotempty()`: a Kusto string column has no null, an
//!   absent value reads as empty. (So `null` and `''` cannot be told apart in KQL; both are
//!   `isempty()`.)
//! - `cidr`: `ipv4_is_in_range` or `ipv6_is_in_range` by the network's family.
//! - `fieldref`: the same operators with a column on the right.
//! - Keywords: `contains` over the table's string columns (`kql_string_columns`), refused
//!   when the pipeline lists none.
//! - Refused: time-part modifiers (the spec reads the timestamp as written; Kusto's datetime
//!   parts are UTC of a parsed value, which differs for timestamps with an offset).
//!
//! String literals are written `"..."` with `\\` and `\"` and control characters escaped, so
//! no value can end the literal; regexes as verbatim `@"..."` (quotes doubled).

use ipnet::IpNet;

use crate::backend::strings::{balanced, glob_regex};
use crate::ir::Expr;
use crate::ir::pred::{FieldRef, NumOp, NumValue, Pred, RefShape, Shape, StrMatch, Test};

pub(crate) struct Context<'a> {
    /// Every column of the table, when the pipeline lists them.
    pub columns: Option<&'a [&'a str]>,
    /// The string columns keywords search.
    pub string_columns: &'a [&'a str],
    pub table: &'a str,
    /// Computed columns: (name, KQL expression).
    pub extends: &'a [(&'a str, &'a str)],
    /// Dynamic columns and string columns holding JSON, read by path.
    pub dynamic: &'a [&'a str],
    pub json: &'a [&'a str],
    /// (algorithm, column) for the pseudo-field `sigc_hashes`.
    pub hashes: &'a [(&'a str, &'a str)],
}

/// The pseudo-field for Sysmon's `Hashes` (`SHA1=..,MD5=..,SHA256=..,IMPHASH=..`).
const HASHES: &str = "sigc_hashes";

/// Rewrite tests of `sigc_hashes` onto the table's hash columns: `contains "ALGO=d"` holds
/// exactly when the ALGO column starts with `d` (Sysmon writes `ALGO=` before each digest,
/// commas between, hex digits only); a full-length digest is equality. An algorithm the table
/// has no column for can never match there: `false`.
pub(crate) fn resolve_hashes(e: &Expr, cx: &Context) -> Result<Expr, String> {
    Ok(match e {
        Expr::True | Expr::False => e.clone(),
        Expr::Not(x) => Expr::not(resolve_hashes(x, cx)?),
        Expr::And(items) => Expr::and(
            items
                .iter()
                .map(|i| resolve_hashes(i, cx))
                .collect::<Result<Vec<_>, _>>()?,
        ),
        Expr::Or(items) => Expr::or(
            items
                .iter()
                .map(|i| resolve_hashes(i, cx))
                .collect::<Result<Vec<_>, _>>()?,
        ),
        Expr::Pred(p) if p.field.as_deref() == Some(HASHES) => hash_test(p, cx)?,
        Expr::Pred(_) => e.clone(),
    })
}

fn hash_test(p: &Pred, cx: &Context) -> Result<Expr, String> {
    let Test::Str(m) = &p.test else {
        return Err("only string tests of `Hashes` have a KQL form".into());
    };
    let value = match m.shape() {
        Shape::Contains(v) | Shape::Exact(v) | Shape::Prefix(v) | Shape::Suffix(v) => v,
        Shape::Glob => return Err("a `Hashes` value with wildcards has no KQL form".into()),
    };
    let Some((algo, digest)) = value.split_once('=') else {
        return Err(format!(
            "`{value}` does not name its hash algorithm (ALGO=digest)"
        ));
    };
    if digest.is_empty() || !digest.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(format!("`{value}` is not a hex digest"));
    }
    let Some((_, column)) = cx.hashes.iter().find(|(a, _)| a.eq_ignore_ascii_case(algo)) else {
        return Ok(Expr::False);
    };
    let full = matches!(
        (algo.to_ascii_uppercase().as_str(), digest.len()),
        ("MD5", 32) | ("SHA1", 40) | ("SHA256", 64) | ("IMPHASH", 32)
    );
    let test = StrMatch::new(
        vec![crate::ir::pred::Piece::Lit(digest.to_string())],
        true,
        full,
        false,
    );
    Ok(Expr::pred(Pred {
        field: Some((*column).to_string()),
        test: Test::Str(test),
    }))
}

/// The fields an expression reads.
pub(crate) fn fields(e: &Expr, out: &mut Vec<String>) {
    match e {
        Expr::True | Expr::False => {}
        Expr::Not(x) => fields(x, out),
        Expr::And(items) | Expr::Or(items) => items.iter().for_each(|i| fields(i, out)),
        Expr::Pred(p) => {
            if let Some(f) = &p.field {
                out.push(f.clone());
            }
            if let Test::FieldRef(r) = &p.test {
                out.push(r.other.clone());
            }
        }
    }
}

pub(crate) fn condition(e: &Expr, cx: &Context) -> Result<String, String> {
    Ok(match e {
        Expr::True => "true".into(),
        Expr::False => "false".into(),
        Expr::Pred(p) => pred(p, cx)?,
        Expr::Not(x) => format!("not({})", condition(x, cx)?),
        Expr::Or(items) if in_list(items, cx).is_some() => in_list(items, cx).unwrap_or_default(),
        Expr::Or(items) => {
            // Exact matches of one column among the alternatives become one `in~` list.
            let mut parts = Vec::with_capacity(items.len());
            let mut grouped: Vec<Vec<&Expr>> = Vec::new();
            for i in items {
                match exact_key(i) {
                    Some(k) => match grouped.iter_mut().find(|g| exact_key(g[0]) == Some(k)) {
                        Some(g) => g.push(i),
                        None => grouped.push(vec![i]),
                    },
                    None => parts.push(condition(i, cx)?),
                }
            }
            for g in grouped {
                let owned: Vec<Expr> = g.into_iter().cloned().collect();
                parts.push(match in_list(&owned, cx) {
                    Some(l) => l,
                    None => condition(&owned[0], cx)?,
                });
            }
            balanced(parts, " or ")
        }
        Expr::And(items) => balanced(
            items
                .iter()
                .map(|i| condition(i, cx))
                .collect::<Result<Vec<_>, _>>()?,
            " and ",
        ),
    })
}

/// The (column, case) of an exact string match.
fn exact_key(e: &Expr) -> Option<(&str, bool)> {
    match e {
        Expr::Pred(Pred {
            field: Some(f),
            test: Test::Str(m),
        }) if matches!(m.shape(), Shape::Exact(_)) => Some((f.as_str(), m.cased)),
        _ => None,
    }
}

/// Alternatives that are all exact string matches of one column, with one case mode:
/// `col in~ ("a", "b")`.
fn in_list(items: &[Expr], cx: &Context) -> Option<String> {
    let mut field = None;
    let mut cased = None;
    let mut values = Vec::with_capacity(items.len());
    for i in items {
        let Expr::Pred(Pred {
            field: Some(f),
            test: Test::Str(m),
        }) = i
        else {
            return None;
        };
        let Shape::Exact(v) = m.shape() else {
            return None;
        };
        if field.is_some_and(|x| x != f) || cased.is_some_and(|c| c != m.cased) {
            return None;
        }
        field = Some(f);
        cased = Some(m.cased);
        values.push(string(v));
    }
    let field = field?;
    let col = as_text(field, &column(field, cx).ok()?, cx);
    let op = if cased? { "in" } else { "in~" };
    (values.len() > 1).then(|| format!("{col} {op} ({})", values.join(", ")))
}

fn pred(p: &Pred, cx: &Context) -> Result<String, String> {
    let Some(field) = &p.field else {
        return keyword(&p.test, cx);
    };
    let col = column(field, cx)?;
    Ok(match &p.test {
        Test::Str(m) => string_test(&as_text(field, &col, cx), m)?,
        Test::Regex(r) => {
            let mut flags = String::new();
            for (on, c) in [(r.ignore_case, 'i'), (r.multi_line, 'm'), (r.dot_all, 's')] {
                if on {
                    flags.push(c);
                }
            }
            let re = if flags.is_empty() {
                r.pattern.clone()
            } else {
                format!("(?{flags}){}", r.pattern)
            };
            format!("{col} matches regex {}", verbatim(&re))
        }
        Test::Num(op, n) => match (op, n.value) {
            // Equality with a whole number holds only for that number's plain decimal text
            // (the evaluator's rule): compare the text, which `tolong()` would not (it reads
            // "09" as 9).
            (NumOp::Eq, NumValue::Int(i)) => {
                format!(
                    "{} == {}",
                    decimal_text(field, &col, cx),
                    string(&i.to_string())
                )
            }
            (_, value) => {
                let conv = match value {
                    NumValue::Int(_) => "tolong",
                    NumValue::Float(_) => "todouble",
                };
                format!("{conv}({col}) {} {}", op_symbol(*op), n.text)
            }
        },
        Test::Bool(b) => format!("tostring({col}) in~ (\"{b}\")"),
        Test::Null => format!("isempty({col})"),
        Test::Exists => format!("isnotempty({col})"),
        Test::Cidr(net) => {
            let f = match net {
                IpNet::V4(_) => "ipv4_is_in_range",
                IpNet::V6(_) => "ipv6_is_in_range",
            };
            format!("{f}({col}, \"{net}\")")
        }
        Test::FieldRef(r) => field_ref(&col, r, cx)?,
        Test::TimePart(..) => {
            return Err("time-part modifiers have no exact KQL form (Kusto's datetime parts are UTC of the parsed value)".into());
        }
        Test::Expression(x) => x.replace("{field}", &col),
    })
}

/// A column read as text: string operators need a string, and a string test matches a number
/// by its text (as in the evaluator). Columns the pipeline lists as strings, computed columns
/// and paths (already `tostring()`) are text as they are.
fn as_text(field: &str, col: &str, cx: &Context) -> String {
    let known_string = cx.string_columns.contains(&field)
        || cx.extends.iter().any(|(n, _)| *n == field)
        || col.starts_with("tostring(");
    if known_string || cx.string_columns.is_empty() {
        col.to_string()
    } else {
        format!("tostring({col})")
    }
}

/// A column as the text a number is written in: a string column as it is, anything else
/// (a typed number column, a computed column of either type, a dynamic path) through
/// `tostring()`, which writes a long in plain decimal and leaves a string unchanged.
fn decimal_text(field: &str, col: &str, cx: &Context) -> String {
    if cx.string_columns.contains(&field) || col.starts_with("tostring(") {
        col.to_string()
    } else {
        format!("tostring({col})")
    }
}

fn string_test(col: &str, m: &StrMatch) -> Result<String, String> {
    let cs = if m.cased { "_cs" } else { "" };
    Ok(match m.shape() {
        Shape::Exact(v) => {
            let op = if m.cased { "==" } else { "=~" };
            format!("{col} {op} {}", string(v))
        }
        Shape::Prefix(v) => format!("{col} startswith{cs} {}", string(v)),
        Shape::Suffix(v) => format!("{col} endswith{cs} {}", string(v)),
        Shape::Contains(v) => format!("{col} contains{cs} {}", string(v)),
        Shape::Glob => {
            let re = glob_regex(m).ok_or("an unresolved placeholder has no KQL form")?;
            format!("{col} matches regex {}", verbatim(&re))
        }
    })
}

fn keyword(t: &Test, cx: &Context) -> Result<String, String> {
    if cx.string_columns.is_empty() {
        return Err(format!(
            "keywords need the string columns of {} (pipeline state kql_string_columns)",
            cx.table
        ));
    }
    let parts = cx
        .string_columns
        .iter()
        .map(|c| match t {
            Test::Str(m) => string_test(&quote(c), m),
            Test::Regex(_) => pred(
                &Pred {
                    field: Some((*c).to_string()),
                    test: t.clone(),
                },
                &Context {
                    columns: None,
                    ..*cx
                },
            ),
            _ => Err("a keyword that is not a string or a regex has no KQL form".into()),
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(format!("({})", parts.join(" or ")))
}

fn field_ref(col: &str, r: &FieldRef, cx: &Context) -> Result<String, String> {
    let other = column(&r.other, cx)?;
    let cs = if r.cased { "_cs" } else { "" };
    Ok(match r.shape {
        RefShape::Equal => {
            let op = if r.cased { "==" } else { "=~" };
            format!("{col} {op} {other}")
        }
        RefShape::StartsWith => format!("{col} startswith{cs} {other}"),
        RefShape::EndsWith => format!("{col} endswith{cs} {other}"),
        RefShape::Contains => format!("{col} contains{cs} {other}"),
    })
}

fn op_symbol(op: NumOp) -> &'static str {
    match op {
        NumOp::Eq => "==",
        NumOp::Lt => "<",
        NumOp::Lte => "<=",
        NumOp::Gt => ">",
        NumOp::Gte => ">=",
    }
}

/// A field as a column reference: a computed column by its name; `Col.a.b` under a dynamic
/// column as `tostring(Col.a.b)`, under a JSON-text column as `tostring(parse_json(Col).a.b)`;
/// otherwise a column, checked against the table's columns when the pipeline lists them, and
/// bracketed (`['odd name']`) when it is not a plain identifier.
pub(crate) fn column(name: &str, cx: &Context) -> Result<String, String> {
    if cx.extends.iter().any(|(n, _)| *n == name) {
        return Ok(quote(name));
    }
    if let Some((root, path)) = name.split_once('.') {
        let path: String = path
            .split('.')
            .map(|p| {
                if quote(p) == p {
                    format!(".{p}")
                } else {
                    format!("[{}]", string(p))
                }
            })
            .collect();
        if cx.dynamic.contains(&root) {
            return Ok(format!("tostring({}{path})", quote(root)));
        }
        if cx.json.contains(&root) {
            return Ok(format!("tostring(parse_json({}){path})", quote(root)));
        }
    }
    if let Some(cols) = cx.columns
        && !cols.contains(&name)
    {
        return Err(format!(
            "the field `{name}` is not a column of {}",
            cx.table
        ));
    }
    Ok(quote(name))
}

/// A name as KQL reads it: a plain identifier as written, anything else as `['...']`.
pub(super) fn quote(part: &str) -> String {
    let plain = part
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && part.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if plain {
        part.to_string()
    } else {
        format!("['{}']", part.replace('\\', "\\\\").replace('\'', "\\'"))
    }
}

/// A KQL string literal: `"..."` with backslashes, quotes and control characters escaped.
pub(crate) fn string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A verbatim literal for regexes (`@"..."`, quotes doubled): backslashes stay as RE2 reads
/// them. Regexes from [`glob_regex`] hold no raw control character; a rule's own regex may,
/// and then it is written as a plain literal.
fn verbatim(s: &str) -> String {
    if s.chars().any(char::is_control) {
        return string(s);
    }
    format!("@\"{}\"", s.replace('"', "\"\""))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::pred::Piece;

    fn cx() -> Context<'static> {
        Context {
            columns: None,
            string_columns: &[],
            table: "T",
            extends: &[],
            dynamic: &[],
            json: &[],
            hashes: &[],
        }
    }

    fn unquote(q: &str) -> String {
        let body = q.strip_prefix('"').expect("opens with a quote");
        let mut out = String::new();
        let mut chars = body.chars();
        while let Some(c) = chars.next() {
            match c {
                '\\' => match chars.next().expect("escape") {
                    'n' => out.push('\n'),
                    'r' => out.push('\r'),
                    't' => out.push('\t'),
                    'u' => {
                        let hex: String = chars.by_ref().take(4).collect();
                        out.push(
                            char::from_u32(u32::from_str_radix(&hex, 16).expect("hex"))
                                .expect("char"),
                        );
                    }
                    c => out.push(c),
                },
                '"' => {
                    assert!(chars.next().is_none(), "closes early: {q}");
                    return out;
                }
                c => out.push(c),
            }
        }
        panic!("unterminated {q}");
    }

    proptest::proptest! {
        /// No value can end a KQL string literal early, and every value reads back.
        #[test]
        fn literals_round_trip(v in "\\PC{0,20}|[\"\\\\|\\[\\]()'`\n\r\t\u{1}]{0,20}") {
            proptest::prop_assert_eq!(unquote(&string(&v)), v);
        }
    }

    #[test]
    fn whole_number_equality_compares_plain_decimal_text() {
        let eq9 = |field: &str, strings: &[&str]| {
            let cx = Context {
                string_columns: strings,
                ..cx()
            };
            condition(
                &Expr::pred(Pred {
                    field: Some(field.into()),
                    test: Test::Num(
                        NumOp::Eq,
                        crate::ir::pred::Number {
                            // The rule's own spelling is not what is compared.
                            text: "09".into(),
                            value: NumValue::Int(9),
                        },
                    ),
                }),
                &cx,
            )
            .unwrap()
        };
        // `tolong()` would accept "09" and " 9", which the evaluator does not.
        assert_eq!(eq9("EventID", &["EventID"]), r#"EventID == "9""#);
        assert_eq!(
            eq9("ProcessId", &["EventID"]),
            r#"tostring(ProcessId) == "9""#
        );
    }

    #[test]
    fn operators() {
        let p = |field: &str, m: StrMatch| {
            condition(
                &Expr::pred(Pred {
                    field: Some(field.into()),
                    test: Test::Str(m),
                }),
                &cx(),
            )
            .unwrap()
        };
        let lit = |s: &str| Piece::Lit(s.into());
        assert_eq!(
            p(
                "FolderPath",
                StrMatch::new(vec![lit("\\cmd.exe")], false, true, false)
            ),
            r#"FolderPath endswith "\\cmd.exe""#
        );
        assert_eq!(
            p("A", StrMatch::new(vec![lit("x")], true, true, true)),
            r#"A == "x""#
        );
        assert_eq!(
            p(
                "A",
                StrMatch::new(vec![lit("a"), Piece::AnyStr, lit("b")], false, false, false)
            ),
            r#"A matches regex @"(?is)a.*b""#
        );
        assert_eq!(
            p(
                "odd name",
                StrMatch::new(vec![lit("x")], false, false, false)
            ),
            r#"['odd name'] contains "x""#
        );
    }
}
