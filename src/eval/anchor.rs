//! The anchor index, inverted: from what an event contains to the rules that may match it.
//!
//! Each rule names anchor tests, one of which must hold for it to match (see
//! `bytecode::anchor`). Per field, a hash table holds the exact literals of those tests, two
//! anchored automata the prefix and (reversed) suffix literals, and the literal automaton of
//! [`super::prefilter`] covers the substrings. For an
//! event, each anchor field is looked up or scanned once; every anchor found true marks its rules
//! live. A candidate rule then costs a few field checks and one bit, however many anchors it
//! has, and a rule with no true anchor is skipped without running its code.

use std::collections::HashMap;

use aho_corasick::{AhoCorasick, AhoCorasickKind, MatchKind, StartKind};

use super::event::{Event, lowercase};
use super::prefilter::{Cache, Prefilter, starting_at};
use crate::bytecode::Program;
use crate::bytecode::anchor::indexable;
use crate::ir::pred::{Pred, Shape, Test};

type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

#[derive(Default)]
struct Tables {
    exact: FastMap<Box<str>, Vec<u32>>,
    /// The prefix literals, and the suffix literals reversed, while building.
    prefix_literals: FastMap<Vec<u8>, Vec<u32>>,
    suffix_literals: FastMap<Vec<u8>, Vec<u32>>,
    /// Anchored automata over those: one walk from the start (or, on the reversed value,
    /// from the end) finds every prefix (suffix) literal the value has, where a hash lookup
    /// per literal length would cost dozens of lookups on fields like `Image`.
    prefix: Option<Anchored>,
    suffix: Option<Anchored>,
    /// Per literal of the field's automaton: the anchor tests it answers.
    by_pattern: FastMap<u32, Vec<u32>>,
    /// When the field has few substring anchors: each literal's own searcher and its tests.
    /// A handful of SIMD substring searches beats one automaton pass over all the field's
    /// literals on long values (CallTrace, script text).
    few: Vec<(memchr::memmem::Finder<'static>, Vec<u32>)>,
    /// The substring anchors by literal, while building.
    few_literals: FastMap<String, Vec<u32>>,
}

/// An anchored automaton over literals, and per literal the anchor tests it answers.
struct Anchored {
    ac: AhoCorasick,
    tests: Vec<Vec<u32>>,
    /// The longest literal: no walk needs to read further.
    longest: usize,
}

impl Anchored {
    fn new(literals: FastMap<Vec<u8>, Vec<u32>>) -> Option<Anchored> {
        if literals.is_empty() {
            return None;
        }
        let mut literals: Vec<(Vec<u8>, Vec<u32>)> = literals.into_iter().collect();
        literals.sort();
        let ac = AhoCorasick::builder()
            .match_kind(MatchKind::Standard)
            .start_kind(StartKind::Anchored)
            .kind(Some(AhoCorasickKind::ContiguousNFA))
            .build(literals.iter().map(|(l, _)| l))
            .ok()?;
        Some(Anchored {
            ac,
            longest: literals.iter().map(|(l, _)| l.len()).max().unwrap_or(0),
            tests: literals.into_iter().map(|(_, t)| t).collect(),
        })
    }

