//! Documents: each entity's facts written from varied sentence templates, in random order, with
//! pronouns after the first sentence — so no two documents read alike and a question's wording
//! (see `questions.rs`, whose phrasings avoid these words on purpose) rarely matches a sentence.
//!
//! Placeholders: `{S}` the subject at the start of a sentence (the name, or "She"/"It"…), `{SP}`
//! its possessive ("Halvard Steen's"/"His"), `{O}` the subject elsewhere in a sentence (the name,
//! or "the company"…), `{V}` the fact's value (a name), `{Y}` a year, `{F}` the founder.

use rand::seq::SliceRandom;
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::{Entity, Relation, World};

/// One rendered document and, for each fact it states, the sentence that states it (a
/// sentence stating two facts is listed once per fact).
pub(super) struct Rendered {
    pub title: String,
    pub text: String,
    pub facts: Vec<(Relation, String)>,
}

const BORN_YEAR_PLACE: &[&str] = &[
    "{S} was born in {Y} in {V}.",
    "{S} was born in {V} in {Y}.",
    "{SP} birth took place in {V} in {Y}.",
];
const BORN_YEAR: &[&str] = &["{S} was born in {Y}.", "{S} was born in the year {Y}."];
const BORN_PLACE: &[&str] = &[
    "{S} is a native of {V}.",
    "{S} was born in {V}.",
    "{S} hails from {V}.",
];
const ALMA_MATER: &[&str] = &[
    "{S} studied at {V}.",
    "{S} graduated from {V}.",
    "{S} holds a degree from {V}.",
    "{S} is a graduate of {V}.",
];
const EMPLOYER: &[&str] = &[
    "{S} works for {V}.",
    "{S} is employed by {V}.",
    "{S} currently works at {V}.",
    "{S} has a job at {V}.",
];
const HOBBIES: &[&str] = &[
    "{S} spends weekends sailing.",
    "{S} collects old maps.",
    "{S} plays the cello in an amateur orchestra.",
    "{S} is a keen chess player.",
    "{S} grows tomatoes on a balcony.",
    "{S} runs marathons.",
    "{S} paints watercolours of harbours.",
];

const FOUNDED_BY_IN: &[&str] = &[
    "{S} was founded in {Y} by {F}.",
    "{F} founded {O} in {Y}.",
    "{F} started {O} in {Y}.",
];
const COMPANY_FOUNDED: &[&str] = &[
    "{S} was founded in {Y}.",
    "{S} was established in {Y}.",
    "{S} has been in business since {Y}.",
];
const COMPANY_FOUNDER: &[&str] = &[
    "{S} was founded by {F}.",
    "{F} is the founder of {O}.",
    "{S} was started by {F}.",
];
const HEADQUARTERS: &[&str] = &[
    "{S} is headquartered in {V}.",
    "{S} has its head office in {V}.",
    "The headquarters of {O} are in {V}.",
    "{S} is based in {V}.",
];
const PRODUCTS: &[&str] = &[
    "{S} makes industrial sensors.",
    "{S} sells accounting software.",
    "{S} builds ferries.",
    "{S} produces canned fish.",
    "{S} designs wind turbines.",
    "{S} runs a fleet of delivery vans.",
    "{S} makes children's toys.",
];

const CITY_COUNTRY: &[&str] = &[
    "{S} is a city in {V}.",
    "{S} lies in {V}.",
    "{S} is a town in {V}.",
];
const CITY_FOUNDED: &[&str] = &[
    "{S} was founded in {Y}.",
    "{S} was first settled in {Y}.",
    "The settlement of {O} dates back to {Y}.",
];
const CITY_FEATURES: &[&str] = &[
    "{S} is known for its old harbour.",
    "{S} has a busy fish market.",
    "{S} is crossed by three rivers.",
    "{S} hosts a jazz festival every summer.",
    "{S} has a famous stone bridge.",
];

const UNIVERSITY_CITY: &[&str] = &[
    "{S} is located in {V}.",
    "{S} is situated in {V}.",
    "{S} has its campus in {V}.",
];
const UNIVERSITY_FOUNDED: &[&str] = &[
    "{S} was established in {Y}.",
    "{S} was founded in {Y}.",
    "{S} opened in {Y}.",
    "{S} admitted its first students in {Y}.",
];
const UNIVERSITY_FIELDS: &[&str] = &[
    "{S} is known for its mathematics department.",
    "{S} has a strong medical school.",
    "{S} is renowned for marine biology.",
    "{S} trains many of the region's engineers.",
    "{S} has a large law faculty.",
];

