//! The aggregates collector's flags (`--aggregates.*`), what they parse to, and how
//! `check-config` shows it: declared here, beside the code that reads them, and added to the
//! command through the collector's registration.

use std::sync::Arc;
use std::time::Duration;

use clap::{Args, FromArgMatches};

use super::histograms::{parse_bound, MAX_BOUNDS};
use super::{
    exportable, exported_by_default, AggregatesExport, AggregatesSettings, HistogramSetting,
    Window, HISTOGRAMS,
};
use crate::collect::{CollectorSettings, FlagSet, SettingError};

/// Added to the command line by [`FLAGS`].
#[derive(Debug, Args)]
pub(crate) struct AggregatesFlags {
    /// Bucket size of the aggregates queries (whole minutes dividing a day: 1m, 5m, 15m, 30m, 1h).
    #[arg(long = "aggregates.granularity", default_value = "5m", value_parser = parse_duration)]
    aggregates_granularity: Duration,
    /// How far back late completions are still added to the counters.
    #[arg(long = "aggregates.lookback", default_value = "2h", value_parser = parse_duration)]
    aggregates_lookback: Duration,
    /// Comma-separated windows for the window gauges: `today` (since local midnight, which
    /// PromQL cannot compute) and/or durations (e.g. 15m,1h: Genesys' numbers for the latest
    /// buckets, late completions in their own interval; `increase()` over the counters gives
    /// rolling spans without them).
    #[arg(
        long = "aggregates.windows",
        default_value = "today",
        value_delimiter = ','
    )]
    aggregates_windows: Vec<String>,
    /// IANA time zone whose midnight starts the `today` window (e.g. Europe/Berlin).
    #[arg(long = "aggregates.timezone", default_value = "UTC")]
    aggregates_timezone: String,
    /// Comma-separated analytics quantities to export (counters and window gauges), `default`
    /// (all but the opt-in ones: offers_not_answered, not_responding_seconds, transfers by
    /// kind, outbound, dialing, contacting, errors, ivr_conversations, ivr_seconds,
    /// conversations_flowed_out, flow_out_wait_seconds, voicemails, voicemail_seconds,
    /// callbacks_scheduled, callbacks_within_sla, callbacks_sla_eligible) or `all`;
    /// e.g. conversations_offered,conversations_answered,handle_seconds,service_level_ratio.
    #[arg(
        long = "aggregates.metrics",
        default_value = "default",
        value_delimiter = ','
    )]
    aggregates_metrics: Vec<String>,
    /// Analytics series per `queue` (labels queue_id, queue, media_type) or per `media_type`
    /// only (summed over the watched queues).
    #[arg(long = "aggregates.by", default_value = "queue", value_parser = ["queue", "media_type"])]
    aggregates_by: String,
    /// Group the analytics by originatingDirection too: a `direction` label (inbound,
    /// outbound) on every analytics series, twice the series, no extra request.
    #[arg(long = "aggregates.by-direction")]
    aggregates_by_direction: bool,
    /// Comma-separated histograms to export (since start and, with the `today` window,
    /// today): `default` (answer_wait, whose buckets ride in the query already sent),
    /// `all`, `none`, or names from answer_wait, abandon_wait, handle. Each costs one
    /// request per 100 queues and refresh for every 10 views beyond the query's first 10.
    #[arg(
        long = "aggregates.histograms",
        default_value = "default",
        value_delimiter = ','
    )]
    aggregates_histograms: Vec<String>,
}

/// The command with the aggregates flags: the derived ones, and a bounds flag per histogram
/// row (`--aggregates.answer-wait-buckets`, ...), named from [`HISTOGRAMS`].
fn args(command: clap::Command) -> clap::Command {
    HISTOGRAMS
        .iter()
        .fold(AggregatesFlags::augment_args(command), |command, h| {
            let defaults: Vec<String> = h.default_bounds.iter().map(f64::to_string).collect();
            command.arg(
                clap::Arg::new(h.buckets_flag)
                    .long(h.buckets_flag)
                    .value_delimiter(',')
                    .default_value(defaults.join(","))
                    .help(format!(
                        "Comma-separated upper bounds in seconds of the {} histogram's buckets \
                         (at most {MAX_BOUNDS}, increasing, whole milliseconds); +Inf is added.",
                        h.family.name
                    )),
            )
        })
}

