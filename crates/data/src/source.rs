//! Acquisition sources: a mirror folder or URL, system dataset folders, the
//! canonical download locations. Each opens a file by its path relative to
//! the source.

use std::fs::File;
use std::io::Read;
use std::path::PathBuf;
use std::time::Duration;

use super::config::DatasetName;

/// Environment variable naming a mirror folder or URL.
pub const MIRROR_ENV: &str = "CLR_DATA_MIRROR";

/// [`MIRROR_ENV`] with a relative folder taken from `base` instead of the current directory
/// (where it exists there): what a program started in another folder than its user's, such as
/// a test binary in its crate's folder, passes on. URLs and absolute paths stay as they are.
pub fn mirror_from_env_in(base: &std::path::Path) -> Option<String> {
    let m = std::env::var(MIRROR_ENV).ok().filter(|m| !m.is_empty())?;
    let p = std::path::Path::new(&m);
    if m.contains("://") || p.is_absolute() || !base.join(p).is_dir() {
        return Some(m);
    }
    Some(base.join(p).display().to_string())
}

/// Where the Debian package `dataset-fashion-mnist` installs its files.
pub const SYSTEM_FASHION_MNIST: &str = "/usr/share/datasets/fashion-mnist";

/// Where files come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// A local folder.
    Dir(PathBuf),
    /// An `http://` or `https://` base URL (without trailing slash).
    Http(String),
}

/// One source tried by a fetch: a location plus the path of the dataset's
/// files inside it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    /// What the user sees in reports, e.g. `mirror ../shared/data`.
    pub label: String,
    /// The folder or base URL.
    pub location: Location,
    /// Prefix of the dataset's files inside the location (`mnist/`, or empty).
    pub prefix: String,
    /// Candidate archive names for CIFAR-10, in the order tried.
    pub archives: Vec<String>,
}

/// Why a file could not be opened at a source.
#[derive(Debug)]
#[non_exhaustive]
pub enum OpenError {
    /// The source answered but does not have the file.
    NotFound(String),
    /// The source could not be read at all (or the transfer failed).
    Failed(String),
}

impl std::fmt::Display for OpenError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OpenError::NotFound(what) => write!(f, "{what} not found"),
            OpenError::Failed(why) => f.write_str(why),
        }
    }
}

/// An open file: a reader and its length when known.
pub type Opened = (Box<dyn Read + Send>, Option<u64>);

impl Location {
    /// Parses `--mirror`/`CLR_DATA_MIRROR`: `file://PATH`, `http(s)://…`, or
    /// a folder path.
    pub fn parse(spec: &str) -> Location {
        if let Some(path) = spec.strip_prefix("file://") {
            Location::Dir(PathBuf::from(path))
        } else if spec.starts_with("http://") || spec.starts_with("https://") {
            Location::Http(spec.trim_end_matches('/').to_string())
        } else {
            Location::Dir(PathBuf::from(spec))
        }
    }

    /// Opens `rel` (a `/`-separated path) in this location.
    ///
    /// # Errors
    /// [`OpenError::NotFound`] for a missing file (HTTP 404/410),
    /// [`OpenError::Failed`] otherwise.
    pub fn open(&self, rel: &str) -> Result<Opened, OpenError> {
        match self {
            Location::Dir(dir) => {
                if !dir.is_dir() {
                    return Err(OpenError::Failed(format!(
                        "{} is not a readable folder",
                        dir.display()
                    )));
                }
                let path = dir.join(rel);
                match File::open(&path) {
                    Ok(f) => {
                        let len = f.metadata().ok().map(|m| m.len());
                        Ok((Box::new(f), len))
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                        Err(OpenError::NotFound(path.display().to_string()))
                    }
                    Err(e) => Err(OpenError::Failed(format!("{}: {e}", path.display()))),
                }
            }
            Location::Http(base) => {
                let url = format!("{base}/{rel}");
                let agent = ureq::AgentBuilder::new()
                    .timeout_connect(Duration::from_secs(15))
                    .timeout_read(Duration::from_secs(60))
                    .build();
                match agent.get(&url).call() {
                    Ok(resp) => {
                        let len = resp
                            .header("Content-Length")
                            .and_then(|v| v.trim().parse().ok());
                        Ok((Box::new(resp.into_reader()), len))
                    }
                    Err(ureq::Error::Status(code @ (404 | 410), _)) => {
                        Err(OpenError::NotFound(format!("{url} (HTTP {code})")))
                    }
                    Err(ureq::Error::Status(code, _)) => {
                        Err(OpenError::Failed(format!("{url}: HTTP {code}")))
                    }
                    Err(e) => Err(OpenError::Failed(e.to_string())),
                }
            }
        }
    }

    /// How the location is shown in reports.
    pub fn display(&self) -> String {
        match self {
            Location::Dir(d) => d.display().to_string(),
            Location::Http(u) => u.clone(),
        }
    }
}

impl Source {
    /// The mirror named by `spec` (the mirror layout of docs/data.md).
    pub fn mirror(dataset: DatasetName, spec: &str) -> Source {
        let location = Location::parse(spec);
        let (prefix, archives) = match dataset {
            DatasetName::Cifar10 => (
                String::new(),
                vec![
                    "cifar10-jpg.tar.gz".to_string(),
                    "cifar-10-binary.tar.gz".to_string(),
                ],
            ),
            _ => (format!("{}/", dataset.as_str()), Vec::new()),
        };
        Source {
            label: format!("mirror {}", location.display()),
            location,
            prefix,
            archives,
        }
    }

    /// System dataset folders (Debian's `dataset-fashion-mnist`).
    pub fn system(dataset: DatasetName) -> Vec<Source> {
        match dataset {
            DatasetName::FashionMnist => vec![Source {
                label: format!("system {SYSTEM_FASHION_MNIST}"),
                location: Location::Dir(PathBuf::from(SYSTEM_FASHION_MNIST)),
                prefix: String::new(),
                archives: Vec::new(),
            }],
            _ => Vec::new(),
        }
    }

    /// The canonical public download locations.
    pub fn canonical(dataset: DatasetName) -> Vec<Source> {
        let http = |base: &str, archives: &[&str]| Source {
            label: format!("download {base}"),
            location: Location::Http(base.to_string()),
            prefix: String::new(),
            archives: archives.iter().map(|a| a.to_string()).collect(),
        };
        match dataset {
            DatasetName::Mnist => vec![
                http("https://ossci-datasets.s3.amazonaws.com/mnist", &[]),
                http("http://yann.lecun.com/exdb/mnist", &[]),
            ],
            DatasetName::FashionMnist => vec![http(
                "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com",
                &[],
            )],
            DatasetName::Cifar10 => vec![http(
                "https://www.cs.toronto.edu/~kriz",
                &["cifar-10-binary.tar.gz"],
            )],
        }
    }

    /// Every source in order: the mirror (`mirror`, else env
    /// `CLR_DATA_MIRROR`), system folders, canonical downloads.
    pub fn standard(dataset: DatasetName, mirror: Option<&str>) -> Vec<Source> {
        let env = std::env::var(MIRROR_ENV).ok().filter(|m| !m.is_empty());
        let mut sources: Vec<Source> = mirror
            .map(str::to_string)
            .or(env)
            .map(|m| Source::mirror(dataset, &m))
            .into_iter()
            .collect();
        sources.extend(Source::system(dataset));
        sources.extend(Source::canonical(dataset));
        sources
    }
}
