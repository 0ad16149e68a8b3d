//! A parser for the subset of SPL that `sigc convert -t splunk` emits, written from Splunk's
//! documentation and independent of sigc's own code.
//!
//! A query is `<search>` or `<search> | where <expr>`; `<search>` is `*` or a search expression.
//!
//! **Search language** (Splunk *Search Manual*, "Boolean expressions with logical operators"):
//! `NOT` binds tightest, then `OR`, then `AND` (explicit or implied by juxtaposition): the search
//! command evaluates OR before AND, unlike `where`. Terms are `field=value`, `'field name'=value`,
//! `field IN (value, ...)` (the OR of `field=value` over the list, wildcards included: Search
//! Reference, `search`, "IN operator") and bare double-quoted keywords. A value is a
//! double-quoted string, a bare integer, or a lone `*` (`field=*`: the field has a value). Inside a
//! quoted search string `\\` is a backslash and `\"` a quote; a backslash before anything else is
//! a literal backslash, and the character after it keeps its own meaning: Splunk documents that
//! "the backslash can't be used to escape the asterisk in search strings", so an `*` is a
//! wildcard wherever it stands (`\*` is a backslash followed by a wildcard).
//!
//! **Where language** (eval expressions): `NOT` binds tightest, then comparisons, then `AND`,
//! then `OR` (the eval and where commands evaluate AND before OR). Fields are single-quoted (or
//! bare names of letters, digits and `_`, as `_raw`), strings double-quoted. In eval string literals `\\` is a backslash and `\"` a quote; Splunk's
//! *Types of expressions* page shows `"C:\\windows\temp"` read with a TAB for `\t`, so `\t`,
//! `\n` and `\r` are read as the control characters (a value written with a single backslash
//! before `t` would silently change); any other backslash is kept with the character after it
//! (regular expressions rely on that: `"\d+"` reaches the regex engine as `\d+`).
//!
//! Anything outside the subset is an error naming the text: an unknown construct must fail the
//! test, never be skipped or approximated.

use std::fmt;

#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    pub search: Search,
    pub filter: Option<Expr>,
}

/// The search part.
#[derive(Debug, Clone, PartialEq)]
pub enum Search {
    /// `*`: every event.
    All,
    And(Vec<Search>),
    Or(Vec<Search>),
    Not(Box<Search>),
    /// `field=value`.
    Term {
        field: String,
        value: TermValue,
    },
    /// A bare quoted string: searches `_raw`.
    Keyword(Glob),
}

#[derive(Debug, Clone, PartialEq)]
pub enum TermValue {
    /// A double-quoted string: a case-insensitive wildcard pattern over the whole value.
    Glob(Glob),
    /// A bare integer (its text): the value's text equals it.
    Int(String),
}

/// A search pattern: literal pieces (lowercased) and `*` wildcards, matched against a whole value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Glob {
    pub pieces: Vec<Piece>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    Lit(String),
    Star,
}

impl Glob {
    /// From the unescaped text of a search string, where `wild[i]` says whether char i is a wildcard.
    fn new(chars: &[(char, bool)]) -> Glob {
        let mut pieces = Vec::new();
        let mut lit = String::new();
        for &(c, wild) in chars {
            if wild {
                if !lit.is_empty() {
                    pieces.push(Piece::Lit(std::mem::take(&mut lit).to_lowercase()));
                }
                if pieces.last() != Some(&Piece::Star) {
                    pieces.push(Piece::Star);
                }
            } else {
                lit.push(c);
            }
        }
        if !lit.is_empty() {
            pieces.push(Piece::Lit(lit.to_lowercase()));
        }
        Glob { pieces }
    }

    /// The literal text when the pattern has no wildcard.
    pub fn exact(&self) -> Option<&str> {
        match self.pieces.as_slice() {
            [] => Some(""),
            [Piece::Lit(s)] => Some(s),
            _ => None,
        }
    }
}

