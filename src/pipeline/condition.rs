//! Processing conditions at pySigma's three levels (rule, detection item, field name), their
//! linking (`*_cond_op`, `*_cond_not`, or a `*_cond_expr` over named conditions) and their
//! evaluation.
//!
//! pySigma's quirks kept on purpose, since pipelines are written against them: with no rule
//! conditions an item always applies (even with `rule_cond_not`), while an empty detection-item
//! or field-name condition list is `all([])` (true) or, with `or`, `any([])` (false), and
//! `*_cond_not` flips that.

use std::collections::HashMap;
use std::sync::Arc;

use indexmap::IndexMap;
use regex::Regex;

use super::parse::{Params, ProcessingItem, Scalar, error, start, wrong};
use super::strings;
use super::tree::{Item, Tree};
use crate::diagnostic::Result;
use crate::ir::pred::{NumOp, Piece, Test};
use crate::ir::rule::{Header, logsource_within};
use crate::source::{SourceFile, Span};
use crate::syntax::ast::LogSource;
use crate::yaml::{Node, NodeKind};

/// The pipeline state (`set_state`), typed as written.
pub(crate) type State = IndexMap<String, Scalar>;

/// What every condition may read while a pipeline runs.
pub(crate) struct Env<'a> {
    pub state: &'a State,
    /// Field name → ids of the items that renamed it (rule `fields`, correlation fields).
    pub field_applied: &'a HashMap<String, Vec<String>>,
}

/// The document a rule condition looks at.
pub(crate) enum Doc<'a> {
    Rule {
        logsource: &'a LogSource,
        trees: &'a [Tree],
    },
    /// A correlation, with the log sources of the rules it references.
    Correlation { logsources: &'a [LogSource] },
}

pub(crate) struct RuleView<'a> {
    pub doc: Doc<'a>,
    pub header: &'a Header,
    pub applied: &'a [String],
    pub env: Env<'a>,
}

/// The conditions of one level of one processing item.
#[derive(Debug)]
pub(crate) struct Conds<C> {
    list: Vec<(C, Span)>,
    logic: Logic,
    negate: bool,
}

#[derive(Debug)]
enum Logic {
    All,
    Any,
    Expr(CondExpr),
}

/// A `*_cond_expr`: `not` binds tighter than `and`, `and` than `or`.
#[derive(Debug)]
enum CondExpr {
    Ref(usize),
    Not(Box<CondExpr>),
    And(Box<CondExpr>, Box<CondExpr>),
    Or(Box<CondExpr>, Box<CondExpr>),
}

type ParseOne<C> = fn(&mut Params, &str) -> Result<Option<C>>;

const RULE_TYPES: &[&str] = &[
    "logsource",
    "contains_detection_item",
    "contains_field",
    "processing_item_applied",
    "processing_state",
    "is_sigma_rule",
    "is_sigma_correlation_rule",
    "rule_attribute",
    "tag",
];
const DETECTION_TYPES: &[&str] = &[
    "match_string",
    "match_value",
    "contains_wildcard",
    "is_null",
    "processing_item_applied",
    "processing_state",
];
const FIELD_TYPES: &[&str] = &[
    "include_fields",
    "exclude_fields",
    "processing_item_applied",
    "processing_state",
];

fn level_name(level: &str) -> &'static str {
    match level {
        "rule" => "rule condition",
        "detection_item" => "detection item condition",
        _ => "field name condition",
    }
}

