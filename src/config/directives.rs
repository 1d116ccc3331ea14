//! The directive table: one row per configuration directive, shared by
//! the config file, the command line, CONFIG GET and CONFIG SET.

use super::{
    BackendKind, ClientsLimit, Config, EvictionPolicy, Fsync, LogLevel, OutputLimit,
    MIN_QUERY_BUFFER_LIMIT,
};

type Setter = fn(&mut Config, &[String]) -> Result<(), String>;
type Getter = fn(&Config) -> String;

/// How many values a directive takes in a file or on the command line
/// (CONFIG SET always gives one string).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Argc {
    /// Exactly this many.
    Exactly(usize),
    /// At least one (`oom-score-adj-values`: its numbers as one string
    /// or as three).
    OneOrMore,
    /// Any number, none included: Redis's multi-argument parameters
    /// (`bind`, `save`, `shutdown-on-sig*`...), whose setters check what
    /// they get.
    Any,
}
pub use Argc::{Any, Exactly};

/// One configuration directive.
pub struct Directive {
    /// Lower-case name.
    pub name: &'static str,
    /// How many values it takes in a file or on the command line.
    pub argc: Argc,
    pub(super) set: Setter,
    pub(super) get: Option<Getter>,
    /// CONFIG SET may change it at runtime.
    pub mutable: bool,
}

pub(super) fn int_in(v: &str, min: i64, max: i64) -> Result<i64, String> {
    let n: i64 = v
        .parse()
        .map_err(|_| "argument couldn't be parsed into an integer".to_string())?;
    within(n, min, max)
}

/// `n`, or Redis's error when it is outside `min..=max`.
pub(super) fn within(n: i64, min: i64, max: i64) -> Result<i64, String> {
    if n < min || n > max {
        return Err(format!(
            "argument must be between {min} and {max} inclusive"
        ));
    }
    Ok(n)
}

pub(super) fn yes_no_text(on: bool) -> String {
    if on { "yes" } else { "no" }.into()
}

/// `shutdown-on-sig*` bits, as Redis's `SHUTDOWN_*` flags.
pub const SHUTDOWN_SAVE: u8 = 1;
/// See [`SHUTDOWN_SAVE`].
pub const SHUTDOWN_NOSAVE: u8 = 2;
/// See [`SHUTDOWN_SAVE`].
pub const SHUTDOWN_NOW: u8 = 4;
/// See [`SHUTDOWN_SAVE`].
pub const SHUTDOWN_FORCE: u8 = 8;
const SHUTDOWN_NAMES: [(&str, u8); 4] = [
    ("save", SHUTDOWN_SAVE),
    ("nosave", SHUTDOWN_NOSAVE),
    ("now", SHUTDOWN_NOW),
    ("force", SHUTDOWN_FORCE),
];

/// `replicaof host port` in a configuration: Redis's port check first,
/// then FlashKV's refusal (it is never a replica).
fn refuse_master(v: &[String]) -> Result<(), String> {
    if v[1].parse::<u16>().map_or(true, |p| p == 0) {
        return Err("Invalid master port".into());
    }
    Err("FlashKV does not replicate from a master: REPLICAOF accepts only NO ONE".into())
}

/// Parse `shutdown-on-sigint`/`-sigterm` words (`default` is none),
/// with Redis's checks and texts.
fn shutdown_flags(v: &[String]) -> Result<u8, String> {
    let mut bits = 0;
    let words: Vec<&str> = v.iter().flat_map(|s| s.split_whitespace()).collect();
    if words.is_empty() {
        return Err(
            "argument(s) must be one of the following: default, save, nosave, now, force".into(),
        );
    }
    for w in words {
        let w = w.to_ascii_lowercase();
        bits |=
            match SHUTDOWN_NAMES.iter().find(|(n, _)| *n == w) {
                Some((_, b)) => *b,
                None if w == "default" => 0,
                None => return Err(
                    "argument(s) must be one of the following: default, save, nosave, now, force"
                        .into(),
                ),
            };
    }
    if bits & SHUTDOWN_SAVE != 0 && bits & SHUTDOWN_NOSAVE != 0 {
        return Err("shutdown options SAVE and NOSAVE can't be used simultaneously".into());
    }
    Ok(bits)
}

