//! The families written at scrape time around the collectors' own: their health, the build,
//! the process, the series count; and the helpers each collector's
//! [`Snapshot`] writes with.
//!
//! Series of a collector whose data is too old are left out (its [`Part`] says which), so
//! Prometheus marks them stale instead of graphing frozen values.

use std::io::Result;
use std::time::SystemTime;

use super::catalog::{self, Family};
/// The helpers (in `exposition`) the collectors write with from here.
pub(crate) use super::exposition::{rows, Memo};
use super::exposition::{Exposition, Labels};
use super::part::{Health, Part, Snapshot};
use std::sync::Arc;

/// An org's part of a body of several orgs: its collectors' health and fresh data.
pub(super) fn write_org(
    e: &mut Exposition,
    parts: &[Arc<dyn Part>],
    now: SystemTime,
) -> Result<()> {
    let (health, data) = read(parts, now);
    write_health(e, &health)?;
    for snapshot in data.into_iter().flatten() {
        snapshot.write(e)?;
    }
    Ok(())
}

/// The families of the process, whatever the orgs: build information and `process_*`.
pub(super) fn write_global(e: &mut Exposition) -> Result<()> {
    rows(e, &catalog::EXPORTER_BUILD_INFO, [(build_info(), 1.0)])?;
    super::process::write(e)
}

/// Each collector's health and fresh data, read together.
pub(super) fn read(
    parts: &[Arc<dyn Part>],
    now: SystemTime,
) -> (Vec<Health>, Vec<Option<Arc<dyn Snapshot>>>) {
    parts.iter().map(|c| c.read(now)).unzip()
}

/// What `--version` says (build.rs records the revision and the compiler), as labels.
fn build_info() -> Labels {
    let rustc = env!("GENESYS_EXPORTER_RUSTC_VERSION");
    Labels::of(&[
        ("version", env!("CARGO_PKG_VERSION")),
        ("revision", env!("GENESYS_EXPORTER_REVISION")),
        // `1.95.0 (59807616e 2026-04-14)`: the version without the leading `rustc `.
        (
            "rustc_version",
            rustc.strip_prefix("rustc ").unwrap_or(rustc),
        ),
    ])
}

/// The last family: the `before` samples written before it (in this piece and those before
/// it), plus itself.
pub(super) fn write_series(e: &mut Exposition, before: u64) -> Result<()> {
    let series = before + e.samples() + 1;
    rows(
        e,
        &catalog::EXPORTER_SERIES,
        [(Labels::new(), series as f64)],
    )
}

/// One health family's value for a collector; `None` leaves the collector out.
type HealthValue = dyn Fn(&Health) -> Option<f64>;

pub(super) fn write_health(e: &mut Exposition, health: &[Health]) -> Result<()> {
    let by_collector = |value: &HealthValue| {
        health
            .iter()
            .filter_map(|h| Some((Labels::of(&[("collector", h.name)]), value(h)?)))
            .collect::<Vec<_>>()
    };
    let families: [(&Family, &HealthValue); 7] = [
        (&catalog::UP, &|h| Some(if h.up { 1.0 } else { 0.0 })),
        (&catalog::COLLECTOR_LAST_SUCCESS_TIMESTAMP_SECONDS, &|h| {
            h.last_success
        }),
        (&catalog::COLLECTOR_DURATION_SECONDS, &|h| {
            h.last_duration.map(|d| d.as_secs_f64())
        }),
        (&catalog::COLLECTOR_INTERVAL_SECONDS, &|h| {
            Some(h.interval.as_secs_f64())
        }),
        (&catalog::COLLECTOR_REQUESTS, &|h| {
            Some(h.last_requests as f64)
        }),
        (&catalog::COLLECTOR_POLLS, &|h| Some(h.polls as f64)),
        (&catalog::COLLECTOR_POLL_FAILURES, &|h| {
            Some(h.failures as f64)
        }),
    ];
    for (family, value) in families {
        rows(e, family, by_collector(value))?;
    }
    Ok(())
}
