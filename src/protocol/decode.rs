//! The request decoder: pure, incremental and zero-copy.
//!
//! Requests come in two shapes, chosen by the first byte of each one, as in
//! Redis's `processInputBuffer`: a multibulk (`*<n>\r\n` then `n` times
//! `$<len>\r\n<bytes>\r\n`) or an inline line (`SET k v\n`, split by
//! [`split_inline`]). The decoder reproduces Redis 7's quirks because clients
//! and tests can observe them: header lines end at the first `\r` and the
//! byte after it is skipped unchecked, so is the CRLF after a bulk payload;
//! a header or inline line that contains a NUL byte is never complete (Redis
//! searches with `strchr`); `*0` and `*-1` lines and empty inline lines are
//! skipped silently.
//!
//! State survives between calls: a frame split at any byte boundary parses
//! the same, header searches resume where they stopped, and a bulk payload
//! is never rescanned, so a frame of `n` bytes costs O(n) however it is cut.
//! The buffer is consumed only a whole request at a time, and the arguments
//! are slices of the consumed bytes (no copy). A declared length never
//! reserves memory: the buffer only holds what has arrived.

use bytes::{Bytes, BytesMut};

use super::inline::split_inline;
use super::ProtocolError;
use crate::util::numbers::string2ll;

/// Longest inline request or `*`/`$` header line (Redis's
/// `PROTO_INLINE_MAX_SIZE`).
pub const MAX_INLINE_LEN: usize = 64 * 1024;
/// Redis pre-allocates at most this many argument slots for a multibulk,
/// whatever count the client declares.
const MAX_PREALLOC_ARGS: usize = 1024;
/// Unauthenticated clients may send at most this many arguments
/// (when a password is required).
const UNAUTH_MAX_ARGS: i64 = 10;
/// ... and bulks of at most this many bytes.
const UNAUTH_MAX_BULK: i64 = 16 * 1024;

/// The limits that apply to the next request, from the configuration and
/// the client's authentication state.
#[derive(Clone, Copy, Debug)]
pub struct DecodeLimits {
    /// `proto-max-bulk-len`: longest accepted bulk argument.
    pub max_bulk_len: u64,
    /// The server requires a password and this client has not given it.
    pub unauthenticated: bool,
}

impl Default for DecodeLimits {
    fn default() -> Self {
        DecodeLimits {
            max_bulk_len: 512 * 1024 * 1024,
            unauthenticated: false,
        }
    }
}

/// Incremental request decoder; one per connection.
#[derive(Debug, Default)]
pub struct Decoder {
    /// Arguments still expected by the multibulk being read (0 between
    /// requests).
    remaining: u64,
    /// Length of the bulk whose `$` header has been read.
    bulk_len: Option<usize>,
    /// Where parsing resumes; the buffer always starts at the current
    /// request, so this is also the request's size so far.
    pos: usize,
    /// How far past `pos` a header or inline line has already been searched
    /// for its terminator.
    scanned: usize,
    /// Argument ranges within the current request.
    args: Vec<(usize, usize)>,
}

impl Decoder {
    /// A decoder at the start of a stream.
    pub fn new() -> Self {
        Self::default()
    }

    /// True while a request has been started but not completed.
    pub fn in_request(&self) -> bool {
        self.remaining > 0
    }

    /// Bytes this decoder itself holds between calls (argument slots; the
    /// request bytes live in the caller's buffer). Bounded by a constant
    /// plus a multiple of the bytes received, whatever lengths a client
    /// declares; the `resp_decode` fuzz target asserts it.
    pub fn held_bytes(&self) -> usize {
        self.args.capacity() * std::mem::size_of::<(usize, usize)>()
    }

