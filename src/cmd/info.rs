//! The text INFO returns: Redis's sections and field names.
//!
//! Fields FlashKV has no equivalent for (replication offsets, RDB state) are
//! reported with the values a Redis without those features reports, so
//! tools that parse INFO keep working; `flashkv_version` and
//! `flashkv_backend` say what is really answering.

use std::fmt::Write as _;

use bytes::Bytes;
use store_api::Store;

use super::Ctx;
use crate::REDIS_VERSION;

const DEFAULT: &[&str] = &[
    "server",
    "clients",
    "memory",
    "persistence",
    "stats",
    "replication",
    "cpu",
    "modules",
    "errorstats",
    "cluster",
    "keyspace",
];

/// Render INFO for `requested` sections (none: the default set).
pub fn render<S: Store>(ctx: &Ctx<'_, S>, requested: &[Bytes]) -> String {
    let wanted: Vec<String> = requested
        .iter()
        .map(|s| String::from_utf8_lossy(s).to_ascii_lowercase())
        .collect();
    let all = wanted.is_empty()
        || wanted
            .iter()
            .any(|w| matches!(w.as_str(), "all" | "everything" | "default"));
    let mut out = String::new();
    for section in DEFAULT {
        if !all && !wanted.iter().any(|w| w == section) {
            continue;
        }
        let body = section_body(ctx, section);
        if !out.is_empty() {
            out.push_str("\r\n");
        }
        out.push_str(&body);
    }
    out
}

fn section_body<S: Store>(ctx: &Ctx<'_, S>, section: &str) -> String {
    let mut s = String::new();
    let mut kv = |k: &str, v: &dyn std::fmt::Display| {
        let _ = write!(s, "{k}:{v}\r\n");
    };
    let state = ctx.state;
    let config = state.config();
    match section {
        "server" => {
            let uptime = state.started.elapsed().as_secs();
            kv("redis_version", &REDIS_VERSION);
            kv("redis_git_sha1", &"00000000");
            kv("redis_git_dirty", &0);
            kv("redis_mode", &"standalone");
            kv("os", &std::env::consts::OS);
            kv("arch_bits", &(usize::BITS));
            kv("multiplexing_api", &"epoll");
            kv("process_id", &std::process::id());
            kv("run_id", &state.run_id);
            kv("tcp_port", &state.tcp_port);
            kv("server_time_usec", &(ctx.now * 1000));
            kv("uptime_in_seconds", &uptime);
            kv("uptime_in_days", &(uptime / 86_400));
            kv("hz", &config.expiry.hz);
            kv("configured_hz", &config.expiry.hz);
            kv(
                "executable",
                &std::env::current_exe()
                    .map(|p| p.display().to_string())
                    .unwrap_or_default(),
            );
            kv("config_file", &state.config_file);
            kv("io_threads_active", &0);
            kv("flashkv_version", &env!("CARGO_PKG_VERSION"));
            kv("flashkv_backend", &S::NAME);
        }
        "clients" => {
            kv("connected_clients", &state.clients.len());
            kv("cluster_connections", &0);
            kv("maxclients", &config.maxclients);
            kv("blocked_clients", &state.clients.blocked_count());
            kv("tracking_clients", &0);
            kv("clients_in_timeout_table", &0);
        }
        "memory" => {
            let rss = resident_bytes();
            kv("used_memory", &rss);
            kv("used_memory_human", &human(rss));
            kv("used_memory_rss", &rss);
            kv("used_memory_rss_human", &human(rss));
            kv("maxmemory", &0);
            kv("maxmemory_human", &"0B");
            kv("maxmemory_policy", &"noeviction");
            kv("mem_allocator", &"libc");
        }
        "persistence" => {
            kv("loading", &0);
            kv("async_loading", &0);
            kv("rdb_changes_since_last_save", &0);
            kv("rdb_bgsave_in_progress", &0);
            kv("aof_enabled", &0);
            kv("aof_rewrite_in_progress", &0);
        }
        "stats" => {
            kv(
                "total_connections_received",
                &state
                    .clients
                    .connections_received
                    .load(std::sync::atomic::Ordering::Relaxed),
            );
            kv("total_commands_processed", &state.clients.total_commands());
            kv(
                "rejected_connections",
                &state
                    .clients
                    .rejected
                    .load(std::sync::atomic::Ordering::Relaxed),
            );
            kv("expired_keys", &state.db.expired_keys());
            kv("evicted_keys", &0);
        }
        "replication" => {
            kv("role", &"master");
            kv("connected_slaves", &0);
            kv("master_failover_state", &"no-failover");
            kv("master_replid", &state.run_id);
            kv("master_repl_offset", &0);
        }
        "cpu" => {
            let (user, sys) = cpu_seconds();
            kv("used_cpu_sys", &format!("{sys:.6}"));
            kv("used_cpu_user", &format!("{user:.6}"));
        }
        "keyspace" => {
            for (i, ks) in ctx.databases().iter().enumerate() {
                let keys = ks.len();
                if keys > 0 {
                    let expires = ks.volatile_len().min(keys);
                    let avg_ttl = if expires == 0 { 0 } else { ks.avg_ttl() };
                    kv(
                        &format!("db{i}"),
                        &format!("keys={keys},expires={expires},avg_ttl={avg_ttl}"),
                    );
                }
            }
        }
        _ => {}
    }
    let title = match section {
        "cpu" => "CPU".to_string(),
        "errorstats" => "Errorstats".to_string(),
        other => format!("{}{}", other[..1].to_ascii_uppercase(), &other[1..]),
    };
    format!("# {title}\r\n{s}")
}

/// Redis's `bytesToHuman`.
fn human(n: u64) -> String {
    let n = n as f64;
    const K: f64 = 1024.0;
    if n < K {
        format!("{n}B")
    } else if n < K * K {
        format!("{:.2}K", n / K)
    } else if n < K * K * K {
        format!("{:.2}M", n / (K * K))
    } else {
        format!("{:.2}G", n / (K * K * K))
    }
}

/// Resident set size from /proc (0 where unavailable).
pub fn resident_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map_or(0, |pages| pages * 4096)
}

/// User and system CPU seconds from /proc/self/stat (0 where unavailable).
fn cpu_seconds() -> (f64, f64) {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the parenthesised command name; utime and stime are the
    // 12th and 13th of those, in clock ticks (100 per second on Linux).
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
            / 100.0
    };
    (ticks(11), ticks(12))
}