/// A where (eval) expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    And(Vec<Expr>),
    Or(Vec<Expr>),
    Not(Box<Expr>),
    Cmp(CmpOp, Box<Expr>, Box<Expr>),
    Call(Func, Vec<Expr>),
    Field(String),
    Str(String),
    Num(f64),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Func {
    Match,
    Lower,
    Len,
    Substr,
    ToNumber,
    IsNull,
    IsNotNull,
    CidrMatch,
    Like,
}

impl Func {
    fn from_name(name: &str) -> Option<Func> {
        Some(match name {
            "match" => Func::Match,
            "lower" => Func::Lower,
            "len" => Func::Len,
            "substr" => Func::Substr,
            "tonumber" => Func::ToNumber,
            "isnull" => Func::IsNull,
            "isnotnull" => Func::IsNotNull,
            "cidrmatch" => Func::CidrMatch,
            "like" => Func::Like,
            _ => return None,
        })
    }

    /// Allowed argument counts.
    fn arity(self) -> (usize, usize) {
        match self {
            Func::Substr => (2, 3),
            Func::Match | Func::CidrMatch | Func::Like => (2, 2),
            _ => (1, 1),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    pub message: String,
    /// Byte offset in the query.
    pub at: usize,
    pub query: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let rest: String = self.query[self.at.min(self.query.len())..]
            .chars()
            .take(60)
            .collect();
        write!(
            f,
            "{} at byte {}: `{}` (query: {})",
            self.message, self.at, rest, self.query
        )
    }
}

type Result<T> = std::result::Result<T, ParseError>;

/// Parse a whole query; panics with the offending text on anything outside the subset.
pub fn parse_query_or_panic(q: &str) -> Query {
    parse_query(q).unwrap_or_else(|e| panic!("SPL outside the subset: {e}"))
}

pub fn parse_query(q: &str) -> Result<Query> {
    let mut p = P { s: q, pos: 0 };
    p.ws();
    let search = if p.rest().starts_with('*') && p.at_star_alone() {
        p.pos += 1;
        Search::All
    } else {
        p.search_and()?
    };
    p.ws();
    let filter = if p.eat("|") {
        p.ws();
        if !p.eat_word("where") {
            return Err(p.err("only `| where` may follow the search"));
        }
        let e = p.expr_or()?;
        p.ws();
        Some(e)
    } else {
        None
    };
    p.ws();
    if p.pos < p.s.len() {
        return Err(p.err("unexpected text"));
    }
    Ok(Query { search, filter })
}

struct P<'a> {
    s: &'a str,
    pos: usize,
}

#[derive(Debug, PartialEq)]
enum Word<'a> {
    And,
    Or,
    Not,
    Other(&'a str),
}

