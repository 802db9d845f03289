//! The policy module's allocator (feature `policy`, on wasm32 only).
//!
//! The policy server runs a fresh instance of the module for every request and drops it after one
//! `validate`, so what the module's allocator must be is fast, not frugal: the standard library's
//! (dlmalloc) splits, coalesces and bins blocks to keep a long-running program's memory small,
//! and that bookkeeping was a sixth of the guest's time in a profile of the typical injection.
//! This one hands out blocks of power-of-two sizes. A freed block goes on the list of its size
//! and is the next block of that size handed out; when that list is empty, a new block is taken
//! from the end of the heap, which grows the module's memory when it must. A block that must grow
//! past its size moves (its old place goes on its list), unless it is the last one taken from the
//! end, which grows where it is: a response written into one growing buffer is never copied. A
//! block asked to shrink stays where it is. Memory is never given back to the host; an instance
//! used for more than one request would still reuse every freed block, so its memory is bounded by
//! the peak of each size, not by the number of requests.
//!
//! Blocks are aligned to 16 bytes, which is what Rust's types ask for here; an allocation aligned
//! beyond that is taken from the end and never reused.
//!
//! [`Heap`] is the whole algorithm over any [`Memory`], so that it is tested natively on a
//! simulated one; the global allocator is a `Heap` over the wasm module's own memory.

use std::alloc::Layout;

/// The size of a page of wasm memory, the unit it grows by.
pub const PAGE: usize = 65536;

/// Every block's alignment.
const ALIGN: usize = 16;

/// The smallest block: it holds the link of its size's list when free.
const MIN: usize = 16;

/// The fewest pages the heap grows by: growing is a call into the host.
const GROW: usize = 4;

/// Memory that grows by pages.
pub trait Memory {
    /// Adds `pages` pages; the address where they start, or `None` when the memory cannot grow.
    fn grow(&mut self, pages: usize) -> Option<usize>;
}

pub struct Heap<M> {
    memory: M,
    /// The first free block of each size (`1 << i` bytes), 0 when there is none; each free block
    /// holds the address of the next one.
    free: [usize; usize::BITS as usize],
    /// Where the next block is taken from, and where the memory the heap has ends.
    next: usize,
    end: usize,
}

/// The index of the smallest block size that holds `size` bytes.
fn class(size: usize) -> Option<usize> {
    let block = size.max(MIN).checked_next_power_of_two()?;
    Some(block.trailing_zeros() as usize)
}

impl<M: Memory> Heap<M> {
    pub const fn new(memory: M) -> Self {
        Self {
            memory,
            free: [0; usize::BITS as usize],
            next: 0,
            end: 0,
        }
    }

    /// # Safety
    /// As [`std::alloc::GlobalAlloc::alloc`]; the memory handed out must be memory this process
    /// may write.
    pub unsafe fn alloc(&mut self, layout: Layout) -> *mut u8 {
        if layout.align() > ALIGN {
            return self.take(layout.size().max(1), layout.align());
        }
        let Some((class, list)) =
            class(layout.size()).and_then(|class| Some((class, self.free.get_mut(class)?)))
        else {
            return std::ptr::null_mut();
        };
        let head = *list;
        if head != 0 {
            // SAFETY: a free block of this size holds the next one's address at its start.
            *list = unsafe { (head as *const usize).read() };
            return head as *mut u8;
        }
        self.take(1 << class, ALIGN)
    }

    /// # Safety
    /// As [`std::alloc::GlobalAlloc::dealloc`].
    pub unsafe fn dealloc(&mut self, ptr: *mut u8, layout: Layout) {
        if layout.align() > ALIGN {
            return;
        }
        let Some(list) = class(layout.size()).and_then(|class| self.free.get_mut(class)) else {
            return;
        };
        // SAFETY: the block is at least MIN bytes, aligned, and no longer used by its owner.
        unsafe { (ptr as *mut usize).write(*list) };
        *list = ptr as usize;
    }

    /// # Safety
    /// As [`std::alloc::GlobalAlloc::realloc`].
    pub unsafe fn realloc(&mut self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if layout.align() <= ALIGN {
            let (Some(old), Some(new)) = (class(layout.size()), class(new_size)) else {
                return std::ptr::null_mut();
            };
            if new <= old {
                // The block holds the new size: a smaller block handed back later goes on a
                // smaller size's list, which only wastes the difference.
                return ptr;
            }
            let start = ptr as usize;
            if start + (1 << old) == self.next && self.reserve(start + (1 << new)) {
                self.next = start + (1 << new);
                return ptr;
            }
        }
        // SAFETY: the caller's layout was valid, and the new size is a valid size for it.
        let new_layout = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        // SAFETY: as the caller's.
        let moved = unsafe { self.alloc(new_layout) };
        if !moved.is_null() {
            // SAFETY: both blocks hold the bytes copied, and are distinct.
            unsafe {
                std::ptr::copy_nonoverlapping(ptr, moved, layout.size().min(new_size));
                self.dealloc(ptr, layout);
            }
        }
        moved
    }

