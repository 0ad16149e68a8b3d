//! The meaning of the parsed KQL subset over one row, from Microsoft's reference
//! (<https://learn.microsoft.com/en-us/kusto/query/>), written without sigc's code:
//!
//! - Types: a row's column holds a value of the table's schema type. A `string` column has no
//!   null: a missing value reads as `""` ("The string data type doesn't support null values").
//!   Other types have a null.
//! - `==`/`!=` on strings are case-sensitive, `=~`/`!~` case-insensitive; `contains`,
//!   `startswith`, `endswith` case-insensitive, their `_cs` forms case-sensitive; `in` exact,
//!   `in~` case-insensitive. Case-insensitive means both sides lowercased (Unicode).
//! - Null ("null values" page): `null == x` is false, `null != x` true, two nulls compare to
//!   null; `<`, `>`... with a null are null; `and`/`or`/`not` are three-valued; `where` keeps a
//!   row only when its predicate is `true`.
//! - `matches regex`: RE2 syntax (no implicit anchors; `\d`, `\w`, `\s`, `\b` are ASCII),
//!   run here by the `regex` crate with those classes rewritten to their ASCII sets.
//! - `tolong`/`todouble` of a string: the value of a plain decimal (`-?[0-9]+`, digits and one
//!   `.` for todouble); a string with no digit is null. Other spellings (`"0x10"`, `" 9"`,
//!   `"1e3"`) are an *error* of this evaluator: the reference does not say what Kusto makes of
//!   them, so a query whose meaning depends on it cannot be checked.
//! - `ipv4_is_in_range(ip, range)`: null when either is not an IPv4 address (a dotted quad);
//!   `ipv6_is_in_range` also reads IPv4 addresses (as `::ffff:a.b.c.d`).
//! - A column the table does not have, a function or operator outside the subset, or operands
//!   of the wrong type are errors, never a silent `false`.

use std::borrow::Cow;
use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};

use super::parse::{Expr, Lit, Op, Query, StrOp};

