//! Metadata the specification constrains: `id` is a UUID (`E024`), `status` and `level` come
//! from fixed lists (`E025`, `E026`), a rule that declares a `status` (one meant to be
//! published) should have an `id` and a `level` (`W012`: without them it cannot be referenced,
//! tuned or triaged), and tags use v2's dashes (`W013`: v1 wrote
//! `attack.initial_access`, v2 `attack.initial-access`). The v1 date format is reported while
//! loading (`E045`).

use super::LintCx;
use crate::diagnostic::{Code, Diagnostic};
use crate::syntax::ast::Body;

const STATUS: &[&str] = &[
    "stable",
    "test",
    "experimental",
    "deprecated",
    "unsupported",
];
const LEVEL: &[&str] = &["informational", "low", "medium", "high", "critical"];

/// `8-4-4-4-12` hexadecimal digits.
pub(crate) fn is_uuid(s: &str) -> bool {
    let groups: Vec<&str> = s.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, n)| g.len() == n && g.bytes().all(|b| b.is_ascii_hexdigit()))
}

pub(crate) fn check(cx: &mut LintCx) {
    let meta = &cx.doc.meta;
    let mut found = Vec::new();
    if let Some(id) = &meta.id
        && !is_uuid(&id.node)
    {
        let bad: Vec<char> = id
            .node
            .chars()
            .filter(|c| !c.is_ascii_hexdigit() && *c != '-')
            .collect();
        let why = if bad.is_empty() {
            "its groups are not 8-4-4-4-12 hexadecimal digits".to_string()
        } else {
            let mut bad = bad;
            bad.sort_unstable();
            bad.dedup();
            let shown: String = bad.into_iter().take(8).collect();
            format!("`{shown}` are not hexadecimal digits")
        };
        found.push((
            id.span,
            Diagnostic::error(
                Code::InvalidId,
                format!("`id: {}` is not a UUID: {why}", id.node),
            )
            .with_help("generate a fresh UUID (e.g. `uuidgen` or Python's `uuid.uuid4()`); references to this rule use it"),
        ));
    }
    if let Some(status) = &meta.status
        && !STATUS.contains(&status.node.as_str())
    {
        found.push((
            status.span,
            Diagnostic::error(
                Code::InvalidStatus,
                format!("`status: {}` is not a Sigma status", status.node),
            )
            .with_help(format!("use one of: {}", STATUS.join(", "))),
        ));
    }
    if let Some(level) = &meta.level
        && !LEVEL.contains(&level.node.as_str())
    {
        found.push((
            level.span,
            Diagnostic::error(
                Code::InvalidLevel,
                format!("`level: {}` is not a Sigma level", level.node),
            )
            .with_help(format!("use one of: {}", LEVEL.join(", "))),
        ));
    }
    // A rule that declares a `status` is meant to be published; a draft without one is not
    // nagged about the metadata it will get when it ships.
    if matches!(cx.doc.body, Body::Rule(_)) && meta.status.is_some() {
        let head = cx.doc.span.sub(0, 1);
        for (key, present) in [("id", meta.id.is_some()), ("level", meta.level.is_some())] {
            if !present {
                found.push((
                    head,
                    Diagnostic::warning(Code::MissingMetadata, format!("the rule has no `{key}`"))
                        .with_help(if key == "id" {
                            "add `id:` with a fresh UUID so the rule can be referenced and tracked"
                        } else {
                            "add `level:` (informational, low, medium, high or critical) so alerts can be triaged"
                        }),
                ));
            }
        }
    }
    for tag in &meta.tags {
        if tag.node.contains('_') {
            found.push((
                tag.span,
                Diagnostic::warning(
                    Code::LegacyTag,
                    format!("tag `{}` uses Sigma v1's underscores", tag.node),
                )
                .with_help(format!(
                    "v2 tags use dashes: `{}`",
                    tag.node.replace('_', "-")
                )),
            ));
        }
    }
    for (span, d) in found {
        cx.report(d, span);
    }
}
