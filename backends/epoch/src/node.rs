//! Entry nodes: one heap allocation per key holding everything about it.
//!
//! Layout (`#[repr(C)]`, 8-byte aligned): the `Entry` the store hands out by
//! reference (40 bytes: value + expiry; `store-api` boxes collections to
//! keep it that size), the full 64-bit hash (so resizes never rehash a key),
//! the key length as a `u16`, and then the key bytes themselves, inline,
//! from byte 50: they start in what would be the header's tail padding. A
//! 14-byte key makes a 64-byte node, a jemalloc size class (with a `usize`
//! length, 56 + 14 = 70 bytes took the 80-byte class). A key of 65,535
//! bytes or more stores `u16::MAX` there and its real length in the eight
//! bytes before its bytes. A lookup touches one slot word and one node
//! (usually one cache line), never a separate key allocation. A node is
//! immutable from the moment it is published in a slot until it is retired;
//! an update publishes a new node.

use std::alloc::{self, Layout};
use std::marker::PhantomData;
use std::mem;
use std::ptr::{self, NonNull};

use store_api::Entry;

use crate::reclaim::{RetireOps, Retired};
use crate::sync::Canary;

/// The start of every node. The key bytes follow `key_len` directly, so
/// they may overlap the struct's tail padding: the header is written
/// whole first, then the key; afterwards only fields are written.
#[repr(C)]
struct Header {
    entry: Entry,
    hash: u64,
    canary: Canary,
    /// The key's length, or [`LONG_KEY`] when the length is in the eight
    /// bytes at [`KEY_AT`].
    key_len: u16,
}

const HEADER: usize = mem::size_of::<Header>();
/// Where a node's key (or a long key's length) starts.
const KEY_AT: usize = mem::offset_of!(Header, key_len) + mem::size_of::<u16>();
/// `key_len` of a key too long for a `u16`.
const LONG_KEY: u16 = u16::MAX;

/// Bytes between [`KEY_AT`] and the key's first byte: the length of a long
/// key.
fn length_prefix(key_len: usize) -> usize {
    if key_len >= usize::from(LONG_KEY) {
        mem::size_of::<u64>()
    } else {
        0
    }
}

fn layout(key_len: usize) -> Layout {
    // At least a whole header: the node is read through `&Header`.
    let size = (KEY_AT + length_prefix(key_len) + key_len).max(HEADER);
    Layout::from_size_align(size, mem::align_of::<Header>()).expect("key too large")
}

/// The length of the key of the node at `ptr`.
///
/// # Safety
/// `ptr` points to a live node.
unsafe fn key_len(ptr: *const Header) -> usize {
    // SAFETY: by the contract the header and its key's length prefix (when
    // `key_len` says there is one) are initialized.
    unsafe {
        match (*ptr).key_len {
            LONG_KEY => ptr.cast::<u8>().add(KEY_AT).cast::<u64>().read_unaligned() as usize,
            short => usize::from(short),
        }
    }
}

/// A node nobody else can see yet (or any more): the owner may mutate it.
pub(crate) struct OwnedNode {
    ptr: NonNull<Header>,
}

// SAFETY: an `OwnedNode` is a unique owner of a heap allocation holding an
// `Entry` (Send + Sync) and plain bytes.
unsafe impl Send for OwnedNode {}

impl OwnedNode {
    /// Allocate a node for `key` holding `entry`.
    pub(crate) fn new(hash: u64, key: &[u8], entry: Entry) -> Self {
        let layout = layout(key.len());
        // SAFETY: the layout has a non-zero size (the header alone is > 0).
        let raw = unsafe { alloc::alloc(layout) }.cast::<Header>();
        let Some(ptr) = NonNull::new(raw) else {
            alloc::handle_alloc_error(layout)
        };
        let prefix = length_prefix(key.len());
        // SAFETY: `raw` is a fresh allocation of at least `HEADER` and at
        // least `KEY_AT + prefix + key.len()` bytes with the header's
        // alignment. We write the header whole (its padding included), then
        // the length prefix and the key from `KEY_AT`, all in bounds; from
        // here on the header is only written field by field, which leaves
        // the key's bytes in its padding alone.
        unsafe {
            raw.write(Header {
                entry,
                hash,
                canary: Canary::new(),
                key_len: key.len().min(usize::from(LONG_KEY)) as u16,
            });
            let at = raw.cast::<u8>().add(KEY_AT);
            if prefix > 0 {
                at.cast::<u64>().write_unaligned(key.len() as u64);
            }
            ptr::copy_nonoverlapping(key.as_ptr(), at.add(prefix), key.len());
        }
        OwnedNode { ptr }
    }

    /// Replace the entry of this unpublished node (reuse after a lost CAS).
    pub(crate) fn set_entry(&mut self, entry: Entry) {
        // SAFETY: we own the node exclusively; the old entry is dropped by
        // the assignment.
        unsafe { (*self.ptr.as_ptr()).entry = entry };
    }

    /// The address to publish. The node stays owned by `self` until
    /// [`OwnedNode::published`] is called.
    pub(crate) fn addr(&self) -> usize {
        self.ptr.as_ptr() as usize
    }

