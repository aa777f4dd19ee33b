//! The command line at its edges, as users meet it: the text of the errors they see most
//! (in the one shape docs/STYLE.md sets: `error: ...`, then `  = help: ...` lines), Ctrl-C
//! at the confirmation prompt, output into a pipe that closed, and colour by each
//! stream's own terminal and the ecosystem's variables.

use crate::support::{stack_copy, Cli, Emulator, Proxy, TempStack};
use std::time::Duration;

const REGION: &str = "ap-northeast-2";

fn cli(stack: &TempStack) -> Cli {
    Cli::new(Emulator::shared()).args(["-f", stack.path.to_str().unwrap()])
}

/// The account moto answers for.
const ACCOUNT: &str = "123456789012";

fn lock_exists(stack: &TempStack) -> bool {
    let bucket = format!("bumarket-infra-locks-{ACCOUNT}-{REGION}");
    let key = format!("locks/{}.json", stack.name);
    Emulator::shared().try_aws(REGION, &["s3api", "head-object", "--bucket", &bucket, "--key", &key]).is_ok()
}

#[test]
fn apply_without_a_terminal_or_auto_approve_is_refused_before_any_call() {
    let stack = stack_copy("examples/minimal.yaml", "edge-noterm");
    // An endpoint nothing listens on: the refusal must come before any AWS call.
    let run = Cli::new(Emulator::shared())
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
        .args(["-f", stack.path.to_str().unwrap(), "apply"])
        .run()
        .code_is(1);
    assert_eq!(
        run.stderr,
        "error: apply needs confirmation and there is no terminal to ask on; nothing was changed\n  = help: pass `--auto-approve` (for example in CI)\n"
    );
}

#[test]
fn unreachable_aws_says_so_and_how_to_check() {
    let stack = stack_copy("examples/minimal.yaml", "edge-noaws");
    let run = Cli::new(Emulator::shared())
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
        .env("AWS_MAX_ATTEMPTS", "1")
        .args(["-f", stack.path.to_str().unwrap(), "plan"])
        .run()
        .code_is(1);
    let last: Vec<&str> = run.stderr.lines().rev().take(2).collect();
    assert!(last[1].starts_with("error: could not reach AWS: sts:GetCallerIdentity: "), "{}", run.stderr);
    assert_eq!(
        last[0],
        "  = help: check the credentials (`AWS_PROFILE`, `--profile`, `AWS_ACCESS_KEY_ID`) and the region"
    );
    assert!(!run.stderr.contains("panicked") && !run.stderr.contains("{ "), "no debug dump: {}", run.stderr);
}

#[test]
fn a_held_lock_names_its_holder_and_what_to_do() {
    let stack = stack_copy("examples/minimal.yaml", "edge-lock");
    let bucket = format!("bumarket-infra-locks-{ACCOUNT}-{REGION}");
    // Any apply makes the lock bucket; then a holder from another host takes the lock.
    cli(&stack).args(["apply", "--auto-approve"]).run().success();
    let holder = r#"{"who":"arn:aws:iam::123456789012:user/ci","host":"ci-runner-9","pid":7,"since":"2026-12-01T10:00:00Z","command":"apply","tool_version":"0.1.0"}"#;
    let file = stack.dir.path().join("lock.json");
    std::fs::write(&file, holder).unwrap();
    let key = format!("locks/{}.json", stack.name);
    let body = file.to_str().unwrap();
    Emulator::shared().aws(REGION, &["s3api", "put-object", "--bucket", &bucket, "--key", &key, "--body", body]);
    let run = cli(&stack).args(["apply", "--auto-approve"]).run().code_is(1);
    assert_eq!(
        run.stderr,
        format!(
            "error: taking the lock: stack `{}` in {REGION} is locked by `apply` by arn:aws:iam::123456789012:user/ci on ci-runner-9 (process 7) since 2026-12-01T10:00:00Z; nothing was changed\n  = help: wait for that run to finish, pass `--lock-timeout 10m` to wait for it, or, if it is gone, run `bumarket-infra force-unlock`\n",
            stack.name
        )
    );
    cli(&stack).args(["force-unlock", "--auto-approve"]).run().success();
    cli(&stack).args(["destroy", "--auto-approve"]).run().success();
}

