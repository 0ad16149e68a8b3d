//! From loaded correlation rules to a [`Correlator`], in two steps around compiling the rules:
//! [`plan`] maps the field names through every routing variant (so the compiler can intern
//! them and the reader records them), then [`Correlator::new`] turns names into capture slots,
//! keeps the correlations whose rules all run (following chains), and works out which
//! documents print their own matches.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use super::window::{Cond, MAX_ORDERED_EXPR_RULES, Measure, Rules, Windows};
use super::{Correlator, GroupRead, Meta, Spec};
use crate::diagnostic::{Code, Diagnostic};
use crate::eval::event::FieldTable;
use crate::ir::rule::{CorrelationCondition, CorrelationIr};
use crate::load::{Item, RuleSet};
use crate::pipeline::Pipelines;
use crate::syntax::ast::CorrelationKind;

/// Correlations with their field names per routing variant, before compiling.
#[derive(Debug, Default)]
pub(crate) struct Plan {
    items: Vec<Planned>,
}

#[derive(Debug)]
struct Planned {
    doc: usize,
    corr: Arc<CorrelationIr>,
    group: Vec<GroupNames>,
    /// Candidate names per `condition.field`.
    value: Vec<Vec<String>>,
}

/// A group-by entry's candidate field names: per referenced document (an alias), else default.
#[derive(Debug)]
struct GroupNames {
    default: Vec<String>,
    by_target: Vec<(usize, Vec<String>)>,
}

impl Plan {
    pub(crate) fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Every field name a correlation may read: the compiler interns them.
    pub(crate) fn fields(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        let mut add = |names: &[String]| {
            for n in names {
                if !out.contains(n) {
                    out.push(n.clone());
                }
            }
        };
        for p in &self.items {
            for g in &p.group {
                add(&g.default);
                g.by_target.iter().for_each(|(_, n)| add(n));
            }
            p.value.iter().for_each(|n| add(n));
        }
        out
    }
}

fn push_new(out: &mut Vec<String>, names: impl IntoIterator<Item = String>) {
    for n in names {
        if !out.contains(&n) {
            out.push(n);
        }
    }
}

/// Map every loaded correlation's fields through the routing variants. A correlation that
/// failed to load is left out (the loader reported it); one every variant rejects is reported.
pub(crate) fn plan(set: &RuleSet, variants: &[Pipelines]) -> (Plan, Vec<Diagnostic>) {
    let mut plan = Plan::default();
    let mut diags = Vec::new();
    let logsources = |t: usize| match set.docs.get(t).and_then(|d| d.item.as_ref()) {
        Some(Item::Rule(r)) => vec![r.logsource.clone()],
        _ => Vec::new(),
    };
    for (doc, d) in set.docs.iter().enumerate() {
        let Some(Item::Correlation(c)) = &d.item else {
            continue;
        };
        if d.failed() {
            continue;
        }
        // Each variant maps the names as it would for its rules; a correlation reads the name
        // of whichever route its events took.
        let mut mapped = Vec::new();
        let mut first_err = None;
        if variants.is_empty() {
            mapped.push((**c).clone());
        }
        for v in variants {
            match v.apply_correlation_with(c, &logsources) {
                Ok(m) => mapped.push(m),
                Err(e) => {
                    first_err.get_or_insert(e);
                }
            }
        }
        if mapped.is_empty() {
            diags.extend(first_err);
            continue;
        }
        let mut group = Vec::with_capacity(c.group_by.len());
        for g in &c.group_by {
            group.push(match c.aliases.iter().position(|a| &a.name == g) {
                Some(ai) => alias_names(c, ai, &mapped),
                None => GroupNames {
                    default: field_names(c, g, variants, &logsources),
                    by_target: Vec::new(),
                },
            });
        }
        let value = match &c.condition {
            CorrelationCondition::Compare { fields, .. } => fields
                .iter()
                .enumerate()
                .map(|(k, f)| {
                    let mut names = Vec::new();
                    push_new(
                        &mut names,
                        mapped.iter().filter_map(|m| match &m.condition {
                            CorrelationCondition::Compare { fields, .. } => fields.get(k).cloned(),
                            CorrelationCondition::Expr(_) => None,
                        }),
                    );
                    if names.is_empty() {
                        names.push(f.clone());
                    }
                    names
                })
                .collect(),
            CorrelationCondition::Expr(_) => Vec::new(),
        };
        plan.items.push(Planned {
            doc,
            corr: c.clone(),
            group,
            value,
        });
    }
    (plan, diags)
}

