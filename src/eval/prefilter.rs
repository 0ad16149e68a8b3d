//! The cross-rule literal index: for each field, one Aho-Corasick automaton over the
//! (lowercase) literals of every case-insensitive `contains` test on that field, across all
//! rules. An event's field is scanned once, the first time any such test asks, and each test
//! then reads one bit instead of running its own substring search. Exact, prefix and suffix
//! tests are single comparisons already and are not indexed.

use std::collections::HashMap;

use aho_corasick::automaton::OverlappingState;
use aho_corasick::{
    AhoCorasick, AhoCorasickKind, Anchored, Input, MatchKind, Span, StartKind, packed,
};

use super::event::Event;
use crate::bytecode::Program;
use crate::ir::Test;
use crate::ir::pred::Shape;

/// Fields with at most this many literals get a DFA; larger sets a contiguous NFA.
const DFA_MAX_LITERALS: usize = 400;

/// One field's literals: the automaton, and when the literals allow it, a SIMD skip searcher.
///
/// An automaton walks every byte with a dependent table load, a few hundred MB/s; on long
/// values (PowerShell's `ContextInfo`, kilobytes per event) that is most of the matching time.
/// The skip searcher (see [`Skip`]) finds where a literal may start at several GB/s; the
/// automaton then runs anchored there only, so every occurrence of every literal is still found.
struct Literals {
    ac: AhoCorasick,
    skip: Option<Skip>,
    /// The longest literal's length.
    longest: usize,
}

impl Literals {
    fn new(lits: &[String]) -> Option<Literals> {
        let ac = AhoCorasick::builder()
            .match_kind(MatchKind::Standard)
            .start_kind(StartKind::Both)
            // A DFA scans fastest but grows with the literal count; past a few hundred
            // literals its memory outweighs the gain.
            .kind(Some(if lits.len() <= DFA_MAX_LITERALS {
                AhoCorasickKind::DFA
            } else {
                AhoCorasickKind::ContiguousNFA
            }))
            .build(lits)
            .ok()?;
        Some(Literals {
            ac,
            skip: Skip::new(lits),
            longest: lits.iter().map(String::len).max().unwrap_or(0),
        })
    }

    /// Set the bit of every literal that occurs in `text`.
    fn scan(&self, text: &str, bits: &mut [u64]) {
        let mut set = |p: usize| {
            if let Some(w) = bits.get_mut(p / 64) {
                *w |= 1 << (p % 64);
            }
        };
        let Some(skip) = self.skip.as_ref().filter(|_| text.len() >= SKIP_MIN_TEXT) else {
            for m in self.ac.find_overlapping_iter(text) {
                set(m.pattern().as_usize());
            }
            return;
        };
        let mut at = 0;
        while let Some(m) = skip.searcher.find_in(text, Span::from(at..text.len())) {
            let p = m.start();
            for &off in &skip.offsets[m.pattern().as_usize()] {
                if let Some(start) = p.checked_sub(off as usize) {
                    starting_at(&self.ac, text.as_bytes(), start, self.longest, &mut set);
                }
            }
            at = p + 1;
        }
    }

    fn patterns_len(&self) -> usize {
        self.ac.patterns_len()
    }
}

/// Report (by pattern id) every literal of `ac` that occurs in `text` at `start`; `longest` is
/// the longest literal's length. `ac` must allow anchored searches.
///
/// An anchored overlapping search of a standard-semantics automaton starts at `start` but
/// follows failure transitions once it has left the trie, so it also reports literals that
/// begin later: the walk stops after `longest` bytes and later starts are dropped.
pub(crate) fn starting_at(
    ac: &AhoCorasick,
    text: &[u8],
    start: usize,
    longest: usize,
    mut found: impl FnMut(usize),
) {
    let end = text.len().min(start.saturating_add(longest));
    if start > end {
        return;
    }
    let input = Input::new(text).span(start..end).anchored(Anchored::Yes);
    let mut state = OverlappingState::start();
    while let Ok(()) = ac.try_find_overlapping(input.clone(), &mut state) {
        match state.get_match() {
            Some(m) if m.start() == start => found(m.pattern().as_usize()),
            Some(_) => {}
            None => break,
        }
    }
}

