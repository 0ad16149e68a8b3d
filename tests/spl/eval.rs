//! The meaning of the SPL subset over one event: Splunk's semantics as its documentation states
//! them, with every assumption written where it is made.
//!
//! **Search terms.** `field="pattern"` holds when the field has a value whose text matches the
//! whole pattern case-insensitively (both sides Unicode-lowercased), `*` matching any run of
//! characters including none; `field=N` (a bare integer) holds when a value's text is exactly
//! `N`. A missing field never matches; `NOT` is plain negation, so `NOT field="a"` holds for
//! events without the field (Search Manual, "Difference between != and NOT").
//!
//! **Where expressions: nulls.** The where command "returns only the results for which the eval
//! expression returns true". Decision: three-valued logic as in SQL. A missing field is null; a
//! comparison or function (other than `isnull`/`isnotnull`) with a null operand is null;
//! `AND`/`OR` are Kleene's (false AND null = false, true OR null = true, otherwise null); and
//! `NOT null` is null, so a negated test of a missing field drops the event. The documentation
//! says no more than "only true results are kept"; this reading is the conservative one (an
//! exact translation must not depend on it, and sigc wraps tests of possibly-missing fields so
//! that they are never null).
//!
//! **Where expressions: multivalue fields.** Assumption: a comparison or function over a field
//! with several values holds if it holds for one of them (each field reference ranges over its
//! values; a comparison holds if some combination holds). `isnull` holds only when the field has
//! no value at all.
//!
//! **Where expressions: types.** Field values are text that eval reads as a number when it is
//! one (decimal integer or float). A number literal against a field compares numerically; if the
//! field's text is not a number, the comparison is null. A string literal against a field
//! compares the texts, case-sensitively (`==` is exact); two fields compare as numbers when both
//! are numbers, else as texts. `<`/`>` on texts is byte-wise (lexicographic) order.
//!
//! **Functions.** `match(X, "re")`: an unanchored PCRE search on X's text, run with the `regex`
//! crate after [`pcre_to_rust`] (which documents the differences it bridges and the constructs
//! it refuses). `like(X, "p")`: `%` any run of characters (newlines included), `_` exactly one,
//! everything else literal and case-sensitive (Splunk documents no escape for `%` and `_`).
//! `cidrmatch("net/len", X)`: X an IPv4 or IPv6 address inside the network; a value that is not
//! an address (or is of the other family) is false. `lower`, `len` (characters), `substr(X, s[,
//! n])` (1-based; negative `s` counts from the end), `tonumber` (decimal text → number, else
//! null), `isnull`, `isnotnull`.

use std::borrow::Cow;
use std::net::IpAddr;

use regex::Regex;

use super::Event;
use super::parse::{CmpOp, Expr, Func, Glob, Piece, Query, Search, TermValue};

/// Why a query cannot be compared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unsupported {
    /// A bare keyword, or a `where` test of `_raw`: Splunk searches the raw event text, whose
    /// form depends on the source format.
    Keyword,
    /// A regular expression the `regex` crate cannot run (lookaround, backreferences, ...).
    Regex(String),
    /// A construct outside the subset, or ill-typed: a failure of the translation, not a skip.
    Construct(String),
}

/// A query ready to run: regexes, `like` patterns and networks compiled.
#[derive(Debug, Clone)]
pub struct Compiled {
    pub search: Search,
    filter: Option<C>,
}

#[derive(Debug, Clone)]
enum C {
    And(Vec<C>),
    Or(Vec<C>),
    Not(Box<C>),
    Cmp(CmpOp, V, V),
    IsNull(V),
    IsNotNull(V),
    Match(V, Regex),
    Like(V, Regex),
    Cidr(Net, V),
}

/// A value expression.
#[derive(Debug, Clone)]
enum V {
    Field(String),
    Str(String),
    Num(f64),
    Lower(Box<V>),
    Len(Box<V>),
    Substr(Box<V>, i64, Option<i64>),
    ToNumber(Box<V>),
}

#[derive(Debug, Clone, Copy)]
struct Net {
    addr: IpAddr,
    len: u8,
}

pub fn compile(q: &Query) -> Result<Compiled, Unsupported> {
    if has_keyword(&q.search) || q.filter.as_ref().is_some_and(reads_raw) {
        return Err(Unsupported::Keyword);
    }
    let filter = q.filter.as_ref().map(cond).transpose()?;
    Ok(Compiled {
        search: q.search.clone(),
        filter,
    })
}

