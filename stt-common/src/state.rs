//! Where a node is in its life (the seed documents' lifecycle), as both drivers report it.

/// Where a node is in its life.
///
/// The seed documents name four states, Created, Started, Running and Stopped. Here a node is
/// created by binding its socket, and binding starts it: it answers handshakes and can connect
/// from the moment `bind` returns, so the first two are one state, [`NodeState::Running`] (a
/// node that is only configured is a `NodeConfig`, not a node). A graceful shutdown passes
/// through [`NodeState::Stopping`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum NodeState {
    /// Bound: accepting sessions (in server mode), connecting, moving data.
    Running,
    /// Shutting down: no longer accepting, flushing and closing its sessions (a shutdown whose
    /// future was dropped before it finished leaves the node here).
    Stopping,
    /// Stopped: its sessions are closed (their calls fail with `Error::SessionClosed`, or
    /// `Error::NodeClosed` when the node stopped without closing them) and so is the node
    /// (`Error::NodeClosed`).
    Stopped,
}
