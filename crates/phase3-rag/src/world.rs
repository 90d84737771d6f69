//! A generated world with controlled ground truth: retrieval you can trust needs questions whose
//! answers and supporting documents are known exactly, at any scale, without a human labelling
//! anything.
//!
//! A seeded generator invents people, companies, cities and universities (names from syllable
//! generators, so no real person can turn up), links them (birthplace, employer, alma mater,
//! founder, headquarters…), writes one short document per entity from varied sentence templates,
//! and asks questions whose wording paraphrases the documents' ("was born in 1961" ↔ "What year
//! did X come into the world?"), so that the attribute words never match and only the entity's
//! name can. It is built to be hard for BM25 on purpose: near-duplicate names ("Halvard Steen" /
//! "Halvard Steene", "Norvik Labs" / "Norvik Lab Systems"), first names and surnames shared
//! across people, entities named only indirectly ("the company that Halvard Steen set up": the
//! founder's own document matches best, the company's is the gold one), and multi-hop, numeric
//! and comparison questions whose evidence is spread over two documents. A lookup that names its
//! entity in full stays easy for exact matching — the control condition the others are read
//! against.
//!
//! Every question carries its reasoning chain — the `(document, fact)` hops that answer it — which
//! the reader (m8) and the agents (phase 4) are scored against.
//!
//! Entities are split into *seen* and *held-out* by a hash of their id; a question touching a
//! held-out entity is held-out, and only seen questions may be training questions (for the dense
//! encoder), so test numbers on held-out questions measure generalisation to unseen entities.
//!
//! Documents are not stored: each is rendered on demand from its entity and an RNG stream of its
//! own, so [`World::write_beir`] streams a million documents in constant extra memory, and the
//! same configuration always gives byte-identical files.

mod names;
mod questions;
mod text;
mod write;

use std::collections::HashSet;

use anyhow::{ensure, Result};
use rand::seq::index;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// What to generate. Missing fields take the [`Default`] values (a small world for tests).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WorldConfig {
    pub seed: u64,
    pub people: usize,
    /// At most `people`: every company has its own founder.
    pub companies: usize,
    pub cities: usize,
    pub universities: usize,
    /// Distinct countries the cities lie in.
    pub countries: usize,
    /// Probability that an entity is held out (never in a training question).
    pub held_out_fraction: f64,
    /// Probability that a person, company or university is named after an earlier one of its
    /// kind with a one-letter or one-word difference.
    pub near_duplicate_fraction: f64,
    /// Questions about one fact of a named entity.
    pub lookup_questions: usize,
    /// Questions naming a company only through its founder; answered by the company's document.
    pub indirect_questions: usize,
    /// Two-document questions: the answer is in a document that the first document points to.
    pub multi_hop_questions: usize,
    /// Arithmetic on two years from two documents.
    pub numeric_questions: usize,
    /// Which of two entities is older.
    pub comparison_questions: usize,
    /// Probability that a seen question is a training question; the rest are test questions.
    pub train_fraction: f64,
}

impl Default for WorldConfig {
    fn default() -> Self {
        WorldConfig {
            seed: 7,
            people: 200,
            companies: 60,
            cities: 30,
            universities: 20,
            countries: 6,
            held_out_fraction: 0.2,
            near_duplicate_fraction: 0.15,
            lookup_questions: 300,
            indirect_questions: 40,
            multi_hop_questions: 100,
            numeric_questions: 50,
            comparison_questions: 50,
            train_fraction: 0.5,
        }
    }
}

impl WorldConfig {
    /// A world of about `docs` documents in the default proportions (60 % people, 20 %
    /// companies, 10 % cities, 10 % universities), with the default question counts.
    pub fn with_documents(seed: u64, docs: usize) -> WorldConfig {
        let companies = docs / 5;
        let cities = (docs / 10).max(1);
        let universities = (docs / 10).max(1);
        let people = docs
            .saturating_sub(companies + cities + universities)
            .max(1);
        WorldConfig {
            seed,
            people,
            companies: companies.min(people),
            cities,
            universities,
            countries: (cities / 5).clamp(1, 200),
            ..WorldConfig::default()
        }
    }
}

/// One entity of the world; its document id is [`Entity::doc_id`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Entity {
    Person(u32),
    Company(u32),
    City(u32),
    University(u32),
}

