//! The loader on arbitrary UTF-8: YAML → syntax tree → IR → links, then every printer the CLI
//! uses. It must never panic, and a document that fails must say why.
//!
//! Seed with corpus rules and the test fixtures:
//!   mkdir -p fuzz/corpus/load
//!   cp ../shared/corpus/sigma/rules/windows/process_creation/proc_creation_win_a*.yml \
//!      tests/fixtures/*/*.yml fuzz/corpus/load/
//!   cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run load -- -max_total_time=300 -max_len=16384 \
//!       -timeout=10 -rss_limit_mb=2048 -dict=sigma.dict
//! Crashes land in fuzz/artifacts/load/; keep each as a regression test in
//! tests/robustness.rs.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sigc::ir::display;
use sigc::load::{Item, load_text};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let set = load_text("fuzz.yml", text);
    for (i, doc) in set.docs.iter().enumerate() {
        for d in &doc.diagnostics {
            // Spans must stay inside the text: rendering slices the source with them.
            let _ = sigc::diagnostic::render::text(d);
            let _ = sigc::diagnostic::render::json(d);
        }
        if doc.item.is_none() {
            assert!(
                doc.diagnostics.iter().any(|d| d.is_error()),
                "document #{i} failed without an error diagnostic"
            );
        }
        if let Some(ast) = doc.ast() {
            let _ = sigc::syntax::display::document(ast);
        }
        match &doc.item {
            Some(Item::Rule(r)) => {
                let _ = display::rule(r);
            }
            Some(Item::Correlation(c)) => {
                let _ = display::correlation(c, &|t| set.name_of(t));
            }
            Some(Item::Filter(f)) => {
                let _ = display::filter(f);
            }
            None => {}
        }
    }
});
