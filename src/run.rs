//! Carries out one command. The flow of every command that touches AWS is the same:
//! load and check the stack (no AWS call on bad input), read live state in two waves,
//! build the plan, then render it or execute it.

use crate::apply::{self, Outcome};
use crate::aws::lock::{self, Holder, Lock};
use crate::aws::{Aws, Options};
use crate::cli::{Cli, Command};
use crate::plan::saved::SavedPlan;
use crate::plan::{self, Mode, Plan};
use crate::render::{self, human::count, progress::Lines};
use crate::resources::{Cx, Live, Registry};
use crate::settings::Settings;
use anyhow::{bail, Context, Result};
use bumarket_stack::Stack;
use std::io::{BufRead, Write};
use std::time::{Duration, Instant};

/// How the process ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Ok,
    /// `plan --detailed-exitcode` found changes.
    Changes,
    Error,
}

impl From<Exit> for std::process::ExitCode {
    fn from(e: Exit) -> Self {
        std::process::ExitCode::from(match e {
            Exit::Ok => 0,
            Exit::Error => 1,
            Exit::Changes => 2,
        })
    }
}

/// Most AWS calls in flight at once during apply.
const MAX_IN_FLIGHT: usize = 8;

pub fn main(cli: Cli) -> Exit {
    let settings = Settings::from(&cli);
    init_tracing(settings.verbose);
    match run(cli.command, &settings) {
        Ok(exit) => exit,
        Err(e) => {
            eprintln!("error: {e:#}");
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
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).without_time().try_init();
}

fn run(command: Command, s: &Settings) -> Result<Exit> {
    let Some(stack) = load(s) else { return Ok(Exit::Error) };
    if let Command::Validate = command {
        return Ok(validate(&stack, s));
    }
    if let Command::Apply { auto_approve: false, .. }
    | Command::Destroy { auto_approve: false, .. }
    | Command::ForceUnlock { auto_approve: false } = command
    {
        if !s.interactive {
            let verb = match command {
                Command::Apply { .. } => "apply",
                Command::Destroy { .. } => "destroy",
                _ => "force-unlock",
            };
            bail!("{verb} needs confirmation and there is no terminal to ask on: pass `--auto-approve` (for example in CI); nothing was changed");
        }
    }
    let runtime =
        tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting the async runtime")?;
    runtime.block_on(async {
        match command {
            Command::Validate => unreachable!("handled above"),
            Command::Plan { detailed_exitcode, json, out } => plan_cmd(stack, s, detailed_exitcode, json, out).await,
            Command::Apply { plan_file, auto_approve, lock_timeout } => {
                let saved = plan_file.map(|f| read_saved(&f)).transpose()?;
                locked(stack, s, Mode::Converge, auto_approve, lock_timeout.unwrap_or(0), saved).await
            }
            Command::Destroy { auto_approve, lock_timeout } => {
                locked(stack, s, Mode::Destroy, auto_approve, lock_timeout.unwrap_or(0), None).await
            }
            Command::ForceUnlock { auto_approve } => force_unlock_cmd(stack, s, auto_approve).await,
            Command::Output { json } => output_cmd(stack, s, json).await,
        }
    })
}

/// Read and check the stack file; print every problem and return `None` when invalid.
fn load(s: &Settings) -> Option<Stack> {
    match bumarket_stack::load(&s.file) {
        Ok(stack) => Some(stack),
        Err(d) => {
            eprint!("{d}");
            None
        }
    }
}

fn validate(stack: &Stack, s: &Settings) -> Exit {
    let a = &stack.access;
    println!(
        "`{}` is valid: stack `{}` in {}, {}, {}, {}.",
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
    Aws::connect(&Options { region, profile: s.profile.clone(), endpoint_url: s.endpoint_url.clone() }).await
}

/// Who the credentials are: (account, caller ARN), with the error users need.
async fn identity(aws: &Aws) -> Result<(String, String)> {
    aws.identity().await.map_err(|e| anyhow::anyhow!("{e}")).context(
        "could not reach AWS: check the credentials (AWS_PROFILE, --profile, AWS_ACCESS_KEY_ID) and the region",
    )
}

/// Apply or destroy while holding the stack's lock; the lock is given back however the
/// run ends, Ctrl-C included.
async fn locked(
    stack: Stack,
    s: &Settings,
    mode: Mode,
    auto_approve: bool,
    wait_seconds: u64,
    saved: Option<SavedPlan>,
) -> Result<Exit> {
    let aws = connect(&stack, s).await;
    let (account, who) = identity(&aws).await?;
    let command = if mode == Mode::Destroy { "destroy" } else { "apply" };
    let holder = Holder {
        who,
        host: lock::hostname(),
        pid: std::process::id(),
        since: crate::render::progress::utc_now(),
        command: command.into(),
        tool_version: env!("CARGO_PKG_VERSION").into(),
    };
    let tell = |m: String| eprintln!("{m}");
    let name = stack.name.clone();
    let held = Lock::acquire(&aws, holder, &name, &account, Duration::from_secs(wait_seconds), &tell).await.map_err(
        |e| match (e.call.as_str(), &e.hint) {
            ("lock", Some(h)) => anyhow::anyhow!("{}; nothing was changed\n  {h}", e.message),
            _ => anyhow::anyhow!("{e}"),
        },
    )?;
    let result = tokio::select! {
        r = change_cmd(stack, s, mode, auto_approve, saved, (aws.clone(), account.clone())) => r,
        _ = tokio::signal::ctrl_c() => {
            eprintln!("\ninterrupted: what finished is kept; run `bumarket-infra {command}` again to continue");
            Ok(Exit::Error)
        }
    };
    if let Err(e) = held.release(&aws).await {
        eprintln!("error: could not release the lock of stack `{name}`: {e}; run `bumarket-infra force-unlock`");
    }
    result
}

async fn force_unlock_cmd(stack: Stack, s: &Settings, auto_approve: bool) -> Result<Exit> {
    let aws = connect(&stack, s).await;
    let (account, _) = identity(&aws).await?;
    let Some(holder) = lock::holder(&aws, &account, &stack.name).await.map_err(|e| anyhow::anyhow!("{e}"))? else {
        eprintln!("Stack `{}` in {} is not locked.", stack.name, aws.region);
        return Ok(Exit::Ok);
    };
    eprintln!("Stack `{}` in {} is locked by {holder}.", stack.name, aws.region);
    if !auto_approve {
        eprint!("Remove this lock? Make sure that run is gone. Only 'yes' will be accepted: ");
        std::io::stderr().flush()?;
        let mut answer = String::new();
        std::io::stdin().lock().read_line(&mut answer)?;
        if answer.trim() != "yes" {
            eprintln!("force-unlock cancelled; the lock stays.");
            return Ok(Exit::Error);
        }
    }
    lock::force_unlock(&aws, &account, &stack.name).await.map_err(|e| anyhow::anyhow!("{e}"))?;
    eprintln!("Lock removed.");
    Ok(Exit::Ok)
}

/// Read live state in two waves and build the plan. `known` is the clients and account
/// of a caller that already has them (apply and destroy, which took the lock with them).
async fn prepare(stack: Stack, s: &Settings, mode: Mode, known: Option<(Aws, String)>) -> Result<(Registry, Plan)> {
    let region = s.region.clone().unwrap_or_else(|| stack.region.clone());
    let (aws, known_account) = match known {
        Some((aws, account)) => (aws, Some(account)),
        None => (connect(&stack, s).await, None),
    };
    // The read summary counts the read's own calls only.
    aws.calls.clear();
    let started = Instant::now();
    eprintln!("Reading live state of stack `{}` in {region} ...", stack.name);
    let live = Live::new(aws.clone(), &stack);
    // Wave one: who we are (unless known), and what the stack owns, in parallel.
    let who = async {
        match known_account {
            Some(account) => Ok(account),
            None => identity(&aws).await.map(|(account, _)| account),
        }
    };
    let (account, listed) = tokio::join!(who, live.prefetch());
    let account = account?;
    listed.map_err(|e| anyhow::anyhow!("reading the stack's resources: {e}"))?;
    let name = stack.name.clone();
    let image_id = live.image().await.map_err(|e| anyhow::anyhow!("{e}"))?;
    let registry = Registry::new(Cx::new(aws.clone(), stack, account, image_id));
    let desired = registry.desired();
    // Wave two: each resource's attributes, in parallel.
    let observed = registry.read(&live, &desired).await.map_err(|e| anyhow::anyhow!("reading live state: {e}"))?;
    let found = observed.iter().filter(|o| o.is_ours()).count();
    let mut plan = plan::build(&name, &region, mode, &desired, observed, &registry).map_err(|conflicts| {
        let lines: Vec<String> = conflicts.iter().map(|c| format!("  - {c}")).collect();
        anyhow::anyhow!("the plan cannot go ahead:\n{}\nnothing was changed", lines.join("\n"))
    })?;
    // References resolve to the copy the planner kept (not a duplicate about to go).
    for r in &plan.resources {
        if let (Some(_), Some(o)) = (&r.desired, &r.observed) {
            registry.cx.set_id(&o.addr, &o.id);
        }
    }
    plan.not_managed = registry.not_managed();
    registry.annotate(&mut plan);
    eprintln!(
        "  {} in the file, {} live; {} in {} round trips, {:.1} s",
        count(desired.len(), "resource"),
        found,
        count(aws.calls.count(), "AWS call"),
        aws.calls.depth(),
        started.elapsed().as_secs_f64()
    );
    let ops: Vec<String> = aws.calls.by_operation().into_iter().map(|(op, n)| format!("{op} x{n}")).collect();
    tracing::debug!("AWS calls of the read: {}", ops.join(", "));
    tracing::debug!("longest chain of calls: {}", aws.calls.chain().join(" -> "));
    Ok((registry, plan))
}

/// A plan saved by `plan --out`.
fn read_saved(path: &std::path::Path) -> Result<SavedPlan> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading the saved plan `{}`", path.display()))?;
    let saved: SavedPlan = serde_json::from_str(&text)
        .with_context(|| format!("`{}` is not a plan saved by `bumarket-infra plan --out`", path.display()))?;
    if saved.saved_format != plan::saved::SAVED_FORMAT {
        bail!(
            "`{}` was saved by bumarket-infra {} in a format this version does not read",
            path.display(),
            saved.tool_version
        );
    }
    Ok(saved)
}

async fn plan_cmd(
    stack: Stack,
    s: &Settings,
    detailed: bool,
    json: bool,
    out: Option<std::path::PathBuf>,
) -> Result<Exit> {
    let sha = stack.source.sha256.clone();
    let (_, plan) = prepare(stack, s, Mode::Converge, None).await?;
    if let Some(out) = &out {
        let saved = SavedPlan::new(plan.clone(), &s.file.display().to_string(), &sha);
        std::fs::write(out, serde_json::to_string_pretty(&saved)?)
            .with_context(|| format!("writing the plan to `{}`", out.display()))?;
        eprintln!(
            "Saved the plan to `{}`: `bumarket-infra apply {}` applies exactly it.",
            out.display(),
            out.display()
        );
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&render::json::plan(&plan))?);
    } else {
        print!("{}", render::human::plan(&plan, &s.file.display().to_string(), s.style));
    }
    Ok(if detailed && plan.has_changes() { Exit::Changes } else { Exit::Ok })
}

