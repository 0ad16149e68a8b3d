//! `sigc list`: what sigc knows about.

use crate::diagnostic::Code;
use crate::pipeline;
use crate::syntax::ast::Modifier;

pub(crate) enum What {
    Pipelines,
    Modifiers,
    Targets,
    Codes,
    CorrelationMethods,
}

pub(crate) fn run(what: What) -> u8 {
    match what {
        What::Pipelines => {
            for p in pipeline::builtin::list() {
                outln!("{:<28} {}", p.name, p.description);
            }
        }
        What::Modifiers => {
            for m in Modifier::ALL {
                let aliases = m.aliases();
                let alias = if aliases.is_empty() {
                    String::new()
                } else {
                    format!(" (alias: {})", aliases.join(", "))
                };
                outln!("{:<14} {}{alias}", m.name(), m.doc());
            }
        }
        What::Targets => {
            // Each target with its formats (`-f`), the default first.
            for t in crate::driver::convert::targets() {
                let formats = match crate::backend::find(t) {
                    Some(b) => crate::driver::convert::format_names(b).join(", "),
                    None => "default (a binary file, -o)".into(),
                };
                outln!("{t:<10} {formats}");
            }
        }
        What::CorrelationMethods => {
            for m in <crate::backend::CorrelationMethod as clap::ValueEnum>::value_variants() {
                if let Some(v) = clap::ValueEnum::to_possible_value(m) {
                    outln!(
                        "{:<10} {}",
                        v.get_name(),
                        v.get_help().map(ToString::to_string).unwrap_or_default()
                    );
                }
            }
        }
        What::Codes => {
            for c in Code::ALL {
                outln!("{}  {:<24} {}", c.as_str(), c.name(), c.summary());
            }
        }
    }
    0
}
