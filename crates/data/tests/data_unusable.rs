//! Data that is valid in form but unusable, and data directories the OS
//! will not let us into. An empty split, a class missing from a split, or a
//! refused permission must each be an error that names the file or folder,
//! says what is wrong and gives the command that fixes it. None of them may
//! turn into "missing", "download failed", a blamed `[data]` key, or a run
//! that trains on nothing.

use std::fs;
use std::path::{Path, PathBuf};

use clr_data::{
    self as data, layout, Access, DataConfig, DataError, DatasetName, Expect, Preprocess, Source,
    CIFAR10_CLASSES,
};

// ---------- builders ----------

fn idx_images(n: usize) -> Vec<u8> {
    let mut v = layout::IMAGES_MAGIC.to_be_bytes().to_vec();
    for d in [n, 28, 28] {
        v.extend_from_slice(&(d as u32).to_be_bytes());
    }
    v.extend((0..n * 784).map(|i| (i as u8).wrapping_mul(7)));
    v
}

fn idx_labels(labels: &[u8]) -> Vec<u8> {
    let mut v = layout::LABELS_MAGIC.to_be_bytes().to_vec();
    v.extend_from_slice(&(labels.len() as u32).to_be_bytes());
    v.extend_from_slice(labels);
    v
}

/// Every class 0..9, `n` times over.
/// The split, class, label and path of a [`DataError::ClassMissing`]; any other error fails
/// the test.
#[track_caller]
fn class_missing(err: DataError) -> (&'static str, String, usize, PathBuf) {
    eprintln!("printed: {err}");
    match err {
        DataError::ClassMissing {
            split,
            class,
            label,
            path,
            ..
        } => (split, class, label, path),
        e => panic!("wrong error: {e}"),
    }
}

fn every_class(n: usize) -> Vec<u8> {
    (0..10 * n).map(|i| (i % 10) as u8).collect()
}

/// The four IDX files of an MNIST-like dataset with these labels.
fn idx_files(train: &[u8], test: &[u8]) -> Vec<(&'static str, Vec<u8>)> {
    vec![
        (layout::TRAIN_IMAGES, idx_images(train.len())),
        (layout::TRAIN_LABELS, idx_labels(train)),
        (layout::TEST_IMAGES, idx_images(test.len())),
        (layout::TEST_LABELS, idx_labels(test)),
    ]
}

fn write_files(dir: &Path, files: &[(&str, Vec<u8>)]) {
    fs::create_dir_all(dir).unwrap();
    for (name, bytes) in files {
        fs::write(dir.join(name), bytes).unwrap();
    }
}

fn cfg(dataset: DatasetName, root: &Path) -> DataConfig {
    let mut c = DataConfig::new(dataset);
    c.dir = Some(root.to_path_buf());
    c.preprocess = Some(Preprocess::None);
    c
}

/// Loads `dataset` from `root`, expecting an error that carries the fix
/// command, and never blames a `[data]` key the user did not set.
fn load_err(dataset: DatasetName, root: &Path) -> DataError {
    let err = match data::load(&cfg(dataset, root)) {
        Ok(ds) => panic!(
            "loaded a dataset of {} classes, {} training and {} test images",
            ds.classes.len(),
            ds.train.len(),
            ds.test.len()
        ),
        Err(e) => e,
    };
    let msg = err.to_string();
    assert!(
        msg.contains(&format!("run `clr data fetch {dataset}`")),
        "no fix command in: {msg}"
    );
    assert!(!msg.contains("[data]"), "blames a [data] key: {msg}");
    err
}

fn cifar_records(labels: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    for (i, &l) in labels.iter().enumerate() {
        v.push(l);
        v.extend((0..3072).map(|p| (p as u8) ^ (i as u8)));
    }
    v
}

/// CIFAR-10 binary batches: every class in the training batches (two per
/// file) and in the test batch.
fn write_cifar_binary(dir: &Path, test: &[u8]) -> PathBuf {
    let bin = dir.join(layout::BINARY_DIR);
    fs::create_dir_all(&bin).unwrap();
    for (k, name) in layout::TRAIN_BATCHES.iter().enumerate() {
        let labels = [2 * k as u8, 2 * k as u8 + 1];
        fs::write(bin.join(name), cifar_records(&labels)).unwrap();
    }
    fs::write(bin.join(layout::TEST_BATCH), cifar_records(test)).unwrap();
    bin
}

