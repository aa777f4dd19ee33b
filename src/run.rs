//! Carries out one command. The flow of every command that touches AWS is the same:
//! load and check the stack (no AWS call on bad input), read live state in two waves,
//! build the plan, then render it or execute it. What stops a command is a [`Failure`],
//! printed once, at the edge, in the shape docs/STYLE.md describes.

use crate::apply::{self, Outcome, StepError};
use crate::aws::lock::{self, Holder, Lock};
use crate::aws::{Aws, Options};
use crate::cli::{Cli, Command};
use crate::engine::{Addr, Desired};
use crate::out::{errln, outln};
use crate::plan::saved::SavedPlan;
use crate::plan::{self, Mode, Plan};
use crate::render::{self, human::count, progress::Lines};
use crate::resources::{Cx, Live, Registry};
use crate::settings::Settings;
use crate::{permissions, preflight};
use bumarket_stack::Stack;
use std::io::BufRead;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// How the process ends, from the best to the worst (`plan --env all` ends with the
/// worst of its environments').
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Exit {
    Ok,
    /// `plan --detailed-exitcode` found changes.
    Changes,
    /// `plan --fail-on` found a change it forbids.
    Forbidden,
    Error,
}

impl From<Exit> for std::process::ExitCode {
    fn from(e: Exit) -> Self {
        std::process::ExitCode::from(match e {
            Exit::Ok => 0,
            Exit::Error => 1,
            Exit::Changes => 2,
            Exit::Forbidden => 3,
        })
    }
}

/// A command that cannot go on: what went wrong, and what the user can do about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub message: String,
    pub help: Vec<String>,
}

impl Failure {
    pub fn new(message: impl Into<String>) -> Failure {
        Failure { message: message.into(), help: vec![] }
    }

    pub fn help(mut self, help: impl Into<String>) -> Failure {
        self.help.push(help.into());
        self
    }

    /// Say that AWS was left as it was.
    fn nothing_changed(mut self) -> Failure {
        self.message.push_str("; nothing was changed");
        self
    }
}

