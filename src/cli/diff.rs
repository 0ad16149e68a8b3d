//! `sigc diff`: what a change does (see [`crate::driver::diff`]), as text for a terminal,
//! Markdown for a pull-request comment, or JSON for tools.

use std::fmt::Write as _;
use std::io::Write;

use super::build::{Repo, report_loading, text_diff, with_jobs};
use super::check::report_to_stderr;
use crate::driver::diff::{self, Impact, OutputChange, Report, RuleChange, Side};

#[derive(clap::Args)]
pub(crate) struct Args {
    #[command(flatten)]
    repo: Repo,
    /// The revision to compare the working tree with (default: the merge base with the default
    /// branch: origin/HEAD, origin/main, origin/master, main or master).
    #[arg(long, value_name = "REV")]
    base: Option<String>,
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    /// Worker threads (default: all cores).
    #[arg(short = 'j', long)]
    jobs: Option<usize>,
}

#[derive(Clone, Copy, clap::ValueEnum, PartialEq, Eq)]
enum Format {
    Text,
    /// A pull-request comment.
    Markdown,
    Json,
}

pub(crate) fn run(args: &Args) -> u8 {
    let config = match args.repo.load() {
        Ok(c) => c,
        Err(code) => return code,
    };
    let report = match with_jobs(args.jobs, || diff::diff(&config, args.base.as_deref())) {
        Ok(r) => r,
        Err(diags) => {
            report_to_stderr(&diags);
            return 2;
        }
    };
    report_loading(&report.diagnostics, false);
    let text = match args.format {
        Format::Text => text(&report),
        Format::Markdown => markdown(&report),
        Format::Json => format!("{}\n", json(&report)),
    };
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
    0
}

fn short(commit: &str) -> &str {
    commit.get(..12).unwrap_or(commit)
}

fn headline(r: &Report) -> String {
    let baseline = if r.events > 0 {
        format!("; impact measured on {} baseline events", r.events)
    } else {
        String::new()
    };
    let base = if r.commit.starts_with(&r.base) {
        short(&r.commit).to_string()
    } else {
        format!("{} ({})", r.base, short(&r.commit))
    };
    format!(
        "{} rule documents changed against {base}{baseline}",
        r.rules.len()
    )
}

fn impact_line(i: &Result<Impact, String>) -> String {
    match i {
        Ok(i) => format!(
            "{} → {} matched events ({} start matching, {} stop)",
            i.before, i.after, i.started, i.stopped
        ),
        Err(why) => format!("not measured: {why}"),
    }
}

fn side_word(s: &Option<Side>) -> String {
    match s {
        None => "absent".into(),
        Some(s) if s.status == "ok" => "ok".into(),
        Some(s) => format!("{} ({})", s.status, s.reason),
    }
}

/// The query diff of one output, or how its status changed.
fn output_diff(r: &RuleChange, o: &OutputChange) -> String {
    let texts = (
        o.before.as_ref().and_then(|s| s.text.as_deref()),
        o.after.as_ref().and_then(|s| s.text.as_deref()),
    );
    let shown = [&o.after, &o.before]
        .into_iter()
        .flatten()
        .map(|s| s.file.clone())
        .find(|f| f != "-")
        .unwrap_or_else(|| format!("{}/{}", o.output, r.path));
    match texts {
        (None, None) => format!("{} → {}\n", side_word(&o.before), side_word(&o.after)),
        (b, a) => {
            let mut s = String::new();
            if o.before.as_ref().map(|x| &x.status) != o.after.as_ref().map(|x| &x.status) {
                let _ = writeln!(s, "{} → {}", side_word(&o.before), side_word(&o.after));
            }
            s + &text_diff(
                b.unwrap_or("").as_bytes(),
                a.unwrap_or("").as_bytes(),
                &shown,
                b.is_none(),
                a.is_none(),
            )
        }
    }
}

fn text(r: &Report) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "{}", headline(r));
    for rule in &r.rules {
        let _ = writeln!(
            s,
            "\n{} {} [{}] {}",
            rule.kind.as_str(),
            rule.path,
            rule.index,
            rule.title
        );
        let _ = writeln!(s, "  impact: {}", impact_line(&rule.impact));
        if let Ok(i) = &rule.impact {
            for (word, samples) in [
                ("starts", &i.started_samples),
                ("stops", &i.stopped_samples),
            ] {
                for e in samples.iter() {
                    let _ = writeln!(
                        s,
                        "  {word} matching {}:{}: {}",
                        e.source, e.record, e.event
                    );
                }
            }
        }
        let changed: Vec<&OutputChange> = rule.outputs.iter().filter(|o| o.changed()).collect();
        if changed.is_empty() {
            let _ = writeln!(s, "  outputs: unchanged");
        }
        for o in changed {
            let _ = writeln!(s, "  {}:", o.output);
            for line in output_diff(rule, o).lines() {
                let _ = writeln!(s, "    {line}");
            }
        }
    }
    for f in &r.shared {
        let _ = writeln!(s, "\nshared file {}:", f.file);
        for line in shared_diff(f).lines() {
            let _ = writeln!(s, "    {line}");
        }
    }
    s
}

