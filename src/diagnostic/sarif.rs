//! SARIF 2.1.0 output (`check --format sarif`): one run whose rules are the diagnostic codes
//! and whose results are the diagnostics, so GitHub code scanning shows them inline on a pull
//! request. Lines and columns are 1-based and count characters (SARIF's default
//! `unicodeCodePoints`), as in the text output.

use serde_json::{Value, json};

use super::{Code, Diagnostic, Severity};

const SCHEMA: &str = "https://json.schemastore.org/sarif-2.1.0.json";

fn level(s: Severity) -> &'static str {
    match s {
        Severity::Error => "error",
        Severity::Warning => "warning",
    }
}

fn rule(c: Code) -> Value {
    let default = if c.as_str().starts_with('E') {
        "error"
    } else {
        "warning"
    };
    json!({
        "id": c.as_str(),
        "name": c.name(),
        "shortDescription": { "text": c.summary() },
        "fullDescription": { "text": c.summary() },
        "help": { "text": format!("sigc explain {}", c.as_str()) },
        "defaultConfiguration": { "level": default },
    })
}

fn result(d: &Diagnostic, rules: &[Code]) -> Value {
    let rule_index = rules.iter().position(|c| *c == d.code).unwrap_or(0);
    let text = match &d.help {
        Some(h) => format!("{}\nhelp: {h}", d.message),
        None => d.message.clone(),
    };
    let mut r = json!({
        "ruleId": d.code.as_str(),
        "ruleIndex": rule_index,
        "level": level(d.severity),
        "message": { "text": text },
    });
    if let (Some(loc), Some(obj)) = (&d.location, r.as_object_mut()) {
        let (line, col) = loc.file.line_col(loc.span.start);
        // The region ends on the span's first line, as the caret in the text output does.
        let (end_line, end_col) = loc.file.line_col(loc.span.end.max(loc.span.start + 1));
        let (end_line, end_col) = if end_line == line {
            (end_line, end_col.max(col + 1))
        } else {
            (line, loc.file.line_text(line).chars().count().max(col) + 1)
        };
        obj.insert(
            "locations".into(),
            json!([{
                "physicalLocation": {
                    "artifactLocation": { "uri": uri(&loc.file.path) },
                    "region": {
                        "startLine": line,
                        "startColumn": col,
                        "endLine": end_line,
                        "endColumn": end_col,
                    }
                }
            }]),
        );
    }
    r
}

/// A relative URI reference for a path as the user gave it (SARIF wants `/` separators and
/// percent-escapes for characters outside the URI grammar).
fn uri(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for b in path.replace('\\', "/").bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/:@!$&'()*+,;=".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The whole SARIF log for a run over these diagnostics. The driver lists the codes that
/// occur, in table order.
pub fn log(diags: &[Diagnostic]) -> Value {
    let rules: Vec<Code> = Code::ALL
        .iter()
        .copied()
        .filter(|c| diags.iter().any(|d| d.code == *c))
        .collect();
    json!({
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {
                "driver": {
                    "name": "sigc",
                    "version": env!("CARGO_PKG_VERSION"),
                    "rules": rules.iter().map(|c| rule(*c)).collect::<Vec<_>>(),
                }
            },
            "columnKind": "unicodeCodePoints",
            "results": diags.iter().map(|d| result(d, &rules)).collect::<Vec<_>>(),
        }]
    })
}
