//! The seed's whole stack (stacks/bumarket.yaml) against the emulator: network, fleet,
//! load balancer, database, buckets, monitoring, log delivery and IAM, checked with the
//! independent client, and the paths between them: the app's way to its database and
//! every log's way into the log bucket.
//!
//! Emulator gaps named here: moto has no instance refresh (HTTP 500), so the template
//! change is made on a fleet scaled to zero (nothing to replace); the refresh itself is
//! tested with canned answers in src/resources/fleet/tests.rs. moto has no Cloud9 at all,
//! so the copies drop the `cloud9:` section (tested in src/resources/cloud9/tests.rs).
//! The copies are the base of the file, which production runs as it is: they drop
//! `environments:` too (its accounts are not the emulator's; environments are tested in
//! tests/e2e/environments.rs, and the shipped file's both are planned here once).

use crate::support::{stack_copy, Cli, Emulator, TempStack};
use serde_json::Value;

const REGION: &str = "ap-northeast-2";

fn cli(stack: &TempStack) -> Cli {
    Cli::new(Emulator::shared()).args(["-f", stack.path.to_str().unwrap()])
}

fn aws(args: &[&str]) -> Value {
    Emulator::shared().aws(REGION, args)
}

fn stack_filter(stack: &TempStack) -> String {
    format!("Name=tag:bumarket-infra:stack,Values={}", stack.name)
}

/// The file without the top-level sections `drop` names.
fn without_sections(text: &str, drop: &[&str]) -> String {
    let mut kept = String::new();
    let mut skipping = false;
    for line in text.split_inclusive('\n') {
        let top_level = !line.starts_with([' ', '#', '\n']);
        if top_level {
            skipping = drop.iter().any(|s| line.starts_with(&format!("{s}:")));
        }
        if !skipping {
            kept.push_str(line);
        }
    }
    kept
}

/// The seed's stack as the emulator can hold it: the base (production's values) without
/// the `cloud9:` section and without `environments:`.
pub(crate) fn seed_stack(suffix: &str) -> TempStack {
    let stack = stack_copy("stacks/bumarket.yaml", suffix);
    let text = std::fs::read_to_string(&stack.path).unwrap();
    let kept = without_sections(&text, &["cloud9"]);
    assert_ne!(kept, text, "stacks/bumarket.yaml has a cloud9 section");
    let base = without_sections(&kept, &["environments"]);
    assert_ne!(base, kept, "stacks/bumarket.yaml has environments");
    std::fs::write(&stack.path, base).unwrap();
    stack
}

/// The shipped file's two environments, pinned to the emulator's account, planned side
/// by side: each its own stack, named after it.
#[test]
fn the_shipped_file_plans_staging_and_prod_side_by_side() {
    let stack = stack_copy("stacks/bumarket.yaml", "envs");
    let text = std::fs::read_to_string(&stack.path).unwrap();
    let text = without_sections(&text, &["cloud9"])
        .replace("account: \"111111111111\"", "account: \"123456789012\"")
        .replace("account: \"222222222222\"", "account: \"123456789012\"");
    std::fs::write(&stack.path, text).unwrap();
    let run = cli(&stack).args(["plan", "--env", "all"]).run();
    let (staging, prod) =
        run.stdout.split_once("== environment `prod`").unwrap_or_else(|| panic!("no prod section:\n{}", run.stdout));
    assert!(staging.starts_with("== environment `staging`"), "{}", run.stdout);
    // Each environment's plan, as (address, name) of the lines that add.
    let adds = |text: &str| -> Vec<(String, String)> {
        text.lines()
            .filter_map(|l| l.trim().strip_prefix("+ "))
            .filter_map(|l| l.split_once(char::is_whitespace))
            .map(|(a, n)| (a.to_string(), n.trim().to_string()))
            .collect()
    };
    let (staging, prod) = (adds(staging), adds(prod));
    for (env, adds) in [("staging", &staging), ("prod", &prod)] {
        let db = ("database.main".to_string(), format!("{}-{env}-db", stack.name));
        assert!(adds.contains(&db), "{env} has no {db:?}: {adds:?}");
    }
    // The whole stack in each: no address is planned in one and not the other.
    let addresses = |adds: &[(String, String)]| adds.iter().map(|(a, _)| a.clone()).collect::<Vec<_>>();
    assert_eq!(addresses(&staging), addresses(&prod));
    // Staging's override where it applies, prod keeps the seed's address.
    let mail = |adds: &[(String, String)]| adds.iter().find(|(a, _)| a == "subscription.0").cloned();
    assert_eq!(mail(&staging).map(|m| m.1), Some("dev@bumarket.example".into()));
    assert_eq!(mail(&prod).map(|m| m.1), Some("team@bumarket.example".into()));
    let run = cli(&stack).args(["plan", "--env", "nowhere"]).run().code_is(1);
    assert!(run.stderr.contains("`staging`, `prod`"), "{}", run.stderr);
}

