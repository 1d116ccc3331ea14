//! The values directives take that are more than a number or a string:
//! the backend, collection encodings, log level, output buffer limits and
//! the append-only file's settings.

macro_rules! backend_kind {
    ([]; $($name:ident $variant:ident $doc:literal $store:ty),* $(,)?) => {
        /// Which concurrent map backs the databases (from the one list in
        /// `crate::backends`).
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub enum BackendKind {
            $(#[doc = $doc] $variant,)*
        }

        impl BackendKind {
            /// Every backend, in the order of the list.
            pub const ALL: &'static [BackendKind] = &[$(BackendKind::$variant),*];

            /// The name used by `--backend` and in reports.
            pub fn name(self) -> &'static str {
                match self {
                    $(BackendKind::$variant => stringify!($name),)*
                }
            }
        }
    };
}
crate::for_each_backend!(backend_kind);

impl Default for BackendKind {
    /// The first backend of the list (rwlock).
    fn default() -> Self {
        BackendKind::ALL[0]
    }
}

impl BackendKind {
    /// The backend `--backend` calls `s` (case-insensitive).
    pub fn from_name(s: &str) -> Option<BackendKind> {
        BackendKind::ALL
            .iter()
            .copied()
            .find(|b| b.name().eq_ignore_ascii_case(s))
    }

    /// The names, as `--backend` takes them: `rwlock, flurry, ...`.
    pub fn names() -> String {
        let names: Vec<&str> = BackendKind::ALL.iter().map(|b| b.name()).collect();
        names.join(", ")
    }
}

/// Redis's encoding thresholds for collections (CONFIG names in the
/// field docs; the old `*-ziplist-*` names are aliases).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Encodings {
    /// `hash-max-listpack-entries`.
    pub hash_max_listpack_entries: usize,
    /// `hash-max-listpack-value`.
    pub hash_max_listpack_value: usize,
    /// `set-max-intset-entries`.
    pub set_max_intset_entries: usize,
    /// `hll-sparse-max-bytes`: a HyperLogLog turns dense beyond it.
    pub hll_sparse_max_bytes: usize,
    /// `list-max-listpack-size`.
    pub list_max_listpack_size: i64,
    /// `list-compress-depth` (accepted and reported; nodes are not
    /// compressed).
    pub list_compress_depth: i64,
    /// `zset-max-listpack-entries`.
    pub zset_max_listpack_entries: usize,
    /// `zset-max-listpack-value`.
    pub zset_max_listpack_value: usize,
}

impl Default for Encodings {
    fn default() -> Self {
        Encodings {
            hash_max_listpack_entries: 512,
            hash_max_listpack_value: 64,
            set_max_intset_entries: 512,
            hll_sparse_max_bytes: 3000,
            list_max_listpack_size: -2,
            list_compress_depth: 0,
            zset_max_listpack_entries: 128,
            zset_max_listpack_value: 64,
        }
    }
}

impl Encodings {
    /// The hash thresholds as the value type takes them.
    pub fn hash(&self) -> store_api::value::HashLimits {
        store_api::value::HashLimits {
            max_entries: self.hash_max_listpack_entries,
            max_value: self.hash_max_listpack_value,
        }
    }
}

/// Log verbosity, with Redis's level names.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LogLevel {
    /// Everything.
    Debug,
    /// Much, but not all.
    Verbose,
    /// What production wants.
    #[default]
    Notice,
    /// Only warnings and errors.
    Warning,
}

impl LogLevel {
    /// Redis's name for the level.
    pub fn name(self) -> &'static str {
        match self {
            LogLevel::Debug => "debug",
            LogLevel::Verbose => "verbose",
            LogLevel::Notice => "notice",
            LogLevel::Warning => "warning",
        }
    }

    /// The equivalent `tracing` filter directive.
    pub fn filter(self) -> &'static str {
        match self {
            LogLevel::Debug => "debug",
            LogLevel::Verbose => "debug",
            LogLevel::Notice => "info",
            LogLevel::Warning => "warn",
        }
    }
}

/// One class of `client-output-buffer-limit`: close a client whose pending
/// output exceeds `hard`, or stays above `soft` for `soft_secs` seconds.
/// Zero disables a limit.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OutputLimit {
    /// Bytes; 0 = none.
    pub hard: u64,
    /// Bytes; 0 = none.
    pub soft: u64,
    /// Seconds above `soft` before closing.
    pub soft_secs: u64,
}

/// `client-output-buffer-limit` for the classes Redis has.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OutputLimits {
    /// Ordinary clients (Redis default: none).
    pub normal: OutputLimit,
    /// Replicas (kept for config compatibility; FlashKV has none).
    pub replica: OutputLimit,
    /// Pub/sub subscribers.
    pub pubsub: OutputLimit,
}

impl Default for OutputLimits {
    fn default() -> Self {
        const MB: u64 = 1024 * 1024;
        OutputLimits {
            normal: OutputLimit::default(),
            replica: OutputLimit {
                hard: 256 * MB,
                soft: 64 * MB,
                soft_secs: 60,
            },
            pubsub: OutputLimit {
                hard: 32 * MB,
                soft: 8 * MB,
                soft_secs: 60,
            },
        }
    }
}

/// `maxmemory-clients`: how much memory all clients together may hold
/// before the largest are disconnected (client eviction). A byte count,
/// or a percentage of `maxmemory`; 0 (either way) is off.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ClientsLimit {
    /// A byte count (0: off).
    #[default]
    Off,
    /// This many bytes.
    Bytes(u64),
    /// This percentage of `maxmemory` (1 to 100).
    Percent(u64),
}

