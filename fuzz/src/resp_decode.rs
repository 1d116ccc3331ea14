//! Bytes through the request decoder and the reply parser.
//!
//! Input layout: byte 0 picks the limits (authenticated or not, and a
//! small, tiny or default `proto-max-bulk-len`); byte 1 says how many cut
//! points follow (0-7, two bytes each, little-endian offsets into the
//! payload); the rest is the payload. The payload is decoded once whole and
//! once delivered in pieces at the cut points, and must give the same
//! requests and the same error: a client cannot change what the server
//! sees by choosing where TCP splits its bytes. Below 64 KiB, that is; past
//! it Redis too answers differently depending on what has arrived.
//!
//! Also checked: the decoder never holds more than a constant plus a
//! multiple of the bytes it was given (declared lengths reserve nothing);
//! every request re-encodes to bytes that decode to the same request; and
//! a reply frame parsed from the payload re-encodes (RESP3) to bytes that
//! parse back to the same frame and the same bytes, while its RESP2
//! spelling is exactly one frame.

use bytes::{Bytes, BytesMut};
use flashkv::protocol::{
    encode, encode_request, parse_frame, DecodeLimits, Decoder, Frame, Protocol, ProtocolError,
    MAX_INLINE_LEN,
};

/// What decoding a byte stream produced.
#[derive(Debug, PartialEq)]
struct Outcome {
    requests: Vec<Vec<Bytes>>,
    error: Option<ProtocolError>,
}

/// Argument slots Redis (and the decoder) pre-allocate at most.
const PREALLOC_SLOTS: usize = 1024;

/// Run every check on one fuzz input.
pub fn check(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let Some((&ncuts, rest)) = rest.split_first() else {
        return;
    };
    let ncuts = usize::from(ncuts % 8);
    if rest.len() < 2 * ncuts {
        return;
    }
    let (cut_bytes, payload) = rest.split_at(2 * ncuts);
    let mut cuts: Vec<usize> = cut_bytes
        .chunks(2)
        .map(|c| usize::from(u16::from_le_bytes([c[0], c[1]])) % (payload.len() + 1))
        .collect();
    cuts.sort_unstable();
    let limits = DecodeLimits {
        unauthenticated: mode & 1 != 0,
        max_bulk_len: match (mode >> 1) % 3 {
            0 => DecodeLimits::default().max_bulk_len,
            1 => 64,
            _ => 0,
        },
    };
    let whole = decode_in_pieces(payload, &[], limits);
    let pieces = decode_in_pieces(payload, &cuts, limits);
    if payload.len() <= MAX_INLINE_LEN {
        assert_eq!(whole, pieces, "cut at {cuts:?}");
    }
    for req in &whole.requests {
        requests_round_trip(req);
    }
    replies_round_trip(payload);
}

/// Feed `payload` to one decoder, a piece at a time, draining every
/// complete request after each piece.
fn decode_in_pieces(payload: &[u8], cuts: &[usize], limits: DecodeLimits) -> Outcome {
    let mut decoder = Decoder::new();
    let mut buf = BytesMut::new();
    let mut out = Outcome {
        requests: Vec::new(),
        error: None,
    };
    let mut start = 0;
    for &end in cuts.iter().chain(std::iter::once(&payload.len())) {
        buf.extend_from_slice(&payload[start..end]);
        start = end;
        loop {
            let got = decoder.decode(&mut buf, limits);
            assert!(
                decoder.held_bytes() <= 16 * (PREALLOC_SLOTS + payload.len()),
                "decoder holds {} bytes after {} input bytes",
                decoder.held_bytes(),
                payload.len()
            );
            match got {
                Ok(Some(req)) => {
                    assert!(!req.is_empty(), "empty requests are skipped");
                    let bytes: usize = req.iter().map(Bytes::len).sum();
                    assert!(bytes <= payload.len(), "arguments larger than the input");
                    out.requests.push(req);
                }
                Ok(None) => break,
                Err(e) => {
                    // The connection closes after a protocol error.
                    out.error = Some(e);
                    return out;
                }
            }
        }
    }
    out
}

/// A decoded request, encoded as a client would send it, decodes to
/// itself (under the default limits: inline requests are not subject to
/// the bulk and unauthenticated limits that the multibulk form is).
fn requests_round_trip(req: &[Bytes]) {
    let mut wire = BytesMut::new();
    encode_request(req, &mut wire);
    let mut decoder = Decoder::new();
    let back = decoder.decode(&mut wire, DecodeLimits::default());
    assert_eq!(back, Ok(Some(req.to_vec())), "re-encoded request");
    assert!(wire.is_empty(), "re-encoded request left bytes behind");
}

fn encoded(frame: &Frame, proto: Protocol) -> BytesMut {
    let mut out = BytesMut::new();
    encode(frame, proto, &mut out);
    out
}

/// Frames equal, treating NaN doubles as equal to each other.
fn same_frame(a: &Frame, b: &Frame) -> bool {
    a == b || encoded(a, Protocol::Resp3) == encoded(b, Protocol::Resp3)
}

fn replies_round_trip(payload: &[u8]) {
    let Ok(Some((frame, used))) = parse_frame(payload) else {
        return;
    };
    assert!(used > 0 && used <= payload.len());
    // Every strict prefix of a frame is incomplete, never an error.
    assert_eq!(parse_frame(&payload[..used - 1]), Ok(None), "prefix");
    let resp3 = encoded(&frame, Protocol::Resp3);
    match parse_frame(&resp3) {
        Ok(Some((back, n))) => {
            assert_eq!(n, resp3.len(), "RESP3 encoding is one frame");
            assert!(same_frame(&back, &frame), "{back:?} != {frame:?}");
            assert_eq!(encoded(&back, Protocol::Resp3), resp3, "encoding is stable");
        }
        other => panic!("encoded {frame:?} as {resp3:?}, which parses as {other:?}"),
    }
    let resp2 = encoded(&frame, Protocol::Resp2);
    match parse_frame(&resp2) {
        Ok(Some((_, n))) => assert_eq!(n, resp2.len(), "RESP2 encoding is one frame"),
        other => panic!("encoded {frame:?} as RESP2 {resp2:?}, which parses as {other:?}"),
    }
}