impl From<StepError> for Failure {
    fn from(e: StepError) -> Failure {
        Failure { message: e.to_string(), help: e.hint.into_iter().collect() }
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Failure {}

type Result<T> = std::result::Result<T, Failure>;

/// What a command's own words add to a step's error.
fn context(what: &str) -> impl Fn(StepError) -> Failure + '_ {
    move |e| {
        let mut f = Failure::from(e);
        f.message = format!("{what}: {}", f.message);
        f
    }
}

pub fn main(cli: Cli) -> Exit {
    let settings = Settings::from(&cli);
    init_tracing(settings.verbose);
    match run(cli.command, &settings) {
        Ok(exit) => exit,
        Err(f) => {
            crate::out::stderr(&crate::out::error_text(&f.message, &f.help));
            Exit::Error
        }
    }
}

fn init_tracing(verbose: u8) {
    let default = match verbose {
        // The credential chain warns about every provider it tried; the error that
        // follows says what matters.
        0 => "warn,aws_config=error",
        1 => "bumarket_infra=debug,warn",
        _ => "debug,bumarket_infra=trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_writer(|| Stderr).without_time().try_init();
}

/// The log's writer: stderr, never panicking.
struct Stderr;

impl std::io::Write for Stderr {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        crate::out::stderr(&String::from_utf8_lossy(buf));
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn run(command: Command, s: &Settings) -> Result<Exit> {
    // Completions and the manual page come from the command line's definition alone.
    match &command {
        Command::Completions { shell } => {
            let mut cli = <Cli as clap::CommandFactory>::command();
            let mut text = Vec::new();
            if *shell == clap_complete::Shell::Bash {
                // clap_complete's bash script never completes a subcommand's options when
                // the program's name has a hyphen (clap-rs/clap#6421, open): generated
                // under a name without one, it is registered for the real name.
                let mut cli = cli.name("bumarket_infra");
                clap_complete::generate(*shell, &mut cli, "bumarket_infra", &mut text);
                let script = String::from_utf8_lossy(&text).replace(" bumarket_infra\n", " bumarket-infra\n");
                crate::out::stdout(&script);
            } else {
                clap_complete::generate(*shell, &mut cli, "bumarket-infra", &mut text);
                crate::out::stdout(&String::from_utf8_lossy(&text));
            }
            return Ok(Exit::Ok);
        }
        Command::Man => {
            crate::out::stdout(&crate::cli::man_page()?);
            return Ok(Exit::Ok);
        }
        _ => {}
    }
    if let Command::RefreshPrices { region, add } = &command {
        return refresh_prices(s, region, add);
    }
    // Import writes a stack file: there is none to load.
    if let Command::Import { stack, prefix, vpc, tags, out, force } = command {
        let request = crate::import::Request { stack, prefix, vpc, tags, out, force };
        let runtime = runtime()?;
        return runtime.block_on(crate::import::run(request, s));
    }
    // `--env all`, and `validate` of a file with environments but no `--env`: each one.
    let every = s.env.as_deref() == Some(ALL);
    if every || (matches!(command, Command::Validate) && s.env.is_none()) {
        let names = match bumarket_stack::environment_names(&s.file) {
            Ok(names) => names,
            Err(d) => {
                errln!("{d}");
                return Ok(Exit::Error);
            }
        };
        if every || !names.is_empty() {
            return each_environment(command, s, &names);
        }
    }
    let Some(stack) = load(s) else { return Ok(Exit::Error) };
    if let Command::Validate = command {
        return Ok(validate(&stack, s));
    }
    if let Command::Permissions { phase } = command {
        return permissions_cmd(stack, s, phase);
    }
    if let Command::Graph { format, plan } = command {
        return graph_cmd(stack, s, format, plan.as_deref());
    }
    let phase = match command {
        Command::Plan { .. } | Command::Output { .. } => permissions::Phase::Plan,
        _ => permissions::Phase::Apply,
    };
    let checked = std::env::var_os(CHECK_CALLS).is_some_and(|v| v == "1").then(|| stack.clone());
    let result = run_aws(command, s, stack);
    if let (Some(stack), Some(log)) = (checked, crate::aws::last_call_log()) {
        if let Err(f) = check_calls(stack, s, phase, &log.made()) {
            crate::out::stderr(&crate::out::error_text(&f.message, &f.help));
            return result.map(|_| Exit::Error);
        }
    }
    result
}

/// `--env all`: every environment of the file.
const ALL: &str = "all";

/// `validate` (without `--env`) or `plan --env all` of every environment the file
/// declares, one after another, each under its own heading; the exit code is the worst
/// of theirs (an error, then changes).
fn each_environment(command: Command, s: &Settings, names: &[String]) -> Result<Exit> {
    let plan = match &command {
        Command::Validate => None,
        Command::Plan(args) if args.out.is_none() && args.format() != crate::cli::Format::Json => Some(args.clone()),
        Command::Plan { .. } => {
            return Err(Failure::new(
                "`plan --env all` prints the plans for people; `--json` and `--out` take one environment",
            )
            .help("name one with `--env NAME`"))
        }
        _ => {
            return Err(Failure::new(
                "`--env all` is for `plan` (and `validate`); this command acts on one environment",
            )
            .help("name one with `--env NAME`"))
        }
    };
    if names.is_empty() {
        return Err(
            Failure::new(format!("`{}` declares no `environments:`", s.file.display())).help("drop `--env all`")
        );
    }
    let mut worst = Exit::Ok;
    for name in names {
        // Each one as `--env NAME` would run it (its AWS calls checked as any run's).
        let one = Settings { env: Some(name.clone()), ..s.clone() };
        let command = match &plan {
            None => Command::Validate,
            Some(args) => {
                let mut args = args.clone();
                if args.format() == crate::cli::Format::Markdown {
                    let heading = format!("## Environment `{name}`\n\n");
                    crate::out::stdout(&heading);
                    // One comment holds them all: each gets its share of the room.
                    args.max_bytes = (args.max_bytes / names.len()).saturating_sub(heading.len());
                } else {
                    outln!("== environment `{name}`");
                }
                Command::Plan(args)
            }
        };
        let exit = run(command, &one).unwrap_or_else(|f| {
            crate::out::stderr(&crate::out::error_text(&f.message, &f.help));
            Exit::Error
        });
        worst = worst.max(exit);
    }
    Ok(worst)
}

/// Set to `1` (the test suite does, for every run), each command ends by checking the
/// AWS calls it made against the policy `permissions` prints for it (see
/// `crate::permissions`).
const CHECK_CALLS: &str = "BUMARKET_INFRA_CHECK_CALLS";

fn check_calls(
    stack: Stack,
    s: &Settings,
    phase: permissions::Phase,
    made: &std::collections::BTreeSet<(String, String)>,
) -> Result<Exit> {
    let registry = offline_registry(stack, s)?;
    let missing = permissions::undeclared(&registry, phase, made);
    if missing.is_empty() {
        return Ok(Exit::Ok);
    }
    Err(Failure::new(format!(
        "this run made AWS calls that `bumarket-infra permissions --for {}` does not grant: {}",
        if phase == permissions::Phase::Plan { "plan" } else { "apply" },
        missing.join(", ")
    ))
    .help("declare each in its provider's `calls()` (src/resources), or in `permissions::CORE_READS`"))
}

/// The providers of the stack without asking AWS anything: the account is `*`.
fn offline_registry(stack: Stack, s: &Settings) -> Result<Registry> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .map_err(|e| Failure::new(format!("could not start the async runtime: {e}")))?;
    let region = s.region.clone().unwrap_or_else(|| stack.region.clone());
    let aws = runtime.block_on(Aws::connect(&crate::aws::Options { region, ..Default::default() }));
    Ok(Registry::new(Cx::new(aws, stack, "*".into(), None)))
}

fn permissions_cmd(stack: Stack, s: &Settings, phase: permissions::Phase) -> Result<Exit> {
    let registry = offline_registry(stack, s)?;
    let policy = permissions::policy(&registry, phase);
    outln!("{}", json_text(&policy));
    let size = permissions::size(&policy);
    if size > permissions::INLINE_POLICIES_LIMIT {
        errln!(
            "note: the policy is {size} characters without whitespace: more than a role's inline policies hold ({}); split its statements over managed policies of at most {} each",
            permissions::INLINE_POLICIES_LIMIT,
            permissions::MANAGED_POLICY_LIMIT
        );
    } else if size > permissions::MANAGED_POLICY_LIMIT {
        errln!(
            "note: the policy is {size} characters without whitespace: more than a managed policy holds ({}); attach it as an inline policy of the role (up to {})",
            permissions::MANAGED_POLICY_LIMIT,
            permissions::INLINE_POLICIES_LIMIT
        );
    }
    Ok(Exit::Ok)
}

/// `refresh-prices REGION`: a price table asked of the Price List Query API, on stdout;
/// exit 1 when a key had no product (a half-refreshed table is noticed).
fn refresh_prices(s: &Settings, region: &str, add: &[String]) -> Result<Exit> {
    let runtime = runtime()?;
    let opts = Options {
        region: region.to_string(),
        profile: s.profile.clone(),
        endpoint_url: s.endpoint_url.clone(),
        ..Default::default()
    };
    let (table, problems) = runtime
        .block_on(async { crate::cost::query::table_of(&Aws::connect(&opts).await.pricing, region, add).await })
        .map_err(|e| Failure::new(e).help("any credentials with `pricing:GetProducts` will do"))?;
    outln!("{}", json_text(&table));
    for p in &problems {
        errln!("refresh-prices: {p}");
    }
    Ok(if problems.is_empty() { Exit::Ok } else { Exit::Error })
}

/// `graph`: the picture of the file's resources, with a saved plan's changes marked.
fn graph_cmd(
    stack: Stack,
    s: &Settings,
    format: crate::cli::GraphFormat,
    plan: Option<&std::path::Path>,
) -> Result<Exit> {
    let saved = plan.map(read_saved).transpose()?;
    if let Some(saved) = &saved {
        if saved.plan.stack != stack.name {
            return Err(Failure::new(format!(
                "the saved plan is of the stack `{}`, and `{}` is `{}`",
                saved.plan.stack,
                s.file.display(),
                stack.name
            ))
            .help("pass the plan of this stack (and environment), or its stack file with `--file`"));
        }
    }
    let registry = offline_registry(stack.clone(), s)?;
    let picture = crate::graph::Picture::new(&stack, &registry.desired(), saved.as_ref().map(|p| &p.plan));
    crate::out::stdout(&match format {
        crate::cli::GraphFormat::Dot => picture.dot(),
        crate::cli::GraphFormat::Mermaid => picture.mermaid(),
    });
    Ok(Exit::Ok)
}

fn run_aws(command: Command, s: &Settings, stack: Stack) -> Result<Exit> {
    if let Command::Apply { auto_approve: false, .. }
    | Command::Destroy { auto_approve: false, .. }
    | Command::Release { auto_approve: false, .. }
    | Command::ForceUnlock { auto_approve: false } = command
    {
        if !s.interactive {
            let verb = match command {
                Command::Apply { .. } => "apply",
                Command::Destroy { .. } => "destroy",
                Command::Release { .. } => "release",
                _ => "force-unlock",
            };
            return Err(Failure::new(format!(
                "{verb} needs confirmation and there is no terminal to ask on; nothing was changed"
            ))
            .help("pass `--auto-approve` (for example in CI)"));
        }
    }
    let runtime = runtime()?;
    runtime.block_on(async {
        match command {
            Command::Validate
            | Command::Permissions { .. }
            | Command::Graph { .. }
            | Command::RefreshPrices { .. }
            | Command::Import { .. }
            | Command::Completions { .. }
            | Command::Man => unreachable!("handled above"),
            Command::Plan(args) => {
                let reading = Reading { resubscribe: args.resubscribe, ..Default::default() };
                plan_cmd(stack, s, &args, reading).await
            }
            Command::Apply { plan_file, auto_approve, lock_timeout, resubscribe } => {
                let saved = plan_file.map(|f| read_saved(&f)).transpose()?;
                let mode = (Mode::Converge, Reading { resubscribe, ..Default::default() });
                locked(stack, s, mode, auto_approve, lock_timeout.unwrap_or(0), saved).await
            }
            Command::Destroy { auto_approve, lock_timeout } => {
                let mode = (Mode::Destroy, Reading::default());
                locked(stack, s, mode, auto_approve, lock_timeout.unwrap_or(0), None).await
            }
            Command::Release { addresses, auto_approve, lock_timeout } => {
                let mode = (Mode::Destroy, Reading { release: Some(addresses), ..Default::default() });
                locked(stack, s, mode, auto_approve, lock_timeout.unwrap_or(0), None).await
            }
            Command::ForceUnlock { auto_approve } => force_unlock_cmd(stack, s, auto_approve).await,
            Command::Output { json } => output_cmd(stack, s, json).await,
        }
    })
}

/// Read and check the stack file; print every problem and return `None` when invalid.
fn load(s: &Settings) -> Option<Stack> {
    match bumarket_stack::load_env(&s.file, s.env.as_deref()) {
        Ok(stack) => Some(stack),
        Err(d) => {
            errln!("{d}");
            None
        }
    }
}

fn validate(stack: &Stack, s: &Settings) -> Exit {
    let a = &stack.access;
    let env = stack
        .environment
        .as_ref()
        .map_or(String::new(), |e| format!(" (environment `{}`, account {})", e.name, e.account));
    outln!(
        "`{}` is valid: stack `{}`{env} in {}, {}, {}, {}.",
        s.file.display(),
        stack.name,
        stack.region,
        count(stack.buckets.len(), "bucket"),
        count(a.roles.len(), "role"),
        count(a.groups.len(), "group"),
    );
    Exit::Ok
}

/// Clients for the stack's region.
async fn connect(stack: &Stack, s: &Settings) -> Aws {
    let region = s.region.clone().unwrap_or_else(|| stack.region.clone());
    let opts = Options {
        region,
        profile: s.profile.clone(),
        endpoint_url: s.endpoint_url.clone(),
        max_in_flight: s.max_in_flight,
        max_attempts: s.max_attempts,
    };
    Aws::connect(&opts).await
}

/// Who the credentials are: (account, caller ARN), with the error users need.
async fn identity(aws: &Aws) -> Result<(String, String)> {
    aws.identity().await.map_err(|e| {
        Failure::new(format!("could not reach AWS: {e}"))
            .help("check the credentials (`AWS_PROFILE`, `--profile`, `AWS_ACCESS_KEY_ID`) and the region")
    })
}

/// Refuses credentials of another account than the environment's (`environments.<name>.
/// account`), before anything is written.
fn pinned(env: Option<&bumarket_stack::Environment>, account: &str) -> Result<()> {
    match env {
        Some(e) if e.account != account => Err(Failure::new(format!(
            "credentials are for account {account}, environment `{}` is pinned to {}; nothing was changed",
            e.name, e.account
        ))
        .help(format!(
            "use credentials of account {} (`--profile`, `AWS_PROFILE`), or correct `environments.{}.account`",
            e.account, e.name
        ))),
        _ => Ok(()),
    }
}

/// Apply or destroy while holding the stack's lock; the lock is given back however the
/// run ends, Ctrl-C included (at the confirmation prompt too).
async fn locked(
    stack: Stack,
    s: &Settings,
    (mode, reading): (Mode, Reading),
    auto_approve: bool,
    wait_seconds: u64,
    saved: Option<SavedPlan>,
) -> Result<Exit> {
    let aws = connect(&stack, s).await;
    let (account, who) = identity(&aws).await?;
    pinned(stack.environment.as_ref(), &account)?;
    let command = verb_of(mode, &reading);
    let holder = Holder {
        who,
        host: lock::hostname(),
        pid: std::process::id(),
        since: crate::render::progress::utc_now(),
        command: command.into(),
        tool_version: env!("CARGO_PKG_VERSION").into(),
    };
    let tell = |m: String| errln!("{m}");
    let name = stack.name.clone();
    let held = Lock::acquire(&aws, holder, &name, &account, Duration::from_secs(wait_seconds), &tell)
        .await
        .map_err(|e| Failure::from(e).nothing_changed())?;
    let started = AtomicBool::new(false);
    let result = tokio::select! {
        r = change_cmd(stack, s, (mode, reading), auto_approve, saved, (aws.clone(), account.clone()), &started) => r,
        _ = tokio::signal::ctrl_c() => {
            if started.load(Ordering::SeqCst) {
                errln!("\ninterrupted: what finished is kept; run `bumarket-infra {command}` again to continue");
            } else {
                errln!("\n{command} cancelled; nothing was changed.");
            }
            Ok(Exit::Error)
        }
    };
    if let Err(e) = held.release(&aws, &tell).await {
        crate::out::stderr(&crate::out::error_text(
            &format!("could not release the lock of stack `{name}`: {e}"),
            &["run `bumarket-infra force-unlock` once you are sure no run is under way".into()],
        ));
    }
    result
}

/// Ask on the terminal; only `yes` says yes. The answer is read on a thread of its own,
/// so the caller (and Ctrl-C beside it) never waits on a blocked read.
async fn ask(question: &str) -> Result<bool> {
    crate::out::stderr(&format!("{question} Only 'yes' will be accepted: "));
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        let mut answer = String::new();
        let read = std::io::stdin().lock().read_line(&mut answer).map(|_| answer);
        let _ = tx.send(read);
    });
    let answer = rx
        .await
        .map_err(|_| Failure::new("the terminal's answer was lost"))?
        .map_err(|e| Failure::new(format!("could not read the answer: {e}")))?;
    Ok(answer.trim() == "yes")
}