/// Redis never lets client eviction aim below this, so a tiny value cannot
/// cut every connection off (`getClientEvictionLimit`).
pub const MIN_CLIENTS_LIMIT: u64 = 128 * 1024;

impl ClientsLimit {
    /// Parse a byte count (with unit) or `N%` (0 to 100), with Redis's
    /// errors.
    pub fn parse(v: &str) -> Result<ClientsLimit, String> {
        if let Ok(n) = super::parse_memory(v) {
            return Ok(if n == 0 {
                ClientsLimit::Off
            } else {
                ClientsLimit::Bytes(n)
            });
        }
        let percent = v
            .strip_suffix('%')
            .filter(|p| !p.is_empty())
            .and_then(|p| crate::util::numbers::string2ll(p.as_bytes()))
            .filter(|&n| n >= 0);
        match percent {
            Some(n) if n > 100 => Err("percentage argument must be less or equal to 100".into()),
            Some(0) => Ok(ClientsLimit::Off),
            Some(n) => Ok(ClientsLimit::Percent(n as u64)),
            None => Err("argument must be a memory or percent value".into()),
        }
    }

    /// As CONFIG GET prints it: bytes, or `N%`.
    pub fn text(self) -> String {
        match self {
            ClientsLimit::Off => "0".into(),
            ClientsLimit::Bytes(n) => n.to_string(),
            ClientsLimit::Percent(p) => format!("{p}%"),
        }
    }

    /// The limit in bytes under `maxmemory`, or `None` when client
    /// eviction is off (a percentage of no `maxmemory` is off too); never
    /// below [`MIN_CLIENTS_LIMIT`].
    pub fn bytes(self, maxmemory: u64) -> Option<u64> {
        let n = match self {
            ClientsLimit::Off => return None,
            ClientsLimit::Bytes(n) => n,
            ClientsLimit::Percent(_) if maxmemory == 0 => return None,
            ClientsLimit::Percent(p) => (maxmemory as f64 * p as f64 / 100.0) as u64,
        };
        Some(n.max(MIN_CLIENTS_LIMIT))
    }
}

/// When the append-only file is synced to disk (`appendfsync`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fsync {
    /// Before replying to every write.
    Always,
    /// Once a second, in the background.
    EverySec,
    /// When the kernel decides.
    No,
}

/// The append-only file's directives.
#[derive(Clone, Debug, PartialEq)]
pub struct AofConfig {
    /// `appendonly`.
    pub enabled: bool,
    /// `appendfsync`.
    pub fsync: Fsync,
    /// `appendfilename`: the prefix of every file of the AOF.
    pub filename: String,
    /// `appenddirname`: the AOF's directory under `dir`.
    pub dirname: String,
    /// `auto-aof-rewrite-percentage`: rewrite once the AOF grew this much
    /// over its size after the last rewrite (0: never).
    pub auto_percentage: u64,
    /// `auto-aof-rewrite-min-size`: and only when it is at least this big.
    pub auto_min_size: u64,
    /// `aof-load-truncated`: load an AOF whose last command is torn
    /// (dropping it) instead of refusing to start.
    pub load_truncated: bool,
    /// `aof-use-rdb-preamble`: rewrites write the base as RDB.
    pub use_rdb_preamble: bool,
    /// `aof-rewrite-incremental-fsync`, `no-appendfsync-on-rewrite`:
    /// accepted and shown (they change nothing here).
    pub incremental_fsync: bool,
    /// See `incremental_fsync`.
    pub no_fsync_on_rewrite: bool,
    /// `aof-timestamp-enabled`: `#TS:<unix seconds>` annotations in the
    /// AOF, as Redis writes them (before the first record of a second,
    /// and at the start of a base written as commands).
    pub timestamps: bool,
}

impl Default for AofConfig {
    fn default() -> Self {
        AofConfig {
            enabled: false,
            fsync: Fsync::EverySec,
            filename: "appendonly.aof".into(),
            dirname: "appendonlydir".into(),
            auto_percentage: 100,
            auto_min_size: 64 * 1024 * 1024,
            load_truncated: true,
            use_rdb_preamble: true,
            incremental_fsync: true,
            no_fsync_on_rewrite: false,
            timestamps: false,
        }
    }
}

/// The cluster directives (`cluster-*`).
#[derive(Clone, Debug, PartialEq)]
pub struct ClusterConfig {
    /// `cluster-enabled`: speak Redis Cluster (slots, redirects, the bus).
    pub enabled: bool,
    /// `cluster-config-file`: where the node keeps its view of the
    /// cluster (Redis's nodes.conf format), under `dir`.
    pub config_file: String,
    /// `cluster-node-timeout`, milliseconds: a node silent this long is
    /// suspected (PFAIL).
    pub node_timeout: u64,
    /// `cluster-port`: the bus port (0: the client port + 10000).
    pub port: u16,
    /// `cluster-require-full-coverage`: the cluster is down while any slot
    /// has no live owner.
    pub require_full_coverage: bool,
    /// `cluster-allow-reads-when-down`.
    pub allow_reads_when_down: bool,
    /// `cluster-announce-ip` (empty: learnt from the peers).
    pub announce_ip: String,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        ClusterConfig {
            enabled: false,
            config_file: "nodes.conf".into(),
            node_timeout: 15_000,
            port: 0,
            require_full_coverage: true,
            allow_reads_when_down: false,
            announce_ip: String::new(),
        }
    }
}
