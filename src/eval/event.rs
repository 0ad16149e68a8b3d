//! One event as the evaluator sees it: every scalar leaf of the JSON document, with its text
//! in one reusable arena, findable by the program's field ids.
//!
//! Field names: a flat document's keys are fields as they are (Security-Datasets). In the
//! nested form evtx tools emit, the leaves under `Event.System`, `Event.EventData` and
//! `Event.UserData.<element>` are fields by their own name (`EventID`, `Channel`, `Image`), a
//! `#text` leaf stands for its parent, and attributes join with `_` (`Provider_Name`,
//! `TimeCreated_SystemTime`), as Hayabusa and Chainsaw name them. Every leaf is also reachable
//! by its dotted path (`Event.System.Provider.#attributes.Name`). Winlogbeat's forms are named
//! the same way (`log_name`/`winlog.channel` is `Channel`, `event_data.X`/`winlog.event_data.X`
//! is `X`; see `json::short_name`), so all of Security-Datasets routes. Array elements are several
//! values of one field; a test on that field holds if it holds for any of them.

use std::collections::HashMap;

/// Field lookups happen for every key of every event: a fast non-cryptographic hash pays.
type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

/// Field name → id, as the compiled program numbers them.
#[derive(Debug, Default, Clone)]
pub struct FieldTable {
    ids: FastMap<Box<str>, u32>,
    names: Vec<Box<str>>,
    /// Some test reads every value (keywords): every value needs its lowercase form.
    pub all_values: bool,
    /// Some field name is a dotted path, so nested leaves must be looked up by theirs.
    dotted: bool,
}

impl FieldTable {
    pub fn intern(&mut self, name: &str) -> u32 {
        if let Some(&id) = self.ids.get(name) {
            return id;
        }
        let id = self.names.len() as u32;
        self.dotted |= name.contains('.');
        self.names.push(name.into());
        self.ids.insert(name.into(), id);
        id
    }

    pub fn has_dotted(&self) -> bool {
        self.dotted
    }

    pub fn get(&self, name: &str) -> Option<u32> {
        self.ids.get(name).copied()
    }

    pub fn name(&self, id: u32) -> &str {
        self.names.get(id as usize).map_or("", |n| n)
    }

    pub fn len(&self) -> usize {
        self.names.len()
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Str,
    /// A JSON number; its text is kept as written.
    Num,
    Bool(bool),
    Null,
    /// A JSON object: marks the field as present; no test but `exists` looks at it.
    Object,
}

/// One scalar leaf. Text ranges index [`Event::text`] and, once the value has been lowercased
/// (see [`Event::lower_fields`]), the lowercase copy.
#[derive(Debug, Clone, Copy)]
pub struct Value {
    pub kind: Kind,
    start: u32,
    end: u32,
    lower_start: u32,
    lower_end: u32,
    /// Next value of the same field, or `NONE`.
    next: u32,
}

const NONE: u32 = u32::MAX;

/// `lower_start` of a string value not lowercased yet.
const NOT_LOWERED: u32 = u32::MAX;

/// The values of one event. Reused from event to event: `clear` keeps the allocations.
#[derive(Debug, Default)]
pub struct Event {
    text: String,
    lower: String,
    values: Vec<Value>,
    /// For each field id, the first value (chained through `Value::next`), or `NONE`.
    heads: Vec<u32>,
    tails: Vec<u32>,
    touched: Vec<u32>,
}

impl Value {
    /// A string, number or boolean (what string tests look at).
    pub fn is_scalar(&self) -> bool {
        !matches!(self.kind, Kind::Null | Kind::Object)
    }
}

impl Event {
    pub fn new(fields: usize) -> Event {
        Event {
            heads: vec![NONE; fields],
            tails: vec![NONE; fields],
            ..Event::default()
        }
    }

    pub fn clear(&mut self) {
        self.text.clear();
        self.lower.clear();
        self.values.clear();
        for &f in &self.touched {
            self.heads[f as usize] = NONE;
            self.tails[f as usize] = NONE;
        }
        self.touched.clear();
    }

    /// Append a value for a field (`None`: a leaf no rule names, kept for keyword search).
    ///
    /// Strings are not lowercased here: most values are never read by a case-insensitive
    /// test (the routed rules name few of the event's fields), so the evaluator lowercases
    /// just the fields its candidate rules read ([`Event::lower_fields`]).
    pub fn push(&mut self, field: Option<u32>, kind: Kind, text: &str) {
        let start = self.text.len() as u32;
        self.text.push_str(text);
        let end = self.text.len() as u32;
        let idx = self.values.len() as u32;
        self.values.push(Value {
            kind,
            start,
            end,
            lower_start: NOT_LOWERED,
            lower_end: NOT_LOWERED,
            next: NONE,
        });
        if let Some(f) = field {
            self.link(f, idx);
        }
    }