#[derive(Debug, Clone, PartialEq)]
pub enum V {
    Null,
    Bool(bool),
    Long(i64),
    Real(f64),
    Str(String),
    Dyn(serde_json::Value),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Type {
    Str,
    Long,
    Real,
    Bool,
    Dyn,
    DateTime,
}

impl Type {
    pub fn from_schema(t: &str) -> Result<Type, String> {
        Ok(match t {
            "string" | "guid" => Type::Str,
            "long" | "int" => Type::Long,
            "real" | "double" => Type::Real,
            "bool" | "boolean" => Type::Bool,
            "dynamic" => Type::Dyn,
            "datetime" => Type::DateTime,
            other => return Err(format!("schema type `{other}` is outside the subset")),
        })
    }
}

/// A table's columns and their types.
pub type Schema = HashMap<String, Type>;

/// One row: column → value (a string column left out reads as `""`, any other as null).
pub type Row = HashMap<String, V>;

/// A query compiled against a schema: regexes built, columns checked.
pub struct Compiled {
    pub query: Query,
    regexes: HashMap<String, regex::Regex>,
    schema: Schema,
}

pub fn compile(query: Query, schema: &Schema) -> Result<Compiled, String> {
    let mut c = Compiled {
        query,
        regexes: HashMap::new(),
        schema: schema.clone(),
    };
    let mut known: Vec<String> = schema.keys().cloned().collect();
    let extends = c.query.extends.clone();
    for (name, e) in &extends {
        c.check(e, &known)?;
        known.push(name.clone());
    }
    let filter = c.query.filter.clone();
    c.check(&filter, &known)?;
    Ok(c)
}

/// An RE2 pattern as the `regex` crate reads it: the Perl classes made ASCII, as in RE2.
pub fn re2(pattern: &str) -> Result<regex::Regex, String> {
    let mut out = String::with_capacity(pattern.len() + 16);
    let mut it = pattern.chars().peekable();
    let mut in_class = false;
    while let Some(c) = it.next() {
        match c {
            '\\' => {
                let Some(e) = it.next() else {
                    return Err("trailing backslash".into());
                };
                let set = match e {
                    'd' => Some(("0-9", false)),
                    'D' => Some(("0-9", true)),
                    'w' => Some(("0-9A-Za-z_", false)),
                    'W' => Some(("0-9A-Za-z_", true)),
                    's' => Some(("\\t\\n\\x0C\\r ", false)),
                    'S' => Some(("\\t\\n\\x0C\\r ", true)),
                    _ => None,
                };
                match (set, in_class) {
                    (Some((s, false)), false) => out.push_str(&format!("[{s}]")),
                    (Some((s, true)), false) => out.push_str(&format!("[^{s}]")),
                    (Some((s, false)), true) => out.push_str(s),
                    (Some((_, true)), true) => {
                        return Err(format!("`\\{e}` inside a class is outside the subset"));
                    }
                    (None, _) => match e {
                        'b' | 'B' if !in_class => {
                            out.push_str(if e == 'b' { "(?-u:\\b)" } else { "(?-u:\\B)" })
                        }
                        'Z' | 'G' | 'K' | 'R' | 'X' | 'h' | 'H' | 'v' | 'V' | '<' | '>' => {
                            return Err(format!("`\\{e}` is not RE2"));
                        }
                        'p' | 'P' => {
                            out.push('\\');
                            out.push(e);
                        }
                        _ => {
                            out.push('\\');
                            out.push(e);
                        }
                    },
                }
            }
            '[' if !in_class => {
                in_class = true;
                out.push('[');
                if it.peek() == Some(&'^') {
                    out.push('^');
                    it.next();
                }
                if it.peek() == Some(&']') {
                    out.push_str("\\]");
                    it.next();
                }
                if it.peek() == Some(&':') {
                    return Err("POSIX classes are outside the subset".into());
                }
            }
            ']' if in_class => {
                in_class = false;
                out.push(']');
            }
            '[' if in_class => out.push_str("\\["),
            '&' | '~' | '-' if in_class && it.peek() == Some(&c) => {
                return Err(format!("`{c}{c}` in a class reads differently in RE2"));
            }
            _ => out.push(c),
        }
    }
    regex::RegexBuilder::new(&out)
        .size_limit(1 << 24)
        .build()
        .map_err(|e| format!("RE2 pattern `{pattern}`: {e}"))
}

fn lower(s: &str) -> String {
    if s.is_ascii() {
        s.to_ascii_lowercase()
    } else {
        s.to_lowercase()
    }
}

/// Three-valued logic: `None` is a null bool.
type B = Option<bool>;

fn truth(v: &V) -> Result<B, String> {
    match v {
        V::Bool(b) => Ok(Some(*b)),
        V::Null => Ok(None),
        other => Err(format!("{other:?} is not a bool")),
    }
}

fn as_str(v: &V, what: &str) -> Result<String, String> {
    match v {
        V::Str(s) => Ok(s.clone()),
        other => Err(format!("{what} needs a string, got {other:?}")),
    }
}

impl Compiled {
    /// Does the query keep this row?
    pub fn matches(&self, row: &Row) -> Result<bool, String> {
        let mut cx = Cx {
            row,
            extended: HashMap::new(),
            c: self,
        };
        for (name, e) in &self.query.extends {
            let v = cx.eval(e)?.into_owned();
            cx.extended.insert(name.clone(), v);
        }
        Ok(truth(cx.eval(&self.query.filter)?.as_ref())? == Some(true))
    }

    /// [`Compiled::matches`] with the computed columns already evaluated (`computed`: the
    /// values of this query's `extend`s over this row, from a query with the same `extend`s).
    pub fn matches_extended(
        &self,
        row: &Row,
        computed: &HashMap<String, V>,
    ) -> Result<bool, String> {
        let cx = Cx {
            row,
            extended: computed.clone(),
            c: self,
        };
        Ok(truth(cx.eval(&self.query.filter)?.as_ref())? == Some(true))
    }

