//! Every metric family the exporter can serve, in the order a scrape writes them, assembled
//! from the Genesys client's (`genesys::instrument::FAMILIES`), the writer's own
//! (`metrics::catalog::OWN`: reloads, collector health, build, process), every registered
//! collector's (`Registration::families`, in `collect::REGISTRY` order) and, last, the series
//! count. Assembled here, above all of them, so that `metrics` names no collector and a new
//! collector changes nothing in `src/metrics/`. `tests/catalog.rs` compares [`ALL`] with the
//! golden list and docs/metrics.md.

use crate::collect::REGISTRY;
use crate::genesys::instrument;
use crate::metrics::catalog::{self, Family};

/// Every family, in the order a scrape writes them.
pub const ALL: &[&Family] = &ALL_ARRAY;

const PARTS: [&[&Family]; REGISTRY.len() + 3] = parts();

const ALL_ARRAY: [&Family; count(&PARTS)] = concat(&PARTS);

/// The client's, the writer's own, each collector's in registry order, the series count.
const fn parts() -> [&'static [&'static Family]; REGISTRY.len() + 3] {
    let mut out: [&[&Family]; REGISTRY.len() + 3] = [&[]; REGISTRY.len() + 3];
    out[0] = instrument::FAMILIES;
    out[1] = catalog::OWN;
    let mut i = 0;
    while i < REGISTRY.len() {
        out[2 + i] = REGISTRY[i].families;
        i += 1;
    }
    out[2 + REGISTRY.len()] = &[&catalog::EXPORTER_SERIES];
    out
}

const fn count(parts: &[&[&Family]]) -> usize {
    let mut n = 0;
    let mut i = 0;
    while i < parts.len() {
        n += parts[i].len();
        i += 1;
    }
    n
}

const fn concat<const N: usize>(parts: &[&[&'static Family]]) -> [&'static Family; N] {
    let mut out = [&catalog::EXPORTER_SERIES; N];
    let mut k = 0;
    let mut i = 0;
    while i < parts.len() {
        let mut j = 0;
        while j < parts[i].len() {
            out[k] = parts[i][j];
            k += 1;
            j += 1;
        }
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_follow_the_prometheus_conventions() {
        let mut seen = std::collections::HashSet::new();
        for f in ALL {
            assert!(seen.insert(f.name), "{} declared twice", f.name);
            // `process_*`: the standard names every Prometheus client library serves.
            assert!(
                f.name.starts_with("genesys_") || f.name.starts_with("process_"),
                "{}",
                f.name
            );
            assert!(!f.name.ends_with("_total"), "{}: `_total` is added", f.name);
            assert!(
                f.help.ends_with('.'),
                "{}: help ends with a full stop",
                f.name
            );
            if let Some(unit) = f.unit {
                assert!(
                    f.name.ends_with(unit) || f.name.contains(&format!("_{unit}_")),
                    "{} does not carry its unit {unit}",
                    f.name
                );
            }
            for label in f.labels {
                assert!(
                    !label.ends_with("_id") || *label == "queue_id",
                    "{}: only queue ids are bounded enough to be labels",
                    f.name
                );
            }
        }
    }
}