/// Turn the database's and the load balancer's deletion protection off (the file's way
/// to allow destroy).
fn allow_database_deletion(stack: &TempStack) {
    edit(
        stack,
        "  deletion_protection: true    # default\n  apply_immediately",
        "  deletion_protection: false\n  apply_immediately",
    );
    edit(stack, "deletion_protection: true    # default: protected load balancer", "deletion_protection: false");
}

fn edit(stack: &TempStack, from: &str, to: &str) {
    let text = std::fs::read_to_string(&stack.path).unwrap();
    let edited = text.replacen(from, to, 1);
    assert_ne!(text, edited, "stacks/bumarket.yaml no longer has `{from}`");
    std::fs::write(&stack.path, edited).unwrap();
}

/// (protocol, from port, to port, cidr or source group id) of a rule list.
fn rules(perms: &Value) -> Vec<(String, i64, i64, String)> {
    let mut out = Vec::new();
    for p in perms.as_array().unwrap() {
        let proto = p["IpProtocol"].as_str().unwrap().to_string();
        let (from, to) = (p["FromPort"].as_i64().unwrap_or(-1), p["ToPort"].as_i64().unwrap_or(-1));
        for r in p["IpRanges"].as_array().unwrap() {
            out.push((proto.clone(), from, to, r["CidrIp"].as_str().unwrap().to_string()));
        }
        for g in p["UserIdGroupPairs"].as_array().unwrap() {
            out.push((proto.clone(), from, to, g["GroupId"].as_str().unwrap().to_string()));
        }
    }
    out.sort();
    out
}