    /// Decode the next request from `buf`.
    ///
    /// Returns `Ok(None)` when more bytes are needed, and consumes the
    /// request's bytes from `buf` when it returns one. Requests with no
    /// arguments are skipped, so a returned request is never empty.
    pub fn decode(
        &mut self,
        buf: &mut BytesMut,
        limits: DecodeLimits,
    ) -> Result<Option<Vec<Bytes>>, ProtocolError> {
        loop {
            if self.remaining == 0 {
                let Some(&first) = buf.first() else {
                    return Ok(None);
                };
                if first != b'*' {
                    match self.inline(buf)? {
                        None => return Ok(None),
                        Some(args) if args.is_empty() => continue,
                        Some(args) => return Ok(Some(args)),
                    }
                }
                match self.multibulk_header(buf, limits)? {
                    None => return Ok(None),
                    Some(0) => continue,
                    Some(n) => {
                        self.remaining = n;
                        let prealloc = usize::try_from(n).unwrap_or(usize::MAX);
                        self.args.reserve(prealloc.min(MAX_PREALLOC_ARGS));
                    }
                }
            }
            while self.remaining > 0 {
                let len = match self.bulk_len {
                    Some(len) => len,
                    None => match self.bulk_header(buf, limits)? {
                        Some(len) => len,
                        None => return Ok(None),
                    },
                };
                // The payload is followed by two bytes Redis skips unread.
                if buf.len() - self.pos < len + 2 {
                    return Ok(None);
                }
                self.args.push((self.pos, self.pos + len));
                self.pos += len + 2;
                self.bulk_len = None;
                self.remaining -= 1;
            }
            let frame = buf.split_to(self.pos).freeze();
            self.pos = 0;
            let args = self
                .args
                .drain(..)
                .map(|(s, e)| frame.slice(s..e))
                .collect();
            return Ok(Some(args));
        }
    }

    /// Find the `\r` that ends the header line starting at `self.pos`.
    /// `Ok(None)` means wait for more bytes; past 64 KiB that is an error.
    fn header_end(
        &mut self,
        buf: &[u8],
        too_big: ProtocolError,
    ) -> Result<Option<usize>, ProtocolError> {
        let from = self.pos + self.scanned;
        let found = buf[from..].iter().position(|&b| b == b'\r' || b == 0);
        match found.map(|i| from + i) {
            Some(i) if buf[i] == b'\r' => {
                // Redis also wants the byte after '\r' to have arrived.
                if i + 1 >= buf.len() {
                    self.scanned = i - self.pos;
                    return Ok(None);
                }
                self.scanned = 0;
                Ok(Some(i))
            }
            // A NUL stops Redis's strchr: the line can never complete.
            Some(i) => {
                self.scanned = i - self.pos;
                self.too_big_or_wait(buf, too_big)
            }
            None => {
                self.scanned = buf.len() - self.pos;
                self.too_big_or_wait(buf, too_big)
            }
        }
    }

    fn too_big_or_wait(
        &self,
        buf: &[u8],
        too_big: ProtocolError,
    ) -> Result<Option<usize>, ProtocolError> {
        if buf.len() - self.pos > MAX_INLINE_LEN {
            Err(too_big)
        } else {
            Ok(None)
        }
    }

    /// Parse `*<count>\r\n`; `Some(0)` means a count <= 0, consumed and
    /// ignored.
    fn multibulk_header(
        &mut self,
        buf: &mut BytesMut,
        limits: DecodeLimits,
    ) -> Result<Option<u64>, ProtocolError> {
        let (count, cr) = match self.fast_header(buf, 1) {
            Some((n, cr)) => (n as i64, cr),
            None => {
                let Some(cr) = self.header_end(buf, ProtocolError::TooBigMultibulkCount)? else {
                    return Ok(None);
                };
                (string2ll(&buf[1..cr]).unwrap_or(i64::MAX), cr)
            }
        };
        if count > i64::from(i32::MAX) {
            return Err(ProtocolError::InvalidMultibulkLength);
        }
        if count > UNAUTH_MAX_ARGS && limits.unauthenticated {
            return Err(ProtocolError::UnauthenticatedMultibulkLength);
        }
        if count <= 0 {
            let _ = buf.split_to(cr + 2);
            return Ok(Some(0));
        }
        self.pos = cr + 2;
        Ok(Some(count as u64))
    }

