//! Preflight: read-only checks, in every plan and so before any write, of what AWS would
//! refuse, each reported as the stack file's own problems are (file:line:column of the
//! value, what AWS offers instead; exit 1, nothing changed).
//!
//! A check runs only for what the plan creates or changes (a converged plan makes no
//! preflight call: what exists, AWS already accepted), all checks side by side after
//! the read, so a plan with changes costs one round trip more. Each check rests on AWS's
//! own documentation:
//! - the database: DescribeOrderableDBInstanceOptions ("Describes the orderable DB
//!   instance options for a specified DB engine", RDS API Reference) lists, per engine,
//!   version, licence and class, the storage types with their MinStorageSize and
//!   MaxStorageSize (GiB); a class or storage outside it CreateDBInstance refuses;
//! - instance types: DescribeInstanceTypeOfferings with LocationType
//!   availability-zone ("Lists the instance types that are offered for the specified
//!   location", EC2 API Reference) says in which zones a type runs; DescribeAvailabilityZones
//!   which zones the region has; DescribeImages an image's Architecture and
//!   DescribeInstanceTypes the architectures a type runs (ProcessorInfo.SupportedArchitectures);
//! - the certificate: DescribeCertificate's Status (ACM API Reference; a listener takes
//!   only an ISSUED one) or ResourceNotFoundException;
//! - bucket names are not checked here: the read already asks for each bucket of the file
//!   (GetBucketTagging), and S3 answers 403 for a name another account holds ("403
//!   Forbidden" when "you do not have permission to access it", S3 API Reference,
//!   HeadBucket) and 301 for one in another region; the plan then stops with that name
//!   shown at its place in the file, before any write (`Provider::place`);
//! - quotas (Service Quotas' GetServiceQuota, else the default its user guide documents):
//!   "VPCs per Region" (L-F678F1CE, default 5, Amazon VPC User Guide, "Amazon VPC quotas")
//!   against the region's VPCs; "Running On-Demand Standard (A, C, D, H, I, M, R, T, Z)
//!   instances" (L-1216C47A, a count of vCPUs, Amazon EC2 User Guide, "On-Demand
//!   Instance quotas") against the fleet at its largest plus Cloud9.

use crate::apply::StepError;
use crate::aws::{call_error, is_code};
use crate::plan::{Action, Plan, ResourceChange};
use crate::resources::Cx;
use bumarket_core::engine::Kind;
use bumarket_stack::Image;
use std::collections::{BTreeMap, BTreeSet};

/// The calls the preflight makes (see `crate::permissions`).
pub const CALLS: &[&str] = &[
    "rds:DescribeOrderableDBInstanceOptions",
    "ec2:DescribeAvailabilityZones",
    "ec2:DescribeInstanceTypeOfferings",
    "ec2:DescribeInstanceTypes",
    "ec2:DescribeImages",
    "ec2:DescribeVpcs",
    "acm:DescribeCertificate",
    "servicequotas:GetServiceQuota",
];

/// One value of the file that AWS would refuse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Where it is in the file: mapping keys, and sequence indexes as numbers.
    pub keys: Vec<String>,
    pub message: String,
    /// Under the value: what is wrong with it, in a few words.
    pub label: String,
    /// What AWS offers instead, or what to do.
    pub help: Option<String>,
}

impl Problem {
    fn at(keys: &[&str], message: impl Into<String>, label: &str, help: Option<String>) -> Problem {
        Problem {
            keys: keys.iter().map(|k| k.to_string()).collect(),
            message: message.into(),
            label: label.into(),
            help,
        }
    }
}

/// "VPCs per Region" (Amazon VPC User Guide, "Amazon VPC quotas": default 5).
const VPC_QUOTA: (&str, &str, f64) = ("vpc", "L-F678F1CE", 5.0);
/// "Running On-Demand Standard (A, C, D, H, I, M, R, T, Z) instances", in vCPUs.
const STANDARD_VCPU_QUOTA: (&str, &str) = ("ec2", "L-1216C47A");

