//! Test guest `stateful`: looks for anything an earlier evaluation could have left behind and
//! reports each find as a card whose summary starts with `state survived:`. The host promises
//! a fresh instance per (plugin, patient), so no such card may ever appear.
//!
//! Where it looks:
//! - globals in the data segment: an evaluation counter and the last patient's age;
//! - a flag set by `describe` (the host describes a plugin once, in its own instance);
//! - linear memory: pages it grows itself (which WebAssembly guarantees are zero) and a
//!   large heap allocation it reads before writing, and a zero-initialised static in the
//!   first pages, which the pool keeps resident. Each evaluation fills all three with a trace
//!   of its patient's age, so a pooled memory slot handed on without being cleared shows up
//!   in the next evaluation as `nonzero bytes`.
//!
//! Every evaluation also returns `fresh instance: age <age>, static at <address>`, so the test
//! sees it ran and where the static it checks lies.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use livelab_plugin_sdk::{
    Card, EvaluationError, Guest, HookKind, Indicator, PluginInfo, Request, Source,
};

const NO_AGE: u32 = u32::MAX;
static EVALUATIONS: AtomicU32 = AtomicU32::new(0);
static LAST_AGE: AtomicU32 = AtomicU32::new(NO_AGE);
static DESCRIBED: AtomicBool = AtomicBool::new(false);

pub struct Stateful;

impl Guest for Stateful {
    fn describe() -> PluginInfo {
        DESCRIBED.store(true, Ordering::SeqCst);
        PluginInfo {
            id: "stateful".into(),
            name: "Stateful (test guest)".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "Reports any state that survived from an earlier evaluation.".into(),
            hooks: vec![HookKind::PatientView, HookKind::OrderSign],
            data_needs: vec![],
        }
    }

    fn evaluate(request: Request) -> Result<Vec<Card>, EvaluationError> {
        let age = u32::from(request.patient.age_years);
        let mut found = Vec::new();
        let earlier = EVALUATIONS.fetch_add(1, Ordering::SeqCst);
        if earlier > 0 {
            found.push(format!("{earlier} earlier evaluations in this instance"));
        }
        let last = LAST_AGE.swap(age, Ordering::SeqCst);
        if last != NO_AGE {
            found.push(format!("previous age {last}"));
        }
        if DESCRIBED.load(Ordering::SeqCst) {
            found.push("describe ran in this instance".into());
        }
        found.extend(memory::inspect_and_mark(age));

        let source = Source::for_plugin("livelab stateful test guest", "stateful");
        let mut cards = vec![Card::new(
            format!(
                "fresh instance: age {age}, static at {:#x}",
                memory::static_address()
            ),
            Indicator::Info,
            source.clone(),
        )];
        cards.extend(found.into_iter().map(|f| {
            Card::new(
                format!("state survived: {f}"),
                Indicator::Critical,
                source.clone(),
            )
        }));
        Ok(cards)
    }
}

#[cfg(target_arch = "wasm32")]
mod memory {
    use std::alloc::{Layout, alloc};

    /// More than the pooling allocator keeps resident (128 KiB), so its madvise path is
    /// exercised; [`STATIC`] lies inside what it keeps, so its memset path is too.
    const TRACE_BYTES: usize = 512 << 10;
    /// A zero-initialised static: in the guest's first pages (right above its 64 KiB stack),
    /// which the pool keeps resident and resets with memset between instances.
    static mut STATIC: [u8; 8 << 10] = [0; 8 << 10];

    /// Where [`STATIC`] lies, for the test to check that it is inside the prefix the pool
    /// keeps resident (otherwise the memset path would go untested).
    pub fn static_address() -> usize {
        core::ptr::addr_of!(STATIC) as usize
    }
    const PAGE: usize = 64 << 10;

    /// Reads `len` bytes at `start` that this instance never wrote and describes any that
    /// are not zero, then overwrites them with a trace of `age` (0x80 | age, never zero).
    ///
    /// Safety: `start..start + len` must be linear memory this code owns.
    unsafe fn check_then_trace(what: &str, start: *mut u8, len: usize, age: u32) -> Option<String> {
        let mut nonzero = 0usize;
        let mut first = 0u8;
        for i in 0..len {
            // Volatile: the optimiser must not assume fresh memory is anything in particular.
            let byte = unsafe { start.add(i).read_volatile() };
            if byte != 0 {
                if nonzero == 0 {
                    first = byte;
                }
                nonzero += 1;
            }
        }
        let trace = 0x80 | (age as u8 & 0x7f);
        for i in 0..len {
            unsafe { start.add(i).write_volatile(trace) };
        }
        (nonzero > 0).then(|| {
            format!(
                "{nonzero} nonzero bytes in {what}, first {first:#04x} (age {})",
                first & 0x7f
            )
        })
    }

    pub fn inspect_and_mark(age: u32) -> Vec<String> {
        let mut found = Vec::new();
        let pages = TRACE_BYTES / PAGE;
        let base = core::arch::wasm32::memory_grow(0, pages);
        if base != usize::MAX {
            let start = (base * PAGE) as *mut u8;
            // SAFETY: the pages were just grown by this call and belong to no allocation.
            found.extend(unsafe { check_then_trace("fresh pages", start, TRACE_BYTES, age) });
        }
        // SAFETY: the static is only touched here, and an instance runs one call at a time.
        found.extend(unsafe {
            let start = core::ptr::addr_of_mut!(STATIC).cast::<u8>();
            check_then_trace("a zero-initialised static", start, 8 << 10, age)
        });
        let layout = Layout::from_size_align(TRACE_BYTES, 16).expect("valid layout");
        // SAFETY: a live allocation of `TRACE_BYTES`; it is leaked so the trace stays put.
        // Reading it before writing is the point: it is what a plugin snooping for an earlier
        // patient would do.
        let heap = unsafe { alloc(layout) };
        if !heap.is_null() {
            found.extend(unsafe { check_then_trace("a fresh heap block", heap, TRACE_BYTES, age) });
        }
        found
    }
}

#[cfg(not(target_arch = "wasm32"))]
mod memory {
    /// Natively there is no linear memory to inspect.
    pub fn inspect_and_mark(_age: u32) -> Vec<String> {
        Vec::new()
    }

    pub fn static_address() -> usize {
        0
    }
}

#[cfg(target_arch = "wasm32")]
livelab_plugin_sdk::export!(Stateful);
