//! The command line: argument parsing and one file per command.

/// `println!` that never panics: a closed stdout (`sigc list | head -1`) cuts what is printed
/// short, not the process.
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout().lock(), $($arg)*);
    }};
}

/// `eprintln!` that never panics: a closed stderr (`... 2>&1 | head -2`) loses the message,
/// not the run.
macro_rules! errln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr().lock(), $($arg)*);
    }};
}

mod build;
mod check;
mod convert;
mod debug;
mod diff;
mod eval;
mod fields;
mod list;
mod test;

use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

#[derive(Parser)]
#[command(
    name = "sigc",
    version,
    about = "A Sigma rule compiler: check rules, and convert them to SIEM queries"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Build a rule repository's whole output tree from its `sigc.yml` (or, with `--check`,
    /// verify the committed tree is what the rules generate).
    Build(build::Args),
    /// What the changes since a git revision do: query diffs per output, and each changed
    /// rule's matches on the baseline events before and after.
    Diff(diff::Args),
    /// Write a commented starter `sigc.yml`.
    Init(build::InitArgs),
    /// Print sigc's version.
    Version,
    /// Load and lower rules, reporting every problem with file:line:col.
    Check {
        /// Output format.
        #[arg(long, value_enum, default_value_t = CheckFormat::Text)]
        format: CheckFormat,
        /// Fail on these too: `warnings` makes any warning fail the exit code.
        #[arg(long, value_enum)]
        deny: Vec<Deny>,
        /// Rewrite what has one right fix before checking: re-indent a rule whose YAML lost
        /// its indentation, write v1 dates as `YYYY-MM-DD`.
        #[arg(long)]
        fix: bool,
        /// Rule files or folders (`-` for stdin).
        #[arg(required = true)]
        paths: Vec<String>,
    },
    /// Explain a diagnostic code (e.g. `sigc explain E046`).
    Explain {
        /// The code (`E046`) or its name (`never-matches`).
        code: String,
    },
    /// Rewrite rules into valid Sigma v2.1: re-indent flattened YAML, fix v1 leftovers, and turn
    /// v1-style aggregations (`| count() by`, custom `clustering:` blocks) into a correlation
    /// rule plus its base rule. Prints the result (or writes it with `-o`).
    Migrate {
        /// The rule file to migrate.
        path: String,
        /// Write here instead of standard output.
        #[arg(short, long)]
        output: Option<String>,
    },
    /// Print an internal stage (syntax tree or IR) of each document.
    Debug {
        #[arg(value_enum)]
        stage: Stage,
        /// Apply these pipelines before printing the IR (built-in name or YAML file).
        #[arg(short = 'p', long = "pipeline")]
        pipelines: Vec<String>,
        #[arg(required = true)]
        paths: Vec<String>,
    },
    /// List built-in pipelines, modifiers, targets or diagnostic codes.
    List {
        #[arg(value_enum)]
        what: ListWhat,
    },
    /// Convert rules to a target query language.
    Convert(convert::Args),
    /// Run rules over events (JSON lines, EVTX, archives) and print the matches.
    Eval(eval::Args),
    /// Run rules' tests (SigmaHQ regression data, and `<rule>.tests.yml` files).
    Test(test::Args),
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
pub(crate) enum Format {
    Text,
    Json,
}

/// Output formats of `sigc check`.
#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
pub(crate) enum CheckFormat {
    Text,
    Json,
    /// SARIF 2.1.0, for code scanning (one log for the whole run).
    Sarif,
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
pub(crate) enum Deny {
    Warnings,
}

#[derive(Clone, Copy, ValueEnum)]
enum Stage {
    Ast,
    Ir,
    /// The compiled evaluator program (of rules, or of a bytecode file).
    Bytecode,
}

#[derive(Clone, Copy, ValueEnum)]
enum ListWhat {
    Pipelines,
    Modifiers,
    /// Targets, each with its formats.
    Targets,
    /// The same as `targets` (sigma-cli's name).
    Formats,
    Codes,
    /// How correlation windows are cut (`--correlation-method`).
    CorrelationMethods,
}

/// Exit codes: 0 all documents succeeded; 1 some failed; 2 the command line or setup is wrong.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let code = match cli.command {
        Command::Check {
            format,
            deny,
            fix,
            paths,
        } => check::run(
            &check::Options {
                format,
                deny_warnings: deny.contains(&Deny::Warnings),
                fix,
            },
            &paths,
        ),
        Command::Explain { code } => check::explain(&code),
        Command::Migrate { path, output } => check::migrate(&path, output.as_deref()),
        Command::Debug {
            stage,
            pipelines,
            paths,
        } => match stage {
            Stage::Bytecode => debug::bytecode(&pipelines, &paths),
            _ => debug::run(matches!(stage, Stage::Ast), &pipelines, &paths),
        },
        Command::List { what } => list::run(match what {
            ListWhat::Pipelines => list::What::Pipelines,
            ListWhat::Modifiers => list::What::Modifiers,
            ListWhat::Targets | ListWhat::Formats => list::What::Targets,
            ListWhat::CorrelationMethods => list::What::CorrelationMethods,
            ListWhat::Codes => list::What::Codes,
        }),
        Command::Build(args) => build::run(&args),
        Command::Diff(args) => diff::run(&args),
        Command::Init(args) => build::init(&args),
        Command::Version => {
            outln!("sigc {}", env!("CARGO_PKG_VERSION"));
            0
        }
        Command::Convert(args) => convert::run(&args),
        Command::Eval(args) => eval::run(&args),
        Command::Test(args) => test::run(&args),
    };
    ExitCode::from(code)
}

fn inputs(paths: &[String]) -> Vec<crate::load::Input> {
    paths.iter().map(|p| crate::load::Input::parse(p)).collect()
}