fn has_keyword(s: &Search) -> bool {
    match s {
        Search::Keyword(_) => true,
        Search::And(v) | Search::Or(v) => v.iter().any(has_keyword),
        Search::Not(x) => has_keyword(x),
        Search::All | Search::Term { .. } => false,
    }
}

/// A where expression reading `_raw` (how sigc writes a keyword it must test with a regex).
fn reads_raw(e: &Expr) -> bool {
    match e {
        Expr::Field(f) => f == "_raw",
        Expr::And(v) | Expr::Or(v) | Expr::Call(_, v) => v.iter().any(reads_raw),
        Expr::Not(x) => reads_raw(x),
        Expr::Cmp(_, a, b) => reads_raw(a) || reads_raw(b),
        Expr::Str(_) | Expr::Num(_) => false,
    }
}

fn construct(msg: String) -> Unsupported {
    Unsupported::Construct(msg)
}

fn cond(e: &Expr) -> Result<C, Unsupported> {
    Ok(match e {
        Expr::And(v) => C::And(v.iter().map(cond).collect::<Result<_, _>>()?),
        Expr::Or(v) => C::Or(v.iter().map(cond).collect::<Result<_, _>>()?),
        Expr::Not(x) => C::Not(Box::new(cond(x)?)),
        Expr::Cmp(op, a, b) => C::Cmp(*op, value(a)?, value(b)?),
        Expr::Call(f, args) => match f {
            Func::IsNull => C::IsNull(value(&args[0])?),
            Func::IsNotNull => C::IsNotNull(value(&args[0])?),
            Func::Match => {
                let Expr::Str(re) = &args[1] else {
                    return Err(construct(format!(
                        "match() with a non-literal regex: {e:?}"
                    )));
                };
                let translated = pcre_to_rust(re).map_err(Unsupported::Regex)?;
                let compiled = regex::RegexBuilder::new(&translated)
                    .size_limit(1 << 26)
                    .build()
                    .map_err(|err| {
                        Unsupported::Regex(format!("`{re}` (as `{translated}`): {err}"))
                    })?;
                C::Match(value(&args[0])?, compiled)
            }
            Func::Like => {
                let Expr::Str(p) = &args[1] else {
                    return Err(construct(format!(
                        "like() with a non-literal pattern: {e:?}"
                    )));
                };
                C::Like(value(&args[0])?, like_regex(p))
            }
            Func::CidrMatch => {
                let Expr::Str(n) = &args[0] else {
                    return Err(construct(format!(
                        "cidrmatch() with a non-literal network: {e:?}"
                    )));
                };
                let net = parse_net(n).ok_or_else(|| construct(format!("bad network `{n}`")))?;
                C::Cidr(net, value(&args[1])?)
            }
            _ => return Err(construct(format!("{f:?}() is not a condition"))),
        },
        Expr::Field(_) | Expr::Str(_) | Expr::Num(_) => {
            return Err(construct(format!(
                "a value where a condition is expected: {e:?}"
            )));
        }
    })
}

fn value(e: &Expr) -> Result<V, Unsupported> {
    Ok(match e {
        Expr::Field(f) => V::Field(f.clone()),
        Expr::Str(s) => V::Str(s.clone()),
        Expr::Num(n) => V::Num(*n),
        Expr::Call(Func::Lower, a) => V::Lower(Box::new(value(&a[0])?)),
        Expr::Call(Func::Len, a) => V::Len(Box::new(value(&a[0])?)),
        Expr::Call(Func::ToNumber, a) => V::ToNumber(Box::new(value(&a[0])?)),
        Expr::Call(Func::Substr, a) => {
            let int = |e: &Expr| match e {
                Expr::Num(n) if n.fract() == 0.0 => Ok(*n as i64),
                other => Err(construct(format!(
                    "substr() with a non-integer bound: {other:?}"
                ))),
            };
            V::Substr(
                Box::new(value(&a[0])?),
                int(&a[1])?,
                a.get(2).map(int).transpose()?,
            )
        }
        other => {
            return Err(construct(format!(
                "a condition where a value is expected: {other:?}"
            )));
        }
    })
}

// ---- search ----