/// One sentence to write: its templates, the facts it states, and its values.
struct Plan<'a> {
    templates: &'a [&'a str],
    facts: &'a [Relation],
    value: &'a str,
    year: u16,
}

/// How the subject is referred to: by name, or by pronoun / definite description.
struct Reference<'a> {
    name: &'a str,
    pronoun: &'a str,
    possessive: &'a str,
    object: &'a str,
}

/// Writes `entity`'s document: its sentences planned ([`person_plans`] and the others: which
/// facts, in which templates), shuffled, then written out ([`write_sentences`]).
pub(super) fn render(world: &World, entity: Entity, rng: &mut ChaCha8Rng) -> Rendered {
    let mut plans: Vec<Plan> = Vec::with_capacity(5);
    let (reference, founder) = match entity {
        Entity::Person(i) => (person_plans(world, i, rng, &mut plans), ""),
        Entity::Company(i) => company_plans(world, i, rng, &mut plans),
        Entity::City(i) => (city_plans(world, i, &mut plans), ""),
        Entity::University(i) => (university_plans(world, i, &mut plans), ""),
    };
    plans.shuffle(rng);
    let (text, facts) = write_sentences(&plans, &reference, founder, rng);
    Rendered {
        title: reference.name.to_string(),
        text,
        facts,
    }
}

/// A person's sentences: birth (year and place in one sentence or two, a coin toss), university,
/// employer, a hobby.
fn person_plans<'w>(
    world: &'w World,
    i: u32,
    rng: &mut ChaCha8Rng,
    plans: &mut Vec<Plan<'w>>,
) -> Reference<'w> {
    use Relation::*;
    let p = &world.people[i as usize];
    let city = &world.cities[p.birthplace as usize].name;
    if rng.gen_bool(0.5) {
        plans.push(Plan {
            templates: BORN_YEAR_PLACE,
            facts: &[BirthYear, Birthplace],
            value: city,
            year: p.birth_year,
        });
    } else {
        plans.push(Plan {
            templates: BORN_YEAR,
            facts: &[BirthYear],
            value: "",
            year: p.birth_year,
        });
        plans.push(Plan {
            templates: BORN_PLACE,
            facts: &[Birthplace],
            value: city,
            year: 0,
        });
    }
    plans.push(Plan {
        templates: ALMA_MATER,
        facts: &[AlmaMater],
        value: &world.universities[p.alma_mater as usize].name,
        year: 0,
    });
    plans.push(Plan {
        templates: EMPLOYER,
        facts: &[Employer],
        value: &world.companies[p.employer as usize].name,
        year: 0,
    });
    plans.push(Plan {
        templates: HOBBIES,
        facts: &[],
        value: "",
        year: 0,
    });
    if p.female {
        Reference {
            name: &p.name,
            pronoun: "She",
            possessive: "Her",
            object: "her",
        }
    } else {
        Reference {
            name: &p.name,
            pronoun: "He",
            possessive: "His",
            object: "him",
        }
    }
}

/// A company's sentences: founding (year and founder in one sentence or two, a coin toss),
/// headquarters, products. Returns the reference and the founder's name.
fn company_plans<'w>(
    world: &'w World,
    i: u32,
    rng: &mut ChaCha8Rng,
    plans: &mut Vec<Plan<'w>>,
) -> (Reference<'w>, &'w str) {
    use Relation::*;
    let c = &world.companies[i as usize];
    let founder = world.people[c.founder as usize].name.as_str();
    if rng.gen_bool(0.5) {
        plans.push(Plan {
            templates: FOUNDED_BY_IN,
            facts: &[FoundingYear, Founder],
            value: "",
            year: c.founded,
        });
    } else {
        plans.push(Plan {
            templates: COMPANY_FOUNDED,
            facts: &[FoundingYear],
            value: "",
            year: c.founded,
        });
        plans.push(Plan {
            templates: COMPANY_FOUNDER,
            facts: &[Founder],
            value: "",
            year: 0,
        });
    }
    plans.push(Plan {
        templates: HEADQUARTERS,
        facts: &[Headquarters],
        value: &world.cities[c.headquarters as usize].name,
        year: 0,
    });
    plans.push(Plan {
        templates: PRODUCTS,
        facts: &[],
        value: "",
        year: 0,
    });
    let reference = Reference {
        name: &c.name,
        pronoun: "It",
        possessive: "Its",
        object: "the company",
    };
    (reference, founder)
}

