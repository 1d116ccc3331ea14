//! Entry nodes: one heap allocation per key holding everything about it.
//!
//! Layout (`#[repr(C)]`, 8-byte aligned): the `Entry` the store hands out by
//! reference (48 bytes: value + expiry; `store-api` boxes list values to keep
//! it that size), the full 64-bit hash (so resizes never rehash a key), the
//! key length, and then the key bytes themselves, inline: a 64-byte header,
//! so hash and length share the header's line with the value. A lookup therefore touches one slot word and one node (usually one
//! or two cache lines), never a separate key allocation. A node is immutable
//! from the moment it is published in a slot until it is retired; an update
//! publishes a new node.

use std::alloc::{self, Layout};
use std::marker::PhantomData;
use std::mem;
use std::ptr::{self, NonNull};

use store_api::Entry;

use crate::reclaim::{RetireOps, Retired};
use crate::sync::Canary;

#[repr(C)]
struct Header {
    entry: Entry,
    hash: u64,
    key_len: usize,
    canary: Canary,
}

const HEADER: usize = mem::size_of::<Header>();

fn layout(key_len: usize) -> Layout {
    Layout::from_size_align(HEADER + key_len, mem::align_of::<Header>()).expect("key too large")
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
        // SAFETY: `raw` is a fresh allocation of `HEADER + key.len()` bytes
        // with the header's alignment; we initialize the header and copy the
        // key into the bytes right after it, which are in bounds.
        unsafe {
            raw.write(Header {
                entry,
                hash,
                key_len: key.len(),
                canary: Canary::new(),
            });
            ptr::copy_nonoverlapping(key.as_ptr(), raw.cast::<u8>().add(HEADER), key.len());
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
        let len = self.header().key_len;
        // SAFETY: the key bytes were copied right after the header at
        // allocation and never change; the pointer keeps the provenance of
        // the whole allocation.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr().cast::<u8>().add(HEADER), len) }
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
        let layout = layout((*header).key_len);
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
    fn header_is_the_entry_plus_two_words() {
        #[cfg(not(loom))]
        assert_eq!(HEADER, mem::size_of::<Entry>() + 16);
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
