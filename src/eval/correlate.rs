//! Correlation rules in the evaluator: every v2.1 type, the v2.2 boolean conditions of the
//! temporal types, aliases and chains, on event time, with state bounded by the timespan.
//!
//! [`Correlator`] is fed the base matches of [`engine::run`](super::engine::run) in input
//! order ([`Correlating`] wraps the output [`Sink`] to do that) and reports a [`Report`] when a
//! correlation's condition holds. Everything below is deterministic: the same inputs give the
//! same reports in the same order.
//!
//! # What a correlation sees
//! A *hit* is a match of a referenced rule, or a report of a referenced correlation (a chain).
//! Its time is the match's timestamp (`@timestamp`, `TimeCreated_SystemTime`, `UtcTime`, ...)
//! read as RFC 3339, as a date and time without offset (taken as UTC), or as epoch seconds or
//! milliseconds. A match without a readable time cannot be placed in a window: it takes no part,
//! and the number of such matches (with the first one) is reported once at the end.
//!
//! A hit's group is the values of the `group-by` fields in its event, compared as exact text
//! (as `stats by` does). An alias reads, for each rule it lists, that rule's field (a rule it
//! does not list reads the field named like the alias). A hit that lacks a group-by value takes
//! no part, as events with a null group-by field drop out of a `stats by`. Field names go
//! through the same routing pipelines as the rules: where the routes name a field differently
//! (`Image` for Sysmon, `NewProcessName` for Security 4688), the first name present in the
//! event is read. No `group-by` means one group.
//!
//! A chained correlation's report is a hit of the outer correlation at the report's window end,
//! carrying the fields of the event that completed it: the outer correlation groups by its own
//! `group-by` over those (as the spec's note on chains says).
//!
//! # Windows
//! Windows slide: the window judged at each hit is the timespan that ends at that hit,
//! `[t - timespan, t]`, both ends included. Two hits exactly one timespan apart are in one
//! window; one millisecond more and they are not. (The spec says the time frame "should not be
//! restricted to boundaries"; SEP #214 left the strategy to implementations.)
//!
//! What each type measures over a window, compared with every bound of the condition (a range
//! such as `gt` + `lte` needs both; `eq` and `neq` compare exactly):
//! - `event_count`: the hits.
//! - `value_count`: the distinct values of `condition.field` (a list of fields: distinct
//!   combinations); hits without the field add nothing.
//! - `value_sum`, `value_avg`: the sum and the mean of the field's numeric values; hits
//!   whose field is absent or not a number add nothing, and a window without any number
//!   does not match.
//! - `value_percentile` as the spec defines it (its example is "a process name that appeared in
//!   less than 1% of all processes", `field: Image`, `lte: 1`): the share, in percent, of the
//!   window's values of `condition.field` that equal the value of the hit being judged. With
//!   pySigma's `percentile: p` key it is instead the nearest-rank p-th percentile of the
//!   field's numeric values (the smallest value with at least p% of them at or below it), which
//!   is how pySigma's backends read that key.
//! - `temporal`: how many of the referenced rules fired in the window (the default condition
//!   is all of them); or, with a v2.2 boolean condition, whether it holds over which fired.
//! - `temporal_ordered`: as `temporal`, counting the longest run of referenced rules that fired
//!   in the listed order (by event time, equal times by input order). With a boolean condition,
//!   the rules it requires must have fired in the listed order, and a rule under `not` must not
//!   have fired in the window at all.
//!
//! Negation looks back: `a and not b` holds at a hit of `a` when `b` did not fire in the
//! timespan before it. A `b` that fires after that report does not retract it.
//!
//! # When a report is emitted
//! At the first hit whose window satisfies the condition. After that, the group is reported
//! again only for a window that starts after the reported one ended, that is for a hit more than
//! one timespan after it: a group's reported windows never overlap, and a long burst gives one
//! report per timespan rather than one per event.
//!
//! # Order, lateness and memory
//! Each group keeps the hits of one timespan behind its newest hit, in time order, with a
//! running aggregate. A hit that arrives out of order but within that timespan is put in its
//! place; its own window and the newest window are judged. A hit older than its group's newest
//! by more than the timespan is dropped and counted as late. Once per timespan of event time
//! (at least a second), groups with no hit within a timespan of the newest time the correlation
//! has seen are forgotten, with their last report time; so memory follows the hits of the last
//! timespan or two, not the length of the stream.
//! Inputs are read one after another, so a correlation across two files only sees their hits
//! together within that tolerance: merge inputs by time to correlate across them.
//!
//! # Which matches are printed
//! The spec's `generate` says whether the rules a correlation refers to are also "converted as
//! stand-alone rules" (default: no). So a rule (or correlation) that an evaluated correlation
//! refers to prints its own matches only when one of the correlations referring to it has
//! `generate: true`; a correlation that is skipped (its rules are not evaluated) hides nothing.
//! (pySigma hides a rule as soon as any referring correlation has `generate: false`.)
//!
//! # Output
//! `sigc eval` prints a report as one JSON line: `rule_id`, `title`, `level`, `tags` of the
//! correlation, `correlation` (its type), `group` (group-by name → value), `window_start` (the
//! earliest hit counted) and `window_end` (the hit the window ends at) in RFC 3339 UTC,
//! `timespan`, `value` (the measured quantity above; a share is in percent; for a boolean
//! condition, the number of referenced rules that fired), `events` (hits in the window),
//! `rules_fired` for the temporal types, `timestamp` (the window end, so reports sort with
//! matches), and `source` and `record` of the hit whose arrival completed the window (a late
//! hit can complete the window ending at a newer one).

