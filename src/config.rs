//! Configuration: Redis's directives, from a config file, the command line
//! and `CONFIG SET`, through one table.
//!
//! `flashkv [/path/to/redis.conf] [--directive value ...]` works as
//! `redis-server` does: the file is read first, then every `--name value...`
//! group is appended as one more config line, so the command line overrides
//! the file. Every directive FlashKV knows is a row of [`DIRECTIVES`]: how to
//! parse it, how CONFIG GET prints it, whether CONFIG SET may change it. The
//! same row serves all four paths, so they cannot disagree. (STYLE.md
//! suggests clap; a clap parser would be a second, diverging definition of
//! the same options, so this one table replaces it.)
//!
//! Unknown directives, wrong argument counts and invalid values are errors
//! (exit code 1 from `main`), never silently replaced by a default.
//! Directives of Redis features FlashKV lacks are accepted only with the
//! value that means "off" (`daemonize no`), so a config file written for
//! Redis works unchanged where it asks for nothing missing and fails
//! loudly where it does.

use std::fmt;

use crate::db::{EvictionPolicy, ExpiryConfig, MemoryConfig};
use crate::protocol::split_inline;
use crate::util::glob::glob_match;

mod args;
mod directives;
mod inert;
mod values;

use directives::{all, directive, Argc};
pub use directives::{
    parse_memory, Directive, DIRECTIVES, SHUTDOWN_FORCE, SHUTDOWN_NOSAVE, SHUTDOWN_NOW,
    SHUTDOWN_SAVE,
};
pub use values::{
    AofConfig, BackendKind, ClientsLimit, ClusterConfig, Encodings, Fsync, LogLevel, OutputLimit,
    OutputLimits,
};

/// Default TCP port.
pub const DEFAULT_PORT: u16 = 6379;
/// Default bind address: loopback only.
pub const DEFAULT_BIND: &str = "127.0.0.1";
/// Default number of databases.
pub const DEFAULT_DATABASES: usize = 16;
/// Default `maxclients`.
pub const DEFAULT_MAXCLIENTS: usize = 10_000;
/// Default listen backlog (`tcp-backlog`).
pub const DEFAULT_TCP_BACKLOG: u32 = 511;
/// Default `tcp-keepalive`, seconds.
pub const DEFAULT_TCP_KEEPALIVE: u64 = 300;
/// Default `proto-max-bulk-len`: 512 MiB.
pub const DEFAULT_PROTO_MAX_BULK_LEN: u64 = 512 * 1024 * 1024;
/// Default `client-query-buffer-limit`: 1 GiB.
pub const DEFAULT_QUERY_BUFFER_LIMIT: u64 = 1024 * 1024 * 1024;
/// Smallest `client-query-buffer-limit` Redis accepts (1 MiB).
const MIN_QUERY_BUFFER_LIMIT: u64 = 1024 * 1024;