/// The names a plain group-by field takes in each variant. Mapping one entry at a time keeps
/// the link between the entry and its names when a field maps to several.
fn field_names(
    c: &CorrelationIr,
    field: &str,
    variants: &[Pipelines],
    logsources: &dyn Fn(usize) -> Vec<crate::syntax::ast::LogSource>,
) -> Vec<String> {
    let mut names = Vec::new();
    let probe = CorrelationIr {
        group_by: vec![field.to_string()],
        ..c.clone()
    };
    for v in variants {
        if let Ok(m) = v.apply_correlation_with(&probe, logsources) {
            push_new(&mut names, m.group_by);
        }
    }
    if names.is_empty() {
        names.push(field.to_string());
    }
    names
}

/// An alias's names per referenced document; aliases keep their shape through pipelines, so
/// the mapped copies line up with the original.
fn alias_names(c: &CorrelationIr, ai: usize, mapped: &[CorrelationIr]) -> GroupNames {
    let alias = &c.aliases[ai];
    let by_target = alias
        .fields
        .iter()
        .enumerate()
        .map(|(k, (rule, field))| {
            let mut names = Vec::new();
            push_new(
                &mut names,
                mapped.iter().filter_map(|m| {
                    m.aliases
                        .get(ai)
                        .and_then(|a| a.fields.get(k))
                        .map(|(_, f)| f.clone())
                }),
            );
            if names.is_empty() {
                names.push(field.clone());
            }
            (rule.target, names)
        })
        .collect();
    GroupNames {
        default: vec![alias.name.clone()],
        by_target,
    }
}

fn measure(c: &CorrelationIr) -> Measure {
    match (c.kind, &c.condition) {
        (CorrelationKind::EventCount, _) => Measure::Count,
        (CorrelationKind::ValueCount, _) => Measure::Distinct,
        (CorrelationKind::ValueSum, _) => Measure::Sum,
        (CorrelationKind::ValueAvg, _) => Measure::Avg,
        (
            CorrelationKind::ValuePercentile,
            CorrelationCondition::Compare {
                percentile: Some(p),
                ..
            },
        ) => Measure::Percentile(p.value.as_f64()),
        (CorrelationKind::ValuePercentile, _) => Measure::Share,
        (CorrelationKind::Temporal, _) => Measure::Rules,
        (CorrelationKind::TemporalOrdered, _) => Measure::OrderedRules,
    }
}

