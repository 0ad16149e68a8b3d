//! What the CLI integration tests (`sigc convert`, `sigc check`) share: running the binary
//! from the crate root (so paths in the output, and the snapshots, do not depend on where the
//! checkout lives) and the snapshot settings. Each test uses a part of it.
#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Output};

pub fn manifest_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// `sigc ARGS`, run from the crate root.
pub fn sigc(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sigc"))
        .current_dir(manifest_dir())
        .args(args)
        .output()
        .expect("run sigc")
}

/// `sigc convert ARGS`; (exit code, stdout, stderr).
pub fn convert(args: &[&str]) -> (i32, String, String) {
    let out = sigc(&[&["convert"], args].concat());
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).expect("stdout is UTF-8"),
        String::from_utf8(out.stderr).expect("stderr is UTF-8"),
    )
}

/// Snapshots in the top-level `snapshots/` folder, named without the module.
pub fn settings() -> insta::Settings {
    let mut s = insta::Settings::clone_current();
    s.set_snapshot_path("../snapshots");
    s.set_prepend_module_to_snapshot(false);
    s
}
