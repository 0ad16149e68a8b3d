//! `sigc build` and `sigc init`: a rule repository's output tree (see
//! [`crate::driver::build`]), written or checked, and the starter `sigc.yml`.

use std::io::{IsTerminal, Write};
use std::path::Path;

use super::check::report_to_stderr;
use crate::diagnostic::{Code, Diagnostic};
use crate::driver::build::{self, Change, Difference, Tree};
use crate::driver::config::{self, Config};

/// Where a rule repository's `sigc.yml` is (build, diff and test share these flags).
#[derive(clap::Args)]
pub(crate) struct Repo {
    /// Run in this folder (where `sigc.yml` is).
    #[arg(short = 'C', value_name = "DIR")]
    dir: Option<String>,
    /// The configuration file (default: `sigc.yml` in the folder).
    #[arg(long, value_name = "FILE")]
    config: Option<String>,
}

impl Repo {
    /// Load `sigc.yml`, reporting what is wrong with it (exit 2).
    pub(crate) fn load(&self) -> Result<Config, u8> {
        config::load(&config::locate(self.config.as_deref(), self.dir.as_deref())).map_err(
            |diags| {
                report_to_stderr(&diags);
                2
            },
        )
    }
}

#[derive(clap::Args)]
pub(crate) struct Args {
    #[command(flatten)]
    repo: Repo,
    /// Write nothing: exit 1 with a diff when the committed tree differs from what the rules
    /// generate.
    #[arg(long)]
    check: bool,
    /// How `--check` reports differences: a unified diff, GitHub workflow annotations on the
    /// rule files (with the diff), or one JSON object per file.
    #[arg(long, value_enum, default_value_t = CheckFormat::Text)]
    format: CheckFormat,
    /// Print only errors (for CI logs).
    #[arg(short, long)]
    quiet: bool,
    /// Worker threads (default: all cores). The output is the same at any count.
    #[arg(short = 'j', long)]
    jobs: Option<usize>,
}

#[derive(Clone, Copy, clap::ValueEnum, PartialEq, Eq)]
enum CheckFormat {
    Text,
    Github,
    Json,
}

/// What loading the rules reported: errors always, warnings when asked.
pub(crate) fn report_loading(diags: &[Diagnostic], warnings: bool) {
    let shown: Vec<Diagnostic> = diags
        .iter()
        .filter(|d| d.is_error() || warnings)
        .cloned()
        .collect();
    report_to_stderr(&shown);
}

/// Run `f` on a pool of `jobs` threads (all cores when `None`).
pub(crate) fn with_jobs<T: Send>(jobs: Option<usize>, f: impl FnOnce() -> T + Send) -> T {
    match rayon::ThreadPoolBuilder::new()
        .num_threads(jobs.unwrap_or(0))
        .build()
    {
        Ok(pool) => pool.install(f),
        Err(_) => f(),
    }
}

pub(crate) fn run(args: &Args) -> u8 {
    let config = match args.repo.load() {
        Ok(c) => c,
        Err(code) => return code,
    };
    let progress = (!args.quiet && std::io::stderr().is_terminal()).then(|| {
        let p = indicatif::ProgressBar::new_spinner();
        p.enable_steady_tick(std::time::Duration::from_millis(100));
        p
    });
    let step = |msg: &str| {
        if let Some(p) = &progress {
            p.set_message(msg.to_string());
        }
    };
    step("loading rules");
    let generated = with_jobs(args.jobs, || {
        let outputs = build::prepare(&config)?;
        let set = build::load_rules(&config);
        step(&format!("converting to {} outputs", outputs.len()));
        let tree = build::generate(&config, &config.root, &set, &outputs);
        // As for the tree below.
        std::mem::forget(set);
        Ok::<Tree, Vec<Diagnostic>>(tree)
    });
    if let Some(p) = &progress {
        p.finish_and_clear();
    }
    let tree = match generated {
        Ok(t) => t,
        Err(diags) => {
            report_to_stderr(&diags);
            return 2;
        }
    };
    report_loading(&tree.diagnostics, !args.quiet);
    let out_dir = config.root.join(&config.output);
    let code = if args.check {
        check(&config, &out_dir, &tree, args)
    } else {
        write(&config, &out_dir, &tree, args)
    };
    // Freeing every query and rule one by one costs a tenth of a corpus build, and the process
    // ends here.
    std::mem::forget(tree);
    code
}

fn write(config: &Config, out_dir: &Path, tree: &Tree, args: &Args) -> u8 {
    match build::write(out_dir, tree) {
        Ok(w) => {
            if !args.quiet {
                summary(config, tree, &w);
            }
            u8::from(tree.failed)
        }
        Err(d) => {
            report_to_stderr(&[d]);
            2
        }
    }
}