/// Everything configurable.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    /// Thresholds that decide how collections are encoded.
    pub encodings: Encodings,
    /// Addresses to listen on.
    pub bind: Vec<String>,
    /// TCP port (0 picks a free one; useful for tests and embedding).
    pub port: u16,
    /// Map implementation behind the databases.
    pub backend: BackendKind,
    /// Threads serving connections, each with its own event loop (0: one
    /// per core).
    pub worker_threads: usize,
    /// Number of databases (SELECT 0..n-1).
    pub databases: usize,
    /// Most simultaneous clients.
    pub maxclients: usize,
    /// Close clients idle this many seconds (0: never).
    pub timeout: u64,
    /// TCP keepalive interval in seconds (0: off).
    pub tcp_keepalive: u64,
    /// Listen backlog.
    pub tcp_backlog: u32,
    /// Longest bulk argument accepted.
    pub proto_max_bulk_len: u64,
    /// Most bytes of unparsed input buffered per client.
    pub client_query_buffer_limit: u64,
    /// `maxmemory-clients`: client eviction's limit.
    pub maxmemory_clients: ClientsLimit,
    /// Password of the default user; empty: none.
    pub requirepass: String,
    /// Refuse non-loopback clients when no password is set.
    pub protected_mode: bool,
    /// Active expiry settings (`hz`, `active-expire-effort`).
    pub expiry: ExpiryConfig,
    /// Log verbosity.
    pub loglevel: LogLevel,
    /// Log file; empty: standard output.
    pub logfile: String,
    /// `rename-command` pairs (config file only).
    pub rename_commands: Vec<(String, String)>,
    /// `client-output-buffer-limit`.
    pub output_limits: OutputLimits,
    /// `notify-keyspace-events`, as `db::events::class` bits.
    pub notify_keyspace_events: u32,
    /// `busy-reply-threshold` (alias `lua-time-limit`): milliseconds a
    /// script runs before other clients get BUSY and SCRIPT KILL works.
    pub busy_reply_threshold: u64,
    /// `min-replicas-to-write` (alias `min-slaves-to-write`): writes are
    /// refused (NOREPLICAS) with fewer good replicas (0: never).
    pub min_replicas_to_write: u64,
    /// `min-replicas-max-lag` (alias `min-slaves-max-lag`): seconds since
    /// its last REPLCONF ACK a replica stays good (0: the rule is off).
    pub min_replicas_max_lag: u64,
    /// `slowlog-log-slower-than`, microseconds (negative: off).
    pub slowlog_log_slower_than: i64,
    /// `slowlog-max-len`.
    pub slowlog_max_len: usize,
    /// `latency-monitor-threshold`, milliseconds (0: off).
    pub latency_monitor_threshold: u64,
    /// `latency-tracking`: per-command latency histograms (INFO
    /// latencystats).
    pub latency_tracking: bool,
    /// `latency-tracking-info-percentiles`.
    pub latency_percentiles: Vec<f64>,
    /// `tracking-table-max-keys`.
    pub tracking_table_max_keys: usize,
    /// `save` points: BGSAVE after this many seconds with at least this
    /// many changes. Empty: no automatic saves (and none at shutdown).
    pub save: Vec<(u64, u64)>,
    /// `dir`: where the RDB file lives (absolute; empty: the working
    /// directory).
    pub dir: String,
    /// `dbfilename`.
    pub dbfilename: String,
    /// `rdbcompression`: LZF for strings over 20 bytes.
    pub rdbcompression: bool,
    /// `rdbchecksum`: write and verify the CRC64 trailer.
    pub rdbchecksum: bool,
    /// `rdb-key-save-delay`: a pause after writing each key to an RDB
    /// file, microseconds (negative: nanoseconds), as Redis's test knob
    /// for a save that takes a while. 0: none.
    pub rdb_key_save_delay: i64,
    /// `key-load-delay`: the same pause after each key loaded from an RDB
    /// file (at start, DEBUG RELOAD), Redis's knob for a load that takes a
    /// while.
    pub key_load_delay: i64,
    /// The Redis parameters FlashKV accepts but that tune a feature it
    /// lacks (`inert.rs`), by canonical name; absent: Redis's default.
    pub inert: std::collections::BTreeMap<&'static str, String>,
    /// `stop-writes-on-bgsave-error`: refuse writes (MISCONF) while the
    /// last background save failed.
    pub stop_writes_on_bgsave_error: bool,
    /// `enable-debug-command`: `no`, `yes` or `local`.
    pub enable_debug_command: String,
    /// `enable-module-command`: `no`, `yes` or `local` (allowed, MODULE
    /// LOAD still fails: FlashKV loads no modules).
    pub enable_module_command: String,
    /// `pidfile`: written with the process id once the server listens,
    /// removed at shutdown; empty: none.
    pub pidfile: String,
    /// `shutdown-on-sigint` / `shutdown-on-sigterm`: how a signal shuts
    /// the server down, as SHUTDOWN's options would (`SHUTDOWN_*` bits).
    pub shutdown_on_sigint: u8,
    /// See `shutdown_on_sigint`.
    pub shutdown_on_sigterm: u8,
    /// `enable-protected-configs` (CONFIG SET dir, dbfilename): `no`,
    /// `yes` or `local`.
    pub enable_protected_configs: String,
    /// The append-only file's directives.
    pub aof: AofConfig,
    /// `maxmemory` and the eviction directives.
    pub memory: MemoryConfig,
    /// The cluster directives.
    pub cluster: ClusterConfig,
}

