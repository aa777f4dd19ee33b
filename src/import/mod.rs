//! `import`: write a stack file from what a region holds that no stack owns, so a team
//! that built its stack by hand takes it over with `plan` and `apply` (every resource
//! adopted in place: see `adopt:` in docs/stack-file.md).
//!
//! Read-only: its calls are reads only ([`CALLS`], part of `permissions --for plan`).
//! `read` gathers the live resources in parallel waves, `compose` turns them into the
//! model, `bumarket_stack::write` into YAML, and the file is read back with the reader
//! before it is called written: it validates as written, or import says why it does not.

mod compose;
mod read;

use crate::aws::{Aws, Options as AwsOptions};
use crate::out::{errln, outln};
use crate::render::human::count;
use crate::run::{Exit, Failure};
use crate::settings::Settings;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub use compose::compose;

/// What import reads and where it writes.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// The stack's name in the file written.
    pub stack: String,
    /// Only resources whose names start with it (and their logical names without it).
    pub prefix: Option<String>,
    /// The VPC to take (needed when several are no stack's).
    pub vpc: Option<String>,
    /// Only resources with these tags (where the kind has tags).
    pub tags: BTreeMap<String, String>,
    /// The template's user data goes into this file, relative to the stack file.
    pub user_data_file: Option<PathBuf>,
}

/// Every call import makes, all reads (`service:Operation`, as `permissions` names them).
pub const CALLS: &[&str] = &[
    "sts:GetCallerIdentity",
    "ec2:DescribeVpcs",
    "ec2:DescribeSubnets",
    "ec2:DescribeInternetGateways",
    "ec2:DescribeRouteTables",
    "ec2:DescribeSecurityGroups",
    "ec2:DescribeLaunchTemplates",
    "ec2:DescribeLaunchTemplateVersions",
    "autoscaling:DescribeAutoScalingGroups",
    "autoscaling:DescribePolicies",
    "elasticloadbalancing:DescribeLoadBalancers",
    "elasticloadbalancing:DescribeTargetGroups",
    "elasticloadbalancing:DescribeTags",
    "elasticloadbalancing:DescribeListeners",
    "elasticloadbalancing:DescribeLoadBalancerAttributes",
    "rds:DescribeDBInstances",
    "s3:ListBuckets",
    "s3:GetBucketTagging",
    "s3:GetBucketEncryption",
    "s3:GetPublicAccessBlock",
    "s3:GetBucketOwnershipControls",
    "s3:GetBucketPolicy",
    "s3:GetBucketVersioning",
    "s3:GetBucketLifecycleConfiguration",
    "iam:ListRoles",
    "iam:ListGroups",
    "iam:ListInstanceProfiles",
    "iam:GetRole",
    "iam:GetGroup",
    "iam:ListRolePolicies",
    "iam:GetRolePolicy",
    "iam:ListAttachedRolePolicies",
    "iam:ListGroupPolicies",
    "iam:GetGroupPolicy",
    "iam:ListAttachedGroupPolicies",
    "sns:ListTopics",
    "sns:ListTagsForResource",
    "sns:ListSubscriptionsByTopic",
    "cloudwatch:DescribeAlarms",
    "cloudwatch:ListTagsForResource",
    "cloudwatch:ListDashboards",
    "logs:DescribeLogGroups",
    "logs:ListTagsForResource",
];

/// The command line's import, checked.
pub struct Request {
    pub stack: Option<String>,
    pub prefix: Option<String>,
    pub vpc: Option<String>,
    pub tags: Vec<String>,
    pub out: Option<PathBuf>,
    pub force: bool,
}

fn region(s: &Settings) -> Option<String> {
    s.region
        .clone()
        .or_else(|| std::env::var("AWS_REGION").ok())
        .or_else(|| std::env::var("AWS_DEFAULT_REGION").ok())
        .filter(|r| !r.is_empty())
}

/// Checks the request before any call: the stack's name and region as the file will
/// hold them, the tags, the output path.
fn options(r: &Request, s: &Settings) -> Result<(Options, String), Failure> {
    let region = region(s).ok_or_else(|| {
        Failure::new("import needs a region: there is no stack file to take it from")
            .help("pass `--region ap-northeast-2` (or set AWS_REGION)")
    })?;
    let stack = r.stack.clone().or_else(|| r.prefix.as_ref().map(|p| p.trim_end_matches(['-', '_', '.']).to_string()));
    let Some(stack) = stack.filter(|s| !s.is_empty()) else {
        return Err(Failure::new("import needs the stack's name")
            .help("pass `--stack bumarket` (or a `--prefix` it can take it from)"));
    };
    let head = format!("stack: {}\nregion: {}\n", bumarket_stack::write::q(&stack), bumarket_stack::write::q(&region));
    if let Err(d) = bumarket_stack::parse(Path::new("--stack/--region"), &head) {
        let why: Vec<String> = d.items.iter().map(|i| i.message.clone()).collect();
        return Err(Failure::new(format!("the stack file would not be valid: {}", why.join("; ")))
            .help("choose a stack name of 1-24 lower-case letters, digits and `-`, and an AWS region such as `ap-northeast-2`"));
    }
    let mut tags = BTreeMap::new();
    for t in &r.tags {
        let Some((k, v)) = t.split_once('=') else {
            return Err(Failure::new(format!("`--tag {t}` is not KEY=VALUE")).help("write it as `--tag team=web`"));
        };
        tags.insert(k.to_string(), v.to_string());
    }
    if let Some(out) = &r.out {
        if out.exists() && !r.force {
            return Err(Failure::new(format!("`{}` exists; import never writes over a file", out.display()))
                .help("choose another path, or pass `--force` to replace it"));
        }
    }
    let user_data_file = r.out.as_ref().map(|out| {
        let stem = out.file_stem().map_or_else(|| "stack".into(), |s| s.to_string_lossy().into_owned());
        PathBuf::from(format!("{stem}.user-data.sh"))
    });
    Ok((Options { stack, prefix: r.prefix.clone(), vpc: r.vpc.clone(), tags, user_data_file }, region))
}