/// Every problem AWS would have with what `plan` creates or changes.
pub async fn check(cx: &Cx, plan: &Plan) -> Result<Vec<Problem>, StepError> {
    let (db, ec2, cert, vpcs) =
        tokio::join!(database(cx, plan), instances(cx, plan), certificate(cx, plan), vpc_quota(cx, plan));
    let mut all = Vec::new();
    for found in [db, ec2, cert, vpcs] {
        all.extend(found?);
    }
    Ok(all)
}

fn changing(plan: &Plan, kind: Kind) -> impl Iterator<Item = &ResourceChange> {
    plan.resources.iter().filter(move |r| {
        r.addr.kind() == kind && matches!(r.action, Action::Create | Action::Replace | Action::Update | Action::Adopt)
    })
}

/// An update in place: the live resource stays (an adoption is one too).
fn in_place(a: Action) -> bool {
    matches!(a, Action::Update | Action::Adopt)
}

fn created(plan: &Plan, kind: Kind) -> impl Iterator<Item = &ResourceChange> {
    changing(plan, kind).filter(|r| !in_place(r.action))
}

// ---- the database -------------------------------------------------------------------

/// One orderable combination, as much of it as the check reads.
#[derive(Debug, Clone)]
struct Orderable {
    class: String,
    version: String,
    storage: String,
    min_gb: Option<i32>,
    max_gb: Option<i32>,
}

/// A version of the file (`19`, or a full `19.0.0.0.ru-2024-01.rur-2024-01.r1`) and one
/// AWS lists: the same, or a major version and one of its releases.
fn version_matches(listed: &str, wanted: &str) -> bool {
    listed == wanted || listed.starts_with(&format!("{wanted}."))
}

async fn orderable(
    cx: &Cx,
    engine: &str,
    license: Option<&str>,
    class: Option<&str>,
    pages: usize,
) -> Result<Vec<Orderable>, StepError> {
    let mut out = Vec::new();
    let mut marker: Option<String> = None;
    for _ in 0..pages {
        let answer = cx
            .aws
            .rds
            .describe_orderable_db_instance_options()
            .engine(engine)
            .set_license_model(license.map(str::to_string))
            .set_db_instance_class(class.map(str::to_string))
            .max_records(1000)
            .set_marker(marker.take())
            .send()
            .await
            .map_err(|e| call_error("rds:DescribeOrderableDBInstanceOptions", e))?;
        out.extend(answer.orderable_db_instance_options().iter().map(|o| Orderable {
            class: o.db_instance_class().unwrap_or_default().to_string(),
            version: o.engine_version().unwrap_or_default().to_string(),
            storage: o.storage_type().unwrap_or_default().to_string(),
            min_gb: o.min_storage_size(),
            max_gb: o.max_storage_size(),
        }));
        marker = answer.marker().map(str::to_string);
        if marker.is_none() {
            break;
        }
    }
    Ok(out)
}

/// Sorts instance classes smallest first: by size word (`micro` < `small` < ... <
/// `xlarge` < `2xlarge` ...), then by name.
fn class_rank(class: &str) -> (u32, String) {
    let size = class.rsplit('.').next().unwrap_or_default();
    let rank = match size {
        "nano" => 0,
        "micro" => 1,
        "small" => 2,
        "medium" => 3,
        "large" => 4,
        "xlarge" => 5,
        s => s.strip_suffix("xlarge").and_then(|n| n.parse::<u32>().ok()).map_or(1000, |n| 5 + n),
    };
    (rank, class.to_string())
}

