//! One correlation's state: per group, the hits of the last timespan in time order, a running
//! aggregate over them, and the check of the condition on the window that ends at each hit.
//! The semantics are described in [`super`]; this file holds the mechanics.

use std::cmp::Ordering;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::ops::Range;

use crate::ir::rule::BoolExpr;
use crate::syntax::ast::CompareOp;

/// What one hit contributes to the aggregate.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Val {
    /// The aggregated field is absent (or not a number where one is needed).
    None,
    /// A value as text: distinct counts and shares compare text.
    Key(Box<str>),
    /// A number; `int` when it is written as an integer, so sums of integers stay exact.
    Num { f: f64, int: Option<i64> },
}

/// A hit as the window keeps it.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    /// Event time, epoch milliseconds.
    pub t: i64,
    /// The canonical position (see [`Rules::canon`]) of the referenced rule that fired.
    pub slot: usize,
    pub val: Val,
}

/// The quantity a correlation's bounds compare.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Measure {
    /// `event_count`: hits.
    Count,
    /// `value_count`: distinct values.
    Distinct,
    /// `value_sum`.
    Sum,
    /// `value_avg`: over the hits that carry a number.
    Avg,
    /// `value_percentile` with `percentile: p`: the nearest-rank p-th percentile of the numbers.
    Percentile(f64),
    /// `value_percentile` as the spec defines it: the share, in percent, of the window's values
    /// that equal the value of the hit being judged.
    Share,
    /// `temporal`: referenced rules that fired.
    Rules,
    /// `temporal_ordered`: the most referenced rules that fired in their listed order.
    OrderedRules,
}

#[derive(Debug, Clone)]
pub(crate) enum Cond {
    /// Every bound must hold.
    Bounds(Vec<(CompareOp, f64)>),
    /// The v2.2 boolean condition over the referenced rules (temporal types).
    Expr(BoolExpr),
}

/// What the window needs to know about its correlation.
#[derive(Debug, Clone)]
pub(crate) struct Rules {
    pub measure: Measure,
    pub cond: Cond,
    /// Timespan in milliseconds.
    pub span: i64,
    /// For each position of `correlation.rules`, the first position that names the same
    /// document: a hit is stored under that one, and counts for every position naming it.
    pub canon: Vec<usize>,
}

/// A window whose condition holds.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Verdict {
    /// Time of the earliest hit counted, and the end of the window.
    pub start: i64,
    pub end: i64,
    pub value: f64,
    pub events: usize,
    /// Positions of the referenced rules that fired in the window (temporal types).
    pub fired: Vec<usize>,
}

/// A total order on finite floats, for the percentile multiset.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Key(f64);

impl Eq for Key {}

impl PartialOrd for Key {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Key {
    fn cmp(&self, other: &Self) -> Ordering {
        self.0.total_cmp(&other.0)
    }
}

/// Running aggregate over a group's entries; every part is updated on add and remove, so
/// judging the newest window costs no pass over it.
#[derive(Debug, Default)]
struct Agg {
    n: usize,
    /// Hits per canonical slot.
    slots: Vec<u32>,
    keys: HashMap<Box<str>, u32>,
    keyed: usize,
    nums: usize,
    /// Integers are summed exactly; only non-integral values can drift as they come and go.
    sum_int: i128,
    sum_float: f64,
    /// Only kept for [`Measure::Percentile`].
    sorted: Option<BTreeMap<Key, u32>>,
}

impl Agg {
    fn new(rules: &Rules) -> Agg {
        Agg {
            slots: vec![0; rules.canon.len()],
            sorted: matches!(rules.measure, Measure::Percentile(_)).then(BTreeMap::new),
            ..Agg::default()
        }
    }

