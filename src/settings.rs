//! Checked settings: the command line and environment resolved once, so commands never
//! look at clap types or environment variables themselves.

use crate::cli::Cli;
use crate::render::Style;
use std::io::IsTerminal;
use std::path::PathBuf;

#[derive(Debug, Clone)]
pub struct Settings {
    pub file: PathBuf,
    pub region: Option<String>,
    pub profile: Option<String>,
    pub endpoint_url: Option<String>,
    /// Colour for stdout and stderr.
    pub style: Style,
    /// stdin is a terminal: apply and destroy may ask.
    pub interactive: bool,
    /// Timestamps on progress lines (not a terminal: CI logs).
    pub timestamps: bool,
    pub verbose: u8,
}

impl Settings {
    pub fn from(cli: &Cli) -> Settings {
        let g = &cli.global;
        let no_color = g.no_color || std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        let stderr_tty = std::io::stderr().is_terminal();
        Settings {
            file: g.file.clone(),
            region: g.region.clone(),
            profile: g.profile.clone(),
            endpoint_url: g.endpoint_url.clone(),
            style: Style { color: !no_color && std::io::stdout().is_terminal() && stderr_tty },
            interactive: std::io::stdin().is_terminal(),
            timestamps: !stderr_tty,
            verbose: g.verbose,
        }
    }
}
