//! A connection's waits: a blocking command settled (served, CLIENT
//! UNBLOCK, a cluster redirect, its timeout), and the one timer armed for
//! the earliest deadline (idle timeout, soft output limit, blocking
//! timeout, CLIENT PAUSE, the cluster re-check).

use std::time::{Duration, Instant};

use store_api::Store;

use super::{buffers, encode, Connection, Frame};
use crate::state::Event;

impl<S: Store> Connection<S> {
    /// Settle a blocking command if it can be: served (take the reply),
    /// unblocked by CLIENT UNBLOCK, or timed out. Blocked clients are not
    /// closed for idleness, as in Redis.
    pub(super) fn check_blocked(&mut self) {
        let Some((blocked, deadline)) = &self.blocked else {
            return;
        };
        let handle = &self.client.session.handle;
        handle.clear(Event::Wake);
        if let Some(reply) = blocked.waiter.take_reply() {
            // Served by a push: its pop is journaled once the pusher's
            // section ends; the reply waits for it like a write's.
            self.client.session.journaled = self.exec.state.db.journal().appended_after_running();
            return self.unblock(Some(reply));
        }
        if let Some(error) = handle.unblock_request() {
            let reply = if error {
                crate::cmd::CmdError::Unblocked.to_frame()
            } else {
                blocked.on_timeout.clone()
            };
            return self.unblock(Some(reply));
        }
        // Cluster: a slot that moved away (or a cluster that went down)
        // ends the wait with the redirect, as Redis's
        // `clusterRedirectBlockedClientIfNeeded`.
        let cluster = &self.exec.state.cluster;
        if cluster.enabled {
            if let Some(e) = crate::cmd::blocked_redirect(&cluster.routing(), &blocked.waiter.keys)
            {
                return self.unblock(Some(e.to_frame()));
            }
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            let reply = blocked.on_timeout.clone();
            self.unblock(Some(reply));
        }
    }

    /// End the blocked state: give up the wait (a reply served meanwhile
    /// wins over `reply`) and send the reply, if any.
    pub(super) fn unblock(&mut self, reply: Option<Frame>) {
        let Some((blocked, _)) = self.blocked.take() else {
            return;
        };
        let served = (blocked.cancel)();
        self.client.session.handle.set_blocked(false);
        if let Some(frame) = served.or(reply) {
            buffers::ensure_some(&mut self.output);
            encode(&frame, self.client.session.proto, &mut self.output);
        }
    }

    /// Arm the timer for the earliest of the idle timeout, the end of the
    /// soft output limit's grace period and a blocking command's timeout.
    pub(super) fn arm_timer(&mut self) {
        let timeout = self.limits.timeout;
        let idle = (timeout > 0 && self.blocked.is_none())
            .then(|| self.last_activity + Duration::from_secs(timeout));
        let mut block = self.blocked.as_ref().and_then(|(_, d)| *d);
        if self.blocked.is_some() && self.exec.state.cluster.enabled {
            // Look again every second whether the keys' slots moved.
            let recheck = Instant::now() + Duration::from_secs(1);
            block = Some(block.map_or(recheck, |d| d.min(recheck)));
        }
        let pause = self.postponed.as_ref().map(|(_, until)| *until);
        let deadline = [idle, self.soft_limit_deadline(), block, pause]
            .into_iter()
            .flatten()
            .min();
        match (deadline, self.timer.as_mut()) {
            (None, _) => self.timer = None,
            (Some(at), Some(timer)) => {
                if timer.deadline() != at.into() {
                    timer.as_mut().reset(at.into());
                }
            }
            (Some(at), None) => self.timer = Some(Box::pin(tokio::time::sleep_until(at.into()))),
        }
    }

    pub(super) fn idle_timed_out(&mut self) -> bool {
        let timeout = self.limits.timeout;
        self.blocked.is_none()
            && timeout > 0
            && self.last_activity.elapsed() >= Duration::from_secs(timeout)
    }
}