#[test]
fn the_seed_stack_applies_converges_and_destroys() {
    let stack = seed_stack("e2e");
    let run = cli(&stack).args(["apply", "--auto-approve"]).run().success();
    assert!(!run.stdout.contains("Not managed yet"), "every section of the seed stack is managed: {}", run.stdout);
    let f = stack_filter(&stack);

    // Network: one VPC, public and private subnets in two zones.
    let vpcs = aws(&["ec2", "describe-vpcs", "--filters", &f])["Vpcs"].clone();
    assert_eq!(vpcs.as_array().unwrap().len(), 1);
    assert_eq!(vpcs[0]["CidrBlock"], "10.0.0.0/16");
    let subnets = aws(&["ec2", "describe-subnets", "--filters", &f])["Subnets"].clone();
    let mut zones: Vec<(String, String)> = subnets
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["CidrBlock"].as_str().unwrap().into(), s["AvailabilityZone"].as_str().unwrap().into()))
        .collect();
    zones.sort();
    assert_eq!(
        zones,
        [
            ("10.0.0.0/24", "ap-northeast-2a"),
            ("10.0.1.0/24", "ap-northeast-2c"),
            ("10.0.10.0/24", "ap-northeast-2a"),
            ("10.0.11.0/24", "ap-northeast-2c")
        ]
        .map(|(c, z)| (c.to_string(), z.to_string()))
    );

    // Security groups allow exactly the seed's request path; no SSH anywhere.
    let groups = aws(&["ec2", "describe-security-groups", "--filters", &f])["SecurityGroups"].clone();
    let group = |suffix: &str| {
        let name = format!("{}-{suffix}", stack.name);
        groups
            .as_array()
            .unwrap()
            .iter()
            .find(|g| g["GroupName"] == name.as_str())
            .unwrap_or_else(|| panic!("no group {name}"))
            .clone()
    };
    let (lb, app, db) = (group("lb"), group("app"), group("db"));
    let id = |g: &Value| g["GroupId"].as_str().unwrap().to_string();
    assert_eq!(rules(&lb["IpPermissions"]), vec![("tcp".into(), 80, 80, "0.0.0.0/0".into())]);
    assert_eq!(rules(&app["IpPermissions"]), vec![("tcp".into(), 8000, 8000, id(&lb))]);
    assert_eq!(rules(&db["IpPermissions"]), vec![("tcp".into(), 1521, 1521, id(&app))]);
    for g in groups.as_array().unwrap() {
        assert!(!rules(&g["IpPermissions"]).iter().any(|r| r.1 <= 22 && 22 <= r.2), "SSH open in {}", g["GroupName"]);
    }

    // The launch template: type, IMDSv2, encrypted root volume, profile, user data.
    let lt_name = format!("{}-app", stack.name);
    let versions = aws(&[
        "ec2",
        "describe-launch-template-versions",
        "--launch-template-name",
        &lt_name,
        "--versions",
        "$Default",
    ]);
    let data = &versions["LaunchTemplateVersions"][0]["LaunchTemplateData"];
    assert_eq!(data["InstanceType"], "t2.micro");
    assert_eq!(data["MetadataOptions"]["HttpTokens"], "required");
    assert_eq!(data["BlockDeviceMappings"][0]["Ebs"]["Encrypted"], true);
    assert_eq!(data["IamInstanceProfile"]["Name"], format!("{}-app", stack.name).as_str());
    assert!(data["UserData"].as_str().is_some_and(|u| !u.is_empty()));
    assert_eq!(data["SecurityGroupIds"], serde_json::json!([id(&app)]));

    // The group, its policy, the load balancer, listener and target group.
    let asg = aws(&["autoscaling", "describe-auto-scaling-groups", "--auto-scaling-group-names", &lt_name]);
    let g = &asg["AutoScalingGroups"][0];
    assert_eq!(
        (g["MinSize"].as_i64(), g["MaxSize"].as_i64(), g["DesiredCapacity"].as_i64()),
        (Some(1), Some(4), Some(1))
    );
    assert_eq!(g["HealthCheckType"], "ELB");
    let tg_arn = g["TargetGroupARNs"][0].as_str().expect("the group is registered in a target group").to_string();
    let policies = aws(&["autoscaling", "describe-policies", "--auto-scaling-group-name", &lt_name]);
    let t = &policies["ScalingPolicies"][0]["TargetTrackingConfiguration"];
    assert_eq!(t["TargetValue"], 60.0);
    assert_eq!(t["PredefinedMetricSpecification"]["PredefinedMetricType"], "ASGAverageCPUUtilization");
    let tg = &aws(&["elbv2", "describe-target-groups", "--target-group-arns", &tg_arn])["TargetGroups"][0];
    assert_eq!(tg["Port"], 8000);
    assert_eq!(tg["HealthCheckPath"], "/health/");
    let lbs = aws(&["elbv2", "describe-load-balancers", "--names", &format!("{}-lb", stack.name)]);
    let alb = &lbs["LoadBalancers"][0];
    assert_eq!(alb["Scheme"], "internet-facing");
    assert_eq!(alb["AvailabilityZones"].as_array().unwrap().len(), 2);
    // FSBP ELB.6: protected against deletion by default.
    let arn = alb["LoadBalancerArn"].as_str().unwrap();
    let attrs = aws(&["elbv2", "describe-load-balancer-attributes", "--load-balancer-arn", arn])["Attributes"].clone();
    let protection = attrs.as_array().unwrap().iter().find(|a| a["Key"] == "deletion_protection.enabled").cloned();
    assert_eq!(protection.map(|a| a["Value"].clone()), Some(Value::from("true")), "{attrs}");
    let listeners =
        aws(&["elbv2", "describe-listeners", "--load-balancer-arn", alb["LoadBalancerArn"].as_str().unwrap()]);
    let l = &listeners["Listeners"][0];
    assert_eq!(l["Port"], 80);
    assert_eq!(l["DefaultActions"][0]["TargetGroupArn"], tg_arn.as_str());

    // The database: the seed's backups, private, encrypted, protected, logs exported.
    let db_id = format!("{}-db", stack.name);
    let rds = aws(&["rds", "describe-db-instances", "--db-instance-identifier", &db_id])["DBInstances"][0].clone();
    assert_eq!(rds["Engine"], "oracle-ee");
    assert_eq!(rds["BackupRetentionPeriod"], 7);
    assert_eq!(rds["PreferredBackupWindow"], "00:00-00:30");
    assert_eq!((rds["StorageEncrypted"].as_bool(), rds["PubliclyAccessible"].as_bool()), (Some(true), Some(false)));
    assert_eq!(rds["DeletionProtection"], true);
    let mut exports: Vec<&str> =
        rds["EnabledCloudwatchLogsExports"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
    exports.sort();
    assert_eq!(exports, ["alert", "audit", "listener", "trace"]);
    assert_eq!(rds["VpcSecurityGroups"][0]["VpcSecurityGroupId"], id(&db).as_str(), "only the db group guards it");
    // The master password exists only in Secrets Manager: no output of ours shows it.
    let secret_arn = rds["MasterUserSecret"]["SecretArn"].as_str().expect("RDS manages the password").to_string();
    let secret = aws(&["secretsmanager", "get-secret-value", "--secret-id", &secret_arn]);
    let password: Value = serde_json::from_str(secret["SecretString"].as_str().unwrap()).unwrap();
    let password = password["password"].as_str().unwrap().to_string();
    let mut everything = format!("{}{}", run.stdout, run.stderr);
    for args in [vec!["plan"], vec!["plan", "--json"], vec!["output"], vec!["output", "--json"]] {
        let r = cli(&stack).args(args).run().success();
        everything.push_str(&r.stdout);
        everything.push_str(&r.stderr);
    }
    assert!(!everything.contains(&password), "the database password leaked into our output");
    assert!(everything.contains(&secret_arn), "output says where the secret is");

    // Monitoring: alarms mail the team through the topic; dashboard; logs kept 180 days.
    let alarms = aws(&["cloudwatch", "describe-alarms", "--alarm-name-prefix", &format!("{}-", stack.name)]);
    let alarms = alarms["MetricAlarms"].as_array().unwrap().clone();
    assert_eq!(alarms.len(), 5, "fleet CPU, unhealthy hosts, 5xx, database CPU and free storage");
    let topic = format!("arn:aws:sns:{REGION}:123456789012:{}-alerts", stack.name);
    assert!(alarms.iter().all(|a| a["AlarmActions"] == serde_json::json!([topic])), "every alarm notifies the team");
    let cpu = alarms.iter().find(|a| a["MetricName"] == "CPUUtilization" && a["Namespace"] == "AWS/EC2").unwrap();
    assert_eq!(cpu["Threshold"], 60.0);
    let subs = aws(&["sns", "list-subscriptions-by-topic", "--topic-arn", &topic]);
    assert_eq!(subs["Subscriptions"][0]["Protocol"], "email");
    aws(&["cloudwatch", "get-dashboard", "--dashboard-name", &stack.name]);
    let groups = aws(&[
        "logs",
        "describe-log-groups",
        "--log-group-name-prefix",
        &format!("/aws/rds/instance/{}-db/", stack.name),
    ]);
    let groups = groups["logGroups"].as_array().unwrap().clone();
    assert_eq!(groups.len(), 4);
    assert!(groups.iter().all(|g| g["retentionInDays"] == 180));

    // Seed §12 step 5, the app reaches its database: the instances' user data carries the
    // endpoint, port and secret (never the password), and the buckets' names ...
    let user_data = data["UserData"].as_str().unwrap();
    let user_data = String::from_utf8(
        base64::Engine::decode(&base64::engine::general_purpose::STANDARD, user_data).expect("user data is base64"),
    )
    .unwrap();
    let address = rds["Endpoint"]["Address"].as_str().expect("the database's address").to_string();
    let images = format!("{}-images-123456789012-{REGION}", stack.name);
    for line in [
        format!("DB_HOST='{address}'"),
        "DB_PORT='1521'".to_string(),
        "DB_NAME='ORCL'".to_string(),
        format!("DB_SECRET_ARN='{secret_arn}'"),
        format!("BUCKET_IMAGES='{images}'"),
        format!("APP_LOG_GROUP='/bumarket-infra/{}/app'", stack.name),
    ] {
        assert!(user_data.lines().any(|l| l == line), "the user data has no `{line}`:\n{user_data}");
    }
    assert!(user_data.starts_with("#!/bin/bash\n# >>> bumarket-infra"), "the values follow the script's first line");
    assert!(!user_data.contains(&password), "the password is never in the user data");
    // ... and the instance role may read exactly that secret, as IAM's policy simulator
    // answers (moto has none; the test bed's follows the IAM user guide's evaluation).
    let role_arn = aws(&["iam", "get-role", "--role-name", &format!("{}-app", stack.name)])["Role"]["Arn"]
        .as_str()
        .unwrap()
        .to_string();
    let may = |action: &str, resource: &str| -> String {
        let r = aws(&[
            "iam",
            "simulate-principal-policy",
            "--policy-source-arn",
            &role_arn,
            "--action-names",
            action,
            "--resource-arns",
            resource,
        ]);
        r["EvaluationResults"][0]["EvalDecision"].as_str().unwrap().to_string()
    };
    let other =
        aws(&["secretsmanager", "create-secret", "--name", &format!("{}-other", stack.name), "--secret-string", "x"]);
    assert_eq!(may("secretsmanager:GetSecretValue", &secret_arn), "allowed");
    assert_eq!(may("secretsmanager:GetSecretValue", other["ARN"].as_str().unwrap()), "implicitDeny");
    let app_group = format!("arn:aws:logs:{REGION}:123456789012:log-group:/bumarket-infra/{}/app", stack.name);
    assert_eq!(may("logs:PutLogEvents", &format!("{app_group}:log-stream:i-0abc/django")), "allowed");
    assert_eq!(
        may("logs:PutLogEvents", &format!("arn:aws:logs:{REGION}:123456789012:log-group:x:log-stream:y")),
        "implicitDeny"
    );

    // Seed §5 and §12 step 6, every log lands in the log bucket: an event written to the
    // database's log group and one to the app's arrive as objects under their prefixes,
    // gzip'd as CloudWatch Logs hands them to Firehose.
    let logs_bucket = format!("{}-logs-123456789012-{REGION}", stack.name);
    let db_group = format!("/aws/rds/instance/{}-db/alert", stack.name);
    let app_group_name = format!("/bumarket-infra/{}/app", stack.name);
    for (group, prefix) in [(db_group.as_str(), "database/"), (app_group_name.as_str(), "app/")] {
        let message = format!("ORA-00600 written to {group} by the test");
        aws(&["logs", "create-log-stream", "--log-group-name", group, "--log-stream-name", "e2e"]);
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis();
        let event = format!("timestamp={now},message=\"{message}\"");
        aws(&["logs", "put-log-events", "--log-group-name", group, "--log-stream-name", "e2e", "--log-events", &event]);
        let listed = aws(&["s3api", "list-objects-v2", "--bucket", &logs_bucket, "--prefix", prefix]);
        let keys: Vec<String> = listed["Contents"]
            .as_array()
            .unwrap_or_else(|| panic!("nothing under {prefix} in the log bucket: {listed}"))
            .iter()
            .map(|o| o["Key"].as_str().unwrap().to_string())
            .collect();
        // The bucket refuses plain HTTP (its policy denies `aws:SecureTransport: false`),
        // and the emulator speaks only HTTP: its policy is lifted while the test reads.
        let file = stack.dir.path().join("delivered.gz");
        let get = ["s3api", "get-object", "--bucket", &logs_bucket, "--key", &keys[0], file.to_str().unwrap()];
        let refused = Emulator::shared().try_aws(REGION, &get).expect_err("a plain-HTTP read of the log bucket");
        assert!(refused.contains("403"), "{refused}");
        aws(&["s3api", "delete-bucket-policy", "--bucket", &logs_bucket]);
        let found = keys.iter().any(|key| {
            aws(&["s3api", "get-object", "--bucket", &logs_bucket, "--key", key, file.to_str().unwrap()]);
            let out = std::process::Command::new("gzip").arg("-dc").arg(&file).output().expect("run gzip");
            String::from_utf8_lossy(&out.stdout).contains(&message)
        });
        assert!(found, "the event is in none of {keys:?}");
        // The next apply puts the policy back, and nothing else.
        let put_back = cli(&stack).args(["apply", "--auto-approve"]).run().success();
        assert!(put_back.stdout.contains("~ bucket.logs"), "{}", put_back.stdout);
        assert!(put_back.stdout.contains("1 to change"), "{}", put_back.stdout);
    }
    // The log bucket keeps logs (force_destroy: false); empty it for the destroy below.
    aws(&["s3api", "delete-bucket-policy", "--bucket", &logs_bucket]);
    for prefix in ["database/", "app/"] {
        let listed = aws(&["s3api", "list-objects-v2", "--bucket", &logs_bucket, "--prefix", prefix]);
        for o in listed["Contents"].as_array().into_iter().flatten() {
            aws(&["s3api", "delete-object", "--bucket", &logs_bucket, "--key", o["Key"].as_str().unwrap()]);
        }
    }
    cli(&stack).args(["apply", "--auto-approve"]).run().success();

    // Converged: nothing to do, and a second apply creates no duplicate.
    // Through a proxy that answers every call 300 ms after it arrived, as AWS's latency
    // does: the round trips are then counted from calls that really overlap or follow each
    // other, not from the few microseconds between two calls the emulator answers at once.
    // The plan's cost, counted (not timed): reads go in parallel waves, never one resource
    // after another, and the tagging index (which moto splits in two pages) runs beside
    // them, not before. A round trip counts calls that started after another ended; the
    // emulator, one call at a time on a busy machine, can only make that look longer (a
    // call that ends late behind a queue), never shorter, so the fewest of three plans is
    // an upper bound of the read's real depth.
    let slow = crate::support::Proxy::start(Emulator::shared(), &["--latency", "300"]);
    let mut depths = Vec::new();
    for _ in 0..3 {
        let plan = slow.cli(Emulator::shared(), &stack).args(["plan", "--detailed-exitcode"]).run().code_is(0);
        assert!(plan.stdout.contains("No changes."), "{}", plan.stdout);
        let summary = plan.stderr.lines().find(|l| l.contains("round trips")).expect("the read summary line");
        let numbers: Vec<usize> = summary.split(|c: char| !c.is_ascii_digit()).filter_map(|n| n.parse().ok()).collect();
        let [resources, _live, calls, depth, ..] = numbers[..] else { panic!("{summary}") };
        assert!(calls <= 2 * resources, "{summary}");
        depths.push(depth);
        if depth <= 3 {
            break;
        }
    }
    assert!(depths.iter().min().is_some_and(|&d| d <= 3), "round trips of the plans: {depths:?}");
    // What every provider reads has exactly the attributes its schema declares: the same
    // keys as what the file asks for (which a unit test holds to the schema).
    let saved = stack.dir.path().join("converged.plan");
    cli(&stack).args(["plan", "--out", saved.to_str().unwrap()]).run().success();
    let saved: Value = serde_json::from_str(&std::fs::read_to_string(&saved).unwrap()).unwrap();
    let mut kinds = std::collections::BTreeSet::new();
    for r in saved["plan"]["resources"].as_array().unwrap() {
        let keys = |side: &str| -> Vec<String> { r[side]["attrs"].as_object().unwrap().keys().cloned().collect() };
        assert_eq!(keys("observed"), keys("desired"), "`{}` reads other attributes than it declares", r["addr"]);
        kinds.insert(r["addr"].as_str().unwrap().split('.').next().unwrap().to_string());
    }
    // All but Cloud9, which moto does not have (its reads are checked with canned answers).
    assert_eq!(kinds.len(), 24, "{kinds:?}");
    cli(&stack).args(["apply", "--auto-approve"]).run().success();
    assert_eq!(aws(&["ec2", "describe-vpcs", "--filters", &f])["Vpcs"].as_array().unwrap().len(), 1);
    assert_eq!(
        aws(&["ec2", "describe-security-groups", "--filters", &f])["SecurityGroups"].as_array().unwrap().len(),
        3
    );

    let out: Value = serde_json::from_str(&cli(&stack).args(["output", "--json"]).run().success().stdout).unwrap();
    let url = out["load_balancer.main"]["url"].as_str().expect("output has the load balancer's URL");
    assert!(url.starts_with("http://") && url.contains(alb["DNSName"].as_str().unwrap()), "{url}");

    // The seed's database and load balancer are protected: destroy deletes nothing at all
    // and says why.
    let db_id = format!("{}-db", stack.name);
    let refused = cli(&stack).args(["destroy", "--auto-approve"]).run().code_is(1);
    assert!(refused.stderr.contains("deletion_protection: false"), "{}", refused.stderr);
    assert!(
        refused.stderr.contains("load balancer `") && refused.stderr.contains("has deletion protection on"),
        "{}",
        refused.stderr
    );
    assert_eq!(aws(&["ec2", "describe-vpcs", "--filters", &f])["Vpcs"].as_array().unwrap().len(), 1);
    aws(&["rds", "describe-db-instances", "--db-instance-identifier", &db_id]);
    allow_database_deletion(&stack);
    cli(&stack).args(["apply", "--auto-approve"]).run().success();
    let run = cli(&stack).args(["destroy", "--auto-approve"]).run().success();
    assert!(run.stderr.contains("Destroy complete"), "{}", run.stderr);
    let snapshots =
        aws(&["rds", "describe-db-snapshots", "--db-instance-identifier", &db_id, "--snapshot-type", "manual"]);
    assert_eq!(snapshots["DBSnapshots"].as_array().unwrap().len(), 1, "a final snapshot is kept: {snapshots}");
    assert!(aws(&["ec2", "describe-vpcs", "--filters", &f])["Vpcs"].as_array().unwrap().is_empty());
    assert!(aws(&["autoscaling", "describe-auto-scaling-groups", "--auto-scaling-group-names", &lt_name])
        ["AutoScalingGroups"]
        .as_array()
        .unwrap()
        .is_empty());
    let tag = format!("Key=bumarket-infra:stack,Values={}", stack.name);
    let left = aws(&["resourcegroupstaggingapi", "get-resources", "--tag-filters", &tag]);
    // Terminated instances stay visible for a while (on AWS too) and the database's
    // snapshots are kept on purpose; nothing else may stay.
    for m in left["ResourceTagMappingList"].as_array().unwrap() {
        let arn = m["ResourceARN"].as_str().unwrap();
        if arn.contains(":snapshot:") {
            continue;
        }
        let instance = arn.split(":instance/").nth(1).unwrap_or_else(|| panic!("{arn} was left behind"));
        let d = aws(&["ec2", "describe-instances", "--instance-ids", instance]);
        assert_eq!(d["Reservations"][0]["Instances"][0]["State"]["Name"], "terminated", "{arn}");
    }
}