pub fn glob_match(g: &Glob, lower: &str) -> bool {
    let p = &g.pieces;
    match p.as_slice() {
        [] => return lower.is_empty(),
        [Piece::Lit(s)] => return lower == s,
        _ => {}
    }
    let mut rest = lower;
    let mut i = 0;
    if let Some(Piece::Lit(first)) = p.first() {
        let Some(r) = rest.strip_prefix(first.as_str()) else {
            return false;
        };
        rest = r;
        i = 1;
    }
    let last_lit = match p.last() {
        Some(Piece::Lit(l)) => Some(l.as_str()),
        _ => None,
    };
    let end = if last_lit.is_some() {
        p.len() - 1
    } else {
        p.len()
    };
    for piece in &p[i..end] {
        if let Piece::Lit(l) = piece {
            match rest.find(l.as_str()) {
                Some(at) => rest = &rest[at + l.len()..],
                None => return false,
            }
        }
    }
    match last_lit {
        Some(l) => rest.ends_with(l),
        None => true,
    }
}

pub fn search_matches(s: &Search, ev: &Event) -> bool {
    match s {
        Search::All => true,
        Search::And(v) => v.iter().all(|x| search_matches(x, ev)),
        Search::Or(v) => v.iter().any(|x| search_matches(x, ev)),
        Search::Not(x) => !search_matches(x, ev),
        Search::Term { field, value } => {
            let vals = ev.get(field);
            match value {
                TermValue::Glob(g) => vals.iter().any(|v| glob_match(g, v.lower())),
                TermValue::Int(n) => vals.iter().any(|v| v.text == *n),
            }
        }
        Search::Keyword(_) => panic!("keyword queries are skipped, not evaluated"),
    }
}

impl Compiled {
    pub fn matches(&self, ev: &Event) -> bool {
        search_matches(&self.search, ev)
            && self
                .filter
                .as_ref()
                .is_none_or(|f| truth(f, ev, false) == Tri::True)
    }

    /// Whether the event is kept, and whether that depends on how nulls combine: `Some(kept)`
    /// under the three-valued reading differs from the reading where every null test is simply
    /// false (so `NOT null` is true). `None` when the search part already rejects the event or
    /// there is no where clause.
    pub fn null_sensitive(&self, ev: &Event) -> Option<bool> {
        let f = self.filter.as_ref()?;
        if !search_matches(&self.search, ev) {
            return None;
        }
        let strict = truth(f, ev, false) == Tri::True;
        let loose = truth(f, ev, true) == Tri::True;
        (strict != loose).then_some(strict)
    }

    pub fn has_filter(&self) -> bool {
        self.filter.is_some()
    }
}

// ---- where ----

/// A condition's value in three-valued logic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tri {
    True,
    False,
    Null,
}

impl Tri {
    fn from(b: bool) -> Tri {
        if b { Tri::True } else { Tri::False }
    }

    /// "Some alternative holds": true if any is true, else null if any is null, else false.
    fn any(it: impl Iterator<Item = Tri>) -> Tri {
        let mut out = Tri::False;
        for t in it {
            match t {
                Tri::True => return Tri::True,
                Tri::Null => out = Tri::Null,
                Tri::False => {}
            }
        }
        out
    }
}

/// `null_false`: read every null test as false (the alternative reading, for sensitivity only).
fn truth(c: &C, ev: &Event, null_false: bool) -> Tri {
    let t = atom(c, ev, null_false);
    if null_false && t == Tri::Null {
        Tri::False
    } else {
        t
    }
}

fn atom(c: &C, ev: &Event, null_false: bool) -> Tri {
    match c {
        C::And(v) => {
            let mut out = Tri::True;
            for x in v {
                match truth(x, ev, null_false) {
                    Tri::False => return Tri::False,
                    Tri::Null => out = Tri::Null,
                    Tri::True => {}
                }
            }
            out
        }
        C::Or(v) => Tri::any(v.iter().map(|x| truth(x, ev, null_false))),
        C::Not(x) => match truth(x, ev, null_false) {
            Tri::True => Tri::False,
            Tri::False => Tri::True,
            Tri::Null => Tri::Null,
        },
        C::Cmp(op, a, b) => {
            let va = values(a, ev);
            let vb = values(b, ev);
            Tri::any(
                va.iter()
                    .flat_map(|x| vb.iter().map(move |y| compare(*op, x, y))),
            )
        }
        C::IsNull(x) => Tri::from(values(x, ev).iter().all(|v| matches!(v, Sc::Null))),
        C::IsNotNull(x) => Tri::from(!values(x, ev).iter().all(|v| matches!(v, Sc::Null))),
        C::Match(x, re) => Tri::any(values(x, ev).iter().map(|v| match v.text() {
            None => Tri::Null,
            Some(t) => Tri::from(re.is_match(&t)),
        })),
        C::Like(x, re) => Tri::any(values(x, ev).iter().map(|v| match v.text() {
            None => Tri::Null,
            Some(t) => Tri::from(re.is_match(&t)),
        })),
        C::Cidr(net, x) => Tri::any(values(x, ev).iter().map(|v| match v.text() {
            None => Tri::Null,
            Some(t) => Tri::from(in_net(net, &t)),
        })),
    }
}

