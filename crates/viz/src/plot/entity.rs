//! The house palette, keyed by what a line stands for: a retriever or a context condition has the
//! same colour in every figure (m7's recall curves, m8's training and k curves), and so do a
//! training curve, a validation curve and the references a language model is measured against
//! (the n-gram, nanoGPT, a uniform guess, the bench-config GPT), whatever else the figure draws.
//! Colours are slots of [`super::PALETTE`] (Okabe–Ito); within each family (retrieval, language
//! models) no two entities share one.

/// Everything a figure gives a colour of its own: a retriever, a context condition, a model, a
/// split, a reference line, an optimizer, a system. A figure sets a line's, a dot's or a box's style
/// only by naming its entity (anything unnamed takes the palette in order), so one thing has one
/// style in every figure; a test over every figure's spec holds the set to that.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Entity {
    Bm25,
    Bm25Stemmed,
    MiniLm,
    Hybrid,
    Dual,
    /// The gold passage as context (or the share of questions it reaches).
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
    /// The same GPT trained by PyTorch (m6's parity check).
    PyTorch,
    /// m6_long's GPT, measured as a model beside other models (its validation curve is
    /// [`Entity::Validation`]): validation's orange, solid.
    LongGpt,
    /// What a fitted law predicted for a run, drawn beside what the run measured.
    Prediction,
    /// m6_long's `i`-th candidate configuration, measured.
    Candidate(u8),
    /// The power law fitted to candidate `i`'s curve (dashed: a fit, not a measurement).
    CandidateFit(u8),
    /// m1: the parameter tensors of layer `n` (1-based).
    Layer(u8),
    Sgd,
    Momentum,
    /// Drawn dashed: its curve lies on momentum's.
    Nesterov,
    RmsProp,
    Adam,
    /// Drawn dashed: its curve lies on Adam's.
    AdamW,
    /// m5: a head's previous-token score.
    PreviousTokenScore,
    /// m5: a head's induction score.
    InductionScore,
    /// m8: the reader's answer is right (exact match).
    AnswerRight,
    /// m8: wrong, words copied from another passage.
    AnswerDistractor,
    /// m8: wrong, the gold passage's other words.
    AnswerGoldOther,
    /// m8: wrong, words from no passage while the gold one is in the prompt.
    AnswerNowhereWithGold,
    /// m8: wrong, words from no passage and no gold passage in the prompt.
    AnswerNowhereWithoutGold,
    /// Serving: one request alone on the server (the unloaded baseline).
    Alone,
    /// Serving: requests answered (HTTP 200).
    Answered,
    /// Serving: requests refused (HTTP 503).
    Refused,
    /// m11: the verifier's score.
    Verifier,
    /// m11: chance (the ROC diagonal).
    Chance,
    /// m11: the verifier's operating point.
    Threshold,
    /// Agent diagrams (m10, m11): a model's turn (a policy, a solver, a verifier call).
    /// m12's systems (closed book is [`Entity::ClosedBook`]): single-shot RAG in BM25's blue, as it
    /// reads BM25's documents, its dev-tuned and two-step variants beside it.
    Rag,
    RagTuned,
    RagTwoStep,
    ReactSearch,
    ReactSearchConstrained,
    ReactLookup,
    Team,
    AgentModel,
    /// Agent diagrams: a tool call (search, lookup, calc, finish).
    AgentTool,
    /// Agent diagrams: an observation or a message handed back to a model.
    AgentObservation,
    /// Agent diagrams: an answer (right or wrong), the loop's outcome.
    AgentAnswer,
    /// Anything drawn that stands for no entity (a diagram stage, a stop, a malformed action, a
    /// threshold line), grey.
    Plain,
}

/// Entities that share figures, so must not share colours.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    Retrieval,
    LanguageModel,
    Candidates,
    Layers,
    Optimizers,
    AttentionScores,
    Answers,
    Serving,
    Verification,
    Systems,
    Diagram,
}