impl Entity {
    /// `person-12`, `company-3`, `city-0`, `university-5`.
    pub fn doc_id(self) -> String {
        match self {
            Entity::Person(i) => format!("person-{i}"),
            Entity::Company(i) => format!("company-{i}"),
            Entity::City(i) => format!("city-{i}"),
            Entity::University(i) => format!("university-{i}"),
        }
    }

    fn tag_and_index(self) -> (u64, u32) {
        match self {
            Entity::Person(i) => (1, i),
            Entity::Company(i) => (2, i),
            Entity::City(i) => (3, i),
            Entity::University(i) => (4, i),
        }
    }

    /// The entity's own RNG stream number (documents are rendered from it, independently of
    /// each other and of generation order).
    fn stream(self) -> u64 {
        let (tag, index) = self.tag_and_index();
        (tag << 32) | u64::from(index)
    }
}

/// A fact a document states and a question asks about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Relation {
    BirthYear,
    Birthplace,
    AlmaMater,
    Employer,
    /// Of a company, a city or a university.
    FoundingYear,
    Founder,
    Headquarters,
    /// The country a city lies in.
    Country,
    /// The city a university is in.
    Location,
}

/// One step of a reasoning chain: in document `doc_id`, the sentence `sentence` states that
/// `subject`'s `relation` is `value` (`sentence` is verbatim from the document and contains
/// `value`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Hop {
    pub doc_id: String,
    pub subject: String,
    pub relation: Relation,
    pub value: String,
    pub sentence: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QuestionKind {
    /// One fact of an entity named in the question; the answer is the chain's last value.
    Lookup,
    /// One fact of a company named only through its founder; one document, two hops.
    Indirect,
    /// The answer is in the document the first hop's value names; the last value is the answer.
    MultiHop,
    /// The difference of the two hops' years.
    Numeric,
    /// The name of the hop subject with the earlier year.
    Comparison,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Split {
    Seen,
    HeldOut,
}

/// A question with everything needed to grade retrieval (gold documents) and reading (answer,
/// chain).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Question {
    pub id: String,
    pub kind: QuestionKind,
    pub text: String,
    /// Which phrasing of its kind wrote `text`, of `templates` (phase 4 holds some out of training).
    #[serde(default)]
    pub template: usize,
    #[serde(default)]
    pub templates: usize,
    pub answer: String,
    /// Every document of the chain, in chain order, without repeats: all are relevant.
    pub gold_doc_ids: Vec<String>,
    pub chain: Vec<Hop>,
    /// Every entity the question involves (chain subjects and entity-valued answers), by doc id.
    pub entities: Vec<String>,
    /// Held-out if any of `entities` is held out.
    pub split: Split,
    /// Training question for the dense encoder (always seen); all others are test questions. No
    /// fact is asked twice, so training and test questions never share one.
    pub train: bool,
}

/// One document, as it goes into `corpus.jsonl`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Document {
    #[serde(rename = "_id")]
    pub id: String,
    pub title: String,
    pub text: String,
}

struct Person {
    name: String,
    female: bool,
    birth_year: u16,
    birthplace: u32,
    alma_mater: u32,
    employer: u32,
}

struct Company {
    name: String,
    founded: u16,
    founder: u32,
    headquarters: u32,
}

struct City {
    name: String,
    country: u32,
    founded: u16,
}

struct University {
    name: String,
    city: u32,
    founded: u16,
}

/// The generated world: entities, their links, and the questions. Documents are rendered on
/// demand ([`World::document`]).
pub struct World {
    config: WorldConfig,
    people: Vec<Person>,
    companies: Vec<Company>,
    cities: Vec<City>,
    universities: Vec<University>,
    countries: Vec<String>,
    /// Pairs of entities named as near-duplicates of each other.
    near_duplicates: Vec<(Entity, Entity)>,
    questions: Vec<Question>,
}

/// Draws names until one is new (names identify entities in questions, so they must be unique).
fn unique(
    taken: &mut HashSet<String>,
    rng: &mut ChaCha8Rng,
    mut draw: impl FnMut(&mut ChaCha8Rng) -> String,
) -> String {
    loop {
        let name = draw(rng);
        if taken.insert(name.to_lowercase()) {
            return name;
        }
    }
}