/// One alternative of a value expression.
#[derive(Debug, Clone)]
enum Sc<'a> {
    Null,
    /// A string (a literal or a string function's result): compared as text.
    Str(Cow<'a, str>),
    /// A field's value: a number when its text is one, else text.
    Field(&'a str),
    Num(f64),
}

impl Sc<'_> {
    fn text(&self) -> Option<Cow<'_, str>> {
        match self {
            Sc::Null => None,
            Sc::Str(s) => Some(Cow::Borrowed(s)),
            Sc::Field(s) => Some(Cow::Borrowed(s)),
            Sc::Num(n) => Some(Cow::Owned(num_text(*n))),
        }
    }
}

fn num_text(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e15 {
        format!("{}", n as i64)
    } else {
        format!("{n}")
    }
}

/// Decimal number text (what eval reads as a number and `tonumber` converts).
pub fn parse_number(t: &str) -> Option<f64> {
    let b = t.as_bytes();
    let mut i = 0;
    if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
        i += 1;
    }
    let int_start = i;
    while i < b.len() && b[i].is_ascii_digit() {
        i += 1;
    }
    let mut digits = i - int_start;
    if i < b.len() && b[i] == b'.' {
        i += 1;
        let f = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        digits += i - f;
    }
    if digits == 0 {
        return None;
    }
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        i += 1;
        if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
            i += 1;
        }
        let e = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == e {
            return None;
        }
    }
    if i != b.len() {
        return None;
    }
    t.parse().ok()
}

fn values<'a>(v: &'a V, ev: &'a Event) -> Vec<Sc<'a>> {
    match v {
        V::Field(f) => {
            let vals = ev.get(f);
            if vals.is_empty() {
                vec![Sc::Null]
            } else {
                vals.iter().map(|x| Sc::Field(&x.text)).collect()
            }
        }
        V::Str(s) => vec![Sc::Str(Cow::Borrowed(s))],
        V::Num(n) => vec![Sc::Num(*n)],
        V::Lower(x) => values(x, ev)
            .into_iter()
            .map(|s| match s.text() {
                None => Sc::Null,
                Some(t) => Sc::Str(Cow::Owned(t.to_lowercase())),
            })
            .collect(),
        V::Len(x) => values(x, ev)
            .into_iter()
            .map(|s| match s.text() {
                None => Sc::Null,
                Some(t) => Sc::Num(t.chars().count() as f64),
            })
            .collect(),
        V::ToNumber(x) => values(x, ev)
            .into_iter()
            .map(|s| match &s {
                Sc::Num(n) => Sc::Num(*n),
                Sc::Null => Sc::Null,
                Sc::Str(t) => parse_number(t).map_or(Sc::Null, Sc::Num),
                Sc::Field(t) => parse_number(t).map_or(Sc::Null, Sc::Num),
            })
            .collect(),
        V::Substr(x, start, len) => values(x, ev)
            .into_iter()
            .map(|s| match s.text() {
                None => Sc::Null,
                Some(t) => substr(&t, *start, *len).map_or(Sc::Null, |r| Sc::Str(Cow::Owned(r))),
            })
            .collect(),
    }
}

fn substr(t: &str, start: i64, len: Option<i64>) -> Option<String> {
    let chars: Vec<char> = t.chars().collect();
    let n = chars.len() as i64;
    let from = if start > 0 {
        start - 1
    } else if start < 0 {
        (n + start).max(0)
    } else {
        0
    };
    let from = from.min(n);
    let to = match len {
        None => n,
        Some(l) if l < 0 => return None,
        Some(l) => (from + l).min(n),
    };
    Some(chars[from as usize..to as usize].iter().collect())
}

