//! Event sources: JSON-lines files, EVTX files, `.zip` and `.tar.gz` archives of those,
//! folders (recursively, sorted), and stdin. Each yields records in order, each with where it
//! came from; a record that cannot be read is reported with its location and skipped.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// One event's JSON text and where it came from (borrowed: sources reuse their buffers).
#[derive(Debug, Clone, Copy)]
pub struct Record<'a> {
    pub text: &'a str,
    pub source: &'a Arc<str>,
    /// Line number (JSON lines, from 1) or event record id (EVTX).
    pub index: u64,
}

/// A record that could not be read.
#[derive(Debug, Clone)]
pub struct ReadError {
    pub source: Arc<str>,
    pub index: u64,
    pub message: String,
}

/// What a source hands out: a record, or an error with its location.
pub enum Item<'a> {
    Record(Record<'a>),
    Error(ReadError),
}

/// Longest JSON line read (events are kilobytes); longer ones are reported and skipped without
/// being held in memory. With two batches in flight and the event copy, a run stays well under
/// 250 MB whatever its input.
pub const MAX_LINE_BYTES: usize = 16 * 1024 * 1024;

/// Expand folders into the event files they hold, sorted for a stable order.
pub fn expand(paths: &[String]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for p in paths {
        let path = PathBuf::from(p);
        if path.is_dir() {
            let mut files = Vec::new();
            walk(&path, &mut files);
            files.sort();
            out.extend(files);
        } else {
            out.push(path);
        }
    }
    out
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            walk(&p, out);
        } else if is_event_file(&p) {
            out.push(p);
        }
    }
}

/// An event file by its name. macOS metadata (`__MACOSX/`, AppleDouble `._name` files, which
/// archives made on a Mac carry beside each file) is not.
fn is_event_file(p: &Path) -> bool {
    let name = p
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    if name.starts_with("._") || p.components().any(|c| c.as_os_str() == "__MACOSX") {
        return false;
    }
    [
        ".json", ".jsonl", ".ndjson", ".evtx", ".zip", ".tar.gz", ".tgz", ".log",
    ]
    .iter()
    .any(|ext| name.ends_with(ext))
}

