//! Unit tests of the parent module.

use super::*;

#[test]
fn tenacity_sets_redis_s_time_budget() {
    // evictionTimeLimitUs: 50 us a step to 10, then 15% more a step,
    // and no limit at 100.
    let limit = |tenacity| {
        MemoryConfig {
            tenacity,
            ..MemoryConfig::default()
        }
        .time_limit()
    };
    assert_eq!(limit(0), Duration::ZERO);
    assert_eq!(limit(1), Duration::from_micros(50));
    assert_eq!(limit(10), Duration::from_micros(500));
    assert_eq!(limit(11), Duration::from_micros(575));
    assert_eq!(limit(99), Duration::from_micros(126_205_358));
    assert_eq!(limit(100), Duration::from_micros(u64::MAX));
}

fn cand(idle: u64) -> Candidate {
    Candidate {
        idle,
        db: 0,
        key: Bytes::from(idle.to_string()),
    }
}

#[test]
fn the_pool_keeps_the_sixteen_best_in_order() {
    let mut pool = Vec::new();
    for i in [
        5u64, 1, 9, 3, 7, 30, 20, 11, 2, 8, 4, 6, 10, 12, 13, 14, 15, 0, 40,
    ] {
        offer(&mut pool, cand(i));
    }
    let idles: Vec<u64> = pool.iter().map(|c| c.idle).collect();
    let want: Vec<u64> = (3..=15).chain([20, 30, 40]).collect();
    assert_eq!(idles, want);
    offer(&mut pool, cand(3));
    assert_eq!(pool.len(), POOL_SIZE, "a duplicate is not offered twice");
}

#[test]
fn a_newcomer_goes_before_its_equals_and_a_tie_with_a_full_pool_stays_out() {
    let named = |idle, key: &str| Candidate {
        idle,
        db: 0,
        key: Bytes::from(key.to_owned()),
    };
    let mut pool = Vec::new();
    offer(&mut pool, named(5, "old"));
    offer(&mut pool, named(5, "new"));
    assert_eq!(
        &pool[0].key[..],
        b"new",
        "evictionPoolPopulate: `pool[k].idle < idle`"
    );
    let mut full: Vec<Candidate> = (0..POOL_SIZE).map(|i| named(5, &format!("k{i}"))).collect();
    offer(&mut full, named(5, "tie"));
    assert!(
        full.iter().all(|c| &c.key[..] != b"tie"),
        "a tie with the worst stays out"
    );
}

/// LFU policies rank by the decayed access counter (255 minus it),
/// not by idle time read from the packed minutes-and-counter word.
/// Exact values: misread as idle time the two keys keep their order.
#[test]
fn lfu_policies_score_by_the_decayed_counter() {
    use crate::db::{Clock, ExpiryConfig};
    let now = 10 * 60_000;
    let db =
        Db::<crate::backends::RwLockStore>::new(1, Clock::manual(now), ExpiryConfig::default());
    let cfg = || MemoryConfig {
        policy: EvictionPolicy::AllKeysLfu,
        ..MemoryConfig::default()
    };
    db.set_memory_config(cfg());
    let hot = Entry::string("v");
    hot.access().set((lfu_minutes(now) << 8) | 200);
    let fresh = Entry::string("v");
    fresh.access().set((lfu_minutes(now) << 8) | LFU_INIT_VAL);
    assert_eq!(db.score(&hot, &cfg(), now), 55);
    assert_eq!(db.score(&fresh, &cfg(), now), 250);
}

#[test]
fn a_spent_time_budget_stops_eviction_after_sixteen_victims() {
    use crate::db::{Clock, ExpiryConfig};
    use store_api::{Entry, Op};
    let db =
        Db::<crate::backends::RwLockStore>::new(1, Clock::manual(1_000), ExpiryConfig::default());
    let table = db.table();
    for i in 0..100 {
        table[0].update(format!("k{i}").as_bytes(), 0, |_| {
            (Op::Put(Entry::string("v")), ())
        });
    }
    // One byte: always over, so only the time budget stops the loop.
    db.set_memory_config(MemoryConfig {
        maxmemory: 1,
        policy: EvictionPolicy::AllKeysRandom,
        ..MemoryConfig::default()
    });
    assert_eq!(
        db.perform_evictions(Some(Duration::ZERO)),
        Eviction::Running
    );
    assert_eq!(
        db.evictor().evicted(),
        16,
        "the budget is looked at every 16 victims"
    );
    assert_eq!(table[0].len(), 84);
}

#[test]
fn policy_names_round_trip() {
    for (name, policy) in EvictionPolicy::ALL {
        assert_eq!(policy.name(), name);
        assert_eq!(EvictionPolicy::parse(name), Some(policy));
    }
}

#[test]
fn lfu_counters_grow_logarithmically_and_decay_by_the_minute() {
    let p = ClockPolicy::default();
    p.set(&MemoryConfig {
        policy: EvictionPolicy::AllKeysLfu,
        ..MemoryConfig::default()
    });
    let now = 10 * 60_000;
    let mut clock = p.fresh(now);
    assert_eq!(clock & 0xff, LFU_INIT_VAL);
    for _ in 0..1000 {
        clock = p.accessed(clock, now);
    }
    let c = p.decayed(clock, now);
    // Redis's table for factor 10: about 18 after 1k hits.
    assert!((10..=30).contains(&c), "{c}");
    assert_eq!(p.decayed(clock, now + 5 * 60_000), c - 5);
    assert_eq!(p.decayed(clock, now + 600 * 60_000), 0);
    // The 16-bit minute clock wraps: 0xfff0 then, 5 now is 20 minutes.
    let old = (0xfff0 << 8) | 100;
    let wrapped = (0x1_0000 + 5) * 60_000;
    assert_eq!(p.decayed(old, wrapped), 80);
}

