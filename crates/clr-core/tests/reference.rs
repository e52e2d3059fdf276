//! Every reference sequence in `tests/fixtures/schedules/` (PyTorch `CyclicLR`/`OneCycleLR`
//! and Caffe's formulas) reproduced to a relative error of at most 1e-9.

use std::fs;
use std::path::Path;

use clr_core::ScheduleConfig;

#[derive(serde::Deserialize)]
struct File {
    schedule: ScheduleConfig,
}

fn close(got: f64, want: f64) -> bool {
    (got - want).abs() <= 1e-9 * want.abs().max(f64::MIN_POSITIVE)
}

#[test]
fn reproduces_every_reference_sequence() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/schedules");
    let mut cases = 0;
    let mut rows_checked = 0;
    let mut names: Vec<_> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    names.sort();
    for toml_path in names {
        let cfg: File = toml::from_str(&fs::read_to_string(&toml_path).unwrap()).unwrap();
        let schedule = cfg.schedule.build(None).unwrap();
        let csv = fs::read_to_string(toml_path.with_extension("csv")).unwrap();
        let mut lines = csv.lines();
        assert_eq!(lines.next(), Some("iteration,lr,momentum"));
        for (row, line) in lines.enumerate() {
            let f: Vec<&str> = line.split(',').collect();
            assert_eq!(f.len(), 3, "{}: {line}", toml_path.display());
            let it: u64 = f[0].parse().unwrap();
            assert_eq!(it, row as u64);
            let want_lr: f64 = f[1].parse().unwrap();
            let lr = schedule.lr(it);
            assert!(
                close(lr, want_lr),
                "{} iteration {it}: lr {lr} != {want_lr}",
                toml_path.display()
            );
            match (f[2], schedule.momentum(it)) {
                ("", None) => {}
                (m, Some(got)) if !m.is_empty() => {
                    let want: f64 = m.parse().unwrap();
                    assert!(
                        close(got, want),
                        "{} iteration {it}: momentum {got} != {want}",
                        toml_path.display()
                    );
                }
                (m, got) => panic!(
                    "{} iteration {it}: momentum {got:?}, expected {m:?}",
                    toml_path.display()
                ),
            }
            rows_checked += 1;
        }
        cases += 1;
    }
    assert_eq!(cases, 16, "every reference case is present");
    assert!(rows_checked > 150_000, "{rows_checked} rows");
}
