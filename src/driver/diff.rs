//! `sigc diff`: what a change to a rule repository does. For every rule document added,
//! removed or modified between a git revision and the working tree: its outputs before and
//! after, and its impact on the baseline events of `sigc.yml` (events matched before, after,
//! which start and stop matching, with samples), measured by the evaluator.
//!
//! The base revision's rule folders are read with `git archive` into a temporary folder; the
//! configuration and pipeline files are the working tree's for both sides, so the comparison is
//! of rules alone. A rule file whose text changed counts as modified in each of its documents
//! (its outputs may still be the same: the report says so). Both versions of every changed rule
//! are compiled into one program and run in one pass over the baseline, so the counts of both
//! sides come from the same events, read once. Correlation rules show their query changes; their
//! impact is not measured (it needs the whole timeline, not a match per event).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use crate::diagnostic::{Code, Diagnostic};
use crate::driver::build::{self, Row, Tree};
use crate::driver::config::Config;
use crate::driver::eval;
use crate::eval::engine::{self, Match, Options, Sink};
use crate::eval::input::ReadError;
use crate::ir::rule::RuleIr;
use crate::load::{Item, RuleSet, relative_name};

/// How a rule document changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Added,
    Removed,
    Modified,
}

impl Kind {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Kind::Added => "added",
            Kind::Removed => "removed",
            Kind::Modified => "modified",
        }
    }
}

/// One side of an output: the manifest status and, for a file of the rule's own, its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Side {
    pub(crate) status: String,
    /// The output file, relative to the output tree (`-` for none).
    pub(crate) file: String,
    pub(crate) reason: String,
    /// The rule's own output file (`None` in a file shared by many rules, such as
    /// `savedsearches.conf`, or when refused).
    pub(crate) text: Option<String>,
}

/// A rule's output before and after.
#[derive(Debug)]
pub(crate) struct OutputChange {
    pub(crate) output: String,
    pub(crate) before: Option<Side>,
    pub(crate) after: Option<Side>,
}

impl OutputChange {
    pub(crate) fn changed(&self) -> bool {
        self.before != self.after
    }
}

/// An event in the samples.
#[derive(Debug, Clone)]
pub(crate) struct Sample {
    pub(crate) source: String,
    pub(crate) record: u64,
    /// The event as read (JSON).
    pub(crate) event: String,
}

/// A rule's matches on the baseline, before and after.
#[derive(Debug, Default)]
pub(crate) struct Impact {
    pub(crate) before: u64,
    pub(crate) after: u64,
    pub(crate) started: u64,
    pub(crate) stopped: u64,
    pub(crate) started_samples: Vec<Sample>,
    pub(crate) stopped_samples: Vec<Sample>,
}

/// One changed rule document.
#[derive(Debug)]
pub(crate) struct RuleChange {
    /// The rule file, relative to the repository.
    pub(crate) path: String,
    pub(crate) index: usize,
    pub(crate) id: String,
    pub(crate) title: String,
    pub(crate) kind: Kind,
    pub(crate) outputs: Vec<OutputChange>,
    /// The impact on the baseline, or why there is none.
    pub(crate) impact: Result<Impact, String>,
}

/// A file many rules share (a one-file format, the bytecode program), before and after.
#[derive(Debug)]
pub(crate) struct SharedChange {
    pub(crate) file: String,
    pub(crate) before: Option<Vec<u8>>,
    pub(crate) after: Option<Vec<u8>>,
}

/// What `sigc diff` reports.
#[derive(Debug)]
pub(crate) struct Report {
    /// The base revision as given or found, and the commit it names.
    pub(crate) base: String,
    pub(crate) commit: String,
    pub(crate) rules: Vec<RuleChange>,
    pub(crate) shared: Vec<SharedChange>,
    /// Baseline events read (0 without a baseline).
    pub(crate) events: u64,
    /// Baseline records that could not be read.
    pub(crate) unreadable: u64,
    /// What loading either side reported.
    pub(crate) diagnostics: Vec<Diagnostic>,
}