/// The histograms `--aggregates.histograms` names, with the bounds their flags give.
fn histograms(
    matches: &clap::ArgMatches,
    names: &[String],
) -> Result<Vec<HistogramSetting>, SettingError> {
    let wanted: Vec<&str> = names
        .iter()
        .map(|n| n.trim())
        .filter(|n| !n.is_empty())
        .collect();
    for name in &wanted {
        let known = ["default", "all", "none"].contains(name)
            || HISTOGRAMS.iter().any(|h| h.name == *name);
        if !known || (wanted.len() > 1 && ["default", "all", "none"].contains(name)) {
            let names: Vec<&str> = HISTOGRAMS.iter().map(|h| h.name).collect();
            return Err(SettingError::new(
                "aggregates.histograms",
                name,
                format!(
                    "not a histogram; give default, all, none, or names from {}",
                    names.join(", ")
                ),
            ));
        }
    }
    let mut out = Vec::new();
    for h in HISTOGRAMS {
        let on = match wanted.as_slice() {
            [] | ["default"] => !h.opt_in,
            ["all"] => true,
            ["none"] => false,
            names => names.contains(&h.name),
        };
        if !on {
            continue;
        }
        let given: Vec<&String> = matches
            .get_many::<String>(h.buckets_flag)
            .map(Iterator::collect)
            .unwrap_or_default();
        let mut bounds = Vec::new();
        for text in given.iter().map(|t| t.trim()).filter(|t| !t.is_empty()) {
            let bound = parse_bound(text)
                .map_err(|reason| SettingError::new(h.buckets_flag, text, reason))?;
            if bounds.last().is_some_and(|last| *last >= bound) {
                return Err(SettingError::new(
                    h.buckets_flag,
                    text,
                    "bounds must increase from left to right",
                ));
            }
            bounds.push(bound);
        }
        if bounds.is_empty() || bounds.len() > MAX_BOUNDS {
            return Err(SettingError::new(
                h.buckets_flag,
                &given.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(","),
                format!(
                    "give 1 to {MAX_BOUNDS} bounds: Genesys answers at most 10 views a query"
                ),
            ));
        }
        out.push(HistogramSetting {
            histogram: h,
            bounds,
        });
    }
    Ok(out)
}

/// The aggregates collector's flags, for its registration.
pub(crate) const FLAGS: FlagSet = FlagSet {
    args,
    settings,
    // Checked per key too, so that a config file's finding names the key.
    check: |key, value| (key == "aggregates.timezone").then(|| parse_timezone(value).map(|_| ())),
};

fn settings(matches: &clap::ArgMatches) -> Result<Arc<dyn CollectorSettings>, SettingError> {
    let flags = AggregatesFlags::from_arg_matches(matches).map_err(SettingError::parse)?;
    let export = export(&flags.aggregates_metrics, &flags.aggregates_by)?;
    let histograms = histograms(matches, &flags.aggregates_histograms)?;
    Ok(Arc::new(aggregates_settings(&flags, export, histograms)?))
}

/// The settings of an empty command line: the flags' own defaults.
pub(crate) fn defaults() -> AggregatesSettings {
    args(clap::Command::new("defaults"))
        .try_get_matches_from(["defaults"])
        .map_err(SettingError::parse)
        .and_then(|m| {
            let flags = AggregatesFlags::from_arg_matches(&m).map_err(SettingError::parse)?;
            let export = export(&flags.aggregates_metrics, &flags.aggregates_by)?;
            let histograms = histograms(&m, &flags.aggregates_histograms)?;
            aggregates_settings(&flags, export, histograms)
        })
        // Our own defaults always parse; this is what they say, should they not.
        .unwrap_or_else(|_| AggregatesSettings {
            granularity: Duration::from_secs(300),
            lookback: Duration::from_secs(7200),
            windows: vec![Window::Today],
            timezone: chrono_tz::UTC,
            by_direction: false,
            export: AggregatesExport {
                by_queue: true,
                selected: exported_by_default(),
            },
            histograms: HistogramSetting::defaults(),
        })
}

const NOT_A_TIME_ZONE: &str =
    "not an IANA time zone name (e.g. UTC, Europe/Berlin, America/New_York)";

fn parse_timezone(s: &str) -> Result<chrono_tz::Tz, String> {
    s.parse().map_err(|_| NOT_A_TIME_ZONE.to_string())
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s).map_err(|e| format!("{e} (examples: 500ms, 15s, 5m, 1h)"))
}

