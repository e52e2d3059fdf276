//! Data layer: small IDX and CIFAR files (valid and corrupted) built in temp
//! folders, fetching from folder and loopback HTTP mirrors, and the full
//! datasets when they can be had (required when CLR_REQUIRE_DATA=1).

use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};

use clr_data::{
    self as data, layout, DataConfig, DataError, DatasetName, Expect, Fitted, Location, Preprocess,
    Source,
};
use flate2::write::GzEncoder;
use sha2::{Digest, Sha256};

// ---------- builders ----------

fn idx_images(n: usize, rows: usize, cols: usize, seed: u8) -> Vec<u8> {
    let mut v = Vec::new();
    v.extend_from_slice(&layout::IMAGES_MAGIC.to_be_bytes());
    for d in [n, rows, cols] {
        v.extend_from_slice(&(d as u32).to_be_bytes());
    }
    v.extend((0..n * rows * cols).map(|i| (i as u8).wrapping_mul(7).wrapping_add(seed)));
    v
}

fn idx_labels(labels: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    v.extend_from_slice(&layout::LABELS_MAGIC.to_be_bytes());
    v.extend_from_slice(&(labels.len() as u32).to_be_bytes());
    v.extend_from_slice(labels);
    v
}

fn gz(bytes: &[u8]) -> Vec<u8> {
    let mut e = GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

fn sha(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

const N_TRAIN: usize = 12;
const N_TEST: usize = 10;

/// The four files of a small MNIST-like dataset: (name, uncompressed bytes).
/// Both splits hold every class, as a usable dataset must.
fn small_idx() -> Vec<(&'static str, Vec<u8>)> {
    let train_labels: Vec<u8> = (0..N_TRAIN as u8).map(|i| i % 10).collect();
    let test_labels: Vec<u8> = (0..N_TEST as u8).map(|i| 9 - i).collect();
    vec![
        (layout::TRAIN_IMAGES, idx_images(N_TRAIN, 28, 28, 1)),
        (layout::TRAIN_LABELS, idx_labels(&train_labels)),
        (layout::TEST_IMAGES, idx_images(N_TEST, 28, 28, 2)),
        (layout::TEST_LABELS, idx_labels(&test_labels)),
    ]
}

fn write_idx(dir: &Path, files: &[(&str, Vec<u8>)], gzip: bool) {
    fs::create_dir_all(dir).unwrap();
    for (name, bytes) in files {
        if gzip {
            fs::write(dir.join(format!("{name}.gz")), gz(bytes)).unwrap();
        } else {
            fs::write(dir.join(name), bytes).unwrap();
        }
    }
}

fn cfg(dataset: DatasetName, root: &Path) -> DataConfig {
    let mut c = DataConfig::new(dataset);
    c.dir = Some(root.to_path_buf());
    c.preprocess = Some(Preprocess::None);
    c
}

fn small_expect() -> Expect {
    Expect {
        sha256: small_idx()
            .iter()
            .map(|(n, b)| (n.to_string(), sha(b)))
            .collect(),
        counts: (N_TRAIN, N_TEST),
    }
}

// ---------- IDX loading ----------

#[test]
fn idx_raw_and_gz_load_the_same_values() {
    let files = small_idx();
    for gzip in [false, true] {
        let root = tempfile::tempdir().unwrap();
        write_idx(&root.path().join("mnist"), &files, gzip);
        let ds = data::load(&cfg(DatasetName::Mnist, root.path())).unwrap();
        assert_eq!(ds.shape, [1, 28, 28]);
        assert_eq!(ds.train.len(), N_TRAIN);
        assert_eq!(ds.test.len(), N_TEST);
        assert_eq!(ds.train.labels(), &files[1].1[8..]);
        assert_eq!(ds.test.labels(), &files[3].1[8..]);
        let want: Vec<f32> = files[0].1[16..].iter().map(|&x| f32::from(x)).collect();
        assert_eq!(ds.train.images(), want.as_slice());
        assert_eq!(ds.train.image(1), &want[784..2 * 784]);
        assert!(ds.validation.is_none());
    }
}

#[test]
fn validation_is_carved_from_the_end_and_stats_use_train_only() {
    let files = small_idx();
    let root = tempfile::tempdir().unwrap();
    write_idx(&root.path().join("fashion-mnist"), &files, false);
    let mut c = cfg(DatasetName::FashionMnist, root.path());
    c.validation = 3;
    c.train_limit = Some(4);
    c.test_limit = Some(2);
    c.preprocess = Some(Preprocess::MeanImage);
    let ds = data::load(&c).unwrap();
    let val = ds.validation.as_ref().unwrap();
    assert_eq!(val.labels(), &files[1].1[8 + N_TRAIN - 3..]);
    assert_eq!(ds.train.labels(), &files[1].1[8..12]);
    assert_eq!(ds.test.labels(), &files[3].1[8..10]);
    // Mean image of the 4 training images only.
    let px = &files[0].1[16..];
    let mean: Vec<f32> = (0..784)
        .map(|p| (0..4).map(|i| f32::from(px[i * 784 + p])).sum::<f32>() / 4.0)
        .collect();
    assert_eq!(ds.preprocess, Fitted::MeanImage { mean: mean.clone() });
    // A validation image is shifted by the training mean, not its own.
    let v0 = &px[(N_TRAIN - 3) * 784..(N_TRAIN - 2) * 784];
    let want: Vec<f32> = v0
        .iter()
        .zip(&mean)
        .map(|(&x, m)| f32::from(x) - m)
        .collect();
    assert_eq!(val.image(0), want.as_slice());
}

fn load_err(files: &[(&str, Vec<u8>)], gzip: bool) -> DataError {
    let root = tempfile::tempdir().unwrap();
    write_idx(&root.path().join("mnist"), files, gzip);
    let err = data::load(&cfg(DatasetName::Mnist, root.path())).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("clr data fetch mnist"),
        "no fix command in: {msg}"
    );
    err
}

#[test]
fn missing_file_names_it_and_the_command() {
    let mut files = small_idx();
    files.remove(2);
    match load_err(&files, false) {
        DataError::Missing { path, .. } => assert!(path.ends_with(layout::TEST_IMAGES)),
        e => panic!("wrong error: {e}"),
    }
}

#[test]
fn truncated_images_are_rejected() {
    for gzip in [false, true] {
        let mut files = small_idx();
        files[0].1.truncate(16 + 784 * 3 + 100);
        match load_err(&files, gzip) {
            DataError::Truncated {
                path,
                expected,
                found,
                ..
            } => {
                assert!(path.to_string_lossy().contains(layout::TRAIN_IMAGES));
                assert_eq!(expected, 16 + 784 * N_TRAIN as u64);
                assert_eq!(found, 16 + 784 * 3 + 100);
            }
            e => panic!("wrong error: {e}"),
        }
    }
}

#[test]
fn truncated_gzip_stream_is_rejected() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("mnist");
    write_idx(&dir, &small_idx(), true);
    let path = dir.join(format!("{}.gz", layout::TRAIN_IMAGES));
    let bytes = fs::read(&path).unwrap();
    fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
    match data::load(&cfg(DatasetName::Mnist, root.path())).unwrap_err() {
        DataError::Corrupt { path: p, .. } => assert_eq!(p, path),
        e => panic!("wrong error: {e}"),
    }
}

