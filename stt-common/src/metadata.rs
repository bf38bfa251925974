//! The application's own key/value store on a session (the seed documents' "metadata storage"
//! of a session): values of any type under string keys, kept beside the session by the driver,
//! never sent and never read by STT.

use std::any::Any;
use std::collections::HashMap;
use std::sync::Arc;

/// What an application keeps on one session: a user name, a role, a counter, a channel to a
/// task. Each value is stored as an `Arc` of its own type; reading it back with another type
/// gives `None`.
///
/// ```
/// use stt_common::Metadata;
///
/// #[derive(Debug, PartialEq)]
/// struct Viewer { name: String }
///
/// let mut m = Metadata::default();
/// m.insert("viewer", Viewer { name: "alice".into() });
/// m.insert("frames", 0u64);
/// assert_eq!(m.get::<Viewer>("viewer").unwrap().name, "alice");
/// assert_eq!(m.get::<String>("viewer"), None, "another type reads as absent");
/// assert!(m.remove("frames"));
/// assert_eq!(m.keys().collect::<Vec<_>>(), ["viewer"]);
/// ```
#[derive(Clone, Default)]
pub struct Metadata {
    values: HashMap<String, Arc<dyn Any + Send + Sync>>,
}

impl std::fmt::Debug for Metadata {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut keys: Vec<&str> = self.keys().collect();
        keys.sort_unstable();
        f.debug_struct("Metadata").field("keys", &keys).finish()
    }
}

impl Metadata {
    /// Keeps `value` under `key`, replacing what was there (of any type). True if something was
    /// replaced.
    pub fn insert<T: Any + Send + Sync>(&mut self, key: impl Into<String>, value: T) -> bool {
        self.values.insert(key.into(), Arc::new(value)).is_some()
    }

    /// The value under `key`, if there is one of type `T`.
    pub fn get<T: Any + Send + Sync>(&self, key: &str) -> Option<Arc<T>> {
        self.values.get(key).cloned().and_then(|v| v.downcast::<T>().ok())
    }

    /// Removes the value under `key`; true if there was one.
    pub fn remove(&mut self, key: &str) -> bool {
        self.values.remove(key).is_some()
    }

    /// The keys in use, in no particular order.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.values.keys().map(String::as_str)
    }

    /// How many values are kept.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// True if nothing is kept.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }
}
