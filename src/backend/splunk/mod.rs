//! Splunk: SPL searches (`default`, see [`spl`]) and `| tstats` over CIM data models
//! (`tstats`, see [`tstats`]). Log-source conditions and field names come from pipelines:
//! `splunk_windows` for Windows event logs as Splunk's add-on indexes them, `splunk_cim` for the
//! data models.

pub(crate) mod spl;
pub(crate) mod tstats;

use super::Backend;
use crate::ir::rule::RuleIr;

pub(crate) struct Splunk;

impl Backend for Splunk {
    fn name(&self) -> &'static str {
        "splunk"
    }

    fn formats(&self) -> &'static [&'static str] {
        &["default", "tstats"]
    }

    fn convert(&self, rule: &RuleIr, format: &str) -> Result<String, String> {
        match format {
            "tstats" => tstats::convert(rule),
            _ => spl::query(&rule.matcher()),
        }
    }
}
