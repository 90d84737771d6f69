//! The chat template: how a list of messages becomes one prompt for our base models, which were
//! never trained on a chat format. Plain labelled turns, the form a model trained on prose is most
//! likely to continue sensibly:
//!
//! ```text
//! {system}\n\n            (only when there is a system message)
//! User: {content}\n
//! Assistant: {content}\n
//! …
//! Assistant:
//! ```
//!
//! The reply is what follows the last `Assistant:`; generation also stops at a new `\nUser:` turn.

use crate::api::Message;

/// Where a reply ends if the model starts the user's next turn itself.
pub const TURN_STOP: &str = "\nUser:";

/// The prompt for `messages`.
pub fn prompt(messages: &[Message]) -> String {
    let mut out = String::new();
    for m in messages {
        match m.role.as_str() {
            "system" => {
                out.push_str(m.content.trim());
                out.push_str("\n\n");
            }
            "user" => out.push_str(&format!("User: {}\n", m.content.trim())),
            _ => out.push_str(&format!("Assistant: {}\n", m.content.trim())),
        }
    }
    out.push_str("Assistant:");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serve_chat_template_is_labelled_turns() {
        let m = |role: &str, content: &str| Message {
            role: role.into(),
            content: content.into(),
        };
        assert_eq!(
            prompt(&[
                m("system", "Be brief."),
                m("user", "Hi"),
                m("assistant", "Hello."),
                m("user", "Who?")
            ]),
            "Be brief.\n\nUser: Hi\nAssistant: Hello.\nUser: Who?\nAssistant:"
        );
    }
}
