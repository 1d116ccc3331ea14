//! FlashKV backend: flurry (to be written).