async fn change_cmd(
    stack: Stack,
    s: &Settings,
    mode: Mode,
    auto_approve: bool,
    saved: Option<SavedPlan>,
    connection: (Aws, String),
) -> Result<Exit> {
    let verb = if mode == Mode::Destroy { "destroy" } else { "apply" };
    let sha = stack.source.sha256.clone();
    let (registry, fresh) = prepare(stack, s, mode, Some(connection)).await?;
    let plan = match saved {
        None => fresh,
        Some(saved) => {
            let why = saved.staleness(&sha, &fresh);
            if !why.is_empty() {
                bail!(
                    "the saved plan is stale: {}; nothing was changed\n  make a new one with `bumarket-infra plan --out FILE`",
                    why.join("; ")
                );
            }
            saved.plan
        }
    };
    print!("{}", render::human::plan(&plan, &s.file.display().to_string(), s.style));
    if !plan.has_changes() {
        return Ok(Exit::Ok);
    }
    let refusals =
        registry.refusals(&plan).await.map_err(|e| anyhow::anyhow!("checking what would be deleted: {e}"))?;
    if !refusals.is_empty() {
        for (addr, why) in &refusals {
            eprintln!("error: `{addr}`: {why}");
        }
        bail!("{verb} refused; nothing was changed");
    }
    if !auto_approve && !confirm(verb, &plan)? {
        eprintln!("{verb} cancelled; nothing was changed.");
        return Ok(Exit::Error);
    }
    registry.cx.aws.calls.clear();
    let reporter = Lines { style: s.style, timestamps: s.timestamps };
    let outcome = apply::execute(&plan, &registry, &reporter, MAX_IN_FLIGHT).await;
    summary(verb, &outcome);
    if outcome.ok() {
        Ok(Exit::Ok)
    } else {
        Ok(Exit::Error)
    }
}

