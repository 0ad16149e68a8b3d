//! The condition grammar (Sigma v2.1 § Condition), precedence from loosest to tightest:
//! `or` < `and` < `not` < `1 of`/`any of`/`all of` < `( )`.
//!
//! ```text
//! or_expr  = and_expr { "or" and_expr }
//! and_expr = not_expr { "and" not_expr }
//! not_expr = "not" not_expr | primary
//! primary  = "(" or_expr ")" | ("1" | "any" | "all") "of" pattern | identifier
//! ```
//!
//! Tokens are read with nom; the recursive descent above is written out by hand so the depth
//! guard ([`MAX_DEPTH`]) and the error messages stay explicit. Keywords are lowercase, as in the
//! specification and pySigma: `AND` is reported with a hint rather than read as an identifier.
//! The same grammar serves the v2.2 boolean conditions of temporal correlations, whose
//! identifiers are rule names.

use nom::IResult;
use nom::Parser;
use nom::bytes::complete::take_while1;
use nom::character::complete::multispace0;

use super::ast::{Condition, Quantifier};
use crate::diagnostic::Code;
use crate::source::{Span, Spanned};

/// Deepest nesting of parentheses and `not` accepted. Real rules use fewer than ten.
pub const MAX_DEPTH: usize = 128;

/// A condition parse failure at a byte offset into the condition text.
#[derive(Debug, Clone, PartialEq)]
pub struct ConditionError {
    pub code: Code,
    pub offset: usize,
    pub len: usize,
    pub message: String,
    pub help: Option<String>,
}

/// Parse a condition. Spans in the result are byte offsets into `text`.
pub fn parse(text: &str) -> Result<Spanned<Condition>, ConditionError> {
    let mut p = CondParser { text, pos: 0 };
    p.skip_ws();
    if p.pos == text.len() {
        return Err(p.error(Code::ConditionSyntax, "the condition is empty", None));
    }
    if let Some(e) = legacy_aggregation(text) {
        return Err(e);
    }
    let expr = p.or_expr(0)?;
    p.skip_ws();
    if p.pos < text.len() {
        return Err(p.unexpected("`and`, `or` or the end of the condition"));
    }
    Ok(expr)
}

/// Sigma v1 aggregation functions (`count(x) by y > 5`), reported before parsing so the
/// message names the construct rather than the first unexpected token.
fn legacy_aggregation(text: &str) -> Option<ConditionError> {
    let mut rest = text;
    let mut offset = 0;
    while let Ok((after, w)) = word(rest).or_else(|_| {
        let skip = rest.chars().next().map_or(0, char::len_utf8);
        if skip == 0 {
            Err(())
        } else {
            Ok((&rest[skip..], ""))
        }
    }) {
        let at = offset;
        offset += rest.len() - after.len();
        rest = after;
        if matches!(w, "count" | "sum" | "min" | "max" | "avg")
            && rest.trim_start().starts_with('(')
        {
            return Some(ConditionError {
                code: Code::LegacyAggregation,
                offset: at,
                len: w.len(),
                message: format!("`{w}(...)` is a Sigma v1 aggregation, removed in v2"),
                help: Some("express it as a correlation rule (`event_count`, `value_count`, `value_sum`, ...) that references this rule; `sigc migrate FILE` writes it".into()),
            });
        }
    }
    None
}

#[derive(Debug, Clone, PartialEq)]
enum Token<'a> {
    Word(&'a str),
    Open,
    Close,
    Pipe,
    Other(char),
    End,
}

fn word(i: &str) -> IResult<&str, &str> {
    take_while1(|c: char| c.is_alphanumeric() || matches!(c, '_' | '-' | '.' | '*' | '?')).parse(i)
}

struct CondParser<'a> {
    text: &'a str,
    pos: usize,
}