    /// Parse `$<len>\r\n` at `self.pos`.
    fn bulk_header(
        &mut self,
        buf: &[u8],
        limits: DecodeLimits,
    ) -> Result<Option<usize>, ProtocolError> {
        let fast = match buf.get(self.pos) {
            Some(b'$') => self.fast_header(buf, self.pos + 1),
            _ => None,
        };
        let (len, cr) = match fast {
            Some((n, cr)) => (n as i64, cr),
            None => {
                let Some(cr) = self.header_end(buf, ProtocolError::TooBigBulkCount)? else {
                    return Ok(None);
                };
                if buf[self.pos] != b'$' {
                    return Err(ProtocolError::ExpectedDollar(buf[self.pos]));
                }
                (string2ll(&buf[self.pos + 1..cr]).unwrap_or(-1), cr)
            }
        };
        if len < 0 || len as u64 > limits.max_bulk_len {
            return Err(ProtocolError::InvalidBulkLength);
        }
        if len > UNAUTH_MAX_BULK && limits.unauthenticated {
            return Err(ProtocolError::UnauthenticatedBulkLength);
        }
        let len = usize::try_from(len).map_err(|_| ProtocolError::InvalidBulkLength)?;
        self.pos = cr + 2;
        self.bulk_len = Some(len);
        Ok(Some(len))
    }

    /// The common header line in one pass: digits from `start`, without
    /// sign or leading zero, then `\r` and the byte after it (what every
    /// client sends). Returns the number and the index of the `\r`; `None`
    /// sends the line to the general path (`header_end` + `string2ll`),
    /// which handles everything else exactly as Redis does.
    fn fast_header(&self, buf: &[u8], start: usize) -> Option<(u64, usize)> {
        let parsed = self.fast_header_scan(buf, start);
        #[cfg(test)]
        if parsed.is_some() {
            tests::FAST_HEADERS.with(|n| n.set(n.get() + 1));
        }
        parsed
    }

    fn fast_header_scan(&self, buf: &[u8], start: usize) -> Option<(u64, usize)> {
        if self.scanned != 0 {
            return None;
        }
        let digits = buf.get(start..)?;
        let mut n: u64 = 0;
        for (i, &c) in digits.iter().enumerate().take(19) {
            match c {
                b'\r' if i > 0 && start + i + 1 < buf.len() => return Some((n, start + i)),
                b'0' if i == 0 => {
                    return (digits.get(1) == Some(&b'\r') && start + 2 < buf.len())
                        .then_some((0, start + 1))
                }
                b'0'..=b'9' => n = n * 10 + u64::from(c - b'0'),
                _ => return None,
            }
        }
        None
    }

    /// Parse one inline line. `Some(vec![])` for a blank line (consumed).
    fn inline(&mut self, buf: &mut BytesMut) -> Result<Option<Vec<Bytes>>, ProtocolError> {
        let from = self.scanned;
        let found = buf[from..].iter().position(|&b| b == b'\n' || b == 0);
        let nl = match found.map(|i| from + i) {
            Some(i) if buf[i] == b'\n' => i,
            other => {
                self.scanned = other.unwrap_or(buf.len());
                if buf.len() > MAX_INLINE_LEN {
                    return Err(ProtocolError::TooBigInline);
                }
                return Ok(None);
            }
        };
        self.scanned = 0;
        let line_end = if nl > 0 && buf[nl - 1] == b'\r' {
            nl - 1
        } else {
            nl
        };
        let args = split_inline(&buf[..line_end]).ok_or(ProtocolError::UnbalancedQuotes)?;
        let _ = buf.split_to(nl + 1);
        Ok(Some(args))
    }
}

#[cfg(test)]
mod tests {
    use super::super::watchdog::watched;
    use super::*;

    thread_local! {
        /// Header lines the fast path parsed, in this thread.
        pub(super) static FAST_HEADERS: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
    }

    /// Clients' usual headers take the one-pass fast path. A mutant that
    /// sends them down the general path changes no reply, only the cost,
    /// so this counts the fast path's parses (mutation sample, shard 1/3:
    /// four such mutants survived every other test).
    #[test]
    fn usual_headers_take_the_fast_path() {
        let fast = watched(|| {
            FAST_HEADERS.with(|n| n.set(0));
            let mut d = Decoder::new();
            let mut buf = BytesMut::from(
                &b"*2\r\n$3\r\nGET\r\n$10\r\nkey:000001\r\n*1\r\n$4\r\nPING\r\n"[..],
            );
            while let Ok(Some(_)) = d.decode(&mut buf, DecodeLimits::default()) {}
            FAST_HEADERS.with(|n| n.get())
        });
        assert_eq!(fast, 5, "two array counts and three bulk lengths");
    }