impl<C> Conds<C> {
    /// Read `{level}_conditions`, `{level}_cond_op`, `{level}_cond_not` and `{level}_cond_expr`
    /// of a processing item.
    pub(crate) fn parse(
        file: &Arc<SourceFile>,
        item: &Node,
        level: &str,
        parse_one: ParseOne<C>,
    ) -> Result<Conds<C>> {
        let mut list = Vec::new();
        let mut names: Vec<String> = Vec::new();
        let key = format!("{level}_conditions");
        let node = item.get(&key);
        let mut named = false;
        match node.map(|n| &n.kind) {
            None | Some(NodeKind::Null) => {}
            Some(NodeKind::Seq(items)) => {
                for c in items {
                    list.push((parse_cond(file, c, level, parse_one)?, c.span));
                }
            }
            Some(NodeKind::Map(entries)) => {
                named = true;
                for (k, c) in entries {
                    names.push(k.scalar_text().unwrap_or_default().to_string());
                    list.push((parse_cond(file, c, level, parse_one)?, c.span));
                }
            }
            Some(_) => {
                if let Some(n) = node {
                    return Err(wrong(file, n, &format!("`{key}`"), "a list or a map"));
                }
            }
        }
        let op_key = format!("{level}_cond_op");
        let op = match item.get(&op_key) {
            None => None,
            Some(n) => match (&n.kind, n.as_str()) {
                (NodeKind::Null, _) => None,
                (_, Some("and")) => Some(Logic::All),
                (_, Some("or")) => Some(Logic::Any),
                _ => {
                    return Err(error(
                        file,
                        n.span,
                        format!("`{op_key}` must be `and` or `or`"),
                    ));
                }
            },
        };
        let not_key = format!("{level}_cond_not");
        let negate = match item.get(&not_key) {
            None => false,
            Some(n) => match n.kind {
                NodeKind::Bool(b) => b,
                NodeKind::Null => false,
                _ => return Err(wrong(file, n, &format!("`{not_key}`"), "true or false")),
            },
        };
        let expr_key = format!("{level}_cond_expr");
        let logic = match item.get(&expr_key).filter(|n| n.kind != NodeKind::Null) {
            None => op.unwrap_or(Logic::All),
            Some(n) => {
                if op.is_some() {
                    return Err(error(
                        file,
                        n.span,
                        format!("`{expr_key}` and `{op_key}` exclude each other"),
                    ));
                }
                if !named {
                    return Err(error(
                        file,
                        n.span,
                        format!(
                            "with `{expr_key}`, `{key}` must be a map from names to conditions"
                        ),
                    ));
                }
                let Some(text) = n.as_str() else {
                    return Err(wrong(file, n, &format!("`{expr_key}`"), "a string"));
                };
                let base = n.span.start as usize + n.content_offset();
                let expr = parse_expr(text, &names)
                    .map_err(|(at, msg)| error(file, Span::new(base + at, base + at + 1), msg))?;
                let mut used = vec![false; names.len()];
                expr.refs(&mut used);
                if let Some(i) = used.iter().position(|u| !u) {
                    return Err(error(
                        file,
                        n.span,
                        format!("`{expr_key}` does not use the condition `{}`", names[i]),
                    )
                    .with_help("use every named condition, or remove the unused ones"));
                }
                Logic::Expr(expr)
            }
        };
        Ok(Conds {
            list,
            logic,
            negate,
        })
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// The linked result, before `*_cond_not`. Every condition is evaluated (as pySigma does),
    /// so a condition that cannot be evaluated is an error even if the result is already known.
    fn eval(
        &self,
        file: &Arc<SourceFile>,
        mut f: impl FnMut(&C) -> std::result::Result<bool, String>,
    ) -> Result<bool> {
        let mut results = Vec::with_capacity(self.list.len());
        for (c, span) in &self.list {
            results.push(f(c).map_err(|msg| error(file, *span, msg))?);
        }
        Ok(match &self.logic {
            Logic::All => results.iter().all(|r| *r),
            Logic::Any => results.iter().any(|r| *r),
            Logic::Expr(e) => e.eval(&results),
        })
    }

    fn eval_negated(
        &self,
        file: &Arc<SourceFile>,
        f: impl FnMut(&C) -> std::result::Result<bool, String>,
    ) -> Result<bool> {
        Ok(self.eval(file, f)? != self.negate)
    }
}

fn parse_cond<C>(
    file: &Arc<SourceFile>,
    node: &Node,
    level: &str,
    parse_one: ParseOne<C>,
) -> Result<C> {
    let what = level_name(level);
    if node.as_map().is_none() {
        return Err(wrong(
            file,
            node,
            &format!("a {what}"),
            "a map with a `type`",
        ));
    }
    let Some(type_node) = node.get("type") else {
        return Err(error(file, start(node), format!("a {what} needs a `type`")));
    };
    let Some(kind) = type_node.as_str() else {
        return Err(wrong(file, type_node, "`type`", "a string"));
    };
    let mut p = Params::new(file, node, format!("{what} `{kind}`"))?;
    p.get("type");
    let Some(c) = parse_one(&mut p, kind)? else {
        let (here, known) = match level {
            "rule" => ("rule_conditions", RULE_TYPES),
            "detection_item" => ("detection_item_conditions", DETECTION_TYPES),
            _ => ("field_name_conditions", FIELD_TYPES),
        };
        let elsewhere = [
            ("rule_conditions", RULE_TYPES),
            ("detection_item_conditions", DETECTION_TYPES),
            ("field_name_conditions", FIELD_TYPES),
        ]
        .into_iter()
        .find(|(_, types)| types.contains(&kind));
        let help = match elsewhere {
            Some((list, _)) => format!("`{kind}` belongs under `{list}`, not `{here}`"),
            None => format!("{here} takes: {}", known.join(", ")),
        };
        return Err(error(
            file,
            type_node.span,
            format!("unknown {what} type `{kind}`"),
        )
        .with_help(help));
    };
    p.finish(&[])?;
    Ok(c)
}

impl CondExpr {
    fn eval(&self, r: &[bool]) -> bool {
        match self {
            CondExpr::Ref(i) => r.get(*i).copied().unwrap_or(false),
            CondExpr::Not(x) => !x.eval(r),
            CondExpr::And(a, b) => a.eval(r) && b.eval(r),
            CondExpr::Or(a, b) => a.eval(r) || b.eval(r),
        }
    }

