//! Syntax tree → IR. Every modifier is compiled away here, following the v2.1 modifier
//! appendix; combinations the appendix does not define are errors that say what to write.
//!
//! Decisions where the specification is silent (kept in one place, see also README):
//! - Keywords (values with no field) match anywhere: any field whose value contains them.
//! - A number or boolean under a string modifier (`contains: 42`) is matched by its text.
//! - Encoded values (`base64`, `utf16*`) follow the same case rule as any value: insensitive
//!   unless `cased` is given.
//! - `windash` varies every flag dash independently (all combinations), as pySigma does.

use indexmap::IndexMap;

use super::encode::{self, Utf16};
use super::expr::Expr;
use super::pattern;
use super::pred::*;
use crate::diagnostic::Code;
use crate::source::Spanned;
use crate::syntax::ast::*;
use crate::syntax::document::Ctx;

/// Lower a detection: one expression per condition.
pub fn lower_detection(cx: &mut Ctx, det: &Detection) -> Option<Vec<Expr>> {
    let mut searches: IndexMap<&str, Expr> = IndexMap::new();
    let mut ok = true;
    for s in &det.searches {
        match lower_search(cx, &s.body) {
            Some(e) => {
                searches.insert(s.name.node.as_str(), e);
            }
            None => ok = false,
        }
    }
    let mut out = Vec::with_capacity(det.conditions.len());
    for c in &det.conditions {
        // Identifiers whose search failed to lower are known, just not usable.
        let names: Vec<&str> = det.searches.iter().map(|s| s.name.node.as_str()).collect();
        match lower_condition(cx, c, &searches, &names) {
            Some(e) => out.push(e),
            None => ok = false,
        }
    }
    ok.then_some(out)
}

fn lower_search(cx: &mut Ctx, body: &SearchBody) -> Option<Expr> {
    match body {
        SearchBody::Map(items) => lower_items(cx, items),
        SearchBody::AnyOf(maps) => {
            let mut alts = Vec::with_capacity(maps.len());
            let mut ok = true;
            for m in maps {
                match lower_items(cx, m) {
                    Some(e) => alts.push(e),
                    None => ok = false,
                }
            }
            ok.then(|| Expr::or(alts))
        }
        SearchBody::Keywords(item) => lower_item(cx, item),
    }
}

/// AND of the items of one map.
pub fn lower_items(cx: &mut Ctx, items: &[FieldItem]) -> Option<Expr> {
    let mut parts = Vec::with_capacity(items.len());
    let mut ok = true;
    for item in items {
        match lower_item(cx, item) {
            Some(e) => parts.push(e),
            None => ok = false,
        }
    }
    ok.then(|| Expr::and(parts))
}

fn lower_condition(
    cx: &mut Ctx,
    c: &Spanned<Condition>,
    searches: &IndexMap<&str, Expr>,
    names: &[&str],
) -> Option<Expr> {
    Some(match &c.node {
        Condition::Ident(id) => match searches.get(id.node.as_str()) {
            Some(e) => e.clone(),
            None if names.contains(&id.node.as_str()) => return None,
            None => {
                let known = if names.is_empty() {
                    "none".to_string()
                } else {
                    names.join(", ")
                };
                cx.error(
                    Code::UndefinedIdentifier,
                    id.span,
                    format!(
                        "the condition uses `{}`, which the detection does not define",
                        id.node
                    ),
                )
                .help = Some(format!("defined search identifiers: {known}"));
                return None;
            }
        },
        Condition::Of {
            quantifier,
            pattern,
        } => {
            let matched: Vec<&str> = names
                .iter()
                .copied()
                .filter(|n| of_matches(&pattern.node, n))
                .collect();
            if matched.is_empty() {
                let help = if pattern.node.contains('?') {
                    "patterns take `*` only; `?` is not a wildcard in conditions".to_string()
                } else {
                    format!("defined search identifiers: {}", names.join(", "))
                };
                cx.error(
                    Code::EmptyPattern,
                    pattern.span,
                    format!("`{}` matches no search identifier", pattern.node),
                )
                .help = Some(help);
                return None;
            }
            let mut exprs = Vec::with_capacity(matched.len());
            for m in matched {
                exprs.push(searches.get(m)?.clone());
            }
            match quantifier {
                Quantifier::All => Expr::and(exprs),
                Quantifier::One | Quantifier::Any => Expr::or(exprs),
            }
        }
        Condition::Not(x) => Expr::not(lower_condition(cx, x, searches, names)?),
        Condition::And(items) | Condition::Or(items) => {
            let mut parts = Vec::with_capacity(items.len());
            // `sel and sel and ...` names one search many times; lower each name once
            // rather than cloning the search per reference.
            let mut seen_idents: Vec<&str> = Vec::new();
            for i in items {
                if let Condition::Ident(id) = &i.node {
                    if seen_idents.contains(&id.node.as_str()) {
                        continue;
                    }
                    seen_idents.push(&id.node);
                }
                parts.push(lower_condition(cx, i, searches, names)?);
            }
            if matches!(c.node, Condition::And(_)) {
                Expr::and(parts)
            } else {
                Expr::or(parts)
            }
        }
    })
}