/// A city's sentences: country, founding year, a feature.
fn city_plans<'w>(world: &'w World, i: u32, plans: &mut Vec<Plan<'w>>) -> Reference<'w> {
    use Relation::*;
    let c = &world.cities[i as usize];
    plans.push(Plan {
        templates: CITY_COUNTRY,
        facts: &[Country],
        value: &world.countries[c.country as usize],
        year: 0,
    });
    plans.push(Plan {
        templates: CITY_FOUNDED,
        facts: &[FoundingYear],
        value: "",
        year: c.founded,
    });
    plans.push(Plan {
        templates: CITY_FEATURES,
        facts: &[],
        value: "",
        year: 0,
    });
    Reference {
        name: &c.name,
        pronoun: "It",
        possessive: "Its",
        object: "the city",
    }
}

/// A university's sentences: city, founding year, a field it is known for.
fn university_plans<'w>(world: &'w World, i: u32, plans: &mut Vec<Plan<'w>>) -> Reference<'w> {
    use Relation::*;
    let u = &world.universities[i as usize];
    plans.push(Plan {
        templates: UNIVERSITY_CITY,
        facts: &[Location],
        value: &world.cities[u.city as usize].name,
        year: 0,
    });
    plans.push(Plan {
        templates: UNIVERSITY_FOUNDED,
        facts: &[FoundingYear],
        value: "",
        year: u.founded,
    });
    plans.push(Plan {
        templates: UNIVERSITY_FIELDS,
        facts: &[],
        value: "",
        year: 0,
    });
    Reference {
        name: &u.name,
        pronoun: "It",
        possessive: "Its",
        object: "the university",
    }
}

/// Writes the planned sentences in order, each from one of its templates; the subject by name in
/// the first sentence and now and then after, by pronoun otherwise. Returns the text and, for each
/// fact, the sentence that states it.
fn write_sentences(
    plans: &[Plan],
    reference: &Reference,
    founder: &str,
    rng: &mut ChaCha8Rng,
) -> (String, Vec<(Relation, String)>) {
    let mut text = String::with_capacity(256);
    let mut facts = Vec::with_capacity(4);
    let mut year = String::new();
    for (n, plan) in plans.iter().enumerate() {
        // The first sentence names the subject, so that every document stands on its own.
        let by_name = n == 0 || rng.gen_bool(0.4);
        let template = plan.templates.choose(rng).expect("non-empty table");
        year.clear();
        if plan.year != 0 {
            year.push_str(&plan.year.to_string());
        }
        let possessive;
        let (subject, possessive, object) = if by_name {
            possessive = format!("{}'s", reference.name);
            (reference.name, possessive.as_str(), reference.name)
        } else {
            (reference.pronoun, reference.possessive, reference.object)
        };
        let start = text.len() + usize::from(!text.is_empty());
        if !text.is_empty() {
            text.push(' ');
        }
        fill(
            template,
            &[
                ("S", subject),
                ("SP", possessive),
                ("O", object),
                ("V", plan.value),
                ("Y", &year),
                ("F", founder),
            ],
            &mut text,
        );
        for &fact in plan.facts {
            facts.push((fact, text[start..].to_string()));
        }
    }
    (text, facts)
}

/// Appends `template` to `out`, replacing each `{KEY}` by its value in `slots`.
pub(super) fn fill(template: &str, slots: &[(&str, &str)], out: &mut String) {
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let close = open + rest[open..].find('}').expect("placeholders are closed");
        let key = &rest[open + 1..close];
        let value = slots
            .iter()
            .find(|(k, _)| *k == key)
            .unwrap_or_else(|| panic!("template placeholder {{{key}}} has no value"))
            .1;
        out.push_str(value);
        rest = &rest[close + 1..];
    }
    out.push_str(rest);
}
