//! Fitting the polling plan into the request budget. Genesys allows 300 requests a minute per
//! token; the exporter's own budget (`--genesys.requests-per-minute`, default 200) keeps a
//! margin. When the configured intervals would need more than the budget for the queues being
//! watched, every interval is stretched by the same factor so the plan fits, and the exporter
//! says so (a log line, `genesys_collector_interval_seconds`, `genesys_api_planned_requests_per_minute`).

use std::time::Duration;

/// One running collector in the plan: its configured interval and what one poll costs.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Entry {
    pub(crate) interval: Duration,
    /// API requests one poll sends with the queues watched now and the settings in force.
    pub(crate) requests_per_poll: f64,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Plan {
    /// 1 when the configured intervals fit; above 1, the factor they are stretched by.
    pub(crate) stretch: f64,
    /// Requests per minute at the effective intervals.
    pub(crate) planned_per_minute: f64,
}

/// Requests a minute the collectors cost at these intervals.
#[must_use]
pub(crate) fn requests_per_minute(entries: &[Entry]) -> f64 {
    entries
        .iter()
        .map(|e| e.requests_per_poll * 60.0 / e.interval.as_secs_f64().max(0.001))
        .sum()
}

#[must_use]
pub(crate) fn plan(budget_per_minute: u32, entries: &[Entry]) -> Plan {
    let wanted = requests_per_minute(entries);
    let budget = f64::from(budget_per_minute.max(1));
    if wanted <= budget {
        Plan {
            stretch: 1.0,
            planned_per_minute: wanted,
        }
    } else {
        Plan {
            stretch: wanted / budget,
            planned_per_minute: budget,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collect::REGISTRY;

    /// Every collector that runs by default, at its default interval and settings, with
    /// `watched` queues.
    fn defaults(watched: usize) -> Vec<Entry> {
        let config = crate::config::Config::from_args(
            ["genesys-exporter", "--genesys.client-id=id"],
            Some("secret".into()),
        )
        .expect("the defaults are valid");
        let settings = &config.live.collectors;
        REGISTRY
            .iter()
            .filter(|r| r.enabled_by_default())
            .map(|r| Entry {
                interval: humantime::parse_duration(r.default_interval).expect("a duration"),
                requests_per_poll: r.cost(settings, watched),
            })
            .collect()
    }

    #[test]
    fn the_readme_budget_table() {
        // 36 queues: 0.2 + 4 + 4 + 1; 1,000: 2 + 40 + 4 + 10; 5,000: 10 + 200 + 4 + 50.
        assert!((requests_per_minute(&defaults(36)) - 9.2).abs() < 1e-9);
        assert!((requests_per_minute(&defaults(1000)) - 56.0).abs() < 1e-9);
        assert!((requests_per_minute(&defaults(5000)) - 264.0).abs() < 1e-9);
    }

    #[test]
    fn a_plan_that_does_not_fit_is_stretched_to_the_budget() {
        assert_eq!(
            plan(200, &defaults(1000)),
            Plan {
                stretch: 1.0,
                planned_per_minute: 56.0
            }
        );
        let p = plan(200, &defaults(5000));
        assert!((p.stretch - 1.32).abs() < 1e-9);
        assert_eq!(p.planned_per_minute, 200.0);
        // Stretched intervals cost exactly the budget.
        let stretched: Vec<Entry> = defaults(5000)
            .into_iter()
            .map(|e| Entry {
                interval: e.interval.mul_f64(p.stretch),
                ..e
            })
            .collect();
        assert!((requests_per_minute(&stretched) - 200.0).abs() < 1e-6);
    }
}