async fn force_unlock_cmd(stack: Stack, s: &Settings, auto_approve: bool) -> Result<Exit> {
    let aws = connect(&stack, s).await;
    let (account, _) = identity(&aws).await?;
    pinned(stack.environment.as_ref(), &account)?;
    let Some(found) = lock::holder(&aws, &account, &stack.name).await? else {
        errln!("Stack `{}` in {} is not locked.", stack.name, aws.region);
        return Ok(Exit::Ok);
    };
    errln!("Stack `{}` in {} is locked by {}.", stack.name, aws.region, found.holder);
    if !auto_approve && !ask("Remove this lock? Make sure that run is gone.").await? {
        errln!("force-unlock cancelled; the lock stays.");
        return Ok(Exit::Error);
    }
    // Only the lock shown: one that changed hands since is refused, nothing deleted.
    match lock::force_unlock(&aws, &account, &stack.name, &found).await? {
        lock::Unlocked::Removed => errln!("Lock removed."),
        lock::Unlocked::AlreadyGone => {
            errln!("The lock was gone already: its run gave it back, or another `force-unlock` removed it.")
        }
    }
    Ok(Exit::Ok)
}

/// How a command's read differs from a plain plan's.
#[derive(Debug, Clone, Default)]
struct Reading {
    /// `--resubscribe`: plan to mail links again (see `monitoring::subscription`).
    resubscribe: bool,
    /// `release`: give up these addresses (all the stack owns when empty) instead of
    /// deleting them; read as `destroy` reads (see `crate::release`).
    release: Option<Vec<String>>,
}

