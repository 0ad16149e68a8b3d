//! Loading a rule set: files and folders → YAML → syntax trees → IR, with correlation
//! references resolved and meta filters applied. Every document gets a report; a bad one never
//! stops the others. The result is immutable, so one load serves many targets.

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rayon::prelude::*;

use crate::diagnostic::{Code, Diagnostic};
use crate::ir::Expr;
use crate::ir::correlation::lower_correlation;
use crate::ir::lower::lower_detection;
use crate::ir::rule::*;
use crate::source::{SourceFile, Span};
use crate::syntax::ast::{self, Body, Document, FilterRules};
use crate::syntax::collection::apply_actions;
use crate::syntax::document::{Ctx, parse_document};
use crate::syntax::flattened;
use crate::yaml;

/// Largest file sigc reads. Sigma files are kilobytes; this bounds time and memory on
/// anything else.
pub const MAX_FILE_BYTES: u64 = 16 * 1024 * 1024;

#[derive(Debug, Clone)]
pub enum Item {
    Rule(Arc<RuleIr>),
    Correlation(Arc<CorrelationIr>),
    Filter(Arc<FilterIr>),
}

/// One document of the input and what became of it.
#[derive(Debug)]
pub struct Doc {
    pub path: String,
    /// Index of the document in its file.
    pub index: usize,
    pub id: Option<String>,
    pub title: Option<String>,
    /// `rule`, `correlation`, `filter`, or `unknown` when the file could not be read.
    pub kind: &'static str,
    pub diagnostics: Vec<Diagnostic>,
    pub item: Option<Item>,
    ast: Option<Document>,
    /// The syntax tree of a document that had errors, as far as it was built.
    partial: Option<Document>,
}

impl Doc {
    /// The syntax tree, when the document parsed.
    pub fn ast(&self) -> Option<&Document> {
        self.ast.as_ref()
    }

    /// The syntax tree, or as much of it as was built when the document had errors.
    pub fn ast_or_partial(&self) -> Option<&Document> {
        self.ast.as_ref().or(self.partial.as_ref())
    }

    pub fn failed(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error) || self.item.is_none()
    }
}

#[derive(Debug, Default)]
pub struct RuleSet {
    pub docs: Vec<Doc>,
}

impl RuleSet {
    pub fn rules(&self) -> impl Iterator<Item = &Arc<RuleIr>> {
        self.docs.iter().filter_map(|d| match &d.item {
            Some(Item::Rule(r)) => Some(r),
            _ => None,
        })
    }

    pub fn has_errors(&self) -> bool {
        self.docs.iter().any(Doc::failed)
    }

    /// A display name for the document at `i` (title, else id).
    pub fn name_of(&self, i: usize) -> String {
        self.docs
            .get(i)
            .and_then(|d| d.title.clone().or_else(|| d.id.clone()))
            .unwrap_or_else(|| format!("#{i}"))
    }
}

/// One input: a path (file or folder) or standard input.
#[derive(Debug, Clone)]
pub enum Input {
    Path(PathBuf),
    Stdin,
}

impl Input {
    pub fn parse(arg: &str) -> Input {
        if arg == "-" {
            Input::Stdin
        } else {
            Input::Path(PathBuf::from(arg))
        }
    }
}

/// Expand folders into their `*.yml`/`*.yaml` files, sorted so output order is stable. A rule's
/// test file (`<rule>.tests.yml`, read by `sigc test`) is not a rule and is passed over; named
/// on its own it is loaded like any file. So are a rule repository's `sigc.yml` and the output
/// tree `sigc build` writes (a folder holding its `manifest.tsv`), whose YAML files are
/// generated queries, not rules.
pub fn expand(inputs: &[Input]) -> Vec<Result<Input, Diagnostic>> {
    let mut out = Vec::new();
    for input in inputs {
        match input {
            Input::Stdin => out.push(Ok(Input::Stdin)),
            Input::Path(p) if p.is_dir() => {
                let mut files = Vec::new();
                walk(p, &mut files, &mut out);
                files.sort();
                out.extend(files.into_iter().map(|f| Ok(Input::Path(f))));
            }
            Input::Path(p) if p.exists() => out.push(Ok(Input::Path(p.clone()))),
            Input::Path(p) => out.push(Err(Diagnostic::error(
                Code::Io,
                format!("{}: no such file or folder", p.display()),
            ))),
        }
    }
    out
}