    /// The computed columns of the query over this row.
    pub fn extend(&self, row: &Row) -> Result<Vec<(String, V)>, String> {
        let mut cx = Cx {
            row,
            extended: HashMap::new(),
            c: self,
        };
        let mut out = Vec::new();
        for (name, e) in &self.query.extends {
            let v = cx.eval(e)?.into_owned();
            cx.extended.insert(name.clone(), v.clone());
            out.push((name.clone(), v));
        }
        Ok(out)
    }

    fn check(&mut self, e: &Expr, known: &[String]) -> Result<(), String> {
        match e {
            Expr::Lit(_) => Ok(()),
            Expr::Column(c) => {
                if known.iter().any(|k| k == c) {
                    Ok(())
                } else {
                    Err(format!("`{c}` is not a column of the table"))
                }
            }
            Expr::Member(x, _) => self.check(x, known),
            Expr::Call(f, args) => {
                const FUNCS: [&str; 17] = [
                    "not",
                    "tolong",
                    "toint",
                    "todouble",
                    "tostring",
                    "isempty",
                    "isnotempty",
                    "isnull",
                    "isnotnull",
                    "ipv4_is_in_range",
                    "ipv6_is_in_range",
                    "iff",
                    "case",
                    "strcat",
                    "replace_regex",
                    "extract",
                    "tohex",
                ];
                if !FUNCS.contains(&f.as_str()) && f != "parse_json" {
                    return Err(format!("function `{f}` is outside the subset"));
                }
                for (i, a) in args.iter().enumerate() {
                    self.check(a, known)?;
                    // Regex arguments are literals, compiled once here.
                    let is_re = (f == "replace_regex" && i == 1) || (f == "extract" && i == 0);
                    if is_re {
                        self.regex_lit(a)?;
                    }
                }
                Ok(())
            }
            Expr::Bin(op, l, r) => {
                self.check(l, known)?;
                self.check(r, known)?;
                if *op == Op::MatchesRegex {
                    self.regex_lit(r)?;
                }
                Ok(())
            }
            Expr::And(v) | Expr::Or(v) => v.iter().try_for_each(|x| self.check(x, known)),
            Expr::In { x, list, .. } => {
                self.check(x, known)?;
                list.iter().try_for_each(|x| self.check(x, known))
            }
        }
    }

    fn regex_lit(&mut self, e: &Expr) -> Result<(), String> {
        let Expr::Lit(Lit::Str(p)) = e else {
            return Err("a regex that is not a string literal".into());
        };
        if !self.regexes.contains_key(p) {
            let re = re2(p)?;
            self.regexes.insert(p.clone(), re);
        }
        Ok(())
    }
}

struct Cx<'a> {
    row: &'a Row,
    extended: HashMap<String, V>,
    c: &'a Compiled,
}

