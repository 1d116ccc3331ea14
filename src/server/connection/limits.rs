//! What a connection checks against the configuration: its idle timeout,
//! query buffer and output limits (`client-output-buffer-limit` by
//! Redis's client classes), and what it holds for client eviction
//! (`maxmemory-clients`, see `state::clients::eviction`).

use std::time::{Duration, Instant};

use bytes::Bytes;
use store_api::Store;

use super::{Connection, OUTPUT_PAUSE};
use crate::config::{Config, OutputLimit};
use crate::state::{ClientHandle, Memory, Session};

/// The configuration a connection consults on every turn, refreshed when
/// CONFIG SET changes it.
#[derive(Clone, Copy)]
pub(super) struct Limits {
    pub(super) timeout: u64,
    pub(super) output: OutputLimit,
    pub(super) query_buffer: u64,
    /// `maxmemory-clients` in bytes, when client eviction is on.
    pub(super) clients: Option<u64>,
}

impl Limits {
    /// The limits for a client of output-limit `class`.
    pub(super) fn of(config: &Config, class: Class) -> Limits {
        let classes = &config.output_limits;
        Limits {
            // Replicas are never idle-closed (Redis's clientsCron).
            timeout: if class == Class::Replica {
                0
            } else {
                config.timeout
            },
            output: match class {
                Class::Replica => classes.replica,
                Class::PubSub => classes.pubsub,
                Class::Normal => classes.normal,
            },
            query_buffer: config.client_query_buffer_limit,
            clients: config.maxmemory_clients.bytes(config.memory.maxmemory),
        }
    }
}

/// Redis's client classes for output limits.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Class {
    Normal,
    PubSub,
    Replica,
}

impl Class {
    pub(super) fn of(session: &Session) -> Class {
        if session.replica {
            Class::Replica
        } else if session.subs.any() {
            Class::PubSub
        } else {
            Class::Normal
        }
    }
}

impl<S: Store> Connection<S> {
    /// Refresh [`Limits`] from the configuration (one load when unchanged).
    pub(super) fn refresh_limits(&mut self) {
        let class = Class::of(&self.client.session);
        self.limits = Limits::of(self.client.config(&self.exec.state), class);
    }

    /// `client-output-buffer-limit`'s soft limit, checked once the turn's
    /// replies are written: pending output over `soft` for longer than
    /// its seconds. (The hard limit is checked before anything is
    /// written, [`over_hard_output_limit`](Self::over_hard_output_limit);
    /// a write only shrinks what is pending.)
    pub(super) fn soft_output_limit_reached(&mut self) -> bool {
        let OutputLimit {
            soft, soft_secs, ..
        } = self.limits.output;
        let pending = (self.output.len() + self.mail_left) as u64;
        if soft > 0 && pending > soft {
            let since = *self.over_soft.get_or_insert_with(Instant::now);
            return since.elapsed() > Duration::from_secs(soft_secs);
        }
        self.over_soft = None;
        false
    }

    /// Is the pending output past the hard limit?
    pub(super) fn over_hard_output_limit(&self) -> bool {
        let hard = self.limits.output.hard;
        hard > 0 && (self.output.len() + self.mail_left) as u64 > hard
    }

    /// When the soft output limit will have been exceeded for too long.
    pub(super) fn soft_limit_deadline(&mut self) -> Option<Instant> {
        let limit = self.limits.output;
        let since = self.over_soft.filter(|_| limit.soft > 0)?;
        Some(since + Duration::from_secs(limit.soft_secs) + Duration::from_millis(1))
    }

    /// Unsent reply bytes at which commands stop running: [`OUTPUT_PAUSE`],
    /// or the hard output limit when that is lower, so a client cannot
    /// make one batch overshoot its limit by more than one reply.
    pub(super) fn output_budget(&self) -> usize {
        let hard = self.limits.output.hard;
        match usize::try_from(hard) {
            Ok(hard) if hard > 0 => hard.saturating_add(1).min(OUTPUT_PAUSE),
            _ => OUTPUT_PAUSE,
        }
    }

    /// Publish what this client holds (CLIENT LIST's `tot-mem`) before it
    /// waits, and, when all clients together reach `maxmemory-clients`,
    /// disconnect the largest (see `state::clients::eviction`); this one
    /// may be among them, and then closes in the wait.
    pub(super) fn account_memory(&self, running: &[Bytes]) {
        let memory = self.memory(running);
        let state = &self.exec.state;
        state.clients.account(self.handle(), memory);
        if let Some(limit) = self.limits.clients {
            if state.clients.over(limit) {
                state.clients.evict(limit);
            }
        }
    }

    /// What this client holds, in bytes (`running`: the request about to
    /// run, out of the query buffer already).
    pub(super) fn memory(&self, running: &[Bytes]) -> Memory {
        /// The connection's own state, its handle, and the task that runs it.
        const BASE: usize = 512;
        let s = &self.client.session;
        let argv = self.decoder.argv_memory()
            + running
                .iter()
                .map(|a| a.len() + std::mem::size_of::<Bytes>())
                .sum::<usize>();
        let multi = self.client.tx_memory();
        let prefixes = s.tracking.as_ref().map_or(0, |m| m.prefixes.len());
        // A large argument counts whole from its header on, as in Redis
        // (which sizes its query buffer to it then): the buffer only
        // grows as the bytes arrive, but the client is committed to them.
        let query_buffer = (self.input.capacity()).max(self.decoder.big_bulk_end().unwrap_or(0));
        let total = BASE
            + std::mem::size_of::<Self>()
            + std::mem::size_of::<ClientHandle>()
            + query_buffer
            + self.output.capacity()
            + self.mail_left
            + argv
            + multi
            + s.subs.memory()
            + prefixes * crate::state::tracking::PREFIX_BYTES;
        Memory { argv, multi, total }
    }
}