fn walk(dir: &Path, files: &mut Vec<PathBuf>, errors: &mut Vec<Result<Input, Diagnostic>>) {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) => {
            errors.push(Err(Diagnostic::error(
                Code::Io,
                format!("{}: {e}", dir.display()),
            )));
            return;
        }
    };
    if is_build_output(dir) {
        return;
    }
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            walk(&path, files, errors);
        } else if matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("yml" | "yaml")
        ) && !is_rule_tests(&path)
            && path.file_name().and_then(|n| n.to_str()) != Some("sigc.yml")
        {
            files.push(path);
        }
    }
}

/// The first line of the manifest `sigc build` writes at the top of its output tree.
pub const MANIFEST_HEADER: &str = "path\tindex\tid\toutput\tstatus\tfile\treason";

/// A folder `sigc build` wrote: it holds a `manifest.tsv` that starts with [`MANIFEST_HEADER`].
fn is_build_output(dir: &Path) -> bool {
    std::fs::read_to_string(dir.join("manifest.tsv"))
        .is_ok_and(|t| t.lines().next() == Some(MANIFEST_HEADER))
}

/// `<rule>.tests.yml`: the events `sigc test` runs a rule on.
pub fn is_rule_tests(path: &Path) -> bool {
    path.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.ends_with(".tests.yml"))
}

const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// The byte order of a UTF-16 text: by its byte-order mark, or, without one, by every other
/// byte of its start being NUL (ASCII text in UTF-16).
fn utf16(bytes: &[u8]) -> Option<&'static str> {
    if bytes.starts_with(b"\xFF\xFE") {
        return Some("little-endian");
    }
    if bytes.starts_with(b"\xFE\xFF") {
        return Some("big-endian");
    }
    let head = &bytes[..bytes.len().min(64)];
    let nul_at =
        |first: usize| head.len() >= 8 && head.iter().skip(first).step_by(2).all(|&b| b == 0);
    if nul_at(1) {
        Some("little-endian")
    } else if nul_at(0) {
        Some("big-endian")
    } else {
        None
    }
}

/// Read a file (or stdin) into a source file, refusing what is too large or not UTF-8.
pub fn read_source(input: &Input) -> Result<Arc<SourceFile>, Diagnostic> {
    let (name, mut reader): (String, Box<dyn Read>) = match input {
        Input::Stdin => ("<stdin>".into(), Box::new(std::io::stdin())),
        Input::Path(p) => {
            let f = std::fs::File::open(p)
                .map_err(|e| Diagnostic::error(Code::Io, format!("{}: {e}", p.display())))?;
            (p.display().to_string(), Box::new(f))
        }
    };
    let mut bytes = Vec::new();
    reader
        .by_ref()
        .take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| Diagnostic::error(Code::Io, format!("{name}: {e}")))?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(Diagnostic::error(
            Code::TooLarge,
            format!(
                "{name}: larger than {} MiB; sigc does not read it",
                MAX_FILE_BYTES >> 20
            ),
        )
        .with_help("Sigma files are a few kilobytes; split collections into several files"));
    }
    if let Some(order) = utf16(&bytes) {
        let file = SourceFile::new(name, String::new());
        return Err(Diagnostic::error(
            Code::NotUtf8,
            format!("the file is UTF-16 ({order}), not UTF-8"),
        )
        .with_help("save the file as UTF-8 (sigc reads YAML as UTF-8, as pySigma does)")
        .at(&file, Span::new(0, 0)));
    }
    // A UTF-8 byte-order mark (Windows editors write one) is not part of the text.
    if bytes.starts_with(UTF8_BOM) {
        bytes.drain(..UTF8_BOM.len());
    }
    match String::from_utf8(bytes) {
        Ok(text) => Ok(SourceFile::new(name, text)),
        Err(e) => {
            let valid = e.utf8_error().valid_up_to();
            let bytes = e.into_bytes();
            // Point at the bad byte: everything before it is valid text.
            let text = String::from_utf8_lossy(&bytes[..valid]).into_owned();
            let file = SourceFile::new(name, text);
            Err(Diagnostic::error(
                Code::NotUtf8,
                format!("invalid UTF-8 byte 0x{:02x}", bytes[valid]),
            )
            .with_help("save the file as UTF-8")
            .at(&file, Span::new(valid, valid)))
        }
    }
}

/// Load everything the inputs name.
pub fn load(inputs: &[Input]) -> RuleSet {
    let expanded = expand(inputs);
    let per_file: Vec<Vec<Doc>> = expanded
        .par_iter()
        .map(|input| match input {
            Ok(input) => load_file(input),
            Err(d) => vec![file_error(path_of(d), d.clone())],
        })
        .collect();
    let mut set = RuleSet {
        docs: per_file.into_iter().flatten().collect(),
    };
    link(&mut set);
    set
}

