//! A rule's condition in SPL: search terms where the search language says exactly what the
//! rule means, and a `| where` clause (Splunk's eval language) for the rest.
//!
//! The search language compares a field's whole value, case-insensitively, with `*` as its
//! only wildcard. So a case-insensitive match with no `?`, no literal `*`, no control
//! character and no empty value is a search term (`Image="*\\cmd.exe"`); so are `exists`
//! (`f=*`), `null` (`NOT f=*`: Splunk keeps no null-valued field) and an integer equality
//! (`EventID=4688`). Everything else goes to `where`: `cased` and `?` as an anchored `match()`,
//! regexes with their flags, numeric comparisons through `tonumber()`, `cidrmatch()`, and field
//! references through `lower()`/`substr()`.
//!
//! The boolean structure is kept: conjuncts of the top-level AND that are search terms stay in
//! the search; a conjunct holding anything else goes to `where` whole. Groups are always
//! parenthesised, so SPL's precedence (where OR binds tighter than the implicit AND) never
//! matters. A `where` test on a field that may be missing is guarded with `isnotnull()`: a
//! null condition is false in `where` and stays false under `NOT`, where Sigma's `not` of a
//! test on a missing field is true.
//!
//! Keywords search the raw event (`_raw`): a bare quoted term, or `match(_raw, ...)` when the
//! term needs `where`. Sigma means "some value of the event", which Splunk has no form for;
//! the raw event holds every value, but also field names and the source format's syntax.
//!
//! Refused, with the reason: time-part modifiers (SPL's `strftime` formats in the search's
//! time zone), field references by substring (no substring test that reads a field as a
//! literal), and field names with a single quote or a control character.

use crate::ir::Expr;
use crate::ir::pred::{FieldRef, NumOp, NumValue, Number, Piece, Pred, RefShape, StrMatch, Test};

use super::super::strings::{dollar_as_end, escape_regex, glob_regex};

/// The query: `<search>` or `<search> | where <expr>` (`*` when nothing is a search term).
pub(crate) fn query(e: &Expr) -> Result<String, String> {
    let (search, filter) = split(e)?;
    Ok(match filter {
        None => search,
        Some(w) => format!("{search} | where {w}"),
    })
}

/// The search part (`*` for none) and the `where` part of an expression.
pub(crate) fn split(e: &Expr) -> Result<(String, Option<String>), String> {
    if let Some(s) = search(e)? {
        return Ok((s, None));
    }
    let items: Vec<&Expr> = match e {
        Expr::And(items) => items.iter().collect(),
        other => vec![other],
    };
    let mut terms = Vec::new();
    let mut rest = Vec::new();
    for item in items {
        match search(item)? {
            Some(s) => terms.push(s),
            None => rest.push(where_expr(item)?),
        }
    }
    let search = match terms.len() {
        0 => "*".to_string(),
        1 => terms.remove(0),
        _ => format!("({})", terms.join(" AND ")),
    };
    let filter = match rest.len() {
        0 => None,
        1 => Some(rest.remove(0)),
        _ => Some(format!("({})", rest.join(" AND "))),
    };
    Ok((search, filter))
}

/// The expression as search terms, or `None` when some part needs `where`.
fn search(e: &Expr) -> Result<Option<String>, String> {
    Ok(match e {
        Expr::True => Some("*".into()),
        Expr::False => Some("NOT *".into()),
        Expr::Pred(p) => search_pred(p)?,
        Expr::Not(x) => search(x)?.map(|s| format!("NOT {s}")),
        Expr::Or(items) if in_list(items).is_some() => in_list(items),
        Expr::And(items) | Expr::Or(items) => {
            let op = if matches!(e, Expr::And(_)) {
                " AND "
            } else {
                " OR "
            };
            let mut parts = Vec::with_capacity(items.len());
            for i in items {
                match search(i)? {
                    Some(s) => parts.push(s),
                    None => return Ok(None),
                }
            }
            Some(format!("({})", parts.join(op)))
        }
    })
}

