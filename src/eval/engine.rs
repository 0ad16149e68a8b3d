//! From a loaded rule set to something that runs: pipelines for log-source routing, compiled
//! bytecode, and the VM; then the driver that streams records through it in parallel, keeping
//! output in input order.

use std::path::PathBuf;
use std::sync::Arc;

use rayon::prelude::*;

use super::event::Event;
use super::input::{self, Item, ReadError};
use super::json;
use super::prefilter::Cache;
use super::vm::Vm;
use crate::bytecode::Program;
use crate::bytecode::compile::Compiler;
use crate::diagnostic::{Code, Diagnostic, Result};
use crate::ir::rule::RuleIr;
use crate::pipeline::Pipelines;
use crate::pipeline::route::{Routed, route};

/// Fields read for a match's timestamp, in order of preference.
pub const TIME_FIELDS: &[&str] = &[
    "@timestamp",
    "TimeCreated_SystemTime",
    "UtcTime",
    "EventTime",
    "timestamp",
    "Timestamp",
];

/// The field that marks an event as a Windows event log record (flat or `Event.System`).
pub const WINDOWS_MARK: &str = "Channel";

/// Compile rules for the evaluator. Each rule is run through every routing variant (a list of
/// pipelines); the variants that claim the rule (apply some item) are ORed, so a
/// `process_creation` rule matches Sysmon 1 events and Security 4688 events, each with its own
/// field names.
///
/// Rules no variant claims: a Windows rule (`product: windows`) whose log source has no route
/// cannot be told apart from other Windows events, so it is reported and left out; a rule of
/// any other product runs on its detection alone, but never on Windows events (which carry a
/// `Channel`), so Zeek or Cisco rules stay quiet on Windows data and still work on their own.
pub fn compile(rules: &[Arc<RuleIr>], variants: &[Pipelines]) -> (Program, Vec<Diagnostic>) {
    let (program, problems, _) = compile_with(rules, variants, &[]);
    (program, problems)
}

/// [`compile`], also interning `extra_fields` (fields correlations group or aggregate by, which
/// no rule may test but every match must capture), and returning for each program rule the
/// index in `rules` it came from.
pub fn compile_with(
    rules: &[Arc<RuleIr>],
    variants: &[Pipelines],
    extra_fields: &[String],
) -> (Program, Vec<Diagnostic>, Vec<usize>) {
    let mut c = Compiler::new();
    let mut compiled = Vec::with_capacity(rules.len());
    let mut problems = Vec::new();
    // Routing applies pipelines rule by rule, the costly part: in parallel, then compiled in
    // order so the program is the same at any thread count.
    let routed: Vec<Result<Routed>> = rules.par_iter().map(|r| route(r, variants)).collect();
    for ((index, rule), routed) in rules.iter().enumerate().zip(routed) {
        let expr = match routed {
            Ok(Routed::Rule(r)) => r.matcher(),
            Ok(Routed::NoRoute) => {
                problems.push(
                    Diagnostic::warning(
                        Code::Unsupported,
                        format!(
                            "rule `{}`: no route for log source {}; it is not evaluated",
                            rule.header.title,
                            crate::ir::display::logsource(&rule.logsource)
                        ),
                    )
                    .with_help("pass a pipeline (-p) that maps this log source to event conditions")
                    .at(&rule.origin.file, rule.origin.span),
                );
                continue;
            }
            Err(d) => {
                problems.push(d);
                continue;
            }
        };
        c.add_rule(rule, &expr);
        compiled.push(index);
    }
    for f in TIME_FIELDS
        .iter()
        .chain(&[WINDOWS_MARK, crate::bytecode::guard::EVENT_ID])
    {
        c.intern_field(f);
    }
    for f in extra_fields {
        c.intern_field(f);
    }
    (c.finish(), problems, compiled)
}

/// A match: rule index into the program, and the record it matched.
#[derive(Debug, Clone)]
pub struct Match {
    pub rule: usize,
    pub source: Arc<str>,
    pub index: u64,
    pub timestamp: Option<String>,
    /// The event's JSON text (kept only on request).
    pub event: Option<String>,
    /// The first value of each field in [`Options::capture`] (in that order), as text;
    /// correlations group and aggregate by them.
    pub captured: Vec<Option<String>>,
}

