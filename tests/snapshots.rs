//! Snapshot tests: `sigc debug ast` and `sigc debug ir` on one fixture per construct.
//!
//! Fixtures live in `tests/fixtures/{modifiers,values,conditions,correlations,filters,
//! collections}/`; snapshots in the top-level `snapshots/` folder (committed). Every snapshot
//! was read and checked against the Sigma v2.1 specification when it was accepted; a change in
//! one is a change in what sigc makes of a rule, so review it the same way
//! (`cargo insta review`).

use std::path::Path;
use std::process::Command;

/// The fixture folders that hold valid documents (every one must load without error).
const VALID: &str = "{modifiers,values,conditions,correlations,filters,collections}/*.yml";

fn manifest_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Run `sigc debug <stage>` on one fixture, from the crate root so the paths printed in the
/// output (and so the snapshots) do not depend on where the checkout lives.
fn debug(stage: &str, path: &Path) -> String {
    let rel = path
        .strip_prefix(manifest_dir())
        .expect("fixtures are inside the crate");
    let out = Command::new(env!("CARGO_BIN_EXE_sigc"))
        .current_dir(manifest_dir())
        .args(["debug", stage])
        .arg(rel)
        .output()
        .expect("run sigc");
    let stdout = String::from_utf8(out.stdout).expect("stdout is UTF-8");
    let stderr = String::from_utf8(out.stderr).expect("stderr is UTF-8");
    assert_eq!(
        out.status.code(),
        Some(0),
        "`sigc debug {stage} {}` failed on a valid fixture:\n{stderr}",
        rel.display()
    );
    assert!(
        stderr.is_empty(),
        "a valid fixture produced diagnostics:\n{stderr}"
    );
    stdout
}

fn settings() -> insta::Settings {
    let mut s = insta::Settings::clone_current();
    // Relative to this file: the top-level `snapshots/` folder.
    s.set_snapshot_path("../snapshots");
    s.set_prepend_module_to_snapshot(false);
    s
}

#[test]
fn debug_ast() {
    settings().bind(|| {
        insta::glob!("fixtures", VALID, |path| {
            insta::assert_snapshot!("ast", debug("ast", path));
        });
    });
}

#[test]
fn debug_ir() {
    settings().bind(|| {
        insta::glob!("fixtures", VALID, |path| {
            insta::assert_snapshot!("ir", debug("ir", path));
        });
    });
}
