//! Fuzzing the config path of `clr train`: whatever the file holds and whatever `--set` says,
//! [`config::load`] returns a config or an error, never a panic; so do what the run does with
//! a loaded config before it touches data: building the schedule ([`config::build_schedule`])
//! and querying it, checking the model spec and building the network and optimizer, and
//! saving the resolved config (`config.toml`, which `--resume` loads again).
//!
//! Most cases are near-valid: the shipped configs under `configs/` with lines replaced,
//! removed, repeated or added, values swapped for huge, negative, non-finite, empty, wrongly
//! typed or deeply nested ones, plus `--set` overrides of known keys, so that generated
//! configs pass the parser and reach validation and the schedules. Bounded (a few seconds).

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use nn::{Network, Optimizer};
use proptest::prelude::*;
use proptest::sample::{select, Index};
use trainer::config::{self, LoadedConfig};

/// The configs to vary: the shipped ones and [`OTHER_SCHEDULES`] on the MNIST MLP, as
/// (file name, text).
fn shipped() -> &'static [(String, String)] {
    static CONFIGS: OnceLock<Vec<(String, String)>> = OnceLock::new();
    CONFIGS.get_or_init(|| {
        fn walk(dir: &Path, out: &mut Vec<(String, String)>) {
            let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
                .unwrap()
                .map(|e| e.unwrap().path())
                .collect();
            entries.sort();
            for p in entries {
                if p.is_dir() {
                    walk(&p, out);
                } else if p.extension().is_some_and(|e| e == "toml") {
                    let name = p.file_name().unwrap().to_string_lossy().into_owned();
                    out.push((name, std::fs::read_to_string(&p).unwrap()));
                }
            }
        }
        let mut out = Vec::new();
        walk(
            &Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs"),
            &mut out,
        );
        assert!(
            out.len() >= 10,
            "expected the shipped configs, found {}",
            out.len()
        );
        // Policies no shipped config uses, on the MNIST MLP.
        let (_, base) = out
            .iter()
            .find(|(n, _)| n == "mnist_mlp_fixed.toml")
            .expect("configs/mnist_mlp_fixed.toml");
        let without_schedule: String = base
            .split("\n[")
            .filter(|section| !section.starts_with("schedule]"))
            .collect::<Vec<_>>()
            .join("\n[");
        let extra: Vec<(String, String)> = OTHER_SCHEDULES
            .iter()
            .enumerate()
            .map(|(i, s)| (format!("extra{i}.toml"), format!("{without_schedule}\n{s}")))
            .collect();
        out.extend(extra);
        out
    })
}

/// `[schedule]` tables of the policies the shipped configs do not use (and a sequence of
/// them), given to the MNIST MLP as further configs to vary.
const OTHER_SCHEDULES: &[&str] = &[
    "[schedule]\npolicy = \"step\"\nbase_lr = 0.01\ngamma = 0.1\nstep_size_epochs = 2.5\n",
    "[schedule]\npolicy = \"inv\"\nbase_lr = 0.01\ngamma = 0.0001\npower = 0.75\n",
    "[schedule]\npolicy = \"poly\"\nbase_lr = 0.01\npower = 2.0\nmax_iterations = 1000\n",
    "[schedule]\npolicy = \"sigmoid\"\nbase_lr = 0.01\ngamma = -0.001\nstep_size = 500\n",
    "[schedule]\npolicy = \"sgdr\"\nmax_lr = 0.1\nt0 = 100\nt_mult = 2\neta_min = 0.001\n",
    "[schedule]\npolicy = \"range_linear\"\nmin_lr = 0.0001\nmax_lr = 1.0\niterations = 1000\n",
    "[schedule]\npolicy = \"range_exp\"\nmin_lr = 0.0001\nmax_lr = 1.0\niterations = 1000\n",
    "[schedule]\npolicy = \"triangular\"\nbase_lr = 0.001\nmax_lr = 0.006\nstep_size = 4\n\
     step_size_down = 12\nshape = \"hann\"\nbase_momentum = 0.85\nmax_momentum = 0.95\n",
    "[schedule]\npolicy = \"sequence\"\n\n[[schedule.stages]]\niterations = 500\npolicy = \"sgdr\"\n\
     max_lr = 0.1\nt0 = 50\nt_mult = 3\n\n[[schedule.stages]]\niterations = 300\npolicy = \"poly\"\n\
     base_lr = 0.01\npower = 0.5\nmax_iterations = 300\n\n[[schedule.stages]]\niterations = 200\n\
     policy = \"one_cycle\"\nmax_lr = 0.05\ntotal_iterations = 200\nanneal = \"linear\"\n",
];

