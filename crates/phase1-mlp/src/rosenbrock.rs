//! The Rosenbrock function, a classic optimizer test: a long, curved, flat-bottomed valley
//! whose minimum at (1, 1) is easy to find and slow to reach. Its gradient is written by hand.

use crate::optim::Optimizer;
use crate::schedule::LrSchedule;
use candle_core::{Device, Result, Tensor, Var};

/// `f(x, y) = (1 - x)^2 + 100 (y - x^2)^2`.
pub fn rosenbrock(x: f64, y: f64) -> f64 {
    (1.0 - x).powi(2) + 100.0 * (y - x * x).powi(2)
}

/// `(df/dx, df/dy) = (-2 (1 - x) - 400 x (y - x^2), 200 (y - x^2))`.
pub fn rosenbrock_grad(x: f64, y: f64) -> (f64, f64) {
    let valley = y - x * x;
    (-2.0 * (1.0 - x) - 400.0 * x * valley, 200.0 * valley)
}

/// Runs `opt` for `steps` steps from `start` and returns every visited point (start included).
/// Stops early, keeping the path so far, if a coordinate leaves the float range.
pub fn optimize(
    opt: &mut dyn Optimizer,
    schedule: &LrSchedule,
    start: (f64, f64),
    steps: usize,
) -> Result<Vec<(f64, f64)>> {
    let p = Var::from_vec(vec![start.0, start.1], 2, &Device::Cpu)?;
    let mut path = vec![start];
    for step in 0..steps {
        let (x, y) = path[path.len() - 1];
        let (gx, gy) = rosenbrock_grad(x, y);
        let g = Tensor::from_vec(vec![gx, gy], 2, &Device::Cpu)?;
        opt.step(std::slice::from_ref(&p), &[g], schedule.lr_at(step))?;
        let v = p.to_vec1::<f64>()?;
        if !(v[0].is_finite() && v[1].is_finite()) {
            break;
        }
        path.push((v[0], v[1]));
    }
    Ok(path)
}
