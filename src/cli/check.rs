//! `sigc check`: load and lower, run the lints, report every diagnostic; exit 1 if any
//! document has an error (or, with `--deny warnings`, a warning).

use std::io::Write;

use rayon::prelude::*;

use super::CheckFormat as Format;
use crate::diagnostic::{Code, Diagnostic, render, sarif};
use crate::load::{self, Doc, Input};

/// What `sigc check` was asked to do besides reporting.
pub(crate) struct Options {
    pub format: Format,
    pub deny_warnings: bool,
    pub fix: bool,
}

pub(crate) fn run(opts: &Options, paths: &[String]) -> u8 {
    if opts.fix {
        fix(paths);
    }
    let set = load::load(&super::inputs(paths));
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut failed = 0;
    let mut warnings = 0;
    let mut all: Vec<Diagnostic> = Vec::new();
    // Lint in parallel (documents are independent); report in input order.
    let per_doc: Vec<Vec<Diagnostic>> =
        set.docs.par_iter().map(crate::check::diagnostics).collect();
    for (doc, diags) in set.docs.iter().zip(per_doc) {
        let doc_failed = doc.failed() || diags.iter().any(Diagnostic::is_error);
        failed += usize::from(doc_failed);
        warnings += diags.iter().filter(|d| !d.is_error()).count();
        let _ = match opts.format {
            Format::Json => writeln!(out, "{}", doc_json_with(doc, &diags, doc_failed)),
            Format::Text => diags
                .iter()
                .try_for_each(|d| writeln!(out, "{}", render::text(d))),
            Format::Sarif => {
                all.extend(diags);
                Ok(())
            }
        };
    }
    match opts.format {
        Format::Text => {
            let total = set.docs.len();
            let _ = writeln!(
                out,
                "checked {total} document{}: {} ok, {failed} with errors, {warnings} warning{}",
                if total == 1 { "" } else { "s" },
                total - failed,
                if warnings == 1 { "" } else { "s" },
            );
        }
        Format::Sarif => {
            let log = sarif::log(&all);
            let _ = writeln!(
                out,
                "{}",
                serde_json::to_string_pretty(&log).unwrap_or_default()
            );
        }
        Format::Json => {}
    }
    let _ = out.flush();
    u8::from(failed > 0 || (opts.deny_warnings && warnings > 0))
}

/// The `check --format json` object for one document.
fn doc_json_with(doc: &Doc, diags: &[Diagnostic], failed: bool) -> serde_json::Value {
    serde_json::json!({
        "path": doc.path,
        "index": doc.index,
        "id": doc.id,
        "title": doc.title,
        "kind": doc.kind,
        "status": if failed { "error" } else { "ok" },
        "diagnostics": diags.iter().map(render::json).collect::<Vec<_>>(),
    })
}

/// `--fix`: rewrite in place what has one right answer: a file whose YAML lost its
/// indentation is re-indented, and v1 `YYYY/MM/DD` dates become `YYYY-MM-DD`.
fn fix(paths: &[String]) {
    for input in load::expand(&super::inputs(paths)).into_iter().flatten() {
        let Input::Path(path) = input else { continue };
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        let fixed = crate::check::migrate::fix_text(&text);
        if fixed != text {
            match std::fs::write(&path, fixed) {
                Ok(()) => errln!("fixed {}", path.display()),
                Err(e) => errln!("{}: {e}", path.display()),
            }
        }
    }
}

/// `sigc explain CODE`: what a code means.
pub(crate) fn explain(code: &str) -> u8 {
    let Some(c) = Code::ALL
        .iter()
        .find(|c| c.as_str().eq_ignore_ascii_case(code) || c.name() == code)
    else {
        errln!("error: no diagnostic code `{code}`; `sigc list codes` lists them");
        return 2;
    };
    let severity = if c.as_str().starts_with('E') {
        "error"
    } else {
        "warning"
    };
    outln!(
        "{} ({}, {severity})\n\n{}",
        c.as_str(),
        c.name(),
        c.summary()
    );
    if let Some(more) = crate::check::explanation(*c) {
        outln!("\n{more}");
    }
    0
}

/// `sigc migrate PATH`: print (or write) the migrated file; exit 1 if it still has errors.
pub(crate) fn migrate(path: &str, output: Option<&str>) -> u8 {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => {
            errln!("error: {path}: {e}");
            return 2;
        }
    };
    let migrated = match crate::check::migrate::migrate_text(path, &text) {
        Ok(m) => m,
        Err(e) => {
            errln!("error: {path}: cannot migrate: {e}");
            return 1;
        }
    };
    // What the migration could not fix is reported, and fails the exit code.
    let set = load::load_text(output.unwrap_or(path), &migrated);
    let mut left = 0;
    for doc in &set.docs {
        for d in crate::check::diagnostics(doc)
            .iter()
            .filter(|d| d.is_error())
        {
            errln!("{}", render::text(d));
            left += 1;
        }
    }
    let written = match output {
        Some(o) => std::fs::write(o, &migrated).map_err(|e| format!("{o}: {e}")),
        None => std::io::stdout()
            .write_all(migrated.as_bytes())
            .map_err(|e| e.to_string()),
    };
    if let Err(e) = written {
        errln!("error: {e}");
        return 2;
    }
    u8::from(left > 0)
}

/// Print a document's diagnostics to stderr (for commands whose stdout is data).
pub(crate) fn report_to_stderr(diags: &[Diagnostic]) {
    let stderr = std::io::stderr();
    let mut err = stderr.lock();
    for d in diags {
        let _ = writeln!(err, "{}", render::text(d));
    }
}