/// How an entity is drawn: a palette colour, and whether its line is dashed. Reference lines
/// (horizontal or vertical) are dashed whatever their entity.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Style {
    pub slot: usize,
    pub dashed: bool,
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

    /// Every entity (each parameterised one at the values the figures use).
    pub fn all() -> Vec<Entity> {
        use Entity::*;
        let mut all = vec![
            Bm25,
            Bm25Stemmed,
            MiniLm,
            Hybrid,
            Dual,
            Gold,
            ClosedBook,
            Random,
            Train,
            Validation,
            NGram,
            NanoGpt,
            Uniform,
            BenchGpt,
            BpeGpt,
            PyTorch,
            LongGpt,
            Prediction,
            Sgd,
            Momentum,
            Nesterov,
            RmsProp,
            Adam,
            AdamW,
            PreviousTokenScore,
            InductionScore,
            AnswerRight,
            AnswerDistractor,
            AnswerGoldOther,
            AnswerNowhereWithGold,
            AnswerNowhereWithoutGold,
            Alone,
            Answered,
            Refused,
            Verifier,
            Chance,
            Threshold,
            Rag,
            RagTuned,
            RagTwoStep,
            ReactSearch,
            ReactSearchConstrained,
            ReactLookup,
            Team,
            AgentModel,
            AgentTool,
            AgentObservation,
            AgentAnswer,
            Plain,
        ];
        all.extend((0..CANDIDATE_SLOTS.len() as u8).flat_map(|i| [Candidate(i), CandidateFit(i)]));
        all.extend((1..=LAYER_SLOTS.len() as u8).map(Layer));
        all
    }

    pub fn family(self) -> Family {
        use Entity::*;
        match self {
            Bm25 | Bm25Stemmed | MiniLm | Hybrid | Dual | Gold | ClosedBook | Random => {
                Family::Retrieval
            }
            Train | Validation | NGram | NanoGpt | Uniform | BenchGpt | BpeGpt | PyTorch
            | LongGpt | Prediction => Family::LanguageModel,
            Candidate(_) | CandidateFit(_) => Family::Candidates,
            Layer(_) => Family::Layers,
            Sgd | Momentum | Nesterov | RmsProp | Adam | AdamW => Family::Optimizers,
            PreviousTokenScore | InductionScore => Family::AttentionScores,
            AnswerRight
            | AnswerDistractor
            | AnswerGoldOther
            | AnswerNowhereWithGold
            | AnswerNowhereWithoutGold => Family::Answers,
            Alone | Answered | Refused => Family::Serving,
            Verifier | Chance | Threshold => Family::Verification,
            Rag
            | RagTuned
            | RagTwoStep
            | ReactSearch
            | ReactSearchConstrained
            | ReactLookup
            | Team => Family::Systems,
            AgentModel | AgentTool | AgentObservation | AgentAnswer | Plain => Family::Diagram,
        }
    }

    /// How it is drawn.
    pub fn style(self) -> Style {
        use Entity::*;
        let (slot, dashed) = match self {
            Bm25 => (0, false),
            MiniLm => (1, false),
            Hybrid => (2, false),
            Gold => (3, true),
            Dual => (4, false),
            Bm25Stemmed => (5, false),
            ClosedBook => (6, true),
            Random => (7, true),
            Train => (0, false),
            Validation => (1, true),
            BpeGpt => (2, false),
            NGram => (3, true),
            Uniform => (4, true),
            BenchGpt => (5, false),
            NanoGpt => (6, true),
            PyTorch => (7, true),
            LongGpt => (1, false),
            Prediction => (2, true),
            // The candidates skip the n-gram's vermilion and nanoGPT's black, drawn beside them.
            Candidate(i) => (CANDIDATE_SLOTS[i as usize % CANDIDATE_SLOTS.len()], false),
            CandidateFit(i) => (CANDIDATE_SLOTS[i as usize % CANDIDATE_SLOTS.len()], true),
            // The palette in order, skipping black: black is the reference lines' colour.
            Layer(n) => (
                LAYER_SLOTS[(n as usize).saturating_sub(1) % LAYER_SLOTS.len()],
                false,
            ),
            Sgd => (0, false),
            Momentum => (1, false),
            Nesterov => (2, true),
            RmsProp => (3, false),
            Adam => (4, false),
            AdamW => (5, true),
            PreviousTokenScore => (0, false),
            InductionScore => (2, false),
            // Green for right; never vermilion, the gold passage's colour drawn beside them.
            AnswerRight => (2, false),
            AnswerDistractor => (4, false),
            AnswerGoldOther => (5, false),
            AnswerNowhereWithGold => (1, false),
            AnswerNowhereWithoutGold => (7, false),
            Alone => (0, true),
            Answered => (2, false),
            Refused => (3, false),
            Verifier => (0, false),
            Chance => (7, true),
            Threshold => (3, false),
            // Never black, closed book's colour drawn beside them.
            Rag => (0, false),
            RagTuned => (5, false),
            RagTwoStep => (4, false),
            ReactSearch => (3, false),
            ReactSearchConstrained => (1, false),
            ReactLookup => (7, false),
            Team => (2, false),
            AgentModel => (0, false),
            AgentTool => (2, false),
            AgentObservation => (4, false),
            AgentAnswer => (5, false),
            Plain => (7, false),
        };
        Style { slot, dashed }
    }

    /// Its colour slot in [`super::PALETTE`].
    pub fn slot(self) -> usize {
        self.style().slot
    }

    /// Its colour.
    pub fn colour(self) -> super::RGBColor {
        super::colour(self.slot())
    }
}

/// The palette slots of layers 1, 2, … (m1's tensors, m2's per-layer curves).
const LAYER_SLOTS: [usize; 7] = [0, 1, 2, 3, 4, 5, 7];

/// The palette slots of m6_long's candidates, in order.
const CANDIDATE_SLOTS: [usize; 6] = [0, 1, 2, 4, 5, 7];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_entity_has_its_own_style_in_its_family_and_k_does_not_change_it() {
        for family in [
            Family::Retrieval,
            Family::LanguageModel,
            Family::Candidates,
            Family::Layers,
            Family::Optimizers,
            Family::AttentionScores,
            Family::Answers,
            Family::Serving,
            Family::Verification,
            Family::Systems,
            Family::Diagram,
        ] {
            let members: Vec<Entity> = Entity::all()
                .into_iter()
                .filter(|e| e.family() == family)
                .collect();
            let mut slots: Vec<Style> = members.iter().map(|e| e.style()).collect();
            slots.sort_by_key(|s| (s.slot, s.dashed));
            slots.dedup();
            assert_eq!(slots.len(), members.len(), "{family:?}");
        }
        assert_eq!(Entity::of_name("minilm@5"), Some(Entity::MiniLm));
        assert_eq!(Entity::of_name("something else"), None);
    }
}
