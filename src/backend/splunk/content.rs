//! What the Splunk templates need beyond the rule's own metadata: the search each one embeds,
//! and, for `security_content`, Sigma metadata mapped to the detection schema of Splunk's
//! security_content repository as `contentctl` (5.x) validates it.
//!
//! **The search.** A rule whose pipelines gave it a CIM data model (`-p splunk_cim`) embeds
//! its `| tstats` search (`-f tstats`); any other rule embeds its plain SPL search (`-f
//! default`) with the field names its pipelines gave it. A rule that has a data model but
//! whose tstats conversion fails (a field outside the data model) is refused, never written
//! as a plain search over data-model field names, which raw events do not carry.
//!
//! **Names.** contentctl derives three things from a detection's `name`: its file name and its
//! filter macro (`name` lowercased, ` `, `-`, `.` and `/` made `_`), and it requires that
//! macro in the search. The name is the rule's title with every run of other characters made
//! one space (so the derivation gives tstats' own `<rule_name>_filter` for a title-derived
//! rule name); a longer name than contentctl's 67 characters is cut at a word boundary and
//! ends with the first 8 characters of the rule's id (cut titles often differ only at their
//! end). When the name's macro is not the one the query ends with, the query's last pipe is
//! replaced by the right one.
//!
//! **Mapped metadata** (status, type, data sources, stories and version overridable with `--set`,
//! see `templates/splunk/README.md`):
//! status (`stable` → `production`, `deprecated` → `deprecated`, anything else →
//! `experimental`); type from the level (`critical`/`high` → `TTP`, `medium`/`low` →
//! `Anomaly`, else `Hunting`; a plain-SPL search is always `Hunting`, since risk-based
//! alerting needs the CIM `dest`/`user` fields); `attack.tNNNN[.NNN]` tags → `mitre_attack_id`
//! (a technique is dropped when one of its sub-techniques is listed, as contentctl requires);
//! `cve.YYYY-N` tags → `cve`; references that are http(s) URLs; asset type and security
//! domain from the data model or the log source; data sources from the log source.

use indexmap::IndexMap;
use serde_json::{Value, json};

use crate::ir::rule::RuleIr;

use super::{spl, tstats};

/// contentctl's longest detection name (`CONTENTCTL_MAX_SEARCH_NAME_LENGTH`: an ES stanza
/// `<domain> - ESCU - <name> - Rule` fits in 99 characters).
const MAX_NAME: usize = 67;

/// The rule as a search for a one-file template: `| tstats` when its pipelines gave it a data
/// model, plain SPL otherwise.
pub(crate) fn search(rule: &RuleIr) -> Result<String, String> {
    if rule.state.contains_key("data_model") {
        tstats::convert(rule)
    } else {
        spl::query(&rule.matcher())
    }
}

/// The search of a security_content detection: [`search`] ending with the detection's filter
/// macro.
pub(crate) fn detection_search(rule: &RuleIr) -> Result<String, String> {
    let stem = file_stem(&detection_name(rule)?);
    let filter = format!("| `{stem}_filter`");
    if rule.state.contains_key("data_model") {
        let q = tstats::convert(rule)?;
        // tstats ends with the filter macro of the rule's own name; contentctl wants the one
        // of the detection's name.
        let own = format!("| `{}_filter`", tstats::rule_name(rule));
        Ok(match q.strip_suffix(&own) {
            Some(head) => format!("{head}{filter}"),
            None if q.ends_with(&filter) => q,
            None => format!("{q}\n{filter}"),
        })
    } else {
        Ok(format!("{}\n{filter}", spl::query(&rule.matcher())?))
    }
}

/// The detection's `name` (see the module documentation).
fn detection_name(rule: &RuleIr) -> Result<String, String> {
    let words: Vec<&str> = rule
        .header
        .title
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect();
    if words.is_empty() {
        return Err(format!(
            "the title `{}` has no letters or digits to name a security_content detection after",
            rule.header.title
        ));
    }
    let full = words.join(" ");
    if full.len() <= MAX_NAME {
        return Ok(full);
    }
    // Cut titles often differ only in their last words (`... - REG`, `... - CLI`): the start
    // of the rule's id keeps the cut names distinct.
    let tag: String = rule
        .header
        .id
        .as_deref()
        .unwrap_or("")
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(8)
        .collect();
    let room = MAX_NAME - if tag.is_empty() { 0 } else { tag.len() + 1 };
    let mut name = String::new();
    for w in words {
        let extra = usize::from(!name.is_empty()) + w.len();
        if name.len() + extra > room {
            break;
        }
        if !name.is_empty() {
            name.push(' ');
        }
        name.push_str(w);
    }
    if !tag.is_empty() {
        if !name.is_empty() {
            name.push(' ');
        }
        name.push_str(&tag);
    }
    Ok(name)
}

