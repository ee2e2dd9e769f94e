//! What a metric family is: the type the catalog and every family's owner declare with.

/// A family's type, as both exposition formats spell it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Counter,
    Gauge,
    /// Cumulative `_bucket{le}` counts, `_sum` and `_count` under the family's name
    /// ([`crate::metrics::exposition::Exposition::histogram`]).
    Histogram,
}

/// One metric family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Family {
    /// Without the `_total` suffix of counters.
    pub(crate) name: &'static str,
    pub kind: Kind,
    /// The base unit the name ends with (`seconds`, `ratio`), if any.
    pub unit: Option<&'static str>,
    /// Ends with a full stop, as served.
    pub help: &'static str,
    /// Label names in the order they are written.
    pub labels: &'static [&'static str],
}

impl Family {
    /// The name samples carry: counters end in `_total`.
    #[must_use]
    pub fn exposed_name(&self) -> String {
        match self.kind {
            Kind::Counter => format!("{}_total", self.name),
            Kind::Gauge | Kind::Histogram => self.name.to_string(),
        }
    }

    /// The help as prometheus-client's registry wants it: it adds the full stop itself.
    #[must_use]
    pub(crate) fn registry_help(&self) -> &'static str {
        self.help.strip_suffix('.').unwrap_or(self.help)
    }
}

/// Registers a self-metric kept by prometheus-client under its catalog name and help.
pub(crate) fn register(
    registry: &mut prometheus_client::registry::Registry,
    family: &Family,
    metric: impl prometheus_client::registry::Metric,
) {
    registry.register(family.name, family.registry_help(), metric);
}