    /// `size` bytes at the end of the heap, aligned to `align`.
    fn take(&mut self, size: usize, align: usize) -> *mut u8 {
        // Twice at most: when the memory grew elsewhere than at the heap's end, the heap starts
        // again where it grew.
        for _ in 0..2 {
            let Some(stop) = self
                .next
                .checked_next_multiple_of(align)
                .and_then(|start| start.checked_add(size))
            else {
                return std::ptr::null_mut();
            };
            if self.reserve(stop) {
                self.next = stop;
                return (stop - size) as *mut u8;
            }
        }
        std::ptr::null_mut()
    }

    /// Makes the heap's memory reach `stop`, contiguously: true when it does. When the memory
    /// grew but not at the heap's end, the heap continues in the new pages (and false).
    fn reserve(&mut self, stop: usize) -> bool {
        if stop <= self.end {
            return true;
        }
        let pages = (stop - self.end).div_ceil(PAGE).max(GROW);
        let Some(bytes) = pages.checked_mul(PAGE) else {
            return false;
        };
        match self.memory.grow(pages) {
            Some(start) if start == self.end => {
                self.end += bytes;
                true
            }
            Some(start) => {
                self.next = start;
                self.end = start + bytes;
                false
            }
            None => false,
        }
    }
}

#[cfg(all(
    target_arch = "wasm32",
    not(target_feature = "atomics"),
    feature = "policy"
))]
mod wasm {
    use super::{Heap, Memory, PAGE};
    use std::alloc::{GlobalAlloc, Layout};
    use std::cell::UnsafeCell;

    struct Linear;

    impl Memory for Linear {
        fn grow(&mut self, pages: usize) -> Option<usize> {
            let before = core::arch::wasm32::memory_grow(0, pages);
            (before != usize::MAX).then(|| before * PAGE)
        }
    }

    struct Global(UnsafeCell<Heap<Linear>>);

    // SAFETY: wasm32 without the atomics feature has one thread.
    unsafe impl Sync for Global {}

    // SAFETY: Heap hands out distinct, aligned blocks of the module's memory (tested natively);
    // with one thread no two calls overlap. Not inlined: inlined at every allocation of the
    // crate, the heap made the module 87 KB larger.
    unsafe impl GlobalAlloc for Global {
        #[inline(never)]
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            unsafe { (*self.0.get()).alloc(layout) }
        }