    fn refs(&self, used: &mut [bool]) {
        match self {
            CondExpr::Ref(i) => {
                if let Some(u) = used.get_mut(*i) {
                    *u = true;
                }
            }
            CondExpr::Not(x) => x.refs(used),
            CondExpr::And(a, b) | CondExpr::Or(a, b) => {
                a.refs(used);
                b.refs(used);
            }
        }
    }
}

/// Parse a condition expression; errors carry the byte offset they point at.
fn parse_expr(text: &str, names: &[String]) -> std::result::Result<CondExpr, (usize, String)> {
    let mut tokens = Vec::new();
    let mut chars = text.char_indices().peekable();
    while let Some(&(i, c)) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
        } else if c == '(' || c == ')' {
            tokens.push((i, c.to_string()));
            chars.next();
        } else if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
            let mut word = String::new();
            while let Some(&(_, c)) = chars.peek() {
                if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                    word.push(c);
                    chars.next();
                } else {
                    break;
                }
            }
            tokens.push((i, word));
        } else {
            return Err((i, format!("unexpected `{c}` in the condition expression")));
        }
    }
    let mut p = ExprParser {
        tokens,
        pos: 0,
        names,
        end: text.len(),
        depth: 0,
    };
    let e = p.or()?;
    match p.tokens.get(p.pos) {
        None => Ok(e),
        Some((at, t)) => Err((*at, format!("unexpected `{t}` in the condition expression"))),
    }
}

struct ExprParser<'a> {
    tokens: Vec<(usize, String)>,
    pos: usize,
    names: &'a [String],
    end: usize,
    depth: usize,
}

impl ExprParser<'_> {
    fn peek(&self) -> Option<&str> {
        self.tokens.get(self.pos).map(|(_, t)| t.as_str())
    }

    fn at(&self) -> usize {
        self.tokens.get(self.pos).map_or(self.end, |(a, _)| *a)
    }

    fn or(&mut self) -> std::result::Result<CondExpr, (usize, String)> {
        let mut e = self.and()?;
        while self.peek() == Some("or") {
            self.pos += 1;
            e = CondExpr::Or(Box::new(e), Box::new(self.and()?));
        }
        Ok(e)
    }

    fn and(&mut self) -> std::result::Result<CondExpr, (usize, String)> {
        let mut e = self.not()?;
        while self.peek() == Some("and") {
            self.pos += 1;
            e = CondExpr::And(Box::new(e), Box::new(self.not()?));
        }
        Ok(e)
    }

    fn not(&mut self) -> std::result::Result<CondExpr, (usize, String)> {
        // Deep nesting is hostile input, not a pipeline anyone writes.
        if self.depth > 64 {
            return Err((
                self.at(),
                "the condition expression nests too deeply".into(),
            ));
        }
        self.depth += 1;
        let e = if self.peek() == Some("not") {
            self.pos += 1;
            CondExpr::Not(Box::new(self.not()?))
        } else {
            self.atom()?
        };
        self.depth -= 1;
        Ok(e)
    }

    fn atom(&mut self) -> std::result::Result<CondExpr, (usize, String)> {
        let at = self.at();
        match self.peek() {
            Some("(") => {
                self.pos += 1;
                let e = self.or()?;
                if self.peek() != Some(")") {
                    return Err((self.at(), "missing `)` in the condition expression".into()));
                }
                self.pos += 1;
                Ok(e)
            }
            Some(t) if !matches!(t, ")" | "and" | "or" | "not") => {
                let Some(i) = self.names.iter().position(|n| n == t) else {
                    return Err((
                        at,
                        format!(
                            "the condition expression names `{t}`, which is not a condition of this item"
                        ),
                    ));
                };
                self.pos += 1;
                Ok(CondExpr::Ref(i))
            }
            Some(t) => Err((at, format!("expected a condition name, found `{t}`"))),
            None => Err((at, "the condition expression ends too early".into())),
        }
    }
}