/// Image folders `train/<class>/` and `test/<class>/`, one PNG in each.
fn write_folder(dir: &Path, classes: &[&str]) {
    for split in ["train", "test"] {
        for (c, class) in classes.iter().enumerate() {
            let d = dir.join(split).join(class);
            fs::create_dir_all(&d).unwrap();
            image::RgbImage::from_pixel(32, 32, image::Rgb([c as u8, 0, 0]))
                .save(d.join("0000.png"))
                .unwrap();
        }
    }
}

// ---------- empty splits ----------

/// `dataset` in `subdir` with `train` and `test` images must fail to load with
/// [`DataError::NoImages`] naming `split` and its images file `file`.
fn empty_split_is_named(
    dataset: DatasetName,
    subdir: &str,
    (train, test): (&[u8], &[u8]),
    (split, file): (&str, &str),
) {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join(subdir);
    write_files(&dir, &idx_files(train, test));
    let err = load_err(dataset, root.path());
    eprintln!("printed: {err}");
    match err {
        DataError::NoImages { split: s, path, .. } => {
            assert_eq!((s, path), (split, dir.join(file)))
        }
        e => panic!("wrong error: {e}"),
    }
}

#[test]
fn idx_header_of_zero_training_images_is_an_empty_split_not_a_validation_error() {
    let one = every_class(1);
    let images = (&[][..], &one[..]);
    empty_split_is_named(
        DatasetName::Mnist,
        "mnist",
        images,
        ("training", layout::TRAIN_IMAGES),
    );
}

#[test]
fn idx_test_split_of_zero_images_is_an_error_not_a_zero_accuracy() {
    let two = every_class(2);
    let images = (&two[..], &[][..]);
    let split = ("test", layout::TEST_IMAGES);
    empty_split_is_named(DatasetName::FashionMnist, "fashion-mnist", images, split);
}

#[test]
fn the_fix_the_empty_split_error_gives_works() {
    let mirror = tempfile::tempdir().unwrap();
    let good = idx_files(&every_class(2), &every_class(1));
    write_files(&mirror.path().join("mnist"), &good);
    let root = tempfile::tempdir().unwrap();
    write_files(&root.path().join("mnist"), &idx_files(&every_class(2), &[]));
    let DataError::NoImages { path, .. } = load_err(DatasetName::Mnist, root.path()) else {
        panic!("wrong error");
    };
    // "delete it and run `clr data fetch mnist`"
    fs::remove_file(&path).unwrap();
    let sources = [Source::mirror(
        DatasetName::Mnist,
        &mirror.path().to_string_lossy(),
    )];
    let expect = Expect {
        sha256: Vec::new(),
        counts: (20, 10),
    };
    data::fetch_from(DatasetName::Mnist, root.path(), &sources, &expect).unwrap();
    let ds = data::load(&cfg(DatasetName::Mnist, root.path())).unwrap();
    assert_eq!((ds.train.len(), ds.test.len()), (20, 10));
}

#[test]
fn cifar_binary_empty_batch_files_are_empty_splits() {
    let root = tempfile::tempdir().unwrap();
    let bin = write_cifar_binary(&root.path().join("cifar10"), &every_class(1));
    data::load(&cfg(DatasetName::Cifar10, root.path())).unwrap();
    let test = bin.join(layout::TEST_BATCH);
    fs::write(&test, b"").unwrap();
    match load_err(DatasetName::Cifar10, root.path()) {
        DataError::NoImages { split, path, .. } => assert_eq!((split, path), ("test", test)),
        e => panic!("wrong error: {e}"),
    }
    // One empty training batch among full ones is a lost part of the split.
    fs::write(bin.join(layout::TEST_BATCH), cifar_records(&every_class(1))).unwrap();
    let batch = bin.join(layout::TRAIN_BATCHES[2]);
    fs::write(&batch, b"").unwrap();
    match load_err(DatasetName::Cifar10, root.path()) {
        DataError::NoImages { split, path, .. } => assert_eq!((split, path), ("training", batch)),
        e => panic!("wrong error: {e}"),
    }
}

