//! The analytics quantities, one row each: the Genesys metric and statistic it is read from,
//! whether `--aggregates.metrics=default` exports it, the name stem and the help. From the
//! rows follow [`Quantity`] (and the order [`Values`](super::Values) stores them in), the
//! metrics the query asks for ([`super::metrics`]), the counter `genesys_<stem>_total` (not
//! for maxima), the window gauge `genesys_window_<stem>`, the names `--aggregates.metrics`
//! selects by and, through [`FAMILIES`], their place in the catalog.
//!
//! A row reads `Variant = "genesysMetric" Statistic, default|opt_in "stem": "help"`: the help
//! is the part both families share; the counter's goes on with ", since the exporter
//! started; …", the window gauge's with ", over the window (…).". `, ratio "what" over
//! "stem"` adds a sentence naming the family it is the numerator of. Sums and maxima are
//! milliseconds in Genesys and exported as seconds (unit `seconds`); the rest are counts.
//! Rows are in the order a scrape writes the families; a new quantity is one more row.

use super::Values;
use crate::metrics::catalog::family::{Family, Kind};

/// Labels of the counters; the window gauges add `window`.
const LABELS: &[&str] = &["queue_id", "queue", "media_type"];
const WINDOW_LABELS: &[&str] = &["queue_id", "queue", "media_type", "window"];

/// Which statistic of a metric a quantity reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Stat {
    Count,
    Sum,
    Max,
    Numerator,
    Denominator,
}

impl Stat {
    /// Max combines by maximum; everything else adds up across buckets.
    pub(super) fn additive(self) -> bool {
        self != Stat::Max
    }
}

/// One exported quantity: the families that show it (a counter, unless it is a maximum, and a
/// window gauge) and the quantity it shows. Milliseconds are exported as seconds.
pub(crate) struct Exported {
    pub(crate) counter: Option<&'static Family>,
    pub(crate) window: &'static Family,
    quantity: Quantity,
    /// Exported only when `--aggregates.metrics` names it (or says `all`): quantities added
    /// after the first release, so that an upgrade does not grow every scrape by a third.
    pub(super) opt_in: bool,
}

impl Exported {
    /// The name `--aggregates.metrics` selects it by: the window gauge's, without
    /// `genesys_window_`.
    #[must_use]
    pub(crate) fn name(&self) -> &'static str {
        self.window
            .name
            .strip_prefix("genesys_window_")
            .unwrap_or(self.window.name)
    }

    /// The Genesys metric it is read from.
    pub(super) fn metric(&self) -> &'static str {
        self.quantity.source().0
    }

    #[must_use]
    pub(crate) fn value(&self, v: &Values) -> f64 {
        let x = v[self.quantity];
        match self.quantity.source().1 {
            Stat::Sum | Stat::Max => x / 1000.0,
            Stat::Count | Stat::Numerator | Stat::Denominator => x,
        }
    }
}

/// The unit of a statistic's families: timer sums and maxima are exported as seconds.
macro_rules! unit {
    (Sum) => {
        Some("seconds")
    };
    (Max) => {
        Some("seconds")
    };
    ($stat:ident) => {
        None
    };
}

/// A ratio's numerator names its denominator's family (`_total` for the counter).
macro_rules! ratio_note {
    ($prefix:literal, $suffix:literal) => {
        ""
    };
    ($prefix:literal, $suffix:literal, $what:literal, $over:literal) => {
        concat!(
            " The ",
            $what,
            " is this over ",
            $prefix,
            $over,
            $suffix,
            ", a PromQL division."
        )
    };
}

/// The counter of a quantity: none for a maximum, which does not add up.
macro_rules! counter {
    (Max, $($rest:tt)*) => {
        None
    };
    ($stat:ident, $stem:literal, $help:literal $(, $what:literal $over:literal)?) => {
        Some(&Family {
            name: concat!("genesys_", $stem),
            kind: Kind::Counter,
            unit: unit!($stat),
            help: concat!(
                $help,
                ", since the exporter started; late completions are added as Genesys reports \
                 them.",
                ratio_note!("genesys_", "_total" $(, $what, $over)?)
            ),
            labels: LABELS,
        })
    };
}

