//! Server commands: INFO, TIME, CONFIG (GET, SET, RESETSTAT, HELP),
//! FUNCTION FLUSH, SHUTDOWN.

use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use store_api::Store;

use super::{info, is, Args, CmdError, Command, Ctx, Row};
use crate::config::SetError;
use crate::protocol::Frame;
use crate::state::scripts::Busy;

/// Server commands.
#[derive(Debug)]
pub enum Cmd {
    /// `INFO [section ...]`
    Info(Vec<Bytes>),
    /// `TIME`
    Time,
    /// `CONFIG GET pattern [pattern ...]`
    ConfigGet(Vec<Bytes>),
    /// `CONFIG SET name value [name value ...]`
    ConfigSet(Vec<(String, String)>),
    /// `CONFIG RESETSTAT`
    ConfigResetStat,
    /// `CONFIG REWRITE`
    ConfigRewrite,
    /// `CONFIG HELP`
    ConfigHelp,
    /// `SHUTDOWN [NOSAVE|SAVE] [NOW] [FORCE] [ABORT]`: `save` is SAVE
    /// (`Some(true)`), NOSAVE (`Some(false)`) or neither.
    Shutdown {
        abort: bool,
        save: Option<bool>,
        force: bool,
    },
}

fn parse_info(a: Args<'_>) -> Result<Command, CmdError> {
    Ok(Command::Server(Cmd::Info(a.rest())))
}

fn parse_time(_: Args<'_>) -> Result<Command, CmdError> {
    Ok(Command::Server(Cmd::Time))
}

fn parse_config_get(a: Args<'_>) -> Result<Command, CmdError> {
    Ok(Command::Server(Cmd::ConfigGet(a.rest())))
}

fn parse_config_set(a: Args<'_>) -> Result<Command, CmdError> {
    let rest = a.rest();
    if rest.len() % 2 != 0 {
        return Err(CmdError::WrongArity("config|set"));
    }
    let text = |b: &Bytes| String::from_utf8_lossy(b).into_owned();
    let pairs = rest.chunks(2).map(|p| (text(&p[0]), text(&p[1]))).collect();
    Ok(Command::Server(Cmd::ConfigSet(pairs)))
}

fn parse_config_resetstat(_: Args<'_>) -> Result<Command, CmdError> {
    Ok(Command::Server(Cmd::ConfigResetStat))
}

fn parse_config_rewrite(_: Args<'_>) -> Result<Command, CmdError> {
    Ok(Command::Server(Cmd::ConfigRewrite))
}

fn parse_config_help(_: Args<'_>) -> Result<Command, CmdError> {
    Ok(Command::Server(Cmd::ConfigHelp))
}

fn parse_shutdown(a: Args<'_>) -> Result<Command, CmdError> {
    let (mut nosave, mut save, mut abort, mut other) = (false, false, false, false);
    let mut force = false;
    for opt in a.rest() {
        match () {
            _ if is(&opt, "NOSAVE") => nosave = true,
            _ if is(&opt, "SAVE") => save = true,
            _ if is(&opt, "NOW") => other = true,
            _ if is(&opt, "FORCE") => (other, force) = (true, true),
            _ if is(&opt, "ABORT") => abort = true,
            _ => return Err(CmdError::Syntax),
        }
    }
    if (abort && (nosave || save || other)) || (nosave && save) {
        return Err(CmdError::Syntax);
    }
    let save = match (save, nosave) {
        (true, _) => Some(true),
        (_, true) => Some(false),
        _ => None,
    };
    Ok(Command::Server(Cmd::Shutdown { abort, save, force }))
}

/// Table rows.
pub const ROWS: &[Row] = &[
    ("info", parse_info),
    ("time", parse_time),
    ("config|get", parse_config_get),
    ("config|set", parse_config_set),
    ("config|resetstat", parse_config_resetstat),
    ("config|rewrite", parse_config_rewrite),
    ("config|help", parse_config_help),
    ("shutdown", parse_shutdown),
];

