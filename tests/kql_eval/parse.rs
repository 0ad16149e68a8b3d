//! The KQL subset `sigc convert -t kql` writes, parsed from the language reference
//! (<https://learn.microsoft.com/en-us/kusto/query/>): a table name, `| extend name = expr`
//! steps, and one `| where expr`. Anything else is an error naming what was not understood,
//! never a silent `false`.
//!
//! Precedence (the reference's "operator precedence"): `or` < `and` < comparisons and string
//! operators (`==`, `=~`, `contains`, `in~`, `matches regex`, ...) < function calls, literals,
//! columns, paths. `not` is a function (`not(x)`).

/// A query: the table, its computed columns in order, and the filter.
#[derive(Debug, Clone)]
pub struct Query {
    pub table: String,
    pub extends: Vec<(String, Expr)>,
    pub filter: Expr,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Lit {
    Str(String),
    Long(i64),
    Real(f64),
    Bool(bool),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    /// `=~`, `!~`: case-insensitive equality.
    EqCi,
    NeCi,
    Lt,
    Le,
    Gt,
    Ge,
    /// String operators: (kind, case-sensitive, negated).
    Str(StrOp, bool, bool),
    MatchesRegex,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StrOp {
    Contains,
    StartsWith,
    EndsWith,
    Has,
}

#[derive(Debug, Clone)]
pub enum Expr {
    Lit(Lit),
    Column(String),
    /// `x.a`, `x["a-b"]`: a key under a dynamic value.
    Member(Box<Expr>, String),
    Call(String, Vec<Expr>),
    Bin(Op, Box<Expr>, Box<Expr>),
    And(Vec<Expr>),
    Or(Vec<Expr>),
    /// `x in (..)`, `x in~ (..)`, `x !in (..)`, `x !in~ (..)`.
    In {
        x: Box<Expr>,
        list: Vec<Expr>,
        ci: bool,
        negated: bool,
    },
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    /// `['name']` or `["name"]`: a quoted column name.
    Quoted(String),
    Str(String),
    Num(String),
    Sym(&'static str),
    Pipe,
}

const SYMS: [&str; 17] = [
    "==", "!=", "=~", "!~", "<=", ">=", "<", ">", "=", "(", ")", ",", ".", "[", "]", "!", "|",
];

fn lex(src: &str) -> Result<Vec<Tok>, String> {
    let c: Vec<char> = src.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < c.len() {
        let ch = c[i];
        if ch.is_whitespace() {
            i += 1;
            continue;
        }
        if ch == '/' && c.get(i + 1) == Some(&'/') {
            return Err("a comment in the query".into());
        }
        // Verbatim string: @"..." with "" for a quote, no escapes.
        if ch == '@' && matches!(c.get(i + 1), Some('"' | '\'')) {
            let q = c[i + 1];
            let mut s = String::new();
            i += 2;
            loop {
                match c.get(i) {
                    None => return Err("unterminated verbatim string".into()),
                    Some(&x) if x == q => {
                        if c.get(i + 1) == Some(&q) {
                            s.push(q);
                            i += 2;
                        } else {
                            i += 1;
                            break;
                        }
                    }
                    Some(&x) => {
                        s.push(x);
                        i += 1;
                    }
                }
            }
            out.push(Tok::Str(s));
            continue;
        }
        if ch == '"' || ch == '\'' {
            let (s, next) = string_lit(&c, i)?;
            out.push(Tok::Str(s));
            i = next;
            continue;
        }
        if ch == '[' && matches!(c.get(i + 1), Some('\'' | '"')) {
            let (s, next) = string_lit(&c, i + 1)?;
            if c.get(next) != Some(&']') {
                return Err("a quoted name must close with `]`".into());
            }
            out.push(Tok::Quoted(s));
            i = next + 1;
            continue;
        }
        if ch.is_ascii_digit() {
            let start = i;
            while i < c.len() && (c[i].is_ascii_alphanumeric() || c[i] == '.') {
                i += 1;
            }
            out.push(Tok::Num(c[start..i].iter().collect()));
            continue;
        }
        if ch.is_ascii_alphabetic() || ch == '_' {
            let start = i;
            while i < c.len() && (c[i].is_ascii_alphanumeric() || c[i] == '_') {
                i += 1;
            }
            // `in~`, `!in~` and the `_cs` operators lex as one word with their suffix.
            let mut w: String = c[start..i].iter().collect();
            if w == "in" && c.get(i) == Some(&'~') {
                w.push('~');
                i += 1;
            }
            out.push(Tok::Ident(w));
            continue;
        }
        if ch == '|' {
            out.push(Tok::Pipe);
            i += 1;
            continue;
        }
        let rest: String = c[i..c.len().min(i + 2)].iter().collect();
        let Some(sym) = SYMS.iter().find(|s| rest.starts_with(**s)) else {
            return Err(format!("unexpected character `{ch}`"));
        };
        out.push(Tok::Sym(sym));
        i += sym.chars().count();
    }
    Ok(out)
}

/// A `"..."` or `'...'` literal starting at `c[at]`, with the reference's escapes
/// (`\\`, `\"`, `\'`, `\n`, `\r`, `\t`, `\uXXXX`); returns the text and the index after it.
fn string_lit(c: &[char], at: usize) -> Result<(String, usize), String> {
    let q = c[at];
    let mut s = String::new();
    let mut i = at + 1;
    loop {
        match c.get(i) {
            None => return Err("unterminated string literal".into()),
            Some(&x) if x == q => return Ok((s, i + 1)),
            Some('\\') => {
                let e = c.get(i + 1).ok_or("unterminated escape")?;
                i += 2;
                s.push(match e {
                    '\\' => '\\',
                    '"' => '"',
                    '\'' => '\'',
                    'n' => '\n',
                    'r' => '\r',
                    't' => '\t',
                    'u' => {
                        let hex: String =
                            c.get(i..i + 4).ok_or("short \\u escape")?.iter().collect();
                        i += 4;
                        let code = u32::from_str_radix(&hex, 16).map_err(|e| e.to_string())?;
                        char::from_u32(code).ok_or("bad \\u escape")?
                    }
                    other => return Err(format!("escape `\\{other}` is outside the subset")),
                });
            }
            Some(&x) => {
                s.push(x);
                i += 1;
            }
        }
    }
}

struct P {
    t: Vec<Tok>,
    i: usize,
}

pub fn parse_query(src: &str) -> Result<Query, String> {
    let mut p = P { t: lex(src)?, i: 0 };
    let table = match p.next() {
        Some(Tok::Ident(t)) => t,
        other => return Err(format!("a query starts with its table, not {other:?}")),
    };
    let mut extends = Vec::new();
    let mut filter = None;
    while p.peek().is_some() {
        if p.next() != Some(Tok::Pipe) {
            return Err("expected `|` between steps".into());
        }
        match p.next() {
            Some(Tok::Ident(w)) if w == "extend" => {
                if filter.is_some() {
                    return Err("`extend` after `where`".into());
                }
                let Some(Tok::Ident(name)) = p.next() else {
                    return Err("`extend` needs a column name".into());
                };
                p.expect(Tok::Sym("="))?;
                extends.push((name, p.expr()?));
            }
            Some(Tok::Ident(w)) if w == "where" => {
                if filter.is_some() {
                    return Err("a second `where`".into());
                }
                filter = Some(p.expr()?);
            }
            other => return Err(format!("step {other:?} is outside the subset")),
        }
    }
    Ok(Query {
        table,
        extends,
        filter: filter.ok_or("no `where`")?,
    })
}

/// One expression on its own (a pipeline's `kql_extend_*` value).
pub fn parse_expr(src: &str) -> Result<Expr, String> {
    let mut p = P { t: lex(src)?, i: 0 };
    let e = p.expr()?;
    match p.peek() {
        None => Ok(e),
        Some(t) => Err(format!("text after the expression: {t:?}")),
    }
}

impl P {
    fn peek(&self) -> Option<&Tok> {
        self.t.get(self.i)
    }

    fn next(&mut self) -> Option<Tok> {
        let t = self.t.get(self.i).cloned();
        self.i += 1;
        t
    }

    fn expect(&mut self, t: Tok) -> Result<(), String> {
        match self.next() {
            Some(x) if x == t => Ok(()),
            other => Err(format!("expected {t:?}, found {other:?}")),
        }
    }

    fn word(&self, w: &str) -> bool {
        matches!(self.peek(), Some(Tok::Ident(x)) if x == w)
    }

    fn expr(&mut self) -> Result<Expr, String> {
        let mut items = vec![self.and()?];
        while self.word("or") {
            self.i += 1;
            items.push(self.and()?);
        }
        Ok(if items.len() == 1 {
            items.remove(0)
        } else {
            Expr::Or(items)
        })
    }

    fn and(&mut self) -> Result<Expr, String> {
        let mut items = vec![self.cmp()?];
        while self.word("and") {
            self.i += 1;
            items.push(self.cmp()?);
        }
        Ok(if items.len() == 1 {
            items.remove(0)
        } else {
            Expr::And(items)
        })
    }

    fn cmp(&mut self) -> Result<Expr, String> {
        let left = self.primary()?;
        let op = match self.peek() {
            Some(Tok::Sym(s)) => match *s {
                "==" => Some(Op::Eq),
                "!=" => Some(Op::Ne),
                "=~" => Some(Op::EqCi),
                "!~" => Some(Op::NeCi),
                "<" => Some(Op::Lt),
                "<=" => Some(Op::Le),
                ">" => Some(Op::Gt),
                ">=" => Some(Op::Ge),
                "!" => {
                    // `!contains`, `!in~`, ...: a negated word operator.
                    self.i += 1;
                    return self.word_op(left, true);
                }
                _ => None,
            },
            Some(Tok::Ident(_)) => return self.word_op(left, false),
            _ => None,
        };
        let Some(op) = op else {
            return Ok(left);
        };
        self.i += 1;
        let right = self.primary()?;
        Ok(Expr::Bin(op, Box::new(left), Box::new(right)))
    }

    fn word_op(&mut self, left: Expr, negated: bool) -> Result<Expr, String> {
        let Some(Tok::Ident(w)) = self.peek().cloned() else {
            return Err("expected an operator after `!`".into());
        };
        if !negated && (w == "and" || w == "or") {
            return Ok(left);
        }
        self.i += 1;
        let (base, cs) = match w.strip_suffix("_cs") {
            Some(b) => (b, true),
            None => (w.as_str(), false),
        };
        let str_op = match base {
            "contains" => Some(StrOp::Contains),
            "startswith" => Some(StrOp::StartsWith),
            "endswith" => Some(StrOp::EndsWith),
            "has" => Some(StrOp::Has),
            _ => None,
        };
        if let Some(s) = str_op {
            let right = self.primary()?;
            return Ok(Expr::Bin(
                Op::Str(s, cs, negated),
                Box::new(left),
                Box::new(right),
            ));
        }
        match w.as_str() {
            "in" | "in~" => {
                self.expect(Tok::Sym("("))?;
                let mut list = Vec::new();
                loop {
                    list.push(self.primary()?);
                    match self.next() {
                        Some(Tok::Sym(",")) => {}
                        Some(Tok::Sym(")")) => break,
                        other => {
                            return Err(format!("expected `,` or `)` in a list, found {other:?}"));
                        }
                    }
                }
                Ok(Expr::In {
                    x: Box::new(left),
                    list,
                    ci: w == "in~",
                    negated,
                })
            }
            "matches" if !negated => {
                if !self.word("regex") {
                    return Err("`matches` without `regex`".into());
                }
                self.i += 1;
                let right = self.primary()?;
                Ok(Expr::Bin(Op::MatchesRegex, Box::new(left), Box::new(right)))
            }
            other => Err(format!("operator `{other}` is outside the subset")),
        }
    }

    fn primary(&mut self) -> Result<Expr, String> {
        let mut e = match self.next() {
            Some(Tok::Sym("(")) => {
                let e = self.expr()?;
                self.expect(Tok::Sym(")"))?;
                e
            }
            Some(Tok::Str(s)) => Expr::Lit(Lit::Str(s)),
            Some(Tok::Num(n)) => {
                if let Ok(i) = n.parse::<i64>() {
                    Expr::Lit(Lit::Long(i))
                } else if let Ok(f) = n.parse::<f64>() {
                    Expr::Lit(Lit::Real(f))
                } else {
                    return Err(format!("number `{n}` is outside the subset"));
                }
            }
            Some(Tok::Sym("-")) => return Err("unary minus is outside the subset".into()),
            Some(Tok::Quoted(name)) => Expr::Column(name),
            Some(Tok::Ident(w)) => match w.as_str() {
                "true" => Expr::Lit(Lit::Bool(true)),
                "false" => Expr::Lit(Lit::Bool(false)),
                _ if self.peek() == Some(&Tok::Sym("(")) => {
                    self.i += 1;
                    let mut args = Vec::new();
                    if self.peek() != Some(&Tok::Sym(")")) {
                        loop {
                            args.push(self.expr()?);
                            match self.next() {
                                Some(Tok::Sym(",")) => {}
                                Some(Tok::Sym(")")) => break,
                                other => {
                                    return Err(format!(
                                        "expected `,` or `)` after an argument of {w}, found {other:?}"
                                    ));
                                }
                            }
                        }
                    } else {
                        self.i += 1;
                    }
                    Expr::Call(w, args)
                }
                _ => Expr::Column(w),
            },
            other => return Err(format!("expected a value, found {other:?}")),
        };
        // Member access on a dynamic value.
        loop {
            match self.peek() {
                Some(Tok::Sym(".")) => {
                    self.i += 1;
                    let Some(Tok::Ident(k)) = self.next() else {
                        return Err("expected a key after `.`".into());
                    };
                    e = Expr::Member(Box::new(e), k);
                }
                Some(Tok::Sym("[")) => {
                    self.i += 1;
                    let Some(Tok::Str(k)) = self.next() else {
                        return Err("expected a string key in `[...]`".into());
                    };
                    self.expect(Tok::Sym("]"))?;
                    e = Expr::Member(Box::new(e), k);
                }
                Some(Tok::Quoted(k)) => {
                    // `x['a']` lexes as a quoted name right after the value.
                    let k = k.clone();
                    self.i += 1;
                    e = Expr::Member(Box::new(e), k);
                }
                _ => return Ok(e),
            }
        }
    }
}