async fn database(cx: &Cx, plan: &Plan) -> Result<Vec<Problem>, StepError> {
    let Some(db) = &cx.stack.database else { return Ok(vec![]) };
    let checked = ["engine_version", "license_model", "instance_class", "storage"];
    let wanted = changing(plan, Kind::Database)
        .any(|r| !in_place(r.action) || r.changes.iter().any(|c| checked.contains(&c.name.as_str())));
    if !wanted {
        return Ok(vec![]);
    }
    let license = db.license_model.as_deref();
    let what = format!("{} {}{}", db.engine, db.engine_version, license.map(|l| format!(" {l}")).unwrap_or_default());
    let region = cx.region();
    let offered: Vec<Orderable> = orderable(cx, &db.engine, license, Some(&db.instance_class), 10)
        .await?
        .into_iter()
        .filter(|o| version_matches(&o.version, &db.engine_version))
        .collect();
    if offered.is_empty() {
        let all = orderable(cx, &db.engine, license, None, 20).await?;
        let mut classes: Vec<String> = all
            .iter()
            .filter(|o| version_matches(&o.version, &db.engine_version))
            .map(|o| o.class.clone())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        if classes.is_empty() {
            return Ok(vec![Problem::at(
                &["database", "engine_version"],
                format!("RDS offers no database class for {what} in {region}"),
                "no class offered for this version",
                Some("check `engine`, `engine_version` and `license_model` against the RDS user guide's page for the engine".into()),
            )]);
        }
        classes.sort_by_key(|c| class_rank(c));
        let family = db.instance_class.rsplit_once('.').map(|(f, _)| format!("{f}.")).unwrap_or_default();
        let same: Vec<&String> = classes.iter().filter(|c| c.starts_with(&family)).take(3).collect();
        let smallest: Vec<String> = classes.iter().take(5).map(|c| format!("`{c}`")).collect();
        let mut help = format!("the smallest offered are {}", smallest.join(", "));
        if !same.is_empty() && !classes.iter().take(5).any(|c| c == same[0]) {
            help.push_str(&format!("; in its family: `{}`", same[0]));
        }
        return Ok(vec![Problem::at(
            &["database", "instance_class"],
            format!("`{}` is not offered for {what} in {region}", db.instance_class),
            "not offered",
            Some(help),
        )]);
    }
    let storage = &db.storage;
    let of_type: Vec<&Orderable> = offered.iter().filter(|o| o.storage == storage.storage_type).collect();
    let Some(option) = of_type.first() else {
        let types: BTreeSet<String> = offered.iter().map(|o| format!("`{}`", o.storage)).collect();
        return Ok(vec![Problem::at(
            &["database", "storage", "type"],
            format!("`{}` storage is not offered for `{}` {what} in {region}", storage.storage_type, db.instance_class),
            "not offered",
            Some(format!("offered: {}", types.into_iter().collect::<Vec<_>>().join(", "))),
        )]);
    };
    let (min, max) = (option.min_gb.unwrap_or(0), option.max_gb.unwrap_or(i32::MAX));
    let range = format!("{} storage of `{}` takes {min} to {max} GiB", storage.storage_type, db.instance_class);
    let mut problems = Vec::new();
    let size = i64::from(storage.size_gb);
    if size < i64::from(min) || size > i64::from(max) {
        problems.push(Problem::at(
            &["database", "storage", "size_gb"],
            format!("{} GiB is outside what RDS allows for {what}", storage.size_gb),
            "size not allowed",
            Some(range.clone()),
        ));
    }
    if let Some(top) = storage.max_size_gb.filter(|m| i64::from(*m) > i64::from(max)) {
        problems.push(Problem::at(
            &["database", "storage", "max_size_gb"],
            format!("storage autoscaling up to {top} GiB is more than RDS allows for {what}"),
            "above the maximum",
            Some(range),
        ));
    }
    Ok(problems)
}

// ---- instance types, zones, the image -------------------------------------------------

/// An instance type the plan launches, where in the file it is, and in which zones.
struct Launch {
    instance_type: String,
    keys: Vec<&'static str>,
    zones: Vec<String>,
    /// The image's architecture when the file fixes it without an image id (Cloud9's
    /// `amazonlinux-2023-x86_64`).
    arch: Option<String>,
}

