//! Processing pipelines in pySigma's YAML format, so existing pipelines load unchanged.
//!
//! A pipeline file has `name`, `priority`, `vars`, `transformations`, `postprocessing`,
//! `finalizers` and `allowed_backends` (any other top-level key is an error, as in pySigma).
//! `postprocessing` and `finalizers` are kept as written ([`Pipeline`]) for the backends. Each
//! transformation item has an `id`, a `type` with that type's parameters, and conditions at
//! three levels (`rule_conditions`, `detection_item_conditions`, `field_name_conditions`, each
//! with `*_cond_op`, `*_cond_not`, or a `*_cond_expr` over named conditions). Unknown types,
//! unknown parameters and malformed values are errors at the pipeline file's line and column.
//!
//! - [`parse`]: the file structure; [`condition`]: the conditions; [`transform`]: the
//!   transformations; [`tree`]: the working copy of a rule's conditions; [`strings`]:
//!   pySigma's string forms and Python regex replacement; [`builtin`]: the pipelines shipped
//!   in `backends/` (embedded by `build.rs`, listed by `sigc list pipelines`).
//!
//! Design decisions:
//! - **Pure.** [`Pipelines::apply`] returns a new rule and never touches its input: one loaded
//!   rule set serves many targets (pySigma mutates rules in place and needs deep copies). The
//!   pipeline state, the applied item ids and the field-name tracking live for one `apply`.
//! - **Order.** Pipelines sort by `priority` (stable: equal priorities keep the order given)
//!   and run as one list of items; `vars` merge, later pipelines winning, as pySigma's `+` does.
//!   A spec that is an existing path (file, or folder of `*.yml`/`*.yaml`) wins over a
//!   built-in of the same name.
//! - **Detection items.** The IR has no detection items; [`tree`] recovers them as runs of
//!   predicates on one field in one AND/OR group. Conditions with `cond: all|any`, drops and
//!   one-to-many mappings act on those items as pySigma does on its items.
//! - **Applied ids.** `RuleIr::applied` lists the explicit `id`s of the items whose rule
//!   conditions matched (pySigma also generates ids for the others; they are never useful in
//!   conditions). Detection items remember the ids of the items that changed them.
//!   Field-level `processing_item_applied` on a detection item asks the item (pySigma asks a
//!   per-field-name table that only its `fields` list feeds); on rule `fields` and correlation
//!   fields it asks that table.
//! - **Values.** `replace_string`, `map_string` and `match_string` see the value as pySigma's
//!   `str()` writes it (`*foo*` for `contains: foo`; keywords as written). `replace_string`
//!   reads untouched text back exactly, where pySigma's re-parse turns a backslash before a
//!   wildcard into a literal `*`; replaced values keep `cased` (pySigma drops it).
//!   A placeholder that expands to several values (`value_placeholders`) becomes an OR of them
//!   inside its value, whatever the item's linking (pySigma would AND them under `|all`).
//! - **Query expressions.** `query_expression_placeholders` yields [`Test::Expression`] with
//!   `{id}` filled in and `{field}` left for the backend, which knows how to quote field names
//!   (pySigma fills `{field}` at conversion time too); `{{`/`}}` are unescaped.
//! - **Dropping.** `drop_detection_item` removes the item from the group that holds it (an
//!   AND loses a constraint, an OR an alternative, a `not x` disappears with `x`). A condition
//!   left with nothing is an error rather than a silent match-all.
//! - **Failures.** `rule_failure` and `detection_item_failure` are `E071` errors located at
//!   the rule, with a help line naming the pipeline item and its position.
//! - **Correlations.** [`Pipelines::apply_correlation`] applies field-name transformations to
//!   group-by, alias and condition fields (aliases and condition fields must stay one field),
//!   `rule_failure`, `set_state` and the `fields` list; detection transformations do nothing
//!   there. `CorrelationIr` has no state or applied list, so those are only seen by later items.
//!
//! [`Test::Expression`]: crate::ir::pred::Test::Expression

pub mod builtin;
mod condition;
mod parse;
pub(crate) mod route;
mod strings;
mod transform;
mod tree;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use indexmap::IndexMap;

pub use parse::Pipeline;
use parse::{ProcessingItem, Scalar};
use transform::{Target, Work};
use tree::Tree;

use crate::diagnostic::{Code, Diagnostic, Result};
use crate::ir::rule::{CorrelationIr, RuleIr};
use crate::load::{Input, read_source};
use crate::source::SourceFile;
use crate::syntax::ast::LogSource;
use crate::yaml::Node;

/// Several pipelines merged by priority, ready to apply.
#[derive(Debug, Default, Clone)]
pub struct Pipelines {
    pipelines: Vec<Arc<Pipeline>>,
    items: Vec<Arc<ProcessingItem>>,
    vars: IndexMap<String, Node>,
}

impl Pipelines {
    /// Merge pipelines: sorted by priority (stable), items concatenated, vars merged.
    pub fn new(mut list: Vec<Pipeline>) -> Pipelines {
        list.sort_by_key(|p| p.priority);
        let mut out = Pipelines::default();
        for p in list {
            out.items.extend(p.items.iter().cloned());
            for (k, v) in &p.vars {
                out.vars.insert(k.clone(), v.clone());
            }
            out.pipelines.push(Arc::new(p));
        }
        out
    }