macro_rules! opt_in {
    (default) => {
        false
    };
    (opt_in) => {
        true
    };
}

macro_rules! quantities {
    ($(
        $variant:ident = $metric:literal $stat:ident, $selection:ident $stem:literal:
            $help:literal $(, ratio $what:literal over $over:literal)?;
    )*) => {
        /// The statistics kept per (queue, media type) and bucket: one statistic of one
        /// Genesys metric each, in row order. Timer sums and maxima are in milliseconds, as
        /// Genesys reports them.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum Quantity {
            $($variant,)*
        }

        impl Quantity {
            /// Every quantity, in the order [`Values`] stores them.
            pub const ALL: [Quantity; [$(Quantity::$variant),*].len()] = [$(Quantity::$variant),*];

            /// The Genesys metric and the statistic of it this quantity is.
            pub(super) const fn source(self) -> (&'static str, Stat) {
                match self {
                    $(Quantity::$variant => ($metric, Stat::$stat),)*
                }
            }
        }

        /// Every quantity as it is exported, in row order: counters
        /// (`genesys_<name>_total`) and, over each window, gauges (`genesys_window_<name>`).
        pub(crate) const EXPORTED: &[Exported] = &[$(
            Exported {
                counter: counter!($stat, $stem, $help $(, $what $over)?),
                window: &Family {
                    name: concat!("genesys_window_", $stem),
                    kind: Kind::Gauge,
                    unit: unit!($stat),
                    help: concat!(
                        $help,
                        ", over the window (15m, 1h: the latest buckets; today: since local \
                         midnight).",
                        ratio_note!("genesys_window_", "" $(, $what, $over)?)
                    ),
                    labels: WINDOW_LABELS,
                },
                quantity: Quantity::$variant,
                opt_in: opt_in!($selection),
            },
        )*];
    };
}

