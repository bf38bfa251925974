//! User-named events: register async handlers under a name, emit a payload to every handler of
//! that name, and get a report. Each handler runs in its own task, so a handler that fails or
//! panics is reported and never stops the others or the emitter.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;

/// What a handler returns: `Err` is captured in the [`EmitReport`].
pub type HandlerResult = Result<(), Box<dyn std::error::Error + Send + Sync>>;

type BoxedHandler = Arc<dyn Fn(Bytes) -> Pin<Box<dyn Future<Output = HandlerResult> + Send>> + Send + Sync>;
type HandlerTable = HashMap<String, Vec<(HandlerId, BoxedHandler)>>;

/// Identifies one registered handler (to remove it, or in a report).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct HandlerId(u64);

/// One handler that did not succeed.
#[derive(Debug)]
pub struct HandlerFailure {
    /// The handler.
    pub handler: HandlerId,
    /// Its error, or the panic message.
    pub error: String,
}

/// The outcome of one [`EventBus::emit`].
#[derive(Debug, Default)]
pub struct EmitReport {
    /// Handlers that returned `Ok`.
    pub succeeded: Vec<HandlerId>,
    /// Handlers that returned an error or panicked.
    pub failed: Vec<HandlerFailure>,
}

/// Named events with async handlers. Cheap to clone; clones share the handlers.
#[derive(Clone, Default)]
pub struct EventBus {
    handlers: Arc<Mutex<HandlerTable>>,
    next: Arc<AtomicU64>,
}

impl std::fmt::Debug for EventBus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<String> = self.lock().keys().cloned().collect();
        f.debug_struct("EventBus").field("names", &names).finish()
    }
}

impl EventBus {
    /// An empty bus.
    pub fn new() -> EventBus {
        EventBus::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HandlerTable> {
        self.handlers.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Adds a handler for `name`; several handlers per name run for each event.
    pub fn on<F, Fut>(&self, name: &str, handler: F) -> HandlerId
    where
        F: Fn(Bytes) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = HandlerResult> + Send + 'static,
    {
        let id = HandlerId(self.next.fetch_add(1, Ordering::Relaxed));
        let boxed: BoxedHandler = Arc::new(move |payload| Box::pin(handler(payload)));
        self.lock().entry(name.to_string()).or_default().push((id, boxed));
        id
    }

    /// Removes a handler; returns whether it was registered.
    pub fn off(&self, id: HandlerId) -> bool {
        let mut map = self.lock();
        let mut found = false;
        for list in map.values_mut() {
            let before = list.len();
            list.retain(|(h, _)| *h != id);
            found |= list.len() != before;
        }
        map.retain(|_, list| !list.is_empty());
        found
    }

    /// Runs every handler of `name` on `payload`, concurrently, and waits for all of them.
    /// An event nobody handles gives an empty report. Must be called inside a tokio runtime.
    pub async fn emit(&self, name: &str, payload: Bytes) -> EmitReport {
        let handlers: Vec<(HandlerId, BoxedHandler)> = self.lock().get(name).cloned().unwrap_or_default();
        let tasks: Vec<_> = handlers.into_iter().map(|(id, h)| (id, tokio::spawn(h(payload.clone())))).collect();
        let mut report = EmitReport::default();
        for (id, task) in tasks {
            match task.await {
                Ok(Ok(())) => report.succeeded.push(id),
                Ok(Err(e)) => report.failed.push(HandlerFailure { handler: id, error: e.to_string() }),
                Err(join) => {
                    let error = match join.try_into_panic() {
                        Ok(panic) => panic
                            .downcast_ref::<&str>()
                            .map(|s| s.to_string())
                            .or_else(|| panic.downcast_ref::<String>().cloned())
                            .unwrap_or_else(|| "handler panicked".to_string()),
                        Err(_) => "handler task was cancelled".to_string(),
                    };
                    report.failed.push(HandlerFailure { handler: id, error: format!("panicked: {error}") });
                }
            }
        }
        report
    }
}