impl Cx<'_> {
    fn column(&self, name: &str) -> Result<Cow<'_, V>, String> {
        if let Some(v) = self.extended.get(name) {
            return Ok(Cow::Borrowed(v));
        }
        let t = self
            .c
            .schema
            .get(name)
            .ok_or_else(|| format!("`{name}` is not a column"))?;
        Ok(match (self.row.get(name), t) {
            (Some(v), _) => Cow::Borrowed(v),
            (None, Type::Str) => Cow::Owned(V::Str(String::new())),
            (None, _) => Cow::Owned(V::Null),
        })
    }

    fn regex(&self, e: &Expr) -> Result<&regex::Regex, String> {
        match e {
            Expr::Lit(Lit::Str(p)) => self
                .c
                .regexes
                .get(p)
                .ok_or_else(|| format!("regex `{p}` not compiled")),
            _ => Err("a regex that is not a string literal".into()),
        }
    }

    fn eval(&self, e: &Expr) -> Result<Cow<'_, V>, String> {
        if let Expr::Column(c) = e {
            return self.column(c);
        }
        Ok(Cow::Owned(match e {
            Expr::Lit(l) => match l {
                Lit::Str(s) => V::Str(s.clone()),
                Lit::Long(i) => V::Long(*i),
                Lit::Real(f) => V::Real(*f),
                Lit::Bool(b) => V::Bool(*b),
            },
            Expr::Column(_) => unreachable!("columns are read above"),
            Expr::Member(x, k) => match self.eval(x)?.as_ref() {
                V::Dyn(serde_json::Value::Object(m)) => {
                    m.get(k).map_or(V::Null, |v| V::Dyn(v.clone()))
                }
                V::Dyn(_) | V::Null => V::Null,
                other => return Err(format!("`.{k}` of {other:?}, which is not dynamic")),
            },
            Expr::And(items) => {
                // false and anything = false; null and true = null.
                let mut acc = Some(true);
                for i in items {
                    match truth(self.eval(i)?.as_ref())? {
                        Some(false) => return Ok(Cow::Owned(V::Bool(false))),
                        None => acc = None,
                        Some(true) => {}
                    }
                }
                acc.map_or(V::Null, V::Bool)
            }
            Expr::Or(items) => {
                let mut acc = Some(false);
                for i in items {
                    match truth(self.eval(i)?.as_ref())? {
                        Some(true) => return Ok(Cow::Owned(V::Bool(true))),
                        None => acc = None,
                        Some(false) => {}
                    }
                }
                acc.map_or(V::Null, V::Bool)
            }
            Expr::In {
                x,
                list,
                ci,
                negated,
            } => {
                let v = self.eval(x)?;
                let mut found = false;
                for item in list {
                    let w = self.eval(item)?;
                    let eq = match (v.as_ref(), w.as_ref()) {
                        (V::Str(a), V::Str(b)) => {
                            if *ci {
                                lower(a) == lower(b)
                            } else {
                                a == b
                            }
                        }
                        (V::Long(a), V::Long(b)) if !*ci => a == b,
                        (V::Null, _) => false,
                        (a, b) => return Err(format!("`in` of {a:?} against {b:?}")),
                    };
                    found |= eq;
                }
                V::Bool(found != *negated)
            }
            Expr::Bin(op, l, r) => {
                let a = self.eval(l)?;
                if *op == Op::MatchesRegex {
                    let V::Str(s) = a.as_ref() else {
                        return Err(format!("matches regex needs a string, got {a:?}"));
                    };
                    return Ok(Cow::Owned(V::Bool(self.regex(r)?.is_match(s))));
                }
                let b = self.eval(r)?;
                binary(*op, &a, &b)?
            }
            Expr::Call(f, args) => self.call(f, args)?,
        }))
    }

    fn ev(&self, e: &Expr) -> Result<V, String> {
        Ok(self.eval(e)?.into_owned())
    }

    fn call(&self, f: &str, args: &[Expr]) -> Result<V, String> {
        let arity = |n: usize| {
            if args.len() == n {
                Ok(())
            } else {
                Err(format!("{f} takes {n} arguments, got {}", args.len()))
            }
        };
        Ok(match f {
            "not" => {
                arity(1)?;
                truth(self.eval(&args[0])?.as_ref())?.map_or(V::Null, |b| V::Bool(!b))
            }
            "iff" => {
                arity(3)?;
                if truth(self.eval(&args[0])?.as_ref())? == Some(true) {
                    self.ev(&args[1])?
                } else {
                    self.ev(&args[2])?
                }
            }
            "case" => {
                if args.len().is_multiple_of(2) {
                    return Err("case needs an else value".into());
                }
                for pair in args.chunks(2) {
                    if pair.len() == 1 {
                        return self.ev(&pair[0]);
                    }
                    if truth(self.eval(&pair[0])?.as_ref())? == Some(true) {
                        return self.ev(&pair[1]);
                    }
                }
                V::Null
            }
            "strcat" => {
                let mut s = String::new();
                for a in args {
                    s.push_str(&to_string(&self.ev(a)?)?);
                }
                V::Str(s)
            }
            "tostring" => {
                arity(1)?;
                V::Str(to_string(self.eval(&args[0])?.as_ref())?)
            }
            "tolong" | "toint" => {
                arity(1)?;
                to_long(&self.ev(&args[0])?)?
            }
            "todouble" => {
                arity(1)?;
                to_double(&self.ev(&args[0])?)?
            }
            "isempty" | "isnotempty" => {
                arity(1)?;
                let empty = match self.eval(&args[0])?.as_ref() {
                    V::Null => true,
                    V::Str(s) => s.is_empty(),
                    V::Dyn(serde_json::Value::String(s)) => s.is_empty(),
                    _ => false,
                };
                V::Bool(empty == (f == "isempty"))
            }
            "isnull" | "isnotnull" => {
                arity(1)?;
                let null = match self.ev(&args[0])? {
                    V::Null | V::Dyn(serde_json::Value::Null) => true,
                    V::Str(_) => {
                        return Err("isnull of a string is always false: a wrong query".into());
                    }
                    _ => false,
                };
                V::Bool(null == (f == "isnull"))
            }
            "ipv4_is_in_range" | "ipv6_is_in_range" => {
                arity(2)?;
                let ip = self.ev(&args[0])?;
                let range = self.ev(&args[1])?;
                let (ip, range) = (as_str(&ip, f)?, as_str(&range, f)?);
                in_range(&ip, &range, f == "ipv6_is_in_range")?
            }
            "replace_regex" => {
                arity(3)?;
                let s = as_str(&self.ev(&args[0])?, f)?;
                let rewrite = as_str(&self.ev(&args[2])?, f)?;
                let re = self.regex(&args[1])?;
                V::Str(replace_all(re, &s, &rewrite)?)
            }
            "extract" => {
                arity(3)?;
                let group = match self.ev(&args[1])? {
                    V::Long(g) if g >= 0 => g as usize,
                    other => return Err(format!("extract group {other:?}")),
                };
                let s = as_str(&self.ev(&args[2])?, f)?;
                let re = self.regex(&args[0])?;
                // No match, or the group did not take part: an empty string.
                V::Str(
                    re.captures(&s)
                        .and_then(|c| c.get(group))
                        .map_or(String::new(), |m| m.as_str().to_string()),
                )
            }
            "tohex" => {
                if args.is_empty() || args.len() > 2 {
                    return Err("tohex takes 1 or 2 arguments".into());
                }
                let n = match self.ev(&args[0])? {
                    V::Long(n) => n,
                    V::Null => return Ok(V::Null),
                    other => return Err(format!("tohex of {other:?}")),
                };
                let width = match args.get(1) {
                    Some(a) => match self.ev(a)? {
                        V::Long(w) if w >= 0 => w as usize,
                        other => return Err(format!("tohex width {other:?}")),
                    },
                    None => 0,
                };
                // Negative numbers in two's complement (64 bits), lowercase digits.
                V::Str(format!("{:0width$x}", n as u64, width = width))
            }
            "parse_json" => {
                arity(1)?;
                match self.ev(&args[0])? {
                    V::Dyn(d) => V::Dyn(d),
                    V::Str(s) => {
                        V::Dyn(serde_json::from_str(&s).unwrap_or(serde_json::Value::String(s)))
                    }
                    V::Null => V::Null,
                    other => return Err(format!("parse_json of {other:?}")),
                }
            }
            other => return Err(format!("function `{other}` is outside the subset")),
        })
    }
}

