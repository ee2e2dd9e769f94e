//! Fitting the polling plan into the request budget. Genesys allows 300 requests a minute per
//! token; the exporter's own budget (`--genesys.requests-per-minute`, default 200) keeps a
//! margin. When the configured intervals would need more than the budget for the queues being
//! watched, every interval is stretched by the same factor so the plan fits, and the exporter
//! says so (a log line, `genesys_collector_interval_seconds`, `genesys_api_planned_requests_per_minute`).

use std::time::Duration;

use crate::collect::observations::MAX_QUEUES_PER_QUERY;

/// The configured intervals; `None` for a disabled collector.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Intervals {
    pub queues: Duration,
    pub observations: Duration,
    pub activity: Option<Duration>,
    pub aggregates: Option<Duration>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Plan {
    /// 1 when the configured intervals fit; above 1, the factor they are stretched by.
    pub stretch: f64,
    /// Requests per minute at the effective intervals.
    pub planned_per_minute: f64,
}

/// Requests a minute the intervals cost with `watched` queues: queue listing and observations
/// and aggregates take one request per 100 queues, activity one.
pub fn requests_per_minute(i: &Intervals, watched: usize) -> f64 {
    let batches = watched.div_ceil(MAX_QUEUES_PER_QUERY).max(1) as f64;
    let per_minute = |d: Duration, n: f64| n * 60.0 / d.as_secs_f64().max(0.001);
    per_minute(i.queues, batches)
        + per_minute(i.observations, batches)
        + i.activity.map_or(0.0, |d| per_minute(d, 1.0))
        + i.aggregates.map_or(0.0, |d| per_minute(d, batches))
}

pub fn plan(budget_per_minute: u32, configured: &Intervals, watched: usize) -> Plan {
    let wanted = requests_per_minute(configured, watched);
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

    fn defaults() -> Intervals {
        Intervals {
            queues: Duration::from_secs(300),
            observations: Duration::from_secs(15),
            activity: Some(Duration::from_secs(15)),
            aggregates: Some(Duration::from_secs(60)),
        }
    }

    #[test]
    fn the_readme_budget_table() {
        // 36 queues: 0.2 + 4 + 4 + 1; 1,000: 2 + 40 + 4 + 10; 5,000: 10 + 200 + 4 + 50.
        assert!((requests_per_minute(&defaults(), 36) - 9.2).abs() < 1e-9);
        assert!((requests_per_minute(&defaults(), 1000) - 56.0).abs() < 1e-9);
        assert!((requests_per_minute(&defaults(), 5000) - 264.0).abs() < 1e-9);
    }

    #[test]
    fn a_plan_that_does_not_fit_is_stretched_to_the_budget() {
        assert_eq!(
            plan(200, &defaults(), 1000),
            Plan {
                stretch: 1.0,
                planned_per_minute: 56.0
            }
        );
        let p = plan(200, &defaults(), 5000);
        assert!((p.stretch - 1.32).abs() < 1e-9);
        assert_eq!(p.planned_per_minute, 200.0);
        // Stretched intervals cost exactly the budget.
        let s = |d: Duration| d.mul_f64(p.stretch);
        let d = defaults();
        let stretched = Intervals {
            queues: s(d.queues),
            observations: s(d.observations),
            activity: d.activity.map(s),
            aggregates: d.aggregates.map(s),
        };
        assert!((requests_per_minute(&stretched, 5000) - 200.0).abs() < 1e-6);
    }
}
