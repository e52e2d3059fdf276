//! Safetensors files of `f32` tensors, written atomically (`<file>.tmp`, then rename).
//!
//! The header is written here, in the layout the `safetensors` crate writes and reads: the
//! header's length as a little-endian `u64`, the JSON header (`__metadata__`, then every
//! tensor's dtype, shape and data offsets, tensors ordered by name) padded with spaces to a
//! multiple of 8 bytes, then the tensors' data in the same order. The crate's own
//! `serialize` takes the metadata as a `HashMap` and writes it in that map's iteration order,
//! which is random per map: identical saves would differ in their bytes. Here the metadata is
//! a `BTreeMap`, so a file's bytes are a function of its contents alone.

use crate::NnError;
use safetensors::tensor::TensorInfo;
use safetensors::{Dtype, SafeTensors};
use serde::ser::{SerializeMap, Serializer};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
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
///
/// # Errors
/// [`NnError::Format`] for a tensor whose data does not fill its shape or a name given
/// twice, [`NnError::Io`] if the file cannot be written.
pub(crate) fn save(
    path: &Path,
    tensors: &[Tensor<'_>],
    metadata: &BTreeMap<String, String>,
) -> Result<(), NnError> {
    let buf = serialize(tensors, metadata).map_err(|message| NnError::Format {
        path: path.to_path_buf(),
        message,
    })?;
    let mut tmp = PathBuf::from(path);
    tmp.as_mut_os_string().push(".tmp");
    std::fs::write(&tmp, buf).map_err(|e| io_err(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| io_err(path, e))
}

/// The JSON header: `__metadata__` first, then the tensors in data order (as the crate writes it).
struct Header<'a> {
    metadata: &'a BTreeMap<String, String>,
    tensors: &'a [(&'a str, TensorInfo)],
}

impl Serialize for Header<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.tensors.len() + 1))?;
        map.serialize_entry("__metadata__", self.metadata)?;
        for (name, info) in self.tensors {
            map.serialize_entry(name, info)?;
        }
        map.end()
    }
}

