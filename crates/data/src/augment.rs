//! Training-time augmentation: random crops of a padded image and horizontal flips, drawn
//! from the run seed and the image's global position in the run, so a resumed run and a run
//! on another thread count see the same augmented batches.

use serde::{Deserialize, Serialize};

/// The `[data.augment]` table: what the ResNet recipes for CIFAR use (He et al. 2016, §4.2:
/// "4 pixels are padded on each side, and a 32x32 crop is randomly sampled from the padded
/// image or its horizontal flip"). Off by default; evaluation never augments.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Augment {
    /// Pad every side by this many pixels, then crop back to the original size at a uniform
    /// random offset (0, the default: no crop). Padding pixels are 0 after preprocessing:
    /// the mean pixel under `standardize` or `mean_image`.
    #[serde(default)]
    pub crop_padding: usize,
    /// Mirror the image left to right with probability 1/2.
    #[serde(default)]
    pub flip: bool,
}

/// `""` when off, else e.g. `" + crop 4 + flip"` (as the run's first line shows it).
impl std::fmt::Display for Augment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.crop_padding > 0 {
            write!(f, " + crop {}", self.crop_padding)?;
        }
        if self.flip {
            f.write_str(" + flip")?;
        }
        Ok(())
    }
}

/// The transform drawn for one image: a shift of the crop window and a flip.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Draw {
    /// Crop offset minus the padding, in `-p..=p`: output row `y` reads input row `y + dy`.
    pub dy: isize,
    /// Same for columns.
    pub dx: isize,
    /// Mirror left to right (applied to the cropped image).
    pub flip: bool,
}

impl Augment {
    /// Whether the table asks for nothing.
    pub fn is_off(&self) -> bool {
        self.crop_padding == 0 && !self.flip
    }

    /// The transform of the image at global position `position` (iteration × batch + index
    /// in the batch) of a run with `seed`.
    pub fn draw(&self, seed: u64, position: u64) -> Draw {
        use nn::seed::splitmix64;
        let bits = splitmix64(splitmix64(seed ^ 0x5bd1_e995_a0c3_1f27) ^ position);
        let p = self.crop_padding as u64;
        let span = 2 * p + 1;
        // 21 bits per coordinate: the modulo bias is below 1e-5 for any sane padding.
        let shift = |b: u64| ((b & 0x1f_ffff) % span) as isize - p as isize;
        Draw {
            dy: shift(bits),
            dx: shift(bits >> 21),
            flip: self.flip && (bits >> 63) == 1,
        }
    }
}

impl Draw {
    /// Writes `src` (one `[C, H, W]` image) transformed into `dst` (same length).
    pub fn apply(&self, shape: [usize; 3], src: &[f32], dst: &mut [f32]) {
        let [_, h, w] = shape;
        let plane = h * w;
        for (s, d) in src.chunks_exact(plane).zip(dst.chunks_exact_mut(plane)) {
            for (y, row) in d.chunks_exact_mut(w).enumerate() {
                let sy = y as isize + self.dy;
                if sy < 0 || sy >= h as isize {
                    row.fill(0.0);
                    continue;
                }
                let srow = &s[sy as usize * w..(sy as usize + 1) * w];
                for (x, v) in row.iter_mut().enumerate() {
                    let cx = if self.flip { w - 1 - x } else { x };
                    let sx = cx as isize + self.dx;
                    *v = if sx < 0 || sx >= w as isize {
                        0.0
                    } else {
                        srow[sx as usize]
                    };
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 1x3x4 image whose pixel (y, x) holds 10y + x + 1.
    fn image() -> Vec<f32> {
        (0..3)
            .flat_map(|y| (0..4).map(move |x| (10 * y + x + 1) as f32))
            .collect()
    }

    fn apply(d: Draw) -> Vec<f32> {
        let mut out = vec![f32::NAN; 12];
        d.apply([1, 3, 4], &image(), &mut out);
        out
    }

    #[test]
    fn shifts_and_flips_move_pixels_where_they_should() {
        let draw = |dy, dx, flip| Draw { dy, dx, flip };
        assert_eq!(apply(draw(0, 0, false)), image());
        // Each case: the draw, then the image it gives.
        #[rustfmt::skip]
        let cases = [
            // Shifted down and right.
            (draw(-1, -1, false), [
                0., 0., 0., 0.,
                0., 1., 2., 3.,
                0., 11., 12., 13.,
            ]),
            (draw(0, 0, true), [
                4., 3., 2., 1.,
                14., 13., 12., 11.,
                24., 23., 22., 21.,
            ]),
            // Flip, then read two columns to the right of the mirrored position.
            (draw(0, 2, true), [
                0., 0., 4., 3.,
                0., 0., 14., 13.,
                0., 0., 24., 23.,
            ]),
        ];
        for (d, expected) in cases {
            assert_eq!(apply(d), expected, "{d:?}");
        }
    }

    #[test]
    fn draws_are_deterministic_uniform_and_within_the_padding() {
        let a = Augment {
            crop_padding: 4,
            flip: true,
        };
        let draws: Vec<Draw> = (0..90_000).map(|i| a.draw(7, i)).collect();
        assert_eq!(draws[123], a.draw(7, 123));
        assert_ne!(
            (0..50).map(|i| a.draw(7, i)).collect::<Vec<_>>(),
            (0..50).map(|i| a.draw(8, i)).collect::<Vec<_>>()
        );
        let mut counts = [[0usize; 9]; 2];
        let mut flips = 0;
        for d in &draws {
            assert!((-4..=4).contains(&d.dy) && (-4..=4).contains(&d.dx));
            counts[0][(d.dy + 4) as usize] += 1;
            counts[1][(d.dx + 4) as usize] += 1;
            flips += usize::from(d.flip);
        }
        // 10,000 expected per offset; 5 sigma is about 470.
        for c in counts.iter().flatten() {
            assert!((9_500..=10_500).contains(c), "{counts:?}");
        }
        assert!((44_500..=45_500).contains(&flips), "{flips}");
        let off = Augment::default();
        assert!(off.is_off());
        assert!((0..100).all(|i| off.draw(1, i)
            == Draw {
                dy: 0,
                dx: 0,
                flip: false
            }));
    }
}
