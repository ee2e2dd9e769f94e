//! A queue's observations as Genesys reports them, one row per (media type, metric,
//! qualifier), and the live state derived from them. Polls and pushed events both land here:
//! a poll replaces a queue's rows, an event replaces exactly the rows it carries, and the
//! series come from one derivation either way.
//!
//! Label values enter through a [`Vocabulary`] in both cases (the documented ones always, a
//! few more per label and org), so a flood of made-up media types or qualifiers costs a
//! constant, and a count that is no count keeps the row's previous count.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;

use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;

use super::{count_of, longest_wait_seconds, MediaLive, QueueLive, ROUTING_STATUSES};
use crate::genesys::models::{
    ObservedCount, QueueObservationDataContainer, QueueObservationQueryResponse,
};

/// A media type or qualifier as the rows key it: lower-cased (Genesys spells them either way).
/// The names Genesys is known to use are static, so reading them allocates nothing.
pub(crate) type Name = Cow<'static, str>;

/// The analytics vocabulary of media types (REFERENCE.md 4.1: the `mediaType` dimension of
/// observation groups), lower case.
pub(crate) const MEDIA_TYPES: [&str; 11] = [
    "voice",
    "chat",
    "email",
    "callback",
    "message",
    "cobrowse",
    "screenshare",
    "video",
    "internalmessage",
    "screenmonitoring",
    "unknown",
];

/// Media types and qualifiers (routing statuses) known ahead.
const KNOWN_NAMES: [&str; 16] = [
    MEDIA_TYPES[0],
    MEDIA_TYPES[1],
    MEDIA_TYPES[2],
    MEDIA_TYPES[3],
    MEDIA_TYPES[4],
    MEDIA_TYPES[5],
    MEDIA_TYPES[6],
    MEDIA_TYPES[7],
    MEDIA_TYPES[8],
    MEDIA_TYPES[9],
    MEDIA_TYPES[10],
    ROUTING_STATUSES[0],
    ROUTING_STATUSES[1],
    ROUTING_STATUSES[2],
    ROUTING_STATUSES[3],
    ROUTING_STATUSES[4],
];

fn name(s: &str) -> Name {
    if let Some(known) = KNOWN_NAMES.iter().find(|k| k.eq_ignore_ascii_case(s)) {
        return Cow::Borrowed(*known);
    }
    Cow::Owned(s.to_ascii_lowercase())
}

/// The metric of a row: one of the observation metrics the live families read
/// ([`super::METRICS`]), or another one a poll answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Metric {
    Waiting,
    Interacting,
    Alerting,
    OnQueueUsers,
    UserRoutingStatuses,
    LongestWaiting,
    LongestInteracting,
    MemberUsers,
    ActiveUsers,
    OffQueueUsers,
    /// Qualified by organization presence id.
    UserPresences,
    /// Not read: its row only says that Genesys reported its media type for the queue.
    Other,
}

/// The largest number of system presences kept from a mapping: Genesys defines about ten, so
/// more means a malformed answer, and the `presence` label stays bounded.
pub(crate) const MAX_SYSTEM_PRESENCES: usize = 32;

/// The `presence` label of organization presences the mapping does not name.
pub(crate) const UNKNOWN_PRESENCE: &str = "unknown";

/// The org's presences, from `systemToOrganizationMappings`: which system presence each
/// organization presence id (an `oUserPresences` qualifier) rolls up to. Pushed events carry
/// qualifiers without the mapping, so the last mapping a poll brought is kept for them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Presences {
    /// Organization presence id, lower case -> its system presence in `system`.
    by_org: HashMap<String, usize>,
    /// System presences, lower case, in name order.
    system: Vec<String>,
    /// System presences beyond [`MAX_SYSTEM_PRESENCES`] left out.
    dropped: usize,
}

impl Presences {
    /// From one mapping: system presence -> organization presence ids. An id listed under two
    /// system presences counts under the first in name order.
    #[must_use]
    pub(crate) fn from_mappings(mappings: &BTreeMap<String, Vec<String>>) -> Presences {
        let mut system: Vec<String> = mappings
            .keys()
            .map(|k| k.to_ascii_lowercase())
            .filter(|k| !k.is_empty() && k != UNKNOWN_PRESENCE)
            .collect();
        system.sort();
        system.dedup();
        let dropped = system.len().saturating_sub(MAX_SYSTEM_PRESENCES);
        system.truncate(MAX_SYSTEM_PRESENCES);
        let mut by_org = HashMap::new();
        for (sys, ids) in mappings {
            let Ok(i) = system.binary_search(&sys.to_ascii_lowercase()) else {
                continue;
            };
            for id in ids {
                by_org.entry(id.to_ascii_lowercase()).or_insert(i);
            }
        }
        Presences {
            by_org,
            system,
            dropped,
        }
    }

    /// Logs what a new mapping left out: called when the mapping changes, not every poll.
    pub(crate) fn warn_if_truncated(&self) {
        if self.dropped > 0 {
            tracing::warn!(
                kept = MAX_SYSTEM_PRESENCES,
                dropped = self.dropped,
                "systemToOrganizationMappings names more system presences than Genesys defines; the rest count as unknown"
            );
        }
    }

    /// The mapping of a poll's answers (merged), or `None` when no answer carried one.
    #[must_use]
    pub(crate) fn from_responses(responses: &[QueueObservationQueryResponse]) -> Option<Presences> {
        let mut merged: Option<BTreeMap<String, Vec<String>>> = None;
        for m in responses
            .iter()
            .filter_map(|r| r.system_to_organization_mappings.as_ref())
        {
            let merged = merged.get_or_insert_with(BTreeMap::new);
            for (sys, ids) in m {
                merged
                    .entry(sys.clone())
                    .or_default()
                    .extend(ids.iter().cloned());
            }
        }
        merged.map(|m| Presences::from_mappings(&m))
    }

    /// The system presence an organization presence (lower case) counts under.
    fn system_of(&self, org: &str) -> &str {
        self.by_org
            .get(org)
            .map_or(UNKNOWN_PRESENCE, |&i| self.system[i].as_str())
    }
}

/// Label values beyond the official vocabulary kept as their own value, per label and org: a
/// newer Genesys may add a media type or a routing status, and it shows; a flood of made-up
/// ones costs at most this many values (as `--collector.flows` keeps new flow types).
pub(crate) const MAX_EXTRA_VALUES: usize = 8;

/// Longer values are never a Genesys name (nor a useful label).
const MAX_EXTRA_LEN: usize = 40;

