//! A single-pass JSON reader that fills an [`Event`] directly: no intermediate tree, no
//! allocation once the event's buffers have grown. Nesting is limited to [`MAX_DEPTH`], so a
//! hostile document is an error, not a stack overflow.

use super::event::{Event, FieldTable, Kind};

pub const MAX_DEPTH: usize = 64;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonError {
    pub offset: usize,
    pub message: String,
}

/// Buffers the reader reuses from one event to the next.
#[derive(Debug, Default)]
pub struct Scratch {
    /// Keys from the root to the current value, in one arena.
    keys: String,
    path: Vec<(u32, u32)>,
    name: String,
    unescaped: String,
    /// Per position among the root object's keys: the last key seen there and the field ids
    /// it resolved to (its own name, its winlogbeat short name). Events of one kind list their
    /// keys in the same order, so most lookups are one short comparison instead of a hash.
    root_keys: Vec<(String, Option<u32>, Option<u32>)>,
    /// The position of the root key being read.
    root_ordinal: usize,
}

/// Parse one JSON object into `event` (cleared first).
pub fn read(line: &str, fields: &FieldTable, event: &mut Event) -> Result<(), JsonError> {
    read_with(line, fields, event, &mut Scratch::default())
}

/// [`read`], reusing `scratch` so that steady-state reading does not allocate.
pub fn read_with(
    line: &str,
    fields: &FieldTable,
    event: &mut Event,
    scratch: &mut Scratch,
) -> Result<(), JsonError> {
    event.clear();
    scratch.keys.clear();
    scratch.path.clear();
    let mut r = Reader {
        b: line.as_bytes(),
        s: line,
        pos: 0,
        fields,
        sc: scratch,
    };
    r.ws();
    if r.peek() != Some(b'{') {
        return Err(r.err("an event must be a JSON object"));
    }
    r.value(event, 0)?;
    r.ws();
    if r.pos < r.b.len() {
        return Err(r.err("unexpected text after the JSON object"));
    }
    Ok(())
}

struct Reader<'a, 'f> {
    b: &'a [u8],
    s: &'a str,
    pos: usize,
    fields: &'f FieldTable,
    sc: &'f mut Scratch,
}

