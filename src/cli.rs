//! The command line, as clap sees it: declarations only, no logic. `settings` turns it
//! into checked settings; `run` carries out the command.

use clap::{ArgAction, Args, Parser, Subcommand};
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "bumarket-infra",
    version,
    about = "One YAML file for a small web team's whole AWS stack: plan, apply, destroy.",
    after_help = "Examples:\n  bumarket-infra validate\n  bumarket-infra plan --detailed-exitcode\n  bumarket-infra apply --auto-approve -f stacks/bumarket.yaml\n\nExit codes: 0 success (with --detailed-exitcode: no changes), 2 changes present (plan --detailed-exitcode), 1 error."
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct Global {
    /// The stack file.
    #[arg(short = 'f', long = "file", global = true, default_value = "stacks/bumarket.yaml", value_name = "PATH")]
    pub file: PathBuf,
    /// The environment of the stack file to act on (required when it declares
    /// `environments:`); `plan --env all` plans every one.
    #[arg(long = "env", global = true, value_name = "NAME")]
    pub env: Option<String>,
    /// AWS region; overrides the stack file's `region:`.
    #[arg(long, global = true, value_name = "REGION")]
    pub region: Option<String>,
    /// Named profile from the AWS config files (default: AWS_PROFILE, then `default`).
    #[arg(long, global = true, value_name = "NAME")]
    pub profile: Option<String>,
    /// Send every AWS call to this endpoint (an emulator, a proxy); AWS_ENDPOINT_URL works too.
    #[arg(long, global = true, value_name = "URL")]
    pub endpoint_url: Option<String>,
    /// Never colour output (NO_COLOR works too; CLICOLOR_FORCE or FORCE_COLOR force it).
    #[arg(long, global = true)]
    pub no_color: bool,
    /// Most AWS calls in flight at once, reads and writes of every service together;
    /// throttled calls are retried, slowing down while AWS throttles.
    #[arg(long, global = true, value_name = "N", env = "BUMARKET_MAX_IN_FLIGHT",
          default_value_t = crate::aws::limit::DEFAULT_MAX_IN_FLIGHT,
          value_parser = at_least_one)]
    pub max_in_flight: usize,
    /// Log more (-v: AWS calls, -vv: each call's timing and SDK details) to stderr.
    #[arg(short, long, global = true, action = ArgAction::Count)]
    pub verbose: u8,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check the stack file offline; no AWS call.
    #[command(after_help = "Example:\n  bumarket-infra validate -f stacks/bumarket.yaml")]
    Validate,
    /// Read live AWS and show what apply would do; changes nothing.
    #[command(
        after_help = "Examples:\n  bumarket-infra plan\n  bumarket-infra plan --json > plan.json\n  bumarket-infra plan --format markdown > plan.md   # a pull-request comment, risk first\n  bumarket-infra plan --out pr-42.plan   # then: bumarket-infra apply pr-42.plan\n  bumarket-infra plan --detailed-exitcode   # in CI: 0 no changes, 2 changes, 1 error\n  bumarket-infra plan --fail-on replace,delete   # exit 3 when data could be lost"
    )]
    Plan(PlanArgs),
    /// Plan, ask, then make live AWS match the stack file.
    #[command(
        after_help = "Examples:\n  bumarket-infra apply\n  bumarket-infra apply --auto-approve   # in CI\n  bumarket-infra plan --out bumarket.plan && bumarket-infra apply bumarket.plan"
    )]
    Apply {
        /// A plan saved by `plan --out FILE`: apply exactly it, or refuse it when stale.
        #[arg(value_name = "PLAN")]
        plan_file: Option<std::path::PathBuf>,
        /// Do not ask for confirmation (needed without a terminal).
        #[arg(long)]
        auto_approve: bool,
        /// Wait this long for another writer's lock (`30s`, `10m`); default: fail at once.
        #[arg(long, value_name = "DURATION", value_parser = duration)]
        lock_timeout: Option<u64>,
        /// Mail a new confirmation link to e-mail addresses whose subscription AWS
        /// deleted unconfirmed (after 48 hours); without it they are never mailed twice.
        #[arg(long)]
        resubscribe: bool,
    },
    /// Delete everything the stack owns, in reverse dependency order.
    #[command(after_help = "Example:\n  bumarket-infra destroy --auto-approve -f examples/minimal.yaml")]
    Destroy {
        /// Do not ask for confirmation (needed without a terminal).
        #[arg(long)]
        auto_approve: bool,
        /// Wait this long for another writer's lock (`30s`, `10m`); default: fail at once.
        #[arg(long, value_name = "DURATION", value_parser = duration)]
        lock_timeout: Option<u64>,
    },
    /// Give up resources the stack owns and leave them running as they are (the whole
    /// stack, or the addresses named): their ownership tags are removed, so `destroy`
    /// and a file without them never delete them. Shows the plan first.
    #[command(
        after_help = "Examples:\n  bumarket-infra release database.main bucket.images   # keep them, then `destroy` the rest\n  bumarket-infra release --auto-approve                # the whole stack: hand it back"
    )]
    Release {
        /// Addresses as `plan` shows them (`database.main`); none: everything the stack owns.
        #[arg(value_name = "ADDRESS")]
        addresses: Vec<String>,
        /// Do not ask for confirmation (needed without a terminal).
        #[arg(long)]
        auto_approve: bool,
        /// Wait this long for another writer's lock (`30s`, `10m`); default: fail at once.
        #[arg(long, value_name = "DURATION", value_parser = duration)]
        lock_timeout: Option<u64>,
    },
    /// Write a stack file from what a region holds that no stack owns (built by hand, in
    /// the console): every resource listed under `adopt:`, so `plan` and `apply` take it
    /// over in place. Reads only.
    #[command(
        after_help = "Examples:\n  bumarket-infra import --region ap-northeast-2 --stack bumarket --out stacks/bumarket.yaml\n  bumarket-infra import --region ap-northeast-2 --prefix shop- --vpc vpc-0abc123 > shop.yaml\n\nThen: bumarket-infra plan -f stacks/bumarket.yaml   # every resource planned as `adopt`"
    )]
    Import {
        /// The stack's name in the file (default: the prefix without its last `-`).
        #[arg(long, value_name = "NAME")]
        stack: Option<String>,
        /// Only resources whose names start with PREFIX (their logical names drop it).
        #[arg(long, value_name = "PREFIX")]
        prefix: Option<String>,
        /// The VPC to take, when several belong to no stack.
        #[arg(long, value_name = "VPC_ID")]
        vpc: Option<String>,
        /// Only resources with this tag (KEY=VALUE; repeat for more), where the kind has tags.
        #[arg(long = "tag", value_name = "KEY=VALUE")]
        tags: Vec<String>,
        /// Write the file here (and the template's user data beside it); default: stdout.
        #[arg(short = 'o', long, value_name = "FILE")]
        out: Option<PathBuf>,
        /// Replace `--out` when it exists.
        #[arg(long)]
        force: bool,
    },
    /// Remove the stack's lock after showing who held it (when that run is gone).
    #[command(after_help = "Example:\n  bumarket-infra force-unlock -f stacks/bumarket.yaml")]
    ForceUnlock {
        /// Do not ask for confirmation (needed without a terminal).
        #[arg(long)]
        auto_approve: bool,
    },
    /// Print the IAM policy a CI role needs for this stack file (no AWS call).
    #[command(
        after_help = "Examples:\n  bumarket-infra permissions --for apply > deployer-policy.json\n  bumarket-infra permissions --for plan   # read-only, for pull requests\n  aws iam put-role-policy --role-name ci-deployer --policy-name bumarket-infra --policy-document file://deployer-policy.json"
    )]
    Permissions {
        /// What the role runs: `plan` (read-only) or `apply` (also destroy).
        #[arg(long = "for", value_enum, default_value = "apply")]
        phase: crate::permissions::Phase,
    },
    /// Draw the stack as Graphviz DOT or Mermaid: the request path, buckets, alarms and
    /// who may do what; with `--plan`, what that saved plan changes is marked (no AWS call).
    #[command(
        after_help = "Examples:\n  bumarket-infra graph | dot -Tsvg > stack.svg\n  bumarket-infra graph --format mermaid   # GitHub draws a ```mermaid block\n  bumarket-infra plan --out p.plan && bumarket-infra graph --plan p.plan | dot -Tpng > change.png"
    )]
    Graph {
        /// The language: `dot` (Graphviz) or `mermaid`.
        #[arg(long, value_enum, default_value = "dot")]
        format: GraphFormat,
        /// A plan saved by `plan --out`: the resources it changes are marked.
        #[arg(long, value_name = "FILE")]
        plan: Option<std::path::PathBuf>,
    },
    /// Print a region's price table asked of the AWS Price List Query API, in the format of
    /// src/cost/prices/ (what scripts/refresh-prices runs; needs `pricing:GetProducts`).
    #[command(hide = true)]
    RefreshPrices {
        /// The region whose prices to ask for.
        region: String,
        /// Another key to price (`ec2.instance.m5.large`), besides the shipped table's.
        #[arg(long = "add", value_name = "KEY")]
        add: Vec<String>,
    },
    /// Print shell completions for bumarket-infra (no stack file, no AWS call).
    #[command(
        after_help = "Examples:\n  bumarket-infra completions bash > ~/.local/share/bash-completion/completions/bumarket-infra\n  bumarket-infra completions zsh > ~/.zfunc/_bumarket-infra   # with fpath+=(~/.zfunc) in ~/.zshrc\n  bumarket-infra completions fish > ~/.config/fish/completions/bumarket-infra.fish"
    )]
    Completions {
        /// The shell: bash, zsh, fish, elvish or powershell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff) of bumarket-infra and its commands (no AWS call).
    #[command(
        after_help = "Examples:\n  bumarket-infra man > bumarket-infra.1 && man ./bumarket-infra.1\n  bumarket-infra man | gzip > /usr/local/share/man/man1/bumarket-infra.1.gz"
    )]
    Man,
    /// Show the stack's useful values (bucket names and ARNs, role ARNs, ...).
    #[command(
        after_help = "Examples:\n  bumarket-infra output\n  bumarket-infra output --json | jq -r '.\"bucket.images\".name'"
    )]
    Output {
        /// One JSON object on stdout.
        #[arg(long)]
        json: bool,
    },
}

