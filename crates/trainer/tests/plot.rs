//! The plot module writes SVG and PNG figures that decode, carry their labels, and survive
//! empty series and NaN points.

use std::fs;

use trainer::plot::{write_figure, Figure, Panel, PlotError, Series};

fn figure() -> Figure {
    let acc: Vec<(f64, f64)> = (0..500)
        .map(|i| {
            (
                i as f64 * 10.0,
                0.1 + 0.7 * (1.0 - (-(i as f64) / 100.0).exp()),
            )
        })
        .collect();
    let fixed: Vec<(f64, f64)> = acc.iter().map(|&(x, y)| (x, y * 0.9)).collect();
    let lr: Vec<(f64, f64)> = (0..5000)
        .map(|i| {
            (
                i as f64,
                0.001 + 0.005 * (1.0 - ((i % 4000) as f64 / 2000.0 - 1.0).abs()),
            )
        })
        .collect();
    Figure {
        title: "CIFAR-10: fixed vs triangular2".into(),
        x_label: "iteration".into(),
        log_x: false,
        panels: vec![
            Panel {
                y_label: "test accuracy".into(),
                series: vec![
                    Series {
                        label: "triangular2 accuracy".into(),
                        points: acc,
                    },
                    Series {
                        label: "fixed accuracy".into(),
                        points: fixed,
                    },
                ],
                log_y: false,
                y_max: None,
                markers: vec![(4000.0, "cycle end".into())],
            },
            Panel {
                y_label: "learning rate".into(),
                series: vec![Series {
                    label: "lr schedule".into(),
                    points: lr,
                }],
                log_y: true,
                y_max: None,
                markers: vec![],
            },
        ],
    }
}

#[test]
fn writes_svg_with_labels() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fig.svg");
    write_figure(&path, &figure()).unwrap();
    let svg = fs::read_to_string(&path).unwrap();
    assert!(svg.starts_with("<svg") || svg.contains("<svg"));
    for label in [
        "triangular2 accuracy",
        "fixed accuracy",
        "lr schedule",
        "test accuracy",
        "cycle end",
        "CIFAR-10: fixed vs triangular2",
    ] {
        assert!(svg.contains(label), "svg lacks {label}");
    }
    assert!(!dir.path().join("fig.svg.tmp").exists());
}

#[test]
fn writes_png_that_decodes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fig.png");
    write_figure(&path, &figure()).unwrap();
    let img = image::open(&path).unwrap().to_rgb8();
    assert_eq!(img.width(), 1000);
    assert!(img.height() >= 600);
    // Not blank: some dark pixels (axes, text, lines) on the white background.
    let dark = img
        .pixels()
        .filter(|p| p.0.iter().all(|&c| c < 100))
        .count();
    assert!(dark > 1000, "{dark} dark pixels");
}

#[test]
fn empty_series_and_nan_points_do_not_panic() {
    let dir = tempfile::tempdir().unwrap();
    let fig = Figure {
        title: "degenerate".into(),
        x_label: "lr".into(),
        log_x: true,
        panels: vec![
            Panel {
                y_label: "empty".into(),
                series: vec![Series {
                    label: "nothing".into(),
                    points: vec![],
                }],
                log_y: false,
                y_max: None,
                markers: vec![(f64::NAN, "bad marker".into())],
            },
            Panel {
                y_label: "loss".into(),
                series: vec![Series {
                    label: "with gaps".into(),
                    points: vec![
                        (1e-4, 2.3),
                        (1e-3, f64::NAN),
                        (-1.0, 1.0),
                        (1e-2, 1.5),
                        (1e-1, f64::INFINITY),
                        (1.0, 0.7),
                    ],
                }],
                log_y: true,
                y_max: None,
                markers: vec![],
            },
            Panel {
                y_label: "constant".into(),
                series: vec![Series {
                    label: String::new(),
                    points: vec![(0.5, 1.0)],
                }],
                log_y: false,
                y_max: None,
                markers: vec![],
            },
        ],
    };
    for name in ["d.svg", "d.png"] {
        write_figure(&dir.path().join(name), &fig).unwrap();
    }
    let empty = Figure {
        panels: vec![Panel::default()],
        ..Figure::default()
    };
    write_figure(&dir.path().join("e.png"), &empty).unwrap();
}

#[test]
fn rejects_other_extensions_and_empty_figures() {
    let dir = tempfile::tempdir().unwrap();
    let err = write_figure(&dir.path().join("fig.pdf"), &figure()).unwrap_err();
    assert!(matches!(err, PlotError::UnsupportedExtension { ref ext, .. } if ext == "pdf"));
    assert!(err.to_string().contains(".svg or .png"));
    let err = write_figure(&dir.path().join("fig"), &figure()).unwrap_err();
    assert!(matches!(err, PlotError::UnsupportedExtension { .. }));
    let err = write_figure(&dir.path().join("fig.svg"), &Figure::default()).unwrap_err();
    assert!(matches!(err, PlotError::NoPanels { .. }));
    let err = write_figure(&dir.path().join("no/such/dir/fig.svg"), &figure()).unwrap_err();
    assert!(matches!(err, PlotError::Io { .. }), "{err:?}");
}