#[test]
fn a_name_taken_by_someone_else_stops_the_plan_naming_it() {
    let stack = stack_copy("examples/minimal.yaml", "edge-foreign");
    let name = format!("{}-images-{ACCOUNT}-{REGION}", stack.name);
    let config = format!("LocationConstraint={REGION}");
    Emulator::shared()
        .aws(REGION, &["s3api", "create-bucket", "--bucket", &name, "--create-bucket-configuration", &config]);
    let run = cli(&stack).args(["plan"]).run().code_is(1);
    let text = std::fs::read_to_string(&stack.path).unwrap();
    let line = text.lines().position(|l| l.starts_with("  images:")).unwrap() + 1;
    // Shown where the file names the bucket (its default name: at its key), as a problem
    // of the file is.
    let error =
        run.stderr.split_once("error: ").map(|(_, e)| e).unwrap_or_else(|| panic!("no error in {}", run.stderr));
    let pad = " ".repeat(line.to_string().len());
    assert_eq!(
        error,
        format!(
            "`bucket.images` wants the name `{name}`, but the bucket exists without the tag `bumarket-infra:stack={}`
{pad}--> {}:{line}:3
{pad} |
{line} |   images: {{}}                   # product images (seed §8); every secure default applies
{pad} |   ^^^^^^ made outside bumarket-infra
{pad} = help: to take it over as it runs, add `bucket.images: {name}` under `adopt:`; else rename it in the stack file

error: the plan cannot go ahead; nothing was changed
",
            stack.name,
            stack.path.display()
        )
    );
    Emulator::shared().aws(REGION, &["s3api", "delete-bucket", "--bucket", &name]);
}

#[test]
fn a_resource_whose_address_tag_names_no_kind_stops_the_plan_and_is_never_touched() {
    let stack = stack_copy("examples/minimal.yaml", "edge-badtag");
    cli(&stack).args(["apply", "--auto-approve"]).run().success();
    // Someone edits the tag by hand: a kind that does not exist.
    let name = format!("{}-images-{ACCOUNT}-{REGION}", stack.name);
    let tags = format!(
        "TagSet=[{{Key=bumarket-infra:stack,Value={}}},{{Key=bumarket-infra:resource,Value=bukcet.images}}]",
        stack.name
    );
    Emulator::shared().aws(REGION, &["s3api", "put-bucket-tagging", "--bucket", &name, "--tagging", &tags]);
    for args in [&["plan"][..], &["destroy", "--auto-approve"]] {
        let run = cli(&stack).args(args).run().code_is(1);
        assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
        assert!(
            run.stderr.contains(&format!(
                "`{name}` carries the stack's tag, but its tag `bumarket-infra:resource=bukcet.images` is no address: `bukcet.images` names the kind `bukcet`, which bumarket-infra does not manage"
            )),
            "{}",
            run.stderr
        );
    }
    Emulator::shared().aws(REGION, &["s3api", "head-bucket", "--bucket", &name]);
    let fixed = format!(
        "TagSet=[{{Key=bumarket-infra:stack,Value={}}},{{Key=bumarket-infra:resource,Value=bucket.images}}]",
        stack.name
    );
    Emulator::shared().aws(REGION, &["s3api", "put-bucket-tagging", "--bucket", &name, "--tagging", &fixed]);
    cli(&stack).args(["destroy", "--auto-approve"]).run().success();
}