impl<'a> CondParser<'a> {
    fn rest(&self) -> &'a str {
        &self.text[self.pos..]
    }

    fn skip_ws(&mut self) {
        if let Ok((rest, _)) = multispace0::<&str, ()>(self.rest()) {
            self.pos = self.text.len() - rest.len();
        }
    }

    /// The next token and its length, without consuming it.
    fn peek(&mut self) -> (Token<'a>, usize) {
        self.skip_ws();
        let rest = self.rest();
        if let Ok((_, w)) = word(rest) {
            return (Token::Word(w), w.len());
        }
        match rest.chars().next() {
            None => (Token::End, 0),
            Some('(') => (Token::Open, 1),
            Some(')') => (Token::Close, 1),
            Some('|') => (Token::Pipe, 1),
            Some(c) => (Token::Other(c), c.len_utf8()),
        }
    }

    fn bump(&mut self, len: usize) -> Span {
        let span = Span::new(self.pos, self.pos + len);
        self.pos += len;
        span
    }

    fn error(&self, code: Code, message: impl Into<String>, help: Option<&str>) -> ConditionError {
        let len = self.rest().chars().next().map_or(0, char::len_utf8);
        ConditionError {
            code,
            offset: self.pos,
            len,
            message: message.into(),
            help: help.map(str::to_string),
        }
    }

    fn unexpected(&mut self, expected: &str) -> ConditionError {
        let (tok, len) = self.peek();
        let mut e = match tok {
            Token::End => self.error(
                Code::ConditionSyntax,
                format!("the condition ends early; expected {expected}"),
                None,
            ),
            Token::Pipe if pipe_near(self.rest()) => self.error(
                Code::LegacyAggregation,
                "`near` is Sigma v1 syntax, removed in v2",
                Some("express it as a `temporal` correlation rule over the rules involved"),
            ),
            Token::Pipe => self.error(
                Code::LegacyAggregation,
                "`|` aggregation expressions are Sigma v1 syntax, removed in v2",
                Some("express the aggregation as a correlation rule (e.g. `type: event_count`) that references this rule; `sigc migrate FILE` writes it"),
            ),
            Token::Word("near") => self.error(
                Code::LegacyAggregation,
                "`near` is Sigma v1 syntax, removed in v2",
                Some("express it as a `temporal` correlation rule over the rules involved"),
            ),
            Token::Word(w) if is_upper_keyword(w) => self.error(
                Code::ConditionSyntax,
                format!("condition keywords are lowercase; found `{w}`"),
                Some(&format!("write `{}`", w.to_ascii_lowercase())),
            ),
            Token::Close => self.error(
                Code::ConditionSyntax,
                format!("unbalanced `)`: expected {expected}"),
                Some("remove this `)` or add the matching `(`"),
            ),
            Token::Word(w) => self.error(
                Code::ConditionSyntax,
                format!("unexpected `{w}`; expected {expected}"),
                None,
            ),
            Token::Open => self.error(
                Code::ConditionSyntax,
                format!("unexpected `(`; expected {expected}"),
                None,
            ),
            Token::Other(c) => self.error(
                Code::ConditionSyntax,
                format!("unexpected character `{c}`; expected {expected}"),
                None,
            ),
        };
        e.len = len.max(1);
        e
    }

    fn guard(&self, depth: usize) -> Result<(), ConditionError> {
        if depth >= MAX_DEPTH {
            return Err(self.error(
                Code::ConditionTooDeep,
                format!("the condition nests deeper than {MAX_DEPTH} levels"),
                Some("simplify the condition; Sigma rules rarely need more than a few levels"),
            ));
        }
        Ok(())
    }

    fn or_expr(&mut self, depth: usize) -> Result<Spanned<Condition>, ConditionError> {
        let first = self.and_expr(depth)?;
        let mut items = vec![first];
        while self.peek() == (Token::Word("or"), 2) {
            self.bump(2);
            items.push(self.and_expr(depth)?);
        }
        Ok(chain(items, Condition::Or))
    }

    fn and_expr(&mut self, depth: usize) -> Result<Spanned<Condition>, ConditionError> {
        let first = self.not_expr(depth)?;
        let mut items = vec![first];
        while self.peek() == (Token::Word("and"), 3) {
            self.bump(3);
            items.push(self.not_expr(depth)?);
        }
        Ok(chain(items, Condition::And))
    }

    fn not_expr(&mut self, depth: usize) -> Result<Spanned<Condition>, ConditionError> {
        if self.peek() == (Token::Word("not"), 3) {
            self.guard(depth)?;
            let start = self.bump(3).start as usize;
            let inner = self.not_expr(depth + 1)?;
            let span = Span::new(start, inner.span.end as usize);
            return Ok(Spanned::new(Condition::Not(Box::new(inner)), span));
        }
        self.primary(depth)
    }

    fn primary(&mut self, depth: usize) -> Result<Spanned<Condition>, ConditionError> {
        let expected = "a search identifier, `(`, `not`, `1 of`, `any of` or `all of`";
        match self.peek() {
            (Token::Open, _) => {
                self.guard(depth)?;
                let open = self.bump(1);
                let inner = self.or_expr(depth + 1)?;
                match self.peek() {
                    (Token::Close, _) => {
                        let close = self.bump(1);
                        Ok(Spanned::new(
                            inner.node,
                            Span::new(open.start as usize, close.end as usize),
                        ))
                    }
                    (Token::End, _) => Err(ConditionError {
                        code: Code::ConditionSyntax,
                        offset: open.start as usize,
                        len: 1,
                        message: "unbalanced `(`: it is never closed".into(),
                        help: Some("add the matching `)`".into()),
                    }),
                    _ => Err(self.unexpected("`)`")),
                }
            }
            (Token::Word(w), len) if !is_keyword(w) && !is_upper_keyword(w) => {
                let quantifier = match w {
                    "1" => Some(Quantifier::One),
                    "any" => Some(Quantifier::Any),
                    "all" => Some(Quantifier::All),
                    _ => None,
                };
                let start = self.pos;
                let ident = self.bump(len);
                if let Some(quantifier) = quantifier {
                    if self.peek() == (Token::Word("of"), 2) {
                        self.bump(2);
                        return match self.peek() {
                            (Token::Word(p), plen) if !is_keyword(p) => {
                                let pspan = self.bump(plen);
                                Ok(Spanned::new(
                                    Condition::Of {
                                        quantifier,
                                        pattern: Spanned::new(p.to_string(), pspan),
                                    },
                                    Span::new(start, pspan.end as usize),
                                ))
                            }
                            _ => Err(self.unexpected("a search identifier pattern or `them`")),
                        };
                    }
                    if w != "1" && w != "any" {
                        // `all` without `of` is an identifier named `all`; fall through.
                    }
                }
                Ok(Spanned::new(
                    Condition::Ident(Spanned::new(w.to_string(), ident)),
                    ident,
                ))
            }
            _ => Err(self.unexpected(expected)),
        }
    }
}

