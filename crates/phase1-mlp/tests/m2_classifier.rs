//! m2: datasets, the CSV loader's errors, and a small MLP reaching the moons target.

use candle_core::DType;
use phase1_mlp::data::{load_csv, parse_csv, DatasetSpec};
use phase1_mlp::layers::{Activation, Init};
use phase1_mlp::mlp::{Mlp, MlpConfig};
use phase1_mlp::optim::OptimizerConfig;
use phase1_mlp::schedule::LrSchedule;
use phase1_mlp::train::{train, TrainConfig};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::path::Path;

#[test]
fn m2_small_net_reaches_moons_target() {
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let spec = DatasetSpec::Moons {
        n: 1500,
        noise: 0.2,
    };
    let data = spec.build(Path::new("."), &mut rng).unwrap();
    let (train_set, val_set) = data.split(1.0 / 3.0, &mut rng).unwrap();
    let model = MlpConfig {
        hidden: vec![32, 32],
        activation: Activation::Relu,
        init: Init::He,
    };
    let mlp = Mlp::from_config(&model, 2, 2, DType::F32, &mut rng).unwrap();
    let cfg = TrainConfig {
        steps: 600,
        batch: 64,
        optimizer: OptimizerConfig::Adam {
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
        },
        schedule: LrSchedule::WarmupCosine {
            max_lr: 0.01,
            min_lr: 1e-4,
            warmup: 20,
            total: 600,
        },
        eval_every: 100,
    };
    let mut evals = Vec::new();
    let result = train(
        &mlp,
        &train_set,
        &val_set,
        &cfg,
        DType::F32,
        &mut rng,
        |e| {
            evals.push(e.clone());
            Ok(())
        },
    )
    .unwrap();
    assert!(result.diverged_at.is_none());
    assert_eq!(evals.first().unwrap().step, 0);
    assert_eq!(result.last.step, 600);
    // The loss went down, and validation accuracy is within 1.5 points of the Bayes-optimal
    // classifier's on the very same points. (With noise 0.2 the two moons overlap: the
    // Bayes-optimal accuracy is about 97%, so no classifier reliably scores above that.)
    assert!(result.last.train_loss < 0.5 * evals[0].train_loss);
    let bayes = spec.bayes_accuracy(&val_set).unwrap();
    assert!(
        result.last.val_acc >= bayes - 0.015,
        "moons validation accuracy {:.3} (Bayes-optimal {bayes:.3})",
        result.last.val_acc
    );
}

#[test]
fn m2_datasets_are_seeded_and_labelled() {
    let specs = [
        DatasetSpec::Moons { n: 100, noise: 0.2 },
        DatasetSpec::Circles {
            n: 100,
            noise: 0.1,
            factor: 0.5,
        },
        DatasetSpec::Spirals {
            n: 99,
            classes: 3,
            noise: 0.2,
        },
        DatasetSpec::Xor { n: 100, noise: 0.0 },
        DatasetSpec::Blobs {
            n: 100,
            centers: 4,
            std: 0.5,
            radius: 2.0,
        },
    ];
    for spec in specs {
        let a = spec
            .build(Path::new("."), &mut ChaCha8Rng::seed_from_u64(7))
            .unwrap();
        let b = spec
            .build(Path::new("."), &mut ChaCha8Rng::seed_from_u64(7))
            .unwrap();
        let c = spec
            .build(Path::new("."), &mut ChaCha8Rng::seed_from_u64(8))
            .unwrap();
        assert_eq!(a, b, "{}: same seed, same points", spec.name());
        assert_ne!(a, c, "{}: other seed, other points", spec.name());
        // every class is present and labels are in range
        for k in 0..a.classes {
            assert!(a.labels.contains(&k), "{}: class {k} missing", spec.name());
        }
        assert!(a.labels.iter().all(|&l| l < a.classes));
    }
}

#[test]
fn m2_bayes_classifier_is_sane() {
    // Noise-free XOR and far-apart blobs are classified perfectly; moons with noise 0.2 about
    // 97% (a Monte-Carlo estimate of the population value is 97.1%).
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let xor = DatasetSpec::Xor { n: 200, noise: 0.0 };
    assert_eq!(
        xor.bayes_accuracy(&xor.build(Path::new("."), &mut rng).unwrap()),
        Some(1.0)
    );
    let moons = DatasetSpec::Moons {
        n: 2000,
        noise: 0.2,
    };
    let acc = moons
        .bayes_accuracy(&moons.build(Path::new("."), &mut rng).unwrap())
        .unwrap();
    assert!((0.95..0.985).contains(&acc), "moons Bayes accuracy {acc}");
    let csv = DatasetSpec::Csv {
        path: "x.csv".into(),
    };
    assert_eq!(csv.bayes_class([0.0, 0.0]), None);
}