mod build;
mod time;
mod window;

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

pub(crate) use build::plan;
use window::{Entry, Measure, Rules, Val, Windows};

use super::engine::{Match, Sink};
use super::input::ReadError;
use crate::syntax::ast::CorrelationKind;

/// What a report says about its correlation.
#[derive(Debug)]
pub struct Meta {
    pub id: Option<String>,
    pub title: String,
    pub level: Option<String>,
    pub tags: Vec<String>,
    pub kind: CorrelationKind,
    pub timespan: String,
    pub group_by: Vec<String>,
    /// The referenced rules as written.
    pub rules: Vec<String>,
}

/// A correlation whose condition holds for a group's window.
#[derive(Debug, Clone)]
pub struct Report {
    pub meta: Arc<Meta>,
    /// Group-by name and value, in `group-by` order.
    pub group: Vec<(String, String)>,
    /// Earliest hit counted and end of the window, epoch milliseconds.
    pub start: i64,
    pub end: i64,
    pub value: f64,
    pub events: usize,
    /// Referenced rules (as written) that fired in the window; temporal types only.
    pub fired: Vec<String>,
    /// The hit that completed the window.
    pub source: Arc<str>,
    pub record: u64,
}

impl Report {
    pub fn window_start(&self) -> String {
        time::format_millis(self.start)
    }

    pub fn window_end(&self) -> String {
        time::format_millis(self.end)
    }
}

/// How a group-by entry is read: per referenced document (aliases), else the default; each a
/// list of capture slots, the first present wins.
#[derive(Debug)]
struct GroupRead {
    default: Vec<usize>,
    by_target: Vec<(usize, Vec<usize>)>,
}

#[derive(Debug)]
struct Spec {
    meta: Arc<Meta>,
    /// The correlation's index in the rule set (chains refer to it).
    doc: usize,
    rules: Rules,
    group: Vec<GroupRead>,
    /// Capture slots per `condition.field`.
    value: Vec<Vec<usize>>,
    /// Its reports are printed (see "Which matches are printed").
    printed: bool,
}

/// A hit on its way through the correlations.
struct Hit {
    doc: usize,
    t: i64,
    captured: Arc<[Option<String>]>,
    source: Arc<str>,
    record: u64,
}

/// The correlations of a rule set and their state.
#[derive(Debug, Default)]
pub struct Correlator {
    specs: Vec<Spec>,
    windows: Vec<Windows>,
    /// Document → the correlations that refer to it, with its (first) position there.
    by_doc: HashMap<usize, Vec<(usize, usize)>>,
    /// Program rule → its document in the rule set.
    rule_docs: Vec<usize>,
    /// Program rule → printed on its own.
    prints: Vec<bool>,
    capture: Vec<u32>,
    reports: Vec<u64>,
    untimed: u64,
    first_untimed: Option<(Arc<str>, u64)>,
    ungrouped: u64,
}

impl Correlator {
    /// No correlation will run.
    pub fn is_empty(&self) -> bool {
        self.specs.is_empty()
    }

    /// Field ids every match must carry ([`Options::capture`](super::engine::Options)).
    pub fn capture(&self) -> &[u32] {
        &self.capture
    }

    /// Whether a program rule's own matches are printed (see `generate`).
    pub fn prints_rule(&self, rule: usize) -> bool {
        self.prints.get(rule).copied().unwrap_or(true)
    }

