//! Backends: the IR of a rule → a query in a target language.
//!
//! One trait, one module per target; what differs between dialects of one target is data
//! (pipelines under `backends/`, templates under `templates/`), and shared code never asks
//! which target it serves. A backend either expresses a rule exactly or refuses it with a
//! reason: it never emits a query that means something else.

pub(crate) mod kql;
pub(crate) mod splunk;
pub(crate) mod strings;

use crate::ir::rule::{CorrelationIr, RuleIr};

/// A document a correlation refers to, converted: the name the correlation uses for it, and
/// its query (`None` when it is itself a correlation).
pub(crate) struct Referenced<'a> {
    pub name: &'a str,
    pub query: Option<&'a str>,
}

/// A query language sigc converts to.
pub(crate) trait Backend: Sync {
    /// The `-t` name.
    fn name(&self) -> &'static str;
    /// Output formats (`-f`), the first being the default.
    fn formats(&self) -> &'static [&'static str];
    /// One rule (pipelines already applied) as a query in `format`, or why it cannot be one.
    fn convert(&self, rule: &RuleIr, format: &str) -> Result<String, String>;
    /// A correlation (pipelines applied) over its referenced documents, already converted.
    fn convert_correlation(
        &self,
        _c: &CorrelationIr,
        _refs: &[Referenced],
        _format: &str,
    ) -> Result<String, String> {
        Err(format!(
            "correlation rules are not converted to {} yet",
            self.name()
        ))
    }
}

/// Every backend, by `-t` name.
pub(crate) fn all() -> &'static [&'static dyn Backend] {
    &[&splunk::Splunk, &kql::Kql]
}

pub(crate) fn find(name: &str) -> Option<&'static dyn Backend> {
    all().iter().copied().find(|b| b.name() == name)
}

/// A rule's log source as written (`category: process_creation, product: windows`), for
/// refusals that name it.
pub(crate) fn logsource_text(rule: &RuleIr) -> String {
    let l = &rule.logsource;
    let parts: Vec<String> = [
        ("category", &l.category),
        ("product", &l.product),
        ("service", &l.service),
    ]
    .iter()
    .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k}: {v}")))
    .collect();
    format!("`{}`", parts.join(", "))
}
