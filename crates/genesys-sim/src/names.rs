//! Realistic queue names, divisions and presence definitions.

use super::rng::SimRng;

pub(crate) const DIVISIONS: [&str; 4] =
    ["Home", "Customer Care", "Sales & Retention", "Back Office"];

/// System presences and whether an agent in that presence counts as active (logged in).
pub(crate) const PRESENCES: [&str; 5] = ["ON_QUEUE", "AVAILABLE", "BREAK", "MEAL", "OFFLINE"];

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