#[test]
fn wrong_magic_is_rejected() {
    let mut files = small_idx();
    // A label file where the test images should be.
    files[2].1 = idx_labels(&[1, 2, 3, 4, 5]);
    match load_err(&files, false) {
        DataError::BadMagic {
            path,
            expected,
            found,
            ..
        } => {
            assert!(path.ends_with(layout::TEST_IMAGES));
            assert_eq!((expected, found), (0x803, 0x801));
        }
        e => panic!("wrong error: {e}"),
    }
}

#[test]
fn image_label_count_mismatch_is_rejected() {
    let mut files = small_idx();
    files[3].1 = idx_labels(&[1, 2, 3, 4]);
    match load_err(&files, false) {
        DataError::CountMismatch { images, labels, .. } => {
            assert_eq!((images, labels), (N_TEST, 4))
        }
        e => panic!("wrong error: {e}"),
    }
}

#[test]
fn wrong_image_size_is_rejected() {
    let mut files = small_idx();
    files[0].1 = idx_images(N_TRAIN, 32, 32, 1);
    match load_err(&files, true) {
        DataError::WrongImageSize {
            expected, found, ..
        } => assert_eq!((expected.as_str(), found.as_str()), ("28x28", "32x32")),
        e => panic!("wrong error: {e}"),
    }
}

