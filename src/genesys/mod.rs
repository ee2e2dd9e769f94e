//! Genesys Cloud Platform API client: OAuth, request budget, retries, typed models.

pub mod auth;
pub mod client;
pub mod instrument;
pub mod models;
pub mod ratelimit;
pub mod region;
pub mod request;
mod response;

pub use auth::{AuthError, Credentials};
pub use client::{ApiError, ClientConfig, GenesysClient};
pub use instrument::ApiMetrics;
pub(crate) use region::Region;
pub use request::{Endpoint, Permission, Request};