    /// The merged pipelines, in the order they apply.
    pub fn pipelines(&self) -> &[Arc<Pipeline>] {
        &self.pipelines
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Apply to one rule, returning the transformed copy.
    pub fn apply(&self, rule: &RuleIr) -> Result<RuleIr> {
        if self.items.is_empty() {
            return Ok(rule.clone());
        }
        let mut w = Work {
            header: rule.header.clone(),
            target: Target::Rule {
                logsource: rule.logsource.clone(),
                trees: rule.conditions.iter().map(Tree::build).collect(),
            },
            applied: rule.applied.clone(),
            state: initial_state(&rule.state),
            field_applied: HashMap::new(),
            vars: &self.vars,
            origin: &rule.origin,
        };
        self.run(&mut w)?;
        let Work {
            header,
            target,
            applied,
            state,
            ..
        } = w;
        // Built field by field: cloning the whole rule would copy its conditions only to
        // replace them.
        let mut out = RuleIr {
            origin: rule.origin.clone(),
            header,
            logsource: rule.logsource.clone(),
            conditions: Vec::new(),
            applied,
            state: state
                .into_iter()
                .map(|(k, v)| (k, v.state_text()))
                .collect(),
            filters: rule.filters.clone(),
        };
        if let Target::Rule { logsource, trees } = target {
            out.logsource = logsource;
            out.conditions = Vec::with_capacity(trees.len());
            for (i, t) in trees.iter().enumerate() {
                let Some(e) = t.to_expr() else {
                    return Err(Diagnostic::error(
                        Code::Pipeline,
                        format!(
                            "the pipelines dropped every detection item of condition {}",
                            i + 1
                        ),
                    )
                    .at(&rule.origin.file, rule.origin.span.sub(0, 1))
                    .with_help("narrow the `drop_detection_item` conditions, or reject the rule with `rule_failure`"));
                };
                out.conditions.push(e);
            }
        }
        Ok(out)
    }

    /// Apply to a correlation rule (`logsource` conditions see no referenced rules; see
    /// [`Pipelines::apply_correlation_with`]).
    pub fn apply_correlation(&self, c: &CorrelationIr) -> Result<CorrelationIr> {
        self.apply_correlation_with(c, &|_| Vec::new())
    }

    /// Apply to a correlation rule; `logsources` gives the log sources of the document at an
    /// index of the rule set (the referenced rules), for `logsource` conditions, which match a
    /// correlation when they match any rule it references.
    pub fn apply_correlation_with(
        &self,
        c: &CorrelationIr,
        logsources: &dyn Fn(usize) -> Vec<LogSource>,
    ) -> Result<CorrelationIr> {
        if self.items.is_empty() {
            return Ok(c.clone());
        }
        let mut w = Work {
            header: c.header.clone(),
            target: Target::Correlation {
                corr: Box::new(c.clone()),
                logsources: c.rules.iter().flat_map(|r| logsources(r.target)).collect(),
            },
            applied: Vec::new(),
            state: IndexMap::new(),
            field_applied: HashMap::new(),
            vars: &self.vars,
            origin: &c.origin,
        };
        self.run(&mut w)?;
        match w.target {
            Target::Correlation { mut corr, .. } => {
                corr.header = w.header;
                Ok(*corr)
            }
            Target::Rule { .. } => Ok(c.clone()),
        }
    }

    fn run(&self, w: &mut Work) -> Result<()> {
        for pi in &self.items {
            if !pi.matches_rule(&w.view())? {
                continue;
            }
            if let Some(id) = &pi.id
                && !w.applied.contains(id)
            {
                w.applied.push(id.clone());
            }
            pi.transform.apply(pi, w)?;
        }
        Ok(())
    }
}

fn initial_state(state: &IndexMap<String, String>) -> condition::State {
    state
        .iter()
        .map(|(k, v)| (k.clone(), Scalar::Str(v.clone())))
        .collect()
}

/// Load one pipeline file.
pub fn load_file(path: &Path) -> Result<Pipeline> {
    let file = read_source(&Input::Path(path.to_path_buf()))?;
    parse::load(file)
}

/// Load a pipeline from text (`name` is the path shown in messages).
pub fn load_text(name: &str, text: &str) -> Result<Pipeline> {
    parse::load(SourceFile::new(name, text.to_string()))
}

/// Resolve `-p` arguments: each is a pipeline file, a folder of them, or a built-in name (an
/// existing path wins). The result is merged by priority.
pub fn resolve_all(specs: &[String]) -> Result<Pipelines> {
    let mut loaded = Vec::new();
    for spec in specs {
        let path = Path::new(spec);
        if path.is_dir() {
            let mut files = Vec::new();
            yaml_files(path, &mut files)?;
            files.sort();
            for f in files {
                loaded.push(load_file(&f)?);
            }
        } else if path.exists() {
            loaded.push(load_file(path)?);
        } else if let Some(b) = builtin::find(spec) {
            loaded.push(b.load()?);
        } else {
            let names: Vec<&str> = builtin::list().iter().map(|b| b.name).collect();
            let help = match crate::diagnostic::closest(spec, names.iter().copied()) {
                Some(near) => format!("did you mean `{near}`? (`sigc list pipelines` lists them)"),
                None => format!(
                    "built-in pipelines: {} (see `sigc list pipelines`)",
                    names.join(", ")
                ),
            };
            return Err(Diagnostic::error(
                Code::Pipeline,
                format!("unknown pipeline `{spec}`: not a file and not a built-in pipeline"),
            )
            .with_help(help));
        }
    }
    Ok(Pipelines::new(loaded))
}

fn yaml_files(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    let entries = std::fs::read_dir(dir)
        .map_err(|e| Diagnostic::error(Code::Io, format!("{}: {e}", dir.display())))?;
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            yaml_files(&path, out)?;
        } else if matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("yml" | "yaml")
        ) {
            out.push(path);
        }
    }
    Ok(())
}
