//! The text INFO returns: every section and field Redis 7.0 prints, in its
//! order, so that tools parsing INFO find what they look for.
//!
//! Fields FlashKV has a concept for carry real values (clients, commands,
//! errors, keyspace hits, pub/sub, tracking, rates, CPU, memory as the
//! operating system sees it). Fields for features it does not have
//! (replication, RDB/AOF until persistence lands, Lua until scripting
//! does, active defrag) carry the values a Redis with those features idle
//! prints. `flashkv_version` and `flashkv_backend` say what is really
//! answering.

use std::fmt::Write as _;
use std::sync::atomic::Ordering;

use bytes::Bytes;
use store_api::Store;

use super::Ctx;
use crate::util::sys;
use crate::REDIS_VERSION;

/// The sections, in Redis's order; `true` when part of the default set.
const SECTIONS: &[(&str, bool)] = &[
    ("server", true),
    ("clients", true),
    ("memory", true),
    ("persistence", true),
    ("stats", true),
    ("replication", true),
    ("cpu", true),
    ("modules", true),
    ("commandstats", false),
    ("errorstats", true),
    ("latencystats", false),
    ("cluster", true),
    ("keyspace", true),
];

/// Render INFO for `requested` sections (none: the default set; `all`,
/// `everything`, `default` as in Redis; unknown names add nothing).
pub fn render<S: Store>(ctx: &Ctx<'_, S>, requested: &[Bytes]) -> String {
    let wanted: Vec<String> = requested
        .iter()
        .map(|s| String::from_utf8_lossy(s).to_ascii_lowercase())
        .collect();
    let has = |w: &str| wanted.iter().any(|x| x == w);
    let everything = has("all") || has("everything");
    let default = wanted.is_empty() || has("default");
    let mut out = String::new();
    for (section, in_default) in SECTIONS {
        if !(everything || (default && *in_default) || has(section)) {
            continue;
        }
        if !out.is_empty() {
            out.push_str("\r\n");
        }
        out.push_str(&section_body(ctx, section));
    }
    out
}

fn title(section: &str) -> String {
    match section {
        "cpu" => "CPU".into(),
        other => format!("{}{}", other[..1].to_ascii_uppercase(), &other[1..]),
    }
}