fn confirm(verb: &str, plan: &Plan) -> Result<bool> {
    let what = if verb == "destroy" {
        format!("Destroy everything stack `{}` owns in {}?", plan.stack, plan.region)
    } else {
        format!("Apply these changes to stack `{}` in {}?", plan.stack, plan.region)
    };
    eprint!("\n{what} Only 'yes' will be accepted: ");
    std::io::stderr().flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    Ok(answer.trim() == "yes")
}

fn summary(verb: &str, o: &Outcome) {
    let n = |k: apply::StepKind| o.done.iter().filter(|(_, d)| *d == k).count();
    let counts = format!(
        "{} created, {} updated, {} deleted in {:.1} s",
        n(apply::StepKind::Create),
        n(apply::StepKind::Update),
        n(apply::StepKind::Delete),
        o.elapsed.as_secs_f64()
    );
    if o.ok() {
        eprintln!("\n{} complete: {counts}.", capitalise(verb));
        return;
    }
    eprintln!("\n{} failed: {counts}; {} failed, {} skipped.", capitalise(verb), o.failed.len(), o.skipped.len());
    for (addr, e) in &o.failed {
        eprintln!("error: `{addr}`: {e}");
    }
    for (addr, because) in &o.skipped {
        eprintln!("  skipped `{addr}` (needs `{because}`)");
    }
    eprintln!("What finished is kept; fix the cause and run `bumarket-infra {verb}` again: it continues from here.");
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    c.next().map(|f| f.to_uppercase().chain(c).collect()).unwrap_or_default()
}

async fn output_cmd(stack: Stack, s: &Settings, json: bool) -> Result<Exit> {
    let (_, plan) = prepare(stack, s, Mode::Converge, None).await?;
    let mut values = serde_json::Map::new();
    for r in &plan.resources {
        if let (Some(o), true) = (&r.observed, r.desired.is_some()) {
            values.insert(r.addr.0.clone(), serde_json::to_value(&o.outputs)?);
        }
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&values)?);
        return Ok(Exit::Ok);
    }
    if values.is_empty() {
        eprintln!("Nothing of stack `{}` exists yet: run `bumarket-infra apply` first.", plan.stack);
        return Ok(Exit::Ok);
    }
    let width = values.keys().map(String::len).max().unwrap_or(0);
    let key_width =
        values.values().flat_map(|o| o.as_object().into_iter().flatten()).map(|(k, _)| k.len()).max().unwrap_or(0);
    for (addr, outs) in &values {
        for (i, (k, v)) in outs.as_object().into_iter().flatten().enumerate() {
            let a = if i == 0 { addr.as_str() } else { "" };
            println!("{a:<width$}  {k:<key_width$}  {}", v.as_str().unwrap_or_default());
        }
    }
    Ok(Exit::Ok)
}