#[derive(Debug, Default, Clone)]
pub struct Stats {
    pub events: u64,
    pub bytes: u64,
    pub errors: u64,
    pub hits: Vec<u64>,
}

pub struct Options {
    pub keep_event: bool,
    pub batch: usize,
    /// Field ids whose values every match carries (see [`Match::captured`]).
    pub capture: Vec<u32>,
}

/// What happens to each outcome, in input order.
pub trait Sink {
    fn on_match(&mut self, m: &Match);
    fn on_error(&mut self, e: &ReadError);
    /// Called after each batch with the number of events so far (progress).
    fn on_progress(&mut self, _events: u64) {}
}

/// A batch also ends at this many bytes of event text, so long lines cannot pile up.
pub const MAX_BATCH_BYTES: usize = 32 * 1024 * 1024;

/// Records gathered for one parallel step: their texts in one arena, so reading a batch
/// allocates nothing once the arena has grown.
#[derive(Default)]
struct Batch {
    text: String,
    recs: Vec<(usize, usize, Arc<str>, u64)>,
}

impl Batch {
    fn len(&self) -> usize {
        self.recs.len()
    }

    fn clear(&mut self) {
        self.text.clear();
        self.recs.clear();
    }
}

/// Stream every input through the VM. Runs on the current rayon pool; with more than one
/// worker, a reader thread fills the next batch while the pool matches the current one.
pub fn run(vm: &Vm, inputs: &[PathBuf], opts: &Options, sink: &mut dyn Sink) -> Stats {
    let mut stats = Stats {
        hits: vec![0; vm.program.rules.len()],
        ..Stats::default()
    };
    let time_fields: Vec<u32> = TIME_FIELDS
        .iter()
        .filter_map(|f| vm.program.fields.get(f))
        .collect();
    if rayon::current_num_threads() <= 1 {
        let mut batch = Batch::default();
        read_all(inputs, opts, &mut batch, &mut |step, batch| match step {
            Step::Full => flush(vm, batch, &time_fields, opts, &mut stats, sink),
            Step::Error(e) => {
                flush(vm, batch, &time_fields, opts, &mut stats, sink);
                stats.errors += 1;
                sink.on_error(&e);
            }
        });
        flush(vm, &mut batch, &time_fields, opts, &mut stats, sink);
        return stats;
    }
    // Two batches circulate: one being read, one being matched.
    let (full_tx, full_rx) = std::sync::mpsc::sync_channel::<(Batch, Option<ReadError>)>(1);
    let (empty_tx, empty_rx) = std::sync::mpsc::channel::<Batch>();
    let _ = empty_tx.send(Batch::default());
    std::thread::scope(|scope| {
        scope.spawn(move || {
            let mut batch = Batch::default();
            // Once the matching side is gone (it panicked), the rest is skipped.
            let mut gone = false;
            read_all(inputs, opts, &mut batch, &mut |step, batch| {
                if gone {
                    batch.clear();
                    return;
                }
                let next = empty_rx.recv().unwrap_or_default();
                let full = std::mem::replace(batch, next);
                let error = match step {
                    Step::Full => None,
                    Step::Error(e) => Some(e),
                };
                gone = full_tx.send((full, error)).is_err();
            });
            let _ = full_tx.send((batch, None));
        });
        // Owned by this closure, so that a panic while matching drops them before the scope
        // waits for the reader: the reader then sees the channels closed instead of waiting
        // for a batch forever.
        let (full_rx, empty_tx) = (full_rx, empty_tx);
        for (mut batch, error) in full_rx {
            flush(vm, &mut batch, &time_fields, opts, &mut stats, sink);
            if let Some(e) = error {
                stats.errors += 1;
                sink.on_error(&e);
            }
            let _ = empty_tx.send(batch);
        }
    });
    stats
}

/// Why the reader hands a batch over: it is full, or an unreadable record follows it.
enum Step {
    Full,
    Error(ReadError),
}