    /// The node was published: ownership moves to the map.
    pub(crate) fn published(self) {
        mem::forget(self);
    }
}

impl Drop for OwnedNode {
    fn drop(&mut self) {
        // SAFETY: never published (or unpublished and quiescent): we are the
        // only owner.
        unsafe { free_node(self.ptr.as_ptr().cast()) }
    }
}

/// A shared reference to a published node, valid for the guard lifetime `'g`.
#[derive(Clone, Copy)]
pub(crate) struct NodeRef<'g> {
    ptr: NonNull<Header>,
    _guard: PhantomData<&'g Header>,
}

impl<'g> NodeRef<'g> {
    /// # Safety
    /// `addr` must be the address of a node published in a slot that was
    /// loaded (Acquire) while the guard behind `'g` was pinned.
    #[inline(always)]
    pub(crate) unsafe fn from_addr(addr: usize) -> Self {
        let ptr = addr as *mut Header;
        let node = NodeRef {
            // SAFETY: published nodes are never null.
            ptr: unsafe { NonNull::new_unchecked(ptr) },
            _guard: PhantomData,
        };
        let _ = node.header();
        node
    }

    /// Every access to the node goes through here, so under loom each one
    /// (hash, key, entry, not only the lookup that found the node) is
    /// checked against the node's reclamation.
    #[inline(always)]
    fn header(&self) -> &'g Header {
        // SAFETY: by the constructor's contract the node is initialized and
        // not reclaimed before the guard of `'g` is dropped.
        let header = unsafe { &*self.ptr.as_ptr() };
        header.canary.check();
        header
    }

    #[inline(always)]
    pub(crate) fn entry(&self) -> &'g Entry {
        &self.header().entry
    }

    #[inline(always)]
    pub(crate) fn hash(&self) -> u64 {
        self.header().hash
    }

    #[inline(always)]
    pub(crate) fn key(&self) -> &'g [u8] {
        let header = self.header();
        // SAFETY: the length and the key bytes were written at allocation
        // and never change; the pointer keeps the provenance of the whole
        // allocation.
        unsafe {
            let len = key_len(header);
            let at = self
                .ptr
                .as_ptr()
                .cast::<u8>()
                .add(KEY_AT + length_prefix(len));
            std::slice::from_raw_parts(at, len)
        }
    }

    /// Package this node for retirement.
    pub(crate) fn retired(self) -> Retired {
        Retired {
            ptr: self.ptr.as_ptr().cast(),
            ops: &NODE_OPS,
        }
    }
}

pub(crate) static NODE_OPS: RetireOps = RetireOps {
    free: free_node,
    poison: poison_node,
};

/// Drop and deallocate a node.
///
/// # Safety
/// `ptr` is a node allocated by [`OwnedNode::new`], unreachable, and not yet
/// freed.
pub(crate) unsafe fn free_node(ptr: *mut u8) {
    let header = ptr.cast::<Header>();
    // SAFETY: by the contract the node is live and exclusively ours.
    unsafe {
        (*header).canary.poison();
        let layout = layout(key_len(header));
        ptr::drop_in_place(header);
        alloc::dealloc(ptr, layout);
    }
}

unsafe fn poison_node(ptr: *mut u8) {
    // SAFETY: the mock reclaimer calls this on a retired node that is still
    // allocated (it frees only when dropped).
    unsafe { (*ptr.cast::<Header>()).canary.poison() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_node_with_a_14_byte_key_fills_the_64_byte_class() {
        #[cfg(not(loom))]
        {
            assert_eq!(KEY_AT, mem::size_of::<Entry>() + 10);
            assert_eq!(layout(14).size(), 64);
        }
        assert!(layout(0).size() >= HEADER);
    }

    /// Keys on both sides of the `u16` length and of the header's padding.
    #[test]
    fn keys_of_every_length_class_round_trip() {
        for len in [0, 1, 6, 14, 100, 65_534, 65_535, 65_536, 200_000] {
            let key: Vec<u8> = (0..len).map(|i| (i * 31 + 7) as u8).collect();
            let owned = OwnedNode::new(len as u64, &key, Entry::string("v"));
            // SAFETY: the node is alive (owned) for the whole block.
            let node = unsafe { NodeRef::from_addr(owned.addr()) };
            assert_eq!(node.key(), &key[..], "len {len}");
            assert_eq!(node.hash(), len as u64);
            assert_eq!(node.entry(), &Entry::string("v"));
            drop(owned);
        }
    }

    #[test]
    fn node_round_trip() {
        let mut owned = OwnedNode::new(7, b"key", Entry::string("a"));
        owned.set_entry(Entry::string("b"));
        // SAFETY: the node is alive (owned) for the whole test.
        let node = unsafe { NodeRef::from_addr(owned.addr()) };
        assert_eq!(node.key(), b"key");
        assert_eq!(node.hash(), 7);
        assert_eq!(node.entry(), &Entry::string("b"));
        drop(owned);
    }
}
