//! Figures of stacked panels sharing one x axis (a training curve above its LR schedule, as
//! in the paper's Figure 1; range test curves; schedules), written as SVG or PNG.

use std::fs;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

/// The font embedded for text in figures (DejaVu Sans, see `assets/README.md`).
static FONT: &[u8] = include_bytes!("../assets/DejaVuSans.ttf");

/// Most points drawn per series; longer series are reduced to each bucket's extremes.
const MAX_POINTS: usize = 4000;

/// Width of a figure and height of one panel, in pixels.
const WIDTH: u32 = 1000;
const PANEL_HEIGHT: u32 = 300;
const TITLE_HEIGHT: u32 = 40;

/// Drawable runs of one series, in axis coordinates.
type Segments = Vec<Vec<(f64, f64)>>;

/// One named line.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Series {
    /// Legend label (empty: no legend entry).
    pub label: String,
    /// `(x, y)` points; non-finite points (and non-positive ones on log axes) break the line.
    pub points: Vec<(f64, f64)>,
}

/// One panel: a y axis with its lines and vertical markers.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Panel {
    /// Label of the y axis.
    pub y_label: String,
    /// The lines.
    pub series: Vec<Series>,
    /// Logarithmic y axis.
    pub log_y: bool,
    /// Top of the y axis: lines are cut where they cross it (`None`: fit the data).
    pub y_max: Option<f64>,
    /// Vertical lines at `x`, each with a label.
    pub markers: Vec<(f64, String)>,
}

/// A figure: panels stacked vertically, sharing the x axis.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Figure {
    /// Title above the panels.
    pub title: String,
    /// Label of the shared x axis.
    pub x_label: String,
    /// Logarithmic x axis.
    pub log_x: bool,
    /// The panels, top to bottom.
    pub panels: Vec<Panel>,
}

