//! The plan's preflight: what AWS would refuse of the file stops the plan (and apply)
//! before anything is written, each problem at its value's file:line:column with what
//! AWS offers instead. The emulator answers the database's orderable options from
//! AWS's published data (scripts/testbed-data/rds-orderable.json, sources named there).

use crate::stack_bumarket::seed_stack;
use crate::support::{stack_copy, Cli, Emulator, TempStack};
use serde_json::Value;

const REGION: &str = "ap-northeast-2";

fn cli(stack: &TempStack) -> Cli {
    Cli::new(Emulator::shared()).args(["-f", stack.path.to_str().unwrap()])
}

fn edit(stack: &TempStack, from: &str, to: &str) {
    let text = std::fs::read_to_string(&stack.path).unwrap();
    let edited = text.replacen(from, to, 1);
    assert_ne!(text, edited, "the stack file no longer has `{from}`");
    std::fs::write(&stack.path, edited).unwrap();
}

/// `path:line:column` of the first `value` on a line holding `line_has` (1-based).
fn place(stack: &TempStack, line_has: &str, value: &str) -> String {
    let text = std::fs::read_to_string(&stack.path).unwrap();
    let (n, line) = text.lines().enumerate().find(|(_, l)| l.contains(line_has)).expect("the line");
    let col = line.find(value).expect("the value on its line") + 1;
    format!("{}:{}:{col}", stack.path.display(), n + 1)
}

/// Nothing of the stack exists: no VPC, no bucket, no role.
fn nothing_written(stack: &TempStack) {
    let emu = Emulator::shared();
    let filter = format!("Name=tag:bumarket-infra:stack,Values={}", stack.name);
    let vpcs = emu.aws(REGION, &["ec2", "describe-vpcs", "--filters", &filter]);
    assert_eq!(vpcs["Vpcs"].as_array().map(Vec::len), Some(0), "{vpcs}");
    let buckets = emu.aws(REGION, &["s3api", "list-buckets"]).to_string();
    assert!(!buckets.contains(&format!("{}-", stack.name)), "{buckets}");
    let roles = emu.aws(REGION, &["iam", "list-roles", "--path-prefix", &format!("/bumarket-infra/{}/", stack.name)]);
    assert_eq!(roles["Roles"].as_array().map(Vec::len), Some(0), "{roles}");
}

#[test]
fn a_database_class_and_a_zone_aws_does_not_offer_stop_plan_and_apply_at_their_values() {
    let stack = seed_stack("pre-db");
    edit(&stack, "  instance_class: db.t3.small\n", "  instance_class: db.t3.micro\n");
    edit(&stack, "[ap-northeast-2a, ap-northeast-2c]", "[ap-northeast-2a, ap-northeast-2z]");
    for args in [&["plan"][..], &["apply", "--auto-approve"]] {
        let run = cli(&stack).args(args).run().code_is(1);
        let err = &run.stderr;
        assert!(
            err.contains(
                "error: `db.t3.micro` is not offered for oracle-ee 19 bring-your-own-license in ap-northeast-2\n"
            ),
            "{err}"
        );
        assert!(err.contains(&format!("--> {}", place(&stack, "instance_class:", "db.t3.micro"))), "{err}");
        // AWS's smallest classes for Oracle 19c Enterprise Edition, from its data.
        assert!(err.contains("= help: the smallest offered are `db.t3.small`, `db.t3.medium`"), "{err}");
        assert!(err.contains("error: `ap-northeast-2z` is not an availability zone of ap-northeast-2"), "{err}");
        assert!(err.contains(&format!("--> {}", place(&stack, "availability_zones:", "ap-northeast-2z"))), "{err}");
        assert!(err.contains("AWS would refuse 2 values of"), "{err}");
        assert!(err.contains("nothing was changed"), "{err}");
        assert!(!run.stdout.contains("Plan:"), "no plan is shown: {}", run.stdout);
    }
    nothing_written(&stack);
}

