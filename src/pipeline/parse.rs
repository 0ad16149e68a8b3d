//! Pipeline YAML → [`Pipeline`]: the top-level keys pySigma's `ProcessingPipeline.from_dict`
//! accepts, and the processing items with their three condition levels. Every error points at
//! the pipeline file's line and column.

use std::sync::Arc;

use super::condition::{Conds, DetectionCond, FieldCond, RuleCond};
use super::transform::Transform;
use crate::diagnostic::{Code, Diagnostic, Result};
use crate::source::{SourceFile, Span};
use crate::yaml::{self, Node, NodeKind};

/// One pipeline file, as loaded.
#[derive(Debug)]
pub struct Pipeline {
    pub file: Arc<SourceFile>,
    pub name: Option<String>,
    pub priority: i64,
    /// `vars`, for `value_placeholders` (merged across pipelines, later ones win).
    pub vars: Vec<(String, Node)>,
    /// Kept as written for backends: query post-processing items.
    pub postprocessing: Vec<Node>,
    /// Kept as written for backends: output finalizers.
    pub finalizers: Vec<Node>,
    /// Backends this pipeline is meant for (empty: any).
    pub allowed_backends: Vec<String>,
    pub(crate) items: Vec<Arc<ProcessingItem>>,
}

/// One entry of `transformations`.
#[derive(Debug)]
pub(crate) struct ProcessingItem {
    pub id: Option<String>,
    pub file: Arc<SourceFile>,
    pub span: Span,
    pub transform: Transform,
    pub rule_conds: Conds<RuleCond>,
    pub detection_conds: Conds<DetectionCond>,
    pub field_conds: Conds<FieldCond>,
}

/// The keys of a processing item that are not parameters of its transformation.
const ITEM_KEYS: &[&str] = &[
    "id",
    "type",
    "rule_conditions",
    "rule_cond_op",
    "rule_cond_not",
    "rule_cond_expr",
    "detection_item_conditions",
    "detection_item_cond_op",
    "detection_item_cond_not",
    "detection_item_cond_expr",
    "field_name_conditions",
    "field_name_cond_op",
    "field_name_cond_not",
    "field_name_cond_expr",
];

const TOP_KEYS: &[&str] = &[
    "name",
    "priority",
    "vars",
    "transformations",
    "postprocessing",
    "finalizers",
    "allowed_backends",
];

pub(crate) fn error(file: &Arc<SourceFile>, span: Span, msg: impl Into<String>) -> Diagnostic {
    Diagnostic::error(Code::Pipeline, msg).at(file, span)
}

/// The first character of a node, where "missing key" errors point.
pub(crate) fn start(node: &Node) -> Span {
    node.span.sub(0, 1)
}

/// Load a pipeline from its YAML text.
pub(crate) fn load(file: Arc<SourceFile>) -> Result<Pipeline> {
    let docs = yaml::parse_documents(&file)?;
    let root = match docs.as_slice() {
        [] => {
            return Err(error(&file, Span::new(0, 0), "the pipeline file is empty")
                .with_help("a pipeline is a map with `name`, `priority` and `transformations`"));
        }
        [root] => root,
        [_, second, ..] => {
            return Err(error(
                &file,
                start(second),
                "a pipeline file holds one YAML document",
            )
            .with_help("put each pipeline in its own file"));
        }
    };
    let mut p = Params::new(&file, root, "a pipeline".into())?;
    let name = p.opt_string("name")?;
    let priority = match p.get("priority") {
        None => 0,
        Some(n) => match n.kind {
            NodeKind::Int(i, _) => i,
            NodeKind::Null => 0,
            _ => {
                return Err(error(
                    &file,
                    n.span,
                    format!("`priority` must be an integer, found {}", n.type_name()),
                )
                .with_help("pySigma's convention: 10 log sources, 20 backend preparation, 50 backend, 60 output format"));
            }
        },
    };
    let mut vars = Vec::new();
    if let Some(v) = p.get("vars").filter(|n| n.kind != NodeKind::Null) {
        let Some(entries) = v.as_map() else {
            return Err(wrong(&file, v, "`vars`", "a map of names to values"));
        };
        for (k, val) in entries {
            let Some(key) = k.scalar_text() else {
                return Err(wrong(&file, k, "a variable name", "a string"));
            };
            vars.push((key.to_string(), val.clone()));
        }
    }
    let mut items = Vec::new();
    for node in p.list("transformations")? {
        items.push(Arc::new(parse_item(&file, node)?));
    }
    let mut postprocessing = Vec::new();
    for node in p.list("postprocessing")? {
        typed_entry(&file, node, "a postprocessing item")?;
        postprocessing.push(node.clone());
    }
    let mut finalizers = Vec::new();
    for node in p.list("finalizers")? {
        typed_entry(&file, node, "a finalizer")?;
        finalizers.push(node.clone());
    }
    let allowed_backends = p.opt_strings("allowed_backends")?.unwrap_or_default();
    p.finish_with_help(
        &[],
        &format!(
            "pySigma accepts only these top-level keys: {}",
            TOP_KEYS.join(", ")
        ),
    )?;
    Ok(Pipeline {
        file,
        name,
        priority,
        vars,
        postprocessing,
        finalizers,
        allowed_backends,
        items,
    })
}

