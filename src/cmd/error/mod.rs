//! `CmdError`: every way a command can fail, and the one function that
//! turns a failure into the exact reply text Redis 7 sends.
//!
//! Command code never formats error strings; it returns a variant, and
//! [`CmdError::to_frame`] spells it (compare Redis's `shared.*err` objects in
//! `createSharedObjects` and dragonfly's `op_status.cc`).

mod cluster;
mod text;

use bytes::Bytes;
pub use cluster::ClusterError;

/// A failed command. The connection stays open after any of these.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CmdError {
    /// No command by this name; carries the name and the first arguments.
    UnknownCommand(Bytes, Vec<Bytes>),
    /// A container command (CLIENT, CONFIG...) with an unknown subcommand:
    /// the subcommand as typed, and the container's name.
    UnknownSubcommand(Bytes, Bytes),
    /// Arity check failed; the full name (`get`, `client|setname`).
    WrongArity(&'static str),
    /// `ERR syntax error`
    Syntax,
    /// An argument or a stored value is not a 64-bit integer.
    NotInteger,
    /// An argument or a stored value is not a float.
    NotFloat,
    /// INCR family result out of range.
    Overflow,
    /// DECRBY with the one increment that cannot be negated.
    DecrementOverflow,
    /// INCRBYFLOAT result is NaN or infinite.
    NanOrInfinity,
    /// Bad TTL for the named command (`set`, `expire`, `getex`...).
    InvalidExpire(&'static str),
    /// The key holds a value of another type.
    WrongType,
    /// RENAME of a missing key.
    NoSuchKey,
    /// SELECT, MOVE, COPY, SWAPDB to a database that does not exist.
    DbIndexOutOfRange,
    /// An integer argument outside the 32-bit range where Redis wants an
    /// `int` (`getIntFromObjectOrReply`).
    IntOutOfRange,
    /// SWAPDB's first or second index is not an integer.
    InvalidDbIndex(&'static str),
    /// MOVE or COPY onto itself.
    SameObject,
    /// SETRANGE/APPEND would exceed `proto-max-bulk-len`.
    StringTooLong,
    /// SETRANGE with a negative offset.
    OffsetOutOfRange,
    /// EXPIRE with an option it does not know.
    UnsupportedOption(Bytes),
    /// EXPIRE NX with XX, GT or LT.
    ExpireNxConflict,
    /// EXPIRE GT with LT.
    ExpireGtLtConflict,
    /// SCAN cursor is not an unsigned integer.
    InvalidCursor,
    /// A password is required and the client has not authenticated.
    NoAuth,
    /// OBJECT IDLETIME under an LFU maxmemory policy.
    LfuSelected,
    /// EVALSHA of a script not in the cache.
    NoScript,
    /// EVAL's numkeys below zero.
    NumKeysNegative,
    /// EVAL's numkeys beyond its arguments.
    NumKeysTooMany,
    /// A script has run past `busy-reply-threshold` (`true`: a function).
    Busy(bool),
    /// SCRIPT KILL with no script running.
    NotBusy,
    /// SCRIPT KILL of a script that has written.
    Unkillable,
    /// An error text built elsewhere (a script's error reply), sent as is.
    Reply(Bytes),
    /// Redirections and the cluster's refusals.
    Cluster(ClusterError),
    /// Over `maxmemory` with nothing left to evict (deny-oom commands).
    Oom,
    /// AUTH / HELLO AUTH with a wrong user or password.
    WrongPass,
    /// AUTH <password> with no password configured.
    AuthNotConfigured,
    /// HELLO with a protocol version other than 2 or 3.
    NoProto,
    /// HELLO's version is not an integer.
    HelloVersionNotInteger,
    /// CLIENT SETNAME with a space or control character.
    BadClientName,
    /// CLIENT KILL <addr> matched nobody.
    NoSuchClient,
    /// CLIENT LIST TYPE <unknown>.
    UnknownClientType(Bytes),
    /// CONFIG SET of a parameter that does not exist.
    UnknownConfig(Bytes),
    /// CONFIG SET rejected a value: the parameter and Redis's reason.
    ConfigSetFailed(String, String),
    /// FUNCTION FLUSH with an option other than SYNC / ASYNC.
    FunctionFlushOption,
    /// COMMAND GETKEYS on an unknown command.
    GetKeysInvalidCommand,
    /// COMMAND GETKEYS with the wrong number of arguments for the command.
    GetKeysInvalidArity,
    /// COMMAND GETKEYS on a command without key arguments.
    GetKeysNoKeys,
    /// COMMAND GETKEYS whose arguments do not fit the key specs.
    GetKeysInvalidArgs,
    /// SHUTDOWN ABORT with no shutdown under way.
    NoShutdownInProgress,
    /// SHUTDOWN whose save failed.
    ShutdownSaveFailed,
    /// CONFIG REWRITE of a server started without a config file.
    NoConfigFile,
    /// CONFIG REWRITE could not write the file.
    RewriteFailed(std::io::ErrorKind),
    /// DEBUG while `enable-debug-command` forbids it.
    DebugNotAllowed,
    /// DEBUG PROTOCOL with a type it does not know.
    WrongProtocolType,
    /// A reply only RESP3 can carry (DEBUG PROTOCOL push) asked for in RESP2.
    Resp2Unsupported,
    /// MODULE LOAD / LOADEX / UNLOAD: FlashKV loads no modules; the text is
    /// Redis's with `enable-module-command no`, its default.
    ModuleNotAllowed,
    /// MODULE LOAD / LOADEX allowed by `enable-module-command`: FlashKV
    /// loads no modules, so the load fails as a bad module does in Redis.
    ModuleLoadFailed,
    /// MODULE UNLOAD allowed: no module of that name is loaded.
    NoSuchModule,
    /// REPLICAOF host port: FlashKV has no replication.
    NoReplication,
    /// REPLICAOF with a port that is not an integer in 0..=65535.
    InvalidMasterPort,
    /// SAVE or BGSAVE while a save runs.
    SaveInProgress,
    /// BGSAVE while an AOF rewrite runs.
    ChildActive,
    /// BGREWRITEAOF while one runs.
    RewriteInProgress,
    /// BGREWRITEAOF could not start.
    RewriteFailedToStart,
    /// SAVE could not write the file (Redis answers a bare `-ERR`).
    SaveFailed,
    /// DEBUG RELOAD with an option it does not know.
    ReloadOptions,
    /// DEBUG RELOAD could not load the file.
    ReloadFailed,
    /// Writes refused because the last background save failed.
    Misconf,
    /// A command without the `loading` flag while the dataset loads.
    Loading,
    /// Writes refused: fewer good replicas than `min-replicas-to-write`.
    NoReplicas,
    /// Writes refused because the last append-only file write failed
    /// (the system's error text).
    AofMisconf(String),
    /// RESTORE onto an existing key without REPLACE.
    BusyKey,
    /// RESTORE of a payload with a wrong version or checksum.
    BadPayload,
    /// RESTORE of a payload whose value does not parse.
    BadDataFormat,
    /// RESTORE with a negative TTL.
    InvalidTtl,
    /// RESTORE with a negative IDLETIME.
    InvalidIdletime,
    /// RESTORE with a FREQ outside 0..=255.
    InvalidFreq,
    /// A count that must not be negative (LPOP/RPOP count).
    NotPositive,
    /// HELLO with an option it does not know.
    HelloSyntax(Bytes),
    /// HELLO from an unauthenticated client without AUTH.
    HelloNoAuth,
    /// CLIENT LIST ID with a non-integer id.
    InvalidClientId,
    /// CLIENT KILL ID with an id below 1.
    ClientIdNotPositive,
    /// CLIENT KILL USER with a user that does not exist.
    NoSuchUser(Bytes),
    /// LSET past the end.
    IndexOutOfRange,
    /// LPOS RANK 0.
    RankZero,
    /// LPOS COUNT < 0.
    CountNegative,
    /// LPOS MAXLEN < 0.
    MaxlenNegative,
    /// LMPOP/BLMPOP/ZMPOP numkeys < 1 or not an integer.
    NumkeysNotPositive,
    /// A COUNT that must be > 0 (LMPOP).
    CountNotPositive,
    /// A blocking command's timeout is not a number.
    TimeoutNotFloat,
    /// A blocking command's timeout is negative (or out of range).
    TimeoutNegative,
    /// CLIENT UNBLOCK ... ERROR.
    Unblocked,
    /// HINCRBY on a field that is not an integer.
    HashNotInteger,
    /// HINCRBYFLOAT on a field that is not a float.
    HashNotFloat,
    /// `ERR value is out of range` (HRANDFIELD WITHVALUES count...).
    ValueOutOfRange,
    /// An increment that is itself NaN or infinite (HINCRBYFLOAT).
    IncrNanOrInfinity,
    /// A count outside Redis's `-LONG_MAX..=LONG_MAX` range.
    LongOutOfRange,
    /// A score range bound that is not a float.
    MinMaxNotFloat,
    /// A lex range bound without `[`, `(`, `-` or `+`.
    MinMaxNotLex,
    /// ZADD NX with XX.
    ZaddNxXx,
    /// ZADD with two of GT, LT, NX.
    ZaddGtLtNx,
    /// ZADD INCR with more than one pair.
    ZaddIncrPair,
    /// A sorted-set score became NaN (inf + -inf).
    ScoreNan,
    /// ZUNION/ZINTER WEIGHTS with a non-float.
    WeightNotFloat,
    /// ZUNION... numkeys < 1; carries the command's name.
    NoInputKeys(&'static str),
    /// ZRANGE LIMIT without BYSCORE or BYLEX.
    LimitNeedsByScore,
    /// ZRANGE BYLEX WITHSCORES.
    WithscoresByLex,
    /// A bit offset that is not an integer, negative or too large.
    BitOffset,
    /// SETBIT's value is not 0 or 1.
    BitValue,
    /// BITPOS's bit is not 0 or 1.
    BitArgument,
    /// BITOP NOT with other than one source.
    BitopNot,
    /// A BITFIELD type other than i1..i64, u1..u63.
    BitfieldType,
    /// BITFIELD OVERFLOW with an unknown mode.
    OverflowType,
    /// BITFIELD_RO with SET or INCRBY.
    BitfieldRoWrite,
    /// LCS over a key that is not a string.
    LcsNotStrings,
    /// LCS with both IDX and LEN.
    LcsIdxAndLen,
    /// LCS over a string of 4 GB or more.
    LcsTooLong,
    /// LCS's table would exceed `proto-max-bulk-len`.
    LcsMemory,
    /// A string that is not a HyperLogLog where one is needed.
    NotHll,
    /// A HyperLogLog whose sparse opcodes are damaged.
    CorruptHll,
    /// A position outside what Redis indexes; carries "lon,lat" as `%f`.
    BadLonLat(String),
    /// A distance unit other than m, km, ft, mi.
    GeoUnit,
    /// FROMMEMBER / BYMEMBER of a member that is not there.
    GeoMemberDecode,
    /// A radius, width or height that is not a number; carries which.
    GeoNeed(&'static str),
    /// A negative radius.
    GeoRadiusNegative,
    /// A negative box side.
    GeoBoxNegative,
    /// Geo COUNT <= 0.
    GeoCountPositive,
    /// STORE with WITHDIST/WITHHASH/WITHCOORD (true: GEOSEARCHSTORE).
    GeoStoreWith(bool),
    /// GEOSEARCH without exactly one of FROMMEMBER/FROMLONLAT; the name.
    GeoFrom(String),
    /// GEOSEARCH without exactly one of BYRADIUS/BYBOX; the name.
    GeoBy(String),
    /// ANY without COUNT.
    GeoAnyCount,
    /// numkeys larger than the arguments that follow (SINTERCARD...).
    TooManyKeys,
    /// SINTERCARD LIMIT < 0 or not an integer.
    LimitNegative,
    /// OBJECT FREQ without an LFU maxmemory policy.
    LfuNotSelected,
    /// SORT of a value that is not a number.
    NotDouble,
    /// CLIENT UNBLOCK with a reason other than TIMEOUT or ERROR.
    UnblockReason,
    /// A command other than (P|S)SUBSCRIBE, (P|S)UNSUBSCRIBE, PING, QUIT
    /// and RESET from a RESP2 client in subscribed mode; its full name.
    SubscribedContext(&'static str),
    /// CLIENT PAUSE's timeout is not an integer.
    TimeoutNotInteger,
    /// CLIENT PAUSE with a mode other than WRITE or ALL.
    PauseMode,
    /// CLIENT CACHING outside OPTIN and OPTOUT modes.
    CachingWithoutOptMode,
    /// CLIENT CACHING NO outside OPTOUT mode.
    CachingNoNeedsOptout,
    /// CLIENT CACHING YES outside OPTIN mode.
    CachingYesNeedsOptin,
    /// CLIENT TRACKING REDIRECT to a client that does not exist.
    NoRedirectClient,
    /// CLIENT TRACKING switching BCAST on or off while tracking.
    TrackingBcastSwitch,
    /// CLIENT TRACKING with both OPTIN and OPTOUT.
    TrackingOptinOptout,
    /// CLIENT TRACKING BCAST with OPTIN or OPTOUT.
    TrackingBcastOpt,
    /// CLIENT TRACKING PREFIX without BCAST.
    PrefixWithoutBcast,
    /// CLIENT TRACKING prefixes that overlap: the new one and the other.
    OverlappingPrefix(Bytes, Bytes),
    /// SLOWLOG GET with a count below -1.
    CountBelowMinusOne,
    /// MONITOR inside a transaction.
    MonitorDenyBlocking,
    /// LATENCY GRAPH of an event without samples.
    NoLatencySamples(Bytes),
    /// A `no_multi` command (SHUTDOWN) inside MULTI.
    NotInMulti,
    /// A read or write from a MONITOR client.
    ReplicaKeyspace,
    /// EXEC outside a transaction.
    ExecWithoutMulti,
    /// DISCARD outside a transaction.
    DiscardWithoutMulti,
    /// MULTI inside a transaction.
    NestedMulti,
    /// WATCH inside a transaction.
    WatchInMulti,
    /// EXEC of a transaction in which a command was rejected while queued.
    ExecAbort,
    /// A subcommand given options it does not take (FUNCTION FLUSH a b):
    /// the subcommand as typed and the container.
    SubcommandSyntax(Bytes, Bytes),
}

#[cfg(test)]
mod tests;