#[test]
fn out_of_range_label_is_rejected() {
    let mut files = small_idx();
    files[1].1[8 + 7] = 10;
    match load_err(&files, false) {
        DataError::BadLabel { index, label, .. } => assert_eq!((index, label), (7, 10)),
        e => panic!("wrong error: {e}"),
    }
}

#[test]
fn unknown_names_and_keys_are_rejected() {
    let err = "mnsit".parse::<DatasetName>().unwrap_err();
    assert!(matches!(err, DataError::UnknownDataset { ref name } if name == "mnsit"));
    assert!(err.to_string().contains("mnist, fashion-mnist, cifar10"));
    let ok: DataConfig = toml::from_str("dataset = \"cifar10\"\nvalidation = 5000").unwrap();
    assert_eq!(ok.dataset, DatasetName::Cifar10);
    assert_eq!(ok.preprocess(), Preprocess::MeanImage);
    let bad = toml::from_str::<DataConfig>("dataset = \"cifar100\"").unwrap_err();
    assert!(bad.to_string().contains("cifar100"), "{bad}");
    let bad = toml::from_str::<DataConfig>("dataset = \"mnist\"\nvalidaton = 5").unwrap_err();
    assert!(bad.to_string().contains("validaton"), "{bad}");
    let bad = toml::from_str::<DataConfig>("dataset = \"mnist\"\npreprocess = \"z\"").unwrap_err();
    assert!(bad.to_string().contains("mean_image"), "{bad}");
}

#[test]
fn validation_must_leave_training_images() {
    let root = tempfile::tempdir().unwrap();
    write_idx(&root.path().join("mnist"), &small_idx(), false);
    let mut c = cfg(DatasetName::Mnist, root.path());
    c.validation = N_TRAIN;
    match data::load(&c).unwrap_err() {
        DataError::Config { key, .. } => assert_eq!(key, "validation"),
        e => panic!("wrong error: {e}"),
    }
}

// ---------- CIFAR-10 ----------

fn cifar_records(labels: &[u8], seed: u8) -> Vec<u8> {
    let mut v = Vec::new();
    for (i, &l) in labels.iter().enumerate() {
        v.push(l);
        v.extend((0..3072).map(|p| (p as u8) ^ (i as u8).wrapping_add(seed)));
    }
    v
}

/// Test labels of [`write_cifar_binary`]: every class once.
const CIFAR_TEST_LABELS: [u8; 10] = [3, 1, 4, 0, 2, 5, 6, 7, 8, 9];

/// Binary layout with 2 records per training batch and 10 test records.
fn write_cifar_binary(dir: &Path) {
    let bin = dir.join(layout::BINARY_DIR);
    fs::create_dir_all(&bin).unwrap();
    for (k, name) in layout::TRAIN_BATCHES.iter().enumerate() {
        fs::write(
            bin.join(name),
            cifar_records(&[k as u8, 9 - k as u8], k as u8),
        )
        .unwrap();
    }
    fs::write(
        bin.join(layout::TEST_BATCH),
        cifar_records(&CIFAR_TEST_LABELS, 50),
    )
    .unwrap();
}

#[test]
fn cifar_binary_loads_in_order() {
    let root = tempfile::tempdir().unwrap();
    write_cifar_binary(&root.path().join("cifar10"));
    let ds = data::load(&cfg(DatasetName::Cifar10, root.path())).unwrap();
    assert_eq!(ds.shape, [3, 32, 32]);
    assert_eq!(ds.train.labels(), &[0, 9, 1, 8, 2, 7, 3, 6, 4, 5]);
    assert_eq!(ds.test.labels(), &CIFAR_TEST_LABELS);
    let rec = cifar_records(&[1, 8], 1);
    let want: Vec<f32> = rec[3074..].iter().map(|&x| f32::from(x)).collect();
    assert_eq!(ds.train.image(3), want.as_slice());
    assert_eq!(ds.classes[0], "airplane");
}

