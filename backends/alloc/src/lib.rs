//! FlashKV's global allocator: jemalloc (what Redis uses on Linux), wrapped
//! to count exactly the bytes the process holds, as Redis's `zmalloc` does.
//!
//! # Why jemalloc
//! Chosen by measurement (`scripts/allocator-compare`, figures in
//! `reports/`): against glibc malloc and mimalloc it costs the fewest
//! bytes per key, gives memory back after mass deletes, and keeps write
//! throughput; and it reports its own state (`stats.*`, `arena.*.purge`,
//! `malloc_stats_print`), which INFO memory and MEMORY need.
//!
//! # Why count
//! `maxmemory` is checked before every write command, and eviction frees
//! keys until the figure drops below the limit, so the figure must be
//! cheap to read and must move as soon as memory is freed. jemalloc's own
//! `stats.allocated` moves only when a thread cache flushes and costs a
//! merge of every arena to refresh. So every allocation and free adds its
//! size class (`nallocx`: what jemalloc really hands out, as Redis's
//! `zmalloc_size`) to a per-thread delta, which is flushed to one global
//! counter when it passes [`FLUSH_AT`] bytes either way and when the
//! thread exits. [`used`] is exact to within `FLUSH_AT` per live thread.
//!
//! # Builds without it
//! Under `cfg(fuzzing)` (cargo fuzz, whose AddressSanitizer must see every
//! allocation) no allocator is installed and [`active`] is false: callers
//! fall back to the resident set.

use std::alloc::{GlobalAlloc, Layout};
use std::cell::Cell;
use std::os::raw::c_int;
use std::sync::atomic::{AtomicI64, Ordering};

use tikv_jemalloc_ctl::{epoch, stats};
use tikv_jemallocator::Jemalloc;

/// A thread's delta is flushed to the global count past this many bytes.
pub const FLUSH_AT: i64 = 64 * 1024;

static USED: AtomicI64 = AtomicI64::new(0);

/// A thread's not yet flushed delta (flushed when the thread exits), the
/// sum of what it flushed so far, and the highest that sum reached (both
/// touched only when it flushes, so they cost nothing per allocation).
struct Local {
    delta: Cell<i64>,
    flushed: Cell<i64>,
    peak: Cell<i64>,
}

impl Drop for Local {
    fn drop(&mut self) {
        USED.fetch_add(self.delta.replace(0), Ordering::Relaxed);
    }
}

thread_local! {
    static LOCAL: Local = const {
        Local {
            delta: Cell::new(0),
            flushed: Cell::new(0),
            peak: Cell::new(0),
        }
    };
}

#[inline]
fn account(delta: i64) {
    let local = LOCAL.try_with(|l| {
        let v = l.delta.get() + delta;
        if v.abs() >= FLUSH_AT {
            USED.fetch_add(v, Ordering::Relaxed);
            let flushed = l.flushed.get() + v;
            l.flushed.set(flushed);
            l.peak.set(l.peak.get().max(flushed));
            l.delta.set(0);
        } else {
            l.delta.set(v);
        }
    });
    if local.is_err() {
        // The thread is exiting: count straight into the total.
        USED.fetch_add(delta, Ordering::Relaxed);
    }
}

/// The bytes jemalloc hands out for `layout` (its size class).
#[inline]
fn class(layout: Layout) -> i64 {
    // tikv-jemallocator passes an alignment flag only when the alignment
    // exceeds what every size class already has (16 bytes here) or the size.
    if layout.align() <= 16 && layout.align() <= layout.size() && layout.size() <= MAX_COMPUTED {
        return computed_class(layout.size()) as i64;
    }
    let flags = if layout.align() <= 16 && layout.align() <= layout.size() {
        0
    } else {
        layout.align().trailing_zeros() as c_int
    };
    // SAFETY: nallocx only computes a size class; it is defined for every
    // size and flag value (it returns 0 when the request cannot be met).
    unsafe { tikv_jemalloc_sys::nallocx(layout.size().max(1), flags) as i64 }
}

/// Sizes up to this are classed by `computed_class`; larger ones ask
/// jemalloc (they are rare, and jemalloc's largest classes have limits of
/// their own).
const MAX_COMPUTED: usize = 1 << 30;

// jemalloc's size class computed in a few instructions instead of a
// `nallocx` call (this runs for every allocation and free). The
// `computed_classes_are_jemallocs` test compares it with `nallocx` for
// every size up to 1 MiB and samples beyond.
use store_api::size_class::jemalloc as computed_class;

