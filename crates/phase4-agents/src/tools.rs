//! The agent's tools, behind one trait: a name, a description, the argument it takes, and a call
//! that answers with text — or with an error the agent reads as its observation. A tool never
//! panics on what a model sends it.
//!
//! - [`Search`] — phase 3's BM25 over the world's documents: the best documents for a query.
//! - [`Lookup`] — one exact attribute of one entity, from the world's ground truth.
//! - [`Calc`] — arithmetic, by the parser of [`crate::calc`].
//! - [`Finish`] — ends the episode with an answer.

use std::sync::Arc;

use anyhow::Result;
use phase3_rag::bm25::{Bm25Config, Bm25Index};
use phase3_rag::world::{Entity, Relation, World};

use crate::calc;

/// One tool an agent can call as `name[argument]`.
pub trait Tool: Send {
    fn name(&self) -> &'static str;
    /// What it does, for a prompt that describes its tools in full.
    fn description(&self) -> &'static str;
    /// The argument, as the prompt shows it: `search[query]`.
    fn argument(&self) -> &'static str;
    /// The observation for `argument`, or the error the agent reads instead.
    fn call(&mut self, argument: &str) -> std::result::Result<String, String>;
    /// Whether calling it ends the episode (its argument is the answer).
    fn ends(&self) -> bool {
        false
    }
    /// Whether its argument is a span of what the agent has read (a query, an answer), so that
    /// constrained decoding may restrict it to those spans; an expression or an `entity; attribute`
    /// pair is not.
    fn takes_a_span(&self) -> bool {
        false
    }
}

/// The attribute names `lookup` takes and thoughts use, one per relation.
pub const ATTRIBUTES: &[(Relation, &str)] = &[
    (Relation::BirthYear, "birth year"),
    (Relation::Birthplace, "birthplace"),
    (Relation::AlmaMater, "university"),
    (Relation::Employer, "employer"),
    (Relation::FoundingYear, "founding year"),
    (Relation::Founder, "founder"),
    (Relation::Headquarters, "headquarters"),
    (Relation::Country, "country"),
    (Relation::Location, "city"),
];

/// The word for `relation` in lookups and thoughts.
pub fn attribute(relation: Relation) -> &'static str {
    ATTRIBUTES
        .iter()
        .find(|(r, _)| *r == relation)
        .map(|(_, a)| *a)
        .expect("every relation has an attribute name")
}

/// The world's documents, indexed once and shared by every agent's `search`.
pub struct Corpus {
    index: Bm25Index,
    /// By index position (the documents' order): `* Title: text`, and the id.
    lines: Vec<String>,
    ids: Vec<String>,
}

impl Corpus {
    /// Every document of `world` (title + text, as m7 indexes them), under BM25's default setting.
    pub fn of(world: &World) -> Result<Corpus> {
        let docs: Vec<_> = world.documents().collect();
        let index = Bm25Index::build(
            Bm25Config::default(),
            docs.iter()
                .map(|d| (d.id.clone(), format!("{} {}", d.title, d.text))),
        )?;
        // The index numbers documents in the order they were given.
        let lines = docs
            .iter()
            .map(|d| format!("* {}: {}", d.title, d.text))
            .collect();
        let ids = docs.into_iter().map(|d| d.id).collect();
        Ok(Corpus { index, lines, ids })
    }

    /// The document `id`: (id, line).
    pub fn document(&self, id: &str) -> Option<(&str, &str)> {
        let i = self.ids.iter().position(|x| x == id)?;
        Some((self.ids[i].as_str(), self.lines[i].as_str()))
    }

    /// The best `k` documents for `query`: (document id, line).
    pub fn search(&self, query: &str, k: usize) -> Vec<(&str, &str)> {
        self.index
            .top_k(query, k)
            .into_iter()
            .map(|(i, _)| (self.ids[i].as_str(), self.lines[i].as_str()))
            .collect()
    }
}

/// The tools' names, as a model writes them in `Action: name[argument]`: defined here once, used
/// everywhere a tool is named (the parsed [`crate::react::Action`] keeps the name the model wrote,
/// which may be none of these).
pub mod names {
    pub const SEARCH: &str = "search";
    pub const LOOKUP: &str = "lookup";
    pub const CALC: &str = "calc";
    pub const FINISH: &str = "finish";
}

/// `search[query]`: the `k` best documents, one `* Title: text` line each.
pub struct Search {
    pub corpus: Arc<Corpus>,
    pub k: usize,
}

impl Tool for Search {
    fn takes_a_span(&self) -> bool {
        true
    }
    fn name(&self) -> &'static str {
        names::SEARCH
    }
    fn description(&self) -> &'static str {
        "finds the documents that best match a query (BM25 over the world's documents)"
    }
    fn argument(&self) -> &'static str {
        "query"
    }
    fn call(&mut self, query: &str) -> std::result::Result<String, String> {
        if query.trim().is_empty() {
            return Err("search needs a query".into());
        }
        let hits = self.corpus.search(query, self.k);
        if hits.is_empty() {
            return Err(format!("no document matches `{}`", query.trim()));
        }
        Ok(hits
            .iter()
            .map(|(_, line)| *line)
            .collect::<Vec<_>>()
            .join("\n"))
    }
}

