//! Splitting one op's work across threads.
//!
//! Contract:
//! - [`Parallel::run`]`(tasks, f)` calls `f(task, worker)` exactly once for every `task` in
//!   `0..tasks` and returns only after every call has returned. `worker` is in
//!   `0..threads()`; two calls running at the same time never share a `worker` value, so a
//!   worker index can select per-worker memory (see [`Workers::scratch`]). Worker 0 is the
//!   calling thread.
//! - [`Serial`] (always available, `no_std`) runs every task on the calling thread.
//! - [`Pool`] (feature `std`) owns `threads - 1` persistent worker threads, created once with the
//!   session and joined when it drops. A run allocates nothing: the closure is handed to the
//!   workers by reference. Idle workers spin briefly (the next layer usually follows within
//!   microseconds) and then park on a condition variable.
//! - Per-worker scratch lives in the caller's arena, after the model's own arena
//!   ([`crate::Model::arena_size_for_threads`]): worker `w >= 1` owns region `w - 1` of
//!   [`crate::Model::worker_scratch_size`] bytes; worker 0 uses the node's own scratch.
//!
//! Ops split through [`Workers::for_ranges`] (near-equal lengths), [`Workers::for_balanced`]
//! (near-equal cost from a prefix-sum, e.g. non-zero blocks of SpMM block rows) or
//! [`Workers::for_slices`] (contiguous pieces of an elementwise output); all keep small layers on
//! one thread ([`MIN_PARALLEL_WORK`]).
use core::ops::Range;

/// Work (in multiply-adds or element updates) below which a layer runs on one thread.
/// A dispatch costs ~2-10 us with spinning workers (a wake-up from parking more), a 2 GFLOP/s
/// scalar-ish layer does 64 K multiply-adds in ~30 us.
pub const MIN_PARALLEL_WORK: usize = 64 * 1024;

/// Parts per thread of the splits without per-part overhead (depthwise, sparse, im2col,
/// transposes): a descheduled thread then delays a layer by a quarter of its share, not all of it.
pub const TASKS_PER_THREAD: usize = 4;

/// Something that runs `tasks` independent tasks, possibly on several threads (module contract).
pub trait Parallel: Sync {
    fn threads(&self) -> usize;
    fn run(&self, tasks: usize, f: &(dyn Fn(usize, usize) + Sync));
}

/// Runs every task on the calling thread, as worker 0.
#[derive(Clone, Copy, Debug, Default)]
pub struct Serial;

impl Parallel for Serial {
    fn threads(&self) -> usize {
        1
    }
    fn run(&self, tasks: usize, f: &(dyn Fn(usize, usize) + Sync)) {
        for t in 0..tasks {
            f(t, 0);
        }
    }
}

/// What an op gets to split its work: the thread set and the per-worker scratch regions.
pub struct Workers<'a> {
    par: &'a dyn Parallel,
    /// Start of region 0 (worker 1's); regions are `per` bytes apart, `count` of them.
    base: *mut u8,
    per: usize,
    count: usize,
    /// Whether every block-sparse view the ops get passed `SparseMatrix::parse` at load and is
    /// immutable (a `Session` over a validated `Model`): ops then rebuild the blob views in O(1)
    /// (`ops::sparse::matrix`). Set only inside the crate ([`Workers::trusting_blobs`]).
    trusted_blobs: bool,
    _arena: core::marker::PhantomData<&'a mut [u8]>,
}

// SAFETY: `Workers` hands out region `w - 1` only to worker `w` (see `scratch`), and the
// `Parallel` contract guarantees that no two concurrent calls share a worker index, so the regions
// are never aliased across threads. `par` is `Sync` by the trait bound.
unsafe impl Sync for Workers<'_> {}

impl Workers<'static> {
    /// One thread, no extra scratch (the converter's constant folding and `ops::exec`).
    pub fn serial() -> Workers<'static> {
        static SERIAL: Serial = Serial;
        Workers { par: &SERIAL, base: core::ptr::null_mut(), per: 0, count: 0, trusted_blobs: false, _arena: core::marker::PhantomData }
    }
}