fn compare(op: CmpOp, a: &Sc, b: &Sc) -> Tri {
    use std::cmp::Ordering;
    let num = |s: &Sc| match s {
        Sc::Num(n) => Some(*n),
        Sc::Field(t) => parse_number(t),
        _ => None,
    };
    let ord: Option<Ordering> = match (a, b) {
        (Sc::Null, _) | (_, Sc::Null) => None,
        (Sc::Num(_), _) | (_, Sc::Num(_)) => match (num(a), num(b)) {
            (Some(x), Some(y)) => x.partial_cmp(&y),
            _ => None,
        },
        (Sc::Field(x), Sc::Field(y)) => match (parse_number(x), parse_number(y)) {
            (Some(x), Some(y)) => x.partial_cmp(&y),
            _ => Some(x.cmp(y)),
        },
        _ => Some(a.text().unwrap().as_ref().cmp(b.text().unwrap().as_ref())),
    };
    let Some(o) = ord else {
        return Tri::Null;
    };
    Tri::from(match op {
        CmpOp::Eq => o == Ordering::Equal,
        CmpOp::Ne => o != Ordering::Equal,
        CmpOp::Lt => o == Ordering::Less,
        CmpOp::Le => o != Ordering::Greater,
        CmpOp::Gt => o == Ordering::Greater,
        CmpOp::Ge => o != Ordering::Less,
    })
}

// ---- like, cidrmatch ----

/// `like` as an anchored regex: `%` any run (newlines too), `_` one character.
pub fn like_regex(p: &str) -> Regex {
    let mut re = String::from("(?s)\\A");
    for c in p.chars() {
        match c {
            '%' => re.push_str(".*"),
            '_' => re.push('.'),
            c => re.push_str(&regex::escape(c.encode_utf8(&mut [0; 4]))),
        }
    }
    re.push_str("\\z");
    Regex::new(&re).expect("like pattern")
}

fn parse_net(s: &str) -> Option<Net> {
    let (a, l) = match s.split_once('/') {
        Some((a, l)) => (a, Some(l)),
        None => (s, None),
    };
    let addr: IpAddr = a.parse().ok()?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let len = match l {
        Some(l) => l.parse::<u8>().ok().filter(|&l| l <= max)?,
        None => max,
    };
    Some(Net { addr, len })
}

fn in_net(net: &Net, text: &str) -> bool {
    let Ok(ip) = text.parse::<IpAddr>() else {
        return false;
    };
    match (net.addr, ip) {
        (IpAddr::V4(n), IpAddr::V4(a)) => {
            let mask = if net.len == 0 {
                0
            } else {
                u32::MAX << (32 - net.len)
            };
            u32::from(n) & mask == u32::from(a) & mask
        }
        (IpAddr::V6(n), IpAddr::V6(a)) => {
            let mask = if net.len == 0 {
                0
            } else {
                u128::MAX << (128 - net.len)
            };
            u128::from(n) & mask == u128::from(a) & mask
        }
        _ => false,
    }
}

// ---- PCRE → regex crate ----

