//! Progress display: an `indicatif` bar on a terminal, plain lines otherwise,
//! nothing with `--quiet`, and tagged lines for a parent process that draws the bars of
//! several runs at once (`clr compare --jobs`).

use std::cell::Cell;
use std::io::IsTerminal;
use std::time::{Duration, Instant};

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
    /// Messages as plain lines and, at most a few times a second, a [`PIPE_TAG`] line
    /// `<tag><done> <end> <status>` for the parent that draws the bar.
    Pipe,
}

/// The start of a progress line in [`Mode::Pipe`] (a control character no message starts
/// with).
pub const PIPE_TAG: &str = "\u{1}progress ";

/// Parses a [`Mode::Pipe`] progress line into (done, end, status).
pub fn parse_pipe(line: &str) -> Option<(u64, u64, &str)> {
    let rest = line.strip_prefix(PIPE_TAG)?;
    let mut parts = rest.splitn(3, ' ');
    let done = parts.next()?.parse().ok()?;
    let end = parts.next()?.parse().ok()?;
    Some((done, end, parts.next().unwrap_or("")))
}

/// A snapshot of the loop for display.
#[derive(Debug, Clone, Copy)]
pub struct Status {
    /// Iterations done.
    pub done: u64,
    /// The planned end in iterations.
    pub end: u64,
    /// Epochs done.
    pub epoch: f64,
    /// The cycle (0-based) of the last update.
    pub cycle: u64,
    /// Learning rate of the last update.
    pub lr: f64,
    /// The smoothed training loss.
    pub train_loss: f64,
    /// Test accuracy (a fraction) of the latest evaluation; `None` before the first.
    pub test_accuracy: Option<f64>,
    /// Training images per second of updates in this process.
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
    /// [`Mode::Pipe`]: when the last progress line went out.
    pipe: Option<Cell<Option<Instant>>>,
    name: String,
}

impl Reporter {
    /// A reporter for run `name` of `end` iterations that starts (or resumes) at `start`.
    pub fn new(mode: Mode, name: &str, end: u64, start: u64) -> Self {
        let terminal = std::io::stderr().is_terminal();
        let (bar, plain) = match mode {
            Mode::Quiet => (None, false),
            Mode::Pipe => (None, false),
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
            pipe: (mode == Mode::Pipe).then(|| Cell::new(None)),
            name: name.to_owned(),
        }
    }

    /// Updates the bar (cheap; call at every log point).
    pub fn update(&self, s: &Status) {
        if let Some(bar) = &self.bar {
            bar.set_position(s.done);
            bar.set_message(s.line());
        }
        if let Some(last) = &self.pipe {
            let now = Instant::now();
            let due = last
                .get()
                .is_none_or(|t| now.duration_since(t) >= Duration::from_millis(250));
            if due || s.done == s.end {
                last.set(Some(now));
                eprintln!("{PIPE_TAG}{} {} {}", s.done, s.end, s.line());
            }
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
            None if self.plain || self.pipe.is_some() => eprintln!("{msg}"),
            None => {}
        }
    }

    /// Clears the bar at the end of the run.
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pipe_lines_parse_back() {
        let line = format!("{PIPE_TAG}120 5000 ep 0.20 cyc 0 lr 1.000e-3");
        assert_eq!(
            parse_pipe(&line),
            Some((120, 5000, "ep 0.20 cyc 0 lr 1.000e-3"))
        );
        assert_eq!(parse_pipe("mnist_mlp: sequence ..."), None);
        assert_eq!(parse_pipe(&format!("{PIPE_TAG}x 5 y")), None);
    }
}
