//! The anchor index: per field, hash tables of the exact, prefix and suffix literals that rules
//! use as anchors (see `bytecode::anchor`). For an event, a field's value is looked up once per
//! distinct literal length, which finds every true anchor test on that field; a rule none of
//! whose anchors holds is skipped without running its code. Substring anchors are answered by
//! the literal automaton of [`super::prefilter`].

use std::collections::HashMap;

use super::event::{Event, lowercase};
use super::prefilter::{Cache, Prefilter};
use crate::bytecode::Program;
use crate::bytecode::anchor::indexable;
use crate::ir::pred::{Pred, Shape, Test};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Answered by the field's lookup tables.
    Lookup(u32),
    /// Answered by the literal automaton (or the test itself).
    Scan,
}

type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

#[derive(Default)]
struct Tables {
    exact: FastMap<Box<str>, Vec<u32>>,
    prefix: FastMap<Box<str>, Vec<u32>>,
    suffix: FastMap<Box<str>, Vec<u32>>,
    /// Distinct byte lengths of the prefix and suffix literals.
    prefix_lens: Vec<usize>,
    suffix_lens: Vec<usize>,
}

pub(crate) struct AnchorIndex {
    tables: Vec<Option<Tables>>,
    kinds: Vec<Option<Kind>>,
}

impl AnchorIndex {
    pub(crate) fn new(program: &Program) -> AnchorIndex {
        let mut tables: Vec<Option<Tables>> = (0..program.fields.len()).map(|_| None).collect();
        let mut kinds = vec![None; program.tests.len()];
        let anchored: std::collections::BTreeSet<u32> = program
            .rules
            .iter()
            .filter_map(|r| r.anchors.as_ref())
            .flatten()
            .copied()
            .collect();
        for t in anchored {
            let Some(def) = program.tests.get(t as usize) else {
                continue;
            };
            let Some(f) = def.field else { continue };
            let pred = Pred {
                field: Some(program.fields.name(f).to_string()),
                test: def.test.clone(),
            };
            if !indexable(&pred) {
                continue;
            }
            let Test::Str(m) = &def.test else { continue };
            let table = tables[f as usize].get_or_insert_with(Tables::default);
            let (map, lens, lit) = match m.shape() {
                Shape::Exact(s) => (&mut table.exact, None, s),
                Shape::Prefix(s) => (&mut table.prefix, Some(&mut table.prefix_lens), s),
                Shape::Suffix(s) => (&mut table.suffix, Some(&mut table.suffix_lens), s),
                Shape::Contains(_) => {
                    kinds[t as usize] = Some(Kind::Scan);
                    continue;
                }
                Shape::Glob => continue,
            };
            let lit = lowercase(lit);
            if let Some(lens) = lens
                && !lens.contains(&lit.len())
            {
                lens.push(lit.len());
            }
            map.entry(lit.into_boxed_str()).or_default().push(t);
            kinds[t as usize] = Some(Kind::Lookup(f));
        }
        AnchorIndex { tables, kinds }
    }

    /// Could the rule with these anchors match? (`true` when unsure.)
    pub(crate) fn live(
        &self,
        anchors: &[u32],
        event: &Event,
        cache: &mut Cache,
        prefilter: &Prefilter,
    ) -> bool {
        for &t in anchors {
            match self.kinds.get(t as usize).copied().flatten() {
                Some(Kind::Lookup(f)) => {
                    if !cache.scanned_anchors(f) {
                        self.scan(f, event, cache);
                    }
                    if cache.recall(t) == Some(true) {
                        return true;
                    }
                }
                Some(Kind::Scan) => {
                    if prefilter.answer(t, event, cache) != Some(false) {
                        return true;
                    }
                }
                None => return true,
            }
        }
        false
    }

    /// Look up every value of field `f`; mark the anchor tests found as true for this event.
    fn scan(&self, f: u32, event: &Event, cache: &mut Cache) {
        let Some(Some(tables)) = self.tables.get(f as usize) else {
            return;
        };
        let tests = self.kinds.len();
        cache.mark_scanned(f);
        for v in event.field(f) {
            if !v.is_scalar() {
                continue;
            }
            let text = event.lower(v);
            let mut mark = |ts: &Vec<u32>| ts.iter().for_each(|&t| cache.remember(t, true, tests));
            if let Some(ts) = tables.exact.get(text) {
                mark(ts);
            }
            for &n in &tables.prefix_lens {
                if let Some(p) = text.get(..n)
                    && let Some(ts) = tables.prefix.get(p)
                {
                    mark(ts);
                }
            }
            for &n in &tables.suffix_lens {
                if n <= text.len()
                    && let Some(s) = text.get(text.len() - n..)
                    && let Some(ts) = tables.suffix.get(s)
                {
                    mark(ts);
                }
            }
        }
    }
}
