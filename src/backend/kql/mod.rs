//! KQL (Kusto): Microsoft Defender XDR advanced hunting and Microsoft Sentinel. A query is the
//! table the pipeline chose (state `kql_table`), then `| where` and the condition:
//!
//! ```text
//! DeviceProcessEvents
//! | where InitiatingProcessFolderPath endswith @"\winrshost.exe" and ...
//! ```
//!
//! Pipelines (`backends/kql/`) choose the table by log source and rename fields to its
//! columns; with `kql_columns` set, a field that is not a column of the table is refused, and a
//! rule whose log source has no table is refused. Operators: see [`expr`].

pub(crate) mod correlation;
pub(crate) mod expr;

use super::{Backend, Referenced};
use crate::ir::rule::{CorrelationIr, RuleIr};

pub(crate) struct Kql;

impl Backend for Kql {
    fn name(&self) -> &'static str {
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
        let columns: Option<Vec<&str>> =
            state("kql_columns").map(|c| c.split_whitespace().collect());
        let strings: Vec<&str> = state("kql_string_columns")
            .map(|c| c.split_whitespace().collect())
            .unwrap_or_default();
        let cx = expr::Context {
            columns: columns.as_deref(),
            string_columns: &strings,
            table,
        };
        let condition = expr::condition(&rule.matcher(), &cx)?;
        Ok(format!("{table}\n| where {condition}"))
    }

    fn convert_correlation(
        &self,
        c: &CorrelationIr,
        refs: &[Referenced],
        _format: &str,
    ) -> Result<String, String> {
        // The time column is the same for every table a pipeline maps to.
        correlation::convert(c, refs, "Timestamp")
    }
}