/// Values shorter than this are scanned by the automaton alone (the skip searcher's start-up
/// costs more than it saves there; measured over Security-Datasets).
const SKIP_MIN_TEXT: usize = 96;

/// A packed (Teddy) searcher over short windows of the literals: every literal contains one
/// of the windows, at known offsets. Each position where a window occurs gives the positions
/// where a literal may start.
///
/// Windows are 4 bytes (a 3-byte literal is its own window), chosen greedily to cover the
/// literals with few, rare windows (the packed searcher takes at most 128, and rare windows
/// mean few candidates). At one position the searcher reports one window only, the first
/// added: so longer windows come first and carry the offsets of the shorter windows they
/// begin with.
struct Skip {
    searcher: packed::Searcher,
    /// Per window: the offsets of the window within the literals it stands for.
    offsets: Vec<Vec<u32>>,
}

/// The packed searcher's limit on patterns.
const SKIP_MAX_WINDOWS: usize = 128;
/// Choosing windows is quadratic-ish in the literal count; past this, no skip searcher.
const SKIP_MAX_LITERALS: usize = 2000;
const WINDOW: usize = 4;

impl Skip {
    fn new(lits: &[String]) -> Option<Skip> {
        if lits.len() > SKIP_MAX_LITERALS || lits.iter().any(|l| l.len() < 2) {
            return None;
        }
        // Every window of every literal, with the literals (and offsets) it occurs in.
        let mut occurs: HashMap<&[u8], Vec<(usize, u32)>> = HashMap::new();
        for (i, l) in lits.iter().enumerate() {
            let b = l.as_bytes();
            let n = WINDOW.min(b.len());
            for off in 0..=b.len() - n {
                let list = occurs.entry(&b[off..off + n]).or_default();
                if list.last().is_none_or(|&(j, _)| j != i) {
                    list.push((i, off as u32));
                }
            }
        }
        let mut covered = vec![false; lits.len()];
        let mut left = lits.len();
        let mut chosen: Vec<(&[u8], Vec<u32>)> = Vec::new();
        while left > 0 {
            if chosen.len() == SKIP_MAX_WINDOWS {
                return None;
            }
            // The window covering most uncovered literals per unit of expected frequency.
            let (w, _) = occurs
                .iter()
                .map(|(w, list)| {
                    let gain = list.iter().filter(|(i, _)| !covered[*i]).count() as u64;
                    (*w, gain * 1024 / commonness(w))
                })
                .filter(|&(_, score)| score > 0)
                .max_by(|a, b| a.1.cmp(&b.1).then(b.0.cmp(a.0)))?;
            let mut offsets = Vec::new();
            for &(i, off) in &occurs[w] {
                if !covered[i] {
                    covered[i] = true;
                    left -= 1;
                    if !offsets.contains(&off) {
                        offsets.push(off);
                    }
                }
            }
            chosen.push((w, offsets));
        }
        // Longer windows first; each also stands for the shorter windows it begins with.
        chosen.sort_by(|a, b| b.0.len().cmp(&a.0.len()).then(a.0.cmp(b.0)));
        let mut offsets: Vec<Vec<u32>> = chosen.iter().map(|(_, o)| o.clone()).collect();
        for (i, (w, _)) in chosen.iter().enumerate() {
            for (short, o) in &chosen {
                if short.len() < w.len() && w.starts_with(short) {
                    for &x in o {
                        if !offsets[i].contains(&x) {
                            offsets[i].push(x);
                        }
                    }
                }
            }
        }
        let searcher = packed::Config::new()
            .match_kind(packed::MatchKind::LeftmostFirst)
            .builder()
            .extend(chosen.iter().map(|(w, _)| *w))
            .build()?;
        Some(Skip { searcher, offsets })
    }
}