/// Read every record of `path` (`-` is stdin), calling `f` for each.
pub fn read(path: &Path, f: &mut dyn FnMut(Item<'_>)) {
    let name: Arc<str> = path.display().to_string().into();
    if path.as_os_str() == "-" {
        let stdin = std::io::stdin();
        read_lines(stdin.lock(), &"<stdin>".into(), f);
        return;
    }
    let lower = name.to_ascii_lowercase();
    let file = match std::fs::File::open(path) {
        Ok(file) => file,
        Err(e) => {
            return f(Item::Error(ReadError {
                source: name,
                index: 0,
                message: e.to_string(),
            }));
        }
    };
    if lower.ends_with(".evtx") {
        // The parser reads whole 64 KiB chunks and seeks between them: a read buffer would
        // only add a copy.
        read_evtx(file, &name, f);
    } else if lower.ends_with(".zip") {
        read_zip(file, &name, f);
    } else if lower.ends_with(".tar.gz") || lower.ends_with(".tgz") {
        read_tar(flate2::read::GzDecoder::new(file), &name, f);
    } else {
        read_lines(BufReader::with_capacity(1 << 20, file), &name, f);
    }
}

/// JSON lines: one event per non-blank line. A file holding one pretty-printed JSON object (as
/// evtx tools write a single event) is read as that one event.
pub fn read_lines(mut r: impl BufRead, source: &Arc<str>, f: &mut dyn FnMut(Item<'_>)) {
    let mut lines = Lines::default();
    let mut n = 0u64;
    let mut pretty: Option<(u64, String)> = None;
    let mut skipping = false;
    loop {
        let line = match lines.next(&mut r) {
            Line::Text(line) => line,
            Line::Eof => break,
            Line::Error(e) => {
                f(Item::Error(ReadError {
                    source: source.clone(),
                    index: n + 1,
                    message: e.to_string(),
                }));
                break;
            }
            Line::TooLong => {
                n += 1;
                f(Item::Error(ReadError {
                    source: source.clone(),
                    index: n,
                    message: format!("line longer than {} MiB, skipped", MAX_LINE_BYTES >> 20),
                }));
                continue;
            }
        };
        n += 1;
        let text = match std::str::from_utf8(line) {
            Ok(t) => t.trim(),
            Err(e) => {
                f(Item::Error(ReadError {
                    source: source.clone(),
                    index: n,
                    message: format!("invalid UTF-8 at byte {}", e.valid_up_to()),
                }));
                continue;
            }
        };
        if text.is_empty() {
            continue;
        }
        // An oversized pretty-printed object is passed over up to its closing `}`.
        if skipping {
            skipping = line.first() != Some(&b'}');
            continue;
        }
        // A pretty-printed object spans lines: gather from a lone `{` to its closing `}`.
        if let Some((start, buf)) = &mut pretty {
            if buf.len() + text.len() > MAX_LINE_BYTES {
                f(Item::Error(ReadError {
                    source: source.clone(),
                    index: *start,
                    message: format!(
                        "JSON object longer than {} MiB, skipped",
                        MAX_LINE_BYTES >> 20
                    ),
                }));
                pretty = None;
                skipping = line.first() != Some(&b'}');
                continue;
            }
            buf.push_str(text);
            buf.push('\n');
            if line.first() == Some(&b'}') {
                let (start, text) = (*start, std::mem::take(buf));
                pretty = None;
                f(Item::Record(Record {
                    text: &text,
                    source,
                    index: start,
                }));
            }
            continue;
        }
        if text == "{" {
            pretty = Some((n, String::from("{\n")));
            continue;
        }
        f(Item::Record(Record {
            text,
            source,
            index: n,
        }));
    }
    if let Some((start, _)) = pretty {
        f(Item::Error(ReadError {
            source: source.clone(),
            index: start,
            message: "unterminated JSON object".into(),
        }));
    }
}

/// Splits a reader into lines. A line inside the reader's buffer is handed out where it lies
/// (found with SIMD `memchr`, no copy); only a line that straddles two buffer fills is
/// gathered into `long`.
#[derive(Default)]
struct Lines {
    long: Vec<u8>,
    /// Bytes of the reader's buffer handed out last time, consumed on the next call.
    pending: usize,
}

enum Line<'a> {
    /// A line, without its `\n`.
    Text(&'a [u8]),
    /// A line over [`MAX_LINE_BYTES`], read past without keeping it.
    TooLong,
    Eof,
    Error(std::io::Error),
}

impl Lines {
    fn next<'a, R: BufRead>(&'a mut self, r: &'a mut R) -> Line<'a> {
        r.consume(std::mem::take(&mut self.pending));
        self.long.clear();
        let mut too_long = false;
        loop {
            let buf = match r.fill_buf() {
                Ok(buf) => buf,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Line::Error(e),
            };
            if buf.is_empty() {
                // End of input: the last line may lack its `\n`.
                return match (too_long, self.long.is_empty()) {
                    (true, _) => Line::TooLong,
                    (false, true) => Line::Eof,
                    (false, false) => Line::Text(&self.long),
                };
            }
            match memchr::memchr(b'\n', buf) {
                Some(i) if self.long.is_empty() && !too_long => {
                    self.pending = i + 1;
                    // Re-borrow for 'a: the buffer stays put until the next call consumes it.
                    return match r.fill_buf() {
                        Ok(buf) => Line::Text(&buf[..i]),
                        Err(e) => Line::Error(e),
                    };
                }
                Some(i) => {
                    if !too_long {
                        self.long.extend_from_slice(&buf[..i]);
                    }
                    r.consume(i + 1);
                    too_long |= self.long.len() > MAX_LINE_BYTES;
                    return if too_long {
                        Line::TooLong
                    } else {
                        Line::Text(&self.long)
                    };
                }
                None => {
                    let k = buf.len();
                    if !too_long {
                        self.long.extend_from_slice(buf);
                        if self.long.len() > MAX_LINE_BYTES {
                            too_long = true;
                            self.long.clear();
                        }
                    }
                    r.consume(k);
                }
            }
        }
    }
}

/// EVTX layout: a 4 KiB file header, then chunks of 64 KiB.
const EVTX_HEADER: u64 = 4096;
const EVTX_CHUNK: u64 = 65536;

/// An error and its causes on one line (the evtx crate's outer errors say only where).
fn with_causes(e: &dyn std::error::Error) -> String {
    let mut msg = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        msg.truncate(msg.trim_end_matches('.').len());
        msg.push_str(": ");
        msg.push_str(&c.to_string());
        cause = c.source();
    }
    msg
}

fn read_evtx<R: Read + std::io::Seek>(mut r: R, source: &Arc<str>, f: &mut dyn FnMut(Item<'_>)) {
    // The parser reads whole chunks and stops quietly at a partial one; a file cut short
    // (copied while written, a failed transfer) must say what it lost.
    let len = r
        .seek(std::io::SeekFrom::End(0))
        .and_then(|n| r.rewind().map(|()| n))
        .unwrap_or(0);
    // Compact JSON: indentation would only be produced to be skipped again.
    let settings = evtx::ParserSettings::new().num_threads(1).indent(false);
    let mut parser = match evtx::EvtxParser::from_read_seek(r) {
        Ok(p) => p.with_configuration(settings),
        Err(e) => {
            return f(Item::Error(ReadError {
                source: source.clone(),
                index: 0,
                message: format!("not a readable EVTX file: {}", with_causes(&e)),
            }));
        }
    };
    // Whole chunks rendered into one buffer each: the evtx crate's fastest path (the one its
    // own `evtx_dump` uses); hidden in its docs, hence the exact version pin in Cargo.toml.
    for chunk in parser.chunks_json_bytes(false) {
        let mut start = 0;
        for item in &chunk.items {
            match item {
                evtx::RenderedChunkItem::Record {
                    event_record_id,
                    end,
                } => {
                    let bytes = chunk
                        .data
                        .get(start..end.saturating_sub(1))
                        .unwrap_or_default();
                    start = *end;
                    match std::str::from_utf8(bytes) {
                        Ok(text) => f(Item::Record(Record {
                            text,
                            source,
                            index: *event_record_id,
                        })),
                        Err(e) => f(Item::Error(ReadError {
                            source: source.clone(),
                            index: *event_record_id,
                            message: format!("record is not UTF-8 JSON: {e}"),
                        })),
                    }
                }
                evtx::RenderedChunkItem::Failed(e) => f(Item::Error(ReadError {
                    source: source.clone(),
                    index: match e {
                        evtx::err::EvtxError::FailedToParseRecord { record_id, .. } => *record_id,
                        _ => 0,
                    },
                    message: with_causes(e),
                })),
            }
        }
    }
    let tail = len.saturating_sub(EVTX_HEADER) % EVTX_CHUNK;
    if len > EVTX_HEADER && tail != 0 {
        f(Item::Error(ReadError {
            source: source.clone(),
            index: 0,
            message: format!(
                "truncated EVTX file: it ends {tail} bytes into chunk {} (at file offset {:#x}; \
                 chunks are {} bytes), whose records are not read",
                (len - EVTX_HEADER) / EVTX_CHUNK,
                len - tail,
                EVTX_CHUNK
            ),
        }));
    }
}

fn read_zip(file: std::fs::File, source: &Arc<str>, f: &mut dyn FnMut(Item<'_>)) {
    let mut archive = match zip::ZipArchive::new(file) {
        Ok(a) => a,
        Err(e) => {
            return f(Item::Error(ReadError {
                source: source.clone(),
                index: 0,
                message: format!("not a readable zip archive: {e}"),
            }));
        }
    };
    let mut names: Vec<String> = archive
        .file_names()
        .filter_map(|n| n.ok().map(|n| n.into_owned()))
        .collect();
    names.sort();
    for name in names {
        let member: Arc<str> = format!("{source}!{name}").into();
        if name.ends_with('/') || !is_event_file(Path::new(&name)) {
            continue;
        }
        let entry = match archive.by_name(&name) {
            Ok(e) => e,
            Err(e) => {
                f(Item::Error(ReadError {
                    source: member,
                    index: 0,
                    message: e.to_string(),
                }));
                continue;
            }
        };
        read_member(entry, &name, &member, f);
    }
}

fn read_tar(r: impl Read, source: &Arc<str>, f: &mut dyn FnMut(Item<'_>)) {
    let mut archive = tar::Archive::new(r);
    let entries = match archive.entries() {
        Ok(e) => e,
        Err(e) => {
            return f(Item::Error(ReadError {
                source: source.clone(),
                index: 0,
                message: e.to_string(),
            }));
        }
    };
    for entry in entries {
        let entry = match entry {
            Ok(e) => e,
            Err(e) => {
                f(Item::Error(ReadError {
                    source: source.clone(),
                    index: 0,
                    message: e.to_string(),
                }));
                break;
            }
        };
        let name = entry
            .path()
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        if !entry.header().entry_type().is_file() || !is_event_file(Path::new(&name)) {
            continue;
        }
        let member: Arc<str> = format!("{source}!{name}").into();
        read_member(entry, &name, &member, f);
    }
}

/// An archive member: EVTX needs seeking, so it is buffered; JSON is streamed.
fn read_member(mut r: impl Read, name: &str, member: &Arc<str>, f: &mut dyn FnMut(Item<'_>)) {
    if name.to_ascii_lowercase().ends_with(".evtx") {
        let mut buf = Vec::new();
        if let Err(e) = r.read_to_end(&mut buf) {
            return f(Item::Error(ReadError {
                source: member.clone(),
                index: 0,
                message: e.to_string(),
            }));
        }
        read_evtx(std::io::Cursor::new(buf), member, f);
    } else {
        read_lines(BufReader::with_capacity(1 << 20, r), member, f);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(input: &str, capacity: usize) -> Vec<String> {
        let mut r = BufReader::with_capacity(capacity, input.as_bytes());
        let mut lines = Lines::default();
        let mut out = Vec::new();
        loop {
            match lines.next(&mut r) {
                Line::Text(t) => out.push(String::from_utf8_lossy(t).into_owned()),
                Line::TooLong => out.push("<too long>".into()),
                Line::Eof => return out,
                Line::Error(e) => panic!("{e}"),
            }
        }
    }

    #[test]
    fn lines_inside_and_across_buffer_fills() {
        let input = "a\nbcdefghijklmnop\n\nqr\nlast";
        let want = ["a", "bcdefghijklmnop", "", "qr", "last"];
        // Capacities from one byte (every line straddles fills) to the whole input.
        for capacity in 1..=input.len() + 1 {
            assert_eq!(split(input, capacity), want, "capacity {capacity}");
        }
        assert_eq!(split("x\n", 4), ["x"]);
        assert!(split("", 4).is_empty());
    }
}