/// The command a change runs as, for the lock, the question and the summary.
fn verb_of(mode: Mode, reading: &Reading) -> &'static str {
    match (mode, &reading.release) {
        (_, Some(_)) => "release",
        (Mode::Destroy, None) => "destroy",
        (Mode::Converge, None) => "apply",
    }
}

/// Read live state in two waves and build the plan. `known` is the clients and account
/// of a caller that already has them (apply and destroy, which took the lock with them).
async fn prepare(
    stack: Stack,
    s: &Settings,
    (mode, reading): (Mode, Reading),
    known: Option<(Aws, String)>,
) -> Result<(Registry, Plan)> {
    let region = s.region.clone().unwrap_or_else(|| stack.region.clone());
    let (aws, known_account) = match known {
        Some((aws, account)) => (aws, Some(account)),
        None => (connect(&stack, s).await, None),
    };
    // The read summary counts the read's own calls only.
    aws.calls.clear();
    let started = Instant::now();
    errln!("Reading live state of stack `{}` in {region} ...", stack.name);
    let live = Live::new(aws.clone(), &stack);
    // Wave one: who we are (unless known), the fleet's image, and what the stack owns, in
    // parallel. Wave two (each resource's attributes, in parallel) needs only the first
    // two: it starts with them, and what it needs of the listings it waits for on its own.
    let environment = stack.environment.clone();
    let who = async {
        match known_account {
            Some(account) => Ok::<_, Failure>(account),
            None => {
                let (account, _) = identity(&aws).await?;
                pinned(environment.as_ref(), &account)?;
                Ok(account)
            }
        }
    };
    let name = stack.name.clone();
    let reads = async {
        let (account, image_id, existing) = tokio::join!(who, live.image(), live.existing());
        let mut cx = Cx::new(aws.clone(), stack, account?, image_id?);
        cx.resubscribe = reading.resubscribe;
        let existing = existing.map_err(context("looking up `existing:`"))?.clone();
        if !existing.problems.is_empty() {
            crate::out::stderr(&preflight::render(&cx, &existing.problems));
            let n = existing.problems.len();
            return Err(Failure::new(format!(
                "{} of `existing:` in `{}` did not match exactly one resource; nothing was changed",
                if n == 1 { "1 lookup".to_string() } else { format!("{n} lookups") },
                cx.stack.source.path.display()
            )));
        }
        cx.use_existing(existing);
        let registry = Registry::new(cx);
        let desired = registry.desired();
        let observed = registry.read(&live, &desired).await.map_err(context("reading live state"));
        Ok::<_, Failure>((registry, desired, observed))
    };
    // `reads` first: its two calls go out before the listings' many.
    let (read, listed) = tokio::join!(reads, live.prefetch());
    let (registry, desired, observed) = read?;
    // A listing that failed fails the reads that waited for it: its own error says more.
    listed.map_err(context("reading the stack's resources"))?;
    let observed = observed?;
    let found = observed.iter().filter(|o| o.is_ours()).count();
    let outside = observed.iter().filter(|o| matches!(o.ownership, crate::engine::Ownership::Unowned(_))).count();
    let mut plan = plan::build(&name, &region, mode, &desired, observed, &registry)
        .map_err(|conflicts| conflicts_failure(&registry, &desired, &conflicts))?;
    // References resolve to the copy the planner kept (not a duplicate about to go).
    for r in &plan.resources {
        if let (Some(_), Some(o)) = (&r.desired, &r.observed) {
            registry.cx.set_id(&o.addr, &o.id);
        }
    }
    plan.not_managed = registry.not_managed();
    plan.uses = registry
        .cx
        .existing
        .found
        .iter()
        .map(|f| plan::Used { key: format!("existing.{}", f.key), id: f.id.clone(), detail: f.detail.clone() })
        .collect();
    registry.annotate(&mut plan);
    if let Some(named) = &reading.release {
        plan = crate::release::plan(&registry, plan, named, &desired)
            .map_err(|why| Failure::new(format!("cannot release: {why}")).nothing_changed())?;
    }
    let live = if outside > 0 {
        format!("{found} live and {outside} made outside bumarket-infra")
    } else {
        format!("{found} live")
    };
    errln!(
        "  {} in the file, {live}; {} in {} round trips, {:.1} s",
        count(desired.len(), "resource"),
        count(aws.calls.count(), "AWS call"),
        aws.calls.depth(),
        started.elapsed().as_secs_f64()
    );
    let ops: Vec<String> = aws.calls.by_operation().into_iter().map(|(op, n)| format!("{op} x{n}")).collect();
    tracing::debug!("AWS calls of the read: {}", ops.join(", "));
    tracing::debug!("longest chain of calls: {}", aws.calls.chain().join(" -> "));
    tracing::trace!("the read's calls (start, end):\n{}", aws.calls.timeline(started).join("\n"));
    // What AWS would refuse of what the plan creates or changes, before anything is written;
    // first, what the file's `adopt:` asks that the account cannot give.
    let mut problems = if mode == Mode::Converge { adopt_problems(&registry, &plan) } else { Vec::new() };
    if problems.is_empty() {
        problems = preflight::check(&registry.cx, &plan).await.map_err(context("checking what AWS would refuse"))?;
    }
    if !problems.is_empty() {
        crate::out::stderr(&preflight::render(&registry.cx, &problems));
        let n = problems.len();
        return Err(Failure::new(format!(
            "AWS would refuse {} of `{}`; nothing was changed",
            if n == 1 { "1 value".to_string() } else { format!("{n} values") },
            s.file.display()
        )));
    }
    Ok((registry, plan))
}

