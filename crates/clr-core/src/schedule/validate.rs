//! Value checks shared by the schedule constructors.

use super::ScheduleError;

/// `value` must be finite.
pub(crate) fn finite(key: &'static str, value: f64) -> Result<f64, ScheduleError> {
    if value.is_finite() {
        Ok(value)
    } else {
        Err(ScheduleError::NotFinite { key, value })
    }
}

/// `value` must be finite and `> 0`.
pub(crate) fn positive(key: &'static str, value: f64) -> Result<f64, ScheduleError> {
    if finite(key, value)? > 0.0 {
        Ok(value)
    } else {
        Err(ScheduleError::OutOfRange {
            key,
            value,
            allowed: "a number > 0",
        })
    }
}

/// `value` must be finite and `>= 0`.
pub(crate) fn non_negative(key: &'static str, value: f64) -> Result<f64, ScheduleError> {
    if finite(key, value)? >= 0.0 {
        Ok(value)
    } else {
        Err(ScheduleError::OutOfRange {
            key,
            value,
            allowed: "a number >= 0",
        })
    }
}

/// An iteration count must be at least 1.
pub(crate) fn count(key: &'static str, value: u64) -> Result<u64, ScheduleError> {
    if value == 0 {
        Err(ScheduleError::Zero { key })
    } else {
        Ok(value)
    }
}

/// `base_lr >= 0`, `max_lr > 0`, `max_lr >= base_lr`.
pub(crate) fn lr_range(base_lr: f64, max_lr: f64) -> Result<(), ScheduleError> {
    non_negative("base_lr", base_lr)?;
    positive("max_lr", max_lr)?;
    if max_lr < base_lr {
        return Err(ScheduleError::MaxBelowBase { base_lr, max_lr });
    }
    Ok(())
}

/// Momentum bounds: finite, in `[0, 1]`, `max >= base`.
pub(crate) fn momentum_range(base_momentum: f64, max_momentum: f64) -> Result<(), ScheduleError> {
    for (key, v) in [
        ("base_momentum", base_momentum),
        ("max_momentum", max_momentum),
    ] {
        if !(0.0..=1.0).contains(&finite(key, v)?) {
            return Err(ScheduleError::OutOfRange {
                key,
                value: v,
                allowed: "a momentum in [0, 1]",
            });
        }
    }
    if max_momentum < base_momentum {
        return Err(ScheduleError::MomentumMaxBelowBase {
            base_momentum,
            max_momentum,
        });
    }
    Ok(())
}