#[test]
fn cifar_folder_without_images_is_an_empty_split() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("cifar10");
    // Nothing at all in train/ and test/.
    fs::create_dir_all(dir.join("train")).unwrap();
    fs::create_dir_all(dir.join("test")).unwrap();
    match load_err(DatasetName::Cifar10, root.path()) {
        DataError::NoImages { split, path, .. } => {
            assert_eq!((split, path), ("training", dir.join("train")))
        }
        e => panic!("wrong error: {e}"),
    }
    // Every class folder there, but test/'s hold no image.
    write_folder(&dir, &CIFAR10_CLASSES);
    for class in CIFAR10_CLASSES {
        fs::remove_file(dir.join("test").join(class).join("0000.png")).unwrap();
    }
    match load_err(DatasetName::Cifar10, root.path()) {
        DataError::NoImages { split, path, .. } => {
            assert_eq!((split, path), ("test", dir.join("test")))
        }
        e => panic!("wrong error: {e}"),
    }
}

// ---------- classes missing from a split ----------

#[test]
fn idx_labels_that_never_contain_a_class_name_the_label_file() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("fashion-mnist");
    // No "Sneaker" (7) in the test labels.
    let test: Vec<u8> = every_class(2).into_iter().filter(|&l| l != 7).collect();
    write_files(&dir, &idx_files(&every_class(3), &test));
    let err = load_err(DatasetName::FashionMnist, root.path());
    let (split, class, label, path) = class_missing(err);
    assert_eq!(
        (split, class.as_str(), label, path),
        ("test", "Sneaker", 7, dir.join(layout::TEST_LABELS))
    );
    // No 3 in the training labels of MNIST.
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("mnist");
    let train: Vec<u8> = every_class(3)
        .into_iter()
        .map(|l| if l == 3 { 4 } else { l })
        .collect();
    write_files(&dir, &idx_files(&train, &every_class(1)));
    let (split, _, label, path) = class_missing(load_err(DatasetName::Mnist, root.path()));
    assert_eq!(
        (split, label, path),
        ("training", 3, dir.join(layout::TRAIN_LABELS))
    );
}

#[test]
fn cifar_binary_test_batch_missing_a_class_is_named() {
    let root = tempfile::tempdir().unwrap();
    let test: Vec<u8> = every_class(1).into_iter().filter(|&l| l != 5).collect();
    let bin = write_cifar_binary(&root.path().join("cifar10"), &test);
    let (split, class, _, path) = class_missing(load_err(DatasetName::Cifar10, root.path()));
    assert_eq!(
        (split, class.as_str(), path),
        ("test", "dog", bin.join(layout::TEST_BATCH))
    );
}

#[test]
fn cifar_folder_copy_missing_a_class_folder_is_named() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("cifar10");
    write_folder(&dir, &CIFAR10_CLASSES);
    data::load(&cfg(DatasetName::Cifar10, root.path())).unwrap();
    // test/cat/ gone.
    fs::remove_dir_all(dir.join("test").join("cat")).unwrap();
    let err = load_err(DatasetName::Cifar10, root.path());
    let (split, class, label, path) = class_missing(err);
    assert_eq!(
        (split, class.as_str(), label, path),
        ("test", "cat", 3, dir.join("test"))
    );
    // train/cat/ gone too: still a CIFAR-10 copy missing a class, not a
    // nine-class dataset.
    fs::remove_dir_all(dir.join("train").join("cat")).unwrap();
    let (split, class, _, path) = class_missing(load_err(DatasetName::Cifar10, root.path()));
    assert_eq!(
        (split, class.as_str(), path),
        ("training", "cat", dir.join("train"))
    );
    // An empty class folder is the same as a missing one.
    write_folder(&dir, &CIFAR10_CLASSES);
    fs::remove_file(dir.join("train").join("frog").join("0000.png")).unwrap();
    let (split, class, _, _) = class_missing(load_err(DatasetName::Cifar10, root.path()));
    assert_eq!((split, class.as_str()), ("training", "frog"));
}

#[test]
fn custom_class_folders_must_match_between_train_and_test() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("cifar10");
    write_folder(&dir, &["zebra", "ant", "mole"]);
    let ds = data::load(&cfg(DatasetName::Cifar10, root.path())).unwrap();
    assert_eq!(ds.classes, vec!["ant", "mole", "zebra"]);
    fs::remove_dir_all(dir.join("train").join("mole")).unwrap();
    let (split, class, label, _) = class_missing(load_err(DatasetName::Cifar10, root.path()));
    assert_eq!((split, class.as_str(), label), ("training", "mole", 1));
}

// ---------- limits: the user's choice ----------