/// Postprocessing items and finalizers are kept for backends; check only that each says what
/// it is.
fn typed_entry(file: &Arc<SourceFile>, node: &Node, what: &str) -> Result<()> {
    if node.as_map().is_none() {
        return Err(wrong(file, node, what, "a map with a `type`"));
    }
    match node.get("type") {
        Some(t) if t.as_str().is_some() => Ok(()),
        Some(t) => Err(wrong(file, t, "`type`", "a string")),
        None => Err(error(file, start(node), format!("{what} needs a `type`"))),
    }
}

fn parse_item(file: &Arc<SourceFile>, node: &Node) -> Result<ProcessingItem> {
    let mut p = Params::new(file, node, "a processing item".into())?;
    let id = p.opt_string("id")?.filter(|s| !s.is_empty());
    let type_node = p.req("type")?;
    let Some(kind) = type_node.as_str() else {
        return Err(wrong(file, type_node, "`type`", "a string"));
    };
    let rule_conds = Conds::parse(file, node, "rule", RuleCond::parse)?;
    let detection_conds = Conds::parse(file, node, "detection_item", DetectionCond::parse)?;
    let field_conds = Conds::parse(file, node, "field_name", FieldCond::parse)?;
    let mut tp = Params::new(file, node, format!("transformation `{kind}`"))?;
    let transform = Transform::parse(&mut tp, kind, type_node)?;
    tp.finish(ITEM_KEYS)?;
    Ok(ProcessingItem {
        id,
        file: file.clone(),
        span: node.span,
        transform,
        rule_conds,
        detection_conds,
        field_conds,
    })
}

pub(crate) fn wrong(file: &Arc<SourceFile>, node: &Node, what: &str, expected: &str) -> Diagnostic {
    error(
        file,
        node.span,
        format!("{what} must be {expected}, found {}", node.type_name()),
    )
}

/// Reads the keys of one map (a pipeline, an item, a condition), remembering which were read
/// so that anything else is reported as unknown: pySigma rejects unknown parameters too.
pub(crate) struct Params<'a> {
    pub file: &'a Arc<SourceFile>,
    pub node: &'a Node,
    what: String,
    read: Vec<&'static str>,
}

impl<'a> Params<'a> {
    pub(crate) fn new(file: &'a Arc<SourceFile>, node: &'a Node, what: String) -> Result<Self> {
        if node.as_map().is_none() {
            return Err(wrong(file, node, &what, "a map"));
        }
        Ok(Params {
            file,
            node,
            what,
            read: Vec::new(),
        })
    }

    pub(crate) fn error(&self, span: Span, msg: impl Into<String>) -> Diagnostic {
        error(self.file, span, msg)
    }

