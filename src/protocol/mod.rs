//! RESP: the frame type, a pure incremental request decoder, and encoders.
//!
//! Nothing here does I/O. [`Decoder`] works on a `BytesMut` that the
//! connection fills; [`encode`] appends to a `BytesMut` that the connection
//! writes once per batch of pipelined replies; [`parse_frame`] reads replies
//! for clients, tests and fuzzers.

mod decode;
mod encode;
mod error;
mod frame;
mod inline;
mod parse;
#[cfg(test)]
mod watchdog;

pub use decode::{DecodeLimits, Decoder, MAX_INLINE_LEN};
pub use encode::{encode, encode_request, Protocol};
pub use error::ProtocolError;
pub use frame::Frame;
pub use inline::split_inline;
pub use parse::{parse_frame, MAX_REPLY_DEPTH};
