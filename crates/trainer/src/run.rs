//! The training loop: data, model, optimizer and schedule tied together in a [`Trainer`],
//! with evaluation ([`crate::eval`]), stop rules ([`crate::stop`]), logging and checkpoints.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use clr_core::Schedule;
use ndarray::Array4;
use nn::{Network, Optimizer};

use crate::checkpoint::{self, LoopState};
use crate::config::{self, LoadedConfig};
use crate::data::{self, Dataset, Sampler};
pub use crate::eval::Evaluator;
use crate::fsutil::write_atomic;
use crate::metrics::{Row, Smoother, Summary};
use crate::progress::{self, Reporter, Status};
use crate::rundir::{write_metrics, Existing, Origin, RunDir};
use crate::stop::{self, Event, Rule, Rules, StopReason};

/// How a run is carried out (everything that is not in the config).
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// The run directory.
    pub out_dir: PathBuf,
    /// Continue from the run directory's latest checkpoint.
    pub resume: bool,
    /// Replace an existing run directory.
    pub force: bool,
    /// How progress is shown.
    pub progress: progress::Mode,
    /// Data mirror for fetching missing datasets (else `CLR_DATA_MIRROR`).
    pub mirror: Option<String>,
    /// Set to stop the run at the next iteration with a checkpoint.
    pub interrupt: Arc<AtomicBool>,
    /// Stop rules beyond the config's (the range test adds [`Rule::LossExploded`]).
    pub extra_rules: Vec<Rule>,
}

impl RunOptions {
    /// Options for a new run in `out_dir`: no resume or force, automatic progress, no mirror.
    pub fn new(out_dir: PathBuf) -> Self {
        Self {
            out_dir,
            resume: false,
            force: false,
            progress: progress::Mode::Auto,
            mirror: None,
            interrupt: Arc::new(AtomicBool::new(false)),
            extra_rules: Vec::new(),
        }
    }
}

/// The files of a run directory (see [`crate::rundir`]).
pub mod files {
    pub use crate::rundir::{CONFIG, METRICS, SUMMARY, WEIGHTS};
}

/// A deterministic 64-bit mix of a seed and a counter: SplitMix64's output function of the
/// seed xor the counter's `n`-th SplitMix64 state (offset by a constant).
pub fn mix(seed: u64, n: u64) -> u64 {
    use nn::seed::{finalize, GOLDEN_GAMMA};
    finalize(
        seed ^ n
            .wrapping_mul(GOLDEN_GAMMA)
            .wrapping_add(0xD1B5_4A32_D192_ED03),
    )
}

/// Everything a finished (or stopped) run reports.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// What `summary.json` holds.
    pub summary: Summary,
    /// What `metrics.csv` holds.
    pub rows: Vec<Row>,
    /// The run directory.
    pub out_dir: PathBuf,
}

/// Loads the dataset of a config, fetching it first when it is missing.
pub fn load_data(loaded: &LoadedConfig, mirror: Option<&str>) -> Result<Dataset> {
    let cfg = &loaded.config.data;
    data::ensure_available(cfg, mirror)
        .with_context(|| format!("preparing the data of {}", loaded.path.display()))?;
    data::load(cfg).with_context(|| format!("loading the data of {}", loaded.path.display()))
}

/// Trains one run as configured; writes the run directory.
///
/// A run that diverges (NaN or infinite loss) returns `Ok` with
/// [`StopReason::Diverged`]; the caller decides how loud to be.
pub fn train(loaded: &LoadedConfig, opts: &RunOptions) -> Result<Outcome> {
    let data = load_data(loaded, opts.mirror.as_deref())?;
    train_on(loaded, &data, opts)
}

/// [`train`] on an already loaded dataset (comparisons load it once): claims the run
/// directory (see [`rundir`]) for the run's life.
pub fn train_on(loaded: &LoadedConfig, data: &Dataset, opts: &RunOptions) -> Result<Outcome> {
    let existing = if opts.resume {
        Existing::Keep
    } else if opts.force {
        Existing::Replace
    } else {
        Existing::Refuse { resumable: true }
    };
    let dir = RunDir::claim(&opts.out_dir, existing)?;
    train_in(loaded, data, opts, &dir)
}

