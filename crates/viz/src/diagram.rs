//! Pipeline diagrams described in code.
//!
//! Phases build a [`Diagram`] from the structures their code actually runs (the RAG flow, the agent loop)
//! and render it as a Mermaid block for Markdown and as an SVG laid out by `layout-rs` (a pure-Rust
//! Graphviz layout, so no system `dot` is needed).

use std::path::Path;

use anyhow::{anyhow, bail, Result};

use crate::plot::entity::Entity;
use crate::plot::Styled;

#[derive(Clone, Debug)]
pub struct Node {
    pub id: String,
    pub label: String,
    /// The entity whose colour its box takes when it stands apart from its row (an outcome among
    /// actions, a retriever among stages).
    pub entity: Option<Entity>,
}

#[derive(Clone, Debug)]
pub struct Edge {
    pub from: String,
    pub to: String,
    pub label: Option<String>,
}

/// A directed graph of named steps: `edges` run down (they decide the rows), `loops` run back up to
/// an earlier step (a loop's return: drawn round the side).
#[derive(Clone, Debug, Default)]
pub struct Diagram {
    pub nodes: Vec<Node>,
    pub edges: Vec<Edge>,
    pub loops: Vec<Edge>,
}

fn valid_id(id: &str) -> bool {
    !id.is_empty() && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

impl Diagram {
    pub fn new() -> Diagram {
        Diagram::default()
    }

    pub fn node(mut self, id: &str, label: &str) -> Diagram {
        self.nodes.push(Node {
            id: id.into(),
            label: label.into(),
            entity: None,
        });
        self
    }

    /// A node whose box takes `e`'s colour instead of its row's.
    pub fn node_in(mut self, id: &str, label: &str, e: Entity) -> Diagram {
        self = self.node(id, label);
        if let Some(n) = self.nodes.last_mut() {
            n.entity = Some(e);
        }
        self
    }

    /// Its boxes that stand for an entity, styled as drawn.
    pub fn styled(&self) -> Vec<Styled> {
        self.nodes
            .iter()
            .filter_map(|n| {
                n.entity
                    .map(|e| Styled::mark(&n.label, e.colour(), None, Some(e)))
            })
            .collect()
    }

    /// An edge back to an earlier step (the way round a loop).
    pub fn back(mut self, from: &str, to: &str, label: Option<&str>) -> Diagram {
        self.loops.push(Edge {
            from: from.into(),
            to: to.into(),
            label: label.map(String::from),
        });
        self
    }

    pub fn edge(mut self, from: &str, to: &str, label: Option<&str>) -> Diagram {
        self.edges.push(Edge {
            from: from.into(),
            to: to.into(),
            label: label.map(String::from),
        });
        self
    }

    /// Every node id well-formed and unique, every edge between known nodes.
    pub fn validate(&self) -> Result<()> {
        for (i, n) in self.nodes.iter().enumerate() {
            if !valid_id(&n.id) {
                bail!("diagram node id `{}` must be letters, digits and '_'", n.id);
            }
            if self.nodes[..i].iter().any(|m| m.id == n.id) {
                bail!("diagram node id `{}` appears twice", n.id);
            }
        }
        for e in self.edges.iter().chain(&self.loops) {
            for end in [&e.from, &e.to] {
                if !self.nodes.iter().any(|n| &n.id == end) {
                    bail!(
                        "diagram edge {} -> {} names unknown node `{end}`",
                        e.from,
                        e.to
                    );
                }
            }
        }
        Ok(())
    }

    /// A Mermaid flowchart (GitHub renders it inside a ```mermaid block).
    pub fn to_mermaid(&self) -> Result<String> {
        self.validate()?;
        let esc = |s: &str| s.replace('"', "'");
        let mut s = String::from("flowchart LR\n");
        for n in &self.nodes {
            s.push_str(&format!("    {}[\"{}\"]\n", n.id, esc(&n.label)));
        }
        for e in self.edges.iter().chain(&self.loops) {
            match &e.label {
                Some(l) => s.push_str(&format!("    {} -->|\"{}\"| {}\n", e.from, esc(l), e.to)),
                None => s.push_str(&format!("    {} --> {}\n", e.from, e.to)),
            }
        }
        Ok(s)
    }

    /// Graphviz DOT text.
    pub fn to_dot(&self) -> Result<String> {
        self.validate()?;
        let esc = |s: &str| s.replace('\\', "\\\\").replace('"', "\\\"");
        let mut s = String::from("digraph G {\n");
        for n in &self.nodes {
            s.push_str(&format!("  {} [label=\"{}\"];\n", n.id, esc(&n.label)));
        }
        for e in self.edges.iter().chain(&self.loops) {
            match &e.label {
                Some(l) => s.push_str(&format!(
                    "  {} -> {} [label=\"{}\"];\n",
                    e.from,
                    e.to,
                    esc(l)
                )),
                None => s.push_str(&format!("  {} -> {};\n", e.from, e.to)),
            }
        }
        s.push_str("}\n");
        Ok(s)
    }

    /// Lay the graph out and write it as SVG.
    pub fn render_svg(&self, path: &Path) -> Result<()> {
        use layout::backends::svg::SVGWriter;
        use layout::gv::{DotParser, GraphBuilder};
        let dot = self.to_dot()?;
        let mut parser = DotParser::new(&dot);
        let graph = parser
            .process()
            .map_err(|e| anyhow!("laying out diagram: {e}"))?;
        let mut builder = GraphBuilder::new();
        builder.visit_graph(&graph);
        let mut vg = builder.get();
        let mut svg = SVGWriter::new();
        vg.do_it(false, false, false, &mut svg);
        crate::write_atomic(path, svg.finalize().as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rag() -> Diagram {
        Diagram::new()
            .node("query", "user query")
            .node("retrieve", "BM25 top-k")
            .node("generate", "GPT")
            .edge("query", "retrieve", None)
            .edge("retrieve", "generate", Some("k passages"))
    }

    #[test]
    fn mermaid_and_svg() {
        let m = rag().to_mermaid().unwrap();
        assert!(m.contains("retrieve -->|\"k passages\"| generate"), "{m}");
        let tmp = tempfile::tempdir().unwrap();
        let p = tmp.path().join("rag.svg");
        rag().render_svg(&p).unwrap();
        let svg = std::fs::read_to_string(&p).unwrap();
        assert!(svg.contains("<svg") && svg.contains("BM25 top-k"), "{svg}");
    }

    #[test]
    fn unknown_node_is_an_error() {
        let d = Diagram::new().node("a", "A").edge("a", "b", None);
        assert!(d.to_mermaid().unwrap_err().to_string().contains("`b`"));
    }
}