/// The labels a value of an event or poll may grow, each with its own extra values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Label {
    /// A group's `mediaType` (`media_type`).
    Media,
    /// Qualifiers of `oUserRoutingStatuses` and `oOnQueueUsers` (`routing_status`).
    RoutingStatus,
    /// Qualifiers of any other metric: organization presence ids the org's mapping does not
    /// name (they count as `presence="unknown"`), or a qualifier Genesys never sent before.
    Qualifier,
}

impl Label {
    const ALL: [Label; 3] = [Label::Media, Label::RoutingStatus, Label::Qualifier];

    fn of(metric: Metric) -> Label {
        match metric {
            Metric::UserRoutingStatuses | Metric::OnQueueUsers => Label::RoutingStatus,
            _ => Label::Qualifier,
        }
    }

    fn index(self) -> usize {
        self as usize
    }

    fn name(self) -> &'static str {
        match self {
            Label::Media => "media type",
            Label::RoutingStatus => "routing status",
            Label::Qualifier => "qualifier",
        }
    }
}

/// Why a value of an event or poll was left out: the `reason` label of
/// `genesys_live_ignored_values_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ignored {
    /// A group of a media type beyond the kept ones: its rows (or event) left out.
    MediaType,
    /// A row whose qualifier is beyond the kept ones.
    Qualifier,
    /// A count that is not a whole number from 0 up: the row kept its previous count.
    InvalidCount,
}

impl Ignored {
    pub(crate) const ALL: [Ignored; 3] = [
        Ignored::MediaType,
        Ignored::Qualifier,
        Ignored::InvalidCount,
    ];

    #[must_use]
    pub(crate) fn label(self) -> &'static str {
        match self {
            Ignored::MediaType => "media_type",
            Ignored::Qualifier => "qualifier",
            Ignored::InvalidCount => "invalid_count",
        }
    }
}

/// Which label values of one org's events and polls become rows: the official ones always,
/// [`MAX_EXTRA_VALUES`] more per [`Label`] at most, first come first kept; the rest are left
/// out and counted. Dropped rather than folded into one bucket: an event carries one group, so
/// a bucket of several media types would show whichever came last, not their sum. Polls and
/// events go through the same vocabulary, so a reconciling poll agrees with the pushed state
/// on what it leaves out. [`Vocabulary::sweep`] forgets the extra values no row holds any
/// more, so a burst of made-up values does not take the room for good.
#[derive(Debug, Clone, Default)]
pub struct Vocabulary {
    /// By `Label::index`.
    extra: [Vec<String>; 3],
    /// By `Ignored::ALL` order.
    ignored: [u64; 3],
    /// A value of the label was left out (and logged) since its kept values last changed:
    /// one warning per change, not one per poll or event.
    warned: [bool; 3],
}

impl Vocabulary {
    #[must_use]
    pub fn new() -> Vocabulary {
        Vocabulary::default()
    }

    /// Values left out so far, by [`Ignored::ALL`].
    #[must_use]
    pub(crate) fn ignored(&self) -> [u64; 3] {
        self.ignored
    }

    /// The extra values kept now, of every label.
    #[must_use]
    pub(crate) fn extra_values(&self) -> usize {
        self.extra.iter().map(Vec::len).sum()
    }

    fn count(&mut self, why: Ignored) {
        self.ignored[why as usize] += 1;
    }

    pub(crate) fn count_invalid(&mut self) {
        self.count(Ignored::InvalidCount);
    }

    /// Whether a value (lower case) of `label` becomes a row; `known`: an official one.
    fn admit(&mut self, label: Label, value: &str, known: bool) -> bool {
        let extra = &mut self.extra[label.index()];
        if known || extra.iter().any(|v| v == value) {
            return true;
        }
        let plain = !value.is_empty()
            && value.len() <= MAX_EXTRA_LEN
            && value
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if plain && extra.len() < MAX_EXTRA_VALUES {
            tracing::info!(
                label = label.name(),
                value,
                "a value Genesys does not document is kept as its own label value"
            );
            extra.push(value.to_string());
            return true;
        }
        self.count(match label {
            Label::Media => Ignored::MediaType,
            _ => Ignored::Qualifier,
        });
        if !std::mem::replace(&mut self.warned[label.index()], true) {
            tracing::warn!(
                label = label.name(),
                value,
                kept = MAX_EXTRA_VALUES,
                "more undocumented values than are kept (or not a plain word): rows with them are left out and counted in genesys_live_ignored_values_total"
            );
        }
        false
    }

    /// A group's media type, of a queue serving `served`.
    fn admit_media(&mut self, media: &str, served: &[String]) -> bool {
        let known = MEDIA_TYPES.contains(&media) || served.iter().any(|s| s == media);
        self.admit(Label::Media, media, known)
    }

    /// A row's qualifier (lower case).
    fn admit_qualifier(&mut self, metric: Metric, qualifier: &str, presences: &Presences) -> bool {
        let label = Label::of(metric);
        let known = match metric {
            Metric::UserRoutingStatuses | Metric::OnQueueUsers => {
                ROUTING_STATUSES.contains(&qualifier)
            }
            Metric::UserPresences => presences.by_org.contains_key(qualifier),
            _ => false,
        };
        self.admit(label, qualifier, known)
    }

    /// What of a pushed event for a queue serving `served` becomes rows: false when its media
    /// type is left out (the whole event, counted); otherwise its rows of left-out qualifiers
    /// are removed (counted), as are its invalid counts.
    pub(crate) fn admit_event(
        &mut self,
        event: &mut Pushed,
        served: &[String],
        presences: &Presences,
    ) -> bool {
        if let Some(m) = &event.media {
            if !self.admit_media(m, served) {
                return false;
            }
        }
        event.rows.retain(|r| match &r.qualifier {
            Some(q) => self.admit_qualifier(r.metric, q, presences),
            None => true,
        });
        for r in &event.rows {
            if r.stat.invalid_count {
                self.count_invalid();
            }
        }
        true
    }

