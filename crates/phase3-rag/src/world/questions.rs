//! Questions, written to paraphrase the documents rather than quote them: the lookup phrasings
//! below share no attribute word with the sentence templates of `text.rs` ("come into the world"
//! for "was born", "on its payroll" for "works for"), so a retriever must match the entity and
//! understand the attribute, not the other way round.
//!
//! No fact is asked twice (a set of asked keys), so training and test questions never share one:
//! a dense encoder trained on "What year did X come into the world?" must not be tested on "X
//! entered the world in what year?".

use std::collections::HashSet;

use rand::seq::SliceRandom;
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::text::fill;
use super::{Entity, Hop, Question, QuestionKind, Relation, Split, World};

/// Lookup phrasings per relation; `{X}` is the entity's name.
fn lookup_templates(entity: Entity, relation: Relation) -> &'static [&'static str] {
    use Relation::*;
    match (entity, relation) {
        (_, BirthYear) => &[
            "What year did {X} come into the world?",
            "In which year did {X} enter the world?",
            "{X} entered the world in what year?",
        ],
        (_, Birthplace) => &[
            "What is {X}'s hometown?",
            "In which city did {X} come into the world?",
            "Where does {X} originally come from?",
        ],
        (_, AlmaMater) => &[
            "Which university did {X} attend?",
            "Which institution educated {X}?",
            "Where did {X} receive an education?",
        ],
        (_, Employer) => &[
            "Who is {X}'s employer?",
            "Which company pays {X}'s salary?",
            "Which firm has {X} on its payroll?",
        ],
        (Entity::Company(_), FoundingYear) => &[
            "In what year did {X} open its doors?",
            "When did {X} come into existence?",
            "What year was {X} brought to life?",
        ],
        (Entity::University(_), FoundingYear) => &[
            "When did {X} come into existence?",
            "In what year did {X} start teaching?",
            "What year did {X} begin teaching?",
        ],
        (_, FoundingYear) => &[
            "When did {X} come into existence?",
            "In what year was {X} first built?",
        ],
        (_, Founder) => &[
            "Which person set up {X}?",
            "Who is the person behind the creation of {X}?",
            "Who brought {X} to life?",
        ],
        (_, Headquarters) => &[
            "In which city does {X} have its main office?",
            "Which city is home to {X}?",
            "Where are {X}'s central offices?",
        ],
        (_, Country) => &[
            "Which country is {X} part of?",
            "{X} belongs to which country?",
            "In which nation is {X} situated?",
        ],
        (_, Location) => &["Which city hosts {X}?", "In which city can {X} be found?"],
    }
}

fn relations_of(entity: Entity) -> &'static [Relation] {
    use Relation::*;
    match entity {
        Entity::Person(_) => &[BirthYear, Birthplace, AlmaMater, Employer],
        Entity::Company(_) => &[FoundingYear, Founder, Headquarters],
        Entity::City(_) => &[Country, FoundingYear],
        Entity::University(_) => &[Location, FoundingYear],
    }
}

/// The value of `entity`'s `relation`, and the entity that value names (if any).
pub(super) fn value(world: &World, entity: Entity, relation: Relation) -> (String, Option<Entity>) {
    use Relation::*;
    let named = |e: Entity| (world.name(e).to_string(), Some(e));
    match (entity, relation) {
        (Entity::Person(i), _) => {
            let p = &world.people[i as usize];
            match relation {
                BirthYear => (p.birth_year.to_string(), None),
                Birthplace => named(Entity::City(p.birthplace)),
                AlmaMater => named(Entity::University(p.alma_mater)),
                Employer => named(Entity::Company(p.employer)),
                _ => unreachable!("people have no {relation:?}"),
            }
        }
        (Entity::Company(i), _) => {
            let c = &world.companies[i as usize];
            match relation {
                FoundingYear => (c.founded.to_string(), None),
                Founder => named(Entity::Person(c.founder)),
                Headquarters => named(Entity::City(c.headquarters)),
                _ => unreachable!("companies have no {relation:?}"),
            }
        }
        (Entity::City(i), _) => {
            let c = &world.cities[i as usize];
            match relation {
                FoundingYear => (c.founded.to_string(), None),
                Country => (world.countries[c.country as usize].clone(), None),
                _ => unreachable!("cities have no {relation:?}"),
            }
        }
        (Entity::University(i), _) => {
            let u = &world.universities[i as usize];
            match relation {
                FoundingYear => (u.founded.to_string(), None),
                Location => named(Entity::City(u.city)),
                _ => unreachable!("universities have no {relation:?}"),
            }
        }
    }
}