#[test]
fn limits_may_miss_classes_but_may_not_empty_a_split() {
    let root = tempfile::tempdir().unwrap();
    write_files(
        &root.path().join("mnist"),
        &idx_files(&every_class(2), &every_class(1)),
    );
    // The files hold every class; a small subset of them need not.
    let mut c = cfg(DatasetName::Mnist, root.path());
    c.train_limit = Some(3);
    c.test_limit = Some(1);
    let ds = data::load(&c).unwrap();
    assert_eq!(
        (ds.train.labels(), ds.test.labels()),
        (&[0, 1, 2][..], &[0][..])
    );
    for (key, train_limit, test_limit) in [
        ("train_limit", Some(0), None),
        ("test_limit", None, Some(0)),
    ] {
        let mut c = cfg(DatasetName::Mnist, root.path());
        (c.train_limit, c.test_limit) = (train_limit, test_limit);
        let err = data::load(&c).unwrap_err();
        assert!(
            err.to_string().starts_with(&format!("[data] {key} = 0: ")),
            "{err}"
        );
        match err {
            DataError::Config { key: k, .. } => assert_eq!(k, key),
            e => panic!("wrong error: {e}"),
        }
    }
}

// ---------- permissions ----------

/// capget(2)/capset(2) header: version, pid (0: this thread).
type CapHeader = [u32; 2];
/// capset(2) data, version 3: two words of (effective, permitted,
/// inheritable).
type CapData = [[u32; 3]; 2];

const CAP_HEADER: CapHeader = [0x2008_0522, 0];
/// CAP_DAC_OVERRIDE (1) and CAP_DAC_READ_SEARCH (2), in the first word.
const DAC_CAPS: u32 = 0b110;

/// capget(2) (`set` false) or capset(2) (`set` true) for this thread.
fn capability_call(set: bool, data: &mut CapData) -> bool {
    let mut header = CAP_HEADER;
    let call = if set {
        libc::SYS_capset
    } else {
        libc::SYS_capget
    };
    // SAFETY: a header and a two-word data array laid out as the kernel's
    // version-3 `cap_user_header_t` and `cap_user_data_t[2]`.
    let r = unsafe { libc::syscall(call, header.as_mut_ptr(), data.as_mut_ptr().cast::<u32>()) };
    r == 0
}

/// File modes enforced on this thread, also when it runs as root:
/// CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH leave its effective capabilities
/// for as long as this lives. Linux keeps capabilities per thread, so other
/// tests running at the same time keep theirs.
struct Enforced {
    saved: Option<CapData>,
}

impl Enforced {
    /// `None` (and a note on stderr) when a mode-000 file is still readable.
    fn new(scratch: &Path) -> Option<Enforced> {
        let guard = Enforced {
            saved: drop_dac_caps(),
        };
        let probe = scratch.join("probe");
        fs::write(&probe, b"x").unwrap();
        set_mode(&probe, 0o000);
        let readable = fs::read(&probe).is_ok();
        set_mode(&probe, 0o600);
        if readable {
            eprintln!(
                "skipping: a mode-000 file is readable here (permissions not enforced), \
                 so permission-denied errors cannot be produced"
            );
            return None;
        }
        Some(guard)
    }
}

impl Drop for Enforced {
    fn drop(&mut self) {
        if let Some(mut saved) = self.saved {
            // Raising effective capabilities that are still permitted.
            capability_call(true, &mut saved);
        }
    }
}

/// Drops the DAC capabilities from this thread's effective set; returns the
/// previous sets, or `None` when there was nothing to drop.
fn drop_dac_caps() -> Option<CapData> {
    let mut data: CapData = [[0; 3]; 2];
    if !capability_call(false, &mut data) || data[0][0] & DAC_CAPS == 0 {
        return None;
    }
    let saved = data;
    data[0][0] &= !DAC_CAPS;
    capability_call(true, &mut data).then_some(saved)
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
}

/// Gives `path` back its mode when dropped, so the temp dir can be removed.
struct Restore(PathBuf, u32);

impl Drop for Restore {
    fn drop(&mut self) {
        set_mode(&self.0, self.1);
    }
}

fn chmod(path: &Path, mode: u32) -> Restore {
    set_mode(path, mode);
    Restore(path.to_path_buf(), 0o755)
}

fn assert_permission_denied(err: DataError, under: &Path, access: Access) -> PathBuf {
    let msg = err.to_string();
    eprintln!("printed: {msg}");
    assert!(msg.contains(": permission denied; "), "{msg}");
    assert!(msg.contains("clr data fetch"), "{msg}");
    match err {
        DataError::PermissionDenied {
            path, access: a, ..
        } => {
            assert!(
                path.starts_with(under),
                "{} not under {}",
                path.display(),
                under.display()
            );
            assert!(msg.contains(&path.display().to_string()), "{msg}");
            assert_eq!(a, access);
            path
        }
        e => panic!("wrong error: {e}"),
    }
}

