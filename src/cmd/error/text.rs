//! How each [`CmdError`] is spelt: the exact reply text Redis 7 sends,
//! static bytes for the constant ones, and the one way an error text
//! echoes a client's argument (Redis's `%.128s`, CR/LF made spaces).

use bytes::Bytes;

use super::CmdError;
use crate::protocol::Frame;

/// Redis prints arguments in error messages with `%.128s`: at most 128
/// bytes, cut at the first NUL, and CR/LF become spaces in the final text.
fn c_str_prefix(b: &[u8], max: usize) -> &[u8] {
    let b = &b[..b.len().min(max)];
    match b.iter().position(|&c| c == 0) {
        Some(nul) => &b[..nul],
        None => b,
    }
}

fn unknown_command(name: &[u8], args: &[Bytes]) -> Vec<u8> {
    let mut listed: Vec<u8> = Vec::new();
    for a in args {
        if listed.len() >= 128 {
            break;
        }
        let room = 128 - listed.len();
        listed.push(b'\'');
        listed.extend_from_slice(c_str_prefix(a, room));
        listed.extend_from_slice(b"' ");
    }
    let mut s = b"ERR unknown command '".to_vec();
    s.extend_from_slice(c_str_prefix(name, 128));
    s.extend_from_slice(b"', with args beginning with: ");
    s.extend_from_slice(&listed);
    s
}