    fn add(&mut self, e: &Entry) {
        self.n += 1;
        if let Some(s) = self.slots.get_mut(e.slot) {
            *s += 1;
        }
        match &e.val {
            Val::None => {}
            Val::Key(k) => {
                self.keyed += 1;
                *self.keys.entry(k.clone()).or_insert(0) += 1;
            }
            Val::Num { f, int } => {
                self.nums += 1;
                match int {
                    Some(i) => self.sum_int += i128::from(*i),
                    None => self.sum_float += f,
                }
                if let Some(sorted) = &mut self.sorted {
                    *sorted.entry(Key(*f)).or_insert(0) += 1;
                }
            }
        }
    }

    fn remove(&mut self, e: &Entry) {
        self.n = self.n.saturating_sub(1);
        if let Some(s) = self.slots.get_mut(e.slot) {
            *s = s.saturating_sub(1);
        }
        match &e.val {
            Val::None => {}
            Val::Key(k) => {
                self.keyed = self.keyed.saturating_sub(1);
                if let Some(c) = self.keys.get_mut(k) {
                    *c -= 1;
                    if *c == 0 {
                        self.keys.remove(k);
                    }
                }
            }
            Val::Num { f, int } => {
                self.nums = self.nums.saturating_sub(1);
                match int {
                    Some(i) => self.sum_int -= i128::from(*i),
                    None => self.sum_float -= f,
                }
                if let Some(sorted) = &mut self.sorted
                    && let Some(c) = sorted.get_mut(&Key(*f))
                {
                    *c -= 1;
                    if *c == 0 {
                        sorted.remove(&Key(*f));
                    }
                }
            }
        }
        if self.nums == 0 {
            // Nothing left to drift from.
            self.sum_float = 0.0;
        }
    }

    /// Positions of `correlation.rules` with a hit in the window.
    fn fired(&self, rules: &Rules) -> Vec<bool> {
        rules
            .canon
            .iter()
            .map(|&c| self.slots.get(c).is_some_and(|&n| n > 0))
            .collect()
    }

    /// The measured value, or `None` when the window has nothing to measure (no numbers for
    /// a sum or average, a judged hit without a value for a share).
    fn measure(
        &self,
        rules: &Rules,
        entries: &VecDeque<Entry>,
        range: Range<usize>,
        trigger: &Entry,
    ) -> Option<f64> {
        Some(match rules.measure {
            Measure::Count => self.n as f64,
            Measure::Distinct => self.keys.len() as f64,
            Measure::Sum => {
                if self.nums == 0 {
                    return None;
                }
                self.sum_int as f64 + self.sum_float
            }
            Measure::Avg => {
                if self.nums == 0 {
                    return None;
                }
                (self.sum_int as f64 + self.sum_float) / self.nums as f64
            }
            Measure::Percentile(p) => {
                let sorted = self.sorted.as_ref()?;
                if self.nums == 0 {
                    return None;
                }
                // Nearest rank: the smallest value with at least p% of the values at or below it.
                let rank = (p * self.nums as f64 / 100.0).ceil().max(1.0) as usize;
                let mut seen = 0usize;
                let mut out = None;
                for (k, &c) in sorted {
                    seen += c as usize;
                    if seen >= rank {
                        out = Some(k.0);
                        break;
                    }
                }
                out?
            }
            Measure::Share => {
                let Val::Key(k) = &trigger.val else {
                    return None;
                };
                let same = self.keys.get(k).copied().unwrap_or(0);
                if self.keyed == 0 {
                    return None;
                }
                100.0 * f64::from(same) / self.keyed as f64
            }
            Measure::Rules => self.fired(rules).iter().filter(|&&f| f).count() as f64,
            Measure::OrderedRules => in_order(rules, entries, range) as f64,
        })
    }

