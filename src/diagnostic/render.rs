//! Renderers: the same [`Diagnostic`] as rustc-style text or as a JSON value.

use std::fmt::Write;

use super::Diagnostic;

/// rustc-style text: header, `--> file:line:col`, the source line with a caret, then `help:`.
pub fn text(d: &Diagnostic) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{}[{}]: {}",
        d.severity.as_str(),
        d.code.as_str(),
        d.message
    );
    if let Some(loc) = &d.location {
        let (line, col) = loc.file.line_col(loc.span.start);
        let src = loc.file.line_text(line);
        let gutter = line.to_string().len();
        let pad = " ".repeat(gutter);
        let _ = writeln!(out, "{pad}--> {}:{line}:{col}", loc.file.path);
        if !src.is_empty() {
            // The caret covers the span, clipped to the end of its first line.
            let width = src.chars().count().saturating_sub(col - 1);
            let span_chars = loc
                .file
                .text
                .get(loc.span.start as usize..loc.span.end as usize)
                .map_or(1, |s| s.chars().take_while(|&c| c != '\n').count());
            let carets = "^".repeat(span_chars.clamp(1, width.max(1)));
            let _ = writeln!(out, "{pad} |");
            let _ = writeln!(out, "{line} | {src}");
            let _ = writeln!(out, "{pad} | {}{carets}", " ".repeat(col - 1));
        }
    }
    if let Some(help) = &d.help {
        let pad = d
            .location
            .as_ref()
            .map_or(0, |l| l.file.line_col(l.span.start).0.to_string().len());
        let _ = writeln!(out, "{} = help: {help}", " ".repeat(pad));
    }
    out
}

/// The JSON object of the `check --format json` contract: code, severity, message, line, column
/// (and help when there is one).
pub fn json(d: &Diagnostic) -> serde_json::Value {
    let (line, column) = d.line_col().unwrap_or((0, 0));
    let mut v = serde_json::json!({
        "code": d.code.as_str(),
        "severity": d.severity.as_str(),
        "message": d.message,
        "line": line,
        "column": column,
    });
    if let (Some(help), Some(obj)) = (&d.help, v.as_object_mut()) {
        obj.insert("help".into(), help.clone().into());
    }
    if let (Some(loc), Some(obj)) = (&d.location, v.as_object_mut()) {
        obj.insert("path".into(), loc.file.path.clone().into());
    }
    v
}
