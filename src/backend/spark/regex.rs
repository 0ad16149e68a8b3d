//! A rule's regex (Rust `regex` syntax, the evaluator's) rewritten so that Java's
//! `java.util.regex`, which Spark's `RLIKE` runs, reads it the same way, or refused when Java
//! cannot.
//!
//! The pattern is parsed with `regex-syntax`; a few spans are rewritten in the text and the
//! rest is kept as written:
//!
//! - Flags `(?dU...)` in front: `d` (UNIX_LINES) so `.`, `^` and `$` know `\n` alone as a line
//!   end, as Rust does; `U` (UNICODE_CHARACTER_CLASS) so `\w`, `\d`, `\s`, `\b` and case
//!   folding are Unicode, as Rust's are; then the rule's `i`, `m`, `s`.
//! - `$` outside multi-line mode becomes `\z`: Java's `$` also matches before a final `\n`.
//! - `(?P<name>` becomes `(`; `\u{..}` and `\v` become `\x{..}` (Java's `\v` is a class);
//!   punctuation inside a character class is escaped (Java reads `[]a]` differently).
//! - Refused: inline flags other than `i` and `s` (`m` changes what `$` means mid-pattern; `x`,
//!   `u`, `U` (swap greed in Rust, Unicode classes in Java), `R`), POSIX classes `[[:alpha:]]`,
//!   named Unicode classes other than general categories, class difference `--` and
//!   symmetric difference `~~`, and Rust's `\<`, `\>`, `\b{start}` word-boundary assertions.

use regex_syntax::ast::{self, Ast, Visitor};

use crate::ir::pred::RegexMatch;

/// The pattern for Java, with the rule's flags.
pub(crate) fn java(r: &RegexMatch) -> Result<String, String> {
    let parsed = ast::parse::Parser::new()
        .parse(&r.pattern)
        .map_err(|e| format!("regex `{}`: {e}", r.pattern))?;
    let mut v = Rewrites {
        multi_line: r.multi_line,
        edits: Vec::new(),
        refusal: None,
    };
    // Depth-first over the syntax tree, without recursion in this module.
    let _ = ast::visit(&parsed, &mut v);
    if let Some(why) = v.refusal {
        return Err(format!(
            "regex `{}`: {why} has no equivalent in Java's regex syntax (Spark RLIKE)",
            r.pattern
        ));
    }
    let mut body = r.pattern.clone();
    v.edits.sort_by_key(|e| std::cmp::Reverse(e.0));
    for (start, end, text) in v.edits {
        body.replace_range(start..end, &text);
    }
    let mut flags = String::from("dU");
    for (on, c) in [(r.ignore_case, 'i'), (r.multi_line, 'm'), (r.dot_all, 's')] {
        if on {
            flags.push(c);
        }
    }
    Ok(format!("(?{flags}){body}"))
}

struct Rewrites {
    multi_line: bool,
    /// (start, end, replacement) byte ranges of the pattern.
    edits: Vec<(usize, usize, String)>,
    refusal: Option<String>,
}

impl Rewrites {
    fn refuse(&mut self, what: impl Into<String>) {
        self.refusal.get_or_insert(what.into());
    }

    fn literal(&mut self, lit: &ast::Literal, in_class: bool) {
        use ast::{LiteralKind, SpecialLiteralKind};
        let span = (lit.span.start.offset, lit.span.end.offset);
        match &lit.kind {
            LiteralKind::HexBrace(ast::HexLiteralKind::UnicodeShort)
            | LiteralKind::HexBrace(ast::HexLiteralKind::UnicodeLong)
            | LiteralKind::HexFixed(ast::HexLiteralKind::UnicodeShort)
            | LiteralKind::HexFixed(ast::HexLiteralKind::UnicodeLong)
            | LiteralKind::Special(SpecialLiteralKind::VerticalTab) => {
                self.edits
                    .push((span.0, span.1, format!("\\x{{{:x}}}", lit.c as u32)));
            }
            LiteralKind::Verbatim if in_class && lit.c.is_ascii_punctuation() => {
                self.edits.push((span.0, span.1, format!("\\{}", lit.c)));
            }
            _ => {}
        }
    }

    fn flags(&mut self, flags: &ast::Flags) {
        for item in &flags.items {
            match item.kind {
                ast::FlagsItemKind::Flag(ast::Flag::CaseInsensitive)
                | ast::FlagsItemKind::Flag(ast::Flag::DotMatchesNewLine)
                | ast::FlagsItemKind::Negation => {}
                ast::FlagsItemKind::Flag(f) => self.refuse(format!("the inline flag {f:?}")),
            }
        }
    }
}

impl Visitor for &mut Rewrites {
    type Output = ();
    type Err = ();

    fn finish(self) -> Result<(), ()> {
        Ok(())
    }

