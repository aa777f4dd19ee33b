//! Problems found in a stack file, and how they are shown to a person.
//!
//! A [`Diagnostic`] is one problem at one place (1-based line and column, counted in
//! characters). [`Diagnostics`] is every problem of one file together with the file's text,
//! so that `Display` can print each one rustc-style with the offending line underlined:
//!
//! ```text
//! error: unknown key `retension_days` in `database.backups`
//!   --> stacks/bumarket.yaml:41:7
//!    |
//! 41 |       retension_days: 7
//!    |       ^^^^^^^^^^^^^^ did you mean `retention_days`?
//! ```
//!
//! No colour, lower-case messages, names in backticks: it must read well in a CI log.

use std::fmt;
use std::path::{Path, PathBuf};

/// A place in the source: 1-based line and column (in characters) and a width to underline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Span {
    pub line: usize,
    pub col: usize,
    pub len: usize,
}

impl Span {
    pub fn new(line: usize, col: usize, len: usize) -> Span {
        Span { line, col, len }
    }
}

/// One problem in a stack file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// What is wrong, lower case, names in backticks.
    pub message: String,
    /// The file, as the user named it.
    pub path: PathBuf,
    /// 1-based; 0 when the problem concerns the whole file (it could not be read).
    pub line: usize,
    /// 1-based, in characters.
    pub column: usize,
    /// How many characters to underline (at least one is drawn).
    pub len: usize,
    /// Text after the `^^^`.
    pub label: String,
    /// A last `= help:` line.
    pub help: Option<String>,
}

impl Diagnostic {
    /// A problem at `span`.
    pub fn at(path: &Path, span: Span, message: impl Into<String>, label: impl Into<String>) -> Self {
        Diagnostic {
            message: message.into(),
            path: path.to_path_buf(),
            line: span.line,
            column: span.col,
            len: span.len,
            label: label.into(),
            help: None,
        }
    }

    /// A problem with the whole file (line 0, rendered without a snippet).
    pub fn whole_file(path: &Path, message: impl Into<String>) -> Self {
        Diagnostic::at(path, Span::new(0, 0, 0), message, "")
    }

    /// Adds (or replaces) the `= help:` line.
    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// The problem as text, quoting the offending line of `source`.
    pub fn render(&self, source: &str) -> String {
        let mut out = format!("error: {}\n", self.message);
        if self.line == 0 {
            out.push_str(&format!("  --> {}", self.path.display()));
        } else {
            let number = self.line.to_string();
            let pad = " ".repeat(number.len());
            let text = source.lines().nth(self.line - 1).unwrap_or("").trim_end();
            let before: String =
                text.chars().take(self.column.saturating_sub(1)).map(|c| if c == '\t' { '\t' } else { ' ' }).collect();
            let room = text.chars().count().saturating_sub(self.column.saturating_sub(1));
            let carets = "^".repeat(self.len.min(room).max(1));
            out.push_str(&format!("{pad}--> {}:{}:{}\n", self.path.display(), self.line, self.column));
            let quoted = format!("{number} | {text}");
            out.push_str(&format!("{pad} |\n{}\n", quoted.trim_end()));
            let caret_line = format!("{pad} | {before}{carets} {}", self.label);
            out.push_str(caret_line.trim_end());
        }
        if let Some(help) = &self.help {
            let pad = " ".repeat(self.line.max(1).to_string().len());
            out.push_str(&format!("\n{pad} = help: {help}"));
        }
        out
    }
}

/// Every problem of one stack file, with the text they point into.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostics {
    /// In file order.
    pub items: Vec<Diagnostic>,
    path: PathBuf,
    source: String,
}

impl Diagnostics {
    /// `source` is what the diagnostics' lines and columns point into.
    pub fn new(path: &Path, source: impl Into<String>, items: Vec<Diagnostic>) -> Self {
        Diagnostics { items, path: path.to_path_buf(), source: source.into() }
    }

    /// The stack file the problems are in.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The file's text (secrets found in it are masked with `*`).
    pub fn source(&self) -> &str {
        &self.source
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    pub fn iter(&self) -> std::slice::Iter<'_, Diagnostic> {
        self.items.iter()
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for item in &self.items {
            write!(f, "{}\n\n", item.render(&self.source))?;
        }
        let n = self.items.len();
        let noun = if n == 1 { "problem" } else { "problems" };
        write!(f, "error: could not use `{}`: {n} {noun}", self.path.display())
    }
}

impl std::error::Error for Diagnostics {}

impl<'a> IntoIterator for &'a Diagnostics {
    type Item = &'a Diagnostic;
    type IntoIter = std::slice::Iter<'a, Diagnostic>;
    fn into_iter(self) -> Self::IntoIter {
        self.items.iter()
    }
}

/// Replaces the characters under each span with `*`, so a secret written in the file by
/// mistake is not echoed into logs.
pub(crate) fn mask(source: &str, spans: &[Span]) -> String {
    if spans.is_empty() {
        return source.to_string();
    }
    let mut out = String::with_capacity(source.len());
    for (i, line) in source.split_inclusive('\n').enumerate() {
        let hidden: Vec<&Span> = spans.iter().filter(|s| s.line == i + 1).collect();
        for (j, c) in line.chars().enumerate() {
            let col = j + 1;
            let masked = hidden.iter().any(|s| col >= s.col && col < s.col + s.len);
            out.push(if masked && c != '\n' { '*' } else { c });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_like_the_ux_sketch() {
        let source = format!("{}      retension_days: 7\n", "\n".repeat(40));
        let d = Diagnostic::at(
            Path::new("stacks/bumarket.yaml"),
            Span::new(41, 7, 14),
            "unknown key `retension_days` in `database.backups`",
            "did you mean `retention_days`?",
        );
        let want = "error: unknown key `retension_days` in `database.backups`
  --> stacks/bumarket.yaml:41:7
   |
41 |       retension_days: 7
   |       ^^^^^^^^^^^^^^ did you mean `retention_days`?";
        assert_eq!(d.render(&source), want);
    }

    #[test]
    fn whole_file_problems_have_no_snippet_and_count_is_pluralised() {
        let one = Diagnostics::new(
            Path::new("x.yaml"),
            "",
            vec![Diagnostic::whole_file(Path::new("x.yaml"), "could not read `x.yaml`")],
        );
        assert_eq!(
            one.to_string(),
            "error: could not read `x.yaml`\n  --> x.yaml\n\nerror: could not use `x.yaml`: 1 problem"
        );
        let mut two = one.clone();
        two.items.push(one.items[0].clone().with_help("check the path"));
        assert!(two.to_string().ends_with("  = help: check the path\n\nerror: could not use `x.yaml`: 2 problems"));
    }

    #[test]
    fn carets_stop_at_the_end_of_the_line_and_mask_hides_secrets() {
        let d = Diagnostic::at(Path::new("f"), Span::new(1, 4, 50), "m", "");
        assert!(d.render("a: bc\n").ends_with("1 | a: bc\n  |    ^^"));
        assert_eq!(mask("a: b\npassword: hunter2\n", &[Span::new(2, 11, 7)]), "a: b\npassword: *******\n");
    }
}