    /// Forgets the extra values none of `rows` holds any more (call it when every queue's rows
    /// were replaced by a poll: values only a flood of events brought are then gone).
    pub(crate) fn sweep<'a>(&mut self, rows: impl IntoIterator<Item = &'a Rows>) {
        if self.extra_values() == 0 {
            return;
        }
        let mut used = [[false; MAX_EXTRA_VALUES]; 3];
        let mut mark = |label: Label, value: &str, extra: &[Vec<String>; 3]| {
            if let Some(i) = extra[label.index()].iter().position(|v| v == value) {
                used[label.index()][i] = true;
            }
        };
        for r in rows {
            for g in &r.groups {
                if let Some(m) = &g.media {
                    mark(Label::Media, m, &self.extra);
                }
                for row in &g.rows {
                    if let Some(q) = &row.qualifier {
                        mark(Label::of(row.metric), q, &self.extra);
                    }
                }
            }
        }
        for label in Label::ALL {
            let extra = &mut self.extra[label.index()];
            let before = extra.len();
            let mut i = 0;
            extra.retain(|_| {
                i += 1;
                used[label.index()][i - 1]
            });
            // The kept set changed: a value left out from now on is worth a warning again.
            if extra.len() < before {
                self.warned[label.index()] = false;
            }
        }
    }
}

impl Metric {
    #[must_use]
    pub(crate) fn of(name: &str) -> Metric {
        match name {
            "oWaiting" => Metric::Waiting,
            "oInteracting" => Metric::Interacting,
            "oAlerting" => Metric::Alerting,
            "oOnQueueUsers" => Metric::OnQueueUsers,
            "oUserRoutingStatuses" => Metric::UserRoutingStatuses,
            "oLongestWaiting" => Metric::LongestWaiting,
            "oLongestInteracting" => Metric::LongestInteracting,
            "oMemberUsers" => Metric::MemberUsers,
            "oActiveUsers" => Metric::ActiveUsers,
            "oOffQueueUsers" => Metric::OffQueueUsers,
            "oUserPresences" => Metric::UserPresences,
            _ => Metric::Other,
        }
    }
}

/// The statistics of one row that the live families read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Stat {
    /// A whole, non-negative count, if one came.
    pub(crate) count: Option<i64>,
    pub(crate) calculated_metric_value: Option<i64>,
    /// A count came that is none (negative, fractional, out of range, not a number): the row
    /// keeps the count it had rather than showing 0.
    pub(crate) invalid_count: bool,
}

impl Stat {
    /// This statistic as it replaces `old`: an invalid count keeps the old one.
    fn replacing(self, old: Stat) -> Stat {
        if self.invalid_count {
            Stat {
                count: old.count,
                invalid_count: false,
                ..self
            }
        } else {
            self
        }
    }
}

/// One row of a group: a metric, its qualifier (lower-cased) and its statistics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    pub(crate) metric: Metric,
    pub(crate) qualifier: Option<Name>,
    pub(crate) stat: Stat,
}

impl Row {
    fn same_key(&self, other: &Row) -> bool {
        self.metric == other.metric && self.qualifier == other.qualifier
    }
}

/// The rows of one group: `{queueId, mediaType}` for conversation metrics, `{queueId}` (no
/// media) for the agent metrics.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Group {
    media: Option<Name>,
    rows: Vec<Row>,
}

/// One queue's rows, by group. A handful of groups of a few rows each: found by a linear
/// scan, and updated in place, so an event for rows the queue already has allocates nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rows {
    groups: Vec<Group>,
}

impl Rows {
    #[must_use]
    pub fn new() -> Rows {
        Rows::default()
    }

    /// Every row with the media type of its group.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (Option<&str>, &Row)> {
        self.groups
            .iter()
            .flat_map(|g| g.rows.iter().map(move |r| (g.media.as_deref(), r)))
    }

    /// The group of `media`, created empty if new.
    fn group(&mut self, media: Option<&Name>) -> &mut Group {
        let i = match self.groups.iter().position(|g| g.media.as_ref() == media) {
            Some(i) => i,
            None => {
                self.groups.push(Group {
                    media: media.cloned(),
                    rows: Vec::new(),
                });
                self.groups.len() - 1
            }
        };
        &mut self.groups[i]
    }
}

/// Adds one polled result container of a queue serving `served` to its rows, its label
/// values admitted by `vocabulary` as an event's are. A row that comes twice (never seen, but
/// nothing forbids it) adds its count, as the families did before rows existed. An invalid
/// count leaves the row marked, for [`keep_previous`].
pub(crate) fn add_polled(
    rows: &mut Rows,
    container: &QueueObservationDataContainer,
    vocabulary: &mut Vocabulary,
    served: &[String],
    presences: &Presences,
) {
    let media = container.group.get("mediaType").map(|m| name(m));
    if let Some(m) = &media {
        if !vocabulary.admit_media(m, served) {
            return;
        }
    }
    let group = rows.group(media.as_ref());
    for d in &container.data {
        let metric = Metric::of(&d.metric);
        // Rows of unread metrics only mark the media type as reported: one is enough.
        let qualifier = match metric {
            Metric::Other => None,
            _ => d.qualifier.as_deref().map(name),
        };
        if let Some(q) = &qualifier {
            if !vocabulary.admit_qualifier(metric, q, presences) {
                continue;
            }
        }
        let row = Row {
            metric,
            qualifier,
            stat: Stat::default(),
        };
        let i = match group.rows.iter().position(|r| r.same_key(&row)) {
            Some(i) => i,
            None => {
                group.rows.push(row);
                group.rows.len() - 1
            }
        };
        if metric == Metric::Other {
            continue;
        }
        let stat = &mut group.rows[i].stat;
        match d.stats.count {
            ObservedCount::Missing => {}
            ObservedCount::Valid(c) => {
                stat.count = Some(stat.count.unwrap_or(0).saturating_add(c));
            }
            ObservedCount::Invalid => {
                vocabulary.count_invalid();
                stat.invalid_count = true;
            }
        }
        if let Some(v) = d.stats.calculated_metric_value {
            // Two values for one row: keep the oldest timestamp / longest duration.
            stat.calculated_metric_value = Some(match stat.calculated_metric_value {
                Some(old) if older(old, v) => old,
                _ => v,
            });
        }
    }
}

/// Rows of a poll marked with an invalid count take the count of the same row in `previous`
/// (the queue's rows before the poll); without one they count nothing, as a missing row does.
pub(crate) fn keep_previous(rows: &mut Rows, previous: &Rows) {
    for group in &mut rows.groups {
        for row in group.rows.iter_mut().filter(|r| r.stat.invalid_count) {
            let old = previous
                .groups
                .iter()
                .find(|g| g.media == group.media)
                .and_then(|g| g.rows.iter().find(|r| r.same_key(row)))
                .map_or(Stat::default(), |r| r.stat);
            row.stat = row.stat.replacing(old);
        }
    }
}

/// Which of two `oLongestWaiting` values means the longer wait.
fn older(a: i64, b: i64) -> bool {
    longest_wait_seconds(a, i64::MAX / 2) >= longest_wait_seconds(b, i64::MAX / 2)
}