/// [`train_on`] in a directory the caller has claimed.
pub fn train_in(
    loaded: &LoadedConfig,
    data: &Dataset,
    opts: &RunOptions,
    dir: &RunDir,
) -> Result<Outcome> {
    let mut trainer = Trainer::new(loaded, data, opts, dir)?;
    let reason = trainer.run()?;
    trainer.finish(reason)
}

/// One run in progress: the network, optimizer and schedule, the batch sampler, the
/// evaluator, the stop rules and the loop's checkpointed state. [`Trainer::run`] is the loop;
/// its parts ([`step`](Self::step), [`evaluate`](Self::evaluate),
/// [`log_row`](Self::log_row), [`maybe_checkpoint`](Self::maybe_checkpoint)) are the places
/// to extend it.
pub struct Trainer<'a> {
    loaded: &'a LoadedConfig,
    data: &'a Dataset,
    opts: &'a RunOptions,
    out: PathBuf,
    origin: Origin,
    batch: usize,
    /// Iterations per epoch.
    ipe: f64,
    schedule: Schedule,
    plan: stop::Plan,
    eval_every: u64,
    net: Network,
    opt: Optimizer,
    st: LoopState,
    rules: Rules,
    sampler: Sampler,
    evaluator: Evaluator,
    reporter: Reporter,
    x: Array4<f32>,
    y: Vec<u8>,
    /// The iteration this process started at (0, or the checkpoint's).
    start: u64,
    session_start: Instant,
    elapsed_base: f64,
    train_base: f64,
    /// Seconds spent in updates by this process.
    train_time: f64,
    /// The latest test (loss, accuracy).
    last_test: Option<(f64, f64)>,
}