/// Alternatives that are all string matches of one field, as `field IN ("a", "*b")`.
fn in_list(items: &[Expr]) -> Option<String> {
    let mut field = None;
    let mut values = Vec::with_capacity(items.len());
    for i in items {
        let Expr::Pred(Pred {
            field: Some(f),
            test: Test::Str(m),
        }) = i
        else {
            return None;
        };
        if field.is_some_and(|x| x != f) {
            return None;
        }
        field = Some(f);
        values.push(search_value(m)?);
    }
    let name = search_field(field?)?;
    Some(format!("{name} IN ({})", values.join(", ")))
}

/// A predicate as one search term, `None` when only `where` can say it, an error when SPL
/// cannot at all.
fn search_pred(p: &Pred) -> Result<Option<String>, String> {
    let Some(field) = &p.field else {
        return keyword(&p.test);
    };
    let Some(name) = search_field(field) else {
        return Ok(None);
    };
    Ok(match &p.test {
        Test::Str(m) => search_value(m).map(|v| format!("{name}={v}")),
        Test::Num(NumOp::Eq, n) => match n.value {
            NumValue::Int(i) => Some(format!("{name}={i}")),
            NumValue::Float(_) => None,
        },
        Test::Exists => Some(format!("{name}=*")),
        Test::Null => Some(format!("NOT {name}=*")),
        Test::Bool(b) => Some(format!("{name}=\"{b}\"")),
        Test::Expression(x) => Some(x.replace("{field}", &name)),
        _ => None,
    })
}

/// A keyword: a search term on the raw event (`None`: a `match(_raw, ...)` in `where`).
fn keyword(t: &Test) -> Result<Option<String>, String> {
    match t {
        Test::Str(m) => Ok(search_value(m)),
        Test::Regex(_) => Ok(None),
        _ => Err("a keyword that is not a string or a regex has no SPL form".into()),
    }
}

/// A field name as the search language writes it, `None` when it needs quoting (only
/// `where` quotes field names).
fn search_field(name: &str) -> Option<String> {
    let plain = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-' | '@' | ':'));
    plain.then(|| name.to_string())
}

/// A case-insensitive match as a quoted search value (`"*\\cmd.exe"`), `None` when the search
/// language cannot say it exactly.
fn search_value(m: &StrMatch) -> Option<String> {
    if m.cased {
        return None;
    }
    let mut v = String::from("\"");
    if !m.anchor_start {
        v.push('*');
    }
    let mut empty = true;
    for p in &m.pieces {
        match p {
            Piece::Lit(s) => {
                // Splunk expands `macro` calls anywhere in a search, quotes included: a value
                // with a backtick goes to `where`, where the regex spells it `\x60`.
                if s.contains(['*', '`']) || s.chars().any(char::is_control) {
                    return None;
                }
                empty &= s.is_empty();
                for c in s.chars() {
                    if matches!(c, '\\' | '"') {
                        v.push('\\');
                    }
                    v.push(c);
                }
            }
            Piece::AnyStr => {
                empty = false;
                v.push('*');
            }
            Piece::AnyChar | Piece::Placeholder(_) => return None,
        }
    }
    if !m.anchor_end {
        v.push('*');
    }
    // `f=""` does not find empty values in Splunk; `where` compares them.
    if empty && m.anchor_start && m.anchor_end {
        return None;
    }
    v.push('"');
    Some(v)
}

/// The expression in Splunk's eval language, for `| where`.
fn where_expr(e: &Expr) -> Result<String, String> {
    Ok(match e {
        Expr::True => "true()".into(),
        Expr::False => "false()".into(),
        Expr::Pred(p) => where_pred(p)?,
        Expr::Not(x) => format!("NOT {}", where_expr(x)?),
        Expr::And(items) | Expr::Or(items) => {
            let op = if matches!(e, Expr::And(_)) {
                " AND "
            } else {
                " OR "
            };
            let parts = items
                .iter()
                .map(where_expr)
                .collect::<Result<Vec<_>, _>>()?;
            format!("({})", parts.join(op))
        }
    })
}