fn section_body<S: Store>(ctx: &Ctx<'_, S>, section: &str) -> String {
    let mut s = format!("# {}\r\n", title(section));
    let mut kv = |k: &str, v: &dyn std::fmt::Display| {
        let _ = write!(s, "{k}:{v}\r\n");
    };
    let state = ctx.state;
    let config = ctx.config;
    match section {
        "server" => {
            let uptime = state.started.elapsed().as_secs();
            kv("redis_version", &REDIS_VERSION);
            kv("redis_git_sha1", &"00000000");
            kv("redis_git_dirty", &0);
            kv("redis_build_id", &"0");
            kv(
                "redis_mode",
                &if state.cluster.enabled {
                    "cluster"
                } else {
                    "standalone"
                },
            );
            kv("os", &sys::os_line());
            kv("arch_bits", &usize::BITS);
            kv("monotonic_clock", &"POSIX clock_gettime");
            kv("multiplexing_api", &"epoll");
            kv("atomicvar_api", &"c11-builtin");
            kv("gcc_version", &"0.0.0");
            kv("process_id", &std::process::id());
            kv("process_supervised", &"no");
            kv("run_id", &state.run_id);
            kv("tcp_port", &state.listen.port());
            kv("server_time_usec", &(ctx.now * 1000));
            kv("uptime_in_seconds", &uptime);
            kv("uptime_in_days", &(uptime / 86_400));
            kv("hz", &config.expiry.hz);
            kv("configured_hz", &config.expiry.hz);
            kv("lru_clock", &((ctx.now / 1000) & ((1 << 24) - 1)));
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
            let clients = state.clients.snapshot();
            kv("connected_clients", &clients.len());
            let links = state.cluster.enabled.then(|| {
                let t = state.cluster.view();
                t.live()
                    .map(|(_, n)| usize::from(n.linked) + usize::from(n.inbound_since != 0))
                    .sum::<usize>()
            });
            kv("cluster_connections", &links.unwrap_or(0));
            kv("maxclients", &config.maxclients);
            kv(
                "client_recent_max_input_buffer",
                &clients.iter().map(|c| c.qbuf()).max().unwrap_or(0),
            );
            kv(
                "client_recent_max_output_buffer",
                &clients.iter().map(|c| c.omem_reported()).max().unwrap_or(0),
            );
            kv("blocked_clients", &state.clients.blocked_count());
            kv("tracking_clients", &state.tracking.clients());
            kv("clients_in_timeout_table", &state.clients.blocked_count());
        }
        "memory" => memory(ctx, &mut kv),
        "persistence" => {
            let loading = state.db.loading();
            kv("loading", &u8::from(loading.active()));
            for (k, v) in [
                ("async_loading", "0"),
                ("current_cow_peak", "0"),
                ("current_cow_size", "0"),
                ("current_cow_size_age", "0"),
                ("current_fork_perc", "0.00"),
                ("current_save_keys_processed", "0"),
                ("current_save_keys_total", "0"),
            ] {
                kv(k, &v);
            }
            for (k, v) in state.persist.info(&state.db) {
                kv(k, &v);
            }
            for (k, v) in state.aof.info(&state.db, ctx.config) {
                kv(k, &v);
            }
            if loading.active() {
                for (k, v) in loading.info(crate::util::unix_secs()) {
                    kv(k, &v);
                }
            }
        }
        "stats" => stats(ctx, &mut kv),
        "replication" => {
            for (k, v) in super::replication::info_fields(ctx) {
                kv(&k, &v);
            }
            kv("master_failover_state", &"no-failover");
            kv("master_replid", &state.run_id);
            kv(
                "master_replid2",
                &"0000000000000000000000000000000000000000",
            );
            kv("master_repl_offset", &state.db.journal().repl_offset());
            kv("second_repl_offset", &-1);
            kv("repl_backlog_active", &0);
            kv("repl_backlog_size", &1_048_576);
            kv("repl_backlog_first_byte_offset", &0);
            kv("repl_backlog_histlen", &0);
        }
        "cpu" => {
            let (user, sys) = sys::cpu_seconds();
            kv("used_cpu_sys", &format!("{sys:.6}"));
            kv("used_cpu_user", &format!("{user:.6}"));
            kv("used_cpu_sys_children", &"0.000000");
            kv("used_cpu_user_children", &"0.000000");
            kv("used_cpu_sys_main_thread", &format!("{sys:.6}"));
            kv("used_cpu_user_main_thread", &format!("{user:.6}"));
        }
        "commandstats" => {
            for (name, id) in ctx.commands.ids() {
                let Some(c) = state.stats.command(id) else {
                    continue;
                };
                let calls = c.calls;
                let rejected = c.rejected;
                let failed = c.failed;
                if calls + rejected + failed == 0 {
                    continue;
                }
                let usec = c.nanos / 1000;
                let per_call = if calls == 0 {
                    0.0
                } else {
                    usec as f64 / calls as f64
                };
                kv(
                    &format!("cmdstat_{name}"),
                    &format!(
                        "calls={calls},usec={usec},usec_per_call={per_call:.2},rejected_calls={rejected},failed_calls={failed}"
                    ),
                );
            }
        }
        "errorstats" => {
            for (code, n) in state.stats.errors() {
                kv(&format!("errorstat_{code}"), &format!("count={n}"));
            }
        }
        "latencystats" if config.latency_tracking => {
            for (name, id) in ctx.commands.ids() {
                let Some(p) = state.stats.percentiles(id, &config.latency_percentiles) else {
                    continue;
                };
                let parts: Vec<String> = config
                    .latency_percentiles
                    .iter()
                    .zip(p)
                    .map(|(q, v)| format!("p{q}={v:.3}"))
                    .collect();
                kv(
                    &format!("latency_percentiles_usec_{name}"),
                    &parts.join(","),
                );
            }
        }
        "cluster" => kv("cluster_enabled", &u8::from(state.cluster.enabled)),
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
    s
}

fn memory<S: Store>(ctx: &Ctx<'_, S>, kv: &mut dyn FnMut(&str, &dyn std::fmt::Display)) {
    let m = MemoryFigures::now(ctx);
    let peak = m.peak;
    let total = sys::total_memory();
    let pct = percent;
    let ratio = |a: u64, b: u64| format!("{:.2}", ratio(a, b));
    let diff = |a: u64, b: u64| a as i64 - b as i64;
    kv("used_memory", &m.used);
    kv("used_memory_human", &human(m.used));
    kv("used_memory_rss", &m.rss);
    kv("used_memory_rss_human", &human(m.rss));
    kv("used_memory_peak", &peak);
    kv("used_memory_peak_human", &human(peak));
    kv(
        "used_memory_peak_perc",
        &format!("{:.2}%", pct(m.used, peak)),
    );
    kv("used_memory_overhead", &m.overhead);
    kv("used_memory_startup", &m.startup);
    kv("used_memory_dataset", &m.dataset());
    kv(
        "used_memory_dataset_perc",
        &format!("{:.2}%", pct(m.dataset(), m.used.saturating_sub(m.startup))),
    );
    let a = m.allocator;
    kv("allocator_allocated", &a.allocated);
    kv("allocator_active", &a.active);
    kv("allocator_resident", &a.resident);
    kv("total_system_memory", &total);
    kv("total_system_memory_human", &human(total));
    let (scripts, script_bytes, vm) = ctx.state.scripts.sizes();
    kv("used_memory_lua", &vm);
    kv("used_memory_vm_eval", &vm);
    kv("used_memory_lua_human", &human(vm));
    kv("used_memory_scripts_eval", &script_bytes);
    kv("number_of_cached_scripts", &scripts);
    let (libraries, functions) = ctx.state.scripts.function_counts();
    kv("number_of_functions", &functions);
    kv("number_of_libraries", &libraries);
    kv("used_memory_vm_functions", &0);
    kv("used_memory_vm_total", &vm);
    kv("used_memory_vm_total_human", &human(vm));
    kv("used_memory_functions", &0);
    kv("used_memory_scripts", &script_bytes);
    kv("used_memory_scripts_human", &human(script_bytes));
    let max = ctx.config.memory.maxmemory;
    kv("maxmemory", &max);
    kv("maxmemory_human", &human(max));
    kv("maxmemory_policy", &ctx.config.memory.policy.name());
    kv("allocator_frag_ratio", &ratio(a.active, a.allocated));
    kv("allocator_frag_bytes", &diff(a.active, a.allocated));
    kv("allocator_rss_ratio", &ratio(a.resident, a.active));
    kv("allocator_rss_bytes", &diff(a.resident, a.active));
    kv("rss_overhead_ratio", &ratio(m.rss, a.resident));
    kv("rss_overhead_bytes", &diff(m.rss, a.resident));
    kv("mem_fragmentation_ratio", &ratio(m.rss, m.used));
    kv("mem_fragmentation_bytes", &diff(m.rss, m.used));
    for k in [
        "mem_not_counted_for_evict",
        "mem_replication_backlog",
        "mem_total_replication_buffers",
        "mem_clients_slaves",
    ] {
        kv(k, &0);
    }
    kv("mem_clients_normal", &m.clients);
    kv("mem_cluster_links", &0);
    kv("mem_aof_buffer", &0);
    kv("mem_allocator", &m.allocator_name);
    kv("active_defrag_running", &0);
    kv("lazyfree_pending_objects", &0);
    kv("lazyfreed_objects", &0);
}

/// `a / b`, 0 when `b` is 0 (the memory ratios).
pub(super) fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 {
        0.0
    } else {
        a as f64 / b as f64
    }
}

