//! FlashKV