#[test]
fn cifar_binary_errors() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("cifar10");
    write_cifar_binary(&dir);
    let bin = dir.join(layout::BINARY_DIR);
    let c = cfg(DatasetName::Cifar10, root.path());

    let batch = bin.join(layout::TRAIN_BATCHES[2]);
    let good = fs::read(&batch).unwrap();
    fs::write(&batch, &good[..3073 + 1000]).unwrap();
    match data::load(&c).unwrap_err() {
        DataError::Truncated { path, found, .. } => {
            assert_eq!((path, found), (batch.clone(), 4073))
        }
        e => panic!("wrong error: {e}"),
    }
    let mut bad = good.clone();
    bad[3073] = 10;
    fs::write(&batch, &bad).unwrap();
    match data::load(&c).unwrap_err() {
        DataError::BadLabel { index, label, .. } => assert_eq!((index, label), (1, 10)),
        e => panic!("wrong error: {e}"),
    }
    fs::write(&batch, &good).unwrap();
    fs::remove_file(bin.join(layout::TEST_BATCH)).unwrap();
    let err = data::load(&c).unwrap_err();
    assert!(err.to_string().contains("clr data fetch cifar10"));
    match err {
        DataError::Missing { path, .. } => assert!(path.ends_with(layout::TEST_BATCH)),
        e => panic!("wrong error: {e}"),
    }
    fs::remove_dir_all(&dir).unwrap();
    assert!(matches!(
        data::load(&c).unwrap_err(),
        DataError::Missing { .. }
    ));
}

fn color(class: usize, i: usize) -> [u8; 3] {
    [(class * 20) as u8, (i * 30) as u8, 200 - class as u8]
}

/// Image folders: `per_train`/`per_test` PNGs per class, each a gradient
/// whose values encode (class, index).
fn write_folder(dir: &Path, classes: &[&str], per_train: usize, per_test: usize) {
    for (split, per) in [("train", per_train), ("test", per_test)] {
        for (c, class) in classes.iter().enumerate() {
            let d = dir.join(split).join(class);
            fs::create_dir_all(&d).unwrap();
            for i in 0..per {
                let [r, g, b] = color(c, i);
                let img = image::RgbImage::from_fn(32, 32, |x, y| {
                    image::Rgb([r.wrapping_add(x as u8), g.wrapping_add(y as u8), b])
                });
                img.save(d.join(format!("{i:04}.png"))).unwrap();
            }
        }
    }
}

const CIFAR: [&str; 10] = clr_data::CIFAR10_CLASSES;

#[test]
fn cifar_folder_decodes_caches_and_notices_changes() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("cifar10");
    // Classes written in a scrambled order; CIFAR-10 order must win.
    let mut scrambled = CIFAR.to_vec();
    scrambled.reverse();
    write_folder(&dir, &scrambled, 2, 1);
    let c = cfg(DatasetName::Cifar10, root.path());
    let ds = data::load(&c).unwrap();
    assert!(ds.provenance.contains("decoded"), "{}", ds.provenance);
    assert_eq!(ds.classes, CIFAR.to_vec());
    // Round-robin over classes: 0..9, then 0..9 again.
    let want: Vec<u8> = (0..2).flat_map(|_| 0..10u8).collect();
    assert_eq!(ds.train.labels(), want.as_slice());
    // Train image 12 is the second image (i = 1) of class 2 ("bird"),
    // written with scrambled index 7; CHW planes.
    let [r, g, b] = color(7, 1);
    let img = ds.train.image(12);
    assert_eq!(img[0], f32::from(r));
    assert_eq!(img[1], f32::from(r + 1)); // x = 1
    assert_eq!(img[1024 + 32], f32::from(g + 1)); // y = 1
    assert_eq!(img[2048 + 5], f32::from(b));

    let cached = data::load(&c).unwrap();
    assert!(
        cached.provenance.starts_with("cache"),
        "{}",
        cached.provenance
    );
    assert_eq!(cached.train, ds.train);
    assert_eq!(cached.test, ds.test);

    // A damaged cache is rebuilt, with the same values.
    let cache = dir.join(layout::CACHE_FILE);
    let mut bytes = fs::read(&cache).unwrap();
    let n = bytes.len();
    bytes[n - 100] ^= 0xff;
    fs::write(&cache, &bytes).unwrap();
    let rebuilt = data::load(&c).unwrap();
    assert!(rebuilt.provenance.contains("decoded"));
    assert_eq!(rebuilt.train, ds.train);

    // A replaced image invalidates the cache.
    let target = dir.join("train").join("bird").join("0001.png");
    image::RgbImage::from_pixel(32, 32, image::Rgb([1, 2, 3]))
        .save(&target)
        .unwrap();
    let changed = data::load(&c).unwrap();
    assert!(changed.provenance.contains("decoded"));
    assert_eq!(changed.train.image(12)[0], 1.0);
}