impl<'a> Trainer<'a> {
    /// Builds the run (network, optimizer, schedule, plan) and, when resuming, restores the
    /// latest checkpoint; writes the resolved config and `run.json`.
    pub fn new(
        loaded: &'a LoadedConfig,
        data: &'a Dataset,
        opts: &'a RunOptions,
        dir: &RunDir,
    ) -> Result<Self> {
        let cfg = &loaded.config;
        let out = dir.path().to_owned();
        // A resumed run keeps the name and config file it was started with.
        let origin = opts
            .resume
            .then(|| Origin::read(&out))
            .flatten()
            .unwrap_or_else(|| Origin {
                name: loaded.name(),
                config_file: loaded.path.display().to_string(),
            });
        let name = origin.name.clone();

        let batch = cfg.train.batch_size;
        let n_train = data.train.len();
        if n_train == 0 {
            bail!("the training split of {} is empty", loaded.path.display());
        }
        if batch > n_train {
            bail!(
                "config {}: [train] batch_size = {batch} is larger than the training split \
                 ({n_train} images); allowed: 1 to {n_train}",
                loaded.path.display()
            );
        }
        let ipe = n_train as f64 / batch as f64;
        let schedule = config::build_schedule(&loaded.path, cfg, ipe.round().max(1.0) as u64)?;
        let plan = stop::plan(
            &cfg.train,
            &cfg.stop,
            &schedule,
            ipe,
            cfg.schedule.policy_name(),
        )
        .with_context(|| format!("config {}", loaded.path.display()))?;
        let eval_every = cfg
            .eval
            .every
            .unwrap_or_else(|| ipe.round().max(1.0) as u64);

        crate::memory::check(&loaded.path, cfg, data)?;
        let mut net = Network::new(&cfg.model, data.shape, data.classes.len(), cfg.seed)
            .with_context(|| format!("config {}: [model]", loaded.path.display()))?;
        net.set_label_smoothing(cfg.train.label_smoothing.unwrap_or(0.0))
            .with_context(|| format!("config {}: train.label_smoothing", loaded.path.display()))?;
        let mut opt = Optimizer::new(&cfg.optimizer, &net)
            .with_context(|| format!("config {}: [optimizer]", loaded.path.display()))?;
        let threads = rayon::current_num_threads();

        let mut st = LoopState {
            iteration: 0,
            threads,
            best: None,
            iterations_to_target: None,
            plateau: stop::PlateauTracker::default(),
            smoother: Smoother::new(cfg.log.window),
            rows: Vec::new(),
            train_seconds: 0.0,
            elapsed_seconds: 0.0,
            schedule: schedule.describe(),
            model: net.summary(),
        };
        if opts.resume {
            match checkpoint::latest(&out)? {
                Some(ckpt) => {
                    let fresh = (st.schedule.clone(), st.model.clone());
                    let saved = checkpoint::read_state(&ckpt)?;
                    checkpoint::check_resumable(
                        &saved,
                        &fresh,
                        plan.end,
                        &ckpt,
                        &out.join(files::CONFIG),
                    )?;
                    st = checkpoint::load(&ckpt, &mut net, &mut opt)?;
                    if st.threads != threads {
                        eprintln!(
                            "warning: the run was checkpointed with {} threads and resumes with {threads}; \
                             results may differ in the last bits from an uninterrupted run",
                            st.threads
                        );
                    }
                    eprintln!(
                        "resuming {name} from {} (iteration {})",
                        ckpt.display(),
                        st.iteration
                    );
                }
                None => eprintln!(
                    "no checkpoint in {}: starting {name} from the beginning",
                    out.display()
                ),
            }
        }
        let start = st.iteration;
        write_atomic(&out.join(files::CONFIG), config::to_toml(cfg).as_bytes())
            .with_context(|| format!("writing {}", out.join(files::CONFIG).display()))?;
        origin.write(&out)?;

        let reporter = Reporter::new(opts.progress, &name, plan.end, start);
        reporter.message(&format!(
            "{name}: {} on {}{} ({n_train} train / {} test), {} params, {} iterations ({:.1} epochs), {threads} threads",
            schedule.describe(),
            data.name,
            cfg.data.augment,
            data.test.len(),
            net.num_params(),
            plan.end,
            plan.end as f64 / ipe
        ));

        let [c, h, w] = data.shape;
        let last_test = st
            .rows
            .iter()
            .rev()
            .find_map(|r| Some((r.test_loss?, r.test_accuracy?)));
        Ok(Self {
            loaded,
            data,
            opts,
            out,
            origin,
            batch,
            ipe,
            rules: Rules::new(&cfg.stop, &opts.extra_rules),
            sampler: Sampler::new(n_train, cfg.seed, cfg.data.order).with_augment(cfg.data.augment),
            evaluator: Evaluator::new(&data.test, data.shape, cfg.eval.batch_size),
            reporter,
            x: Array4::<f32>::zeros((batch, c, h, w)),
            y: Vec::with_capacity(batch),
            start,
            session_start: Instant::now(),
            elapsed_base: st.elapsed_seconds,
            train_base: st.train_seconds,
            train_time: 0.0,
            last_test,
            schedule,
            plan,
            eval_every,
            net,
            opt,
            st,
        })
    }

    /// The loop: steps until the planned end, a stop rule or an interruption.
    pub fn run(&mut self) -> Result<Option<StopReason>> {
        while self.st.iteration < self.plan.end {
            if self.opts.interrupt.load(Ordering::SeqCst) {
                self.save_checkpoint()?;
                write_metrics(&self.out, &self.st.rows)?;
                return Ok(Some(StopReason::Interrupted {
                    iteration: self.st.iteration,
                }));
            }
            if let Some(r) = self.step() {
                return Ok(Some(r));
            }
            let done = self.st.iteration;
            let cycle_end = self.schedule.is_cycle_end(done);
            let eval_now = done.is_multiple_of(self.eval_every)
                || (self.loaded.config.eval.at_cycle_end && cycle_end)
                || done == self.plan.end;
            let mut stop_now = None;
            if eval_now {
                stop_now = self.evaluate(cycle_end);
            }
            if eval_now || done.is_multiple_of(self.loaded.config.log.every) {
                let r = self.log_row(eval_now)?;
                stop_now = stop_now.or(r);
            }
            if stop_now.is_none() {
                self.maybe_checkpoint(cycle_end)?;
            }
            if stop_now.is_some() {
                return Ok(stop_now);
            }
        }
        Ok(None)
    }

