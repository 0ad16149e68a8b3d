//! Compiled tests: the evaluator's meaning of every IR predicate. This file is the reference
//! semantics of sigc; backends are checked against what it selects.
//!
//! - Strings compare case-insensitively (Unicode lowercase on both sides) unless `cased`.
//!   A string test also matches a number by its JSON text and a boolean by `true`/`false`.
//! - Numbers compare numerically; a string value counts if it holds a decimal or `0x` hex
//!   number (Windows writes `"ProcessId":"11124"` and `"LogonId":"0x3e7"`). One exception:
//!   equality with a whole number (`EventID: 9`) holds only when the value, a string or a JSON
//!   number as written, is that number in plain decimal (`9`, not `"09"`, `" 9"`, `"0x9"`,
//!   `"9.0"` or `9.0`): that is how logs write such fields and how SIEMs that index text read
//!   them (Splunk's `EventID=9`; Spark over JSON read as text), so backends express it exactly.
//! - `null` holds when the field is absent or null; `exists` when it is present at all.
//! - A field with several values (a JSON array) passes if any value passes.
//! - Time parts read the field's timestamp as written (`YYYY-MM-DD[T ]HH:MM...`), with no
//!   time-zone conversion, as the spec asks.

use ipnet::IpNet;
use memchr::memmem::Finder;

use super::event::{Event, Kind, Value, lowercase};
use crate::ir::pred::{NumOp, Piece, RefShape, RegexMatch, Shape, StrMatch, TimePart};

/// A rule's regex as the evaluator runs it: its flags, and a size limit that keeps a hostile
/// pattern from taking the memory.
pub fn regex(r: &RegexMatch) -> Result<regex::Regex, String> {
    regex::RegexBuilder::new(&r.pattern)
        .case_insensitive(r.ignore_case)
        .multi_line(r.multi_line)
        .dot_matches_new_line(r.dot_all)
        .size_limit(1 << 24)
        .build()
        .map_err(|e| format!("regular expression `{}`: {e}", r.pattern))
}

#[derive(Debug, Clone)]
pub enum Matcher {
    Str(StrMatcher),
    Regex(regex::Regex),
    Num(NumOp, Num),
    Bool(bool),
    Null,
    Exists,
    Cidr(IpNet),
    FieldRef {
        other: u32,
        shape: RefShape,
        cased: bool,
    },
    TimePart(TimePart, NumOp, i64),
}