#[test]
fn an_error_no_retry_can_fix_prints_its_help_on_a_line_of_its_own() {
    let stack = stack_copy("examples/minimal.yaml", "edge-denied");
    // The denied CreateBucket must be a bucket of the stack's, not the account's lock bucket.
    crate::lock::lock_bucket();
    let proxy = Proxy::start(Emulator::shared(), &["--deny", "1", "--ops", "^CreateBucket$"]);
    let run = proxy.cli(Emulator::shared(), &stack).args(["apply", "--auto-approve"]).run().code_is(1);
    // Whichever bucket is made first is refused (the other may wait for it).
    let error =
        run.stderr.lines().find(|l| l.starts_with("error: `bucket.")).unwrap_or_else(|| panic!("{}", run.stderr));
    assert!(error.contains("`: s3:CreateBucket: AccessDenied: User: "), "{error}");
    assert!(run.stderr.contains("What finished is kept; fix the cause"), "{}", run.stderr);
    cli(&stack).args(["apply", "--auto-approve"]).run().success();
    cli(&stack).args(["destroy", "--auto-approve"]).run().success();
}

#[test]
fn ctrl_c_at_the_confirmation_prompt_cancels_at_once_and_gives_the_lock_back() {
    let stack = stack_copy("examples/minimal.yaml", "edge-ctrlc");
    let mut session = cli(&stack).args(["apply"]).start_on_terminal();
    session.wait_for("Only 'yes' will be accepted", Duration::from_secs(60));
    assert!(lock_exists(&stack), "the lock is held while the prompt waits");
    session.type_keys("\x03");
    // The bound only keeps a hung run from hanging the suite: on a loaded machine the
    // lock's release (two S3 calls) can take seconds.
    let run = session.finish(Duration::from_secs(60));
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("apply cancelled; nothing was changed."), "{}", run.stdout);
    assert!(!lock_exists(&stack), "Ctrl-C gave the lock back");
    let left = Emulator::shared().aws(REGION, &["s3api", "list-buckets"]);
    assert!(!left.to_string().contains(&stack.name), "nothing was created: {left}");
}

#[test]
fn output_into_a_closed_pipe_ends_quietly() {
    let stack = stack_copy("examples/minimal.yaml", "edge-pipe");
    for args in [&["plan"][..], &["plan", "--json"], &["validate"], &["output", "--json"]] {
        let run = cli(&stack).args(args).stdout_closed().run();
        assert!(!run.stderr.contains("panicked"), "{args:?}: {}", run.stderr);
        assert_eq!(run.code, 0, "{args:?}: {}", run.stderr);
    }
}

const ESC: &str = "\x1b[";

#[test]
fn colour_follows_each_streams_terminal_and_the_conventions() {
    let stack = stack_copy("examples/minimal.yaml", "edge-colour");
    let plain = |c: Cli| c.env_remove("NO_COLOR").env("TERM", "xterm-256color");
    // Into a pipe: none, unless forced (CLICOLOR_FORCE, FORCE_COLOR); NO_COLOR wins.
    assert!(!plain(cli(&stack)).args(["plan"]).run().success().stdout.contains(ESC));
    assert!(plain(cli(&stack)).env("CLICOLOR_FORCE", "1").args(["plan"]).run().success().stdout.contains(ESC));
    assert!(plain(cli(&stack)).env("FORCE_COLOR", "1").args(["plan"]).run().success().stdout.contains(ESC));
    let both = plain(cli(&stack)).env("FORCE_COLOR", "1").env("NO_COLOR", "1").args(["plan"]).run().success();
    assert!(!both.stdout.contains(ESC));
    // stdout into a file while stderr is a terminal: the plan in the file is plain, the
    // progress on the terminal is coloured.
    let file = stack.dir.path().join("apply.txt");
    let run = plain(cli(&stack)).args(["apply", "--auto-approve"]).on_terminal_stdout_to(&file).run().success();
    let plan = std::fs::read_to_string(&file).unwrap();
    assert!(plan.contains("+ bucket.images") && !plan.contains(ESC), "{plan:?}");
    assert!(run.stdout.contains(&format!("{ESC}32m✓")), "the terminal's progress is coloured: {:?}", run.stdout);
    cli(&stack).args(["destroy", "--auto-approve"]).run().success();
}