/// Keys the schema knows (besides those of the shipped configs).
const SCHEMA_KEYS: &[&str] = &[
    "name",
    "seed",
    "data.dataset",
    "data.dir",
    "data.preprocess",
    "data.validation",
    "data.train_limit",
    "data.test_limit",
    "data.order",
    "data.augment.crop_padding",
    "data.augment.flip",
    "model.preset",
    "model.hidden",
    "model.activation",
    "model.batch_norm",
    "model.layers",
    "optimizer.kind",
    "optimizer.momentum",
    "optimizer.weight_decay",
    "optimizer.nesterov",
    "optimizer.convention",
    "optimizer.beta1",
    "optimizer.beta2",
    "optimizer.eps",
    "optimizer.rho",
    "schedule.policy",
    "schedule.base_lr",
    "schedule.max_lr",
    "schedule.min_lr",
    "schedule.step_size",
    "schedule.step_size_epochs",
    "schedule.step_size_down",
    "schedule.step_size_down_epochs",
    "schedule.gamma",
    "schedule.power",
    "schedule.step_values",
    "schedule.max_iterations",
    "schedule.shape",
    "schedule.decay",
    "schedule.base_momentum",
    "schedule.max_momentum",
    "schedule.cycle_momentum",
    "schedule.total_iterations",
    "schedule.pct_start",
    "schedule.anneal",
    "schedule.div_factor",
    "schedule.final_div_factor",
    "schedule.three_phase",
    "schedule.t0",
    "schedule.t_mult",
    "schedule.eta_min",
    "schedule.iterations",
    "schedule.stages",
    "train.batch_size",
    "train.max_iterations",
    "train.max_epochs",
    "eval.every",
    "eval.at_cycle_end",
    "eval.batch_size",
    "stop.at_cycle_end",
    "stop.cycles",
    "stop.min_improvement",
    "stop.target_accuracy",
    "stop.stop_at_target",
    "log.every",
    "log.window",
    "checkpoint.every",
    "checkpoint.at_cycle_end",
];

/// Values that break things: integer and float extremes (some beyond what TOML holds),
/// non-finite floats, empty and odd strings, wrong types, empty and nested containers.
const NASTY: &[&str] = &[
    "0",
    "1",
    "2",
    "-1",
    "-0",
    "3",
    "7",
    "100",
    "4294967295",
    "4294967296",
    "9007199254740993",
    "9223372036854775807",
    "-9223372036854775808",
    "9223372036854775808",
    "18446744073709551615",
    "99999999999999999999",
    "-99999999999999999999",
    "0x7fff_ffff_ffff_ffff",
    "0xffff_ffff_ffff_ffff_f",
    "0o777",
    "0b1",
    "1_000",
    "0.0",
    "-0.0",
    "0.5",
    "1.0",
    "1.5",
    "1e-320",
    "5e-324",
    "1e-300",
    "1e300",
    "1.7976931348623157e308",
    "-1.7976931348623157e308",
    "1e400",
    "-1e400",
    "nan",
    "+nan",
    "-nan",
    "inf",
    "+inf",
    "-inf",
    "true",
    "false",
    "\"\"",
    "\" \"",
    "\"x\"",
    "\"../..\"",
    "\"a/b\"",
    "\"\\u0000\"",
    "'raw'",
    "\"\"\"multi\nline\"\"\"",
    "[]",
    "[0]",
    "[1, 2]",
    "[-1]",
    "[0, 0]",
    "[2, 1]",
    "[1.5, 2.5]",
    "[99999999999999999999]",
    "[nan, inf]",
    "[\"x\"]",
    "[[]]",
    "[{}]",
    "{}",
    "{ a = 1 }",
    "{ kind = \"sgd\" }",
    "{ type = \"dense\", out = 0 }",
    "[{ type = \"dense\", out = 10 }]",
    "[{ type = \"conv2d\", out_channels = 4, kernel = 99 }, { type = \"dense\", out = 10 }]",
    "[{ type = \"max_pool\", kernel = 0 }, { type = \"dense\", out = 10 }]",
    "[{ type = \"flatten\" }]",
    "[{ iterations = 0, policy = \"fixed\", base_lr = 0.1 }]",
    "[{ iterations = 10, policy = \"sequence\" }]",
    "1979-05-27",
    "1979-05-27T07:32:00Z",
    "07:32:00",
    "=",
    "",
    "[",
    "{",
    "\"unterminated",
];

