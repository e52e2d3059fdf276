//! Matrix products on strided slices (the `gemm` crate, single-threaded per call) and the
//! fixed work partitions that make results independent of the number of threads.
//!
//! Every partition here is a function of the problem shape only, never of the thread count, and
//! every reduction sums partial results in index order: the same inputs give bit-identical
//! outputs on 1 or N threads.

use crate::Real;
use rayon::prelude::*;

/// A read-only strided matrix: element `(i, j)` is `data[i * rs + j * cs]`.
#[derive(Clone, Copy)]
pub(crate) struct MatRef<'a, T> {
    pub data: &'a [T],
    pub rows: usize,
    pub cols: usize,
    pub rs: usize,
    pub cs: usize,
}

impl<'a, T> MatRef<'a, T> {
    /// A dense row-major `rows x cols` matrix at the start of `data`.
    pub fn rows(data: &'a [T], rows: usize, cols: usize) -> Self {
        Self {
            data,
            rows,
            cols,
            rs: cols,
            cs: 1,
        }
    }
    /// The transpose (no copy).
    pub fn t(self) -> Self {
        Self {
            data: self.data,
            rows: self.cols,
            cols: self.rows,
            rs: self.cs,
            cs: self.rs,
        }
    }
    fn check(&self) {
        if self.rows > 0 && self.cols > 0 {
            assert!((self.rows - 1) * self.rs + (self.cols - 1) * self.cs < self.data.len());
        }
    }
}

/// Checks the operands' bounds; `None` for an empty product, else `(m, n, k)`.
fn check_product<T>(
    dst: &[T],
    dst_rs: usize,
    a: &MatRef<'_, T>,
    b: &MatRef<'_, T>,
) -> Option<(usize, usize, usize)> {
    let (m, n, k) = (a.rows, b.cols, a.cols);
    assert_eq!(b.rows, k, "inner dimensions differ");
    a.check();
    b.check();
    if m == 0 || n == 0 {
        return None;
    }
    assert!((m - 1) * dst_rs + n <= dst.len(), "destination too small");
    Some((m, n, k))
}

/// `dst = a * b` (or `dst += a * b` when `accumulate`), `dst` dense row-major `a.rows x b.cols`
/// with row stride `dst_rs`.
pub(crate) fn matmul<T: Real>(
    dst: &mut [T],
    dst_rs: usize,
    a: MatRef<'_, T>,
    b: MatRef<'_, T>,
    accumulate: bool,
) {
    let Some((m, n, k)) = check_product(dst, dst_rs, &a, &b) else {
        return;
    };
    if k == 0 {
        if !accumulate {
            for i in 0..m {
                dst[i * dst_rs..i * dst_rs + n].fill(T::zero());
            }
        }
        return;
    }
    // SAFETY: all three operands were bounds-checked above for the given shapes and strides;
    // `dst` is borrowed mutably so it does not alias `a` or `b`.
    unsafe { raw_matmul(dst.as_mut_ptr(), dst_rs, m, n, k, a, b, accumulate) }
}

/// # Safety
/// `dst` must be valid for writes of the `m x n` block with row stride `dst_rs`, and not alias
/// `a` or `b`, which must have been bounds-checked.
unsafe fn raw_matmul<T: Real>(
    dst: *mut T,
    dst_rs: usize,
    m: usize,
    n: usize,
    k: usize,
    a: MatRef<'_, T>,
    b: MatRef<'_, T>,
    accumulate: bool,
) {
    // SAFETY: forwarded from the caller.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst,
            1,
            dst_rs as isize,
            accumulate,
            a.data.as_ptr(),
            a.cs as isize,
            a.rs as isize,
            b.data.as_ptr(),
            b.cs as isize,
            b.rs as isize,
            T::one(),
            T::one(),
            false,
            false,
            false,
            gemm::Parallelism::None,
        )
    }
}

#[derive(Clone, Copy)]
struct SendPtr<T>(*mut T);
// SAFETY: used only to hand disjoint column blocks of one destination to rayon tasks.
unsafe impl<T> Send for SendPtr<T> {}
// SAFETY: as above.
unsafe impl<T> Sync for SendPtr<T> {}

/// Column blocks for a product with `n` output columns: at most 4, each at least 128 wide
/// (rounded to 16). Depends on `n` only.
/// Returns the block width and count.
fn col_blocks(n: usize) -> (usize, usize) {
    let nb = (n / 128).clamp(1, 4);
    let width = n.div_ceil(nb).div_ceil(16) * 16;
    (width, n.div_ceil(width))
}

/// Like [`matmul`], with the output columns split into fixed blocks computed in parallel. Each
/// output element is computed by exactly one single-threaded product, so the result does not
/// depend on the number of threads.
pub(crate) fn par_matmul<T: Real>(
    dst: &mut [T],
    dst_rs: usize,
    a: MatRef<'_, T>,
    b: MatRef<'_, T>,
    accumulate: bool,
) {
    let Some((m, n, k)) = check_product(dst, dst_rs, &a, &b) else {
        return;
    };
    let (width, count) = col_blocks(n);
    if count == 1 || k == 0 {
        matmul(dst, dst_rs, a, b, accumulate);
        return;
    }
    let ptr = SendPtr(dst.as_mut_ptr());
    (0..count).into_par_iter().for_each(|i| {
        let (c0, c1) = (i * width, ((i + 1) * width).min(n));
        let p = ptr;
        let sub = MatRef {
            data: &b.data[c0 * b.cs..],
            rows: k,
            cols: c1 - c0,
            rs: b.rs,
            cs: b.cs,
        };
        sub.check();
        // SAFETY: the blocks are disjoint column ranges of `dst`, which was bounds-checked for
        // the whole `m x n` product and is exclusively borrowed for the duration of this call.
        unsafe { raw_matmul(p.0.add(c0), dst_rs, m, c1 - c0, k, a, sub, accumulate) }
    });
}

/// The fixed number of batch chunks whose partial parameter gradients are summed in order.
pub(crate) const BATCH_CHUNKS: usize = 4;

/// Splits `n` samples into at most [`BATCH_CHUNKS`] contiguous chunks of equal size (the last
/// may be shorter). Returns the chunk size. Depends on `n` only.
pub(crate) fn batch_chunk(n: usize) -> usize {
    n.div_ceil(BATCH_CHUNKS).max(1)
}

/// Element-wise work is split in chunks of this many values.
pub(crate) const ELEM_CHUNK: usize = 1 << 14;