struct Builder<'w> {
    world: &'w World,
    asked: HashSet<String>,
    questions: Vec<Question>,
}

/// The year a hop states.
fn year(step: &Step) -> i32 {
    step.0.value.parse().expect("years are integers")
}

/// A hop, its subject, and the entity its value names (if any).
type Step = (Hop, Entity, Option<Entity>);

impl Builder<'_> {
    fn hop(&self, entity: Entity, relation: Relation) -> Step {
        let (value, named) = value(self.world, entity, relation);
        let hop = Hop {
            doc_id: entity.doc_id(),
            subject: self.world.name(entity).to_string(),
            relation,
            value,
            sentence: self.world.sentence(entity, relation),
        };
        (hop, entity, named)
    }

    /// Records a question unless `key` (the fact or facts it asks) was asked before.
    #[allow(clippy::too_many_arguments)]
    fn push(
        &mut self,
        rng: &mut ChaCha8Rng,
        key: String,
        kind: QuestionKind,
        phrasing: Phrasing,
        text: String,
        answer: String,
        steps: Vec<Step>,
    ) {
        if !self.asked.insert(key) {
            return;
        }
        let mut gold_doc_ids: Vec<String> = Vec::new();
        let mut entities: Vec<Entity> = Vec::new();
        let mut chain = Vec::with_capacity(steps.len());
        for (hop, subject, named) in steps {
            for e in [Some(subject), named].into_iter().flatten() {
                if !entities.contains(&e) {
                    entities.push(e);
                }
            }
            if !gold_doc_ids.contains(&hop.doc_id) {
                gold_doc_ids.push(hop.doc_id.clone());
            }
            chain.push(hop);
        }
        let held_out = entities.iter().any(|&e| self.world.is_held_out(e));
        // Drawn for every question, held out or not, so one question's flag does not shift the
        // draws of the next.
        let train = rng.gen_bool(self.world.config.train_fraction) && !held_out;
        self.questions.push(Question {
            id: format!("q{}", self.questions.len()),
            kind,
            text,
            template: phrasing.0,
            templates: phrasing.1,
            answer,
            gold_doc_ids,
            chain,
            entities: entities.into_iter().map(Entity::doc_id).collect(),
            split: if held_out {
                Split::HeldOut
            } else {
                Split::Seen
            },
            train,
        });
    }

    fn random_entity(&self, rng: &mut ChaCha8Rng) -> Entity {
        self.world
            .entity(rng.gen_range(0..self.world.num_documents()))
    }

    fn lookup(&mut self, rng: &mut ChaCha8Rng) {
        let entity = self.random_entity(rng);
        let relation = *relations_of(entity).choose(rng).expect("non-empty");
        let templates = lookup_templates(entity, relation);
        let template = *templates.choose(rng).expect("non-empty");
        let step = self.hop(entity, relation);
        let answer = step.0.value.clone();
        let name = self.world.name(entity);
        let key = format!("{}/{relation:?}", entity.doc_id());
        self.push(
            rng,
            key,
            QuestionKind::Lookup,
            phrasing(templates, template),
            phrase(template, &[("X", name)]),
            answer,
            vec![step],
        );
    }

    /// A company's fact, the company named only as "the company that X set up" (every company
    /// has its own founder, so this names one company).
    fn indirect(&mut self, rng: &mut ChaCha8Rng) {
        let company = Entity::Company(rng.gen_range(0..self.world.companies.len()) as u32);
        let (relation, templates): (Relation, &[&str]) = if rng.gen_bool(0.5) {
            (
                Relation::FoundingYear,
                &[
                    "In what year did the company that {X} set up open its doors?",
                    "When did the firm created by {X} come into existence?",
                ],
            )
        } else {
            (
                Relation::Headquarters,
                &[
                    "Which city is home to the company that {X} set up?",
                    "In which city does the firm created by {X} have its main office?",
                ],
            )
        };
        let template = *templates.choose(rng).expect("non-empty");
        let founder = self.hop(company, Relation::Founder);
        let fact = self.hop(company, relation);
        let founder_name = founder.0.value.clone();
        let answer = fact.0.value.clone();
        // Same key as the lookup of this fact: it is the same fact.
        let key = format!("{}/{relation:?}", company.doc_id());
        self.push(
            rng,
            key,
            QuestionKind::Indirect,
            phrasing(templates, template),
            phrase(template, &[("X", &founder_name)]),
            answer,
            vec![founder, fact],
        );
    }

    /// Two documents: the first hop's value names the entity whose document holds the answer.
    fn multi_hop(&mut self, rng: &mut ChaCha8Rng) {
        use Relation::*;
        let w = self.world;
        let person = Entity::Person(rng.gen_range(0..w.people.len()) as u32);
        let company = Entity::Company(rng.gen_range(0..w.companies.len()) as u32);
        let (start, first, second, templates): (Entity, Relation, Relation, &[&str]) =
            match rng.gen_range(0..6) {
                0 => (
                    person,
                    Employer,
                    Headquarters,
                    &[
                        "Where is the company that employs {X} headquartered?",
                        "In which city is {X}'s employer based?",
                    ],
                ),
                1 => (
                    company,
                    Founder,
                    Birthplace,
                    &[
                        "In which city was the founder of {X} born?",
                        "Where does the person who set up {X} come from?",
                    ],
                ),
                2 => (
                    person,
                    AlmaMater,
                    Location,
                    &[
                        "In which city did {X} go to university?",
                        "Where is the university that {X} graduated from?",
                    ],
                ),
                3 => (
                    person,
                    Employer,
                    Founder,
                    &[
                        "Who set up the company that {X} works for?",
                        "Who founded {X}'s employer?",
                    ],
                ),
                4 => (
                    person,
                    Birthplace,
                    Country,
                    &[
                        "In which country was {X} born?",
                        "What country does {X} come from?",
                    ],
                ),
                _ => (
                    company,
                    Headquarters,
                    Country,
                    &[
                        "In which country is {X} headquartered?",
                        "Which country is {X} based in?",
                    ],
                ),
            };
        let template = *templates.choose(rng).expect("non-empty");
        let step1 = self.hop(start, first);
        let middle = step1.2.expect("multi-hop first relations name an entity");
        let step2 = self.hop(middle, second);
        let answer = step2.0.value.clone();
        let key = format!("{}/{first:?}/{second:?}", start.doc_id());
        self.push(
            rng,
            key,
            QuestionKind::MultiHop,
            phrasing(templates, template),
            phrase(template, &[("X", w.name(start))]),
            answer,
            vec![step1, step2],
        );
    }

    /// The difference of two years from two documents; the phrasing follows which came first.
    fn numeric(&mut self, rng: &mut ChaCha8Rng) {
        let w = self.world;
        let p = rng.gen_range(0..w.people.len());
        let c = rng.gen_range(0..w.companies.len());
        let u = rng.gen_range(0..w.universities.len());
        // Phrasings for when A came after B, and for when A came first.
        type Phrasings = &'static [&'static str];
        let (a, a_rel, b, b_rel, a_later, a_earlier): (_, _, _, _, Phrasings, Phrasings) =
            match rng.gen_range(0..3) {
                // A person and their employer (founded before or after their birth).
                0 => (
                    Entity::Person(p as u32),
                    Relation::BirthYear,
                    Entity::Company(w.people[p].employer),
                    Relation::FoundingYear,
                    &[
                        "How many years after {B} was founded was {A} born?",
                        "{A} arrived how many years after the founding of {B}?",
                    ],
                    &[
                        "How old was {A} when {B} was founded?",
                        "At what age did {A} see {B} get founded?",
                    ],
                ),
                // A founder and their company (always founded later).
                1 => (
                    Entity::Person(w.companies[c].founder),
                    Relation::BirthYear,
                    Entity::Company(c as u32),
                    Relation::FoundingYear,
                    &["How many years after {B} was founded was {A} born?"],
                    &[
                        "How old was {A} when they set up {B}?",
                        "At what age did {A} start {B}?",
                    ],
                ),
                // A university and its city (the city always came first).
                _ => (
                    Entity::University(u as u32),
                    Relation::FoundingYear,
                    Entity::City(w.universities[u].city),
                    Relation::FoundingYear,
                    &[
                        "How many years after {B} was founded was {A} established?",
                        "How old was {B} when {A} opened?",
                    ],
                    &["How many years before {B} was founded was {A} established?"],
                ),
            };
        let step_a = self.hop(a, a_rel);
        let step_b = self.hop(b, b_rel);
        let (ya, yb) = (year(&step_a), year(&step_b));
        if ya == yb {
            return;
        }
        let phrasings = if ya > yb { a_later } else { a_earlier };
        let template = *phrasings.choose(rng).expect("non-empty");
        let key = format!("num/{}/{}", a.doc_id(), b.doc_id());
        self.push(
            rng,
            key,
            QuestionKind::Numeric,
            phrasing(phrasings, template),
            phrase(template, &[("A", w.name(a)), ("B", w.name(b))]),
            (ya - yb).abs().to_string(),
            vec![step_a, step_b],
        );
    }

    /// Which of two entities of a kind is older; half the time a near-duplicate pair, where a
    /// retriever that mixes the two names up cannot answer.
    fn comparison(&mut self, rng: &mut ChaCha8Rng) {
        let w = self.world;
        let pair = if rng.gen_bool(0.5) && !w.near_duplicates.is_empty() {
            *w.near_duplicates.choose(rng).expect("non-empty")
        } else {
            match rng.gen_range(0..3) {
                0 => (
                    Entity::Person(rng.gen_range(0..w.people.len()) as u32),
                    Entity::Person(rng.gen_range(0..w.people.len()) as u32),
                ),
                1 => (
                    Entity::Company(rng.gen_range(0..w.companies.len()) as u32),
                    Entity::Company(rng.gen_range(0..w.companies.len()) as u32),
                ),
                _ => (
                    Entity::University(rng.gen_range(0..w.universities.len()) as u32),
                    Entity::University(rng.gen_range(0..w.universities.len()) as u32),
                ),
            }
        };
        let (a, b) = if rng.gen_bool(0.5) {
            pair
        } else {
            (pair.1, pair.0)
        };
        if a == b {
            return;
        }
        let (relation, templates): (Relation, &[&str]) = match a {
            Entity::Person(_) => (
                Relation::BirthYear,
                &[
                    "Who is older, {A} or {B}?",
                    "Who was born first, {A} or {B}?",
                ],
            ),
            Entity::Company(_) => (
                Relation::FoundingYear,
                &[
                    "Which company is older, {A} or {B}?",
                    "Which was founded first, {A} or {B}?",
                ],
            ),
            _ => (
                Relation::FoundingYear,
                &[
                    "Which university is older, {A} or {B}?",
                    "Which was established first, {A} or {B}?",
                ],
            ),
        };
        let step_a = self.hop(a, relation);
        let step_b = self.hop(b, relation);
        let (ya, yb) = (year(&step_a), year(&step_b));
        if ya == yb {
            return;
        }
        let answer = if ya < yb { w.name(a) } else { w.name(b) };
        let (lo, hi) = if a.doc_id() < b.doc_id() {
            (a, b)
        } else {
            (b, a)
        };
        let key = format!("cmp/{}/{}", lo.doc_id(), hi.doc_id());
        let template = *templates.choose(rng).expect("non-empty");
        self.push(
            rng,
            key,
            QuestionKind::Comparison,
            phrasing(templates, template),
            phrase(template, &[("A", w.name(a)), ("B", w.name(b))]),
            answer.to_string(),
            vec![step_a, step_b],
        );
    }
}