/// Every `(dotted key, value)` of a TOML table, the value as a TOML literal (tables inside
/// arrays stay in their array's literal).
fn flatten(t: &toml::Table, at: &str, out: &mut Vec<(String, String)>) {
    for (k, v) in t {
        let path = if at.is_empty() {
            k.clone()
        } else {
            format!("{at}.{k}")
        };
        match v {
            toml::Value::Table(inner) => flatten(inner, &path, out),
            toml::Value::Array(a) if a.iter().any(toml::Value::is_table) => {}
            _ => out.push((path, v.to_string())),
        }
    }
}

/// The `(dotted key, value)` pairs of the shipped configs, deduplicated.
fn shipped_pairs() -> &'static [(String, String)] {
    static PAIRS: OnceLock<Vec<(String, String)>> = OnceLock::new();
    PAIRS.get_or_init(|| {
        let mut pairs = Vec::new();
        for (_, text) in shipped() {
            flatten(&toml::from_str(text).unwrap(), "", &mut pairs);
        }
        pairs.sort();
        pairs.dedup();
        pairs
    })
}

/// The known keys: the schema's and every key of the shipped configs.
fn keys() -> &'static [String] {
    static KEYS: OnceLock<Vec<String>> = OnceLock::new();
    KEYS.get_or_init(|| {
        let mut keys: Vec<String> = SCHEMA_KEYS.iter().map(|k| (*k).to_owned()).collect();
        keys.extend(shipped_pairs().iter().map(|(k, _)| k.clone()));
        keys.sort();
        keys.dedup();
        keys
    })
}

/// A float as a TOML literal.
fn float(f: f64) -> String {
    if f.is_nan() {
        "nan".to_owned()
    } else if f.is_infinite() {
        if f > 0.0 { "inf" } else { "-inf" }.to_owned()
    } else {
        format!("{f:e}")
    }
}

/// How many of [`perturb`]'s variations keep a value's type (and TOML's range).
const TYPED: u8 = 8;

/// A variation of a shipped value: below [`TYPED`], itself, a neighbour, a zero or sign flip,
/// a huge or non-finite number of the same type, an emptied string or array; from [`TYPED`]
/// on, the other numeric type, numbers beyond TOML, wrapped or unquoted values.
fn perturb(v: &str, how: u8) -> String {
    if let Ok(i) = v.parse::<i64>() {
        return match how {
            0 => v.to_owned(),
            1 => (i + 1).to_string(),
            2 => (i - 1).to_string(),
            3 => "0".to_owned(),
            4 => (-i).to_string(),
            5 => (i / 2).to_string(),
            6 => i.saturating_mul(1000).to_string(),
            7 => i.saturating_mul(1 << 40).to_string(),
            8 => i64::MAX.to_string(),
            9 => format!("{i}.0"),
            10 => format!("{i}99999999999999999999"),
            _ => i64::MIN.to_string(),
        };
    }
    if let Ok(f) = v.parse::<f64>() {
        return match how {
            0 => v.to_owned(),
            1 => float(f * 2.0),
            2 => float(f / 2.0),
            3 => "0.0".to_owned(),
            4 => float(-f),
            5 => float(f * 1e6),
            6 => "nan".to_owned(),
            7 => "inf".to_owned(),
            8 => "-inf".to_owned(),
            9 => format!("{}", f.round() as i64),
            10 => float(f * 1e300),
            _ => float(f + 1.0),
        };
    }
    match how {
        6 if v.starts_with('"') => "\"\"".to_owned(),
        6 if v.starts_with('[') => "[]".to_owned(),
        7 if v.starts_with('"') => v.to_uppercase(),
        7 if v.starts_with('[') => v.replacen('[', "[0, ", 1),
        8 => format!("[{v}]"),
        9 => v.trim_matches('"').to_owned(),
        _ => v.to_owned(),
    }
}