/// `a` as a percentage of `b`, 0 when `b` is 0.
pub(super) fn percent(a: u64, b: u64) -> f64 {
    ratio(a, b) * 100.0
}

/// The memory figures INFO memory and MEMORY STATS share.
pub(super) struct MemoryFigures {
    /// Bytes the allocator handed out and nobody freed (`used_memory`).
    pub used: u64,
    /// Resident set.
    pub rss: u64,
    /// The most `used` has been (`used_memory_peak`).
    pub peak: u64,
    /// `used_memory` when the server started.
    pub startup: u64,
    /// Client query and output buffers (kept, or in use).
    pub clients: u64,
    /// Startup plus clients: what is not data.
    pub overhead: u64,
    /// The allocator's own view.
    pub allocator: flashkv_alloc::Stats,
    /// `mem_allocator`.
    pub allocator_name: String,
}

impl MemoryFigures {
    pub(super) fn now<S: Store>(ctx: &Ctx<'_, S>) -> MemoryFigures {
        let used = crate::db::evict::used_memory();
        let rss = sys::resident_bytes();
        let (allocator, allocator_name) = if flashkv_alloc::active() {
            (flashkv_alloc::stats(), flashkv_alloc::name())
        } else {
            let s = flashkv_alloc::Stats {
                allocated: rss,
                active: rss,
                resident: rss,
                ..Default::default()
            };
            (s, "libc".to_string())
        };
        let clients: u64 = ctx
            .state
            .clients
            .snapshot()
            .iter()
            .map(|c| c.memory() as u64)
            .sum();
        let startup = ctx.state.memory_at_start.min(used);
        let peak = ctx
            .state
            .memory_peak
            .fetch_max(used, Ordering::Relaxed)
            .max(used);
        MemoryFigures {
            used,
            rss,
            peak,
            startup,
            clients,
            overhead: startup + clients,
            allocator,
            allocator_name,
        }
    }