#[test]
fn cifar_folder_with_other_classes_sorts_them() {
    let root = tempfile::tempdir().unwrap();
    write_folder(
        &root.path().join("cifar10"),
        &["zebra", "ant", "mole"],
        1,
        1,
    );
    let ds = data::load(&cfg(DatasetName::Cifar10, root.path())).unwrap();
    assert_eq!(ds.classes, vec!["ant", "mole", "zebra"]);
    assert_eq!(ds.train.labels(), &[0, 1, 2]);
    // "ant" was class index 1 when written.
    assert_eq!(ds.train.image(0)[0], f32::from(color(1, 0)[0]));
}

#[test]
fn cifar_folder_errors() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("cifar10");
    write_folder(&dir, &CIFAR, 1, 1);
    let c = cfg(DatasetName::Cifar10, root.path());
    let small = dir.join("train").join("cat").join("0000.png");
    image::RgbImage::new(31, 32).save(&small).unwrap();
    match data::load(&c).unwrap_err() {
        DataError::WrongImageSize { path, found, .. } => {
            assert_eq!((path, found.as_str()), (small.clone(), "31x32"))
        }
        e => panic!("wrong error: {e}"),
    }
    fs::write(&small, b"not a png").unwrap();
    match data::load(&c).unwrap_err() {
        DataError::Corrupt { path, .. } => assert_eq!(path, small),
        e => panic!("wrong error: {e}"),
    }
    // A class folder missing from test/ (the other images intact).
    image::RgbImage::new(32, 32).save(&small).unwrap();
    fs::remove_dir_all(dir.join("test").join("dog")).unwrap();
    match data::load(&c).unwrap_err() {
        DataError::ClassMissing {
            split, class, path, ..
        } => assert_eq!(
            (split, class.as_str(), path),
            ("test", "dog", dir.join("test"))
        ),
        e => panic!("wrong error: {e}"),
    }
}

// ---------- fetching ----------

fn mirror_with_small_mnist() -> tempfile::TempDir {
    let m = tempfile::tempdir().unwrap();
    write_idx(&m.path().join("mnist"), &small_idx(), true);
    m
}

fn assert_no_part_files(dir: &Path) {
    if let Ok(rd) = fs::read_dir(dir) {
        for e in rd {
            let name = e.unwrap().file_name().to_string_lossy().into_owned();
            assert!(!name.ends_with(".part"), "left behind: {name}");
        }
    }
}

#[test]
fn fetch_from_folder_mirror_skips_bad_sources() {
    let mirror = mirror_with_small_mnist();
    let empty = tempfile::tempdir().unwrap();
    let root = tempfile::tempdir().unwrap();
    let sources = [
        Source::mirror(DatasetName::Mnist, "/nonexistent/mirror"),
        Source::mirror(DatasetName::Mnist, &empty.path().to_string_lossy()),
        Source::mirror(
            DatasetName::Mnist,
            &format!("file://{}", mirror.path().display()),
        ),
    ];
    let got = data::fetch_from(DatasetName::Mnist, root.path(), &sources, &small_expect()).unwrap();
    assert_eq!(got.source.as_deref(), Some(sources[2].label.as_str()));
    let dir = root.path().join("mnist");
    for (name, bytes) in small_idx() {
        assert_eq!(fs::read(dir.join(name)).unwrap(), bytes, "{name}");
    }
    assert_no_part_files(&dir);
    let ds = data::load(&cfg(DatasetName::Mnist, root.path())).unwrap();
    assert_eq!(ds.train.len(), N_TRAIN);
    // Present and verified: no source needed.
    let again = data::fetch_from(DatasetName::Mnist, root.path(), &[], &small_expect()).unwrap();
    assert_eq!(again.source, None);
}

/// Collects the notes and meters of a fetch.
#[derive(Default)]
struct Recorder {
    notes: std::sync::Mutex<Vec<String>>,
    meters: std::sync::Mutex<Vec<(String, Option<u64>, data::Unit)>>,
}

impl data::Progress for Recorder {
    fn note(&self, message: &str) {
        self.notes.lock().unwrap().push(message.to_string());
    }
    fn meter(&self, message: &str, total: Option<u64>, unit: data::Unit) -> Box<dyn data::Meter> {
        self.meters
            .lock()
            .unwrap()
            .push((message.to_string(), total, unit));
        Box::new(data::Silent)
    }
}