/// `replace_regex` rewrite: `\N` is capture group N, `\\` a backslash; every match replaced.
fn replace_all(re: &regex::Regex, s: &str, rewrite: &str) -> Result<String, String> {
    enum R {
        Lit(String),
        Group(usize),
    }
    let mut parts = Vec::new();
    let mut lit = String::new();
    let mut it = rewrite.chars();
    while let Some(c) = it.next() {
        if c != '\\' {
            lit.push(c);
            continue;
        }
        match it.next() {
            Some('\\') => lit.push('\\'),
            Some(d) if d.is_ascii_digit() => {
                parts.push(R::Lit(std::mem::take(&mut lit)));
                parts.push(R::Group(d as usize - '0' as usize));
            }
            other => {
                return Err(format!(
                    "rewrite escape `\\{other:?}` is outside the subset"
                ));
            }
        }
    }
    parts.push(R::Lit(lit));
    Ok(re
        .replace_all(s, |c: &regex::Captures| {
            let mut out = String::new();
            for p in &parts {
                match p {
                    R::Lit(l) => out.push_str(l),
                    R::Group(g) => out.push_str(c.get(*g).map_or("", |m| m.as_str())),
                }
            }
            out
        })
        .into_owned())
}

pub fn to_string(v: &V) -> Result<String, String> {
    Ok(match v {
        V::Null => String::new(),
        V::Bool(b) => b.to_string(),
        V::Long(i) => i.to_string(),
        V::Real(f) => return Err(format!("tostring of the real {f}: formatting not checked")),
        V::Str(s) => s.clone(),
        V::Dyn(serde_json::Value::String(s)) => s.clone(),
        V::Dyn(serde_json::Value::Null) => String::new(),
        V::Dyn(d) => d.to_string(),
    })
}