quantities! {
    Offered = "nOffered" Count, default "conversations_offered":
        "Conversations offered to the queue (nOffered)";
    AnsweredCount = "tAnswered" Count, default "conversations_answered":
        "Conversations answered by an agent (tAnswered count)";
    AbandonedCount = "tAbandon" Count, default "conversations_abandoned":
        "Conversations abandoned in queue (tAbandon count)";
    ShortAbandonedCount = "tShortAbandon" Count, default "conversations_short_abandoned":
        "Abandons within the short-abandon threshold (tShortAbandon count)";
    HandledCount = "tHandle" Count, default "conversations_handled":
        "Conversations whose handling (talk, hold, wrap-up) completed (tHandle count)";
    Transferred = "nTransferred" Count, default "conversations_transferred":
        "Conversations transferred (nTransferred)";
    OverSla = "nOverSla" Count, default "conversations_over_sla":
        "Conversations answered after the service level threshold (nOverSla)";
    Connected = "nConnected" Count, default "conversations_connected":
        "Conversations connected to an agent (nConnected)";
    ServiceLevelNumerator = "oServiceLevel" Numerator, default "conversations_within_sla":
        "Service level numerator: answered within the threshold (oServiceLevel numerator)";
    ServiceLevelDenominator = "oServiceLevel" Denominator, default "conversations_sla_eligible":
        "Service level denominator: answered plus abandoned, short abandons excluded (oServiceLevel denominator)";
    HeldCount = "tHeld" Count, default "holds":
        "Hold periods (tHeld count)";
    HandleMs = "tHandle" Sum, default "handle_seconds":
        "Handle time: talk + hold + after-call work (tHandle sum)";
    TalkMs = "tTalk" Sum, default "talk_seconds":
        "Talk time (tTalk sum)";
    HeldMs = "tHeld" Sum, default "hold_seconds":
        "Hold time (tHeld sum)";
    AcwMs = "tAcw" Sum, default "acw_seconds":
        "After-call work time (tAcw sum)";
    AcdMs = "tAcd" Sum, default "acd_wait_seconds":
        "Time in queue until answered or abandoned (tAcd sum)";
    AnsweredMs = "tAnswered" Sum, default "answer_wait_seconds":
        "Time in queue of answered conversations (tAnswered sum)";
    AbandonedMs = "tAbandon" Sum, default "abandon_wait_seconds":
        "Time in queue of abandoned conversations (tAbandon sum)";
    WaitMs = "tWait" Sum, default "wait_seconds":
        "Waiting time (tWait sum)";
    AlertMs = "tAlert" Sum, default "alert_seconds":
        "Time offers spent alerting agents (tAlert sum)";
    NotRespondingCount = "tNotResponding" Count, opt_in "offers_not_answered":
        "Offers an agent did not answer before the alerting timeout (tNotResponding count)";
    NotRespondingMs = "tNotResponding" Sum, opt_in "not_responding_seconds":
        "Time offers spent alerting agents who did not answer (tNotResponding sum)";
    BlindTransferred = "nBlindTransferred" Count, opt_in "conversations_blind_transferred":
        "Conversations transferred blind, without a consult (nBlindTransferred)";
    ConsultTransferred = "nConsultTransferred" Count, opt_in "conversations_consult_transferred":
        "Conversations transferred after a consult (nConsultTransferred)";
    Outbound = "nOutbound" Count, opt_in "conversations_outbound":
        "Outbound conversations (nOutbound)";
    DialingMs = "tDialing" Sum, opt_in "dialing_seconds":
        "Time spent dialing outbound conversations (tDialing sum)";
    ContactingMs = "tContacting" Sum, opt_in "contacting_seconds":
        "Time spent contacting the customer on outbound conversations (tContacting sum)";
    Error = "nError" Count, opt_in "conversation_errors":
        "Conversations with an error (nError)";
    IvrCount = "tIvr" Count, opt_in "ivr_conversations":
        "Conversations that spent time in an IVR flow (tIvr count), on the queue the flow transferred them to (inferred)";
    IvrMs = "tIvr" Sum, opt_in "ivr_seconds":
        "Time conversations spent in an IVR flow (tIvr sum), on the queue the flow transferred them to (inferred)";
    FlowOutCount = "tFlowOut" Count, opt_in "conversations_flowed_out":
        "Conversations that left the queue neither answered nor abandoned, e.g. for voicemail, a callback or another queue (flow-outs: tFlowOut count; reading inferred)";
    FlowOutMs = "tFlowOut" Sum, opt_in "flow_out_wait_seconds":
        "Time in queue of conversations that flowed out (tFlowOut sum; reading inferred)";
    VoicemailCount = "tVoicemail" Count, opt_in "voicemails":
        "Voicemails left (tVoicemail count), on the queue whose voicemail took them (inferred)";
    VoicemailMs = "tVoicemail" Sum, opt_in "voicemail_seconds":
        "Time callers spent leaving voicemails (tVoicemail sum), on the queue whose voicemail took them (inferred)";
    CallbackScheduled = "nCallbackScheduled" Count, opt_in "callbacks_scheduled":
        "Callbacks scheduled for a later time (nCallbackScheduled), on the callback's queue (inferred)";
    CallbackServiceLevelNumerator = "oCallbackServiceLevel" Numerator, opt_in "callbacks_within_sla":
        "Callback service level numerator: callbacks answered within the queue's callback service level threshold (oCallbackServiceLevel numerator; reading inferred: the rule of oServiceLevel applied to callback conversations only)", ratio "callback service level" over "callbacks_sla_eligible";
    CallbackServiceLevelDenominator = "oCallbackServiceLevel" Denominator, opt_in "callbacks_sla_eligible":
        "Callback service level denominator: callbacks answered plus abandoned, short abandons excluded (oCallbackServiceLevel denominator; reading inferred: the rule of oServiceLevel applied to callback conversations only)";
    HandleMaxMs = "tHandle" Max, default "handle_max_seconds":
        "Longest handle time in the window (tHandle max)";
    AcdMaxMs = "tAcd" Max, default "acd_wait_max_seconds":
        "Longest time in queue in the window (tAcd max)";
}

impl Quantity {
    /// Whether it adds up across buckets (all but maxima).
    pub(super) fn additive(self) -> bool {
        self.source().1.additive()
    }
}