#[test]
fn fetch_reports_each_source_and_transfer_to_its_progress() {
    let mirror = mirror_with_small_mnist();
    let root = tempfile::tempdir().unwrap();
    let sources = [
        Source::mirror(DatasetName::Mnist, "/nonexistent/mirror"),
        Source::mirror(DatasetName::Mnist, &mirror.path().to_string_lossy()),
    ];
    let rec = Recorder::default();
    data::fetch_from_with(
        DatasetName::Mnist,
        root.path(),
        &sources,
        &small_expect(),
        &rec,
    )
    .unwrap();
    let notes = rec.notes.lock().unwrap().clone();
    let dir = root.path().join("mnist");
    assert_eq!(
        notes,
        [
            format!("mnist: trying {}", sources[0].label),
            format!(
                "mnist: {} failed: /nonexistent/mirror is not a readable folder",
                sources[0].label
            ),
            format!("mnist: trying {}", sources[1].label),
            format!(
                "mnist: installed from {} into {}",
                sources[1].label,
                dir.display()
            ),
        ]
    );
    let meters = rec.meters.lock().unwrap().clone();
    let names: Vec<&str> = meters.iter().map(|(m, _, _)| m.as_str()).collect();
    assert_eq!(
        names,
        layout_files()
            .iter()
            .map(|f| format!("mnist: {f}"))
            .collect::<Vec<_>>()
    );
    assert!(meters
        .iter()
        .all(|(_, n, u)| n.is_some() && *u == data::Unit::Bytes));
    let rec = Recorder::default();
    data::fetch_from_with(DatasetName::Mnist, root.path(), &[], &small_expect(), &rec).unwrap();
    assert_eq!(
        *rec.notes.lock().unwrap(),
        [format!("mnist: present and verified in {}", dir.display())]
    );
}

fn layout_files() -> [&'static str; 4] {
    [
        layout::TRAIN_IMAGES,
        layout::TRAIN_LABELS,
        layout::TEST_IMAGES,
        layout::TEST_LABELS,
    ]
}

#[test]
fn all_sources_failing_lists_each_and_the_fix() {
    let mirror = mirror_with_small_mnist();
    let root = tempfile::tempdir().unwrap();
    let sources = [
        Source::mirror(DatasetName::Mnist, "/nonexistent/mirror"),
        Source::mirror(DatasetName::Mnist, &mirror.path().to_string_lossy()),
    ];
    let mut expect = small_expect();
    expect.sha256[0].1 = "0".repeat(64);
    let err = data::fetch_from(DatasetName::Mnist, root.path(), &sources, &expect).unwrap_err();
    let msg = err.to_string();
    match err {
        DataError::AllSourcesFailed { attempts, .. } => {
            assert_eq!(attempts.len(), 2);
            assert!(attempts[0].reason.contains("not a readable folder"));
            assert!(
                attempts[1].reason.contains("SHA-256"),
                "{}",
                attempts[1].reason
            );
        }
        e => panic!("wrong error: {e}"),
    }
    assert!(msg.contains("/nonexistent/mirror") && msg.contains("clr data fetch mnist"));
    assert!(msg.contains("CLR_DATA_MIRROR"));
    // Nothing that looks complete was left behind.
    let dir = root.path().join("mnist");
    assert!(!dir.join(layout::TRAIN_IMAGES).exists());
    assert_no_part_files(&dir);
}

#[test]
fn wrong_record_count_from_a_mirror_is_rejected() {
    let mirror = mirror_with_small_mnist();
    let root = tempfile::tempdir().unwrap();
    let sources = [Source::mirror(
        DatasetName::Mnist,
        &mirror.path().to_string_lossy(),
    )];
    let mut expect = small_expect();
    expect.sha256.clear();
    expect.counts = (60_000, 10_000);
    let err = data::fetch_from(DatasetName::Mnist, root.path(), &sources, &expect).unwrap_err();
    assert!(
        err.to_string().contains("holds 12 records, expected 60000"),
        "{err}"
    );
}