#[test]
fn storage_outside_what_rds_allows_for_the_class_is_refused_with_the_allowed_range() {
    let stack = seed_stack("pre-storage");
    // Provisioned IOPS storage starts at 100 GiB for Oracle (AWS's orderable options).
    edit(
        &stack,
        "storage: {size_gb: 20, max_size_gb: 100, type: gp3,",
        "storage: {size_gb: 20, max_size_gb: 100, type: io1,",
    );
    let run = cli(&stack).args(["plan"]).run().code_is(1);
    assert!(run.stderr.contains("error: 20 GiB is outside what RDS allows for oracle-ee 19"), "{}", run.stderr);
    assert!(run.stderr.contains(&format!("--> {}", place(&stack, "storage:", "20"))), "{}", run.stderr);
    assert!(run.stderr.contains("= help: io1 storage of `db.t3.small` takes 100 to 65536 GiB"), "{}", run.stderr);
    nothing_written(&stack);
}

#[test]
fn a_certificate_that_is_not_issued_or_does_not_exist_stops_the_plan() {
    let stack = seed_stack("pre-cert");
    let emu = Emulator::shared();
    // A public certificate stays PENDING_VALIDATION until its DNS record or e-mail is
    // answered (ACM User Guide); the test bed keeps it so until told otherwise.
    let pending = emu.aws(REGION, &["acm", "request-certificate", "--domain-name", "pending.example.com"]);
    let pending = pending["CertificateArn"].as_str().unwrap().to_string();
    edit(&stack, "  listen_port: 80", &format!("  certificate_arn: {pending}"));
    let run = cli(&stack).args(["plan"]).run().code_is(1);
    assert!(
        run.stderr.contains("error: the certificate is PENDING_VALIDATION, and a listener takes only an ISSUED one"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains(&format!("--> {}", place(&stack, "certificate_arn: arn", "arn:aws:acm"))),
        "{}",
        run.stderr
    );
    let gone = pending.replace(&pending[pending.len() - 12..], "000000000000");
    edit(&stack, &pending, &gone);
    let run = cli(&stack).args(["plan"]).run().code_is(1);
    assert!(run.stderr.contains("error: the certificate does not exist in ap-northeast-2"), "{}", run.stderr);
    nothing_written(&stack);
}

#[test]
fn a_converged_plan_makes_no_preflight_call() {
    let stack = stack_copy("examples/minimal.yaml", "pre-quiet");
    cli(&stack).args(["apply", "--auto-approve"]).run().success();
    let run = cli(&stack).args(["plan", "-v"]).run().success();
    for call in ["HeadBucket", "DescribeOrderableDBInstanceOptions", "DescribeInstanceTypeOfferings", "GetServiceQuota"]
    {
        assert!(!run.stderr.contains(&format!("operation={call}")), "{call} in a converged plan:\n{}", run.stderr);
    }
    cli(&stack).args(["destroy", "--auto-approve"]).run().success();
}

#[test]
fn an_instance_type_missing_in_a_zone_and_an_image_of_another_architecture_stop_the_plan() {
    let stack = seed_stack("pre-ec2");
    // EC2 offers t2.micro in Seoul's zones a and c only (DescribeInstanceTypeOfferings,
    // as the emulator's AWS data has it too); the seed's zones are those two.
    edit(&stack, "[ap-northeast-2a, ap-northeast-2c]", "[ap-northeast-2a, ap-northeast-2b]");
    edit(&stack, "al2023-ami-kernel-default-x86_64", "al2023-ami-kernel-default-arm64");
    let run = cli(&stack).args(["plan"]).run().code_is(1);
    let err = &run.stderr;
    assert!(err.contains("error: `t2.micro` is not offered in `ap-northeast-2b`"), "{err}");
    assert!(err.contains(&format!("--> {}", place(&stack, "instance_type:", "t2.micro"))), "{err}");
    assert!(err.contains("= help: it is offered in `ap-northeast-2a`, `ap-northeast-2c`"), "{err}");
    let image = Emulator::shared().aws(
        REGION,
        &["ssm", "get-parameter", "--name", "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-arm64"],
    );
    let image = image["Parameter"]["Value"].as_str().unwrap();
    assert!(
        err.contains(&format!("error: the image `{image}` is arm64, and `t2.micro` runs i386 or x86_64 images")),
        "{err}"
    );
    assert!(err.contains(&format!("--> {}", place(&stack, "image:", "ssm:"))), "{err}");
    nothing_written(&stack);
}

#[test]
fn an_image_that_does_not_exist_stops_the_plan() {
    let stack = seed_stack("pre-ami");
    edit(&stack, "ssm:/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64", "ami-0123456789abcdef0");
    let run = cli(&stack).args(["plan"]).run().code_is(1);
    assert!(
        run.stderr.contains("error: the image `ami-0123456789abcdef0` does not exist in ap-northeast-2"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains(&format!("--> {}", place(&stack, "image:", "ami-"))), "{}", run.stderr);
}

#[test]
fn a_bucket_name_another_account_holds_stops_the_plan_before_any_write() {
    let emu = Emulator::shared();
    let stack = stack_copy("examples/minimal.yaml", "pre-taken");
    let name = format!("{}-images-123456789012-{REGION}", stack.name);
    // Another account (a session in 111122223333) makes the bucket first.
    let session = emu.aws(
        REGION,
        &["sts", "assume-role", "--role-arn", "arn:aws:iam::111122223333:role/other", "--role-session-name", "other"],
    );
    let c = &session["Credentials"];
    let other = [
        ("AWS_ACCESS_KEY_ID", c["AccessKeyId"].as_str().unwrap()),
        ("AWS_SECRET_ACCESS_KEY", c["SecretAccessKey"].as_str().unwrap()),
        ("AWS_SESSION_TOKEN", c["SessionToken"].as_str().unwrap()),
    ];
    let location = format!("LocationConstraint={REGION}");
    emu.aws_as(
        REGION,
        &other,
        &["s3api", "create-bucket", "--bucket", &name, "--create-bucket-configuration", &location],
    );
    for args in [&["plan"][..], &["apply", "--auto-approve"]] {
        let run = cli(&stack).args(args).run().code_is(1);
        assert!(
            run.stderr.contains(&format!(
                "error: `bucket.images` wants the name `{name}`, but the name is taken by a bucket of another AWS account\n"
            )),
            "{}",
            run.stderr
        );
        // The file leaves the name to its default: the bucket's own key is the place.
        assert!(run.stderr.contains(&format!("--> {}", place(&stack, "images:", "images"))), "{}", run.stderr);
    }
    nothing_written(&stack);
    emu.aws_as(REGION, &other, &["s3api", "delete-bucket", "--bucket", &name]);
}

#[test]
fn the_vpc_and_vcpu_quotas_stop_a_stack_that_would_exceed_them() {
    // A region no other test uses: the quotas set here hold for the whole emulator.
    const EAST: &str = "us-east-1";
    let emu = Emulator::shared();
    let stack = seed_stack("pre-quota");
    edit(&stack, "region: ap-northeast-2", &format!("region: {EAST}"));
    edit(&stack, "[ap-northeast-2a, ap-northeast-2c]", "[us-east-1a, us-east-1b]");
    let vpcs = emu.aws(EAST, &["ec2", "describe-vpcs"])["Vpcs"].as_array().map(Vec::len).unwrap();
    let quota = |service: &str, code: &str, value: Value| {
        emu.control(
            "/__testbed/quota",
            &serde_json::json!({"service": service, "quota": code, "value": value, "region": EAST}),
        )
    };
    quota("vpc", "L-F678F1CE", vpcs.into());
    quota("ec2", "L-1216C47A", 2.into());
    let run = cli(&stack).args(["plan"]).run().code_is(1);
    quota("vpc", "L-F678F1CE", Value::Null);
    quota("ec2", "L-1216C47A", Value::Null);
    let err = &run.stderr;
    assert!(
        err.contains(&format!(
            "error: {EAST} already has {vpcs} VPCs and its quota is {vpcs}: the stack's VPC would be one too many"
        )),
        "{err}"
    );
    assert!(err.contains(&format!("--> {}", place(&stack, "cidr:", "10."))), "{err}");
    assert!(
        err.contains(&format!(
            "error: at 4 instances the stack needs 4 vCPUs of standard instances, and the account's quota in {EAST} is 2"
        )),
        "{err}"
    );
    assert!(err.contains(&format!("--> {}", place(&stack, "max_size:", "4"))), "{err}");
    // With the quotas as AWS sets them by default, the same file plans.
    cli(&stack).args(["plan"]).run().success();
}
