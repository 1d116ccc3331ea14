//! Arbitrary command sequences through the real dispatcher, on the
//! rwlock, scc and epoch backends; see `flashkv_fuzz::command`.
//!
//! flurry is left out here: each of its 64 shards builds a `seize`
//! collector that reads the cgroup CPU quota, so building a server state
//! costs ~40 ms and would cut this target to a few runs per second.
//! store_ops covers flurry's map, and the stable replay of
//! `tests/fuzz_regressions/command/` runs every backend.
#![no_main]

use flashkv_fuzz::command::check;

/// `check` on every backend of the list.
macro_rules! check_each {
    ([$data:ident]; $($name:ident $variant:ident $doc:literal $store:ty),* $(,)?) => {
        $(check::<$store>($data);)*
    };
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    flashkv::for_each_backend!(check_each, [data]);
});
