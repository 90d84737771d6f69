//! m10 and m12 end to end on small data written here: evaluation never calls the scripted planner,
//! and an agent — and every system of m12, the team included — runs through the OpenAI-compatible
//! client against a real local server, step for step as it runs in process.

use std::sync::Arc;

use openai_client::{ClientConfig, OpenAiLm};
use phase2_lm::generate::Sampling;
use phase2_lm::generator::{Generator, Loaded};
use phase2_lm::lm::GptLm;
use phase2_lm::model::GptConfig;
use phase2_lm::tokenizer::{AnyTokenizer, CharTokenizer, Tokenizer};
use phase2_lm::train::{RunConfig, TrainConfig, Trainer};
use phase3_rag::world::{QuestionKind, Split, World, WorldConfig};
use phase4_agents::backend::Models;
use phase4_agents::planner;
use phase4_agents::react::{self, AgentConfig};
use phase4_agents::tools::{Calc, Corpus, Finish, Tool, Toolset};
use phase4_experiments::{m10, m12};
use serve::registry::Registry;
use serve::server::{self, ServerConfig};

const DEMO: &str = "Tools: calc[expression], finish[answer]\nQuestion: What is six times seven?\nThought: I know it.\nAction: finish[42]\n\n";

fn train_config(steps: usize) -> TrainConfig {
    toml::from_str(&format!(
        "steps = {steps}\nbatch_size = 4\nmax_lr = 1e-2\nmin_lr = 1e-3\nwarmup = 5\neval_interval = 100\neval_iters = 1\nseed = 5"
    ))
    .unwrap()
}

/// A tiny GPT trained on `text` for `steps` steps, reading `block` tokens; its vocabulary is every
/// printable ASCII character and those of `text` (so any observation can be encoded).
fn tiny(text: &str, block: usize, steps: usize) -> (GptConfig, Vec<f32>, AnyTokenizer) {
    let ascii: String = (' '..='~').collect();
    let tok: AnyTokenizer = CharTokenizer::from_text(&format!("{ascii}\n{text}")).into();
    let ids = tok.encode(&text.repeat(4));
    let model = GptConfig {
        vocab_size: tok.vocab_size(),
        block_size: block,
        n_layer: 2,
        n_head: 2,
        d_model: 32,
        pos_emb: true,
    };
    let mut trainer = Trainer::new(RunConfig {
        model: model.clone(),
        train: train_config(steps.max(1)),
    })
    .unwrap();
    for _ in 0..steps {
        trainer.step(&ids).unwrap();
    }
    (model, trainer.params().to_vec(), tok)
}

/// The model saved as a checkpoint and served on loopback under `name` (the directory lives as long
/// as the returned guard).
fn serve(
    model: &GptConfig,
    params: &[f32],
    tok: &AnyTokenizer,
    name: &str,
) -> (tempfile::TempDir, server::Running) {
    let dir = tempfile::tempdir().unwrap();
    let trainer = Trainer::from_params(
        RunConfig {
            model: model.clone(),
            train: train_config(1),
        },
        params.to_vec(),
    )
    .unwrap();
    let ckpt = dir.path().join(name);
    phase2_lm::checkpoint::save(&ckpt, &trainer, tok).unwrap();
    let registry = Registry::load(&[(name.to_string(), ckpt)]).unwrap();
    (
        dir,
        server::spawn(ServerConfig::local(registry, 0)).unwrap(),
    )
}

fn greedy() -> Sampling {
    Sampling {
        temperature: 0.0,
        top_k: None,
        top_p: None,
    }
}

#[test]
fn m10_evaluation_never_calls_the_scripted_planner() {
    let world = Arc::new(World::generate(&WorldConfig::default()).unwrap());
    let corpus = Arc::new(Corpus::of(&world).unwrap());
    let tasks = m10::tasks(
        &world,
        &[QuestionKind::MultiHop, QuestionKind::Numeric],
        2,
        1,
        "t-",
        &|q| q.split == Split::HeldOut,
    );
    assert_eq!(tasks.len(), 4);
    // The counter does count: one demonstration is one call.
    let before = planner::calls();
    let mut tools = Toolset::Search.build(&corpus, &world, 1);
    let _ = planner::demonstrate(&tasks[0], Toolset::Search, &mut tools, false, true);
    assert_eq!(planner::calls(), before + 1);
    // A policy that knows every character of the world's documents, barely trained.
    let text: String = world
        .documents()
        .map(|d| format!("* {}: {}\n", d.title, d.text))
        .chain(tasks.iter().map(|q| format!("{}\n", q.text)))
        .collect::<String>()
        + DEMO
        + "search[]lookup;";
    let (model, params, tok) = tiny(&text, 256, 1);
    let agent = AgentConfig {
        max_steps: 2,
        step_tokens: 8,
        describe_tools: false,
        constrain: false,
    };
    let at = planner::calls();
    let outcomes = m10::evaluate(
        &model,
        &params,
        &tok,
        &tasks,
        Toolset::Search,
        &corpus,
        &world,
        1,
        &agent,
        2,
        &|| {},
    )
    .unwrap();
    assert_eq!(outcomes.len(), 4);
    assert!(outcomes.iter().all(|o| !o.episode.steps.is_empty()));
    assert_eq!(planner::calls(), at, "evaluation called the planner");
}

