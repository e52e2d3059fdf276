//! Datasets: acquisition, verification, loading, preprocessing and batching.