/// Entries of the file's `adopt:` that cannot be: an address the file does not make, a
/// live resource that is not there (the plan would create a new one instead, which is
/// not what the entry asks), or one the entry names otherwise than the file does.
fn adopt_problems(registry: &Registry, plan: &Plan) -> Vec<preflight::Problem> {
    let mut out = Vec::new();
    for (key, given) in &registry.cx.stack.adopt {
        let problem = |message: String, label: &str, help: String| preflight::Problem {
            keys: vec!["adopt".into(), key.clone()],
            message,
            label: label.into(),
            help: Some(help),
        };
        let Some(r) = plan.resources.iter().find(|r| r.addr.as_str() == key && r.desired.is_some()) else {
            let made: Vec<&str> =
                plan.resources.iter().filter(|r| r.desired.is_some()).map(|r| r.addr.as_str()).collect();
            let help = match bumarket_stack::closest(key, made.iter().copied()) {
                Some(near) => format!("did you mean `{near}`?"),
                None => "list an address that `plan` shows for a resource of the file".into(),
            };
            out.push(problem(format!("the stack file makes no resource `{key}`"), "no such resource", help));
            continue;
        };
        match &r.observed {
            None => out.push(problem(
                format!(
                    "`adopt:` lists `{key}` as `{}`, but there is no such resource in {}",
                    given.id,
                    registry.cx.region()
                ),
                "not found",
                "check the id or name (and the region); to create it anew instead, remove the entry".into(),
            )),
            Some(o) if r.action == plan::Action::Adopt && ![&o.id, &o.name, &r.name].contains(&&given.id) => {
                out.push(problem(
                    format!("`adopt:` lists `{key}` as `{}`, but the file names it `{}`", given.id, r.name),
                    "another resource",
                    format!("write `{key}: {}`, or give the resource the name `{}` in the file", o.id, given.id),
                ))
            }
            Some(_) => {}
        }
    }
    out
}