/// The words CONFIG GET shows for `shutdown-on-sig*` bits.
fn shutdown_flags_text(bits: u8) -> String {
    let names: Vec<&str> = SHUTDOWN_NAMES
        .iter()
        .filter(|(_, b)| bits & b != 0)
        .map(|(n, _)| *n)
        .collect();
    if names.is_empty() {
        "default".into()
    } else {
        names.join(" ")
    }
}

/// A protected action's setting (`enable-debug-command`...): `no`, `yes`
/// or `local`, lower-cased, with Redis's error text.
fn no_yes_local(v: &str) -> Result<String, String> {
    let v = v.to_ascii_lowercase();
    if !matches!(v.as_str(), "no" | "yes" | "local") {
        return Err("argument(s) must be one of the following: no, yes, local".into());
    }
    Ok(v)
}

pub(super) fn yes_no(v: &str) -> Result<bool, String> {
    match v.to_ascii_lowercase().as_str() {
        "yes" => Ok(true),
        "no" => Ok(false),
        _ => Err("argument must be 'yes' or 'no'".into()),
    }
}

/// Redis's `memtoull`: a byte count with an optional unit
/// (`k`=1000, `kb`=1024, `m`, `mb`, `g`, `gb`; case-insensitive).
pub fn parse_memory(v: &str) -> Result<u64, String> {
    let lower = v.to_ascii_lowercase();
    let split = lower
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(lower.len());
    let (digits, unit) = lower.split_at(split);
    let mul: u64 = match unit {
        "" | "b" => 1,
        "k" => 1000,
        "kb" => 1024,
        "m" => 1000 * 1000,
        "mb" => 1024 * 1024,
        "g" => 1000 * 1000 * 1000,
        "gb" => 1024 * 1024 * 1024,
        _ => return Err("argument must be a memory value".into()),
    };
    digits
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(mul))
        .ok_or_else(|| "argument must be a memory value".into())
}

fn set_output_limits(c: &mut Config, v: &[String]) -> Result<(), String> {
    // Values come as one string ("normal 0 0 0 pubsub 32mb 8mb 60") or as
    // separate words; normalise to words.
    let words: Vec<String> = v
        .iter()
        .flat_map(|s| s.split_whitespace().map(str::to_string))
        .collect();
    // None at all changes nothing (Redis's check is the multiple of 4).
    if words.len() % 4 != 0 {
        return Err("Wrong number of arguments in buffer limit configuration.".into());
    }
    let mut limits = c.output_limits;
    for chunk in words.chunks(4) {
        let limit = OutputLimit {
            hard: parse_memory(&chunk[1]).map_err(|_| {
                "Error in hard, soft or soft_seconds setting in buffer limit configuration."
            })?,
            soft: parse_memory(&chunk[2]).map_err(|_| {
                "Error in hard, soft or soft_seconds setting in buffer limit configuration."
            })?,
            soft_secs: chunk[3].parse().map_err(|_| {
                "Error in hard, soft or soft_seconds setting in buffer limit configuration."
            })?,
        };
        match chunk[0].to_ascii_lowercase().as_str() {
            "normal" => limits.normal = limit,
            "replica" | "slave" => limits.replica = limit,
            "pubsub" => limits.pubsub = limit,
            _ => {
                return Err("Invalid client class specified in buffer limit configuration.".into())
            }
        }
    }
    c.output_limits = limits;
    Ok(())
}

fn fmt_limit(l: &OutputLimit) -> String {
    format!("{} {} {}", l.hard, l.soft, l.soft_secs)
}

/// Accept only the value of a Redis feature FlashKV does not have that
/// means "off".
/// An I/O error as Redis words it (`strerror`).
fn io_reason(e: &std::io::Error) -> &'static str {
    match e.kind() {
        std::io::ErrorKind::NotFound => "No such file or directory",
        std::io::ErrorKind::PermissionDenied => "Permission denied",
        _ => "Input/output error",
    }
}

