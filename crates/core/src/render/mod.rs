//! Everything users read: the human plan (Terraform's signs, one line per resource,
//! indented attribute lines only for what differs), the versioned JSON plan for CI, the
//! progress lines of apply, and colour only when writing to a terminal.

pub mod human;
pub mod json;
pub mod markdown;
pub mod progress;

/// Whether to colour output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Style {
    pub color: bool,
}

impl Style {
    pub fn paint(self, code: &str, text: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }
}