/// What one pushed observation event (`StatEventQueueTopicStatsNotification`) carries for the
/// live loop: its queue, its group's media type, and its rows of the observation metrics only
/// (the event also carries 30-minute aggregates the live families do not read; they are
/// skipped while parsing). A metric the event leaves out keeps its row under
/// [`Reading::Rows`] (what an event holds is not documented; reconciliation finds out).
///
/// Read straight from the frame's text with typed visitors: no `serde_json::Value`, strings
/// borrowed from the frame while parsing, one `Vec` for the rows. It accepts and refuses what
/// [`crate::genesys::models::QueueStatsEvent`] does (a property test holds them to that):
/// unknown fields and values of other types where the schema allows anything (group values,
/// statistics) are skipped; a field of the wrong type refuses the event.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(from = "EventBody")]
pub struct Pushed {
    /// The group's `queueId`; the channel fills in its topic's when the group has none.
    pub(crate) queue_id: Option<String>,
    /// The group's `mediaType`, lower-cased; none for the agent group.
    pub(crate) media: Option<Name>,
    pub rows: Vec<Row>,
    /// It carried metrics the live families do not read (the 30-minute aggregates).
    pub(crate) other_metrics: bool,
}

impl Pushed {
    /// An aggregates frame on the observations topic (REFERENCE.md 2.7 has a capture): metrics,
    /// none of them observations. It says nothing of the live state, under any reading; an
    /// event without any metric (`metrics: []`) is another thing, the group with every count 0.
    #[must_use]
    pub(crate) fn observes_nothing(&self) -> bool {
        self.rows.is_empty() && self.other_metrics
    }
}

#[derive(Deserialize)]
struct EventBody {
    #[serde(default)]
    group: EventGroup,
    #[serde(default)]
    data: Intervals,
}

impl From<EventBody> for Pushed {
    fn from(body: EventBody) -> Pushed {
        Pushed {
            queue_id: body.group.queue_id,
            media: body.group.media,
            rows: body.data.rows,
            other_metrics: body.data.other_metrics,
        }
    }
}

/// `group`, as the models' `string_map` reads it: `null` or an object whose values of other
/// types than strings are skipped; the last of repeated keys counts.
#[derive(Default)]
struct EventGroup {
    queue_id: Option<String>,
    media: Option<Name>,
}

#[derive(Deserialize)]
#[serde(field_identifier, rename_all = "camelCase")]
enum GroupKey {
    QueueId,
    MediaType,
    #[serde(other)]
    Other,
}

impl<'de> Deserialize<'de> for EventGroup {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        nullable_map(d)
    }
}

impl<'de> NullableMap<'de> for EventGroup {
    const EXPECTING: &'static str = "a map of dimension values";

    fn read<A: MapAccess<'de>>(mut map: A) -> Result<EventGroup, A::Error> {
        let mut group = EventGroup::default();
        while let Some(key) = map.next_key::<GroupKey>()? {
            match key {
                GroupKey::QueueId => {
                    group.queue_id = map.next_value::<AnyValue>()?.0.map(Cow::into_owned);
                }
                GroupKey::MediaType => {
                    group.media = map.next_value::<AnyValue>()?.0.as_deref().map(name);
                }
                GroupKey::Other => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(group)
    }
}

/// An object read by [`NullableMap::read`], or `null` (or nothing) read as its default: how
/// the models' optional maps (`group`, `stats`) accept either.
trait NullableMap<'de>: Default {
    const EXPECTING: &'static str;
    fn read<A: MapAccess<'de>>(map: A) -> Result<Self, A::Error>;
}

fn nullable_map<'de, D: Deserializer<'de>, T: NullableMap<'de>>(d: D) -> Result<T, D::Error> {
    struct V<T>(std::marker::PhantomData<T>);
    impl<'de, T: NullableMap<'de>> Visitor<'de> for V<T> {
        type Value = T;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str(T::EXPECTING)
        }
        fn visit_none<E: de::Error>(self) -> Result<T, E> {
            Ok(T::default())
        }
        fn visit_unit<E: de::Error>(self) -> Result<T, E> {
            Ok(T::default())
        }
        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<T, D::Error> {
            d.deserialize_map(self)
        }
        fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
            T::read(map)
        }
    }
    d.deserialize_option(V(std::marker::PhantomData))
}

/// `data`: the intervals' metrics, in one `Vec` of rows.
#[derive(Default)]
struct Intervals {
    rows: Vec<Row>,
    other_metrics: bool,
}

impl<'de> Deserialize<'de> for Intervals {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Intervals;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a list of interval metrics")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Intervals, A::Error> {
                let mut out = Intervals::default();
                while let Some(interval) = seq.next_element::<Interval>()? {
                    out.other_metrics |= interval.metrics.other;
                    if out.rows.is_empty() {
                        out.rows = interval.metrics.rows;
                    } else {
                        out.rows.extend(interval.metrics.rows);
                    }
                }
                Ok(out)
            }
        }
        d.deserialize_seq(V)
    }
}

/// `StatEventQueueTopicIntervalMetrics`.
#[derive(Deserialize)]
struct Interval {
    /// Not read, but a string by the schema, as the models hold it to.
    #[serde(default, rename = "interval")]
    _interval: Text,
    #[serde(default)]
    metrics: Metrics,
}

/// `metrics`: the rows of the observation metrics; the others are dropped as they are read
/// (`other` says there were some).
#[derive(Default)]
struct Metrics {
    rows: Vec<Row>,
    other: bool,
}

impl<'de> Deserialize<'de> for Metrics {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Metrics;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a list of metric statistics")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Metrics, A::Error> {
                // Room for a group's rows without growing: 5 conversation metrics, or agent
                // metrics by routing status.
                let mut rows = Vec::with_capacity(8);
                let mut other = false;
                while let Some(m) = seq.next_element::<MetricStats>()? {
                    let metric = Metric::of(&m.metric);
                    if metric == Metric::Other {
                        other = true;
                        continue;
                    }
                    rows.push(Row {
                        metric,
                        qualifier: m.qualifier.0.as_deref().map(name),
                        stat: m.stats.0,
                    });
                }
                Ok(Metrics { rows, other })
            }
        }
        d.deserialize_seq(V)
    }
}

/// `StatEventQueueTopicMetricStats`, its strings borrowed from the frame.
#[derive(Deserialize)]
struct MetricStats<'a> {
    #[serde(default, borrow)]
    metric: Cow<'a, str>,
    #[serde(default, borrow)]
    qualifier: OptionalText<'a>,
    #[serde(default)]
    stats: Stats,
}