/// A value for `key`: mostly a variation of a value the shipped configs give it; `wild`
/// adds type-changing variations and nasty literals.
fn value_for(key: &str, wild: bool) -> BoxedStrategy<String> {
    let own: Vec<String> = shipped_pairs()
        .iter()
        .filter(|(k, _)| k == key)
        .map(|(_, v)| v.clone())
        .collect();
    let hows = if wild { 0..12 } else { 0..TYPED };
    let vary = move |v: String| hows.clone().prop_map(move |how| perturb(&v, how));
    let varied = select(shipped_pairs()).prop_flat_map({
        let vary = vary.clone();
        move |(_, v)| vary(v)
    });
    match (own.is_empty(), wild) {
        (true, true) => prop_oneof![2 => varied, 1 => literal()].boxed(),
        (true, false) => varied.boxed(),
        (false, true) => {
            prop_oneof![12 => select(own).prop_flat_map(vary), 1 => varied, 2 => literal()].boxed()
        }
        (false, false) => select(own).prop_flat_map(vary).boxed(),
    }
}

/// A nasty value literal, or any value of the shipped configs.
fn literal() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => select(NASTY).prop_map(str::to_owned),
        3 => select(shipped_pairs()).prop_map(|(_, v)| v),
        1 => any::<i64>().prop_map(|v| v.to_string()),
        1 => any::<f64>().prop_map(float),
        1 => "-?[1-9][0-9]{18,40}",
        1 => "-?[0-9]\\.[0-9]{1,3}e[+-]?[0-9]{1,4}",
        1 => (1usize..40).prop_map(|n| format!("{}1{}", "[".repeat(n), "]".repeat(n))),
        1 => (1usize..40).prop_map(|n| format!("{}1{}", "{ a = ".repeat(n), " }".repeat(n))),
        1 => "\"\\PC{0,16}\"",
        1 => "\\PC{0,16}",
    ]
}

/// A key of `keys` and a value for it.
fn key_value(keys: Vec<String>, wild: bool) -> impl Strategy<Value = (String, String)> {
    select(keys).prop_flat_map(move |k| (Just(k.clone()), value_for(&k, wild)))
}

#[derive(Debug, Clone)]
enum Edit {
    /// Replaces the value of a `key = value` line (by line number).
    Value(usize, String),
    Remove(Index),
    Repeat(Index),
    /// Adds `key = value` to the key's section (creating it at the end when missing).
    Add(String, String),
    /// Inserts a line anywhere: a table header or noise.
    Insert(Index, String),
}

/// The full dotted key of every `key = value` line of `text`, by line.
fn line_keys(text: &str) -> Vec<(usize, String)> {
    let mut section = String::new();
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let t = line.trim();
        if let Some(h) = t.strip_prefix('[') {
            section = h.trim_matches(|c| c == '[' || c == ']').trim().to_owned();
        } else if let Some((k, _)) = value_part(line) {
            let k = k.trim();
            out.push((
                i,
                if section.is_empty() {
                    k.to_owned()
                } else {
                    format!("{section}.{k}")
                },
            ));
        }
    }
    out
}

/// `(key, value)` of a `key = value` line (not a header or comment).
fn value_part(line: &str) -> Option<(&str, &str)> {
    let t = line.trim_start();
    if t.starts_with('#') || t.starts_with('[') {
        return None;
    }
    line.split_once('=')
}

/// Edits of shipped config `config`: values mostly; `wild` ones change types, add noise and
/// remove, repeat or insert lines.
fn edits(config: usize, wild: bool) -> BoxedStrategy<Vec<Edit>> {
    let lines = line_keys(&shipped()[config].1);
    let value = select(lines)
        .prop_flat_map(move |(i, k)| value_for(&k, wild).prop_map(move |v| Edit::Value(i, v)));
    let add = key_value(keys().to_vec(), wild).prop_map(|(k, v)| Edit::Add(k, v));
    if !wild {
        return prop::collection::vec(prop_oneof![4 => value, 1 => add], 1..3).boxed();
    }
    let header = select(
        &[
            "[data]",
            "[model]",
            "[optimizer]",
            "[schedule]",
            "[train]",
            "[eval]",
            "[stop]",
            "[log]",
            "[checkpoint]",
            "[[schedule.stages]]",
            "[[model.layers]]",
            "[schedule.x]",
            "[train.batch_size]",
            "[[train]]",
            "[]",
            "[a.b.c.d.e.f.g]",
        ][..],
    )
    .prop_map(str::to_owned);
    let edit = prop_oneof![
        8 => value,
        1 => any::<Index>().prop_map(Edit::Remove),
        1 => any::<Index>().prop_map(Edit::Repeat),
        4 => add,
        1 => (any::<Index>(), prop_oneof![header, "\\PC{0,30}".boxed()])
            .prop_map(|(i, l)| Edit::Insert(i, l)),
    ];
    prop::collection::vec(edit, 1..3).boxed()
}