    /// Make the value at `idx` also a value of field `f` (a leaf reachable by two names).
    pub fn alias(&mut self, f: u32, idx: u32) {
        let v = self.values[idx as usize];
        let copy = Value { next: NONE, ..v };
        let new = self.values.len() as u32;
        self.values.push(copy);
        self.link(f, new);
    }

    fn link(&mut self, f: u32, idx: u32) {
        let fu = f as usize;
        if fu >= self.heads.len() {
            return;
        }
        if self.heads[fu] == NONE {
            self.heads[fu] = idx;
            self.touched.push(f);
        } else {
            let tail = self.tails[fu];
            self.values[tail as usize].next = idx;
        }
        self.tails[fu] = idx;
    }

    pub fn last_index(&self) -> Option<u32> {
        self.values.len().checked_sub(1).map(|i| i as u32)
    }

    /// The values of a field, in document order.
    pub fn field(&self, f: u32) -> FieldIter<'_> {
        FieldIter {
            event: self,
            next: self.heads.get(f as usize).copied().unwrap_or(NONE),
        }
    }

    /// The fields that have a value in this event (in first-seen order).
    pub fn present_fields(&self) -> &[u32] {
        &self.touched
    }

    pub fn has(&self, f: u32) -> bool {
        self.heads.get(f as usize).is_some_and(|&h| h != NONE)
    }

    /// Every scalar value of the event, for keyword search.
    pub fn all(&self) -> impl Iterator<Item = &Value> {
        self.values.iter().filter(|v| v.is_scalar())
    }

    pub fn text(&self, v: &Value) -> &str {
        self.text
            .get(v.start as usize..v.end as usize)
            .unwrap_or("")
    }

    /// The value's text lowercased (strings); numbers and booleans are their own lowercase.
    /// A string must have been lowercased first ([`Event::lower_fields`], [`Event::lower_all`]).
    pub fn lower(&self, v: &Value) -> &str {
        if v.kind != Kind::Str {
            return self.text(v);
        }
        if v.lower_start == NOT_LOWERED {
            // Every reader lowercases what it reads first; in a release build, reading the
            // text as is would only be wrong for a value with capitals.
            debug_assert!(false, "value read before it was lowercased");
            return self.text(v);
        }
        self.lower
            .get(v.lower_start as usize..v.lower_end as usize)
            .unwrap_or("")
    }

    /// Lowercase the string values of these fields (those already done are skipped).
    pub fn lower_fields(&mut self, fields: &[u32]) {
        for &f in fields {
            let mut i = self.heads.get(f as usize).copied().unwrap_or(NONE);
            while let Some(v) = self.values.get(i as usize) {
                let next = v.next;
                self.lower_value(i as usize);
                i = next;
            }
        }
    }

    /// Lowercase every string value (keyword tests read them all).
    pub fn lower_all(&mut self) {
        for i in 0..self.values.len() {
            self.lower_value(i);
        }
    }

    fn lower_value(&mut self, i: usize) {
        let Some(v) = self.values.get(i) else {
            return;
        };
        if v.kind != Kind::Str || v.lower_start != NOT_LOWERED {
            return;
        }
        let Some(text) = self.text.get(v.start as usize..v.end as usize) else {
            return;
        };
        let lower_start = self.lower.len() as u32;
        push_lowercase(&mut self.lower, text);
        let lower_end = self.lower.len() as u32;
        if let Some(v) = self.values.get_mut(i) {
            v.lower_start = lower_start;
            v.lower_end = lower_end;
        }
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }
}

pub struct FieldIter<'a> {
    event: &'a Event,
    next: u32,
}

impl<'a> Iterator for FieldIter<'a> {
    type Item = &'a Value;

    fn next(&mut self) -> Option<&'a Value> {
        let v = self.event.values.get(self.next as usize)?;
        self.next = v.next;
        Some(v)
    }
}

/// Sigma's case-insensitive comparison folds with Unicode lowercase; ASCII takes the fast path.
pub fn push_lowercase(out: &mut String, text: &str) {
    if text.is_ascii() {
        let start = out.len();
        out.push_str(text);
        out[start..].make_ascii_lowercase();
    } else {
        for c in text.chars() {
            if c.is_ascii() {
                out.push(c.to_ascii_lowercase());
            } else {
                out.extend(c.to_lowercase());
            }
        }
    }
}

pub fn lowercase(text: &str) -> String {
    let mut s = String::with_capacity(text.len());
    push_lowercase(&mut s, text);
    s
}
