//! 2-D classification datasets: generated from a seed (two moons, concentric circles, spirals,
//! XOR, Gaussian blobs) or read from a user's CSV file, and split into train / validation.

use anyhow::{bail, Context, Result};
use candle_core::{DType, Device, Tensor};
use rand::seq::SliceRandom;
use rand::Rng;
use rand_distr::{Distribution, Normal};
use serde::{Deserialize, Serialize};
use std::f64::consts::PI;
use std::path::Path;

/// Points in the plane with integer class labels `0..classes`.
#[derive(Debug, Clone, PartialEq)]
pub struct Dataset {
    pub points: Vec<[f64; 2]>,
    pub labels: Vec<usize>,
    pub classes: usize,
}

/// How to make a dataset, as written in a config, e.g. `{ kind = "moons", n = 1500, noise = 0.2 }`.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum DatasetSpec {
    /// Two interleaving half circles (as scikit-learn's `make_moons`), Gaussian noise of std
    /// `noise` added to both coordinates.
    Moons { n: usize, noise: f64 },
    /// A circle of radius 1 around one of radius `factor` (as `make_circles`).
    Circles { n: usize, noise: f64, factor: f64 },
    /// `classes` interleaved spiral arms (CS231n's example); `noise` perturbs the angle.
    Spirals {
        n: usize,
        classes: usize,
        noise: f64,
    },
    /// Uniform points in [-1, 1]^2, class 1 where exactly one coordinate is positive, then
    /// Gaussian noise of std `noise` on the coordinates.
    Xor { n: usize, noise: f64 },
    /// `centers` isotropic Gaussians of std `std`, centred evenly on a circle of radius `radius`.
    Blobs {
        n: usize,
        centers: usize,
        std: f64,
        radius: f64,
    },
    /// Points from a CSV file `x1,x2,label` (header optional), relative to the workspace root.
    Csv { path: String },
}

impl DatasetSpec {
    /// Short name used in run names and figure titles: "moons", "circles", ... or the CSV's
    /// file stem.
    pub fn name(&self) -> String {
        match self {
            DatasetSpec::Moons { .. } => "moons".into(),
            DatasetSpec::Circles { .. } => "circles".into(),
            DatasetSpec::Spirals { .. } => "spirals".into(),
            DatasetSpec::Xor { .. } => "xor".into(),
            DatasetSpec::Blobs { .. } => "blobs".into(),
            DatasetSpec::Csv { path } => Path::new(path)
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| "csv".into()),
        }
    }

    /// Generates (or loads) the points. `root` resolves relative CSV paths.
    pub fn build(&self, root: &Path, rng: &mut impl Rng) -> Result<Dataset> {
        let normal = |std: f64| Normal::new(0.0, std).context("noise must be finite and >= 0");
        Ok(match *self {
            DatasetSpec::Moons { n, noise } => {
                let noise = normal(noise)?;
                let mut d = Dataset::empty(2);
                for i in 0..n {
                    let class = i % 2;
                    let t = rng.gen_range(0.0..PI);
                    let (x, y) = if class == 0 {
                        (t.cos(), t.sin())
                    } else {
                        (1.0 - t.cos(), 0.5 - t.sin())
                    };
                    d.push([x + noise.sample(rng), y + noise.sample(rng)], class);
                }
                d
            }
            DatasetSpec::Circles { n, noise, factor } => {
                let noise = normal(noise)?;
                let mut d = Dataset::empty(2);
                for i in 0..n {
                    let class = i % 2;
                    let r = if class == 0 { 1.0 } else { factor };
                    let t = rng.gen_range(0.0..2.0 * PI);
                    d.push(
                        [
                            r * t.cos() + noise.sample(rng),
                            r * t.sin() + noise.sample(rng),
                        ],
                        class,
                    );
                }
                d
            }
            DatasetSpec::Spirals { n, classes, noise } => {
                if classes < 2 {
                    bail!("spirals need at least 2 classes, got {classes}");
                }
                let noise = normal(noise)?;
                let mut d = Dataset::empty(classes);
                for i in 0..n {
                    let class = i % classes;
                    // radius grows from 0 to 1 while the angle turns through 4 radians, each
                    // arm starting 4 radians after the previous one (as in CS231n's notes).
                    let r: f64 = rng.gen_range(0.0..1.0);
                    let t = 4.0 * class as f64 + 4.0 * r + noise.sample(rng);
                    d.push([r * t.sin(), r * t.cos()], class);
                }
                d
            }
            DatasetSpec::Xor { n, noise } => {
                let noise = normal(noise)?;
                let mut d = Dataset::empty(2);
                for _ in 0..n {
                    let x: f64 = rng.gen_range(-1.0..1.0);
                    let y: f64 = rng.gen_range(-1.0..1.0);
                    let class = usize::from((x > 0.0) != (y > 0.0));
                    d.push([x + noise.sample(rng), y + noise.sample(rng)], class);
                }
                d
            }
            DatasetSpec::Blobs {
                n,
                centers,
                std,
                radius,
            } => {
                if centers < 2 {
                    bail!("blobs need at least 2 centers, got {centers}");
                }
                let noise = normal(std)?;
                let mut d = Dataset::empty(centers);
                for i in 0..n {
                    let class = i % centers;
                    let a = 2.0 * PI * class as f64 / centers as f64;
                    d.push(
                        [
                            radius * a.cos() + noise.sample(rng),
                            radius * a.sin() + noise.sample(rng),
                        ],
                        class,
                    );
                }
                d
            }
            DatasetSpec::Csv { ref path } => load_csv(&root.join(path))?,
        })
    }
}