/// Execute a server command.
pub fn execute<S: Store>(cmd: Cmd, ctx: &mut Ctx<'_, S>) -> Result<Frame, CmdError> {
    match cmd {
        Cmd::Info(sections) => Ok(Frame::Verbatim("txt", info::render(ctx, &sections).into())),
        Cmd::Time => {
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default();
            let num = |n: u64| {
                Frame::Bulk(Bytes::copy_from_slice(
                    itoa::Buffer::new().format(n).as_bytes(),
                ))
            };
            Ok(Frame::Array(vec![
                num(now.as_secs()),
                num(u64::from(now.subsec_micros())),
            ]))
        }
        Cmd::ConfigGet(patterns) => {
            let patterns: Vec<&[u8]> = patterns.iter().map(|p| &p[..]).collect();
            let config = ctx.state.config();
            let pairs = config
                .get_matching(&patterns)
                .into_iter()
                .map(|(k, v)| (Frame::bulk(k), Frame::bulk(v)));
            Ok(Frame::Map(pairs.collect()))
        }
        Cmd::ConfigSet(pairs) => {
            // Redis 7's protected configs: where files go.
            if !ctx.allows(&ctx.config.enable_protected_configs) {
                if let Some((name, _)) = pairs.iter().find(|(n, _)| {
                    n.eq_ignore_ascii_case("dir") || n.eq_ignore_ascii_case("dbfilename")
                }) {
                    return Err(CmdError::ConfigSetFailed(
                        name.to_ascii_lowercase(),
                        "can't set protected config".into(),
                    ));
                }
            }
            // What must not change while the dataset loads (Redis's
            // DENY_LOADING_CONFIG), refused before anything else is.
            let deny_loading = ["appendonly", "dir", "repl-diskless-load"];
            if ctx.state.db.loading().active()
                && pairs
                    .iter()
                    .any(|(n, _)| deny_loading.iter().any(|d| n.eq_ignore_ascii_case(d)))
            {
                return Err(CmdError::Loading);
            }
            let current = ctx.state.config();
            let mut next = current.set_many(&pairs).map_err(|e| match e {
                SetError::Unknown(name) => CmdError::UnknownConfig(name.into()),
                SetError::Failed(name, why) => CmdError::ConfigSetFailed(name, why),
            })?;
            if next.port != current.port {
                // Listen anew last: a failure leaves everything as it was.
                let failed = |why: String| CmdError::ConfigSetFailed("port".into(), why);
                if ctx.state.cluster.enabled {
                    return Err(failed(
                        "FlashKV can't change it in cluster mode: restart with the new value"
                            .into(),
                    ));
                }
                next.port = ctx
                    .state
                    .listen
                    .move_to(next.port, next.tcp_backlog)
                    .map_err(|e| {
                        failed(format!(
                            "Unable to listen on this port: {}",
                            crate::state::listen::strerror(&e)
                        ))
                    })?;
            }
            ctx.state.set_config(next);
            Ok(Frame::ok())
        }
        Cmd::ConfigResetStat => {
            ctx.state.clients.reset_stats();
            ctx.state.stats.reset();
            Ok(Frame::ok())
        }
        Cmd::ConfigRewrite => {
            if ctx.state.config_file.is_empty() {
                return Err(CmdError::NoConfigFile);
            }
            rewrite_config(ctx.state, false).map_err(|e| CmdError::RewriteFailed(e.kind()))?;
            Ok(Frame::ok())
        }
        Cmd::ConfigHelp => Ok(super::help_reply(CONFIG_HELP)),
        Cmd::Shutdown { abort: true, .. } => Err(CmdError::NoShutdownInProgress),
        Cmd::Shutdown { save, force, .. } => {
            // While the dataset loads, never save (Redis forces NOSAVE):
            // the file would lose what is not loaded yet.
            let save = match ctx.state.db.loading().active() {
                true => Some(false),
                false => save,
            };
            // During a busy script only SHUTDOWN NOSAVE goes through, and
            // stops the script (Redis exits in the middle of it).
            let threshold = ctx.config.busy_reply_threshold;
            if let Some(Busy::Script(function)) = ctx.state.scripts.busy(threshold) {
                if save != Some(false) {
                    return Err(CmdError::Busy(function));
                }
            }
            if save == Some(false) {
                // Busy or not yet: the server must not wait for it.
                ctx.state.scripts.stop_for_shutdown();
            }
            tracing::warn!(client = ctx.session.handle.id, "user requested shutdown");
            // Redis's rule: save when asked to, or when save points are
            // configured and NOSAVE was not given.
            if save.unwrap_or(!ctx.config.save.is_empty()) {
                let state = ctx.state;
                state.persist.wait();
                tracing::info!("Saving the final RDB snapshot before exiting.");
                if let Err(e) = state.persist.save(&state.db, ctx.config) {
                    tracing::warn!(cause = ?e, "Error trying to save the DB, can't exit.");
                    if !force {
                        return Err(CmdError::ShutdownSaveFailed);
                    }
                }
            }
            ctx.state.persist.set_saved_for_shutdown();
            ctx.session.shutdown_requested = true;
            ctx.state.request_shutdown();
            Ok(Frame::ok())
        }
    }
}