/// How common a window is likely to be in lowercased event text (higher: more common), from
/// its bytes: letters and spaces are everywhere, digits and path punctuation less so, the rest
/// is rare.
fn commonness(w: &[u8]) -> u64 {
    w.iter()
        .map(|&b| match b {
            b'e' | b't' | b'a' | b'o' | b'i' | b'n' | b's' | b'r' | b' ' => 16,
            b'a'..=b'z' => 8,
            b'0'..=b'9' | b'\\' | b'.' | b'/' | b':' | b'=' => 4,
            _ => 1,
        })
        .sum::<u64>()
        + 1
}

/// Which bit of which field's scan answers a test.
#[derive(Debug, Clone, Copy)]
struct Slot {
    field: u32,
    pattern: u32,
}

pub(crate) struct Prefilter {
    /// Per field id: the automaton over that field's literals.
    automata: Vec<Option<Literals>>,
    /// Per test id: its slot, when the test is an indexed `contains`.
    slots: Vec<Option<Slot>>,
}

/// Per-thread memory for the current event: which fields were scanned and what was found, and
/// the result of every test already run (rules share tests, so each runs once per event).
#[derive(Default)]
pub struct Cache {
    generation: u32,
    scanned: Vec<u32>,
    bits: Vec<Vec<u64>>,
    /// Per test id: the generation its result was computed in, and the result.
    memo: Vec<(u32, bool)>,
    /// Per field id: the generation its anchor lookups were done in.
    anchored: Vec<u32>,
    /// Per rule: the generation in which one of its anchors was found true.
    live: Vec<u32>,
    /// Scratch for the literals found in one field.
    pub(crate) hits: Vec<u32>,
    /// The fields the event's candidate rules read lowercased (set by `Vm::candidates`).
    pub(crate) reads: super::vm::Reads,
    /// Scratch for a value's bytes reversed (suffix lookups).
    pub(crate) reversed: Vec<u8>,
    /// The generation in which every anchor field of the event was looked up.
    anchors_done: u32,
    /// The fields whose anchors the event's candidate rules use (set by `Vm::candidates`).
    pub(crate) anchor_fields: Vec<u32>,
}

impl Cache {
    /// Forget the previous event (O(1)).
    pub fn reset(&mut self) {
        self.generation = self.generation.wrapping_add(1);
        if self.generation == 0 {
            self.scanned.iter_mut().for_each(|g| *g = 0);
            self.memo.iter_mut().for_each(|m| m.0 = 0);
            self.anchored.iter_mut().for_each(|g| *g = 0);
            self.live.iter_mut().for_each(|g| *g = 0);
            self.anchors_done = 0;
            self.generation = 1;
        }
    }

    /// The result of test `t` for this event, if already computed.
    pub(crate) fn recall(&self, t: u32) -> Option<bool> {
        self.memo
            .get(t as usize)
            .and_then(|&(g, v)| (g == self.generation).then_some(v))
    }

    /// Did field `f`'s literal `p` occur (after `Prefilter::scan` of `f` this event)?
    pub(crate) fn bit(&self, f: u32, p: u32) -> bool {
        let p = p as usize;
        self.bits
            .get(f as usize)
            .and_then(|b| b.get(p / 64))
            .is_some_and(|w| w & (1 << (p % 64)) != 0)
    }

    /// Append the literals of field `f` that occurred this event to `out`.
    pub(crate) fn set_bits(&self, f: u32, out: &mut Vec<u32>) {
        let Some(words) = self.bits.get(f as usize) else {
            return;
        };
        for (wi, &w) in words.iter().enumerate() {
            let mut w = w;
            while w != 0 {
                out.push(wi as u32 * 64 + w.trailing_zeros());
                w &= w - 1;
            }
        }
    }

    /// Mark rule `r` as having a true anchor this event.
    pub(crate) fn set_live(&mut self, r: u32) {
        let ru = r as usize;
        if self.live.len() <= ru {
            self.live.resize(ru + 1, 0);
        }
        self.live[ru] = self.generation;
    }

    pub(crate) fn anchors_done(&self) -> bool {
        self.anchors_done == self.generation
    }

    pub(crate) fn set_anchors_done(&mut self) {
        self.anchors_done = self.generation;
    }

    pub(crate) fn is_live(&self, r: u32) -> bool {
        self.live.get(r as usize) == Some(&self.generation)
    }

