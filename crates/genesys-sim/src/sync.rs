//! A mutex that a panicked holder left poisoned still guards consistent state here (every
//! writer finishes its update before anything can panic), so it is used, not propagated.

use std::sync::{Mutex, MutexGuard};

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