impl<'a> Workers<'a> {
    /// # Safety
    /// `base` is valid for writes of `count * per` bytes for `'a`, 64-byte aligned if `per > 0`,
    /// `per` is a multiple of 64, and nothing else accesses those bytes while this value lives.
    #[cfg_attr(not(feature = "std"), allow(dead_code))]
    pub(crate) unsafe fn new(par: &'a dyn Parallel, base: *mut u8, per: usize, count: usize) -> Workers<'a> {
        Workers { par, base, per, count, trusted_blobs: false, _arena: core::marker::PhantomData }
    }

    /// These workers for ops whose block-sparse inputs were all validated by
    /// `SparseMatrix::parse` and are unchanged since (the constants of a `Model`, checked by
    /// `Parsed::check_value_full` at load).
    ///
    /// # Safety
    /// Every block-sparse `TensorView` passed to an op with the returned value must satisfy that:
    /// the ops build the kernels' view with the unchecked `SparseMatrix::parse_validated`.
    pub(crate) unsafe fn trusting_blobs(mut self) -> Workers<'a> {
        self.trusted_blobs = true;
        self
    }

    /// See [`Workers::trusting_blobs`].
    pub(crate) fn blobs_trusted(&self) -> bool {
        self.trusted_blobs
    }

    #[inline]
    pub fn threads(&self) -> usize {
        // Without std every `Workers` is `serial()` (`new` is only called with a std `Pool`): a
        // constant 1 lets the compiler drop the parallel branch of every split, closures
        // included, from the embedded library (C example text -18 KB x86_64, -12 KB aarch64).
        #[cfg(not(feature = "std"))]
        return 1;
        #[cfg(feature = "std")]
        self.par.threads()
    }

    /// Threads usable by a split whose workers each need `need` bytes of their own scratch
    /// (besides worker 0, which uses the node's scratch).
    pub fn threads_for(&self, need: usize) -> usize {
        if need == 0 {
            return self.threads();
        }
        if need > self.per {
            return 1;
        }
        self.threads().min(self.count + 1)
    }

    /// The scratch region of worker `w >= 1` (`per` bytes, 64-aligned); empty for worker 0 or
    /// past the last region.
    ///
    /// # Safety
    /// Call only from the task currently running as worker `w` (the `worker` argument the split
    /// passed in), and drop the slice before that task returns.
    #[allow(clippy::mut_from_ref)]
    pub unsafe fn scratch(&self, w: usize) -> &mut [u8] {
        if w == 0 || w > self.count || self.per == 0 {
            return &mut [];
        }
        // SAFETY: region `w - 1` lies inside the `count * per` bytes `new`'s contract made valid;
        // only worker `w` (our caller, by this function's contract) touches it during its task.
        unsafe { core::slice::from_raw_parts_mut(self.base.add((w - 1) * self.per), self.per) }
    }

    /// The part count shared by [`Workers::for_ranges`] and [`Workers::for_balanced`]:
    /// `Some((align, units, parts))` with `parts ≥ 2` when the split runs in parallel; otherwise
    /// it has already called `f(0..n, 0)` (when `n > 0`) and returns `None`. Always inlined: without
    /// std `threads()` is the constant 1, and only inlined does that drop the callers' parallel
    /// branches (the C example grew by 12 KB on x86_64 without it).
    #[inline(always)]
    fn parts_for(&self, n: usize, align: usize, work: usize, max_parts: usize, f: &(dyn Fn(Range<usize>, usize) + Sync)) -> Option<(usize, usize, usize)> {
        let align = align.max(1);
        let units = n.div_ceil(align);
        let parts = if work < MIN_PARALLEL_WORK || self.threads() == 1 { 1 } else { max_parts.min(units).max(1) };
        if parts <= 1 {
            if n > 0 {
                f(0..n, 0);
            }
            return None;
        }
        Some((align, units, parts))
    }

