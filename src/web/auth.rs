//! HTTP basic auth against bcrypt hashes, as the exporter-toolkit does it: bcrypt serialised,
//! successful checks cached, unknown users checked against a dummy hash.
//!
//! Beyond the toolkit: costs are bounded ([`MAX_BCRYPT_COST`]), every check that runs bcrypt
//! costs the same (the highest cost in use, whether the user exists and whatever its own cost),
//! and loading runs no bcrypt at all: the dummy hashes are made from random bytes.

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::hash::{BuildHasher, Hasher};
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use base64::engine::{general_purpose, GeneralPurpose};
use base64::Engine;

use super::Issue;

/// The request was not authorised: answer 401 with
/// `WWW-Authenticate: Basic realm="genesys-exporter"` ([`WWW_AUTHENTICATE`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("unauthorized")]
pub struct Unauthorized;

/// The `WWW-Authenticate` value to send with a 401.
pub const WWW_AUTHENTICATE: &str = "Basic realm=\"genesys-exporter\"";

/// The highest bcrypt cost accepted in `basic_auth_users`; a higher one is a configuration
/// error naming the user.
///
/// A check at cost N runs 2^N bcrypt rounds, checks run one at a time (as in the toolkit), and
/// every check that runs bcrypt, for a known user or not, costs the highest cost in use. The
/// toolkit's documentation uses cost 10 (about 50 ms a check); 12 is a common recommendation.
/// 14 leaves room above both while keeping a check under a second (16 times cost 10); 15 would
/// double that, 17 takes 6.5 s a check, and bcrypt's own maximum, 31, takes days.
pub const MAX_BCRYPT_COST: u32 = 14;

/// bcrypt's own minimum: the `bcrypt` crate verifies nothing below it (nobody could log in).
const MIN_BCRYPT_COST: u32 = 4;

/// Successful checks kept at most; the cache is emptied when it is full.
const CACHE_CAPACITY: usize = 1024;

/// The base64 of bcrypt hashes (its own alphabet, no padding).
const BCRYPT_BASE64: GeneralPurpose =
    GeneralPurpose::new(&base64::alphabet::BCRYPT, general_purpose::NO_PAD);

/// Checks that `hash` is a bcrypt hash the `bcrypt` crate can verify against, with a cost from 4
/// to [`MAX_BCRYPT_COST`]; returns the cost.
pub(crate) fn check_hash(hash: &str) -> Result<u32, String> {
    if !(hash.starts_with("$2a$") || hash.starts_with("$2b$") || hash.starts_with("$2y$")) {
        return Err("not a bcrypt hash (expected $2a$, $2b$ or $2y$)".to_string());
    }
    let parts =
        bcrypt::HashParts::from_str(hash).map_err(|e| format!("not a valid bcrypt hash: {e}"))?;
    let cost = parts.get_cost();
    if cost > MAX_BCRYPT_COST {
        return Err(format!(
            "bcrypt cost {cost} is above the maximum of {MAX_BCRYPT_COST} (each check at cost N \
             runs 2^N rounds, and every unknown user pays the highest cost in use); hash the \
             password again with a cost from {MIN_BCRYPT_COST} to {MAX_BCRYPT_COST}, like 10"
        ));
    }
    if cost < MIN_BCRYPT_COST {
        return Err(format!(
            "bcrypt cost {cost} is below the minimum of {MIN_BCRYPT_COST}: bcrypt cannot verify \
             it; hash the password again with a cost from {MIN_BCRYPT_COST} to \
             {MAX_BCRYPT_COST}, like 10"
        ));
    }
    Ok(cost)
}

struct User {
    hash: String,
    cost: u32,
}

pub(crate) struct BasicAuth {
    users: BTreeMap<String, User>,
    /// The highest cost in use: what every check that runs bcrypt costs.
    max_cost: u32,
    /// Checked for unknown users, at `max_cost`.
    dummy_hash: String,
    /// A dummy hash for each cost from 4 to `max_cost - 1`, by cost. A user of cost c below
    /// `max_cost` is checked against its hash and then against the dummies from c up, so its
    /// check costs what an unknown user's does: 2^c + (2^c + 2^(c+1) + … + 2^(max−1)) =
    /// 2^max rounds.
    padding: Arc<[(u32, String)]>,
    salt: [u8; 16],
    cache: Mutex<HashSet<Vec<u8>>>,
    bcrypt_lock: Arc<tokio::sync::Mutex<()>>,
    runs: AtomicU64,
    rounds: Arc<AtomicU64>,
}