/// A string, accepted as such and not kept.
#[derive(Default)]
struct Text;

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Text;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<Text, E> {
                Ok(Text)
            }
        }
        d.deserialize_str(V)
    }
}

/// `null` or a string (borrowed when it has no escapes), as `Option<String>` reads it.
#[derive(Default)]
struct OptionalText<'a>(Option<Cow<'a, str>>);

impl<'de: 'a, 'a> Deserialize<'de> for OptionalText<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = OptionalText<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string or null")
            }
            fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(OptionalText(None))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(OptionalText(None))
            }
            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
                d.deserialize_str(self)
            }
            fn visit_borrowed_str<E: de::Error>(self, s: &'de str) -> Result<Self::Value, E> {
                Ok(OptionalText(Some(Cow::Borrowed(s))))
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Self::Value, E> {
                Ok(OptionalText(Some(Cow::Owned(s.to_string()))))
            }
        }
        d.deserialize_option(V)
    }
}

/// Any JSON value: a string is kept (borrowed when it has no escapes), anything else skipped.
struct AnyValue<'a>(Option<Cow<'a, str>>);

impl<'de: 'a, 'a> Deserialize<'de> for AnyValue<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = AnyValue<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any value")
            }
            fn visit_borrowed_str<E: de::Error>(self, s: &'de str) -> Result<Self::Value, E> {
                Ok(AnyValue(Some(Cow::Borrowed(s))))
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Self::Value, E> {
                Ok(AnyValue(Some(Cow::Owned(s.to_string()))))
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
                Ok(AnyValue(None))
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
                Ok(AnyValue(None))
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
                Ok(AnyValue(None))
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
                Ok(AnyValue(None))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(AnyValue(None))
            }
            fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(AnyValue(None))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
                IgnoredAny.visit_seq(seq).map(|_| AnyValue(None))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                IgnoredAny.visit_map(map).map(|_| AnyValue(None))
            }
        }
        d.deserialize_any(V)
    }
}

/// Any JSON value, kept if it is a number (as the models' `number_map` reads statistics);
/// `present` tells a value of another type (kept as `None`) from `null`.
struct Number {
    value: Option<f64>,
    present: bool,
}

impl Number {
    const NULL: Number = Number {
        value: None,
        present: false,
    };
    const OTHER: Number = Number {
        value: None,
        present: true,
    };

    fn of(v: f64) -> Number {
        Number {
            value: Some(v),
            present: true,
        }
    }

    /// As a count: whole and not negative; anything else present is invalid.
    fn count(&self) -> (Option<i64>, bool) {
        let count = self.value.and_then(whole).filter(|c| *c >= 0);
        (count, self.present && count.is_none())
    }
}

impl<'de> Deserialize<'de> for Number {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Number;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any value")
            }
            // As `serde_json::Value::as_f64` reads numbers.
            #[allow(clippy::cast_precision_loss)]
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Number, E> {
                Ok(Number::of(v as f64))
            }
            #[allow(clippy::cast_precision_loss)]
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Number, E> {
                Ok(Number::of(v as f64))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Number, E> {
                Ok(Number::of(v))
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<Number, E> {
                Ok(Number::OTHER)
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Number, E> {
                Ok(Number::OTHER)
            }
            fn visit_unit<E: de::Error>(self) -> Result<Number, E> {
                Ok(Number::NULL)
            }
            fn visit_none<E: de::Error>(self) -> Result<Number, E> {
                Ok(Number::NULL)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Number, A::Error> {
                IgnoredAny.visit_seq(seq).map(|_| Number::OTHER)
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Number, A::Error> {
                IgnoredAny.visit_map(map).map(|_| Number::OTHER)
            }
        }
        d.deserialize_any(V)
    }
}

/// `stats`: `null` or a map of statistics by name; only `count` and `calculatedMetricValue`
/// are kept, as whole numbers.
#[derive(Default)]
struct Stats(Stat);

#[derive(Deserialize)]
#[serde(field_identifier, rename_all = "camelCase")]
enum StatKey {
    Count,
    CalculatedMetricValue,
    #[serde(other)]
    Other,
}

impl<'de> Deserialize<'de> for Stats {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        nullable_map(d)
    }
}

impl<'de> NullableMap<'de> for Stats {
    const EXPECTING: &'static str = "a map of statistics";

    fn read<A: MapAccess<'de>>(mut map: A) -> Result<Stats, A::Error> {
        let mut stat = Stat::default();
        while let Some(key) = map.next_key::<StatKey>()? {
            match key {
                StatKey::Count => {
                    (stat.count, stat.invalid_count) = map.next_value::<Number>()?.count();
                }
                StatKey::CalculatedMetricValue => {
                    stat.calculated_metric_value =
                        map.next_value::<Number>()?.value.and_then(whole);
                }
                StatKey::Other => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(Stats(stat))
    }
}

/// How a pushed event's rows are read. Genesys does not document what an event holds, so the
/// live loop keeps both readings and serves the one reconciliation finds closer to the truth.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Reading {
    /// The event replaces exactly the rows it carries; the rest keep their values.
    #[default]
    Rows,
    /// The event is its group's whole state (`{queueId}` or `{queueId, mediaType}`): rows of
    /// that group it leaves out are gone, as an absent row of a query answer counts zero.
    Groups,
}

impl Reading {
    pub const ALL: [Reading; 2] = [Reading::Rows, Reading::Groups];

    #[must_use]
    pub(crate) fn label(self) -> &'static str {
        match self {
            Reading::Rows => "rows",
            Reading::Groups => "groups",
        }
    }

    #[must_use]
    pub fn index(self) -> usize {
        match self {
            Reading::Rows => 0,
            Reading::Groups => 1,
        }
    }
}

/// Applies a pushed event to a queue's rows, read as `reading`. Rows the queue has are updated
/// in place; the last of repeated rows in an event counts; an invalid count keeps the row's
/// count. An aggregates frame changes nothing.
pub fn apply(rows: &mut Rows, event: &Pushed, reading: Reading) {
    if event.observes_nothing() {
        return;
    }
    let group = rows.group(event.media.as_ref());
    if reading == Reading::Groups {
        // The event is its group's whole state: the read rows it leaves out are gone.
        group
            .rows
            .retain(|r| r.metric == Metric::Other || event.rows.iter().any(|c| c.same_key(r)));
    }
    for carried in &event.rows {
        match group.rows.iter_mut().find(|r| r.same_key(carried)) {
            Some(row) => row.stat = carried.stat.replacing(row.stat),
            None => group.rows.push(Row {
                stat: carried.stat.replacing(Stat::default()),
                ..carried.clone()
            }),
        }
    }
}

