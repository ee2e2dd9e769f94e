//! Genesys Cloud Platform API client: OAuth, request budget, retries, typed models.

pub mod auth;
pub mod client;
pub mod instrument;
pub mod models;
pub mod ratelimit;
pub mod region;
mod response;

pub use auth::{AuthError, Credentials};
pub use client::{ApiError, ClientConfig, GenesysClient};
pub use instrument::ApiMetrics;
pub(crate) use region::Region;

/// The API operations the exporter calls; `label()` is the bounded `endpoint` label value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Endpoint {
    Token,
    Queues,
    QueueObservations,
    ConversationActivity,
    ConversationAggregates,
    NotificationChannels,
    NotificationSubscriptions,
    /// `GET /api/v2/routing/queues/{queueId}/mediatypes/{mediaType}/estimatedwaittime`.
    EstimatedWaitTime,
    /// `GET /api/v2/organizations/limits/namespaces/{namespaceName}`.
    OrgLimits,
    /// `POST /api/v2/analytics/flows/activity/query`.
    FlowActivity,
}

impl Endpoint {
    #[must_use]
    pub(crate) fn label(self) -> &'static str {
        match self {
            Endpoint::Token => "/oauth/token",
            Endpoint::Queues => "/api/v2/routing/queues",
            Endpoint::QueueObservations => "/api/v2/analytics/queues/observations/query",
            Endpoint::ConversationActivity => "/api/v2/analytics/conversations/activity/query",
            Endpoint::ConversationAggregates => "/api/v2/analytics/conversations/aggregates/query",
            Endpoint::NotificationChannels => "/api/v2/notifications/channels",
            // The channel id stays out of the label: one series, however many channels.
            Endpoint::NotificationSubscriptions => {
                "/api/v2/notifications/channels/{channelId}/subscriptions"
            }
            // Queue id and media type stay out of the label, as the channel id does.
            Endpoint::EstimatedWaitTime => {
                "/api/v2/routing/queues/{queueId}/mediatypes/{mediaType}/estimatedwaittime"
            }
            Endpoint::OrgLimits => "/api/v2/organizations/limits/namespaces/{namespaceName}",
            Endpoint::FlowActivity => "/api/v2/analytics/flows/activity/query",
        }
    }
}
