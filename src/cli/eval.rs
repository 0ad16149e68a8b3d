//! `sigc eval`: run rules over events and print matches as JSON lines.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::time::Instant;

use super::check::report_to_stderr;
use crate::bytecode::{Program, codec};
use crate::diagnostic::{Code, Diagnostic};
use crate::eval::engine::{self, Match, Options, Sink};
use crate::eval::input::ReadError;
use crate::eval::vm::Vm;
use crate::load;
use crate::pipeline::{self, Pipelines};

/// The routing used when no `-p` is given: Windows log sources as Sysmon and Windows event logs
/// write them.
pub(crate) const DEFAULT_ROUTES: &[&[&str]] = &[
    &["sysmon", "windows_powershell", "windows_logsources"],
    &["windows_audit", "windows_powershell", "windows_logsources"],
];

#[derive(clap::Args)]
pub(crate) struct Args {
    /// Rule files or folders (YAML), or a bytecode file from `sigc convert -t bytecode`.
    #[arg(long = "rules", required = true, num_args = 1..)]
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

/// Load rules (YAML or bytecode) and routing into a VM.
pub(crate) fn build_vm(
    rules: &[String],
    pipelines: &[String],
) -> Result<(Vm, bool), Vec<Diagnostic>> {
    if let [one] = rules
        && let Ok(bytes) = std::fs::read(one)
        && bytes.starts_with(codec::MAGIC)
    {
        let program = codec::decode(&bytes)
            .map_err(|e| vec![Diagnostic::error(Code::Io, format!("{one}: {e}"))])?;
        return engine::vm(program)
            .map(|vm| (vm, false))
            .map_err(|d| vec![d]);
    }
    let set = load::load(&super::inputs(rules));
    let mut diags: Vec<Diagnostic> = set
        .docs
        .iter()
        .flat_map(|d| d.diagnostics.iter().cloned())
        .collect();
    let failed = set.has_errors();
    let variants = routes(pipelines).map_err(|d| vec![d])?;
    let rules: Vec<_> = set.rules().cloned().collect();
    let (program, problems) = engine::compile(&rules, &variants);
    let failed = failed || problems.iter().any(Diagnostic::is_error);
    diags.extend(problems);
    report_to_stderr(&diags);
    engine::vm(program)
        .map(|vm| (vm, failed))
        .map_err(|d| vec![d])
}

pub(crate) fn routes(pipelines: &[String]) -> Result<Vec<Pipelines>, Diagnostic> {
    if !pipelines.is_empty() {
        return Ok(vec![pipeline::resolve_all(pipelines)?]);
    }
    let known: Vec<&str> = pipeline::builtin::list().iter().map(|b| b.name).collect();
    DEFAULT_ROUTES
        .iter()
        .filter(|r| r.iter().all(|p| known.contains(p)))
        .map(|r| pipeline::resolve_all(&r.iter().map(|s| s.to_string()).collect::<Vec<_>>()))
        .collect()
}

struct JsonSink<'a> {
    out: Box<dyn Write + Send + 'a>,
    program: &'a Program,
    progress: Option<indicatif::ProgressBar>,
}

impl Sink for JsonSink<'_> {
    fn on_match(&mut self, m: &Match) {
        let _ = writeln!(self.out, "{}", match_json(self.program, m));
    }

    fn on_error(&mut self, e: &ReadError) {
        let msg = format!("warning: {}:{}: {}", e.source, e.index, e.message);
        match &self.progress {
            Some(p) => p.println(msg),
            None => eprintln!("{msg}"),
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

pub(crate) fn run(args: &Args) -> u8 {
    let (vm, mut failed) = match build_vm(&args.rules, &args.pipelines) {
        Ok(v) => v,
        Err(diags) => {
            report_to_stderr(&diags);
            return 2;
        }
    };
    let out: Box<dyn Write + Send> = match &args.output {
        Some(path) => match std::fs::File::create(path) {
            Ok(f) => Box::new(std::io::BufWriter::new(f)),
            Err(e) => {
                report_to_stderr(&[Diagnostic::error(Code::Io, format!("{path}: {e}"))]);
                return 2;
            }
        },
        None => Box::new(std::io::BufWriter::new(std::io::stdout())),
    };
    let progress = std::io::stderr().is_terminal().then(|| {
        let p = indicatif::ProgressBar::new_spinner();
        p.set_style(
            indicatif::ProgressStyle::with_template("{spinner} {pos} events ({per_sec}) {elapsed}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
        );
        p
    });
    let inputs: Vec<PathBuf> = crate::eval::input::expand(&args.events);
    let opts = Options {
        keep_event: args.with_event,
        batch: 4096,
        capture: Vec::new(),
    };
    let started = Instant::now();
    let mut sink = JsonSink {
        out,
        program: &vm.program,
        progress,
    };
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(args.threads.unwrap_or(0))
        .build();
    let stats = match pool {
        Ok(pool) => pool.install(|| engine::run(&vm, &inputs, &opts, &mut sink)),
        Err(_) => engine::run(&vm, &inputs, &opts, &mut sink),
    };
    let elapsed = started.elapsed().as_secs_f64();
    if let Some(p) = &sink.progress {
        p.finish_and_clear();
    }
    let _ = sink.out.flush();
    drop(sink);
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
        "{} events, {} matches from {} of {} rules, {} unreadable records",
        stats.events,
        total,
        fired.len(),
        vm.program.rules.len(),
        stats.errors
    );
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