impl<'a> P<'a> {
    fn rest(&self) -> &'a str {
        &self.s[self.pos..]
    }

    fn err(&self, msg: &str) -> ParseError {
        ParseError {
            message: msg.to_string(),
            at: self.pos,
            query: self.s.to_string(),
        }
    }

    fn ws(&mut self) {
        let r = self.rest();
        self.pos += r.len() - r.trim_start().len();
    }

    fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    fn eat(&mut self, t: &str) -> bool {
        if self.rest().starts_with(t) {
            self.pos += t.len();
            true
        } else {
            false
        }
    }

    /// A bare word (letters) followed by a delimiter.
    fn word_here(&self) -> Option<&'a str> {
        let r = self.rest();
        let end = r
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(r.len());
        (end > 0).then(|| &r[..end])
    }

    fn eat_word(&mut self, w: &str) -> bool {
        if self.word_here() == Some(w) {
            self.pos += w.len();
            true
        } else {
            false
        }
    }

    /// `*` standing alone as the whole search (followed by the end or a pipe).
    fn at_star_alone(&self) -> bool {
        let after = self.rest()[1..].trim_start();
        after.is_empty() || after.starts_with('|')
    }

    /// The operator word at the current position, if any (`AND`, `OR`, `NOT` must be followed by
    /// a space or a parenthesis to be operators; they are upper case in SPL).
    fn op_word(&self) -> Word<'a> {
        match self.word_here() {
            Some("AND") => Word::And,
            Some("OR") => Word::Or,
            Some("NOT") => Word::Not,
            Some(w) => Word::Other(w),
            None => Word::Other(""),
        }
    }

    // ---- search ----

    fn at_search_end(&self) -> bool {
        let r = self.rest();
        r.is_empty() || r.starts_with('|') || r.starts_with(')')
    }

    fn search_and(&mut self) -> Result<Search> {
        let mut items = vec![self.search_or()?];
        loop {
            self.ws();
            if self.at_search_end() {
                break;
            }
            if self.op_word() == Word::And {
                self.pos += 3;
                self.ws();
            }
            // Otherwise an implied AND.
            items.push(self.search_or()?);
        }
        Ok(if items.len() == 1 {
            items.pop().unwrap()
        } else {
            Search::And(items)
        })
    }

    fn search_or(&mut self) -> Result<Search> {
        self.chain(Word::Or, Self::search_not, Search::Or)
    }

    /// `next (WORD next)*`, as one group when there are several.
    fn chain<T>(
        &mut self,
        word: Word<'a>,
        next: fn(&mut Self) -> Result<T>,
        group: fn(Vec<T>) -> T,
    ) -> Result<T> {
        let len = if word == Word::Or { 2 } else { 3 };
        let mut items = vec![next(self)?];
        loop {
            self.ws();
            if self.op_word() != word {
                break;
            }
            self.pos += len;
            self.ws();
            items.push(next(self)?);
        }
        Ok(if items.len() == 1 {
            items.pop().unwrap()
        } else {
            group(items)
        })
    }

    fn search_not(&mut self) -> Result<Search> {
        self.ws();
        if self.op_word() == Word::Not {
            self.pos += 3;
            self.ws();
            return Ok(Search::Not(Box::new(self.search_not()?)));
        }
        self.search_primary()
    }

    fn search_primary(&mut self) -> Result<Search> {
        self.ws();
        match self.peek() {
            Some('(') => {
                self.pos += 1;
                self.ws();
                let inner = self.search_and()?;
                self.ws();
                if !self.eat(")") {
                    return Err(self.err("expected `)`"));
                }
                Ok(inner)
            }
            Some('"') => {
                let chars = self.search_string()?;
                if self.peek() == Some('=') {
                    return Err(self.err("a quoted string cannot be a field name"));
                }
                Ok(Search::Keyword(Glob::new(&chars)))
            }
            Some('\'') => {
                self.pos += 1;
                let r = self.rest();
                let Some(end) = r.find('\'') else {
                    return Err(self.err("unterminated single-quoted field name"));
                };
                let field = r[..end].to_string();
                self.pos += end + 1;
                self.comparison(field)
            }
            None => Err(self.err("expected a search term")),
            Some(_) => {
                let r = self.rest();
                let end = r
                    .find(|c: char| c.is_whitespace() || matches!(c, '=' | '(' | ')' | '"' | '|'))
                    .unwrap_or(r.len());
                let field = &r[..end];
                if field.is_empty() {
                    return Err(self.err("expected a search term"));
                }
                if matches!(field, "AND" | "OR" | "NOT") {
                    return Err(self.err("operator where a term was expected"));
                }
                if field.ends_with(['!', '<', '>']) || field.contains('*') {
                    return Err(self.err("only `field=value` comparisons are in the subset"));
                }
                self.pos += end;
                self.comparison(field.to_string())
            }
        }
    }

    /// After a field name: `=value`, or `IN (value, ...)` (Search Reference, `search`: "the IN
    /// operator ... field IN (value-list)", the OR of `field=value` for each value, wildcards
    /// included).
    fn comparison(&mut self, field: String) -> Result<Search> {
        if self.eat("=") {
            let value = self.term_value()?;
            return Ok(Search::Term { field, value });
        }
        let save = self.pos;
        self.ws();
        if self.eat_word("IN") {
            self.ws();
            if !self.eat("(") {
                return Err(self.err("expected `(` after IN"));
            }
            let mut alts = Vec::new();
            loop {
                self.ws();
                let value = self.term_value()?;
                alts.push(Search::Term {
                    field: field.clone(),
                    value,
                });
                self.ws();
                if self.eat(",") {
                    continue;
                }
                if self.eat(")") {
                    break;
                }
                return Err(self.err("expected `,` or `)` in an IN list"));
            }
            return Ok(if alts.len() == 1 {
                alts.pop().unwrap()
            } else {
                Search::Or(alts)
            });
        }
        self.pos = save;
        Err(self.err(
            "a bare word that is not `field=value` or `field IN (...)` (unquoted keywords are not in the subset)",
        ))
    }

    fn term_value(&mut self) -> Result<TermValue> {
        match self.peek() {
            Some('"') => Ok(TermValue::Glob(Glob::new(&self.search_string()?))),
            Some(c) if c == '-' || c.is_ascii_digit() => {
                let r = self.rest();
                let end = r
                    .char_indices()
                    .find(|&(i, c)| !(c.is_ascii_digit() || (i == 0 && c == '-')))
                    .map_or(r.len(), |(i, _)| i);
                let text = &r[..end];
                if text == "-" {
                    return Err(self.err("expected an integer"));
                }
                let after = r[end..].chars().next();
                if !matches!(
                    after,
                    None | Some(' ' | '\t' | '\n' | '\r' | ')' | '|' | ',')
                ) {
                    return Err(self.err("a bare value that is not an integer"));
                }
                self.pos += end;
                Ok(TermValue::Int(text.to_string()))
            }
            // `field=*`: the field has a value (an unquoted lone wildcard).
            Some('*')
                if matches!(
                    self.rest()[1..].chars().next(),
                    None | Some(' ' | '\t' | '\n' | '\r' | ')' | '|' | ',')
                ) =>
            {
                self.pos += 1;
                Ok(TermValue::Glob(Glob {
                    pieces: vec![Piece::Star],
                }))
            }
            _ => Err(self.err("a value must be a double-quoted string, an integer or `*`")),
        }
    }

    /// A double-quoted search string: its characters, each marked wildcard or not.
    fn search_string(&mut self) -> Result<Vec<(char, bool)>> {
        let start = self.pos;
        self.pos += 1;
        let mut out = Vec::new();
        let mut it = self.rest().char_indices();
        while let Some((i, c)) = it.next() {
            match c {
                '"' => {
                    self.pos += i + 1;
                    return Ok(out);
                }
                '\\' => match self.rest()[i + 1..].chars().next() {
                    Some('\\') => {
                        it.next();
                        out.push(('\\', false));
                    }
                    Some('"') => {
                        it.next();
                        out.push(('"', false));
                    }
                    // A lone backslash is itself; what follows is read normally.
                    _ => out.push(('\\', false)),
                },
                '*' => out.push(('*', true)),
                c => out.push((c, false)),
            }
        }
        self.pos = start;
        Err(self.err("unterminated string"))
    }

    // ---- where ----

    fn expr_or(&mut self) -> Result<Expr> {
        self.chain(Word::Or, Self::expr_and, Expr::Or)
    }

    fn expr_and(&mut self) -> Result<Expr> {
        self.chain(Word::And, Self::expr_not, Expr::And)
    }

    fn expr_not(&mut self) -> Result<Expr> {
        self.ws();
        if self.op_word() == Word::Not {
            self.pos += 3;
            return Ok(Expr::Not(Box::new(self.expr_not()?)));
        }
        self.expr_cmp()
    }

    fn expr_cmp(&mut self) -> Result<Expr> {
        let left = self.expr_primary()?;
        self.ws();
        let op = if self.eat("==") {
            CmpOp::Eq
        } else if self.eat("!=") {
            CmpOp::Ne
        } else if self.eat("<=") {
            CmpOp::Le
        } else if self.eat(">=") {
            CmpOp::Ge
        } else if self.eat("<") {
            CmpOp::Lt
        } else if self.eat(">") {
            CmpOp::Gt
        } else if self.eat("=") {
            CmpOp::Eq
        } else {
            return Ok(left);
        };
        let right = self.expr_primary()?;
        self.ws();
        if matches!(self.peek(), Some('=' | '!' | '<' | '>')) {
            return Err(self.err("chained comparison"));
        }
        Ok(Expr::Cmp(op, Box::new(left), Box::new(right)))
    }

    fn expr_primary(&mut self) -> Result<Expr> {
        self.ws();
        match self.peek() {
            Some('(') => {
                self.pos += 1;
                let e = self.expr_or()?;
                self.ws();
                if !self.eat(")") {
                    return Err(self.err("expected `)`"));
                }
                Ok(e)
            }
            Some('\'') => {
                self.pos += 1;
                let r = self.rest();
                let Some(end) = r.find('\'') else {
                    return Err(self.err("unterminated field name"));
                };
                let name = r[..end].to_string();
                self.pos += end + 1;
                Ok(Expr::Field(name))
            }
            Some('"') => Ok(Expr::Str(self.eval_string()?)),
            Some(c) if c == '-' || c.is_ascii_digit() => {
                let r = self.rest();
                let mut end = 0;
                let b = r.as_bytes();
                if b[0] == b'-' {
                    end = 1;
                }
                let digits_start = end;
                while end < b.len() && b[end].is_ascii_digit() {
                    end += 1;
                }
                if end < b.len() && b[end] == b'.' {
                    end += 1;
                    while end < b.len() && b[end].is_ascii_digit() {
                        end += 1;
                    }
                }
                if end == digits_start {
                    return Err(self.err("expected a number"));
                }
                let n: f64 = r[..end].parse().map_err(|_| self.err("bad number"))?;
                self.pos += end;
                Ok(Expr::Num(n))
            }
            _ => {
                let Some(name) = self.word_here() else {
                    return Err(self.err("expected an operand"));
                };
                let after = self.rest()[name.len()..].trim_start();
                if !after.starts_with('(') {
                    // An unquoted field name (eval allows them when they start with a letter
                    // or `_` and hold only letters, digits and `_`).
                    if name.starts_with(|c: char| c.is_ascii_digit())
                        || matches!(name, "AND" | "OR" | "NOT")
                    {
                        return Err(self.err("expected an operand"));
                    }
                    self.pos += name.len();
                    return Ok(Expr::Field(name.to_string()));
                }
                let Some(func) = Func::from_name(name) else {
                    return Err(self.err("unknown function"));
                };
                self.pos += name.len();
                self.ws();
                if !self.eat("(") {
                    return Err(self.err("expected `(` after a function name"));
                }
                let mut args = Vec::new();
                self.ws();
                if !self.eat(")") {
                    loop {
                        args.push(self.expr_or()?);
                        self.ws();
                        if self.eat(",") {
                            continue;
                        }
                        if self.eat(")") {
                            break;
                        }
                        return Err(self.err("expected `,` or `)` in a call"));
                    }
                }
                let (lo, hi) = func.arity();
                if args.len() < lo || args.len() > hi {
                    return Err(self.err(&format!(
                        "{name}() takes {lo}..={hi} arguments, got {}",
                        args.len()
                    )));
                }
                Ok(Expr::Call(func, args))
            }
        }
    }

    fn eval_string(&mut self) -> Result<String> {
        let start = self.pos;
        self.pos += 1;
        let mut out = String::new();
        let mut it = self.rest().char_indices();
        while let Some((i, c)) = it.next() {
            match c {
                '"' => {
                    self.pos += i + 1;
                    return Ok(out);
                }
                '\\' => match self.rest()[i + 1..].chars().next() {
                    Some(e @ ('\\' | '"' | 't' | 'n' | 'r')) => {
                        it.next();
                        out.push(match e {
                            't' => '\t',
                            'n' => '\n',
                            'r' => '\r',
                            e => e,
                        });
                    }
                    _ => out.push('\\'),
                },
                c => out.push(c),
            }
        }
        self.pos = start;
        Err(self.err("unterminated string"))
    }
}
