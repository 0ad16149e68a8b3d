//! Rules → the evaluator: compile a loaded set (YAML) or read a bytecode file into a VM, with
//! the correlations over its matches. Nothing here prints: what loading and compiling report
//! comes back with the result.

use std::sync::Arc;

use crate::bytecode::{Program, codec};
use crate::diagnostic::{Code, Diagnostic};
use crate::eval::correlate::{self, Correlator};
use crate::eval::engine;
use crate::eval::vm::Vm;
use crate::ir::rule::RuleIr;
use crate::load::{self, Item, RuleSet};
use crate::pipeline::{self, Pipelines};

/// The routes rules are evaluated by: the pipelines given as one route, or the default
/// Windows routing (see [`pipeline::route`]).
pub(crate) fn routes(pipelines: &[String]) -> Result<Vec<Pipelines>, Diagnostic> {
    if !pipelines.is_empty() {
        return Ok(vec![pipeline::resolve_all(pipelines)?]);
    }
    pipeline::route::default_routes(&[])
}

/// A compiled program and what it cost: the diagnostics of loading and compiling, and
/// whether any document failed.
pub(crate) struct Compiled<T> {
    pub(crate) value: T,
    pub(crate) diagnostics: Vec<Diagnostic>,
    pub(crate) failed: bool,
}

/// The diagnostics of every document of a set.
pub(crate) fn set_diagnostics(set: &RuleSet) -> Vec<Diagnostic> {
    set.docs
        .iter()
        .flat_map(|d| d.diagnostics.iter().cloned())
        .collect()
}

/// The evaluator's program for the rules of a loaded set (correlations are not in programs).
pub(crate) fn program(set: &RuleSet, routes: &[Pipelines]) -> Compiled<Program> {
    let rules: Vec<Arc<RuleIr>> = set.rules().cloned().collect();
    let (program, problems) = engine::compile(&rules, routes);
    let failed = set.has_errors() || problems.iter().any(Diagnostic::is_error);
    let mut diagnostics = set_diagnostics(set);
    diagnostics.extend(problems);
    Compiled {
        value: program,
        diagnostics,
        failed,
    }
}

/// Rules given on the command line (YAML files and folders, or one bytecode file) as a VM.
pub(crate) fn vm(rules: &[String], pipelines: &[String]) -> Result<Compiled<Vm>, Vec<Diagnostic>> {
    if let Some(vm) = read_bytecode(rules) {
        return vm.map(|value| Compiled {
            value,
            diagnostics: Vec::new(),
            failed: false,
        });
    }
    let routes = routes(pipelines).map_err(|d| vec![d])?;
    let set = load::load(&inputs(rules));
    let c = program(&set, &routes);
    let vm = engine::vm(c.value).map_err(|d| {
        let mut all = c.diagnostics.clone();
        all.push(d);
        all
    })?;
    Ok(Compiled {
        value: vm,
        diagnostics: c.diagnostics,
        failed: c.failed,
    })
}

/// A single bytecode file given as the rules, as a VM; `None` when the rules are YAML.
fn read_bytecode(rules: &[String]) -> Option<Result<Vm, Vec<Diagnostic>>> {
    let [one] = rules else {
        return None;
    };
    let bytes = std::fs::read(one).ok()?;
    if !bytes.starts_with(codec::MAGIC) {
        return None;
    }
    Some(
        codec::decode(&bytes)
            .map_err(|e| vec![Diagnostic::error(Code::Io, format!("{one}: {e}"))])
            .and_then(|program| engine::vm(program).map_err(|d| vec![d])),
    )
}

fn inputs(paths: &[String]) -> Vec<load::Input> {
    paths.iter().map(|p| load::Input::parse(p)).collect()
}

/// What `sigc eval` runs: the VM and the correlations over its matches.
pub(crate) struct Loaded {
    pub(crate) vm: Vm,
    pub(crate) correlator: Correlator,
}

/// [`vm`] plus correlations: their fields are mapped through the same routes and compiled in
/// so every match captures them. (A bytecode file holds no correlations.)
pub(crate) fn evaluator(
    rules: &[String],
    pipelines: &[String],
) -> Result<Compiled<Loaded>, Vec<Diagnostic>> {
    if let Some(vm) = read_bytecode(rules) {
        return vm.map(|vm| Compiled {
            value: Loaded {
                vm,
                correlator: Correlator::default(),
            },
            diagnostics: Vec::new(),
            failed: false,
        });
    }
    let routes = routes(pipelines).map_err(|d| vec![d])?;
    let set = load::load(&inputs(rules));
    evaluator_of(&set, &routes)
}

/// The VM and correlator of a loaded set.
pub(crate) fn evaluator_of(
    set: &RuleSet,
    routes: &[Pipelines],
) -> Result<Compiled<Loaded>, Vec<Diagnostic>> {
    let mut diagnostics = set_diagnostics(set);
    let (docs, rules): (Vec<usize>, Vec<_>) = set
        .docs
        .iter()
        .enumerate()
        .filter_map(|(i, d)| match &d.item {
            Some(Item::Rule(r)) => Some((i, r.clone())),
            _ => None,
        })
        .unzip();
    let (plan, plan_problems) = correlate::plan(set, routes);
    let extra = if plan.is_empty() {
        Vec::new()
    } else {
        plan.fields()
    };
    let (program, problems, compiled) = engine::compile_with(&rules, routes, &extra);
    let failed = set.has_errors() || problems.iter().any(Diagnostic::is_error);
    diagnostics.extend(problems);
    diagnostics.extend(plan_problems);
    let rule_docs = compiled
        .iter()
        .filter_map(|&i| docs.get(i).copied())
        .collect();
    let (correlator, skipped) = Correlator::new(plan, &program.fields, rule_docs, set);
    diagnostics.extend(skipped);
    let vm = engine::vm(program).map_err(|d| {
        let mut all = diagnostics.clone();
        all.push(d);
        all
    })?;
    Ok(Compiled {
        value: Loaded { vm, correlator },
        diagnostics,
        failed,
    })
}
