//! What the KQL templates need beyond the rule's own metadata (`rule.target`): Sigma metadata
//! mapped to a Microsoft Sentinel scheduled analytics rule (`sentinel_rule`, the YAML of the
//! Azure-Sentinel repository's `Detections/`) and to a Defender XDR custom detection rule
//! (`defender_detection`, the body of Microsoft Graph's `POST /security/rules/detectionRules`).
//!
//! Both embed the rule's `-f default` query. Mapped metadata (see `templates/kql/README.md`):
//! severity from the level (`critical` → High, Sentinel and Defender having no higher one);
//! `attack.tNNNN[.NNN]` tags → techniques; `attack.<tactic>` tags → tactic names as Sentinel
//! and Defender write them (`attack.lateral-movement` → `LateralMovement`); the data connector
//! and entity mappings from the table the pipeline chose, since only the table says which
//! columns a query returns.

use indexmap::IndexMap;
use serde_json::{Value, json};

use crate::ir::rule::RuleIr;

/// `--set` keys of `sentinel_rule`.
pub(crate) const SENTINEL_SETTINGS: &[&str] = &[
    "query_frequency",
    "query_period",
    "trigger_operator",
    "trigger_threshold",
    "severity",
    "version",
    "data_connector",
];

/// `--set` keys of `defender_detection`.
pub(crate) const DEFENDER_SETTINGS: &[&str] = &["period", "enabled", "severity", "category"];

/// Sigma's ATT&CK tactic tags (both spellings the corpus uses) and the names Sentinel's
/// `tactics` and Defender's alert `category` take.
const TACTICS: &[(&str, &str)] = &[
    ("reconnaissance", "Reconnaissance"),
    ("resource-development", "ResourceDevelopment"),
    ("initial-access", "InitialAccess"),
    ("execution", "Execution"),
    ("persistence", "Persistence"),
    ("privilege-escalation", "PrivilegeEscalation"),
    ("defense-evasion", "DefenseEvasion"),
    ("credential-access", "CredentialAccess"),
    ("discovery", "Discovery"),
    ("lateral-movement", "LateralMovement"),
    ("collection", "Collection"),
    ("exfiltration", "Exfiltration"),
    ("command-and-control", "CommandAndControl"),
    ("impact", "Impact"),
    // ATT&CK for ICS tactics Sentinel lists too.
    ("inhibit-response-function", "InhibitResponseFunction"),
    ("impair-process-control", "ImpairProcessControl"),
];

/// The Sentinel data connector that fills a table (`connectorId`), as Azure-Sentinel's rules
/// name them. ASIM parsers (`im*`) normalise many connectors' tables: none is required.
fn connectors(table: &str) -> Vec<&'static str> {
    match table {
        // Legacy agent and Azure Monitor Agent connectors both write SecurityEvent.
        "SecurityEvent" => vec!["SecurityEvents", "WindowsSecurityEvents"],
        "WindowsEvent" => vec!["WindowsForwardedEvents"],
        "Syslog" => vec!["Syslog"],
        "AWSCloudTrail" => vec!["AWS"],
        "AzureActivity" => vec!["AzureActivity"],
        "SigninLogs" | "AuditLogs" | "AADUserRiskEvents" => vec!["AzureActiveDirectory"],
        "OfficeActivity" => vec!["Office365"],
        "GCPAuditLogs" => vec!["GCPAuditLogsDefinition"],
        "AKSAudit" => vec!["AzureKubernetes"],
        t if t.starts_with("Device") => vec!["MicrosoftThreatProtection"],
        _ => Vec::new(),
    }
}