/// A JSON number as a whole number, if it is one within range.
fn whole(v: f64) -> Option<i64> {
    // Range-checked first: the cast below cannot truncate or wrap.
    #[allow(clippy::cast_possible_truncation)]
    (v.is_finite() && v.fract() == 0.0 && v.abs() < 9.0e15).then_some(v as i64)
}

/// `f` applied to the value of `key`, inserted as default first if missing (allocating the
/// key only then).
fn update<V: Default>(map: &mut BTreeMap<String, V>, key: &str, f: impl FnOnce(&mut V)) {
    if let Some(v) = map.get_mut(key) {
        f(v);
        return;
    }
    let mut v = V::default();
    f(&mut v);
    map.insert(key.to_string(), v);
}

/// The live state of a queue serving `media_types`, from its rows at `now_ms`.
#[must_use]
pub fn derive(
    rows: &Rows,
    media_types: &[String],
    now_ms: i64,
    presences: &Presences,
) -> QueueLive {
    let mut queue = QueueLive {
        media: media_types
            .iter()
            .map(|m| (m.clone(), MediaLive::default()))
            .collect(),
        routing_statuses: ROUTING_STATUSES
            .iter()
            .map(|s| (s.to_string(), 0))
            .collect(),
        presences: presences.system.iter().map(|s| (s.clone(), 0)).collect(),
        ..QueueLive::default()
    };
    for (media, row) in rows.iter() {
        let count = count_of(row.stat.count);
        match (row.metric, media) {
            (Metric::OnQueueUsers, _) => queue.on_queue_users += count,
            (Metric::MemberUsers, _) => queue.member_users += count,
            (Metric::ActiveUsers, _) => queue.active_users += count,
            (Metric::OffQueueUsers, _) => queue.off_queue_users += count,
            (Metric::UserRoutingStatuses, _) => {
                if let Some(q) = &row.qualifier {
                    update(&mut queue.routing_statuses, q, |v| *v += count);
                }
            }
            (Metric::UserPresences, _) => {
                if let Some(q) = &row.qualifier {
                    update(&mut queue.presences, presences.system_of(q), |v| {
                        *v += count
                    });
                }
            }
            (Metric::LongestWaiting | Metric::LongestInteracting, Some(m)) => {
                if let Some(v) = row.stat.calculated_metric_value {
                    let seconds = longest_wait_seconds(v, now_ms);
                    let waiting = row.metric == Metric::LongestWaiting;
                    update(&mut queue.media, m, |e: &mut MediaLive| {
                        let longest = if waiting {
                            &mut e.longest_waiting_seconds
                        } else {
                            &mut e.longest_interacting_seconds
                        };
                        *longest = longest.max(seconds);
                    });
                }
            }
            (metric, Some(m)) => update(&mut queue.media, m, |e: &mut MediaLive| {
                let c = &mut e.conversations;
                match metric {
                    Metric::Waiting => c.waiting += count,
                    Metric::Interacting => c.interacting += count,
                    Metric::Alerting => c.alerting += count,
                    // A reported media type has series, at 0 without counts.
                    _ => {}
                }
            }),
            _ => {}
        }
    }
    // A longest wait or interaction without a conversation in that state is a row an event
    // did not clear (pushed events carry counts gone as 0, but not a timestamp gone).
    for m in queue.media.values_mut() {
        if m.conversations.waiting == 0 {
            m.longest_waiting_seconds = 0.0;
        }
        if m.conversations.interacting == 0 {
            m.longest_interacting_seconds = 0.0;
        }
    }
    queue
}

/// True when the rows hold a timestamp whose derived wait (or interaction) grows with time.
#[must_use]
pub(crate) fn time_dependent(rows: &Rows) -> bool {
    rows.iter().any(|(_, r)| {
        matches!(
            r.metric,
            Metric::LongestWaiting | Metric::LongestInteracting
        ) && r.stat.calculated_metric_value.is_some()
    })
}