/// A name for entity `i` of a kind: with probability `p` a near-duplicate of an earlier one
/// (recorded in `pairs`), otherwise fresh.
#[allow(clippy::too_many_arguments)]
fn name_with_duplicates<'a>(
    i: usize,
    earlier: &dyn Fn(usize) -> &'a str,
    p: f64,
    taken: &mut HashSet<String>,
    rng: &mut ChaCha8Rng,
    fresh: &dyn Fn(&mut ChaCha8Rng) -> String,
    variant: fn(&mut ChaCha8Rng, &str) -> String,
    pairs: &mut Vec<(usize, usize)>,
) -> String {
    if i > 0 && rng.gen_bool(p) {
        let original = rng.gen_range(0..i);
        // A few tries: every variant of this name may already be taken.
        for _ in 0..4 {
            let candidate = variant(rng, earlier(original));
            if taken.insert(candidate.to_lowercase()) {
                pairs.push((original, i));
                return candidate;
            }
        }
    }
    unique(taken, rng, |r| fresh(r))
}

/// The checks on a configuration before anything is drawn.
fn check_config(c: &WorldConfig) -> Result<()> {
    ensure!(
        c.people > 0 && c.companies > 0 && c.cities > 0 && c.universities > 0 && c.countries > 0,
        "a world needs at least one entity of each kind and one country: {c:?}"
    );
    ensure!(
        c.companies <= c.people,
        "every company has its own founder, so companies ({}) must not exceed people ({})",
        c.companies,
        c.people
    );
    ensure!(
        u32::try_from(c.people.max(c.companies).max(c.cities).max(c.universities)).is_ok(),
        "entity counts must fit in u32"
    );
    for (what, p) in [
        ("held_out_fraction", c.held_out_fraction),
        ("near_duplicate_fraction", c.near_duplicate_fraction),
        ("train_fraction", c.train_fraction),
    ] {
        ensure!(
            (0.0..=1.0).contains(&p),
            "{what} must be in [0, 1], got {p}"
        );
    }
    Ok(())
}

/// The universities, each in a city that existed before it; near-duplicate name pairs are added
/// to `near_duplicates`.
fn draw_universities(
    c: &WorldConfig,
    cities: &[City],
    taken: &mut HashSet<String>,
    rng: &mut ChaCha8Rng,
    near_duplicates: &mut Vec<(Entity, Entity)>,
) -> Vec<University> {
    let mut pairs = Vec::new();
    let mut universities: Vec<University> = Vec::with_capacity(c.universities);
    for i in 0..c.universities {
        let name = name_with_duplicates(
            i,
            &|j| universities[j].name.as_str(),
            c.near_duplicate_fraction,
            taken,
            rng,
            &names::university,
            names::university_variant,
            &mut pairs,
        );
        let city = rng.gen_range(0..c.cities) as u32;
        let earliest = (cities[city as usize].founded + 20).max(1300);
        universities.push(University {
            name,
            city,
            founded: rng.gen_range(earliest..=1990),
        });
    }
    near_duplicates.extend(
        pairs
            .drain(..)
            .map(|(a, b)| (Entity::University(a as u32), Entity::University(b as u32))),
    );
    universities
}

/// The people (their employers are drawn once the companies exist), each a graduate of a
/// university that existed when they were 18 where a few draws find one; near-duplicate name pairs
/// are added to `near_duplicates`.
fn draw_people(
    c: &WorldConfig,
    universities: &[University],
    taken: &mut HashSet<String>,
    rng: &mut ChaCha8Rng,
    near_duplicates: &mut Vec<(Entity, Entity)>,
) -> Vec<Person> {
    let mut pairs = Vec::new();
    let person_names = names::PersonNames::new(rng, c.people);
    let mut people: Vec<Person> = Vec::with_capacity(c.people);
    for i in 0..c.people {
        let name = name_with_duplicates(
            i,
            &|j| people[j].name.as_str(),
            c.near_duplicate_fraction,
            taken,
            rng,
            &|r| person_names.draw(r),
            names::person_variant,
            &mut pairs,
        );
        let birth_year: u16 = rng.gen_range(1935..=1998);
        // A university that existed when they were 18, if a few draws find one.
        let mut alma_mater = rng.gen_range(0..c.universities);
        for _ in 0..8 {
            if universities[alma_mater].founded <= birth_year + 18 {
                break;
            }
            alma_mater = rng.gen_range(0..c.universities);
        }
        people.push(Person {
            name,
            female: rng.gen_bool(0.5),
            birth_year,
            birthplace: rng.gen_range(0..c.cities) as u32,
            alma_mater: alma_mater as u32,
            // Set once the companies exist.
            employer: 0,
        });
    }
    near_duplicates.extend(
        pairs
            .drain(..)
            .map(|(a, b)| (Entity::Person(a as u32), Entity::Person(b as u32))),
    );
    people
}