pub(super) fn only(name: &str, off: &str, v: &str) -> Result<(), String> {
    if v.eq_ignore_ascii_case(off) {
        Ok(())
    } else {
        Err(format!("'{name} {v}' is not supported: FlashKV has no such feature, only '{name} {off:?}' is accepted"))
    }
}

macro_rules! directive {
    // A yes/no directive stored in one `bool` field.
    ($name:literal, flag: $($field:ident).+, mutable: $m:expr) => {
        Directive {
            name: $name,
            argc: Exactly(1),
            set: |c, v| {
                c.$($field).+ = yes_no(&v[0])?;
                Ok(())
            },
            get: Some(|c| yes_no_text(c.$($field).+)),
            mutable: $m,
        }
    };
    ($name:literal, $argc:expr, mutable: $m:expr, set: $set:expr, get: $get:expr) => {
        Directive {
            name: $name,
            argc: $argc,
            set: $set,
            get: $get,
            mutable: $m,
        }
    };
}

/// Every directive FlashKV understands.
pub static DIRECTIVES: &[Directive] = &[
    directive!("bind", Any, mutable: false,
        set: |c, v| { c.bind = v.iter().flat_map(|s| s.split_whitespace().map(str::to_string)).collect(); Ok(()) },
        get: Some(|c| c.bind.join(" "))),
    directive!("port", Exactly(1), mutable: true,
        set: |c, v| { c.port = int_in(&v[0], 0, 65535)? as u16; Ok(()) },
        get: Some(|c| c.port.to_string())),
    directive!("backend", Exactly(1), mutable: false,
        set: |c, v| { c.backend = BackendKind::from_name(&v[0]).ok_or_else(|| format!("must be one of {}", BackendKind::names()))?; Ok(()) },
        get: Some(|c| c.backend.name().into())),
    directive!("worker-threads", Exactly(1), mutable: false,
        set: |c, v| { c.worker_threads = int_in(&v[0], 0, 1024)? as usize; Ok(()) },
        get: Some(|c| c.worker_threads.to_string())),
    directive!("databases", Exactly(1), mutable: false,
        set: |c, v| { c.databases = int_in(&v[0], 1, i64::from(i32::MAX))? as usize; Ok(()) },
        get: Some(|c| c.databases.to_string())),
    directive!("maxclients", Exactly(1), mutable: true,
        set: |c, v| { c.maxclients = int_in(&v[0], 1, i64::from(u32::MAX))? as usize; Ok(()) },
        get: Some(|c| c.maxclients.to_string())),
    directive!("timeout", Exactly(1), mutable: true,
        set: |c, v| { c.timeout = int_in(&v[0], 0, i64::from(i32::MAX))? as u64; Ok(()) },
        get: Some(|c| c.timeout.to_string())),
    directive!("tcp-keepalive", Exactly(1), mutable: true,
        set: |c, v| { c.tcp_keepalive = int_in(&v[0], 0, i64::from(i32::MAX))? as u64; Ok(()) },
        get: Some(|c| c.tcp_keepalive.to_string())),
    directive!("tcp-backlog", Exactly(1), mutable: false,
        set: |c, v| { c.tcp_backlog = int_in(&v[0], 0, i64::from(i32::MAX))? as u32; Ok(()) },
        get: Some(|c| c.tcp_backlog.to_string())),
    directive!("proto-max-bulk-len", Exactly(1), mutable: true,
        set: |c, v| {
            let n = parse_memory(&v[0])?;
            if n < 1024 * 1024 { return Err("argument must be between 1048576 and 9223372036854775807 inclusive".into()); }
            c.proto_max_bulk_len = n; Ok(())
        },
        get: Some(|c| c.proto_max_bulk_len.to_string())),
    directive!("maxmemory-clients", Exactly(1), mutable: true,
        set: |c, v| { c.maxmemory_clients = ClientsLimit::parse(&v[0])?; Ok(()) },
        get: Some(|c| c.maxmemory_clients.text())),
    directive!("client-query-buffer-limit", Exactly(1), mutable: true,
        set: |c, v| {
            let n = parse_memory(&v[0])?;
            if n < MIN_QUERY_BUFFER_LIMIT { return Err("argument must be between 1048576 and 9223372036854775807 inclusive".into()); }
            c.client_query_buffer_limit = n; Ok(())
        },
        get: Some(|c| c.client_query_buffer_limit.to_string())),
    directive!("requirepass", Exactly(1), mutable: true,
        set: |c, v| { c.requirepass = v[0].clone(); Ok(()) },
        get: Some(|c| c.requirepass.clone())),
    directive!("protected-mode", flag: protected_mode, mutable: true),
    directive!("hash-max-listpack-entries", Exactly(1), mutable: true,
        set: |c, v| { c.encodings.hash_max_listpack_entries = int_in(&v[0], 0, i64::MAX)? as usize; Ok(()) },
        get: Some(|c| c.encodings.hash_max_listpack_entries.to_string())),
    directive!("hash-max-ziplist-entries", Exactly(1), mutable: true,
        set: |c, v| { c.encodings.hash_max_listpack_entries = int_in(&v[0], 0, i64::MAX)? as usize; Ok(()) },
        get: Some(|c| c.encodings.hash_max_listpack_entries.to_string())),
    directive!("hash-max-listpack-value", Exactly(1), mutable: true,
        set: |c, v| { c.encodings.hash_max_listpack_value = int_in(&v[0], 0, i64::MAX)? as usize; Ok(()) },
        get: Some(|c| c.encodings.hash_max_listpack_value.to_string())),
    directive!("hash-max-ziplist-value", Exactly(1), mutable: true,
        set: |c, v| { c.encodings.hash_max_listpack_value = int_in(&v[0], 0, i64::MAX)? as usize; Ok(()) },
        get: Some(|c| c.encodings.hash_max_listpack_value.to_string())),
    directive!("maxmemory", Exactly(1), mutable: true,
        set: |c, v| { c.memory.maxmemory = parse_memory(&v[0])?; Ok(()) },
        get: Some(|c| c.memory.maxmemory.to_string())),
    directive!("maxmemory-policy", Exactly(1), mutable: true,
        set: |c, v| {
            c.memory.policy = EvictionPolicy::parse(&v[0]).ok_or_else(|| {
                let names: Vec<&str> = EvictionPolicy::ALL.iter().map(|(n, _)| *n).collect();
                format!("argument(s) must be one of the following: {}", names.join(", "))
            })?;
            Ok(())
        },
        get: Some(|c| c.memory.policy.name().into())),
    directive!("maxmemory-samples", Exactly(1), mutable: true,
        set: |c, v| { c.memory.samples = int_in(&v[0], 1, i64::from(i32::MAX))?.min(64) as usize; Ok(()) },
        get: Some(|c| c.memory.samples.to_string())),
    directive!("maxmemory-eviction-tenacity", Exactly(1), mutable: true,
        set: |c, v| { c.memory.tenacity = int_in(&v[0], 0, 100)? as u32; Ok(()) },
        get: Some(|c| c.memory.tenacity.to_string())),
    directive!("lfu-log-factor", Exactly(1), mutable: true,
        set: |c, v| { c.memory.lfu_log_factor = int_in(&v[0], 0, i64::from(i32::MAX))? as u32; Ok(()) },
        get: Some(|c| c.memory.lfu_log_factor.to_string())),
    directive!("lfu-decay-time", Exactly(1), mutable: true,
        set: |c, v| { c.memory.lfu_decay_time = int_in(&v[0], 0, i64::from(i32::MAX))? as u32; Ok(()) },
        get: Some(|c| c.memory.lfu_decay_time.to_string())),
    directive!("hll-sparse-max-bytes", Exactly(1), mutable: true,
        set: |c, v| { c.encodings.hll_sparse_max_bytes = int_in(&v[0], 0, i64::MAX)? as usize; Ok(()) },
        get: Some(|c| c.encodings.hll_sparse_max_bytes.to_string())),
    directive!("set-max-intset-entries", Exactly(1), mutable: true,
        set: |c, v| { c.encodings.set_max_intset_entries = int_in(&v[0], 0, i64::MAX)? as usize; Ok(()) },
        get: Some(|c| c.encodings.set_max_intset_entries.to_string())),
    directive!("list-max-listpack-size", Exactly(1), mutable: true,
        set: |c, v| { c.encodings.list_max_listpack_size = int_in(&v[0], i64::from(i32::MIN), i64::from(i32::MAX))?; Ok(()) },
        get: Some(|c| c.encodings.list_max_listpack_size.to_string())),
    directive!("list-max-ziplist-size", Exactly(1), mutable: true,
        set: |c, v| { c.encodings.list_max_listpack_size = int_in(&v[0], i64::from(i32::MIN), i64::from(i32::MAX))?; Ok(()) },
        get: Some(|c| c.encodings.list_max_listpack_size.to_string())),
    directive!("list-compress-depth", Exactly(1), mutable: true,
        set: |c, v| { c.encodings.list_compress_depth = int_in(&v[0], 0, i64::from(i32::MAX))?; Ok(()) },
        get: Some(|c| c.encodings.list_compress_depth.to_string())),
    directive!("zset-max-listpack-entries", Exactly(1), mutable: true,
        set: |c, v| { c.encodings.zset_max_listpack_entries = int_in(&v[0], 0, i64::MAX)? as usize; Ok(()) },
        get: Some(|c| c.encodings.zset_max_listpack_entries.to_string())),
    directive!("zset-max-ziplist-entries", Exactly(1), mutable: true,
        set: |c, v| { c.encodings.zset_max_listpack_entries = int_in(&v[0], 0, i64::MAX)? as usize; Ok(()) },
        get: Some(|c| c.encodings.zset_max_listpack_entries.to_string())),
    directive!("zset-max-listpack-value", Exactly(1), mutable: true,
        set: |c, v| { c.encodings.zset_max_listpack_value = int_in(&v[0], 0, i64::MAX)? as usize; Ok(()) },
        get: Some(|c| c.encodings.zset_max_listpack_value.to_string())),
    directive!("zset-max-ziplist-value", Exactly(1), mutable: true,
        set: |c, v| { c.encodings.zset_max_listpack_value = int_in(&v[0], 0, i64::MAX)? as usize; Ok(()) },
        get: Some(|c| c.encodings.zset_max_listpack_value.to_string())),
    directive!("hz", Exactly(1), mutable: true,
        set: |c, v| { c.expiry.hz = int_in(&v[0], i64::MIN, i64::MAX)?.clamp(1, 500) as u32; Ok(()) },
        get: Some(|c| c.expiry.hz.to_string())),
    directive!("active-expire-effort", Exactly(1), mutable: true,
        set: |c, v| { c.expiry.effort = int_in(&v[0], 1, 10)? as u32; Ok(()) },
        get: Some(|c| c.expiry.effort.to_string())),
    directive!("loglevel", Exactly(1), mutable: true,
        set: |c, v| {
            c.loglevel = match v[0].to_ascii_lowercase().as_str() {
                "debug" => LogLevel::Debug, "verbose" => LogLevel::Verbose,
                "notice" => LogLevel::Notice, "warning" => LogLevel::Warning,
                _ => return Err("argument(s) must be one of the following: debug, verbose, notice, warning".into()),
            };
            Ok(())
        },
        get: Some(|c| c.loglevel.name().into())),
    directive!("logfile", Exactly(1), mutable: false,
        set: |c, v| { c.logfile = v[0].clone(); Ok(()) },
        get: Some(|c| c.logfile.clone())),
    directive!("rename-command", Exactly(2), mutable: false,
        set: |c, v| { c.rename_commands.push((v[0].clone(), v[1].clone())); Ok(()) },
        get: None),
    directive!("client-output-buffer-limit", Any, mutable: true,
    set: set_output_limits,
    get: Some(|c| {
        let l = &c.output_limits;
        format!("normal {} slave {} pubsub {}", fmt_limit(&l.normal), fmt_limit(&l.replica), fmt_limit(&l.pubsub))
    })),
    directive!("notify-keyspace-events", Exactly(1), mutable: true,
        set: |c, v| {
            c.notify_keyspace_events = crate::db::events::parse_classes(&v[0])
                .ok_or("Invalid event class character. Use 'Ag$lshzxeKEtmdn'.")?;
            Ok(())
        },
        get: Some(|c| crate::db::events::format_classes(c.notify_keyspace_events))),
    directive!("busy-reply-threshold", Exactly(1), mutable: true,
        set: |c, v| { c.busy_reply_threshold = int_in(&v[0], 0, i64::MAX)? as u64; Ok(()) },
        get: Some(|c| c.busy_reply_threshold.to_string())),
    directive!("lua-time-limit", Exactly(1), mutable: true,
        set: |c, v| { c.busy_reply_threshold = int_in(&v[0], 0, i64::MAX)? as u64; Ok(()) },
        get: Some(|c| c.busy_reply_threshold.to_string())),
    directive!("min-replicas-to-write", Exactly(1), mutable: true,
        set: |c, v| { c.min_replicas_to_write = int_in(&v[0], 0, i32::MAX as i64)? as u64; Ok(()) },
        get: Some(|c| c.min_replicas_to_write.to_string())),
    // FlashKV is never a replica (REPLICAOF accepts only NO ONE): CONFIG
    // GET answers Redis's value for a master, empty; CONFIG SET refuses as
    // Redis does (it is changed by REPLICAOF only), and a configuration
    // that names a master fails to load rather than start a master.
    directive!("replicaof", Exactly(2), mutable: false,
        set: |_, v| refuse_master(v),
        get: Some(|_| String::new())),
    directive!("slaveof", Exactly(2), mutable: false,
        set: |_, v| refuse_master(v),
        get: Some(|_| String::new())),
    directive!("min-slaves-to-write", Exactly(1), mutable: true,
        set: |c, v| { c.min_replicas_to_write = int_in(&v[0], 0, i32::MAX as i64)? as u64; Ok(()) },
        get: Some(|c| c.min_replicas_to_write.to_string())),
    directive!("min-replicas-max-lag", Exactly(1), mutable: true,
        set: |c, v| { c.min_replicas_max_lag = int_in(&v[0], 0, i32::MAX as i64)? as u64; Ok(()) },
        get: Some(|c| c.min_replicas_max_lag.to_string())),
    directive!("min-slaves-max-lag", Exactly(1), mutable: true,
        set: |c, v| { c.min_replicas_max_lag = int_in(&v[0], 0, i32::MAX as i64)? as u64; Ok(()) },
        get: Some(|c| c.min_replicas_max_lag.to_string())),
    directive!("slowlog-log-slower-than", Exactly(1), mutable: true,
        set: |c, v| { c.slowlog_log_slower_than = int_in(&v[0], -1, i64::MAX)?; Ok(()) },
        get: Some(|c| c.slowlog_log_slower_than.to_string())),
    directive!("slowlog-max-len", Exactly(1), mutable: true,
        set: |c, v| { c.slowlog_max_len = int_in(&v[0], 0, i64::MAX)? as usize; Ok(()) },
        get: Some(|c| c.slowlog_max_len.to_string())),
    directive!("latency-monitor-threshold", Exactly(1), mutable: true,
        set: |c, v| { c.latency_monitor_threshold = int_in(&v[0], 0, i64::MAX)? as u64; Ok(()) },
        get: Some(|c| c.latency_monitor_threshold.to_string())),
    directive!("latency-tracking", flag: latency_tracking, mutable: true),
    directive!("latency-tracking-info-percentiles", Any, mutable: true,
        set: |c, v| {
            let mut ps = Vec::new();
            for p in v.iter().flat_map(|s| s.split_whitespace()) {
                let p: f64 = p.parse().map_err(|_| "Invalid latency-tracking-info-percentiles parameters")?;
                if !(0.0..=100.0).contains(&p) {
                    return Err("latency-tracking-info-percentiles parameters should sit between [0.0,100.0]".into());
                }
                ps.push(p);
            }
            c.latency_percentiles = ps;
            Ok(())
        },
        get: Some(|c| c.latency_percentiles.iter().map(|p| format!("{p}")).collect::<Vec<_>>().join(" "))),
    directive!("tracking-table-max-keys", Exactly(1), mutable: true,
        set: |c, v| { c.tracking_table_max_keys = int_in(&v[0], 0, i64::MAX)? as usize; Ok(()) },
        get: Some(|c| c.tracking_table_max_keys.to_string())),
    directive!("save", Any, mutable: true,
        set: |c, v| {
            let words: Vec<&str> = v.iter().flat_map(|s| s.split_whitespace()).collect();
            if words.len() % 2 != 0 {
                return Err("Invalid save parameters".into());
            }
            let mut points = Vec::new();
            for pair in words.chunks(2) {
                let secs: u64 = pair[0].parse().map_err(|_| "Invalid save parameters")?;
                let changes: u64 = pair[1].parse().map_err(|_| "Invalid save parameters")?;
                points.push((secs, changes));
            }
            c.save = points;
            Ok(())
        },
        get: Some(|c| c.save.iter().map(|(s, n)| format!("{s} {n}")).collect::<Vec<_>>().join(" "))),
    directive!("dir", Exactly(1), mutable: true,
    set: |c, v| {
        let path = std::path::Path::new(&v[0]);
        let abs = std::fs::canonicalize(path).map_err(|e| io_reason(&e).to_string())?;
        if !abs.is_dir() {
            return Err("Not a directory".into());
        }
        c.dir = abs.display().to_string();
        Ok(())
    },
    get: Some(|c| if c.dir.is_empty() {
        std::env::current_dir().map(|d| d.display().to_string()).unwrap_or_default()
    } else {
        c.dir.clone()
    })),
    directive!("dbfilename", Exactly(1), mutable: true,
        set: |c, v| {
            if v[0].contains('/') {
                return Err("dbfilename can't be a path, just a filename".into());
            }
            c.dbfilename = v[0].clone();
            Ok(())
        },
        get: Some(|c| c.dbfilename.clone())),
    directive!("rdbcompression", flag: rdbcompression, mutable: true),
    directive!("rdb-key-save-delay", Exactly(1), mutable: true,
        set: |c, v| { c.rdb_key_save_delay = int_in(&v[0], i64::from(i32::MIN), i64::from(i32::MAX))?; Ok(()) },
        get: Some(|c| c.rdb_key_save_delay.to_string())),
    directive!("key-load-delay", Exactly(1), mutable: true,
        set: |c, v| { c.key_load_delay = int_in(&v[0], i64::from(i32::MIN), i64::from(i32::MAX))?; Ok(()) },
        get: Some(|c| c.key_load_delay.to_string())),
    directive!("rdbchecksum", flag: rdbchecksum, mutable: false),
    directive!("enable-protected-configs", Exactly(1), mutable: false,
        set: |c, v| { c.enable_protected_configs = no_yes_local(&v[0])?; Ok(()) },
        get: Some(|c| c.enable_protected_configs.clone())),
    directive!("enable-debug-command", Exactly(1), mutable: false,
        set: |c, v| { c.enable_debug_command = no_yes_local(&v[0])?; Ok(()) },
        get: Some(|c| c.enable_debug_command.clone())),
    directive!("enable-module-command", Exactly(1), mutable: false,
        set: |c, v| { c.enable_module_command = no_yes_local(&v[0])?; Ok(()) },
        get: Some(|c| c.enable_module_command.clone())),
    directive!("shutdown-on-sigint", Any, mutable: true,
        set: |c, v| { c.shutdown_on_sigint = shutdown_flags(v)?; Ok(()) },
        get: Some(|c| shutdown_flags_text(c.shutdown_on_sigint))),
    directive!("shutdown-on-sigterm", Any, mutable: true,
        set: |c, v| { c.shutdown_on_sigterm = shutdown_flags(v)?; Ok(()) },
        get: Some(|c| shutdown_flags_text(c.shutdown_on_sigterm))),
    directive!("pidfile", Exactly(1), mutable: false,
        set: |c, v| { c.pidfile = v[0].clone(); Ok(()) },
        get: Some(|c| c.pidfile.clone())),
    directive!("stop-writes-on-bgsave-error", flag: stop_writes_on_bgsave_error, mutable: true),
    directive!("cluster-enabled", flag: cluster.enabled, mutable: false),
    directive!("cluster-config-file", Exactly(1), mutable: false,
        set: |c, v| { c.cluster.config_file = v[0].clone(); Ok(()) },
        get: Some(|c| c.cluster.config_file.clone())),
    directive!("cluster-node-timeout", Exactly(1), mutable: true,
        set: |c, v| { c.cluster.node_timeout = int_in(&v[0], 0, i64::MAX)? as u64; Ok(()) },
        get: Some(|c| c.cluster.node_timeout.to_string())),
    directive!("cluster-port", Exactly(1), mutable: false,
        set: |c, v| { c.cluster.port = int_in(&v[0], 0, 65535)? as u16; Ok(()) },
        get: Some(|c| c.cluster.port.to_string())),
    directive!("cluster-require-full-coverage", flag: cluster.require_full_coverage, mutable: true),
    directive!("cluster-allow-reads-when-down", flag: cluster.allow_reads_when_down, mutable: true),
    directive!("cluster-announce-ip", Exactly(1), mutable: true,
        set: |c, v| { c.cluster.announce_ip = v[0].clone(); Ok(()) },
        get: Some(|c| c.cluster.announce_ip.clone())),
    directive!("appendonly", flag: aof.enabled, mutable: true),
    directive!("appendfsync", Exactly(1), mutable: true,
        set: |c, v| {
            c.aof.fsync = match v[0].to_ascii_lowercase().as_str() {
                "always" => Fsync::Always,
                "everysec" => Fsync::EverySec,
                "no" => Fsync::No,
                _ => return Err("argument(s) must be one of the following: always, everysec, no".into()),
            };
            Ok(())
        },
        get: Some(|c| match c.aof.fsync {
            Fsync::Always => "always",
            Fsync::EverySec => "everysec",
            Fsync::No => "no",
        }.into())),
    directive!("appendfilename", Exactly(1), mutable: false,
        set: |c, v| {
            if v[0].contains('/') {
                return Err("appendfilename can't be a path, just a filename".into());
            }
            c.aof.filename = v[0].clone();
            Ok(())
        },
        get: Some(|c| c.aof.filename.clone())),
    directive!("appenddirname", Exactly(1), mutable: false,
        set: |c, v| {
            if v[0].contains('/') {
                return Err("appenddirname can't be a path, just a dirname".into());
            }
            c.aof.dirname = v[0].clone();
            Ok(())
        },
        get: Some(|c| c.aof.dirname.clone())),
    directive!("auto-aof-rewrite-percentage", Exactly(1), mutable: true,
        set: |c, v| { c.aof.auto_percentage = int_in(&v[0], 0, i64::from(i32::MAX))? as u64; Ok(()) },
        get: Some(|c| c.aof.auto_percentage.to_string())),
    directive!("auto-aof-rewrite-min-size", Exactly(1), mutable: true,
        set: |c, v| { c.aof.auto_min_size = parse_memory(&v[0])?; Ok(()) },
        get: Some(|c| c.aof.auto_min_size.to_string())),
    directive!("aof-load-truncated", flag: aof.load_truncated, mutable: true),
    directive!("aof-use-rdb-preamble", flag: aof.use_rdb_preamble, mutable: true),
    directive!("aof-rewrite-incremental-fsync", flag: aof.incremental_fsync, mutable: true),
    directive!("no-appendfsync-on-rewrite", flag: aof.no_fsync_on_rewrite, mutable: true),
    directive!("aof-timestamp-enabled", flag: aof.timestamps, mutable: true),
    directive!("daemonize", Exactly(1), mutable: false,
        set: |_, v| only("daemonize", "no", &v[0]),
        get: Some(|_| "no".into())),
];

/// Every directive: FlashKV's own, then the inert Redis parameters.
pub fn all() -> impl Iterator<Item = &'static Directive> {
    DIRECTIVES.iter().chain(super::inert::INERT)
}

pub(super) fn directive(name: &str) -> Option<&'static Directive> {
    all().find(|d| d.name.eq_ignore_ascii_case(name))
}
