//! What a command leaves behind once it ran: INFO commandstats and
//! errorstats, SLOWLOG, LATENCY, MONITOR, and the keys CLIENT TRACKING
//! remembers for it (split from `context`, which runs the command).

use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use store_api::Store;

use super::context::{Client, Executor};
use super::table::{Kind, Spec};
use crate::config::Config;
use crate::protocol::Frame;
use crate::state::stats::Counter;
use crate::state::{slowlog, ServerState, Session};

impl<S: Store> Executor<S> {
    /// Account for `client`'s command (see [`account`](Self::account)),
    /// its reply `frame` (None: not a reply yet) deciding whether it failed.
    pub(super) fn account_for(
        &self,
        client: &mut Client<S>,
        spec: &Spec,
        argv: &[Bytes],
        nanos: u64,
        frame: Option<&Frame>,
    ) {
        let failed = client.counts_failure(frame);
        let config = client.config.current();
        self.account(
            &client.counts,
            &client.session,
            config,
            spec,
            argv,
            nanos,
            failed,
        );
    }

    /// The work of a [`Reply::Later`] that `argv` (as dispatched) handed
    /// back is done, with `frame`, after `nanos`: account for the whole
    /// command now, so a slow KEYS or DEBUG SLEEP reaches SLOWLOG and
    /// LATENCY as in Redis.
    pub fn finish_later(&self, client: &mut Client<S>, argv: &[Bytes], frame: &Frame, nanos: u64) {
        let Some(before) = client.later.take() else {
            return;
        };
        let Ok(spec) = self.commands.lookup(argv) else {
            return;
        };
        self.account_for(client, spec, argv, before + nanos, Some(frame));
    }

    /// Count a command that ran for `nanos` (commandstats and the latency
    /// histogram), and log it where it goes: SLOWLOG when slow enough,
    /// LATENCY when over the threshold, MONITOR unless it is an admin
    /// command.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn account(
        &self,
        counts: &Counter,
        session: &Session,
        config: &Config,
        spec: &Spec,
        argv: &[Bytes],
        nanos: u64,
        failed: bool,
    ) {
        counts.call(spec.id, nanos, failed);
        let usec = nanos / 1000;
        let slow = config.slowlog_log_slower_than;
        let slow = slow >= 0 && usec >= slow as u64 && !spec.flags.skip_slowlog;
        let latency = config.latency_monitor_threshold;
        let lagged = latency > 0 && usec / 1000 >= latency;
        let monitored = self.state.monitors.any() && !spec.flags.skip_monitor;
        if !(slow || lagged || monitored) {
            return;
        }
        let shown = redact(spec, argv);
        let unix_micros = unix_micros();
        if slow {
            let entry = slowlog::Entry {
                id: 0,
                time: unix_micros / 1_000_000,
                usec,
                argv: slowlog::trim_argv(&shown),
                addr: session.handle.addr.to_string(),
                name: session.handle.name().unwrap_or_default(),
            };
            self.state.slowlog.push(config.slowlog_max_len, entry);
        }
        if lagged {
            let event = if spec.flags.fast {
                "fast-command"
            } else {
                "command"
            };
            self.state
                .db
                .latency()
                .add(event, unix_micros / 1_000_000, usec / 1000);
        }
        if monitored {
            feed_monitors(
                &self.state,
                config,
                session.db,
                spec,
                argv,
                session.handle.addr,
            );
        }
    }

    /// Remember the keys a read-only command read for its client, if the
    /// client tracks them (CLIENT TRACKING, default mode; OPTIN only after
    /// CLIENT CACHING yes, OPTOUT unless CLIENT CACHING no).
    /// A read-only script (EVAL_RO, EVALSHA_RO, FCALL_RO) is not tracked
    /// itself: the reads it runs are ([`remember_keys`] from the script).
    pub(super) fn track_reads(&self, session: &Session, spec: &Spec, argv: &[Bytes]) {
        if !spec.flags.readonly || spec.flags.kind == Kind::ScriptRo {
            return;
        }
        if let Some(keys) = spec.meta.all_keys(argv) {
            remember_keys(&self.state, session, &keys);
        }
    }

    /// A script command (`skip_monitor`: EVAL, FCALL...) is about to run,
    /// here or in EXEC: MONITOR shows it first (then each command it runs,
    /// as it ends), and FUNCTION STATS shows an FCALL as it was sent.
    pub(super) fn script_starts(&self, client: &mut Client<S>, spec: &Spec, argv: &[Bytes]) {
        let (db, addr) = (client.session.db, client.session.handle.addr);
        let config = client.config.current();
        feed_monitors(&self.state, config, db, spec, argv, addr);
        if spec.meta.name.starts_with("fcall") {
            client.session.script_argv = argv.to_vec();
        }
    }
}

