//! Recognising a rule whose YAML lost its indentation (a copy-paste from a web page or chat):
//! `logsource:` and `detection:` stand empty and their children sit beside them at the top
//! level. Parsed as YAML, such a file is a flat map, often with duplicate keys, and every later
//! stage would report symptoms (empty `logsource`, duplicate `Image|endswith`, unknown keys)
//! instead of the one cause. This module works on the text lines, before the YAML parser, and
//! says which keys belong under which parent; [`reindent`] writes the indented text for
//! `sigc check --fix`.
//!
//! The test is strict so that valid YAML never trips it: a parent whose value is empty and
//! whose next significant line is a key at the same (zero) indentation is null in YAML, which
//! `logsource` and `detection` never legitimately are.

use std::sync::Arc;

use crate::diagnostic::{Code, Diagnostic};
use crate::source::{SourceFile, Span};

/// Top-level keys of rules, correlations and filters (v2.1, plus the common custom ones).
const TOP_LEVEL: &[&str] = &[
    "title",
    "id",
    "name",
    "related",
    "taxonomy",
    "status",
    "description",
    "license",
    "author",
    "references",
    "date",
    "modified",
    "logsource",
    "detection",
    "fields",
    "falsepositives",
    "level",
    "tags",
    "scope",
    "correlation",
    "filter",
    "generate",
];

/// What one line of a flattened document is, and so how deep it belongs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    /// A top-level key, or a list item / comment where it stands.
    Top,
    /// Directly under `logsource:` or `detection:` (a log-source key, a search identifier,
    /// `condition`).
    Child,
    /// A field of a search identifier.
    Field,
    Blank,
}

/// One document of a file whose YAML lost its indentation.
#[derive(Debug)]
pub struct Flattened {
    /// Byte span of the document's text.
    pub span: Span,
    pub title: Option<String>,
    pub id: Option<String>,
    pub diagnostics: Vec<Diagnostic>,
}

struct Line<'a> {
    start: usize,
    text: &'a str,
}

impl Line<'_> {
    fn indent(&self) -> usize {
        self.text.len() - self.text.trim_start().len()
    }

    fn significant(&self) -> bool {
        let t = self.text.trim();
        !t.is_empty() && !t.starts_with('#')
    }

    fn is_item(&self) -> bool {
        self.text.trim_start().starts_with('-')
    }

    /// `key` and whether its value is empty, for a `key:` or `key: value` line.
    fn key(&self) -> Option<(&str, bool)> {
        if self.is_item() || !self.significant() {
            return None;
        }
        let t = self.text.trim();
        let (key, rest) = match t.find(": ") {
            Some(i) => (&t[..i], t[i + 2..].trim()),
            None => (t.strip_suffix(':')?, ""),
        };
        let key = key.trim_matches(['\'', '"']);
        let empty = rest.is_empty() || rest.starts_with('#');
        Some((key, empty))
    }
}

fn split_lines(text: &str) -> Vec<Line<'_>> {
    let mut out = Vec::new();
    let mut start = 0;
    for piece in text.split_inclusive('\n') {
        out.push(Line {
            start,
            text: piece.trim_end_matches(['\n', '\r']),
        });
        start += piece.len();
    }
    out
}

/// Documents of the file that are flattened; empty when none is (the usual case).
pub fn detect(file: &Arc<SourceFile>) -> Vec<Flattened> {
    let lines = split_lines(&file.text);
    documents(&lines)
        .into_iter()
        .filter_map(|doc| check_document(file, doc))
        .collect()
}

/// The file's text with every flattened document indented (4 spaces a level); other
/// documents are kept as they are. `None` when nothing is flattened.
pub fn reindent(text: &str) -> Option<String> {
    let lines = split_lines(text);
    let mut out = String::with_capacity(text.len() + text.len() / 4);
    let mut changed = false;
    for doc in documents(&lines) {
        let roles = roles(doc);
        let flat = roles.as_ref().is_some_and(|(_, flat)| !flat.is_empty());
        for (i, line) in doc.iter().enumerate() {
            let depth = match (&roles, flat) {
                (Some((roles, _)), true) if line.indent() == 0 => match roles[i] {
                    Role::Top | Role::Blank => 0,
                    Role::Child => 1,
                    Role::Field => 2,
                },
                _ => 0,
            };
            // A list item goes one level below the key it belongs to.
            let item_extra = usize::from(flat && line.is_item() && line.indent() == 0);
            let pad = 4 * (depth + item_extra);
            changed |= pad > 0;
            out.push_str(&" ".repeat(pad));
            out.push_str(line.text);
            out.push('\n');
        }
    }
    changed.then_some(out)
}

