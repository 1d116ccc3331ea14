//! The sandbox: Redis 7.0's read-only globals and library tables, the
//! guarded `rawset`, `setmetatable` and `getmetatable`, and `loadstring`
//! and `load` that refuse binary chunks (see `vm`'s module doc).

use mlua::{Function, Lua, MultiValue, Table, Value};

use super::vm::{positioned, GLOBALS, PRELUDE_CHUNK};

/// An `__index` that answers every name with Redis's error for a
/// nonexistent global (the name as Lua's `tostring` would print it). It
/// sits where a lookup ends, so it is only called for missing names.
pub fn missing_global(lua: &Lua) -> mlua::Result<Function> {
    lua.create_function(|lua, (_, name): (Value, Value)| -> mlua::Result<()> {
        let name = match lua.coerce_string(name.clone())? {
            Some(s) => s.to_string_lossy(),
            None => name.to_string().unwrap_or_default(),
        };
        Err(positioned(
            lua,
            &format!("Script attempted to access nonexistent global variable '{name}'"),
        ))
    })
}

/// `loadstring` and `load` that refuse binary chunks, as Redis's patched
/// parser does (a chunk starting with ESC is a syntax error there).
const TEXT_ONLY_LOAD: &str = r#"
local loadstring, load = ...
local type, byte, concat, error = type, string.byte, table.concat, error
local function text_only(s, name)
    if type(s) == 'string' and byte(s, 1) == 27 then
        return nil, "[string \"?\"]:1: unexpected symbol near 'char(27)'"
    end
    return loadstring(s, name)
end
local function text_load(f, name)
    if type(f) ~= 'function' then
        return load(f, name)
    end
    local parts = {}
    while true do
        local part = f()
        if part == nil or part == '' then
            break
        end
        if type(part) ~= 'string' then
            error('reader function must return a string')
        end
        parts[#parts + 1] = part
    end
    return text_only(concat(parts), name)
end
return text_only, text_load
"#;

/// Make the globals and the library tables read-only (see the module doc).
pub(super) fn protect_globals(lua: &Lua) -> mlua::Result<()> {
    let g = lua.globals();
    let store = lua.create_table()?;
    let mut names = Vec::new();
    for pair in g.clone().pairs::<Value, Value>() {
        let (k, v) = pair?;
        names.push(k.clone());
        store.raw_set(k, v)?;
    }
    for k in names {
        g.raw_set(k, Value::Nil)?;
    }
    let protected = lua.create_table()?;
    let weak = lua.create_table()?;
    weak.raw_set("__mode", "k")?;
    protected.set_metatable(Some(weak));
    let readonly = lua.create_function(|lua, _: MultiValue| -> mlua::Result<()> {
        Err(positioned(lua, "Attempt to modify a readonly table"))
    })?;
    // What `getmetatable` shows of `_G`: itself read-only, so changing it
    // fails with Redis's text (whose tables are read-only at the C level,
    // metatables included).
    let shown_meta = lua.create_table()?;
    {
        let meta = lua.create_table()?;
        meta.raw_set("__newindex", readonly.clone())?;
        meta.raw_set("__metatable", false)?;
        shown_meta.set_metatable(Some(meta));
    }
    protected.raw_set(shown_meta.clone(), true)?;
    // Library tables become empty proxies over their contents.
    for lib in [
        "string",
        "math",
        "table",
        "coroutine",
        "redis",
        "bit",
        "cjson",
        "cmsgpack",
        "struct",
    ] {
        let real: Table = store.raw_get(lib)?;
        let proxy = lua.create_table()?;
        let meta = lua.create_table()?;
        meta.raw_set("__index", real)?;
        meta.raw_set("__newindex", readonly.clone())?;
        meta.raw_set("__metatable", false)?;
        proxy.set_metatable(Some(meta));
        protected.raw_set(proxy.clone(), true)?;
        if lib == "string" {
            // Method calls on strings go through the read-only view too.
            let get_meta: Function = store.raw_get("getmetatable")?;
            let meta: Table = get_meta.call("")?;
            meta.raw_set("__index", proxy.clone())?;
        }
        store.raw_set(lib, proxy)?;
    }
    store.raw_set("_G", g.clone())?;
    // A global the script reads is found by Lua itself (the proxy's
    // `__index` is the table behind it); only a missing one reaches Rust,
    // through that table's own `__index`. A function there would make every
    // global read (`redis`, `KEYS`) a call into Rust.
    let behind = lua.create_table()?;
    behind.raw_set("__index", missing_global(lua)?)?;
    store.set_metatable(Some(behind));
    let meta = lua.create_table()?;
    meta.raw_set("__index", store.clone())?;
    meta.raw_set("__newindex", readonly)?;
    meta.raw_set("__metatable", shown_meta)?;
    g.set_metatable(Some(meta));
    protected.raw_set(g, true)?;
    // rawset on a protected table is refused too, and so is setmetatable
    // (Lua's own refusal has another text).
    for name in ["rawset", "setmetatable"] {
        let guarded = refuse_on_protected(lua, store.raw_get(name)?, protected.clone())?;
        store.raw_set(name, guarded)?;
    }
    // A library table shows no metatable, as in Redis (where read-only is
    // a flag of the table, not a metatable); `_G` shows its read-only one.
    let get_meta: Function = store.raw_get("getmetatable")?;
    let shown = lua.create_function(move |_, v: Value| {
        Ok(match get_meta.call::<Value>(v)? {
            Value::Boolean(false) => Value::Nil,
            other => other,
        })
    })?;
    store.raw_set("getmetatable", shown)?;
    // Redis's Lua parses source only (its `f_parser` never undumps): a
    // binary chunk fails to load, through `loadstring` and `load` alike.
    let (text_only, load): (Function, Function) =
        lua.load(TEXT_ONLY_LOAD).set_name(PRELUDE_CHUNK).call((
            store.raw_get::<Function>("loadstring")?,
            store.raw_get::<Function>("load")?,
        ))?;
    store.raw_set("loadstring", text_only)?;
    store.raw_set("load", load)?;
    lua.set_named_registry_value(GLOBALS, store)
}

/// `f`, refusing with Redis's error when its first argument is a table
/// in `protected` (the read-only tables: `_G`, the libraries).
fn refuse_on_protected(lua: &Lua, f: Function, protected: Table) -> mlua::Result<Function> {
    lua.create_function(move |_, args: MultiValue| {
        if let Some(Value::Table(t)) = args.front() {
            if protected.raw_get::<bool>(t.clone()).unwrap_or(false) {
                return Err(mlua::Error::RuntimeError(
                    "Attempt to modify a readonly table".into(),
                ));
            }
        }
        f.call::<MultiValue>(args)
    })
}