    fn visit_pre(&mut self, a: &Ast) -> Result<(), ()> {
        match a {
            Ast::Literal(lit) => self.literal(lit, false),
            Ast::Assertion(x) => match x.kind {
                ast::AssertionKind::EndLine if !self.multi_line => {
                    self.edits
                        .push((x.span.start.offset, x.span.end.offset, "\\z".into()));
                }
                ast::AssertionKind::StartLine
                | ast::AssertionKind::EndLine
                | ast::AssertionKind::StartText
                | ast::AssertionKind::EndText
                | ast::AssertionKind::WordBoundary
                | ast::AssertionKind::NotWordBoundary => {}
                _ => self.refuse("a word-boundary assertion other than \\b and \\B"),
            },
            Ast::Flags(f) => self.flags(&f.flags),
            Ast::Group(g) => match &g.kind {
                ast::GroupKind::CaptureName {
                    starts_with_p,
                    name,
                } => {
                    // `(?P<name>` or `(?<name>`: the name is not needed to match.
                    let start = g.span.start.offset;
                    let open = if *starts_with_p { 4 } else { 3 } + name.name.len() + 1;
                    self.edits.push((start, start + open, "(".into()));
                }
                ast::GroupKind::NonCapturing(flags) => self.flags(flags),
                ast::GroupKind::CaptureIndex(_) => {}
            },
            Ast::ClassUnicode(c) => {
                if let ast::ClassUnicodeKind::Named(name) = &c.kind
                    && !is_general_category(name)
                {
                    self.refuse(format!("the Unicode class \\p{{{name}}}"));
                }
                if matches!(c.kind, ast::ClassUnicodeKind::NamedValue { .. }) {
                    self.refuse("a Unicode property with a value");
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn visit_class_set_item_pre(&mut self, item: &ast::ClassSetItem) -> Result<(), ()> {
        match item {
            ast::ClassSetItem::Literal(lit) => self.literal(lit, true),
            ast::ClassSetItem::Range(r) => {
                self.literal(&r.start, true);
                self.literal(&r.end, true);
            }
            ast::ClassSetItem::Ascii(_) => self.refuse("a POSIX class like [[:alpha:]]"),
            ast::ClassSetItem::Unicode(c) => {
                if let ast::ClassUnicodeKind::Named(name) = &c.kind
                    && !is_general_category(name)
                {
                    self.refuse(format!("the Unicode class \\p{{{name}}}"));
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn visit_class_set_binary_op_pre(&mut self, op: &ast::ClassSetBinaryOp) -> Result<(), ()> {
        if op.kind != ast::ClassSetBinaryOpKind::Intersection {
            self.refuse("class difference (--) or symmetric difference (~~)");
        }
        Ok(())
    }
}

/// A Unicode general category (`L`, `Lu`, `Nd`...), which Java's `\p{..}` reads as Rust does.
fn is_general_category(name: &str) -> bool {
    const CATEGORIES: &[&str] = &[
        "L", "Lu", "Ll", "Lt", "Lm", "Lo", "M", "Mn", "Mc", "Me", "N", "Nd", "Nl", "No", "P", "Pc",
        "Pd", "Ps", "Pe", "Pi", "Pf", "Po", "S", "Sm", "Sc", "Sk", "So", "Z", "Zs", "Zl", "Zp",
        "C", "Cc", "Cf", "Co", "Cn",
    ];
    CATEGORIES.contains(&name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn re(p: &str, i: bool, m: bool, s: bool) -> Result<String, String> {
        java(&RegexMatch {
            pattern: p.into(),
            ignore_case: i,
            multi_line: m,
            dot_all: s,
        })
    }

    #[test]
    fn rewrites() {
        assert_eq!(re(r"a$", false, false, false).unwrap(), r"(?dU)a\z");
        assert_eq!(re(r"a$", true, true, false).unwrap(), r"(?dUim)a$");
        assert_eq!(re(r"\$[$]", false, false, true).unwrap(), r"(?dUs)\$[\$]");
        assert_eq!(
            re(r"(?P<x>a)|(?<yy>b)", false, false, false).unwrap(),
            r"(?dU)(a)|(b)"
        );
        assert_eq!(
            re(r"\u{41}\v", false, false, false).unwrap(),
            r"(?dU)\x{41}\x{b}"
        );
        assert_eq!(re(r"[]a-]", false, false, false).unwrap(), r"(?dU)[\]a\-]");
        assert_eq!(
            re(r"\pL\p{Lu}", false, false, false).unwrap(),
            r"(?dU)\pL\p{Lu}"
        );
    }

    #[test]
    fn refusals() {
        for p in [
            r"[[:alpha:]]",
            r"(?m)a",
            r"(?x)a",
            r"\p{Greek}",
            r"[a-z--c]",
            r"\<a",
            r"(?U)a*",
        ] {
            assert!(re(p, false, false, false).is_err(), "{p}");
        }
        assert!(re("(", false, false, false).is_err());
    }
}