    /// Judge the window `entries[range]` (which this aggregate covers).
    fn judge(
        &self,
        rules: &Rules,
        entries: &VecDeque<Entry>,
        range: Range<usize>,
        trigger: &Entry,
    ) -> Option<Verdict> {
        let first = entries.get(range.start)?;
        let last = entries.get(range.end.checked_sub(1)?)?;
        let fired = self.fired(rules);
        let value = match &rules.cond {
            Cond::Bounds(bounds) => {
                if rules.measure == Measure::OrderedRules {
                    // The ordered count never exceeds the number of rules that fired: a lower
                    // bound that number misses rules the window out without a pass over it.
                    let upper = fired.iter().filter(|&&f| f).count() as f64;
                    let reachable = |op, b| match op {
                        CompareOp::Gt => upper > b,
                        CompareOp::Gte | CompareOp::Eq => upper >= b,
                        CompareOp::Lt | CompareOp::Lte | CompareOp::Neq => true,
                    };
                    if !bounds.iter().all(|&(op, b)| reachable(op, b)) {
                        return None;
                    }
                }
                let v = self.measure(rules, entries, range.clone(), trigger)?;
                if !bounds.iter().all(|&(op, b)| holds(op, v, b)) {
                    return None;
                }
                v
            }
            Cond::Expr(e) => {
                let ok = if rules.measure == Measure::OrderedRules {
                    ordered_expr(rules, e, &fired, entries, range.clone())
                } else {
                    eval(e, &fired, &fired, true)
                };
                if !ok {
                    return None;
                }
                fired.iter().filter(|&&f| f).count() as f64
            }
        };
        let is_temporal = matches!(rules.measure, Measure::Rules | Measure::OrderedRules);
        Some(Verdict {
            start: first.t,
            end: last.t,
            value,
            events: self.n,
            fired: if is_temporal {
                (0..fired.len()).filter(|&p| fired[p]).collect()
            } else {
                Vec::new()
            },
        })
    }
}

fn holds(op: CompareOp, v: f64, b: f64) -> bool {
    match op {
        CompareOp::Gt => v > b,
        CompareOp::Gte => v >= b,
        CompareOp::Lt => v < b,
        CompareOp::Lte => v <= b,
        CompareOp::Eq => v == b,
        CompareOp::Neq => v != b,
    }
}

/// A boolean condition: rule leaves read `chain` where they count positively and `fired`
/// under an odd number of `not`s, so for `temporal_ordered` the rules a condition requires
/// must form an ordered chain while the rules it forbids must not fire at all.
fn eval(e: &BoolExpr, chain: &[bool], fired: &[bool], positive: bool) -> bool {
    match e {
        BoolExpr::Rule(i) => {
            let set = if positive { chain } else { fired };
            set.get(*i).copied().unwrap_or(false)
        }
        BoolExpr::Not(x) => !eval(x, chain, fired, !positive),
        BoolExpr::And(v) => v.iter().all(|x| eval(x, chain, fired, positive)),
        BoolExpr::Or(v) => v.iter().any(|x| eval(x, chain, fired, positive)),
    }
}

/// The length of the longest run of positions `p1 < p2 < ...` whose rules fired at strictly
/// increasing places of the window (time order; equal times keep arrival order).
fn in_order(rules: &Rules, entries: &VecDeque<Entry>, range: Range<usize>) -> usize {
    // best[p]: longest ordered chain ending with position p.
    let n = rules.canon.len();
    let mut best = vec![0usize; n];
    for e in entries.range(range) {
        // Right to left, so one hit never extends a chain it just joined (a rule listed twice).
        for p in (0..n).rev() {
            if rules.canon[p] == e.slot {
                let before = best[..p].iter().copied().max().unwrap_or(0);
                best[p] = best[p].max(before + 1);
            }
        }
    }
    best.into_iter().max().unwrap_or(0)
}

/// Largest number of fired rules a boolean `temporal_ordered` condition is tried over: the
/// check enumerates their subsets.
pub(crate) const MAX_ORDERED_EXPR_RULES: usize = 12;

/// `temporal_ordered` with a boolean condition: some set of fired rules that satisfies the
/// condition (negations judged on everything that fired) occurs in the listed order.
fn ordered_expr(
    rules: &Rules,
    e: &BoolExpr,
    fired: &[bool],
    entries: &VecDeque<Entry>,
    range: Range<usize>,
) -> bool {
    // A chain is a subset of what fired, and positive leaves only gain from a larger set, so
    // a condition false over all fired rules is false over every chain.
    if !eval(e, fired, fired, true) {
        return false;
    }
    let present: Vec<usize> = (0..fired.len()).filter(|&p| fired[p]).collect();
    if present.len() > MAX_ORDERED_EXPR_RULES {
        return false;
    }
    let mut chain = vec![false; fired.len()];
    for mask in 0u32..(1u32 << present.len()) {
        chain.iter_mut().for_each(|c| *c = false);
        let picked: Vec<usize> = (0..present.len())
            .filter(|b| mask & (1 << b) != 0)
            .map(|b| present[b])
            .collect();
        for &p in &picked {
            chain[p] = true;
        }
        if eval(e, &chain, fired, true) && occurs_in_order(rules, &picked, entries, range.clone()) {
            return true;
        }
    }
    false
}

/// Do the rules at `positions` (ascending) fire in that order in the window? Greedy: the
/// earliest hit of each next rule leaves the most room for the rest.
fn occurs_in_order(
    rules: &Rules,
    positions: &[usize],
    entries: &VecDeque<Entry>,
    range: Range<usize>,
) -> bool {
    let mut next = 0;
    for e in entries.range(range) {
        match positions.get(next) {
            Some(&p) if rules.canon[p] == e.slot => next += 1,
            Some(_) => {}
            None => break,
        }
    }
    next == positions.len()
}

#[derive(Debug)]
struct Group {
    /// Sorted by time, equal times in arrival order; covers `[newest - span, newest]`.
    entries: VecDeque<Entry>,
    agg: Agg,
    newest: i64,
    /// End of the last window reported for this group.
    last_report: Option<i64>,
}

/// All groups of one correlation.
#[derive(Debug, Default)]
pub(crate) struct Windows {
    groups: HashMap<Vec<Box<str>>, Group>,
    /// Newest event time this correlation has seen.
    watermark: Option<i64>,
    swept: i64,
    /// Hits older than their group's window, dropped.
    pub late: u64,
}

impl Windows {
    /// Groups and entries held: the state that must stay flat on a long stream.
    pub fn size(&self) -> (usize, usize) {
        (
            self.groups.len(),
            self.groups.values().map(|g| g.entries.len()).sum(),
        )
    }