fn launches(cx: &Cx, plan: &Plan) -> Vec<Launch> {
    let Some(net) = &cx.stack.network else { return vec![] };
    // An existing network's zones are its subnets' (looked up in wave one).
    let zones_of_public: Vec<String> = if net.existing {
        cx.existing.zones("public")
    } else {
        net.availability_zones.iter().take(net.public_subnets.len()).cloned().collect()
    };
    let mut out = Vec::new();
    if let Some(fleet) = &cx.stack.fleet {
        if changing(plan, Kind::LaunchTemplate).next().is_some()
            || created(plan, Kind::AutoscalingGroup).next().is_some()
        {
            out.push(Launch {
                instance_type: fleet.instance_type.clone(),
                keys: vec!["fleet", "instance_type"],
                zones: zones_of_public.clone(),
                arch: None,
            });
        }
    }
    if let Some(c9) = &cx.stack.cloud9 {
        if created(plan, Kind::Cloud9).next().is_some() {
            let arch = ["x86_64", "arm64"].into_iter().find(|a| c9.image_id.ends_with(a)).map(str::to_string);
            out.push(Launch {
                instance_type: c9.instance_type.clone(),
                keys: vec!["cloud9", "instance_type"],
                zones: zones_of_public.get(c9.subnet_index).cloned().into_iter().collect(),
                arch,
            });
        }
    }
    out
}

/// The fleet's image id when the plan launches it anew.
fn fleet_image(cx: &Cx, plan: &Plan) -> Option<String> {
    let fleet = cx.stack.fleet.as_ref()?;
    let changed = changing(plan, Kind::LaunchTemplate)
        .any(|r| !in_place(r.action) || r.changes.iter().any(|c| c.name == "image_id" || c.name == "instance_type"));
    if !changed {
        return None;
    }
    match &fleet.image {
        Image::Ami(id) => Some(id.clone()),
        Image::SsmParameter(_) => cx.image_id.clone(),
    }
}

