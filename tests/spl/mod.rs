//! An independent reader and evaluator of the SPL that `sigc convert -t splunk` emits, for the
//! exactness test (`tests/splunk_exactness.rs`). Nothing here calls sigc's own code: the JSON
//! reader, the event flattening, the SPL parser and its semantics are written from the formats'
//! and Splunk's documentation, so that a wrong translation cannot hide behind a shared bug.
//!
//! - [`parse`]: the SPL subset (search terms and the `where` expression language).
//! - [`eval`]: its semantics over one event.
//! - this module: events (a field → values map, named as sigc names them) and the readers of
//!   the event files (JSON lines, concatenated pretty-printed JSON, `.zip`, `.tar.gz`).
#![allow(dead_code)]

pub mod eval;
pub mod parse;

use std::cell::OnceCell;
use std::collections::HashMap;
use std::io::Read;
use std::path::Path;

/// One value of a field: its text (a JSON string unescaped, a number as written, `true`/`false`)
/// and, computed on first use, its lowercase form.
#[derive(Debug, Clone)]
pub struct Val {
    pub text: String,
    lower: OnceCell<String>,
}

impl Val {
    pub fn new(text: impl Into<String>) -> Val {
        Val {
            text: text.into(),
            lower: OnceCell::new(),
        }
    }

    pub fn lower(&self) -> &str {
        self.lower.get_or_init(|| self.text.to_lowercase())
    }
}

/// An event as Splunk would see its fields: each name with its values (several for a JSON array
/// or when two leaves answer to one name). A JSON `null` is no value (Splunk drops nulls), an
/// object is not a value (only its leaves are), an empty array is no value.
///
/// Names follow sigc's documented model (`src/eval/event.rs`), re-implemented here: a top-level
/// key is a field by its own name; every nested leaf is a field by its dotted key path (array
/// levels add no key); leaves under `Event.System`, `Event.EventData` and `Event.UserData.<x>`
/// are also fields by their own name, `#text` standing for its parent and an attribute joined to
/// its element with `_` (`Provider_Name`); Winlogbeat's `event_data.X` / `winlog.event_data.X`
/// are also `X`, and its `log_name`/`winlog.channel`, `event_id`, `computer_name`,
/// `source_name`/`provider_name` are also `Channel`, `EventID`, `Computer`, `Provider_Name`.
#[derive(Debug, Default, Clone)]
pub struct Event {
    pub fields: HashMap<String, Vec<Val>, foldhash::fast::RandomState>,
}

impl Event {
    pub fn get(&self, field: &str) -> &[Val] {
        self.fields.get(field).map_or(&[], |v| v.as_slice())
    }

    pub fn has(&self, field: &str) -> bool {
        !self.get(field).is_empty()
    }

    fn push(&mut self, name: &str, text: &str) {
        match self.fields.get_mut(name) {
            Some(v) => v.push(Val::new(text)),
            None => {
                self.fields.insert(name.to_string(), vec![Val::new(text)]);
            }
        }
    }

    /// Parse one JSON object (the whole of `text`) into an event.
    pub fn from_json(text: &str) -> Result<Event, String> {
        let mut r = Json {
            b: text.as_bytes(),
            s: text,
            pos: 0,
        };
        let mut ev = Event::default();
        let mut path: Vec<String> = Vec::new();
        r.ws();
        if r.peek() != Some(b'{') {
            return Err("an event must be a JSON object".into());
        }
        r.value(&mut ev, &mut path, 0)?;
        r.ws();
        if r.pos != r.b.len() {
            return Err(format!("text after the JSON object at byte {}", r.pos));
        }
        Ok(ev)
    }

    /// Record a scalar leaf found at `path` under every name it answers to.
    fn leaf(&mut self, path: &[String], text: &str) {
        match path {
            [] => {}
            [key] => {
                self.push(key, text);
                let alias = match key.as_str() {
                    "log_name" | "channel" => Some("Channel"),
                    "event_id" => Some("EventID"),
                    "computer_name" => Some("Computer"),
                    "provider_name" | "source_name" => Some("Provider_Name"),
                    _ => None,
                };
                if let Some(a) = alias {
                    self.push(a, text);
                }
            }
            _ => {
                self.push(&path.join("."), text);
                if path.len() <= 6
                    && let Some(short) = short_name(path)
                {
                    self.push(&short, text);
                }
            }
        }
    }
}

/// The short name of a nested leaf, if it has one.
fn short_name(path: &[String]) -> Option<String> {
    let p: Vec<&str> = path.iter().map(|s| s.as_str()).collect();
    match p.as_slice() {
        ["event_data", name] | ["winlog", "event_data", name] => return Some(name.to_string()),
        ["winlog", key] => {
            return Some(
                match *key {
                    "channel" => "Channel",
                    "event_id" => "EventID",
                    "computer_name" => "Computer",
                    "provider_name" => "Provider_Name",
                    _ => return None,
                }
                .to_string(),
            );
        }
        _ => {}
    }
    let rest = match p.as_slice() {
        ["Event", "System" | "EventData", rest @ ..] => rest,
        ["Event", "UserData", _, rest @ ..] => rest,
        _ => return None,
    };
    match rest {
        [name] => Some(name.to_string()),
        [name, "#text"] => Some(name.to_string()),
        [name, "#attributes", attr] => Some(format!("{name}_{attr}")),
        _ => None,
    }
}

