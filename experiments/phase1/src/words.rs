//! Configs in plain words for the log's setups: what a reader sees instead of Rust's debug output
//! (`WarmupCosine { max_lr: 0.01, … }`).

use phase1_mlp::data::DatasetSpec;
use phase1_mlp::layers::Init;
use phase1_mlp::optim::OptimizerConfig;
use phase1_mlp::schedule::LrSchedule;

pub fn optimizer(o: &OptimizerConfig) -> String {
    match *o {
        OptimizerConfig::Sgd => "plain SGD".into(),
        OptimizerConfig::Momentum { momentum } => format!("SGD with momentum {momentum}"),
        OptimizerConfig::Nesterov { momentum } => format!("SGD with Nesterov momentum {momentum}"),
        OptimizerConfig::RmsProp { alpha, eps } => format!("RMSprop (α {alpha}, ε {eps})"),
        OptimizerConfig::Adam { beta1, beta2, eps } => {
            format!("Adam (β₁ {beta1}, β₂ {beta2}, ε {eps})")
        }
        OptimizerConfig::AdamW {
            beta1,
            beta2,
            eps,
            weight_decay,
        } => format!("AdamW (β₁ {beta1}, β₂ {beta2}, ε {eps}, weight decay {weight_decay})"),
    }
}

pub fn schedule(s: &LrSchedule) -> String {
    match *s {
        LrSchedule::Constant { lr } => format!("a constant learning rate of {lr}"),
        LrSchedule::Step {
            lr,
            step_size,
            gamma,
        } => format!("learning rate {lr}, multiplied by {gamma} every {step_size} steps"),
        LrSchedule::WarmupCosine {
            max_lr,
            min_lr,
            warmup,
            total,
        } => format!(
            "learning rate warmed up over {warmup} steps to {max_lr}, then cosine-decayed to \
             {min_lr} at step {total}"
        ),
    }
}

pub fn init(i: &Init) -> String {
    match *i {
        Init::Xavier => "Xavier".into(),
        Init::He => "He".into(),
        Init::Normal { std, bias } if bias != 0.0 => {
            format!("weights from N(0, {std}²), biases {bias}")
        }
        Init::Normal { std, .. } => format!("weights from N(0, {std}²)"),
    }
}

pub fn data(d: &DatasetSpec) -> String {
    match d {
        DatasetSpec::Moons { n, noise } => format!("{n} two-moons points, noise {noise}"),
        DatasetSpec::Circles { n, noise, factor } => {
            format!("{n} points on two circles (radius ratio {factor}), noise {noise}")
        }
        DatasetSpec::Spirals { n, classes, noise } => {
            format!("{n} points on {classes} spiral arms, noise {noise}")
        }
        DatasetSpec::Xor { n, noise } => format!("{n} XOR points, noise {noise}"),
        DatasetSpec::Blobs {
            n,
            centers,
            std,
            radius,
        } => format!(
            "{n} points in {centers} Gaussian blobs (sd {std}) on a circle of radius {radius}"
        ),
        DatasetSpec::Csv { path } => format!("the points of `{path}`"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_debug_braces_reach_the_log() {
        let s = schedule(&LrSchedule::WarmupCosine {
            max_lr: 0.01,
            min_lr: 0.0001,
            warmup: 50,
            total: 1500,
        });
        assert_eq!(
            s,
            "learning rate warmed up over 50 steps to 0.01, then cosine-decayed to 0.0001 at step 1500"
        );
        let o = optimizer(&OptimizerConfig::Adam {
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
        });
        assert!(!o.contains('{') && o.contains("0.999"), "{o}");
    }
}