/// Sentinel entity mappings a table's columns allow: (entity type, [(identifier, column)]).
/// Only columns every row of the table carries with that meaning; WindowsEvent's event data
/// is a dynamic column, not a column a mapping can name.
fn entities(table: &str) -> Vec<(&'static str, Vec<(&'static str, &'static str)>)> {
    let host = ("Host", vec![("FullName", "Computer")]);
    let device = ("Host", vec![("FullName", "DeviceName")]);
    let dvc = ("Host", vec![("HostName", "DvcHostname")]);
    let account = |name| ("Account", vec![("FullName", name)]);
    let ip = |column| ("IP", vec![("Address", column)]);
    let device_account = (
        "Account",
        vec![
            ("Name", "AccountName"),
            ("NTDomain", "AccountDomain"),
            ("Sid", "AccountSid"),
        ],
    );
    let initiating_account = (
        "Account",
        vec![
            ("Name", "InitiatingProcessAccountName"),
            ("NTDomain", "InitiatingProcessAccountDomain"),
            ("Sid", "InitiatingProcessAccountSid"),
        ],
    );
    match table {
        "SecurityEvent" => vec![
            host,
            account("Account"),
            ip("IpAddress"),
            ("Process", vec![("CommandLine", "CommandLine")]),
        ],
        "WindowsEvent" | "Syslog" => vec![host],
        "AWSCloudTrail" => vec![
            ("Account", vec![("Name", "UserIdentityUserName")]),
            ip("SourceIpAddress"),
        ],
        "AzureActivity" => vec![account("Caller"), ip("CallerIpAddress")],
        "SigninLogs" => vec![account("UserPrincipalName"), ip("IPAddress")],
        "AADUserRiskEvents" => vec![account("UserPrincipalName"), ip("IpAddress")],
        "OfficeActivity" => vec![account("UserId"), ip("ClientIP")],
        "DeviceProcessEvents" => vec![
            device,
            device_account,
            (
                "Process",
                vec![
                    ("ProcessId", "ProcessId"),
                    ("CommandLine", "ProcessCommandLine"),
                ],
            ),
        ],
        "DeviceLogonEvents" => vec![device, device_account, ip("RemoteIP")],
        "DeviceEvents" => vec![device, device_account],
        "DeviceNetworkEvents" => vec![device, initiating_account, ip("RemoteIP")],
        "DeviceFileEvents" | "DeviceImageLoadEvents" => vec![
            device,
            initiating_account,
            ("File", vec![("Name", "FileName")]),
        ],
        "DeviceRegistryEvents" => vec![device, initiating_account],
        "imProcessCreate" => vec![
            dvc,
            account("ActorUsername"),
            ("Process", vec![("CommandLine", "TargetProcessCommandLine")]),
        ],
        "imFileEvent" | "imRegistry" => vec![dvc, account("ActorUsername")],
        "imAuthentication" => vec![dvc, account("TargetUsername"), ip("SrcIpAddr")],
        "imNetworkSession" => vec![dvc, ip("SrcIpAddr")],
        "imDns" => vec![
            dvc,
            ip("SrcIpAddr"),
            ("DNS", vec![("DomainName", "DnsQuery")]),
        ],
        "imWebSession" => vec![dvc, ip("SrcIpAddr"), ("URL", vec![("Url", "Url")])],
        _ => Vec::new(),
    }
}

/// Impacted assets of a Defender custom detection (`@odata.type` suffix, identifier): the
/// device of every Defender device table, and the account where the table has one.
fn impacted_assets(table: &str) -> Vec<(&'static str, &'static str)> {
    let mut assets = vec![("impactedDeviceAsset", "deviceId")];
    match table {
        "DeviceProcessEvents" | "DeviceLogonEvents" | "DeviceEvents" => {
            assets.push(("impactedUserAsset", "accountSid"));
        }
        "DeviceFileEvents"
        | "DeviceImageLoadEvents"
        | "DeviceNetworkEvents"
        | "DeviceRegistryEvents" => {
            assets.push(("impactedUserAsset", "initiatingAccountSid"));
        }
        _ => {}
    }
    assets
}

/// ATT&CK techniques (`T1059`, `T1059.001`) and tactic names of the rule's tags, in tag order.
fn attack(rule: &RuleIr) -> (Vec<String>, Vec<&'static str>) {
    let mut techniques = Vec::new();
    let mut tactics = Vec::new();
    for t in &rule.header.tags {
        let t = t.to_ascii_lowercase();
        let Some(rest) = t.strip_prefix("attack.") else {
            continue;
        };
        if let Some(id) = rest.strip_prefix('t').filter(|x| is_technique(x)) {
            let id = format!("T{id}");
            if !techniques.contains(&id) {
                techniques.push(id);
            }
            continue;
        }
        let rest = rest.replace('_', "-");
        if let Some((_, name)) = TACTICS.iter().find(|(tag, _)| *tag == rest)
            && !tactics.contains(name)
        {
            tactics.push(*name);
        }
    }
    (techniques, tactics)
}