/// Redis's `save` points when no configuration names any.
pub const REDIS_SAVE_POINTS: [(u64, u64); 3] = [(3600, 1), (300, 100), (60, 10000)];

impl Default for Config {
    fn default() -> Self {
        Config {
            encodings: Encodings::default(),
            bind: vec![DEFAULT_BIND.to_string()],
            port: DEFAULT_PORT,
            backend: BackendKind::default(),
            worker_threads: 0,
            databases: DEFAULT_DATABASES,
            maxclients: DEFAULT_MAXCLIENTS,
            timeout: 0,
            tcp_keepalive: DEFAULT_TCP_KEEPALIVE,
            tcp_backlog: DEFAULT_TCP_BACKLOG,
            proto_max_bulk_len: DEFAULT_PROTO_MAX_BULK_LEN,
            client_query_buffer_limit: DEFAULT_QUERY_BUFFER_LIMIT,
            maxmemory_clients: ClientsLimit::Off,
            requirepass: String::new(),
            protected_mode: true,
            expiry: ExpiryConfig::default(),
            loglevel: LogLevel::default(),
            logfile: String::new(),
            rename_commands: Vec::new(),
            output_limits: OutputLimits::default(),
            notify_keyspace_events: 0,
            busy_reply_threshold: 5000,
            min_replicas_to_write: 0,
            min_replicas_max_lag: 10,
            slowlog_log_slower_than: 10_000,
            slowlog_max_len: 128,
            latency_monitor_threshold: 0,
            latency_tracking: true,
            latency_percentiles: vec![50.0, 99.0, 99.9],
            tracking_table_max_keys: 1_000_000,
            save: Vec::new(),
            dir: String::new(),
            dbfilename: "dump.rdb".into(),
            rdbcompression: true,
            rdbchecksum: true,
            rdb_key_save_delay: 0,
            key_load_delay: 0,
            inert: std::collections::BTreeMap::new(),
            stop_writes_on_bgsave_error: true,
            enable_debug_command: "no".into(),
            enable_module_command: "no".into(),
            pidfile: String::new(),
            shutdown_on_sigint: 0,
            shutdown_on_sigterm: 0,
            enable_protected_configs: "no".into(),
            aof: AofConfig::default(),
            memory: MemoryConfig::default(),
            cluster: ClusterConfig::default(),
        }
    }
}

impl Config {
    /// The RDB file's path (`dir` joined with `dbfilename`).
    pub fn rdb_path(&self) -> std::path::PathBuf {
        let dir = if self.dir.is_empty() { "." } else { &self.dir };
        std::path::Path::new(dir).join(&self.dbfilename)
    }

    /// The cluster configuration file's path (`cluster-config-file`
    /// under `dir`).
    pub fn cluster_config_path(&self) -> std::path::PathBuf {
        let dir = if self.dir.is_empty() { "." } else { &self.dir };
        std::path::Path::new(dir).join(&self.cluster.config_file)
    }

    /// The cluster bus port: `cluster-port`, or the client port + 10000.
    pub fn cluster_bus_port(&self, port: u16) -> u16 {
        if self.cluster.port != 0 {
            self.cluster.port
        } else {
            port.wrapping_add(10_000)
        }
    }