/// Serves files under `root` over HTTP/1.1 on a loopback port. With
/// `short`, it promises twice the bytes it sends.
fn serve(root: PathBuf, short: bool) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut request = String::new();
            if reader.read_line(&mut request).is_err() {
                continue;
            }
            loop {
                let mut line = String::new();
                match reader.read_line(&mut line) {
                    Ok(n) if n > 2 => continue,
                    _ => break,
                }
            }
            let path = request.split_whitespace().nth(1).unwrap_or("/").to_string();
            let file = root.join(path.trim_start_matches('/'));
            let _ = match fs::read(&file) {
                Ok(body) if !path.contains("..") => {
                    let promised = if short { body.len() * 2 } else { body.len() };
                    let head = format!(
                        "HTTP/1.1 200 OK\r\nContent-Length: {promised}\r\nConnection: close\r\n\r\n"
                    );
                    stream
                        .write_all(head.as_bytes())
                        .and_then(|_| stream.write_all(&body))
                }
                _ => stream.write_all(
                    b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                ),
            };
        }
    });
    format!("http://{addr}")
}

#[test]
fn fetch_over_http_from_loopback_server() {
    let mirror = mirror_with_small_mnist();
    let url = serve(mirror.path().to_path_buf(), false);
    let root = tempfile::tempdir().unwrap();
    let sources = [Source::mirror(DatasetName::Mnist, &url)];
    assert!(matches!(sources[0].location, Location::Http(_)));
    let got = data::fetch_from(DatasetName::Mnist, root.path(), &sources, &small_expect()).unwrap();
    assert_eq!(
        got.source.as_deref(),
        Some(format!("mirror {url}").as_str())
    );
    for (name, bytes) in small_idx() {
        assert_eq!(
            fs::read(root.path().join("mnist").join(name)).unwrap(),
            bytes
        );
    }
}

#[test]
fn interrupted_http_transfer_leaves_nothing() {
    let mirror = mirror_with_small_mnist();
    let url = serve(mirror.path().to_path_buf(), true);
    let root = tempfile::tempdir().unwrap();
    let sources = [Source::mirror(DatasetName::Mnist, &url)];
    let err =
        data::fetch_from(DatasetName::Mnist, root.path(), &sources, &small_expect()).unwrap_err();
    assert!(matches!(err, DataError::AllSourcesFailed { .. }), "{err}");
    let dir = root.path().join("mnist");
    assert!(!dir.join(layout::TRAIN_IMAGES).exists());
    assert_no_part_files(&dir);
}

fn tar_gz_of(dir: &Path, entries: &[&str]) -> Vec<u8> {
    let mut b = tar::Builder::new(GzEncoder::new(Vec::new(), flate2::Compression::fast()));
    for e in entries {
        b.append_dir_all(e, dir.join(e)).unwrap();
    }
    b.into_inner().unwrap().finish().unwrap()
}

#[test]
fn cifar_archives_from_http_and_folder_mirrors() {
    let src = tempfile::tempdir().unwrap();
    write_cifar_binary(src.path());
    write_folder(src.path(), &CIFAR, 1, 1);
    let mirror = tempfile::tempdir().unwrap();
    // Only the binary archive over HTTP (the JPEG name is tried first, 404).
    fs::write(
        mirror.path().join("cifar-10-binary.tar.gz"),
        tar_gz_of(src.path(), &[layout::BINARY_DIR]),
    )
    .unwrap();
    let url = serve(mirror.path().to_path_buf(), false);
    let root = tempfile::tempdir().unwrap();
    let expect = Expect {
        sha256: Vec::new(),
        counts: (10, CIFAR_TEST_LABELS.len()),
    };
    let sources = [Source::mirror(DatasetName::Cifar10, &url)];
    data::fetch_from(DatasetName::Cifar10, root.path(), &sources, &expect).unwrap();
    let ds = data::load(&cfg(DatasetName::Cifar10, root.path())).unwrap();
    assert_eq!(ds.train.labels(), &[0, 9, 1, 8, 2, 7, 3, 6, 4, 5]);
    assert_no_part_files(&root.path().join("cifar10"));

    // The image-folder archive from a folder mirror, with its checksum.
    let archive = tar_gz_of(src.path(), &["train", "test"]);
    fs::write(mirror.path().join("cifar10-jpg.tar.gz"), &archive).unwrap();
    let root = tempfile::tempdir().unwrap();
    let mut expect = Expect {
        sha256: vec![("cifar10-jpg.tar.gz".to_string(), sha(&archive))],
        counts: (10, 10),
    };
    let sources = [Source::mirror(
        DatasetName::Cifar10,
        &mirror.path().to_string_lossy(),
    )];
    data::fetch_from(DatasetName::Cifar10, root.path(), &sources, &expect).unwrap();
    let ds = data::load(&cfg(DatasetName::Cifar10, root.path())).unwrap();
    assert_eq!(ds.train.len(), 10);
    assert!(!root.path().join("cifar10").join(".unpack.part").exists());

    // Wrong counts or checksum: nothing installed.
    let root = tempfile::tempdir().unwrap();
    expect.counts = (50_000, 10_000);
    let err = data::fetch_from(DatasetName::Cifar10, root.path(), &sources, &expect).unwrap_err();
    assert!(err.to_string().contains("expected 50000"), "{err}");
    expect.counts = (10, 10);
    expect.sha256[0].1 = "f".repeat(64);
    let err = data::fetch_from(DatasetName::Cifar10, root.path(), &sources, &expect).unwrap_err();
    assert!(err.to_string().contains("SHA-256"), "{err}");
    assert!(!data::is_present(
        DatasetName::Cifar10,
        &root.path().join("cifar10")
    ));
}

