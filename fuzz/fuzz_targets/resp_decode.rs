//! Any bytes, cut at fuzzer-chosen points, through the request decoder and
//! the reply parser; see `flashkv_fuzz::resp_decode`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| flashkv_fuzz::resp_decode::check(data));