    /// The append-only file's directory (`dir` joined with
    /// `appenddirname`).
    pub fn aof_dir(&self) -> std::path::PathBuf {
        let dir = if self.dir.is_empty() { "." } else { &self.dir };
        std::path::Path::new(dir).join(&self.aof.dirname)
    }
}

/// A configuration that could not be read. Displayed as Redis displays a
/// fatal config error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// 1-based line of the combined configuration (file, then arguments).
    pub line: usize,
    /// The offending line.
    pub text: String,
    /// What is wrong with it.
    pub reason: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "\n*** FATAL CONFIG FILE ERROR (FlashKV {}) ***",
            env!("CARGO_PKG_VERSION")
        )?;
        writeln!(f, "Reading the configuration file, at line {}", self.line)?;
        writeln!(f, ">>> '{}'", self.text)?;
        write!(f, "{}", self.reason)
    }
}

impl std::error::Error for ConfigError {}

/// What the command line asks for.
#[derive(Debug, PartialEq)]
pub enum Invocation {
    /// Run a server with this configuration.
    Run(Box<Config>),
    /// Print usage and exit.
    Help,
    /// Print the version and exit.
    Version,
}

/// Usage text for `--help`.
pub fn usage() -> String {
    let names: Vec<&str> = DIRECTIVES.iter().map(|d| d.name).collect();
    format!(
        "Usage: flashkv [/path/to/redis.conf] [options] [-]\n       flashkv -v or --version\n       flashkv -h or --help\n\n\
         Examples:\n       flashkv (runs on 127.0.0.1:6379 with the rwlock backend)\n       flashkv --port 7000 --backend epoch\n       flashkv /etc/flashkv.conf --loglevel verbose\n       echo 'maxclients 10' | flashkv -\n\n\
         Directives (in a config file or as --name value):\n       {}\n\n\
         Redis's other parameters (replication, TLS, streams, defragmentation...) are\n       \
         accepted with Redis's checks and reported by CONFIG GET; those that would switch\n       \
         on a feature FlashKV lacks accept only their \"off\" value.\n",
        names.join(", ")
    )
}

impl Config {
    /// Apply config-file text, line by line. `save` lines add up, as in
    /// Redis's `setConfigSaveOption` while it reads a file: the first one
    /// replaces the default save points, later ones add theirs (a Redis
    /// 6 config's `save 900 1` / `save 300 10` / `save 60 10000` keeps all
    /// three), `save ""` clears them, and a bare `save` adds nothing.
    pub fn apply_text(&mut self, text: &str) -> Result<(), ConfigError> {
        let mut save_loaded = false;
        for (i, line) in text.lines().enumerate() {
            let trimmed = line.trim();
            if trimmed.is_empty() || trimmed.starts_with('#') {
                continue;
            }
            let err = |reason: String| ConfigError {
                line: i + 1,
                text: trimmed.to_string(),
                reason,
            };
            let words = split_inline(trimmed.as_bytes())
                .ok_or_else(|| err("Unbalanced quotes in configuration line".into()))?;
            let words: Vec<String> = words
                .iter()
                .map(|w| String::from_utf8_lossy(w).into_owned())
                .collect();
            let Some((name, values)) = words.split_first() else {
                continue;
            };
            if name.eq_ignore_ascii_case("save") {
                let earlier = if save_loaded {
                    std::mem::take(&mut self.save)
                } else {
                    Vec::new()
                };
                save_loaded = true;
                if values.is_empty() || values.iter().all(|v| v.is_empty()) {
                    self.save = if values.is_empty() {
                        earlier
                    } else {
                        Vec::new()
                    };
                    continue;
                }
                self.apply(name, values).map_err(err)?;
                let added = std::mem::replace(&mut self.save, earlier);
                self.save.extend(added);
                continue;
            }
            self.apply(name, values).map_err(err)?;
        }
        Ok(())
    }

