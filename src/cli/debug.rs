//! `sigc debug ast|ir`: print a stage of each document, for humans and snapshot tests.

use std::io::Write;

use super::check::report_to_stderr;
use crate::ir::display;
use crate::load::{self, Item};
use crate::pipeline;

pub(crate) fn run(ast: bool, pipelines: &[String], paths: &[String]) -> u8 {
    let pipeline = match pipeline::resolve_all(pipelines) {
        Ok(p) => p,
        Err(d) => {
            report_to_stderr(&[d]);
            return 2;
        }
    };
    let set = load::load(&super::inputs(paths));
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut failed = false;
    for doc in &set.docs {
        report_to_stderr(&doc.diagnostics);
        failed |= doc.failed();
        let text = if ast {
            doc.ast().map(crate::syntax::display::document)
        } else {
            match &doc.item {
                Some(Item::Rule(r)) => match pipeline.apply(r) {
                    Ok(r) => Some(display::rule(&r)),
                    Err(d) => {
                        report_to_stderr(&[d]);
                        failed = true;
                        None
                    }
                },
                Some(Item::Correlation(c)) => {
                    let logsources = |t: usize| match set.docs.get(t).and_then(|d| d.item.as_ref())
                    {
                        Some(Item::Rule(r)) => vec![r.logsource.clone()],
                        _ => Vec::new(),
                    };
                    match pipeline.apply_correlation_with(c, &logsources) {
                        Ok(c) => Some(display::correlation(&c, &|t| set.name_of(t))),
                        Err(d) => {
                            report_to_stderr(&[d]);
                            failed = true;
                            None
                        }
                    }
                }
                Some(Item::Filter(f)) => Some(display::filter(f)),
                None => None,
            }
        };
        if let Some(text) = text {
            let _ = writeln!(out, "# {} [{}]", doc.path, doc.index);
            let _ = writeln!(out, "{text}");
        }
    }
    let _ = out.flush();
    u8::from(failed)
}

/// `sigc debug bytecode`: the listing of the program the evaluator would run.
pub(crate) fn bytecode(pipelines: &[String], paths: &[String]) -> u8 {
    match super::eval::build_vm(paths, pipelines) {
        Ok((vm, failed)) => {
            let listing = crate::bytecode::disasm::listing(&vm.program);
            outln!("{}", listing.trim_end_matches('\n'));
            u8::from(failed)
        }
        Err(diags) => {
            report_to_stderr(&diags);
            1
        }
    }
}