impl CmdError {
    /// The reply text of an error that never changes, as static bytes
    /// (Redis's shared error objects): a flood of WRONGTYPE or NOAUTH
    /// replies allocates nothing.
    pub fn static_text(&self) -> Option<&'static str> {
        Some(match self {
            CmdError::Syntax => "ERR syntax error",
            CmdError::NotInteger => "ERR value is not an integer or out of range",
            CmdError::IntOutOfRange => "ERR value is out of range, value must between -2147483648 and 2147483647",
            CmdError::NotFloat => "ERR value is not a valid float",
            CmdError::Overflow => "ERR increment or decrement would overflow",
            CmdError::DecrementOverflow => "ERR decrement would overflow",
            CmdError::NanOrInfinity => "ERR increment would produce NaN or Infinity",
            CmdError::WrongType => "WRONGTYPE Operation against a key holding the wrong kind of value",
            CmdError::NoSuchKey => "ERR no such key",
            CmdError::DbIndexOutOfRange => "ERR DB index is out of range",
            CmdError::SameObject => "ERR source and destination objects are the same",
            CmdError::StringTooLong => "ERR string exceeds maximum allowed size (proto-max-bulk-len)",
            CmdError::OffsetOutOfRange => "ERR offset is out of range",
            CmdError::ExpireNxConflict => "ERR NX and XX, GT or LT options at the same time are not compatible",
            CmdError::ExpireGtLtConflict => "ERR GT and LT options at the same time are not compatible",
            CmdError::InvalidCursor => "ERR invalid cursor",
            CmdError::NoAuth => "NOAUTH Authentication required.",
            CmdError::LfuSelected => "ERR An LFU maxmemory policy is selected, idle time not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.",
            CmdError::Oom => "OOM command not allowed when used memory > 'maxmemory'.",
            CmdError::NoScript => "NOSCRIPT No matching script. Please use EVAL.",
            CmdError::NumKeysNegative => "ERR Number of keys can't be negative",
            CmdError::NumKeysTooMany => "ERR Number of keys can't be greater than number of args",
            CmdError::Busy(false) => "BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.",
            CmdError::Busy(true) => "BUSY Redis is busy running a script. You can only call FUNCTION KILL or SHUTDOWN NOSAVE.",
            CmdError::NotBusy => "NOTBUSY No scripts in execution right now.",
            CmdError::Unkillable => "UNKILLABLE Sorry the script already executed write commands against the dataset. You can either wait the script termination or kill the server in a hard way using the SHUTDOWN NOSAVE command.",
            CmdError::WrongPass => "WRONGPASS invalid username-password pair or user is disabled.",
            CmdError::AuthNotConfigured => "ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?",
            CmdError::NoProto => "NOPROTO unsupported protocol version",
            CmdError::HelloVersionNotInteger => "ERR Protocol version is not an integer or out of range",
            CmdError::BadClientName => "ERR Client names cannot contain spaces, newlines or special characters.",
            CmdError::NoSuchClient => "ERR No such client",
            CmdError::FunctionFlushOption => "ERR FUNCTION FLUSH only supports SYNC|ASYNC option",
            CmdError::GetKeysInvalidCommand => "ERR Invalid command specified",
            CmdError::GetKeysInvalidArity => "ERR Invalid number of arguments specified for command",
            CmdError::GetKeysNoKeys => "ERR The command has no key arguments",
            CmdError::GetKeysInvalidArgs => "ERR Invalid arguments specified for command",
            CmdError::NotPositive => "ERR value is out of range, must be positive",
            CmdError::NoShutdownInProgress => "ERR No shutdown in progress.",
            CmdError::ShutdownSaveFailed => "ERR Errors trying to SHUTDOWN. Check logs.",
            CmdError::SaveInProgress => "ERR Background save already in progress",
            CmdError::NoConfigFile => "ERR The server is running without a config file",
            CmdError::RewriteFailed(std::io::ErrorKind::NotFound) => "ERR Rewriting config file: No such file or directory",
            CmdError::RewriteFailed(std::io::ErrorKind::PermissionDenied) => "ERR Rewriting config file: Permission denied",
            CmdError::RewriteFailed(_) => "ERR Rewriting config file: Input/output error",
            CmdError::DebugNotAllowed => "ERR DEBUG command not allowed. If the enable-debug-command option is set to \"local\", you can run it from a local connection, otherwise you need to set this option in the configuration file, and then restart the server.",
            CmdError::WrongProtocolType => "ERR Wrong protocol type name. Please use one of the following: string|integer|double|bignum|null|array|set|map|attrib|push|verbatim|true|false",
            CmdError::Resp2Unsupported => "ERR RESP2 is not supported by this command",
            CmdError::ModuleLoadFailed => "ERR Error loading the extension. Please check the server logs.",
            CmdError::NoSuchModule => "ERR Error unloading module: no such module with that name",
            CmdError::ModuleNotAllowed => "ERR MODULE command not allowed. If the enable-module-command option is set to \"local\", you can run it from a local connection, otherwise you need to set this option in the configuration file, and then restart the server.",
            CmdError::InvalidMasterPort => "ERR Invalid master port",
            CmdError::NoReplication => "ERR FlashKV does not replicate: REPLICAOF accepts only NO ONE",
            CmdError::SaveFailed => "ERR",
            CmdError::ReloadOptions => {
                "ERR DEBUG RELOAD only supports the MERGE, NOFLUSH and NOSAVE options."
            }
            CmdError::ReloadFailed => "ERR Error trying to load the RDB dump",
            CmdError::ChildActive => "ERR Another child process is active (AOF?): can't BGSAVE right now. Use BGSAVE SCHEDULE in order to schedule a BGSAVE whenever possible.",
            CmdError::RewriteInProgress => "ERR Background append only file rewriting already in progress",
            CmdError::RewriteFailedToStart => "ERR Can't execute an AOF background rewriting. Please check the server logs for more information.",
            CmdError::NoReplicas => "NOREPLICAS Not enough good replicas to write.",
            CmdError::Loading => "LOADING Redis is loading the dataset in memory",
            CmdError::Misconf => "MISCONF Redis is configured to save RDB snapshots, but it's currently unable to persist to disk. Commands that may modify the data set are disabled, because this instance is configured to report errors during writes if RDB snapshotting fails (stop-writes-on-bgsave-error option). Please check the Redis logs for details about the RDB error.",
            CmdError::BusyKey => "BUSYKEY Target key name already exists.",
            CmdError::BadPayload => "ERR DUMP payload version or checksum are wrong",
            CmdError::BadDataFormat => "ERR Bad data format",
            CmdError::InvalidTtl => "ERR Invalid TTL value, must be >= 0",
            CmdError::InvalidIdletime => "ERR Invalid IDLETIME value, must be >= 0",
            CmdError::InvalidFreq => "ERR Invalid FREQ value, must be >= 0 and <= 255",
            CmdError::HelloNoAuth => "NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time",
            CmdError::InvalidClientId => "ERR Invalid client ID",
            CmdError::ClientIdNotPositive => "ERR client-id should be greater than 0",
            CmdError::IndexOutOfRange => "ERR index out of range",
            CmdError::RankZero => "ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list",
            CmdError::CountNegative => "ERR COUNT can't be negative",
            CmdError::MaxlenNegative => "ERR MAXLEN can't be negative",
            CmdError::NumkeysNotPositive => "ERR numkeys should be greater than 0",
            CmdError::CountNotPositive => "ERR count should be greater than 0",
            CmdError::TimeoutNotFloat => "ERR timeout is not a float or out of range",
            CmdError::TimeoutNegative => "ERR timeout is negative",
            CmdError::Unblocked => "UNBLOCKED client unblocked via CLIENT UNBLOCK",
            CmdError::UnblockReason => "ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR",
            CmdError::HashNotInteger => "ERR hash value is not an integer",
            CmdError::HashNotFloat => "ERR hash value is not a float",
            CmdError::ValueOutOfRange => "ERR value is out of range",
            CmdError::IncrNanOrInfinity => "ERR value is NaN or Infinity",
            CmdError::TooManyKeys => "ERR Number of keys can't be greater than number of args",
            CmdError::LimitNegative => "ERR LIMIT can't be negative",
            CmdError::NotDouble => "ERR One or more scores can't be converted into double",
            CmdError::LfuNotSelected => "ERR An LFU maxmemory policy is not selected, access frequency not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.",
            CmdError::ExecWithoutMulti => "ERR EXEC without MULTI",
            CmdError::TimeoutNotInteger => "ERR timeout is not an integer or out of range",
            CmdError::PauseMode => "ERR CLIENT PAUSE mode must be WRITE or ALL",
            CmdError::CachingWithoutOptMode => "ERR CLIENT CACHING can be called only when the client is in tracking mode with OPTIN or OPTOUT mode enabled",
            CmdError::CachingNoNeedsOptout => "ERR CLIENT CACHING NO is only valid when tracking is enabled in OPTOUT mode.",
            CmdError::CachingYesNeedsOptin => "ERR CLIENT CACHING YES is only valid when tracking is enabled in OPTIN mode.",
            CmdError::NoRedirectClient => "ERR The client ID you want redirect to does not exist",
            CmdError::TrackingBcastSwitch => "ERR You can't switch BCAST mode on/off before disabling tracking for this client, and then re-enabling it with a different mode.",
            CmdError::TrackingOptinOptout => "ERR You can't specify both OPTIN mode and OPTOUT mode",
            CmdError::TrackingBcastOpt => "ERR OPTIN and OPTOUT are not compatible with BCAST",
            CmdError::PrefixWithoutBcast => "ERR PREFIX option requires BCAST mode to be enabled",
            CmdError::CountBelowMinusOne => "ERR count should be greater than or equal to -1",
            CmdError::MonitorDenyBlocking => "ERR MONITOR isn't allowed for DENY BLOCKING client",
            CmdError::NotInMulti => "ERR Command not allowed inside a transaction",
            CmdError::ReplicaKeyspace => "ERR Replica can't interact with the keyspace",
            CmdError::DiscardWithoutMulti => "ERR DISCARD without MULTI",
            CmdError::NestedMulti => "ERR MULTI calls can not be nested",
            CmdError::WatchInMulti => "ERR WATCH inside MULTI is not allowed",
            CmdError::ExecAbort => "EXECABORT Transaction discarded because of previous errors.",
            CmdError::LongOutOfRange => "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807",
            CmdError::MinMaxNotFloat => "ERR min or max is not a float",
            CmdError::MinMaxNotLex => "ERR min or max not valid string range item",
            CmdError::ZaddNxXx => "ERR XX and NX options at the same time are not compatible",
            CmdError::ZaddGtLtNx => "ERR GT, LT, and/or NX options at the same time are not compatible",
            CmdError::ZaddIncrPair => "ERR INCR option supports a single increment-element pair",
            CmdError::ScoreNan => "ERR resulting score is not a number (NaN)",
            CmdError::WeightNotFloat => "ERR weight value is not a float",
            CmdError::LimitNeedsByScore => "ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX",
            CmdError::WithscoresByLex => "ERR syntax error, WITHSCORES not supported in combination with BYLEX",
            CmdError::BitOffset => "ERR bit offset is not an integer or out of range",
            CmdError::BitValue => "ERR bit is not an integer or out of range",
            CmdError::BitArgument => "ERR The bit argument must be 1 or 0.",
            CmdError::BitopNot => "ERR BITOP NOT must be called with a single source key.",
            CmdError::BitfieldType => "ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is.",
            CmdError::OverflowType => "ERR Invalid OVERFLOW type specified",
            CmdError::BitfieldRoWrite => "ERR BITFIELD_RO only supports the GET subcommand",
            CmdError::LcsNotStrings => "ERR The specified keys must contain string values",
            CmdError::LcsIdxAndLen => "ERR If you want both the length and indexes, please just use IDX.",
            CmdError::LcsTooLong => "ERR String too long for LCS",
            CmdError::LcsMemory => "ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len",
            CmdError::NotHll => "WRONGTYPE Key is not a valid HyperLogLog string value.",
            CmdError::CorruptHll => "INVALIDOBJ Corrupted HLL object detected",
            CmdError::GeoUnit => "ERR unsupported unit provided. please use M, KM, FT, MI",
            CmdError::GeoMemberDecode => "ERR could not decode requested zset member",
            CmdError::GeoRadiusNegative => "ERR radius cannot be negative",
            CmdError::GeoBoxNegative => "ERR height or width cannot be negative",
            CmdError::GeoCountPositive => "ERR COUNT must be > 0",
            CmdError::GeoAnyCount => "ERR the ANY argument requires COUNT argument",
            _ => return None,
        })
    }

    /// The reply text (without `-` and CRLF).
    pub fn text(&self) -> Vec<u8> {
        if let Some(text) = self.static_text() {
            return text.as_bytes().to_vec();
        }
        let all = usize::MAX;
        let try_help = |container: &Bytes| {
            let mut s = b"'. Try ".to_vec();
            s.extend(c_str_prefix(container, all).to_ascii_uppercase());
            s.extend_from_slice(b" HELP.");
            s
        };
        let s: Vec<u8> = match self {
            CmdError::Reply(text) => text.to_vec(),
            CmdError::Cluster(e) => e.text().into_bytes(),
            CmdError::UnknownCommand(name, args) => unknown_command(name, args),
            CmdError::UnknownSubcommand(sub, container) => {
                quote("ERR unknown subcommand '", sub, 128, &try_help(container))
            }
            CmdError::SubcommandSyntax(sub, container) => quote(
                "ERR unknown subcommand or wrong number of arguments for '",
                sub,
                128,
                &try_help(container),
            ),
            CmdError::HelloSyntax(opt) => {
                quote("ERR Syntax error in HELLO option '", opt, all, b"'")
            }
            CmdError::NoSuchUser(user) => quote("ERR No such user '", user, all, b"'"),
            CmdError::OverlappingPrefix(p, q) => {
                let mut s = quote("ERR Prefix '", p, all, b"' overlaps with another provided prefix '");
                s.extend_from_slice(q);
                s.extend_from_slice(b"'. Prefixes for a single client must not overlap.");
                s
            }
            CmdError::NoLatencySamples(event) => {
                quote("ERR No samples available for event '", event, all, b"'")
            }
            CmdError::UnsupportedOption(opt) => quote("ERR Unsupported option ", opt, all, b""),
            CmdError::UnknownClientType(t) => quote("ERR Unknown client type '", t, all, b"'"),
            CmdError::UnknownConfig(name) => quote(
                "ERR Unknown option or number of arguments for CONFIG SET - '",
                name,
                all,
                b"'",
            ),
            CmdError::WrongArity(name) => {
                format!("ERR wrong number of arguments for '{name}' command").into_bytes()
            }
            CmdError::InvalidExpire(cmd) => {
                format!("ERR invalid expire time in '{cmd}' command").into_bytes()
            }
            CmdError::InvalidDbIndex(which) => format!("ERR invalid {which} DB index").into_bytes(),
            CmdError::BadLonLat(pair) => format!("ERR invalid longitude,latitude pair {pair}").into_bytes(),
            CmdError::GeoNeed(what) => format!("ERR need numeric {what}").into_bytes(),
            CmdError::GeoStoreWith(search) => format!(
                "ERR {} is not compatible with WITHDIST, WITHHASH and WITHCOORD options",
                if *search { "GEOSEARCHSTORE" } else { "STORE option in GEORADIUS" }
            )
            .into_bytes(),
            CmdError::GeoFrom(name) => format!(
                "ERR exactly one of FROMMEMBER or FROMLONLAT can be specified for {name}"
            )
            .into_bytes(),
            CmdError::GeoBy(name) => {
                format!("ERR exactly one of BYRADIUS and BYBOX can be specified for {name}").into_bytes()
            }
            CmdError::NoInputKeys(name) => {
                format!("ERR at least 1 input key is needed for '{name}' command").into_bytes()
            }
            CmdError::SubscribedContext(name) => format!(
                "ERR Can't execute '{name}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context"
            )
            .into_bytes(),
            CmdError::AofMisconf(why) => {
                format!("MISCONF Errors writing to the AOF file: {why}").into_bytes()
            }
            CmdError::ConfigSetFailed(name, why) => {
                format!("ERR CONFIG SET failed (possibly related to argument '{name}') - {why}")
                    .into_bytes()
            }
            _ => unreachable!("constant errors have static text"),
        };
        sanitize(s)
    }

    /// The error as a reply frame.
    pub fn to_frame(&self) -> Frame {
        match self.static_text() {
            Some(text) => Frame::Error(Bytes::from_static(text.as_bytes())),
            None => Frame::Error(Bytes::from(self.text())),
        }
    }
}

/// `prefix`, then `arg` as Redis's `%.<max>s` prints it, then `suffix`: the
/// one way error texts echo a client's argument.
fn quote(prefix: &str, arg: &[u8], max: usize, suffix: &[u8]) -> Vec<u8> {
    let arg = c_str_prefix(arg, max);
    let mut s = Vec::with_capacity(prefix.len() + arg.len() + suffix.len());
    s.extend_from_slice(prefix.as_bytes());
    s.extend_from_slice(arg);
    s.extend_from_slice(suffix);
    s
}

/// Redis's `addReplyErrorFormat` turns CR and LF into spaces so that an
/// error can never break the protocol.
fn sanitize(mut s: Vec<u8>) -> Vec<u8> {
    for b in &mut s {
        if matches!(*b, b'\r' | b'\n') {
            *b = b' ';
        }
    }
    s
}