impl Matcher {
    /// Does the test hold for field `field` of `event`? (`None`: a keyword, any field.)
    pub fn test(&self, event: &Event, field: Option<u32>) -> bool {
        let Some(f) = field else {
            return match self {
                Matcher::Str(m) => event.all().any(|v| m.matches_value(event, v)),
                Matcher::Regex(re) => event.all().any(|v| re.is_match(event.text(v))),
                _ => false,
            };
        };
        match self {
            Matcher::Null => event.field(f).all(|v| v.kind == Kind::Null),
            Matcher::Exists => event.has(f),
            Matcher::Str(m) => event.field(f).any(|v| m.matches_value(event, v)),
            Matcher::Regex(re) => event
                .field(f)
                .any(|v| v.is_scalar() && re.is_match(event.text(v))),
            Matcher::Num(NumOp::Eq, Num::Int(i)) => event.field(f).any(|v| {
                matches!(v.kind, Kind::Str | Kind::Num) && is_decimal_of(event.text(v), *i)
            }),
            Matcher::Num(op, n) => event
                .field(f)
                .any(|v| parse_num(event, v).is_some_and(|x| compare(x, *op, *n))),
            Matcher::Bool(b) => event.field(f).any(|v| match v.kind {
                Kind::Bool(x) => x == *b,
                Kind::Str => {
                    event
                        .text(v)
                        .trim()
                        .eq_ignore_ascii_case(if *b { "true" } else { "false" })
                }
                _ => false,
            }),
            Matcher::Cidr(net) => event.field(f).any(|v| {
                v.kind == Kind::Str
                    && event
                        .text(v)
                        .trim()
                        .parse::<std::net::IpAddr>()
                        .is_ok_and(|ip| net.contains(&ip))
            }),
            Matcher::FieldRef {
                other,
                shape,
                cased,
            } => event.field(f).any(|a| {
                a.is_scalar()
                    && event.field(*other).any(|b| {
                        b.is_scalar() && {
                            let (x, y) = if *cased {
                                (event.text(a), event.text(b))
                            } else {
                                (event.lower(a), event.lower(b))
                            };
                            match shape {
                                RefShape::Equal => x == y,
                                RefShape::StartsWith => x.starts_with(y),
                                RefShape::EndsWith => x.ends_with(y),
                                RefShape::Contains => x.contains(y),
                            }
                        }
                    })
            }),
            Matcher::TimePart(part, op, n) => event.field(f).any(|v| {
                v.kind == Kind::Str
                    && time_part(event.text(v), *part)
                        .is_some_and(|x| compare(Num::Int(x), *op, Num::Int(*n)))
            }),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Num {
    Int(i64),
    Float(f64),
}

fn parse_num(event: &Event, v: &Value) -> Option<Num> {
    match v.kind {
        Kind::Num | Kind::Str => parse_num_text(event.text(v)),
        _ => None,
    }
}

pub fn parse_num_text(text: &str) -> Option<Num> {
    let t = text.trim();
    if t.is_empty() {
        return None;
    }
    if let Ok(i) = t.parse::<i64>() {
        return Some(Num::Int(i));
    }
    let (neg, digits) = match t.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, t),
    };
    if let Some(hex) = digits
        .strip_prefix("0x")
        .or_else(|| digits.strip_prefix("0X"))
    {
        let v = i64::from_str_radix(hex, 16)
            .ok()
            .or_else(|| u64::from_str_radix(hex, 16).ok().map(|u| u as i64))?;
        return Some(Num::Int(if neg { -v } else { v }));
    }
    let looks_numeric = t
        .bytes()
        .all(|b| b.is_ascii_digit() || matches!(b, b'-' | b'+' | b'.' | b'e' | b'E'));
    if looks_numeric {
        return t
            .parse::<f64>()
            .ok()
            .filter(|f| f.is_finite())
            .map(Num::Float);
    }
    None
}

/// Is `text` exactly `i` in plain decimal (no sign but `-`, no leading zeros or spaces)?
/// Compared without formatting `i`, since this runs for every event id test.
pub fn is_decimal_of(text: &str, i: i64) -> bool {
    let (neg, digits) = match text.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, text),
    };
    if digits.is_empty()
        || !digits.bytes().all(|b| b.is_ascii_digit())
        || (digits.len() > 1 && digits.starts_with('0'))
        || (neg && digits == "0")
    {
        return false;
    }
    text.parse::<i64>().is_ok_and(|x| x == i)
}

fn compare(x: Num, op: NumOp, y: Num) -> bool {
    use std::cmp::Ordering;
    let ord = match (x, y) {
        (Num::Int(a), Num::Int(b)) => a.cmp(&b),
        (a, b) => {
            let f = |n: Num| match n {
                Num::Int(i) => i as f64,
                Num::Float(f) => f,
            };
            match f(a).partial_cmp(&f(b)) {
                Some(o) => o,
                None => return false,
            }
        }
    };
    match op {
        NumOp::Eq => ord == Ordering::Equal,
        NumOp::Lt => ord == Ordering::Less,
        NumOp::Lte => ord != Ordering::Greater,
        NumOp::Gt => ord == Ordering::Greater,
        NumOp::Gte => ord != Ordering::Less,
    }
}

/// `YYYY-MM-DD[T ]HH:MM[:SS...]` → the requested part, as written (no zone conversion).
pub fn time_part(text: &str, part: TimePart) -> Option<i64> {
    let b = text.trim().as_bytes();
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        std::str::from_utf8(b.get(r)?).ok()?.parse::<i64>().ok()
    };
    if b.len() < 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    match part {
        TimePart::Year => Some(y),
        TimePart::Month => Some(mo),
        TimePart::Day => Some(d),
        TimePart::Week => {
            let date = jiff::civil::Date::new(y as i16, mo as i8, d as i8).ok()?;
            Some(i64::from(date.iso_week_date().week()))
        }
        TimePart::Hour | TimePart::Minute => {
            if b.len() < 16 || !matches!(b[10], b'T' | b't' | b' ') || b[13] != b':' {
                return None;
            }
            Some(if part == TimePart::Hour {
                num(11..13)?
            } else {
                num(14..16)?
            })
        }
    }
}