/// The companies, each founded by its own person; near-duplicate name pairs are added to
/// `near_duplicates`.
fn draw_companies(
    c: &WorldConfig,
    people: &[Person],
    taken: &mut HashSet<String>,
    rng: &mut ChaCha8Rng,
    near_duplicates: &mut Vec<(Entity, Entity)>,
) -> Vec<Company> {
    let mut pairs = Vec::new();
    // Distinct founders, so "the company that X set up" names one company.
    let founders = index::sample(rng, c.people, c.companies);
    let mut companies: Vec<Company> = Vec::with_capacity(c.companies);
    for (i, founder) in founders.iter().enumerate() {
        let name = name_with_duplicates(
            i,
            &|j| companies[j].name.as_str(),
            c.near_duplicate_fraction,
            taken,
            rng,
            &names::company,
            names::company_variant,
            &mut pairs,
        );
        let born = people[founder].birth_year;
        companies.push(Company {
            name,
            founded: born + rng.gen_range(24..=(2024 - born).min(55)),
            founder: founder as u32,
            headquarters: rng.gen_range(0..c.cities) as u32,
        });
    }
    near_duplicates.extend(
        pairs
            .drain(..)
            .map(|(a, b)| (Entity::Company(a as u32), Entity::Company(b as u32))),
    );
    companies
}

impl World {
    /// Generates the entities and questions of `config`. Linear in the number of entities.
    ///
    /// One random stream draws everything, in order: countries, cities, universities, people,
    /// companies, employers, then the questions; `taken` keeps every name unique.
    pub fn generate(config: &WorldConfig) -> Result<World> {
        let c = config;
        check_config(c)?;

        let mut rng = ChaCha8Rng::seed_from_u64(c.seed);
        let mut taken = HashSet::with_capacity(c.people + c.companies + c.cities + c.universities);

        let countries: Vec<String> = (0..c.countries)
            .map(|_| unique(&mut taken, &mut rng, names::country))
            .collect();
        let cities: Vec<City> = (0..c.cities)
            .map(|_| City {
                name: unique(&mut taken, &mut rng, names::city),
                country: rng.gen_range(0..c.countries) as u32,
                founded: rng.gen_range(800..=1850),
            })
            .collect();

        let mut near_duplicates = Vec::new();
        let universities =
            draw_universities(c, &cities, &mut taken, &mut rng, &mut near_duplicates);
        let mut people = draw_people(c, &universities, &mut taken, &mut rng, &mut near_duplicates);
        let companies = draw_companies(c, &people, &mut taken, &mut rng, &mut near_duplicates);
        for person in &mut people {
            person.employer = rng.gen_range(0..c.companies) as u32;
        }

        let mut world = World {
            config: c.clone(),
            people,
            companies,
            cities,
            universities,
            countries,
            near_duplicates,
            questions: Vec::new(),
        };
        world.questions = questions::generate(&world, &mut rng);
        Ok(world)
    }

    pub fn config(&self) -> &WorldConfig {
        &self.config
    }

    pub fn questions(&self) -> &[Question] {
        &self.questions
    }

    /// Pairs of entities whose names are near-duplicates (the second was derived from the
    /// first).
    pub fn near_duplicates(&self) -> &[(Entity, Entity)] {
        &self.near_duplicates
    }

    pub fn num_documents(&self) -> usize {
        self.people.len() + self.companies.len() + self.cities.len() + self.universities.len()
    }