/// How many series of two states of one queue differ: the reconciliation's count.
#[must_use]
pub(crate) fn differences(a: &QueueLive, b: &QueueLive) -> u64 {
    let mut n = 0;
    let mut count = |x: bool| n += u64::from(x);
    count(a.on_queue_users != b.on_queue_users);
    count(a.member_users != b.member_users);
    count(a.active_users != b.active_users);
    count(a.off_queue_users != b.off_queue_users);
    for (x, y) in [
        (&a.routing_statuses, &b.routing_statuses),
        (&a.presences, &b.presences),
    ] {
        let keys: BTreeSet<&String> = x.keys().chain(y.keys()).collect();
        for k in keys {
            count(x.get(k) != y.get(k));
        }
    }
    let empty = MediaLive::default();
    let medias: BTreeSet<&String> = a.media.keys().chain(b.media.keys()).collect();
    for m in medias {
        let (x, y) = (
            a.media.get(m).unwrap_or(&empty),
            b.media.get(m).unwrap_or(&empty),
        );
        for ((_, u), (_, v)) in x
            .conversations
            .by_state()
            .iter()
            .zip(y.conversations.by_state().iter())
        {
            count(u != v);
        }
        // Whole seconds: the two states are derived a moment apart.
        count((x.longest_waiting_seconds - y.longest_waiting_seconds).abs() >= 1.0);
        count((x.longest_interacting_seconds - y.longest_interacting_seconds).abs() >= 1.0);
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::genesys::models::NotificationFrame;

    fn event(body: &str) -> Pushed {
        let text = format!(
            r#"{{"topicName":"v2.analytics.queues.q1.observations","eventBody":{body},"metadata":{{}}}}"#
        );
        serde_json::from_str::<NotificationFrame<Pushed>>(&text)
            .unwrap()
            .event_body
    }

    fn row(metric: Metric, qualifier: Option<&str>, count: i64) -> Row {
        Row {
            metric,
            qualifier: qualifier.map(|q| Cow::Owned(q.to_string())),
            stat: stat(Some(count)),
        }
    }

    #[test]
    fn an_event_keeps_the_observation_metrics_of_its_group() {
        let e = event(
            r#"{"group":{"queueId":"q1","mediaType":"VOICE","odd":7},
                "data":[{"interval":"2026-11-30T10:30:00.000Z/2026-11-30T11:00:00.000Z",
                  "metrics":[{"metric":"oWaiting","stats":{"count":3,"bad":"x","max":{"a":[1]}}},
                             {"metric":"tAnswered","stats":{"count":9}},
                             {"metric":"oUserRoutingStatuses","qualifier":"OFF_\u0051UEUE","stats":{"count":2.0}},
                             {"metric":"oLongestWaiting","stats":{"calculatedMetricValue":1796034990000,"count":"x"}},
                             {"metric":"oAlerting","stats":null,"extra":true},
                             {"metric":"oInteracting","stats":{"count":1.5}}]}]}"#,
        );
        assert_eq!(e.queue_id.as_deref(), Some("q1"));
        assert_eq!(e.media.as_deref(), Some("voice"), "lower-cased");
        assert_eq!(
            e.rows,
            vec![
                row(Metric::Waiting, None, 3),
                row(Metric::UserRoutingStatuses, Some("off_queue"), 2),
                Row {
                    metric: Metric::LongestWaiting,
                    qualifier: None,
                    stat: Stat {
                        calculated_metric_value: Some(1_796_034_990_000),
                        invalid_count: true,
                        ..Stat::default()
                    },
                },
                Row {
                    metric: Metric::Alerting,
                    qualifier: None,
                    stat: Stat::default(),
                },
                Row {
                    metric: Metric::Interacting,
                    qualifier: None,
                    stat: Stat {
                        invalid_count: true,
                        ..Stat::default()
                    },
                },
            ],
            "unread metrics dropped, odd statistics skipped, escapes read, odd counts marked"
        );
    }

    #[test]
    fn a_mapping_with_too_many_system_presences_keeps_the_label_bounded() {
        let mappings: BTreeMap<String, Vec<String>> = (0..40)
            .map(|i| (format!("SYS_{i:02}"), vec![format!("ID-{i}")]))
            .collect();
        let p = Presences::from_mappings(&mappings);
        assert_eq!(p.system.len(), MAX_SYSTEM_PRESENCES);
        assert_eq!(p.dropped, 8);
        assert_eq!(p.system_of("id-0"), "sys_00", "ids compared in lower case");
        assert_eq!(
            p.system_of("id-39"),
            UNKNOWN_PRESENCE,
            "a dropped one is unknown"
        );
    }

    #[test]
    fn an_event_of_the_wrong_shape_is_refused() {
        for body in [
            r#"{"group":{"queueId":"q1"},"data":"x"}"#,
            r#"{"group":[],"data":[]}"#,
            r#"{"data":[{"metrics":[{"metric":5}]}]}"#,
            r#"{"data":[{"metrics":[{"metric":"oWaiting","qualifier":1}]}]}"#,
            r#"{"data":[{"interval":7,"metrics":[]}]}"#,
            r#"{"data":[{"metrics":[{"metric":"oWaiting","stats":[1]}]}]}"#,
        ] {
            let text = format!(r#"{{"topicName":"t","eventBody":{body}}}"#);
            assert!(
                serde_json::from_str::<NotificationFrame<Pushed>>(&text).is_err(),
                "{body}"
            );
        }
        let e = event(r#"{"group":null}"#);
        assert_eq!(e, Pushed::default(), "a missing group or data is empty");
    }

    fn stat(count: Option<i64>) -> Stat {
        Stat {
            count,
            ..Stat::default()
        }
    }

    #[test]
    fn five_thousand_new_media_types_keep_eight_and_cost_no_more_rows() {
        let mut vocabulary = Vocabulary::new();
        let served = ["voice".to_string()];
        let mut rows = [Rows::new(), Rows::new()];
        let known = event(
            r#"{"group":{"mediaType":"VOICE"},"data":[{"metrics":[{"metric":"oWaiting","stats":{"count":4}}]}]}"#,
        );
        for n in 0..5_000 {
            let mut e = event(&format!(
                r#"{{"group":{{"mediaType":"media{n}"}},"data":[{{"metrics":[{{"metric":"oWaiting","stats":{{"count":1}}}}]}}]}}"#
            ));
            if vocabulary.admit_event(&mut e, &served, &Presences::default()) {
                for r in Reading::ALL {
                    apply(&mut rows[r.index()], &e, r);
                }
            }
            let mut k = known.clone();
            assert!(vocabulary.admit_event(&mut k, &served, &Presences::default()));
            for r in Reading::ALL {
                apply(&mut rows[r.index()], &k, r);
            }
        }
        assert_eq!(vocabulary.extra_values(), MAX_EXTRA_VALUES);
        assert_eq!(
            vocabulary.ignored(),
            [5_000 - MAX_EXTRA_VALUES as u64, 0, 0],
            "every event left out is counted, by reason"
        );
        for r in &rows {
            assert_eq!(r.groups.len(), 1 + MAX_EXTRA_VALUES, "voice and the 8 kept");
            let live = derive(r, &served, 0, &Presences::default());
            assert_eq!(live.media.len(), 1 + MAX_EXTRA_VALUES);
            assert_eq!(live.media["voice"].conversations.waiting, 4);
            assert_eq!(live.media["media7"].conversations.waiting, 1);
        }
        vocabulary.sweep([&rows[0]]);
        assert_eq!(
            vocabulary.extra_values(),
            MAX_EXTRA_VALUES,
            "values rows still hold are kept"
        );
        // A reconciling poll that knows none of them replaces the rows that held them: the
        // room is free again.
        let polled = Rows::new();
        vocabulary.sweep([&polled]);
        assert_eq!(vocabulary.extra_values(), 0);
        let mut e = event(r#"{"group":{"mediaType":"brandnew"},"data":[]}"#);
        assert!(vocabulary.admit_event(&mut e, &served, &Presences::default()));
    }

    #[test]
    fn new_routing_statuses_are_bounded_and_official_ones_always_kept() {
        let mut vocabulary = Vocabulary::new();
        let mut rows = Rows::new();
        for n in 0..1_000 {
            let mut e = event(&format!(
                r#"{{"group":{{}},"data":[{{"metrics":[
                    {{"metric":"oUserRoutingStatuses","qualifier":"IDLE","stats":{{"count":2}}}},
                    {{"metric":"oUserRoutingStatuses","qualifier":"NEW_{n}","stats":{{"count":1}}}},
                    {{"metric":"oUserRoutingStatuses","qualifier":"bad value {n}","stats":{{"count":1}}}}]}}]}}"#
            ));
            assert!(vocabulary.admit_event(&mut e, &[], &Presences::default()));
            apply(&mut rows, &e, Reading::Rows);
        }
        let live = derive(&rows, &[], 0, &Presences::default());
        assert_eq!(live.routing_statuses["idle"], 2);
        assert_eq!(
            live.routing_statuses.len(),
            ROUTING_STATUSES.len() + MAX_EXTRA_VALUES
        );
        assert_eq!(
            vocabulary.ignored(),
            [0, 1_000 + 1_000 - MAX_EXTRA_VALUES as u64, 0],
            "not plain words are never kept"
        );
    }

    #[test]
    fn an_invalid_count_keeps_the_previous_one_under_both_readings_and_is_counted() {
        let mut vocabulary = Vocabulary::new();
        let mut rows = [Rows::new(), Rows::new()];
        let first = event(
            r#"{"group":{"mediaType":"voice"},"data":[{"metrics":[
                {"metric":"oWaiting","stats":{"count":3}},{"metric":"oInteracting","stats":{"count":2}}]}]}"#,
        );
        for r in Reading::ALL {
            apply(&mut rows[r.index()], &first, r);
        }
        for bad in ["1e308", "-5", r#""NaN""#, "1.5", "true", "[1]"] {
            let mut e = event(&format!(
                r#"{{"group":{{"mediaType":"voice"}},"data":[{{"metrics":[
                    {{"metric":"oWaiting","stats":{{"count":{bad}}}}},{{"metric":"oInteracting","stats":{{"count":2}}}}]}}]}}"#
            ));
            assert!(vocabulary.admit_event(&mut e, &[], &Presences::default()));
            for r in Reading::ALL {
                apply(&mut rows[r.index()], &e, r);
                let live = derive(&rows[r.index()], &[], 0, &Presences::default());
                assert_eq!(live.media["voice"].conversations.waiting, 3, "{bad} {r:?}");
            }
        }
        assert_eq!(vocabulary.ignored(), [0, 0, 6]);
        // A poll's invalid count keeps the count served so far, too.
        let container: QueueObservationDataContainer = serde_json::from_value(serde_json::json!({
            "group": {"queueId": "q1", "mediaType": "voice"},
            "data": [{"metric": "oWaiting", "stats": {"count": 1.5}},
                     {"metric": "oInteracting", "stats": {"count": -5}},
                     {"metric": "oAlerting", "stats": {"count": 1}}]
        }))
        .unwrap();
        let mut polled = Rows::new();
        add_polled(
            &mut polled,
            &container,
            &mut vocabulary,
            &[],
            &Presences::default(),
        );
        keep_previous(&mut polled, &rows[0]);
        let live = derive(&polled, &[], 0, &Presences::default());
        let c = live.media["voice"].conversations;
        assert_eq!((c.waiting, c.interacting, c.alerting), (3, 2, 1));
        assert_eq!(vocabulary.ignored(), [0, 0, 8]);
    }

    #[test]
    fn an_aggregates_frame_leaves_the_rows_as_they_are_under_both_readings() {
        let mut rows = [Rows::new(), Rows::new()];
        let first = event(
            r#"{"group":{"queueId":"q1","mediaType":"voice"},"data":[{"metrics":[
                {"metric":"oWaiting","stats":{"count":3}},{"metric":"oAlerting","stats":{"count":1}}]}]}"#,
        );
        for r in Reading::ALL {
            apply(&mut rows[r.index()], &first, r);
        }
        let before = rows.clone();
        // The capture of REFERENCE.md 2.7, the frame after the observation event.
        let aggregates = event(
            r#"{"group":{"queueId":"q1","mediaType":"voice"},"data":[{"interval":"2024-12-30T09:30:00.000Z/2024-12-30T10:00:00.000Z","metrics":[
                {"metric":"tAlert","stats":{"count":1,"sum":8277,"min":8277,"max":8277}},
                {"metric":"nOffered","stats":{"count":2}},
                {"metric":"oServiceLevel","stats":{"ratio":0,"numerator":0,"denominator":2,"target":0.5}},
                {"metric":"tWait","stats":{"count":2,"sum":100}}]}]}"#,
        );
        assert!(aggregates.observes_nothing());
        for r in Reading::ALL {
            apply(&mut rows[r.index()], &aggregates, r);
        }
        assert_eq!(rows, before);
        let zeros = event(r#"{"group":{"mediaType":"voice"},"data":[{"metrics":[]}]}"#);
        assert!(
            !zeros.observes_nothing(),
            "a group without metrics is its counts gone to 0"
        );
    }

    #[test]
    fn the_two_readings_differ_on_rows_an_event_leaves_out() {
        let mut by_rows = Rows::new();
        let first = event(
            r#"{"group":{"mediaType":"voice"},"data":[{"metrics":[
                {"metric":"oWaiting","stats":{"count":3}},{"metric":"oAlerting","stats":{"count":1}}]}]}"#,
        );
        apply(&mut by_rows, &first, Reading::Rows);
        let container: QueueObservationDataContainer = serde_json::from_value(serde_json::json!({
            "group": {"queueId": "q1", "mediaType": "voice"},
            "data": [{"metric": "oSomethingNew", "stats": {"count": 4}}]
        }))
        .unwrap();
        add_polled(
            &mut by_rows,
            &container,
            &mut Vocabulary::new(),
            &[],
            &Presences::default(),
        );
        let mut by_groups = by_rows.clone();
        let second = event(
            r#"{"group":{"mediaType":"voice"},"data":[{"metrics":[
                {"metric":"oWaiting","stats":{"count":5}},{"metric":"oWaiting","stats":{"count":6}}]}]}"#,
        );
        apply(&mut by_rows, &second, Reading::Rows);
        apply(&mut by_groups, &second, Reading::Groups);
        let rows = |r: &Rows| -> Vec<(Metric, Option<i64>)> {
            r.iter().map(|(_, r)| (r.metric, r.stat.count)).collect()
        };
        assert_eq!(
            rows(&by_rows),
            [
                (Metric::Waiting, Some(6)),
                (Metric::Alerting, Some(1)),
                (Metric::Other, None)
            ],
            "the last of repeated rows counts; the rest keep their values"
        );
        assert_eq!(
            rows(&by_groups),
            [(Metric::Waiting, Some(6)), (Metric::Other, None)],
            "the group's read rows the event left out are gone, unread ones stay"
        );
        let live = derive(&by_groups, &[], 0, &Presences::default());
        assert_eq!(live.media["voice"].conversations.alerting, 0);
        assert_eq!(live.media["voice"].conversations.waiting, 6);
    }
}