    /// Apply one directive.
    pub fn apply(&mut self, name: &str, values: &[String]) -> Result<(), String> {
        let d = directive(name).ok_or("Bad directive or wrong number of arguments")?;
        let count_ok = match d.argc {
            Argc::Exactly(n) => values.len() == n,
            Argc::OneOrMore => !values.is_empty(),
            Argc::Any => true,
        };
        if !count_ok {
            return Err("wrong number of arguments".into());
        }
        (d.set)(self, values)
    }

    /// CONFIG GET: every (name, value) matched by one of `patterns`, each
    /// parameter once. As in Redis, a pattern without glob characters is
    /// looked up directly and answered under the name as typed; a glob
    /// answers under the canonical names.
    pub fn get_matching(&self, patterns: &[&[u8]]) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = Vec::new();
        let seen = |out: &[(String, String)], name: &str| {
            out.iter().any(|(n, _)| n.eq_ignore_ascii_case(name))
        };
        for &p in patterns {
            if !p.iter().any(|c| b"[*?".contains(c)) {
                let typed = String::from_utf8_lossy(p).into_owned();
                if let Some(get) = directive(&typed).and_then(|d| d.get) {
                    if !seen(&out, &typed) {
                        out.push((typed, get(self)));
                    }
                }
                continue;
            }
            for d in all().filter(|d| !HIDDEN.contains(&d.name)) {
                if let Some(get) = d.get.filter(|_| glob_match(p, d.name.as_bytes(), true)) {
                    if !seen(&out, d.name) {
                        out.push((d.name.to_string(), get(self)));
                    }
                }
            }
        }
        out
    }

    /// CONFIG SET: apply every `(name, value)` pair or none of them, with
    /// Redis's error texts as `(parameter, reason)`.
    pub fn set_many(&self, pairs: &[(String, String)]) -> Result<Config, SetError> {
        let mut next = self.clone();
        let mut seen: Vec<&'static str> = Vec::new();
        for (name, value) in pairs {
            let d = directive(name)
                .filter(|d| d.get.is_some())
                .ok_or_else(|| SetError::Unknown(name.clone()))?;
            if seen.contains(&d.name) {
                return Err(SetError::Failed(
                    d.name.into(),
                    "duplicate parameter".into(),
                ));
            }
            seen.push(d.name);
            let fixed = FIXED_WHILE_RUNNING.contains(&d.name);
            if !d.mutable && !fixed {
                return Err(SetError::Failed(
                    d.name.into(),
                    "can't set immutable config".into(),
                ));
            }
            let values: Vec<String> = if d.argc == Argc::Exactly(1) {
                vec![value.clone()]
            } else {
                value.split_whitespace().map(str::to_string).collect()
            };
            // `save ""` has no words; it still means "off".
            let values = if values.is_empty() {
                vec![String::new()]
            } else {
                values
            };
            (d.set)(&mut next, &values).map_err(|why| SetError::Failed(d.name.into(), why))?;
            if fixed && d.get.is_some_and(|get| get(&next) != get(self)) {
                return Err(SetError::Failed(
                    d.name.into(),
                    "FlashKV can't change it while running: restart with the new value".into(),
                ));
            }
        }
        Ok(next)
    }
}

impl Config {
    /// CONFIG REWRITE: the text of the config file `old` brought up to
    /// date with this configuration, as Redis rewrites it: a directive the
    /// file names is rewritten where its first line is (later lines of it
    /// go), one that differs from the default and is not in the file is
    /// appended under a marker, and every other line (comments, blank
    /// lines, directives not kept here such as rename-command) stays.
    pub fn rewrite_text(&self, old: &str) -> String {
        self.rewrite_text_with(old, false)
    }