fn plain_int(s: &str) -> bool {
    let d = s.strip_prefix('-').unwrap_or(s);
    !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit())
}

fn to_long(v: &V) -> Result<V, String> {
    Ok(match v {
        V::Null => V::Null,
        V::Long(i) => V::Long(*i),
        V::Bool(b) => V::Long(i64::from(*b)),
        V::Real(f) => V::Long(f.trunc() as i64),
        V::Str(s) | V::Dyn(serde_json::Value::String(s)) => {
            if plain_int(s) {
                s.parse::<i64>().map_or(V::Null, V::Long)
            } else if !s.bytes().any(|b| b.is_ascii_digit()) {
                V::Null
            } else {
                return Err(format!("tolong({s:?}): the reference does not say"));
            }
        }
        V::Dyn(serde_json::Value::Number(n)) => n.as_i64().map_or(V::Null, V::Long),
        V::Dyn(_) => V::Null,
    })
}

fn to_double(v: &V) -> Result<V, String> {
    Ok(match v {
        V::Null => V::Null,
        V::Long(i) => V::Real(*i as f64),
        V::Real(f) => V::Real(*f),
        V::Bool(b) => V::Real(f64::from(u8::from(*b))),
        V::Str(s) | V::Dyn(serde_json::Value::String(s)) => {
            let body = s.strip_prefix('-').unwrap_or(s);
            let plain = !body.is_empty()
                && body.bytes().all(|b| b.is_ascii_digit() || b == b'.')
                && body.bytes().filter(|&b| b == b'.').count() <= 1
                && body.bytes().any(|b| b.is_ascii_digit());
            if plain {
                s.parse::<f64>().map_or(V::Null, V::Real)
            } else if !s.bytes().any(|b| b.is_ascii_digit()) {
                V::Null
            } else {
                return Err(format!("todouble({s:?}): the reference does not say"));
            }
        }
        V::Dyn(serde_json::Value::Number(n)) => n.as_f64().map_or(V::Null, V::Real),
        V::Dyn(_) => V::Null,
    })
}

fn num(v: &V) -> Option<f64> {
    match v {
        V::Long(i) => Some(*i as f64),
        V::Real(f) => Some(*f),
        _ => None,
    }
}