    /// A bare `\n` is a blank inline line, as `\r\n` is: consumed and
    /// skipped (mutation sample, shard 1/3: `nl > 0` made `nl >= 0`, which
    /// reads before the buffer for a line at its very start, survived).
    #[test]
    fn a_bare_newline_is_a_blank_line() {
        let (reqs, res, left) = decode_all(b"\n\n*1\r\n$4\r\nPING\r\n\nPING\n");
        assert_eq!((res, left), (Ok(()), 0));
        assert_eq!(reqs, vec![args(&["PING"]), args(&["PING"])]);
    }

    type Decoded = (Vec<Vec<Bytes>>, Result<(), ProtocolError>, usize);

    /// Every request in `input`, the error that stopped decoding, and the
    /// bytes left. A decoder that yields more requests than there are
    /// bytes fails the test (and one that loops fails it via `watched`).
    fn decode_all(input: &[u8]) -> Decoded {
        let input = input.to_vec();
        watched(move || {
            let mut d = Decoder::new();
            let mut buf = BytesMut::from(&input[..]);
            let mut out = vec![];
            for _ in 0..=input.len() {
                let r = match d.decode(&mut buf, DecodeLimits::default()) {
                    Ok(Some(req)) => {
                        out.push(req);
                        continue;
                    }
                    Ok(None) => Ok(()),
                    Err(e) => Err(e),
                };
                return (out, r, buf.len());
            }
            panic!("more requests than bytes");
        })
    }

    fn args(v: &[&str]) -> Vec<Bytes> {
        v.iter()
            .map(|s| Bytes::copy_from_slice(s.as_bytes()))
            .collect()
    }

    #[test]
    fn multibulk_and_inline_requests_decode() {
        let (reqs, res, left) = decode_all(b"*2\r\n$4\r\nECHO\r\n$3\r\nhey\r\nPING\r\nSET a  b\n");
        assert_eq!(res, Ok(()));
        assert_eq!(left, 0);
        assert_eq!(
            reqs,
            vec![
                args(&["ECHO", "hey"]),
                args(&["PING"]),
                args(&["SET", "a", "b"])
            ]
        );
    }

    /// `$0` is an empty argument, not an error, and the fast header path
    /// must end its line at the `\r` (mutation sample: `len < 0` made
    /// `<= 0`, and `$0`'s line end one byte early, both survived).
    /// Ten or more arguments: the count's header is two digits long.
    #[test]
    fn a_request_of_many_arguments_decodes() {
        let mut input = b"*12\r\n".to_vec();
        for i in 0..12 {
            input.extend_from_slice(format!("$2\r\na{}\r\n", i % 10).as_bytes());
        }
        let (reqs, res, left) = decode_all(&input);
        assert_eq!((res, left), (Ok(()), 0));
        let want: Vec<String> = (0..12).map(|i| format!("a{}", i % 10)).collect();
        let want: Vec<&str> = want.iter().map(String::as_str).collect();
        assert_eq!(reqs, vec![args(&want)]);
    }

    #[test]
    fn empty_bulk_arguments_decode() {
        let (reqs, res, left) = decode_all(b"*3\r\n$3\r\nSET\r\n$0\r\n\r\n$1\r\nv\r\n");
        assert_eq!((res, left), (Ok(()), 0));
        assert_eq!(reqs, vec![args(&["SET", "", "v"])]);
    }

    /// A header line is complete only with the byte after its `\r`, as in
    /// Redis: until then the decoder has taken nothing, on the fast path
    /// too (mutation sample: `start + i + 1 < len` made `<=` survived).
    #[test]
    fn a_header_waits_for_the_byte_after_its_cr() {
        watched(|| {
            for input in [&b"*1\r"[..], b"*10\r", b"*0\r"] {
                let mut d = Decoder::new();
                let mut buf = BytesMut::from(input);
                assert_eq!(d.decode(&mut buf, DecodeLimits::default()), Ok(None));
                assert!(!d.in_request(), "{input:?}");
                assert_eq!(buf.len(), input.len(), "{input:?}: nothing consumed");
            }
        })
    }

