//! The analytics histograms, one row each: the timer a histogram counts (its views'
//! `target`), the quantities its `_count` and `_sum` are, whether it is on by default, the
//! bounds it has unless `--aggregates.<name>-buckets` says otherwise, and its families.
//!
//! A bucket is a view of the aggregates query (`ConversationAggregationView`, function
//! `rangeBound`, REFERENCE §2.1): Genesys counts, per interval and group, the timer's values
//! `v` (whole milliseconds) with `gte <= v < lt`. A Prometheus bucket `le="20"` counts values
//! ≤ 20 s, so its view is `{lt: 20001}` with no lower side: a conversation answered after
//! exactly 20.000 s counts in `le="20"`, one after 20.001 s does not. Each view is therefore
//! one cumulative bucket on its own, and the buckets' counts go through the same exactly-once
//! machinery as the counters (a late revision of an interval adds to a bucket what it adds to
//! the count). `+Inf` is the timer's count and `_sum` its sum, from the metric itself.
//!
//! Whole milliseconds are inferred (every timer of the official examples is a whole number
//! of ms), so bounds are whole milliseconds too: a fraction of a millisecond is refused by the
//! flag rather than rounded.

use super::Quantity;
use crate::metrics::catalog::family::{Family, Kind};

/// Labels of the histograms since the exporter started; the `today` variant adds `window`.
const LABELS: &[&str] = &["queue_id", "queue", "media_type"];
const WINDOW_LABELS: &[&str] = &["queue_id", "queue", "media_type", "window"];

/// Finite bounds one histogram may have: "You are currently limited to 10 views in a single
/// API call" (DEV, aggregate views), so a histogram's buckets fit one query.
pub(crate) const MAX_BOUNDS: usize = 10;

/// Views one aggregates query may carry (the same documented limit).
pub(crate) const VIEWS_PER_QUERY: usize = 10;

/// Views the collector can keep per bucket and group: every histogram at its most bounds.
pub(crate) const MAX_VIEWS: usize = HISTOGRAMS.len() * MAX_BOUNDS;

/// Largest bound: Go (and so Prometheus' clients) spell `le` in exponents from 10^6 on.
pub(crate) const MAX_BOUND_SECONDS: f64 = 999_999.0;

/// One histogram of an analytics timer: a row of [`HISTOGRAMS`], equal only to itself.
#[derive(Debug, PartialEq)]
pub struct Histogram {
    /// Its name in `--aggregates.histograms`.
    pub(crate) name: &'static str,
    /// The flag of its bounds (without `--`).
    pub(crate) buckets_flag: &'static str,
    /// The Genesys timer its views count (`target`).
    pub(crate) target: &'static str,
    /// Its `_count` (and `+Inf` bucket) and its `_sum` (ms, written in seconds).
    pub(super) count: Quantity,
    pub(super) sum: Quantity,
    /// Off unless `--aggregates.histograms` names it: each costs its views.
    pub(crate) opt_in: bool,
    /// Upper bounds in seconds, increasing.
    pub(crate) default_bounds: &'static [f64],
    /// Since the exporter started.
    pub(crate) family: &'static Family,
    /// Since local midnight (`window="today"`), when `--aggregates.windows` has `today`.
    pub(crate) today: &'static Family,
}

macro_rules! histograms {
    ($(
        $name:literal ($flag:literal) = $target:literal count $count:ident sum $sum:ident, $selection:ident
            $stem:literal [$($bound:literal),*]: $help:literal;
    )*) => {
        /// Every histogram, in the order a scrape writes them.
        pub(crate) const HISTOGRAMS: &[Histogram] = &[$(
            Histogram {
                name: $name,
                buckets_flag: concat!("aggregates.", $flag),
                target: $target,
                count: Quantity::$count,
                sum: Quantity::$sum,
                opt_in: histograms!(@opt_in $selection),
                default_bounds: &[$($bound),*],
                family: &Family {
                    name: concat!("genesys_", $stem),
                    kind: Kind::Histogram,
                    unit: Some("seconds"),
                    help: concat!(
                        $help,
                        ", since the exporter started; late completions are added as Genesys \
                         reports them. Buckets are Genesys' rangeBound views (le: at most \
                         that many seconds)."
                    ),
                    labels: LABELS,
                },
                today: &Family {
                    name: concat!("genesys_window_", $stem),
                    kind: Kind::Histogram,
                    unit: Some("seconds"),
                    help: concat!(
                        $help,
                        ", since local midnight (window=today); starts again from 0 at \
                         midnight. Buckets are Genesys' rangeBound views (le: at most that \
                         many seconds)."
                    ),
                    labels: WINDOW_LABELS,
                },
            },
        )*];
    };
    (@opt_in default) => { false };
    (@opt_in opt_in) => { true };
}