    /// The tests of every literal that `text` starts with.
    fn each(&self, text: &[u8], mut found: impl FnMut(&[u32])) {
        starting_at(&self.ac, text, 0, self.longest, |p| found(&self.tests[p]));
    }
}
/// At most this many substring anchors on a field are searched one by one (measured: 16 beat
/// 6 and 40 over Security-Datasets).
const FEW_LITERALS: usize = 16;

pub(crate) struct AnchorIndex {
    tables: Vec<Option<Tables>>,
    /// Per test id: the rules anchored on it.
    rules_by_test: Vec<Vec<u32>>,
    /// Per rule: the fields to look at for its anchors; `None`: not anchored (always runs).
    rule_fields: Vec<Option<Vec<u32>>>,
}

impl AnchorIndex {
    pub(crate) fn new(program: &Program, prefilter: &Prefilter) -> AnchorIndex {
        let mut tables: Vec<Option<Tables>> = (0..program.fields.len()).map(|_| None).collect();
        let mut rules_by_test: Vec<Vec<u32>> = vec![Vec::new(); program.tests.len()];
        let mut rule_fields = Vec::with_capacity(program.rules.len());
        // Per test: its field, once it is placed in a table (`None`: cannot be indexed).
        let mut placed: FastMap<u32, Option<u32>> = FastMap::default();
        for (r, rule) in program.rules.iter().enumerate() {
            let Some(anchors) = &rule.anchors else {
                rule_fields.push(None);
                continue;
            };
            let mut fields = Vec::new();
            let mut ok = true;
            for &t in anchors {
                let f = *placed
                    .entry(t)
                    .or_insert_with(|| place(program, prefilter, &mut tables, t));
                match f {
                    Some(f) => {
                        if !fields.contains(&f) {
                            fields.push(f);
                        }
                    }
                    None => ok = false,
                }
            }
            if ok {
                for &t in anchors {
                    rules_by_test[t as usize].push(r as u32);
                }
                rule_fields.push(Some(fields));
            } else {
                // One anchor the index cannot answer: the rule must always run.
                rule_fields.push(None);
            }
        }
        for t in tables.iter_mut().flatten() {
            t.prefix = Anchored::new(std::mem::take(&mut t.prefix_literals));
            t.suffix = Anchored::new(std::mem::take(&mut t.suffix_literals));
            let literals = std::mem::take(&mut t.few_literals);
            if literals.len() <= FEW_LITERALS {
                let mut few: Vec<(String, Vec<u32>)> = literals.into_iter().collect();
                few.sort();
                t.few = few
                    .into_iter()
                    .map(|(lit, ts)| (memchr::memmem::Finder::new(lit.as_bytes()).into_owned(), ts))
                    .collect();
            }
        }
        AnchorIndex {
            tables,
            rules_by_test,
            rule_fields,
        }
    }

    /// The fields rule `r`'s anchors are looked up in (empty when it is not anchored).
    pub(crate) fn fields_of(&self, r: usize) -> &[u32] {
        match self.rule_fields.get(r) {
            Some(Some(f)) => f,
            _ => &[],
        }
    }

    /// Is rule `r` anchored (skipped unless one of its anchors is true)?
    pub(crate) fn anchored(&self, r: usize) -> bool {
        matches!(self.rule_fields.get(r), Some(Some(_)))
    }

    /// Look up every anchor field the event's candidate rules use (`Cache::anchor_fields`), so
    /// that [`Cache::is_live`] answers for all of them.
    pub(crate) fn scan_candidates(&self, event: &Event, cache: &mut Cache, prefilter: &Prefilter) {
        let fields = std::mem::take(&mut cache.anchor_fields);
        for &f in &fields {
            if !cache.scanned_anchors(f) {
                self.scan(f, event, cache, prefilter);
            }
        }
        cache.anchor_fields = fields;
        cache.set_anchors_done();
    }

    /// Could rule `r` match? (`true` when it is not anchored.) The first call for an event
    /// looks up the anchor fields of all its candidate rules (`Cache::anchor_fields`), so later
    /// calls are one bit each. Without a candidate list (`anchor_fields` empty), rule `r`'s own
    /// fields are looked up.
    pub(crate) fn live(
        &self,
        r: usize,
        event: &Event,
        cache: &mut Cache,
        prefilter: &Prefilter,
    ) -> bool {
        let Some(Some(own)) = self.rule_fields.get(r) else {
            return true;
        };
        if !cache.anchors_done() {
            self.scan_candidates(event, cache, prefilter);
        }
        for &f in own {
            if !cache.scanned_anchors(f) {
                self.scan(f, event, cache, prefilter);
            }
        }
        cache.is_live(r as u32)
    }