impl<'a> Reader<'a, '_> {
    fn key(&self, i: usize) -> &str {
        let (s, e) = self.sc.path[i];
        &self.sc.keys[s as usize..e as usize]
    }

    fn err(&self, msg: &str) -> JsonError {
        JsonError {
            offset: self.pos,
            message: msg.to_string(),
        }
    }

    fn peek(&self) -> Option<u8> {
        self.b.get(self.pos).copied()
    }

    fn ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.pos += 1;
        }
    }

    fn expect(&mut self, c: u8) -> Result<(), JsonError> {
        self.ws();
        if self.peek() == Some(c) {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.err(&format!("expected `{}`", c as char)))
        }
    }

    fn value(&mut self, event: &mut Event, depth: usize) -> Result<(), JsonError> {
        if depth > MAX_DEPTH {
            return Err(self.err("JSON nests too deeply"));
        }
        self.ws();
        match self.peek() {
            Some(b'{') => {
                self.pos += 1;
                // The object itself is a value of its field: present, not null.
                if !self.sc.path.is_empty() {
                    self.leaf(event, Kind::Object, "");
                }
                self.ws();
                if self.peek() == Some(b'}') {
                    self.pos += 1;
                    return Ok(());
                }
                let mut ordinal = 0;
                loop {
                    self.ws();
                    if self.peek() != Some(b'"') {
                        return Err(self.err("expected a key"));
                    }
                    if depth == 0 {
                        self.sc.root_ordinal = ordinal;
                        ordinal += 1;
                    }
                    let key = self.string()?;
                    let start = self.sc.keys.len();
                    match key {
                        Some(k) => self.sc.keys.push_str(k),
                        None => self.sc.keys.push_str(&self.sc.unescaped),
                    }
                    self.sc.path.push((start as u32, self.sc.keys.len() as u32));
                    self.expect(b':')?;
                    self.value(event, depth + 1)?;
                    self.sc.path.pop();
                    self.sc.keys.truncate(start);
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
                    // An empty list: the field is present, with no value (like null).
                    self.pos += 1;
                    self.leaf(event, Kind::Null, "");
                    return Ok(());
                }
                loop {
                    self.value(event, depth + 1)?;
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
                if let Some(text) = self.string()? {
                    self.leaf(event, Kind::Str, text);
                } else {
                    let text = std::mem::take(&mut self.sc.unescaped);
                    self.leaf(event, Kind::Str, &text);
                    self.sc.unescaped = text;
                }
                Ok(())
            }
            Some(b't') => self.literal(event, "true", Kind::Bool(true)),
            Some(b'f') => self.literal(event, "false", Kind::Bool(false)),
            Some(b'n') => self.literal(event, "null", Kind::Null),
            Some(b'-' | b'0'..=b'9') => {
                let start = self.pos;
                while matches!(
                    self.peek(),
                    Some(b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9')
                ) {
                    self.pos += 1;
                }
                let s = self.s;
                self.leaf(event, Kind::Num, &s[start..self.pos]);
                Ok(())
            }
            _ => Err(self.err("expected a JSON value")),
        }
    }

    fn literal(&mut self, event: &mut Event, word: &str, kind: Kind) -> Result<(), JsonError> {
        if self.b[self.pos..].starts_with(word.as_bytes()) {
            self.pos += word.len();
            self.leaf(event, kind, if kind == Kind::Null { "" } else { word });
            Ok(())
        } else {
            Err(self.err("expected a JSON value"))
        }
    }

    /// Read a string at `pos` (on its opening quote): the text itself when it has no escape
    /// (most strings: no copy), else `None` with the unescaped text in `self.sc.unescaped`.
    fn string(&mut self) -> Result<Option<&'a str>, JsonError> {
        self.pos += 1;
        let s: &'a str = self.s;
        let first = self.pos;
        match quote_or_backslash(&self.b[first..]) {
            Some(i) if self.b[first + i] == b'"' => {
                self.pos = first + i + 1;
                return Ok(Some(&s[first..first + i]));
            }
            Some(_) => {}
            None => return Err(self.err("unterminated string")),
        }
        self.sc.unescaped.clear();
        loop {
            let rest = &self.b[self.pos..];
            let Some(i) = memchr::memchr2(b'"', b'\\', rest) else {
                return Err(self.err("unterminated string"));
            };
            self.sc.unescaped.push_str(&self.s[self.pos..self.pos + i]);
            self.pos += i;
            if self.b[self.pos] == b'"' {
                self.pos += 1;
                return Ok(None);
            }
            // A backslash escape.
            let Some(&e) = self.b.get(self.pos + 1) else {
                return Err(self.err("unterminated string"));
            };
            self.pos += 2;
            let c = match e {
                b'"' => '"',
                b'\\' => '\\',
                b'/' => '/',
                b'b' => '\u{8}',
                b'f' => '\u{c}',
                b'n' => '\n',
                b'r' => '\r',
                b't' => '\t',
                b'u' => self.unicode_escape()?,
                _ => return Err(self.err("invalid escape in string")),
            };
            self.sc.unescaped.push(c);
        }
    }

    fn hex4(&mut self) -> Result<u32, JsonError> {
        let h = self
            .s
            .get(self.pos..self.pos + 4)
            .and_then(|h| u32::from_str_radix(h, 16).ok())
            .ok_or_else(|| self.err("invalid \\u escape"))?;
        self.pos += 4;
        Ok(h)
    }

    fn unicode_escape(&mut self) -> Result<char, JsonError> {
        let hi = self.hex4()?;
        if (0xD800..0xDC00).contains(&hi) && self.b[self.pos..].starts_with(b"\\u") {
            self.pos += 2;
            let lo = self.hex4()?;
            if (0xDC00..0xE000).contains(&lo) {
                let c = 0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00);
                return Ok(char::from_u32(c).unwrap_or('\u{FFFD}'));
            }
            return Ok('\u{FFFD}');
        }
        Ok(char::from_u32(hi).unwrap_or('\u{FFFD}'))
    }

    /// The field ids of the current root key: its own name and its winlogbeat short name.
    fn root_ids(&mut self) -> (Option<u32>, Option<u32>) {
        let i = self.sc.root_ordinal;
        let (s, e) = self.sc.path[0];
        let key = &self.sc.keys[s as usize..e as usize];
        if let Some((k, direct, top)) = self.sc.root_keys.get(i)
            && k == key
        {
            return (*direct, *top);
        }
        let direct = self.fields.get(key);
        let top = winlogbeat_top(key).and_then(|n| self.fields.get(n));
        if self.sc.root_keys.len() <= i {
            self.sc.root_keys.resize(i + 1, (String::new(), None, None));
        }
        let slot = &mut self.sc.root_keys[i];
        slot.0.clear();
        slot.0.push_str(key);
        slot.1 = direct;
        slot.2 = top;
        (direct, top)
    }

    /// Record a scalar under every name it answers to.
    fn leaf(&mut self, event: &mut Event, kind: Kind, text: &str) {
        let fields = self.fields;
        let depth = self.sc.path.len();
        let mut short = None;
        let direct = match depth {
            0 => None,
            1 => {
                let (direct, top) = self.root_ids();
                short = top;
                direct
            }
            _ if !fields.has_dotted() => None,
            _ => {
                let mut name = std::mem::take(&mut self.sc.name);
                name.clear();
                for i in 0..depth {
                    if i > 0 {
                        name.push('.');
                    }
                    name.push_str(self.key(i));
                }
                let f = fields.get(&name);
                self.sc.name = name;
                f
            }
        };
        // An object under `Event.System` is usually a `#text` holder (`EventID`); its short name
        // stands for the text, so the object itself is not a value of it.
        if depth == 1 {
            short = short.filter(|&f| Some(f) != direct);
        } else if depth <= 6
            && kind != Kind::Object
            && matches!(self.key(0), "Event" | "event_data" | "winlog")
        {
            // No short name is more than six keys deep; a fixed array keeps this allocation-free.
            let mut name = std::mem::take(&mut self.sc.name);
            let mut keys = [""; 6];
            for (i, k) in keys.iter_mut().enumerate().take(depth) {
                *k = self.key(i);
            }
            if short_name(&keys[..depth], &mut name) {
                short = fields.get(&name).filter(|&f| Some(f) != direct);
            }
            self.sc.name = name;
        }
        event.push(direct, kind, text);
        if let (Some(f), Some(idx)) = (short, event.last_index()) {
            event.alias(f, idx);
        }
    }
}