/// `key`/`val`/`op` of a `processing_state` condition.
#[derive(Debug)]
pub(crate) struct StateCond {
    key: String,
    val: Scalar,
    op: Cmp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cmp {
    Eq,
    Ne,
    Gte,
    Gt,
    Lte,
    Lt,
}

impl Cmp {
    fn parse(p: &mut Params, ops: &[&str]) -> Result<Option<Cmp>> {
        let Some(n) = p.get("op") else {
            return Ok(Some(Cmp::Eq));
        };
        let op = n.as_str().unwrap_or("");
        let c = match op {
            "eq" => Some(Cmp::Eq),
            "ne" => Some(Cmp::Ne),
            "gte" => Some(Cmp::Gte),
            "gt" => Some(Cmp::Gt),
            "lte" => Some(Cmp::Lte),
            "lt" => Some(Cmp::Lt),
            _ => None,
        };
        if c.is_none() && !ops.contains(&op) {
            let mut all = vec!["eq", "ne", "gte", "gt", "lte", "lt"];
            all.extend(ops);
            return Err(p
                .error(n.span, format!("invalid `op`: `{op}`"))
                .with_help(format!("use one of: {}", all.join(", "))));
        }
        Ok(c)
    }

    fn holds(self, o: std::cmp::Ordering) -> bool {
        use std::cmp::Ordering::*;
        match self {
            Cmp::Eq => o == Equal,
            Cmp::Ne => o != Equal,
            Cmp::Gte => o != Less,
            Cmp::Gt => o == Greater,
            Cmp::Lte => o != Greater,
            Cmp::Lt => o == Less,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Cmp::Eq => "eq",
            Cmp::Ne => "ne",
            Cmp::Gte => "gte",
            Cmp::Gt => "gt",
            Cmp::Lte => "lte",
            Cmp::Lt => "lt",
        }
    }
}

impl StateCond {
    fn parse(p: &mut Params) -> Result<StateCond> {
        Ok(StateCond {
            key: p.string("key")?,
            val: p.scalar("val")?,
            op: Cmp::parse(p, &[])?.unwrap_or(Cmp::Eq),
        })
    }

    fn eval(&self, state: &State) -> std::result::Result<bool, String> {
        let Some(v) = state.get(&self.key) else {
            return Ok(false);
        };
        match self.op {
            Cmp::Eq => Ok(v.py_eq(&self.val)),
            Cmp::Ne => Ok(!v.py_eq(&self.val)),
            op => match v.py_cmp(&self.val) {
                Some(o) => Ok(op.holds(o)),
                None => Err(format!(
                    "the state `{}` ({}) cannot be compared with `{}` ({})",
                    self.key,
                    v.state_text(),
                    self.val.state_text(),
                    op.name()
                )),
            },
        }
    }
}

#[derive(Debug)]
pub(crate) enum RuleCond {
    Logsource(LogSource),
    ContainsItem {
        field: Option<String>,
        value: Scalar,
    },
    ContainsField(Option<String>),
    Applied(String),
    State(StateCond),
    IsRule,
    IsCorrelation,
    Attribute {
        attribute: String,
        value: Scalar,
        /// `None`: `in`/`not_in` (with `member`).
        op: Option<Cmp>,
        member: bool,
    },
    Tag(String),
}

impl RuleCond {
    pub(crate) fn parse(p: &mut Params, kind: &str) -> Result<Option<RuleCond>> {
        Ok(Some(match kind {
            "logsource" => {
                let ls = LogSource {
                    category: p.opt_string("category")?,
                    product: p.opt_string("product")?,
                    service: p.opt_string("service")?,
                    ..LogSource::default()
                };
                if ls.category.is_none() && ls.product.is_none() && ls.service.is_none() {
                    return Err(p.error(
                        start(p.node),
                        "a `logsource` condition needs `category`, `product` or `service`",
                    ));
                }
                RuleCond::Logsource(ls)
            }
            "contains_detection_item" => RuleCond::ContainsItem {
                field: p.opt_string("field")?,
                value: p.scalar("value")?,
            },
            "contains_field" => {
                p.req("field")?;
                RuleCond::ContainsField(p.opt_string("field")?)
            }
            "processing_item_applied" => RuleCond::Applied(p.string("processing_item_id")?),
            "processing_state" => RuleCond::State(StateCond::parse(p)?),
            "is_sigma_rule" => RuleCond::IsRule,
            "is_sigma_correlation_rule" => RuleCond::IsCorrelation,
            "rule_attribute" => {
                let attribute = p.string("attribute")?;
                let value = p.scalar("value")?;
                let op_text = p.node.get("op").and_then(Node::as_str).unwrap_or("eq");
                let op = Cmp::parse(p, &["in", "not_in"])?;
                RuleCond::Attribute {
                    attribute,
                    value,
                    op,
                    member: op_text == "in",
                }
            }
            "tag" => RuleCond::Tag(p.string("tag")?),
            _ => return Ok(None),
        }))
    }