    /// Splits `0..n` into at most `max_parts` contiguous ranges (boundaries multiples of
    /// `align`, except the end) and calls `f(range, worker)` for each, in parallel when `work`
    /// (total multiply-adds or similar) reaches [`MIN_PARALLEL_WORK`] and there are several
    /// threads; otherwise one call `f(0..n, 0)`. Ranges are claimed dynamically, so more parts
    /// than threads ([`TASKS_PER_THREAD`]) let the others take over the parts of a thread the OS
    /// has descheduled.
    pub fn for_ranges(&self, n: usize, align: usize, work: usize, max_parts: usize, f: &(dyn Fn(Range<usize>, usize) + Sync)) {
        let Some((align, units, parts)) = self.parts_for(n, align, work, max_parts, f) else { return };
        self.par.run(parts, &|t, w| {
            let r = part(units, parts, t);
            let lo = (r.start * align).min(n);
            let hi = (r.end * align).min(n);
            if lo < hi {
                f(lo..hi, w);
            }
        });
    }
}

impl Workers<'_> {
    /// [`Workers::for_ranges`] with parts of near-equal *cost* instead of near-equal length:
    /// `prefix(i)` is the cost of units `0..i` (non-decreasing in `i`, any value at 0), and part
    /// `t` of `parts` ends at the first multiple of `align` where the cost reaches
    /// `(t + 1) / parts` of the total (the last part ends at `n`). For SpMM/SpMV block rows whose
    /// non-zero counts differ: a split by rows would leave one thread idle while the other
    /// finishes the denser half. Empty parts are skipped.
    pub fn for_balanced(
        &self,
        n: usize,
        align: usize,
        work: usize,
        max_parts: usize,
        prefix: &(dyn Fn(usize) -> usize + Sync),
        f: &(dyn Fn(Range<usize>, usize) + Sync),
    ) {
        let Some((align, units, parts)) = self.parts_for(n, align, work, max_parts, f) else { return };
        let base = prefix(0);
        let total = prefix(n).saturating_sub(base);
        let cost = |u: usize| prefix((u * align).min(n)).saturating_sub(base);
        // The boundary (in units) after part `t`: the first unit index whose cost prefix reaches
        // the target (binary search; `cost` is non-decreasing).
        let end_of = |t: usize| -> usize {
            if t + 1 >= parts {
                return units;
            }
            // floor(total · (t + 1) / parts) without a wider type (u128 division pulls
            // compiler_builtins' __udivti3, and with it an unwinding reference, into no_std links):
            // total = q · parts + r, so the product is q · (t + 1) + floor(r · (t + 1) / parts).
            let (q, r) = (total / parts, total % parts);
            let target = q.saturating_mul(t + 1).saturating_add(r.saturating_mul(t + 1) / parts);
            let (mut lo, mut hi) = (0usize, units);
            while lo < hi {
                let mid = lo + (hi - lo) / 2;
                if cost(mid) >= target {
                    hi = mid;
                } else {
                    lo = mid + 1;
                }
            }
            lo
        };
        self.par.run(parts, &|t, w| {
            let u0 = if t == 0 { 0 } else { end_of(t - 1) };
            let u1 = end_of(t).max(u0);
            let lo = (u0 * align).min(n);
            let hi = (u1 * align).min(n);
            if lo < hi {
                f(lo..hi, w);
            }
        });
    }
}

impl Workers<'_> {
    /// Splits `y` into contiguous pieces (boundaries on 64-byte multiples of `T`) and calls
    /// `f(range, &mut y[range])` for each, through [`Workers::for_ranges`] (`work` as there).
    /// For elementwise ops: the caller indexes its inputs by the same range.
    pub fn for_slices<T: Send>(&self, y: &mut [T], work: usize, f: &(dyn Fn(Range<usize>, &mut [T]) + Sync)) {
        let align = (64 / core::mem::size_of::<T>().max(1)).max(1);
        let n = y.len();
        let yd = DisjointMut::new(y);
        self.for_ranges(n, align, work, self.threads() * TASKS_PER_THREAD, &|r, _| {
            // SAFETY: the ranges of one split are disjoint.
            let ys = unsafe { yd.range(r.clone()) };
            f(r, ys);
        });
    }
}

