//! The browser leg's per-frame resampling allocates nothing after construction.
//!
//! A separate test binary because it installs a counting global allocator. Only allocations made
//! on the thread under test while counting is switched on are counted, so the test harness's own
//! threads do not disturb the count.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};

use voicegate::audio::stream_resample::{MicResampler, SUPPORTED_RATES, frame_samples};

struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    /// Const-initialised, so reading it never allocates (which would recurse into the allocator).
    static COUNTING: Cell<bool> = const { Cell::new(false) };
}

fn note() {
    if COUNTING.with(Cell::get) {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
    }
}

// SAFETY: every method forwards to `System` with the caller's arguments unchanged.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note();
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note();
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note();
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn processing_frames_does_not_allocate() {
    for rate in SUPPORTED_RATES {
        let mut resampler = MicResampler::new(rate).unwrap();
        let n = frame_samples(rate);
        let frame: Vec<i16> = (0..n).map(|i| ((i * 7919) % 20_000) as i16 - 10_000).collect();
        let bytes: Vec<u8> = frame.iter().flat_map(|s| s.to_le_bytes()).collect();
        // Warm-up frames through both entry points outside the count: anything initialised lazily
        // on first use (in the resampler, the FFT library or std on this thread) is not a
        // per-frame cost. A clean-clone CI run once saw a single such allocation at the first rate.
        for _ in 0..10 {
            resampler.process(&frame).unwrap();
            resampler.process_le_bytes(&bytes).unwrap();
        }

        ALLOCATIONS.store(0, Ordering::Relaxed);
        COUNTING.with(|c| c.set(true));
        let mut checksum = 0i64;
        for _ in 0..100 {
            checksum += i64::from(resampler.process(&frame).unwrap()[100]);
            checksum += i64::from(resampler.process_le_bytes(&bytes).unwrap()[200]);
        }
        COUNTING.with(|c| c.set(false));
        std::hint::black_box(checksum);

        assert_eq!(ALLOCATIONS.load(Ordering::Relaxed), 0, "{rate} Hz allocated per frame");
    }
}

#[test]
fn the_counter_sees_allocations() {
    ALLOCATIONS.store(0, Ordering::Relaxed);
    COUNTING.with(|c| c.set(true));
    let v = std::hint::black_box(vec![1u8; 64]);
    COUNTING.with(|c| c.set(false));
    drop(v);
    assert!(ALLOCATIONS.load(Ordering::Relaxed) >= 1);
}