#[test]
fn m2_expected_bayes_accuracy_is_a_property_of_the_distribution() {
    // Whatever size the spec asks for, the estimate is on `samples` fresh points; noise-free XOR
    // is separable, moons at noise 0.2 overlap (about 97 %), a CSV has no known distribution.
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let xor = DatasetSpec::Xor { n: 10, noise: 0.0 };
    assert_eq!(xor.expected_bayes_accuracy(5_000, &mut rng), Some(1.0));
    let small = DatasetSpec::Moons { n: 30, noise: 0.2 };
    let large = DatasetSpec::Moons {
        n: 3000,
        noise: 0.2,
    };
    let a = small.expected_bayes_accuracy(50_000, &mut ChaCha8Rng::seed_from_u64(1));
    let b = large.expected_bayes_accuracy(50_000, &mut ChaCha8Rng::seed_from_u64(1));
    assert_eq!(a, b, "the spec's own size does not matter");
    let a = a.unwrap();
    assert!(
        (0.96..0.98).contains(&a),
        "moons expected Bayes accuracy {a}"
    );
    let csv = DatasetSpec::Csv {
        path: "x.csv".into(),
    };
    assert_eq!(csv.expected_bayes_accuracy(100, &mut rng), None);
}

#[test]
fn m2_split_keeps_every_point_once() {
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let d = DatasetSpec::Moons { n: 90, noise: 0.1 }
        .build(Path::new("."), &mut rng)
        .unwrap();
    let (tr, va) = d.split(1.0 / 3.0, &mut rng).unwrap();
    assert_eq!((tr.len(), va.len()), (60, 30));
    let mut all: Vec<_> = tr
        .points
        .iter()
        .chain(&va.points)
        .map(|p| (p[0].to_bits(), p[1].to_bits()))
        .collect();
    all.sort();
    let mut orig: Vec<_> = d
        .points
        .iter()
        .map(|p| (p[0].to_bits(), p[1].to_bits()))
        .collect();
    orig.sort();
    assert_eq!(all, orig);
}

#[test]
fn m2_csv_header_is_optional() {
    let with = parse_csv("x1,x2,label\n0.5,1.0,0\n-1,2e-1,1\n", "a.csv").unwrap();
    let without = parse_csv("0.5,1.0,0\n\n# a comment\n-1,2e-1,1\n", "b.csv").unwrap();
    assert_eq!(with, without);
    assert_eq!(with.points, vec![[0.5, 1.0], [-1.0, 0.2]]);
    assert_eq!(with.labels, vec![0, 1]);
    assert_eq!(with.classes, 2);
}

#[test]
fn m2_csv_errors_name_file_line_and_problem() {
    let cases = [
        ("x1,x2,label\n0,0,0\n1,1\n", "pts.csv:3", "expected 3"),
        ("0,0,0\n1,abc,1\n", "pts.csv:2", "x2 \"abc\""),
        ("0,0,0\n1,1,-1\n", "pts.csv:2", "label \"-1\""),
        ("0,0,0\nnan,1,1\n", "pts.csv:2", "x1 \"nan\""),
        ("0,0,1\n1,1,0\nx1,x2,label\n", "pts.csv:3", "x1 \"x1\""),
        ("x1,x2,label\n", "pts.csv", "no data rows"),
        ("0,0,0\n1,1,0\n", "pts.csv", "at least two classes"),
    ];
    for (text, location, problem) in cases {
        let err = parse_csv(text, "pts.csv").unwrap_err().to_string();
        assert!(err.contains(location), "{err:?} should name {location}");
        assert!(err.contains(problem), "{err:?} should say {problem}");
    }
    // A missing file names the path.
    let err = load_csv(Path::new("/nonexistent/points.csv")).unwrap_err();
    assert!(format!("{err:#}").contains("/nonexistent/points.csv"));
}

#[test]
fn m2_csv_file_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mine.csv");
    std::fs::write(&path, "x1,x2,label\n0,0,0\n1,1,1\n2,2,2\n").unwrap();
    let spec = DatasetSpec::Csv {
        path: "mine.csv".into(),
    };
    assert_eq!(spec.name(), "mine");
    let d = spec
        .build(dir.path(), &mut ChaCha8Rng::seed_from_u64(0))
        .unwrap();
    assert_eq!(d.classes, 3);
    assert_eq!(d.len(), 3);
}