    fn eval(&self, v: &RuleView) -> std::result::Result<bool, String> {
        Ok(match self {
            RuleCond::Logsource(want) => match &v.doc {
                Doc::Rule { logsource, .. } => logsource_within(logsource, want),
                Doc::Correlation { logsources } => {
                    logsources.iter().any(|l| logsource_within(l, want))
                }
            },
            RuleCond::ContainsItem { field, value } => {
                let Doc::Rule { trees, .. } = &v.doc else {
                    return Ok(false);
                };
                let mut found = false;
                for t in trees.iter() {
                    t.items(&mut |it| {
                        found |= field.is_some()
                            && it.field == *field
                            && it.tests().any(|t| test_equals(t, value, false));
                    });
                }
                found
            }
            RuleCond::ContainsField(field) => {
                let Doc::Rule { trees, .. } = &v.doc else {
                    return Ok(false);
                };
                let mut found = false;
                for t in trees.iter() {
                    t.items(&mut |it| found |= field.is_some() && it.field == *field);
                }
                found
            }
            RuleCond::Applied(id) => v.applied.iter().any(|a| a == id),
            RuleCond::State(s) => s.eval(v.env.state)?,
            RuleCond::IsRule => matches!(v.doc, Doc::Rule { .. }),
            RuleCond::IsCorrelation => matches!(v.doc, Doc::Correlation { .. }),
            RuleCond::Attribute {
                attribute,
                value,
                op,
                member,
            } => rule_attribute(v.header, attribute, value, *op, *member)?,
            RuleCond::Tag(t) => v.header.tags.iter().any(|x| x == t),
        })
    }
}

const LEVELS: &[&str] = &["informational", "low", "medium", "high", "critical"];
const STATUSES: &[&str] = &[
    "unsupported",
    "deprecated",
    "experimental",
    "test",
    "stable",
];

/// pySigma's `rule_attribute`: lists test membership, levels and statuses compare by rank,
/// dates by date, numbers by value, other strings only for (in)equality. A missing attribute
/// is false (pySigma fails on a missing built-in attribute, such as a rule without `level`).
fn rule_attribute(
    h: &Header,
    attribute: &str,
    value: &Scalar,
    op: Option<Cmp>,
    member: bool,
) -> std::result::Result<bool, String> {
    let Some(node) = h
        .fields
        .iter()
        .find(|(k, _)| k == attribute)
        .map(|(_, n)| n)
    else {
        return Ok(false);
    };
    if let NodeKind::Seq(items) = &node.kind {
        let contains = items
            .iter()
            .filter_map(Scalar::from_node)
            .any(|s| s.py_eq(value));
        return Ok(match op {
            None => contains == member,
            // A list never equals a single value.
            Some(Cmp::Ne) => true,
            Some(_) => false,
        });
    }
    let Some(op) = op else {
        return Err(format!(
            "`in`/`not_in` need a list attribute; `{attribute}` is not a list"
        ));
    };
    let have = Scalar::from_node(node)
        .ok_or_else(|| format!("the attribute `{attribute}` is a map; it cannot be compared"))?;
    let ranked = |names: &[&str], what: &str| -> std::result::Result<Option<bool>, String> {
        let Scalar::Str(h) = &have else {
            return Ok(None);
        };
        let Some(a) = names.iter().position(|n| n == h) else {
            return Ok(None);
        };
        let b = match value {
            Scalar::Str(s) => names.iter().position(|n| n.eq_ignore_ascii_case(s)),
            _ => None,
        }
        .ok_or_else(|| format!("`{}` is not a Sigma {what}", value.state_text()))?;
        Ok(Some(op.holds(a.cmp(&b))))
    };
    match attribute {
        "level" => {
            if let Some(r) = ranked(LEVELS, "level")? {
                return Ok(r);
            }
        }
        "status" => {
            if let Some(r) = ranked(STATUSES, "status")? {
                return Ok(r);
            }
        }
        "date" | "modified" => {
            if let Scalar::Str(d) = &have
                && is_date(d)
            {
                let Scalar::Str(want) = value else {
                    return Err(format!("`{}` is not a date", value.state_text()));
                };
                if !is_date(want) {
                    return Err(format!("`{want}` is not a date (YYYY-MM-DD)"));
                }
                return Ok(op.holds(d.cmp(want)));
            }
        }
        _ => {}
    }
    match &have {
        Scalar::Str(s) => match op {
            Cmp::Eq => Ok(matches!(value, Scalar::Str(v) if v == s)),
            Cmp::Ne => Ok(!matches!(value, Scalar::Str(v) if v == s)),
            _ => Err(format!(
                "`{}` compares strings only with `eq` or `ne`",
                op.name()
            )),
        },
        Scalar::Null => Err(format!("the attribute `{attribute}` is null")),
        _ => {
            let a = have.number().unwrap_or(0.0);
            let b = match value {
                Scalar::Str(s) => s.trim().parse::<f64>().ok(),
                other => other.number(),
            }
            .ok_or_else(|| format!("`{}` is not a number", value.state_text()))?;
            Ok(a.partial_cmp(&b).is_some_and(|o| op.holds(o)))
        }
    }
}

fn is_date(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit())
}

