//! A Genesys request as a type: its endpoint (the bounded `endpoint` label, the permission it
//! needs, the retries it may get), method, path, body and response. `GenesysClient::send` sends
//! any of them, so a collector declares its own requests beside its code and nothing here
//! changes for a new one. The requests here are the client's shared ones: the queue listing and
//! the observations query (several collectors read them), and the notification channels.

use std::borrow::Cow;

use reqwest::Method;
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::models::{
    Channel, ChannelTopicEntityListing, QueueEntityListing, QueueObservationQuery,
    QueueObservationQueryResponse, TopicRequest,
};

/// An API operation the exporter calls, declared as a `const` next to its request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Endpoint {
    /// The `endpoint` label value: the path with its ids as `{placeholders}`, so the label
    /// stays bounded however many queues or channels there are.
    pub label: &'static str,
    /// What the OAuth client's role must grant (REFERENCE.md, the README's permission table).
    pub permission: Permission,
    /// A 401 is answered by refreshing the token and asking once more. Not for the token
    /// request itself: a 401 there means bad credentials, and it fails.
    pub retries_unauthorized: bool,
}

/// The permission an endpoint needs, as far as the references we have say.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Permission {
    /// One permission (`domain:entity:action`) the role must grant.
    Needs(&'static str),
    /// The reference lists none (a valid token is enough).
    NoneListed,
    /// Not in the references we have: a refusal (403) is what tells.
    Unverified,
}

impl Endpoint {
    /// An endpoint of the platform API: a 401 refreshes the token once.
    #[must_use]
    pub const fn api(label: &'static str, permission: Permission) -> Endpoint {
        Endpoint {
            label,
            permission,
            retries_unauthorized: true,
        }
    }
}

/// `POST /oauth/token` (sent by `auth`, not through [`Request`]: a form body, another host).
pub const TOKEN: Endpoint = Endpoint {
    label: "/oauth/token",
    permission: Permission::NoneListed,
    retries_unauthorized: false,
};
pub const QUEUES: Endpoint = Endpoint::api(
    "/api/v2/routing/queues",
    Permission::Needs("routing:queue:view"),
);
pub const QUEUE_OBSERVATIONS: Endpoint = Endpoint::api(
    "/api/v2/analytics/queues/observations/query",
    Permission::Needs("analytics:queueObservation:view"),
);
/// Creating a channel needs no permission in the schema (`permissions: []`).
pub const NOTIFICATION_CHANNELS: Endpoint =
    Endpoint::api("/api/v2/notifications/channels", Permission::NoneListed);
/// The channel id stays out of the label: one series, however many channels. The topics
/// subscribed to have permissions of their own, which the answer names per topic.
pub const NOTIFICATION_SUBSCRIPTIONS: Endpoint = Endpoint::api(
    "/api/v2/notifications/channels/{channelId}/subscriptions",
    Permission::NoneListed,
);

/// The client's own endpoints: each gets its retry series at 0 with the metrics, before the
/// first retry. Endpoints that a collector declares (`Registration::endpoints`) get theirs
/// when the org starts (`org::endpoints`).
pub(crate) const CLIENT_ENDPOINTS: [Endpoint; 5] = [
    TOKEN,
    QUEUES,
    QUEUE_OBSERVATIONS,
    NOTIFICATION_CHANNELS,
    NOTIFICATION_SUBSCRIPTIONS,
];

/// One Genesys API request, sent by `GenesysClient::send`.
pub trait Request {
    const ENDPOINT: Endpoint;
    /// The JSON body; `()` for a request without one.
    type Body: Serialize;
    /// The JSON answer; `()` for a `204 No Content`.
    type Response: DeserializeOwned;

    fn method(&self) -> Method;

    /// Path and query string. The label by default: right for a path without ids.
    fn path(&self) -> Cow<'_, str> {
        Cow::Borrowed(Self::ENDPOINT.label)
    }

    fn body(&self) -> Option<&Self::Body>;
}