async fn instances(cx: &Cx, plan: &Plan) -> Result<Vec<Problem>, StepError> {
    let launches = launches(cx, plan);
    let new_subnets = created(plan, Kind::Subnet).next().is_some();
    if launches.is_empty() && !new_subnets {
        return Ok(vec![]);
    }
    let ec2 = &cx.aws.ec2;
    let types: Vec<String> =
        launches.iter().map(|l| l.instance_type.clone()).collect::<BTreeSet<_>>().into_iter().collect();
    let image = fleet_image(cx, plan);
    let zones = async {
        let out = ec2
            .describe_availability_zones()
            .send()
            .await
            .map_err(|e| call_error("ec2:DescribeAvailabilityZones", e))?;
        Ok::<_, StepError>(
            out.availability_zones()
                .iter()
                .filter(|z| z.zone_type().is_none_or(|t| t == "availability-zone"))
                .filter_map(|z| z.zone_name().map(|n| (n.to_string(), z.state().map(|s| s.as_str().to_string()))))
                .collect::<BTreeMap<String, Option<String>>>(),
        )
    };
    let offerings = async {
        if types.is_empty() {
            return Ok(BTreeMap::new());
        }
        let mut offered: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        let mut pages = ec2
            .describe_instance_type_offerings()
            .location_type(aws_sdk_ec2::types::LocationType::AvailabilityZone)
            .filters(
                aws_sdk_ec2::types::Filter::builder().name("instance-type").set_values(Some(types.clone())).build(),
            )
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| call_error("ec2:DescribeInstanceTypeOfferings", e))?;
            for o in page.instance_type_offerings() {
                if let (Some(t), Some(z)) = (o.instance_type(), o.location()) {
                    offered.entry(t.as_str().to_string()).or_default().insert(z.to_string());
                }
            }
        }
        Ok::<_, StepError>(offered)
    };
    let type_info = async {
        if types.is_empty() {
            return Ok(BTreeMap::new());
        }
        let out = ec2
            .describe_instance_types()
            .set_instance_types(Some(types.iter().map(|t| t.as_str().into()).collect()))
            .send()
            .await;
        match out {
            Ok(out) => Ok(out
                .instance_types()
                .iter()
                .filter_map(|t| {
                    let name = t.instance_type()?.as_str().to_string();
                    let archs: Vec<String> = t
                        .processor_info()
                        .map(|p| p.supported_architectures().iter().map(|a| a.as_str().to_string()).collect())
                        .unwrap_or_default();
                    let vcpus = t.v_cpu_info().and_then(|v| v.default_v_cpus()).unwrap_or(0);
                    Some((name, (archs, vcpus)))
                })
                .collect::<BTreeMap<String, (Vec<String>, i32)>>()),
            // A type EC2 does not know is named by the offerings check below.
            Err(e) if is_code(&e, "InvalidInstanceType") => Ok(BTreeMap::new()),
            Err(e) => Err(call_error("ec2:DescribeInstanceTypes", e)),
        }
    };
    let image_arch = async {
        let Some(id) = &image else { return Ok(None) };
        match ec2.describe_images().image_ids(id).send().await {
            Ok(out) => {
                Ok(Some((id.clone(), out.images().first().map(|i| i.architecture().map(|a| a.as_str().to_string())))))
            }
            Err(e) if is_code(&e, "InvalidAMIID.NotFound") || is_code(&e, "InvalidAMIID.Malformed") => {
                Ok(Some((id.clone(), None)))
            }
            Err(e) => Err(call_error("ec2:DescribeImages", e)),
        }
    };
    let quota = async {
        if launches.is_empty() {
            return None;
        }
        service_quota(cx, STANDARD_VCPU_QUOTA.0, STANDARD_VCPU_QUOTA.1).await
    };
    let (zones, offerings, type_info, image_arch, quota) = tokio::join!(zones, offerings, type_info, image_arch, quota);
    let (zones, offerings, type_info, image_arch) = (zones?, offerings?, type_info?, image_arch?);
    let region = cx.region();
    let mut problems = Vec::new();
    // Zones the region has.
    let net = cx.stack.network.as_ref();
    let names: Vec<String> = zones.keys().map(|z| format!("`{z}`")).collect();
    let mut bad_zones = BTreeSet::new();
    for (i, zone) in net.map(|n| n.availability_zones.as_slice()).unwrap_or_default().iter().enumerate() {
        let state = zones.get(zone);
        let problem = match state {
            None => Some((format!("`{zone}` is not an availability zone of {region}"), "no such zone")),
            Some(Some(s)) if s != "available" => Some((format!("availability zone `{zone}` is {s}"), "not available")),
            _ => None,
        };
        if let Some((message, label)) = problem {
            bad_zones.insert(zone.clone());
            let index = i.to_string();
            problems.push(Problem::at(
                &["network", "availability_zones", &index],
                message,
                label,
                Some(format!("{region} has {}", names.join(", "))),
            ));
        }
    }
    // Instance types offered in each of their zones, running the image's architecture.
    for launch in &launches {
        let t = &launch.instance_type;
        let here = offerings.get(t).cloned().unwrap_or_default();
        let missing: Vec<&String> =
            launch.zones.iter().filter(|z| !bad_zones.contains(*z) && !here.contains(*z)).collect();
        if !missing.is_empty() {
            let missing: Vec<String> = missing.iter().map(|z| format!("`{z}`")).collect();
            let help = if here.is_empty() {
                format!("EC2 offers `{t}` in no zone of {region}; choose another instance type")
            } else {
                let offered: Vec<String> = here.iter().map(|z| format!("`{z}`")).collect();
                format!("it is offered in {}; choose those zones or another instance type", offered.join(", "))
            };
            problems.push(Problem::at(
                &launch.keys,
                format!("`{t}` is not offered in {}", missing.join(", ")),
                "not offered in every zone of the stack",
                Some(help),
            ));
        }
        let arch = match (&launch.arch, &image_arch) {
            (Some(a), _) => Some(a.clone()),
            (None, Some((_, Some(Some(a))))) if launch.keys[0] == "fleet" => Some(a.clone()),
            _ => None,
        };
        if let (Some(arch), Some((runs, _))) = (arch, type_info.get(t)) {
            if !runs.is_empty() && !runs.contains(&arch) {
                let (keys, what): (&[&str], String) = if launch.keys[0] == "fleet" {
                    (&["fleet", "image"], format!("the image `{}` is {arch}", image.clone().unwrap_or_default()))
                } else {
                    (
                        &["cloud9", "image_id"],
                        format!(
                            "the image `{}` is {arch}",
                            cx.stack.cloud9.as_ref().map(|c| c.image_id.as_str()).unwrap_or_default()
                        ),
                    )
                };
                problems.push(Problem::at(
                    keys,
                    format!("{what}, and `{t}` runs {} images", runs.join(" or ")),
                    "architecture does not match the instance type",
                    Some(format!("choose a {} image, or an instance type that runs {arch}", runs.join(" or "))),
                ));
            }
        }
    }
    if let Some((id, None)) = &image_arch {
        let from = match cx.stack.fleet.as_ref().map(|f| &f.image) {
            Some(Image::SsmParameter(p)) => format!(" (the value of the SSM parameter `{p}`)"),
            _ => String::new(),
        };
        problems.push(Problem::at(
            &["fleet", "image"],
            format!("the image `{id}`{from} does not exist in {region}"),
            "no such image",
            Some("image ids differ between regions: use the region's id, or an `ssm:` public parameter".into()),
        ));
    }
    // The fleet at its largest (and Cloud9) within the account's vCPU quota for
    // standard instances: what other instances use is not counted here.
    if let (Some(quota), Some(fleet)) = (quota, &cx.stack.fleet) {
        let vcpus = |t: &str| type_info.get(t).map(|(_, v)| f64::from(*v)).unwrap_or(0.0);
        let standard = |t: &str| t.chars().next().is_some_and(|c| "acdhimrtz".contains(c));
        let mut need =
            if standard(&fleet.instance_type) { vcpus(&fleet.instance_type) * f64::from(fleet.max_size) } else { 0.0 };
        if let Some(c9) = &cx.stack.cloud9 {
            if standard(&c9.instance_type) {
                need += vcpus(&c9.instance_type);
            }
        }
        if need > quota {
            problems.push(Problem::at(
                &["fleet", "max_size"],
                format!(
                    "at {} instances the stack needs {need} vCPUs of standard instances, and the account's quota in {region} is {quota}",
                    fleet.max_size
                ),
                "above the account's vCPU quota",
                Some("lower `max_size`, or ask for more in Service Quotas (\"Running On-Demand Standard instances\", L-1216C47A)".into()),
            ));
        }
    }
    Ok(problems)
}