/// A small JSON reader that keeps numbers as written.
struct Json<'a> {
    b: &'a [u8],
    s: &'a str,
    pos: usize,
}

impl Json<'_> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.pos).copied()
    }

    fn ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.pos += 1;
        }
    }

    fn err(&self, m: &str) -> String {
        format!("{m} at byte {}", self.pos)
    }

    fn value(
        &mut self,
        ev: &mut Event,
        path: &mut Vec<String>,
        depth: usize,
    ) -> Result<(), String> {
        if depth > 200 {
            return Err(self.err("nesting too deep"));
        }
        self.ws();
        match self.peek() {
            Some(b'{') => {
                self.pos += 1;
                self.ws();
                if self.peek() == Some(b'}') {
                    self.pos += 1;
                    return Ok(());
                }
                loop {
                    self.ws();
                    if self.peek() != Some(b'"') {
                        return Err(self.err("expected a key"));
                    }
                    let key = self.string()?;
                    self.ws();
                    if self.peek() != Some(b':') {
                        return Err(self.err("expected `:`"));
                    }
                    self.pos += 1;
                    path.push(key);
                    self.value(ev, path, depth + 1)?;
                    path.pop();
                    self.ws();
                    match self.peek() {
                        Some(b',') => self.pos += 1,
                        Some(b'}') => {
                            self.pos += 1;
                            return Ok(());
                        }
                        _ => return Err(self.err("expected `,` or `}`")),
                    }
                }
            }
            Some(b'[') => {
                self.pos += 1;
                self.ws();
                if self.peek() == Some(b']') {
                    self.pos += 1;
                    return Ok(());
                }
                loop {
                    self.value(ev, path, depth + 1)?;
                    self.ws();
                    match self.peek() {
                        Some(b',') => self.pos += 1,
                        Some(b']') => {
                            self.pos += 1;
                            return Ok(());
                        }
                        _ => return Err(self.err("expected `,` or `]`")),
                    }
                }
            }
            Some(b'"') => {
                let s = self.string()?;
                ev.leaf(path, &s);
                Ok(())
            }
            Some(b't') => self.word("true", ev, path, true),
            Some(b'f') => self.word("false", ev, path, true),
            Some(b'n') => self.word("null", ev, path, false),
            Some(b'-' | b'0'..=b'9') => {
                let start = self.pos;
                while matches!(
                    self.peek(),
                    Some(b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9')
                ) {
                    self.pos += 1;
                }
                let text = &self.s[start..self.pos];
                ev.leaf(path, text);
                Ok(())
            }
            _ => Err(self.err("expected a JSON value")),
        }
    }

    fn word(&mut self, w: &str, ev: &mut Event, path: &[String], keep: bool) -> Result<(), String> {
        if !self.b[self.pos..].starts_with(w.as_bytes()) {
            return Err(self.err("expected a JSON value"));
        }
        self.pos += w.len();
        if keep {
            ev.leaf(path, w);
        }
        Ok(())
    }

    fn hex4(&mut self) -> Result<u32, String> {
        let h = self
            .s
            .get(self.pos..self.pos + 4)
            .and_then(|h| u32::from_str_radix(h, 16).ok())
            .ok_or_else(|| self.err("bad \\u escape"))?;
        self.pos += 4;
        Ok(h)
    }

    fn string(&mut self) -> Result<String, String> {
        self.pos += 1;
        let mut out = String::new();
        loop {
            let start = self.pos;
            while let Some(c) = self.peek() {
                if c == b'"' || c == b'\\' {
                    break;
                }
                self.pos += 1;
            }
            out.push_str(&self.s[start..self.pos]);
            match self.peek() {
                None => return Err(self.err("unterminated string")),
                Some(b'"') => {
                    self.pos += 1;
                    return Ok(out);
                }
                _ => {
                    let e = self.b.get(self.pos + 1).copied();
                    self.pos += 2;
                    out.push(match e {
                        Some(b'"') => '"',
                        Some(b'\\') => '\\',
                        Some(b'/') => '/',
                        Some(b'b') => '\u{8}',
                        Some(b'f') => '\u{c}',
                        Some(b'n') => '\n',
                        Some(b'r') => '\r',
                        Some(b't') => '\t',
                        Some(b'u') => {
                            let hi = self.hex4()?;
                            if (0xD800..0xDC00).contains(&hi)
                                && self.b[self.pos..].starts_with(b"\\u")
                            {
                                self.pos += 2;
                                let lo = self.hex4()?;
                                if (0xDC00..0xE000).contains(&lo) {
                                    char::from_u32(0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00))
                                        .unwrap_or('\u{FFFD}')
                                } else {
                                    '\u{FFFD}'
                                }
                            } else {
                                char::from_u32(hi).unwrap_or('\u{FFFD}')
                            }
                        }
                        _ => return Err(self.err("bad escape")),
                    });
                }
            }
        }
    }
}