/// The diff of a file many rules share.
fn shared_diff(f: &diff::SharedChange) -> String {
    text_diff(
        f.before.as_deref().unwrap_or_default(),
        f.after.as_deref().unwrap_or_default(),
        &f.file,
        f.before.is_none(),
        f.after.is_none(),
    )
}

fn markdown(r: &Report) -> String {
    let mut s = String::from("## sigc diff\n\n");
    let _ = writeln!(s, "{}.\n", headline(r));
    if r.rules.is_empty() {
        s.push_str("No rule changed.\n");
        return s;
    }
    s.push_str("| rule | change | matched before | after | start | stop |\n|---|---|---:|---:|---:|---:|\n");
    for rule in &r.rules {
        let (b, a, st, sp) = match &rule.impact {
            Ok(i) => (
                i.before.to_string(),
                i.after.to_string(),
                format!("+{}", i.started),
                format!("−{}", i.stopped),
            ),
            Err(_) => ("–".into(), "–".into(), "–".into(), "–".into()),
        };
        let _ = writeln!(
            s,
            "| `{}` {} | {} | {b} | {a} | {st} | {sp} |",
            rule.path,
            md_escape(&rule.title),
            rule.kind.as_str()
        );
    }
    for rule in &r.rules {
        let _ = writeln!(
            s,
            "\n### `{}` — {} ({})\n",
            rule.path,
            md_escape(&rule.title),
            rule.kind.as_str()
        );
        let _ = writeln!(s, "Impact: {}.\n", impact_line(&rule.impact));
        for o in rule.outputs.iter().filter(|o| o.changed()) {
            let _ = writeln!(
                s,
                "<details><summary>{}</summary>\n\n```diff\n{}```\n</details>\n",
                o.output,
                output_diff(rule, o).replace("```", "`\u{200b}``")
            );
        }
        if let Ok(i) = &rule.impact {
            for (word, samples) in [("start", &i.started_samples), ("stop", &i.stopped_samples)] {
                if samples.is_empty() {
                    continue;
                }
                let _ = writeln!(
                    s,
                    "<details><summary>Events that {word} matching (first {})</summary>\n",
                    samples.len()
                );
                for e in samples.iter() {
                    let _ = writeln!(
                        s,
                        "`{}:{}`\n```json\n{}\n```",
                        e.source,
                        e.record,
                        e.event.replace("```", "`\u{200b}``")
                    );
                }
                s.push_str("</details>\n");
            }
        }
    }
    for f in &r.shared {
        let _ = writeln!(
            s,
            "\n<details><summary>{} (shared by many rules)</summary>\n\n```diff\n{}```\n</details>",
            f.file,
            shared_diff(f).replace("```", "`\u{200b}``")
        );
    }
    s
}

fn md_escape(s: &str) -> String {
    s.replace('|', "\\|").replace('<', "&lt;")
}

fn json(r: &Report) -> serde_json::Value {
    let side = |s: &Option<Side>| {
        s.as_ref()
            .map(|s| serde_json::json!({"status": s.status, "reason": s.reason, "text": s.text}))
    };
    let rules: Vec<serde_json::Value> = r
        .rules
        .iter()
        .map(|rule| {
            let sample = |v: &[diff::Sample]| -> Vec<serde_json::Value> {
                v.iter()
                    .map(|e| {
                        serde_json::json!({
                            "source": e.source,
                            "record": e.record,
                            "event": serde_json::from_str::<serde_json::Value>(&e.event).unwrap_or(serde_json::Value::Null),
                        })
                    })
                    .collect()
            };
            let impact = match &rule.impact {
                Ok(i) => serde_json::json!({
                    "before": i.before, "after": i.after, "started": i.started, "stopped": i.stopped,
                    "started_samples": sample(&i.started_samples),
                    "stopped_samples": sample(&i.stopped_samples),
                }),
                Err(why) => serde_json::json!({"not_measured": why}),
            };
            serde_json::json!({
                "path": rule.path,
                "index": rule.index,
                "id": rule.id,
                "title": rule.title,
                "change": rule.kind.as_str(),
                "impact": impact,
                "outputs": rule.outputs.iter().filter(|o| o.changed()).map(|o| serde_json::json!({
                    "output": o.output,
                    "before": side(&o.before),
                    "after": side(&o.after),
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    serde_json::json!({
        "base": r.base,
        "commit": r.commit,
        "events": r.events,
        "unreadable": r.unreadable,
        "rules": rules,
        "shared": r.shared.iter().map(|f| f.file.clone()).collect::<Vec<_>>(),
    })
}
