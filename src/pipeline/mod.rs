//! Processing pipelines in pySigma's YAML format (stub: the full module lands next).

pub mod builtin;

use crate::diagnostic::{Code, Diagnostic};
use crate::ir::rule::RuleIr;

/// Several pipelines merged by priority.
#[derive(Debug, Default)]
pub struct Pipelines {}

impl Pipelines {
    pub fn apply(&self, rule: &RuleIr) -> Result<RuleIr, Diagnostic> {
        Ok(rule.clone())
    }
}

pub fn resolve_all(specs: &[String]) -> Result<Pipelines, Diagnostic> {
    if let Some(s) = specs.first() {
        return Err(Diagnostic::error(
            Code::Pipeline,
            format!("unknown pipeline `{s}`"),
        ));
    }
    Ok(Pipelines {})
}