/// The position of the first `"` or `\\` in `b`. Most keys and values are a few bytes long,
/// where testing eight bytes at a time in a register beats SIMD `memchr2`'s setup; longer
/// strings go to `memchr2`.
fn quote_or_backslash(b: &[u8]) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    // High bit set in each byte of `x` equal to `c` (exact up to the first such byte).
    let eq = |x: u64, c: u8| {
        let y = x ^ (ONES * u64::from(c));
        y.wrapping_sub(ONES) & !y & HIGHS
    };
    let mut at = 0;
    while at < 32 {
        let Some(chunk) = b.get(at..at + 8) else {
            break;
        };
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let x = u64::from_le_bytes(word);
        let hits = eq(x, b'"') | eq(x, b'\\');
        if hits != 0 {
            return Some(at + hits.trailing_zeros() as usize / 8);
        }
        at += 8;
    }
    let rest = b.get(at..)?;
    memchr::memchr2(b'"', b'\\', rest).map(|i| i + at)
}

/// The short name of a leaf under `Event.System`, `Event.EventData` or `Event.UserData.<x>`,
/// written into `out`; false when the path has none.
///
/// Winlogbeat's forms are named the same way: `event_data.X` (6.x) and `winlog.event_data.X`
/// (7.x) are `X`; `winlog.channel`, `winlog.event_id`, `winlog.computer_name` and
/// `winlog.provider_name` are `Channel`, `EventID`, `Computer` and `Provider_Name`.
fn short_name(path: &[&str], out: &mut String) -> bool {
    out.clear();
    let winlog = match path {
        ["event_data", name] | ["winlog", "event_data", name] => Some(*name),
        ["winlog", key] => winlogbeat_top(key),
        _ => None,
    };
    if let Some(name) = winlog {
        out.push_str(name);
        return true;
    }
    if path.len() < 3 || path[0] != "Event" {
        return false;
    }
    let rest: &[&str] = match path[1] {
        "System" | "EventData" => &path[2..],
        "UserData" if path.len() >= 4 => &path[3..],
        _ => return false,
    };
    out.clear();
    match rest {
        [name] => out.push_str(name),
        [name, "#text"] => out.push_str(name),
        [name, "#attributes", attr] => {
            out.push_str(name);
            out.push('_');
            out.push_str(attr);
        }
        _ => return false,
    }
    true
}

