//! Routing: a rule through several pipeline sets at once, the way `sigc eval` reads rules with
//! no `-p`. Windows events come from Sysmon and from the Windows event log, which write the
//! same activity under different channels, event ids and field names (`Image` in Sysmon 1,
//! `NewProcessName` in Security 4688). Each route maps a rule onto one of them; the rule
//! matches an event when any route that claims its log source matches it.
//!
//! A rule no route claims: a Windows rule has no meaning on these events (reported, not
//! run); any other rule (Zeek, Linux, cloud...) reads its fields as written, and only events
//! without a `Channel`, so it never fires on Windows events by accident.

use crate::diagnostic::{Diagnostic, Result};
use crate::eval::engine::WINDOWS_MARK;
use crate::ir::Expr;
use crate::ir::pred::{Pred, Test};
use crate::ir::rule::RuleIr;

use super::Pipelines;

/// The routes used when no `-p` is given: Windows log sources as Sysmon and as the Windows
/// event log write them.
pub(crate) const DEFAULT_ROUTES: &[&[&str]] = &[
    &["sysmon", "windows_powershell", "windows_logsources"],
    &["windows_audit", "windows_powershell", "windows_logsources"],
];

/// The default routes, each followed by `extra` (a backend's own pipelines).
pub(crate) fn default_routes(extra: &[&str]) -> Result<Vec<Pipelines>> {
    let known: Vec<&str> = super::builtin::list().iter().map(|b| b.name).collect();
    DEFAULT_ROUTES
        .iter()
        .filter(|r| r.iter().all(|p| known.contains(p)))
        .map(|r| {
            let names: Vec<String> = r.iter().chain(extra).map(|s| s.to_string()).collect();
            super::resolve_all(&names)
        })
        .collect()
}

/// What routing made of a rule.
pub(crate) enum Routed {
    /// The rule as every claiming route reads it, its conditions OR-ed (pipeline state and
    /// applied items from the first route that claims it, plus the others' items).
    Rule(Box<RuleIr>),
    /// A Windows rule no route claims.
    NoRoute,
}

/// Route `rule` through `routes`.
pub(crate) fn route(rule: &RuleIr, routes: &[Pipelines]) -> Result<Routed> {
    let mut claimed: Vec<RuleIr> = Vec::new();
    let mut failed: Option<Diagnostic> = None;
    for r in routes {
        match r.apply(rule) {
            Ok(mapped) if !mapped.applied.is_empty() => claimed.push(mapped),
            Ok(_) => {}
            Err(d) => failed = Some(d),
        }
    }
    if claimed.is_empty() {
        if let Some(d) = failed {
            return Err(d);
        }
        if routes.is_empty() {
            return Ok(Routed::Rule(Box::new(rule.clone())));
        }
        if rule.logsource.product.as_deref() == Some("windows") {
            return Ok(Routed::NoRoute);
        }
        let not_windows = Expr::not(Expr::pred(Pred {
            field: Some(WINDOWS_MARK.into()),
            test: Test::Exists,
        }));
        let mut r = rule.clone();
        // The cheap test first: targets that evaluate in order skip the rule on Windows events.
        r.conditions = vec![Expr::and([not_windows, rule.matcher()])];
        return Ok(Routed::Rule(Box::new(r)));
    }
    let conditions = vec![Expr::or(claimed.iter().map(RuleIr::matcher))];
    let mut claimed = claimed.into_iter();
    let Some(mut merged) = claimed.next() else {
        return Ok(Routed::NoRoute);
    };
    merged.conditions = conditions;
    for other in claimed {
        for id in &other.applied {
            if !merged.applied.contains(id) {
                merged.applied.push(id.clone());
            }
        }
    }
    Ok(Routed::Rule(Box::new(merged)))
}
