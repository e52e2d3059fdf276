//! The interface every schedule family implements.

/// A learning-rate schedule: a pure function of the iteration (no hidden counters, so a run
/// resumes from the iteration number alone).
///
/// Cycle bookkeeping follows one rule: an iteration count `n > 0` *ends a cycle* when the `n`
/// updates done so far complete a cycle, so that the LR of update `n` starts the next one.
pub trait LrSchedule {
    /// Learning rate for the update of iteration `iteration` (0-based).
    fn lr(&self, iteration: u64) -> f64;

    /// Momentum for the update of iteration `iteration`, or `None` when momentum is not cycled.
    fn momentum(&self, _iteration: u64) -> Option<f64> {
        None
    }

    /// Number of cycle ends among `1..=iterations_done`; 0 for non-cyclic schedules.
    fn cycles_completed(&self, _iterations_done: u64) -> u64 {
        0
    }

    /// Smallest `n >= iterations_done` with `n > 0` that ends a cycle; `None` if there is none.
    fn next_cycle_end(&self, _iterations_done: u64) -> Option<u64> {
        None
    }

    /// Length of the first cycle in iterations; `None` for non-cyclic schedules.
    fn cycle_length(&self) -> Option<u64> {
        None
    }

    /// Smallest and largest learning rate the schedule can produce.
    fn lr_bounds(&self) -> (f64, f64);

    /// Short human-readable label, e.g. `triangular2 0.001-0.006 step 2000`.
    fn describe(&self) -> String;
}
