//! The house palette, keyed by what a line stands for: a retriever or a context condition has the
//! same colour in every figure (m7's recall curves, m8's training and k curves), whatever else the
//! figure draws. Colours are slots of [`super::PALETTE`] (Okabe–Ito).

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

    /// Its colour slot in [`super::PALETTE`].
    pub fn slot(self) -> usize {
        match self {
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
    fn every_entity_has_its_own_colour_and_k_does_not_change_it() {
        let all = [
            Entity::Bm25,
            Entity::Bm25Stemmed,
            Entity::MiniLm,
            Entity::Hybrid,
            Entity::Dual,
            Entity::Gold,
            Entity::ClosedBook,
            Entity::Random,
        ];
        let mut slots: Vec<usize> = all.iter().map(|e| e.slot()).collect();
        slots.sort();
        slots.dedup();
        assert_eq!(slots.len(), all.len());
        assert_eq!(slot_of("minilm@5", 0), slot_of("minilm", 7));
        assert_eq!(slot_of("something else", 4), 4);
    }
}
