//! The standard `process_*` families, as every Prometheus client library serves them (names,
//! help and meaning of client_golang's process collector), read at encoding time. On Linux
//! they come from /proc through `metrics-process` (procfs underneath); elsewhere the
//! families are absent. A value that cannot be read leaves its family out of that body.
//!
//! They change with every read, so they are the one part of a body that its cache key cannot
//! see: [`super::Metrics`] re-encodes a body once it is [`REFRESH`] old, whether or not
//! anything else in it changed.

use std::io::Result;
use std::time::Duration;

use super::exposition::Exposition;

/// How old the process values in a cached body may grow: a body is shared by every scraper for
/// at most this long. Short against the usual 15 s-1 min scrape intervals, so `rate()` of
/// the CPU counter is as good as the scrape interval allows; long enough that scrapers
/// arriving together (an HA pair, a dashboard and Prometheus) still share one encoding.
/// `None` where no process families are served: bodies then live as long as their key.
pub(super) const REFRESH: Option<Duration> = if cfg!(target_os = "linux") {
    Some(Duration::from_secs(5))
} else {
    None
};

/// The process families this platform can read, after `genesys_exporter_build_info`.
#[cfg(target_os = "linux")]
pub(super) fn write(e: &mut Exposition) -> Result<()> {
    use super::catalog::{self, Family};
    use super::exposition::{rows, Labels};

    let now = metrics_process::collector::collect();
    // Exact below 2^53: a byte count or a Unix time in seconds stays far below.
    #[allow(clippy::cast_precision_loss)]
    let float = |v: Option<u64>| v.map(|v| v as f64);
    let families: [(&Family, Option<f64>); 6] = [
        (&catalog::PROCESS_CPU_SECONDS, now.cpu_seconds_total),
        (
            &catalog::PROCESS_RESIDENT_MEMORY_BYTES,
            float(now.resident_memory_bytes),
        ),
        (
            &catalog::PROCESS_VIRTUAL_MEMORY_BYTES,
            float(now.virtual_memory_bytes),
        ),
        (&catalog::PROCESS_OPEN_FDS, float(now.open_fds)),
        // metrics-process reads an unlimited soft limit as 0, which would read as "no fds".
        (
            &catalog::PROCESS_MAX_FDS,
            float(now.max_fds.filter(|&m| m > 0)),
        ),
        (
            &catalog::PROCESS_START_TIME_SECONDS,
            float(now.start_time_seconds),
        ),
    ];
    for (family, value) in families {
        if let Some(value) = value {
            rows(e, family, [(Labels::new(), value)])?;
        }
    }
    Ok(())
}

#[cfg(not(target_os = "linux"))]
#[allow(clippy::unnecessary_wraps)]
pub(super) fn write(_: &mut Exposition) -> Result<()> {
    Ok(())
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;
    use crate::metrics::Format;

    #[test]
    fn the_six_families_are_written_with_plausible_values() {
        let mut e = Exposition::new(Format::Text, None, Vec::new(), 0);
        write(&mut e).unwrap();
        let body = e.finish().unwrap();
        let text = String::from_utf8_lossy(&body);
        let value = |name: &str| -> f64 {
            text.lines()
                .find_map(|l| l.strip_prefix(&format!("{name} ")))
                .unwrap_or_else(|| panic!("{name} in {text}"))
                .parse()
                .unwrap()
        };
        assert!(text.contains("# TYPE process_cpu_seconds_total counter"));
        assert!(value("process_cpu_seconds_total") >= 0.0);
        assert!(value("process_resident_memory_bytes") > 1e6);
        assert!(value("process_virtual_memory_bytes") >= value("process_resident_memory_bytes"));
        assert!(value("process_open_fds") >= 3.0);
        assert!(value("process_max_fds") >= value("process_open_fds"));
        let started = value("process_start_time_seconds");
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64();
        assert!(started > 1.6e9 && started <= now + 1.0, "{started}");
    }
}