    pub(crate) fn get(&mut self, key: &'static str) -> Option<&'a Node> {
        self.read.push(key);
        self.node.get(key)
    }

    pub(crate) fn req(&mut self, key: &'static str) -> Result<&'a Node> {
        match self.get(key) {
            Some(n) => Ok(n),
            None => Err(self.error(start(self.node), format!("{} needs `{key}`", self.what))),
        }
    }

    fn text(&self, key: &str, n: &Node) -> Result<String> {
        n.scalar_text()
            .map(str::to_string)
            .ok_or_else(|| wrong(self.file, n, &format!("`{key}`"), "a string"))
    }

    pub(crate) fn string(&mut self, key: &'static str) -> Result<String> {
        let n = self.req(key)?;
        self.text(key, n)
    }

    pub(crate) fn opt_string(&mut self, key: &'static str) -> Result<Option<String>> {
        match self.get(key) {
            None => Ok(None),
            Some(n) if n.kind == NodeKind::Null => Ok(None),
            Some(n) => self.text(key, n).map(Some),
        }
    }

    pub(crate) fn bool(&mut self, key: &'static str, default: bool) -> Result<bool> {
        match self.get(key) {
            None => Ok(default),
            Some(n) => match n.kind {
                NodeKind::Bool(b) => Ok(b),
                NodeKind::Null => Ok(default),
                _ => Err(wrong(self.file, n, &format!("`{key}`"), "true or false")),
            },
        }
    }

    /// A string or a list of strings.
    pub(crate) fn opt_strings(&mut self, key: &'static str) -> Result<Option<Vec<String>>> {
        let Some(n) = self.get(key) else {
            return Ok(None);
        };
        match &n.kind {
            NodeKind::Null => Ok(None),
            NodeKind::Seq(items) => items
                .iter()
                .map(|i| self.text(key, i))
                .collect::<Result<Vec<_>>>()
                .map(Some),
            _ => self.text(key, n).map(|s| Some(vec![s])),
        }
    }

    pub(crate) fn strings(&mut self, key: &'static str) -> Result<Vec<String>> {
        self.req(key)?;
        Ok(self.opt_strings(key)?.unwrap_or_default())
    }

    /// A list (absent or null: empty).
    pub(crate) fn list(&mut self, key: &'static str) -> Result<&'a [Node]> {
        match self.get(key) {
            None => Ok(&[]),
            Some(n) => match &n.kind {
                NodeKind::Null => Ok(&[]),
                NodeKind::Seq(items) => Ok(items),
                _ => Err(wrong(self.file, n, &format!("`{key}`"), "a list")),
            },
        }
    }

    /// A map (absent: `None`).
    pub(crate) fn map(&mut self, key: &'static str) -> Result<Option<&'a Node>> {
        match self.get(key) {
            None => Ok(None),
            Some(n) if n.kind == NodeKind::Null => Ok(None),
            Some(n) if n.as_map().is_some() => Ok(Some(n)),
            Some(n) => Err(wrong(self.file, n, &format!("`{key}`"), "a map")),
        }
    }

    pub(crate) fn scalar(&mut self, key: &'static str) -> Result<Scalar> {
        let n = self.req(key)?;
        Scalar::from_node(n).ok_or_else(|| {
            wrong(
                self.file,
                n,
                &format!("`{key}`"),
                "a string, number, boolean or null",
            )
        })
    }

    /// Fail on any key not read and not in `also`.
    pub(crate) fn finish(self, also: &[&str]) -> Result<()> {
        let help = if self.read.is_empty() {
            format!("{} takes no parameters", self.what)
        } else {
            format!("{} takes: {}", self.what, self.read.join(", "))
        };
        self.finish_with_help(also, &help)
    }

    fn finish_with_help(self, also: &[&str], help: &str) -> Result<()> {
        for (k, _) in self.node.as_map().unwrap_or_default() {
            let key = k.scalar_text().unwrap_or("");
            if !self.read.contains(&key) && !also.contains(&key) {
                return Err(self
                    .error(k.span, format!("unknown key `{key}` in {}", self.what))
                    .with_help(help.to_string()));
            }
        }
        Ok(())
    }
}

/// A YAML scalar with Python's view of its type.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Scalar {
    Null,
    Bool(bool),
    Int(i64),
    /// The value and its source text.
    Float(f64, String),
    Str(String),
}

impl Scalar {
    pub(crate) fn from_node(n: &Node) -> Option<Scalar> {
        Some(match &n.kind {
            NodeKind::Null => Scalar::Null,
            NodeKind::Bool(b) => Scalar::Bool(*b),
            NodeKind::Int(i, _) => Scalar::Int(*i),
            NodeKind::Float(f, t) => Scalar::Float(*f, t.clone()),
            NodeKind::Str(s, _) => Scalar::Str(s.clone()),
            NodeKind::Seq(_) | NodeKind::Map(_) => return None,
        })
    }

    /// The number Python would compare (`bool` is an `int` there).
    pub(crate) fn number(&self) -> Option<f64> {
        match self {
            Scalar::Bool(b) => Some(f64::from(u8::from(*b))),
            Scalar::Int(i) => Some(*i as f64),
            Scalar::Float(f, _) => Some(*f),
            Scalar::Null | Scalar::Str(_) => None,
        }
    }

    /// Python's `str()` of the value, as placeholder expansion uses it.
    pub(crate) fn python_str(&self) -> String {
        match self {
            Scalar::Null => "None".into(),
            Scalar::Bool(true) => "True".into(),
            Scalar::Bool(false) => "False".into(),
            Scalar::Int(i) => i.to_string(),
            Scalar::Float(_, t) => t.clone(),
            Scalar::Str(s) => s.clone(),
        }
    }

    /// The value as stored in a rule's pipeline state (YAML spelling).
    pub(crate) fn state_text(&self) -> String {
        match self {
            Scalar::Null => "null".into(),
            Scalar::Bool(b) => b.to_string(),
            Scalar::Int(i) => i.to_string(),
            Scalar::Float(_, t) => t.clone(),
            Scalar::Str(s) => s.clone(),
        }
    }

    /// Python's `==` between two plain values.
    pub(crate) fn py_eq(&self, other: &Scalar) -> bool {
        match (self.number(), other.number()) {
            (Some(a), Some(b)) => a == b,
            _ => match (self, other) {
                (Scalar::Str(a), Scalar::Str(b)) => a == b,
                (Scalar::Null, Scalar::Null) => true,
                _ => false,
            },
        }
    }

    /// Python's ordering between two plain values; `None` where Python raises `TypeError`.
    pub(crate) fn py_cmp(&self, other: &Scalar) -> Option<std::cmp::Ordering> {
        match (self.number(), other.number()) {
            (Some(a), Some(b)) => a.partial_cmp(&b),
            _ => match (self, other) {
                (Scalar::Str(a), Scalar::Str(b)) => Some(a.cmp(b)),
                _ => None,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load_text(text: &str) -> Result<Pipeline> {
        load(SourceFile::new("p.yml", text.to_string()))
    }

    #[test]
    fn top_level_keys_are_read() {
        let p = load_text(
            "name: x\npriority: 20\nvars:\n  a: [1, 2]\nallowed_backends: [splunk]\n\
             postprocessing:\n- type: embed\n  prefix: a\nfinalizers:\n- type: concat\n",
        )
        .unwrap();
        assert_eq!(p.name.as_deref(), Some("x"));
        assert_eq!(p.priority, 20);
        assert_eq!(p.vars.len(), 1);
        assert_eq!(p.allowed_backends, vec!["splunk"]);
        assert_eq!((p.postprocessing.len(), p.finalizers.len()), (1, 1));
    }

    #[test]
    fn unknown_top_level_keys_are_errors() {
        let e = load_text("name: x\ndescription: y\n").unwrap_err();
        assert_eq!(e.code, Code::Pipeline);
        assert_eq!(e.line_col(), Some((2, 1)));
    }

    #[test]
    fn unknown_item_parameters_are_errors() {
        let e = load_text("transformations:\n- type: field_name_prefix\n  prefix: x\n  prefx: y\n")
            .unwrap_err();
        assert_eq!(e.line_col(), Some((4, 3)));
        assert!(e.message.contains("prefx"), "{}", e.message);
    }

    #[test]
    fn priority_must_be_an_integer() {
        let e = load_text("priority: high\n").unwrap_err();
        assert_eq!(e.line_col(), Some((1, 11)));
    }

    #[test]
    fn python_comparisons() {
        assert!(Scalar::Int(1).py_eq(&Scalar::Float(1.0, "1.0".into())));
        assert!(Scalar::Bool(true).py_eq(&Scalar::Int(1)));
        assert!(!Scalar::Str("1".into()).py_eq(&Scalar::Int(1)));
        assert_eq!(Scalar::Str("a".into()).py_cmp(&Scalar::Int(1)), None);
    }
}