/// `plan`'s options.
#[derive(Debug, Clone, Args)]
pub struct PlanArgs {
    /// Exit 2 when there are changes, 0 when none.
    #[arg(long)]
    pub detailed_exitcode: bool,
    /// Print the plan as one JSON document on stdout (schema: docs/plan-json.md); the
    /// same as `--format json`.
    #[arg(long, conflicts_with = "format")]
    pub json: bool,
    /// How to print the plan: `human` (a terminal), `json` (docs/plan-json.md) or
    /// `markdown` (a pull-request comment: risk first, details folded).
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub format: Option<Format>,
    /// The most bytes `--format markdown` prints: it leaves out detail first, then the
    /// lines of lesser changes (counted), never a deletion or replacement line.
    #[arg(long, value_name = "BYTES", default_value_t = crate::render::markdown::DEFAULT_MAX_BYTES)]
    pub max_bytes: usize,
    /// Exit 3 when the plan would do one of these (comma-separated): `replace`,
    /// `delete`, `data-loss` (a replacement or deletion of a bucket, database, log group
    /// or hosted zone), `change` (anything); each may name a kind, `delete:database`.
    #[arg(long, value_name = "LIST", value_delimiter = ',', value_parser = fail_on)]
    pub fail_on: Vec<FailOn>,
    /// Also print the estimated monthly cost (`--format markdown` always does; JSON
    /// under `"cost"`).
    #[arg(long)]
    pub cost: bool,
    /// The stack file as it was before the change (the pull request's base): the cost
    /// estimate then says what the change adds or saves a month.
    #[arg(long, value_name = "FILE")]
    pub cost_base: Option<std::path::PathBuf>,
    /// Also save the plan to FILE, for `apply FILE`.
    #[arg(long, value_name = "FILE")]
    pub out: Option<std::path::PathBuf>,
    /// Plan to mail a new confirmation link to e-mail addresses whose subscription
    /// AWS deleted unconfirmed (after 48 hours).
    #[arg(long)]
    pub resubscribe: bool,
}

