//! `sigc eval`: run rules over events and print matches as JSON lines.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::time::Instant;

use super::check::report_to_stderr;
use crate::bytecode::Program;
use crate::diagnostic::{Code, Diagnostic};
use crate::driver;
use crate::eval::correlate::{Correlating, Correlator, Report, ReportSink};
use crate::eval::engine::{self, Match, Options, Sink};
use crate::eval::input::ReadError;
use crate::eval::vm::Vm;

#[derive(clap::Args)]
pub(crate) struct Args {
    /// Rule files or folders (YAML), or a bytecode file from `sigc convert -t bytecode`; one
    /// path per `--rules`, repeatable, so that `sigc eval --rules DIR EVENTS` reads EVENTS as
    /// events.
    #[arg(long = "rules", required = true, num_args = 1)]
    rules: Vec<String>,
    /// Pipelines to apply instead of the default Windows routing (built-in name or YAML file).
    #[arg(short = 'p', long = "pipeline")]
    pipelines: Vec<String>,
    /// Print events/s and per-rule hit counts to stderr.
    #[arg(long)]
    stats: bool,
    /// Write matches to this file instead of stdout.
    #[arg(short = 'o', long = "output")]
    output: Option<String>,
    /// Print each event's fields as the rules read them (flat JSON lines) instead of matches.
    #[arg(long, conflicts_with_all = ["stats", "with_event"])]
    fields: bool,
    /// Include each matched event in the output.
    #[arg(long = "with-event")]
    with_event: bool,
    /// Worker threads (default: all cores).
    #[arg(long)]
    threads: Option<usize>,
    /// Event files or folders: JSON lines, EVTX, .zip/.tar.gz of those; `-` for stdin.
    #[arg(required = true)]
    events: Vec<String>,
}

/// Rules (YAML or bytecode) and routing into a VM, reporting what loading found; whether any
/// document failed comes back with it.
pub(crate) fn build_vm(
    rules: &[String],
    pipelines: &[String],
) -> Result<(Vm, bool), Vec<Diagnostic>> {
    let c = driver::eval::vm(rules, pipelines)?;
    report_to_stderr(&c.diagnostics);
    Ok((c.value, c.failed))
}

/// [`build_vm`] plus correlations.
pub(crate) fn build_eval(
    rules: &[String],
    pipelines: &[String],
) -> Result<(driver::eval::Loaded, bool), Vec<Diagnostic>> {
    let c = driver::eval::evaluator(rules, pipelines)?;
    report_to_stderr(&c.diagnostics);
    Ok((c.value, c.failed))
}

struct JsonSink<'a> {
    out: Box<dyn Write + Send + 'a>,
    program: &'a Program,
    progress: Option<indicatif::ProgressBar>,
    /// Unreadable records warned about so far (only the first [`SHOWN_ERRORS`] are printed).
    errors: u64,
}

/// Unreadable records printed one by one; the rest are counted in the summary.
const SHOWN_ERRORS: u64 = 20;

impl ReportSink for JsonSink<'_> {
    fn on_report(&mut self, r: &Report) {
        let _ = writeln!(self.out, "{}", report_json(r));
    }
}

impl Sink for JsonSink<'_> {
    fn on_match(&mut self, m: &Match) {
        let _ = writeln!(self.out, "{}", match_json(self.program, m));
    }

    fn on_error(&mut self, e: &ReadError) {
        self.errors += 1;
        if self.errors > SHOWN_ERRORS {
            return;
        }
        let msg = format!("warning: {}:{}: {}", e.source, e.index, e.message);
        match &self.progress {
            Some(p) => p.println(msg),
            None => errln!("{msg}"),
        }
    }

    fn on_progress(&mut self, events: u64) {
        if let Some(p) = &self.progress {
            p.set_position(events);
        }
    }
}

pub(crate) fn match_json(program: &Program, m: &Match) -> serde_json::Value {
    let rule = &program.rules[m.rule];
    let mut v = serde_json::json!({
        "rule_id": rule.id,
        "title": rule.title,
        "level": rule.level,
        "tags": rule.tags,
        "timestamp": m.timestamp,
        "source": &*m.source,
        "record": m.index,
    });
    if let (Some(text), Some(obj)) = (&m.event, v.as_object_mut()) {
        obj.insert(
            "event".into(),
            serde_json::from_str(text).unwrap_or(serde_json::Value::Null),
        );
    }
    v
}

/// A correlation report as a JSON line (fields described in [`crate::eval::correlate`]).
pub(crate) fn report_json(r: &Report) -> serde_json::Value {
    let m = &r.meta;
    let group: serde_json::Map<String, serde_json::Value> = r
        .group
        .iter()
        .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
        .collect();
    // Counts and integral sums print as integers, as they are.
    let value = if r.value.fract() == 0.0 && r.value.abs() < 9.0e15 {
        serde_json::json!(r.value as i64)
    } else {
        serde_json::json!(r.value)
    };
    let mut v = serde_json::json!({
        "rule_id": m.id.clone().unwrap_or_default(),
        "title": m.title,
        "level": m.level.clone().unwrap_or_default(),
        "tags": m.tags,
        "correlation": m.kind.name(),
        "group": group,
        "window_start": r.window_start(),
        "window_end": r.window_end(),
        "timespan": m.timespan,
        "value": value,
        "events": r.events,
        "timestamp": r.window_end(),
        "source": &*r.source,
        "record": r.record,
    });
    if m.kind.is_temporal()
        && let Some(obj) = v.as_object_mut()
    {
        obj.insert("rules_fired".into(), serde_json::json!(r.fired));
    }
    v
}