/// Shipped config `config` with `edits` applied.
fn mutated(config: usize, edits: &[Edit]) -> String {
    let text = &shipped()[config].1;
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    // Values first, while line numbers are the original ones.
    for e in edits {
        if let Edit::Value(j, v) = e {
            let j = *j;
            let key = value_part(&lines[j]).unwrap().0.to_owned();
            lines[j] = format!("{key}= {v}");
        }
    }
    for e in edits {
        match e {
            Edit::Value(..) => {}
            Edit::Remove(i) if !lines.is_empty() => {
                lines.remove(i.index(lines.len()));
            }
            Edit::Repeat(i) if !lines.is_empty() => {
                let j = i.index(lines.len());
                lines.insert(j, lines[j].clone());
            }
            Edit::Remove(_) | Edit::Repeat(_) => {}
            Edit::Add(k, v) => {
                // Replaces the key's line when it has one: a repeated key is a plain TOML error.
                // (Earlier edits may have put line breaks inside an element: split again.)
                let text = lines.join("\n");
                lines = text.split('\n').map(str::to_owned).collect();
                match line_keys(&text).into_iter().find(|(_, key)| key == k) {
                    Some((j, _)) => {
                        let key = value_part(&lines[j]).unwrap().0.to_owned();
                        lines[j] = format!("{key}= {v}");
                    }
                    None => match k.rsplit_once('.') {
                        None => lines.insert(0, format!("{k} = {v}")),
                        Some((section, last)) => {
                            let header = format!("[{section}]");
                            match lines.iter().position(|l| l.trim() == header) {
                                Some(h) => lines.insert(h + 1, format!("{last} = {v}")),
                                None => lines.extend([header, format!("{last} = {v}")]),
                            }
                        }
                    },
                }
            }
            Edit::Insert(i, l) => lines.insert(i.index(lines.len() + 1), l.clone()),
        }
    }
    lines.join("\n")
}

/// A `--set` argument: a key of `keys` with a value for it; `wild` ones also set keys below
/// values, misspelled keys and noise.
fn set_arg(keys: Vec<String>, wild: bool) -> BoxedStrategy<String> {
    let known = key_value(keys, wild).prop_map(|(k, v)| format!("{k}={v}"));
    if !wild {
        return known.boxed();
    }
    let key = select(self::keys());
    prop_oneof![
        16 => known,
        1 => (key.clone(), key.clone()).prop_map(|(a, b)| format!("{a}.{b}=1")),
        1 => (key, "[ .a-z_]{0,8}", literal()).prop_map(|(k, x, v)| format!("{k}{x}={v}")),
        1 => "[a-z_.= ]{0,16}",
        1 => "\\PC{0,24}",
    ]
    .boxed()
}

/// What `clr train` does with a loaded config before it reads data.
fn exercise(dir: &Path, loaded: &LoadedConfig) -> Result<(), TestCaseError> {
    let cfg = &loaded.config;
    let _ = loaded.name();
    for ipe in [1, 20, 500, 60_000] {
        let Ok(s) = config::build_schedule(&loaded.path, cfg, ipe) else {
            continue;
        };
        let _ = (s.describe(), s.lr_bounds(), s.cycle_length());
        let end = cfg.train.max_iterations.unwrap_or(25_000);
        for it in [
            0,
            1,
            2,
            ipe,
            2 * ipe + 1,
            end / 2,
            end.saturating_sub(1),
            end,
        ] {
            let _ = (s.lr(it), s.momentum(it), s.cycle_of(it), s.is_cycle_end(it));
            let _ = s.next_cycle_end(it);
        }
        // The run's length: cycles, caps, rounding to cycle ends.
        let policy = cfg.schedule.policy_name();
        let _ = trainer::stop::plan(&cfg.train, &cfg.stop, &s, ipe as f64, policy);
    }
    let dataset = cfg.data.dataset;
    let (shape, classes) = (dataset.shape(), dataset.classes().len());
    if cfg.model.expand(classes).is_ok() {
        // Build only networks small enough to allocate here, sized as `clr train` sizes them.
        let small = nn::footprint(&cfg.model, shape, classes)
            .is_ok_and(|f| f.params.saturating_add(f.activations_per_sample) <= 4_000_000);
        if small {
            if let Ok(net) = Network::new(&cfg.model, shape, classes, cfg.seed) {
                let _ = Optimizer::new(&cfg.optimizer, &net).map_err(|e| e.to_string());
            }
        }
    }
    // The resolved config a run saves loads back (`--resume` reads it) as itself.
    let saved = config::to_toml(cfg);
    let path = dir.join("config.toml");
    std::fs::write(&path, &saved).unwrap();
    match config::load(&path, &[]) {
        Ok(again) => prop_assert_eq!(config::to_toml(&again.config), saved),
        Err(e) => prop_assert!(false, "the saved config does not load back: {e}\n{saved}"),
    }
    Ok(())
}