#[test]
fn lru_idle_time_wraps_with_the_24_bit_clock() {
    assert_eq!(idle_ms(lru_clock(5_000), 9_000), 4_000);
    let wrapped = u64::from(LRU_CLOCK_MAX) * 1000 + 3_000;
    assert_eq!(idle_ms(LRU_CLOCK_MAX - 1, wrapped), 3_000);
    assert_eq!(
        MemoryConfig::default().time_limit(),
        Duration::from_micros(500)
    );
}

#[test]
fn without_maxmemory_nothing_is_evicted_whatever_the_policy() {
    use crate::db::{Clock, ExpiryConfig};
    use store_api::Op;
    let db =
        Db::<crate::backends::RwLockStore>::new(1, Clock::manual(1_000), ExpiryConfig::default());
    let table = db.table();
    for i in 0..10 {
        table[0].update(format!("k{i}").as_bytes(), 0, |_| {
            (Op::Put(Entry::string("v")), ())
        });
    }
    assert_eq!(
        db.perform_evictions(None),
        Eviction::Ok,
        "default: no limit, noeviction"
    );
    // The sweeper calls this every cycle, with or without a limit.
    db.set_memory_config(MemoryConfig {
        maxmemory: 0,
        policy: EvictionPolicy::AllKeysRandom,
        ..MemoryConfig::default()
    });
    assert_eq!(db.perform_evictions(Some(Duration::ZERO)), Eviction::Ok);
    assert_eq!(table[0].len(), 10);
    assert_eq!(db.evictor().evicted(), 0);
}

/// LRU policies rank by idle time read from the access clock (seconds),
/// not as an LFU counter: a key idle 100 s scores 100,000, one just read 0.
#[test]
fn lru_policies_score_by_idle_time() {
    use crate::db::{Clock, ExpiryConfig};
    let now = 10 * 60_000;
    let db =
        Db::<crate::backends::RwLockStore>::new(1, Clock::manual(now), ExpiryConfig::default());
    for policy in [EvictionPolicy::AllKeysLru, EvictionPolicy::VolatileLru] {
        let cfg = MemoryConfig {
            policy,
            ..MemoryConfig::default()
        };
        let idle = Entry::string("v");
        idle.access().set(lru_clock(now - 100_000));
        let read = Entry::string("v");
        read.access().set(lru_clock(now));
        assert_eq!(db.score(&idle, &cfg, now), 100_000);
        assert_eq!(db.score(&read, &cfg, now), 0);
    }
}

#[test]
fn volatile_ttl_scores_the_nearest_deadline_highest() {
    use crate::db::{Clock, ExpiryConfig};
    let now = 1_000_000;
    let db =
        Db::<crate::backends::RwLockStore>::new(1, Clock::manual(now), ExpiryConfig::default());
    let cfg = MemoryConfig {
        policy: EvictionPolicy::VolatileTtl,
        ..MemoryConfig::default()
    };
    let mut soon = Entry::string("v");
    soon.set_expires_at(Some(now + 1_000));
    let mut late = Entry::string("v");
    late.set_expires_at(Some(now + 100_000));
    // Same access clock (0) for both: only the deadline can tell them apart.
    assert_eq!(db.score(&soon, &cfg, now), u64::MAX - (now + 1_000));
    assert!(db.score(&soon, &cfg, now) > db.score(&late, &cfg, now));
}

#[test]
fn only_the_random_policies_pick_at_random() {
    for (name, policy) in EvictionPolicy::ALL {
        assert_eq!(policy.random(), name.ends_with("-random"), "{name}");
    }
}

#[test]
fn a_new_key_s_lfu_clock_holds_the_current_minute() {
    let p = ClockPolicy::default();
    p.set(&MemoryConfig {
        policy: EvictionPolicy::AllKeysLfu,
        ..MemoryConfig::default()
    });
    let now = 10 * 60_000;
    assert_eq!(p.fresh(now), (10 << 8) | LFU_INIT_VAL);
    assert_eq!(
        p.decayed(p.fresh(now), now),
        LFU_INIT_VAL,
        "no decay at creation"
    );
}

#[test]
fn restore_idletime_sets_the_lru_clock_that_many_seconds_back() {
    let now = 100_000; // LRU clock 100
    assert_eq!(restored_clock(false, None, Some(10), now), Some(90));
    assert_eq!(restored_clock(false, None, Some(0), now), Some(100));
}

/// A counted access moves the key's clock: to the current LRU clock under
/// an LRU policy, one step up the (here certain) LFU counter under an LFU
/// one. Without it every key would look as idle as when it was written.
#[test]
fn an_access_moves_the_key_s_clock() {
    let p = ClockPolicy::default();
    let now = 10 * 60_000;
    let e = Entry::string("v");
    e.access().set(lru_clock(now - 100_000));
    p.touch(e.access(), now);
    assert_eq!(e.access().get(), lru_clock(now), "LRU: read just now");
    p.set(&MemoryConfig {
        policy: EvictionPolicy::AllKeysLfu,
        ..MemoryConfig::default()
    });
    e.access().set(p.fresh(now));
    // At the initial value the increment's probability is 1.
    p.touch(e.access(), now);
    assert_eq!(e.access().get(), (10 << 8) | (LFU_INIT_VAL + 1));
}