    #[test]
    fn empty_and_nonpositive_requests_are_skipped() {
        let (reqs, res, left) = decode_all(b"*0\r\n*-10\r\n\r\n   \r\n*1\r\n$4\r\nPING\r\n");
        assert_eq!((res, left), (Ok(()), 0));
        assert_eq!(reqs, vec![args(&["PING"])]);
        // Exactly the header is consumed: the next request starts at once.
        let (reqs, res, left) = decode_all(b"*-10\r\n*1\r\n$4\r\nPING\r\n");
        assert_eq!((reqs, res, left), (vec![args(&["PING"])], Ok(()), 0));
    }

    #[test]
    fn a_frame_split_at_every_byte_parses_the_same() {
        watched(|| {
            let input = b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$10\r\n0123456789\r\nECHO \"a b\"\r\n";
            let whole = decode_all(input).0;
            let mut d = Decoder::new();
            let mut buf = BytesMut::new();
            let mut got = vec![];
            for &b in input.iter() {
                buf.extend_from_slice(&[b]);
                while let Some(req) = d.decode(&mut buf, DecodeLimits::default()).unwrap() {
                    got.push(req);
                }
            }
            assert_eq!(got, whole);
            assert_eq!(got.len(), 2);
        })
    }

    #[test]
    fn redis_skips_the_two_bytes_after_headers_and_payloads() {
        let (reqs, res, _) = decode_all(b"*1\r\n$4\r\nPINGXX");
        assert_eq!((reqs, res), (vec![args(&["PING"])], Ok(())));
        let (_, res, _) = decode_all(b"*1\r$4\rPING\r\n");
        assert_eq!(res, Err(ProtocolError::ExpectedDollar(b'4')));
    }

    #[test]
    fn protocol_errors_carry_redis_texts() {
        let cases: &[(&[u8], &str)] = &[
            (
                b"*2147483648\r\n",
                "ERR Protocol error: invalid multibulk length",
            ),
            (b"*+1\r\n", "ERR Protocol error: invalid multibulk length"),
            (b"*01\r\n", "ERR Protocol error: invalid multibulk length"),
            (b"*\r\n", "ERR Protocol error: invalid multibulk length"),
            (b"*1\r\n$-1\r\n", "ERR Protocol error: invalid bulk length"),
            (b"*1\r\n$x\r\n", "ERR Protocol error: invalid bulk length"),
            (
                b"*1\r\n$536870913\r\n",
                "ERR Protocol error: invalid bulk length",
            ),
            (
                b"*1\r\nPING\r\n",
                "ERR Protocol error: expected '$', got 'P'",
            ),
            (b"*1\r\n\n\r\n", "ERR Protocol error: expected '$', got ' '"),
            (
                b"ECHO \"abc\r\n",
                "ERR Protocol error: unbalanced quotes in request",
            ),
        ];
        for (input, text) in cases {
            let (_, res, _) = decode_all(input);
            let err = res.expect_err(&String::from_utf8_lossy(input));
            assert_eq!(String::from_utf8_lossy(&err.reply_text()), *text);
        }
    }

    #[test]
    fn declared_lengths_wait_for_data_without_error() {
        for input in [
            &b"*2147483647\r\n"[..],
            b"*1\r\n$536870912\r\n",
            b"*1\n$4\nPING\n",
            b"\0PING\r\n",
        ] {
            let (reqs, res, left) = decode_all(input);
            assert!(reqs.is_empty());
            assert_eq!(res, Ok(()));
            assert_eq!(left, input.len(), "nothing consumed");
        }
    }