/// Where output goes (`-o FILE` or stdout); `None` after reporting a file that cannot be made.
fn output(args: &Args) -> Option<Box<dyn Write + Send>> {
    match &args.output {
        Some(path) => match std::fs::File::create(path) {
            Ok(f) => Some(Box::new(std::io::BufWriter::new(f))),
            Err(e) => {
                report_to_stderr(&[Diagnostic::error(Code::Io, format!("{path}: {e}"))]);
                None
            }
        },
        None => Some(Box::new(std::io::BufWriter::new(std::io::stdout()))),
    }
}

pub(crate) fn run(args: &Args) -> u8 {
    if args.fields {
        let Some(mut out) = output(args) else {
            return 2;
        };
        return super::fields::run(&args.rules, &args.pipelines, &args.events, &mut out);
    }
    let (driver::eval::Loaded { vm, correlator }, mut failed) =
        match build_eval(&args.rules, &args.pipelines) {
            Ok(v) => v,
            Err(diags) => {
                report_to_stderr(&diags);
                return 2;
            }
        };
    let Some(out) = output(args) else {
        return 2;
    };
    let progress = std::io::stderr().is_terminal().then(|| {
        let p = indicatif::ProgressBar::new_spinner();
        p.set_style(
            indicatif::ProgressStyle::with_template("{spinner} {pos} events ({rate}) {elapsed}")
                .map(|style| {
                    // indicatif's own `per_sec` prints fractions of events (`124,790.865/s`).
                    style.with_key(
                        "rate",
                        |state: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
                            let _ = std::fmt::Write::write_fmt(
                                w,
                                format_args!("{:.0} events/s", state.per_sec()),
                            );
                        },
                    )
                })
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
        );
        p
    });
    let inputs: Vec<PathBuf> = crate::eval::input::expand(&args.events);
    let opts = Options {
        keep_event: args.with_event,
        batch: 4096,
        capture: correlator.capture().to_vec(),
    };
    let started = Instant::now();
    let mut sink = Correlating {
        correlator,
        inner: JsonSink {
            out,
            program: &vm.program,
            progress,
            errors: 0,
        },
    };
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(args.threads.unwrap_or(0))
        .build();
    let stats = match pool {
        Ok(pool) => pool.install(|| engine::run(&vm, &inputs, &opts, &mut sink)),
        Err(_) => engine::run(&vm, &inputs, &opts, &mut sink),
    };
    let elapsed = started.elapsed().as_secs_f64();
    if let Some(p) = &sink.inner.progress {
        p.finish_and_clear();
    }
    let _ = sink.inner.out.flush();
    let correlator = sink.correlator;
    // Summary: rules that fired, most hits first (ties by rule order).
    let mut fired: Vec<(usize, u64)> = stats
        .hits
        .iter()
        .copied()
        .enumerate()
        .filter(|&(_, h)| h > 0)
        .collect();
    fired.sort_by_key(|&(r, h)| (std::cmp::Reverse(h), r));
    let mut err = std::io::stderr().lock();
    for (r, h) in &fired {
        let rule = &vm.program.rules[*r];
        let _ = writeln!(err, "{h:>8}  {:<9} {}", rule.level, rule.title);
    }
    let total: u64 = stats.hits.iter().sum();
    let _ = writeln!(
        err,
        "{} events, {} matches from {} of {} rules, {} unreadable records{}",
        stats.events,
        total,
        fired.len(),
        vm.program.rules.len(),
        stats.errors,
        if stats.errors > SHOWN_ERRORS {
            format!(" (the first {SHOWN_ERRORS} shown above)")
        } else {
            String::new()
        }
    );
    correlation_summary(&mut err, &correlator);
    if args.stats {
        let _ = writeln!(
            err,
            "{:.3} s, {:.0} events/s, {:.1} MB/s",
            elapsed,
            stats.events as f64 / elapsed.max(1e-9),
            stats.bytes as f64 / 1e6 / elapsed.max(1e-9)
        );
    }
    failed |= stats.errors > 0;
    u8::from(failed)
}

/// Reports per correlation, and the matches that could take no part in correlations.
fn correlation_summary(err: &mut dyn Write, c: &Correlator) {
    if c.is_empty() {
        return;
    }
    let mut total = 0;
    let mut reported = 0;
    let mut all = 0;
    for (meta, n) in c.report_counts() {
        all += 1;
        if n > 0 {
            total += n;
            reported += 1;
            let level = meta.level.as_deref().unwrap_or("");
            let _ = writeln!(err, "{n:>8}  {level:<9} {} (correlation)", meta.title);
        }
    }
    let _ = writeln!(
        err,
        "{total} correlation reports from {reported} of {all} correlations"
    );
    if let (n, Some((source, record))) = c.untimed()
        && n > 0
    {
        let _ = writeln!(
            err,
            "warning: {n} matches of correlated rules have no readable timestamp (first: {source}:{record}); they took no part in correlations"
        );
    }
    if c.late() > 0 {
        let _ = writeln!(
            err,
            "warning: {} correlation hits came more than a timespan out of time order and were dropped",
            c.late()
        );
    }
    if c.ungrouped() > 0 {
        let _ = writeln!(
            err,
            "note: {} correlation hits lacked a group-by field and were not counted",
            c.ungrouped()
        );
    }
}
