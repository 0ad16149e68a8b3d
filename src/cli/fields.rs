//! `sigc eval --fields`: the events as the rules read them, instead of the matches. Each event
//! becomes one flat JSON object: every field some rule or correlation reads that the event has
//! (under the rule's name for it, whatever the event's shape: flat, nested EVTX JSON,
//! Winlogbeat), its values as text (an array when the field has several), `null` for a JSON
//! null; `sigc_values`, every scalar value of the event (what keywords search); `sigc_source`
//! and `sigc_index`, where it came from. Loading these lines into another engine (Spark reads
//! them as they are) gives it the same fields the evaluator sees.

use std::io::Write;

use serde_json::{Map, Value as Json};

use crate::eval::event::{Event, Kind};
use crate::eval::input::{self, Item};
use crate::eval::json;

pub(crate) fn run(
    rules: &[String],
    pipelines: &[String],
    events: &[String],
    out: &mut dyn Write,
) -> u8 {
    // With the correlations' fields (group-by, alias and value fields), so an engine that
    // runs a correlation from these lines has what the evaluator groups and counts by.
    let (vm, mut failed) = match super::eval::build_eval(rules, pipelines) {
        Ok((loaded, failed)) => (loaded.vm, failed),
        Err(diags) => {
            super::check::report_to_stderr(&diags);
            return 2;
        }
    };
    let fields = &vm.program.fields;
    let mut event = Event::new(fields.len());
    for path in input::expand(events) {
        input::read(&path, &mut |item| match item {
            Item::Record(r) => {
                if let Err(e) = json::read(r.text, fields, &mut event) {
                    errln!("{}:{}: byte {}: {}", r.source, r.index, e.offset, e.message);
                    failed = true;
                    return;
                }
                let mut obj = Map::new();
                obj.insert("sigc_source".into(), Json::from(r.source.as_ref()));
                obj.insert("sigc_index".into(), Json::from(r.index));
                for &f in event.present_fields() {
                    let values: Vec<Json> = event
                        .field(f)
                        .filter_map(|v| match v.kind {
                            Kind::Object => None,
                            Kind::Null => Some(Json::Null),
                            _ => Some(Json::from(event.text(v))),
                        })
                        .collect();
                    let value = match <[Json; 1]>::try_from(values) {
                        Ok([one]) => one,
                        Err(many) if many.is_empty() => continue,
                        Err(many) => Json::Array(many),
                    };
                    obj.insert(fields.name(f).to_string(), value);
                }
                let all: Vec<Json> = event.all().map(|v| Json::from(event.text(v))).collect();
                obj.insert("sigc_values".into(), Json::Array(all));
                let _ = writeln!(out, "{}", Json::Object(obj));
            }
            Item::Error(e) => {
                errln!("{}:{}: {}", e.source, e.index, e.message);
                failed = true;
            }
        });
    }
    let _ = out.flush();
    u8::from(failed)
}
