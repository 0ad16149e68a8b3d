//! Splunk: SPL searches (`default`, see [`spl`]) and `| tstats` over CIM data models
//! (`tstats`, see [`tstats`]). Log-source conditions and field names come from pipelines:
//! `splunk_windows` for Windows event logs as Splunk's add-on indexes them, `splunk_cim` for the
//! data models.

pub(crate) mod correlation;
pub(crate) mod spl;
pub(crate) mod tstats;

use super::{Backend, Referenced};
use crate::ir::rule::{CorrelationIr, RuleIr};

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

    fn convert_correlation(
        &self,
        c: &CorrelationIr,
        refs: &[Referenced],
        format: &str,
    ) -> Result<String, String> {
        match format {
            "default" => correlation::convert(c, refs),
            other => Err(format!(
                "correlation rules convert to the default SPL format only, not `{other}`"
            )),
        }
    }
}