fn where_pred(p: &Pred) -> Result<String, String> {
    // A keyword searches the raw event, in `where` as in the search.
    let f = match &p.field {
        Some(field) => where_field(field)?,
        None => "_raw".to_string(),
    };
    let present = format!("isnotnull({f})");
    Ok(match &p.test {
        Test::Str(m) => {
            if m.pieces.is_empty() && m.anchor_start && m.anchor_end {
                format!("({present} AND {f}==\"\")")
            } else {
                let re =
                    no_backtick(&glob_regex(m).ok_or("an unresolved placeholder has no SPL form")?);
                format!("({present} AND match({f}, {}))", string(&re))
            }
        }
        Test::Regex(r) => {
            let mut flags = String::new();
            for (on, c) in [(r.ignore_case, 'i'), (r.multi_line, 'm'), (r.dot_all, 's')] {
                if on {
                    flags.push(c);
                }
            }
            let pattern = no_backtick(&dollar_as_end(&r.pattern, r.multi_line));
            let re = if flags.is_empty() {
                pattern
            } else {
                format!("(?{flags}){pattern}")
            };
            format!("({present} AND match({f}, {}))", string(&re))
        }
        // Equality with a whole number is its plain decimal text (as the evaluator reads it;
        // `tonumber` would also take "+9" and "09").
        Test::Num(
            NumOp::Eq,
            Number {
                value: NumValue::Int(i),
                ..
            },
        ) => {
            let re = format!("^{}\\z", escape_regex(&i.to_string()));
            format!("({present} AND match({f}, {}))", string(&re))
        }
        Test::Num(op, n) => {
            let num = format!("tonumber({f})");
            format!("(isnotnull({num}) AND {num}{}{})", op_symbol(*op), n.text)
        }
        Test::Exists => present,
        Test::Null => format!("isnull({f})"),
        Test::Bool(b) => format!("({present} AND lower({f})==\"{b}\")"),
        Test::Cidr(net) => format!("({present} AND cidrmatch(\"{net}\", {f}))"),
        Test::FieldRef(r) => field_ref(&f, r)?,
        Test::TimePart(..) => {
            return Err(
                "time-part modifiers have no exact SPL form (strftime formats in the search's time zone)"
                    .into(),
            );
        }
        Test::Expression(x) => x.replace("{field}", &f),
    })
}

fn field_ref(f: &str, r: &FieldRef) -> Result<String, String> {
    let g = where_field(&r.other)?;
    let (a, b) = if r.cased {
        (f.to_string(), g.clone())
    } else {
        (format!("lower({f})"), format!("lower({g})"))
    };
    let test = match r.shape {
        RefShape::Equal => format!("{a}=={b}"),
        RefShape::StartsWith => format!("substr({a}, 1, len({b}))=={b}"),
        RefShape::EndsWith => {
            format!("len({a})>=len({b}) AND substr({a}, len({a})-len({b})+1)=={b}")
        }
        RefShape::Contains => {
            return Err(
                "`fieldref|contains` has no exact SPL form (no substring test that reads a field as a literal)"
                    .into(),
            );
        }
    };
    Ok(format!("(isnotnull({f}) AND isnotnull({g}) AND {test})"))
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

/// A field name in eval: always single-quoted (a bare `a.b` would be a concatenation).
fn where_field(name: &str) -> Result<String, String> {
    if name.contains(['\'', '`']) || name.chars().any(char::is_control) {
        return Err(format!("the field name `{name}` cannot be quoted in SPL"));
    }
    Ok(format!("'{name}'"))
}

/// A regex with its backticks written `\x60` (the same character to PCRE, and no macro call
/// to Splunk). A backtick after a backslash is already literal: `\`` becomes `\x60` whole.
fn no_backtick(re: &str) -> String {
    let mut out = String::with_capacity(re.len());
    let mut chars = re.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&'`') => {
                chars.next();
                out.push_str("\\x60");
            }
            '\\' => {
                out.push(c);
                if let Some(n) = chars.next() {
                    out.push(n);
                }
            }
            '`' => out.push_str("\\x60"),
            c => out.push(c),
        }
    }
    out
}

