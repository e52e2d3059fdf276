//! Safetensors files of `f32` tensors, written atomically (`<file>.tmp`, then rename).

use crate::NnError;
use safetensors::tensor::TensorView;
use safetensors::{Dtype, SafeTensors};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// A named `f32` tensor to write.
pub(crate) struct Tensor<'a> {
    pub name: String,
    pub shape: Vec<usize>,
    pub data: &'a [f32],
}

fn io_err(path: &Path, source: std::io::Error) -> NnError {
    NnError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Writes `tensors` and `metadata` to `path` through a temporary file and a rename.
pub(crate) fn save(
    path: &Path,
    tensors: &[Tensor<'_>],
    metadata: HashMap<String, String>,
) -> Result<(), NnError> {
    let bytes: Vec<Vec<u8>> = tensors
        .iter()
        .map(|t| t.data.iter().flat_map(|v| v.to_le_bytes()).collect())
        .collect();
    let views = tensors
        .iter()
        .zip(&bytes)
        .map(|(t, b)| {
            let v =
                TensorView::new(Dtype::F32, t.shape.clone(), b).map_err(|e| NnError::Format {
                    path: path.to_path_buf(),
                    message: e.to_string(),
                })?;
            Ok((t.name.clone(), v))
        })
        .collect::<Result<Vec<_>, NnError>>()?;
    let buf = safetensors::serialize(views, &Some(metadata)).map_err(|e| NnError::Format {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    let mut tmp = PathBuf::from(path);
    tmp.as_mut_os_string().push(".tmp");
    std::fs::write(&tmp, buf).map_err(|e| io_err(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| io_err(path, e))
}

/// The tensors and metadata of a safetensors file, decoded to `f32`.
pub(crate) struct Loaded {
    pub path: PathBuf,
    pub tensors: HashMap<String, (Vec<usize>, Vec<f32>)>,
    pub metadata: HashMap<String, String>,
}

impl Loaded {
    /// Reads a whole file; every tensor must be `F32`.
    pub fn read(path: &Path) -> Result<Self, NnError> {
        let buf = std::fs::read(path).map_err(|e| io_err(path, e))?;
        let fmt = |e: safetensors::SafeTensorError| NnError::Format {
            path: path.to_path_buf(),
            message: e.to_string(),
        };
        let (_, meta) = SafeTensors::read_metadata(&buf).map_err(fmt)?;
        let metadata = meta.metadata().clone().unwrap_or_default();
        let st = SafeTensors::deserialize(&buf).map_err(fmt)?;
        let mut tensors = HashMap::new();
        for (name, view) in st.tensors() {
            if view.dtype() != Dtype::F32 {
                return Err(NnError::Tensor {
                    path: path.to_path_buf(),
                    tensor: name,
                    message: format!("dtype {:?}, expected F32", view.dtype()),
                });
            }
            let data = view
                .data()
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect();
            tensors.insert(name, (view.shape().to_vec(), data));
        }
        Ok(Self {
            path: path.to_path_buf(),
            tensors,
            metadata,
        })
    }

    /// Removes and returns tensor `name`, which must have `shape`.
    pub fn take(&mut self, name: &str, shape: &[usize]) -> Result<Vec<f32>, NnError> {
        let err = |message: String| NnError::Tensor {
            path: self.path.clone(),
            tensor: name.to_string(),
            message,
        };
        let Some((s, data)) = self.tensors.remove(name) else {
            return Err(err("missing from the file".into()));
        };
        if s != shape {
            return Err(err(format!("shape {s:?} in the file, expected {shape:?}")));
        }
        Ok(data)
    }

    /// Fails if tensors remain that nothing took.
    pub fn finish(self) -> Result<(), NnError> {
        let mut rest: Vec<_> = self.tensors.into_keys().collect();
        rest.sort();
        match rest.first() {
            None => Ok(()),
            Some(name) => Err(NnError::Tensor {
                path: self.path,
                tensor: name.clone(),
                message: "in the file but not in the model (different architecture?)".into(),
            }),
        }
    }
}
