//! KQL (Kusto): Microsoft Defender XDR advanced hunting and Microsoft Sentinel. A query is the
//! table the pipeline chose (state `kql_table`), then `| where` and the condition:
//!
//! ```text
//! DeviceProcessEvents
//! | where InitiatingProcessFolderPath endswith @"\winrshost.exe" and ...
//! ```
//!
//! Pipelines (`backends/kql/`, see its README) choose the table by log source and rename
//! fields to its columns. State the backend reads: `kql_table`; `kql_columns` (a field that is
//! not a column is refused); `kql_string_columns` (what keywords search);
//! `kql_extend_<name>` (a computed column, emitted as `| extend` when the rule reads it);
//! `kql_dynamic_columns` and `kql_json_columns` (fields `Col.a.b` as paths into dynamic or
//! JSON-text columns); `kql_hash_columns` (`ALGO=column` pairs for the pseudo-field
//! `sigc_hashes`, Sysmon's `Hashes`). A rule whose log source has no table is refused.
//! Operators: see [`expr`].

pub(crate) mod content;
pub(crate) mod correlation;
pub(crate) mod expr;

use indexmap::IndexMap;

use super::{Backend, CorrelationMethod, Referenced, Template, TemplateOutput};
use crate::ir::rule::{CorrelationIr, RuleIr};

pub(crate) struct Kql;

/// Deployable rule files around the `default` query (see [`content`] and `templates/kql/`).
const TEMPLATES: &[Template] = &[
    Template {
        name: "sentinel_rule",
        path: "templates/kql/sentinel_rule.yaml.j2",
        text: include_str!("../../../templates/kql/sentinel_rule.yaml.j2"),
        query: "default",
        output: TemplateOutput::PerRule {
            extension: "yaml",
            separator: "---\n",
        },
        settings: Some(content::SENTINEL_SETTINGS),
    },
    Template {
        name: "defender_detection",
        path: "templates/kql/defender_detection.json.j2",
        text: include_str!("../../../templates/kql/defender_detection.json.j2"),
        query: "default",
        // One request body per rule; on stdout the documents follow each other, a JSON
        // stream (`jq` reads it).
        output: TemplateOutput::PerRule {
            extension: "json",
            separator: "",
        },
        settings: Some(content::DEFENDER_SETTINGS),
    },
];

impl Backend for Kql {
    fn name(&self) -> &'static str {
        "kql"
    }

    fn extension(&self) -> &'static str {
        "kql"
    }

    fn formats(&self) -> &'static [&'static str] {
        &["default"]
    }

    fn convert(&self, rule: &RuleIr, _format: &str) -> Result<String, String> {
        let state = |k: &str| rule.state.get(k).map(String::as_str);
        let Some(table) = state("kql_table") else {
            return Err(format!(
                "no table for the log source {} in the pipelines given (microsoft_xdr, sentinel_asim or sentinel)",
                super::logsource_text(rule)
            ));
        };
        let parts = Parts::new(&rule.state);
        let cx = parts.context(table);
        let extends = &parts.extends;
        let e = expr::resolve_hashes(&rule.matcher(), &cx)?;
        if e == crate::ir::Expr::False {
            return Err(format!(
                "the rule can only match through hashes {table} does not hold (IMPHASH)"
            ));
        }
        let condition = expr::condition(&e, &cx)?;
        // A table name from pipeline state is quoted like a column when it is no plain
        // identifier, so it names one table and never adds to the query.
        let mut q = expr::quote(table);
        // Computed columns the rule reads, in the pipeline's order.
        let mut used = Vec::new();
        expr::fields(&e, &mut used);
        for (name, value) in extends {
            if used.iter().any(|f| f == name) {
                q.push_str(&format!("\n| extend {name} = {value}"));
            }
        }
        q.push_str(&format!("\n| where {condition}"));
        Ok(q)
    }

    fn convert_correlation(
        &self,
        c: &CorrelationIr,
        refs: &[Referenced],
        _format: &str,
        method: CorrelationMethod,
    ) -> Result<String, String> {
        correlation::convert(c, refs, method)
    }

    fn templates(&self) -> &'static [Template] {
        TEMPLATES
    }

    fn template_values(
        &self,
        rule: &RuleIr,
        template: &Template,
        settings: &IndexMap<String, String>,
    ) -> Result<serde_json::Value, String> {
        match template.name {
            "sentinel_rule" => content::sentinel(rule, settings),
            "defender_detection" => content::defender(rule, settings),
            _ => Ok(serde_json::Value::Null),
        }
    }
}

/// The table description a pipeline leaves in a rule's state, split into lists.
pub(crate) struct Parts<'a> {
    columns: Option<Vec<&'a str>>,
    strings: Vec<&'a str>,
    extends: Vec<(&'a str, &'a str)>,
    dynamic: Vec<&'a str>,
    json: Vec<&'a str>,
    hashes: Vec<(&'a str, &'a str)>,
}

impl<'a> Parts<'a> {
    pub(crate) fn new(state: &'a indexmap::IndexMap<String, String>) -> Parts<'a> {
        let list = |k: &str| -> Vec<&'a str> {
            state
                .get(k)
                .map(|c| c.split_whitespace().collect())
                .unwrap_or_default()
        };
        Parts {
            columns: state
                .get("kql_columns")
                .map(|c| c.split_whitespace().collect()),
            strings: list("kql_string_columns"),
            extends: state
                .iter()
                .filter_map(|(k, v)| Some((k.strip_prefix("kql_extend_")?, v.as_str())))
                .collect(),
            dynamic: list("kql_dynamic_columns"),
            json: list("kql_json_columns"),
            hashes: list("kql_hash_columns")
                .into_iter()
                .filter_map(|p| p.split_once('='))
                .collect(),
        }
    }

    pub(crate) fn context(&'a self, table: &'a str) -> expr::Context<'a> {
        expr::Context {
            columns: self.columns.as_deref(),
            string_columns: &self.strings,
            table,
            extends: &self.extends,
            dynamic: &self.dynamic,
            json: &self.json,
            hashes: &self.hashes,
        }
    }
}
