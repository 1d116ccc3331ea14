//! jemalloc's size classes, computed: the one definition behind the
//! allocator's byte count (`flashkv-alloc`, checked there against
//! `nallocx` for every size up to 1 MiB) and the growth of small buffers
//! ([`crate::value::Pack`]).

/// jemalloc 5's size class of a request of `size` bytes (`sz_s2u_compute`
/// with its defaults on this platform: a 16-byte quantum, an 8-byte tiny
/// class, four classes per doubling above 64 bytes), the figure `nallocx`
/// returns, in a few instructions instead of a call: the allocator runs
/// it for every allocation and free. For sizes up to 1 GiB.
#[inline]
pub fn jemalloc(size: usize) -> usize {
    const LG_QUANTUM: u32 = 4;
    const LG_NGROUP: u32 = 2;
    if size <= 8 {
        return 8;
    }
    // ceil(log2(size))
    let x = usize::BITS - (size - 1).leading_zeros();
    let lg_delta = if x < LG_NGROUP + LG_QUANTUM + 1 {
        LG_QUANTUM
    } else {
        x - LG_NGROUP - 1
    };
    let mask = (1usize << lg_delta) - 1;
    (size + mask) & !mask
}
