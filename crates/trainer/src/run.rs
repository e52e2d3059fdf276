//! The training loop: data, model, optimizer and schedule tied together, with
//! evaluation, stopping rules, logging and checkpoints.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use clr_core::Schedule;
use ndarray::Array4;
use nn::{BatchStats, Network, Optimizer};

use crate::checkpoint::{self, LoopState};
use crate::config::{self, LoadedConfig};
use crate::data::{self, Dataset, Split};
use crate::fsutil::write_atomic;
use crate::metrics::{self, Row, Smoother, Summary};
use crate::progress::{self, Reporter, Status};
use crate::rundir::{Existing, Origin, RunDir};
use crate::stop::{self, StopReason};

/// How a run is carried out (everything that is not in the config).
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// The run directory.
    pub out_dir: PathBuf,
    /// Continue from the run directory's latest checkpoint.
    pub resume: bool,
    /// Replace an existing run directory.
    pub force: bool,
    pub progress: progress::Mode,
    /// Data mirror for fetching missing datasets (else `CLR_DATA_MIRROR`).
    pub mirror: Option<String>,
    /// Set to stop the run at the next iteration with a checkpoint.
    pub interrupt: Arc<AtomicBool>,
    /// Stop when the smoothed training loss exceeds this multiple of its
    /// minimum so far (the range test's end of the sweep).
    pub stop_on_loss_ratio: Option<f64>,
}

