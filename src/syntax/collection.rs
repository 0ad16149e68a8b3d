//! Legacy multi-document collections: `action: global` sets a template merged into every
//! following document, `action: reset` clears it, and `action: repeat` re-uses the previous
//! document with this one's keys merged over it (as pySigma's `SigmaCollection` does).

use crate::diagnostic::{Code, Diagnostic};
use crate::source::SourceFile;
use crate::yaml::{Node, NodeKind};

/// Apply collection actions. Documents that are only an action (global/reset) disappear.
pub fn apply_actions(
    file: &std::sync::Arc<SourceFile>,
    docs: Vec<Node>,
) -> Result<Vec<Node>, Diagnostic> {
    let mut global: Option<Node> = None;
    let mut out: Vec<Node> = Vec::with_capacity(docs.len());
    for doc in docs {
        let action = doc
            .entry("action")
            .and_then(|(k, v)| Some((k.span, v.as_str()?.to_string())));
        let Some((span, action)) = action else {
            let merged = match &global {
                Some(g) => merge(g, &doc),
                None => doc,
            };
            out.push(merged);
            continue;
        };
        let rest = without_key(&doc, "action");
        match action.as_str() {
            "global" => global = Some(rest),
            "reset" => global = None,
            "repeat" => {
                let Some(prev) = out.last() else {
                    return Err(Diagnostic::error(
                        Code::BadAction,
                        "`action: repeat` has no previous document to repeat",
                    )
                    .at(file, span));
                };
                let merged = merge(prev, &rest);
                out.push(merged);
            }
            other => {
                return Err(Diagnostic::error(
                    Code::BadAction,
                    format!("unknown collection action `{other}`"),
                )
                .with_help("use `global`, `reset` or `repeat`")
                .at(file, span));
            }
        }
    }
    Ok(out)
}

fn without_key(node: &Node, key: &str) -> Node {
    let mut n = node.clone();
    if let NodeKind::Map(entries) = &mut n.kind {
        entries.retain(|(k, _)| k.scalar_text() != Some(key));
    }
    n
}

/// Deep-merge `over` onto `base`: maps merge key by key, anything else is replaced.
fn merge(base: &Node, over: &Node) -> Node {
    match (&base.kind, &over.kind) {
        (NodeKind::Map(b), NodeKind::Map(o)) => {
            let mut entries = b.clone();
            for (ok, ov) in o {
                match entries.iter_mut().find(|(bk, _)| {
                    bk.scalar_text().is_some() && bk.scalar_text() == ok.scalar_text()
                }) {
                    Some((_, bv)) => *bv = merge(bv, ov),
                    None => entries.push((ok.clone(), ov.clone())),
                }
            }
            Node {
                span: over.span,
                kind: NodeKind::Map(entries),
            }
        }
        _ => over.clone(),
    }
}