/// Read every input into `batch`, calling `hand_over` when it is full or before an error (the
/// callee empties or replaces the batch).
fn read_all(
    inputs: &[PathBuf],
    opts: &Options,
    batch: &mut Batch,
    hand_over: &mut dyn FnMut(Step, &mut Batch),
) {
    for path in inputs {
        let mut on_item = |item: Item<'_>| match item {
            Item::Record(r) => {
                let start = batch.text.len();
                batch.text.push_str(r.text);
                let source = match batch.recs.last() {
                    Some(last) if Arc::ptr_eq(&last.2, r.source) => last.2.clone(),
                    _ => r.source.clone(),
                };
                batch.recs.push((start, batch.text.len(), source, r.index));
                if batch.len() >= opts.batch || batch.text.len() >= MAX_BATCH_BYTES {
                    hand_over(Step::Full, batch);
                }
            }
            Item::Error(e) => hand_over(Step::Error(e), batch),
        };
        input::read(path, &mut on_item);
    }
}

enum Outcome {
    Matches(Vec<Match>),
    Error(ReadError),
}

/// Per-thread working memory.
struct Scratch {
    event: Event,
    json: json::Scratch,
    candidates: Vec<u32>,
    cache: Cache,
}

fn flush(
    vm: &Vm,
    batch: &mut Batch,
    time_fields: &[u32],
    opts: &Options,
    stats: &mut Stats,
    sink: &mut dyn Sink,
) {
    if batch.recs.is_empty() {
        return;
    }
    let fields = &vm.program.fields;
    let text = &batch.text;
    let outcomes: Vec<Outcome> = batch
        .recs
        .par_iter()
        .map_init(
            || Scratch {
                event: Event::new(fields.len()),
                json: json::Scratch::default(),
                candidates: Vec::new(),
                cache: Cache::default(),
            },
            |s, (start, end, source, index)| {
                let line = &text[*start..*end];
                match json::read_with(line, fields, &mut s.event, &mut s.json) {
                    Ok(()) => Outcome::Matches(match_event(
                        vm,
                        s,
                        line,
                        source,
                        *index,
                        time_fields,
                        opts,
                    )),
                    Err(e) => Outcome::Error(ReadError {
                        source: source.clone(),
                        index: *index,
                        message: format!("not a JSON object: {} at byte {}", e.message, e.offset),
                    }),
                }
            },
        )
        .collect();
    for ((start, end, _, _), outcome) in batch.recs.iter().zip(outcomes) {
        match outcome {
            Outcome::Matches(ms) => {
                stats.events += 1;
                stats.bytes += (end - start) as u64;
                for m in &ms {
                    stats.hits[m.rule] += 1;
                    sink.on_match(m);
                }
            }
            Outcome::Error(e) => {
                stats.errors += 1;
                sink.on_error(&e);
            }
        }
    }
    batch.recs.clear();
    batch.text.clear();
    sink.on_progress(stats.events);
}

fn match_event(
    vm: &Vm,
    s: &mut Scratch,
    line: &str,
    source: &Arc<str>,
    index: u64,
    time_fields: &[u32],
    opts: &Options,
) -> Vec<Match> {
    let mut out = Vec::new();
    vm.candidates(&mut s.event, &mut s.candidates, &mut s.cache);
    let event = &s.event;
    for &r in s.candidates.iter() {
        let r = r as usize;
        if vm.matches_with(r, event, &mut s.cache) {
            let timestamp = time_fields.iter().find_map(|&f| {
                event
                    .field(f)
                    .find(|v| v.is_scalar())
                    .map(|v| event.text(v).to_string())
            });
            let captured = opts
                .capture
                .iter()
                .map(|&f| {
                    event
                        .field(f)
                        .find(|v| v.is_scalar())
                        .map(|v| event.text(v).to_string())
                })
                .collect();
            out.push(Match {
                rule: r,
                source: source.clone(),
                index,
                timestamp,
                event: opts.keep_event.then(|| line.to_string()),
                captured,
            });
        }
    }
    out
}

/// Build a VM or explain why not.
pub fn vm(program: Program) -> Result<Vm, Diagnostic> {
    Vm::new(program).map_err(|e| Diagnostic::error(Code::Unsupported, e))
}