impl RunOptions {
    pub fn new(out_dir: PathBuf) -> Self {
        Self {
            out_dir,
            resume: false,
            force: false,
            progress: progress::Mode::Auto,
            mirror: None,
            interrupt: Arc::new(AtomicBool::new(false)),
            stop_on_loss_ratio: None,
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
    finalize(seed ^ n.wrapping_mul(GOLDEN_GAMMA).wrapping_add(0xD1B5_4A32_D192_ED03))
}

/// Epoch permutations of the training set, two kept at a time (a batch may
/// straddle an epoch boundary). With [`data::Order::Fixed`] every epoch uses the
/// permutation of epoch 0.
struct EpochOrders {
    n: usize,
    seed: u64,
    fixed: bool,
    cache: [(u64, Vec<usize>); 2],
}

impl EpochOrders {
    fn new(n: usize, seed: u64, order: data::Order) -> Self {
        Self {
            n,
            seed,
            fixed: order == data::Order::Fixed,
            cache: [(u64::MAX, Vec::new()), (u64::MAX, Vec::new())],
        }
    }

    fn index(&mut self, global: u64) -> usize {
        let epoch = if self.fixed {
            0
        } else {
            global / self.n as u64
        };
        let pos = (global % self.n as u64) as usize;
        let slot = (epoch % 2) as usize;
        if self.cache[slot].0 != epoch {
            self.cache[slot] = (epoch, data::epoch_order(self.n, self.seed, epoch));
        }
        self.cache[slot].1[pos]
    }
}

/// Evaluates the network on a whole split in batches.
pub struct Evaluator {
    indices: Vec<usize>,
    x: Array4<f32>,
    x_tail: Option<Array4<f32>>,
    y: Vec<u8>,
    batch: usize,
}

impl Evaluator {
    pub fn new(split: &Split, shape: [usize; 3], batch: usize) -> Self {
        let n = split.len();
        let batch = batch.min(n.max(1));
        let tail = n % batch;
        Self {
            indices: (0..n).collect(),
            x: Array4::zeros((batch, shape[0], shape[1], shape[2])),
            x_tail: (tail > 0).then(|| Array4::zeros((tail, shape[0], shape[1], shape[2]))),
            y: Vec::with_capacity(batch),
            batch,
        }
    }

    /// Mean loss and accuracy over the split.
    pub fn run(&mut self, net: &mut Network, split: &Split) -> (f64, f64) {
        let mut total = BatchStats::default();
        for chunk in self.indices.chunks(self.batch) {
            let x = if chunk.len() == self.batch {
                &mut self.x
            } else {
                self.x_tail.as_mut().unwrap_or(&mut self.x)
            };
            split.fill_batch(chunk, x, &mut self.y);
            let s = net.evaluate(x.view(), &self.y);
            total.loss_sum += s.loss_sum;
            total.correct += s.correct;
            total.count += s.count;
        }
        let n = total.count.max(1) as f64;
        (total.loss_sum / n, total.correct as f64 / n)
    }
}

/// Everything a finished (or stopped) run reports.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub summary: Summary,
    pub rows: Vec<Row>,
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
    let cfg = &loaded.config;
    let out = &dir.path().to_owned();
    // A resumed run keeps the name and config file it was started with.
    let origin = opts
        .resume
        .then(|| Origin::read(out))
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
    let reporter_start;
    if opts.resume {
        match checkpoint::latest(out)? {
            Some(ckpt) => {
                let fresh = (st.schedule.clone(), st.model.clone());
                let saved = checkpoint::read_state(&ckpt)?;
                check_resumable(&saved, &fresh, plan.end, &ckpt, &out.join(files::CONFIG))?;
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
        reporter_start = st.iteration;
    } else {
        reporter_start = 0;
    }
    write_atomic(&out.join(files::CONFIG), config::to_toml(cfg).as_bytes())
        .with_context(|| format!("writing {}", out.join(files::CONFIG).display()))?;
    origin.write(out)?;

    let reporter = Reporter::new(opts.progress, &name, plan.end, reporter_start);
    reporter.message(&format!(
        "{name}: {} on {} ({n_train} train / {} test), {} params, {} iterations ({:.1} epochs), {threads} threads",
        schedule.describe(),
        data.name,
        data.test.len(),
        net.num_params(),
        plan.end,
        plan.end as f64 / ipe
    ));

    let [c, h, w] = data.shape;
    let mut x = Array4::<f32>::zeros((batch, c, h, w));
    let mut y: Vec<u8> = Vec::with_capacity(batch);
    let mut idx: Vec<usize> = Vec::with_capacity(batch);
    let mut orders = EpochOrders::new(n_train, cfg.seed, cfg.data.order);
    let mut evaluator = Evaluator::new(&data.test, data.shape, cfg.eval.batch_size);

    let session_start = Instant::now();
    let elapsed_base = st.elapsed_seconds;
    let train_base = st.train_seconds;
    let mut train_time = 0.0f64;
    let mut last_test: Option<(f64, f64)> = st
        .rows
        .iter()
        .rev()
        .find_map(|r| Some((r.test_loss?, r.test_accuracy?)));
    let mut stop_reason = None;
    let mut min_loss = f64::INFINITY;

    while st.iteration < plan.end {
        if opts.interrupt.load(Ordering::SeqCst) {
            st.elapsed_seconds = elapsed_base + session_start.elapsed().as_secs_f64();
            st.train_seconds = train_base + train_time;
            checkpoint::save(out, &net, &opt, &st)?;
            write_metrics(out, &st.rows)?;
            stop_reason = Some(StopReason::Interrupted {
                iteration: st.iteration,
            });
            break;
        }
        let it = st.iteration;
        let t0 = Instant::now();
        idx.clear();
        let first = it * batch as u64;
        for g in first..first + batch as u64 {
            idx.push(orders.index(g));
        }
        data.train.fill_batch(&idx, &mut x, &mut y);
        let lr = schedule.lr(it);
        let momentum = schedule.momentum(it);
        let stats = net.forward_backward(x.view(), &y, mix(cfg.seed, it));
        let loss = stats.loss_sum / stats.count.max(1) as f64;
        if !loss.is_finite() {
            stop_reason = Some(StopReason::Diverged {
                iteration: it,
                loss,
            });
            break;
        }
        opt.step(&mut net, lr, momentum);
        train_time += t0.elapsed().as_secs_f64();
        st.smoother.push(stats.loss_sum, stats.correct, stats.count);
        st.iteration += 1;
        let done = st.iteration;

        let cycle_end = schedule.is_cycle_end(done);
        let eval_now = done.is_multiple_of(eval_every)
            || (cfg.eval.at_cycle_end && cycle_end)
            || done == plan.end;
        let mut stop_now = None;
        if eval_now {
            let (test_loss, test_acc) = evaluator.run(&mut net, &data.test);
            last_test = Some((test_loss, test_acc));
            if st.best.is_none_or(|(b, _)| test_acc > b) {
                st.best = Some((test_acc, done));
            }
            if let Some(target) = cfg.stop.target_accuracy {
                if st.iterations_to_target.is_none() && test_acc >= target {
                    st.iterations_to_target = Some(done);
                    if cfg.stop.stop_at_target {
                        stop_now = Some(StopReason::Target {
                            iteration: done,
                            accuracy: test_acc,
                            target,
                        });
                    }
                }
            }
            if cycle_end {
                if let Some(threshold) = cfg.stop.min_improvement {
                    if let Some(gain) = st.plateau.at_cycle_end(test_acc, threshold) {
                        stop_now.get_or_insert(StopReason::Plateau {
                            iteration: done,
                            gain,
                            threshold,
                        });
                    }
                }
            }
        }
        if eval_now || done.is_multiple_of(cfg.log.every) {
            let elapsed = elapsed_base + session_start.elapsed().as_secs_f64();
            st.rows.push(Row {
                iteration: done,
                epoch: done as f64 / ipe,
                cycle: schedule.cycle_of(it),
                lr,
                momentum,
                train_loss: st.smoother.loss(),
                train_accuracy: st.smoother.accuracy(),
                test_loss: eval_now.then_some(last_test.map(|t| t.0)).flatten(),
                test_accuracy: eval_now.then_some(last_test.map(|t| t.1)).flatten(),
                elapsed_seconds: elapsed,
            });
            let status = Status {
                done,
                end: plan.end,
                epoch: done as f64 / ipe,
                cycle: schedule.cycle_of(it),
                lr,
                train_loss: st.smoother.loss(),
                test_accuracy: last_test.map(|t| t.1),
                images_per_sec: ((done - reporter_start) * batch as u64) as f64
                    / train_time.max(1e-9),
            };
            reporter.update(&status);
            if let Some(ratio) = opts.stop_on_loss_ratio {
                let l = st.smoother.loss();
                min_loss = min_loss.min(l);
                if l > ratio * min_loss {
                    stop_now.get_or_insert(StopReason::LossExploded {
                        iteration: done,
                        loss: l,
                        min_loss,
                    });
                }
            }
            if eval_now {
                reporter.checkpoint_line(&status);
                write_metrics(out, &st.rows)?;
            }
        }
        let periodic = cfg.checkpoint.every > 0 && done.is_multiple_of(cfg.checkpoint.every);
        if done < plan.end
            && stop_now.is_none()
            && (periodic || (cfg.checkpoint.at_cycle_end && cycle_end))
        {
            st.elapsed_seconds = elapsed_base + session_start.elapsed().as_secs_f64();
            st.train_seconds = train_base + train_time;
            checkpoint::save(out, &net, &opt, &st)?;
        }
        if let Some(r) = stop_now {
            stop_reason = Some(r);
            break;
        }
    }
    reporter.finish();

    let stop_reason = stop_reason.unwrap_or(match plan.cycles {
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
    write_metrics(out, &st.rows)?;
    if !diverged && !interrupted {
        net.save(&out.join(files::WEIGHTS))
            .context("saving the final weights")?;
    }
    let images = (st.iteration - reporter_start) * batch as u64;
    let summary = Summary {
        name: name.clone(),
        config_file: origin.config_file.clone(),
        policy: cfg.schedule.policy_name().to_owned(),
        schedule: schedule.describe(),
        seed: cfg.seed,
        threads,
        iterations: st.iteration,
        epochs: st.iteration as f64 / ipe,
        final_test_accuracy: last_test.map(|t| t.1),
        final_test_loss: last_test.map(|t| t.0),
        best_test_accuracy: st.best.map(|b| b.0),
        best_iteration: st.best.map(|b| b.1),
        target_accuracy: cfg.stop.target_accuracy,
        iterations_to_target: st.iterations_to_target,
        stop_reason: stop_reason.clone(),
        wall_seconds: elapsed_base + session_start.elapsed().as_secs_f64(),
        train_images_per_sec: if train_time > 0.0 {
            images as f64 / train_time
        } else {
            0.0
        },
        clr_version: env!("CARGO_PKG_VERSION").to_owned(),
    };
    let json = serde_json::to_vec_pretty(&summary).context("serializing the summary")?;
    write_atomic(&out.join(files::SUMMARY), &json)
        .with_context(|| format!("writing {}", out.join(files::SUMMARY).display()))?;
    reporter.message(&format!("{name}: {stop_reason}"));
    Ok(Outcome {
        summary,
        rows: st.rows,
        out_dir: out.clone(),
    })
}

/// A checkpoint can continue this config only if it belongs to the same schedule and model
/// and has not gone past the planned end.
fn check_resumable(
    st: &LoopState,
    (schedule, model): &(String, String),
    end: u64,
    ckpt: &Path,
    config: &Path,
) -> Result<()> {
    let changed = |what: &str, then: &str, now: &str| {
        anyhow::anyhow!(
            "cannot resume from {}: it was written for {what} `{then}`, but {} now gives `{now}`; \
             restore the config, or start a new run with --force",
            ckpt.display(),
            config.display()
        )
    };
    if !st.schedule.is_empty() && st.schedule != *schedule {
        return Err(changed("the schedule", &st.schedule, schedule));
    }
    if !st.model.is_empty() && st.model != *model {
        // Name the first layer line that differs.
        let mut then = st.model.lines();
        let mut now = model.lines();
        let (a, b) = loop {
            match (then.next(), now.next()) {
                (Some(a), Some(b)) if a == b => continue,
                (a, b) => break (a.unwrap_or("(none)"), b.unwrap_or("(none)")),
            }
        };
        return Err(changed(
            "the model",
            a.split_whitespace().collect::<Vec<_>>().join(" ").as_str(),
            b.split_whitespace().collect::<Vec<_>>().join(" ").as_str(),
        ));
    }
    if st.iteration > end {
        bail!(
            "cannot resume from {}: its iteration {} is past the run's planned end {end} \
             (the length in {} was shortened); restore the length, or start a new run with --force",
            ckpt.display(),
            st.iteration,
            config.display()
        );
    }
    Ok(())
}

fn write_metrics(out: &Path, rows: &[Row]) -> Result<()> {
    let path = out.join(files::METRICS);
    write_atomic(&path, metrics::to_csv(rows).as_bytes())
        .with_context(|| format!("writing {}", path.display()))
}

/// The hint printed when a run diverges.
pub const DIVERGENCE_HINT: &str =
    "the learning rate is too high for this model: lower `max_lr` (or `base_lr` for \
     fixed schedules), or run `clr range-test CONFIG` to find bounds where accuracy still rises";

/// A short label for the lowest and highest rate `schedule` gives over a run of `iterations`
/// (over all time when `iterations` is 0): an exp decay of 70,000 iterations is labelled
/// `0.0000149946-0.001`, not `0-0.001`.
pub fn lr_range_label(schedule: &Schedule, iterations: u64) -> String {
    let (lo, hi) = if iterations == 0 {
        schedule.lr_bounds()
    } else {
        (0..iterations)
            .map(|t| schedule.lr(t))
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), lr| {
                (lo.min(lr), hi.max(lr))
            })
    };
    if (hi - lo).abs() <= f64::EPSILON * hi.abs() {
        short(lo)
    } else {
        format!("{}-{}", short(lo), short(hi))
    }
}

/// `x` to 6 significant digits, without trailing zeros: `0.001 * 0.1 * 0.1` prints as `0.00001`,
/// not `0.000010000000000000003`.
fn short(x: f64) -> String {
    if x == 0.0 || !x.is_finite() {
        return format!("{x}");
    }
    let decimals = (5 - x.abs().log10().floor() as i32).max(0) as usize;
    let s = format!("{x:.decimals$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lr_labels_are_short() {
        for (x, want) in [
            (0.001 * 0.1 * 0.1, "0.00001"),
            (0.006, "0.006"),
            (0.0031234567, "0.00312346"),
            (1.5, "1.5"),
            (250.0, "250"),
            (0.0, "0"),
        ] {
            assert_eq!(short(x), want, "{x}");
        }
    }

    #[test]
    fn lr_range_labels_cover_the_run() {
        use clr_core::schedule::{Caffe, CaffeRule, Cyclic, Scale};
        let exp = Schedule::from(Caffe::new(0.001, CaffeRule::Exp { gamma: 0.99994 }).unwrap());
        // lr(69,999) = 0.001 * 0.99994^69999
        assert_eq!(lr_range_label(&exp, 70_000), "0.0000149946-0.001");
        assert_eq!(lr_range_label(&exp, 0), "0-0.001");
        let tri = Schedule::from(Cyclic::new(0.001, 0.006, 2000, Scale::Constant).unwrap());
        assert_eq!(lr_range_label(&tri, 25_000), "0.001-0.006");
        assert_eq!(lr_range_label(&tri, 1000), "0.001-0.0034975"); // 0.001 + 0.005 * 999 / 2000
        let fixed = Schedule::from(Caffe::new(0.01, CaffeRule::Fixed).unwrap());
        assert_eq!(lr_range_label(&fixed, 500), "0.01");
    }

    #[test]
    fn fixed_order_repeats_one_permutation_and_shuffle_draws_a_new_one() {
        let n = 50;
        let epochs = |order| {
            let mut o = EpochOrders::new(n, 3, order);
            (0..3 * n as u64).map(|g| o.index(g)).collect::<Vec<_>>()
        };
        let fixed = epochs(data::Order::Fixed);
        let shuffled = epochs(data::Order::Shuffle);
        assert_eq!(fixed[..n], fixed[n..2 * n]);
        assert_eq!(fixed[..n], fixed[2 * n..]);
        assert_eq!(fixed[..n], data::epoch_order(n, 3, 0)[..]);
        // Both start from the same first permutation; only shuffling changes it.
        assert_eq!(shuffled[..n], fixed[..n]);
        assert_ne!(shuffled[..n], shuffled[n..2 * n]);
        assert_eq!(shuffled[n..2 * n], data::epoch_order(n, 3, 1)[..]);
        let mut sorted = fixed[..n].to_vec();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..n).collect::<Vec<_>>());
    }

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
