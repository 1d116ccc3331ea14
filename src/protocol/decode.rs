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
//!
//! One exception to "a whole request at a time", after Redis: while a
//! large argument ([`BIG_ARG`] bytes or more) is still arriving, the
//! request's earlier bytes move out of the buffer (the arguments before
//! it are copied into the decoder) and what has arrived of the argument
//! moves into a buffer of exactly its size, so the buffer holds only the
//! argument (CLIENT LIST's `qbuf` is its bytes so far, as in Redis) and
//! the connection can grow it toward the declared end without the slack
//! of doubling ([`Decoder::big_bulk_end`]).

use bytes::{Buf, Bytes, BytesMut};

use super::inline::split_inline;
use super::ProtocolError;
use crate::util::numbers::string2ll;

/// Longest inline request or `*`/`$` header line (Redis's
/// `PROTO_INLINE_MAX_SIZE`).
pub const MAX_INLINE_LEN: usize = 64 * 1024;
/// Redis pre-allocates at most this many argument slots for a multibulk,
/// whatever count the client declares.
const MAX_PREALLOC_ARGS: usize = 1024;
/// Arguments of at least this many bytes that have not fully arrived get
/// the buffer to themselves (Redis's `PROTO_MBULK_BIG_ARG`).
pub const BIG_ARG: usize = 32 * 1024;
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
    /// Arguments moved out of the buffer ahead of a large one (see the
    /// module documentation); they come before those in `args`.
    done: Vec<Bytes>,
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
        self.args.capacity() * std::mem::size_of::<(usize, usize)>() + self.argv_memory()
    }

    /// Bytes of the arguments of an incomplete request held outside the
    /// buffer (CLIENT LIST's `argv-mem`), with their handles.
    pub fn argv_memory(&self) -> usize {
        let held: usize = self.done.iter().map(Bytes::len).sum();
        held + self.done.capacity() * std::mem::size_of::<Bytes>()
    }

    /// The arguments moved out ahead of a large one, first into `argv`.
    #[cold]
    #[inline(never)]
    fn take_done(&mut self, argv: &mut Vec<Bytes>) {
        argv.append(&mut self.done);
        self.done = Vec::new();
    }

    /// While a large argument is arriving: the buffer length at which it
    /// will have arrived whole. The caller grows the buffer toward that,
    /// not past it.
    pub fn big_bulk_end(&self) -> Option<usize> {
        match self.bulk_len {
            Some(len) if len >= BIG_ARG => Some(self.pos + len + 2),
            _ => None,
        }
    }

    /// Give the large argument being read (at `self.pos`, `len` bytes)
    /// the buffer to itself: the arguments before it are copied out, and
    /// what has arrived of it moves into a buffer of exactly that size.
    /// (Cold and out of line: it must not weigh on the per-request path.)
    #[cold]
    #[inline(never)]
    fn detach(&mut self, buf: &mut BytesMut) {
        let head = Bytes::copy_from_slice(&buf[..self.pos]);
        self.done
            .extend(self.args.drain(..).map(|(s, e)| head.slice(s..e)));
        *buf = BytesMut::from(&buf[self.pos..]);
        self.pos = 0;
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
        let mut argv = Vec::new();
        Ok(self.decode_into(buf, limits, &mut argv)?.then_some(argv))
    }

    /// [`decode`](Self::decode) into `argv` (empty on entry), so that a
    /// connection reuses one vector for all its requests; `Ok(true)` when a
    /// request was decoded.
    pub fn decode_into(
        &mut self,
        buf: &mut BytesMut,
        limits: DecodeLimits,
        argv: &mut Vec<Bytes>,
    ) -> Result<bool, ProtocolError> {
        debug_assert!(argv.is_empty());
        loop {
            if self.remaining == 0 {
                let Some(&first) = buf.first() else {
                    return Ok(false);
                };
                if first != b'*' {
                    match self.inline(buf)? {
                        None => return Ok(false),
                        Some(args) if args.is_empty() => continue,
                        Some(args) => {
                            *argv = args;
                            return Ok(true);
                        }
                    }
                }
                match self.multibulk_header(buf, limits)? {
                    None => return Ok(false),
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
                        None => return Ok(false),
                    },
                };
                // The payload is followed by two bytes Redis skips unread.
                if buf.len() - self.pos < len + 2 {
                    if len >= BIG_ARG && self.pos > 0 {
                        self.detach(buf);
                    }
                    return Ok(false);
                }
                self.args.push((self.pos, self.pos + len));
                self.pos += len + 2;
                self.bulk_len = None;
                self.remaining -= 1;
            }
            let mut frame = buf.split_to(self.pos).freeze();
            self.pos = 0;
            // Every argument but the last shares the frame (a count
            // increment each); the last takes the frame's own handle,
            // which saves an atomic increment and decrement per request.
            let last = self.args.pop().expect("a request has an argument");
            if !self.done.is_empty() {
                self.take_done(argv);
            }
            argv.extend(self.args.drain(..).map(|(s, e)| frame.slice(s..e)));
            if self.args.capacity() > MAX_PREALLOC_ARGS {
                // A request with many arguments (SADD of 100,000 members)
                // grew the slots to megabytes: give them back, or the
                // connection holds them until it closes.
                self.args = Vec::new();
            }
            frame.truncate(last.1);
            frame.advance(last.0);
            argv.push(frame);
            return Ok(true);
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
mod tests;
