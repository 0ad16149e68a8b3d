//! `sigc build`: a rule repository's whole output as one deterministic tree, written, or
//! compared with what is committed.
//!
//! The tree, under the configuration's `output` folder:
//! - `<output name>/<rule path under its rule folder>.<ext>`: one file per rule and output,
//!   for query formats (`.spl`, `.kql`, `.sql`: the query and a newline) and per-rule template
//!   formats (the template's extension). A file holding several documents names each
//!   `<stem>.<index>.<ext>` (index in the file, from 0).
//! - `<output name>/<file>`: one-file formats (`savedsearches.conf`, `sigc_job.py`), and the
//!   evaluator's program `rules.sigcb` for the bytecode target (rule paths in it are relative
//!   to the repository).
//! - `manifest.tsv`: a row per document and output (rule path relative to the repository,
//!   document index, id, output, status, file, reason), sorted. Statuses: `ok`, `refused` (the
//!   target cannot express the rule exactly: the reason), `error` (the document does not
//!   load: its first error), `hidden` (a rule a correlation uses without `generate: true`).
//!
//! The manifest is also what sigc owns: a rebuild removes the files the old manifest lists and
//! the new tree lacks (and folders that leaves empty), and touches nothing else. Same input,
//! same bytes, on any machine and at any thread count: rules are loaded and written in sorted
//! path order, and nothing in the tree depends on where the repository sits.
//!
//! A refusal is part of the tree, not a failure: the manifest records it, the summary counts it,
//! and a change in it shows in `--check` and `sigc diff`. Only documents that do not load (and
//! a configuration that does not) fail the build.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use rayon::prelude::*;

use crate::backend::TemplateOutput;
use crate::bytecode::codec;
use crate::diagnostic::{Code, Diagnostic};
use crate::driver::config::{Config, Output};
use crate::driver::convert::{self, Prepared};
use crate::driver::eval;
use crate::load::{self, Input, Item, MANIFEST_HEADER, RuleSet, relative_name};

/// The manifest's file name, at the top of the output tree.
pub(crate) const MANIFEST: &str = "manifest.tsv";

/// One row of the manifest.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Row {
    /// The rule file, relative to the repository.
    pub(crate) path: String,
    pub(crate) index: usize,
    pub(crate) id: String,
    pub(crate) output: String,
    pub(crate) status: &'static str,
    /// The file holding the document's output, relative to the output tree (`-` for none).
    pub(crate) file: String,
    pub(crate) reason: String,
}

/// One output's files (relative to the output tree) and manifest rows.
type OutputFiles = (BTreeMap<String, Vec<u8>>, Vec<Row>);

/// A generated tree, in memory.
pub(crate) struct Tree {
    /// Files relative to the output folder (`/`-separated), with their bytes; the manifest is
    /// among them.
    pub(crate) files: BTreeMap<String, Vec<u8>>,
    pub(crate) rows: Vec<Row>,
    /// What loading reported.
    pub(crate) diagnostics: Vec<Diagnostic>,
    /// Whether any document failed to load.
    pub(crate) failed: bool,
    /// Documents per output name: (written, refused).
    pub(crate) counts: Vec<(String, usize, usize)>,
    pub(crate) documents: usize,
}

/// The repository's rule folders, loaded.
pub(crate) fn load_rules(config: &Config) -> RuleSet {
    load_rules_at(&config.root, config)
}

/// The configuration's rule folders under `root` (the repository, or a copy of it at another
/// revision).
pub(crate) fn load_rules_at(root: &Path, config: &Config) -> RuleSet {
    let inputs: Vec<Input> = config
        .rules
        .iter()
        .map(|f| Input::Path(root.join(f)))
        .collect();
    load::load(&inputs)
}