/// Compare the working tree with `base` (default: the merge base with the default branch).
pub(crate) fn diff(config: &Config, base: Option<&str>) -> Result<Report, Vec<Diagnostic>> {
    let root = &config.root;
    let base = match base {
        Some(b) => b.to_string(),
        None => default_base(root).map_err(|d| vec![d])?,
    };
    let commit = git(
        root,
        &["rev-parse", "--verify", &format!("{base}^{{commit}}")],
    )
    .map_err(|d| vec![d])?
    .trim()
    .to_string();
    let tmp = tempfile::tempdir().map_err(|e| {
        vec![Diagnostic::error(
            Code::Io,
            format!("temporary folder: {e}"),
        )]
    })?;
    let base_root = checkout(root, &commit, &config.rules, tmp.path()).map_err(|d| vec![d])?;
    let outputs = build::prepare(config)?;
    let before_set = build::load_rules_at(&base_root, config);
    let after_set = build::load_rules(config);
    let (before, after) = rayon::join(
        || build::generate(config, &base_root, &before_set, &outputs),
        || build::generate(config, root, &after_set, &outputs),
    );
    let mut diagnostics = before.diagnostics.clone();
    diagnostics.extend(after.diagnostics.iter().cloned());
    let changed = changed_docs(&base_root, &before_set, root, &after_set);
    let (impacts, events, unreadable) =
        measure(config, &changed, &before_set, &after_set).map_err(|d| vec![d])?;
    let mut rules = Vec::new();
    for (c, impact) in changed.iter().zip(impacts) {
        let doc = c.after.or(c.before).map(|(set_after, i)| {
            if set_after {
                &after_set.docs[i]
            } else {
                &before_set.docs[i]
            }
        });
        let outputs = config
            .outputs
            .iter()
            .map(|o| OutputChange {
                output: o.name.clone(),
                before: side(&before, &c.path, c.index, &o.name),
                after: side(&after, &c.path, c.index, &o.name),
            })
            .collect();
        rules.push(RuleChange {
            path: c.path.clone(),
            index: c.index,
            id: doc.and_then(|d| d.id.clone()).unwrap_or_default(),
            title: doc.and_then(|d| d.title.clone()).unwrap_or_default(),
            kind: match (c.before, c.after) {
                (None, _) => Kind::Added,
                (_, None) => Kind::Removed,
                _ => Kind::Modified,
            },
            outputs,
            impact,
        });
    }
    Ok(Report {
        base,
        commit,
        rules,
        shared: shared_changes(&before, &after),
        events,
        unreadable,
        diagnostics,
    })
}

/// The merge base of `HEAD` with the default branch: `origin/HEAD`, else the first of
/// `origin/main`, `origin/master`, `main`, `master` that exists.
fn default_base(root: &Path) -> Result<String, Diagnostic> {
    let origin_head = git(
        root,
        &[
            "symbolic-ref",
            "--quiet",
            "--short",
            "refs/remotes/origin/HEAD",
        ],
    )
    .ok()
    .map(|s| s.trim().to_string());
    let candidates = origin_head
        .into_iter()
        .chain(["origin/main", "origin/master", "main", "master"].map(String::from));
    for c in candidates {
        if git(
            root,
            &[
                "rev-parse",
                "--verify",
                "--quiet",
                &format!("{c}^{{commit}}"),
            ],
        )
        .is_ok()
        {
            return git(root, &["merge-base", "HEAD", &c]).map(|s| s.trim().to_string());
        }
    }
    Err(Diagnostic::error(
        Code::Io,
        "no default branch found (origin/HEAD, origin/main, origin/master, main, master)",
    )
    .with_help("name the base revision with --base REV"))
}

/// Run git in `root`; its standard output as text, or its error as a diagnostic.
fn git(root: &Path, args: &[&str]) -> Result<String, Diagnostic> {
    git_bytes(root, args).map(|out| String::from_utf8_lossy(&out).into_owned())
}

/// Run git in `root`; its standard output, or its error as a diagnostic.
fn git_bytes(root: &Path, args: &[&str]) -> Result<Vec<u8>, Diagnostic> {
    let out = Command::new("git")
        .arg("-C")
        .arg(root)
        .args(args)
        .output()
        .map_err(|e| Diagnostic::error(Code::Io, format!("cannot run git: {e}")))?;
    if !out.status.success() {
        return Err(Diagnostic::error(
            Code::Io,
            format!(
                "git {}: {}",
                args.first().copied().unwrap_or_default(),
                String::from_utf8_lossy(&out.stderr).trim()
            ),
        ));
    }
    Ok(out.stdout)
}

/// The rule folders as they were at `commit`, unpacked under `into`; returns the repository
/// root's place there (a folder that did not exist then stays absent: its rules are new).
fn checkout(
    root: &Path,
    commit: &str,
    folders: &[String],
    into: &Path,
) -> Result<PathBuf, Diagnostic> {
    let prefix = git(root, &["rev-parse", "--show-prefix"])?
        .trim()
        .to_string();
    let base_root = into.join(&prefix);
    std::fs::create_dir_all(&base_root)
        .map_err(|e| Diagnostic::error(Code::Io, format!("{}: {e}", base_root.display())))?;
    let mut paths = Vec::new();
    for f in folders {
        let p = format!("{prefix}{}", relative_name(Path::new(""), Path::new(f)));
        if git(root, &["cat-file", "-e", &format!("{commit}:{p}")]).is_ok() {
            paths.push(p);
        }
    }
    if paths.is_empty() {
        return Ok(base_root);
    }
    let top = git(root, &["rev-parse", "--show-toplevel"])?
        .trim()
        .to_string();
    let mut args = vec!["archive", "--format=tar", commit, "--"];
    args.extend(paths.iter().map(String::as_str));
    let tar = git_bytes(Path::new(&top), &args)?;
    tar::Archive::new(tar.as_slice())
        .unpack(into)
        .map_err(|e| Diagnostic::error(Code::Io, format!("unpacking {commit}: {e}")))?;
    Ok(base_root)
}

