//! FlashKV backend: scc (to be written).
