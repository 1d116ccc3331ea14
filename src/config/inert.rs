//! Redis 7.0 parameters that tune a feature FlashKV does not have
//! (replication, TLS, streams, active defragmentation, syslog, process
//! titles...): accepted from a config file, the command line and CONFIG
//! SET with Redis's validation and error texts, and reported by CONFIG GET
//! with Redis's defaults, so that configuration written for Redis (and
//! tools that set such a parameter on any server, as Redis's own test
//! suite sets `repl-ping-replica-period`) work unchanged.
//!
//! This cannot change behaviour, which is why it is honest: a standalone
//! Redis with no replica, no TLS port and no stream ignores the same
//! settings. A parameter that would *switch on* a missing feature
//! (`tls-port`, `unixsocket`, `activedefrag`...)
//! is a `Kind::Off` row: only its "off" value is accepted, so a
//! configuration that asks for something missing still fails loudly.
//! `rdb-key-save-delay`, Redis's test knob that slows a save down, is not
//! here: it is a real directive (see `directives.rs`).

use super::directives::{int_in, within, yes_no, yes_no_text, Argc, Directive};
use super::Config;
use Kind::{Bool, Enum, Int, Memory, Octal, Off, Scores, Text};

/// How a parameter's value is checked and printed.
#[derive(Clone, Copy)]
pub(super) enum Kind {
    /// `yes` or `no`.
    Bool,
    /// A decimal integer within bounds.
    Int(i64, i64),
    /// A byte count with an optional unit, within bounds; printed in bytes.
    Memory(i64, i64),
    /// An octal permission mask (`unixsocketperm`).
    Octal,
    /// One of these names (case-insensitive; printed lower-case).
    Enum(&'static [&'static str]),
    /// Any text.
    Text,
    /// Only this value ("off"): the parameter switches on a feature FlashKV
    /// lacks.
    Off(&'static str),
    /// Three integers from -2000 to 2000 (`oom-score-adj-values`).
    Scores,
}

/// Check `values` against `kind` and return the value CONFIG GET prints.
fn normalise(name: &str, kind: Kind, values: &[String]) -> Result<String, String> {
    let v = values.join(" ");
    match kind {
        Kind::Bool => yes_no(&v).map(yes_no_text),
        Kind::Int(min, max) => int_in(&v, min, max).map(|n| n.to_string()),
        Kind::Memory(min, max) => {
            let n = super::parse_memory(&v)?;
            within(i64::try_from(n).unwrap_or(i64::MAX), min, max).map(|n| n.to_string())
        }
        Kind::Octal => {
            let n = i64::from_str_radix(&v, 8)
                .map_err(|_| "argument couldn't be parsed into an integer".to_string())?;
            within(n, 0, 0o777).map(|n| format!("{n:o}"))
        }
        Kind::Enum(names) => names
            .iter()
            .find(|n| n.eq_ignore_ascii_case(&v))
            .map(|n| n.to_string())
            .ok_or_else(|| {
                format!(
                    "argument(s) must be one of the following: {}",
                    names.join(", ")
                )
            }),
        Kind::Text => Ok(v),
        Kind::Off(off) => super::directives::only(name, off, &v).map(|()| off.to_string()),
        Kind::Scores => {
            let words: Vec<&str> = v.split_whitespace().collect();
            if words.len() != 3 {
                return Err("wrong number of arguments".into());
            }
            let scores: Vec<i64> = words
                .iter()
                .map(|s| s.parse().ok().filter(|n: &i64| (-2000..=2000).contains(n)))
                .collect::<Option<_>>()
                .ok_or("Invalid oom-score-adj-values, elements must be between -2000 and 2000.")?;
            Ok(scores
                .iter()
                .map(i64::to_string)
                .collect::<Vec<_>>()
                .join(" "))
        }
    }
}

/// Store a checked value under the parameter's canonical name.
pub(super) fn set(
    c: &mut Config,
    key: &'static str,
    kind: Kind,
    values: &[String],
) -> Result<(), String> {
    let v = normalise(key, kind, values)?;
    c.inert.insert(key, v);
    Ok(())
}

/// The value set, or Redis's default.
pub(super) fn get(c: &Config, key: &'static str, default: &'static str) -> String {
    c.inert
        .get(key)
        .cloned()
        .unwrap_or_else(|| default.to_string())
}

macro_rules! inert {
    ($name:literal $(as $key:literal)?, $kind:expr, $default:literal, mutable: $m:expr) => {{
        const KEY: &str = inert!(@key $name $(, $key)?);
        Directive {
            name: $name,
            argc: match $kind {
                Kind::Scores => Argc::OneOrMore,
                _ => Argc::Exactly(1),
            },
            set: |c, v| set(c, KEY, $kind, v),
            get: Some(|c| get(c, KEY, $default)),
            mutable: $m,
        }
    }};
    (@key $name:literal) => { $name };
    (@key $name:literal, $key:literal) => { $key };
}

