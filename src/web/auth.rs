//! HTTP basic auth against bcrypt hashes, as the exporter-toolkit does it: bcrypt serialised,
//! successful checks cached, unknown users checked against a dummy hash.

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::hash::{BuildHasher, Hasher};
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use base64::Engine;

/// The request was not authorised: answer 401 with
/// `WWW-Authenticate: Basic realm="genesys-exporter"` ([`WWW_AUTHENTICATE`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("unauthorized")]
pub struct Unauthorized;

/// The `WWW-Authenticate` value to send with a 401.
pub const WWW_AUTHENTICATE: &str = "Basic realm=\"genesys-exporter\"";

/// Successful checks kept at most; the cache is emptied when it is full.
const CACHE_CAPACITY: usize = 1024;

/// Checks that `hash` is a bcrypt hash the `bcrypt` crate can verify against.
pub(crate) fn check_hash(hash: &str) -> Result<u32, String> {
    if !(hash.starts_with("$2a$") || hash.starts_with("$2b$") || hash.starts_with("$2y$")) {
        return Err("not a bcrypt hash (expected $2a$, $2b$ or $2y$)".to_string());
    }
    let parts =
        bcrypt::HashParts::from_str(hash).map_err(|e| format!("not a valid bcrypt hash: {e}"))?;
    Ok(parts.get_cost())
}

pub(crate) struct BasicAuth {
    users: BTreeMap<String, String>,
    dummy_hash: String,
    salt: [u8; 16],
    cache: Mutex<HashSet<Vec<u8>>>,
    bcrypt_lock: Arc<tokio::sync::Mutex<()>>,
    runs: AtomicU64,
}

impl fmt::Debug for BasicAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BasicAuth")
            .field("users", &self.users.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

fn random_salt() -> [u8; 16] {
    // RandomState is seeded from the OS: two hashers give 128 unpredictable bits per process.
    let mut salt = [0u8; 16];
    for (i, chunk) in salt.chunks_mut(8).enumerate() {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_usize(i);
        chunk.copy_from_slice(&h.finish().to_le_bytes());
    }
    salt
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
    /// `users`: user → validated bcrypt hash. Computes the dummy hash (at the highest cost in use).
    pub(crate) fn new(users: BTreeMap<String, String>) -> Result<BasicAuth, String> {
        let cost = users
            .values()
            .filter_map(|h| check_hash(h).ok())
            .max()
            .unwrap_or(bcrypt::DEFAULT_COST);
        let dummy_hash = if users.is_empty() {
            String::new()
        } else {
            bcrypt::hash("genesys-exporter dummy password", cost)
                .map_err(|e| format!("computing the dummy bcrypt hash: {e}"))?
        };
        Ok(BasicAuth {
            users,
            dummy_hash,
            salt: random_salt(),
            cache: Mutex::new(HashSet::new()),
            bcrypt_lock: Arc::new(tokio::sync::Mutex::new(())),
            runs: AtomicU64::new(0),
        })
    }

    pub(crate) fn empty() -> BasicAuth {
        BasicAuth {
            users: BTreeMap::new(),
            dummy_hash: String::new(),
            salt: [0; 16],
            cache: Mutex::new(HashSet::new()),
            bcrypt_lock: Arc::new(tokio::sync::Mutex::new(())),
            runs: AtomicU64::new(0),
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.users.is_empty()
    }

    pub(crate) fn bcrypt_runs(&self) -> u64 {
        self.runs.load(Ordering::Relaxed)
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
        let (hash, known) = match self.users.get(&user) {
            Some(h) => (h.clone(), true),
            None => (self.dummy_hash.clone(), false),
        };
        // One bcrypt at a time (the toolkit's mutex). The guard moves into the blocking task so
        // a dropped request cannot let a second bcrypt start while the first still runs.
        let guard = self.bcrypt_lock.clone().lock_owned().await;
        self.runs.fetch_add(1, Ordering::Relaxed);
        let verified = tokio::task::spawn_blocking(move || {
            let _guard = guard;
            bcrypt::verify(&password, &hash).unwrap_or(false)
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
