//! Commands that may run a script run on a fiber (`flashkv_fiber`), so a
//! busy script can let its worker serve the worker's other connections.

use bytes::Bytes;
use store_api::Store;

use super::Connection;
use crate::cmd::{Client, Executor, Reply};

impl<S: Store> Connection<S> {
    /// Dispatch a command that may run a script on a fiber
    /// (`flashkv_fiber`): once the script is busy it steps aside at its
    /// hook (`scripts::step_aside`), this task yields, and the worker
    /// serves its other connections (BUSY, SCRIPT KILL...) before the
    /// script goes on.
    #[allow(unsafe_code)]
    pub(super) async fn dispatch_on_fiber(&mut self, argv: &mut Vec<Bytes>) -> Reply {
        let (exec, client) = (&*self.exec, &mut self.client);
        // Called through an opaque pointer: the dispatch the other requests
        // run stays the one call site the optimiser inlines.
        let dispatch = std::hint::black_box(
            Executor::<S>::dispatch as fn(&Executor<S>, &mut Client<S>, &mut Vec<Bytes>) -> Reply,
        );
        // SAFETY: `flashkv_fiber::run`'s rules hold: its future is awaited
        // right here, so it is polled to completion or dropped with this
        // connection's task, never leaked; and this runs only on a worker
        // (`util::on_worker`), a current-thread runtime whose tasks are
        // polled and dropped on that one thread.
        unsafe { flashkv_fiber::run(|| dispatch(exec, client, argv)) }.await
    }
}

/// Can this command run a script (EVAL, FCALL and their variants, EXEC)?
/// Those run on a fiber. Most names are told apart by their first byte.
pub(super) fn may_run_script(name: &[u8]) -> bool {
    if !matches!(name.first(), Some(b'e' | b'E' | b'f' | b'F')) {
        return false;
    }
    const NAMES: [&[u8]; 7] = [
        b"eval",
        b"evalsha",
        b"eval_ro",
        b"evalsha_ro",
        b"fcall",
        b"fcall_ro",
        b"exec",
    ];
    NAMES.iter().any(|n| n.eq_ignore_ascii_case(name))
}
