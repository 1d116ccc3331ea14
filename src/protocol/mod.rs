//! RESP: the frame type, a pure incremental request decoder, and encoders.
//!
//! Nothing here does I/O. `decode` works on a `BytesMut` that the connection
//! fills; `encode` appends to a `BytesMut` that the connection writes once per
//! batch of pipelined replies.

mod frame;

pub use frame::Frame;