    #[test]
    fn overlong_lines_are_rejected_at_64k() {
        // Redis's PROTO_INLINE_MAX_SIZE, spelled out: the tests below use the
        // constant, so they would follow it anywhere.
        assert_eq!(MAX_INLINE_LEN, 65_536);
        let line = vec![b'a'; MAX_INLINE_LEN + 1];
        assert_eq!(decode_all(&line).1, Err(ProtocolError::TooBigInline));
        assert_eq!(decode_all(&line[..MAX_INLINE_LEN]).1, Ok(()));
        let mut mb = b"*".to_vec();
        mb.extend(vec![b'1'; MAX_INLINE_LEN + 1]);
        assert_eq!(decode_all(&mb).1, Err(ProtocolError::TooBigMultibulkCount));
        assert_eq!(decode_all(&mb[..MAX_INLINE_LEN]).1, Ok(()), "64 KB exactly");
        let mut bulk = b"*1\r\n$".to_vec();
        bulk.extend(vec![b'1'; MAX_INLINE_LEN + 1]);
        assert_eq!(decode_all(&bulk).1, Err(ProtocolError::TooBigBulkCount));
        // The bulk header's line starts after "*1\r\n".
        assert_eq!(decode_all(&bulk[..4 + MAX_INLINE_LEN]).1, Ok(()));
    }

    /// A NUL stops Redis's header scan (`strchr`), so a header holding one
    /// never completes: the decoder waits, at the start of a request or
    /// inside one, and gives up at 64 KB like any other overlong line.
    #[test]
    fn a_nul_in_a_header_line_never_completes_it() {
        watched(|| {
            for input in [&b"*1\0\r\n"[..], b"*2\r\n$1\r\na\r\n$1\0\r\nb\r\n"] {
                let mut d = Decoder::new();
                let mut buf = BytesMut::from(input);
                assert_eq!(
                    d.decode(&mut buf, DecodeLimits::default()),
                    Ok(None),
                    "{input:?}"
                );
                // One more byte: the scan resumes where it stopped, inside
                // the buffer (not past its end).
                buf.extend_from_slice(b"\r");
                assert_eq!(
                    d.decode(&mut buf, DecodeLimits::default()),
                    Ok(None),
                    "{input:?}"
                );
                buf.extend_from_slice(b"\r\n*1\r\n$4\r\nPING\r\n");
                assert_eq!(
                    d.decode(&mut buf, DecodeLimits::default()),
                    Ok(None),
                    "{input:?}"
                );
                buf.extend_from_slice(&vec![b'x'; MAX_INLINE_LEN]);
                assert!(
                    d.decode(&mut buf, DecodeLimits::default()).is_err(),
                    "{input:?}"
                );
            }
        })
    }

    /// The 64 KB limit on a header line counts from the line's own start,
    /// not from the start of the request or of the buffer.
    #[test]
    fn a_header_line_inside_a_request_has_its_own_64k() {
        let mut input = b"*2\r\n$1000\r\n".to_vec();
        input.extend(vec![b'a'; 1000]);
        input.extend_from_slice(b"\r\n$");
        input.extend(vec![b'1'; MAX_INLINE_LEN - 100]);
        let (done, result, _) = decode_all(&input);
        assert_eq!(
            (done.len(), result),
            (0, Ok(())),
            "still waiting for the line's end"
        );
        input.extend(vec![b'1'; 200]);
        assert_eq!(decode_all(&input).1, Err(ProtocolError::TooBigBulkCount));
    }

    /// `in_request` says whether a request is half read (the connection
    /// counts such a client as busy), and `held_bytes` what the decoder
    /// holds between calls (the `resp_decode` fuzz target bounds it).
    #[test]
    fn a_half_read_request_is_reported_with_its_slots() {
        watched(|| {
            let mut d = Decoder::new();
            assert!(!d.in_request());
            let mut buf = BytesMut::from(&b"*3\r\n$3\r\nSET\r\n$1\r\nk"[..]);
            assert_eq!(d.decode(&mut buf, DecodeLimits::default()), Ok(None));
            assert!(d.in_request());
            let slot = std::mem::size_of::<(usize, usize)>();
            assert!(
                d.held_bytes() >= 3 * slot,
                "{} bytes for 3 slots",
                d.held_bytes()
            );
            assert!(
                d.held_bytes() <= 8 * slot,
                "{} bytes for 3 slots",
                d.held_bytes()
            );
            buf.extend_from_slice(b"\r\n$1\r\nv\r\n");
            assert_eq!(
                d.decode(&mut buf, DecodeLimits::default()),
                Ok(Some(args(&["SET", "k", "v"])))
            );
            assert!(!d.in_request());
            // A huge declared count holds no more than Redis's 1,024 slots.
            let mut buf = BytesMut::from(&b"*2147483647\r\n"[..]);
            assert_eq!(d.decode(&mut buf, DecodeLimits::default()), Ok(None));
            assert!(d.in_request());
            assert!(d.held_bytes() <= 2 * MAX_PREALLOC_ARGS * slot);
        })
    }