/// A mutable slice shared by the tasks of one split, each of which takes a disjoint range.
pub struct DisjointMut<'a, T> {
    ptr: *mut T,
    len: usize,
    _s: core::marker::PhantomData<&'a mut [T]>,
}

// SAFETY: the only access is `range`, whose contract makes concurrent ranges disjoint; `T: Send`
// because elements are written from other threads.
unsafe impl<T: Send> Sync for DisjointMut<'_, T> {}

impl<'a, T> DisjointMut<'a, T> {
    pub fn new(s: &'a mut [T]) -> Self {
        DisjointMut { ptr: s.as_mut_ptr(), len: s.len(), _s: core::marker::PhantomData }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The start of the slice, for tasks that write disjoint elements through a pointer (rows of
    /// a column window, which no one range covers); the same contract as [`Self::range`].
    pub fn as_mut_ptr(&self) -> *mut T {
        self.ptr
    }

    /// Elements `r` (clamped to the length, so never out of bounds).
    ///
    /// # Safety
    /// No two slices obtained from this value and alive at the same time overlap.
    #[allow(clippy::mut_from_ref)]
    pub unsafe fn range(&self, r: Range<usize>) -> &mut [T] {
        let hi = r.end.min(self.len);
        let lo = r.start.min(hi);
        // SAFETY: `lo..hi` is inside the borrowed slice (clamped above), which lives for 'a and
        // is borrowed exclusively by `self`; disjointness is the caller's contract.
        unsafe { core::slice::from_raw_parts_mut(self.ptr.add(lo), hi - lo) }
    }
}

impl Workers<'_> {
    /// `need` f32 of scratch for worker `w`: a prefix of `own` (the node's scratch) for worker 0,
    /// of its own region otherwise; `None` if that is too short or misaligned.
    ///
    /// # Safety
    /// As for [`Workers::scratch`]; and only worker 0 takes from `own` during the split.
    #[allow(clippy::mut_from_ref)]
    pub unsafe fn scratch_f32<'s>(&'s self, w: usize, own: &'s DisjointMut<f32>, need: usize) -> Option<&'s mut [f32]> {
        if w == 0 {
            // SAFETY: only worker 0 takes from `own` (caller's contract).
            let s = unsafe { own.range(0..need) };
            return (s.len() == need).then_some(s);
        }
        // SAFETY: forwarded from the caller's contract.
        let bytes = unsafe { self.scratch(w) };
        let s: &mut [f32] = bytemuck::try_cast_slice_mut(bytes.get_mut(..need.checked_mul(4)?)?).ok()?;
        Some(s)
    }
}

/// The `t`-th of `parts` near-equal contiguous pieces of `0..units`.
pub fn part(units: usize, parts: usize, t: usize) -> Range<usize> {
    let (q, r) = (units / parts, units % parts);
    let start = t * q + t.min(r);
    start..start + q + usize::from(t < r)
}

#[cfg(feature = "std")]
pub use pool::Pool;

#[cfg(feature = "std")]
mod pool {
    use super::Parallel;
    use std::cell::UnsafeCell;
    use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::SeqCst};
    use std::sync::{Arc, Condvar, Mutex};
    use std::thread::JoinHandle;

    /// An idle worker (or the waiting dispatcher) first spins `SPINS` times, then yields its CPU
    /// up to `YIELDS` times, then parks. Yielding matters on a loaded machine: when the OS has
    /// put the waiting thread and the one it waits for on the same CPU, a pure spin keeps the
    /// other from running until the spinner's time slice ends (measured: two 30 us tasks took
    /// longer on two threads than on one with 4096 spins; `par_ceiling` below).
    const SPINS: u32 = 256;
    const YIELDS: u32 = 256;

