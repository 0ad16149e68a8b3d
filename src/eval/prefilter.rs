//! The cross-rule literal index: for each field, one Aho-Corasick automaton over the
//! (lowercase) literals of every case-insensitive `contains` test on that field, across all
//! rules. An event's field is scanned once, the first time any such test asks, and each test
//! then reads one bit instead of running its own substring search. Exact, prefix and suffix
//! tests are single comparisons already and are not indexed.

use aho_corasick::{AhoCorasick, AhoCorasickKind, MatchKind};

use super::event::Event;
use crate::bytecode::Program;
use crate::ir::Test;
use crate::ir::pred::Shape;

/// Fields with at most this many literals get a DFA; larger sets a contiguous NFA.
const DFA_MAX_LITERALS: usize = 400;

/// Which bit of which field's scan answers a test.
#[derive(Debug, Clone, Copy)]
struct Slot {
    field: u32,
    pattern: u32,
}

pub(crate) struct Prefilter {
    /// Per field id: the automaton over that field's literals.
    automata: Vec<Option<AhoCorasick>>,
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
                (lits.len() > 2)
                    .then(|| {
                        AhoCorasick::builder()
                            .match_kind(MatchKind::Standard)
                            // A DFA scans fastest but grows with the literal count; past a
                            // few hundred literals its memory outweighs the gain.
                            .kind(Some(if lits.len() <= DFA_MAX_LITERALS {
                                AhoCorasickKind::DFA
                            } else {
                                AhoCorasickKind::ContiguousNFA
                            }))
                            .build(lits)
                            .ok()
                    })
                    .flatten()
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
        let mut scan = |text: &str| {
            for m in ac.find_overlapping_iter(text) {
                let p = m.pattern().as_usize();
                bits[p / 64] |= 1 << (p % 64);
            }
        };
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