/// Remember `keys` as read by `session`'s client, if it tracks them (CLIENT
/// TRACKING, default mode; OPTIN only after CLIENT CACHING yes, OPTOUT
/// unless CLIENT CACHING no). A read-only command a script runs remembers
/// the script's declared keys, not its own (Redis's `call` tracks for the
/// script's caller, whose command is the EVAL).
pub(super) fn remember_keys<S: Store>(
    state: &ServerState<S>,
    session: &Session,
    keys: &[impl AsRef<[u8]>],
) {
    let Some(mode) = &session.tracking else {
        return;
    };
    let wanted = !mode.bcast
        && (!mode.optin || session.caching == Some(true))
        && (!mode.optout || session.caching != Some(false));
    if !wanted || keys.is_empty() {
        return;
    }
    let keys: Vec<&[u8]> = keys.iter().map(|k| k.as_ref()).collect();
    let max = state.config().tracking_table_max_keys;
    state
        .tracking
        .remember(session.handle.id, &keys, max, &state.clients);
}

/// Show a command run by `addr` in database `db` to the MONITOR clients
/// (Redis's `replicationFeedMonitors`); admin commands are never shown.
pub(super) fn feed_monitors<S: Store>(
    state: &ServerState<S>,
    config: &Config,
    db: usize,
    spec: &Spec,
    argv: &[Bytes],
    addr: impl std::fmt::Display,
) {
    if spec.flags.admin || !state.monitors.any() {
        return;
    }
    let shown = redact(spec, argv);
    let hard = config.output_limits.replica.hard;
    let addr = addr.to_string();
    state.monitors.feed(unix_micros(), db, &addr, &shown, hard);
}

/// Microseconds since the Unix epoch.
fn unix_micros() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

const REDACTED: Bytes = Bytes::from_static(b"(redacted)");

/// `argv` as MONITOR and SLOWLOG show it: passwords replaced by
/// `(redacted)`, as Redis's `redactClientCommandArgument` does for AUTH,
/// HELLO ... AUTH and MIGRATE ... AUTH / AUTH2.
fn redact<'a>(spec: &Spec, argv: &'a [Bytes]) -> std::borrow::Cow<'a, [Bytes]> {
    match spec.meta.name {
        "auth" => {
            let mut v = argv.to_vec();
            v[1..].fill(REDACTED);
            v.into()
        }
        "hello" => redact_options(argv, 2, &[("AUTH", 2)], None).into(),
        // Options start after `host port key db timeout` and end at KEYS.
        "migrate" => redact_options(argv, 6, &[("AUTH", 1), ("AUTH2", 2)], Some("KEYS")).into(),
        _ => argv.into(),
    }
}

/// `argv` with the values that follow each option of `secret` (its name,
/// how many values) from `start` on replaced by `(redacted)`, as the
/// command itself marks them when it parses them (so an option missing
/// its values, a syntax error, is shown as sent); the scan ends at `stop`.
fn redact_options(
    argv: &[Bytes],
    start: usize,
    secret: &[(&str, usize)],
    stop: Option<&str>,
) -> Vec<Bytes> {
    let mut v = argv.to_vec();
    let mut i = start;
    while i < v.len() && !stop.is_some_and(|s| super::is(&v[i], s)) {
        match secret.iter().find(|(name, _)| super::is(&v[i], name)) {
            Some(&(_, n)) if i + n < v.len() => {
                v[i + 1..=i + n].fill(REDACTED);
                i += 1 + n;
            }
            _ => i += 1,
        }
    }
    v
}