#[test]
fn a_template_change_makes_a_new_version_and_plans_clean_after() {
    let stack = seed_stack("tpl");
    // Nothing to replace on an empty fleet: moto cannot run an instance refresh.
    edit(&stack, "min_size: 1 ", "min_size: 0 ");
    edit(&stack, "desired_capacity: 1\n", "desired_capacity: 0\n");
    cli(&stack).args(["apply", "--auto-approve"]).run().success();
    edit(&stack, "instance_type: t2.micro", "instance_type: t3.small");

    let plan = cli(&stack).args(["plan", "--detailed-exitcode"]).run().code_is(2);
    assert!(plan.stdout.contains("~ launch_template.app"), "{}", plan.stdout);
    assert!(plan.stdout.contains("new version, made the default"), "{}", plan.stdout);
    assert!(plan.stdout.contains("\"t2.micro\" -> \"t3.small\""), "{}", plan.stdout);
    assert!(plan.stdout.contains("~ autoscaling_group.app"), "{}", plan.stdout);
    cli(&stack).args(["apply", "--auto-approve"]).run().success();

    let name = format!("{}-app", stack.name);
    let versions = aws(&["ec2", "describe-launch-templates", "--launch-template-names", &name]);
    assert_eq!(versions["LaunchTemplates"][0]["DefaultVersionNumber"], 2);
    let data =
        aws(&["ec2", "describe-launch-template-versions", "--launch-template-name", &name, "--versions", "$Default"]);
    assert_eq!(data["LaunchTemplateVersions"][0]["LaunchTemplateData"]["InstanceType"], "t3.small");
    cli(&stack).args(["plan", "--detailed-exitcode"]).run().code_is(0);

    // A new prefix for the app's logs changes its Firehose stream in place
    // (UpdateDestination, naming the stream's current version and destination).
    edit(
        &stack,
        "app_logs_to_bucket: {bucket: logs, prefix: app}",
        "app_logs_to_bucket: {bucket: logs, prefix: app-v2}",
    );
    let plan = cli(&stack).args(["plan"]).run().success();
    assert!(plan.stdout.contains("~ delivery_stream.app"), "{}", plan.stdout);
    cli(&stack).args(["apply", "--auto-approve"]).run().success();
    let stream = format!("{}-app-logs", stack.name);
    let described = aws(&["firehose", "describe-delivery-stream", "--delivery-stream-name", &stream]);
    let destination = &described["DeliveryStreamDescription"]["Destinations"][0]["ExtendedS3DestinationDescription"];
    assert_eq!(destination["Prefix"], "app-v2/", "{described}");
    cli(&stack).args(["plan", "--detailed-exitcode"]).run().code_is(0);
    let outputs = cli(&stack).args(["output", "--json"]).run().success();
    let outputs: Value = serde_json::from_str(&outputs.stdout).unwrap();
    // What the stream's update needs is no output of the stack.
    assert_eq!(
        outputs["delivery_stream.app"].as_object().map(|o| o.keys().cloned().collect::<Vec<_>>()),
        Some(vec!["arn".to_string()])
    );

    allow_database_deletion(&stack);
    edit(&stack, "final_snapshot: true", "final_snapshot: false");
    cli(&stack).args(["apply", "--auto-approve"]).run().success();
    cli(&stack).args(["destroy", "--auto-approve"]).run().success();
}
