//! Arbitrary operation sequences on every backend against a HashMap
//! model; see `flashkv_fuzz::store_ops`.
#![no_main]

use flashkv::backends::{EpochStore, FlurryStore, RwLockStore, SccStore};
use flashkv_fuzz::store_ops::check;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    check::<RwLockStore>(data);
    check::<FlurryStore>(data);
    check::<SccStore>(data);
    check::<EpochStore>(data);
});
