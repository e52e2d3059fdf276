//! Validation errors of schedule configurations.

/// Why a schedule configuration was rejected. Every variant names the offending key and value
/// and says what is allowed.
#[derive(thiserror::Error, Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ScheduleError {
    /// A key the policy needs is missing.
    #[error("policy `{policy}` needs the key `{key}`")]
    MissingKey {
        /// The policy being configured.
        policy: &'static str,
        /// The missing key.
        key: &'static str,
    },
    /// A key was given that the policy does not use.
    #[error("key `{key}` is not used by policy `{policy}`; allowed keys: {allowed}")]
    KeyNotUsed {
        /// The policy being configured.
        policy: &'static str,
        /// The key that was given.
        key: &'static str,
        /// The keys the policy accepts, comma separated.
        allowed: String,
    },
    /// Two keys that say the same thing in different units were both given.
    #[error("`{key}` and `{other}` were both given; give only one of them")]
    Conflicting {
        /// The first key.
        key: &'static str,
        /// The key it conflicts with.
        other: &'static str,
    },
    /// A number is NaN or infinite.
    #[error("`{key}` = {value} is not a finite number; allowed: a finite number")]
    NotFinite {
        /// The key.
        key: &'static str,
        /// The value given.
        value: f64,
    },
    /// A number lies outside its allowed range.
    #[error("`{key}` = {value} is out of range; allowed: {allowed}")]
    OutOfRange {
        /// The key.
        key: &'static str,
        /// The value given.
        value: f64,
        /// The allowed range, in words.
        allowed: &'static str,
    },
    /// An iteration count that must be at least 1 is zero.
    #[error("`{key}` = 0; allowed: an iteration count of at least 1")]
    Zero {
        /// The key.
        key: &'static str,
    },
    /// `max_lr` is below `base_lr`.
    #[error("`max_lr` = {max_lr} is below `base_lr` = {base_lr}; allowed: max_lr >= base_lr")]
    MaxBelowBase {
        /// The lower bound given.
        base_lr: f64,
        /// The upper bound given.
        max_lr: f64,
    },
    /// `max_momentum` is below `base_momentum`.
    #[error(
        "`max_momentum` = {max_momentum} is below `base_momentum` = {base_momentum}; \
         allowed: max_momentum >= base_momentum"
    )]
    MomentumMaxBelowBase {
        /// The lower momentum given.
        base_momentum: f64,
        /// The upper momentum given.
        max_momentum: f64,
    },
    /// Only one of `base_momentum` / `max_momentum` was given.
    #[error("`{given}` was given without `{missing}`; momentum cycling needs both")]
    MomentumPair {
        /// The key that was given.
        given: &'static str,
        /// The key that is missing.
        missing: &'static str,
    },
    /// `step_values` is empty.
    #[error("`step_values` is empty; allowed: a non-empty list of increasing iterations")]
    EmptyStepValues,
    /// `step_values` is not strictly increasing.
    #[error(
        "`step_values` is not strictly increasing: entry {index} ({value}) follows {previous}; \
         allowed: a non-empty list of strictly increasing iterations"
    )]
    UnsortedStepValues {
        /// Index of the offending entry.
        index: usize,
        /// The entry before it.
        previous: u64,
        /// The offending entry.
        value: u64,
    },
    /// A length was given in epochs but the number of iterations per epoch is unknown.
    #[error("`{key}` is given in epochs but the number of iterations per epoch is unknown")]
    NeedsIterationsPerEpoch {
        /// The key given in epochs.
        key: &'static str,
    },
    /// A length in epochs resolves to zero iterations.
    #[error(
        "`{key}` = {epochs} epochs at {iterations_per_epoch} iterations per epoch is less than \
         one iteration; allowed: at least one iteration"
    )]
    EpochsTooShort {
        /// The key given in epochs.
        key: &'static str,
        /// The number of epochs given.
        epochs: f64,
        /// Iterations per epoch used to resolve it.
        iterations_per_epoch: u64,
    },
    /// A `sequence` without stages.
    #[error("policy `sequence` has no `stages`; allowed: a non-empty list of stages")]
    EmptySequence,
    /// An error inside one stage of a `sequence`.
    #[error("in stage {index} of the sequence: {source}")]
    Stage {
        /// 0-based index of the stage.
        index: usize,
        /// The stage's error.
        source: Box<ScheduleError>,
    },
}