/// The bytes jemalloc hands out for a request of `size` bytes (MEMORY
/// USAGE's estimates).
pub fn size_class(size: usize) -> usize {
    class(Layout::from_size_align(size.max(1), 8).expect("valid layout")) as usize
}

/// jemalloc, with every byte counted (see the crate docs).
pub struct Counting;

// SAFETY: every method delegates to `Jemalloc`, a correct `GlobalAlloc`,
// with the caller's arguments unchanged; the accounting touches only a
// thread-local cell and an atomic and never allocates.
unsafe impl GlobalAlloc for Counting {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded with the caller's guarantees.
        let p = unsafe { Jemalloc.alloc(layout) };
        if !p.is_null() {
            account(class(layout));
        }
        p
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded with the caller's guarantees.
        let p = unsafe { Jemalloc.alloc_zeroed(layout) };
        if !p.is_null() {
            account(class(layout));
        }
        p
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        account(-class(layout));
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { Jemalloc.dealloc(ptr, layout) }
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded with the caller's guarantees.
        let p = unsafe { Jemalloc.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            // SAFETY: the caller guarantees `new_size` with `layout.align()`
            // is a valid layout (GlobalAlloc::realloc's contract).
            let new = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
            account(class(new) - class(layout));
        }
        p
    }
}

#[cfg(not(fuzzing))]
#[global_allocator]
static GLOBAL: Counting = Counting;

/// Is [`Counting`] the process's allocator (false in fuzz builds)?
pub const fn active() -> bool {
    cfg!(not(fuzzing))
}

/// Bytes allocated and not yet freed, in jemalloc size classes (Redis's
/// `used_memory`), including the calling thread's unflushed delta (so an
/// evicting thread sees its own frees at once); 0 when [`active`] is false.
pub fn used() -> u64 {
    let own = LOCAL.try_with(|l| l.delta.get()).unwrap_or(0);
    (USED.load(Ordering::Relaxed) + own).max(0) as u64
}

/// Bytes the calling thread allocated minus what it freed, since it
/// started, in size classes: exact, whatever other threads do (tests use it
/// to bound what one call allocates; 0 when [`active`] is false).
pub fn thread_net() -> i64 {
    LOCAL
        .try_with(|l| l.flushed.get() + l.delta.get())
        .unwrap_or(0)
}

/// The most [`thread_net`] reached since the last [`reset_thread_peak`],
/// to within the flush step (64 KiB): one allocation of 64 KiB or more is
/// always seen, even if it was freed before the call returned.
pub fn thread_peak() -> i64 {
    LOCAL
        .try_with(|l| l.peak.get().max(l.flushed.get() + l.delta.get()))
        .unwrap_or(0)
}

/// Start a new [`thread_peak`] measurement from the thread's current count.
pub fn reset_thread_peak() {
    let _ = LOCAL.try_with(|l| {
        // Flush first, so the peak starts from an exact point.
        let v = l.delta.replace(0);
        USED.fetch_add(v, Ordering::Relaxed);
        l.flushed.set(l.flushed.get() + v);
        l.peak.set(l.flushed.get());
    });
}

/// jemalloc's own view of the heap (refreshed by each call).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// `stats.allocated`: bytes in objects handed out (thread caches included).
    pub allocated: u64,
    /// `stats.active`: bytes in pages that hold objects.
    pub active: u64,
    /// `stats.resident`: bytes of physical memory the allocator maps.
    pub resident: u64,
    /// `stats.mapped`: bytes in mapped extents.
    pub mapped: u64,
    /// `stats.retained`: bytes returned to the OS but kept mapped.
    pub retained: u64,
}

/// Read jemalloc's statistics (advances its `epoch` first, which merges
/// every arena's counters: call it per INFO, not per command).
pub fn stats() -> Stats {
    let read = |f: fn() -> tikv_jemalloc_ctl::Result<usize>| f().unwrap_or(0) as u64;
    if epoch::advance().is_err() {
        return Stats::default();
    }
    Stats {
        allocated: read(stats::allocated::read),
        active: read(stats::active::read),
        resident: read(stats::resident::read),
        mapped: read(stats::mapped::read),
        retained: read(stats::retained::read),
    }
}