/// Split the lines into documents at `---` separators (the separators stay with no document;
/// [`reindent`] writes them back as their own one-line documents).
fn documents<'a, 'b>(lines: &'b [Line<'a>]) -> Vec<&'b [Line<'a>]> {
    let mut out = Vec::new();
    let mut begin = 0;
    for (i, l) in lines.iter().enumerate() {
        if l.text == "---" || l.text.starts_with("--- ") {
            out.push(&lines[begin..i]);
            out.push(&lines[i..=i]);
            begin = i + 1;
        }
    }
    out.push(&lines[begin..]);
    out
}

/// The role of every line, and the indices of the parents found flattened. `None` for a
/// document with no `logsource:`/`detection:` at column 0.
fn roles(doc: &[Line]) -> Option<(Vec<Role>, Vec<usize>)> {
    let next_significant = |i: usize| doc[i + 1..].iter().find(|l| l.significant());
    let mut roles = vec![Role::Blank; doc.len()];
    let mut flat_parents = Vec::new();
    // The open section (`logsource` or `detection`) and whether a search identifier is open.
    let mut section: Option<&str> = None;
    let mut in_search = false;
    let mut seen_structural = false;
    for (i, line) in doc.iter().enumerate() {
        if !line.significant() {
            // Comments take the depth of what follows them.
            roles[i] = Role::Blank;
            continue;
        }
        if line.indent() > 0 {
            roles[i] = Role::Top;
            continue;
        }
        if line.is_item() {
            roles[i] = match (section, in_search) {
                (Some("detection"), true) => Role::Field,
                (Some(_), _) => Role::Child,
                (None, _) => Role::Top,
            };
            continue;
        }
        let Some((key, empty)) = line.key() else {
            roles[i] = Role::Top;
            continue;
        };
        if TOP_LEVEL.contains(&key) {
            roles[i] = Role::Top;
            section = None;
            in_search = false;
            if matches!(key, "logsource" | "detection") {
                seen_structural = true;
                let next_is_flat_key =
                    empty && next_significant(i).is_some_and(|n| n.indent() == 0 && !n.is_item());
                if next_is_flat_key {
                    section = Some(if key == "logsource" {
                        "logsource"
                    } else {
                        "detection"
                    });
                    flat_parents.push(i);
                }
            }
            continue;
        }
        roles[i] = match section {
            None => Role::Top,
            Some("logsource") => Role::Child,
            Some(_) if key == "condition" => {
                in_search = false;
                Role::Child
            }
            Some(_) => {
                let next_is_key =
                    next_significant(i).is_some_and(|n| n.indent() == 0 && !n.is_item());
                let opens_search = empty && (next_is_key || !in_search) && !key.contains('|');
                if opens_search {
                    in_search = true;
                    Role::Child
                } else if in_search {
                    Role::Field
                } else {
                    Role::Child
                }
            }
        };
    }
    // Comments and blank lines take the role of the next significant line.
    for i in (0..doc.len()).rev() {
        if roles[i] == Role::Blank && doc[i].text.trim().starts_with('#') {
            roles[i] = roles.get(i + 1).copied().unwrap_or(Role::Top);
            if roles[i] == Role::Blank {
                roles[i] = Role::Top;
            }
        }
    }
    seen_structural.then_some((roles, flat_parents))
}

