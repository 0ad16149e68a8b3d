//! `sigc list`: what sigc knows about.

use crate::diagnostic::Code;
use crate::pipeline;
use crate::syntax::ast::Modifier;

pub(crate) enum What {
    Pipelines,
    Modifiers,
    Targets,
    Codes,
}

pub(crate) fn run(what: What) -> u8 {
    match what {
        What::Pipelines => {
            for p in pipeline::builtin::list() {
                println!("{:<28} {}", p.name, p.description);
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
                println!("{:<14} {}{alias}", m.name(), m.doc());
            }
        }
        What::Targets => {
            for t in crate::driver::convert::targets() {
                println!("{t}");
            }
        }
        What::Codes => {
            for c in Code::ALL {
                println!("{}  {:<24} {}", c.as_str(), c.name(), c.summary());
            }
        }
    }
    0
}
