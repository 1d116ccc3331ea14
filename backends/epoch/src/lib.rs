//! FlashKV backend: epoch (to be written).
