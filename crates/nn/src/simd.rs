//! Runtime CPU-feature dispatch for the non-GEMM kernels (pooling, LRN, activations, im2col).
//! A plain `cargo build` targets baseline x86-64 (SSE2). [`simd_kernel!`] turns a function into
//! one that runs a copy compiled for AVX2 + FMA when the CPU has them (8 floats per vector),
//! and the baseline copy otherwise. The `gemm` crate dispatches by itself.

/// True if this CPU has AVX2 and FMA (cached by the standard library).
#[inline(always)]
pub(crate) fn has_avx2() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// True if this CPU has the AVX-512 subsets the direct convolution is compiled for (F, BW, DQ,
/// VL), besides AVX2 and FMA.
#[inline(always)]
pub(crate) fn has_avx512() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::is_x86_feature_detected!("avx512f")
            && std::is_x86_feature_detected!("avx512bw")
            && std::is_x86_feature_detected!("avx512dq")
            && std::is_x86_feature_detected!("avx512vl")
            && has_avx2()
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Defines `fn name<T: Real>(args: Ty)` (one tuple-typed argument, no `Self` in the type) whose
/// body is compiled twice: for baseline x86-64 and for AVX2 + FMA, chosen at run time.
macro_rules! simd_kernel {
    ($(#[$meta:meta])* $vis:vis fn $name:ident<$t:ident: Real>($args:tt: $ty:ty) $body:block) => {
        $(#[$meta])*
        #[allow(clippy::type_complexity)]
        $vis fn $name<$t: $crate::Real>(args: $ty) {
            #[inline(always)]
            #[allow(clippy::type_complexity)]
            fn imp<$t: $crate::Real>($args: $ty) $body
            #[cfg(target_arch = "x86_64")]
            #[target_feature(enable = "avx2,fma")]
            #[allow(clippy::type_complexity)]
            unsafe fn avx2<$t: $crate::Real>(args: $ty) {
                imp::<$t>(args)
            }
            #[cfg(target_arch = "x86_64")]
            if $crate::simd::has_avx2() {
                // SAFETY: the CPU supports the features `avx2` was compiled for.
                return unsafe { avx2::<$t>(args) };
            }
            imp::<$t>(args)
        }
    };
}
pub(crate) use simd_kernel;