#[test]
fn m10_an_agent_runs_through_the_openai_client_as_it_runs_in_process() {
    // An untrained model: what it writes is noise, but greedy noise, the same in process and over
    // HTTP; every turn goes through the loop's parsing and error handling either way.
    let (model, params, tok) = tiny(DEMO, 512, 0);
    let (_dir, running) = serve(&model, &params, &tok, "agent");
    let cfg = AgentConfig {
        max_steps: 3,
        step_tokens: 20,
        describe_tools: false,
        constrain: false,
    };
    let tools = || -> Vec<Box<dyn Tool>> { vec![Box::new(Calc), Box::new(Finish)] };
    let question = "What is six times seven?";

    let mut remote =
        OpenAiLm::new(ClientConfig::new(format!("{}/v1", running.url()), "agent")).unwrap();
    let over_http = react::run(&mut remote, &mut tools(), question, &cfg, 0);
    let mut local = GptLm::new(
        "agent",
        Generator::new(&model, &params[..], tok.clone(), greedy()).unwrap(),
    );
    let in_process = react::run(&mut local, &mut tools(), question, &cfg, 0);

    assert_eq!(over_http.steps.len(), 3, "{}", over_http.transcript());
    assert_eq!(over_http.steps, in_process.steps);
    assert_eq!(over_http.end, in_process.end);
    assert!(over_http
        .steps
        .iter()
        .all(|s| s.prompt_tokens > 0 && s.completion_tokens > 0));
    running.stop().unwrap();
}

/// m12's config for a smoke suite: every system, tiny budgets, no sampling on send-back (so the
/// served and the in-process model agree token for token).
fn eval_config() -> m12::EvalConfig {
    toml::from_str(
        "suite_seed = 3\nkinds = [\"lookup\", \"multi_hop\", \"numeric\", \"comparison\"]\n\
         tasks = 1\nsystems = [\"closed_book\", \"rag\", \"react_search\", \"react_lookup\", \"team\"]\n\
         search_k = 1\nrag_k = 1\nanswer_tokens = 6\nretry_temperature = 0.0\nworkers = 2\n\
         [agent]\nmax_steps = 2\nstep_tokens = 8\n\
         [team]\nplan_tokens = 12\nmax_sub_questions = 2\nsend_back = true\n\
         [team.solver]\nmax_steps = 1\nstep_tokens = 8\n",
    )
    .unwrap()
}

#[test]
fn m12_every_system_runs_without_the_planner_and_the_same_over_http() {
    let world = Arc::new(World::generate(&WorldConfig::default()).unwrap());
    let corpus = Arc::new(Corpus::of(&world).unwrap());
    let cfg = eval_config();
    let suite = m12::suite(&world, &cfg);
    assert_eq!(suite.len(), 4);
    let text: String = world
        .documents()
        .map(|d| format!("* {}: {}\n", d.title, d.text))
        .collect::<String>()
        + DEMO
        + "Plan: Check: Verdict: yes no Q: A: #[];";
    let (model, params, tok) = tiny(&text, 512, 0);
    let (_dir, running) = serve(&model, &params, &tok, "policy");
    let own = Models::Own(Loaded {
        config: model,
        params,
        tokenizer: tok,
    });
    let served = Models::OpenAi(ClientConfig::new(format!("{}/v1", running.url()), "policy"));
    let at = planner::calls();
    // The tuned RAGs read the k a dev suite chose: here 2 documents per retrieval for every kind.
    let dev = m12::dev::DevChoice {
        tasks: 0,
        cells: Vec::new(),
        chosen: m12::dev::TUNED
            .iter()
            .flat_map(|&s| cfg.kinds.iter().map(move |&k| (s, k, 2)))
            .collect(),
        right: Vec::new(),
        baseline: m12::System::Rag,
        agent_right: Vec::new(),
        agent: m12::System::ReactSearch,
    };
    // A served model cannot constrain its decoding: m12 refuses that pair (tested in m12).
    let systems = m12::System::ALL
        .into_iter()
        .filter(|&s| s != m12::System::ReactSearchConstrained);
    for system in systems {
        let run = |models: &Models| {
            m12::run_system(
                system,
                &suite,
                models,
                &corpus,
                &world,
                &cfg,
                Some(&dev),
                &|| {},
            )
            .unwrap()
        };
        let (a, b) = (run(&own), run(&served));
        assert_eq!(a.len(), 4, "{system}");
        assert!(a.iter().all(|o| o.model_calls >= 1), "{system}");
        let view = |os: &[m12::Outcome]| -> Vec<(Option<String>, usize, usize)> {
            os.iter()
                .map(|o| (o.answer.clone(), o.model_calls, o.tool_errors))
                .collect()
        };
        assert_eq!(view(&a), view(&b), "{system}: in process vs over HTTP");
    }
    assert_eq!(
        planner::calls(),
        at,
        "an evaluated system called the planner"
    );
    running.stop().unwrap();
}
