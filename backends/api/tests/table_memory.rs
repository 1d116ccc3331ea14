//! `Table::heap_bytes` against what the allocator was really asked for,
//! and the table's growth and shrinking rules, measured the same way.
//! A binary of its own, on the server's counting allocator.

use store_api::value::table::{Keyed, Table};

// The counting allocator the server runs on: `thread_net` is this thread's
// allocated minus freed bytes, exactly, in the allocator's size classes.
use flashkv_alloc::{size_class, thread_net};

/// An element with no allocation of its own: what the table allocates is
/// all there is.
#[derive(Clone, Debug, PartialEq)]
struct Id([u8; 8]);

impl Keyed for Id {
    fn key(&self) -> &[u8] {
        &self.0
    }
}

fn id(i: u64) -> Id {
    Id(i.to_le_bytes())
}

fn live() -> i64 {
    thread_net()
}

/// A table of the elements `ids`.
fn table_of(ids: impl IntoIterator<Item = u64>) -> Table<Id> {
    let mut t = Table::default();
    for i in ids {
        assert!(t.insert(id(i)));
    }
    t
}

/// Run `f`; true when it allocated nothing (net).
fn allocates_nothing(f: impl FnOnce()) -> bool {
    let before = live();
    f();
    live() == before
}

/// Bytes the table holds by the allocator's count, and by its own.
fn measured(build: impl FnOnce() -> Table<Id>) -> (i64, usize, Table<Id>) {
    let before = live();
    let t = build();
    let real = live() - before;
    let own = t.heap_bytes(size_class);
    (real, own, t)
}

#[test]
fn heap_bytes_growth_and_shrinking_as_the_allocator_sees_them() {
    // heap_bytes is exactly what was allocated, at every size.
    for n in [0u64, 1, 3, 4, 7, 8, 14, 15, 28, 29, 100, 1_000, 5_000] {
        let (real, own, t) = measured(|| table_of(0..n));
        assert_eq!(real as usize, own, "{n} elements");
        assert_eq!(t.len() as u64, n);
        assert_eq!(t.is_empty(), n == 0);
    }

    // And after removals have left tombstones and shrinks.
    let (real, own, t) = measured(|| {
        let mut t = table_of(0..3_000);
        for i in (0..3_000).filter(|i| i % 7 != 0) {
            t.swap_remove(id(i).key());
        }
        t
    });
    assert_eq!(real as usize, own, "after removals");
    assert_eq!(t.len(), 429);

    // Room made up front is not made again.
    let (real, own, mut t) = measured(|| Table::with_capacity(1_000));
    assert_eq!(real as usize, own);
    assert!(own >= 1_000 * std::mem::size_of::<Id>(), "{own}");
    assert!(
        allocates_nothing(|| (0..1_000).for_each(|i| assert!(t.insert(id(i))))),
        "1,000 inserts into room for 1,000"
    );

    // Emptied to an eighth of its room, a table shrinks to twice what is
    // left; above that it keeps its room; a small one is never shrunk.
    // 4,096 elements: room for 4,096, an eighth is 512.
    let mut t = table_of(0..4_096);
    let full = t.heap_bytes(size_class);
    let mut i = 0;
    while t.len() > 513 {
        t.swap_remove(id(i).key());
        i += 1;
    }
    assert_eq!(t.heap_bytes(size_class), full, "513 of 4,096: kept");
    let before = live();
    t.swap_remove(id(i).key());
    let shrunk = t.heap_bytes(size_class);
    assert!(shrunk * 2 < full, "512 of 4,096: {shrunk} of {full} kept");
    assert_eq!(
        live() - before,
        shrunk as i64 - full as i64,
        "and given back"
    );
    for j in i + 1..4_096 {
        assert!(t.contains(id(j).key()), "{j} survived the shrink");
    }
    // It kept room for twice what is left: 512 more fit without growing.
    assert!(
        allocates_nothing(|| (10_000..10_512).for_each(|j| assert!(t.insert(id(j))))),
        "room for 1,024 after the shrink"
    );
    let mut small = table_of(0..40);
    let small_room = small.heap_bytes(|n| n);
    for i in 0..39 {
        small.swap_remove(id(i).key());
    }
    assert_eq!(
        small.heap_bytes(|n| n),
        small_room,
        "a small table keeps its room"
    );
    assert!(small.contains(id(39).key()) && !small.contains(id(0).key()));
}