/// Why a figure could not be written.
#[derive(thiserror::Error, Debug)]
#[non_exhaustive]
pub enum PlotError {
    /// The output's extension is neither `svg` nor `png`.
    #[error("cannot plot to {path}: unsupported extension {ext:?}; allowed: .svg or .png")]
    UnsupportedExtension {
        /// The requested output.
        path: PathBuf,
        /// Its extension (empty when it has none).
        ext: String,
    },
    /// The figure has no panels.
    #[error("cannot plot to {path}: the figure has no panels")]
    NoPanels {
        /// The requested output.
        path: PathBuf,
    },
    /// The plotting backend failed.
    #[error("drawing failed: {0}")]
    Draw(String),
    /// Writing the file failed.
    #[error("cannot write {path}")]
    Io {
        /// The file being written.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// Encoding the PNG failed.
    #[error("cannot encode {path} as PNG: {message}")]
    Encode {
        /// The file being written.
        path: PathBuf,
        /// The encoder's message.
        message: String,
    },
}

/// Writes `fig` to `path` as SVG or PNG (chosen by the extension), atomically: the figure is
/// written to `path.tmp` and renamed over `path`.
///
/// # Errors
/// An extension other than `.svg`/`.png`, a figure without panels, a drawing, encoding or I/O
/// failure.
pub fn write_figure(path: &Path, fig: &Figure) -> Result<(), PlotError> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    if ext != "svg" && ext != "png" {
        return Err(PlotError::UnsupportedExtension {
            path: path.to_path_buf(),
            ext,
        });
    }
    if fig.panels.is_empty() {
        return Err(PlotError::NoPanels {
            path: path.to_path_buf(),
        });
    }
    register_font()?;
    let size = (WIDTH, TITLE_HEIGHT + PANEL_HEIGHT * fig.panels.len() as u32);
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let io = |source| PlotError::Io {
        path: tmp.clone(),
        source,
    };
    if ext == "svg" {
        let mut svg = String::new();
        draw(
            SVGBackend::with_string(&mut svg, size).into_drawing_area(),
            fig,
        )?;
        fs::write(&tmp, svg).map_err(io)?;
    } else {
        let mut rgb = vec![0u8; size.0 as usize * size.1 as usize * 3];
        draw(
            BitMapBackend::with_buffer(&mut rgb, size).into_drawing_area(),
            fig,
        )?;
        let encode = |message: String| PlotError::Encode {
            path: path.to_path_buf(),
            message,
        };
        let img = image::RgbImage::from_raw(size.0, size.1, rgb)
            .ok_or_else(|| encode("pixel buffer has the wrong size".into()))?;
        img.save_with_format(&tmp, image::ImageFormat::Png)
            .map_err(|e| encode(e.to_string()))?;
    }
    fs::rename(&tmp, path).map_err(|source| PlotError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// Registers the embedded font as `sans-serif` (once per process).
fn register_font() -> Result<(), PlotError> {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    let ok = *REGISTERED.get_or_init(|| {
        plotters::style::register_font("sans-serif", FontStyle::Normal, FONT).is_ok()
    });
    if ok {
        Ok(())
    } else {
        Err(PlotError::Draw("the embedded font is invalid".into()))
    }
}

fn draw_err(e: impl std::fmt::Display) -> PlotError {
    PlotError::Draw(e.to_string())
}

/// Maps a value onto an axis (log10 on log axes); `None` if it cannot be drawn there.
fn to_axis(v: f64, log: bool) -> Option<f64> {
    match (v.is_finite(), log) {
        (false, _) => None,
        (true, false) => Some(v),
        (true, true) => (v > 0.0).then(|| v.log10()),
    }
}

/// A tick label: the value itself, or `10^v` to two significant digits on log
/// axes (their ticks fall at steps like 10^0.2, which would read 6.31e-4).
fn tick_label(v: f64, log: bool) -> String {
    if !log {
        return short_number(v);
    }
    let x = 10f64.powf(v);
    short_number(format!("{x:.1e}").parse().unwrap_or(x))
}

fn short_number(x: f64) -> String {
    if x == 0.0 {
        return "0".into();
    }
    let a = x.abs();
    if (1e-3..1e5).contains(&a) {
        let s = format!("{x:.4}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        let s = format!("{x:.2e}");
        match s.split_once('e') {
            Some((m, e)) => format!("{}e{e}", m.trim_end_matches('0').trim_end_matches('.')),
            None => s,
        }
    }
}

/// The range covering `values`, padded; `0..1` when there are none.
fn axis_range(values: impl Iterator<Item = f64>, pad: f64) -> Range<f64> {
    let (lo, hi) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
        (lo.min(v), hi.max(v))
    });
    if lo > hi {
        return 0.0..1.0;
    }
    let span = hi - lo;
    let margin = if span > 0.0 {
        span * pad
    } else {
        lo.abs().max(1.0) * 0.05
    };
    (lo - margin)..(hi + margin)
}

/// Splits a series into drawable runs in axis coordinates, reduced to at most `MAX_POINTS`.
fn segments(series: &Series, log_x: bool, log_y: bool) -> Segments {
    let mut out: Segments = vec![Vec::new()];
    for &(x, y) in &series.points {
        match (to_axis(x, log_x), to_axis(y, log_y)) {
            (Some(x), Some(y)) => out.last_mut().map_or((), |s| s.push((x, y))),
            _ => {
                if out.last().is_some_and(|s| !s.is_empty()) {
                    out.push(Vec::new());
                }
            }
        }
    }
    out.retain(|s| !s.is_empty());
    let total: usize = out.iter().map(Vec::len).sum();
    if total > MAX_POINTS {
        let per = MAX_POINTS.max(out.len() * 4);
        out = out
            .into_iter()
            .map(|s| {
                let budget = (s.len() * per / total).max(4);
                decimate(&s, budget)
            })
            .collect();
    }
    out
}

/// Cuts every run where it rises above `top`, ending it (and starting the next one) at the
/// interpolated crossing, so a divergence leaves the panel at its top edge.
fn clip_above(segs: Segments, top: f64) -> Segments {
    let mut out: Segments = Vec::new();
    for seg in segs {
        let mut cur: Vec<(f64, f64)> = Vec::new();
        let mut prev: Option<(f64, f64)> = None;
        for (x, y) in seg {
            let cross = |(px, py): (f64, f64)| (px + (x - px) * (top - py) / (y - py), top);
            match prev {
                Some(p) if (p.1 > top) != (y > top) => {
                    cur.push(cross(p));
                    if y > top {
                        out.push(std::mem::take(&mut cur));
                    }
                }
                _ => {}
            }
            if y <= top {
                cur.push((x, y));
            }
            prev = Some((x, y));
        }
        if !cur.is_empty() {
            out.push(cur);
        }
    }
    out.retain(|s| !s.is_empty());
    out
}

/// Keeps the first, lowest, highest and last point of each of `budget / 4` buckets, in order,
/// so that peaks survive the reduction.
fn decimate(points: &[(f64, f64)], budget: usize) -> Vec<(f64, f64)> {
    let buckets = (budget / 4).max(1);
    if points.len() <= budget {
        return points.to_vec();
    }
    let size = points.len().div_ceil(buckets);
    let mut out = Vec::with_capacity(budget);
    for chunk in points.chunks(size) {
        let lo = (0..chunk.len()).fold(0, |b, i| if chunk[i].1 < chunk[b].1 { i } else { b });
        let hi = (0..chunk.len()).fold(0, |b, i| if chunk[i].1 > chunk[b].1 { i } else { b });
        let mut idx = [0, lo, hi, chunk.len() - 1];
        idx.sort_unstable();
        let mut last = usize::MAX;
        for i in idx {
            if i != last {
                out.push(chunk[i]);
                last = i;
            }
        }
    }
    out
}

/// The corner of a panel where the legend hides the least of the curves: the one whose box
/// (40% of each axis) the fewest points of the lines cross, upper right on ties.
fn legend_corner(
    segs: &[Segments],
    labels: &[f64],
    x: &Range<f64>,
    y: &Range<f64>,
) -> SeriesLabelPosition {
    const SHARE: f64 = 0.4;
    const STEPS: usize = 16;
    let (w, h) = (x.end - x.start, y.end - y.start);
    // (right, upper) for each corner, in order of preference.
    let corners = [(true, true), (true, false), (false, true), (false, false)];
    let mut hits = [0usize; 4];
    let lines = segs.iter().flatten();
    for pair in lines.flat_map(|line| line.windows(2)) {
        let ((x0, y0), (x1, y1)) = (pair[0], pair[1]);
        for k in 0..=STEPS {
            let t = k as f64 / STEPS as f64;
            let fx = (x0 + t * (x1 - x0) - x.start) / w;
            let fy = (y0 + t * (y1 - y0) - y.start) / h;
            for (hit, &(right, upper)) in hits.iter_mut().zip(&corners) {
                let near = |f: f64, high: bool| if high { f >= 1.0 - SHARE } else { f <= SHARE };
                *hit += usize::from(near(fx, right) && near(fy, upper));
            }
        }
    }
    // Marker labels sit along the top edge: an upper corner holding one is as bad as a
    // whole line through it.
    for &lx in labels {
        let fx = (lx - x.start) / w;
        for (hit, &(right, upper)) in hits.iter_mut().zip(&corners) {
            let near = if right {
                fx >= 1.0 - SHARE
            } else {
                fx <= SHARE
            };
            *hit += usize::from(upper && near) * (STEPS + 1) * 4;
        }
    }
    let best = (0..4).fold(0, |b, i| if hits[i] < hits[b] { i } else { b });
    match corners[best] {
        (true, true) => SeriesLabelPosition::UpperRight,
        (true, false) => SeriesLabelPosition::LowerRight,
        (false, true) => SeriesLabelPosition::UpperLeft,
        (false, false) => SeriesLabelPosition::LowerLeft,
    }
}

fn draw<DB: DrawingBackend>(root: DrawingArea<DB, Shift>, fig: &Figure) -> Result<(), PlotError> {
    root.fill(&WHITE).map_err(draw_err)?;
    let (title_area, body) = root.split_vertically(TITLE_HEIGHT);
    // Long titles get a smaller font, and are cut to what fits.
    let (title, size) = match fig.title.chars().count() {
        0..=80 => (fig.title.clone(), 20),
        81..=120 => (fig.title.clone(), 14),
        _ => (fig.title.chars().take(119).chain(['…']).collect(), 14),
    };
    title_area
        .titled(&title, ("sans-serif", size))
        .map_err(draw_err)?;
    let panels: Vec<Vec<Segments>> = fig
        .panels
        .iter()
        .map(|p| {
            p.series
                .iter()
                .map(|s| {
                    let segs = segments(s, fig.log_x, p.log_y);
                    match p.y_max.and_then(|m| to_axis(m, p.log_y)) {
                        Some(top) => clip_above(segs, top),
                        None => segs,
                    }
                })
                .collect()
        })
        .collect();
    let xs = panels
        .iter()
        .flatten()
        .flatten()
        .flatten()
        .map(|&(x, _)| x)
        .chain(
            fig.panels
                .iter()
                .flat_map(|p| p.markers.iter().filter_map(|(x, _)| to_axis(*x, fig.log_x))),
        );
    let x_range = axis_range(xs, 0.0);
    let areas = body.split_evenly((fig.panels.len(), 1));
    for (i, ((panel, segs), area)) in fig.panels.iter().zip(&panels).zip(&areas).enumerate() {
        let ys = segs.iter().flatten().flatten().map(|&(_, y)| y);
        let mut y_range = axis_range(ys, 0.05);
        if let Some(top) = panel.y_max.and_then(|m| to_axis(m, panel.log_y)) {
            if top > y_range.start {
                y_range.end = top;
            }
        }
        let last = i + 1 == fig.panels.len();
        let mut chart = ChartBuilder::on(area)
            .margin(10)
            .x_label_area_size(if last { 40 } else { 20 })
            .y_label_area_size(80)
            .build_cartesian_2d(x_range.clone(), y_range.clone())
            .map_err(draw_err)?;
        let (log_x, log_y) = (fig.log_x, panel.log_y);
        let x_fmt = |v: &f64| tick_label(*v, log_x);
        let y_fmt = |v: &f64| tick_label(*v, log_y);
        let mut mesh = chart.configure_mesh();
        mesh.y_desc(panel.y_label.as_str())
            .x_label_formatter(&x_fmt)
            .y_label_formatter(&y_fmt)
            .light_line_style(WHITE.mix(0.0));
        if last {
            mesh.x_desc(fig.x_label.as_str());
        }
        mesh.draw().map_err(draw_err)?;
        // A label that would overlap one already placed goes a line lower (up to three
        // lines); one that fits on none is left out. Widths are estimated at 7 pixels a
        // character of the 12-pixel font.
        let (w, h) = chart.plotting_area().dim_in_pixel();
        let px = (x_range.end - x_range.start) / f64::from(w.max(1));
        let py = (y_range.end - y_range.start) / f64::from(h.max(1));
        let mut rows: [Vec<(f64, f64)>; 3] = Default::default();
        let mut label_xs = Vec::new();
        let mut markers: Vec<(f64, &String)> = panel
            .markers
            .iter()
            .filter_map(|(x, l)| Some((to_axis(*x, fig.log_x)?, l)))
            .collect();
        markers.sort_by(|a, b| a.0.total_cmp(&b.0));
        for (x, label) in markers {
            let style = BLACK.mix(0.35);
            chart
                .draw_series(LineSeries::new(
                    [(x, y_range.start), (x, y_range.end)],
                    style,
                ))
                .map_err(draw_err)?;
            // Labels in the right quarter end at their line, so they stay inside the figure.
            let right = x > x_range.end - 0.25 * (x_range.end - x_range.start);
            let width = (7 * label.chars().count() + 6) as f64 * px;
            let span = if right {
                (x - width, x)
            } else {
                (x, x + width)
            };
            let Some(row) = rows
                .iter()
                .position(|placed| placed.iter().all(|&(a, b)| span.1 < a || span.0 > b))
            else {
                continue;
            };
            rows[row].push(span);
            label_xs.push(x);
            let anchor = Pos::new(if right { HPos::Right } else { HPos::Left }, VPos::Top);
            let y = y_range.end - 15.0 * row as f64 * py;
            chart
                .draw_series(std::iter::once(Text::new(
                    label.clone(),
                    (x, y),
                    ("sans-serif", 12)
                        .into_font()
                        .color(&BLACK.mix(0.6))
                        .pos(anchor),
                )))
                .map_err(draw_err)?;
        }
        // Lines are 2 pixels thick: drawn three times 1 pixel wide, shifted right and down by a
        // pixel. A 2-pixel stroke is polygonized at integer joins, which grows spikes along
        // curves made of many short segments.
        let mut labelled = false;
        for (k, (series, segs)) in panel.series.iter().zip(segs).enumerate() {
            let color = Palette99::pick(k).to_rgba();
            for (j, seg) in segs.iter().enumerate() {
                let stroke = |dx: f64, dy: f64| {
                    LineSeries::new(seg.iter().map(move |&(x, y)| (x + dx, y + dy)), color)
                };
                chart.draw_series(stroke(px, 0.0)).map_err(draw_err)?;
                chart.draw_series(stroke(0.0, -py)).map_err(draw_err)?;
                let drawn = chart.draw_series(stroke(0.0, 0.0)).map_err(draw_err)?;
                if j == 0 && !series.label.is_empty() {
                    labelled = true;
                    drawn.label(series.label.as_str()).legend(move |(x, y)| {
                        PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
                    });
                }
            }
        }
        if labelled {
            chart
                .configure_series_labels()
                .position(legend_corner(segs, &label_xs, &x_range, &y_range))
                .background_style(WHITE.mix(0.85))
                .border_style(BLACK)
                .label_font(("sans-serif", 13))
                .draw()
                .map_err(draw_err)?;
        }
    }
    root.present().map_err(draw_err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn legend_avoids_the_curves() {
        let (x, y) = (0.0..100.0, 0.0..1.0);
        let rising: Segments = vec![(0..=100).map(|i| (i as f64, i as f64 / 100.0)).collect()];
        let falling: Segments = vec![(0..=100)
            .map(|i| (i as f64, 1.0 - i as f64 / 100.0))
            .collect()];
        let low: Segments = vec![vec![(0.0, 0.1), (100.0, 0.1)]];
        let pos = |s: &[Segments]| format!("{:?}", legend_corner(s, &[], &x, &y));
        // Accuracy curves rise: the upper right is taken, the lower right is free.
        assert_eq!(pos(std::slice::from_ref(&rising)), "LowerRight");
        // A decaying LR leaves the upper right free.
        assert_eq!(pos(std::slice::from_ref(&falling)), "UpperRight");
        // Rising and falling together cross both right corners; the left ones too, so the
        // flat line near the bottom decides for the upper half.
        assert_eq!(pos(&[rising, falling, low.clone()]), "UpperRight");
        // A marker label near the right end of the top edge moves it to a free corner.
        assert_eq!(pos(std::slice::from_ref(&low)), "UpperRight");
        let with_label = format!("{:?}", legend_corner(&[low], &[95.0], &x, &y));
        assert_eq!(with_label, "UpperLeft");
    }

    #[test]
    fn decimate_keeps_extremes_in_order() {
        let pts: Vec<(f64, f64)> = (0..10_000)
            .map(|i| (i as f64, if i == 5_123 { 9.0 } else { (i % 7) as f64 }))
            .collect();
        let d = decimate(&pts, 400);
        assert!(d.len() <= 400, "{}", d.len());
        assert!(d.contains(&(5_123.0, 9.0)));
        assert!(d.windows(2).all(|w| w[0].0 < w[1].0));
        assert_eq!((d[0], *d.last().unwrap()), (pts[0], pts[9_999]));
    }

    #[test]
    fn tick_labels_are_short() {
        assert_eq!(tick_label(0.0015, false), "0.0015");
        assert_eq!(tick_label(2.5e-5, false), "2.5e-5");
        assert_eq!(tick_label(42000.0, false), "42000");
        assert_eq!(tick_label(-3.0, true), "0.001");
        assert_eq!(tick_label(-4.0, true), "1e-4");
        assert_eq!(tick_label(-3.2, true), "6.3e-4");
        assert_eq!(tick_label(-3.4, true), "4e-4");
        assert_eq!(tick_label(-1.8, true), "0.016");
    }

    #[test]
    fn clip_above_cuts_runs_at_the_crossing() {
        let segs = vec![vec![
            (0.0, 1.0),
            (1.0, 3.0),
            (2.0, 5.0),
            (3.0, 1.0),
            (4.0, 2.0),
        ]];
        let out = clip_above(segs, 4.0);
        assert_eq!(
            out,
            vec![
                vec![(0.0, 1.0), (1.0, 3.0), (1.5, 4.0)],
                vec![(2.25, 4.0), (3.0, 1.0), (4.0, 2.0)]
            ]
        );
        assert!(clip_above(vec![vec![(0.0, 9.0), (1.0, 8.0)]], 4.0).is_empty());
    }
}