fn export(metrics: &[String], by: &str) -> Result<AggregatesExport, SettingError> {
    let all = exportable();
    let wanted: Vec<&str> = metrics
        .iter()
        .map(|m| m.trim())
        .filter(|m| !m.is_empty())
        .collect();
    let selected = if wanted == ["all"] {
        all
    } else if wanted.is_empty() || wanted == ["default"] {
        exported_by_default()
    } else {
        let mut selected = Vec::new();
        for name in wanted {
            let Some(known) = all.iter().find(|a| **a == name) else {
                return Err(SettingError::new(
                    "aggregates.metrics",
                    name,
                    format!(
                        "not an analytics quantity; choose from all, default, {}",
                        all.join(", ")
                    ),
                ));
            };
            if !selected.contains(known) {
                selected.push(*known);
            }
        }
        selected
    };
    Ok(AggregatesExport {
        by_queue: by != "media_type",
        selected,
    })
}

fn aggregates_settings(
    flags: &AggregatesFlags,
    export: AggregatesExport,
    histograms: Vec<HistogramSetting>,
) -> Result<AggregatesSettings, SettingError> {
    let (granularity, lookback) = (flags.aggregates_granularity, flags.aggregates_lookback);
    let day = Duration::from_secs(86_400);
    let g = granularity.as_secs();
    if granularity.subsec_nanos() != 0 || g < 60 || g % 60 != 0 || 86_400 % g != 0 {
        return Err(SettingError::new(
            "aggregates.granularity",
            &humantime::format_duration(granularity).to_string(),
            "must be whole minutes that divide a day (1m, 5m, 10m, 15m, 30m, 1h, …)",
        ));
    }
    let l = lookback.as_secs();
    if lookback.subsec_nanos() != 0 || l < g || l % g != 0 || lookback > day {
        return Err(SettingError::new(
            "aggregates.lookback",
            &humantime::format_duration(lookback).to_string(),
            "must be a multiple of the granularity, at most 24h",
        ));
    }
    let mut parsed = Vec::new();
    for w in flags
        .aggregates_windows
        .iter()
        .map(|w| w.trim())
        .filter(|w| !w.is_empty())
    {
        let window = if w == "today" {
            Window::Today
        } else {
            let d = humantime::parse_duration(w).map_err(|e| {
                SettingError::new(
                    "aggregates.windows",
                    w,
                    format!("{e}; use durations like 15m or `today`"),
                )
            })?;
            if d.as_secs() == 0 || d.as_secs() % g != 0 || d.subsec_nanos() != 0 || d > lookback {
                return Err(SettingError::new(
                    "aggregates.windows",
                    w,
                    "a window must be a multiple of --aggregates.granularity and no longer than --aggregates.lookback",
                ));
            }
            Window::Last(d)
        };
        if parsed.iter().any(|p: &Window| p.label() == window.label()) {
            return Err(SettingError::new("aggregates.windows", w, "given twice"));
        }
        parsed.push(window);
    }
    Ok(AggregatesSettings {
        granularity,
        lookback,
        windows: parsed,
        timezone: parse_timezone(&flags.aggregates_timezone).map_err(|reason| {
            SettingError::new("aggregates.timezone", &flags.aggregates_timezone, reason)
        })?,
        by_direction: flags.aggregates_by_direction,
        export,
        histograms,
    })
}

impl CollectorSettings for AggregatesSettings {
    fn same(&self, other: &dyn CollectorSettings) -> bool {
        (other as &dyn std::any::Any).downcast_ref::<Self>() == Some(self)
    }

    fn describe(&self) -> Vec<(&'static str, String)> {
        let d = |d: &Duration| humantime::format_duration(*d).to_string();
        let windows: Vec<String> = self.windows.iter().map(Window::label).collect();
        let by = if self.export.by_queue {
            "queue"
        } else {
            "media_type"
        };
        let mut out = vec![
            ("aggregates.granularity", d(&self.granularity)),
            ("aggregates.lookback", d(&self.lookback)),
            ("aggregates.windows", windows.join(",")),
            ("aggregates.timezone", self.timezone.name().to_string()),
            ("aggregates.metrics", self.export.selected.join(",")),
            ("aggregates.by", by.into()),
            ("aggregates.by-direction", self.by_direction.to_string()),
        ];
        let on: Vec<&str> = self.histograms.iter().map(|h| h.histogram.name).collect();
        out.push((
            "aggregates.histograms",
            if on.is_empty() { "none".into() } else { on.join(",") },
        ));
        for h in &self.histograms {
            let bounds: Vec<String> = h.bounds.iter().map(f64::to_string).collect();
            out.push((h.histogram.buckets_flag, bounds.join(",")));
        }
        out
    }
}