/// Does `name` fall under the `x of` pattern? `them` is every identifier not starting with `_`;
/// a `*` pattern reaches `_` identifiers only if it starts with `_` itself.
pub fn of_matches(pattern: &str, name: &str) -> bool {
    if pattern == "them" {
        return !name.starts_with('_');
    }
    if name.starts_with('_') && !pattern.starts_with('_') {
        return false;
    }
    glob_match(pattern.as_bytes(), name.as_bytes())
}

fn glob_match(p: &[u8], s: &[u8]) -> bool {
    // Iterative `*` matching with one backtrack point (identifiers are short).
    let (mut pi, mut si) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while si < s.len() {
        if pi < p.len() && p[pi] == b'*' {
            star = Some((pi, si));
            pi += 1;
        } else if pi < p.len() && p[pi] == s[si] {
            pi += 1;
            si += 1;
        } else if let Some((sp, ss)) = star {
            pi = sp + 1;
            si = ss + 1;
            star = Some((sp, ss + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&b| b == b'*')
}

/// The modifiers of one item, sorted into what they do.
#[derive(Default)]
struct Mods {
    all: bool,
    cased: bool,
    neq: bool,
    expand: bool,
    re: Option<RegexFlags>,
    cidr: bool,
    exists: bool,
    fieldref: bool,
    compare: Option<NumOp>,
    time: Option<TimePart>,
    /// String transforms in the order written.
    steps: Vec<Spanned<Modifier>>,
}

#[derive(Default, Clone, Copy)]
struct RegexFlags {
    i: bool,
    m: bool,
    s: bool,
}

/// Most tests one field item may expand to (encodings and `windash` multiply values).
pub const MAX_ALTERNATIVES: usize = 100_000;

/// Lower one `field|modifiers: values` item.
pub fn lower_item(cx: &mut Ctx, item: &FieldItem) -> Option<Expr> {
    let mods = classify(cx, item)?;
    let field = item.field.as_ref().map(|f| f.node.clone());
    if mods.all && item.values.len() == 1 {
        cx.warning(
            Code::AllOnSingleValue,
            item.span,
            "`all` on a single value changes nothing",
        )
        .help = Some("drop `|all`, or list the values that must all match".into());
    }
    if item.values.len() > 1
        && let Some(null) = item.values.iter().find(|v| v.node == Value::Null)
    {
        cx.error(Code::InvalidValue, null.span, "`null` cannot be part of a list of values")
            .help = Some(
            "test for the missing field in its own selection (`sel_missing: {Field: null}`) and combine it in the condition".into(),
        );
        return None;
    }
    let mut per_value = Vec::with_capacity(item.values.len());
    let mut ok = true;
    let mut alternatives = 0usize;
    for v in &item.values {
        let lowered = lower_value(cx, &mods, item, v);
        alternatives += lowered.as_ref().map_or(0, Vec::len);
        if alternatives > MAX_ALTERNATIVES {
            cx.error(
                Code::InvalidValue,
                item.span,
                format!("the values expand to more than {MAX_ALTERNATIVES} alternatives"),
            )
            .help = Some("`windash` and `base64offset` multiply the values; use fewer flags per value or split the selection".into());
            return None;
        }
        match lowered {
            // `exists: false` is the one value that lowers to no alternative: absence.
            Some(alts) if alts.is_empty() => per_value.push(Expr::not(Expr::pred(Pred {
                field: field.clone(),
                test: Test::Exists,
            }))),
            Some(alts) => per_value.push(Expr::or(alts.into_iter().map(|test| {
                Expr::pred(Pred {
                    field: field.clone(),
                    test,
                })
            }))),
            None => ok = false,
        }
    }
    if !ok {
        return None;
    }
    let combined = if mods.all {
        Expr::and(per_value)
    } else {
        Expr::or(per_value)
    };
    Some(if mods.neq {
        Expr::not(combined)
    } else {
        combined
    })
}

fn classify(cx: &mut Ctx, item: &FieldItem) -> Option<Mods> {
    let mut m = Mods::default();
    let mut ok = true;
    let list = &item.modifiers;
    for (pos, sm) in list.iter().enumerate() {
        let mut bad = |cx: &mut Ctx, msg: String, help: &str| {
            ok = false;
            cx.error(Code::ModifierCombination, sm.span, msg).help = Some(help.to_string());
        };
        let first_only = |name: &str| {
            format!("`{name}` must be the first modifier: it reads the value as written")
        };
        match sm.node {
            Modifier::All => m.all = true,
            Modifier::Cased => m.cased = true,
            Modifier::Neq => m.neq = true,
            Modifier::Expand => m.expand = true,
            Modifier::Re if pos == 0 => m.re = Some(RegexFlags::default()),
            Modifier::Cidr if pos == 0 => m.cidr = true,
            Modifier::Exists if pos == 0 => m.exists = true,
            Modifier::FieldRef if pos == 0 => m.fieldref = true,
            Modifier::Re | Modifier::Cidr | Modifier::Exists | Modifier::FieldRef => bad(
                cx,
                first_only(sm.node.name()),
                "move it to the front of the modifier list",
            ),
            Modifier::I | Modifier::M | Modifier::S => match &mut m.re {
                Some(f) => match sm.node {
                    Modifier::I => f.i = true,
                    Modifier::M => f.m = true,
                    _ => f.s = true,
                },
                None => bad(
                    cx,
                    format!(
                        "`{}` is a regular-expression flag but the field has no `re`",
                        sm.node.name()
                    ),
                    "write `field|re|i:`, or use `cased`-free string modifiers (they ignore case already)",
                ),
            },
            Modifier::Lt | Modifier::Lte | Modifier::Gt | Modifier::Gte => {
                m.compare = Some(match sm.node {
                    Modifier::Lt => NumOp::Lt,
                    Modifier::Lte => NumOp::Lte,
                    Modifier::Gt => NumOp::Gt,
                    _ => NumOp::Gte,
                })
            }
            Modifier::Minute
            | Modifier::Hour
            | Modifier::Day
            | Modifier::Week
            | Modifier::Month
            | Modifier::Year => {
                m.time = Some(match sm.node {
                    Modifier::Minute => TimePart::Minute,
                    Modifier::Hour => TimePart::Hour,
                    Modifier::Day => TimePart::Day,
                    Modifier::Week => TimePart::Week,
                    Modifier::Month => TimePart::Month,
                    _ => TimePart::Year,
                })
            }
            Modifier::Contains
            | Modifier::StartsWith
            | Modifier::EndsWith
            | Modifier::Windash
            | Modifier::Base64
            | Modifier::Base64Offset
            | Modifier::Utf16le
            | Modifier::Utf16be
            | Modifier::Utf16 => m.steps.push(sm.clone()),
        }
    }
    // What each special kind tolerates besides itself.
    let special: Option<(&str, &[Modifier])> = if m.re.is_some() {
        Some((
            "re",
            &[
                Modifier::I,
                Modifier::M,
                Modifier::S,
                Modifier::All,
                Modifier::Neq,
                Modifier::Cased,
            ],
        ))
    } else if m.cidr {
        Some(("cidr", &[Modifier::All, Modifier::Neq]))
    } else if m.exists {
        Some(("exists", &[]))
    } else if m.fieldref {
        Some((
            "fieldref",
            &[
                Modifier::StartsWith,
                Modifier::EndsWith,
                Modifier::Contains,
                Modifier::Cased,
                Modifier::Neq,
                Modifier::All,
            ],
        ))
    } else if m.compare.is_some() || m.time.is_some() {
        Some((
            "numeric",
            &[
                Modifier::Lt,
                Modifier::Lte,
                Modifier::Gt,
                Modifier::Gte,
                Modifier::Minute,
                Modifier::Hour,
                Modifier::Day,
                Modifier::Week,
                Modifier::Month,
                Modifier::Year,
                Modifier::Neq,
                Modifier::All,
            ],
        ))
    } else {
        None
    };
    if let Some((kind, allowed)) = special {
        for (pos, sm) in list.iter().enumerate() {
            let is_self = pos == 0 && matches!(kind, "re" | "cidr" | "exists" | "fieldref");
            if !is_self && !allowed.contains(&sm.node) {
                ok = false;
                let what = if kind == "numeric" {
                    "a numeric comparison".to_string()
                } else {
                    format!("`{kind}`")
                };
                cx.error(
                    Code::ModifierCombination,
                    sm.span,
                    format!("`{}` cannot be combined with {what}", sm.node.name()),
                )
                .help = Some(format!("remove `{}`", sm.node.name()));
            }
        }
    }
    let comparisons = list
        .iter()
        .filter(|s| {
            matches!(
                s.node,
                Modifier::Lt | Modifier::Lte | Modifier::Gt | Modifier::Gte
            )
        })
        .count();
    let times = list
        .iter()
        .filter(|s| {
            matches!(
                s.node,
                Modifier::Minute
                    | Modifier::Hour
                    | Modifier::Day
                    | Modifier::Week
                    | Modifier::Month
                    | Modifier::Year
            )
        })
        .count();
    if comparisons > 1 || times > 1 {
        ok = false;
        cx.error(
            Code::ModifierCombination,
            item.span,
            "only one comparison and one time part per field",
        )
        .help = Some("write a range as two selections ANDed in the condition".into());
    }
    // Position modifiers must come after base64: `contains|base64` would encode the wildcards.
    // (`windash` and UTF-16 keep wildcards as they are, so they may come in either order.)
    let mut seen_position = None;
    for sm in &m.steps {
        match sm.node {
            Modifier::Contains | Modifier::StartsWith | Modifier::EndsWith => {
                if let Some(prev) = seen_position
                    && prev != sm.node
                {
                    {
                        ok = false;
                        cx.error(
                            Code::ModifierCombination,
                            sm.span,
                            format!(
                                "`{}` conflicts with `{}`",
                                sm.node.name(),
                                Modifier::name(prev)
                            ),
                        )
                        .help = Some(
                            "use a wildcard in the value for other shapes, e.g. `abc*xyz`".into(),
                        );
                    }
                }
                seen_position = Some(sm.node);
            }
            Modifier::Base64 | Modifier::Base64Offset if seen_position.is_some() => {
                ok = false;
                cx.error(
                    Code::ModifierCombination,
                    sm.span,
                    format!(
                        "`{}` after `{}` would encode the wildcards",
                        sm.node.name(),
                        seen_position.map_or("", Modifier::name)
                    ),
                )
                .help = Some(format!(
                    "put `{}` before `{}`",
                    sm.node.name(),
                    seen_position.map_or("", Modifier::name)
                ));
            }
            _ => {}
        }
    }
    ok.then_some(m)
}

/// The alternatives (ORed) one value stands for.
fn lower_value(cx: &mut Ctx, m: &Mods, item: &FieldItem, v: &Spanned<Value>) -> Option<Vec<Test>> {
    let invalid = |cx: &mut Ctx, msg: String, help: &str| {
        cx.error(Code::InvalidValue, v.span, msg).help = Some(help.to_string());
        None
    };
    if let Some(flags) = m.re {
        let Value::Str(re) = &v.node else {
            return invalid(
                cx,
                "a regular expression must be a string".into(),
                "quote the value",
            );
        };
        check_regex(cx, re, v)?;
        return Some(vec![Test::Regex(RegexMatch {
            pattern: re.clone(),
            ignore_case: flags.i,
            multi_line: flags.m,
            dot_all: flags.s,
        })]);
    }
    if m.cidr {
        let Some(text) = scalar_str(&v.node) else {
            return invalid(
                cx,
                "`cidr` needs a network such as `10.0.0.0/8`".into(),
                "quote the value",
            );
        };
        return match text.parse::<ipnet::IpNet>() {
            Ok(net) => Some(vec![Test::Cidr(net.trunc())]),
            Err(_) => match text.parse::<std::net::IpAddr>() {
                Ok(ip) => Some(vec![Test::Cidr(ipnet::IpNet::from(ip))]),
                Err(_) => invalid(
                    cx,
                    format!("`{text}` is not an IPv4 or IPv6 network"),
                    "write it as address/prefix, e.g. `192.168.0.0/16` or `fe80::/10`",
                ),
            },
        };
    }
    if m.exists {
        return match v.node {
            Value::Bool(true) => Some(vec![Test::Exists]),
            // Marked for the caller to negate: the field must be absent.
            Value::Bool(false) => Some(vec![]),
            _ => invalid(
                cx,
                "`exists` takes `true` or `false`".into(),
                "write `field|exists: true`",
            ),
        };
    }
    if m.fieldref {
        let Some(other) = scalar_str(&v.node) else {
            return invalid(
                cx,
                "`fieldref` takes a field name".into(),
                "write `field|fieldref: OtherField`",
            );
        };
        if other.contains(['*', '?']) {
            return invalid(
                cx,
                "a field reference cannot contain wildcards".into(),
                "name one field exactly",
            );
        }
        let shape = match m.steps.first().map(|s| s.node) {
            Some(Modifier::StartsWith) => RefShape::StartsWith,
            Some(Modifier::EndsWith) => RefShape::EndsWith,
            Some(Modifier::Contains) => RefShape::Contains,
            _ => RefShape::Equal,
        };
        return Some(vec![Test::FieldRef(FieldRef {
            other: other.to_string(),
            shape,
            cased: m.cased,
        })]);
    }
    if m.compare.is_some() || m.time.is_some() {
        let op = m.compare.unwrap_or(NumOp::Eq);
        let Some(num) = number_of(&v.node) else {
            return invalid(
                cx,
                format!("`{}` needs a number", item_mod_names(item)),
                "write the number without quotes",
            );
        };
        return Some(vec![match m.time {
            Some(part) => match num.value {
                NumValue::Int(i) => Test::TimePart(part, op, i),
                NumValue::Float(_) => {
                    return invalid(
                        cx,
                        "a time part is a whole number".into(),
                        "e.g. `field|hour: 23`",
                    );
                }
            },
            None => Test::Num(op, num),
        }]);
    }
    // Plain values without string modifiers keep their type.
    if m.steps.is_empty() && !m.expand {
        match &v.node {
            Value::Null => return Some(vec![Test::Null]),
            Value::Bool(b) => return Some(vec![Test::Bool(*b)]),
            Value::Int(..) | Value::Float(..) if !m.cased && item.field.is_some() => {
                return number_of(&v.node).map(|n| vec![Test::Num(NumOp::Eq, n)]);
            }
            _ => {}
        }
    }
    let text = match &v.node {
        Value::Null => {
            return invalid(
                cx,
                "`null` cannot take string modifiers".into(),
                "write `field: null` in its own selection to test for a missing field",
            );
        }
        other => scalar_str(other).unwrap_or_default().to_string(),
    };
    lower_string(cx, m, item, v, &text)
}

fn item_mod_names(item: &FieldItem) -> String {
    item.modifiers
        .iter()
        .map(|m| m.node.name())
        .collect::<Vec<_>>()
        .join("|")
}

fn scalar_str(v: &Value) -> Option<&str> {
    match v {
        Value::Str(s) | Value::Int(_, s) | Value::Float(_, s) => Some(s),
        Value::Bool(true) => Some("true"),
        Value::Bool(false) => Some("false"),
        Value::Null => None,
    }
}

fn number_of(v: &Value) -> Option<Number> {
    match v {
        Value::Int(i, t) => Some(Number {
            text: t.clone(),
            value: NumValue::Int(*i),
        }),
        Value::Float(f, t) => Some(Number {
            text: t.clone(),
            value: NumValue::Float(*f),
        }),
        Value::Str(s) => {
            let t = s.trim();
            if let Ok(i) = t.parse::<i64>() {
                Some(Number {
                    text: t.to_string(),
                    value: NumValue::Int(i),
                })
            } else {
                t.parse::<f64>()
                    .ok()
                    .filter(|f| f.is_finite())
                    .map(|f| Number {
                        text: t.to_string(),
                        value: NumValue::Float(f),
                    })
            }
        }
        _ => None,
    }
}

/// A string value through its transform steps (windash, encodings, position).
fn lower_string(
    cx: &mut Ctx,
    m: &Mods,
    item: &FieldItem,
    v: &Spanned<Value>,
    text: &str,
) -> Option<Vec<Test>> {
    // Each alternative: pieces, whether they hold bytes (after UTF-16), anchors.
    struct Alt {
        pieces: Vec<Piece>,
        bytes: bool,
        encoded: bool,
    }
    let mut alts = vec![Alt {
        pieces: pattern::parse(text, m.expand),
        bytes: false,
        encoded: false,
    }];
    // Keywords are found anywhere unless a position modifier says otherwise.
    let (mut start, mut end) = if item.field.is_none() {
        (false, false)
    } else {
        (true, true)
    };
    for step in &m.steps {
        let err = |cx: &mut Ctx, msg: String, help: &str| {
            cx.error(Code::InvalidValue, v.span, msg).help = Some(help.to_string());
        };
        match step.node {
            Modifier::Contains => (start, end) = (false, false),
            Modifier::StartsWith => (start, end) = (true, false),
            Modifier::EndsWith => (start, end) = (false, true),
            Modifier::Windash => {
                let mut next = Vec::new();
                for a in alts {
                    if a.encoded || a.bytes {
                        err(
                            cx,
                            "`windash` must come before encodings".into(),
                            "reorder the modifiers",
                        );
                        return None;
                    }
                    let Some(vars) = encode::windash(&a.pieces) else {
                        err(
                            cx,
                            format!(
                                "`windash` on more than {} flags makes too many variants",
                                encode::MAX_WINDASH_POSITIONS
                            ),
                            "split the value into several values with fewer flags each",
                        );
                        return None;
                    };
                    next.extend(vars.into_iter().map(|p| Alt {
                        pieces: p,
                        bytes: false,
                        encoded: false,
                    }));
                }
                alts = next;
            }
            Modifier::Utf16le | Modifier::Utf16be | Modifier::Utf16 => {
                let enc = match step.node {
                    Modifier::Utf16le => Utf16::Le,
                    Modifier::Utf16be => Utf16::Be,
                    _ => Utf16::LeBom,
                };
                for a in &mut alts {
                    if a.bytes || a.encoded {
                        err(
                            cx,
                            "the value is already encoded".into(),
                            "use one encoding modifier",
                        );
                        return None;
                    }
                    a.pieces = encode::utf16(&a.pieces, enc);
                    a.bytes = true;
                }
            }
            Modifier::Base64 | Modifier::Base64Offset => {
                let mut next = Vec::new();
                for a in alts {
                    if !pattern::is_plain(&a.pieces) {
                        err(
                            cx,
                            format!(
                                "`{}` cannot encode wildcards or placeholders",
                                step.node.name()
                            ),
                            "remove `*`/`?` from the value (escape them as `\\*` if they are literal); use `contains` after the encoding for an open match",
                        );
                        return None;
                    }
                    let bytes = encode::bytes_of(&pattern::plain_text(&a.pieces), a.bytes);
                    let encoded = if step.node == Modifier::Base64 {
                        vec![encode::base64(&bytes)]
                    } else {
                        encode::base64_offsets(&bytes)
                    };
                    next.extend(encoded.into_iter().map(|s| Alt {
                        pieces: vec![Piece::Lit(s)],
                        bytes: false,
                        encoded: true,
                    }));
                }
                alts = next;
            }
            _ => {}
        }
    }
    Some(
        alts.into_iter()
            .map(|a| Test::Str(StrMatch::new(a.pieces, start, end, m.cased)))
            .collect(),
    )
}

/// Regexes must stay inside the spec's PCRE subset so every target reads them the same way.
fn check_regex(cx: &mut Ctx, re: &str, v: &Spanned<Value>) -> Option<()> {
    match regex_syntax::ParserBuilder::new().build().parse(re) {
        Ok(_) => Some(()),
        Err(e) => {
            let unportable = ["(?=", "(?!", "(?<=", "(?<!", "(?>", "*+", "++", "?+"]
                .iter()
                .find(|p| re.contains(*p))
                .map(|p| p.to_string())
                .or_else(|| {
                    (1..=9)
                        .map(|d| format!("\\{d}"))
                        .find(|b| re.contains(b.as_str()))
                });
            let msg = match unportable {
                Some(p) => format!(
                    "the regular expression uses `{p}`, outside Sigma's portable regex subset"
                ),
                None => format!("invalid regular expression: {}", first_line(&e.to_string())),
            };
            cx.error(Code::InvalidValue, v.span, msg).help = Some(
                "Sigma regexes allow `. ^ $ * + ? {n,m} [..] | ( )` and escapes; lookaround, backreferences and possessive quantifiers do not run on every target".into(),
            );
            None
        }
    }
}

fn first_line(s: &str) -> String {
    s.lines()
        .rfind(|l| !l.trim().is_empty())
        .unwrap_or(s)
        .trim()
        .to_string()
}
