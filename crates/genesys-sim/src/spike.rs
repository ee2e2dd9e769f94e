//! A burst of arrivals scheduled in the simulated org, and its one spelling on command lines:
//! `QUEUE_NAME@+DELAY` (`genesys-sim --spike`, `genesys-exporter --demo.spike`).

use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spike {
    /// The queue's name, as the org lists it.
    pub queue: String,
    /// How long after the start the burst arrives.
    pub after: Duration,
}

/// Parses `QUEUE_NAME@+DELAY`; the last `@+` splits, so a queue name may contain `@`.
///
/// # Errors
/// A message for the command line when there is no `@+`, the name is empty or the delay is
/// not a duration.
pub fn parse_spike(s: &str) -> Result<Spike, String> {
    let (queue, delay) = s
        .rsplit_once("@+")
        .ok_or("expected QUEUE_NAME@+DELAY, e.g. \"Sales EN@+2m\"")?;
    if queue.trim().is_empty() {
        return Err("the queue name is empty".into());
    }
    let after = humantime::parse_duration(delay.trim())
        .map_err(|e| format!("delay {delay:?}: {e} (examples: 30s, 10m)"))?;
    Ok(Spike {
        queue: queue.to_string(),
        after,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_spike_names_a_queue_and_a_delay() {
        assert_eq!(
            parse_spike("Sales EN@+10m"),
            Ok(Spike {
                queue: "Sales EN".to_string(),
                after: Duration::from_secs(600)
            })
        );
        assert_eq!(
            parse_spike("Support @ Home@+90s").map(|s| s.queue),
            Ok("Support @ Home".to_string())
        );
        assert!(parse_spike("Sales EN").is_err());
        assert!(parse_spike("@+1m").is_err());
        assert!(parse_spike("Sales@+soon").is_err());
    }
}