/// Rewrite a PCRE pattern (Splunk's `match`) for the `regex` crate so that it means the same.
///
/// Differences bridged:
/// - `\d \w \s \b` (and negations) are ASCII in PCRE (no UCP), Unicode in the `regex` crate:
///   written as explicit ASCII classes (`\b` as `(?-u:\b)`).
/// - `$` (without `m`) and `\Z` also match before a final newline in PCRE: written as `\n?\z`
///   (equivalent for a yes/no search, the only use here).
/// - `\<` `\>` are literal `<` `>` in PCRE, word boundaries in the `regex` crate.
/// - Inside a class, PCRE reads `[`, `&&`, `~~` literally where the `regex` crate nests classes
///   or takes set operations: escaped. `\b` in a class is a backspace.
/// - A `{` that does not start a valid quantifier is a literal in PCRE, an error in the crate.
/// - `\e` is ESC; `(?#...)` comments are dropped.
///
/// Refused (PCRE features the crate lacks, so sigc's evaluator cannot run them either):
/// lookaround, backreferences, atomic groups, possessive quantifiers, recursion, conditionals,
/// `\Q..\E`, `\G \K \R \h \v \X \C`, octal escapes, and the `x` flag (its comments would need a
/// parser of their own).
pub fn pcre_to_rust(p: &str) -> Result<String, String> {
    let c: Vec<char> = p.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    let mut multi = false;
    let mut stack: Vec<bool> = Vec::new();
    let refuse = |what: &str| Err(format!("`{p}`: {what} (no equivalent in the regex crate)"));
    while i < c.len() {
        let ch = c[i];
        match ch {
            '\\' => {
                let Some(&e) = c.get(i + 1) else {
                    return refuse("trailing backslash");
                };
                i += 2;
                match e {
                    'd' => out.push_str("[0-9]"),
                    'D' => out.push_str("[^0-9]"),
                    'w' => out.push_str("(?-i:[0-9A-Za-z_])"),
                    'W' => out.push_str("(?-i:[^0-9A-Za-z_])"),
                    's' => out.push_str("[\\t\\n\\x0B\\x0C\\r ]"),
                    'S' => out.push_str("[^\\t\\n\\x0B\\x0C\\r ]"),
                    'b' => out.push_str("(?-u:\\b)"),
                    'B' => out.push_str("(?-u:\\B)"),
                    'A' | 'z' => {
                        out.push('\\');
                        out.push(e);
                    }
                    'Z' => out.push_str("(?:\\n?\\z)"),
                    '<' | '>' => out.push(e),
                    'e' => out.push_str("\\x1B"),
                    'a' | 'f' | 'n' | 'r' | 't' | 'x' | 'p' | 'P' => {
                        out.push('\\');
                        out.push(e);
                    }
                    c2 if c2.is_ascii_alphanumeric() => {
                        return refuse(&format!("the escape `\\{c2}`"));
                    }
                    c2 if c2.is_ascii() => {
                        out.push('\\');
                        out.push(c2);
                    }
                    c2 => out.push_str(&regex::escape(c2.encode_utf8(&mut [0; 4]))),
                }
            }
            '[' => {
                i = class(&c, i, &mut out).map_err(|m| format!("`{p}`: {m}"))?;
            }
            '(' => {
                if c.get(i + 1) != Some(&'?') {
                    stack.push(multi);
                    out.push('(');
                    i += 1;
                    continue;
                }
                // `(?...`
                let rest: String = c[i + 2..].iter().take(3).collect();
                if rest.starts_with('#') {
                    match c[i..].iter().position(|&x| x == ')') {
                        Some(end) => i += end + 1,
                        None => return refuse("an unterminated comment"),
                    }
                    continue;
                }
                if rest.starts_with(':') {
                    stack.push(multi);
                    out.push_str("(?:");
                    i += 3;
                    continue;
                }
                if rest.starts_with("P<")
                    || (rest.starts_with('<') && !rest.starts_with("<=") && !rest.starts_with("<!"))
                {
                    let skip = if rest.starts_with("P<") { 4 } else { 3 };
                    let Some(end) = c[i + skip..].iter().position(|&x| x == '>') else {
                        return refuse("an unterminated group name");
                    };
                    let name: String = c[i + skip..i + skip + end].iter().collect();
                    stack.push(multi);
                    out.push_str(&format!("(?P<{name}>"));
                    i += skip + end + 1;
                    continue;
                }
                if rest.starts_with('\'') {
                    let Some(end) = c[i + 3..].iter().position(|&x| x == '\'') else {
                        return refuse("an unterminated group name");
                    };
                    let name: String = c[i + 3..i + 3 + end].iter().collect();
                    stack.push(multi);
                    out.push_str(&format!("(?P<{name}>"));
                    i += 3 + end + 1;
                    continue;
                }
                // Flags: `(?imsU-imsU)` or `(?imsU-imsU:`.
                let mut j = i + 2;
                let mut on = true;
                let mut new_multi = multi;
                let mut flags = String::new();
                while let Some(&f) = c.get(j) {
                    match f {
                        '-' => on = false,
                        'i' | 's' | 'U' => {}
                        'm' => new_multi = on,
                        'x' => return refuse("the `x` flag"),
                        ')' | ':' => break,
                        _ => return refuse(&format!("the group `(?{f}`")),
                    }
                    flags.push(f);
                    j += 1;
                }
                match c.get(j) {
                    Some(')') => {
                        multi = new_multi;
                        if !flags.is_empty() && flags != "-" {
                            out.push_str(&format!("(?{flags})"));
                        }
                    }
                    Some(':') => {
                        stack.push(multi);
                        multi = new_multi;
                        out.push_str(&format!("(?{flags}:"));
                    }
                    _ => return refuse("an unterminated group"),
                }
                i = j + 1;
            }
            ')' => {
                multi = stack.pop().unwrap_or(multi);
                out.push(')');
                i += 1;
            }
            '$' => {
                out.push_str(if multi { "(?m:$)" } else { "(?:\\n?\\z)" });
                i += 1;
            }
            '{' => {
                match quantifier_at(&c, i) {
                    Some(len) => {
                        out.extend(&c[i..i + len]);
                        i += len;
                        if c.get(i) == Some(&'+') {
                            return refuse("a possessive quantifier");
                        }
                        continue;
                    }
                    None => out.push_str("\\{"),
                }
                i += 1;
            }
            '*' | '+' | '?' => {
                out.push(ch);
                i += 1;
                if c.get(i) == Some(&'+') {
                    return refuse("a possessive quantifier");
                }
            }
            _ => {
                out.push(ch);
                i += 1;
            }
        }
    }
    Ok(out)
}

