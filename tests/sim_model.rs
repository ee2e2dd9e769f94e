//! Determinism and traffic-model behaviour (no HTTP beyond start-up).

use std::time::Duration;

use genesys_sim::{SimClock, SimConfig};

mod common;

use common::start_sim as start;

fn at(h: u32) -> SimClock {
    common::busy_at(h, 0)
}

#[tokio::test]
async fn same_seed_same_advances_same_truth() {
    for clock in [at(10), SimClock::Manual] {
        let cfg = SimConfig {
            seed: 42,
            clock,
            ..SimConfig::default()
        };
        let a = start(cfg.clone()).await;
        let b = start(cfg).await;
        assert_eq!(a.truth(), b.truth());
        for step in [1, 7, 60, 600] {
            a.advance(Duration::from_secs(step));
            b.advance(Duration::from_secs(step));
            assert_eq!(a.truth(), b.truth());
        }
        let qa = a.add_queue("Sales EN 9", &["voice", "chat"]);
        let qb = b.add_queue("Sales EN 9", &["voice", "chat"]);
        assert_eq!(qa, qb);
        a.advance(Duration::from_secs(300));
        b.advance(Duration::from_secs(300));
        assert_eq!(a.truth(), b.truth());
        assert_eq!(
            a.ended_conversations(0, i64::MAX),
            b.ended_conversations(0, i64::MAX)
        );
        a.shutdown().await;
        b.shutdown().await;
    }
    let c = start(SimConfig {
        seed: 43,
        clock: at(10),
        ..SimConfig::default()
    })
    .await;
    let d = start(SimConfig {
        seed: 42,
        clock: at(10),
        ..SimConfig::default()
    })
    .await;
    assert_ne!(c.truth(), d.truth());
}

#[tokio::test]
async fn busy_day_shape_and_records() {
    let sim = start(SimConfig {
        clock: at(10),
        ..SimConfig::default()
    })
    .await;
    sim.advance(Duration::from_secs(1800));
    let t = sim.truth();
    assert_eq!(t.queues.len(), 36);
    let divisions: std::collections::HashSet<_> = t.queues.iter().map(|q| &q.division_id).collect();
    assert!(divisions.len() >= 3);
    let voice = t
        .queues
        .iter()
        .filter(|q| q.media_types.iter().any(|m| m == "voice"))
        .count();
    assert!(voice > 36 / 2);
    for q in &t.queues {
        assert_eq!(q.routing_statuses.len(), 5);
        assert_eq!(q.routing_statuses.values().sum::<u64>(), 8);
        assert_eq!(q.on_queue_users, 8 - q.routing_statuses["OFF_QUEUE"]);
        assert_eq!(q.waiting.len(), q.media_types.len());
        for (m, n) in &q.waiting {
            assert_eq!(*n > 0, q.longest_waiting_since_ms.contains_key(m));
        }
    }
    let busy: u64 = t
        .queues
        .iter()
        .map(|q| q.interacting.values().sum::<u64>())
        .sum();
    assert!(busy > 50, "mid-morning is busy: {busy}");

    let ended = sim.ended_conversations(t.at_ms - 1_800_000, t.at_ms + 1);
    assert!(ended.len() > 100);
    assert!(ended.iter().any(|r| r.abandon_ms.is_some()));
    assert!(ended.iter().any(|r| !r.holds.is_empty()));
    assert!(ended.iter().any(|r| r.offers.iter().any(|o| !o.answered)));
    for r in ended.iter().filter(|r| r.acw_end_ms.is_some()) {
        let (a, te, acw) = (
            r.answer_ms.unwrap(),
            r.talk_end_ms.unwrap(),
            r.acw_end_ms.unwrap(),
        );
        assert!(r.arrival_ms <= a && a < te && te <= acw);
        assert_eq!(
            r.handle_ms().unwrap(),
            r.talk_ms().unwrap() + r.held_ms() + r.acw_ms().unwrap()
        );
    }
    assert!(!sim.active_conversations().is_empty());

    // Night is quiet.
    let night = start(SimConfig {
        clock: at(3),
        ..SimConfig::default()
    })
    .await;
    night.advance(Duration::from_secs(600));
    let n: u64 = night
        .truth()
        .queues
        .iter()
        .map(|q| q.interacting.values().sum::<u64>())
        .sum();
    assert!(n < busy / 3, "night {n} vs day {busy}");
}