        #[inline(never)]
        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            unsafe { (*self.0.get()).dealloc(ptr, layout) }
        }

        #[inline(never)]
        unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
            unsafe { (*self.0.get()).realloc(ptr, layout, new_size) }
        }
    }

    #[global_allocator]
    static ALLOCATOR: Global = Global(UnsafeCell::new(Heap::new(Linear)));
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A memory of `capacity` pages in one buffer of this process, handed out from its start;
    /// `gap_after` leaves a page unused after that many grows, as if something else had grown it.
    struct Simulated {
        buffer: Vec<u128>,
        used: usize,
        grows: usize,
        gap_after: Option<usize>,
    }

    impl Simulated {
        fn new(capacity: usize) -> Self {
            Self {
                buffer: vec![0; capacity * PAGE / 16],
                used: 0,
                grows: 0,
                gap_after: None,
            }
        }

        fn range(&self) -> std::ops::Range<usize> {
            let start = self.buffer.as_ptr() as usize;
            start..start + self.buffer.len() * 16
        }
    }

    impl Memory for Simulated {
        fn grow(&mut self, pages: usize) -> Option<usize> {
            if self.gap_after == Some(self.grows) {
                self.used += 1;
            }
            self.grows += 1;
            if (self.used + pages) * PAGE > self.buffer.len() * 16 {
                return None;
            }
            let start = self.buffer.as_ptr() as usize + self.used * PAGE;
            self.used += pages;
            Some(start)
        }
    }

    fn layout(size: usize, align: usize) -> Layout {
        Layout::from_size_align(size, align).unwrap()
    }

    #[test]
    fn a_freed_block_is_the_next_one_of_its_size() {
        let mut heap = Heap::new(Simulated::new(8));
        unsafe {
            let a = heap.alloc(layout(100, 8));
            let b = heap.alloc(layout(120, 8));
            assert_ne!(a, b);
            heap.dealloc(a, layout(100, 8));
            // 100 and 128 bytes are one size of block.
            assert_eq!(heap.alloc(layout(128, 4)), a);
            // Another size does not take it.
            heap.dealloc(b, layout(120, 8));
            assert_ne!(heap.alloc(layout(300, 8)), b);
        }
    }

    #[test]
    fn the_last_block_grows_in_place_and_others_move() {
        let mut heap = Heap::new(Simulated::new(8));
        unsafe {
            let a = heap.alloc(layout(16, 8));
            a.write_bytes(7, 16);
            let b = heap.alloc(layout(16, 8));
            // b is the last one taken: it grows where it is, past the memory it had.
            let grown = heap.realloc(b, layout(16, 8), 3 * PAGE);
            assert_eq!(grown, b);
            assert!(heap.memory.grows >= 2);
            // a is not: it moves, its bytes with it, and its place is free again.
            let moved = heap.realloc(a, layout(16, 8), 40);
            assert_ne!(moved, a);
            assert_eq!(std::slice::from_raw_parts(moved, 16), &[7; 16]);
            assert_eq!(heap.alloc(layout(10, 1)), a);
            // Shrinking keeps the block.
            assert_eq!(heap.realloc(moved, layout(40, 8), 3), moved);
        }
    }

    #[test]
    fn memory_that_grew_elsewhere_starts_the_heap_again_there() {
        let mut memory = Simulated::new(32);
        memory.gap_after = Some(1);
        let range = memory.range();
        let mut heap = Heap::new(memory);
        unsafe {
            let first = heap.alloc(layout(GROW * PAGE, 8)) as usize;
            let second = heap.alloc(layout(PAGE, 8)) as usize;
            assert!(range.contains(&first) && range.contains(&second));
            assert!(second >= first + GROW * PAGE + PAGE, "{first:x} {second:x}");
        }
    }

    #[test]
    fn memory_that_cannot_grow_is_a_null_pointer_not_a_block() {
        let mut heap = Heap::new(Simulated::new(GROW));
        unsafe {
            assert!(!heap.alloc(layout(PAGE, 8)).is_null());
            assert!(heap.alloc(layout(GROW * PAGE, 8)).is_null());
            assert!(
                heap.alloc(layout((1 << (usize::BITS - 2)) + 1, 8))
                    .is_null()
            );
            let small = heap.alloc(layout(8, 8));
            assert!(!small.is_null());
            assert!(heap.realloc(small, layout(8, 8), GROW * PAGE).is_null());
        }
    }

    #[derive(Debug, Clone)]
    enum Step {
        Alloc { size: usize, align_log: u32 },
        Free(usize),
        Realloc(usize, usize),
    }

    fn step() -> impl Strategy<Value = Step> {
        let size = prop_oneof![1usize..64, 64usize..5000, 5000usize..70_000];
        prop_oneof![
            4 => (size.clone(), prop_oneof![8 => 0u32..5, 1 => 5u32..8])
                .prop_map(|(size, align_log)| Step::Alloc { size, align_log }),
            2 => any::<usize>().prop_map(Step::Free),
            2 => (any::<usize>(), size).prop_map(|(i, size)| Step::Realloc(i, size)),
        ]
    }

    proptest! {
        /// Live blocks are aligned, inside the memory, never overlap, and keep their bytes
        /// through every allocation, free and move of the others.
        #[test]
        fn live_blocks_keep_their_bytes(steps in prop::collection::vec(step(), 1..100)) {
            let memory = Simulated::new(1024);
            let range = memory.range();
            let mut heap = Heap::new(memory);
            // (address, layout, the byte it is filled with)
            let mut live: Vec<(usize, Layout, u8)> = Vec::new();
            let check = |live: &Vec<(usize, Layout, u8)>| {
                for (address, layout, fill) in live {
                    let bytes = unsafe { std::slice::from_raw_parts(*address as *const u8, layout.size()) };
                    prop_assert!(bytes.iter().all(|b| b == fill), "block at {address:x} changed");
                }
                Ok(())
            };
            for (n, step) in steps.into_iter().enumerate() {
                let fill = n as u8;
                match step {
                    Step::Alloc { size, align_log } => {
                        let layout = layout(size, 1 << align_log);
                        let ptr = unsafe { heap.alloc(layout) };
                        if ptr.is_null() {
                            continue; // the simulated memory is full
                        }
                        unsafe { ptr.write_bytes(fill, size) };
                        live.push((ptr as usize, layout, fill));
                    }
                    Step::Free(i) if !live.is_empty() => {
                        let (address, layout, _) = live.swap_remove(i % live.len());
                        unsafe { heap.dealloc(address as *mut u8, layout) };
                    }
                    Step::Realloc(i, size) if !live.is_empty() => {
                        let (address, was, old) = live.swap_remove(i % live.len());
                        let ptr = unsafe { heap.realloc(address as *mut u8, was, size) };
                        if ptr.is_null() {
                            live.push((address, was, old)); // full: the block stays as it was
                            continue;
                        }
                        let kept = was.size().min(size);
                        let bytes = unsafe { std::slice::from_raw_parts(ptr, kept) };
                        prop_assert!(bytes.iter().all(|b| *b == old), "bytes lost in a move");
                        unsafe { ptr.write_bytes(fill, size) };
                        live.push((ptr as usize, layout(size, was.align()), fill));
                    }
                    _ => {}
                }
                for (address, layout, _) in &live {
                    prop_assert_eq!(address % layout.align(), 0);
                    prop_assert!(range.contains(address) && address + layout.size() <= range.end);
                }
                let mut spans: Vec<(usize, usize)> = live.iter().map(|(a, l, _)| (*a, a + l.size())).collect();
                spans.sort();
                for pair in spans.windows(2) {
                    prop_assert!(pair[0].1 <= pair[1].0, "overlap: {:x?}", pair);
                }
                check(&live)?;
            }
        }
    }
}