/// The tree that was written, an output a line, and one closing paragraph.
fn summary(config: &Config, tree: &Tree, w: &build::Written) {
    let mut out = std::io::stdout().lock();
    let out_dir = config.root.join(&config.output);
    let _ = writeln!(out, "{}/", out_dir.display());
    let width = tree.counts.iter().map(|(n, ..)| n.len()).max().unwrap_or(0) + 1;
    for (name, ok, refused) in &tree.counts {
        let files = tree
            .files
            .keys()
            .filter(|f| f.starts_with(&format!("{name}/")))
            .count();
        let refused = if *refused > 0 {
            format!(", {refused} refused")
        } else {
            String::new()
        };
        let _ = writeln!(
            out,
            "  {:<width$} {files:>5} {:<5}  {ok} converted{refused}",
            format!("{name}/"),
            if files == 1 { "file" } else { "files" },
        );
    }
    let _ = writeln!(out, "  {}", build::MANIFEST);
    let refusals: usize = tree.counts.iter().map(|(_, _, r)| r).sum();
    let errors = tree.rows.iter().filter(|r| r.status == "error").count();
    let mut paragraph = vec![format!(
        "Built {} documents into {} outputs: {} files written, {} unchanged, {} removed.",
        tree.documents,
        tree.counts.len(),
        w.written,
        w.unchanged,
        w.removed
    )];
    if refusals > 0 {
        paragraph.push(format!(
            "{refusals} conversions refused (the target cannot express the rule exactly); the reasons are in {}/{}.",
            config.output,
            build::MANIFEST
        ));
    }
    if errors > 0 {
        paragraph.push("Some rules failed to load (above); every other rule was built.".into());
    }
    let _ = writeln!(out, "{}", paragraph.join(" "));
}

fn check(config: &Config, out_dir: &Path, tree: &Tree, args: &Args) -> u8 {
    let diffs = build::compare(out_dir, tree);
    let mut out = std::io::stdout().lock();
    for d in &diffs {
        let shown = format!("{}/{}", config.output, d.file);
        let _ = match args.format {
            CheckFormat::Json => writeln!(
                out,
                "{}",
                serde_json::json!({
                    "file": shown,
                    "change": d.change.as_str(),
                    "rules": d.rules.iter().map(|r| config.root.join(r).display().to_string()).collect::<Vec<_>>(),
                    "diff": unified(d, &shown),
                })
            ),
            CheckFormat::Github => {
                let files: Vec<String> = if d.rules.is_empty() {
                    vec![config.file.path.clone()]
                } else {
                    d.rules
                        .iter()
                        .map(|r| config.root.join(r).display().to_string())
                        .collect()
                };
                for f in files {
                    let _ = writeln!(
                        out,
                        "::error file={},line=1,title=sigc build --check::{} is {} (run sigc build and commit the result)",
                        escape_property(&f),
                        escape_data(&shown),
                        stale_word(d.change)
                    );
                }
                write!(out, "{}", unified(d, &shown))
            }
            CheckFormat::Text => write!(out, "{}", unified(d, &shown)),
        };
    }
    if diffs.is_empty() {
        if !args.quiet && args.format == CheckFormat::Text {
            let _ = writeln!(
                out,
                "{}/ is up to date ({} files)",
                out_dir.display(),
                tree.files.len()
            );
        }
        return u8::from(tree.failed);
    }
    let _ = out.flush();
    report_to_stderr(&[Diagnostic::error(
        Code::StaleOutput,
        format!(
            "{} files of {}/ differ from what the rules generate",
            diffs.len(),
            out_dir.display()
        ),
    )
    .with_help("run `sigc build` and commit the regenerated tree")]);
    1
}

fn stale_word(c: Change) -> &'static str {
    match c {
        Change::Added => "missing",
        Change::Changed => "stale",
        Change::Removed => "no longer generated",
    }
}

/// A unified diff of one file (`a/` the committed tree, `b/` the generated one); binary files
/// are named, not shown.
pub(crate) fn unified(d: &Difference, shown: &str) -> String {
    text_diff(
        &d.old,
        &d.new,
        shown,
        d.change == Change::Added,
        d.change == Change::Removed,
    )
}

/// A unified diff of two versions of a file.
pub(crate) fn text_diff(old: &[u8], new: &[u8], shown: &str, added: bool, removed: bool) -> String {
    let a = if added {
        "/dev/null".to_string()
    } else {
        format!("a/{shown}")
    };
    let b = if removed {
        "/dev/null".to_string()
    } else {
        format!("b/{shown}")
    };
    match (std::str::from_utf8(old), std::str::from_utf8(new)) {
        (Ok(o), Ok(n)) => similar::TextDiff::from_lines(o, n)
            .unified_diff()
            .header(&a, &b)
            .to_string(),
        _ => format!("Binary files {a} and {b} differ\n"),
    }
}

/// GitHub workflow command escapes.
fn escape_data(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

fn escape_property(s: &str) -> String {
    escape_data(s).replace(':', "%3A").replace(',', "%2C")
}

#[derive(clap::Args)]
pub(crate) struct InitArgs {
    /// The folder to write `sigc.yml` in.
    #[arg(default_value = ".")]
    dir: String,
    /// Replace an existing `sigc.yml`.
    #[arg(long)]
    force: bool,
}

/// `sigc init`: write the commented starter `sigc.yml`.
pub(crate) fn init(args: &InitArgs) -> u8 {
    let path = Path::new(&args.dir).join(config::FILE_NAME);
    if path.exists() && !args.force {
        report_to_stderr(&[
            Diagnostic::error(Code::Config, format!("{} exists", path.display()))
                .with_help("pass --force to replace it"),
        ]);
        return 1;
    }
    match std::fs::write(&path, config::STARTER) {
        Ok(()) => {
            outln!(
                "wrote {}: set `rules:` to your rule folders, then run `sigc build`",
                path.display()
            );
            0
        }
        Err(e) => {
            report_to_stderr(&[Diagnostic::error(
                Code::Io,
                format!("{}: {e}", path.display()),
            )]);
            1
        }
    }
}