/// A string pattern ready to run: literals pre-lowercased unless cased.
#[derive(Debug, Clone)]
pub struct StrMatcher {
    cased: bool,
    kind: StrKind,
}

#[derive(Debug, Clone)]
enum StrKind {
    Exact(String),
    Prefix(String),
    Suffix(String),
    Contains(Box<Finder<'static>>),
    Glob(Glob),
}

#[derive(Debug, Clone)]
struct Glob {
    anchor_start: bool,
    anchor_end: bool,
    /// Runs between `*`s; each a sequence of literal text and `?`.
    segments: Vec<Vec<Tok>>,
}

#[derive(Debug, Clone)]
enum Tok {
    Lit(String),
    AnyChar,
}

impl StrMatcher {
    /// Compile a string match. Placeholders must have been resolved by a pipeline.
    pub fn new(m: &StrMatch) -> Result<StrMatcher, String> {
        if m.has_placeholders() {
            return Err(
                "the rule has an unresolved placeholder (`expand`); resolve it with a pipeline"
                    .into(),
            );
        }
        let fold = |s: &str| if m.cased { s.to_string() } else { lowercase(s) };
        let kind = match m.shape() {
            Shape::Exact(s) => StrKind::Exact(fold(s)),
            Shape::Prefix(s) => StrKind::Prefix(fold(s)),
            Shape::Suffix(s) => StrKind::Suffix(fold(s)),
            Shape::Contains(s) => {
                StrKind::Contains(Box::new(Finder::new(fold(s).as_bytes()).into_owned()))
            }
            Shape::Glob => {
                let mut segments = vec![Vec::new()];
                for p in &m.pieces {
                    match p {
                        Piece::Lit(s) => segments
                            .last_mut()
                            .map_or((), |seg| seg.push(Tok::Lit(fold(s)))),
                        Piece::AnyChar => {
                            segments.last_mut().map_or((), |seg| seg.push(Tok::AnyChar))
                        }
                        Piece::AnyStr => segments.push(Vec::new()),
                        Piece::Placeholder(_) => {}
                    }
                }
                StrKind::Glob(Glob {
                    anchor_start: m.anchor_start,
                    anchor_end: m.anchor_end,
                    segments,
                })
            }
        };
        Ok(StrMatcher {
            cased: m.cased,
            kind,
        })
    }

    fn matches_value(&self, event: &Event, v: &Value) -> bool {
        if !v.is_scalar() {
            return false;
        }
        let text = if self.cased {
            event.text(v)
        } else {
            event.lower(v)
        };
        self.matches(text)
    }

    /// Match already-folded text (lowercase unless cased).
    pub fn matches(&self, text: &str) -> bool {
        match &self.kind {
            StrKind::Exact(s) => text == s,
            StrKind::Prefix(s) => text.starts_with(s.as_str()),
            StrKind::Suffix(s) => text.ends_with(s.as_str()),
            StrKind::Contains(f) => f.find(text.as_bytes()).is_some(),
            StrKind::Glob(g) => g.matches(text),
        }
    }