    /// One update: the next batch, forward and backward, the optimizer step. Returns
    /// [`StopReason::Diverged`] (before updating) when the loss is not finite.
    pub fn step(&mut self) -> Option<StopReason> {
        let it = self.st.iteration;
        let t0 = Instant::now();
        self.sampler
            .fill(&self.data.train, it, self.batch, &mut self.x, &mut self.y);
        let lr = self.schedule.lr(it);
        let momentum = self.schedule.momentum(it);
        let stats =
            self.net
                .forward_backward(self.x.view(), &self.y, mix(self.loaded.config.seed, it));
        let loss = stats.loss_sum / stats.count.max(1) as f64;
        let event = Event::Step {
            iteration: it,
            loss,
        };
        if let Some(r) = self.rules.check(event, &mut self.st.plateau) {
            return Some(r);
        }
        self.opt.step(&mut self.net, lr, momentum);
        self.train_time += t0.elapsed().as_secs_f64();
        self.st
            .smoother
            .push(stats.loss_sum, stats.correct, stats.count);
        self.st.iteration += 1;
        None
    }

    /// Evaluates on the test split after the current iteration: best accuracy, iterations
    /// to the target, and the rules that watch test accuracy.
    pub fn evaluate(&mut self, cycle_end: bool) -> Option<StopReason> {
        let done = self.st.iteration;
        let (test_loss, test_acc) = self.evaluator.run(&mut self.net, &self.data.test);
        self.last_test = Some((test_loss, test_acc));
        if self.st.best.is_none_or(|(b, _)| test_acc > b) {
            self.st.best = Some((test_acc, done));
        }
        if let Some(target) = self.loaded.config.stop.target_accuracy {
            if self.st.iterations_to_target.is_none() && test_acc >= target {
                self.st.iterations_to_target = Some(done);
            }
        }
        let event = Event::Evaluated {
            iteration: done,
            accuracy: test_acc,
            cycle_end,
        };
        self.rules.check(event, &mut self.st.plateau)
    }

    /// Appends a metrics row (with the test result when `evaluated`), updates the progress
    /// display, and writes `metrics.csv` after an evaluation; the rules that watch the
    /// smoothed loss.
    pub fn log_row(&mut self, evaluated: bool) -> Result<Option<StopReason>> {
        let done = self.st.iteration;
        let it = done - 1;
        let elapsed = self.elapsed_base + self.session_start.elapsed().as_secs_f64();
        let (lr, momentum) = (self.schedule.lr(it), self.schedule.momentum(it));
        let test = evaluated.then_some(self.last_test).flatten();
        self.st.rows.push(Row {
            iteration: done,
            epoch: done as f64 / self.ipe,
            cycle: self.schedule.cycle_of(it),
            lr,
            momentum,
            train_loss: self.st.smoother.loss(),
            train_accuracy: self.st.smoother.accuracy(),
            test_loss: test.map(|t| t.0),
            test_accuracy: test.map(|t| t.1),
            elapsed_seconds: elapsed,
        });
        let status = Status {
            done,
            end: self.plan.end,
            epoch: done as f64 / self.ipe,
            cycle: self.schedule.cycle_of(it),
            lr,
            train_loss: self.st.smoother.loss(),
            test_accuracy: self.last_test.map(|t| t.1),
            images_per_sec: ((done - self.start) * self.batch as u64) as f64
                / self.train_time.max(1e-9),
        };
        self.reporter.update(&status);
        let event = Event::Logged {
            iteration: done,
            smoothed_loss: self.st.smoother.loss(),
        };
        let reason = self.rules.check(event, &mut self.st.plateau);
        if evaluated {
            self.reporter.checkpoint_line(&status);
            write_metrics(&self.out, &self.st.rows)?;
        }
        Ok(reason)
    }

