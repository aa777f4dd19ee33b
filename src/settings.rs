//! Checked settings: the command line and environment resolved once, so commands never
//! look at clap types or environment variables themselves.

use crate::cli::Cli;
use crate::render::Style;
use std::io::IsTerminal;
use std::path::PathBuf;

#[derive(Debug, Clone)]
pub struct Settings {
    pub file: PathBuf,
    /// `--env`: the environment of the file (`all`: every one, for `plan`).
    pub env: Option<String>,
    pub region: Option<String>,
    pub profile: Option<String>,
    pub endpoint_url: Option<String>,
    /// Most AWS calls in flight at once.
    pub max_in_flight: usize,
    /// Attempts per AWS call (`AWS_MAX_ATTEMPTS`, as the SDKs read it).
    pub max_attempts: Option<u32>,
    /// Colour on stdout (the plan).
    pub out: Style,
    /// Colour on stderr (progress, errors).
    pub err: Style,
    /// stdin is a terminal: apply and destroy may ask.
    pub interactive: bool,
    /// Timestamps on progress lines (stderr is not a terminal: CI logs).
    pub timestamps: bool,
    pub verbose: u8,
}

impl Settings {
    pub fn from(cli: &Cli) -> Settings {
        let g = &cli.global;
        let env = |k: &str| std::env::var(k).ok();
        let stderr_tty = std::io::stderr().is_terminal();
        Settings {
            file: g.file.clone(),
            env: g.env.clone(),
            region: g.region.clone(),
            profile: g.profile.clone(),
            endpoint_url: g.endpoint_url.clone(),
            max_in_flight: g.max_in_flight,
            max_attempts: env("AWS_MAX_ATTEMPTS").and_then(|n| n.parse().ok()).filter(|n| *n >= 1),
            out: Style { color: color(g.no_color, env, std::io::stdout().is_terminal()) },
            err: Style { color: color(g.no_color, env, stderr_tty) },
            interactive: std::io::stdin().is_terminal(),
            timestamps: !stderr_tty,
            verbose: g.verbose,
        }
    }
}

/// Whether to colour one stream, as the ecosystem's conventions say, first rule first:
/// `--no-color` or a non-empty `NO_COLOR` (no-color.org) never colour; a `CLICOLOR_FORCE`
/// other than `0` (bixense.com/clicolors) or a `FORCE_COLOR` other than `0` and `false`
/// (the Node.js convention) always do; `CLICOLOR=0` and `TERM=dumb` do not; otherwise the
/// stream is coloured when it is a terminal.
pub fn color(no_color_flag: bool, env: impl Fn(&str) -> Option<String>, terminal: bool) -> bool {
    let set = |k: &str| env(k).filter(|v| !v.is_empty());
    if no_color_flag || set("NO_COLOR").is_some() {
        return false;
    }
    if set("CLICOLOR_FORCE").is_some_and(|v| v != "0") || env("FORCE_COLOR").is_some_and(|v| v != "0" && v != "false") {
        return true;
    }
    if env("CLICOLOR").as_deref() == Some("0") || env("TERM").as_deref() == Some("dumb") {
        return false;
    }
    terminal
}

#[cfg(test)]
mod tests {
    use super::color;

    fn with<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |k| vars.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string())
    }

    #[test]
    fn colour_follows_the_conventions_for_each_stream() {
        // A terminal is coloured, a pipe or a file is not.
        assert!(color(false, with(&[]), true));
        assert!(!color(false, with(&[]), false));
        // Off, whatever else says.
        assert!(!color(true, with(&[("CLICOLOR_FORCE", "1")]), true));
        assert!(!color(false, with(&[("NO_COLOR", "1"), ("FORCE_COLOR", "1")]), true));
        // An empty NO_COLOR is not set (no-color.org).
        assert!(color(false, with(&[("NO_COLOR", "")]), true));
        // Forced on, into a pipe too.
        assert!(color(false, with(&[("CLICOLOR_FORCE", "1")]), false));
        assert!(color(false, with(&[("FORCE_COLOR", "")]), false));
        assert!(color(false, with(&[("FORCE_COLOR", "3")]), false));
        assert!(!color(false, with(&[("FORCE_COLOR", "0")]), false));
        assert!(!color(false, with(&[("FORCE_COLOR", "false")]), false));
        assert!(!color(false, with(&[("CLICOLOR_FORCE", "0")]), false));
        // Off on a terminal that asks for none.
        assert!(!color(false, with(&[("CLICOLOR", "0")]), true));
        assert!(!color(false, with(&[("TERM", "dumb")]), true));
        assert!(color(false, with(&[("TERM", "dumb"), ("CLICOLOR_FORCE", "1")]), true));
    }
}
