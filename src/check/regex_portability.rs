//! `W003 non-portable-regex`: regular expressions outside the specification's portable subset
//! (`. ^ $ * + ? {n,m} [..] | ( )` and escapes), in the forms that still parse here but read
//! differently elsewhere: named groups (`(?P<n>..)` is not Java syntax), class set operations
//! (`[a&&b]`, `[a--b]`: Java only has `&&`, RE2 and PCRE have none), POSIX classes inside
//! brackets (`[[:alpha:]]`: not Java) and the extended word boundaries (`\b{start}`, `\<`).
//! Lookaround, backreferences and possessive quantifiers do not parse at all and are refused
//! while loading (`E032`): they fail on RE2 (KQL) and differ on Java (Spark).

use regex_syntax::ast::{self, Ast, ClassSet, ClassSetItem, GroupKind};

use super::LintCx;
use crate::diagnostic::{Code, Diagnostic};

pub(crate) fn check(cx: &mut LintCx) {
    let mut found = Vec::new();
    for (pattern, span) in cx.regexes() {
        let Ok(ast) = ast::parse::Parser::new().parse(&pattern) else {
            continue;
        };
        let mut why = None;
        walk(&ast, &mut why);
        if let Some(why) = why {
            found.push((
                span,
                Diagnostic::warning(
                    Code::NonPortableRegex,
                    format!("the regular expression uses {why}, outside Sigma's portable subset"),
                )
                .with_help("write it with `. ^ $ * + ? {n,m} [..] | ( )` only, so every target (PCRE, RE2, Java) reads it the same way"),
            ));
        }
    }
    for (span, d) in found {
        cx.report(d, span);
    }
}

fn walk(ast: &Ast, why: &mut Option<&'static str>) {
    if why.is_some() {
        return;
    }
    match ast {
        Ast::Group(g) => {
            if matches!(g.kind, GroupKind::CaptureName { .. }) {
                *why = Some("a named group");
                return;
            }
            walk(&g.ast, why);
        }
        Ast::Assertion(a) => {
            use ast::AssertionKind::*;
            if matches!(
                a.kind,
                WordBoundaryStart
                    | WordBoundaryEnd
                    | WordBoundaryStartAngle
                    | WordBoundaryEndAngle
                    | WordBoundaryStartHalf
                    | WordBoundaryEndHalf
            ) {
                *why = Some("an extended word boundary");
            }
        }
        Ast::ClassBracketed(c) => class(&c.kind, why),
        Ast::Repetition(r) => walk(&r.ast, why),
        Ast::Alternation(a) => a.asts.iter().for_each(|x| walk(x, why)),
        Ast::Concat(c) => c.asts.iter().for_each(|x| walk(x, why)),
        _ => {}
    }
}

fn class(set: &ClassSet, why: &mut Option<&'static str>) {
    match set {
        ClassSet::BinaryOp(_) => *why = Some("a character class set operation (`&&`, `--`, `~~`)"),
        ClassSet::Item(item) => item_of(item, why),
    }
}

fn item_of(item: &ClassSetItem, why: &mut Option<&'static str>) {
    match item {
        ClassSetItem::Ascii(_) => *why = Some("a POSIX class (`[:name:]`)"),
        ClassSetItem::Bracketed(b) => class(&b.kind, why),
        ClassSetItem::Union(u) => u.items.iter().for_each(|i| item_of(i, why)),
        _ => {}
    }
}