/// Why the plan cannot go ahead. A name of the file that someone else's resource has is
/// shown at the file's value, as a stack-file problem is; the rest are listed.
fn conflicts_failure(registry: &Registry, desired: &[Desired], conflicts: &[plan::Conflict]) -> Failure {
    let mut placed = Vec::new();
    let mut listed = Vec::new();
    for c in conflicts {
        let place = |addr: &Addr| {
            desired
                .iter()
                .find(|d| &d.addr == addr)
                .map(|d| crate::resources::provider(addr.kind()).place(&registry.cx, d))
                .unwrap_or_default()
        };
        let problem = match c {
            plan::Conflict::Foreign { addr, name, detail } => Some((
                place(addr),
                format!("`{addr}` wants the name `{name}`, but {detail}"),
                "name taken",
                "bumarket-infra never changes or deletes what it does not own: rename it in the stack file or remove the other resource".to_string(),
            )),
            plan::Conflict::Unowned { addr, name, id, detail } => Some((
                place(addr),
                format!("`{addr}` wants the name `{name}`, but {detail}"),
                "made outside bumarket-infra",
                format!("to take it over as it runs, add `{addr}: {id}` under `adopt:`; else rename it in the stack file"),
            )),
            plan::Conflict::AdoptReplaces { addr, forced, .. } => Some((
                place(addr),
                c.to_string(),
                "adopting would replace it",
                format!(
                    "write in the file what runs ({}), or leave `{addr}` out of `adopt:` and out of the file",
                    forced.iter().map(|(a, live, _)| format!("`{a}` {live}")).collect::<Vec<_>>().join(", ")
                ),
            )),
            plan::Conflict::BadAddress { .. } => None,
        };
        match problem {
            Some((keys, message, label, help)) if !keys.is_empty() => {
                placed.push(preflight::Problem { keys, message, label: label.into(), help: Some(help) })
            }
            _ => listed.push(format!("  - {c}")),
        }
    }
    if !placed.is_empty() {
        crate::out::stderr(&preflight::render(&registry.cx, &placed));
    }
    let mut message = "the plan cannot go ahead; nothing was changed".to_string();
    if !listed.is_empty() {
        message.push_str(&format!(":\n{}", listed.join("\n")));
    }
    Failure::new(message)
}

/// A plan saved by `plan --out`.
fn read_saved(path: &std::path::Path) -> Result<SavedPlan> {
    let shown = path.display();
    let text = std::fs::read_to_string(path)
        .map_err(|e| Failure::new(format!("could not read the saved plan `{shown}`: {e}")))?;
    let saved: SavedPlan = serde_json::from_str(&text).map_err(|e| {
        Failure::new(format!("`{shown}` is not a plan saved by `bumarket-infra plan --out`: {e}"))
            .help("make one with `bumarket-infra plan --out FILE`")
    })?;
    if saved.saved_format != plan::saved::SAVED_FORMAT {
        return Err(Failure::new(format!(
            "`{shown}` was saved by bumarket-infra {} in a format this version does not read",
            saved.tool_version
        ))
        .help("make a new one with `bumarket-infra plan --out FILE`"));
    }
    Ok(saved)
}