/// The bytes of a safetensors file holding `tensors` (any order; written by name) and `metadata`.
fn serialize(
    tensors: &[Tensor<'_>],
    metadata: &BTreeMap<String, String>,
) -> Result<Vec<u8>, String> {
    let mut order: Vec<&Tensor<'_>> = tensors.iter().collect();
    order.sort_by(|a, b| a.name.cmp(&b.name));
    if let Some(w) = order.windows(2).find(|w| w[0].name == w[1].name) {
        return Err(format!("tensor `{}` given twice", w[0].name));
    }
    let mut infos = Vec::with_capacity(order.len());
    let mut offset = 0;
    for t in &order {
        let elements = t.shape.iter().try_fold(1usize, |n, &d| n.checked_mul(d));
        if elements != Some(t.data.len()) {
            return Err(format!(
                "tensor `{}`: {} values do not fill shape {:?}",
                t.name,
                t.data.len(),
                t.shape
            ));
        }
        let end = offset + std::mem::size_of_val(t.data);
        infos.push((
            t.name.as_str(),
            TensorInfo {
                dtype: Dtype::F32,
                shape: t.shape.clone(),
                data_offsets: (offset, end),
            },
        ));
        offset = end;
    }
    let mut header = serde_json::to_vec(&Header {
        metadata,
        tensors: &infos,
    })
    .map_err(|e| e.to_string())?;
    header.resize(header.len().next_multiple_of(8), b' ');
    let mut buf = Vec::with_capacity(8 + header.len() + offset);
    buf.extend_from_slice(&(header.len() as u64).to_le_bytes());
    buf.extend_from_slice(&header);
    for t in order {
        for v in t.data {
            buf.extend_from_slice(&v.to_le_bytes());
        }
    }
    Ok(buf)
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

#[cfg(test)]
mod tests {
    use super::*;
    use safetensors::tensor::TensorView;

    fn tensors(data: &[f32]) -> Vec<Tensor<'_>> {
        vec![
            Tensor {
                name: "fc2.weight".into(),
                shape: vec![2, 1],
                data: &data[..2],
            },
            Tensor {
                name: "fc1.bias".into(),
                shape: vec![3],
                data: &data[2..5],
            },
            Tensor {
                name: "scalar".into(),
                shape: vec![],
                data: &data[5..6],
            },
            Tensor {
                name: "empty".into(),
                shape: vec![0, 4],
                data: &[],
            },
        ]
    }

    const DATA: [f32; 6] = [1.0, -2.5, 0.125, 3.0e-39, f32::MAX, -0.0];

    /// With one metadata key the crate's order is not random: the bytes are the crate's.
    #[test]
    fn bytes_are_those_of_the_safetensors_crate() {
        let t = tensors(&DATA);
        let meta = BTreeMap::from([("format".to_string(), "x y".to_string())]);
        let ours = serialize(&t, &meta).unwrap();
        let bytes: Vec<Vec<u8>> = t
            .iter()
            .map(|t| t.data.iter().flat_map(|v| v.to_le_bytes()).collect())
            .collect();
        let views = t.iter().zip(&bytes).map(|(t, b)| {
            (
                t.name.clone(),
                TensorView::new(Dtype::F32, t.shape.clone(), b).unwrap(),
            )
        });
        let theirs =
            safetensors::serialize(views, &Some(meta.clone().into_iter().collect())).unwrap();
        assert!(
            ours == theirs,
            "{:?}\n{:?}",
            String::from_utf8_lossy(&ours),
            String::from_utf8_lossy(&theirs)
        );
    }

    /// Many metadata keys, given in any order: the same bytes, sorted keys, and the crate reads
    /// every tensor and key back.
    #[test]
    fn metadata_is_sorted_and_the_crate_reads_it_back() {
        let keys: Vec<String> = (0..32).map(|i| format!("key{:02}", (i * 7) % 32)).collect();
        let forward: BTreeMap<String, String> = keys
            .iter()
            .map(|k| (k.clone(), format!("value of {k}")))
            .collect();
        let backward: BTreeMap<String, String> = keys
            .iter()
            .rev()
            .map(|k| (k.clone(), format!("value of {k}")))
            .collect();
        let mut t = tensors(&DATA);
        let a = serialize(&t, &forward).unwrap();
        t.reverse();
        let b = serialize(&t, &backward).unwrap();
        assert!(a == b);

        let n = u64::from_le_bytes(a[..8].try_into().unwrap()) as usize;
        assert_eq!(n % 8, 0);
        let header = std::str::from_utf8(&a[8..8 + n]).unwrap();
        assert!(
            header.starts_with(r#"{"__metadata__":{"key00":"value of key00","key01":"#),
            "{header}"
        );
        assert!(
            header.contains(
                r#""empty":{"dtype":"F32","shape":[0,4],"data_offsets":[0,0]},"fc1.bias":"#
            ),
            "{header}"
        );

        let (_, meta) = SafeTensors::read_metadata(&a).unwrap();
        let read: BTreeMap<String, String> = meta.metadata().clone().unwrap().into_iter().collect();
        assert_eq!(read, forward);
        let st = SafeTensors::deserialize(&a).unwrap();
        let w = st.tensor("fc2.weight").unwrap();
        assert_eq!(w.shape(), [2, 1]);
        assert_eq!(
            w.data(),
            [1.0f32, -2.5]
                .iter()
                .flat_map(|v| v.to_le_bytes())
                .collect::<Vec<u8>>()
        );
        let s = st.tensor("scalar").unwrap();
        assert_eq!(s.data(), (-0.0f32).to_le_bytes());
        assert_eq!(st.tensor("empty").unwrap().shape(), [0, 4]);
    }

    #[test]
    fn mismatched_shapes_and_repeated_names_are_errors() {
        let meta = BTreeMap::new();
        let short = [Tensor {
            name: "w".into(),
            shape: vec![2, 2],
            data: &DATA[..3],
        }];
        assert!(serialize(&short, &meta)
            .unwrap_err()
            .contains("do not fill shape [2, 2]"));
        let twice = [
            Tensor {
                name: "w".into(),
                shape: vec![1],
                data: &DATA[..1],
            },
            Tensor {
                name: "w".into(),
                shape: vec![1],
                data: &DATA[1..2],
            },
        ];
        assert!(serialize(&twice, &meta)
            .unwrap_err()
            .contains("`w` given twice"));
    }
}
