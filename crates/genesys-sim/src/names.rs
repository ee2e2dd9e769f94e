//! Realistic queue names, divisions and presence definitions.

use super::rng::SimRng;

pub(crate) const DIVISIONS: [&str; 4] =
    ["Home", "Customer Care", "Sales & Retention", "Back Office"];

/// The system presences the org uses, in the order `systemToOrganizationMappings` and the
/// truth list them.
pub(crate) const SYSTEM_PRESENCES: [&str; 6] = [
    "ON_QUEUE",
    "AVAILABLE",
    "BREAK",
    "MEAL",
    "TRAINING",
    "OFFLINE",
];

/// An organization presence (what `oUserPresences` is qualified by): the system presence it
/// maps to and its display name. Several can map to one system presence.
#[derive(Debug, Clone, Copy)]
pub(crate) struct OrgPresence {
    pub(crate) system: &'static str,
    pub(crate) name: &'static str,
    /// One of the org's first five presences, whose ids are drawn from the model's main
    /// random stream in table order (changing that would change every later id and draw);
    /// the others get ids from a side stream (`Model::new`).
    pub(crate) main_stream: bool,
}

const fn org(system: &'static str, name: &'static str, main_stream: bool) -> OrgPresence {
    OrgPresence {
        system,
        name,
        main_stream,
    }
}

/// The org's presences; `QueueSnap::presences` and `Model::presence_ids` follow this order.
pub(crate) const ORG_PRESENCES: [OrgPresence; 7] = [
    org("ON_QUEUE", "On Queue", true),
    org("AVAILABLE", "Available", true),
    org("BREAK", "Break", true),
    org("BREAK", "Coffee", false),
    org("MEAL", "Meal", true),
    org("TRAINING", "Training", false),
    org("OFFLINE", "Offline", true),
];

/// Index in `ORG_PRESENCES` of an agent on queue (any routing status but OFF_QUEUE).
pub(crate) const ON_QUEUE_PRESENCE: usize = 0;
/// Index in `ORG_PRESENCES` of a logged-out agent.
pub(crate) const OFFLINE_PRESENCE: usize = 6;
/// Indices in `ORG_PRESENCES` an agent off queue but logged in spreads over.
pub(crate) const AWAY_PRESENCES: [usize; 5] = [1, 2, 3, 4, 5];

const DEPTS: [&str; 12] = [
    "Support",
    "Sales",
    "Billing",
    "Claims",
    "Retention",
    "Technical Support",
    "Onboarding",
    "Collections",
    "Returns",
    "Orders",
    "Accounts",
    "Loyalty",
];

const SUBS: [&str; 12] = [
    "- Billing",
    "- General",
    "- Premium",
    "- Escalations",
    "EN",
    "FR",
    "DE",
    "ES",
    "- Chat",
    "- Email",
    "- Callbacks",
    "- Overflow",
];

/// A few names with characters that exporters must escape in label values.
const ODD: [&str; 3] = [
    "Support \"Tier 2\"",
    "Billing \\ Refunds",
    "Sales – Nordics (SE/NO)",
];

/// `count` distinct queue names, deterministic under the rng.
pub(crate) fn queue_names(rng: &mut SimRng, count: usize) -> Vec<String> {
    let mut base: Vec<String> = DEPTS
        .iter()
        .flat_map(|d| SUBS.iter().map(move |s| format!("{d} {s}")))
        .collect();
    // Fisher-Yates under our own rng.
    for i in (1..base.len()).rev() {
        let j = rng.index(i + 1);
        base.swap(i, j);
    }
    for (k, odd) in ODD.iter().enumerate() {
        let at = (k * 11 + 3).min(base.len());
        base.insert(at, (*odd).to_string());
    }
    let mut out = Vec::with_capacity(count);
    let mut round = 1;
    while out.len() < count {
        for name in &base {
            if out.len() == count {
                break;
            }
            if round == 1 {
                out.push(name.clone());
            } else {
                out.push(format!("{name} {round}"));
            }
        }
        round += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presence_indices_name_the_right_presences() {
        assert_eq!(ORG_PRESENCES[ON_QUEUE_PRESENCE].system, "ON_QUEUE");
        assert_eq!(ORG_PRESENCES[OFFLINE_PRESENCE].system, "OFFLINE");
        let mut away: Vec<usize> = (0..ORG_PRESENCES.len())
            .filter(|&i| i != ON_QUEUE_PRESENCE && i != OFFLINE_PRESENCE)
            .collect();
        away.sort_unstable();
        assert_eq!(away, AWAY_PRESENCES);
    }

    #[test]
    fn every_system_presence_has_an_org_presence_and_the_main_stream_keeps_the_first_five() {
        for sys in SYSTEM_PRESENCES {
            assert!(ORG_PRESENCES.iter().any(|p| p.system == sys), "{sys}");
        }
        for p in ORG_PRESENCES {
            assert!(SYSTEM_PRESENCES.contains(&p.system), "{}", p.system);
        }
        let main: Vec<&str> = ORG_PRESENCES
            .iter()
            .filter(|p| p.main_stream)
            .map(|p| p.system)
            .collect();
        assert_eq!(main, ["ON_QUEUE", "AVAILABLE", "BREAK", "MEAL", "OFFLINE"]);
        let breaks = ORG_PRESENCES.iter().filter(|p| p.system == "BREAK").count();
        assert_eq!(breaks, 2);
    }
}
