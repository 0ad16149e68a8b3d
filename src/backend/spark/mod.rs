//! Spark SQL (3.5 and 4.x): a rule is a `SELECT` over the table its log source lives in, or
//! (`-f where`) the bare predicate, or a whole rule set as one PySpark job that reads the
//! events once (`-f pyspark_job`, `templates/spark/`).
//!
//! ```text
//! SELECT * FROM `windows_events`
//! WHERE (CAST(`Channel` AS STRING) = 'Microsoft-Windows-Sysmon/Operational' AND ...)
//! ```
//!
//! State the backend reads (pipelines under `backends/spark/`, `--table`): `spark_table`, the
//! table; without it, `<product>_events` from the rule's log source (`windows_events`,
//! `linux_events`...), or `<category>_events` for a log source without a product.
//! `spark_keyword_values`: the array<string> column keywords search (default `sigc_values`,
//! every value of the event; the PySpark job builds it). `spark_time_column`: the event time,
//! for correlations (default `@timestamp`). Columns are the rule's field names, as the table
//! has them; every column a rule reads must exist (the job adds missing ones as `NULL`).
//! Operators: see [`expr`].

pub(crate) mod cidr;
pub(crate) mod correlation;
pub(crate) mod expr;
pub(crate) mod regex;

use indexmap::IndexMap;

use crate::bytecode::ChannelKey;

use super::{Backend, CorrelationMethod, Referenced, Template, TemplateOutput};
use crate::ir::rule::{CorrelationIr, RuleIr};

pub(crate) struct Spark;

const TEMPLATES: &[Template] = &[Template {
    name: "pyspark_job",
    path: "templates/spark/pyspark_job.py.j2",
    text: include_str!("../../../templates/spark/pyspark_job.py.j2"),
    query: "where",
    output: TemplateOutput::All {
        file: "sigc_job.py",
    },
    settings: Some(&["app_name"]),
}];

/// The state key `--table` overrides.
pub(crate) const TABLE: &str = "spark_table";

impl Backend for Spark {
    fn name(&self) -> &'static str {
        "spark"
    }

    fn backtracks(&self) -> bool {
        true
    }

    fn extension(&self) -> &'static str {
        "sql"
    }

    fn formats(&self) -> &'static [&'static str] {
        &["default", "where"]
    }

    fn table_key(&self) -> Option<&'static str> {
        Some(TABLE)
    }

    fn default_routing(&self) -> Option<&'static [&'static str]> {
        Some(&["security_datasets"])
    }

    fn convert(&self, rule: &RuleIr, format: &str) -> Result<String, String> {
        let cond = predicate(rule)?;
        Ok(match format {
            "where" => cond,
            _ => format!("SELECT * FROM {}\nWHERE {cond}", expr::ident(&table(rule))),
        })
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
        _template: &Template,
        _settings: &IndexMap<String, String>,
    ) -> Result<serde_json::Value, String> {
        let e = rule.matcher();
        let mut columns = Vec::new();
        expr::fields(&e, &mut columns);
        columns.sort();
        columns.dedup();
        // The (Channel, EventID) pairs the rule needs, as the evaluator routes it: the job runs
        // a rule only on events of its pairs. `null`: any event.
        let guards = crate::bytecode::guard::guards(&e).map(|gs| {
            gs.iter()
                .map(|g| {
                    let channel = match &g.channel {
                        ChannelKey::Any => serde_json::json!({"any": true}),
                        ChannelKey::Absent => serde_json::json!({"absent": true}),
                        ChannelKey::Is(c) => serde_json::json!({"is": c}),
                    };
                    serde_json::json!({"channel": channel, "event_id": g.event_id})
                })
                .collect::<Vec<_>>()
        });
        Ok(serde_json::json!({
            "guards": guards,
            "columns": columns,
            "keywords": expr::has_keywords(&e),
            "keyword_values": keyword_values(rule),
        }))
    }
}

/// The rule's condition as a Spark SQL predicate.
pub(crate) fn predicate(rule: &RuleIr) -> Result<String, String> {
    let values = keyword_values(rule);
    expr::condition(
        &rule.matcher(),
        &expr::Context {
            keyword_values: &values,
        },
    )
}

fn keyword_values(rule: &RuleIr) -> String {
    rule.state
        .get("spark_keyword_values")
        .cloned()
        .unwrap_or_else(|| "sigc_values".into())
}

/// The table a rule reads: the pipelines' choice, or one named after its log source.
pub(crate) fn table(rule: &RuleIr) -> String {
    if let Some(t) = rule.state.get(TABLE) {
        return t.clone();
    }
    let l = &rule.logsource;
    let base = l
        .product
        .as_deref()
        .or(l.category.as_deref())
        .or(l.service.as_deref())
        .unwrap_or("sigma");
    format!("{base}_events")
}
