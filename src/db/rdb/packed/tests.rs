use super::*;

/// A ziplist (Redis before 7) of a 16-bit integer, a 32-bit one and a
/// short string, laid out by hand as Redis wrote them.
#[test]
fn ziplist_integers_are_read_where_they_are() {
    let mut z = vec![0u8; 10];
    z.extend_from_slice(&[0, 0xc0]);
    z.extend_from_slice(&1000i16.to_le_bytes());
    z.extend_from_slice(&[4, 0xd0]);
    z.extend_from_slice(&(-100_000i32).to_le_bytes());
    z.extend_from_slice(&[6, 0xe0]);
    z.extend_from_slice(&(1i64 << 40).to_le_bytes());
    z.extend_from_slice(&[10, 0xf0]);
    z.extend_from_slice(&(-5_000_000i32).to_le_bytes()[..3]);
    z.extend_from_slice(&[5, 0xfe, -7i8 as u8, 3, 0xf5]);
    z.extend_from_slice(&[2, 0x02, b'a', b'b', 0xff]);
    let len = z.len() as u32;
    z[..4].copy_from_slice(&len.to_le_bytes());
    z[4..8].copy_from_slice(&(len - 5).to_le_bytes());
    z[8..10].copy_from_slice(&7u16.to_le_bytes());
    assert_eq!(
        read_ziplist(&z).unwrap(),
        [
            &b"1000"[..],
            b"-100000",
            b"1099511627776",
            b"-5000000",
            b"-7",
            b"4",
            b"ab"
        ]
        .map(<[u8]>::to_vec)
    );
}

#[test]
fn listpack_round_trips_every_encoding() {
    let big = vec![b'x'; 5000];
    let mid = vec![b'y'; 300];
    let elems: Vec<&[u8]> = vec![
        b"0",
        b"127",
        b"128",
        b"-1",
        b"-4096",
        b"4095",
        b"-4097",
        b"32767",
        b"-32768",
        b"8388607",
        b"-8388608",
        b"2147483647",
        b"-2147483648",
        b"9223372036854775807",
        b"-9223372036854775808",
        b"007",
        b"+1",
        b"",
        b"field",
        &mid,
        &big,
        b"12345678901234567890",
    ];
    let lp = listpack(elems.iter().copied());
    let back = read_listpack(&lp).unwrap();
    assert_eq!(back.iter().map(Vec::as_slice).collect::<Vec<_>>(), elems);
}

/// What redis-server 7.0.15 stores for `HSET h a 1` and
/// `RPUSH l x 100` (the listpacks inside their DUMP payloads).
#[test]
fn listpack_matches_redis_bytes() {
    let redis = [12, 0, 0, 0, 2, 0, 0x81, b'a', 2, 0x01, 1, 0xff];
    let ours = listpack([&b"a"[..], b"1"]);
    assert_eq!(ours, redis);
    let redis = [12, 0, 0, 0, 2, 0, 0x81, b'x', 2, 100, 1, 0xff];
    assert_eq!(listpack([&b"x"[..], b"100"]), redis);
    assert_eq!(
        read_listpack(&ours).unwrap(),
        vec![b"a".to_vec(), b"1".to_vec()]
    );
}

#[test]
fn intset_round_trips() {
    // `SADD st 1 300` in redis-server 7.0.15.
    assert_eq!(intset(&[1, 300]), [2, 0, 0, 0, 2, 0, 0, 0, 1, 0, 44, 1]);
    for vals in [vec![1, 2, 3], vec![-70000, 5], vec![i64::MIN, 0, i64::MAX]] {
        assert_eq!(read_intset(&intset(&vals)).unwrap(), vals);
    }
}