/// Every output resolved, or why one cannot be (an error at its key in `sigc.yml`).
pub(crate) fn prepare(
    config: &Config,
) -> Result<Vec<(&Output, Option<Prepared>)>, Vec<Diagnostic>> {
    let mut out = Vec::new();
    let mut errors = Vec::new();
    for o in &config.outputs {
        match convert::prepare(&o.spec) {
            Ok(p) => out.push((o, p)),
            Err(d) => errors.push(d.or_at(&config.file, o.span)),
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

/// Generate the tree of a loaded rule set (`root` is where the set was loaded from).
pub(crate) fn generate(
    config: &Config,
    root: &Path,
    set: &RuleSet,
    outputs: &[(&Output, Option<Prepared>)],
) -> Tree {
    let names = DocNames::new(config, root, set);
    let per_output: Vec<OutputFiles> = outputs
        .par_iter()
        .map(|(o, p)| match p {
            Some(p) => backend_output(&o.name, p, set, &names),
            None => bytecode_output(&o.name, &o.spec.pipelines, set, &names),
        })
        .collect();
    let mut files = BTreeMap::new();
    let mut rows = Vec::new();
    let mut counts = Vec::new();
    for ((o, _), (f, r)) in outputs.iter().zip(per_output) {
        let ok = r.iter().filter(|r| r.status == "ok").count();
        let refused = r.iter().filter(|r| r.status == "refused").count();
        counts.push((o.name.clone(), ok, refused));
        files.extend(f);
        rows.extend(r);
    }
    // Documents that did not load, once per output, so each output's rows are complete.
    for (i, doc) in set.docs.iter().enumerate() {
        if !doc.failed() {
            continue;
        }
        let reason = doc
            .diagnostics
            .iter()
            .find(|d| d.is_error())
            .map_or_else(|| "the document did not load".to_string(), one_line);
        for (o, _) in outputs {
            rows.push(names.row(i, &o.name, "error", "-".into(), reason.clone()));
        }
    }
    rows.sort();
    files.insert(MANIFEST.to_string(), manifest(&rows).into_bytes());
    Tree {
        files,
        rows,
        diagnostics: eval::set_diagnostics(set),
        failed: set.has_errors(),
        counts,
        documents: set.docs.len(),
    }
}

/// How documents are named in the tree and the manifest.
struct DocNames<'a> {
    root: &'a Path,
    set: &'a RuleSet,
    /// Per document: its path relative to the repository, and its file's path relative to
    /// its rule folder without the extension.
    names: Vec<(String, String)>,
    /// Documents per file.
    per_file: HashMap<&'a str, usize>,
}

impl<'a> DocNames<'a> {
    fn new(config: &Config, root: &'a Path, set: &'a RuleSet) -> DocNames<'a> {
        let folders: Vec<PathBuf> = config.rules.iter().map(|f| root.join(f)).collect();
        let mut per_file: HashMap<&str, usize> = HashMap::new();
        let names = set
            .docs
            .iter()
            .map(|d| {
                *per_file.entry(d.path.as_str()).or_default() += 1;
                let path = Path::new(&d.path);
                let folder = folders
                    .iter()
                    .find(|f| path.starts_with(f))
                    .map_or(root, PathBuf::as_path);
                let under = relative_name(folder, &path.with_extension(""));
                (relative_name(root, path), under)
            })
            .collect();
        DocNames {
            root,
            set,
            names,
            per_file,
        }
    }

    /// The document's file in an output: its path under its rule folder, with the extension.
    fn file(&self, output: &str, doc: usize, ext: &str) -> String {
        let d = &self.set.docs[doc];
        let under = &self.names[doc].1;
        if self.per_file.get(d.path.as_str()).copied().unwrap_or(1) > 1 {
            format!("{output}/{under}.{}.{ext}", d.index)
        } else {
            format!("{output}/{under}.{ext}")
        }
    }

    fn row(
        &self,
        doc: usize,
        output: &str,
        status: &'static str,
        file: String,
        reason: String,
    ) -> Row {
        let d = &self.set.docs[doc];
        Row {
            path: self.names[doc].0.clone(),
            index: d.index,
            id: d.id.clone().unwrap_or_default(),
            output: output.to_string(),
            status,
            file,
            reason,
        }
    }
}

/// A diagnostic's message on one line (the manifest is one row per line).
fn one_line(d: &Diagnostic) -> String {
    d.message
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

fn backend_output(name: &str, p: &Prepared, set: &RuleSet, names: &DocNames) -> OutputFiles {
    let conversion = convert::convert(set, p);
    let mut files = BTreeMap::new();
    let mut rows = Vec::new();
    let template = p.format.template();
    let one_file = match template.map(|t| &t.output) {
        Some(TemplateOutput::All { file }) => Some(format!("{name}/{file}")),
        _ => None,
    };
    let ext = match template.map(|t| &t.output) {
        Some(TemplateOutput::PerRule { extension, .. }) => extension,
        _ => p.backend.extension(),
    };
    for c in &conversion.items {
        if set.docs[c.doc].failed() {
            continue;
        }
        match &c.result {
            Ok(text) => {
                let file = match &one_file {
                    Some(f) => f.clone(),
                    None => {
                        let f = names.file(name, c.doc, ext);
                        // Queries get their newline; rendered documents end with their own.
                        let bytes = if template.is_some() {
                            text.clone().into_bytes()
                        } else {
                            format!("{text}\n").into_bytes()
                        };
                        files.insert(f.clone(), bytes);
                        f
                    }
                };
                rows.push(names.row(c.doc, name, "ok", file, String::new()));
            }
            Err(d) => rows.push(names.row(c.doc, name, "refused", "-".into(), one_line(d))),
        }
    }
    for &doc in &conversion.hidden {
        if set.docs.get(doc).is_some_and(|d| !d.failed()) {
            let reason = "used by a correlation only (generate: false)".to_string();
            rows.push(names.row(doc, name, "hidden", "-".into(), reason));
        }
    }
    match (conversion.document, one_file) {
        (Some(Ok((_, text))), Some(f)) => {
            files.insert(f, text.into_bytes());
        }
        (Some(Err(d)), Some(f)) => {
            // The template failed as a whole: no rule is in the file.
            for r in rows.iter_mut().filter(|r| r.file == f) {
                r.status = "refused";
                r.file = "-".into();
                r.reason = one_line(&d);
            }
        }
        _ => {}
    }
    (files, rows)
}

/// The evaluator's program for every rule: one file. Correlations are evaluated from YAML
/// (a program holds rules only), so they are listed as refused here.
fn bytecode_output(
    name: &str,
    pipelines: &[String],
    set: &RuleSet,
    names: &DocNames,
) -> OutputFiles {
    let file = format!("{name}/rules.sigcb");
    let mut rows = Vec::new();
    let routes = match eval::routes(pipelines) {
        Ok(r) => r,
        Err(d) => {
            for (i, doc) in set.docs.iter().enumerate() {
                if !doc.failed() {
                    rows.push(names.row(i, name, "refused", "-".into(), one_line(&d)));
                }
            }
            return (BTreeMap::new(), rows);
        }
    };
    let docs: Vec<usize> = set
        .docs
        .iter()
        .enumerate()
        .filter(|(_, d)| matches!(d.item, Some(Item::Rule(_))))
        .map(|(i, _)| i)
        .collect();
    let rules: Vec<_> = set.rules().cloned().collect();
    let (mut program, problems, compiled) = crate::eval::engine::compile_with(&rules, &routes, &[]);
    for entry in &mut program.rules {
        entry.path = relative_name(names.root, Path::new(&entry.path));
    }
    let compiled: BTreeSet<usize> = compiled.into_iter().collect();
    for (k, &doc) in docs.iter().enumerate() {
        if compiled.contains(&k) {
            rows.push(names.row(doc, name, "ok", file.clone(), String::new()));
        } else {
            let rule = &rules[k];
            let reason = problems
                .iter()
                .find(|p| {
                    p.location.as_ref().is_some_and(|l| {
                        std::sync::Arc::ptr_eq(&l.file, &rule.origin.file)
                            && l.span.start >= rule.origin.span.start
                    })
                })
                .map_or_else(|| "not compiled".to_string(), one_line);
            rows.push(names.row(doc, name, "refused", "-".into(), reason));
        }
    }
    for (i, doc) in set.docs.iter().enumerate() {
        if matches!(doc.item, Some(Item::Correlation(_))) {
            let reason = "a bytecode file holds rules; correlations are evaluated from YAML";
            rows.push(names.row(i, name, "refused", "-".into(), reason.into()));
        }
    }
    let mut files = BTreeMap::new();
    files.insert(file, codec::encode(&program));
    (files, rows)
}

fn manifest(rows: &[Row]) -> String {
    let mut out = String::from(MANIFEST_HEADER);
    out.push('\n');
    for r in rows {
        out.push_str(&format!(
            "{}\t{}\t{}\t{}\t{}\t{}\t{}\n",
            r.path, r.index, r.id, r.output, r.status, r.file, r.reason
        ));
    }
    out
}

/// The files an existing manifest lists (what an earlier build wrote), with the manifest.
pub(crate) fn owned_files(out_dir: &Path) -> BTreeSet<String> {
    let mut owned = BTreeSet::new();
    let Ok(text) = std::fs::read_to_string(out_dir.join(MANIFEST)) else {
        return owned;
    };
    if text.lines().next() != Some(MANIFEST_HEADER) {
        return owned;
    }
    owned.insert(MANIFEST.to_string());
    for line in text.lines().skip(1) {
        if let Some(file) = line.split('\t').nth(5)
            && file != "-"
            && is_inside(file)
        {
            owned.insert(file.to_string());
        }
    }
    owned
}

/// A manifest path that stays inside the output tree (a hand-edited manifest must not make a
/// rebuild remove files elsewhere).
fn is_inside(file: &str) -> bool {
    !file.is_empty()
        && Path::new(file)
            .components()
            .all(|c| matches!(c, std::path::Component::Normal(_)))
}

/// What writing a tree did.
#[derive(Debug, Default)]
pub(crate) struct Written {
    pub(crate) written: usize,
    pub(crate) unchanged: usize,
    pub(crate) removed: usize,
}

/// Write `tree` under `out_dir`: files whose bytes differ, then remove what the old manifest
/// lists and the tree lacks (and the folders that leaves empty), then the manifest.
pub(crate) fn write(out_dir: &Path, tree: &Tree) -> Result<Written, Diagnostic> {
    let io =
        |p: &Path, e: std::io::Error| Diagnostic::error(Code::Io, format!("{}: {e}", p.display()));
    let owned = owned_files(out_dir);
    let mut w = Written::default();
    for (file, bytes) in &tree.files {
        if file == MANIFEST {
            continue;
        }
        let path = out_dir.join(file);
        if std::fs::read(&path).is_ok_and(|old| &old == bytes) {
            w.unchanged += 1;
            continue;
        }
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
        }
        std::fs::write(&path, bytes).map_err(|e| io(&path, e))?;
        w.written += 1;
    }
    for file in owned.iter().filter(|f| !tree.files.contains_key(*f)) {
        let path = out_dir.join(file);
        match std::fs::remove_file(&path) {
            Ok(()) => w.removed += 1,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io(&path, e)),
        }
        // Folders the removal left empty go too (only ever inside the output tree).
        let mut dir = path.parent();
        while let Some(d) = dir {
            if d == out_dir || std::fs::remove_dir(d).is_err() {
                break;
            }
            dir = d.parent();
        }
    }
    let manifest = out_dir.join(MANIFEST);
    if let Some(bytes) = tree.files.get(MANIFEST) {
        std::fs::create_dir_all(out_dir).map_err(|e| io(out_dir, e))?;
        if !std::fs::read(&manifest).is_ok_and(|old| &old == bytes) {
            std::fs::write(&manifest, bytes).map_err(|e| io(&manifest, e))?;
        }
    }
    Ok(w)
}