fn check_document(file: &Arc<SourceFile>, doc: &[Line]) -> Option<Flattened> {
    let (roles, parents) = roles(doc)?;
    if parents.is_empty() {
        return None;
    }
    let mut diagnostics = Vec::new();
    let key_span = |line: &Line| {
        let len = line.key().map_or(1, |(k, _)| k.len());
        Span::new(line.start, line.start + len)
    };
    for &p in &parents {
        let parent = &doc[p];
        let Some((parent_key, _)) = parent.key() else {
            continue;
        };
        // The children: lines after the parent up to the next top-level key.
        let end = (p + 1..doc.len())
            .find(|&i| roles[i] == Role::Top && doc[i].key().is_some())
            .unwrap_or(doc.len());
        let children: Vec<usize> = (p + 1..end)
            .filter(|&i| roles[i] == Role::Child && doc[i].key().is_some())
            .collect();
        let names: Vec<String> = children
            .iter()
            .filter_map(|&i| doc[i].key().map(|(k, _)| format!("`{k}`")))
            .collect();
        diagnostics.push(
            Diagnostic::error(
                Code::FlattenedYaml,
                format!(
                    "`{parent_key}:` is empty: the keys after it ({}) belong under it, but the YAML lost its indentation",
                    names.join(", ")
                ),
            )
            .with_help(format!(
                "indent {} by four spaces under `{parent_key}:`; `sigc check --fix` re-indents the file",
                names.join(", ")
            ))
            .at(file, key_span(parent)),
        );
        if parent_key != "detection" {
            continue;
        }
        for (n, &c) in children.iter().enumerate() {
            let stop = children.get(n + 1).copied().unwrap_or(end);
            let fields: Vec<String> = (c + 1..stop)
                .filter(|&i| roles[i] == Role::Field && doc[i].key().is_some())
                .filter_map(|i| doc[i].key().map(|(k, _)| format!("`{k}`")))
                .collect();
            let Some((search, _)) = doc[c].key() else {
                continue;
            };
            if fields.is_empty() {
                continue;
            }
            diagnostics.push(
                Diagnostic::error(
                    Code::FlattenedYaml,
                    format!(
                        "{} {} under search identifier `{search}:`, which is empty",
                        fields.join(", "),
                        if fields.len() == 1 { "belongs" } else { "belong" }
                    ),
                )
                .with_help(format!(
                    "indent `{search}:` one level under `detection:`, and its fields one level under `{search}:`"
                ))
                .at(file, key_span(&doc[c])),
            );
        }
    }
    let scalar = |key: &str| {
        doc.iter().find_map(|l| match l.key() {
            Some((k, false)) if k == key && l.indent() == 0 => l
                .text
                .split_once(':')
                .map(|(_, v)| v.trim().trim_matches(['\'', '"']).to_string()),
            _ => None,
        })
    };
    let first = doc.first().map_or(0, |l| l.start);
    let last = doc.last().map_or(first, |l| l.start + l.text.len());
    Some(Flattened {
        span: Span::new(first, last),
        title: scalar("title"),
        id: scalar("id"),
        diagnostics,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const FLAT: &str = "title: t\nlogsource:\ncategory: process_creation\nproduct: windows\ndetection:\nsel:\nImage|endswith:\n- '\\a.exe'\n- '\\b.exe'\ncondition: sel\nlevel: high\n";

    #[test]
    fn a_flattened_rule_is_found_and_explained() {
        let file = SourceFile::new("t.yml", FLAT.to_string());
        let found = detect(&file);
        assert_eq!(found.len(), 1);
        let d = &found[0].diagnostics;
        assert_eq!(d.len(), 3, "{d:#?}");
        assert_eq!(d[0].line_col(), Some((2, 1)));
        assert!(d[0].message.contains("`category`, `product`"));
        assert!(d[1].message.contains("`sel`, `condition`"));
        assert!(d[2].message.contains("`Image|endswith`"));
        assert_eq!(found[0].title.as_deref(), Some("t"));
    }

    #[test]
    fn indented_rules_are_not_flattened() {
        let text =
            "title: t\nlogsource:\n  category: x\ndetection:\n  sel:\n    a: 1\n  condition: sel\n";
        assert!(detect(&SourceFile::new("t.yml", text.to_string())).is_empty());
        assert!(reindent(text).is_none());
    }

    #[test]
    fn reindented_text_nests_every_key() {
        let fixed = reindent(FLAT).unwrap();
        assert_eq!(
            fixed,
            "title: t\nlogsource:\n    category: process_creation\n    product: windows\ndetection:\n    sel:\n        Image|endswith:\n            - '\\a.exe'\n            - '\\b.exe'\n    condition: sel\nlevel: high\n"
        );
        assert!(detect(&SourceFile::new("t.yml", fixed)).is_empty());
    }
}