    /// [`rewrite_text`](Self::rewrite_text); with `force_all` every
    /// parameter is written, defaults too (DEBUG CONFIG-REWRITE-FORCE-ALL,
    /// which Redis's tests use to check that every parameter survives a
    /// round trip through the file).
    pub fn rewrite_text_with(&self, old: &str, force_all: bool) -> String {
        let defaults = Config {
            save: REDIS_SAVE_POINTS.to_vec(),
            ..Config::default()
        };
        let line_of = |d: &Directive, get: fn(&Config) -> String| {
            let value = get(self);
            let plain = !value.is_empty()
                && (matches!(d.argc, Argc::OneOrMore | Argc::Any)
                    || !value.contains([' ', '"', '\\', '\'', '#']));
            let shown = if plain { value } else { quote(&value) };
            format!("{} {}", d.name, shown).trim_end().to_string()
        };
        let mut out: Vec<String> = Vec::new();
        let mut written: Vec<&'static str> = Vec::new();
        for line in old.lines() {
            let name = line
                .split_whitespace()
                .next()
                .unwrap_or("")
                .to_ascii_lowercase();
            let known = (!line.trim_start().starts_with('#'))
                .then(|| directive(&name))
                .flatten()
                .and_then(|d| d.get.map(|g| (d, g)));
            match known {
                Some((d, get)) if d.name != "rename-command" => {
                    if !written.contains(&d.name) {
                        written.push(d.name);
                        out.push(line_of(d, get));
                    }
                }
                _ => out.push(line.to_string()),
            }
        }
        let mut marker = false;
        for d in all() {
            let Some(get) = d.get else { continue };
            if written.contains(&d.name)
                || ALIASES.contains(&d.name)
                || inert::ALIASES.contains(&d.name)
                || (!force_all && get(self) == get(&defaults))
            {
                continue;
            }
            // `port` and `dir` always hold a value; write them only when
            // they differ from the default too (dir: the working directory).
            if d.name == "dir" && self.dir.is_empty() {
                continue;
            }
            // A master's replicaof is never written (Redis's
            // `rewriteConfigReplicaOfOption`), forced or not.
            if matches!(d.name, "replicaof" | "slaveof") && get(self).is_empty() {
                continue;
            }
            if !marker {
                out.push("# Generated by CONFIG REWRITE".into());
                marker = true;
            }
            written.push(d.name);
            out.push(line_of(d, get));
        }
        let mut text = out.join("\n");
        text.push('\n');
        text
    }
}

/// Parameters Redis changes at runtime (`bind`: it listens anew) and
/// FlashKV's own start-up choices: CONFIG SET accepts their current value
/// (tools set every parameter CONFIG GET lists back to what it was) and
/// refuses a change, which needs a restart here. (`port` changes at
/// runtime: `state::listen`.)
const FIXED_WHILE_RUNNING: &[&str] = &["bind", "backend", "worker-threads"];

/// Test knobs that, as in Redis, CONFIG GET answers only by their exact
/// name (a glob such as `*` leaves them out).
const HIDDEN: &[&str] = &[
    "rdb-key-save-delay",
    "key-load-delay",
    "use-exit-on-panic",
    "loading-process-events-interval-bytes",
    "watchdog-period",
];

/// Old names that CONFIG REWRITE never adds (their new names are written).
const ALIASES: &[&str] = &[
    "hash-max-ziplist-entries",
    "hash-max-ziplist-value",
    "list-max-ziplist-size",
    "zset-max-ziplist-entries",
    "zset-max-ziplist-value",
    "slaveof",
];

/// Why CONFIG SET failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SetError {
    /// No such (settable) parameter.
    Unknown(String),
    /// The parameter rejected the value: (parameter, reason).
    Failed(String, String),
}

/// Quote a command-line value for the config-line splitter.
fn quote(v: &str) -> String {
    let mut q = String::from("\"");
    for c in v.chars() {
        match c {
            '"' | '\\' => {
                q.push('\\');
                q.push(c);
            }
            '\n' => q.push_str("\\n"),
            '\r' => q.push_str("\\r"),
            c => q.push(c),
        }
    }
    q.push('"');
    q
}

#[cfg(test)]
mod tests;