/// contentctl's file name (without `.yml`) and filter macro prefix for a detection name.
fn file_stem(name: &str) -> String {
    name.replace([' ', '-', '.', '/'], "_").to_lowercase()
}

/// Values of the `security_content` template (`rule.target`).
pub(crate) fn values(rule: &RuleIr, settings: &IndexMap<String, String>) -> Result<Value, String> {
    let h = &rule.header;
    let name = detection_name(rule)?;
    let stem = file_stem(&name);
    let id =
        h.id.as_deref()
            .filter(|id| is_uuid(id))
            .ok_or("a security_content detection needs the rule's `id` as a UUID")?;
    let date = h
        .get_str("modified")
        .or(h.get_str("date"))
        .filter(|d| is_date(d))
        .ok_or("a security_content detection needs a `date` (or `modified`) as YYYY-MM-DD")?;
    let tstats = rule.state.contains_key("data_model");
    let setting = |k: &str| {
        settings
            .get(k)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    };
    // An empty list setting means none (`--set data_source=`).
    let list = |k: &str| -> Option<Vec<String>> {
        settings.get(k).map(|v| {
            v.split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect()
        })
    };

    let version = match setting("detection_version") {
        Some(v) => v
            .parse::<u32>()
            .map_err(|_| format!("detection_version `{v}` is not a whole number"))?,
        None => 1,
    };
    let status = match setting("detection_status") {
        Some(s @ ("production" | "experimental" | "deprecated")) => s,
        Some(other) => {
            return Err(format!(
                "detection_status `{other}` is not one of production, experimental, deprecated"
            ));
        }
        None => match h.status.as_deref() {
            Some("stable") => "production",
            Some("deprecated") => "deprecated",
            _ => "experimental",
        },
    };

    let level = h.level.as_deref().unwrap_or("");
    let score = match level {
        "critical" => 90,
        "high" => 70,
        "medium" => 50,
        "low" => 30,
        _ => 10,
    };
    let fields = output_fields(rule);
    let has = |f: &str| fields.iter().any(|x| x == f);
    let mut risk = Vec::new();
    for (field, kind) in [
        ("dest", "system"),
        ("user", "user"),
        ("src", "system"),
        ("src_user", "user"),
    ] {
        if has(field) {
            risk.push(json!({"field": field, "type": kind, "score": score}));
        }
    }
    let mut threat = Vec::new();
    for (field, kind) in [
        ("parent_process_name", "parent_process_name"),
        ("process_name", "process_name"),
        ("file_name", "file_name"),
        ("registry_path", "registry_path"),
        ("url", "url"),
        ("query", "domain"),
        ("signature", "signature"),
    ] {
        if has(field) {
            threat.push(json!({"field": field, "type": kind}));
        }
    }
    let kind = match setting("detection_type") {
        Some(t @ ("TTP" | "Anomaly" | "Hunting" | "Correlation")) => {
            if matches!(t, "TTP" | "Anomaly") && risk.is_empty() {
                return Err(format!(
                    "a {t} detection needs a risk object (the CIM field dest, user, src or src_user among the search's output fields); this search has none"
                ));
            }
            t
        }
        Some(other) => {
            return Err(format!(
                "detection_type `{other}` is not one of TTP, Anomaly, Hunting, Correlation"
            ));
        }
        None if !tstats || risk.is_empty() => "Hunting",
        None => match level {
            "critical" | "high" => "TTP",
            "medium" | "low" => "Anomaly",
            _ => "Hunting",
        },
    };
    let rba_message = {
        let on: Vec<String> = ["dest", "src"]
            .iter()
            .filter(|f| has(f))
            .map(|f| format!("${f}$"))
            .collect();
        let by: Vec<String> = ["user", "src_user"]
            .iter()
            .filter(|f| has(f))
            .map(|f| format!("${f}$"))
            .collect();
        let mut m = format!("{name} detected");
        if !on.is_empty() {
            m.push_str(&format!(" on {}", on.join(" and ")));
        }
        if !by.is_empty() {
            m.push_str(&format!(" by {}", by.join(" and ")));
        }
        m
    };

    let mut mitre: Vec<String> = Vec::new();
    let mut cve: Vec<String> = Vec::new();
    for t in &h.tags {
        let t = t.to_ascii_lowercase();
        if let Some(tech) = t.strip_prefix("attack.t").filter(|x| is_technique(x)) {
            let id = format!("T{}", tech.to_ascii_uppercase());
            if !mitre.contains(&id) {
                mitre.push(id);
            }
        } else if let Some(c) = t.strip_prefix("cve.").filter(|c| is_cve(c)) {
            let id = format!("CVE-{c}");
            if !cve.contains(&id) {
                cve.push(id);
            }
        }
    }
    let subs: Vec<String> = mitre.iter().filter(|m| m.contains('.')).cloned().collect();
    mitre.retain(|m| m.contains('.') || !subs.iter().any(|s| s.starts_with(&format!("{m}."))));

    let references: Vec<&str> = header_list(rule, "references")
        .into_iter()
        .filter(|r| {
            (r.starts_with("https://") || r.starts_with("http://"))
                && !r.contains(char::is_whitespace)
        })
        .collect();
    let fps: Vec<&str> = header_list(rule, "falsepositives")
        .into_iter()
        .map(str::trim)
        .filter(|f| !f.is_empty())
        .collect();
    // contentctl wants at least four characters.
    let known_false_positives = match fps.join("; ") {
        j if j.is_empty() => "None listed by the Sigma rule.".to_string(),
        j if j.len() < 4 => format!("The Sigma rule lists: {j}"),
        j => j,
    };
    let description = h
        .get_str("description")
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .unwrap_or(&h.title);
    // contentctl limits descriptions to 10,000 characters.
    let description: String = description.chars().take(10_000).collect();

    let (asset_type, security_domain) = asset(rule);
    let data_source = list("data_source").unwrap_or_else(|| data_sources(rule));
    let analytic_story = list("analytic_story").unwrap_or_default();
    let how_to_implement = match (rule.state.get("data_model"), rule.state.get("data_object")) {
        (Some(model), object) => {
            let object = object.map(String::as_str).unwrap_or(model);
            let model = model.split('.').next().unwrap_or(model);
            format!(
                "The search reads the `{object}` dataset of the CIM `{model}` data model with `| tstats`: ingest {} events through a Splunk add-on that maps them to that dataset, and accelerate the data model. Converted from a Sigma rule by sigc.",
                logsource(rule)
            )
        }
        (None, _) => format!(
            "The search reads raw {} events under the field names of the processing pipelines it was converted with (the log source has no CIM data model here). Converted from a Sigma rule by sigc.",
            logsource(rule)
        ),
    };
    Ok(json!({
        "name": name,
        "file_name": format!("{stem}.yml"),
        "filter_macro": format!("{stem}_filter"),
        "id": id.to_ascii_lowercase(),
        "date": date,
        "version": version,
        "status": status,
        "type": kind,
        "description": description,
        "how_to_implement": how_to_implement,
        "known_false_positives": known_false_positives,
        "references": references,
        "data_source": data_source,
        "analytic_story": analytic_story,
        "asset_type": asset_type,
        "security_domain": security_domain,
        "mitre_attack_id": mitre,
        "cve": cve,
        "risk_objects": risk,
        "threat_objects": threat,
        "rba_message": rba_message,
        "manual_test": (status == "production").then_some(
            "Converted from a Sigma rule by sigc, without attack data: test it by hand."
        ),
    }))
}

