//! Splunk: SPL searches (`default`, see [`spl`]) and `| tstats` over CIM data models
//! (`tstats`, see [`tstats`]). Log-source conditions and field names come from pipelines:
//! `splunk_windows` for Windows event logs as Splunk's add-on indexes them, `splunk_cim` for the
//! data models. Two template formats write the files Splunk users deploy (see [`content`] and
//! `templates/splunk/`): `savedsearches` (a `savedsearches.conf`) and `security_content`
//! (detection YAMLs for Splunk's security_content repository and `contentctl`).

pub(crate) mod content;
pub(crate) mod correlation;
pub(crate) mod spl;
pub(crate) mod tstats;

use indexmap::IndexMap;

use super::{Backend, CorrelationMethod, Referenced, Template, TemplateOutput};
use crate::ir::rule::{CorrelationIr, RuleIr};

pub(crate) struct Splunk;

/// Query formats the templates embed, beside `-f default` and `-f tstats`: `search` is tstats
/// for a rule with a CIM data model and plain SPL otherwise; `detection` is `search` ending
/// with the security_content filter macro.
const SEARCH: &str = "search";
const DETECTION: &str = "detection";

const TEMPLATES: &[Template] = &[
    Template {
        name: "savedsearches",
        path: "templates/splunk/savedsearches.conf.j2",
        text: include_str!("../../../templates/splunk/savedsearches.conf.j2"),
        query: SEARCH,
        output: TemplateOutput::All {
            file: "savedsearches.conf",
        },
        // Any `--set KEY=VALUE` is written to every stanza as a setting.
        settings: None,
    },
    Template {
        name: "security_content",
        path: "templates/splunk/security_content.yml.j2",
        text: include_str!("../../../templates/splunk/security_content.yml.j2"),
        query: DETECTION,
        output: TemplateOutput::PerRule {
            extension: "yml",
            separator: "---\n",
        },
        settings: Some(content::SETTINGS),
    },
];

impl Backend for Splunk {
    fn name(&self) -> &'static str {
        "splunk"
    }

    fn backtracks(&self) -> bool {
        true
    }

    fn extension(&self) -> &'static str {
        "spl"
    }

    fn formats(&self) -> &'static [&'static str] {
        &["default", "tstats"]
    }

    fn convert(&self, rule: &RuleIr, format: &str) -> Result<String, String> {
        match format {
            "tstats" => tstats::convert(rule),
            SEARCH => content::search(rule),
            DETECTION => content::detection_search(rule),
            _ => spl::query(&rule.matcher()),
        }
    }

    fn convert_correlation(
        &self,
        c: &CorrelationIr,
        refs: &[Referenced],
        format: &str,
        method: CorrelationMethod,
    ) -> Result<String, String> {
        match format {
            "default" => correlation::convert(c, refs, method),
            other => Err(format!(
                "correlation rules convert to the default SPL format only, not `{other}`"
            )),
        }
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
            "security_content" => content::values(rule, settings),
            _ => Ok(serde_json::Value::Null),
        }
    }
}
