//! Media types and their per-media behaviour in the traffic model.

/// A media type the simulated queues can serve.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Media {
    Voice,
    Chat,
    Email,
    Callback,
    Message,
}

/// How conversations of one media type behave (durations in seconds).
pub(crate) struct Profile {
    pub(crate) talk_mean_s: f64,
    pub(crate) acw_mean_s: f64,
    /// Mean customer patience before abandoning; None = never abandons.
    pub(crate) patience_mean_s: Option<f64>,
    pub(crate) hold_prob: f64,
    pub(crate) answer_prob: f64,
    pub(crate) alerting_timeout_s: i64,
    pub(crate) sl_percentage: f64,
    pub(crate) sl_duration_ms: i64,
}

impl Media {
    pub(crate) const ALL: [Media; 5] = [
        Media::Voice,
        Media::Chat,
        Media::Email,
        Media::Callback,
        Media::Message,
    ];

    pub(crate) fn idx(self) -> usize {
        self as usize
    }

    /// Analytics vocabulary (`voice` for telephony).
    pub(crate) fn analytics(self) -> &'static str {
        match self {
            Media::Voice => "voice",
            Media::Chat => "chat",
            Media::Email => "email",
            Media::Callback => "callback",
            Media::Message => "message",
        }
    }

    pub(crate) fn parse_analytics(s: &str) -> Option<Media> {
        Media::ALL.into_iter().find(|m| m.analytics() == s)
    }

    pub(crate) fn profile(self) -> Profile {
        match self {
            Media::Voice => Profile {
                talk_mean_s: 240.0,
                acw_mean_s: 30.0,
                patience_mean_s: Some(150.0),
                hold_prob: 0.2,
                answer_prob: 0.95,
                alerting_timeout_s: 8,
                sl_percentage: 0.8,
                sl_duration_ms: 20_000,
            },
            Media::Chat => Profile {
                talk_mean_s: 480.0,
                acw_mean_s: 45.0,
                patience_mean_s: Some(300.0),
                hold_prob: 0.0,
                answer_prob: 0.93,
                alerting_timeout_s: 30,
                sl_percentage: 0.8,
                sl_duration_ms: 30_000,
            },
            Media::Email => Profile {
                talk_mean_s: 720.0,
                acw_mean_s: 60.0,
                patience_mean_s: None,
                hold_prob: 0.0,
                answer_prob: 0.97,
                alerting_timeout_s: 30,
                sl_percentage: 0.8,
                sl_duration_ms: 86_400_000,
            },
            Media::Callback => Profile {
                talk_mean_s: 300.0,
                acw_mean_s: 30.0,
                patience_mean_s: None,
                hold_prob: 0.15,
                answer_prob: 0.95,
                alerting_timeout_s: 30,
                sl_percentage: 0.8,
                sl_duration_ms: 3_600_000,
            },
            Media::Message => Profile {
                talk_mean_s: 600.0,
                acw_mean_s: 45.0,
                patience_mean_s: Some(3600.0),
                hold_prob: 0.0,
                answer_prob: 0.93,
                alerting_timeout_s: 30,
                sl_percentage: 0.8,
                sl_duration_ms: 60_000,
            },
        }
    }

    /// Mean agent time per conversation (alert + talk + hold + wrap-up), seconds.
    pub(crate) fn mean_handle_s(self) -> f64 {
        let p = self.profile();
        5.0 + p.talk_mean_s + p.hold_prob * 60.0 + p.acw_mean_s
    }
}
