//! Learning-rate schedules, one family per file, and the `[schedule]` configuration.

mod caffe;
mod config;
mod cyclic;
mod dispatch;
mod error;
mod family;
mod one_cycle;
mod ramp;
mod sequence;
mod sgdr;
mod validate;

pub use caffe::{
    Caffe, CaffeRule, ExpConfig, FixedConfig, InvConfig, MultistepConfig, PolyConfig, StepConfig,
};
pub use config::{Policy, ScheduleConfig};
pub use cyclic::{Cyclic, CyclicConfig, ExpRangeDecay, Scale, ScaleFn, ScaleMode, Shape};
pub use dispatch::Schedule;
pub use error::ScheduleError;
pub use family::LrSchedule;
pub use one_cycle::{Anneal, OneCycle, OneCycleConfig, OneCycleParams};
pub use ramp::{LinearDecayConfig, Ramp, RampKind, RangeConfig};
pub use sequence::{Sequence, SequenceConfig, Stage, StageConfig};
pub use sgdr::{Sgdr, SgdrConfig};
