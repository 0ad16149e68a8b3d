//! Backends: the IR of a rule → a query in a target language.
//!
//! One trait, one module per target; what differs between dialects of one target is data
//! (pipelines under `backends/`, templates under `templates/`), and shared code never asks
//! which target it serves. A backend either expresses a rule exactly or refuses it with a
//! reason: it never emits a query that means something else.

pub(crate) mod correlation;
pub(crate) mod kql;
pub(crate) mod render;
pub(crate) mod spark;
pub(crate) mod splunk;
pub(crate) mod strings;

use indexmap::IndexMap;

use crate::ir::rule::{CorrelationIr, RuleIr};

/// How correlation windows are cut (`--correlation-method`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum CorrelationMethod {
    /// Fixed time buckets (`bin`/`summarize by bin`), as pySigma's backends write them: a burst
    /// that straddles a bucket edge can be missed.
    Buckets,
    /// A window of `timespan` ending at each event, as the evaluator reads correlations.
    Sliding,
}

/// A document a correlation refers to, converted: the name the correlation uses for it, and
/// its query (`None` when it is itself a correlation).
pub(crate) struct Referenced<'a> {
    pub name: &'a str,
    pub query: Option<&'a str>,
    /// The referenced rule's pipeline state (its table, time column...).
    pub state: Option<&'a indexmap::IndexMap<String, String>>,
}

/// A query language sigc converts to.
pub(crate) trait Backend: Sync {
    /// The `-t` name.
    fn name(&self) -> &'static str;
    /// Output formats (`-f`), the first being the default.
    fn formats(&self) -> &'static [&'static str];
    /// The extension of a file holding one query (`sigc build`'s per-rule files).
    fn extension(&self) -> &'static str;
    /// Whether the target runs regular expressions on a backtracking engine (PCRE, Java),
    /// where a nested repetition can take exponential time: such rules are reported (`W009`).
    fn backtracks(&self) -> bool {
        false
    }
    /// One rule (pipelines already applied) as a query in `format`, or why it cannot be one.
    fn convert(&self, rule: &RuleIr, format: &str) -> Result<String, String>;
    /// A correlation (pipelines applied) over its referenced documents, already converted.
    fn convert_correlation(
        &self,
        _c: &CorrelationIr,
        _refs: &[Referenced],
        _format: &str,
        _method: CorrelationMethod,
    ) -> Result<String, String> {
        Err(format!(
            "correlation rules are not converted to {} yet",
            self.name()
        ))
    }
    /// The pipeline state key `--table` sets, for targets that query named tables.
    fn table_key(&self) -> Option<&'static str> {
        None
    }
    /// Pipelines that, when no `-p` is given, follow the evaluator's default Windows routes
    /// (see [`crate::pipeline::route`]): the rule is then converted as `sigc eval` reads it,
    /// its routes' conditions OR-ed. `None`: no default, the rule converts as written.
    fn default_routing(&self) -> Option<&'static [&'static str]> {
        None
    }
    /// Output formats rendered by a template around queries (`-f` names too, listed after
    /// [`Backend::formats`]).
    fn templates(&self) -> &'static [Template] {
        &[]
    }
    /// Values a template reads under `rule.target` besides the rule's own metadata: what this
    /// target derives from a rule for `template` (names under the target's rules, mapped
    /// metadata), or why the rule cannot be written in that format. `settings` are the rule's
    /// pipeline state overlaid with the user's `--set` values. A `file_name` string among them
    /// names the file a per-rule template's document is written to under `--output-dir`.
    fn template_values(
        &self,
        _rule: &RuleIr,
        _template: &Template,
        _settings: &IndexMap<String, String>,
    ) -> Result<serde_json::Value, String> {
        Ok(serde_json::Value::Null)
    }
}

/// An output format written by a minijinja template (see [`render`]). Templates are data: the
/// text is embedded from `templates/<target>/`, and `--template FILE` replaces it.
pub(crate) struct Template {
    /// The `-f` name.
    pub(crate) name: &'static str,
    /// Where the embedded text comes from (for messages).
    pub(crate) path: &'static str,
    /// The template text.
    pub(crate) text: &'static str,
    /// The query format whose query each rule contributes (`rule.query` in the template): one
    /// of [`Backend::formats`] or a format the backend's `convert` accepts for templates only.
    pub(crate) query: &'static str,
    /// One output for all rules, or one per rule.
    pub(crate) output: TemplateOutput,
    /// The `--set` keys the template reads, `None` when it takes any key (a template that
    /// writes every `--set` value as a setting).
    pub(crate) settings: Option<&'static [&'static str]>,
}

pub(crate) enum TemplateOutput {
    /// One document for all rules, written to `--output-dir` as `file`.
    All { file: &'static str },
    /// One document per rule, written to `--output-dir` as `<rule name>.<extension>` (or the
    /// backend's `file_name`); on stdout the documents are joined with `separator`.
    PerRule {
        extension: &'static str,
        separator: &'static str,
    },
}

/// Every backend, by `-t` name.
pub(crate) fn all() -> &'static [&'static dyn Backend] {
    &[&splunk::Splunk, &kql::Kql, &spark::Spark]
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
