//! `sigc check`: load and lower, report every diagnostic, exit 1 if any document failed.

use std::io::Write;

use super::Format;
use crate::diagnostic::{Diagnostic, render};
use crate::load::{self, Doc};

pub(crate) fn run(format: Format, paths: &[String]) -> u8 {
    let set = load::load(&super::inputs(paths));
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut failed = 0;
    let mut warnings = 0;
    for doc in &set.docs {
        if doc.failed() {
            failed += 1;
        }
        warnings += doc.diagnostics.iter().filter(|d| !d.is_error()).count();
        let _ = match format {
            Format::Json => writeln!(out, "{}", doc_json(doc)),
            Format::Text => doc
                .diagnostics
                .iter()
                .try_for_each(|d| writeln!(out, "{}", render::text(d))),
        };
    }
    if format == Format::Text {
        let total = set.docs.len();
        let _ = writeln!(
            out,
            "checked {total} document{}: {} ok, {failed} with errors, {warnings} warning{}",
            if total == 1 { "" } else { "s" },
            total - failed,
            if warnings == 1 { "" } else { "s" },
        );
    }
    let _ = out.flush();
    u8::from(failed > 0)
}

/// The `check --format json` object for one document.
pub(crate) fn doc_json(doc: &Doc) -> serde_json::Value {
    serde_json::json!({
        "path": doc.path,
        "index": doc.index,
        "id": doc.id,
        "title": doc.title,
        "kind": doc.kind,
        "status": if doc.failed() { "error" } else { "ok" },
        "diagnostics": doc.diagnostics.iter().map(render::json).collect::<Vec<_>>(),
    })
}

/// Print a document's diagnostics to stderr (for commands whose stdout is data).
pub(crate) fn report_to_stderr(diags: &[Diagnostic]) {
    let stderr = std::io::stderr();
    let mut err = stderr.lock();
    for d in diags {
        let _ = writeln!(err, "{}", render::text(d));
    }
}