impl PlanArgs {
    /// The format asked for (`--json` is `--format json`).
    pub fn format(&self) -> Format {
        if self.json {
            Format::Json
        } else {
            self.format.unwrap_or(Format::Human)
        }
    }
}

/// The language `graph` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum GraphFormat {
    Dot,
    Mermaid,
}

/// How `plan` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Human,
    Json,
    Markdown,
}

/// What `plan --fail-on` stops on: an action (or any change, or a loss of data), of
/// one kind or of every kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailOn {
    pub what: Forbidden,
    pub kind: Option<crate::engine::Kind>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Forbidden {
    Replace,
    Delete,
    DataLoss,
    Change,
}

impl FailOn {
    /// Whether the planned change is one this forbids.
    pub fn forbids(&self, r: &crate::plan::ResourceChange) -> bool {
        use crate::plan::Action;
        if self.kind.is_some_and(|k| k != r.addr.kind()) {
            return false;
        }
        match self.what {
            Forbidden::Replace => r.action == Action::Replace,
            Forbidden::Delete => r.action == Action::Delete,
            Forbidden::DataLoss => matches!(r.action, Action::Replace | Action::Delete) && r.addr.kind().holds_data(),
            Forbidden::Change => r.action != Action::NoOp,
        }
    }
}

/// `replace`, `delete:database`, `data-loss`, `change`.
fn fail_on(text: &str) -> Result<FailOn, String> {
    let (what, kind) = match text.split_once(':') {
        Some((w, k)) => (w, Some(k)),
        None => (text, None),
    };
    let what = match what.trim() {
        "replace" => Forbidden::Replace,
        "delete" => Forbidden::Delete,
        "data-loss" => Forbidden::DataLoss,
        "change" => Forbidden::Change,
        other => {
            return Err(format!("expected `replace`, `delete`, `data-loss` or `change`, found `{other}`"));
        }
    };
    let kind = match kind.map(str::trim) {
        None => None,
        Some(k) => Some(crate::engine::Kind::parse(k).ok_or_else(|| {
            let kinds: Vec<&str> = crate::engine::Kind::ALL.iter().map(|k| k.as_str()).collect();
            format!("`{k}` is no kind of resource; the kinds are {}", kinds.join(", "))
        })?),
    };
    Ok(FailOn { what, kind })
}

