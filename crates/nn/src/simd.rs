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

/// Makes this thread treat subnormal floats as zero, as inputs and as results (the FTZ and DAZ
/// bits of x86-64's MXCSR; elsewhere it does nothing). Values below `f32::MIN_POSITIVE` carry no
/// weight in training, but every multiply-add that touches one takes a microcode assist on x86,
/// a hundred times slower: an Adam run on cifar10_full slowed down a hundredfold within 2,000
/// iterations without this. The trainer calls it on every worker thread.
pub fn flush_subnormals() {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: stmxcsr/ldmxcsr only read and write the 4-byte `csr` and the thread's MXCSR;
    // setting FTZ (bit 15) and DAZ (bit 6) changes no exception masks or rounding mode.
    unsafe {
        let mut csr: u32 = 0;
        std::arch::asm!("stmxcsr [{}]", in(reg) &mut csr, options(nostack, preserves_flags));
        csr |= (1 << 15) | (1 << 6);
        std::arch::asm!("ldmxcsr [{}]", in(reg) &csr, options(nostack, preserves_flags, readonly));
    }
}

#[cfg(all(test, target_arch = "x86_64"))]
mod subnormal_tests {
    #[test]
    fn flushed_threads_treat_subnormals_as_zero() {
        let tiny = std::hint::black_box(1.0e-39_f32);
        assert!(tiny != 0.0 && !tiny.is_normal());
        let plain = std::thread::spawn(move || std::hint::black_box(tiny) * 1.5)
            .join()
            .unwrap();
        assert!(plain > 0.0, "without the flags the product is a subnormal");
        let flushed = std::thread::spawn(move || {
            super::flush_subnormals();
            let small = std::hint::black_box(1.0e-20_f32);
            (std::hint::black_box(tiny) * 1.5, small * small, small * 1.0)
        })
        .join()
        .unwrap();
        assert_eq!(flushed.0, 0.0, "DAZ: a subnormal input counts as zero");
        assert_eq!(flushed.1, 0.0, "FTZ: a subnormal result becomes zero");
        assert_eq!(flushed.2, 1.0e-20, "normal numbers are untouched");
    }
}