#[test]
fn corrupt_blobs_are_errors() {
    let lp = listpack([&b"hello"[..], b"12"]);
    for cut in 0..lp.len() {
        assert!(read_listpack(&lp[..cut]).is_none());
    }
    let mut bad = lp.clone();
    bad[6] = 0x80 | 60; // a string longer than the blob
    assert!(read_listpack(&bad).is_none());
    assert!(read_intset(&[2, 0, 0, 0, 255, 255, 255, 255]).is_none());
    assert!(read_ziplist(&[11, 0, 0, 0, 10, 0, 0, 0, 0, 0, 0x00]).is_none());
    // A wrong count, or a back-length that does not match its entry.
    let mut miscounted = lp.clone();
    miscounted[4] = 3;
    assert!(read_listpack(&miscounted).is_none());
    let mut uncounted = lp.clone();
    uncounted[4..6].copy_from_slice(&[0xff, 0xff]);
    assert!(read_listpack(&uncounted).is_some(), "65535: not counted");
    let mut backlen = lp.clone();
    backlen[12] = 7; // "hello": 6 bytes, its back-length 6
    assert!(read_listpack(&backlen).is_none());
}

/// A ziplist as Redis 6 wrote it: ["a", 5, "hello", -2, 1000000].
#[test]
fn reads_ziplists() {
    let mut z = vec![0u8; 10];
    let entries: Vec<Vec<u8>> = vec![
        vec![0x01, b'a'],
        vec![0xf6],
        [vec![0x05], b"hello".to_vec()].concat(),
        vec![0xfe, 0xfe],
        [vec![0xd0], 1_000_000i32.to_le_bytes().to_vec()].concat(),
    ];
    let (mut prev, mut tail) = (0u8, 0);
    for e in &entries {
        tail = z.len();
        z.push(prev);
        z.extend_from_slice(e);
        prev = (e.len() + 1) as u8;
    }
    seal_ziplist(&mut z, tail, 5);
    let got = read_ziplist(&z).unwrap();
    let want: Vec<&[u8]> = vec![b"a", b"5", b"hello", b"-2", b"1000000"];
    assert_eq!(got.iter().map(Vec::as_slice).collect::<Vec<_>>(), want);
    // Checked as Redis checks a ziplist it converts: a wrong count,
    // tail or previous-entry length is a corrupt ziplist.
    for (at, value) in [(8, 4), (4, 10), (13, 4)] {
        let mut bad = z.clone();
        bad[at] = value;
        assert!(read_ziplist(&bad).is_none(), "byte {at} = {value}");
    }
    let mut uncounted = z.clone();
    uncounted[8..10].copy_from_slice(&[0xff, 0xff]);
    assert!(read_ziplist(&uncounted).is_some(), "65535: not counted");
}

/// End `z` (a ziplist's entries after a 10-byte header): the end byte,
/// the total size, the tail offset and the count.
fn seal_ziplist(z: &mut Vec<u8>, tail: usize, count: u16) {
    z.push(0xff);
    let n = z.len() as u32;
    z[..4].copy_from_slice(&n.to_le_bytes());
    z[4..8].copy_from_slice(&(tail as u32).to_le_bytes());
    z[8..10].copy_from_slice(&count.to_le_bytes());
}

/// Strings with 14-bit and 32-bit lengths (64 bytes and more, 16 KiB
/// and more), whose previous-entry lengths take 5 bytes.
#[test]
fn reads_long_ziplist_strings() {
    // 300 bytes: a 14-bit length whose high byte counts (0x012c).
    let (mid, long) = (vec![b'm'; 300], vec![b'l'; 16_400]);
    let mut z = vec![0u8; 10];
    z.push(0);
    z.extend_from_slice(&[0x40 | 0x01, 0x2c]);
    z.extend_from_slice(&mid);
    z.push(0xfe); // the previous entry is 303 bytes: a 5-byte prevlen
    z.extend_from_slice(&303u32.to_le_bytes());
    z.push(0x80);
    z.extend_from_slice(&(long.len() as u32).to_be_bytes());
    z.extend_from_slice(&long);
    let tail = z.len();
    z.push(0xfe); // 5 + 5 + 16,400 bytes
    z.extend_from_slice(&(10 + long.len() as u32).to_le_bytes());
    z.extend_from_slice(&[0x01, b'z']);
    seal_ziplist(&mut z, tail, 3);
    assert_eq!(read_ziplist(&z).unwrap(), vec![mid, long, b"z".to_vec()]);
    for short in [&[][..], &[1, 0, 0], &[10, 0, 0, 0, 0, 0, 0, 0, 0, 0]] {
        assert!(read_ziplist(short).is_none(), "{short:?}");
    }
}