    /// One step of waiting: spin, then yield; `false` once it is time to park.
    fn backoff(step: &mut u32) -> bool {
        *step += 1;
        if *step <= SPINS {
            core::hint::spin_loop();
            true
        } else if *step <= SPINS + YIELDS {
            std::thread::yield_now();
            true
        } else {
            false
        }
    }
    /// Tasks per dispatch (the `tasks` and `next` fields of the claim word are 16 bits).
    const MAX_TASKS: usize = 0xffff;

    type Task = dyn Fn(usize, usize) + Sync;

    /// The claim word: `generation << 32 | tasks << 16 | next`. A task is claimed by a CAS that
    /// raises `next` while `next < tasks`; the generation makes a CAS fail if a new dispatch was
    /// published in between (ABA would need 2^32 dispatches between one load and its CAS).
    fn unpack(s: u64) -> (u64, usize, usize) {
        (s >> 32, ((s >> 16) & 0xffff) as usize, (s & 0xffff) as usize)
    }

    struct Shared {
        claim: AtomicU64,
        /// The current dispatch's closure; written only while no task of any dispatch can be
        /// claimed (every claimed task has completed and `next == tasks`).
        job: UnsafeCell<*const Task>,
        /// Tasks of the current dispatch that have returned.
        completed: AtomicUsize,
        /// Workers that have entered their loop (`Pool::new` waits for all of them, so that
        /// thread start-up, which allocates, is over before the first run).
        started: AtomicUsize,
        panicked: AtomicBool,
        shutdown: AtomicBool,
        sleeping_workers: AtomicUsize,
        dispatcher_sleeping: AtomicBool,
        lock: Mutex<()>,
        wake: Condvar,
        finished: Condvar,
    }

    // SAFETY: `job` is written by the dispatcher only when no task is claimable or running (the
    // claim word says `next == tasks` and `completed == tasks`), before it publishes a new claim
    // word (SeqCst); it is read by a thread only right after it claimed a task of that word with
    // a SeqCst CAS, which orders the read after the write, and the dispatcher does not write it
    // again until that task has completed. The pointee is a `Sync` closure.
    unsafe impl Sync for Shared {}
    // SAFETY: as above; the raw pointer is only dereferenced under that protocol.
    unsafe impl Send for Shared {}

    impl Shared {
        /// Claims one task of the current dispatch: its index and the closure.
        fn claim(&self) -> Option<(usize, *const Task)> {
            let mut s = self.claim.load(SeqCst);
            loop {
                let (_, tasks, next) = unpack(s);
                if next >= tasks {
                    return None;
                }
                match self.claim.compare_exchange_weak(s, s + 1, SeqCst, SeqCst) {
                    // SAFETY: the task is claimed, so the dispatcher keeps `job` unchanged (and
                    // the closure alive) until it completes (see the `Sync` impl).
                    Ok(_) => return Some((next, unsafe { *self.job.get() })),
                    Err(now) => s = now,
                }
            }
        }

        fn has_work(&self) -> bool {
            let (_, tasks, next) = unpack(self.claim.load(SeqCst));
            next < tasks
        }