/// Runs `import`.
pub async fn run(r: Request, s: &Settings) -> Result<Exit, Failure> {
    let (o, region) = options(&r, s)?;
    let aws = Aws::connect(&AwsOptions {
        region: region.clone(),
        profile: s.profile.clone(),
        endpoint_url: s.endpoint_url.clone(),
        max_in_flight: s.max_in_flight,
        max_attempts: s.max_attempts,
    })
    .await;
    let started = std::time::Instant::now();
    let base = bumarket_stack::write::skeleton("");
    let stack = bumarket_stack::Stack { name: o.stack.clone(), region: region.clone(), network: None, ..base };
    let found = read::read(&aws, &o, &stack).await.map_err(|e| match e {
        read::ReadError::Aws(e) => Failure::new(format!("could not read the region: {e}"))
            .help("check the credentials and the region; import needs the read permissions of `bumarket-infra permissions --for plan`"),
        read::ReadError::ManyVpcs(list) => {
            let names: Vec<String> =
                list.iter().map(|(id, name)| name.as_ref().map_or_else(|| id.clone(), |n| format!("{id} ({n})"))).collect();
            Failure::new(format!("{} VPCs in {region} belong to no stack: {}", list.len(), names.join(", ")))
                .help("a stack file holds one network: choose it with `--vpc <id>`, or narrow with `--prefix`")
        }
        read::ReadError::NoSuchVpc(id) => {
            Failure::new(format!("there is no VPC `{id}` in {region}")).help("list them with `aws ec2 describe-vpcs`")
        }
    })?;
    errln!(
        "Read {} in {}: {} in {} round trips, {:.1} s.",
        region,
        found.account,
        count(aws.calls.count(), "AWS call"),
        aws.calls.depth(),
        started.elapsed().as_secs_f64()
    );
    let composed = compose(&found, &o);
    let Some(model) = composed.stack else { return Err(Failure::new("nothing found to import")) };
    let text = bumarket_stack::write::write(&model, &composed.draft);
    let path = r.out.clone().unwrap_or_else(|| PathBuf::from("imported.yaml"));
    if let Some(out) = &r.out {
        if let Some(u) = model.fleet.as_ref().and_then(|f| f.user_data.as_ref()) {
            let beside = out.parent().unwrap_or(Path::new("")).join(&u.path);
            let (script, _) = crate::resources::app_env::parse(&u.content);
            std::fs::write(&beside, script)
                .map_err(|e| Failure::new(format!("could not write `{}`: {e}", beside.display())))?;
        }
        std::fs::write(out, &text).map_err(|e| Failure::new(format!("could not write `{}`: {e}", out.display())))?;
    } else {
        outln!("{}", text.trim_end());
    }
    // Read back as `validate` will read it.
    let check = match &r.out {
        Some(out) => bumarket_stack::load(out),
        None => bumarket_stack::parse(&path, &text),
    };
    summary(&model, &composed.findings, r.out.as_deref());
    if let Err(d) = check {
        errln!("{d}");
        return Err(Failure::new("the file import wrote does not validate: that is a bug of bumarket-infra")
            .help("fix the lines above by hand, and report the case"));
    }
    if std::env::var_os("BUMARKET_INFRA_CHECK_CALLS").is_some_and(|v| v == "1") {
        let made = aws.calls.made();
        let missing = crate::permissions::undeclared_reads(&made);
        if !missing.is_empty() {
            return Err(Failure::new(format!("import made calls its declaration lacks: {}", missing.join(", ")))
                .help("declare each in `import::CALLS`"));
        }
    }
    Ok(Exit::Ok)
}

fn summary(stack: &bumarket_stack::Stack, findings: &[String], out: Option<&Path>) {
    let where_ = out.map_or_else(|| "standard output".to_string(), |p| format!("`{}`", p.display()));
    let sections: Vec<&str> = [
        ("network", stack.network.is_some()),
        ("fleet", stack.fleet.is_some()),
        ("load_balancer", stack.load_balancer.is_some()),
        ("database", stack.database.is_some()),
        ("buckets", !stack.buckets.is_empty()),
        ("access", !stack.access.roles.is_empty() || !stack.access.groups.is_empty()),
    ]
    .iter()
    .filter(|(_, on)| *on)
    .map(|(s, _)| *s)
    .collect();
    errln!(
        "Wrote {where_}: stack `{}` in {}, {} resources to adopt ({}).",
        stack.name,
        stack.region,
        stack.adopt.len(),
        if sections.is_empty() { "nothing found".to_string() } else { sections.join(", ") }
    );
    if !findings.is_empty() {
        errln!("\n{} findings (also in the file, above their sections):", findings.len());
        for f in findings {
            errln!("  - {f}");
        }
    }
    let file = out.map_or_else(|| "FILE".to_string(), |p| p.display().to_string());
    errln!("\nNext: bumarket-infra plan -f {file}   # shows each resource as `adopt`");
}
