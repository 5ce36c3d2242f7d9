//! `Session::run` never allocates: a counting global allocator records allocations made by the
//! current thread while counting is switched on for it (a per-thread flag, so tests running in
//! parallel do not see each other's allocations). The threaded test also counts every other
//! thread (the session's workers): it takes `EXCLUSIVE` for writing, the other tests for reading,
//! so nothing else in this binary runs meanwhile.
use sprig_runtime::{AlignedBuf, Model, Session, Tensor};
use sprig_tests::{empty_outputs, random_inputs};
use sprig_tools::convert::{convert_bytes, ConvertOptions};
use sprig_tools::synth::{build, Arch};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::RwLock;

static EXCLUSIVE: RwLock<()> = RwLock::new(());
static COUNT_ALL: AtomicBool = AtomicBool::new(false);
static ALL: AtomicUsize = AtomicUsize::new(0);

struct Counting;

thread_local! {
    static ACTIVE: Cell<bool> = const { Cell::new(false) };
    static COUNT: Cell<usize> = const { Cell::new(0) };
}

fn note() {
    if COUNT_ALL.load(Ordering::SeqCst) {
        ALL.fetch_add(1, Ordering::SeqCst);
    }
    // try_with: the allocator may run during thread teardown, after the locals are gone.
    let _ = ACTIVE.try_with(|a| {
        if a.get() {
            let _ = COUNT.try_with(|c| c.set(c.get() + 1));
        }
    });
}

// SAFETY: every method forwards to `System` with the caller's arguments unchanged; counting only
// touches const-initialised thread-locals, which never allocate.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note();
        // SAFETY: forwarded contract of GlobalAlloc::alloc.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note();
        // SAFETY: forwarded contract of GlobalAlloc::alloc_zeroed.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note();
        // SAFETY: forwarded contract of GlobalAlloc::realloc.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded contract of GlobalAlloc::dealloc.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Runs `f` with counting on for this thread; returns its result and the allocations it made.
fn counting<R>(f: impl FnOnce() -> R) -> (R, usize) {
    COUNT.with(|c| c.set(0));
    ACTIVE.with(|a| a.set(true));
    let r = f();
    ACTIVE.with(|a| a.set(false));
    (r, COUNT.with(|c| c.get()))
}

#[test]
fn counter_counts() {
    let _g = EXCLUSIVE.read().unwrap_or_else(|e| e.into_inner());
    let (v, n) = counting(|| std::hint::black_box(Vec::<u64>::with_capacity(100)));
    assert!(v.capacity() >= 100);
    assert!(n >= 1, "the control allocation was not counted");
    let (_, n) = counting(|| std::hint::black_box(1 + 1));
    assert_eq!(n, 0);
}

fn assert_run_does_not_allocate(what: &str, sprig: &[u8], vocab: usize) {
    let model = Model::from_vec(sprig).unwrap_or_else(|e| panic!("{what}: load failed: {e}"));
    let mut arena = AlignedBuf::new(model.arena_size());
    let mut session = Session::new(&model, arena.as_mut_slice()).unwrap();
    let inputs = random_inputs(&model, 5, vocab);
    let mut outs = empty_outputs(&model).unwrap();
    let ins: Vec<Tensor> = inputs.iter().map(|t| Tensor { shape: &t.shape, data: t.data.as_data() }).collect();
    let mut views: Vec<_> = outs.iter_mut().map(|t| t.data.as_tensor_mut()).collect();
    // Twice: the first run must not allocate lazily either.
    for k in 0..2 {
        let mut r = Ok(());
        let ((), n) = counting(|| r = session.run(&ins, &mut views));
        r.unwrap_or_else(|e| panic!("{what}: run {k} failed: {e}"));
        assert_eq!(n, 0, "{what}: Session::run allocated {n} times on run {k}");
    }
}

#[test]
fn converted_models_run_without_allocating() {
    let _g = EXCLUSIVE.read().unwrap_or_else(|e| e.into_inner());
    for arch in Arch::ALL {
        for (sparsity, block) in [(0.0, 1), (0.9, 4)] {
            let o = sprig_tests::small_options(arch, sparsity, block);
            let onnx = build(arch, &o).unwrap();
            let conv = convert_bytes(&onnx, &ConvertOptions::default())
                .unwrap_or_else(|e| panic!("{arch:?} at {sparsity}: conversion failed: {e:?}"));
            assert_run_does_not_allocate(&format!("{arch:?} at {sparsity}"), &conv.bytes, o.vocab);
        }
    }
}

/// Runs `f` counting allocations on every thread of the process.
fn counting_all<R>(f: impl FnOnce() -> R) -> (R, usize) {
    ALL.store(0, Ordering::SeqCst);
    COUNT_ALL.store(true, Ordering::SeqCst);
    let r = f();
    COUNT_ALL.store(false, Ordering::SeqCst);
    (r, ALL.load(Ordering::SeqCst))
}

#[test]
fn global_counter_counts_other_threads() {
    let _g = EXCLUSIVE.write().unwrap_or_else(|e| e.into_inner());
    let t = std::thread::spawn(|| {
        std::thread::sleep(std::time::Duration::from_millis(20));
        std::hint::black_box(Vec::<u64>::with_capacity(10)).capacity()
    });
    let (_, n) = counting_all(|| {
        std::thread::sleep(std::time::Duration::from_millis(100));
    });
    assert!(t.join().unwrap() >= 10);
    assert!(n >= 1, "an allocation on another thread was not counted");
}

#[test]
fn threaded_sessions_run_without_allocating() {
    let _g = EXCLUSIVE.write().unwrap_or_else(|e| e.into_inner());
    for arch in Arch::ALL {
        for (sparsity, block) in [(0.0, 1), (0.9, 4)] {
            let what = format!("{arch:?} at {sparsity}, 3 threads");
            let o = sprig_tests::small_options(arch, sparsity, block);
            let onnx = build(arch, &o).unwrap();
            let conv = convert_bytes(&onnx, &ConvertOptions::default()).unwrap_or_else(|e| panic!("{what}: conversion failed: {e:?}"));
            let model = Model::from_vec(&conv.bytes).unwrap();
            let mut arena = AlignedBuf::new(model.arena_size_for_threads(3).unwrap());
            let mut session = Session::with_threads(&model, arena.as_mut_slice(), sprig_runtime::Isas::detect(), 3).unwrap();
            let inputs = random_inputs(&model, 5, o.vocab);
            let mut outs = empty_outputs(&model).unwrap();
            let ins: Vec<Tensor> = inputs.iter().map(|t| Tensor { shape: &t.shape, data: t.data.as_data() }).collect();
            let mut views: Vec<_> = outs.iter_mut().map(|t| t.data.as_tensor_mut()).collect();
            for k in 0..2 {
                let mut r = Ok(());
                let ((), n) = counting_all(|| r = session.run(&ins, &mut views));
                r.unwrap_or_else(|e| panic!("{what}: run {k} failed: {e}"));
                assert_eq!(n, 0, "{what}: Session::run allocated {n} times (on any thread) on run {k}");
            }
        }
    }
}
