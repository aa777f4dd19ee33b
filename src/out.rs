//! Writing to stdout and stderr without ever panicking. A reader that went away
//! (`bumarket-infra plan | head`) closes the pipe: what the command still had to say
//! is dropped, and the command goes on to its own end and exit code. Errors are written
//! in one shape (docs/STYLE.md): `error: <what>`, then `  = help: <what to do>` lines.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};

static STDOUT_GONE: AtomicBool = AtomicBool::new(false);
static STDERR_GONE: AtomicBool = AtomicBool::new(false);

fn write(gone: &AtomicBool, mut w: impl Write, text: &str) {
    if gone.load(Ordering::Relaxed) {
        return;
    }
    if let Err(e) = w.write_all(text.as_bytes()).and_then(|()| w.flush()) {
        // A closed pipe, a full disk, a terminal gone: nothing here can say so.
        let _ = e;
        gone.store(true, Ordering::Relaxed);
    }
}

/// Write `text` to stdout.
pub fn stdout(text: &str) {
    write(&STDOUT_GONE, std::io::stdout().lock(), text);
}

/// Write `text` to stderr.
pub fn stderr(text: &str) {
    write(&STDERR_GONE, std::io::stderr().lock(), text);
}

/// `println!` that never panics.
macro_rules! outln {
    ($($arg:tt)*) => { $crate::out::stdout(&format!("{}\n", format_args!($($arg)*))) };
}

/// `eprintln!` that never panics.
macro_rules! errln {
    ($($arg:tt)*) => { $crate::out::stderr(&format!("{}\n", format_args!($($arg)*))) };
}

pub(crate) use {errln, outln};

/// An error and what to do about it, in the one shape users read.
pub fn error_text(what: &str, help: &[String]) -> String {
    let mut text = format!("error: {what}\n");
    for h in help {
        text.push_str(&format!("  = help: {h}\n"));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::error_text;

    #[test]
    fn an_error_reads_what_then_each_help_on_its_own_line() {
        assert_eq!(
            error_text("`role.app`: iam:CreateRole: AccessDenied: not authorized", &["give the deployer `iam:CreateRole`".into()]),
            "error: `role.app`: iam:CreateRole: AccessDenied: not authorized\n  = help: give the deployer `iam:CreateRole`\n"
        );
        assert_eq!(error_text("no", &[]), "error: no\n");
    }
}