/// A zipmap as Redis 2.4 wrote `HSET h a x` and `HSET h b yy` (with a
/// byte of free space after "yy"), and a damaged one.
#[test]
fn reads_zipmaps() {
    let z = [2, 1, b'a', 1, 0, b'x', 1, b'b', 2, 1, b'y', b'y', 0, 0xff];
    let want: Vec<&[u8]> = vec![b"a", b"x", b"b", b"yy"];
    assert_eq!(read_zipmap(&z).unwrap(), want);
    let mut long = vec![1, 254];
    long.extend_from_slice(&300u32.to_le_bytes());
    long.extend_from_slice(&[b'f'; 300]);
    long.extend_from_slice(&[1, 0, b'v', 0xff]);
    assert_eq!(
        read_zipmap(&long).unwrap(),
        vec![vec![b'f'; 300], b"v".to_vec()]
    );
    assert!(read_zipmap(&z[..z.len() - 1]).is_none());
    assert!(read_zipmap(&[1, 5, b'a', 0xff]).is_none());
}

/// Listpack back-lengths, read back the way Redis's `lpDecodeBacklen`
/// reads them (from the entry's last byte towards its first).
#[test]
fn backlens_decode_as_redis_reads_them() {
    for l in [
        0,
        1,
        127,
        128,
        200,
        16_382,
        16_383,
        16_384,
        2_097_150,
        2_097_151,
        2_097_152,
        268_435_454,
        268_435_455,
        268_435_456,
        u32::MAX as usize,
    ] {
        let mut out = Vec::new();
        push_backlen(&mut out, l);
        assert_eq!(out.len(), backlen_size(l), "size of {l}");
        let (mut val, mut shift) = (0u64, 0);
        for (k, &b) in out.iter().rev().enumerate() {
            val |= u64::from(b & 127) << shift;
            let last = k + 1 == out.len();
            assert_eq!(b & 128 == 0, last, "continuation bits of {l}: {out:?}");
            shift += 7;
        }
        assert_eq!(val, l as u64, "{out:?}");
    }
}

/// Strings of 63 and 64 bytes: the 6-bit encoding ends at 63 (Redis
/// then uses the 12-bit one, 0xe0).
#[test]
fn listpack_string_encodings_switch_where_redis_switches() {
    let (a, b) = (vec![b'a'; 63], vec![b'b'; 64]);
    let lp = listpack([&a[..], &b[..]]);
    assert_eq!(lp[6], 0x80 | 63);
    assert_eq!(&lp[7 + 63 + 1..7 + 63 + 3], &[0xe0, 64]);
    assert_eq!(read_listpack(&lp).unwrap(), vec![a, b]);
    // The 12-bit form ends at 4095 bytes; 4096 takes the 32-bit one
    // (whose first byte the 12-bit form would collide with).
    let (c, d) = (vec![b'c'; 4095], vec![b'd'; 4096]);
    let lp = listpack([&c[..], &d[..]]);
    assert_eq!(&lp[6..8], &[0xe0 | 0x0f, 0xff]);
    assert_eq!(lp[6 + 2 + 4095 + 2], 0xf0);
    assert_eq!(read_listpack(&lp).unwrap(), vec![c, d]);
}

#[test]
fn canonical_ints_follow_string2ll() {
    for ok in [
        "0",
        "-1",
        "123",
        "9223372036854775807",
        "-9223372036854775808",
    ] {
        assert!(canonical_int(ok.as_bytes()).is_some(), "{ok}");
    }
    for bad in [
        "",
        "-",
        "01",
        "-0",
        "+1",
        " 1",
        "1 ",
        "9223372036854775808",
        "1a",
    ] {
        assert!(canonical_int(bad.as_bytes()).is_none(), "{bad}");
    }
}
