//! Progress display: an `indicatif` bar on a terminal, plain lines otherwise,
//! nothing with `--quiet`.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// How progress is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// A bar when stderr is a terminal, plain lines otherwise.
    Auto,
    /// Plain lines.
    Plain,
    /// Nothing but errors.
    Quiet,
}

/// A snapshot of the loop for display.
#[derive(Debug, Clone, Copy)]
pub struct Status {
    pub done: u64,
    pub end: u64,
    pub epoch: f64,
    pub cycle: u64,
    pub lr: f64,
    pub train_loss: f64,
    pub test_accuracy: Option<f64>,
    pub images_per_sec: f64,
}

impl Status {
    fn line(&self) -> String {
        let acc = self
            .test_accuracy
            .map_or_else(|| "-".to_owned(), |a| format!("{:.2}%", a * 100.0));
        format!(
            "ep {:.2} cyc {} lr {:.3e} loss {:.4} test {} {:.0} img/s",
            self.epoch, self.cycle, self.lr, self.train_loss, acc, self.images_per_sec
        )
    }
}

/// Shows progress of one run.
pub struct Reporter {
    bar: Option<ProgressBar>,
    plain: bool,
    name: String,
}

impl Reporter {
    pub fn new(mode: Mode, name: &str, end: u64, start: u64) -> Self {
        let terminal = std::io::stderr().is_terminal();
        let (bar, plain) = match mode {
            Mode::Quiet => (None, false),
            Mode::Plain => (None, true),
            Mode::Auto if !terminal => (None, true),
            Mode::Auto => {
                let bar =
                    ProgressBar::with_draw_target(Some(end), ProgressDrawTarget::stderr_with_hz(4));
                let style = ProgressStyle::with_template(
                    "{prefix} [{bar:30.cyan/blue}] {pos}/{len} {msg} (ETA {eta})",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> ");
                bar.set_style(style);
                bar.set_prefix(name.to_owned());
                bar.set_position(start);
                bar.enable_steady_tick(Duration::from_millis(500));
                (Some(bar), false)
            }
        };
        Self {
            bar,
            plain,
            name: name.to_owned(),
        }
    }

    /// Updates the bar (cheap; call at every log point).
    pub fn update(&self, s: &Status) {
        if let Some(bar) = &self.bar {
            bar.set_position(s.done);
            bar.set_message(s.line());
        }
    }

    /// A plain progress line (shown only without a bar).
    pub fn checkpoint_line(&self, s: &Status) {
        if self.plain {
            eprintln!("{} it {}/{} {}", self.name, s.done, s.end, s.line());
        }
    }

    /// A message that is shown in every mode but quiet.
    pub fn message(&self, msg: &str) {
        match &self.bar {
            Some(bar) => bar.println(msg),
            None if self.plain => eprintln!("{msg}"),
            None => {}
        }
    }

    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