/// A detection item value equals a plain value the way pySigma compares `SigmaType`s with it.
pub(crate) fn test_equals(t: &Test, value: &Scalar, keyword: bool) -> bool {
    match (t, value) {
        (Test::Str(m), Scalar::Str(s)) => {
            strings::from_pieces(strings::parse(s, false), m.cased, keyword) == *m
        }
        (Test::Num(NumOp::Eq, n), Scalar::Int(_) | Scalar::Float(..)) => {
            Some(n.value.as_f64()) == value.number()
        }
        (Test::Bool(b), Scalar::Bool(v)) => b == v,
        (Test::Null, Scalar::Null) => true,
        _ => false,
    }
}

#[derive(Debug)]
pub(crate) enum DetectionCond {
    MatchString { re: Regex, negate: bool, all: bool },
    MatchValue { value: Scalar, all: bool },
    ContainsWildcard { all: bool },
    IsNull { all: bool },
    Applied(String),
    State(StateCond),
}

/// `cond: any|all` of the value conditions (required, as in pySigma).
fn any_all(p: &mut Params) -> Result<bool> {
    let n = p.req("cond")?;
    match n.as_str() {
        Some("all") => Ok(true),
        Some("any") => Ok(false),
        _ => Err(p.error(n.span, "`cond` must be `any` or `all`")),
    }
}

impl DetectionCond {
    pub(crate) fn parse(p: &mut Params, kind: &str) -> Result<Option<DetectionCond>> {
        Ok(Some(match kind {
            "match_string" => {
                let all = any_all(p)?;
                let n = p.req("pattern")?;
                let pattern = p.string("pattern")?;
                let re = strings::compile_match(&pattern).map_err(|m| p.error(n.span, m))?;
                DetectionCond::MatchString {
                    re,
                    negate: p.bool("negate", false)?,
                    all,
                }
            }
            "match_value" => DetectionCond::MatchValue {
                all: any_all(p)?,
                value: p.scalar("value")?,
            },
            "contains_wildcard" => DetectionCond::ContainsWildcard { all: any_all(p)? },
            "is_null" => DetectionCond::IsNull { all: any_all(p)? },
            "processing_item_applied" => DetectionCond::Applied(p.string("processing_item_id")?),
            "processing_state" => DetectionCond::State(StateCond::parse(p)?),
            _ => return Ok(None),
        }))
    }

