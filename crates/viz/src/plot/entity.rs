//! The house palette, keyed by what a line stands for: a retriever or a context condition has the
//! same colour in every figure (m7's recall curves, m8's training and k curves), and so do a
//! training curve, a validation curve and the references a language model is measured against
//! (the n-gram, nanoGPT, a uniform guess, the bench-config GPT), whatever else the figure draws.
//! Colours are slots of [`super::PALETTE`] (Okabe–Ito); within each family (retrieval, language
//! models) no two entities share one.

/// Things that appear in more than one figure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Entity {
    Bm25,
    Bm25Stemmed,
    MiniLm,
    Hybrid,
    Dual,
    /// The gold passage as context.
    Gold,
    /// No context.
    ClosedBook,
    /// Random passages as context.
    Random,
    /// A training-loss (or training-accuracy) curve.
    Train,
    /// A validation curve, or a validation measurement.
    Validation,
    /// The best Kneser–Ney n-gram of m4, as a reference line.
    NGram,
    /// nanoGPT's published result, as a reference line.
    NanoGpt,
    /// A uniform guess over the vocabulary, as a reference line.
    Uniform,
    /// m6's bench-config GPT (the character model), as a curve or a reference line.
    BenchGpt,
    /// m6's BPE GPT.
    BpeGpt,
}

/// Entities that share figures, so must not share colours.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    Retrieval,
    LanguageModel,
}

impl Entity {
    /// The entity a config name stands for (`bm25`, `minilm@3` — a retriever at any k —,
    /// `closed_book`, …); `None` for names that are not in the house palette.
    pub fn of_name(name: &str) -> Option<Entity> {
        let base = name.split('@').next().unwrap_or(name);
        Some(match base {
            "bm25" => Entity::Bm25,
            "bm25_stemmed" => Entity::Bm25Stemmed,
            "minilm" => Entity::MiniLm,
            "hybrid" => Entity::Hybrid,
            "dual" => Entity::Dual,
            "gold" => Entity::Gold,
            "closed_book" => Entity::ClosedBook,
            "random" => Entity::Random,
            _ => return None,
        })
    }

    /// Every entity.
    pub const ALL: [Entity; 15] = [
        Entity::Bm25,
        Entity::Bm25Stemmed,
        Entity::MiniLm,
        Entity::Hybrid,
        Entity::Dual,
        Entity::Gold,
        Entity::ClosedBook,
        Entity::Random,
        Entity::Train,
        Entity::Validation,
        Entity::NGram,
        Entity::NanoGpt,
        Entity::Uniform,
        Entity::BenchGpt,
        Entity::BpeGpt,
    ];

    pub fn family(self) -> Family {
        match self {
            Entity::Train
            | Entity::Validation
            | Entity::NGram
            | Entity::NanoGpt
            | Entity::Uniform
            | Entity::BenchGpt
            | Entity::BpeGpt => Family::LanguageModel,
            _ => Family::Retrieval,
        }
    }

    /// Its colour slot in [`super::PALETTE`].
    pub fn slot(self) -> usize {
        match self {
            Entity::Train => 0,
            Entity::Validation => 1,
            Entity::NGram => 3,
            Entity::Uniform => 4,
            Entity::BenchGpt => 5,
            Entity::BpeGpt => 2,
            Entity::NanoGpt => 6,
            Entity::Bm25 => 0,
            Entity::MiniLm => 1,
            Entity::Hybrid => 2,
            Entity::Gold => 3,
            Entity::Dual => 4,
            Entity::Bm25Stemmed => 5,
            Entity::ClosedBook => 6,
            Entity::Random => 7,
        }
    }
}

/// The slot of `name`'s entity, else `fallback`.
pub fn slot_of(name: &str, fallback: usize) -> usize {
    Entity::of_name(name).map_or(fallback, Entity::slot)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_entity_has_its_own_colour_in_its_family_and_k_does_not_change_it() {
        for family in [Family::Retrieval, Family::LanguageModel] {
            let members: Vec<Entity> = Entity::ALL
                .into_iter()
                .filter(|e| e.family() == family)
                .collect();
            let mut slots: Vec<usize> = members.iter().map(|e| e.slot()).collect();
            slots.sort();
            slots.dedup();
            assert_eq!(slots.len(), members.len(), "{family:?}");
        }
        assert_eq!(slot_of("minilm@5", 0), slot_of("minilm", 7));
        assert_eq!(slot_of("something else", 4), 4);
    }
}
