//! `clr data`: fetch, verify and inspect datasets.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;

use crate::data::{self, DataConfig, DatasetName, Preprocess};

/// Subcommands of `clr data`.
#[derive(Debug, clap::Subcommand)]
pub enum DataCommand {
    /// Fetch datasets into the data directory, verifying every file. Sources,
    /// in order: the mirror (`--mirror` or CLR_DATA_MIRROR), system dataset
    /// folders, the canonical downloads.
    Fetch(FetchArgs),
    /// Load a dataset (twice) and print counts, classes, the mean pixel and
    /// the load times.
    Info(InfoArgs),
}

/// Arguments of `clr data fetch`.
#[derive(Debug, clap::Args)]
pub struct FetchArgs {
    /// Datasets: mnist, fashion-mnist, cifar10, or all.
    #[arg(required = true, value_name = "NAME")]
    pub names: Vec<String>,
    /// Mirror folder or URL (file://, http://, https://) laid out as in
    /// docs/data.md; default: env CLR_DATA_MIRROR.
    #[arg(long, value_name = "DIR|URL")]
    pub mirror: Option<String>,
    /// Data root; default: env CLR_DATA_DIR, else `data`.
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
}

/// Arguments of `clr data info`.
#[derive(Debug, clap::Args)]
pub struct InfoArgs {
    /// Dataset: mnist, fashion-mnist or cifar10.
    #[arg(value_name = "NAME")]
    pub name: String,
    /// Data root; default: env CLR_DATA_DIR, else `data`.
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Delete the CIFAR-10 image-folder cache first, so the first load
    /// decodes every image.
    #[arg(long)]
    pub rebuild_cache: bool,
}

/// Runs `clr data`.
pub fn run(cmd: DataCommand) -> anyhow::Result<()> {
    match cmd {
        DataCommand::Fetch(args) => fetch(args),
        DataCommand::Info(args) => info(args),
    }
}

fn parse_names(names: &[String]) -> anyhow::Result<Vec<DatasetName>> {
    let mut out = Vec::new();
    for name in names {
        let add: Vec<DatasetName> = if name == "all" {
            DatasetName::ALL.to_vec()
        } else {
            vec![name.parse::<DatasetName>()?]
        };
        for d in add {
            if !out.contains(&d) {
                out.push(d);
            }
        }
    }
    Ok(out)
}

/// Fetches every named dataset, going on after a failure; fails at the end
/// when any failed.
fn fetch(args: FetchArgs) -> anyhow::Result<()> {
    let root = data::resolve_root(args.data_dir.as_deref());
    let mut failed = Vec::new();
    for dataset in parse_names(&args.names)? {
        if let Err(err) = data::fetch(dataset, &root, args.mirror.as_deref()) {
            eprintln!("error: {err}");
            failed.push(dataset.as_str());
        }
    }
    if failed.is_empty() {
        Ok(())
    } else {
        anyhow::bail!(
            "could not fetch {} into {} (see the errors above)",
            failed.join(", "),
            root.display()
        )
    }
}

fn info(args: InfoArgs) -> anyhow::Result<()> {
    let dataset: DatasetName = args.name.parse()?;
    let mut cfg = DataConfig::new(dataset);
    cfg.dir = args.data_dir;
    cfg.preprocess = Some(Preprocess::None);
    let dir = cfg.dataset_dir();
    if args.rebuild_cache {
        let cache = dir.join(data::layout::CACHE_FILE);
        if cache.exists() {
            std::fs::remove_file(&cache)
                .with_context(|| format!("removing {}", cache.display()))?;
        }
    }
    let start = Instant::now();
    let first = data::load(&cfg).with_context(|| format!("loading {dataset}"))?;
    let first_time = start.elapsed().as_secs_f64();
    let first_source = first.provenance.clone();
    drop(first);
    let start = Instant::now();
    let ds = data::load(&cfg).with_context(|| format!("loading {dataset}"))?;
    let second_time = start.elapsed().as_secs_f64();

    let [c, h, w] = ds.shape;
    println!("dataset: {dataset} ({})", dir.display());
    println!("classes ({}): {}", ds.classes.len(), ds.classes.join(", "));
    println!("image shape: {c}x{h}x{w} (CxHxW)");
    println!(
        "train: {} images, test: {} images",
        ds.train.len(),
        ds.test.len()
    );
    let head = |labels: &[u8]| -> String {
        let v: Vec<String> = labels.iter().take(10).map(|l| l.to_string()).collect();
        v.join(",")
    };
    println!(
        "first labels: train {} / test {}",
        head(ds.train.labels()),
        head(ds.test.labels())
    );
    let mut per_class = vec![0usize; ds.classes.len()];
    for &l in ds.train.labels() {
        per_class[l as usize] += 1;
    }
    let counts: Vec<String> = per_class.iter().map(|n| n.to_string()).collect();
    println!("train images per class: {}", counts.join(" "));
    let images = ds.train.images();
    let plane = h * w;
    let mut sums = vec![0f64; c];
    for img in images.chunks_exact(c * plane) {
        for (ch, p) in img.chunks_exact(plane).enumerate() {
            sums[ch] += p.iter().map(|&x| f64::from(x)).sum::<f64>();
        }
    }
    let n = (ds.train.len() * plane).max(1) as f64;
    let total: f64 = sums.iter().sum::<f64>() / (n * c as f64);
    let channels: Vec<String> = sums.iter().map(|s| format!("{:.3}", s / n)).collect();
    println!(
        "train mean pixel (0-255): {total:.3} (per channel: {})",
        channels.join(" / ")
    );
    println!("load time, first: {first_time:.2} s ({first_source})");
    println!("load time, second: {second_time:.2} s ({})", ds.provenance);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_expand_all_and_drop_repeats() {
        let names = |v: &[&str]| parse_names(&v.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert_eq!(names(&["all"]).unwrap(), DatasetName::ALL.to_vec());
        assert_eq!(
            names(&["cifar10", "mnist", "cifar10"]).unwrap(),
            vec![DatasetName::Cifar10, DatasetName::Mnist]
        );
        let err = names(&["mnist", "imagenet"]).unwrap_err();
        assert!(
            err.to_string().contains("unknown dataset `imagenet`"),
            "{err}"
        );
    }
}