/// The markdown plan in `room` bytes, then `after` (the cost estimate), then the picture
/// of the stack with the plan's changes marked, folded (GitHub draws its Mermaid). The
/// picture is the first thing left out: only when the whole plan fits beside it.
fn markdown_with_picture(plan: &Plan, file: &str, room: usize, stack: Option<&Stack>, after: &str) -> String {
    let picture = stack.map(|stack| {
        let desired: Vec<_> = plan.resources.iter().filter_map(|r| r.desired.clone()).collect();
        let picture = crate::graph::Picture::new(stack, &desired, Some(plan));
        let marked = match picture.marked() {
            0 => String::new(),
            n => format!(", {n} marked as changed"),
        };
        format!(
            "\n<details><summary>Picture of the stack{marked}</summary>\n\n```mermaid\n{}```\n\n</details>\n",
            picture.mermaid()
        )
    });
    if let Some(picture) = picture {
        let text = render::markdown::plan(plan, file, room.saturating_sub(picture.len()));
        if render::markdown::is_whole(&text) {
            return format!("{text}\n{after}{picture}");
        }
    }
    let text = render::markdown::plan(plan, file, room);
    if after.is_empty() {
        text
    } else {
        format!("{text}\n{after}")
    }
}

/// The async runtime a command that calls AWS runs on.
fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::new(format!("could not start the async runtime: {e}")))
}

fn json_text(v: &impl serde::Serialize) -> String {
    serde_json::to_string_pretty(v).expect("plans and outputs serialise")
}

async fn plan_cmd(stack: Stack, s: &Settings, args: &crate::cli::PlanArgs, reading: Reading) -> Result<Exit> {
    use crate::cli::Format;
    let sha = stack.source.sha256.clone();
    let priced = cost_of(&stack, s, args)?;
    let drawn = (args.format() == Format::Markdown).then(|| stack.clone());
    let (registry, plan) = prepare(stack, s, (Mode::Converge, reading), None).await?;
    // After the read, so its summary counts the read's calls only: one round trip more.
    let cost = match &priced {
        Some((stack, before)) => {
            Some(crate::cost::query::estimate_asking(&registry.cx.aws.pricing, stack, before.as_ref()).await)
        }
        None => None,
    };
    if let Some(out) = &args.out {
        let saved = SavedPlan::new(plan.clone(), &s.file.display().to_string(), &sha);
        std::fs::write(out, json_text(&saved))
            .map_err(|e| Failure::new(format!("could not write the plan to `{}`: {e}", out.display())))?;
        errln!("Saved the plan to `{}`: `bumarket-infra apply {}` applies exactly it.", out.display(), out.display());
    }
    let file = s.file.display().to_string();
    match (args.format(), &cost) {
        (Format::Json, cost) => {
            let mut doc = render::json::plan(&plan);
            if let (Some(c), true) = (cost, args.cost || args.cost_base.is_some()) {
                doc["cost"] = c.json();
            }
            outln!("{}", json_text(&doc))
        }
        (Format::Markdown, Some(c)) => {
            // The estimate is part of the comment: the plan gets what it leaves of the room.
            let mut cost = c.markdown();
            if cost.len() * 3 > args.max_bytes {
                // Too little room: the plan's lines come first, the estimate is one line.
                cost = "_The cost estimate is left out to keep this short: `bumarket-infra plan --cost` shows it._\n"
                    .into();
            }
            let room = args.max_bytes.saturating_sub(cost.len() + 1);
            crate::out::stdout(&markdown_with_picture(&plan, &file, room, drawn.as_ref(), &cost));
        }
        (Format::Markdown, None) => {
            crate::out::stdout(&markdown_with_picture(&plan, &file, args.max_bytes, drawn.as_ref(), ""))
        }
        (Format::Human, cost) => {
            crate::out::stdout(&render::human::plan(&plan, &file, s.out));
            if let (Some(c), true) = (cost, args.cost || args.cost_base.is_some()) {
                crate::out::stdout(&format!("\n{}", c.human()));
            }
        }
    }
    let forbidden: Vec<String> = plan
        .actions()
        .filter(|r| args.fail_on.iter().any(|f| f.forbids(r)))
        .map(|r| format!("{} {}", r.action.symbol(), r.addr))
        .collect();
    if !forbidden.is_empty() {
        errln!("error: the plan does what `--fail-on` forbids: {}; nothing was changed", forbidden.join(", "));
        return Ok(Exit::Forbidden);
    }
    Ok(if args.detailed_exitcode && plan.has_changes() { Exit::Changes } else { Exit::Ok })
}

/// What an estimate prices, when the plan wants one: the stack, and the one of
/// `--cost-base` to price the change from.
fn cost_of(stack: &Stack, s: &Settings, args: &crate::cli::PlanArgs) -> Result<Option<(Stack, Option<Stack>)>> {
    let wanted = args.cost || args.cost_base.is_some() || args.format() == crate::cli::Format::Markdown;
    if !wanted {
        return Ok(None);
    }
    let before = match &args.cost_base {
        None => None,
        Some(path) => match bumarket_stack::load_env(path, s.env.as_deref()) {
            Ok(stack) => Some(stack),
            Err(d) => {
                errln!("{d}");
                return Err(Failure::new(format!("could not read `--cost-base {}`", path.display())).nothing_changed());
            }
        },
    };
    Ok(Some((stack.clone(), before)))
}