/// The `--set` keys the security_content template reads.
pub(crate) const SETTINGS: &[&str] = &[
    "analytic_story",
    "data_source",
    "detection_status",
    "detection_type",
    "detection_version",
];

/// The fields a tstats search outputs: its `by` fields without the dataset prefix that
/// `drop_dm_object_name` removes.
fn output_fields(rule: &RuleIr) -> Vec<String> {
    let Some(object) = rule.state.get("data_object") else {
        return Vec::new();
    };
    let prefix = format!("{object}.");
    rule.state
        .get("tstats_by")
        .or(rule.state.get("by_fields"))
        .map(|by| {
            by.split_whitespace()
                .filter_map(|f| f.strip_prefix(&prefix))
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

fn header_list<'a>(rule: &'a RuleIr, key: &str) -> Vec<&'a str> {
    match rule.header.fields.iter().find(|(k, _)| k == key) {
        Some((_, node)) => match node.as_seq() {
            Some(items) => items.iter().filter_map(|n| n.scalar_text()).collect(),
            None => node.scalar_text().into_iter().collect(),
        },
        None => Vec::new(),
    }
}

fn logsource(rule: &RuleIr) -> String {
    let l = &rule.logsource;
    let parts: Vec<&str> = [&l.product, &l.category, &l.service]
        .into_iter()
        .filter_map(|p| p.as_deref())
        .collect();
    if parts.is_empty() {
        "the log source's".into()
    } else {
        parts.join(" ")
    }
}

/// contentctl's asset type and security domain: from the data model when there is one, else
/// from the Sigma product or category.
fn asset(rule: &RuleIr) -> (&'static str, &'static str) {
    let model = rule
        .state
        .get("data_model")
        .and_then(|m| m.split('.').next())
        .unwrap_or("");
    match model {
        "Endpoint" | "Malware" => return ("Endpoint", "endpoint"),
        "Network_Traffic" | "Network_Resolution" => return ("Network", "network"),
        "Web" => return ("Web Server", "network"),
        "Authentication" => return ("Identity", "access"),
        _ => {}
    }
    let l = &rule.logsource;
    match (l.product.as_deref(), l.category.as_deref()) {
        (Some("aws"), _) => ("AWS Account", "threat"),
        (Some("azure"), _) => ("Azure Tenant", "threat"),
        (Some("gcp"), _) => ("GCP Account", "threat"),
        (Some("m365"), _) => ("O365 Tenant", "threat"),
        (Some("okta"), _) => ("Okta Tenant", "identity"),
        (Some("github"), _) => ("GitHub", "threat"),
        (Some("kubernetes"), _) => ("Kubernetes", "threat"),
        (Some("zeek"), _) | (_, Some("firewall" | "dns")) => ("Network", "network"),
        (_, Some("proxy")) => ("Web Proxy", "network"),
        (_, Some("webserver")) => ("Web Server", "network"),
        _ => ("Endpoint", "endpoint"),
    }
}

/// security_content's data source names for the Windows log sources that have one (Sysmon
/// event ids by category, the Security log's 4688, PowerShell script blocks).
fn data_sources(rule: &RuleIr) -> Vec<String> {
    let l = &rule.logsource;
    let sysmon = |ids: &[u32]| ids.iter().map(|i| format!("Sysmon EventID {i}")).collect();
    match (l.product.as_deref(), l.category.as_deref()) {
        (Some("windows"), Some(c)) => match c {
            "process_creation" => vec![
                "Sysmon EventID 1".to_string(),
                "Windows Event Log Security 4688".to_string(),
            ],
            "network_connection" => sysmon(&[3]),
            "driver_load" => sysmon(&[6]),
            "image_load" => sysmon(&[7]),
            "create_remote_thread" => sysmon(&[8]),
            "raw_access_thread" => sysmon(&[9]),
            "process_access" => sysmon(&[10]),
            "file_event" => sysmon(&[11]),
            "registry_add" | "registry_delete" => sysmon(&[12]),
            "registry_set" => sysmon(&[13]),
            "registry_rename" => sysmon(&[14]),
            "registry_event" => sysmon(&[12, 13, 14]),
            "create_stream_hash" => sysmon(&[15]),
            "pipe_created" => sysmon(&[17, 18]),
            "wmi_event" => sysmon(&[19, 20, 21]),
            "dns_query" => sysmon(&[22]),
            "file_delete" => sysmon(&[23]),
            "ps_script" => vec!["Powershell Script Block Logging 4104".to_string()],
            _ => Vec::new(),
        },
        _ => Vec::new(),
    }
}

fn is_uuid(s: &str) -> bool {
    let groups: Vec<&str> = s.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, n)| g.len() == n && g.chars().all(|c| c.is_ascii_hexdigit()))
}

