//! `sigc test`: run rules' tests (see [`crate::driver::tests`]) and report pass/fail per test.

use std::io::Write;

use super::Format;
use super::check::report_to_stderr;
use crate::driver;
use crate::load;

#[derive(clap::Args)]
pub(crate) struct Args {
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    /// Pipelines to use instead of the default Windows routing.
    #[arg(short = 'p', long = "pipeline")]
    pipelines: Vec<String>,
    /// With no paths: the rule folders of this repository's `sigc.yml`, tested with the
    /// pipelines its `tests:` names.
    #[command(flatten)]
    repo: super::build::Repo,
    /// Rule files or folders (default: those of `sigc.yml`).
    paths: Vec<String>,
}

pub(crate) fn run(args: &Args) -> u8 {
    let (paths, pipelines) = if args.paths.is_empty() {
        let config = match args.repo.load() {
            Ok(c) => c,
            Err(code) => return code,
        };
        let paths: Vec<String> = config
            .rules
            .iter()
            .map(|r| config.root.join(r).display().to_string())
            .collect();
        let pipelines = if args.pipelines.is_empty() {
            config.tests.pipelines
        } else {
            args.pipelines.clone()
        };
        (paths, pipelines)
    } else {
        (args.paths.clone(), args.pipelines.clone())
    };
    let set = load::load(&super::inputs(&paths));
    let load_failed = set.has_errors();
    for d in &set.docs {
        if d.failed() {
            report_to_stderr(&d.diagnostics);
        }
    }
    let routes = match driver::eval::routes(&pipelines) {
        Ok(r) => r,
        Err(d) => {
            report_to_stderr(&[d]);
            return 2;
        }
    };
    let outcomes = driver::tests::run(&set, &routes);
    let mut out = std::io::stdout().lock();
    let (mut pass, mut fail, mut skip) = (0, 0, 0);
    for o in &outcomes {
        match o.status {
            "pass" => pass += 1,
            "fail" => fail += 1,
            _ => skip += 1,
        }
        let _ = match args.format {
            Format::Json => writeln!(
                out,
                "{}",
                serde_json::json!({
                    "rule_id": o.rule_id, "path": o.path, "test": o.test, "status": o.status,
                    "expected": o.expected, "actual": o.actual, "reason": o.reason,
                })
            ),
            Format::Text => {
                let detail = match (&o.reason, o.expected, o.actual) {
                    (Some(r), _, _) => format!(" ({r})"),
                    (None, Some(e), Some(a)) => format!(" (expected {e}, got {a})"),
                    (None, None, Some(a)) => format!(" (expected at least 1, got {a})"),
                    _ => String::new(),
                };
                writeln!(
                    out,
                    "{:<4} {} {}{detail}",
                    o.status.to_uppercase(),
                    o.path,
                    o.test
                )
            }
        };
    }
    let summary = format!("{pass} passed, {fail} failed, {skip} skipped");
    // JSON output stays pure JSON lines: the summary goes to stderr there.
    let _ = match args.format {
        Format::Json => writeln!(std::io::stderr(), "{summary}"),
        Format::Text => writeln!(out, "{summary}"),
    };
    u8::from(fail > 0 || load_failed)
}
