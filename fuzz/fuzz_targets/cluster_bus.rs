//! Bytes on the cluster bus port through the framing, the decoder and the
//! bus rules; see `flashkv_fuzz::cluster_bus`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| flashkv_fuzz::cluster_bus::check(data));