    pub(crate) fn scanned_anchors(&self, f: u32) -> bool {
        self.anchored.get(f as usize) == Some(&self.generation)
    }

    /// Record that field `f`'s anchor lookups are done for this event (the tests they found
    /// are remembered as true; the others on that field are false).
    pub(crate) fn mark_scanned(&mut self, f: u32) {
        if self.anchored.len() <= f as usize {
            self.anchored.resize(f as usize + 1, 0);
        }
        self.anchored[f as usize] = self.generation;
    }

    pub(crate) fn remember(&mut self, t: u32, v: bool, tests: usize) {
        if self.memo.len() < tests {
            self.memo.resize(tests, (0, false));
        }
        if let Some(m) = self.memo.get_mut(t as usize) {
            *m = (self.generation, v);
        }
    }
}

impl Prefilter {
    pub(crate) fn new(program: &Program) -> Prefilter {
        let nfields = program.fields.len();
        // One more pseudo-field, `nfields`, for keywords: they search every value.
        let mut literals: Vec<Vec<String>> = vec![Vec::new(); nfields + 1];
        let mut slots = Vec::with_capacity(program.tests.len());
        for t in &program.tests {
            let slot = match (&t.test, t.field) {
                (Test::Str(m), f) if !m.cased && !m.has_placeholders() => match m.shape() {
                    Shape::Contains(lit) if !lit.is_empty() => {
                        let f = f.unwrap_or(nfields as u32);
                        let lits = &mut literals[f as usize];
                        let lower = super::event::lowercase(lit);
                        let pattern = match lits.iter().position(|l| *l == lower) {
                            Some(p) => p,
                            None => {
                                lits.push(lower);
                                lits.len() - 1
                            }
                        };
                        Some(Slot {
                            field: f,
                            pattern: pattern as u32,
                        })
                    }
                    _ => None,
                },
                _ => None,
            };
            slots.push(slot);
        }
        let automata = literals
            .iter()
            .map(|lits| {
                // A field with one or two literals is searched as fast directly.
                (lits.len() > 2).then(|| Literals::new(lits)).flatten()
            })
            .collect::<Vec<_>>();
        // Tests on fields without an automaton keep their own search.
        for s in &mut slots {
            if s.is_some_and(|slot| automata[slot.field as usize].is_none()) {
                *s = None;
            }
        }
        Prefilter { automata, slots }
    }

    /// The answer of test `t` from the index, or `None` when the test is not indexed.
    pub(crate) fn answer(&self, t: u32, event: &Event, cache: &mut Cache) -> Option<bool> {
        let slot = (*self.slots.get(t as usize)?)?;
        self.scan(slot.field, event, cache);
        Some(cache.bit(slot.field, slot.pattern))
    }

    /// The (field, pattern) that answers test `t`, when it is indexed.
    pub(crate) fn slot_of(&self, t: u32) -> Option<(u32, u32)> {
        self.slots
            .get(t as usize)
            .copied()
            .flatten()
            .map(|s| (s.field, s.pattern))
    }

    /// Scan field `f` (keywords: the pseudo-field) once per event, recording which of its
    /// literals occur.
    pub(crate) fn scan(&self, f: u32, event: &Event, cache: &mut Cache) {
        let fu = f as usize;
        if cache.scanned.len() <= fu {
            cache.scanned.resize(fu + 1, 0);
            cache.bits.resize_with(fu + 1, Vec::new);
        }
        if cache.scanned[fu] == cache.generation {
            return;
        }
        cache.scanned[fu] = cache.generation;
        let Some(Some(ac)) = self.automata.get(fu) else {
            return;
        };
        let bits = &mut cache.bits[fu];
        bits.clear();
        bits.resize(ac.patterns_len().div_ceil(64), 0);
        let mut scan = |text: &str| ac.scan(text, bits);
        if fu == self.automata.len() - 1 {
            event.all().for_each(|v| scan(event.lower(v)));
        } else {
            event
                .field(f)
                .filter(|v| v.is_scalar())
                .for_each(|v| scan(event.lower(v)));
        }
    }
}
