//! Seed derivation: the one SplitMix64 of the workspace (layer initialization, dropout masks,
//! the trainer's epoch orders and per-iteration seeds). Its outputs are part of what a seed
//! means: changing them changes every run.

/// SplitMix64's increment (2^64 / the golden ratio).
pub const GOLDEN_GAMMA: u64 = 0x9E37_79B9_7F4A_7C15;

/// SplitMix64's output function (Stafford's variant 13): a bijection of `u64` with strong
/// avalanche, so nearby inputs give unrelated outputs.
pub fn finalize(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// One SplitMix64 step from state `z`: turns nearby integers (seeds, indices) into
/// decorrelated seeds.
///
/// ```
/// // The first output of SplitMix64 seeded with 0 (Vigna's reference implementation).
/// assert_eq!(nn::seed::splitmix64(0), 0xE220_A839_7B1D_CDAF);
/// ```
pub fn splitmix64(z: u64) -> u64 {
    finalize(z.wrapping_add(GOLDEN_GAMMA))
}

pub(crate) use splitmix64 as mix;