    pub fn is_cased(&self) -> bool {
        self.cased
    }
}

impl Glob {
    fn matches(&self, s: &str) -> bool {
        let n = self.segments.len();
        let mut pos = 0;
        for (i, seg) in self.segments.iter().enumerate() {
            let first = i == 0;
            let last = i == n - 1;
            if last && self.anchor_end {
                // Fixed char width: the segment must end exactly at the end of the text.
                let width = seg_chars(seg);
                let Some(start) = nth_char_from_end(s, width) else {
                    return false;
                };
                if start < pos || (first && self.anchor_start && start != 0) {
                    return false;
                }
                return match_at(seg, s, start) == Some(s.len());
            }
            if first && self.anchor_start {
                match match_at(seg, s, 0) {
                    Some(end) => pos = end,
                    None => return false,
                }
                continue;
            }
            match find_from(seg, s, pos) {
                Some(end) => pos = end,
                None => return false,
            }
        }
        true
    }
}

fn seg_chars(seg: &[Tok]) -> usize {
    seg.iter()
        .map(|t| match t {
            Tok::Lit(l) => l.chars().count(),
            Tok::AnyChar => 1,
        })
        .sum()
}

/// Byte offset of the char `k` chars before the end of `s`.
fn nth_char_from_end(s: &str, k: usize) -> Option<usize> {
    if k == 0 {
        return Some(s.len());
    }
    s.char_indices().rev().nth(k - 1).map(|(i, _)| i)
}

/// Match `seg` at byte `at`; the end offset if it matches.
fn match_at(seg: &[Tok], s: &str, at: usize) -> Option<usize> {
    let mut p = at;
    for t in seg {
        match t {
            Tok::Lit(l) => {
                if !s.get(p..)?.starts_with(l.as_str()) {
                    return None;
                }
                p += l.len();
            }
            Tok::AnyChar => {
                let c = s.get(p..)?.chars().next()?;
                p += c.len_utf8();
            }
        }
    }
    Some(p)
}

/// Leftmost match of `seg` at or after `from`; its end offset.
fn find_from(seg: &[Tok], s: &str, from: usize) -> Option<usize> {
    let mut at = from;
    loop {
        if at > s.len() {
            return None;
        }
        // Jump to the next place the leading literal occurs.
        if let Some(Tok::Lit(l)) = seg.first() {
            let i = memchr::memmem::find(s.get(at..)?.as_bytes(), l.as_bytes())?;
            at += i;
        }
        if let Some(end) = match_at(seg, s, at) {
            return Some(end);
        }
        let c = s.get(at..)?.chars().next()?;
        at += c.len_utf8();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::pattern;

    fn m(sigma: &str, start: bool, end: bool) -> StrMatcher {
        StrMatcher::new(&StrMatch::new(
            pattern::parse(sigma, false),
            start,
            end,
            false,
        ))
        .unwrap()
    }

    #[test]
    fn globs() {
        assert!(m("a*c", true, true).matches("abbc"));
        assert!(!m("a*c", true, true).matches("abbcd"));
        assert!(m("a?c", true, true).matches("abc"));
        assert!(!m("a?c", true, true).matches("ac"));
        assert!(m("a?c", true, true).matches("aéc"));
        assert!(m("*\\cmd.exe", true, true).matches("c:\\windows\\cmd.exe"));
        assert!(m("x*y*z", false, false).matches("__x_y_z__"));
        assert!(!m("x*y*z", false, false).matches("__z_y_x__"));
        assert!(!m("ab*b", true, true).matches("ab"));
        assert!(m("ab*b", true, true).matches("abb"));
        assert!(m("?", true, true).matches("é"));
    }

    #[test]
    fn numbers_and_times() {
        assert_eq!(parse_num_text("0x3e7"), Some(Num::Int(999)));
        assert_eq!(parse_num_text(" 42 "), Some(Num::Int(42)));
        assert_eq!(parse_num_text("4.5"), Some(Num::Float(4.5)));
        assert_eq!(parse_num_text("abc"), None);
        assert!(is_decimal_of("9", 9) && is_decimal_of("-12", -12) && is_decimal_of("0", 0));
        for other in ["09", " 9", "9 ", "0x9", "9.0", "+9", "-0", "", "-", "8"] {
            assert!(!is_decimal_of(other, 9) || other == "9", "{other:?}");
        }
        assert!(!is_decimal_of("-0", 0));
        assert_eq!(
            time_part("2020-06-10T02:50:56.537Z", TimePart::Hour),
            Some(2)
        );
        assert_eq!(time_part("2020-06-09 22:50:54", TimePart::Minute), Some(50));
        assert_eq!(time_part("2021-01-03", TimePart::Week), Some(53));
    }
}