    /// Add a hit to its group and judge the window ending at it; `Some` when that window
    /// should be reported.
    pub fn offer(&mut self, rules: &Rules, key: Vec<Box<str>>, entry: Entry) -> Option<Verdict> {
        let span = rules.span;
        let w = self.watermark.map_or(entry.t, |w| w.max(entry.t));
        self.watermark = Some(w);
        // Drop idle groups once per timespan of event time (at least a second, so tiny
        // timespans do not sweep on every hit); this is what bounds memory over many groups.
        if w.saturating_sub(self.swept) >= span.max(1000) {
            self.groups
                .retain(|_, g| g.newest >= w.saturating_sub(span));
            self.swept = w;
        }
        let g = self.groups.entry(key).or_insert_with(|| Group {
            entries: VecDeque::new(),
            agg: Agg::new(rules),
            newest: entry.t,
            last_report: None,
        });
        if entry.t < g.newest.saturating_sub(span) {
            self.late += 1;
            return None;
        }
        g.newest = g.newest.max(entry.t);
        let floor = g.newest.saturating_sub(span);
        while let Some(front) = g.entries.front() {
            if front.t >= floor {
                break;
            }
            if let Some(old) = g.entries.pop_front() {
                g.agg.remove(&old);
            }
        }
        // Usually in order: the place is found from the back in a step or two. Equal times go
        // after the ones already there, so arrival order breaks ties.
        let mut at = g.entries.len();
        while at > 0 && g.entries[at - 1].t > entry.t {
            at -= 1;
        }
        g.agg.add(&entry);
        g.entries.insert(at, entry);
        // A window ending within a timespan of the last report is not reported, so it is not
        // judged either: a burst costs no more than its hits.
        let last = g.last_report;
        let quiet = |end: i64| last.is_some_and(|e| end.saturating_sub(span) <= e);
        let mut verdict = None;
        let trigger = &g.entries[at];
        if at + 1 < g.entries.len() && !quiet(trigger.t) {
            // A late hit: its own window ends before the newest hit, so it needs its own pass.
            let start = g
                .entries
                .partition_point(|e| e.t < trigger.t.saturating_sub(span));
            let mut agg = Agg::new(rules);
            g.entries.range(start..=at).for_each(|e| agg.add(e));
            verdict = agg.judge(rules, &g.entries, start..at + 1, trigger);
        }
        // The newest hit is never evicted, so the whole deque is the window ending at it.
        if verdict.is_none() && !quiet(g.newest) {
            verdict = g.agg.judge(rules, &g.entries, 0..g.entries.len(), trigger);
        }
        if let Some(v) = &verdict {
            g.last_report = Some(v.end);
        }
        verdict
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: i64 = 1000;

    fn rules(measure: Measure, bounds: &[(CompareOp, f64)], span_s: i64, n: usize) -> Rules {
        Rules {
            measure,
            cond: Cond::Bounds(bounds.to_vec()),
            span: span_s * S,
            canon: (0..n).collect(),
        }
    }

    fn expr(measure: Measure, e: BoolExpr, span_s: i64, canon: Vec<usize>) -> Rules {
        Rules {
            measure,
            cond: Cond::Expr(e),
            span: span_s * S,
            canon,
        }
    }

    /// Feed `(seconds, slot, value, group)` hits; return the verdicts with the hit index.
    fn run(r: &Rules, hits: &[(i64, usize, Val, &str)]) -> Vec<(usize, Verdict)> {
        let mut w = Windows::default();
        let mut out = Vec::new();
        for (i, (t, slot, val, group)) in hits.iter().enumerate() {
            let e = Entry {
                t: t * S,
                slot: *slot,
                val: val.clone(),
            };
            if let Some(v) = w.offer(r, vec![(*group).into()], e) {
                out.push((i, v));
            }
        }
        out
    }

    fn at(hits: &[(usize, Verdict)]) -> Vec<usize> {
        hits.iter().map(|(i, _)| *i).collect()
    }

    fn key(s: &str) -> Val {
        Val::Key(s.into())
    }

    fn num(s: &str) -> Val {
        let f: f64 = s.parse().unwrap_or(f64::NAN);
        Val::Num {
            f,
            int: s.parse().ok(),
        }
    }

    #[test]
    fn event_count_fires_when_the_window_reaches_the_count_and_not_again_in_it() {
        let r = rules(Measure::Count, &[(CompareOp::Gte, 3.0)], 10, 1);
        let hits: Vec<_> = [0, 1, 2, 3, 4, 13, 14]
            .iter()
            .map(|&t| (t, 0, Val::None, "h"))
            .collect();
        let v = run(&r, &hits);
        // Third hit; then hits within the reported timespan stay quiet; at 13s the window
        // [3, 13] holds 3, 4, 13 and starts after the last report.
        assert_eq!(at(&v), vec![2, 5]);
        assert_eq!(v[0].1.value, 3.0);
        assert_eq!((v[0].1.start, v[0].1.end), (0, 2 * S));
        assert_eq!(v[1].1.value, 3.0);
    }

    #[test]
    fn windows_include_both_ends() {
        let r = rules(Measure::Count, &[(CompareOp::Gte, 2.0)], 10, 1);
        assert_eq!(
            at(&run(&r, &[(0, 0, Val::None, "h"), (10, 0, Val::None, "h")])),
            vec![1]
        );
        let mut w = Windows::default();
        let e = |t| Entry {
            t,
            slot: 0,
            val: Val::None,
        };
        assert!(w.offer(&r, vec!["h".into()], e(0)).is_none());
        assert!(
            w.offer(&r, vec!["h".into()], e(10 * S + 1)).is_none(),
            "1 ms too far"
        );
    }

    #[test]
    fn groups_are_counted_apart() {
        let r = rules(Measure::Count, &[(CompareOp::Gte, 2.0)], 10, 1);
        let v = run(
            &r,
            &[
                (0, 0, Val::None, "a"),
                (1, 0, Val::None, "b"),
                (2, 0, Val::None, "a"),
            ],
        );
        assert_eq!(at(&v), vec![2]);
    }

    #[test]
    fn ranges_and_equality() {
        let range = rules(
            Measure::Count,
            &[(CompareOp::Gt, 2.0), (CompareOp::Lte, 3.0)],
            60,
            1,
        );
        let hits: Vec<_> = (0..6).map(|t| (t, 0, Val::None, "h")).collect();
        assert_eq!(at(&run(&range, &hits)), vec![2]);
        let eq = rules(Measure::Count, &[(CompareOp::Eq, 4.0)], 60, 1);
        assert_eq!(at(&run(&eq, &hits)), vec![3]);
        let neq = rules(Measure::Count, &[(CompareOp::Neq, 1.0)], 60, 1);
        assert_eq!(at(&run(&neq, &hits)), vec![1]);
    }

    #[test]
    fn value_count_counts_distinct_values_in_the_window() {
        let r = rules(Measure::Distinct, &[(CompareOp::Gte, 3.0)], 10, 1);
        let v = run(
            &r,
            &[
                (0, 0, key("alice"), "h"),
                (1, 0, key("alice"), "h"),
                (2, 0, key("bob"), "h"),
                (3, 0, Val::None, "h"),
                (12, 0, key("carol"), "h"),
                (13, 0, key("dave"), "h"),
                (14, 0, key("erin"), "h"),
            ],
        );
        // alice and bob left the window before carol arrived.
        assert_eq!(at(&v), vec![6]);
        assert_eq!(v[0].1.value, 3.0);
    }

    #[test]
    fn value_sum_and_avg() {
        let sum = rules(Measure::Sum, &[(CompareOp::Gt, 100.0)], 10, 1);
        let hits = [
            (0, 0, num("60"), "h"),
            (1, 0, Val::None, "h"),
            (2, 0, num("40"), "h"),
            (3, 0, num("0.5"), "h"),
        ];
        let v = run(&sum, &hits);
        assert_eq!(at(&v), vec![3]);
        assert_eq!(v[0].1.value, 100.5);
        let avg = rules(Measure::Avg, &[(CompareOp::Gte, 50.0)], 10, 1);
        let v = run(&avg, &hits);
        // 60 alone averages 60; the hit without a number is no part of the average.
        assert_eq!(at(&v), vec![0]);
        let low = rules(Measure::Avg, &[(CompareOp::Lt, 40.0)], 10, 1);
        let v = run(&low, &hits);
        assert_eq!(at(&v), vec![3]);
        assert!((v[0].1.value - 100.5 / 3.0).abs() < 1e-9);
    }

    #[test]
    fn percentile_is_nearest_rank() {
        let p90 = rules(Measure::Percentile(90.0), &[(CompareOp::Gte, 500.0)], 60, 1);
        let mut hits: Vec<_> = (0..9).map(|t| (t, 0, num("10"), "h")).collect();
        hits.push((9, 0, num("900"), "h"));
        // Nine 10s and one 900: the 90th percentile is 10 (rank 9), not 900.
        assert!(run(&p90, &hits).is_empty());
        hits.push((10, 0, num("900"), "h"));
        // Rank ceil(9.9) = 10 of 11 values is 900.
        assert_eq!(at(&run(&p90, &hits)), vec![10]);
    }

    #[test]
    fn share_is_the_judged_values_percentage_of_the_window() {
        let r = rules(Measure::Share, &[(CompareOp::Lte, 10.0)], 60, 1);
        let mut hits: Vec<_> = (0..19).map(|t| (t, 0, key("svchost.exe"), "h")).collect();
        hits.push((19, 0, key("rare.exe"), "h"));
        hits.push((20, 0, key("svchost.exe"), "h"));
        let v = run(&r, &hits);
        // rare.exe is 1 of 20 values (5%); svchost.exe never drops to 10%.
        assert_eq!(at(&v), vec![19]);
        assert_eq!(v[0].1.value, 5.0);
    }

    #[test]
    fn temporal_needs_every_rule_within_the_window() {
        let r = rules(Measure::Rules, &[(CompareOp::Gte, 3.0)], 10, 3);
        let v = run(
            &r,
            &[
                (0, 2, Val::None, "h"),
                (5, 0, Val::None, "h"),
                (9, 1, Val::None, "h"),
            ],
        );
        assert_eq!(at(&v), vec![2]);
        assert_eq!(v[0].1.fired, vec![0, 1, 2]);
        let miss = run(
            &r,
            &[
                (0, 2, Val::None, "h"),
                (5, 0, Val::None, "h"),
                (11, 1, Val::None, "h"),
            ],
        );
        assert!(miss.is_empty());
    }

    #[test]
    fn temporal_ordered_honours_the_order() {
        let r = rules(Measure::OrderedRules, &[(CompareOp::Gte, 2.0)], 10, 2);
        assert_eq!(
            at(&run(&r, &[(0, 0, Val::None, "h"), (1, 1, Val::None, "h")])),
            vec![1]
        );
        assert!(run(&r, &[(0, 1, Val::None, "h"), (1, 0, Val::None, "h")]).is_empty());
        // B, A, B: the second B follows A.
        assert_eq!(
            at(&run(
                &r,
                &[
                    (0, 1, Val::None, "h"),
                    (1, 0, Val::None, "h"),
                    (2, 1, Val::None, "h")
                ]
            )),
            vec![2]
        );
        // Equal times: arrival order decides.
        assert_eq!(
            at(&run(&r, &[(3, 0, Val::None, "h"), (3, 1, Val::None, "h")])),
            vec![1]
        );
    }

    #[test]
    fn a_rule_listed_twice_needs_two_hits_in_order() {
        // rules: [A, B, A]
        let r = Rules {
            canon: vec![0, 1, 0],
            ..rules(Measure::OrderedRules, &[(CompareOp::Gte, 3.0)], 10, 3)
        };
        assert!(run(&r, &[(0, 0, Val::None, "h"), (1, 1, Val::None, "h")]).is_empty());
        let v = run(
            &r,
            &[
                (0, 0, Val::None, "h"),
                (1, 1, Val::None, "h"),
                (2, 0, Val::None, "h"),
            ],
        );
        assert_eq!(at(&v), vec![2]);
    }

    #[test]
    fn boolean_conditions() {
        // a and not b; a or c
        let a_not_b = BoolExpr::And(vec![
            BoolExpr::Rule(0),
            BoolExpr::Not(Box::new(BoolExpr::Rule(1))),
        ]);
        let r = expr(Measure::Rules, a_not_b.clone(), 10, vec![0, 1]);
        assert_eq!(at(&run(&r, &[(0, 0, Val::None, "h")])), vec![0]);
        // b within the timespan before a: no report.
        assert!(run(&r, &[(0, 1, Val::None, "h"), (5, 0, Val::None, "h")]).is_empty());
        // b more than the timespan before: it has left the window.
        assert_eq!(
            at(&run(&r, &[(0, 1, Val::None, "h"), (11, 0, Val::None, "h")])),
            vec![1]
        );
        let or = expr(
            Measure::Rules,
            BoolExpr::Or(vec![BoolExpr::Rule(0), BoolExpr::Rule(1)]),
            10,
            vec![0, 1],
        );
        assert_eq!(at(&run(&or, &[(0, 1, Val::None, "h")])), vec![0]);
    }

    #[test]
    fn ordered_boolean_conditions_need_their_rules_in_order() {
        // (a or b) and c, in the order a, b, c.
        let e = BoolExpr::And(vec![
            BoolExpr::Or(vec![BoolExpr::Rule(0), BoolExpr::Rule(1)]),
            BoolExpr::Rule(2),
        ]);
        let r = expr(Measure::OrderedRules, e, 10, vec![0, 1, 2]);
        assert_eq!(
            at(&run(&r, &[(0, 1, Val::None, "h"), (1, 2, Val::None, "h")])),
            vec![1]
        );
        assert!(run(&r, &[(0, 2, Val::None, "h"), (1, 0, Val::None, "h")]).is_empty());
        // a and not b, ordered: b anywhere in the window forbids it.
        let e = BoolExpr::And(vec![
            BoolExpr::Rule(0),
            BoolExpr::Not(Box::new(BoolExpr::Rule(1))),
        ]);
        let r = expr(Measure::OrderedRules, e, 10, vec![0, 1]);
        assert!(run(&r, &[(0, 1, Val::None, "h"), (1, 0, Val::None, "h")]).is_empty());
    }

    #[test]
    fn late_hits_within_the_window_count_and_older_ones_are_dropped() {
        let r = rules(Measure::Count, &[(CompareOp::Gte, 3.0)], 10, 1);
        let v = run(
            &r,
            &[
                (0, 0, Val::None, "h"),
                (10, 0, Val::None, "h"),
                (5, 0, Val::None, "h"),
            ],
        );
        // 5 arrives last but lies in [0, 10]: its own window [-5, 5] holds two hits, the
        // newest window [0, 10] three.
        assert_eq!(at(&v), vec![2]);
        assert_eq!((v[0].1.start, v[0].1.end), (0, 10 * S));
        let mut w = Windows::default();
        let e = |t: i64| Entry {
            t: t * S,
            slot: 0,
            val: Val::None,
        };
        w.offer(&r, vec!["h".into()], e(20));
        assert!(w.offer(&r, vec!["h".into()], e(9)).is_none());
        assert_eq!(w.late, 1);
    }

    #[test]
    fn temporal_ordered_uses_event_time_not_arrival() {
        let r = rules(Measure::OrderedRules, &[(CompareOp::Gte, 2.0)], 10, 2);
        // B at 5 arrives first, A at 1 arrives late: A is still before B.
        assert_eq!(
            at(&run(&r, &[(5, 1, Val::None, "h"), (1, 0, Val::None, "h")])),
            vec![1]
        );
    }

    #[test]
    fn state_stays_flat_on_a_long_stream() {
        let r = rules(Measure::Distinct, &[(CompareOp::Gte, 1_000_000.0)], 60, 1);
        let mut w = Windows::default();
        let mut peak = (0, 0);
        // A million hits, 20 per second of event time, over 5,000 rotating groups and values
        // that never repeat: everything older than a minute must go.
        for i in 0..1_000_000u64 {
            let t = (i as i64) * 50;
            let e = Entry {
                t,
                slot: 0,
                val: Val::Key(i.to_string().into()),
            };
            assert!(
                w.offer(&r, vec![(i % 5000).to_string().into()], e)
                    .is_none()
            );
            if i % 10_000 == 0 {
                let (g, n) = w.size();
                peak = (peak.0.max(g), peak.1.max(n));
            }
        }
        // A minute holds 1,200 hits; idle groups go at the next sweep (within a minute more).
        assert!(peak.1 <= 2 * 1200 + 20, "entries peaked at {}", peak.1);
        assert!(peak.0 <= 2 * 1200 + 20, "groups peaked at {}", peak.0);
    }
}