/// Give unused dirty pages of every arena back to the OS (MEMORY PURGE).
pub fn purge() {
    // `MALLCTL_ARENAS_ALL` is 4096 in jemalloc 5.
    let name = b"arena.4096.purge\0";
    // SAFETY: a void mallctl: no old value is read and no new value is
    // written, so null pointers with zero lengths are what it takes; the
    // name is NUL-terminated.
    unsafe {
        tikv_jemalloc_sys::mallctl(
            name.as_ptr().cast(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            0,
        );
    }
}

/// jemalloc's `malloc_stats_print` report (MEMORY MALLOC-STATS).
pub fn malloc_stats() -> String {
    let mut out = Vec::new();
    let options = tikv_jemalloc_ctl::stats_print::Options::default();
    match tikv_jemalloc_ctl::stats_print::stats_print(&mut out, options) {
        Ok(()) => String::from_utf8_lossy(&out).into_owned(),
        Err(_) => "Stats not supported for the current allocator".into(),
    }
}

/// The allocator's name and version, as INFO's `mem_allocator` shows it.
pub fn name() -> String {
    match tikv_jemalloc_ctl::version::read() {
        Ok(v) => format!("jemalloc-{}", v.split('-').next().unwrap_or(v)),
        Err(_) => "jemalloc".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn computed_classes_are_jemallocs() {
        let nallocx = |size: usize| {
            // SAFETY: as in `class`: nallocx only computes.
            unsafe { tikv_jemalloc_sys::nallocx(size, 0) }
        };
        for size in 1..=(1 << 20) {
            assert_eq!(computed_class(size), nallocx(size), "size {size}");
        }
        let mut size = 1usize << 20;
        while size <= MAX_COMPUTED {
            for s in [
                size - 1,
                size,
                size + 1,
                size + size / 3,
                size + size / 2 + 7,
            ] {
                if s <= MAX_COMPUTED {
                    assert_eq!(computed_class(s), nallocx(s), "size {s}");
                }
            }
            size <<= 1;
        }
        // Through the layout path too: small alignments use the formula,
        // large ones still ask jemalloc.
        for (size, align) in [(1, 1), (24, 8), (100, 16), (100, 64), (8, 16), (4096, 4096)] {
            let layout = Layout::from_size_align(size, align).unwrap();
            let flags = if align <= 16 && align <= size {
                0
            } else {
                align.trailing_zeros() as c_int
            };
            // SAFETY: as above.
            let expected = unsafe { tikv_jemalloc_sys::nallocx(size, flags) } as i64;
            assert_eq!(class(layout), expected, "{layout:?}");
        }
    }

    #[test]
    fn counts_size_classes_both_ways() {
        let before = used() as i64;
        // black_box: an allocation nothing reads may be elided in release.
        let big = std::hint::black_box(vec![1u8; 1 << 20]);
        let during = used() as i64;
        drop(big);
        let after = used() as i64;
        // Other test threads allocate too, but not megabytes.
        assert!(
            (during - before - (1 << 20)).abs() < 4 * FLUSH_AT,
            "{before} {during}"
        );
        assert!((after - before).abs() < 4 * FLUSH_AT, "{before} {after}");
    }

    #[test]
    fn a_threads_own_count_is_exact() {
        let before = thread_net();
        let small: Vec<Box<[u8; 40]>> = (0..10_000).map(|_| Box::new([0; 40])).collect();
        // 10,000 boxes of the 48-byte class, plus the vector (80,000 bytes,
        // a large class) that holds them; flushed several times on the way.
        let grown = thread_net() - before;
        assert_eq!(
            grown,
            10_000 * 48 + class(Layout::array::<usize>(10_000).unwrap())
        );
        drop(small);
        assert_eq!(thread_net(), before);
        // A big allocation freed again is still seen by the peak.
        reset_thread_peak();
        let start = thread_net();
        drop(std::hint::black_box(vec![0u8; 1 << 20]));
        assert_eq!(thread_net(), start);
        assert!(thread_peak() - start >= 1 << 20);
    }

    #[test]
    fn size_classes_are_jemallocs() {
        let l = |size| Layout::from_size_align(size, 8).unwrap();
        assert_eq!(class(l(1)), 8);
        assert_eq!(class(l(17)), 32);
        assert_eq!(class(l(100)), 112);
        assert_eq!(class(l(129)), 160);
        assert_eq!(class(Layout::from_size_align(8, 64).unwrap()), 64);
    }

    #[test]
    fn reports_its_own_state() {
        let s = stats();
        assert!(
            s.allocated > 0 && s.active >= s.allocated && s.resident > 0,
            "{s:?}"
        );
        assert!(name().starts_with("jemalloc-5."), "{}", name());
        assert!(malloc_stats().contains("jemalloc"));
        purge();
    }
}
