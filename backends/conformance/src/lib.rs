//! Generic tests every FlashKV backend must pass (filled in by issue 3).