    fn eval(&self, it: &Item, env: &Env) -> std::result::Result<bool, String> {
        let keyword = it.field.is_none();
        let values = |all: bool, f: &dyn Fn(&Test) -> bool| {
            if all {
                it.tests().all(f)
            } else {
                it.tests().any(f)
            }
        };
        Ok(match self {
            DetectionCond::MatchString { re, negate, all } => values(*all, &|t| {
                let hit = match t {
                    Test::Str(m) => {
                        re.is_match(&strings::plain(&strings::sigma_pieces(m, keyword)))
                    }
                    _ => false,
                };
                hit != *negate
            }),
            DetectionCond::MatchValue { value, all } => {
                values(*all, &|t| test_equals(t, value, keyword))
            }
            DetectionCond::ContainsWildcard { all } => values(*all, &|t| match t {
                Test::Str(m) => strings::sigma_pieces(m, keyword)
                    .iter()
                    .any(|p| matches!(p, Piece::AnyStr | Piece::AnyChar)),
                _ => false,
            }),
            DetectionCond::IsNull { all } => values(*all, &|t| matches!(t, Test::Null)),
            DetectionCond::Applied(id) => it.applied.iter().any(|a| a == id),
            DetectionCond::State(s) => s.eval(env.state)?,
        })
    }
}

#[derive(Debug)]
pub(crate) enum FieldCond {
    Fields {
        fields: Vec<String>,
        /// `mode: re`: the names are regular expressions matched at the start.
        patterns: Option<Vec<Regex>>,
        exclude: bool,
    },
    Applied(String),
    State(StateCond),
}

