//! Arbitrary operation sequences on every backend against a HashMap
//! model; see `flashkv_fuzz::store_ops`.
#![no_main]

use flashkv_fuzz::store_ops::check;

/// `check` on every backend of the list.
macro_rules! check_each {
    ([$data:ident]; $($name:ident $variant:ident $doc:literal $store:ty),* $(,)?) => {
        $(check::<$store>($data);)*
    };
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    flashkv::for_each_backend!(check_each, [data]);
});