histograms! {
    "answer_wait" ("answer-wait-buckets") = "tAnswered" count AnsweredCount sum AnsweredMs, default
        "conversation_answer_wait_seconds" [5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1200.0]:
        "Time in queue of answered conversations (tAnswered)";
    "abandon_wait" ("abandon-wait-buckets") = "tAbandon" count AbandonedCount sum AbandonedMs, opt_in
        "conversation_abandon_wait_seconds" [5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1200.0]:
        "Time in queue of abandoned conversations (tAbandon)";
    "handle" ("handle-buckets") = "tHandle" count HandledCount sum HandleMs, opt_in
        "conversation_handle_seconds" [60.0, 120.0, 180.0, 300.0, 450.0, 600.0, 900.0, 1200.0, 1800.0, 3600.0]:
        "Handle time of conversations: talk + hold + after-call work (tHandle)";
}

/// One histogram as configured: the row and its bounds (seconds, increasing).
#[derive(Debug, Clone, PartialEq)]
pub struct HistogramSetting {
    pub(crate) histogram: &'static Histogram,
    pub(crate) bounds: Vec<f64>,
}

impl HistogramSetting {
    /// Its upper bounds in seconds, increasing.
    #[must_use]
    pub fn bounds(&self) -> &[f64] {
        &self.bounds
    }

    /// The histograms on by default, with their default bounds (what the flags' defaults
    /// give).
    #[must_use]
    pub fn defaults() -> Vec<HistogramSetting> {
        HISTOGRAMS
            .iter()
            .filter(|h| !h.opt_in)
            .map(|h| HistogramSetting {
                histogram: h,
                bounds: h.default_bounds.to_vec(),
            })
            .collect()
    }

    /// The view of bound `i`: values of at most `bound` seconds, i.e. below `bound` ms + 1.
    pub(super) fn view(&self, i: usize) -> super::models::ConversationAggregationView {
        let bound_ms = (self.bounds[i] * 1000.0).round();
        super::models::ConversationAggregationView {
            target: self.histogram.target,
            function: "rangeBound",
            name: format!("{}_le_{}", self.histogram.name, self.bounds[i]),
            range: super::models::AggregationRange {
                gte: None,
                lt: Some(bound_ms + 1.0),
            },
        }
    }
}

/// The configured histograms' views in slot order (a histogram's bounds in a row, the
/// histograms in [`HISTOGRAMS`]' order): the slot of a view is its index here, where the
/// buckets keep its count.
pub(super) fn slots(histograms: &[HistogramSetting]) -> Vec<(usize, usize)> {
    histograms
        .iter()
        .enumerate()
        .flat_map(|(h, s)| (0..s.bounds.len()).map(move |i| (h, i)))
        .collect()
}

/// A bound as the flag accepts it: positive, whole milliseconds, below 10^6 s.
///
/// # Errors
/// Says what is wrong with it.
pub(crate) fn parse_bound(text: &str) -> Result<f64, String> {
    let b: f64 = text
        .trim()
        .parse()
        .map_err(|_| "not a number of seconds (e.g. 20 or 0.5)".to_string())?;
    let ms = b * 1000.0;
    if !b.is_finite() || b <= 0.0 || b > MAX_BOUND_SECONDS {
        return Err(format!(
            "a bucket bound must be above 0 and at most {MAX_BOUND_SECONDS} seconds"
        ));
    }
    if (ms - ms.round()).abs() > 1e-6 {
        return Err(
            "a bucket bound must be whole milliseconds: Genesys' timers are".to_string(),
        );
    }
    Ok(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_counts_at_most_its_bound_as_prometheus_means_le() {
        let answer = &HISTOGRAMS[0];
        let setting = HistogramSetting {
            histogram: answer,
            bounds: vec![0.5, 20.0],
        };
        let view = setting.view(1);
        assert_eq!(view.target, "tAnswered");
        assert_eq!(view.range.gte, None, "cumulative: no lower side");
        // Genesys counts gte <= v < lt over whole ms: 20000 is in, 20001 is not.
        assert_eq!(view.range.lt, Some(20_001.0));
        assert_eq!(setting.view(0).range.lt, Some(501.0));
        assert_eq!(view.name, "answer_wait_le_20");
    }

    #[test]
    fn default_bounds_fit_one_query_and_hold_the_service_level_thresholds() {
        for h in HISTOGRAMS {
            assert!(h.default_bounds.len() <= MAX_BOUNDS, "{}", h.name);
            assert!(h.default_bounds.windows(2).all(|w| w[0] < w[1]));
            for b in h.default_bounds {
                assert_eq!(parse_bound(&b.to_string()), Ok(*b));
            }
        }
        assert!(HISTOGRAMS[0].default_bounds.contains(&20.0));
        assert!(HISTOGRAMS[0].default_bounds.contains(&30.0));
        assert_eq!(HISTOGRAMS.iter().filter(|h| !h.opt_in).count(), 1);
    }

    #[test]
    fn bounds_are_whole_milliseconds_above_zero() {
        assert_eq!(parse_bound("0.001"), Ok(0.001));
        assert!(parse_bound("0.0005").is_err());
        assert!(parse_bound("0").is_err());
        assert!(parse_bound("-5").is_err());
        assert!(parse_bound("inf").is_err());
        assert!(parse_bound("1e6").is_err());
        assert!(parse_bound("twenty").is_err());
    }
}