/// What a field name condition is asked about.
#[derive(Clone, Copy)]
pub(crate) enum FieldSubject<'a> {
    /// A detection item: its field, or a field it references (`fieldref`).
    Item(&'a Item),
    /// Only the field of a detection item.
    ItemField(&'a Item),
    /// A field name outside detections (rule `fields`, correlation fields, `fieldref` values).
    Name(Option<&'a str>),
}

impl FieldCond {
    pub(crate) fn parse(p: &mut Params, kind: &str) -> Result<Option<FieldCond>> {
        Ok(Some(match kind {
            "include_fields" | "exclude_fields" => {
                let fields = p.strings("fields")?;
                let patterns = match p.get("mode") {
                    None => None,
                    Some(n) => match n.as_str() {
                        Some("plain") => None,
                        Some("re") => Some(
                            fields
                                .iter()
                                .map(|f| strings::compile_match(f).map_err(|m| p.error(n.span, m)))
                                .collect::<Result<Vec<_>>>()?,
                        ),
                        _ => return Err(p.error(n.span, "`mode` must be `plain` or `re`")),
                    },
                };
                FieldCond::Fields {
                    fields,
                    patterns,
                    exclude: kind == "exclude_fields",
                }
            }
            "processing_item_applied" => FieldCond::Applied(p.string("processing_item_id")?),
            "processing_state" => FieldCond::State(StateCond::parse(p)?),
            _ => return Ok(None),
        }))
    }

    fn name_matches(&self, name: Option<&str>) -> bool {
        let FieldCond::Fields {
            fields,
            patterns,
            exclude,
        } = self
        else {
            return false;
        };
        let included = name.is_some_and(|n| match patterns {
            None => fields.iter().any(|f| f == n),
            Some(res) => res.iter().any(|r| r.is_match(n)),
        });
        included != *exclude
    }

    fn eval(&self, s: FieldSubject, env: &Env) -> std::result::Result<bool, String> {
        Ok(match (self, s) {
            (FieldCond::State(c), _) => c.eval(env.state)?,
            (FieldCond::Fields { .. }, FieldSubject::Item(it)) => {
                self.name_matches(it.field.as_deref())
                    || it.tests().any(|t| match t {
                        Test::FieldRef(r) => self.name_matches(Some(&r.other)),
                        _ => false,
                    })
            }
            (FieldCond::Fields { .. }, FieldSubject::ItemField(it)) => {
                self.name_matches(it.field.as_deref())
            }
            (FieldCond::Fields { .. }, FieldSubject::Name(n)) => self.name_matches(n),
            (FieldCond::Applied(id), FieldSubject::Item(it) | FieldSubject::ItemField(it)) => {
                it.applied.iter().any(|a| a == id)
            }
            (FieldCond::Applied(id), FieldSubject::Name(n)) => n
                .and_then(|n| env.field_applied.get(n))
                .is_some_and(|ids| ids.iter().any(|a| a == id)),
        })
    }
}

impl ProcessingItem {
    /// The rule conditions; with none, the item applies to every rule.
    pub(crate) fn matches_rule(&self, v: &RuleView) -> Result<bool> {
        if self.rule_conds.is_empty() {
            return Ok(true);
        }
        self.rule_conds.eval_negated(&self.file, |c| c.eval(v))
    }

    /// Detection item and field name conditions on a detection item.
    pub(crate) fn matches_item(&self, it: &Item, env: &Env) -> Result<bool> {
        let det = self
            .detection_conds
            .eval_negated(&self.file, |c| c.eval(it, env))?;
        let field = self.matches_field(FieldSubject::Item(it), env)?;
        Ok(det && field)
    }

    /// Field name conditions alone.
    pub(crate) fn matches_field(&self, s: FieldSubject, env: &Env) -> Result<bool> {
        self.field_conds
            .eval_negated(&self.file, |c| c.eval(s, env))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expr(text: &str) -> std::result::Result<CondExpr, (usize, String)> {
        let names: Vec<String> = ["a", "b", "c-1"].iter().map(|s| s.to_string()).collect();
        parse_expr(text, &names)
    }

    #[test]
    fn expressions_follow_precedence() {
        let e = expr("a or not b and c-1").unwrap();
        // a or ((not b) and c)
        assert!(e.eval(&[true, true, false]));
        assert!(!e.eval(&[false, true, true]));
        assert!(e.eval(&[false, false, true]));
        let e = expr("(a or b) and not c-1").unwrap();
        assert!(!e.eval(&[true, false, true]));
        assert!(e.eval(&[false, true, false]));
    }

    #[test]
    fn expression_errors_point_into_the_text() {
        assert_eq!(expr("a and x").unwrap_err().0, 6);
        assert_eq!(expr("(a or b").unwrap_err().0, 7);
        assert_eq!(expr("a b").unwrap_err().0, 2);
        assert!(expr(&"not ".repeat(200)).is_err());
    }

    fn header(fields: &str) -> Header {
        let file = SourceFile::new("r.yml", fields.to_string());
        let docs = crate::yaml::parse_documents(&file).unwrap();
        let mut h = Header::default();
        for (k, v) in docs[0].as_map().unwrap() {
            h.fields
                .push((k.scalar_text().unwrap().to_string(), v.clone()));
        }
        h
    }

    #[test]
    fn rule_attributes_compare_by_type() {
        let h = header(
            "level: high\nstatus: test\ndate: 2023-05-01\nauthor: me\nscore: 5\nreferences: [a, b]\n",
        );
        let s = |v: &str| Scalar::Str(v.into());
        let attr = |a: &str, v: Scalar, op: Option<Cmp>, member: bool| {
            rule_attribute(&h, a, &v, op, member)
        };
        assert_eq!(attr("level", s("medium"), Some(Cmp::Gte), false), Ok(true));
        assert_eq!(
            attr("level", s("critical"), Some(Cmp::Gte), false),
            Ok(false)
        );
        assert_eq!(
            attr("status", s("experimental"), Some(Cmp::Gt), false),
            Ok(true)
        );
        assert_eq!(
            attr("date", s("2023-06-01"), Some(Cmp::Lt), false),
            Ok(true)
        );
        assert_eq!(attr("author", s("me"), Some(Cmp::Eq), false), Ok(true));
        assert!(attr("author", s("me"), Some(Cmp::Gt), false).is_err());
        assert_eq!(
            attr("score", Scalar::Int(4), Some(Cmp::Gt), false),
            Ok(true)
        );
        assert_eq!(attr("references", s("b"), None, true), Ok(true));
        assert_eq!(attr("references", s("b"), None, false), Ok(false));
        assert_eq!(attr("references", s("b"), Some(Cmp::Eq), false), Ok(false));
        assert_eq!(attr("missing", s("b"), Some(Cmp::Eq), false), Ok(false));
        assert!(attr("level", s("severe"), Some(Cmp::Eq), false).is_err());
    }
}