    #[test]
    fn unauthenticated_clients_get_small_limits() {
        watched(|| {
            let limits = DecodeLimits {
                unauthenticated: true,
                ..DecodeLimits::default()
            };
            let mut d = Decoder::new();
            let mut buf = BytesMut::from(&b"*11\r\n"[..]);
            assert_eq!(
                d.decode(&mut buf, limits),
                Err(ProtocolError::UnauthenticatedMultibulkLength)
            );
            let mut d = Decoder::new();
            let mut buf = BytesMut::from(&b"*2\r\n$4\r\nAUTH\r\n$16385\r\n"[..]);
            assert_eq!(
                d.decode(&mut buf, limits),
                Err(ProtocolError::UnauthenticatedBulkLength)
            );
        })
    }

    /// What the calling thread allocated and still holds (exact; see
    /// `flashkv_alloc::thread_net`).
    fn held() -> i64 {
        flashkv_alloc::thread_net()
    }

    /// A declared length or count reserves nothing: a client that declares a
    /// 512 MB bulk or two billion arguments and sends a few bytes makes the
    /// decoder hold what arrived (and at most Redis's 1,024 preallocated
    /// argument slots), authenticated or not. (Also asserted by the
    /// `resp_decode` fuzz target, but only for the inputs it happens to try.)
    #[test]
    fn declared_lengths_never_reserve_memory() {
        watched(|| {
            assert!(flashkv_alloc::active());
            let cases: [(&[u8], bool); 9] = [
                (b"*2147483647\r\n", false),
                (b"*2147483647\r\n$1\r\na\r\n$9", false),
                (b"*1\r\n$536870912\r\nabc", false),
                (b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$536870912\r\n", false),
                (b"*1048576\r\n", false),
                (b"*10\r\n", true),
                (b"*2\r\n$4\r\nAUTH\r\n$16384\r\nab", true),
                (b"*1\r\n$16384\r\n", true),
                (
                    b"GET aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
                    false,
                ),
            ];
            for (input, unauthenticated) in cases {
                let limits = DecodeLimits {
                    unauthenticated,
                    ..DecodeLimits::default()
                };
                let mut buf = BytesMut::from(input);
                let mut d = Decoder::new();
                flashkv_alloc::reset_thread_peak();
                let before = held();
                assert_eq!(d.decode(&mut buf, limits), Ok(None), "{input:?}");
                // And again, as when more bytes arrive and the decoder resumes.
                assert_eq!(d.decode(&mut buf, limits), Ok(None), "{input:?}");
                // The peak: a reservation freed before returning counts too.
                let grown = flashkv_alloc::thread_peak() - before;
                let slots = (MAX_PREALLOC_ARGS * std::mem::size_of::<Bytes>()) as i64;
                assert!(
                    grown <= slots,
                    "{:?} (unauthenticated: {unauthenticated}) made the decoder hold {grown} bytes",
                    String::from_utf8_lossy(input)
                );
            }
        })
    }

    #[test]
    fn arguments_are_slices_of_the_read_buffer() {
        watched(|| {
            let mut d = Decoder::new();
            let mut buf = BytesMut::from(&b"*1\r\n$5\r\nhello\r\n"[..]);
            let base = buf.as_ptr() as usize;
            let req = d
                .decode(&mut buf, DecodeLimits::default())
                .unwrap()
                .unwrap();
            assert_eq!(req[0].as_ptr() as usize, base + 8);
        })
    }
}
