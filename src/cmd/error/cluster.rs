//! The cluster's errors: redirections and CLUSTER's own refusals, with the
//! texts Redis 7.0's `cluster.c` sends.

/// A cluster error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClusterError {
    /// A cluster command on a server without `cluster-enabled yes`.
    Disabled,
    /// SELECT (of another database), SWAPDB or MOVE in cluster mode.
    NotAllowed(&'static str),
    /// COPY ... DB n in cluster mode.
    CopyDb,
    /// SORT's BY (with a `*` pattern) or GET in cluster mode: the option.
    SortOption(&'static str),
    /// The slot belongs to another node: slot, `ip:port`.
    Moved(u16, String),
    /// The slot is moving and the key is not here: slot, `ip:port`.
    Ask(u16, String),
    /// Keys of one request in different slots.
    CrossSlot,
    /// Some but not all keys of a multi-key request while the slot moves.
    TryAgain,
    /// The cluster is down.
    Down,
    /// The cluster is down and this is a write (reads allowed when down).
    DownReadOnly,
    /// The key's slot has no owner.
    Unbound,
    /// COUNTKEYSINSLOT out of range.
    InvalidSlot,
    /// GETKEYSINSLOT out of range or a negative count.
    InvalidSlotOrCount,
    /// ADDSLOTS and friends: not an integer or out of range.
    OutOfRangeSlot,
    /// ADDSLOTS of an owned slot.
    SlotBusy(u16),
    /// DELSLOTS of an unowned slot.
    SlotUnassigned(u16),
    /// A slot named twice in one call.
    SlotRepeated(u16),
    /// ADDSLOTSRANGE with start after end.
    RangeOrder(u16, u16),
    /// A node name nobody knows (FORGET, COUNT-FAILURE-REPORTS...).
    UnknownNode(String),
    /// SETSLOT MIGRATING/IMPORTING naming an unknown node.
    DontKnowNode(String),
    /// REPLICAS of a node that is not a master.
    NotAMaster,
    /// SETSLOT towards a node that is not a master.
    TargetNotMaster,
    /// MEET with a bad address: ip, port.
    BadAddress(String, String),
    /// MEET with a bad port.
    BadPort(String),
    /// MEET with a bad bus port.
    BadBusPort(String),
    /// FORGET of this node.
    ForgetMyself,
    /// SETSLOT with an unknown action.
    SetSlotSyntax,
    /// SETSLOT MIGRATING of a slot this node does not own.
    NotOwner(u16),
    /// SETSLOT IMPORTING of a slot this node owns.
    AlreadyOwner(u16),
    /// SETSLOT NODE elsewhere while keys remain here.
    HoldsKeys(u16),
    /// FLUSHSLOTS with keys.
    FlushSlotsNotEmpty,
    /// RESET with keys.
    ResetWithKeys,
    /// SET-CONFIG-EPOCH below zero.
    InvalidEpoch(i64),
    /// SET-CONFIG-EPOCH once other nodes are known.
    EpochKnowsOthers,
    /// SET-CONFIG-EPOCH twice.
    EpochNonZero,
    /// SAVECONFIG failed: why.
    SaveConfig(String),
    /// FAILOVER on a master.
    FailoverOnMaster,
    /// REPLICATE of this node.
    ReplicateMyself,
    /// REPLICATE: replicas are not built.
    NoReplication,
    /// A script's `redis.call` on a key another node serves.
    ScriptNonLocal,
    /// A script's `redis.call` while the cluster is down.
    ScriptDown,
    /// A script's write while the cluster is down and read-only.
    ScriptDownReadOnly,
    /// A script touching keys of two slots.
    ScriptCrossSlot,
    /// A `no-cluster` script in cluster mode.
    ScriptNoCluster,
    /// MIGRATE KEYS with a key argument.
    MigrateKeyNotEmpty,
    /// MIGRATE could not connect.
    MigrateConnect,
    /// MIGRATE could not write.
    MigrateWrite,
    /// MIGRATE could not read.
    MigrateRead,
    /// MIGRATE's target answered an error (without its `-`).
    MigrateTarget(String),
}

impl ClusterError {
    /// The reply text (without `-` and CRLF).
    pub fn text(&self) -> String {
        use ClusterError::*;
        match self {
            Disabled => "ERR This instance has cluster support disabled".into(),
            NotAllowed(name) => format!("ERR {name} is not allowed in cluster mode"),
            CopyDb => "ERR Copying to another database is not allowed in cluster mode".into(),
            SortOption(opt) => format!("ERR {opt} option of SORT denied in Cluster mode."),
            Moved(slot, addr) => format!("MOVED {slot} {addr}"),
            Ask(slot, addr) => format!("ASK {slot} {addr}"),
            CrossSlot => "CROSSSLOT Keys in request don't hash to the same slot".into(),
            TryAgain => "TRYAGAIN Multiple keys request during rehashing of slot".into(),
            Down => "CLUSTERDOWN The cluster is down".into(),
            DownReadOnly => "CLUSTERDOWN The cluster is down and only accepts read commands".into(),
            Unbound => "CLUSTERDOWN Hash slot not served".into(),
            InvalidSlot => "ERR Invalid slot".into(),
            InvalidSlotOrCount => "ERR Invalid slot or number of keys".into(),
            OutOfRangeSlot => "ERR Invalid or out of range slot".into(),
            SlotBusy(s) => format!("ERR Slot {s} is already busy"),
            SlotUnassigned(s) => format!("ERR Slot {s} is already unassigned"),
            SlotRepeated(s) => format!("ERR Slot {s} specified multiple times"),
            RangeOrder(a, b) => {
                format!("ERR start slot number {a} is greater than end slot number {b}")
            }
            UnknownNode(id) => format!("ERR Unknown node {id}"),
            DontKnowNode(id) => format!("ERR I don't know about node {id}"),
            NotAMaster => "ERR The specified node is not a master".into(),
            TargetNotMaster => "ERR Target node is not a master".into(),
            BadAddress(ip, port) => format!("ERR Invalid node address specified: {ip}:{port}"),
            BadPort(p) => format!("ERR Invalid TCP base port specified: {p}"),
            BadBusPort(p) => format!("ERR Invalid TCP bus port specified: {p}"),
            ForgetMyself => "ERR I tried hard but I can't forget myself...".into(),
            SetSlotSyntax => {
                "ERR Invalid CLUSTER SETSLOT action or number of arguments. Try CLUSTER HELP".into()
            }
            NotOwner(s) => format!("ERR I'm not the owner of hash slot {s}"),
            AlreadyOwner(s) => format!("ERR I'm already the owner of hash slot {s}"),
            HoldsKeys(s) => format!(
                "ERR Can't assign hashslot {s} to a different node while I still hold keys for this hash slot."
            ),
            FlushSlotsNotEmpty => "ERR DB must be empty to perform CLUSTER FLUSHSLOTS.".into(),
            ResetWithKeys => {
                "ERR CLUSTER RESET can't be called with master nodes containing keys".into()
            }
            InvalidEpoch(e) => format!("ERR Invalid config epoch specified: {e}"),
            EpochKnowsOthers => "ERR The user can assign a config epoch only when the node does not know any other node.".into(),
            EpochNonZero => "ERR Node config epoch is already non-zero".into(),
            SaveConfig(why) => format!("ERR error saving the cluster node config: {why}"),
            FailoverOnMaster => "ERR You should send CLUSTER FAILOVER to a replica".into(),
            ReplicateMyself => "ERR Can't replicate myself".into(),
            NoReplication => "ERR Replicas are not supported by this server (FlashKV has no replication yet)".into(),
            ScriptNonLocal => "Script attempted to access a non local key in a cluster node".into(),
            ScriptDown => "Script attempted to execute a command while the cluster is down".into(),
            ScriptDownReadOnly => "Script attempted to execute a write command while the cluster is down and readonly".into(),
            ScriptCrossSlot => "Script attempted to access keys that do not hash to the same slot".into(),
            ScriptNoCluster => "ERR Can not run script on cluster, 'no-cluster' flag is set.".into(),
            MigrateKeyNotEmpty => "ERR When using MIGRATE KEYS option, the key argument must be set to the empty string".into(),
            MigrateConnect => "IOERR error or timeout connecting to the client".into(),
            MigrateWrite => "IOERR error or timeout writing to target instance".into(),
            MigrateRead => "IOERR error or timeout reading to target instance".into(),
            MigrateTarget(line) => format!("ERR Target instance replied with error: {line}"),
        }
    }
}