    /// Writes a checkpoint when one is due (every `checkpoint.every` iterations, at cycle
    /// ends if asked), never at the planned end.
    pub fn maybe_checkpoint(&mut self, cycle_end: bool) -> Result<()> {
        let done = self.st.iteration;
        let ck = &self.loaded.config.checkpoint;
        let periodic = ck.every > 0 && done.is_multiple_of(ck.every);
        if done < self.plan.end && (periodic || (ck.at_cycle_end && cycle_end)) {
            self.save_checkpoint()?;
        }
        Ok(())
    }

    fn save_checkpoint(&mut self) -> Result<()> {
        self.st.elapsed_seconds = self.elapsed_base + self.session_start.elapsed().as_secs_f64();
        self.st.train_seconds = self.train_base + self.train_time;
        checkpoint::save(&self.out, &self.net, &self.opt, &self.st)?;
        Ok(())
    }

    /// Writes the metrics, the final weights (unless the run diverged or was interrupted)
    /// and `summary.json`.
    pub fn finish(self, reason: Option<StopReason>) -> Result<Outcome> {
        self.reporter.finish();
        let cfg = &self.loaded.config;
        let st = &self.st;
        let stop_reason = reason.unwrap_or(match self.plan.cycles {
            Some(cycles) => StopReason::Cycles {
                cycles,
                iterations: st.iteration,
            },
            None => StopReason::Length {
                iterations: st.iteration,
            },
        });
        let diverged = matches!(stop_reason, StopReason::Diverged { .. });
        let interrupted = matches!(stop_reason, StopReason::Interrupted { .. });
        write_metrics(&self.out, &st.rows)?;
        if !diverged && !interrupted {
            self.net
                .save(&self.out.join(files::WEIGHTS))
                .context("saving the final weights")?;
        }
        let images = (st.iteration - self.start) * self.batch as u64;
        let name = self.origin.name.clone();
        let summary = Summary {
            name: name.clone(),
            config_file: self.origin.config_file.clone(),
            policy: cfg.schedule.policy_name().to_owned(),
            schedule: self.schedule.describe(),
            seed: cfg.seed,
            threads: rayon::current_num_threads(),
            iterations: st.iteration,
            epochs: st.iteration as f64 / self.ipe,
            final_test_accuracy: self.last_test.map(|t| t.1),
            final_test_loss: self.last_test.map(|t| t.0),
            best_test_accuracy: st.best.map(|b| b.0),
            best_iteration: st.best.map(|b| b.1),
            target_accuracy: cfg.stop.target_accuracy,
            iterations_to_target: st.iterations_to_target,
            stop_reason: stop_reason.clone(),
            wall_seconds: self.elapsed_base + self.session_start.elapsed().as_secs_f64(),
            train_images_per_sec: if self.train_time > 0.0 {
                images as f64 / self.train_time
            } else {
                0.0
            },
            clr_version: env!("CARGO_PKG_VERSION").to_owned(),
        };
        let json = serde_json::to_vec_pretty(&summary).context("serializing the summary")?;
        let path = self.out.join(files::SUMMARY);
        write_atomic(&path, &json).with_context(|| format!("writing {}", path.display()))?;
        self.reporter.message(&format!("{name}: {stop_reason}"));
        Ok(Outcome {
            summary,
            rows: self.st.rows,
            out_dir: self.out,
        })
    }
}

/// The hint printed when a run diverges.
pub const DIVERGENCE_HINT: &str =
    "the learning rate is too high for this model: lower `max_lr` (or `base_lr` for \
     fixed schedules), or run `clr range-test CONFIG` to find bounds where accuracy still rises";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mix_is_deterministic_and_spreads() {
        assert_eq!(mix(1, 2), mix(1, 2));
        // The values seeds have always given (runs replay bit for bit).
        assert_eq!(mix(0, 0), 0x8209_B480_FAED_1B10);
        assert_eq!(mix(7, 12_345), 0x8D8E_7FEE_C2C5_5839);
        assert_ne!(mix(1, 2), mix(1, 3));
        assert_ne!(mix(1, 2), mix(2, 2));
    }
}