/// Loads `bytes` as a config file with `sets` and exercises what loads.
fn check(bytes: &[u8], sets: &[String]) -> Result<(), TestCaseError> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("run.toml");
    std::fs::write(&path, bytes).unwrap();
    match config::load(&path, sets) {
        Ok(loaded) => exercise(dir.path(), &loaded),
        Err(e) => {
            // Errors are fine; formatting them must not panic either.
            let _ = format!("{e} {e:?}");
            Ok(())
        }
    }
}

/// The dotted keys of shipped config `config`.
fn keys_of(config: usize) -> Vec<String> {
    let mut pairs = Vec::new();
    flatten(
        &toml::from_str(&shipped()[config].1).unwrap(),
        "",
        &mut pairs,
    );
    pairs.into_iter().map(|(k, _)| k).collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Values of the types the keys take (extremes and non-finite floats among them), in the
    /// file and in `--set`s of the config's own keys: most of these pass the parser and reach
    /// validation, the schedules and the model.
    #[test]
    fn typed_variations_of_shipped_configs_never_panic(
        (config, edits, sets) in (0..shipped().len()).prop_flat_map(|c| (
            Just(c),
            edits(c, false),
            prop::collection::vec(set_arg(keys_of(c), false), 0..3),
        )),
    ) {
        check(mutated(config, &edits).as_bytes(), &sets)?;
    }

    #[test]
    fn wild_variations_of_shipped_configs_never_panic(
        (config, edits) in (0..shipped().len()).prop_flat_map(|c| (Just(c), edits(c, true))),
        sets in prop::collection::vec(set_arg(keys().to_vec(), true), 0..3),
    ) {
        check(mutated(config, &edits).as_bytes(), &sets)?;
    }

    #[test]
    fn set_overrides_of_shipped_configs_never_panic(
        config in 0..shipped().len(),
        sets in prop::collection::vec(set_arg(keys().to_vec(), true), 1..5),
    ) {
        check(shipped()[config].1.as_bytes(), &sets)?;
    }

    #[test]
    fn toml_ish_text_never_panics(
        text in "([\\[\\]a-z_.=\"'{}, #+\\-\n]|[0-9]{1,25}|\n\\[[a-z]{1,10}\\]\n){0,60}",
        sets in prop::collection::vec("\\PC{0,24}", 0..2),
    ) {
        check(text.as_bytes(), &sets)?;
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        check(&bytes, &[])?;
    }
}

/// Found here: an epoch length of more than 2^64 iterations saturated to `u64::MAX`, the cycle
/// length `step_size + step_size_down` wrapped to 0, and `cycle_of` divided by zero.
#[test]
fn cycles_longer_than_64_bits_are_errors_not_a_division_by_zero() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("c.toml");
    let text =
        "[data]\ndataset = \"mnist\"\n[model]\npreset = \"mlp\"\n[optimizer]\nkind = \"sgd\"\n\
                [schedule]\npolicy = \"triangular\"\nbase_lr = 0.01\nmax_lr = 0.1\nstep_size = 1\n\
                [train]\nmax_iterations = 100\n";
    std::fs::write(&cfg, text).unwrap();
    config::load(&cfg, &[]).unwrap();
    let sets = ["schedule.step_size_down_epochs=5e296".to_owned()];
    let e = config::load(&cfg, &sets).unwrap_err();
    // The message with its sources, as `clr` prints it.
    let mut msg = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        msg = format!("{msg}: {s}");
        source = s.source();
    }
    let e = msg;
    assert!(
        e.contains("`step_size_down_epochs` = 5000") && e.contains("fewer than 2^64 iterations"),
        "{e}"
    );
}
