//! The length of a cyclical run from a training budget: the step size and the number of
//! cycles the range test's suggested run uses when the user gives `--budget-epochs`.
//!
//! # Rule
//! The paper (§3.3): "it is often good to set stepsize equal to 2-10 times the number of
//! iterations in an epoch", and "stopping training at the end of a cycle": 3 cycles get most
//! of the gain, 4 or more do better. So, for a budget of `B` epochs:
//! - `B >= 16`: `max(4, ceil(B / 20))` cycles, the most that keep the step within 2-10
//!   epochs with at least 4 cycles (the step is `B / (2 cycles)`, so 4 cycles of step 2 at
//!   16 epochs up to step 10 at 80, then more cycles of step <= 10);
//! - `4 <= B < 16`: `floor(B / 4)` cycles (1-3) of step 2 or more, fewer than the paper
//!   advises because a shorter step would fall below 2 epochs;
//! - `B < 4`: one cycle of step `B / 2` (under the paper's 2 epochs: the budget allows no
//!   more).
//!
//! The run then takes exactly `2 · step · cycles = B` epochs and ends at a cycle end.

/// Step size and cycles for a budget, with the reason in words.
#[derive(Clone, Debug, PartialEq)]
pub struct PolicyLength {
    /// Half a cycle, in epochs.
    pub step_epochs: f64,
    /// Whole cycles in the budget.
    pub cycles: u64,
    /// Why these values.
    pub reason: String,
}

/// The step size and number of cycles for a budget of `budget_epochs` epochs (see the
/// module docs); `None` unless the budget is a positive finite number.
///
/// ```
/// let l = clr_core::policy_length(20.0).unwrap();
/// assert_eq!((l.cycles, l.step_epochs), (4, 2.5));
/// ```
pub fn policy_length(budget_epochs: f64) -> Option<PolicyLength> {
    let b = budget_epochs;
    if !(b.is_finite() && b > 0.0) {
        return None;
    }
    let (cycles, why) = if b >= 16.0 {
        let c = ((b / 20.0).ceil() as u64).max(4);
        (
            c,
            "at least 4 cycles (the paper: 3 get most of the gain, 4 or more do better) \
             with a step of at most 10 epochs",
        )
    } else if b >= 4.0 {
        (
            (b / 4.0).floor() as u64,
            "as many cycles as keep the step at 2 epochs or more (the paper: 2-10); the 4 \
             cycles the paper prefers would need 16 epochs",
        )
    } else {
        (
            1,
            "one cycle: the budget is under 4 epochs, so the step falls below the paper's \
             2 epochs",
        )
    };
    let step = b / (2.0 * cycles as f64);
    Some(PolicyLength {
        step_epochs: step,
        cycles,
        reason: format!(
            "budget {b} epochs: {cycles} cycle(s) of step {step} epochs, {why}; the run ends \
             at a cycle end"
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn len(b: f64) -> (u64, f64) {
        let l = policy_length(b).unwrap();
        (l.cycles, l.step_epochs)
    }

    #[test]
    fn follows_the_papers_step_and_cycle_advice() {
        assert_eq!(len(2.0), (1, 1.0));
        assert_eq!(len(4.0), (1, 2.0));
        assert_eq!(len(8.0), (2, 2.0));
        assert_eq!(len(12.0), (3, 2.0));
        assert_eq!(len(15.0), (3, 2.5));
        assert_eq!(len(16.0), (4, 2.0));
        assert_eq!(len(30.0), (4, 3.75));
        assert_eq!(len(80.0), (4, 10.0));
        assert_eq!(len(100.0), (5, 10.0));
        assert_eq!(len(140.0), (7, 10.0));
        for b in [1.0, 3.3, 7.0, 16.0, 33.0, 81.0, 500.0] {
            let (c, s) = len(b);
            assert!(
                (2.0 * s * c as f64 - b).abs() < 1e-9,
                "{b}: the budget is used exactly"
            );
            if b >= 4.0 {
                assert!((2.0..=10.0).contains(&s), "{b}: step {s}");
            }
            if b >= 16.0 {
                assert!(c >= 4);
            }
        }
        assert!(policy_length(0.0).is_none());
        assert!(policy_length(-1.0).is_none());
        assert!(policy_length(f64::NAN).is_none());
        assert!(policy_length(f64::INFINITY).is_none());
        assert!(policy_length(12.0).unwrap().reason.contains("3 cycle(s)"));
    }
}