/// A quota's value, when Service Quotas answers (it does not for every account or
/// quota: then `None`).
async fn service_quota(cx: &Cx, service: &str, code: &str) -> Option<f64> {
    match cx.aws.quotas.get_service_quota().service_code(service).quota_code(code).send().await {
        Ok(out) => out.quota().and_then(|q| q.value()),
        Err(e) => {
            tracing::debug!(
                "Service Quotas did not answer for {service} {code}: {}",
                call_error("servicequotas:GetServiceQuota", e)
            );
            None
        }
    }
}

// ---- the certificate ------------------------------------------------------------------

async fn certificate(cx: &Cx, plan: &Plan) -> Result<Vec<Problem>, StepError> {
    let Some(arn) = cx.stack.load_balancer.as_ref().and_then(|lb| lb.certificate_arn.clone()) else {
        return Ok(vec![]);
    };
    // One `existing:` found was checked as issued by its lookup.
    if arn == "existing.certificate" {
        return Ok(vec![]);
    }
    if changing(plan, Kind::Listener).next().is_none() {
        return Ok(vec![]);
    }
    let keys = ["load_balancer", "certificate_arn"];
    match cx.aws.acm.describe_certificate().certificate_arn(&arn).send().await {
        Ok(out) => {
            let status = out.certificate().and_then(|c| c.status()).map(|s| s.as_str().to_string()).unwrap_or_default();
            if status == "ISSUED" {
                return Ok(vec![]);
            }
            Ok(vec![Problem::at(
                &keys,
                format!("the certificate is {status}, and a listener takes only an ISSUED one"),
                "not issued",
                Some(if status == "PENDING_VALIDATION" {
                    "finish its validation (the DNS record or e-mail ACM asked for), then plan again".into()
                } else {
                    "request a new certificate in ACM".into()
                }),
            )])
        }
        Err(e) if is_code(&e, "ResourceNotFoundException") => Ok(vec![Problem::at(
            &keys,
            format!("the certificate does not exist in {}", cx.region()),
            "no such certificate",
            Some("copy the ARN from ACM in the stack's region".into()),
        )]),
        Err(e) => Err(call_error("acm:DescribeCertificate", e)),
    }
}

