//! The `Frame` type: one RESP value, as sent to or read from a peer.

use bytes::Bytes;

/// One RESP2/RESP3 value.
///
/// Replies are built as frames and encoded for the connection's protocol
/// version: RESP3-only types degrade to their RESP2 equivalents
/// (map -> flat array, set -> array, double -> bulk string, boolean -> integer,
/// null -> `$-1`, verbatim -> bulk string, push -> array), as Redis does.
#[derive(Clone, Debug)]
pub enum Frame {
    /// `+text`: a status reply such as `OK` (no CR or LF inside).
    Simple(Bytes),
    /// `-text`: an error reply; the text includes its code (`ERR ...`).
    Error(Bytes),
    /// `:n`
    Integer(i64),
    /// `$len` + bytes.
    Bulk(Bytes),
    /// A short bulk string held in the frame itself: the same reply as
    /// [`Frame::Bulk`] (and equal to it), without the allocation a `Bytes`
    /// copy costs (GET of a small value; see [`Frame::bulk_copy`]).
    Inline(Inline),
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

    /// The bytes of strings this frame carries: a lower bound of its
    /// encoded size in either protocol (headers and numbers left out),
    /// for checking a reply against a limit before copying it.
    pub fn payload_len(&self) -> usize {
        let pairs = |p: &[(Frame, Frame)]| -> usize {
            p.iter()
                .map(|(a, b)| a.payload_len() + b.payload_len())
                .sum()
        };
        match self {
            Frame::Simple(b)
            | Frame::Error(b)
            | Frame::Bulk(b)
            | Frame::DoubleText(b)
            | Frame::BigNumber(b)
            | Frame::Verbatim(_, b) => b.len(),
            Frame::Inline(i) => i.as_bytes().len(),
            Frame::Array(v) | Frame::Set(v) | Frame::Push(v) | Frame::Seq(v) => {
                v.iter().map(Frame::payload_len).sum()
            }
            Frame::Map(p) | Frame::Pairs(p) | Frame::Attribute(p) => pairs(p),
            Frame::Integer(_)
            | Frame::Null
            | Frame::NullArray
            | Frame::Double(_)
            | Frame::Boolean(_) => 0,
        }
    }

    /// An error reply from text that already carries its code (`ERR ...`).
    pub fn error(text: impl Into<String>) -> Frame {
        Frame::Error(Bytes::from(text.into()))
    }

    /// A bulk string.
    pub fn bulk(b: impl Into<Bytes>) -> Frame {
        Frame::Bulk(b.into())
    }

    /// A bulk string copied from `b`: held inline when short, else in a
    /// `Bytes` made by `long` (a copy, or a handle on shared bytes).
    pub fn bulk_copy(b: &[u8], long: impl FnOnce() -> Bytes) -> Frame {
        match Inline::new(b) {
            Some(inline) => Frame::Inline(inline),
            None => Frame::Bulk(long()),
        }
    }

    /// The bytes of a bulk string, inline or not.
    pub fn as_bulk(&self) -> Option<&[u8]> {
        match self {
            Frame::Bulk(b) => Some(b),
            Frame::Inline(i) => Some(i.as_bytes()),
            _ => None,
        }
    }
}

/// The longest [`Frame::Inline`] string: as long as fits beside the tag
/// without making a frame larger than its largest other variant.
pub const INLINE_MAX: usize = 54;

/// The bytes of a [`Frame::Inline`].
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Inline {
    len: u8,
    bytes: [u8; INLINE_MAX],
}

const _: () = assert!(std::mem::size_of::<Frame>() <= 56);

impl Inline {
    /// `b` held inline, if it is at most [`INLINE_MAX`] bytes long.
    pub fn new(b: &[u8]) -> Option<Inline> {
        let mut bytes = [0; INLINE_MAX];
        bytes.get_mut(..b.len())?.copy_from_slice(b);
        Some(Inline {
            len: b.len() as u8,
            bytes,
        })
    }

    /// The string.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }
}

impl std::fmt::Debug for Inline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        Bytes::copy_from_slice(self.as_bytes()).fmt(f)
    }
}

/// Structural equality, except that an inline bulk string equals a `Bytes`
/// one with the same bytes (they are one reply on the wire).
impl PartialEq for Frame {
    fn eq(&self, other: &Frame) -> bool {
        use Frame::*;
        match (self, other) {
            (Bulk(_) | Inline(_), Bulk(_) | Inline(_)) => self.as_bulk() == other.as_bulk(),
            (Simple(a), Simple(b))
            | (Error(a), Error(b))
            | (DoubleText(a), DoubleText(b))
            | (BigNumber(a), BigNumber(b)) => a == b,
            (Integer(a), Integer(b)) => a == b,
            (Null, Null) | (NullArray, NullArray) => true,
            (Array(a), Array(b)) | (Set(a), Set(b)) | (Push(a), Push(b)) | (Seq(a), Seq(b)) => {
                a == b
            }
            (Map(a), Map(b)) | (Attribute(a), Attribute(b)) | (Pairs(a), Pairs(b)) => a == b,
            (Double(a), Double(b)) => a == b,
            (Boolean(a), Boolean(b)) => a == b,
            (Verbatim(f, a), Verbatim(g, b)) => f == g && a == b,
            // Spelled out so that a new variant is a compile error here.
            (
                Simple(_) | Error(_) | Integer(_) | Bulk(_) | Inline(_) | Null | NullArray
                | Array(_) | Map(_) | Set(_) | Double(_) | DoubleText(_) | BigNumber(_)
                | Boolean(_) | Verbatim(..) | Push(_) | Attribute(_) | Pairs(_) | Seq(_),
                _,
            ) => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The payload counts every string, nested or not, and is never more
    /// than what is sent (a reply is refused by it before it is copied).
    #[test]
    fn payload_len_is_a_lower_bound_of_the_encoding() {
        let s = |t: &'static str| Frame::Bulk(Bytes::from_static(t.as_bytes()));
        let frame = Frame::Array(vec![
            s("abc"),
            Frame::Integer(12345),
            Frame::Map(vec![(s("k"), Frame::Seq(vec![s("vv"), Frame::Null]))]),
            Frame::Pairs(vec![(Frame::simple("OK"), Frame::error("ERR x"))]),
            Frame::bulk_copy(b"in", Bytes::new),
        ]);
        assert_eq!(frame.payload_len(), 3 + 1 + 2 + 2 + 5 + 2);
        for proto in [
            crate::protocol::Protocol::Resp2,
            crate::protocol::Protocol::Resp3,
        ] {
            let mut out = bytes::BytesMut::new();
            crate::protocol::encode(&frame, proto, &mut out);
            assert!(out.len() >= frame.payload_len());
        }
    }
}
