//! `W011 suspicious-value`: a value that cannot be what its field holds. File-name fields
//! (`OriginalFileName`, `Image`, ...) hold names like `wsmprovhost.exe`; a value with spaces and
//! no dot, such as `Host process for WinRM plug-ins`, is the product description that Windows
//! shows beside it, and never matches. The description lives in the `Description` field.

use super::LintCx;
use crate::diagnostic::{Code, Diagnostic};
use crate::syntax::ast::{Modifier, Value};

/// Fields whose value is a file name or path.
const FILE_FIELDS: &[&str] = &[
    "OriginalFileName",
    "ParentOriginalFileName",
    "Image",
    "ParentImage",
    "ImageLoaded",
    "SourceImage",
    "TargetImage",
];

/// Two or more words of letters, and nothing a path or placeholder has (`.`, `\\`, `/`,
/// wildcards, `<unknown process>`).
fn looks_like_prose(s: &str) -> bool {
    let words = s
        .split(' ')
        .filter(|w| w.chars().any(char::is_alphabetic))
        .count();
    words >= 2 && !s.contains(['.', '\\', '/', '*', '?', '<', '>'])
}

pub(crate) fn check(cx: &mut LintCx) {
    let mut found = Vec::new();
    for item in cx.items() {
        let Some(field) = &item.item.field else {
            continue;
        };
        if !FILE_FIELDS.contains(&field.node.as_str()) {
            continue;
        }
        // Only anchored matches: `contains` may well look for a word inside a path.
        let anchored_end = item
            .item
            .modifiers
            .iter()
            .all(|m| matches!(m.node, Modifier::EndsWith | Modifier::All | Modifier::Cased));
        if !anchored_end {
            continue;
        }
        let descriptions: Vec<_> = item
            .item
            .values
            .iter()
            .filter_map(|v| match &v.node {
                Value::Str(s) if looks_like_prose(s) => Some((s, v.span)),
                _ => None,
            })
            .collect();
        // One finding per item: the first such value, and how many more there are.
        if let Some((s, span)) = descriptions.first() {
            let more = match descriptions.len() - 1 {
                0 => String::new(),
                1 => " (and 1 more value)".to_string(),
                n => format!(" (and {n} more values)"),
            };
            {
                found.push((
                    *span,
                    Diagnostic::warning(
                        Code::SuspiciousValue,
                        format!(
                            "`{s}`{more} looks like a product description, not a file name: `{}` holds names such as `wsmprovhost.exe`",
                            field.node
                        ),
                    )
                    .with_help(format!(
                        "match the file name in `{}`, or the text in the `Description` field",
                        field.node
                    )),
                ));
            }
        }
    }
    for (span, d) in found {
        cx.report(d, span);
    }
}
