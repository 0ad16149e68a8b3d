//! Predicates: the leaves of the IR. Each says exactly what it tests, with every modifier
//! compiled away: a string match knows its pieces, anchoring and case; numbers stay numbers;
//! null, exists and the empty string are distinct tests.

use ipnet::IpNet;

use crate::syntax::ast::CompareOp;

/// One test on one field (`field: None` is a keyword: the test holds if any field of the event
/// passes it).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Pred {
    pub field: Option<String>,
    pub test: Test,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Test {
    /// A string pattern. Numbers in events match by their text.
    Str(StrMatch),
    /// A regular expression (the spec's PCRE subset), searched unanchored as written.
    Regex(RegexMatch),
    /// A numeric comparison. `Eq` also matches a string holding that number (`"4688"`).
    Num(NumOp, Number),
    /// A boolean value (`true` also matches the strings `true`/`True`).
    Bool(bool),
    /// The field is absent or null.
    Null,
    /// The field is present (whatever its value, null and empty included).
    Exists,
    /// The field holds an IP address inside this network.
    Cidr(IpNet),
    /// The field compares to another field of the same event.
    FieldRef(FieldRef),
    /// A part of the field's timestamp compares to a number.
    TimePart(TimePart, NumOp, i64),
    /// A target-specific query fragment inserted by a pipeline (`query_expression_placeholders`):
    /// `{id}` is filled in, `{field}` is left for the backend, which quotes field names its way.
    Expression(String),
}

/// A string pattern. Invariant (kept by [`StrMatch::new`]): no leading or trailing
/// [`Piece::AnyStr`] (they become `anchor_start`/`anchor_end = false`), no two adjacent
/// literals, no two adjacent `AnyStr`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct StrMatch {
    pub pieces: Vec<Piece>,
    /// The match must begin at the start of the value.
    pub anchor_start: bool,
    /// The match must end at the end of the value.
    pub anchor_end: bool,
    /// Compare case-sensitively (`cased`); Sigma's default is case-insensitive.
    pub cased: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Piece {
    Lit(String),
    /// `*`: any run of characters, empty included.
    AnyStr,
    /// `?`: exactly one character.
    AnyChar,
    /// `%name%` under `expand`, for a pipeline to resolve.
    Placeholder(String),
}

/// The shape of a string match, for targets that have an operator per shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape<'a> {
    Exact(&'a str),
    Prefix(&'a str),
    Suffix(&'a str),
    Contains(&'a str),
    /// Anything else: wildcards inside, or placeholders.
    Glob,
}

impl StrMatch {
    pub fn new(pieces: Vec<Piece>, anchor_start: bool, anchor_end: bool, cased: bool) -> StrMatch {
        let mut out: Vec<Piece> = Vec::with_capacity(pieces.len());
        for p in pieces {
            match (out.last_mut(), p) {
                (_, Piece::Lit(s)) if s.is_empty() => {}
                (Some(Piece::Lit(prev)), Piece::Lit(s)) => prev.push_str(&s),
                (Some(Piece::AnyStr), Piece::AnyStr) => {}
                (_, p) => out.push(p),
            }
        }
        let mut m = StrMatch {
            pieces: out,
            anchor_start,
            anchor_end,
            cased,
        };
        if m.pieces.first() == Some(&Piece::AnyStr) {
            m.pieces.remove(0);
            m.anchor_start = false;
        }
        if m.pieces.last() == Some(&Piece::AnyStr) {
            m.pieces.pop();
            m.anchor_end = false;
        }
        // With no pieces, one open end matches every string: make both ends open.
        if m.pieces.is_empty() && !(m.anchor_start && m.anchor_end) {
            m.anchor_start = false;
            m.anchor_end = false;
        }
        m
    }

    /// A plain string compared for equality.
    pub fn exact(s: &str, cased: bool) -> StrMatch {
        StrMatch::new(vec![Piece::Lit(s.to_string())], true, true, cased)
    }

    pub fn shape(&self) -> Shape<'_> {
        let lit = match self.pieces.as_slice() {
            [] => "",
            [Piece::Lit(s)] => s.as_str(),
            _ => return Shape::Glob,
        };
        match (self.anchor_start, self.anchor_end) {
            (true, true) => Shape::Exact(lit),
            (true, false) => Shape::Prefix(lit),
            (false, true) => Shape::Suffix(lit),
            (false, false) => Shape::Contains(lit),
        }
    }

    /// The pattern as a Sigma string (wildcards unescaped, literal `*`, `?` and `\` before them
    /// escaped), with a leading/trailing `*` for an open end.
    pub fn to_sigma(&self) -> String {
        let mut s = String::new();
        if !self.anchor_start {
            s.push('*');
        }
        for p in &self.pieces {
            match p {
                Piece::Lit(l) => {
                    for c in l.chars() {
                        // `\\` always reads back as one backslash, so escaping every
                        // backslash is exact (if more verbose than the author's spelling).
                        if matches!(c, '*' | '?' | '\\') {
                            s.push('\\');
                        }
                        s.push(c);
                    }
                }
                Piece::AnyStr => s.push('*'),
                Piece::AnyChar => s.push('?'),
                Piece::Placeholder(n) => {
                    s.push('%');
                    s.push_str(n);
                    s.push('%');
                }
            }
        }
        if !self.anchor_end {
            s.push('*');
        }
        s
    }

    pub fn has_placeholders(&self) -> bool {
        self.pieces
            .iter()
            .any(|p| matches!(p, Piece::Placeholder(_)))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RegexMatch {
    pub pattern: String,
    pub ignore_case: bool,
    pub multi_line: bool,
    pub dot_all: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NumOp {
    Eq,
    Lt,
    Lte,
    Gt,
    Gte,
}

impl NumOp {
    pub fn symbol(self) -> &'static str {
        match self {
            NumOp::Eq => "==",
            NumOp::Lt => "<",
            NumOp::Lte => "<=",
            NumOp::Gt => ">",
            NumOp::Gte => ">=",
        }
    }

    pub fn from_compare(op: CompareOp) -> Option<NumOp> {
        Some(match op {
            CompareOp::Eq => NumOp::Eq,
            CompareOp::Lt => NumOp::Lt,
            CompareOp::Lte => NumOp::Lte,
            CompareOp::Gt => NumOp::Gt,
            CompareOp::Gte => NumOp::Gte,
            CompareOp::Neq => return None,
        })
    }
}

/// A number with the text it was written as (`0x1A` and `26` are the same value).
#[derive(Debug, Clone)]
pub struct Number {
    pub text: String,
    pub value: NumValue,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum NumValue {
    Int(i64),
    Float(f64),
}

impl NumValue {
    pub fn as_f64(self) -> f64 {
        match self {
            NumValue::Int(i) => i as f64,
            NumValue::Float(f) => f,
        }
    }
}

impl PartialEq for Number {
    fn eq(&self, other: &Self) -> bool {
        self.value == other.value && self.text == other.text
    }
}

impl Eq for Number {}

impl std::hash::Hash for Number {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.text.hash(state);
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FieldRef {
    pub other: String,
    pub shape: RefShape,
    pub cased: bool,
}

/// How a field compares to the referenced field's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RefShape {
    Equal,
    StartsWith,
    EndsWith,
    Contains,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TimePart {
    Minute,
    Hour,
    Day,
    Week,
    Month,
    Year,
}

impl TimePart {
    pub fn name(self) -> &'static str {
        match self {
            TimePart::Minute => "minute",
            TimePart::Hour => "hour",
            TimePart::Day => "day",
            TimePart::Week => "week",
            TimePart::Month => "month",
            TimePart::Year => "year",
        }
    }
}
