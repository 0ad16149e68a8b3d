//! Embeds the built-in pipelines: every `*.yml` under `backends/` becomes an entry of
//! `EMBEDDED` in `src/pipeline/builtin.rs`, named after its file, described by the comment at
//! its top. Adding a pipeline is adding a file.

use std::error::Error;
use std::fmt::Write;
use std::fs;
use std::path::{Path, PathBuf};

fn main() -> Result<(), Box<dyn Error>> {
    println!("cargo:rerun-if-changed=backends");
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?);
    let mut files = Vec::new();
    let backends = root.join("backends");
    if backends.is_dir() {
        walk(&backends, &mut files)?;
    }
    let mut entries = Vec::new();
    for path in files {
        let name = path
            .file_stem()
            .and_then(|s| s.to_str())
            .ok_or_else(|| format!("{}: file name is not UTF-8", path.display()))?
            .to_string();
        let text = fs::read_to_string(&path)?;
        let rel = path
            .strip_prefix(&root)?
            .to_string_lossy()
            .replace('\\', "/");
        entries.push((name, rel, description(&text), path));
    }
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    if let Some(w) = entries.windows(2).find(|w| w[0].0 == w[1].0) {
        return Err(format!(
            "two built-in pipelines are named `{}`: {} and {}",
            w[0].0, w[0].1, w[1].1
        )
        .into());
    }
    let mut out = String::from("pub(crate) static EMBEDDED: &[Embedded] = &[\n");
    for (name, rel, desc, path) in &entries {
        writeln!(
            out,
            "    Embedded {{ name: {name:?}, path: {rel:?}, description: {desc:?}, text: include_str!({:?}) }},",
            path.to_string_lossy()
        )?;
    }
    out.push_str("];\n");
    let dest = PathBuf::from(std::env::var("OUT_DIR")?).join("builtin_pipelines.rs");
    fs::write(dest, out)?;
    Ok(())
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), Box<dyn Error>> {
    for entry in fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            walk(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "yml") {
            out.push(path);
        }
    }
    Ok(())
}

/// The first paragraph of the leading `#` comment, as one line.
fn description(text: &str) -> String {
    let mut words = Vec::new();
    for line in text.lines() {
        let Some(comment) = line.trim_start().strip_prefix('#') else {
            break;
        };
        let comment = comment.trim();
        if comment.is_empty() {
            if words.is_empty() {
                continue;
            }
            break;
        }
        words.push(comment.to_string());
    }
    words.join(" ")
}
