//! The script cache: SHA1 keys, compiling (with the `#!lua` shebang),
//! bounded eviction of EVAL-loaded scripts, and the sizes INFO shows.

use bytes::Bytes;
use store_api::Store;

use super::{functions, vm, Flags, EVAL_CACHE_MAX};
use crate::cmd::context::Ctx;
use crate::cmd::CmdError;
use crate::state::scripts::{Cached, Engine};

/// A client's SHA1 argument as a cache key (lower case), if it can be one.
pub(super) fn lookup_key(sha: &[u8]) -> Option<[u8; 40]> {
    let mut key: [u8; 40] = sha.try_into().ok()?;
    key.make_ascii_lowercase();
    Some(key)
}

/// Compile `body` into the cache under `sha` (if it is not there yet):
/// true when it was compiled now.
pub(super) fn compile(
    engine: &mut Engine,
    sha: [u8; 40],
    body: &Bytes,
    from_eval: bool,
) -> Result<bool, CmdError> {
    let tick = engine.tick();
    if let Some(c) = engine.cache.get_mut(&sha) {
        c.used = tick;
        if !from_eval {
            c.from_eval = false;
        }
        return Ok(false);
    }
    let (flags, chunk) = shebang(body)?;
    let func = engine
        .lua
        .load(chunk)
        .set_name(vm::SCRIPT_CHUNK)
        .into_function()
        .map_err(|e| {
            let msg = match &e {
                mlua::Error::SyntaxError { message, .. } => message.clone(),
                other => other.to_string(),
            };
            CmdError::Reply(Bytes::from(format!(
                "ERR Error compiling script (new function): {}",
                msg.replace(['\r', '\n'], " ")
            )))
        })?;
    if from_eval {
        evict_eval_scripts(engine);
    }

    engine.cache.insert(
        sha,
        Cached {
            // A copy: the argument shares the buffer the request was read
            // into, which a cached slice would keep whole (a 1 MB request
            // kept 1 MB for as long as the script stayed cached).
            body: Bytes::copy_from_slice(body),
            func,
            flags,
            from_eval,
            used: tick,
        },
    );
    Ok(true)
}

/// Make room for one more EVAL-loaded script.
pub(super) fn evict_eval_scripts(engine: &mut Engine) {
    let from_eval = engine.cache.values().filter(|c| c.from_eval).count();
    if from_eval < EVAL_CACHE_MAX {
        return;
    }
    let oldest = engine
        .cache
        .iter()
        .filter(|(_, c)| c.from_eval)
        .min_by_key(|(_, c)| c.used)
        .map(|(k, _)| *k);
    if let Some(k) = oldest {
        engine.cache.remove(&k);
    }
}

/// Split a `#!lua flags=...` first line off `body`: the flags, and the
/// chunk to compile (the shebang line left empty, so line numbers stay).
pub(super) fn shebang(body: &[u8]) -> Result<(Flags, &[u8]), CmdError> {
    let mut flags = Flags::default();
    if !body.starts_with(b"#!") {
        flags.compat = true;
        return Ok((flags, body));
    }
    // Redis looks for the newline with `strchr`, which a NUL stops, then
    // splits the line with `sdssplitargs` (blanks, quotes).
    let end = match body.iter().position(|&b| b == b'\n' || b == 0) {
        Some(end) if body[end] == b'\n' => end,
        _ => {
            return Err(CmdError::Reply(Bytes::from_static(
                b"ERR Invalid script shebang",
            )))
        }
    };
    let parts = match crate::protocol::split_inline(&body[..end]) {
        Some(parts) if !parts.is_empty() => parts,
        _ => {
            return Err(CmdError::Reply(Bytes::from_static(
                b"ERR Invalid engine in script shebang",
            )))
        }
    };
    let engine = &parts[0][..];
    if engine != b"#!lua" {
        return Err(CmdError::Reply(Bytes::from(
            [&b"ERR Unexpected engine in script shebang: "[..], engine].concat(),
        )));
    }
    for part in &parts[1..] {
        let Some(list) = part.strip_prefix(b"flags=") else {
            return Err(CmdError::Reply(Bytes::from(
                [&b"ERR Unknown lua shebang option: "[..], part].concat(),
            )));
        };
        for flag in list.split(|&b| b == b',').filter(|f| !f.is_empty()) {
            if !flags.set(flag) {
                return Err(CmdError::Reply(Bytes::from(
                    [&b"ERR Unexpected flag in script shebang: "[..], flag].concat(),
                )));
            }
        }
    }
    Ok((flags, &body[end..]))
}

/// After a change to the libraries: the dataset's copy (for snapshots)
/// and the AOF record.
pub(super) fn functions_changed<S: Store>(ctx: &Ctx<'_, S>, engine: &Engine) {
    ctx.state.db.set_function_codes(functions::codes(engine));
    crate::db::journal::dirty();
    publish_sizes(ctx, engine);
}

pub(super) fn publish_sizes<S: Store>(ctx: &Ctx<'_, S>, engine: &Engine) {
    let bytes: usize = engine
        .cache
        .values()
        .map(|c| c.body.len() + std::mem::size_of::<Cached>() + 40)
        .sum();
    ctx.state
        .scripts
        .set_sizes(engine.cache.len(), bytes, engine.lua.used_memory());
    let (libs, funcs) = functions::counts(engine);
    ctx.state.scripts.set_function_counts(libs, funcs);
}