/// A changed document: its file relative to the repository, its index, and where it is in
/// each side's set (`(true, i)` after, `(false, i)` before).
struct Changed {
    path: String,
    index: usize,
    before: Option<(bool, usize)>,
    after: Option<(bool, usize)>,
}

/// Documents of files whose text differs between the two sides, in path order.
fn changed_docs(
    before_root: &Path,
    before: &RuleSet,
    after_root: &Path,
    after: &RuleSet,
) -> Vec<Changed> {
    let index = |root: &Path, set: &RuleSet| {
        let mut m: BTreeMap<(String, usize), usize> = BTreeMap::new();
        for (i, d) in set.docs.iter().enumerate() {
            m.insert((relative_name(root, Path::new(&d.path)), d.index), i);
        }
        m
    };
    let b = index(before_root, before);
    let a = index(after_root, after);
    let files: BTreeSet<&String> = b.keys().chain(a.keys()).map(|(p, _)| p).collect();
    let changed: BTreeSet<&String> = files
        .into_iter()
        .filter(|p| {
            std::fs::read(before_root.join(p.as_str())).ok()
                != std::fs::read(after_root.join(p.as_str())).ok()
        })
        .collect();
    let keys: BTreeSet<&(String, usize)> = b.keys().chain(a.keys()).collect();
    keys.into_iter()
        .filter(|(p, _)| changed.contains(p))
        .map(|k| Changed {
            path: k.0.clone(),
            index: k.1,
            before: b.get(k).map(|&i| (false, i)),
            after: a.get(k).map(|&i| (true, i)),
        })
        .collect()
}

fn side(tree: &Tree, path: &str, index: usize, output: &str) -> Option<Side> {
    let row: &Row = tree
        .rows
        .iter()
        .find(|r| r.path == path && r.index == index && r.output == output)?;
    let shared = tree.rows.iter().filter(|r| r.file == row.file).count() > 1;
    let text = (!shared && row.file != "-")
        .then(|| tree.files.get(&row.file))
        .flatten()
        .map(|b| String::from_utf8_lossy(b).into_owned());
    Some(Side {
        status: row.status.to_string(),
        file: row.file.clone(),
        reason: row.reason.clone(),
        text,
    })
}

/// Files many rules share that differ.
fn shared_changes(before: &Tree, after: &Tree) -> Vec<SharedChange> {
    let shared = |t: &Tree| -> BTreeSet<String> {
        let mut n: HashMap<&str, usize> = HashMap::new();
        for r in &t.rows {
            *n.entry(r.file.as_str()).or_default() += 1;
        }
        n.into_iter()
            .filter(|&(f, k)| k > 1 && f != "-")
            .map(|(f, _)| f.to_string())
            .collect()
    };
    let files: BTreeSet<String> = shared(before).union(&shared(after)).cloned().collect();
    files
        .into_iter()
        .filter_map(|f| {
            let b = before.files.get(&f).cloned();
            let a = after.files.get(&f).cloned();
            (b != a).then_some(SharedChange {
                file: f,
                before: b,
                after: a,
            })
        })
        .collect()
}

/// Event texts kept per rule and side for samples (every match is counted).
const KEEP: usize = 1_000;

/// Every changed rule's impact (or why it has none), the events read and the unreadable ones.
type Measured = (Vec<Result<Impact, String>>, u64, u64);