/// Why a correlation cannot run on its own terms (before looking at its rules).
fn unsupported(c: &CorrelationIr, m: Measure) -> Option<String> {
    if c.timespan.is_none() {
        return Some("it has no timespan".into());
    }
    match &c.condition {
        CorrelationCondition::Compare { fields, .. }
            if matches!(m, Measure::Sum | Measure::Avg | Measure::Percentile(_))
                && fields.len() != 1 =>
        {
            Some(format!(
                "a `{}` correlation aggregates one numeric field; `condition.field` lists {}",
                c.kind.name(),
                fields.len()
            ))
        }
        CorrelationCondition::Expr(_)
            if m == Measure::OrderedRules && c.rules.len() > MAX_ORDERED_EXPR_RULES =>
        {
            Some(format!(
                "a boolean `temporal_ordered` condition is evaluated over at most {MAX_ORDERED_EXPR_RULES} rules; this one names {}",
                c.rules.len()
            ))
        }
        _ => None,
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Status {
    Waiting,
    Ready,
    Skipped,
}

impl Correlator {
    /// Build the correlator for a compiled program; `rule_docs[i]` is the rule-set document of
    /// program rule `i`. Correlations that cannot run are reported (warnings) and skipped;
    /// so is every correlation that chains onto them.
    pub(crate) fn new(
        plan: Plan,
        fields: &FieldTable,
        rule_docs: Vec<usize>,
        set: &RuleSet,
    ) -> (Correlator, Vec<Diagnostic>) {
        let mut diags = Vec::new();
        let compiled: HashSet<usize> = rule_docs.iter().copied().collect();
        let planned: HashMap<usize, usize> = plan
            .items
            .iter()
            .enumerate()
            .map(|(i, p)| (p.doc, i))
            .collect();
        let skip = |p: &Planned, why: String| {
            Diagnostic::warning(
                Code::Unsupported,
                format!("correlation `{}` is skipped: {why}", p.corr.header.title),
            )
            .at(&p.corr.origin.file, p.corr.origin.span)
        };

        // Which correlations can run: their rules are compiled and the correlations they chain
        // onto can run. A worklist from the ready ones up, so deep chains cost no recursion.
        let n = plan.items.len();
        let mut status = vec![Status::Waiting; n];
        let mut waiting_on = vec![0usize; n];
        let mut dependents: Vec<Vec<usize>> = vec![Vec::new(); n];
        let mut queue = Vec::new();
        for (i, p) in plan.items.iter().enumerate() {
            if let Some(why) = unsupported(&p.corr, measure(&p.corr)) {
                diags.push(skip(p, why));
                status[i] = Status::Skipped;
                queue.push(i);
                continue;
            }
            let mut deps = HashSet::new();
            for r in &p.corr.rules {
                if compiled.contains(&r.target) {
                    continue;
                }
                match planned.get(&r.target) {
                    Some(&j) => {
                        deps.insert(j);
                    }
                    None => {
                        let why = format!(
                            "`{}` ({}) is not evaluated (it failed to load, or no route claims it)",
                            r.written,
                            set.name_of(r.target)
                        );
                        diags.push(skip(p, why));
                        status[i] = Status::Skipped;
                        break;
                    }
                }
            }
            if status[i] == Status::Skipped {
                queue.push(i);
                continue;
            }
            waiting_on[i] = deps.len();
            for j in deps {
                dependents[j].push(i);
            }
            if waiting_on[i] == 0 {
                status[i] = Status::Ready;
                queue.push(i);
            }
        }
        while let Some(j) = queue.pop() {
            for &i in &dependents[j] {
                if status[i] != Status::Waiting {
                    continue;
                }
                if status[j] == Status::Skipped {
                    status[i] = Status::Skipped;
                    let why = format!(
                        "it refers to correlation `{}`, which is skipped",
                        plan.items[j].corr.header.title
                    );
                    diags.push(skip(&plan.items[i], why));
                    queue.push(i);
                } else {
                    waiting_on[i] -= 1;
                    if waiting_on[i] == 0 {
                        status[i] = Status::Ready;
                        queue.push(i);
                    }
                }
            }
        }

        let mut slots: HashMap<u32, usize> = HashMap::new();
        let mut capture = Vec::new();
        let mut slot_of = |names: &[String]| -> Vec<usize> {
            names
                .iter()
                .filter_map(|name| fields.get(name))
                .map(|id| {
                    *slots.entry(id).or_insert_with(|| {
                        capture.push(id);
                        capture.len() - 1
                    })
                })
                .collect()
        };
        let mut c = Correlator::default();
        let mut referenced = HashSet::new();
        let mut generated = HashSet::new();
        for (i, p) in plan.items.into_iter().enumerate() {
            if status[i] != Status::Ready {
                continue;
            }
            let corr = &p.corr;
            let s = c.specs.len();
            let canon: Vec<usize> = corr
                .rules
                .iter()
                .map(|r| {
                    corr.rules
                        .iter()
                        .position(|q| q.target == r.target)
                        .unwrap_or(0)
                })
                .collect();
            for (pos, r) in corr.rules.iter().enumerate() {
                referenced.insert(r.target);
                if corr.generate {
                    generated.insert(r.target);
                }
                if canon[pos] == pos {
                    c.by_doc.entry(r.target).or_default().push((s, pos));
                }
            }
            let m = measure(corr);
            let cond = match &corr.condition {
                CorrelationCondition::Compare { bounds, .. } => Cond::Bounds(
                    bounds
                        .iter()
                        .map(|(op, b)| (*op, b.value.as_f64()))
                        .collect(),
                ),
                CorrelationCondition::Expr(e) => Cond::Expr(e.clone()),
            };
            let seconds = corr.timespan.as_ref().map_or(0, |t| t.seconds);
            let h = &corr.header;
            c.specs.push(Spec {
                meta: Arc::new(Meta {
                    id: h.id.clone(),
                    title: h.title.clone(),
                    level: h.level.clone(),
                    tags: h.tags.clone(),
                    kind: corr.kind,
                    timespan: corr
                        .timespan
                        .as_ref()
                        .map_or_else(String::new, |t| t.text.clone()),
                    group_by: corr.group_by.clone(),
                    rules: corr.rules.iter().map(|r| r.written.clone()).collect(),
                }),
                doc: p.doc,
                rules: Rules {
                    measure: m,
                    cond,
                    span: i64::try_from(seconds)
                        .unwrap_or(i64::MAX)
                        .saturating_mul(1000),
                    canon,
                },
                group: p
                    .group
                    .iter()
                    .map(|g| GroupRead {
                        default: slot_of(&g.default),
                        by_target: g
                            .by_target
                            .iter()
                            .map(|(d, names)| (*d, slot_of(names)))
                            .collect(),
                    })
                    .collect(),
                value: p.value.iter().map(|names| slot_of(names)).collect(),
                printed: true,
            });
            c.windows.push(Windows::default());
            c.reports.push(0);
        }
        let printed = |doc: usize| !referenced.contains(&doc) || generated.contains(&doc);
        for s in &mut c.specs {
            s.printed = printed(s.doc);
        }
        c.prints = rule_docs.iter().map(|&d| printed(d)).collect();
        c.rule_docs = rule_docs;
        c.capture = capture;
        (c, diags)
    }
}