/// `lookup[entity; attribute]`: the sentence of the entity's document that states the attribute.
pub struct Lookup {
    pub world: Arc<World>,
}

impl Lookup {
    /// The entity and relation `argument` names, or why not.
    pub fn parse(world: &World, argument: &str) -> std::result::Result<(Entity, Relation), String> {
        let Some((name, attr)) = argument.split_once(';') else {
            return Err("lookup takes `entity; attribute`".into());
        };
        let entity = world
            .find(name)
            .ok_or_else(|| format!("no entity is named `{}`", name.trim()))?;
        let attr = attr.trim().to_lowercase();
        let relation = ATTRIBUTES
            .iter()
            .find(|(_, a)| *a == attr)
            .map(|(r, _)| *r)
            .ok_or_else(|| {
                format!(
                    "unknown attribute `{attr}`; attributes are {}",
                    ATTRIBUTES
                        .iter()
                        .map(|(_, a)| *a)
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            })?;
        Ok((entity, relation))
    }
}

impl Tool for Lookup {
    fn name(&self) -> &'static str {
        names::LOOKUP
    }
    fn description(&self) -> &'static str {
        "states one attribute of one entity exactly, from the world's records"
    }
    fn argument(&self) -> &'static str {
        "entity; attribute"
    }
    fn call(&mut self, argument: &str) -> std::result::Result<String, String> {
        let (entity, relation) = Lookup::parse(&self.world, argument)?;
        self.world
            .fact(entity, relation)
            .ok_or_else(|| format!("{} has no {}", self.world.name(entity), attribute(relation)))
    }
}

/// `calc[expression]`: its value.
pub struct Calc;

impl Tool for Calc {
    fn name(&self) -> &'static str {
        names::CALC
    }
    fn description(&self) -> &'static str {
        "evaluates arithmetic: numbers, + - * /, parentheses"
    }
    fn argument(&self) -> &'static str {
        "expression"
    }
    fn call(&mut self, expression: &str) -> std::result::Result<String, String> {
        calc::eval(expression)
            .map(calc::format)
            .map_err(|e| e.to_string())
    }
}

/// `finish[answer]`: the episode's answer.
pub struct Finish;

impl Tool for Finish {
    fn takes_a_span(&self) -> bool {
        true
    }
    fn name(&self) -> &'static str {
        names::FINISH
    }
    fn description(&self) -> &'static str {
        "ends the task with the answer"
    }
    fn argument(&self) -> &'static str {
        "answer"
    }
    fn call(&mut self, answer: &str) -> std::result::Result<String, String> {
        if answer.trim().is_empty() {
            return Err("finish needs an answer".into());
        }
        Ok(answer.trim().to_string())
    }
    fn ends(&self) -> bool {
        true
    }
}

/// Which tools an agent has (the ReAct agent's main setting and its ablation).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Toolset {
    /// search, calc, finish.
    Search,
    /// lookup, calc, finish (the exact-attribute ablation).
    Lookup,
}

impl Toolset {
    pub fn name(self) -> &'static str {
        match self {
            Toolset::Search => names::SEARCH,
            Toolset::Lookup => names::LOOKUP,
        }
    }

    /// The tools themselves.
    pub fn build(self, corpus: &Arc<Corpus>, world: &Arc<World>, k: usize) -> Vec<Box<dyn Tool>> {
        let first: Box<dyn Tool> = match self {
            Toolset::Search => Box::new(Search {
                corpus: corpus.clone(),
                k,
            }),
            Toolset::Lookup => Box::new(Lookup {
                world: world.clone(),
            }),
        };
        vec![first, Box::new(Calc), Box::new(Finish)]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use phase3_rag::world::WorldConfig;

    #[test]
    fn m10_tools_answer_or_explain_never_panic() {
        let world = Arc::new(World::generate(&WorldConfig::default()).unwrap());
        let corpus = Arc::new(Corpus::of(&world).unwrap());
        let person = Entity::Person(3);
        let name = world.name(person).to_string();
        let mut search = Search {
            corpus: corpus.clone(),
            k: 1,
        };
        let found = search.call(&name).unwrap();
        assert!(found.starts_with(&format!("* {name}:")), "{found}");
        assert!(search.call("   ").is_err());
        let mut lookup = Lookup {
            world: world.clone(),
        };
        let year = lookup.call(&format!("{name}; birth year")).unwrap();
        assert_eq!(Some(year.clone()), world.fact(person, Relation::BirthYear));
        assert_eq!(
            lookup.call(&format!("{}; BIRTH YEAR ", name.to_uppercase())),
            Ok(year)
        );
        assert!(lookup
            .call("Nobody Atall; birth year")
            .unwrap_err()
            .contains("no entity"));
        assert!(lookup
            .call(&format!("{name}; shoe size"))
            .unwrap_err()
            .contains("unknown attribute"));
        assert!(lookup
            .call(&format!("{name}; founder"))
            .unwrap_err()
            .contains("has no founder"));
        assert!(lookup
            .call(&name)
            .unwrap_err()
            .contains("entity; attribute"));
        assert_eq!(Calc.call("2 * (3 + 4)"), Ok("14".into()));
        assert!(Calc.call("1/0").is_err());
        assert_eq!(Finish.call(" 1969 "), Ok("1969".into()));
        assert!(Finish.call("").is_err());
    }
}