/// `path` relative to `root`, with `/` between its parts (a path outside `root` as given).
pub fn relative_name(root: &Path, path: &Path) -> String {
    let Ok(rel) = path.strip_prefix(root) else {
        return path.display().to_string();
    };
    rel.components()
        .filter_map(|c| match c {
            std::path::Component::Normal(s) => Some(s.to_string_lossy().into_owned()),
            _ => None,
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// Load one in-memory text (tests, fuzzing).
pub fn load_text(name: &str, text: &str) -> RuleSet {
    let file = SourceFile::new(name, text.to_string());
    let mut set = RuleSet {
        docs: load_parsed(&file),
    };
    link(&mut set);
    set
}

fn path_of(d: &Diagnostic) -> String {
    d.location
        .as_ref()
        .map(|l| l.file.path.clone())
        .unwrap_or_default()
}

fn file_error(path: String, d: Diagnostic) -> Doc {
    Doc {
        path,
        index: 0,
        id: None,
        title: None,
        kind: "unknown",
        diagnostics: vec![d],
        item: None,
        ast: None,
        partial: None,
    }
}

fn load_file(input: &Input) -> Vec<Doc> {
    let path = match input {
        Input::Stdin => "<stdin>".to_string(),
        Input::Path(p) => p.display().to_string(),
    };
    match read_source(input) {
        Ok(file) => load_parsed(&file),
        Err(d) => vec![file_error(path, d)],
    }
}

/// Parse and lower every document of one file (everything but cross-document links).
fn load_parsed(file: &Arc<SourceFile>) -> Vec<Doc> {
    // A rule that lost its indentation would otherwise report only symptoms.
    let flat = flattened::detect(file);
    if !flat.is_empty() {
        return flat
            .into_iter()
            .enumerate()
            .map(|(index, f)| Doc {
                path: file.path.clone(),
                index,
                id: f.id,
                title: f.title,
                kind: "rule",
                diagnostics: f.diagnostics,
                item: None,
                ast: None,
                partial: None,
            })
            .collect();
    }
    let nodes = match yaml::parse_documents(file).and_then(|n| apply_actions(file, n)) {
        Ok(n) => n,
        Err(d) => return vec![file_error(file.path.clone(), d)],
    };
    if nodes.is_empty() {
        // An empty file (or only comments and `---`) is a mistake, not zero rules to skip.
        let d = Diagnostic::error(
            Code::UnknownDocument,
            "the file holds no YAML document: it is empty or only comments",
        )
        .with_help(
            "a Sigma file holds at least one document with `title`, `logsource` and `detection`",
        )
        .at(file, Span::new(0, 0));
        return vec![file_error(file.path.clone(), d)];
    }
    nodes
        .iter()
        .enumerate()
        .map(|(i, node)| {
            let parsed = parse_document(file, i, node);
            let mut doc = Doc {
                path: file.path.clone(),
                index: i,
                id: parsed.id,
                title: parsed.title,
                kind: parsed.kind,
                diagnostics: parsed.diagnostics,
                item: None,
                ast: None,
                partial: parsed.partial,
            };
            if let Some(ast) = parsed.doc {
                let mut cx = Ctx::new(file);
                doc.item = lower_local(&mut cx, &ast);
                doc.diagnostics.append(&mut cx.diags);
                if doc.diagnostics.iter().any(Diagnostic::is_error) {
                    doc.item = None;
                }
                doc.ast = Some(ast);
            }
            doc
        })
        .collect()
}

fn origin(doc: &Document) -> Origin {
    Origin {
        file: doc.file.clone(),
        index: doc.index,
        span: doc.span,
    }
}

pub fn header(meta: &ast::Meta) -> Header {
    Header {
        title: meta
            .title
            .as_ref()
            .map(|t| t.node.clone())
            .unwrap_or_default(),
        id: meta.id.as_ref().map(|t| t.node.clone()),
        name: meta.name.as_ref().map(|t| t.node.clone()),
        status: meta.status.as_ref().map(|t| t.node.clone()),
        level: meta.level.as_ref().map(|t| t.node.clone()),
        tags: meta.tags.iter().map(|t| t.node.clone()).collect(),
        fields: meta
            .fields
            .iter()
            .map(|(k, v)| (k.node.clone(), v.clone()))
            .collect(),
    }
}

/// Lower what needs no other document: rules, and filters' own conditions.
fn lower_local(cx: &mut Ctx, doc: &Document) -> Option<Item> {
    match &doc.body {
        Body::Rule(r) => {
            let conditions = lower_detection(cx, &r.detection)?;
            Some(Item::Rule(Arc::new(RuleIr {
                origin: origin(doc),
                header: header(&doc.meta),
                logsource: r.logsource.clone(),
                conditions,
                state: Default::default(),
                applied: Vec::new(),
                filters: Vec::new(),
            })))
        }
        Body::Filter(f) => {
            let mut conditions = lower_detection(cx, &f.detection)?;
            Some(Item::Filter(Arc::new(FilterIr {
                origin: origin(doc),
                header: header(&doc.meta),
                logsource: f.logsource.clone(),
                rules: None,
                condition: conditions.pop().unwrap_or(Expr::True),
            })))
        }
        // Correlations need the whole set; see `link`.
        Body::Correlation(_) => None,
    }
}

/// Cross-document work: resolve correlation references and apply meta filters.
fn link(set: &mut RuleSet) {
    let mut index: HashMap<String, Vec<usize>> = HashMap::new();
    for (i, d) in set.docs.iter().enumerate() {
        let Some(ast) = &d.ast else { continue };
        if matches!(ast.body, Body::Filter(_)) {
            continue;
        }
        let mut keys: Vec<&str> = Vec::new();
        if let Some(id) = &ast.meta.id {
            keys.push(&id.node);
        }
        if let Some(n) = &ast.meta.name
            && Some(&n.node) != ast.meta.id.as_ref().map(|i| &i.node)
        {
            keys.push(&n.node);
        }
        for k in keys {
            index.entry(k.to_string()).or_default().push(i);
        }
    }
    // Duplicate ids: warn on every document after the first.
    for (key, docs) in &index {
        let first = &set.docs[docs[0]];
        // Named by its file and its place in the file, not by its index in the set.
        let first = match first.index {
            0 => first.path.clone(),
            n => format!("{} (document {})", first.path, n + 1),
        };
        for &i in docs.iter().skip(1) {
            let d = &mut set.docs[i];
            if let Some(ast) = &d.ast {
                let span = ast.meta.id.as_ref().map_or(ast.span, |s| s.span);
                let w = Diagnostic::warning(
                    Code::DuplicateId,
                    format!("`{key}` is also the id or name of {first}"),
                )
                .with_help("ids must be unique; generate a new UUID for one of them")
                .at(&ast.file, span);
                d.diagnostics.push(w);
            }
        }
    }
    lower_correlations(set, &index);
    apply_filters(set, &index);
}

fn lower_correlations(set: &mut RuleSet, index: &HashMap<String, Vec<usize>>) {
    for i in 0..set.docs.len() {
        let Some(ast) = &set.docs[i].ast else {
            continue;
        };
        let Body::Correlation(c) = &ast.body else {
            continue;
        };
        if set.docs[i].diagnostics.iter().any(Diagnostic::is_error) {
            continue;
        }
        let file = ast.file.clone();
        let mut cx = Ctx::new(&file);
        let lowered = lower_correlation(&mut cx, c, index);
        let item = lowered.map(|l| {
            Item::Correlation(Arc::new(CorrelationIr {
                origin: origin(ast),
                header: header(&ast.meta),
                kind: c.kind.node,
                rules: l.rules,
                group_by: c.group_by.iter().map(|g| g.node.clone()).collect(),
                timespan: l.timespan,
                aliases: l.aliases,
                condition: l.condition,
                generate: c.generate,
            }))
        });
        let doc = &mut set.docs[i];
        doc.diagnostics.append(&mut cx.diags);
        doc.item = item;
    }
    // References must not loop back (a correlation of itself through others). Find every
    // correlation on a loop before dropping any: dropping the first would hide the loop from
    // the others.
    let cyclic: Vec<usize> = (0..set.docs.len())
        .filter(|&i| matches!(set.docs[i].item, Some(Item::Correlation(_))) && reaches(set, i, i))
        .collect();
    for i in cyclic {
        let doc = &mut set.docs[i];
        let span = doc.ast.as_ref().map_or(Span::default(), |a| a.span);
        if let Some(ast) = &doc.ast {
            doc.diagnostics.push(
                Diagnostic::error(
                    Code::ReferenceCycle,
                    "this correlation references itself through its rules",
                )
                .with_help("correlations may chain, but not in a loop")
                .at(&ast.file, span),
            );
        }
        doc.item = None;
    }
    // A correlation over a document that failed fails too; repeat so chains propagate.
    loop {
        let mut changed = false;
        for i in 0..set.docs.len() {
            let Some(Item::Correlation(c)) = &set.docs[i].item else {
                continue;
            };
            let Some(bad) = c.rules.iter().find(|r| set.docs[r.target].item.is_none()) else {
                continue;
            };
            let written = bad.written.clone();
            let msg = format!(
                "the referenced document `{}` ({}) failed to load",
                bad.written, set.docs[bad.target].path
            );
            let doc = &mut set.docs[i];
            if let Some(ast) = &doc.ast {
                let span = reference_span(ast, &written);
                doc.diagnostics.push(
                    Diagnostic::error(Code::UnresolvedReference, msg)
                        .with_help("fix the errors reported for that document first")
                        .at(&ast.file, span),
                );
            }
            doc.item = None;
            changed = true;
        }
        if !changed {
            break;
        }
    }
}

/// Where a correlation names `written` (its `rules` entry), or the document start.
fn reference_span(ast: &Document, written: &str) -> Span {
    if let Body::Correlation(c) = &ast.body
        && let Some(r) = c.rules.iter().find(|r| r.node == written)
    {
        return r.span;
    }
    ast.span
}

/// Does document `from` reference `target` (directly or through chained correlations)?
/// A depth-first walk that visits each document once: correlations that share references
/// (`rules: [a, a]`, diamonds) would otherwise make the walk exponential in the chain length.
fn reaches(set: &RuleSet, from: usize, target: usize) -> bool {
    let mut seen = vec![false; set.docs.len()];
    let mut stack = vec![from];
    while let Some(i) = stack.pop() {
        let Some(Item::Correlation(c)) = &set.docs[i].item else {
            continue;
        };
        for r in &c.rules {
            if r.target == target {
                return true;
            }
            if !std::mem::replace(&mut seen[r.target], true) {
                stack.push(r.target);
            }
        }
    }
    false
}

fn apply_filters(set: &mut RuleSet, index: &HashMap<String, Vec<usize>>) {
    let mut filters: Vec<(usize, Arc<FilterIr>, Option<Vec<usize>>)> = Vec::new();
    for i in 0..set.docs.len() {
        let (Some(Item::Filter(f)), Some(ast)) = (&set.docs[i].item, &set.docs[i].ast) else {
            continue;
        };
        let Body::Filter(fa) = &ast.body else {
            continue;
        };
        let file = ast.file.clone();
        let mut cx = Ctx::new(&file);
        let targets = match &fa.rules {
            FilterRules::Any => None,
            FilterRules::List(list) => {
                let mut t = Vec::new();
                for r in list {
                    match index.get(&r.node) {
                        Some(ids) => t.extend(ids.iter().copied()),
                        None => {
                            // A filter may name rules that are not part of this run.
                            cx.warning(
                                Code::UnresolvedReference,
                                r.span,
                                format!("no loaded rule has the id or name `{}`", r.node),
                            );
                        }
                    }
                }
                Some(t)
            }
        };
        let mut f = (**f).clone();
        f.rules = targets.as_ref().map(|t| {
            t.iter()
                .map(|&i| RuleRef {
                    written: set.docs[i].id.clone().unwrap_or_default(),
                    target: i,
                })
                .collect()
        });
        let f = Arc::new(f);
        set.docs[i].diagnostics.append(&mut cx.diags);
        set.docs[i].item = Some(Item::Filter(f.clone()));
        filters.push((i, f, targets));
    }
    if filters.is_empty() {
        return;
    }
    for i in 0..set.docs.len() {
        let Some(Item::Rule(rule)) = &set.docs[i].item else {
            continue;
        };
        let mut rule_ir: Option<RuleIr> = None;
        for (_, f, targets) in &filters {
            let named = targets.as_ref().is_none_or(|t| t.contains(&i));
            if named && logsource_within(&rule.logsource, &f.logsource) {
                let r = rule_ir.get_or_insert_with(|| (**rule).clone());
                r.conditions = r
                    .conditions
                    .iter()
                    .map(|c| Expr::and([c.clone(), f.condition.clone()]))
                    .collect();
                r.filters.push(
                    f.header
                        .id
                        .clone()
                        .unwrap_or_else(|| f.header.title.clone()),
                );
            }
        }
        if let Some(r) = rule_ir {
            set.docs[i].item = Some(Item::Rule(Arc::new(r)));
        }
    }
}