/// A path segment from a value (an id, a media type): percent-encoded.
#[must_use]
pub fn segment(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

/// `GET /api/v2/routing/queues`, one page.
pub(crate) struct QueuesPage {
    pub(crate) page_number: u32,
    pub(crate) page_size: u32,
}

/// A `POST` analytics query that is its own body: `post_query!(Query, ENDPOINT, Response)`
/// implements [`Request`] for it (observations, activity, aggregates, flow activity).
#[macro_export]
#[doc(hidden)]
macro_rules! post_query {
    ($query:ty, $endpoint:expr, $response:ty) => {
        impl $crate::genesys::request::Request for $query {
            const ENDPOINT: $crate::genesys::request::Endpoint = $endpoint;
            type Body = Self;
            type Response = $response;

            fn method(&self) -> reqwest::Method {
                reqwest::Method::POST
            }

            fn body(&self) -> Option<&Self> {
                Some(self)
            }
        }
    };
}

impl Request for QueuesPage {
    const ENDPOINT: Endpoint = QUEUES;
    type Body = ();
    type Response = QueueEntityListing;

    fn method(&self) -> Method {
        Method::GET
    }

    fn path(&self) -> Cow<'_, str> {
        Cow::Owned(format!(
            "{}?pageNumber={}&pageSize={}",
            QUEUES.label, self.page_number, self.page_size
        ))
    }

    fn body(&self) -> Option<&()> {
        None
    }
}

// `POST /api/v2/analytics/queues/observations/query`: the query is its own body.
crate::post_query!(
    QueueObservationQuery,
    QUEUE_OBSERVATIONS,
    QueueObservationQueryResponse
);

/// `POST /api/v2/notifications/channels` (no body): a new notification channel.
pub(crate) struct CreateChannel;

impl Request for CreateChannel {
    const ENDPOINT: Endpoint = NOTIFICATION_CHANNELS;
    type Body = ();
    type Response = Channel;

    fn method(&self) -> Method {
        Method::POST
    }

    fn body(&self) -> Option<&()> {
        None
    }
}

/// `PUT` (replace) or `POST` (add) a channel's subscriptions, `ignoreErrors=true`.
pub(crate) struct Subscribe<'a> {
    pub(crate) channel_id: &'a str,
    pub(crate) topics: Vec<TopicRequest<'a>>,
    pub(crate) replace: bool,
}

impl<'a> Request for Subscribe<'a> {
    const ENDPOINT: Endpoint = NOTIFICATION_SUBSCRIPTIONS;
    type Body = Vec<TopicRequest<'a>>;
    type Response = ChannelTopicEntityListing;

    fn method(&self) -> Method {
        if self.replace {
            Method::PUT
        } else {
            Method::POST
        }
    }

    fn path(&self) -> Cow<'_, str> {
        Cow::Owned(format!(
            "/api/v2/notifications/channels/{}/subscriptions?ignoreErrors=true",
            segment(self.channel_id)
        ))
    }

    fn body(&self) -> Option<&Self::Body> {
        Some(&self.topics)
    }
}

/// `DELETE /api/v2/notifications/channels/{channelId}/subscriptions`.
pub(crate) struct UnsubscribeAll<'a> {
    pub(crate) channel_id: &'a str,
}

impl Request for UnsubscribeAll<'_> {
    const ENDPOINT: Endpoint = NOTIFICATION_SUBSCRIPTIONS;
    type Body = ();
    type Response = ();

    fn method(&self) -> Method {
        Method::DELETE
    }

    fn path(&self) -> Cow<'_, str> {
        Cow::Owned(format!(
            "/api/v2/notifications/channels/{}/subscriptions",
            segment(self.channel_id)
        ))
    }

    fn body(&self) -> Option<&()> {
        None
    }
}

/// A permission, when one is named, has the `domain:entity:action` shape of Genesys' (the
/// tests of every module that declares endpoints).
#[cfg(test)]
pub(crate) fn assert_permission_named(endpoint: &Endpoint) {
    assert!(!endpoint.label.is_empty());
    if let Permission::Needs(p) = endpoint.permission {
        let parts: Vec<&str> = p.split(':').collect();
        assert!(
            parts.len() == 3 && parts.iter().all(|s| !s.is_empty()),
            "{}: {p:?}",
            endpoint.label
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_client_endpoint_names_its_permission() {
        for endpoint in &CLIENT_ENDPOINTS {
            assert_permission_named(endpoint);
        }
        // Only the token request fails on a 401.
        assert!(CLIENT_ENDPOINTS
            .iter()
            .all(|e| e.retries_unauthorized == (e.label != TOKEN.label)));
    }

    #[test]
    fn ids_in_paths_are_encoded_and_stay_out_of_the_label() {
        let r = UnsubscribeAll {
            channel_id: "a/b c",
        };
        assert_eq!(
            r.path(),
            "/api/v2/notifications/channels/a%2Fb+c/subscriptions"
        );
        let page = QueuesPage {
            page_number: 2,
            page_size: 100,
        };
        assert_eq!(
            page.path(),
            "/api/v2/routing/queues?pageNumber=2&pageSize=100"
        );
    }
}