/// Which of how many phrasings a question was written with.
type Phrasing = (usize, usize);

fn phrasing(templates: &[&str], chosen: &str) -> Phrasing {
    let i = templates
        .iter()
        .position(|t| *t == chosen)
        .expect("the chosen template is one of them");
    (i, templates.len())
}

/// Adds one question of its kind to the builder, or nothing if the draw was a repeat.
type Make<'w> = fn(&mut Builder<'w>, &mut ChaCha8Rng);

/// A question's text: `template` with its slots filled.
fn phrase(template: &str, slots: &[(&str, &str)]) -> String {
    let mut text = String::new();
    fill(template, slots, &mut text);
    text
}

/// Every lookup question about `entity`: each of its relations in each phrasing, ids
/// `"{doc_id}/{relation}/{phrasing}"`. Not part of the world's question set (which asks each fact
/// once); the reader's training examples (m8) are drawn from these for seen entities.
pub(super) fn lookups_of(world: &World, entity: Entity) -> Vec<Question> {
    let b = Builder {
        world,
        asked: HashSet::new(),
        questions: Vec::new(),
    };
    let mut out = Vec::new();
    for &relation in relations_of(entity) {
        for (i, template) in lookup_templates(entity, relation).iter().enumerate() {
            let (hop, subject, named) = b.hop(entity, relation);
            let involved: Vec<Entity> = [Some(subject), named].into_iter().flatten().collect();
            // As in the world's question set: held out if any entity it involves is.
            let held_out = involved.iter().any(|&e| world.is_held_out(e));
            let entities = involved.into_iter().map(Entity::doc_id).collect();
            out.push(Question {
                id: format!("{}/{relation:?}/{i}", entity.doc_id()),
                kind: QuestionKind::Lookup,
                text: phrase(template, &[("X", world.name(entity))]),
                template: i,
                templates: lookup_templates(entity, relation).len(),
                answer: hop.value.clone(),
                gold_doc_ids: vec![hop.doc_id.clone()],
                chain: vec![hop],
                entities,
                split: if held_out {
                    Split::HeldOut
                } else {
                    Split::Seen
                },
                train: !held_out,
            });
        }
    }
    out
}