async fn change_cmd(
    stack: Stack,
    s: &Settings,
    (mode, reading): (Mode, Reading),
    auto_approve: bool,
    saved: Option<SavedPlan>,
    connection: (Aws, String),
    started: &AtomicBool,
) -> Result<Exit> {
    let verb = verb_of(mode, &reading);
    let sha = stack.source.sha256.clone();
    let (registry, fresh) = prepare(stack, s, (mode, reading), Some(connection)).await?;
    let plan = match saved {
        None => fresh,
        Some(saved) => {
            let why = saved.staleness(&sha, &fresh);
            if !why.is_empty() {
                return Err(Failure::new(format!("the saved plan is stale: {}", why.join("; ")))
                    .nothing_changed()
                    .help("make a new one with `bumarket-infra plan --out FILE`"));
            }
            saved.plan
        }
    };
    crate::out::stdout(&render::human::plan(&plan, &s.file.display().to_string(), s.out));
    if !plan.has_changes() {
        return Ok(Exit::Ok);
    }
    let refusals = registry.refusals(&plan).await.map_err(context("checking what would be deleted"))?;
    if !refusals.is_empty() {
        for (addr, why) in &refusals {
            crate::out::stderr(&crate::out::error_text(&format!("`{addr}`: {why}"), &[]));
        }
        return Err(Failure::new(format!("{verb} refused")).nothing_changed());
    }
    let question = if verb == "destroy" {
        format!("\nDestroy everything stack `{}` owns in {}?", plan.stack, plan.region)
    } else if verb == "release" {
        format!("\nRelease these resources of stack `{}` in {} (they keep running)?", plan.stack, plan.region)
    } else {
        format!("\nApply these changes to stack `{}` in {}?", plan.stack, plan.region)
    };
    if !auto_approve && !ask(&question).await? {
        errln!("{verb} cancelled; nothing was changed.");
        return Ok(Exit::Error);
    }
    started.store(true, Ordering::SeqCst);
    registry.cx.aws.calls.clear();
    // On a terminal, live lines; elsewhere (CI, a file), one timestamped line per event.
    let outcome = if s.timestamps {
        apply::execute(&plan, &registry, &Lines { style: s.err, timestamps: true }).await
    } else {
        let live = crate::progress::Live::new(crate::progress::steps(&plan), s.err);
        let outcome = apply::execute(&plan, &registry, &live).await;
        live.finish();
        outcome
    };
    summary(verb, &outcome);
    if outcome.ok() {
        Ok(Exit::Ok)
    } else {
        Ok(Exit::Error)
    }
}

fn summary(verb: &str, o: &Outcome) {
    let n = |k: apply::StepKind| o.done.iter().filter(|(_, d)| *d == k).count();
    let mut counts = String::new();
    for (kind, word) in [(apply::StepKind::Adopt, "adopted"), (apply::StepKind::Release, "released")] {
        if n(kind) > 0 {
            counts.push_str(&format!("{} {word}, ", n(kind)));
        }
    }
    counts.push_str(&format!(
        "{} created, {} updated, {} deleted in {:.1} s",
        n(apply::StepKind::Create),
        n(apply::StepKind::Update),
        n(apply::StepKind::Delete),
        o.elapsed.as_secs_f64()
    ));
    if o.ok() {
        errln!("\n{} complete: {counts}.", capitalise(verb));
        return;
    }
    errln!("\n{} failed: {counts}; {} failed, {} skipped.", capitalise(verb), o.failed.len(), o.skipped.len());
    for (addr, e) in &o.failed {
        crate::out::stderr(&crate::out::error_text(
            &format!("`{addr}`: {e}"),
            &e.hint.iter().cloned().collect::<Vec<_>>(),
        ));
    }
    for (addr, because) in &o.skipped {
        errln!("  skipped `{addr}` (needs `{because}`)");
    }
    errln!("What finished is kept; fix the cause and run `bumarket-infra {verb}` again: it continues from here.");
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    c.next().map(|f| f.to_uppercase().chain(c).collect()).unwrap_or_default()
}

async fn output_cmd(stack: Stack, s: &Settings, json: bool) -> Result<Exit> {
    let (_, plan) = prepare(stack, s, (Mode::Converge, Reading::default()), None).await?;
    let mut values = serde_json::Map::new();
    for r in &plan.resources {
        if let (Some(o), true) = (&r.observed, r.desired.is_some()) {
            values.insert(r.addr.to_string(), serde_json::to_value(&o.outputs).expect("outputs serialise"));
        }
    }
    if json {
        outln!("{}", json_text(&values));
        return Ok(Exit::Ok);
    }
    if values.is_empty() {
        errln!("Nothing of stack `{}` exists yet: run `bumarket-infra apply` first.", plan.stack);
        return Ok(Exit::Ok);
    }
    let width = values.keys().map(String::len).max().unwrap_or(0);
    let key_width =
        values.values().flat_map(|o| o.as_object().into_iter().flatten()).map(|(k, _)| k.len()).max().unwrap_or(0);
    for (addr, outs) in &values {
        for (i, (k, v)) in outs.as_object().into_iter().flatten().enumerate() {
            let a = if i == 0 { addr.as_str() } else { "" };
            outln!("{a:<width$}  {k:<key_width$}  {}", v.as_str().unwrap_or_default());
        }
    }
    Ok(Exit::Ok)
}