/// The manual page of the command and, as sections of it, each subcommand's.
pub fn man_page() -> Result<String, crate::run::Failure> {
    use clap::CommandFactory;
    let cli = Cli::command();
    let failed = |e: std::io::Error| crate::run::Failure::new(format!("could not write the manual page: {e}"));
    let mut out = Vec::new();
    clap_mangen::Man::new(cli.clone()).render(&mut out).map_err(failed)?;
    for sub in cli.get_subcommands().filter(|c| c.get_name() != "help") {
        let name = format!("bumarket-infra {}", sub.get_name());
        // clap names take `'static` text; this runs once, then the process ends.
        let page = clap_mangen::Man::new(sub.clone().name(&*Box::leak(name.clone().into_boxed_str())));
        out.extend_from_slice(format!(".SH \"{}\"\n", name.to_uppercase()).as_bytes());
        let mut part = Vec::new();
        page.render_description_section(&mut part).map_err(failed)?;
        page.render_options_section(&mut part).map_err(failed)?;
        if sub.get_after_help().is_some() {
            page.render_extra_section(&mut part).map_err(failed)?;
        }
        // The command's own sections are subsections of its section.
        let part = String::from_utf8_lossy(&part)
            .replace(".SH DESCRIPTION\n", ".SS Description\n")
            .replace(".SH OPTIONS\n", ".SS Options\n")
            .replace(".SH EXTRA\n", ".SS Examples\n");
        out.extend_from_slice(part.as_bytes());
    }
    Ok(String::from_utf8_lossy(&out).into_owned())
}

/// A count of one or more.
fn at_least_one(text: &str) -> Result<usize, String> {
    text.parse::<usize>()
        .ok()
        .filter(|n| *n >= 1)
        .ok_or_else(|| format!("expected a number of 1 or more, found `{text}`"))
}

/// A duration as the stack file writes them, in seconds.
fn duration(text: &str) -> Result<u64, String> {
    bumarket_stack::parse_duration(text)
        .ok_or_else(|| format!("expected a duration such as `30s`, `10m` or `1h`, found `{text}`"))
}