fn binary(op: Op, a: &V, b: &V) -> Result<V, String> {
    use std::cmp::Ordering;
    if let Op::Str(kind, cs, negated) = op {
        let (x, y) = (
            as_str(a, "a string operator")?,
            as_str(b, "a string operator")?,
        );
        let (x, y) = if cs { (x, y) } else { (lower(&x), lower(&y)) };
        let hit = match kind {
            StrOp::Contains => x.contains(&y),
            StrOp::StartsWith => x.starts_with(&y),
            StrOp::EndsWith => x.ends_with(&y),
            StrOp::Has => return Err("`has` (term search) is outside the subset".into()),
        };
        return Ok(V::Bool(hit != negated));
    }
    Ok(match op {
        Op::EqCi | Op::NeCi => {
            let (x, y) = (as_str(a, "=~")?, as_str(b, "=~")?);
            V::Bool((lower(&x) == lower(&y)) == (op == Op::EqCi))
        }
        Op::Eq | Op::Ne => {
            let eq = match (a, b) {
                (V::Null, V::Null) => return Ok(V::Null),
                (V::Null, _) | (_, V::Null) => false,
                (V::Str(x), V::Str(y)) => x == y,
                (V::Bool(x), V::Bool(y)) => x == y,
                (V::Long(x), V::Long(y)) => x == y,
                (x, y) => match (num(x), num(y)) {
                    (Some(p), Some(q)) => p == q,
                    _ => return Err(format!("`==` of {x:?} and {y:?}")),
                },
            };
            V::Bool(eq == (op == Op::Eq))
        }
        Op::Lt | Op::Le | Op::Gt | Op::Ge => {
            if matches!(a, V::Null) || matches!(b, V::Null) {
                return Ok(V::Null);
            }
            let ord = match (a, b) {
                (V::Long(x), V::Long(y)) => x.cmp(y),
                (x, y) => match (num(x), num(y)) {
                    (Some(p), Some(q)) => match p.partial_cmp(&q) {
                        Some(o) => o,
                        None => return Ok(V::Null),
                    },
                    _ => return Err(format!("ordering {x:?} and {y:?}")),
                },
            };
            V::Bool(match op {
                Op::Lt => ord == Ordering::Less,
                Op::Le => ord != Ordering::Greater,
                Op::Gt => ord == Ordering::Greater,
                _ => ord != Ordering::Less,
            })
        }
        Op::Str(..) | Op::MatchesRegex => unreachable!("handled above"),
    })
}

/// A dotted quad of four decimal octets, or `None`.
fn ipv4(s: &str) -> Option<std::net::Ipv4Addr> {
    let parts: Vec<&str> = s.split('.').collect();
    if parts.len() != 4 {
        return None;
    }
    let mut o = [0u8; 4];
    for (i, p) in parts.iter().enumerate() {
        if p.is_empty() || p.len() > 3 || !p.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        o[i] = p.parse().ok()?;
    }
    Some(std::net::Ipv4Addr::from(o))
}

fn in_range(ip: &str, range: &str, v6: bool) -> Result<V, String> {
    if ip.trim() != ip {
        return Err(format!("IP {ip:?} with spaces: the reference does not say"));
    }
    let (net, len) = range
        .split_once('/')
        .ok_or_else(|| format!("range {range:?} without a prefix length"))?;
    let len: u32 = len.parse().map_err(|_| format!("range {range:?}"))?;
    if !v6 {
        let net = ipv4(net).ok_or_else(|| format!("range {range:?}"))?;
        let Some(addr) = ipv4(ip) else {
            if !ip.is_empty() && ip.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
                return Err(format!("IPv4 {ip:?}: the reference does not say"));
            }
            return Ok(V::Null);
        };
        if len > 32 {
            return Err(format!("range {range:?}"));
        }
        let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
        return Ok(V::Bool(u32::from(addr) & mask == u32::from(net) & mask));
    }
    let to6 = |s: &str| -> Option<Ipv6Addr> {
        match ipv4(s) {
            Some(a) => Some(a.to_ipv6_mapped()),
            None => match s.parse::<IpAddr>().ok()? {
                IpAddr::V6(a) => Some(a),
                IpAddr::V4(_) => None,
            },
        }
    };
    let net = to6(net).ok_or_else(|| format!("range {range:?}"))?;
    if len > 128 {
        return Err(format!("range {range:?}"));
    }
    let Some(addr) = to6(ip) else {
        return Ok(V::Null);
    };
    let mask = if len == 0 {
        0
    } else {
        u128::MAX << (128 - len)
    };
    Ok(V::Bool(u128::from(addr) & mask == u128::from(net) & mask))
}
