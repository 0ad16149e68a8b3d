//! Sigma strings → [`Piece`]s, with the specification's escaping rules (rules spec § Wildcards):
//! `*` and `?` are wildcards; `\*`, `\?` and `\\` are the literal characters; a backslash before
//! anything else is a literal backslash (so `C:\Windows\*` ends in a literal `*`, and `\\*` is a
//! backslash followed by a wildcard). Under `expand`, `%name%` is a placeholder and `\%` a
//! literal `%`.

use super::pred::Piece;

pub fn parse(s: &str, placeholders: bool) -> Vec<Piece> {
    let mut pieces = Vec::new();
    let mut lit = String::new();
    let mut chars = s.chars().peekable();
    let flush = |lit: &mut String, pieces: &mut Vec<Piece>| {
        if !lit.is_empty() {
            pieces.push(Piece::Lit(std::mem::take(lit)));
        }
    };
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.peek() {
                Some(&n @ ('*' | '?' | '\\')) => {
                    chars.next();
                    lit.push(n);
                }
                Some('%') if placeholders => {
                    chars.next();
                    lit.push('%');
                }
                _ => lit.push('\\'),
            },
            '*' => {
                flush(&mut lit, &mut pieces);
                pieces.push(Piece::AnyStr);
            }
            '?' => {
                flush(&mut lit, &mut pieces);
                pieces.push(Piece::AnyChar);
            }
            '%' if placeholders => {
                let rest: String = chars.clone().take_while(|&c| c != '%').collect();
                let closed = chars.clone().nth(rest.chars().count()) == Some('%');
                if closed
                    && !rest.is_empty()
                    && rest
                        .chars()
                        .all(|c| c.is_alphanumeric() || c == '_' || c == '-')
                {
                    flush(&mut lit, &mut pieces);
                    for _ in 0..=rest.chars().count() {
                        chars.next();
                    }
                    pieces.push(Piece::Placeholder(rest));
                } else {
                    lit.push('%');
                }
            }
            _ => lit.push(c),
        }
    }
    flush(&mut lit, &mut pieces);
    pieces
}

/// True when the pieces are one literal (or nothing): no wildcards or placeholders.
pub fn is_plain(pieces: &[Piece]) -> bool {
    pieces.iter().all(|p| matches!(p, Piece::Lit(_)))
}

/// The literal text of plain pieces.
pub fn plain_text(pieces: &[Piece]) -> String {
    pieces
        .iter()
        .filter_map(|p| match p {
            Piece::Lit(s) => Some(s.as_str()),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::pred::StrMatch;
    use proptest::prelude::*;

    fn lit(s: &str) -> Piece {
        Piece::Lit(s.into())
    }

    #[test]
    fn spec_escaping_examples() {
        // Each line of the spec's wildcard section.
        assert_eq!(parse(r"\*", false), vec![lit("*")]);
        assert_eq!(parse(r"\?", false), vec![lit("?")]);
        assert_eq!(parse(r"a\\*", false), vec![lit(r"a\"), Piece::AnyStr]);
        assert_eq!(parse(r"a\\\*", false), vec![lit(r"a\*")]);
        assert_eq!(parse(r"\\\\", false), vec![lit(r"\\")]);
        assert_eq!(parse(r"\\\", false), vec![lit(r"\\")]);
        assert_eq!(
            parse(r"C:\Windows\*\cmd.exe", false),
            vec![lit(r"C:\Windows*\cmd.exe")]
        );
        assert_eq!(
            parse(r"C:\Windows\System32", false),
            vec![lit(r"C:\Windows\System32")]
        );
        assert_eq!(parse(r"ab\", false), vec![lit(r"ab\")]);
        assert_eq!(
            parse("a?b*", false),
            vec![lit("a"), Piece::AnyChar, lit("b"), Piece::AnyStr]
        );
    }

    #[test]
    fn placeholders_only_under_expand() {
        assert_eq!(parse("%Servers%", false), vec![lit("%Servers%")]);
        assert_eq!(
            parse("x%Servers%", true),
            vec![lit("x"), Piece::Placeholder("Servers".into())]
        );
        assert_eq!(parse(r"\%Servers%", true), vec![lit("%Servers%")]);
        assert_eq!(parse("100%", true), vec![lit("100%")]);
    }

    proptest! {
        /// Any Sigma string parses to a pattern whose rendering parses back to the same pattern.
        #[test]
        fn escaping_round_trips(s in r#"[a-c\\*?%]{0,12}"#) {
            let m = StrMatch::new(parse(&s, false), true, true, false);
            let again = StrMatch::new(parse(&m.to_sigma(), false), true, true, false);
            prop_assert_eq!(again, m);
        }

        /// A literal string escaped by `to_sigma` reads back as exactly that literal.
        #[test]
        fn literals_survive_escaping(s in r#"[a\\*?]{0,12}"#) {
            let m = StrMatch::exact(&s, false);
            let back = parse(&m.to_sigma(), false);
            prop_assert_eq!(plain_text(&back), s.clone());
            prop_assert!(is_plain(&back));
        }
    }
}
