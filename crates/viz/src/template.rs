//! Log prose in template files: a log entry's sentences live in a Markdown template per entry
//! (`experiments/<phase>/templates/<entry>.md`), filled with values an experiment computed.
//!
//! One environment for every template, so they all read alike:
//! - a missing variable is an error naming it (strict undefined), never an empty string;
//! - a block tag (`{% if %}`, `{% for %}`) on a line of its own leaves no blank line or indentation
//!   behind (`trim_blocks`, `lstrip_blocks`), so a template reads as the Markdown it produces;
//! - the file's trailing newline is kept.
//!
//! Numbers reach a template already formatted (by the experiment, with the precision its claim
//! needs), so a template holds words and structure, not arithmetic.

use anyhow::{anyhow, Result};
use minijinja::{Environment, UndefinedBehavior};
use serde::Serialize;

/// The environment every template renders in (see the module docs).
pub fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_trim_blocks(true);
    env.set_lstrip_blocks(true);
    env.set_keep_trailing_newline(true);
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    // The level every claim is read at, so no template types it: `confidence` ("95 %") for
    // intervals, `alpha` ("5 %") for tests.
    env.add_global(
        "confidence",
        format!("{:.0} %", 100.0 * (1.0 - stats::ALPHA)),
    );
    env.add_global("alpha", format!("{:.0} %", 100.0 * stats::ALPHA));
    env
}

/// Render template `source` (named `name` in errors, e.g. `"m2_classifiers.md"`) with `values`.
pub fn render<S: Serialize>(name: &str, source: &str, values: &S) -> Result<String> {
    let env = environment();
    let template = env
        .template_from_named_str(name, source)
        .map_err(|e| anyhow!("template {name}: {e:#}"))?;
    template
        .render(values)
        .map_err(|e| anyhow!("template {name}: {e:#}"))
}

/// Blocks a log entry's template may leave out (they render as nothing).
pub const OPTIONAL_BLOCKS: &[&str] = &["details"];

/// Render one `{% block NAME %}…{% endblock %}` of template `source` with `values`.
///
/// A log entry's template holds one block per part of the entry — `title`, `takeaway`,
/// `question`, `setup`, `results`, `details` (optional: secondary results, folded away),
/// `discussion`, and a `caption_<figure>` per figure — so its whole text is in one file that reads
/// top to bottom as the entry does.
pub fn render_block<S: Serialize>(
    name: &str,
    source: &str,
    block: &str,
    values: &S,
) -> Result<String> {
    if OPTIONAL_BLOCKS.contains(&block) && !source.contains(&format!("{{% block {block} %}}")) {
        return Ok(String::new());
    }
    let env = environment();
    let template = env
        .template_from_named_str(name, source)
        .map_err(|e| anyhow!("template {name}: {e:#}"))?;
    // The whole template renders first (so every block's variables must exist), then the block.
    let mut captured = template
        .render_captured(values)
        .map_err(|e| anyhow!("template {name}: {e:#}"))?;
    captured
        .with_state_mut(|state| state.render_block(block))
        .map_err(|e| anyhow!("template {name}, block {block}: {e:#}"))
}

/// A milestone's line in the README's milestone table: block `block` of a phase's
/// `templates/headlines.md` (`source`), whose blocks each read only their own values — `values`
/// is passed under the block's name (`{{ m7.p }}`), guarded by `{% if m7 is defined %}`, because the
/// whole file renders for every line.
///
/// # Panics
/// When the template does not render: it is compiled into the binary, so that is a defect of the
/// template, which `cargo xtask log` (and CI) meets at once.
pub fn headline<S: Serialize>(source: &str, block: &str, values: &S) -> String {
    let values = serde_json::json!({ block: values });
    render_block("headlines.md", source, block, &values)
        .unwrap_or_else(|e| panic!("templates/headlines.md, block {block}: {e:#}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn block_lines_leave_no_trace_and_the_final_newline_stays() {
        let src = "Head\n{% if good %}\nIt worked: {{ value }}.\n{% else %}\nIt failed.\n{% endif %}\nEnd\n";
        let out = render("t.md", src, &json!({"good": true, "value": "0.93"})).unwrap();
        assert_eq!(out, "Head\nIt worked: 0.93.\nEnd\n");
        let out = render("t.md", src, &json!({"good": false, "value": "0.93"})).unwrap();
        assert_eq!(out, "Head\nIt failed.\nEnd\n");
    }

    #[test]
    fn a_missing_value_is_an_error_naming_the_template_and_the_variable() {
        let err = render("m9/grid.md", "best: {{ best_cell }}\n", &json!({})).unwrap_err();
        let msg = format!("{err:#}");
        assert!(msg.contains("m9/grid.md"), "{msg}");
        assert!(msg.contains("undefined"), "{msg}");
    }

    #[test]
    fn blocks_render_one_at_a_time() {
        let src = "{% block title %}m9 — {{ what }}{% endblock %}\n{% block results %}\nbest: {{ best }}\n{% endblock %}\n";
        let values = json!({"what": "ablation", "best": "bm25@1"});
        assert_eq!(
            render_block("m9.md", src, "title", &values).unwrap(),
            "m9 — ablation"
        );
        assert_eq!(
            render_block("m9.md", src, "results", &values).unwrap(),
            "best: bm25@1\n"
        );
        let err = render_block("m9.md", src, "discussion", &values).unwrap_err();
        assert!(format!("{err:#}").contains("discussion"), "{err:#}");
    }

    #[test]
    fn markdown_is_not_escaped() {
        let out = render("t.md", "{{ cell }}\n", &json!({"cell": "a < b & `c`"})).unwrap();
        assert_eq!(out, "a < b & `c`\n");
    }
}