// ---- the VPC quota --------------------------------------------------------------------

async fn vpc_quota(cx: &Cx, plan: &Plan) -> Result<Vec<Problem>, StepError> {
    let new = created(plan, Kind::Vpc).count();
    if new == 0 {
        return Ok(vec![]);
    }
    let (service, code, default) = VPC_QUOTA;
    let count = async {
        let mut n = 0usize;
        let mut pages = cx.aws.ec2.describe_vpcs().into_paginator().send();
        while let Some(page) = pages.next().await {
            n += page.map_err(|e| call_error("ec2:DescribeVpcs", e))?.vpcs().len();
        }
        Ok::<_, StepError>(n)
    };
    let (quota, count) = tokio::join!(service_quota(cx, service, code), count);
    let (quota, count) = (quota.unwrap_or(default), count?);
    if (count + new) as f64 <= quota {
        return Ok(vec![]);
    }
    Ok(vec![Problem::at(
        &["network", "cidr"],
        format!(
            "{} already has {count} VPCs and its quota is {quota}: the stack's VPC would be one too many",
            cx.region()
        ),
        "over the VPC quota",
        Some("delete a VPC nobody uses, or ask for more in Service Quotas (\"VPCs per Region\", L-F678F1CE)".into()),
    )])
}

/// The problems as the stack file's own are shown, each at its value.
pub fn render(cx: &Cx, problems: &[Problem]) -> String {
    let path = &cx.stack.source.path;
    let text = std::fs::read_to_string(path).unwrap_or_default();
    problems
        .iter()
        .map(|p| {
            let keys: Vec<&str> = p.keys.iter().map(String::as_str).collect();
            let mut d = match bumarket_stack::locate(path, &text, &keys) {
                Some(span) => bumarket_stack::Diagnostic::at(path, span, &p.message, &p.label),
                None => bumarket_stack::Diagnostic::whole_file(path, &p.message),
            };
            if let Some(h) = &p.help {
                d = d.with_help(h);
            }
            format!("{}\n\n", d.render(&text))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::{Aws, Options};
    use crate::engine::Addr;
    use crate::resources::testing::mocked;
    use aws_smithy_mocks::mock;

    /// Cloud9 with canned answers (the emulator has none): its type in the zone of its
    /// subnet, and its image alias's architecture against what the type runs.
    #[tokio::test]
    async fn a_cloud9_type_missing_in_its_zone_or_of_another_architecture_is_refused() {
        use aws_sdk_ec2::operation::describe_availability_zones::DescribeAvailabilityZonesOutput;
        use aws_sdk_ec2::operation::describe_instance_type_offerings::DescribeInstanceTypeOfferingsOutput;
        use aws_sdk_ec2::operation::describe_instance_types::DescribeInstanceTypesOutput;
        use aws_sdk_ec2::types::{
            ArchitectureType, AvailabilityZone, AvailabilityZoneState, InstanceTypeInfo, InstanceTypeOffering,
            ProcessorInfo, VCpuInfo,
        };
        let file = std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/stacks/bumarket.yaml"));
        let mut stack = bumarket_stack::load_env(file, Some("prod")).unwrap();
        stack.cloud9.as_mut().unwrap().instance_type = "t4g.small".into();
        let zones = mock!(aws_sdk_ec2::Client::describe_availability_zones).then_output(|| {
            let zone = |n: &str| {
                AvailabilityZone::builder()
                    .zone_name(n)
                    .zone_type("availability-zone")
                    .state(AvailabilityZoneState::Available)
                    .build()
            };
            DescribeAvailabilityZonesOutput::builder()
                .availability_zones(zone("ap-northeast-2a"))
                .availability_zones(zone("ap-northeast-2c"))
                .build()
        });
        let offered = mock!(aws_sdk_ec2::Client::describe_instance_type_offerings).then_output(|| {
            let here =
                InstanceTypeOffering::builder().instance_type("t4g.small".into()).location("ap-northeast-2c").build();
            DescribeInstanceTypeOfferingsOutput::builder().instance_type_offerings(here).build()
        });
        let types = mock!(aws_sdk_ec2::Client::describe_instance_types).then_output(|| {
            let t = InstanceTypeInfo::builder()
                .instance_type("t4g.small".into())
                .processor_info(ProcessorInfo::builder().supported_architectures(ArchitectureType::Arm64).build())
                .v_cpu_info(VCpuInfo::builder().default_v_cpus(2).build())
                .build();
            DescribeInstanceTypesOutput::builder().instance_types(t).build()
        });
        let quota = mock!(aws_sdk_servicequotas::Client::get_service_quota).then_error(|| {
            aws_sdk_servicequotas::operation::get_service_quota::GetServiceQuotaError::NoSuchResourceException(
                aws_sdk_servicequotas::types::error::NoSuchResourceException::builder().build(),
            )
        });
        let mut aws = Aws::connect(&Options { region: "ap-northeast-2".into(), ..Default::default() }).await;
        aws.ec2 = mocked!(aws_sdk_ec2, &[&zones, &offered, &types]);
        aws.quotas = mocked!(aws_sdk_servicequotas, &[&quota]);
        let cx = Cx::new(aws, stack, "123456789012".into(), None);
        let ide = ResourceChange {
            addr: Addr::new(Kind::Cloud9, "ide"),
            action: Action::Create,
            reason: None,
            name: "bumarket-ide".into(),
            changes: vec![],
            desired: None,
            observed: None,
            notes: vec![],
        };
        let plan = Plan {
            format_version: 1,
            tool_version: String::new(),
            stack: "bumarket".into(),
            region: "ap-northeast-2".into(),
            resources: vec![ide],
            not_managed: vec![],
            notices: vec![],
            uses: vec![],
        };
        let problems = instances(&cx, &plan).await.unwrap();
        let said: Vec<(String, String)> = problems.iter().map(|p| (p.keys.join("."), p.message.clone())).collect();
        assert_eq!(
            said,
            [
                ("cloud9.instance_type".to_string(), "`t4g.small` is not offered in `ap-northeast-2a`".to_string()),
                (
                    "cloud9.image_id".to_string(),
                    "the image `amazonlinux-2023-x86_64` is x86_64, and `t4g.small` runs arm64 images".to_string()
                ),
            ]
        );
    }

    #[test]
    fn versions_match_exactly_or_as_a_major_and_its_releases() {
        assert!(version_matches("19.0.0.0.ru-2024-01.rur-2024-01.r1", "19"));
        assert!(version_matches("19.0.0.0.ru-2024-01.rur-2024-01.r1", "19.0.0.0.ru-2024-01.rur-2024-01.r1"));
        assert!(!version_matches("190.1", "19"));
        assert!(!version_matches("21.0.0.0.ru-2024-01.rur-2024-01.r1", "19"));
    }

    #[test]
    fn classes_sort_smallest_first() {
        let mut c =
            vec!["db.m5.2xlarge", "db.t3.small", "db.m5.large", "db.m5.xlarge", "db.r5.12xlarge", "db.t3.medium"];
        c.sort_by_key(|c| class_rank(c));
        assert_eq!(
            c,
            ["db.t3.small", "db.t3.medium", "db.m5.large", "db.m5.xlarge", "db.m5.2xlarge", "db.r5.12xlarge"]
        );
    }
}