/// How a file of the committed tree differs from the generated one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Change {
    /// Generated, not on disk.
    Added,
    /// On disk with other bytes.
    Changed,
    /// Listed by the committed manifest, no longer generated.
    Removed,
}

impl Change {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Change::Added => "added",
            Change::Changed => "changed",
            Change::Removed => "removed",
        }
    }
}

/// One stale file.
pub(crate) struct Difference {
    /// Relative to the output tree.
    pub(crate) file: String,
    pub(crate) change: Change,
    pub(crate) old: Vec<u8>,
    pub(crate) new: Vec<u8>,
    /// The rule files (relative to the repository) the file comes from: the rules it holds
    /// whose own output changed too, for a file of many rules; `sigc.yml` when none is known.
    pub(crate) rules: Vec<String>,
}

/// Compare the committed tree under `out_dir` with `tree`, in file order.
pub(crate) fn compare(out_dir: &Path, tree: &Tree) -> Vec<Difference> {
    let owned = owned_files(out_dir);
    let files: Vec<(&String, &Vec<u8>)> = tree.files.iter().collect();
    let mut diffs: Vec<(String, Change, Vec<u8>, Vec<u8>)> = files
        .par_iter()
        .filter_map(|(file, bytes)| match std::fs::read(out_dir.join(file)) {
            Ok(old) if &old == *bytes => None,
            Ok(old) => Some(((*file).clone(), Change::Changed, old, (*bytes).clone())),
            Err(_) => Some(((*file).clone(), Change::Added, Vec::new(), (*bytes).clone())),
        })
        .collect();
    for file in owned.iter().filter(|f| !tree.files.contains_key(*f)) {
        if let Ok(old) = std::fs::read(out_dir.join(file)) {
            diffs.push((file.clone(), Change::Removed, old, Vec::new()));
        }
    }
    diffs.sort_by(|a, b| a.0.cmp(&b.0));
    // Which rules each file comes from, new rows and the committed manifest's alike.
    let old_rows = std::fs::read_to_string(out_dir.join(MANIFEST)).unwrap_or_default();
    let mut sources: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    for r in &tree.rows {
        sources.entry(&r.file).or_default().insert(r.path.clone());
    }
    for line in old_rows.lines().skip(1) {
        let cols: Vec<&str> = line.split('\t').collect();
        if let (Some(path), Some(file)) = (cols.first(), cols.get(5)) {
            sources.entry(file).or_default().insert((*path).to_string());
        }
    }
    // Rules with a file of their own that changed: a shared file's change is theirs.
    let single: BTreeSet<String> = diffs
        .iter()
        .filter_map(|(f, ..)| sources.get(f.as_str()).filter(|s| s.len() == 1))
        .flatten()
        .cloned()
        .collect();
    diffs
        .into_iter()
        .map(|(file, change, old, new)| {
            let all = sources.get(file.as_str()).cloned().unwrap_or_default();
            let rules: Vec<String> = if file == MANIFEST || all.len() > 1 {
                all.intersection(&single).cloned().collect()
            } else {
                all.into_iter().collect()
            };
            Difference {
                file,
                change,
                old,
                new,
                rules,
            }
        })
        .collect()
}
