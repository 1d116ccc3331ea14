//! The `Frame` type: one RESP value, as sent to or read from a peer.

use bytes::Bytes;

/// One RESP2/RESP3 value.
///
/// Replies are built as frames and encoded for the connection's protocol
/// version: RESP3-only types degrade to their RESP2 equivalents
/// (map -> flat array, set -> array, double -> bulk string, boolean -> integer,
/// null -> `$-1`, verbatim -> bulk string, push -> array), as Redis does.
#[derive(Clone, Debug, PartialEq)]
pub enum Frame {
    /// `+text`: a status reply such as `OK` (no CR or LF inside).
    Simple(Bytes),
    /// `-text`: an error reply; the text includes its code (`ERR ...`).
    Error(Bytes),
    /// `:n`
    Integer(i64),
    /// `$len` + bytes.
    Bulk(Bytes),
    /// The null bulk string: `$-1` in RESP2, `_` in RESP3.
    Null,
    /// The null array: `*-1` in RESP2, `_` in RESP3.
    NullArray,
    /// `*n` + elements.
    Array(Vec<Frame>),
    /// RESP3 `%n` map.
    Map(Vec<(Frame, Frame)>),
    /// RESP3 `~n` set.
    Set(Vec<Frame>),
    /// RESP3 `,` double.
    Double(f64),
    /// A double already formatted (GEOPOS's long-double "human" text):
    /// `,text` in RESP3, a bulk string in RESP2.
    DoubleText(Bytes),
    /// RESP3 `(` big number (a script's `{big_number=...}`): a bulk
    /// string in RESP2.
    BigNumber(Bytes),
    /// RESP3 `#t` / `#f`.
    Boolean(bool),
    /// RESP3 `=len` verbatim string with a three-letter format (`txt`, `mkd`).
    Verbatim(&'static str, Bytes),
    /// RESP3 `>n` push (out-of-band data such as pub/sub messages).
    Push(Vec<Frame>),
    /// RESP3 `|n` attributes: a map that annotates the reply sent right
    /// after it (in a [`Frame::Seq`]). RESP2 has no attributes: nothing is
    /// sent.
    Attribute(Vec<(Frame, Frame)>),
    /// Pairs as Redis sends "field value" or "member score" lists: an array
    /// of two-element arrays in RESP3, one flat array in RESP2
    /// (HRANDFIELD WITHVALUES, ZRANGE WITHSCORES...).
    Pairs(Vec<(Frame, Frame)>),
    /// Several replies to one command, sent one after the other (SUBSCRIBE
    /// confirms each channel separately). Never nested in another frame
    /// except where Redis does the same (SUBSCRIBE inside EXEC).
    Seq(Vec<Frame>),
}

impl Frame {
    /// `+OK`
    pub const fn ok() -> Frame {
        Frame::Simple(Bytes::from_static(b"OK"))
    }

    /// A simple string from static text.
    pub const fn simple(s: &'static str) -> Frame {
        Frame::Simple(Bytes::from_static(s.as_bytes()))
    }

    /// An error reply from text that already carries its code (`ERR ...`).
    pub fn error(text: impl Into<String>) -> Frame {
        Frame::Error(Bytes::from(text.into()))
    }

    /// A bulk string.
    pub fn bulk(b: impl Into<Bytes>) -> Frame {
        Frame::Bulk(b.into())
    }
}