#[tokio::test]
async fn presences_of_a_queue_sum_to_its_members_and_a_busy_org_uses_every_system_presence() {
    // The morning ramp-up: most agents on shift and busy, some still logged out.
    let sim = start(SimConfig {
        clock: common::busy_at(7, 30),
        queues: 60,
        ..SimConfig::default()
    })
    .await;
    let mut most: std::collections::BTreeMap<String, u64> = Default::default();
    for _ in 0..12 {
        sim.advance(Duration::from_secs(60));
        for q in &sim.truth().queues {
            let keys: Vec<&str> = q.presences.keys().map(String::as_str).collect();
            assert_eq!(
                keys,
                common::SIM_PRESENCES,
                "every system presence, 0 included"
            );
            assert_eq!(
                q.presences.values().sum::<u64>(),
                q.member_users,
                "{}",
                q.name
            );
            assert_eq!(q.presences["on_queue"], q.on_queue_users, "{}", q.name);
            assert_eq!(q.presences["offline"], q.member_users - q.active_users);
            let away: u64 = ["available", "break", "meal", "training"]
                .iter()
                .map(|p| q.presences[*p])
                .sum();
            assert_eq!(
                away + q.presences["offline"],
                q.off_queue_users,
                "{}",
                q.name
            );
            for (p, n) in &q.presences {
                let m = most.entry(p.clone()).or_default();
                *m = (*m).max(*n);
            }
        }
    }
    for (p, n) in &most {
        assert!(*n > 0, "{p} is seen: {most:?}");
    }
    // The night shift is mostly logged out.
    let night = start(SimConfig {
        clock: at(3),
        ..SimConfig::default()
    })
    .await;
    let t = night.truth();
    let offline: u64 = t.queues.iter().map(|q| q.presences["offline"]).sum();
    let members: u64 = t.queues.iter().map(|q| q.member_users).sum();
    assert!(
        offline * 2 > members,
        "{offline} of {members} offline at night"
    );
}

#[tokio::test]
async fn spikes_add_and_remove_queues() {
    let sim = start(SimConfig {
        clock: at(3),
        ..SimConfig::default()
    })
    .await;
    let name = sim.truth().queues[5].name.clone();
    sim.schedule_spike(&name, Duration::from_secs(10), 40);
    sim.advance(Duration::from_secs(9));
    let before: u64 = sim
        .truth()
        .queue_by_name(&name)
        .unwrap()
        .waiting
        .values()
        .sum();
    sim.advance(Duration::from_secs(1));
    let q = sim.truth().queue_by_name(&name).unwrap().clone();
    let after: u64 = q.waiting.values().sum::<u64>() + q.alerting.values().sum::<u64>();
    assert!(after >= before + 30, "{before} -> {after}");

    let id = sim.add_queue("Support - Spikes", &["voice", "email"]);
    let t = sim.truth();
    let added = t.queue(&id).unwrap();
    assert_eq!(added.media_types, vec!["voice", "email"]);
    assert_eq!(t.queues.len(), 37);
    sim.remove_queue(&id);
    assert!(sim.truth().queue(&id).is_none());
    assert_eq!(sim.truth().queues.len(), 36);
}

#[tokio::test]
async fn realtime_clock_follows_wall_time() {
    let sim = start(SimConfig::default()).await;
    let now = chrono::Utc::now().timestamp_millis();
    let t = sim.truth();
    assert!((now - t.at_ms).abs() <= 2_000, "{} vs {now}", t.at_ms);
    // advance() is a no-op on the realtime clock.
    sim.advance(Duration::from_secs(3600));
    assert!(sim.truth().at_ms <= chrono::Utc::now().timestamp_millis());
    sim.shutdown().await;
}