/// A small MNIST mirror and its expectations.
fn mnist_mirror() -> (tempfile::TempDir, [Source; 1], Expect) {
    let mirror = tempfile::tempdir().unwrap();
    write_files(
        &mirror.path().join("mnist"),
        &idx_files(&every_class(2), &every_class(1)),
    );
    let sources = [Source::mirror(
        DatasetName::Mnist,
        &mirror.path().to_string_lossy(),
    )];
    let expect = Expect {
        sha256: Vec::new(),
        counts: (20, 10),
    };
    (mirror, sources, expect)
}

#[test]
fn unsearchable_dataset_folder_is_permission_denied_not_missing() {
    let root = tempfile::tempdir().unwrap();
    let Some(_enforced) = Enforced::new(root.path()) else {
        return;
    };
    let (mirror, sources, expect) = mnist_mirror();
    let dir = root.path().join("mnist");
    write_files(&dir, &idx_files(&every_class(2), &every_class(1)));
    let _restore = chmod(&dir, 0o000);
    // The folder that refuses is named, not the file looked for in it.
    let err = data::load(&cfg(DatasetName::Mnist, root.path())).unwrap_err();
    assert_eq!(assert_permission_denied(err, &dir, Access::Read), dir);
    // Not "download failed" either, and no source is tried.
    let err = data::fetch_from(DatasetName::Mnist, root.path(), &sources, &expect).unwrap_err();
    assert_eq!(assert_permission_denied(err, &dir, Access::Read), dir);
    let c = cfg(DatasetName::Mnist, root.path());
    let err = data::ensure_available(&c, Some(&mirror.path().to_string_lossy())).unwrap_err();
    assert_eq!(assert_permission_denied(err, &dir, Access::Read), dir);
}

#[test]
fn read_only_data_directory_is_permission_denied_not_download_failed() {
    let root = tempfile::tempdir().unwrap();
    let Some(_enforced) = Enforced::new(root.path()) else {
        return;
    };
    let (_mirror, sources, expect) = mnist_mirror();
    // The dataset folder exists but cannot be written.
    let dir = root.path().join("mnist");
    fs::create_dir_all(&dir).unwrap();
    let restore = chmod(&dir, 0o555);
    let err = data::fetch_from(DatasetName::Mnist, root.path(), &sources, &expect).unwrap_err();
    assert_eq!(assert_permission_denied(err, &dir, Access::Write), dir);
    drop(restore);
    // The data root cannot be written: the dataset folder cannot be made.
    fs::remove_dir(&dir).unwrap();
    let _restore = chmod(root.path(), 0o555);
    let err = data::fetch_from(DatasetName::Mnist, root.path(), &sources, &expect).unwrap_err();
    assert_eq!(
        assert_permission_denied(err, root.path(), Access::Write),
        root.path()
    );
}

#[test]
fn unreadable_dataset_file_is_permission_denied() {
    let root = tempfile::tempdir().unwrap();
    let Some(_enforced) = Enforced::new(root.path()) else {
        return;
    };
    let (_mirror, sources, expect) = mnist_mirror();
    let dir = root.path().join("mnist");
    write_files(&dir, &idx_files(&every_class(2), &every_class(1)));
    let file = dir.join(layout::TEST_LABELS);
    let _restore = chmod(&file, 0o000);
    let err = data::load(&cfg(DatasetName::Mnist, root.path())).unwrap_err();
    assert_eq!(assert_permission_denied(err, &dir, Access::Read), file);
    // Fetching reports it too, instead of downloading over it.
    let err = data::fetch_from(DatasetName::Mnist, root.path(), &sources, &expect).unwrap_err();
    assert_eq!(assert_permission_denied(err, &dir, Access::Read), file);
}

#[test]
fn unreadable_cifar_class_folder_is_permission_denied() {
    let root = tempfile::tempdir().unwrap();
    let Some(_enforced) = Enforced::new(root.path()) else {
        return;
    };
    let dir = root.path().join("cifar10");
    write_folder(&dir, &CIFAR10_CLASSES);
    let class = dir.join("test").join("cat");
    let _restore = chmod(&class, 0o000);
    let err = data::load(&cfg(DatasetName::Cifar10, root.path())).unwrap_err();
    assert_permission_denied(err, &class, Access::Read);
}