/// The length of a `{n}`, `{n,}` or `{n,m}` quantifier starting at `i`, if one does.
fn quantifier_at(c: &[char], i: usize) -> Option<usize> {
    if c.get(i) != Some(&'{') {
        return None;
    }
    let mut j = i + 1;
    let d0 = j;
    while c.get(j).is_some_and(|x| x.is_ascii_digit()) {
        j += 1;
    }
    if j == d0 {
        return None;
    }
    if c.get(j) == Some(&',') {
        j += 1;
        while c.get(j).is_some_and(|x| x.is_ascii_digit()) {
            j += 1;
        }
    }
    (c.get(j) == Some(&'}')).then_some(j + 1 - i)
}

/// Copy a character class starting at `c[i] == '['`; returns the index after it.
fn class(c: &[char], mut i: usize, out: &mut String) -> Result<usize, String> {
    out.push('[');
    i += 1;
    if c.get(i) == Some(&'^') {
        out.push('^');
        i += 1;
    }
    if c.get(i) == Some(&']') {
        out.push_str("\\]");
        i += 1;
    }
    loop {
        let Some(&ch) = c.get(i) else {
            return Err("an unterminated character class".into());
        };
        match ch {
            ']' => {
                out.push(']');
                return Ok(i + 1);
            }
            '[' => {
                // A POSIX class `[:name:]` is read alike; any other `[` is a literal.
                if c.get(i + 1) == Some(&':')
                    && let Some(end) = c[i + 2..].iter().position(|&x| x == ':')
                    && c.get(i + 2 + end + 1) == Some(&']')
                {
                    out.extend(&c[i..i + 2 + end + 2]);
                    i += end + 4;
                } else {
                    out.push_str("\\[");
                    i += 1;
                }
            }
            '&' | '~' => {
                out.push('\\');
                out.push(ch);
                i += 1;
            }
            '-' if c.get(i + 1) == Some(&'-') => {
                return Err("`--` inside a class".into());
            }
            '\\' => {
                let Some(&e) = c.get(i + 1) else {
                    return Err("trailing backslash".into());
                };
                i += 2;
                match e {
                    'd' => out.push_str("0-9"),
                    'w' => out.push_str("0-9A-Za-z_"),
                    's' => out.push_str("\\t\\n\\x0B\\x0C\\r "),
                    'D' => out.push_str("[^0-9]"),
                    'W' => out.push_str("[^0-9A-Za-z_]"),
                    'S' => out.push_str("[^\\t\\n\\x0B\\x0C\\r ]"),
                    'b' => out.push_str("\\x08"),
                    'e' => out.push_str("\\x1B"),
                    'a' | 'f' | 'n' | 'r' | 't' | 'x' | 'p' | 'P' => {
                        out.push('\\');
                        out.push(e);
                    }
                    e if e.is_ascii_alphanumeric() => {
                        return Err(format!("the escape `\\{e}` in a class"));
                    }
                    e => out.push_str(&regex::escape(e.encode_utf8(&mut [0; 4]))),
                }
            }
            ch => {
                out.push(ch);
                i += 1;
            }
        }
    }
}
