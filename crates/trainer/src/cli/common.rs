//! Arguments and setup shared by the commands that train.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use anyhow::{Context, Result};

use crate::progress;
use crate::run::RunOptions;

/// Where a run goes.
#[derive(Debug, Clone, clap::Args)]
pub struct RunDirArgs {
    /// The run directory (default: runs/<config name>).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Replace an existing run directory instead of refusing.
    #[arg(long)]
    pub force: bool,
}

/// Threads, progress display and data source.
#[derive(Debug, Clone, clap::Args)]
pub struct CommonRunArgs {
    /// Worker threads (default: all cores). Same seed and thread count give the same numbers.
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,
    /// Print nothing but the result and errors.
    #[arg(long, short)]
    pub quiet: bool,
    /// Plain progress lines instead of a progress bar.
    #[arg(long, conflicts_with = "quiet")]
    pub plain: bool,
    /// Data mirror (a directory or URL laid out like the canonical sources) for missing datasets;
    /// default: the CLR_DATA_MIRROR environment variable.
    #[arg(long, value_name = "DIR|URL")]
    pub mirror: Option<String>,
    /// Tagged progress lines for a parent `clr compare --jobs` that draws the bars.
    #[arg(long, hide = true, conflicts_with_all = ["quiet", "plain"])]
    pub progress_pipe: bool,
}

impl CommonRunArgs {
    /// Sizes the global thread pool (once per process).
    pub fn init_threads(&self) -> Result<()> {
        init_threads(self.threads)
    }

    /// Run options for a run in `out` with this display, mirror and the Ctrl-C flag.
    pub fn run_options(&self, out: PathBuf) -> RunOptions {
        let mut run = RunOptions::new(out);
        run.progress = self.progress_mode();
        run.mirror = self.mirror.clone();
        run.interrupt = interrupt_flag();
        run
    }

    /// The progress mode these flags ask for (`--progress-pipe`, `--quiet`, `--plain`, else auto).
    pub fn progress_mode(&self) -> progress::Mode {
        if self.progress_pipe {
            progress::Mode::Pipe
        } else if self.quiet {
            progress::Mode::Quiet
        } else if self.plain {
            progress::Mode::Plain
        } else {
            progress::Mode::Auto
        }
    }
}

/// A rayon pool builder whose threads flush subnormal floats to zero, as this thread then does
/// too (see [`nn::flush_subnormals`]).
pub fn pool_builder() -> rayon::ThreadPoolBuilder {
    nn::flush_subnormals();
    rayon::ThreadPoolBuilder::new().start_handler(|_| nn::flush_subnormals())
}

/// Sizes rayon's global pool (see [`pool_builder`]).
pub fn init_threads(threads: Option<usize>) -> Result<()> {
    if threads == Some(0) {
        anyhow::bail!("--threads must be at least 1");
    }
    let mut b = pool_builder();
    if let Some(n) = threads {
        b = b.num_threads(n);
    }
    b.build_global().context("setting up the thread pool")
}

/// A flag set by Ctrl-C, SIGTERM or SIGHUP (what `timeout`, schedulers and containers send):
/// the running loop checkpoints and stops, and the command exits non-zero. A second signal
/// exits at once.
pub fn interrupt_flag() -> Arc<AtomicBool> {
    static FLAG: OnceLock<Arc<AtomicBool>> = OnceLock::new();
    FLAG.get_or_init(|| {
        let flag = Arc::new(AtomicBool::new(false));
        let f = flag.clone();
        let _ = ctrlc::set_handler(move || {
            if f.swap(true, Ordering::SeqCst) {
                eprintln!("\ninterrupted again: exiting without a checkpoint");
                std::process::exit(130);
            }
            eprintln!(
                "\ninterrupted (Ctrl-C, SIGTERM or SIGHUP): saving a checkpoint and stopping \
                 (a second signal exits at once)"
            );
        });
        flag
    })
    .clone()
}