/// An eval string literal: backslashes and quotes escaped.
pub(crate) fn string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        if matches!(c, '\\' | '"') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::pred::Number;

    fn pred(field: &str, test: Test) -> Expr {
        Expr::pred(Pred {
            field: Some(field.into()),
            test,
        })
    }

    fn s(pieces: Vec<Piece>, start: bool, end: bool, cased: bool) -> Test {
        Test::Str(StrMatch::new(pieces, start, end, cased))
    }

    fn lit(x: &str) -> Piece {
        Piece::Lit(x.into())
    }

    #[test]
    fn search_terms() {
        let e = Expr::and([
            pred("Image", s(vec![lit("\\cmd.exe")], false, true, false)),
            Expr::not(pred(
                "CommandLine",
                s(vec![lit("a\"b")], false, false, false),
            )),
        ]);
        assert_eq!(
            query(&e).unwrap(),
            r#"(Image="*\\cmd.exe" AND NOT CommandLine="*a\"b*")"#
        );
    }

    #[test]
    fn where_keeps_the_structure() {
        // The OR holds a `?`: the whole OR goes to `where`; the other conjunct stays a term.
        let e = Expr::and([
            pred(
                "EventID",
                Test::Num(
                    NumOp::Eq,
                    Number {
                        text: "1".into(),
                        value: NumValue::Int(1),
                    },
                ),
            ),
            Expr::or([
                pred(
                    "Image",
                    s(vec![lit("a"), Piece::AnyChar], true, true, false),
                ),
                pred("User", s(vec![lit("x")], true, true, true)),
            ]),
        ]);
        assert_eq!(
            query(&e).unwrap(),
            r#"EventID=1 | where ((isnotnull('Image') AND match('Image', "(?is)^a.\\z")) OR (isnotnull('User') AND match('User', "(?s)^x\\z")))"#
        );
    }

    /// Read a double-quoted SPL string back: it must end at its last character (no value can
    /// close it early) and unescape to the text.
    fn unquote(q: &str) -> String {
        let body = q.strip_prefix('"').expect("opens with a quote");
        let mut out = String::new();
        let mut chars = body.chars();
        while let Some(c) = chars.next() {
            match c {
                '\\' => out.push(chars.next().expect("an escape is followed by a character")),
                '"' => {
                    assert!(chars.next().is_none(), "the string closes early in {q}");
                    return out;
                }
                c => out.push(c),
            }
        }
        panic!("unterminated string {q}");
    }

    proptest::proptest! {
        /// Whatever a rule's value holds (quotes, backslashes, pipes, brackets, newlines), the
        /// search term or eval string sigc writes for it reads back as that value.
        #[test]
        fn values_round_trip(v in "\\PC{0,20}|[\"\\\\|\\[\\]()`'= \n\r\t]{0,20}") {
            let m = StrMatch::new(vec![lit(&v)], false, false, false);
            if let Some(q) = search_value(&m) {
                proptest::prop_assert_eq!(unquote(&q), format!("*{v}*"));
            } else {
                // Only values the search language cannot hold go to `where`.
                proptest::prop_assert!(v.contains(['*', '`']) || v.chars().any(char::is_control));
            }
            proptest::prop_assert_eq!(unquote(&string(&v)), v.clone());
            // A whole query with the value stays one line, and its where-part regex reads back.
            let e = pred("f", s(vec![lit(&v)], true, true, true));
            let q = query(&e).unwrap();
            proptest::prop_assert!(!q.contains('\n') && !q.contains('\r'));
            // No backtick survives anywhere: Splunk would read it as a macro call.
            proptest::prop_assert!(!q.contains('`'), "{}", q);
        }
    }

    #[test]
    fn refusals_say_why() {
        let e = pred(
            "a",
            Test::FieldRef(FieldRef {
                other: "b".into(),
                shape: RefShape::Contains,
                cased: false,
            }),
        );
        assert!(query(&e).unwrap_err().contains("fieldref|contains"));
    }
}
