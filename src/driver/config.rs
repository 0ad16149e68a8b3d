//! `sigc.yml`: what `sigc build`, `sigc diff` and `sigc test` make of a rule repository. It sits
//! at the repository's root and is read through [`crate::yaml`], so every mistake is an error at
//! its file:line:col: an unknown key (with the nearest known one), a value of the wrong type,
//! an unknown target, format or pipeline. Paths in it are relative to the folder holding it.
//!
//! ```yaml
//! rules: [windows]            # rule folders
//! output: generated           # the output tree (sigc owns only the files its manifest lists)
//! outputs:                    # one folder each under `output`, named by the key
//!   splunk:
//!     target: splunk          # `sigc list targets`
//!     pipelines: [sysmon, splunk_windows]   # built-in names or YAML files
//!     format: default         # a query format or a template format
//!     set: {cron_schedule: "*/10 * * * *"}  # template settings
//!     template: my.j2         # replaces the format's built-in template
//!     correlation_method: buckets           # or sliding
//!     table: windows_events   # targets with tables
//! tests:
//!   pipelines: []             # rule tests' pipelines (default: the evaluator's routing)
//! baseline:                   # the events `sigc diff` measures a change's impact on
//!   events: [events/baseline.jsonl]         # JSON lines, EVTX, archives, folders
//!   samples: 5                # sample events per rule that start or stop matching
//!   pipelines: []             # as for tests
//! ```

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::backend::CorrelationMethod;
use crate::diagnostic::{Code, Diagnostic, closest};
use crate::driver::convert::{self, OutputSpec};
use crate::load::{self, Input};
use crate::pipeline::builtin;
use crate::source::{SourceFile, Span};
use crate::yaml::{self, Node, NodeKind};

/// The file name `sigc build` looks for.
pub(crate) const FILE_NAME: &str = "sigc.yml";

/// A rule repository's configuration.
#[derive(Debug)]
pub(crate) struct Config {
    /// The folder holding `sigc.yml`; every path below is relative to it.
    pub(crate) root: PathBuf,
    pub(crate) file: Arc<SourceFile>,
    /// Rule folders (or files), relative to `root`.
    pub(crate) rules: Vec<String>,
    /// The output tree, relative to `root`.
    pub(crate) output: String,
    pub(crate) outputs: Vec<Output>,
    pub(crate) tests: Tests,
    pub(crate) baseline: Baseline,
}

/// One named output: a folder of the output tree.
#[derive(Debug)]
pub(crate) struct Output {
    pub(crate) name: String,
    pub(crate) spec: OutputSpec,
    /// The output's key in `sigc.yml`, for errors about it.
    pub(crate) span: Span,
}

#[derive(Debug, Default)]
pub(crate) struct Tests {
    pub(crate) pipelines: Vec<String>,
}

#[derive(Debug)]
pub(crate) struct Baseline {
    /// Event files or folders, relative to `root`.
    pub(crate) events: Vec<String>,
    pub(crate) samples: usize,
    pub(crate) pipelines: Vec<String>,
}

/// The starter file `sigc init` writes.
pub(crate) const STARTER: &str = include_str!("starter.yml");

const TOP: &[&str] = &["rules", "output", "outputs", "tests", "baseline"];
const OUTPUT: &[&str] = &[
    "target",
    "pipelines",
    "format",
    "template",
    "set",
    "correlation_method",
    "table",
];
const TESTS: &[&str] = &["pipelines"];
const BASELINE: &[&str] = &["events", "samples", "pipelines"];

/// Find `sigc.yml`: `--config FILE`, else `DIR/sigc.yml` for `-C DIR`, else in the current
/// folder.
pub(crate) fn locate(config: Option<&str>, dir: Option<&str>) -> PathBuf {
    match (config, dir) {
        (Some(f), _) => PathBuf::from(f),
        (None, Some(d)) => Path::new(d).join(FILE_NAME),
        (None, None) => PathBuf::from(FILE_NAME),
    }
}

/// Read and check a `sigc.yml`; every problem found comes back, each at its place.
pub(crate) fn load(path: &Path) -> Result<Config, Vec<Diagnostic>> {
    let file = load::read_source(&Input::Path(path.to_path_buf())).map_err(|d| {
        vec![if path.exists() {
            d
        } else {
            Diagnostic::error(Code::Config, format!("{}: no such file", path.display())).with_help(
                "run `sigc init` to write a starter sigc.yml, or point at one with --config or -C",
            )
        }]
    })?;
    let root = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    let docs = yaml::parse_documents(&file).map_err(|d| vec![d])?;
    let mut cx = Reader {
        file: file.clone(),
        errors: Vec::new(),
    };
    let config = match docs.as_slice() {
        [doc] => cx.config(doc, root),
        _ => {
            cx.errors.push(Diagnostic::error(
                Code::Config,
                format!("{}: expected one YAML document", file.path),
            ));
            None
        }
    };
    match config {
        Some(c) if cx.errors.is_empty() => Ok(c),
        _ => Err(cx.errors),
    }
}