    /// `used_memory_dataset`: what the keys take.
    pub(super) fn dataset(&self) -> u64 {
        self.used.saturating_sub(self.overhead)
    }
}

fn stats<S: Store>(ctx: &Ctx<'_, S>, kv: &mut dyn FnMut(&str, &dyn std::fmt::Display)) {
    let state = ctx.state;
    let [ops, in_bps, out_bps] = state.rates.per_second();
    let [net_in, net_out, reads, writes] = state.stats.net();
    let (hits, misses) = state.stats.lookups();
    let (tkeys, titems, tprefixes) = state.tracking.totals();
    kv(
        "total_connections_received",
        &state.clients.connections_received.load(Ordering::Relaxed),
    );
    kv("total_commands_processed", &state.clients.total_commands());
    kv("instantaneous_ops_per_sec", &ops);
    kv("total_net_input_bytes", &net_in);
    kv("total_net_output_bytes", &net_out);
    kv("total_net_repl_input_bytes", &0);
    kv("total_net_repl_output_bytes", &0);
    kv(
        "instantaneous_input_kbps",
        &format!("{:.2}", in_bps as f64 / 1024.0),
    );
    kv(
        "instantaneous_output_kbps",
        &format!("{:.2}", out_bps as f64 / 1024.0),
    );
    kv("instantaneous_input_repl_kbps", &"0.00");
    kv("instantaneous_output_repl_kbps", &"0.00");
    kv(
        "rejected_connections",
        &state.clients.rejected.load(Ordering::Relaxed),
    );
    kv("sync_full", &0);
    kv("sync_partial_ok", &0);
    kv("sync_partial_err", &0);
    kv("expired_keys", &state.db.expired_keys());
    kv("expired_stale_perc", &"0.00");
    kv("expired_time_cap_reached_count", &0);
    kv("expire_cycle_cpu_milliseconds", &0);
    kv("evicted_keys", &state.db.evictor().evicted());
    kv(
        "evicted_clients",
        &state.clients.evicted.load(Ordering::Relaxed),
    );
    kv("total_eviction_exceeded_time", &0);
    kv("current_eviction_exceeded_time", &0);
    kv("keyspace_hits", &hits);
    kv("keyspace_misses", &misses);
    kv("pubsub_channels", &state.pubsub.channel_count());
    kv("pubsub_patterns", &state.pubsub.pattern_count());
    kv("pubsubshard_channels", &state.pubsub.shard_channel_count());
    kv("latest_fork_usec", &0);
    kv("total_forks", &0);
    kv("migrate_cached_sockets", &state.migrate.len());
    kv("slave_expires_tracked_keys", &0);
    kv("active_defrag_hits", &0);
    kv("active_defrag_misses", &0);
    kv("active_defrag_key_hits", &0);
    kv("active_defrag_key_misses", &0);
    kv("total_active_defrag_time", &0);
    kv("current_active_defrag_time", &0);
    kv("tracking_total_keys", &tkeys);
    kv("tracking_total_items", &titems);
    kv("tracking_total_prefixes", &tprefixes);
    kv("unexpected_error_replies", &0);
    kv("total_error_replies", &state.stats.total_errors());
    kv("dump_payload_sanitizations", &0);
    kv("total_reads_processed", &reads);
    kv("total_writes_processed", &writes);
    kv("io_threaded_reads_processed", &0);
    kv("io_threaded_writes_processed", &0);
    kv("reply_buffer_shrinks", &0);
    kv("reply_buffer_expands", &0);
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