impl DatasetSpec {
    /// The Bayes-optimal prediction for a point: the class whose generating distribution makes
    /// the point most likely (classes are equally frequent). No classifier can beat its accuracy
    /// on average, so it is the reference a trained network is measured against.
    /// `None` for CSV data (unknown distribution) and for noise-free XOR/ties.
    pub fn bayes_class(&self, p: [f64; 2]) -> Option<usize> {
        // Likelihood of p under isotropic noise around a curve, averaged over the curve's
        // parameter (uniform, as in `build`).
        let along_curve =
            |curve: &dyn Fn(f64) -> (f64, f64), lo: f64, hi: f64, noise: f64| -> f64 {
                const STEPS: usize = 720;
                (0..STEPS)
                    .map(|i| {
                        let t = lo + (i as f64 + 0.5) / STEPS as f64 * (hi - lo);
                        let (cx, cy) = curve(t);
                        (-((p[0] - cx).powi(2) + (p[1] - cy).powi(2)) / (2.0 * noise * noise)).exp()
                    })
                    .sum()
            };
        let argmax = |l: &[f64]| -> Option<usize> {
            let best = l.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            (best > 0.0).then(|| l.iter().position(|&v| v == best).expect("max is present"))
        };
        match *self {
            DatasetSpec::Moons { noise, .. } if noise > 0.0 => argmax(&[
                along_curve(&|t| (t.cos(), t.sin()), 0.0, PI, noise),
                along_curve(&|t| (1.0 - t.cos(), 0.5 - t.sin()), 0.0, PI, noise),
            ]),
            DatasetSpec::Circles { noise, factor, .. } if noise > 0.0 => argmax(&[
                along_curve(&|t| (t.cos(), t.sin()), 0.0, 2.0 * PI, noise),
                along_curve(
                    &|t| (factor * t.cos(), factor * t.sin()),
                    0.0,
                    2.0 * PI,
                    noise,
                ),
            ]),
            DatasetSpec::Spirals { classes, noise, .. } if noise > 0.0 => {
                // The radius is exact (noise only turns the point), so for radius r the angle of
                // arm k is Normal(4k + 4r, noise^2), wrapped around the circle.
                let r = (p[0] * p[0] + p[1] * p[1]).sqrt();
                if r >= 1.0 {
                    return None;
                }
                let theta = p[0].atan2(p[1]);
                let l: Vec<f64> = (0..classes)
                    .map(|k| {
                        let mean = 4.0 * k as f64 + 4.0 * r;
                        (-8..=8)
                            .map(|m| {
                                let d = theta + 2.0 * PI * m as f64 - mean;
                                (-d * d / (2.0 * noise * noise)).exp()
                            })
                            .sum()
                    })
                    .collect();
                argmax(&l)
            }
            DatasetSpec::Xor { noise: 0.0, .. } => Some(usize::from((p[0] > 0.0) != (p[1] > 0.0))),
            DatasetSpec::Blobs {
                centers, radius, ..
            } => {
                // Equal isotropic Gaussians: the nearest centre is the most likely.
                let d: Vec<f64> = (0..centers)
                    .map(|k| {
                        let a = 2.0 * PI * k as f64 / centers as f64;
                        -((p[0] - radius * a.cos()).powi(2) + (p[1] - radius * a.sin()).powi(2))
                    })
                    .collect();
                let best = d.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                d.iter().position(|&v| v == best)
            }
            _ => None,
        }
    }