    /// The entity of document `i` in corpus order (people, companies, cities, universities).
    pub fn entity(&self, i: usize) -> Entity {
        let mut i = i;
        for (len, make) in [
            (self.people.len(), Entity::Person as fn(u32) -> Entity),
            (self.companies.len(), Entity::Company),
            (self.cities.len(), Entity::City),
            (self.universities.len(), Entity::University),
        ] {
            if i < len {
                return make(i as u32);
            }
            i -= len;
        }
        panic!(
            "document index out of range: the world has {} documents",
            self.num_documents()
        )
    }

    /// Every entity in corpus order.
    pub fn entities(&self) -> impl Iterator<Item = Entity> + '_ {
        (0..self.num_documents()).map(|i| self.entity(i))
    }

    pub fn name(&self, entity: Entity) -> &str {
        match entity {
            Entity::Person(i) => &self.people[i as usize].name,
            Entity::Company(i) => &self.companies[i as usize].name,
            Entity::City(i) => &self.cities[i as usize].name,
            Entity::University(i) => &self.universities[i as usize].name,
        }
    }

    /// Whether `entity` is held out: a hash of the seed and the id against `held_out_fraction`,
    /// so the split needs no state and does not depend on how many entities there are.
    pub fn is_held_out(&self, entity: Entity) -> bool {
        let h = splitmix64(self.config.seed ^ splitmix64(entity.stream()));
        let unit = (h >> 11) as f64 / (1u64 << 53) as f64;
        unit < self.config.held_out_fraction
    }

    fn rendered(&self, entity: Entity) -> text::Rendered {
        let mut rng = ChaCha8Rng::seed_from_u64(self.config.seed);
        rng.set_stream(entity.stream());
        text::render(self, entity, &mut rng)
    }

    /// The document of `entity` (the same text every time).
    pub fn document_of(&self, entity: Entity) -> Document {
        let r = self.rendered(entity);
        Document {
            id: entity.doc_id(),
            title: r.title,
            text: r.text,
        }
    }

    /// Document `i` in corpus order.
    pub fn document(&self, i: usize) -> Document {
        self.document_of(self.entity(i))
    }

    /// Every document in corpus order, rendered as it is reached.
    pub fn documents(&self) -> impl Iterator<Item = Document> + '_ {
        self.entities().map(|e| self.document_of(e))
    }

    /// Every lookup question about `entity`, each relation in each phrasing (not the world's
    /// question set, which asks each fact once): what the reader (m8) trains on, for seen entities.
    pub fn lookups_of(&self, entity: Entity) -> Vec<Question> {
        questions::lookups_of(self, entity)
    }

    /// `n` fresh questions of `kind` that `keep` accepts, drawn by `seed` apart from the world's own
    /// question set (a fact may be asked again): phase 4 draws its training and evaluation tasks so.
    /// Fewer than `n` when few facts qualify. Ids are `"{prefix}{i}"`.
    pub fn draw_questions(
        &self,
        kind: QuestionKind,
        n: usize,
        seed: u64,
        prefix: &str,
        keep: &dyn Fn(&Question) -> bool,
    ) -> Vec<Question> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        questions::draw(self, kind, n, &mut rng, prefix, keep)
    }

    /// The entity named exactly `name` (case-insensitive), if any.
    pub fn find(&self, name: &str) -> Option<Entity> {
        let name = name.trim();
        self.entities()
            .find(|&e| self.name(e).eq_ignore_ascii_case(name))
    }

    /// The sentence of `entity`'s document that states `relation`, if its kind has that relation.
    pub fn fact(&self, entity: Entity, relation: Relation) -> Option<String> {
        self.rendered(entity)
            .facts
            .into_iter()
            .find(|(r, _)| *r == relation)
            .map(|(_, s)| s)
    }

    /// The value of `relation` for `entity` (a year, a name), if its kind has that relation.
    pub fn value(&self, entity: Entity, relation: Relation) -> Option<String> {
        self.fact(entity, relation)?;
        Some(questions::value(self, entity, relation).0)
    }

    /// The sentence of `entity`'s document that states `relation`.
    fn sentence(&self, entity: Entity, relation: Relation) -> String {
        self.fact(entity, relation)
            .unwrap_or_else(|| panic!("{} states no {relation:?}", entity.doc_id()))
    }
}

/// A fast, well-mixed 64-bit hash (Steele et al.'s SplitMix64 finaliser).
fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}