    /// Feed one base match, in input order; `out` receives the reports to print.
    pub fn feed(&mut self, m: &Match, out: &mut dyn FnMut(&Report)) {
        let Some(&doc) = self.rule_docs.get(m.rule) else {
            return;
        };
        if !self.by_doc.contains_key(&doc) {
            return;
        }
        let Some(t) = m.timestamp.as_deref().and_then(time::parse_millis) else {
            self.untimed += 1;
            self.first_untimed
                .get_or_insert_with(|| (m.source.clone(), m.index));
            return;
        };
        let mut queue = VecDeque::from([Hit {
            doc,
            t,
            captured: m.captured.clone().into(),
            source: m.source.clone(),
            record: m.index,
        }]);
        while let Some(hit) = queue.pop_front() {
            let subscribers = self.by_doc.get(&hit.doc).cloned().unwrap_or_default();
            for (s, pos) in subscribers {
                let spec = &self.specs[s];
                let Some(key) = group_key(spec, &hit) else {
                    self.ungrouped += 1;
                    continue;
                };
                let entry = Entry {
                    t: hit.t,
                    slot: pos,
                    val: value(spec, &hit),
                };
                let Some(v) = self.windows[s].offer(&spec.rules, key.clone(), entry) else {
                    continue;
                };
                self.reports[s] += 1;
                if spec.printed {
                    out(&Report {
                        meta: spec.meta.clone(),
                        group: spec
                            .meta
                            .group_by
                            .iter()
                            .cloned()
                            .zip(key.iter().map(|k| k.to_string()))
                            .collect(),
                        start: v.start,
                        end: v.end,
                        value: v.value,
                        events: v.events,
                        fired: v
                            .fired
                            .iter()
                            .filter_map(|&p| spec.meta.rules.get(p).cloned())
                            .collect(),
                        source: hit.source.clone(),
                        record: hit.record,
                    });
                }
                if self.by_doc.contains_key(&spec.doc) {
                    queue.push_back(Hit {
                        doc: spec.doc,
                        t: v.end,
                        captured: hit.captured.clone(),
                        source: hit.source.clone(),
                        record: hit.record,
                    });
                }
            }
        }
    }

    /// Reports per correlation, in rule-set order.
    pub fn report_counts(&self) -> impl Iterator<Item = (&Meta, u64)> {
        self.specs
            .iter()
            .zip(&self.reports)
            .map(|(s, &n)| (&*s.meta, n))
    }

    /// Matches of correlated rules without a readable timestamp, and the first of them.
    pub fn untimed(&self) -> (u64, Option<&(Arc<str>, u64)>) {
        (self.untimed, self.first_untimed.as_ref())
    }

    /// Hits dropped for arriving more than a timespan late.
    pub fn late(&self) -> u64 {
        self.windows.iter().map(|w| w.late).sum()
    }

    /// Hits that lacked a group-by field.
    pub fn ungrouped(&self) -> u64 {
        self.ungrouped
    }

    /// Groups and window entries held across all correlations.
    pub fn state_size(&self) -> (usize, usize) {
        self.windows
            .iter()
            .map(Windows::size)
            .fold((0, 0), |a, b| (a.0 + b.0, a.1 + b.1))
    }
}

fn first_present<'a>(slots: &[usize], captured: &'a [Option<String>]) -> Option<&'a str> {
    slots
        .iter()
        .find_map(|&s| captured.get(s).and_then(|v| v.as_deref()))
}

fn group_key(spec: &Spec, hit: &Hit) -> Option<Vec<Box<str>>> {
    spec.group
        .iter()
        .map(|g| {
            let slots = g
                .by_target
                .iter()
                .find(|(d, _)| *d == hit.doc)
                .map_or(&g.default, |(_, s)| s);
            first_present(slots, &hit.captured).map(Box::from)
        })
        .collect()
}

fn value(spec: &Spec, hit: &Hit) -> Val {
    let texts: Option<Vec<&str>> = spec
        .value
        .iter()
        .map(|slots| first_present(slots, &hit.captured))
        .collect();
    let Some(texts) = texts else {
        return Val::None;
    };
    match spec.rules.measure {
        Measure::Count | Measure::Rules | Measure::OrderedRules => Val::None,
        // A separator no field value holds keeps combinations of several fields apart.
        Measure::Distinct | Measure::Share => Val::Key(texts.join("\u{1f}").into()),
        Measure::Sum | Measure::Avg | Measure::Percentile(_) => match texts.as_slice() {
            [one] => number(one),
            _ => Val::None,
        },
    }
}

fn number(text: &str) -> Val {
    let t = text.trim();
    if let Ok(i) = t.parse::<i64>() {
        return Val::Num {
            f: i as f64,
            int: Some(i),
        };
    }
    match t.parse::<f64>() {
        Ok(f) if f.is_finite() => Val::Num { f, int: None },
        _ => Val::None,
    }
}

/// What `sigc eval` prints, and how matches reach it.
pub trait ReportSink: Sink {
    fn on_report(&mut self, r: &Report);
}

/// A [`Sink`] that passes base matches through a [`Correlator`]: it prints the matches that
/// `generate` lets through and the correlation reports, in input order.
pub struct Correlating<S> {
    pub correlator: Correlator,
    pub inner: S,
}

impl<S: ReportSink> Sink for Correlating<S> {
    fn on_match(&mut self, m: &Match) {
        if self.correlator.prints_rule(m.rule) {
            self.inner.on_match(m);
        }
        let inner = &mut self.inner;
        self.correlator.feed(m, &mut |r| inner.on_report(r));
    }

    fn on_error(&mut self, e: &ReadError) {
        self.inner.on_error(e);
    }

    fn on_progress(&mut self, events: u64) {
        self.inner.on_progress(events);
    }
}
