//! The one diagnostic type every stage reports with (ruff's model): a stable [`Code`], a
//! severity, a message, an optional `help:` line and the file and byte span it points at.
//! Renderers in [`render`] turn the same value into text or JSON.

mod codes;
pub mod render;
pub mod sarif;

use std::sync::Arc;

pub use codes::Code;

use crate::source::{SourceFile, Span};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Warning,
    Error,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }
}

/// Where a diagnostic points: a file and a byte span inside it.
#[derive(Debug, Clone)]
pub struct Location {
    pub file: Arc<SourceFile>,
    pub span: Span,
}

#[derive(Debug, Clone)]
pub struct Diagnostic {
    pub code: Code,
    pub severity: Severity,
    pub message: String,
    pub help: Option<String>,
    pub location: Option<Location>,
}

impl Diagnostic {
    pub fn error(code: Code, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            code,
            severity: Severity::Error,
            message: message.into(),
            help: None,
            location: None,
        }
    }

    pub fn warning(code: Code, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            severity: Severity::Warning,
            ..Diagnostic::error(code, message)
        }
    }

    pub fn with_help(mut self, help: impl Into<String>) -> Diagnostic {
        self.help = Some(help.into());
        self
    }

    pub fn at(mut self, file: &Arc<SourceFile>, span: Span) -> Diagnostic {
        self.location = Some(Location {
            file: file.clone(),
            span,
        });
        self
    }

    /// Attach a location only if the diagnostic has none yet (inner stages know better).
    pub fn or_at(self, file: &Arc<SourceFile>, span: Span) -> Diagnostic {
        if self.location.is_some() {
            self
        } else {
            self.at(file, span)
        }
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// 1-based line and column, when the diagnostic has a location.
    pub fn line_col(&self) -> Option<(usize, usize)> {
        self.location
            .as_ref()
            .map(|l| l.file.line_col(l.span.start))
    }
}

impl std::fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some(loc) = &self.location {
            let (line, col) = loc.file.line_col(loc.span.start);
            write!(f, "{}:{}:{}: ", loc.file.path, line, col)?;
        }
        write!(
            f,
            "{}[{}]: {}",
            self.severity.as_str(),
            self.code.as_str(),
            self.message
        )
    }
}

impl std::error::Error for Diagnostic {}

/// The candidate closest to `word` within two edits (Levenshtein), for "did you mean" hints on
/// short names; ties go to the alphabetically first.
pub fn closest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| (edit_distance(word, c), c))
        .min()
        .filter(|(d, _)| *d <= 2)
        .map(|(_, c)| c)
}

/// Levenshtein distance with adjacent transpositions counted as one edit (optimal string
/// alignment): `outptus` is one edit from `outputs`.
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut rows = vec![(0..=b.len()).collect::<Vec<usize>>()];
    for i in 1..=a.len() {
        let mut cur = vec![i; b.len() + 1];
        for j in 1..=b.len() {
            let prev = &rows[i - 1];
            let mut d = (prev[j - 1] + usize::from(a[i - 1] != b[j - 1]))
                .min(prev[j] + 1)
                .min(cur[j - 1] + 1);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                d = d.min(rows[i - 2][j - 2] + 1);
            }
            cur[j] = d;
        }
        rows.push(cur);
    }
    rows[a.len()][b.len()]
}

/// Shorthand used by every stage: most functions fail with exactly one diagnostic.
pub type Result<T, E = Diagnostic> = std::result::Result<T, E>;