/// Measure every changed rule on the baseline.
fn measure(
    config: &Config,
    changed: &[Changed],
    before: &RuleSet,
    after: &RuleSet,
) -> Result<Measured, Diagnostic> {
    let rule_of = |side: Option<(bool, usize)>| -> Option<Arc<RuleIr>> {
        let (is_after, i) = side?;
        let set = if is_after { after } else { before };
        match &set.docs.get(i)?.item {
            Some(Item::Rule(r)) => Some(r.clone()),
            _ => None,
        }
    };
    let is_correlation = |side: Option<(bool, usize)>| {
        side.is_some_and(|(is_after, i)| {
            let set = if is_after { after } else { before };
            matches!(
                set.docs.get(i).map(|d| &d.item),
                Some(Some(Item::Correlation(_)))
            )
        })
    };
    if config.baseline.events.is_empty() {
        let why = "no baseline events in sigc.yml (`baseline: {events: [...]}`)".to_string();
        return Ok((changed.iter().map(|_| Err(why.clone())).collect(), 0, 0));
    }
    for e in &config.baseline.events {
        if !Path::new(e).exists() {
            return Err(Diagnostic::error(
                Code::Io,
                format!("baseline events {e}: no such file or folder"),
            )
            .with_help("fix `baseline: events:` in sigc.yml"));
        }
    }
    // Both versions of each changed rule, side by side in one program.
    let mut rules = Vec::new();
    let mut slots = Vec::new();
    for c in changed {
        let b = rule_of(c.before);
        let a = rule_of(c.after);
        slots.push((
            b.as_ref().map(|_| rules.len()),
            a.as_ref().map(|_| rules.len() + usize::from(b.is_some())),
        ));
        rules.extend(b);
        rules.extend(a);
    }
    let routes = eval::routes(&config.baseline.pipelines)?;
    let (program, problems, compiled) = engine::compile_with(&rules, &routes, &[]);
    let program_index: HashMap<usize, usize> =
        compiled.iter().enumerate().map(|(p, &r)| (r, p)).collect();
    let vm = engine::vm(program)?;
    let mut sink = Collect {
        matches: vec![Vec::new(); vm.program.rules.len()],
        texts: vec![HashMap::new(); vm.program.rules.len()],
        unreadable: 0,
    };
    let inputs = crate::eval::input::expand(&config.baseline.events);
    let stats = engine::run(
        &vm,
        &inputs,
        &Options {
            keep_event: true,
            batch: 4096,
            capture: Vec::new(),
        },
        &mut sink,
    );
    let samples = config.baseline.samples;
    let impacts = changed
        .iter()
        .zip(&slots)
        .map(|(c, &(b, a))| {
            if is_correlation(c.before) || is_correlation(c.after) {
                return Err("a correlation rule: its impact is not measured".to_string());
            }
            let not_compiled = |slot: Option<usize>| -> Option<String> {
                let r = slot?;
                if program_index.contains_key(&r) {
                    return None;
                }
                let rule = &rules[r];
                Some(
                    problems
                        .iter()
                        .find(|p| {
                            p.location
                                .as_ref()
                                .is_some_and(|l| Arc::ptr_eq(&l.file, &rule.origin.file))
                        })
                        .map_or_else(|| "not evaluated".to_string(), |p| p.message.clone()),
                )
            };
            if let Some(why) = not_compiled(b).or_else(|| not_compiled(a)) {
                return Err(why);
            }
            if b.is_none() && a.is_none() {
                return Err("the document is not a rule that loads".to_string());
            }
            let keys = |slot: Option<usize>| -> BTreeSet<(Arc<str>, u64)> {
                match slot.and_then(|r| program_index.get(&r)) {
                    Some(&p) => sink.matches[p].iter().cloned().collect(),
                    None => BTreeSet::new(),
                }
            };
            let (kb, ka) = (keys(b), keys(a));
            let pick = |slot: Option<usize>,
                        from: &BTreeSet<(Arc<str>, u64)>,
                        other: &BTreeSet<(Arc<str>, u64)>| {
                let texts = slot
                    .and_then(|r| program_index.get(&r))
                    .map(|&p| &sink.texts[p]);
                from.difference(other)
                    .filter_map(|k| Some((k, texts?.get(k)?)))
                    .take(samples)
                    .map(|((s, r), e)| Sample {
                        source: s.to_string(),
                        record: *r,
                        event: e.clone(),
                    })
                    .collect()
            };
            Ok(Impact {
                before: kb.len() as u64,
                after: ka.len() as u64,
                started: ka.difference(&kb).count() as u64,
                stopped: kb.difference(&ka).count() as u64,
                started_samples: pick(a, &ka, &kb),
                stopped_samples: pick(b, &kb, &ka),
            })
        })
        .collect();
    Ok((impacts, stats.events, sink.unreadable))
}

/// Every match's (source, record) per program rule, and the first events' texts.
struct Collect {
    matches: Vec<Vec<(Arc<str>, u64)>>,
    texts: Vec<HashMap<(Arc<str>, u64), String>>,
    unreadable: u64,
}

impl Sink for Collect {
    fn on_match(&mut self, m: &Match) {
        let key = (m.source.clone(), m.index);
        let texts = &mut self.texts[m.rule];
        if texts.len() < KEEP {
            texts.insert(key.clone(), m.event.clone().unwrap_or_default());
        }
        self.matches[m.rule].push(key);
    }

    fn on_error(&mut self, _e: &ReadError) {
        self.unreadable += 1;
    }
}