/// One record of an event file: where it is and its JSON text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record<'a> {
    /// The 1-based line on which the record's JSON value starts.
    pub line: u64,
    pub text: &'a str,
}

/// Split a file's text into its top-level JSON values (JSON lines, or pretty-printed objects one
/// after another), each with the line it starts on. A structural scan (strings and nesting),
/// not a parse: the values are parsed later, in parallel. A line that cannot belong to a value
/// (stray text) ends up in a record of its own, which then fails to parse and is reported.
pub fn split_records(text: &str) -> Vec<Record<'_>> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut line = 1u64;
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'\n' => {
                line += 1;
                i += 1;
            }
            b' ' | b'\t' | b'\r' => i += 1,
            _ => {
                let start = i;
                let start_line = line;
                let mut depth = 0i64;
                let mut in_str = false;
                while i < b.len() {
                    let c = b[i];
                    if in_str {
                        match c {
                            b'\\' => i += 1,
                            b'"' => in_str = false,
                            b'\n' => line += 1,
                            _ => {}
                        }
                    } else {
                        match c {
                            b'"' => in_str = true,
                            b'{' | b'[' => depth += 1,
                            b'}' | b']' => depth -= 1,
                            b'\n' => {
                                if depth <= 0 {
                                    // The outer loop counts this line end.
                                    break;
                                }
                                line += 1;
                            }
                            _ => {}
                        }
                        if depth <= 0 && (c == b'}' || c == b']') {
                            i += 1;
                            break;
                        }
                    }
                    i += 1;
                }
                let end = i.min(b.len());
                out.push(Record {
                    line: start_line,
                    text: text[start..end].trim(),
                });
            }
        }
    }
    out
}

/// One event file's contents: the name sigc gives it as a source, and its text.
pub struct Member {
    pub source: String,
    pub text: Result<String, String>,
}

/// Event files inside an archive, named as sigc names them: `path!member`. Members are the
/// event files by name (`.json`, `.jsonl`, `.ndjson`, `.log`; macOS metadata, `__MACOSX/` and
/// `._name`, left out); zip members in sorted order, tar members in archive order.
pub fn read_archive(path: &str, each: &mut dyn FnMut(Member)) {
    let lower = path.to_ascii_lowercase();
    if lower.ends_with(".zip") {
        let f = std::fs::File::open(path).unwrap_or_else(|e| panic!("{path}: {e}"));
        let mut z = zip::ZipArchive::new(f).unwrap_or_else(|e| panic!("{path}: {e}"));
        let mut names: Vec<String> = z
            .file_names()
            .map(|n| n.unwrap_or_else(|e| panic!("{path}: {e}")).into_owned())
            .collect();
        names.sort();
        for name in names {
            if name.ends_with('/') || !is_event_member(&name) {
                continue;
            }
            let mut buf = Vec::new();
            let r = z
                .by_name(&name)
                .map_err(|e| e.to_string())
                .and_then(|mut e| e.read_to_end(&mut buf).map_err(|e| e.to_string()));
            each(Member {
                source: format!("{path}!{name}"),
                text: r.and_then(|_| String::from_utf8(buf).map_err(|e| e.to_string())),
            });
        }
    } else if lower.ends_with(".tar.gz") || lower.ends_with(".tgz") {
        let f = std::fs::File::open(path).unwrap_or_else(|e| panic!("{path}: {e}"));
        let mut t = tar::Archive::new(flate2::read::GzDecoder::new(f));
        for entry in t.entries().unwrap_or_else(|e| panic!("{path}: {e}")) {
            let mut entry = entry.unwrap_or_else(|e| panic!("{path}: {e}"));
            let name = entry
                .path()
                .map(|p| p.display().to_string())
                .unwrap_or_default();
            if !entry.header().entry_type().is_file() || !is_event_member(&name) {
                continue;
            }
            let mut buf = Vec::new();
            let r = entry.read_to_end(&mut buf).map_err(|e| e.to_string());
            each(Member {
                source: format!("{path}!{name}"),
                text: r.and_then(|_| String::from_utf8(buf).map_err(|e| e.to_string())),
            });
        }
    } else {
        each(Member {
            source: path.to_string(),
            text: std::fs::read_to_string(path).map_err(|e| e.to_string()),
        });
    }
}

fn is_event_member(name: &str) -> bool {
    let p = Path::new(name);
    let file = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
    if file.starts_with("._") || p.components().any(|c| c.as_os_str() == "__MACOSX") {
        return false;
    }
    let l = file.to_ascii_lowercase();
    if l.ends_with(".evtx") {
        panic!("{name}: EVTX members are not read by this test; convert them or extend the reader");
    }
    [".json", ".jsonl", ".ndjson", ".log"]
        .iter()
        .any(|e| l.ends_with(e))
}