    /// Look up and scan field `f` once: mark its true anchor tests, and their rules live.
    fn scan(&self, f: u32, event: &Event, cache: &mut Cache, prefilter: &Prefilter) {
        cache.mark_scanned(f);
        let Some(Some(tables)) = self.tables.get(f as usize) else {
            return;
        };
        let tests = self.rules_by_test.len();
        let found = |t: u32, cache: &mut Cache| {
            cache.remember(t, true, tests);
            for &r in &self.rules_by_test[t as usize] {
                cache.set_live(r);
            }
        };
        for v in event.field(f) {
            if !v.is_scalar() {
                continue;
            }
            let text = event.lower(v);
            if let Some(ts) = tables.exact.get(text) {
                ts.iter().for_each(|&t| found(t, cache));
            }
            if let Some(prefix) = &tables.prefix {
                prefix.each(text.as_bytes(), |ts| {
                    ts.iter().for_each(|&t| found(t, cache))
                });
            }
            if let Some(suffix) = &tables.suffix {
                let mut rev = std::mem::take(&mut cache.reversed);
                rev.clear();
                rev.extend(text.bytes().rev());
                suffix.each(&rev, |ts| ts.iter().for_each(|&t| found(t, cache)));
                cache.reversed = rev;
            }
        }
        if !tables.few.is_empty() {
            for v in event.field(f) {
                if !v.is_scalar() {
                    continue;
                }
                let text = event.lower(v).as_bytes();
                for (finder, ts) in &tables.few {
                    if finder.find(text).is_some() {
                        ts.iter().for_each(|&t| found(t, cache));
                    }
                }
            }
        } else if !tables.by_pattern.is_empty() {
            prefilter.scan(f, event, cache);
            let mut hits = std::mem::take(&mut cache.hits);
            hits.clear();
            cache.set_bits(f, &mut hits);
            for &p in &hits {
                if let Some(ts) = tables.by_pattern.get(&p) {
                    ts.iter().for_each(|&t| found(t, cache));
                }
            }
            cache.hits = hits;
        }
    }
}

/// Put anchor test `t` in its field's tables; its field, or `None` if it cannot be indexed.
fn place(
    program: &Program,
    prefilter: &Prefilter,
    tables: &mut [Option<Tables>],
    t: u32,
) -> Option<u32> {
    let def = program.tests.get(t as usize)?;
    let f = def.field?;
    let pred = Pred {
        field: Some(program.fields.name(f).to_string()),
        test: def.test.clone(),
    };
    if !indexable(&pred) {
        return None;
    }
    let Test::Str(m) = &def.test else {
        return None;
    };
    let table = tables
        .get_mut(f as usize)?
        .get_or_insert_with(Tables::default);
    let (map, lit) = match m.shape() {
        Shape::Exact(s) => {
            table
                .exact
                .entry(lowercase(s).into_boxed_str())
                .or_default()
                .push(t);
            return Some(f);
        }
        Shape::Prefix(s) => (&mut table.prefix_literals, lowercase(s).into_bytes()),
        // Reversed by bytes: the suffix automaton reads the value's bytes from its end.
        Shape::Suffix(s) => (
            &mut table.suffix_literals,
            lowercase(s).bytes().rev().collect::<Vec<u8>>(),
        ),
        Shape::Contains(lit) => {
            // Answered by the field's literal automaton, when it has one.
            let (pf, pattern) = prefilter.slot_of(t)?;
            if pf != f {
                return None;
            }
            table.by_pattern.entry(pattern).or_default().push(t);
            table
                .few_literals
                .entry(lowercase(lit))
                .or_default()
                .push(t);
            return Some(f);
        }
        Shape::Glob => return None,
    };
    map.entry(lit).or_default().push(t);
    Some(f)
}