/// Lines of the HELP reply.
const CONFIG_HELP: &[&str] = &[
    "CONFIG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "GET <pattern>",
    "    Return parameters matching the glob-like <pattern> and their values.",
    "SET <directive> <value>",
    "    Set the configuration <directive> to <value>.",
    "RESETSTAT",
    "    Reset statistics reported by the INFO command.",
    "REWRITE",
    "    Rewrite the configuration file.",
    "HELP",
    "    Prints this help.",
];

/// CONFIG REWRITE (with `force_all`, DEBUG CONFIG-REWRITE-FORCE-ALL): the
/// config file (the server has one) brought up to date, written to a
/// temporary file, synced and renamed over the old one.
pub(crate) fn rewrite_config<S: Store>(
    state: &crate::state::ServerState<S>,
    force_all: bool,
) -> std::io::Result<()> {
    let path = &state.config_file;
    let old = std::fs::read_to_string(path)?;
    let text = state.config().rewrite_text_with(&old, force_all);
    let temp = format!("{path}.rewrite-{}", std::process::id());
    std::fs::write(&temp, text)?;
    std::fs::File::open(&temp)?.sync_all()?;
    std::fs::rename(&temp, path)
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use crate::protocol::Frame;

    fn text(f: Frame) -> String {
        match f {
            Frame::Verbatim(_, b) | Frame::Bulk(b) => String::from_utf8(b.to_vec()).unwrap(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn info_has_redis_field_names() {
        let mut t = TestDb::new();
        t.run(&["SET", "a", "1"]);
        t.run(&["SET", "b", "1", "EX", "100"]);
        let all = text(t.run(&["INFO"]));
        for field in [
            "redis_version:",
            "connected_clients:1",
            "used_memory:",
            "total_commands_processed:",
            "db0:keys=2,expires=1,avg_ttl=",
        ] {
            assert!(all.contains(field), "missing {field} in {all}");
        }
        let ks = text(t.run(&["INFO", "keyspace"]));
        assert!(ks.starts_with("# Keyspace\r\ndb0:keys=2,expires=1"), "{ks}");
        assert!(!ks.contains("# Server"));
        assert_eq!(text(t.run(&["INFO", "nosuchsection"])), "");
    }

    #[test]
    fn config_get_and_set() {
        let mut t = TestDb::new();
        assert_eq!(
            t.run(&["CONFIG", "GET", "maxclients"]),
            Frame::Map(vec![(bulk("maxclients"), bulk("10000"))])
        );
        assert_eq!(
            t.run(&["CONFIG", "SET", "maxclients", "50", "timeout", "7"]),
            ok()
        );
        assert_eq!(
            t.run(&["CONFIG", "GET", "timeout"]),
            Frame::Map(vec![(bulk("timeout"), bulk("7"))])
        );
        assert_eq!(
            t.run(&["CONFIG", "SET", "maxclients", "abc"]),
            err("ERR CONFIG SET failed (possibly related to argument 'maxclients') - argument couldn't be parsed into an integer")
        );
        assert_eq!(
            t.run(&["CONFIG", "SET", "foo", "bar"]),
            err("ERR Unknown option or number of arguments for CONFIG SET - 'foo'")
        );
        assert_eq!(
            t.run(&["CONFIG", "SET", "timeout"]),
            err("ERR wrong number of arguments for 'config|set' command")
        );
        assert_eq!(t.run(&["CONFIG", "GET", "nonexist"]), Frame::Map(vec![]));
        let Frame::Map(save) = t.run(&["CONFIG", "GET", "save", "appendonly"]) else {
            panic!()
        };
        assert_eq!(
            save,
            vec![(bulk("save"), bulk("")), (bulk("appendonly"), bulk("no"))]
        );
    }

    #[test]
    fn function_flush_and_shutdown_arguments() {
        let mut t = TestDb::new();
        assert_eq!(t.run(&["FUNCTION", "FLUSH"]), ok());
        assert_eq!(
            t.run(&["FUNCTION", "FLUSH", "foo"]),
            err("ERR FUNCTION FLUSH only supports SYNC|ASYNC option")
        );
        assert_eq!(
            t.run(&["SHUTDOWN", "ABORT"]),
            err("ERR No shutdown in progress.")
        );
        assert_eq!(
            t.run(&["SHUTDOWN", "NOSAVE", "SAVE"]),
            err("ERR syntax error")
        );
        assert!(!t.client.session.shutdown_requested);
        t.run(&["SHUTDOWN", "NOSAVE"]);
        assert!(t.client.session.shutdown_requested);
    }
}