impl fmt::Debug for BasicAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BasicAuth")
            .field("users", &self.users.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

fn random_bytes<const N: usize>() -> [u8; N] {
    // RandomState is seeded from the OS: 64 unpredictable bits per hasher.
    let mut bytes = [0u8; N];
    for (i, chunk) in bytes.chunks_mut(8).enumerate() {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_usize(i);
        chunk.copy_from_slice(&h.finish().to_le_bytes()[..chunk.len()]);
    }
    bytes
}

/// A well-formed bcrypt hash at `cost` with a random salt and digest, made without running
/// bcrypt: verifying a password against it costs what verifying against a real hash of that cost
/// does, and fails (a match is a 2^-184 chance, and a match on a dummy is refused anyway).
fn dummy_hash(cost: u32) -> String {
    format!(
        "$2y${cost:02}${}{}",
        BCRYPT_BASE64.encode(random_bytes::<16>()),
        BCRYPT_BASE64.encode(random_bytes::<23>())
    )
}

/// `bcrypt::verify`, adding the rounds it runs (2^cost) to `rounds`.
fn verify_counted(password: &[u8], hash: &str, rounds: &AtomicU64) -> bool {
    if let Ok(parts) = bcrypt::HashParts::from_str(hash) {
        rounds.fetch_add(1u64 << parts.get_cost().min(63), Ordering::Relaxed);
    }
    bcrypt::verify(password, hash).unwrap_or(false)
}

fn sha256(data: &[u8]) -> Vec<u8> {
    match rustls::crypto::ring::cipher_suite::TLS13_AES_128_GCM_SHA256 {
        rustls::SupportedCipherSuite::Tls13(s) => {
            s.common.hash_provider.hash(data).as_ref().to_vec()
        }
        // Unreachable in practice (the constant is a TLS 1.3 suite); still a usable key.
        rustls::SupportedCipherSuite::Tls12(_) => data.to_vec(),
    }
}

/// Splits an `Authorization: Basic …` value into user and password (Go's `r.BasicAuth()`).
fn parse_basic(header: &str) -> Option<(String, Vec<u8>)> {
    let prefix = header.get(..6)?;
    if !prefix.eq_ignore_ascii_case("Basic ") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(header.get(6..)?.trim())
        .ok()?;
    let colon = decoded.iter().position(|&b| b == b':')?;
    let user = String::from_utf8(decoded.get(..colon)?.to_vec()).ok()?;
    let password = decoded.get(colon + 1..)?.to_vec();
    Some((user, password))
}

impl BasicAuth {
    /// `users`: user → bcrypt hash. Runs no bcrypt: the dummy hashes are random bytes.
    pub(crate) fn new(users: BTreeMap<String, String>) -> Result<BasicAuth, Issue> {
        let mut checked = BTreeMap::new();
        for (user, hash) in users {
            let cost = check_hash(&hash)
                .map_err(|why| Issue::new(format!("basic_auth_users.{user}"), why))?;
            checked.insert(user, User { hash, cost });
        }
        let Some(max_cost) = checked.values().map(|u| u.cost).max() else {
            return Ok(BasicAuth::empty());
        };
        Ok(BasicAuth {
            users: checked,
            max_cost,
            dummy_hash: dummy_hash(max_cost),
            padding: (MIN_BCRYPT_COST..max_cost)
                .map(|cost| (cost, dummy_hash(cost)))
                .collect(),
            salt: random_bytes(),
            cache: Mutex::new(HashSet::new()),
            bcrypt_lock: Arc::new(tokio::sync::Mutex::new(())),
            runs: AtomicU64::new(0),
            rounds: Arc::new(AtomicU64::new(0)),
        })
    }

    pub(crate) fn empty() -> BasicAuth {
        BasicAuth {
            users: BTreeMap::new(),
            max_cost: MIN_BCRYPT_COST,
            dummy_hash: String::new(),
            padding: Arc::new([]),
            salt: [0; 16],
            cache: Mutex::new(HashSet::new()),
            bcrypt_lock: Arc::new(tokio::sync::Mutex::new(())),
            runs: AtomicU64::new(0),
            rounds: Arc::new(AtomicU64::new(0)),
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.users.is_empty()
    }

    /// Checks that ran bcrypt.
    pub(crate) fn bcrypt_runs(&self) -> u64 {
        self.runs.load(Ordering::Relaxed)
    }

    /// bcrypt rounds those checks ran: 2^cost for each hash verified, dummies included.
    pub(crate) fn bcrypt_rounds(&self) -> u64 {
        self.rounds.load(Ordering::Relaxed)
    }

    fn cache_key(&self, user: &str, password: &[u8]) -> Vec<u8> {
        let mut data = Vec::with_capacity(16 + 8 + user.len() + password.len());
        data.extend_from_slice(&self.salt);
        data.extend_from_slice(&(user.len() as u64).to_le_bytes());
        data.extend_from_slice(user.as_bytes());
        data.extend_from_slice(password);
        sha256(&data)
    }

    pub(crate) async fn authorize(&self, authorization: Option<&str>) -> Result<(), Unauthorized> {
        if self.users.is_empty() {
            return Ok(());
        }
        let (user, password) = authorization.and_then(parse_basic).ok_or(Unauthorized)?;
        let key = self.cache_key(&user, &password);
        if self.cache.lock().map(|c| c.contains(&key)).unwrap_or(false) {
            return Ok(());
        }
        // Unknown users: the dummy at the highest cost. Known users: their hash, then the
        // dummies from their cost up, so that every check runs 2^max_cost rounds.
        let (hash, pad_from, known) = match self.users.get(&user) {
            Some(u) => (u.hash.clone(), u.cost, true),
            None => (self.dummy_hash.clone(), self.max_cost, false),
        };
        let padding = Arc::clone(&self.padding);
        let rounds = Arc::clone(&self.rounds);
        // One bcrypt at a time (the toolkit's mutex). The guard moves into the blocking task so
        // a dropped request cannot let a second bcrypt start while the first still runs.
        let guard = self.bcrypt_lock.clone().lock_owned().await;
        self.runs.fetch_add(1, Ordering::Relaxed);
        let verified = tokio::task::spawn_blocking(move || {
            let _guard = guard;
            let verified = verify_counted(&password, &hash, &rounds);
            for (_, dummy) in padding.iter().filter(|(cost, _)| *cost >= pad_from) {
                std::hint::black_box(verify_counted(&password, dummy, &rounds));
            }
            verified
        })
        .await
        .unwrap_or(false);
        if !(verified && known) {
            return Err(Unauthorized);
        }
        if let Ok(mut cache) = self.cache.lock() {
            if cache.len() >= CACHE_CAPACITY {
                cache.clear();
            }
            cache.insert(key);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn basic(user: &str, pass: &str) -> String {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"))
        )
    }

    #[test]
    fn parses_basic_headers() {
        assert_eq!(
            parse_basic(&basic("alice", "pa:ss")),
            Some(("alice".to_string(), b"pa:ss".to_vec()))
        );
        assert_eq!(
            parse_basic(&basic("alice", "x").replace("Basic", "bAsIc")).map(|p| p.0),
            Some("alice".to_string())
        );
        for bad in [
            "",
            "Basic",
            "Basic ",
            "Bearer abc",
            "Basic !!!",
            "Basic YWxpY2U=",
            "Bé",
        ] {
            assert_eq!(parse_basic(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn rejects_non_bcrypt_hashes() {
        assert!(check_hash("plain").is_err());
        assert!(check_hash("$2y$04$short").is_err());
        assert_eq!(
            check_hash("$2y$10$mDwo.lAisC94iLAyP81MCesa29IzH37oigHC/42V2pdJlUprsJPze"),
            Ok(10)
        );
    }

    #[test]
    fn bounds_the_bcrypt_cost() {
        let at = |cost: u32| {
            format!("$2y${cost:02}$mDwo.lAisC94iLAyP81MCesa29IzH37oigHC/42V2pdJlUprsJPze")
        };
        assert_eq!(check_hash(&at(4)), Ok(4));
        assert_eq!(check_hash(&at(14)), Ok(14));
        for cost in [15, 17, 31, 99] {
            let err = check_hash(&at(cost)).expect_err("above the maximum");
            assert!(
                err.starts_with(&format!("bcrypt cost {cost} is above the maximum of 14")),
                "{err}"
            );
        }
        for cost in [0, 3] {
            let err = check_hash(&at(cost)).expect_err("below the minimum");
            assert!(err.contains("below the minimum of 4"), "{err}");
        }
    }

    #[test]
    fn dummy_hashes_are_well_formed_random_and_match_nothing() {
        for cost in [MIN_BCRYPT_COST, 7, MAX_BCRYPT_COST] {
            let dummy = dummy_hash(cost);
            assert_eq!(dummy.len(), 60, "{dummy}");
            assert_eq!(check_hash(&dummy), Ok(cost));
            assert_ne!(dummy, dummy_hash(cost));
        }
        // bcrypt really runs against a dummy: an error would answer at once, a timing tell.
        assert_eq!(bcrypt::verify("", &dummy_hash(4)).ok(), Some(false));
    }

    #[tokio::test]
    async fn new_runs_no_bcrypt_and_pads_every_check_to_the_highest_cost() {
        let users: BTreeMap<String, String> = [("a", 4), ("b", 7), ("c", 5)]
            .into_iter()
            .map(|(user, cost)| (user.to_string(), dummy_hash(cost)))
            .collect();
        let auth = BasicAuth::new(users.clone()).expect("auth");
        assert_eq!((auth.bcrypt_runs(), auth.bcrypt_rounds()), (0, 0));
        assert_eq!(auth.max_cost, 7);
        assert_eq!(check_hash(&auth.dummy_hash), Ok(7));
        let costs: Vec<u32> = auth.padding.iter().map(|(cost, _)| *cost).collect();
        assert_eq!(costs, [4, 5, 6]);
        for (cost, dummy) in auth.padding.iter() {
            assert_eq!(check_hash(dummy), Ok(*cost));
        }
        for user in ["a", "b", "c", "nobody"] {
            let before = auth.bcrypt_rounds();
            assert!(auth.authorize(Some(&basic(user, "x"))).await.is_err());
            assert_eq!(auth.bcrypt_rounds() - before, 1 << 7, "{user}");
        }
        assert_eq!(auth.bcrypt_runs(), 4);

        let mut too_costly = users;
        too_costly.insert("d".to_string(), dummy_hash(MAX_BCRYPT_COST + 1));
        let issue = BasicAuth::new(too_costly).expect_err("cost 15");
        assert_eq!(issue.key, "basic_auth_users.d");
        assert!(issue.message.contains("maximum of 14"), "{issue}");
    }

    #[tokio::test]
    async fn caches_success_and_checks_unknown_users() {
        let hash = bcrypt::hash("secret", 4).expect("hash");
        let auth = BasicAuth::new([("alice".to_string(), hash)].into()).expect("auth");
        assert_eq!(check_hash(&auth.dummy_hash), Ok(4));
        assert!(auth
            .authorize(Some(&basic("alice", "secret")))
            .await
            .is_ok());
        assert!(auth
            .authorize(Some(&basic("alice", "secret")))
            .await
            .is_ok());
        assert_eq!(auth.bcrypt_runs(), 1);
        assert!(auth.authorize(Some(&basic("bob", "secret"))).await.is_err());
        assert_eq!(auth.bcrypt_runs(), 2, "unknown users pay bcrypt too");
        assert!(auth.authorize(None).await.is_err());
        assert!(!format!("{auth:?}").contains("$2"));
    }

    #[test]
    fn unauthorized_is_an_error_saying_unauthorized() {
        let err: Box<dyn std::error::Error> = Box::new(Unauthorized);
        assert_eq!(err.to_string(), "unauthorized");
        assert!(err.source().is_none());
    }
}