// ---------- full datasets ----------

fn workspace_data() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../data"))
}

/// CLR_DATA_MIRROR as given to `cargo test` in the workspace root (the tests run in this
/// crate's folder).
fn mirror() -> Option<String> {
    data::mirror_from_env_in(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../.."))
}

/// Makes `dataset` available in the workspace `data/` folder (mirror from
/// CLR_DATA_MIRROR) and loads it; `None` (skip) when it cannot be had, unless
/// CLR_REQUIRE_DATA=1.
fn full_data(dataset: DatasetName) -> Option<(DataConfig, data::Dataset)> {
    let mut c = DataConfig::new(dataset);
    c.dir = Some(workspace_data());
    c.preprocess = Some(Preprocess::None);
    match data::ensure_available(&c, mirror().as_deref()) {
        Ok(()) => {
            let ds = data::load(&c).unwrap();
            Some((c, ds))
        }
        Err(e) if std::env::var("CLR_REQUIRE_DATA").as_deref() == Ok("1") => {
            panic!("CLR_REQUIRE_DATA=1 but {dataset} is not available: {e}")
        }
        Err(e) => {
            eprintln!("skipping the full {dataset} test (set CLR_DATA_MIRROR): {e}");
            None
        }
    }
}

#[test]
fn full_mnist() {
    let Some((c, ds)) = full_data(DatasetName::Mnist) else {
        return;
    };
    assert_eq!((ds.train.len(), ds.test.len()), (60_000, 10_000));
    assert_eq!(&ds.train.labels()[..5], &[5, 0, 4, 1, 9]);
    assert_eq!(&ds.test.labels()[..5], &[7, 2, 1, 0, 4]);
    let mean = mean_of(ds.train.images());
    assert!((mean - 33.318).abs() < 5e-4, "mean pixel {mean}");
    // Scaled to [0, 1]: the well-known 0.1307.
    let mut scaled = c.clone();
    scaled.preprocess = None;
    let s = data::load(&scaled).unwrap();
    let mean = mean_of(s.train.images());
    assert!((mean - 0.1307).abs() < 1e-4, "scaled mean {mean}");
    // The gzipped files, read without the mnist crate, give the same bytes.
    if let Some(mirror) = mirror() {
        let gz_dir = Path::new(&mirror).join("mnist");
        if gz_dir.is_dir() {
            let a = data::load_raw(DatasetName::Mnist, &gz_dir).unwrap();
            let b = data::load_raw(DatasetName::Mnist, &c.dataset_dir()).unwrap();
            assert!(a.provenance.contains("gzipped"));
            assert_eq!((a.train, a.test), (b.train, b.test));
        }
    }
}

#[test]
fn full_cifar10_folder() {
    let Some((_, ds)) = full_data(DatasetName::Cifar10) else {
        return;
    };
    assert_eq!((ds.train.len(), ds.test.len()), (50_000, 10_000));
    assert_eq!(ds.classes, CIFAR.to_vec());
    assert_eq!(class_counts(ds.train.labels()), [5_000; 10]);
    assert_eq!(class_counts(ds.test.labels()), [1_000; 10]);
}

fn class_counts(labels: &[u8]) -> [usize; 10] {
    let mut counts = [0usize; 10];
    for &l in labels {
        counts[l as usize] += 1;
    }
    counts
}

fn mean_of(xs: &[f32]) -> f64 {
    xs.iter().map(|&x| f64::from(x)).sum::<f64>() / xs.len() as f64
}