    /// The Bayes-optimal rule's expected accuracy on this distribution, estimated on `samples`
    /// fresh points drawn with `rng` (standard error √(p(1−p)/samples)); `None` for a CSV, whose
    /// distribution is unknown. What no classifier beats on average, unlike
    /// [`bayes_accuracy`](Self::bayes_accuracy) on one validation sample, which varies with it.
    pub fn expected_bayes_accuracy(&self, samples: usize, rng: &mut impl Rng) -> Option<f64> {
        let large = match self.clone() {
            DatasetSpec::Moons { noise, .. } => DatasetSpec::Moons { n: samples, noise },
            DatasetSpec::Circles { noise, factor, .. } => DatasetSpec::Circles {
                n: samples,
                noise,
                factor,
            },
            DatasetSpec::Spirals { classes, noise, .. } => DatasetSpec::Spirals {
                n: samples,
                classes,
                noise,
            },
            DatasetSpec::Xor { noise, .. } => DatasetSpec::Xor { n: samples, noise },
            DatasetSpec::Blobs {
                centers,
                std,
                radius,
                ..
            } => DatasetSpec::Blobs {
                n: samples,
                centers,
                std,
                radius,
            },
            DatasetSpec::Csv { .. } => return None,
        };
        let data = large.build(Path::new("."), rng).ok()?;
        self.bayes_accuracy(&data)
    }

    /// Accuracy of [`bayes_class`](Self::bayes_class) on `data`, or `None` where it is unknown.
    pub fn bayes_accuracy(&self, data: &Dataset) -> Option<f64> {
        let mut correct = 0;
        for (p, &l) in data.points.iter().zip(&data.labels) {
            correct += usize::from(self.bayes_class(*p)? == l);
        }
        Some(correct as f64 / data.len().max(1) as f64)
    }
}

impl Dataset {
    fn empty(classes: usize) -> Self {
        Self {
            points: Vec::new(),
            labels: Vec::new(),
            classes,
        }
    }

    fn push(&mut self, p: [f64; 2], label: usize) {
        self.points.push(p);
        self.labels.push(label);
    }

    pub fn len(&self) -> usize {
        self.points.len()
    }

    pub fn is_empty(&self) -> bool {
        self.points.is_empty()
    }

    /// Shuffles and splits off the last `val_fraction` of the points as a validation set.
    pub fn split(&self, val_fraction: f64, rng: &mut impl Rng) -> Result<(Dataset, Dataset)> {
        if !(0.0..1.0).contains(&val_fraction) {
            bail!("val_fraction must be in [0, 1), got {val_fraction}");
        }
        let mut order: Vec<usize> = (0..self.len()).collect();
        order.shuffle(rng);
        let n_val = (self.len() as f64 * val_fraction).round() as usize;
        let n_train = self.len() - n_val;
        if n_train == 0 {
            bail!(
                "dataset of {} points leaves nothing to train on",
                self.len()
            );
        }
        Ok((
            self.subset(&order[..n_train]),
            self.subset(&order[n_train..]),
        ))
    }

