//! `W009 catastrophic-backtracking`: a regular expression whose matching time can grow
//! exponentially with the input on backtracking engines (PCRE in Splunk, Java in Spark):
//! an unbounded repetition inside another (`(a+)+`, `(\w+\s?)*`, star height above one), or a
//! repeated alternation with two identical branches (`(a|a)*`). A long crafted command line
//! then stalls the search head instead of matching. RE2 (KQL) is immune, which is why the
//! same rule can pass tests on one target and time out on another.

use regex_syntax::ast::{self, Ast, RepetitionKind, RepetitionRange};

use super::LintCx;
use crate::diagnostic::{Code, Diagnostic};

pub(crate) fn check(cx: &mut LintCx) {
    let mut found = Vec::new();
    for (pattern, span) in cx.regexes() {
        let Ok(ast) = ast::parse::Parser::new().parse(&pattern) else {
            continue;
        };
        if let Some(why) = risky(&ast, false) {
            found.push((
                span,
                Diagnostic::warning(
                    Code::Backtracking,
                    format!("the regular expression is prone to catastrophic backtracking: {why}"),
                )
                .with_help("make the inner repetition bounded or the alternatives disjoint, e.g. `(\\w+\\s)+` → `[\\w\\s]+`"),
            ));
        }
    }
    for (span, d) in found {
        cx.report(d, span);
    }
}

fn unbounded(kind: &RepetitionKind) -> bool {
    match kind {
        RepetitionKind::ZeroOrMore | RepetitionKind::OneOrMore => true,
        RepetitionKind::Range(RepetitionRange::AtLeast(_)) => true,
        RepetitionKind::Range(RepetitionRange::Bounded(_, n)) => *n > 100,
        _ => false,
    }
}

/// The reason `ast` is risky; `inside` is true under an unbounded repetition.
fn risky(ast: &Ast, inside: bool) -> Option<String> {
    match ast {
        Ast::Repetition(r) => {
            let unb = unbounded(&r.op.kind);
            if unb && inside {
                return Some("an unbounded repetition nested in another".into());
            }
            if unb
                && let Some(alts) = alternation(&r.ast)
                && let Some(dup) = alts.iter().enumerate().find_map(|(i, a)| {
                    let text = a.to_string();
                    alts[..i]
                        .iter()
                        .any(|b| b.to_string() == text)
                        .then_some(text)
                })
            {
                return Some(format!("the repeated alternation lists `{dup}` twice"));
            }
            risky(&r.ast, inside || unb)
        }
        Ast::Group(g) => risky(&g.ast, inside),
        Ast::Alternation(a) => a.asts.iter().find_map(|x| risky(x, inside)),
        Ast::Concat(c) => c.asts.iter().find_map(|x| risky(x, inside)),
        _ => None,
    }
}

fn alternation(ast: &Ast) -> Option<&Vec<Ast>> {
    match ast {
        Ast::Group(g) => alternation(&g.ast),
        Ast::Alternation(a) => Some(&a.asts),
        _ => None,
    }
}
