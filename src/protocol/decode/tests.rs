//! Unit tests of the decoder: Redis's quirks, limits and costs.

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
        let mut buf =
            BytesMut::from(&b"*2\r\n$3\r\nGET\r\n$10\r\nkey:000001\r\n*1\r\n$4\r\nPING\r\n"[..]);
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
    // (input, bytes left in the buffer): a large argument's headers move
    // out of the buffer while it arrives (see the module documentation).
    for (input, kept) in [
        (&b"*2147483647\r\n"[..], 13),
        (b"*1\r\n$536870912\r\n", 0),
        (b"*1\n$4\nPING\n", 11),
        (b"\0PING\r\n", 7),
    ] {
        let (reqs, res, left) = decode_all(input);
        assert!(reqs.is_empty());
        assert_eq!(res, Ok(()));
        assert_eq!(left, kept, "nothing else consumed");
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

/// A request with many arguments grows the decoder's slots; once it is
/// decoded they are given back, down to no more than the pre-allocation
/// bound (a connection that sent one SADD of 100,000 members held 2 MB
/// until it closed, and Redis's lazyfree unit saw UNLINK free nothing).
#[test]
fn slots_grown_by_a_large_request_are_given_back() {
    watched(|| {
        let slot = std::mem::size_of::<(usize, usize)>();
        let mut d = Decoder::new();
        let n = 20_000;
        let mut buf = BytesMut::from(format!("*{}\r\n$4\r\nSADD\r\n", n + 1).as_bytes());
        for i in 0..n {
            let m = i.to_string();
            buf.extend_from_slice(format!("${}\r\n{m}\r\n", m.len()).as_bytes());
        }
        let argv = d
            .decode(&mut buf, DecodeLimits::default())
            .unwrap()
            .unwrap();
        assert_eq!(argv.len(), n + 1);
        assert!(
            d.held_bytes() <= MAX_PREALLOC_ARGS * slot,
            "{} bytes held after the request",
            d.held_bytes()
        );
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

/// A connection decodes every request into one vector: each request
/// leaves exactly its own arguments there, and an incomplete one leaves
/// it empty (a decoder that appended without the caller clearing, or
/// filled it before the request was complete, would fail here).
#[test]
fn decode_into_fills_the_vector_only_with_a_whole_request() {
    let mut d = Decoder::new();
    let mut argv = Vec::new();
    let mut buf = BytesMut::from(&b"*2\r\n$4\r\nECHO\r\n$2\r\nhi"[..]);
    assert_eq!(
        d.decode_into(&mut buf, DecodeLimits::default(), &mut argv),
        Ok(false)
    );
    assert!(argv.is_empty(), "nothing before the request is whole");
    buf.extend_from_slice(b"\r\nPING\r\n*1\r\n$6\r\nDBS");
    assert_eq!(
        d.decode_into(&mut buf, DecodeLimits::default(), &mut argv),
        Ok(true)
    );
    assert_eq!(argv, args(&["ECHO", "hi"]));
    argv.clear();
    let capacity = argv.capacity();
    assert_eq!(
        d.decode_into(&mut buf, DecodeLimits::default(), &mut argv),
        Ok(true)
    );
    assert_eq!(argv, args(&["PING"]), "an inline request");
    argv.clear();
    assert_eq!(
        d.decode_into(&mut buf, DecodeLimits::default(), &mut argv),
        Ok(false)
    );
    buf.extend_from_slice(b"IZE\r\n");
    assert_eq!(
        d.decode_into(&mut buf, DecodeLimits::default(), &mut argv),
        Ok(true)
    );
    assert_eq!(argv, args(&["DBSIZE"]));
    assert!(argv.capacity() >= capacity.min(1));
}

/// While a large argument arrives, the buffer holds only its bytes (the
/// arguments before it move into the decoder, as Redis moves them into
/// `argv`), so CLIENT LIST's `qbuf` is what has arrived of it and the
/// connection can size the buffer to it; the request decodes the same,
/// cut anywhere.
#[test]
fn a_large_argument_gets_the_buffer_to_itself() {
    watched(|| {
        let big = vec![b'v'; BIG_ARG];
        let mut request = b"*4\r\n$4\r\nMSET\r\n$1\r\nk\r\n$5\r\nvalue\r\n".to_vec();
        request.extend_from_slice(format!("${}\r\n", big.len()).as_bytes());
        let head = request.len();
        request.extend_from_slice(&big);
        request.extend_from_slice(b"\r\n*1\r\n$4\r\nPING\r\n");
        let expected = vec![
            b"MSET".to_vec(),
            b"k".to_vec(),
            b"value".to_vec(),
            big.clone(),
        ];
        for cut in [
            head,
            head + 1,
            head + 100,
            head + BIG_ARG - 1,
            head + BIG_ARG + 1,
        ] {
            let mut d = Decoder::new();
            let mut buf = BytesMut::from(&request[..cut]);
            assert_eq!(d.decode(&mut buf, DecodeLimits::default()), Ok(None));
            let arrived = cut - head;
            assert_eq!(buf.len(), arrived, "only the argument's bytes stay");
            assert_eq!(buf.capacity(), arrived, "nothing reserved for the rest");
            assert_eq!(d.big_bulk_end(), Some(BIG_ARG + 2));
            assert!(d.argv_memory() >= 10, "MSET, k and value are held");
            buf.extend_from_slice(&request[cut..]);
            let got = d
                .decode(&mut buf, DecodeLimits::default())
                .unwrap()
                .unwrap();
            assert_eq!(got, expected, "cut at {cut}");
            assert_eq!((d.big_bulk_end(), d.argv_memory()), (None, 0));
            let ping = d
                .decode(&mut buf, DecodeLimits::default())
                .unwrap()
                .unwrap();
            assert_eq!(ping, args(&["PING"]));
        }
        // A smaller argument leaves the request where it is.
        let mut d = Decoder::new();
        let mut buf = BytesMut::from(&b"*2\r\n$3\r\nGET\r\n$32767\r\nkk"[..]);
        let before = buf.len();
        assert_eq!(d.decode(&mut buf, DecodeLimits::default()), Ok(None));
        assert_eq!((buf.len(), d.big_bulk_end()), (before, None));
    })
}