/// One operand stays itself; several become one n-ary node spanning them all.
fn chain(
    mut items: Vec<Spanned<Condition>>,
    make: fn(Vec<Spanned<Condition>>) -> Condition,
) -> Spanned<Condition> {
    if items.len() == 1 {
        return items.remove(0);
    }
    let start = items.first().map_or(0, |i| i.span.start as usize);
    let end = items.last().map_or(0, |i| i.span.end as usize);
    Spanned::new(make(items), Span::new(start, end))
}

/// `| near x`: v1's temporal operator comes after a pipe; name it rather than the pipe.
fn pipe_near(rest: &str) -> bool {
    rest.get(1..)
        .and_then(|r| word(r.trim_start()).ok())
        .is_some_and(|(_, w)| w == "near")
}

fn is_keyword(w: &str) -> bool {
    matches!(w, "and" | "or" | "not" | "of")
}

fn is_upper_keyword(w: &str) -> bool {
    !is_keyword(w) && is_keyword(&w.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn show(c: &Spanned<Condition>) -> String {
        match &c.node {
            Condition::Ident(i) => i.node.clone(),
            Condition::Of {
                quantifier,
                pattern,
            } => format!("({quantifier:?} of {})", pattern.node),
            Condition::Not(x) => format!("(not {})", show(x)),
            Condition::And(v) => {
                format!("({})", v.iter().map(show).collect::<Vec<_>>().join(" and "))
            }
            Condition::Or(v) => {
                format!("({})", v.iter().map(show).collect::<Vec<_>>().join(" or "))
            }
        }
    }

    #[test]
    fn precedence_is_or_and_not() {
        let c = parse("a or b and not c").unwrap();
        assert_eq!(show(&c), "(a or (b and (not c)))");
        let c = parse("not a and b or 1 of sel* and all of them").unwrap();
        assert_eq!(
            show(&c),
            "(((not a) and b) or ((One of sel*) and (All of them)))"
        );
        let c = parse("(a or b) and c").unwrap();
        assert_eq!(show(&c), "((a or b) and c)");
        let c = parse("a and b and c or d").unwrap();
        assert_eq!(show(&c), "((a and b and c) or d)");
    }

    #[test]
    fn errors_point_at_the_problem() {
        let e = parse("sel and (a or b").unwrap_err();
        assert_eq!((e.offset, e.code), (8, Code::ConditionSyntax));
        let e = parse("sel or b)").unwrap_err();
        assert_eq!(e.offset, 8);
        // The aggregation function is named (and pointed at), not the pipe before it.
        let e = parse("selection | count() by x > 5").unwrap_err();
        assert_eq!((e.offset, e.code), (12, Code::LegacyAggregation));
        let e = parse("count(x) per y > 200 and not z").unwrap_err();
        assert_eq!((e.offset, e.code), (0, Code::LegacyAggregation));
        let e = parse("sel1 | near sel2").unwrap_err();
        assert_eq!((e.offset, e.code), (5, Code::LegacyAggregation));
        assert!(e.message.contains("`near`"));
        let e = parse("sel1 | count() > 5").unwrap_err();
        assert!(!e.message.contains("near"));
        let e = parse("a AND b").unwrap_err();
        assert_eq!(e.offset, 2);
        assert!(e.help.unwrap().contains("`and`"));
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_crash() {
        let text = format!("{}a{}", "(".repeat(10_000), ")".repeat(10_000));
        assert_eq!(parse(&text).unwrap_err().code, Code::ConditionTooDeep);
        let text = format!("{}a", "not ".repeat(10_000));
        assert_eq!(parse(&text).unwrap_err().code, Code::ConditionTooDeep);
    }
}