struct Reader {
    file: Arc<SourceFile>,
    errors: Vec<Diagnostic>,
}

impl Reader {
    fn error(&mut self, node_span: Span, message: String, help: Option<String>) {
        let mut d = Diagnostic::error(Code::Config, message).at(&self.file, node_span);
        if let Some(h) = help {
            d = d.with_help(h);
        }
        self.errors.push(d);
    }

    /// The entries of a map, every key checked against `known`.
    fn map<'a>(&mut self, node: &'a Node, what: &str, known: &[&str]) -> &'a [(Node, Node)] {
        let Some(entries) = node.as_map() else {
            self.error(
                node.span,
                format!("{what} must be a map, found {}", node.type_name()),
                None,
            );
            return &[];
        };
        for (k, _) in entries {
            let key = k.scalar_text().unwrap_or("");
            if !known.contains(&key) {
                let help = match closest(key, known.iter().copied()) {
                    Some(c) => format!("did you mean `{c}`?"),
                    None => format!("keys of {what}: {}", known.join(", ")),
                };
                self.error(k.span, format!("unknown key `{key}` in {what}"), Some(help));
            }
        }
        entries
    }

    fn string(&mut self, node: &Node, what: &str) -> Option<String> {
        match &node.kind {
            NodeKind::Str(s, _) if !s.is_empty() => Some(s.clone()),
            _ => {
                self.error(
                    node.span,
                    format!(
                        "{what} must be a non-empty string, found {}",
                        node.type_name()
                    ),
                    None,
                );
                None
            }
        }
    }

    /// A string or a list of strings.
    fn strings(&mut self, node: &Node, what: &str) -> Vec<String> {
        match &node.kind {
            NodeKind::Seq(items) => items.iter().filter_map(|i| self.string(i, what)).collect(),
            NodeKind::Null => Vec::new(),
            _ => self.string(node, what).into_iter().collect(),
        }
    }

    fn config(&mut self, doc: &Node, root: PathBuf) -> Option<Config> {
        let entries = self.map(doc, "sigc.yml", TOP);
        let mut rules = Vec::new();
        let mut output = None;
        let mut outputs = Vec::new();
        let mut tests = Tests::default();
        let mut baseline = Baseline {
            events: Vec::new(),
            samples: 5,
            pipelines: Vec::new(),
        };
        for (k, v) in entries {
            match k.scalar_text().unwrap_or("") {
                "rules" => {
                    rules = self.strings(v, "`rules` (rule folders)");
                    for (r, node) in rules
                        .iter()
                        .zip(v.as_seq().unwrap_or(std::slice::from_ref(v)))
                    {
                        if !root.join(r).exists() {
                            self.error(
                                node.span,
                                format!(
                                    "rule folder `{r}` does not exist (relative to {})",
                                    root.display()
                                ),
                                None,
                            );
                        }
                    }
                }
                "output" => output = self.string(v, "`output` (the output folder)"),
                "outputs" => outputs = self.outputs(v, &root),
                "tests" => {
                    let entries = self.map(v, "`tests`", TESTS);
                    if let Some((_, p)) = entries
                        .iter()
                        .find(|(k, _)| k.scalar_text() == Some("pipelines"))
                    {
                        tests.pipelines = self.pipelines(p, &root);
                    }
                }
                "baseline" => self.baseline(v, &root, &mut baseline),
                _ => {}
            }
        }
        if rules.is_empty() {
            self.error(
                doc.span,
                "sigc.yml names no rule folders".into(),
                Some("add `rules: [folder, ...]`".into()),
            );
        }
        let Some(output) = output else {
            if !self.errors.iter().any(|e| e.message.contains("`output`")) {
                self.error(
                    doc.span,
                    "sigc.yml names no output folder".into(),
                    Some("add `output: generated`".into()),
                );
            }
            return None;
        };
        Some(Config {
            root,
            file: self.file.clone(),
            rules,
            output,
            outputs,
            tests,
            baseline,
        })
    }

    fn outputs(&mut self, node: &Node, root: &Path) -> Vec<Output> {
        let Some(entries) = node.as_map() else {
            self.error(
                node.span,
                format!(
                    "`outputs` must be a map of output names, found {}",
                    node.type_name()
                ),
                None,
            );
            return Vec::new();
        };
        let mut out = Vec::new();
        for (k, v) in entries {
            let name = k.scalar_text().unwrap_or("").to_string();
            if name.is_empty()
                || name == "manifest.tsv"
                || !name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c))
                || name.starts_with('.')
            {
                self.error(
                    k.span,
                    format!("output name `{name}` must be a folder name (letters, digits, `_`, `-`, `.`)"),
                    None,
                );
                continue;
            }
            if let Some(o) = self.output(name, k.span, v, root) {
                out.push(o);
            }
        }
        out
    }

    fn output(&mut self, name: String, span: Span, node: &Node, root: &Path) -> Option<Output> {
        let what = format!("output `{name}`");
        let errors_before = self.errors.len();
        let entries = self.map(node, &what, OUTPUT);
        let mut spec = OutputSpec {
            format: "default".into(),
            ..OutputSpec::default()
        };
        let mut target_node = None;
        let mut ok = true;
        for (k, v) in entries {
            match k.scalar_text().unwrap_or("") {
                "target" => {
                    target_node = Some(v);
                    spec.target = self.string(v, "`target`").unwrap_or_default();
                }
                "pipelines" => spec.pipelines = self.pipelines(v, root),
                "format" => spec.format = self.string(v, "`format`").unwrap_or_default(),
                "template" => {
                    spec.template = self
                        .string(v, "`template`")
                        .map(|t| root.join(t).display().to_string());
                }
                "table" => spec.table = self.string(v, "`table`"),
                "correlation_method" => {
                    spec.correlation_method = match v.scalar_text() {
                        Some("buckets") => Some(CorrelationMethod::Buckets),
                        Some("sliding") => Some(CorrelationMethod::Sliding),
                        _ => {
                            self.error(
                                v.span,
                                "`correlation_method` must be `buckets` or `sliding`".into(),
                                None,
                            );
                            None
                        }
                    };
                }
                "set" => {
                    let Some(pairs) = v.as_map() else {
                        self.error(
                            v.span,
                            format!("`set` must be a map of settings, found {}", v.type_name()),
                            None,
                        );
                        ok = false;
                        continue;
                    };
                    for (sk, sv) in pairs {
                        match (sk.scalar_text(), sv.scalar_text()) {
                            (Some(a), Some(b)) => spec.set.push((a.to_string(), b.to_string())),
                            _ => {
                                self.error(
                                    sv.span,
                                    format!(
                                        "a setting's value must be a scalar, found {}",
                                        sv.type_name()
                                    ),
                                    None,
                                );
                                ok = false;
                            }
                        }
                    }
                }
                _ => {}
            }
        }
        let Some(target_node) = target_node else {
            self.error(
                span,
                format!("{what} has no `target`"),
                Some(format!("targets: {}", convert::targets().join(", "))),
            );
            return None;
        };
        let targets = convert::targets();
        if !targets.contains(&spec.target.as_str()) {
            let help = match closest(&spec.target, targets.iter().copied()) {
                Some(c) => format!("did you mean `{c}`?"),
                None => format!("targets: {}", targets.join(", ")),
            };
            self.error(
                target_node.span,
                format!("unknown target `{}`", spec.target),
                Some(help),
            );
            return None;
        }
        if !ok || self.errors.len() > errors_before {
            return None;
        }
        // The rest (format, settings, pipelines' contents) is checked by resolving it, as
        // `sigc convert` would.
        if let Err(d) = convert::prepare(&spec) {
            let place = entries
                .iter()
                .find(|(k, _)| k.scalar_text() == Some("format"))
                .map_or(span, |(_, v)| v.span);
            let at = if d.message.contains("format") || d.code == Code::Template {
                place
            } else {
                span
            };
            self.errors.push(
                Diagnostic {
                    code: Code::Config,
                    ..d
                }
                .or_at(&self.file, at),
            );
            return None;
        }
        Some(Output { name, spec, span })
    }

    /// Pipelines: built-in names, or YAML files relative to `root`; an unknown name is an error
    /// at its place, with the nearest built-in name.
    fn pipelines(&mut self, node: &Node, root: &Path) -> Vec<String> {
        let items: Vec<&Node> = match &node.kind {
            NodeKind::Seq(items) => items.iter().collect(),
            _ => vec![node],
        };
        let mut out = Vec::new();
        for item in items {
            let Some(p) = self.string(item, "a pipeline") else {
                continue;
            };
            let file = root.join(&p);
            if file.exists() {
                out.push(file.display().to_string());
            } else if builtin::find(&p).is_some() {
                out.push(p);
            } else {
                let names: Vec<&str> = builtin::list().iter().map(|b| b.name).collect();
                let help = match closest(&p, names.iter().copied()) {
                    Some(c) => format!("did you mean `{c}`?"),
                    None => format!("built-in pipelines: {} (or a YAML file)", names.join(", ")),
                };
                self.error(
                    item.span,
                    format!("unknown pipeline `{p}`: not a file and not a built-in pipeline"),
                    Some(help),
                );
            }
        }
        out
    }

    fn baseline(&mut self, node: &Node, root: &Path, b: &mut Baseline) {
        for (k, v) in self.map(node, "`baseline`", BASELINE) {
            match k.scalar_text().unwrap_or("") {
                "events" => {
                    b.events = self
                        .strings(v, "`events` (event files or folders)")
                        .into_iter()
                        .map(|e| root.join(e).display().to_string())
                        .collect();
                }
                "samples" => match &v.kind {
                    NodeKind::Int(n, _) if *n >= 0 => b.samples = *n as usize,
                    _ => self.error(
                        v.span,
                        format!("`samples` must be a whole number, found {}", v.type_name()),
                        None,
                    ),
                },
                "pipelines" => b.pipelines = self.pipelines(v, root),
                _ => {}
            }
        }
    }
}