fn is_date(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit())
}

/// `NNNN` or `NNNN.NNN` (after `attack.t`).
fn is_technique(s: &str) -> bool {
    let (main, sub) = s.split_once('.').unwrap_or((s, "000"));
    main.len() == 4
        && main.chars().all(|c| c.is_ascii_digit())
        && sub.len() == 3
        && sub.chars().all(|c| c.is_ascii_digit())
}

/// `YYYY-N...` (after `cve.`), as contentctl's `^CVE-[12]\d{3}-\d+$`.
fn is_cve(s: &str) -> bool {
    let Some((year, n)) = s.split_once('-') else {
        return false;
    };
    year.len() == 4
        && year.starts_with(['1', '2'])
        && year.chars().all(|c| c.is_ascii_digit())
        && !n.is_empty()
        && n.chars().all(|c| c.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_ids() {
        assert_eq!(file_stem("Windows Remote Shell"), "windows_remote_shell");
        assert!(is_uuid("0e7a8ea3-7b6e-4488-9a1e-94188ce7cded"));
        assert!(!is_uuid("0e7a8ea3-7b6e-4488-9a1e"));
        assert!(is_date("2026-11-22"));
        assert!(!is_date("2026/11/22"));
        assert!(is_technique("1021.006"));
        assert!(is_technique("1021"));
        assert!(!is_technique("1021.6"));
        assert!(is_cve("2021-44228"));
        assert!(!is_cve("21-44228"));
    }
}