/// All questions of the world, kind by kind. A kind may come out short in a tiny world where
/// there are fewer distinct facts than asked for (draws stop after a bounded number of tries).
pub(super) fn generate<'w>(world: &'w World, rng: &mut ChaCha8Rng) -> Vec<Question> {
    let c = &world.config;
    let mut b = Builder {
        world,
        asked: HashSet::new(),
        questions: Vec::new(),
    };
    let kinds: [(usize, Make<'w>); 5] = [
        (c.lookup_questions, Builder::lookup),
        (c.indirect_questions, Builder::indirect),
        (c.multi_hop_questions, Builder::multi_hop),
        (c.numeric_questions, Builder::numeric),
        (c.comparison_questions, Builder::comparison),
    ];
    for (target, make) in kinds {
        // Each draw adds at most one question, of this kind.
        let before = b.questions.len();
        for _ in 0..target * 20 + 100 {
            if b.questions.len() - before >= target {
                break;
            }
            make(&mut b, rng);
        }
    }
    b.questions
}

/// `n` fresh questions of `kind` that `keep` accepts, drawn with `rng` (at most `n × 50 + 100`
/// draws, so fewer when few facts qualify). Independent of the world's own question set: facts it
/// asks may be asked again, in any phrasing; ids are `"{prefix}{i}"`.
pub(super) fn draw(
    world: &World,
    kind: QuestionKind,
    n: usize,
    rng: &mut ChaCha8Rng,
    prefix: &str,
    keep: &dyn Fn(&Question) -> bool,
) -> Vec<Question> {
    let make: Make = match kind {
        QuestionKind::Lookup => Builder::lookup,
        QuestionKind::Indirect => Builder::indirect,
        QuestionKind::MultiHop => Builder::multi_hop,
        QuestionKind::Numeric => Builder::numeric,
        QuestionKind::Comparison => Builder::comparison,
    };
    let mut b = Builder {
        world,
        asked: HashSet::new(),
        questions: Vec::new(),
    };
    let mut out = Vec::with_capacity(n);
    for _ in 0..n * 50 + 100 {
        if out.len() >= n {
            break;
        }
        make(&mut b, rng);
        if let Some(mut q) = b.questions.pop() {
            if keep(&q) {
                q.id = format!("{prefix}{}", out.len());
                out.push(q);
            }
        }
    }
    out
}
