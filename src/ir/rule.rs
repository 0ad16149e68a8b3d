//! Lowered documents: rules, correlation rules and meta filters, with references resolved.
//! These values are immutable once built; pipelines return new ones.

use std::sync::Arc;

use indexmap::IndexMap;

use super::expr::Expr;
use super::pred::Number;
use crate::source::{SourceFile, Span};
use crate::syntax::ast::{CompareOp, CorrelationKind, LogSource};
use crate::yaml::Node;

/// Where a document came from, for messages and output ordering.
#[derive(Debug, Clone)]
pub struct Origin {
    pub file: Arc<SourceFile>,
    pub index: usize,
    pub span: Span,
}

/// Metadata shared by every document kind.
#[derive(Debug, Clone, Default)]
pub struct Header {
    pub title: String,
    pub id: Option<String>,
    pub name: Option<String>,
    pub status: Option<String>,
    pub level: Option<String>,
    pub tags: Vec<String>,
    /// Every non-structural top-level key in source order, custom ones included.
    pub fields: Vec<(String, Node)>,
}

impl Header {
    /// A string metadata field (`description`, `author`, `date`, ...).
    pub fn get_str(&self, key: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k == key)
            .and_then(|(_, v)| v.scalar_text())
    }
}

#[derive(Debug, Clone)]
pub struct RuleIr {
    pub origin: Origin,
    pub header: Header,
    pub logsource: LogSource,
    /// One query per condition; a rule matches when any of them does.
    pub conditions: Vec<Expr>,
    /// State set by pipelines (`set_state`), read by backends.
    pub state: IndexMap<String, String>,
    /// Ids of the pipeline items applied (for `processing_item_applied`).
    pub applied: Vec<String>,
    /// Titles/ids of the meta filters applied to this rule.
    pub filters: Vec<String>,
}

impl RuleIr {
    /// The condition list as one expression.
    pub fn matcher(&self) -> Expr {
        Expr::or(self.conditions.iter().cloned())
    }

    /// The rule's name for output files and names under a target, the same for every target:
    /// its `name`, else its title in snake case (`Suspicious Encoded PowerShell` →
    /// `suspicious_encoded_powershell`).
    pub fn file_stem(&self) -> String {
        if let Some(n) = &self.header.name {
            return n.clone();
        }
        let mut out = String::new();
        for c in self.header.title.chars() {
            if c.is_ascii_alphanumeric() {
                out.push(c.to_ascii_lowercase());
            } else if !out.ends_with('_') {
                out.push('_');
            }
        }
        out.trim_matches('_').to_string()
    }
}

#[derive(Debug, Clone)]
pub struct CorrelationIr {
    pub origin: Origin,
    pub header: Header,
    pub kind: CorrelationKind,
    /// The referenced documents (rules or correlations), in the order written.
    pub rules: Vec<RuleRef>,
    pub group_by: Vec<String>,
    pub timespan: Option<Timespan>,
    pub aliases: Vec<Alias>,
    pub condition: CorrelationCondition,
    pub generate: bool,
}

/// A reference as written, and the document it resolved to (index into the rule set).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleRef {
    pub written: String,
    pub target: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timespan {
    pub text: String,
    pub seconds: u64,
}

#[derive(Debug, Clone)]
pub struct Alias {
    pub name: String,
    /// `(rule, field)`: in events of `rule`, `field` is read as `name`.
    pub fields: Vec<(RuleRef, String)>,
}

#[derive(Debug, Clone)]
pub enum CorrelationCondition {
    /// Bounds on the aggregate (all must hold), over `fields` for the value_* types.
    Compare {
        bounds: Vec<(CompareOp, Number)>,
        fields: Vec<String>,
        percentile: Option<Number>,
    },
    /// A boolean condition over which referenced rules fired (v2.2 temporal extension).
    Expr(BoolExpr),
}

/// A boolean expression over referenced rules (leaves index [`CorrelationIr::rules`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BoolExpr {
    Rule(usize),
    Not(Box<BoolExpr>),
    And(Vec<BoolExpr>),
    Or(Vec<BoolExpr>),
}

#[derive(Debug, Clone)]
pub struct FilterIr {
    pub origin: Origin,
    pub header: Header,
    pub logsource: LogSource,
    /// `None`: every rule whose log source matches.
    pub rules: Option<Vec<RuleRef>>,
    /// ANDed into each condition of the rules it applies to.
    pub condition: Expr,
}

/// Does a rule's log source fall inside `filter` (every key the filter sets is equal)?
pub fn logsource_within(rule: &LogSource, filter: &LogSource) -> bool {
    let eq = |f: &Option<String>, r: &Option<String>| f.is_none() || f == r;
    eq(&filter.category, &rule.category)
        && eq(&filter.product, &rule.product)
        && eq(&filter.service, &rule.service)
}