/// The parameters, generated from Redis 7.0.15's `config.c` (names,
/// aliases, bounds, enum values, defaults and mutability as there); an
/// alias (`slave-read-only`) shares its parameter's value.
pub static INERT: &[Directive] = &[
    inert!("io-threads-do-reads", Bool, "no", mutable: false),
    inert!("always-show-logo", Bool, "no", mutable: false),
    // Redis's hidden test knobs (`HIDDEN` in config.rs).
    inert!("use-exit-on-panic", Bool, "no", mutable: true),
    inert!("loading-process-events-interval-bytes", Int(1024, 2147483647), "2097152", mutable: true),
    inert!("watchdog-period", Off("0"), "0", mutable: true),
    inert!("rdb-del-sync-files", Bool, "no", mutable: true),
    inert!("activerehashing", Bool, "yes", mutable: true),
    inert!("set-proc-title", Bool, "yes", mutable: false),
    inert!("dynamic-hz", Bool, "yes", mutable: true),
    inert!("lazyfree-lazy-eviction", Bool, "no", mutable: true),
    inert!("lazyfree-lazy-expire", Bool, "no", mutable: true),
    inert!("lazyfree-lazy-server-del", Bool, "no", mutable: true),
    inert!("lazyfree-lazy-user-del", Bool, "no", mutable: true),
    inert!("lazyfree-lazy-user-flush", Bool, "no", mutable: true),
    inert!("repl-disable-tcp-nodelay", Bool, "no", mutable: true),
    inert!("repl-diskless-sync", Bool, "yes", mutable: true),
    inert!("rdb-save-incremental-fsync", Bool, "yes", mutable: true),
    inert!("replica-lazy-flush", Bool, "no", mutable: true),
    inert!("slave-lazy-flush" as "replica-lazy-flush", Bool, "no", mutable: true),
    inert!("replica-serve-stale-data", Bool, "yes", mutable: true),
    inert!("slave-serve-stale-data" as "replica-serve-stale-data", Bool, "yes", mutable: true),
    inert!("replica-read-only", Bool, "yes", mutable: true),
    inert!("slave-read-only" as "replica-read-only", Bool, "yes", mutable: true),
    inert!("replica-ignore-maxmemory", Bool, "yes", mutable: true),
    inert!("slave-ignore-maxmemory" as "replica-ignore-maxmemory", Bool, "yes", mutable: true),
    inert!("jemalloc-bg-thread", Bool, "yes", mutable: true),
    inert!("activedefrag", Off("no"), "no", mutable: true),
    inert!("syslog-enabled", Off("no"), "no", mutable: false),
    inert!("crash-log-enabled", Bool, "yes", mutable: true),
    inert!("crash-memcheck-enabled", Bool, "yes", mutable: true),
    inert!("disable-thp", Bool, "yes", mutable: false),
    inert!("replica-announced", Bool, "yes", mutable: true),
    inert!("aof-disable-auto-gc", Off("no"), "no", mutable: true),
    inert!("replica-ignore-disk-write-errors", Bool, "no", mutable: true),
    inert!("aclfile", Off(""), "", mutable: false),
    inert!("unixsocket", Off(""), "", mutable: false),
    inert!("replica-announce-ip", Text, "", mutable: true),
    inert!("slave-announce-ip" as "replica-announce-ip", Text, "", mutable: true),
    inert!("masteruser", Text, "", mutable: true),
    inert!("syslog-ident", Text, "redis", mutable: false),
    inert!("server_cpulist", Off(""), "", mutable: false),
    inert!("bio_cpulist", Off(""), "", mutable: false),
    inert!("aof_rewrite_cpulist", Off(""), "", mutable: false),
    inert!("bgsave_cpulist", Off(""), "", mutable: false),
    inert!("ignore-warnings", Text, "", mutable: true),
    inert!("proc-title-template", Text, "{title} {listen-addr} {server-mode}", mutable: true),
    inert!("bind-source-addr", Off(""), "", mutable: true),
    inert!("masterauth", Text, "", mutable: true),
    inert!("supervised", Off("no"), "no", mutable: false),
    inert!("syslog-facility", Enum(&["user", "local0", "local1", "local2", "local3", "local4", "local5", "local6", "local7"]), "local0", mutable: false),
    inert!("repl-diskless-load", Enum(&["disabled", "on-empty-db", "swapdb"]), "disabled", mutable: true),
    inert!("oom-score-adj", Off("no"), "no", mutable: true),
    inert!("acl-pubsub-default", Enum(&["allchannels", "resetchannels"]), "resetchannels", mutable: true),
    inert!("sanitize-dump-payload", Enum(&["no", "yes", "clients"]), "no", mutable: true),
    inert!("propagation-error-behavior", Enum(&["ignore", "panic", "panic-on-replicas"]), "ignore", mutable: true),
    inert!("io-threads", Int(1, 128), "1", mutable: false),
    inert!("active-defrag-cycle-min", Int(1, 99), "1", mutable: true),
    inert!("active-defrag-cycle-max", Int(1, 99), "25", mutable: true),
    inert!("active-defrag-threshold-lower", Int(0, 1000), "10", mutable: true),
    inert!("active-defrag-threshold-upper", Int(0, 1000), "100", mutable: true),
    inert!("replica-priority", Int(0, i32::MAX as i64), "100", mutable: true),
    inert!("slave-priority" as "replica-priority", Int(0, i32::MAX as i64), "100", mutable: true),
    inert!("repl-diskless-sync-delay", Int(0, i32::MAX as i64), "5", mutable: true),
    inert!("replica-announce-port", Int(0, 65535), "0", mutable: true),
    inert!("slave-announce-port" as "replica-announce-port", Int(0, 65535), "0", mutable: true),
    inert!("repl-timeout", Int(1, i32::MAX as i64), "60", mutable: true),
    inert!("repl-ping-replica-period", Int(1, i32::MAX as i64), "10", mutable: true),
    inert!("repl-ping-slave-period" as "repl-ping-replica-period", Int(1, i32::MAX as i64), "10", mutable: true),
    inert!("shutdown-timeout", Int(0, i32::MAX as i64), "10", mutable: true),
    inert!("repl-diskless-sync-max-replicas", Int(0, i32::MAX as i64), "0", mutable: true),
    inert!("unixsocketperm", Octal, "0", mutable: false),
    inert!("socket-mark-id", Off("0"), "0", mutable: false),
    inert!("active-defrag-max-scan-fields", Int(1, i64::MAX), "1000", mutable: true),
    inert!("acllog-max-len", Int(0, i64::MAX), "128", mutable: true),
    inert!("stream-node-max-entries", Int(0, i64::MAX), "100", mutable: true),
    inert!("repl-backlog-size", Memory(1, i64::MAX), "1048576", mutable: true),
    inert!("active-defrag-ignore-bytes", Memory(1, i64::MAX), "104857600", mutable: true),
    inert!("stream-node-max-bytes", Memory(0, i64::MAX), "4096", mutable: true),
    inert!("repl-backlog-ttl", Int(0, i64::MAX), "3600", mutable: true),
    inert!("tls-port", Off("0"), "0", mutable: true),
    inert!("tls-session-cache-size", Int(0, i32::MAX as i64), "20480", mutable: true),
    inert!("tls-session-cache-timeout", Int(0, i32::MAX as i64), "300", mutable: true),
    inert!("tls-cluster", Off("no"), "no", mutable: true),
    inert!("tls-replication", Off("no"), "no", mutable: true),
    inert!("tls-auth-clients", Enum(&["no", "yes", "optional"]), "yes", mutable: true),
    inert!("tls-prefer-server-ciphers", Bool, "no", mutable: true),
    inert!("tls-session-caching", Bool, "yes", mutable: true),
    inert!("tls-cert-file", Text, "", mutable: true),
    inert!("tls-key-file", Text, "", mutable: true),
    inert!("tls-key-file-pass", Text, "", mutable: true),
    inert!("tls-client-cert-file", Text, "", mutable: true),
    inert!("tls-client-key-file", Text, "", mutable: true),
    inert!("tls-client-key-file-pass", Text, "", mutable: true),
    inert!("tls-dh-params-file", Text, "", mutable: true),
    inert!("tls-ca-cert-file", Text, "", mutable: true),
    inert!("tls-ca-cert-dir", Text, "", mutable: true),
    inert!("tls-protocols", Text, "", mutable: true),
    inert!("tls-ciphers", Text, "", mutable: true),
    inert!("tls-ciphersuites", Text, "", mutable: true),
    inert!("oom-score-adj-values", Scores, "0 200 800", mutable: true),
];

/// Aliases CONFIG REWRITE never writes (their parameters are written).
pub(super) const ALIASES: &[&str] = &[
    "slave-lazy-flush",
    "slave-serve-stale-data",
    "slave-read-only",
    "slave-ignore-maxmemory",
    "slave-announce-ip",
    "slave-priority",
    "slave-announce-port",
    "repl-ping-slave-period",
    "min-slaves-to-write",
    "min-slaves-max-lag",
];