/// `NNNN` or `NNNN.NNN` (after the `t`).
fn is_technique(s: &str) -> bool {
    let (main, sub) = match s.split_once('.') {
        Some((m, s)) => (m, Some(s)),
        None => (s, None),
    };
    let digits = |x: &str, n: usize| x.len() == n && x.bytes().all(|b| b.is_ascii_digit());
    digits(main, 4) && sub.is_none_or(|s| digits(s, 3))
}

/// The four severities both products take, from the level; `critical` is the highest, High.
fn severity(rule: &RuleIr) -> &'static str {
    match rule.header.level.as_deref() {
        Some("critical" | "high") => "High",
        Some("medium") => "Medium",
        Some("low") => "Low",
        _ => "Informational",
    }
}

fn setting<'a>(settings: &'a IndexMap<String, String>, k: &str) -> Option<&'a str> {
    settings.get(k).map(|v| v.trim()).filter(|v| !v.is_empty())
}

fn severity_setting(settings: &IndexMap<String, String>) -> Result<Option<&'static str>, String> {
    match setting(settings, "severity") {
        None => Ok(None),
        Some(s) => ["Informational", "Low", "Medium", "High"]
            .into_iter()
            .find(|x| x.eq_ignore_ascii_case(s))
            .map(Some)
            .ok_or_else(|| {
                format!("severity `{s}` is not one of informational, low, medium, high")
            }),
    }
}

/// The description both products show: the rule's, else its title.
fn description(rule: &RuleIr) -> String {
    rule.header
        .get_str("description")
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .unwrap_or(&rule.header.title)
        .to_string()
}

fn table(rule: &RuleIr) -> Result<&str, String> {
    rule.state
        .get("kql_table")
        .map(String::as_str)
        .ok_or_else(|| "the rule has no KQL table".to_string())
}

/// A Sentinel ISO-8601-like duration as the Azure-Sentinel YAML writes it (`5m`, `1h`, `1d`),
/// in minutes; Sentinel runs rules every 5 minutes to 14 days over 5 minutes to 14 days.
fn minutes(key: &str, v: &str) -> Result<u64, String> {
    let bad = || format!("{key} `{v}` is not a duration from 5m to 14d (a number and m, h or d)");
    let unit = match v.chars().last() {
        Some('m') => 1,
        Some('h') => 60,
        Some('d') => 1440,
        _ => return Err(bad()),
    };
    let n: u64 = v[..v.len() - 1].parse().map_err(|_| bad())?;
    let m = n.checked_mul(unit).ok_or_else(bad)?;
    if !(5..=14 * 1440).contains(&m) {
        return Err(bad());
    }
    Ok(m)
}

