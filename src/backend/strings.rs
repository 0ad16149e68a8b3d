//! String forms shared by the text backends: a Sigma string match as a regular expression.

use crate::ir::pred::{Piece, StrMatch};

/// The match as a regular expression over the whole value, in the syntax PCRE, Java and
/// RE2 read alike: literals escaped, `*` → `.*`, `?` → `.`, `^`/`\z` per anchoring, and the
/// flags `(?s)` (wildcards cross newlines, as in the evaluator) and `(?i)` unless `cased`.
/// The end is `\z`, not `$`: PCRE's and Java's `$` also match before a final newline.
/// `None` when the match holds an unresolved placeholder.
pub(crate) fn glob_regex(m: &StrMatch) -> Option<String> {
    let mut re = String::from(if m.cased { "(?s)" } else { "(?is)" });
    if m.anchor_start {
        re.push('^');
    }
    for p in &m.pieces {
        match p {
            Piece::Lit(s) => re.push_str(&escape_regex(s)),
            Piece::AnyStr => re.push_str(".*"),
            Piece::AnyChar => re.push('.'),
            Piece::Placeholder(_) => return None,
        }
    }
    if m.anchor_end {
        re.push_str("\\z");
    }
    Some(re)
}

/// A rule's regex with each end-of-text `$` written `\z`, for engines whose `$` also matches
/// before a final newline (PCRE, Java) where the evaluator's does not. Left alone: an escaped
/// `\$`, a `$` inside a character class, and every `$` under the multi-line flag, where it
/// means end of line in all engines.
pub(crate) fn dollar_as_end(pattern: &str, multi_line: bool) -> String {
    if multi_line {
        return pattern.to_string();
    }
    let mut out = String::with_capacity(pattern.len() + 4);
    let mut chars = pattern.chars();
    let mut in_class = false;
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                out.push(c);
                if let Some(n) = chars.next() {
                    out.push(n);
                }
            }
            '[' if !in_class => {
                in_class = true;
                out.push(c);
                // A `]` right after `[` or `[^` is a literal member.
                let rest = chars.as_str();
                let skip = if rest.starts_with("^]") {
                    2
                } else if rest.starts_with(']') {
                    1
                } else {
                    0
                };
                for _ in 0..skip {
                    if let Some(n) = chars.next() {
                        out.push(n);
                    }
                }
            }
            ']' if in_class => {
                in_class = false;
                out.push(c);
            }
            '$' if !in_class => out.push_str("\\z"),
            c => out.push(c),
        }
    }
    out
}

/// Escape every character with a meaning in regex syntax. A backslash before a
/// non-alphanumeric character means that character in PCRE, Java and RE2 alike; control
/// characters become `\n`, `\r`, `\t` or `\x{..}` so the pattern stays on one line.
pub(crate) fn escape_regex(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '\\' | '.' | '+' | '*' | '?' | '(' | ')' | '|' | '[' | ']' | '{' | '}' | '^' | '$'
            | '#' | '&' | '-' | '~' | '/' => {
                out.push('\\');
                out.push(c);
            }
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.push_str(&format!("\\x{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

/// Terms joined by `op`, parenthesised in groups of at most 64: parsers give up on a flat
/// chain of several hundred terms (Kusto's KS245, Spark's parser stack), not on nested groups.
pub(crate) fn balanced(mut parts: Vec<String>, op: &str) -> String {
    const GROUP: usize = 64;
    while parts.len() > GROUP {
        parts = parts
            .chunks(GROUP)
            .map(|c| {
                if c.len() == 1 {
                    c[0].clone()
                } else {
                    format!("({})", c.join(op))
                }
            })
            .collect();
    }
    format!("({})", parts.join(op))
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// An escaped literal, as a regex, matches exactly that literal.
        #[test]
        fn escaped_literals_match_themselves(s in "\\PC{0,12}|[\\\\.*?()\\[\\]{}^$|+ #&~/\"'-]{0,12}") {
            let re = regex::Regex::new(&format!("^{}$", escape_regex(&s))).unwrap();
            proptest::prop_assert!(re.is_match(&s));
        }
    }

    #[test]
    fn end_anchors() {
        assert_eq!(
            dollar_as_end(r"a$|b\$|[$]|[]$]$", false),
            r"a\z|b\$|[$]|[]$]\z"
        );
        assert_eq!(dollar_as_end(r"a$", true), r"a$");
        assert_eq!(
            glob_regex(&StrMatch::new(
                vec![Piece::Lit("x".into())],
                true,
                true,
                true
            ))
            .as_deref(),
            Some(r"(?s)^x\z")
        );
    }

    #[test]
    fn globs() {
        let m = StrMatch::new(
            vec![
                Piece::Lit("a.b".into()),
                Piece::AnyChar,
                Piece::AnyStr,
                Piece::Lit("c".into()),
            ],
            true,
            false,
            false,
        );
        assert_eq!(glob_regex(&m).as_deref(), Some("(?is)^a\\.b..*c"));
    }
}
