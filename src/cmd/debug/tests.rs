use super::*;
use crate::cmd::testing::TestDb;

#[test]
fn hash_table_stats_read_as_redis_writes_them() {
    assert_eq!(
        dict_stats(8, 6),
        "Hash table 0 stats (main hash table):\n table size: 8\n number of elements: 6\n different slots: 6\n max chain length: 1\n avg chain length (counted): 1.00\n avg chain length (computed): 1.00\n Chain length distribution:\n   0: 2 (25.00%)\n   1: 6 (75.00%)\n"
    );
    assert!(dict_stats(4, 4).ends_with("distribution:\n   1: 4 (100.00%)\n"));
    assert_eq!(
        dict_stats(4, 0),
        "No stats available for empty dictionaries\n"
    );
}

fn status(f: Frame) -> String {
    match f {
        Frame::Simple(s) => String::from_utf8(s.to_vec()).unwrap(),
        other => panic!("not a status: {other:?}"),
    }
}

/// Digests redis-server 7.0.15 gave for the same data (DEBUG
/// DIGEST-VALUE): the algorithm, the type codes and the score format
/// (`%.17g`) all have to match.
#[test]
fn digests_equal_redis_7_0() {
    let mut t = TestDb::with_config(|c| c.enable_debug_command = "yes".into());
    t.run(&["SET", "foo", "bar"]);
    t.run(&["RPUSH", "l", "a", "b", "c"]);
    t.run(&["SET", "n", "12345"]);
    t.run(&["ZADD", "z", "0.1", "a", "1.5", "b", "3", "c"]);
    let Frame::Array(got) = t.run(&["DEBUG", "DIGEST-VALUE", "z", "foo", "n", "l", "none"]) else {
        panic!("not an array")
    };
    let got: Vec<String> = got.into_iter().map(status).collect();
    assert_eq!(
        got,
        [
            "7ff3f958101e8015f3a85e52c2a23357a700d643",
            "68467c70ae30376e7ce005bcc8827f5ba7fd67dc",
            "e1cf90774e995ae03de66e8109dc5cb9d9c2dc83",
            "8bf72d812571eea9b927f3c11beb0c4165a6ff89",
            "0000000000000000000000000000000000000000",
        ]
    );
}

#[test]
fn atoi_reads_leading_digits() {
    for (s, n) in [
        ("1", 1),
        ("0", 0),
        ("12abc", 12),
        ("abc", 0),
        ("-3", -3),
        (" 7", 7),
    ] {
        assert_eq!(atoi(s.as_bytes()), n, "{s}");
    }
}