/// Winlogbeat's names for the Windows system fields (top level in 6.x, under `winlog` in 7.x).
fn winlogbeat_top(key: &str) -> Option<&'static str> {
    Some(match key {
        "log_name" | "channel" => "Channel",
        "event_id" => "EventID",
        "computer_name" => "Computer",
        "provider_name" | "source_name" => "Provider_Name",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// The word-at-a-time search finds what a plain search finds, wherever the quote or
        /// backslash sits (inside the first words, past them, or nowhere).
        #[test]
        fn quote_or_backslash_is_the_first_one(
            b in proptest::collection::vec(proptest::prop_oneof![
                8 => proptest::num::u8::ANY,
                1 => proptest::strategy::Just(b'"'),
                1 => proptest::strategy::Just(b'\\'),
            ], 0..80),
        ) {
            let want = b.iter().position(|&c| c == b'"' || c == b'\\');
            proptest::prop_assert_eq!(quote_or_backslash(&b), want);
        }
    }

    fn table(names: &[&str]) -> FieldTable {
        let mut t = FieldTable::default();
        for n in names {
            t.intern(n);
        }
        t
    }

    fn values(t: &FieldTable, e: &Event, name: &str) -> Vec<String> {
        let f = t.get(name).unwrap();
        e.field(f).map(|v| e.text(v).to_string()).collect()
    }

    #[test]
    fn flat_events() {
        let t = table(&["Image", "EventID", "tags", "Hashes"]);
        let mut e = Event::new(t.len());
        read(
            r#"{"Image":"C:\\Windows\\cmd.exe","EventID":1,"tags":["a","b"],"x":{"y":null}}"#,
            &t,
            &mut e,
        )
        .unwrap();
        assert_eq!(values(&t, &e, "Image"), vec![r"C:\Windows\cmd.exe"]);
        assert_eq!(values(&t, &e, "EventID"), vec!["1"]);
        assert_eq!(values(&t, &e, "tags"), vec!["a", "b"]);
        assert!(!e.has(t.get("Hashes").unwrap()));
    }

    #[test]
    fn nested_evtx_events() {
        let t = table(&[
            "EventID",
            "Channel",
            "Provider_Name",
            "TaskName",
            "Event.System.Computer",
        ]);
        let mut e = Event::new(t.len());
        let json = r##"{"Event":{"System":{"Provider":{"#attributes":{"Name":"Microsoft-Windows-Security-Auditing"}},
            "EventID":{"#attributes":{"Qualifiers":0},"#text":4701},"Channel":"Security","Computer":"pc"},
            "EventData":{"TaskName":"\\Microsoft\\X"}}}"##;
        read(json, &t, &mut e).unwrap();
        assert_eq!(values(&t, &e, "EventID"), vec!["4701"]);
        assert_eq!(values(&t, &e, "Channel"), vec!["Security"]);
        assert_eq!(
            values(&t, &e, "Provider_Name"),
            vec!["Microsoft-Windows-Security-Auditing"]
        );
        assert_eq!(values(&t, &e, "TaskName"), vec![r"\Microsoft\X"]);
        assert_eq!(values(&t, &e, "Event.System.Computer"), vec!["pc"]);
    }

    #[test]
    fn winlogbeat_events() {
        let t = table(&["Channel", "EventID", "Image"]);
        let mut e = Event::new(t.len());
        read(
            r#"{"log_name":"Microsoft-Windows-Sysmon/Operational","event_id":1,"event_data":{"Image":"x.exe"}}"#,
            &t,
            &mut e,
        )
        .unwrap();
        assert_eq!(
            values(&t, &e, "Channel"),
            vec!["Microsoft-Windows-Sysmon/Operational"]
        );
        assert_eq!(values(&t, &e, "EventID"), vec!["1"]);
        assert_eq!(values(&t, &e, "Image"), vec!["x.exe"]);
        read(
            r#"{"winlog":{"channel":"Security","event_id":4688,"event_data":{"NewProcessName":"a"}}}"#,
            &t,
            &mut e,
        )
        .unwrap();
        assert_eq!(values(&t, &e, "Channel"), vec!["Security"]);
        assert_eq!(values(&t, &e, "EventID"), vec!["4688"]);
    }

    #[test]
    fn escapes_and_errors() {
        let t = table(&["a"]);
        let mut e = Event::new(t.len());
        read(r#"{"a":"\u00e9\n\ud83d\ude00"}"#, &t, &mut e).unwrap();
        assert_eq!(values(&t, &e, "a"), vec!["é\n😀"]);
        assert!(read(r#"{"a":"#, &t, &mut e).is_err());
        assert!(read("[1]", &t, &mut e).is_err());
        assert!(
            read(
                &format!("{{\"a\":{}1{}}}", "[".repeat(10_000), "]".repeat(10_000)),
                &t,
                &mut e
            )
            .is_err()
        );
        assert!(read(r#"{"a":1} x"#, &t, &mut e).is_err());
    }
}
