//! `ProtocolError`: why a request could not be framed.
//!
//! Every variant is fatal for the connection: the server writes
//! `-ERR Protocol error: <text>` and closes after the reply has been flushed,
//! as Redis does (`setProtocolError` in `networking.c`). The texts are Redis
//! 7's, byte for byte.

use thiserror::Error;

/// A request that breaks RESP framing or one of the configured limits.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum ProtocolError {
    /// An inline request grew past 64 KiB without a newline.
    #[error("too big inline request")]
    TooBigInline,
    /// A `*<count>` line grew past 64 KiB without a `\r`.
    #[error("too big mbulk count string")]
    TooBigMultibulkCount,
    /// A `$<len>` line grew past 64 KiB without a `\r`.
    #[error("too big bulk count string")]
    TooBigBulkCount,
    /// The argument count is not an integer or exceeds `INT_MAX`.
    #[error("invalid multibulk length")]
    InvalidMultibulkLength,
    /// The bulk length is not an integer, negative, or above
    /// `proto-max-bulk-len`.
    #[error("invalid bulk length")]
    InvalidBulkLength,
    /// An argument of a multibulk request did not start with `$`. Redis
    /// prints the offending byte raw, with CR and LF turned into spaces.
    #[error("expected '$', got '{}'", *.0 as char)]
    ExpectedDollar(u8),
    /// An inline request has an unterminated quote, or a closing quote that
    /// is not followed by a space.
    #[error("unbalanced quotes in request")]
    UnbalancedQuotes,
    /// More than 10 arguments from a client that has not authenticated.
    #[error("unauthenticated multibulk length")]
    UnauthenticatedMultibulkLength,
    /// A bulk longer than 16 KiB from a client that has not authenticated.
    #[error("unauthenticated bulk length")]
    UnauthenticatedBulkLength,
    /// A reply frame (not a request) is malformed; used by the reply parser
    /// that tests and tools use, never sent to a client.
    #[error("invalid reply frame: {0}")]
    InvalidReply(&'static str),
}

impl ProtocolError {
    /// The error reply Redis sends before closing the connection, without
    /// the leading `-` and trailing CRLF.
    pub fn reply_text(&self) -> Vec<u8> {
        let mut text = b"ERR Protocol error: ".to_vec();
        match self {
            // Display would turn a non-UTF-8 byte into U+0080.., Redis sends
            // the byte itself.
            ProtocolError::ExpectedDollar(b) => {
                let b = if matches!(b, b'\r' | b'\n') { b' ' } else { *b };
                text.extend_from_slice(b"expected '$', got '");
                text.push(b);
                text.push(b'\'');
            }
            other => text.extend_from_slice(other.to_string().as_bytes()),
        }
        text
    }
}