    /// The points at `idx`, in that order.
    pub fn subset(&self, idx: &[usize]) -> Dataset {
        Dataset {
            points: idx.iter().map(|&i| self.points[i]).collect(),
            labels: idx.iter().map(|&i| self.labels[i]).collect(),
            classes: self.classes,
        }
    }

    /// Inputs as an `[n, 2]` tensor of `dtype`.
    pub fn x(&self, dtype: DType) -> candle_core::Result<Tensor> {
        let flat: Vec<f64> = self.points.iter().flat_map(|p| *p).collect();
        Tensor::from_vec(flat, (self.len(), 2), &Device::Cpu)?.to_dtype(dtype)
    }

    /// Labels as an `[n]` u32 tensor.
    pub fn y(&self) -> candle_core::Result<Tensor> {
        let labels: Vec<u32> = self.labels.iter().map(|&l| l as u32).collect();
        Tensor::from_vec(labels, self.len(), &Device::Cpu)
    }

    /// Smallest box containing every point, widened by `margin` on each side.
    pub fn bounds(&self, margin: f64) -> ((f64, f64), (f64, f64)) {
        let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
        for p in &self.points {
            x0 = x0.min(p[0]);
            x1 = x1.max(p[0]);
            y0 = y0.min(p[1]);
            y1 = y1.max(p[1]);
        }
        ((x0 - margin, x1 + margin), (y0 - margin, y1 + margin))
    }
}

/// Reads `x1,x2,label` rows from a file; see [`parse_csv`].
pub fn load_csv(path: &Path) -> Result<Dataset> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read dataset CSV {}", path.display()))?;
    parse_csv(&text, &path.display().to_string())
}

/// Parses `x1,x2,label` rows. The first row may be a header (it is skipped if its first two
/// fields are not numbers); blank lines and lines starting with `#` are ignored. Every other
/// problem is an error naming `source`, the 1-based line number and the offending text.
pub fn parse_csv(text: &str, source: &str) -> Result<Dataset> {
    let mut d = Dataset::empty(0);
    let mut first_row = true;
    for (i, line) in text.lines().enumerate() {
        let lineno = i + 1;
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let fields: Vec<&str> = line.split(',').map(str::trim).collect();
        let looks_like_header = fields.len() >= 2
            && fields[0].parse::<f64>().is_err()
            && fields[1].parse::<f64>().is_err();
        let may_be_header = std::mem::replace(&mut first_row, false);
        if may_be_header && looks_like_header {
            continue;
        }
        if fields.len() != 3 {
            bail!(
                "{source}:{lineno}: expected 3 comma-separated fields x1,x2,label but found {} in {line:?}",
                fields.len()
            );
        }
        let coord = |k: usize, name: &str| -> Result<f64> {
            match fields[k].parse::<f64>() {
                Ok(v) if v.is_finite() => Ok(v),
                _ => bail!(
                    "{source}:{lineno}: {name} {:?} is not a finite number",
                    fields[k]
                ),
            }
        };
        let x1 = coord(0, "x1")?;
        let x2 = coord(1, "x2")?;
        let label: usize = fields[2].parse().map_err(|_| {
            anyhow::anyhow!(
                "{source}:{lineno}: label {:?} is not a non-negative integer class index",
                fields[2]
            )
        })?;
        d.push([x1, x2], label);
    }
    if d.is_empty() {
        bail!("{source}: no data rows (expected lines like `0.5,-1.2,1`)");
    }
    d.classes = d.labels.iter().max().map_or(0, |m| m + 1);
    if d.classes < 2 {
        bail!("{source}: every row has label 0; a classifier needs at least two classes");
    }
    Ok(d)
}
