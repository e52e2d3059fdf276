//! [`Schedule`]: any built schedule, the type the trainer works with.

use super::{Caffe, Cyclic, LrSchedule, OneCycle, Ramp, Sequence, Sgdr};

/// A checked, ready-to-use learning-rate schedule of any family. Cheap to clone,
/// `Send + Sync`, and a pure function of the iteration.
///
/// Build one from a [`ScheduleConfig`](super::ScheduleConfig) or with `Schedule::from` on a
/// family ([`Cyclic`], [`Caffe`], [`OneCycle`], [`Sgdr`], [`Ramp`], [`Sequence`]).
///
/// # Example
/// ```
/// use clr_core::{Cyclic, Scale, Schedule};
/// let s = Schedule::from(Cyclic::new(1.0, 5.0, 4, Scale::Constant).unwrap());
/// assert_eq!(s.lr(5), 4.0);
/// assert_eq!(s.cycle_length(), Some(8));
/// assert_eq!((s.cycle_of(7), s.cycle_of(8)), (0, 1));
/// assert!(s.is_cycle_end(16) && !s.is_cycle_end(12));
/// assert_eq!(s.next_cycle_end(9), Some(16));
/// ```
#[derive(Clone, Debug)]
pub struct Schedule {
    kind: Kind,
}

#[derive(Clone, Debug)]
enum Kind {
    Caffe(Caffe),
    Ramp(Ramp),
    Cyclic(Cyclic),
    OneCycle(OneCycle),
    Sgdr(Sgdr),
    Sequence(Sequence),
}

macro_rules! impl_from_family {
    ($($family:ident),*) => {$(
        impl From<$family> for Schedule {
            fn from(s: $family) -> Self {
                Self { kind: Kind::$family(s) }
            }
        }
    )*};
}
impl_from_family!(Caffe, Ramp, Cyclic, OneCycle, Sgdr, Sequence);

impl Schedule {
    fn inner(&self) -> &dyn LrSchedule {
        match &self.kind {
            Kind::Caffe(s) => s,
            Kind::Ramp(s) => s,
            Kind::Cyclic(s) => s,
            Kind::OneCycle(s) => s,
            Kind::Sgdr(s) => s,
            Kind::Sequence(s) => s,
        }
    }

    /// Learning rate for the update of iteration `iteration` (0-based).
    pub fn lr(&self, iteration: u64) -> f64 {
        self.inner().lr(iteration)
    }

    /// Momentum for the update of `iteration`; `None` when momentum is not cycled.
    pub fn momentum(&self, iteration: u64) -> Option<f64> {
        self.inner().momentum(iteration)
    }

    /// Length of the (first) cycle in iterations; `None` for non-cyclic policies. Cycles of
    /// SGDR with `t_mult > 1` and of sequence stages may differ: use
    /// [`next_cycle_end`](Self::next_cycle_end) for exact boundaries.
    pub fn cycle_length(&self) -> Option<u64> {
        self.inner().cycle_length()
    }

    /// 0-based index of the cycle `iteration` belongs to (0 for non-cyclic policies).
    pub fn cycle_of(&self, iteration: u64) -> u64 {
        self.inner().cycles_completed(iteration)
    }

    /// True when `iterations_done > 0` updates complete a cycle (the next LR starts a new
    /// cycle, back at its minimum).
    pub fn is_cycle_end(&self, iterations_done: u64) -> bool {
        iterations_done > 0
            && self.inner().cycles_completed(iterations_done)
                > self.inner().cycles_completed(iterations_done - 1)
    }

    /// Smallest `n >= iterations_done`, `n > 0`, with [`is_cycle_end(n)`](Self::is_cycle_end);
    /// `None` for non-cyclic policies.
    pub fn next_cycle_end(&self, iterations_done: u64) -> Option<u64> {
        self.inner().next_cycle_end(iterations_done)
    }

    /// Smallest and largest learning rate the schedule can produce (for labels and axes).
    pub fn lr_bounds(&self) -> (f64, f64) {
        self.inner().lr_bounds()
    }

    /// Short label, e.g. `triangular2 0.001-0.006 step 2000`.
    pub fn describe(&self) -> String {
        self.inner().describe()
    }
}

impl LrSchedule for Schedule {
    fn lr(&self, iteration: u64) -> f64 {
        self.inner().lr(iteration)
    }

    fn momentum(&self, iteration: u64) -> Option<f64> {
        self.inner().momentum(iteration)
    }

    fn cycles_completed(&self, iterations_done: u64) -> u64 {
        self.inner().cycles_completed(iterations_done)
    }

    fn next_cycle_end(&self, iterations_done: u64) -> Option<u64> {
        self.inner().next_cycle_end(iterations_done)
    }

    fn cycle_length(&self) -> Option<u64> {
        self.inner().cycle_length()
    }

    fn lr_bounds(&self) -> (f64, f64) {
        self.inner().lr_bounds()
    }

    fn describe(&self) -> String {
        self.inner().describe()
    }
}