        /// Runs `f(t, w)` for the claimed task `t`, catching a panic, and reports completion.
        fn run_claimed(&self, t: usize, f: *const Task, w: usize) {
            // SAFETY: claimed in `claim`; the closure outlives the task (see `claim`).
            let f = unsafe { &*f };
            if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(t, w))).is_err() {
                self.panicked.store(true, SeqCst);
            }
            self.completed.fetch_add(1, SeqCst);
            if self.dispatcher_sleeping.load(SeqCst) {
                let _g = self.lock.lock().unwrap_or_else(|e| e.into_inner());
                self.finished.notify_all();
            }
        }
    }

    /// `threads - 1` worker threads plus the calling thread (module contract of [`super`]).
    pub struct Pool {
        shared: Arc<Shared>,
        handles: Vec<JoinHandle<()>>,
        /// Serialises dispatches: `run` takes `&self`, and the protocol has one job at a time.
        busy: AtomicBool,
    }

    impl Pool {
        /// Starts `threads - 1` workers (`threads` 0 counts as 1). Fails if the OS refuses a thread.
        pub fn new(threads: usize) -> std::io::Result<Pool> {
            let noop: &'static Task = &|_, _| {};
            let shared = Arc::new(Shared {
                claim: AtomicU64::new(0),
                job: UnsafeCell::new(noop as *const Task),
                completed: AtomicUsize::new(0),
                started: AtomicUsize::new(0),
                panicked: AtomicBool::new(false),
                shutdown: AtomicBool::new(false),
                sleeping_workers: AtomicUsize::new(0),
                dispatcher_sleeping: AtomicBool::new(false),
                lock: Mutex::new(()),
                wake: Condvar::new(),
                finished: Condvar::new(),
            });
            let mut pool = Pool { shared: shared.clone(), handles: Vec::new(), busy: AtomicBool::new(false) };
            for w in 1..threads.max(1) {
                let s = shared.clone();
                let h = std::thread::Builder::new().name(format!("sprig-worker-{w}")).spawn(move || worker(&s, w))?;
                // On an error above, `pool` drops and joins the workers already started.
                pool.handles.push(h);
            }
            while shared.started.load(SeqCst) < pool.handles.len() {
                std::thread::yield_now();
            }
            Ok(pool)
        }

        fn workers(&self) -> usize {
            self.handles.len()
        }

        /// One dispatch of at most `MAX_TASKS` tasks.
        fn dispatch(&self, tasks: usize, f: &(dyn Fn(usize, usize) + Sync)) {
            let s = &*self.shared;
            // SAFETY: the previous dispatch returned only after all its tasks completed and none
            // is claimable, so no thread reads `job` now. The closure's lifetime is erased: it is
            // dereferenced only by threads holding a claimed task of this dispatch, and we wait
            // below for every task to complete before returning, so it outlives every use.
            unsafe {
                *s.job.get() = core::mem::transmute::<*const (dyn Fn(usize, usize) + Sync + '_), *const Task>(f);
            }
            s.completed.store(0, SeqCst);
            let generation = (unpack(s.claim.load(SeqCst)).0 + 1) & 0xffff_ffff;
            s.claim.store(generation << 32 | (tasks as u64) << 16, SeqCst);
            if s.sleeping_workers.load(SeqCst) > 0 {
                let _g = s.lock.lock().unwrap_or_else(|e| e.into_inner());
                s.wake.notify_all();
            }
            // The calling thread is worker 0 and claims tasks like the others; a task that is not
            // claimed by a worker (descheduled on a loaded machine) is simply run here.
            while let Some((t, fp)) = s.claim() {
                s.run_claimed(t, fp, 0);
            }
            let mut step = 0u32;
            while s.completed.load(SeqCst) < tasks {
                if !backoff(&mut step) {
                    let mut guard = s.lock.lock().unwrap_or_else(|e| e.into_inner());
                    s.dispatcher_sleeping.store(true, SeqCst);
                    while s.completed.load(SeqCst) < tasks {
                        guard = s.finished.wait(guard).unwrap_or_else(|e| e.into_inner());
                    }
                    s.dispatcher_sleeping.store(false, SeqCst);
                }
            }
        }
    }

    fn worker(s: &Shared, w: usize) {
        s.started.fetch_add(1, SeqCst);
        loop {
            let mut step = 0u32;
            while !s.has_work() && !s.shutdown.load(SeqCst) {
                if !backoff(&mut step) {
                    let mut guard = s.lock.lock().unwrap_or_else(|e| e.into_inner());
                    s.sleeping_workers.fetch_add(1, SeqCst);
                    while !s.has_work() && !s.shutdown.load(SeqCst) {
                        guard = s.wake.wait(guard).unwrap_or_else(|e| e.into_inner());
                    }
                    s.sleeping_workers.fetch_sub(1, SeqCst);
                    step = 0;
                }
            }
            if s.shutdown.load(SeqCst) {
                return;
            }
            while let Some((t, fp)) = s.claim() {
                s.run_claimed(t, fp, w);
            }
        }
    }

    impl Parallel for Pool {
        fn threads(&self) -> usize {
            self.workers() + 1
        }

        fn run(&self, tasks: usize, f: &(dyn Fn(usize, usize) + Sync)) {
            // A nested or concurrent dispatch (the session is `&mut` while running, so only a task
            // calling back into the pool) runs serially on its own thread.
            if tasks <= 1 || self.workers() == 0 || self.shared.shutdown.load(SeqCst) || self.busy.swap(true, SeqCst) {
                for t in 0..tasks {
                    f(t, 0);
                }
                return;
            }
            let mut done = 0;
            while done < tasks {
                let n = (tasks - done).min(MAX_TASKS);
                self.dispatch(n, &|t, w| f(done + t, w));
                done += n;
            }
            self.busy.store(false, SeqCst);
            if self.shared.panicked.swap(false, SeqCst) {
                panic!("sprig: a task panicked in the thread pool (a bug: ops must not panic after check)");
            }
        }
    }

    impl Drop for Pool {
        fn drop(&mut self) {
            let s = &*self.shared;
            s.shutdown.store(true, SeqCst);
            {
                let _g = s.lock.lock().unwrap_or_else(|e| e.into_inner());
                s.wake.notify_all();
            }
            for h in self.handles.drain(..) {
                let _ = h.join();
            }
        }
    }

    impl core::fmt::Debug for Pool {
        fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
            write!(f, "Pool({} threads)", self.threads())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_cover_exactly() {
        for units in 0..40 {
            for parts in 1..6 {
                let mut next = 0;
                for t in 0..parts {
                    let r = part(units, parts, t);
                    assert_eq!(r.start, next);
                    next = r.end;
                }
                assert_eq!(next, units);
            }
        }
    }

    #[cfg(feature = "std")]
    #[test]
    fn pool_runs_every_task_once() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        for threads in [1, 2, 3, 4, 7] {
            let pool = Pool::new(threads).unwrap();
            assert_eq!(pool.threads(), threads);
            for tasks in [0, 1, 2, 5, 100] {
                let hits: Vec<AtomicUsize> = (0..tasks).map(|_| AtomicUsize::new(0)).collect();
                let workers_ok = AtomicUsize::new(0);
                pool.run(tasks, &|t, w| {
                    hits[t].fetch_add(1, Ordering::SeqCst);
                    if w < threads {
                        workers_ok.fetch_add(1, Ordering::SeqCst);
                    }
                });
                assert!(hits.iter().all(|h| h.load(Ordering::SeqCst) == 1), "threads {threads} tasks {tasks}");
                assert_eq!(workers_ok.load(Ordering::SeqCst), tasks);
            }
        }
    }

    /// `for_balanced` covers `0..n` exactly once, with aligned boundaries, and its parts have
    /// near-equal cost (checked against the costs summed here) whatever the cost shape.
    #[cfg(feature = "std")]
    #[test]
    fn balanced_parts_cover_once_and_balance_cost() {
        use std::sync::Mutex;
        let pool = Pool::new(3).unwrap();
        // SAFETY: no scratch regions (count 0).
        let w = unsafe { Workers::new(&pool, core::ptr::null_mut(), 0, 0) };
        let shapes: [fn(usize) -> usize; 4] = [|_| 1, |i| if i < 10 { 100 } else { 1 }, |i| i, |i| if i % 7 == 0 { 0 } else { 5 }];
        for cost_of in shapes {
            for n in [0usize, 1, 5, 37, 200] {
                for align in [1usize, 4] {
                    for parts in [1usize, 2, 3, 8] {
                        let prefix = move |i: usize| (0..i).map(cost_of).sum::<usize>() + 1000;
                        let got = Mutex::new(Vec::new());
                        w.for_balanced(n, align, usize::MAX, parts, &prefix, &|r, _| got.lock().unwrap().push(r));
                        let mut got = got.into_inner().unwrap();
                        got.sort_by_key(|r| r.start);
                        let mut next = 0;
                        for r in &got {
                            assert_eq!(r.start, next, "n {n} align {align} parts {parts}");
                            assert!(r.start < r.end && (r.start % align == 0));
                            next = r.end;
                        }
                        assert_eq!(next, n);
                        // Each part costs at most its share plus one aligned unit's cost.
                        let total: usize = (0..n).map(cost_of).sum();
                        let unit_max = (0..n).step_by(align).map(|u| (u..(u + align).min(n)).map(cost_of).sum::<usize>()).max().unwrap_or(0);
                        let used = parts.min(n.div_ceil(align)).max(1);
                        for r in &got {
                            let c: usize = r.clone().map(cost_of).sum();
                            assert!(c <= total.div_ceil(used) + unit_max, "n {n} align {align} parts {parts}: part {r:?} costs {c} of {total}");
                        }
                    }
                }
            }
        }
    }

    #[cfg(feature = "std")]
    #[test]
    fn pool_wakes_parked_workers() {
        let pool = Pool::new(2).unwrap();
        // Long enough for the worker to stop spinning and park.
        std::thread::sleep(std::time::Duration::from_millis(50));
        let seen = std::sync::Mutex::new(std::vec::Vec::new());
        pool.run(2, &|t, _| seen.lock().unwrap().push(t));
        let mut v = seen.into_inner().unwrap();
        v.sort();
        assert_eq!(v, [0, 1]);
    }

    #[cfg(feature = "std")]
    #[test]
    fn worker_panic_reaches_the_caller() {
        let pool = Pool::new(2).unwrap();
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            pool.run(2, &|t, _| {
                if t == 1 {
                    panic!("task 1");
                }
            })
        }));
        assert!(r.is_err());
        // The pool still works afterwards.
        let n = std::sync::atomic::AtomicUsize::new(0);
        pool.run(4, &|_, _| {
            n.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        });
        assert_eq!(n.into_inner(), 4);
    }
}
/// Not a pass/fail test (it asserts nothing): prints how much two threads gain over one on
/// perfectly parallel compute, i.e. the ceiling this machine gives a split right now (BENCHMARKS.md
/// "Multi-threading"). Run: `cargo test --release -p sprig-runtime --lib par_ceiling -- --ignored --nocapture`.
#[cfg(all(test, feature = "std"))]
mod ceiling {
    #[test]
    #[ignore]
    fn par_ceiling() {
        use super::Parallel;
        let pool = super::Pool::new(2).unwrap();
        let work = |n: u64| {
            let mut x = std::hint::black_box(1u64);
            for i in 0..n {
                x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(i));
            }
            std::hint::black_box(x);
        };
        for n in [2_000u64, 20_000, 200_000] {
            let mut ratios = std::vec::Vec::new();
            for _ in 0..7 {
                let t0 = std::time::Instant::now();
                for _ in 0..200 {
                    work(n);
                    work(n);
                }
                let one = t0.elapsed();
                let t0 = std::time::Instant::now();
                for _ in 0..200 {
                    pool.run(2, &|_, _| work(n));
                }
                let two = t0.elapsed();
                ratios.push(one.as_secs_f64() / two.as_secs_f64());
            }
            ratios.sort_by(f64::total_cmp);
            println!("two tasks of {n} steps: 1 thread / 2 threads = {:.2}x (median of 7 rounds; min {:.2}, max {:.2})", ratios[3], ratios[0], ratios[6]);
        }
    }
}
