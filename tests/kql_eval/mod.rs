//! An independent reader and evaluator of the KQL that `sigc convert -t kql` emits, for the
//! exactness test (`tests/kql_exactness.rs`). Nothing here calls sigc's code: the parser and
//! the semantics are written from Microsoft's Kusto query reference, so that a wrong
//! translation cannot hide behind a shared bug.
//!
//! - [`parse`]: the subset (a table, `| extend`, `| where`; comparisons, string operators,
//!   `in~`, `matches regex`, the functions the pipelines' computed columns use).
//! - [`eval`]: its meaning over one typed row.
//! - this module: the table schemas of `tests/kusto/schemas/` as column types.
#![allow(dead_code)]

pub mod eval;
pub mod parse;

use eval::{Schema, Type};

/// The schema of `table` from `tests/kusto/schemas/<table>.json`.
pub fn schema(table: &str) -> Result<Schema, String> {
    let path = format!(
        "{}/tests/kusto/schemas/{table}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{path}: {e}"))?;
    let v: serde_json::Value = serde_json::from_str(&text).map_err(|e| format!("{path}: {e}"))?;
    let cols = v["columns"]
        .as_object()
        .ok_or_else(|| format!("{path}: no columns"))?;
    cols.iter()
        .map(|(k, t)| {
            let t = t.as_str().ok_or_else(|| format!("{path}: type of {k}"))?;
            Ok((k.clone(), Type::from_schema(t)?))
        })
        .collect()
}