/// Values of the `sentinel_rule` template.
pub(crate) fn sentinel(
    rule: &RuleIr,
    settings: &IndexMap<String, String>,
) -> Result<Value, String> {
    let id = rule
        .header
        .id
        .as_deref()
        .filter(|id| is_uuid(id))
        .ok_or("a Sentinel analytics rule needs the rule's `id` as a UUID")?;
    let table = table(rule)?;
    let frequency = setting(settings, "query_frequency").unwrap_or("1h");
    let period = setting(settings, "query_period").unwrap_or("1h");
    // Sentinel refuses a lookback shorter than the schedule (events between runs would be
    // missed).
    if minutes("query_period", period)? < minutes("query_frequency", frequency)? {
        return Err(format!(
            "query_period `{period}` is shorter than query_frequency `{frequency}`: events between runs would never be searched"
        ));
    }
    let operator = match setting(settings, "trigger_operator").unwrap_or("gt") {
        o @ ("gt" | "lt" | "eq" | "ne") => o,
        other => {
            return Err(format!(
                "trigger_operator `{other}` is not one of gt, lt, eq, ne"
            ));
        }
    };
    let threshold = match setting(settings, "trigger_threshold") {
        Some(t) => t
            .parse::<u32>()
            .map_err(|_| format!("trigger_threshold `{t}` is not a whole number"))?,
        None => 0,
    };
    let version = setting(settings, "version").unwrap_or("1.0.0");
    if version.split('.').count() != 3
        || !version
            .split('.')
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err(format!("version `{version}` is not MAJOR.MINOR.PATCH"));
    }
    let connector_ids: Vec<String> = match settings.get("data_connector") {
        // `--set data_connector=` means none.
        Some(v) => v
            .split(',')
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect(),
        None => connectors(table).into_iter().map(String::from).collect(),
    };
    let connectors: Vec<Value> = connector_ids
        .iter()
        .map(|c| json!({"connectorId": c, "dataTypes": [table]}))
        .collect();
    let (techniques, tactics) = attack(rule);
    let entity_mappings: Vec<Value> = entities(table)
        .into_iter()
        .map(|(kind, ids)| {
            json!({
                "entityType": kind,
                "fieldMappings": ids
                    .into_iter()
                    .map(|(identifier, column)| json!({"identifier": identifier, "columnName": column}))
                    .collect::<Vec<_>>(),
            })
        })
        .collect();
    Ok(json!({
        "id": id.to_ascii_lowercase(),
        "description": description(rule),
        "severity": severity_setting(settings)?.unwrap_or_else(|| severity(rule)),
        "required_data_connectors": connectors,
        "query_frequency": frequency,
        "query_period": period,
        "trigger_operator": operator,
        "trigger_threshold": threshold,
        "tactics": tactics,
        "relevant_techniques": techniques,
        "entity_mappings": entity_mappings,
        "version": version,
    }))
}

/// Values of the `defender_detection` template.
pub(crate) fn defender(
    rule: &RuleIr,
    settings: &IndexMap<String, String>,
) -> Result<Value, String> {
    let table = table(rule)?;
    // Custom detections alert on impacted assets, which only Defender's device tables name
    // (their DeviceId column); other tables' rules have nothing to attach an alert to.
    if !table.starts_with("Device") {
        return Err(format!(
            "a Defender XDR custom detection needs a Defender device table (DeviceId for the impacted device), not {table} (use -p microsoft_xdr)"
        ));
    }
    let period = match setting(settings, "period").unwrap_or("1H") {
        p @ ("0" | "1H" | "3H" | "12H" | "24H") => p,
        other => {
            return Err(format!(
                "period `{other}` is not one of 0 (continuous), 1H, 3H, 12H, 24H"
            ));
        }
    };
    let enabled = match setting(settings, "enabled").unwrap_or("true") {
        "true" => true,
        "false" => false,
        other => return Err(format!("enabled `{other}` is not true or false")),
    };
    let (techniques, tactics) = attack(rule);
    let category = match setting(settings, "category") {
        Some(c) => c.to_string(),
        // The first tactic, as Defender's own alerts are categorised; a rule without one is
        // suspicious activity.
        None => tactics.first().unwrap_or(&"SuspiciousActivity").to_string(),
    };
    let severity = severity_setting(settings)?
        .unwrap_or_else(|| severity(rule))
        .to_ascii_lowercase();
    let assets: Vec<Value> = impacted_assets(table)
        .into_iter()
        .map(|(kind, identifier)| {
            json!({"@odata.type": format!("#microsoft.graph.security.{kind}"), "identifier": identifier})
        })
        .collect();
    Ok(json!({
        "description": description(rule),
        "severity": severity,
        "category": category,
        "mitre_techniques": techniques,
        "impacted_assets": assets,
        "period": period,
        "enabled": enabled,
    }))
}

fn is_uuid(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.len() == 5
        && parts
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(p, n)| p.len() == n && p.bytes().all(|b| b.is_ascii_hexdigit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn techniques_and_sub_techniques() {
        assert!(is_technique("1059"));
        assert!(is_technique("1059.001"));
        assert!(!is_technique("1059.1"));
        assert!(!is_technique("a059"));
    }

    #[test]
    fn durations() {
        assert_eq!(minutes("k", "1h"), Ok(60));
        assert_eq!(minutes("k", "5m"), Ok(5));
        assert_eq!(minutes("k", "14d"), Ok(14 * 1440));
        assert!(minutes("k", "4m").is_err());
        assert!(minutes("k", "15d").is_err());
        assert!(minutes("k", "1w").is_err());
        assert!(minutes("k", "h").is_err());
    }
}
