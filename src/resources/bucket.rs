//! `bucket.<name>`: an S3 bucket with encryption, Block Public Access, ACLs disabled
//! (bucket owner enforced), a TLS-only policy plus the file's statements, versioning,
//! lifecycle rules and tags. Each attribute is diffed and updated in place; only the name
//! forces a new bucket.
//!
//! Reads: each of the file's buckets by name, its tags and six configurations side by
//! side (`NoSuchBucket`: absent; 403: another account's); the stack's other buckets,
//! which only the tagging index names, likewise once it has answered.

use super::{policy, tag_delta, tags_from, tags_value, Cx, Live, Provider, TAG_APPLIED};
use crate::apply::{Progress, StepError};
use crate::aws::{call_error, error::status, is_code};
use crate::engine::{Addr, AttrSpec, Attrs, Desired, Kind, Observed, Ownership, Schema};
use crate::plan::{attr, AttrChange};
use async_trait::async_trait;
use aws_sdk_s3::client::Waiters as _;
use aws_sdk_s3::types as s3t;
use bumarket_stack::{Bucket, Encryption};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::time::Duration;

pub struct Buckets;

/// Tag recording the file's `force_destroy`, so a bucket removed from the file is still
/// emptied (or refused) as the file last said.
pub const TAG_FORCE_DESTROY: &str = "bumarket-infra:force-destroy";

/// Physical name of one of the stack's buckets.
pub fn physical_name(cx: &Cx, logical: &str) -> String {
    let template = cx
        .stack
        .buckets
        .get(logical)
        .and_then(|b| b.name.clone())
        .unwrap_or_else(|| bumarket_stack::default_bucket_template(logical));
    bumarket_stack::bucket_name(&template, &cx.stack.name, &cx.account, cx.region())
}

/// The address of the file's bucket with this physical name, if any.
pub fn addr_of_name(cx: &Cx, name: &str) -> Option<Addr> {
    cx.stack.buckets.keys().find(|l| physical_name(cx, l) == name).map(|l| Addr::new(Kind::Bucket, l))
}

fn desired_attrs(cx: &Cx, addr: &Addr, name: &str, b: &Bucket) -> Attrs {
    let arn = format!("arn:{}:s3:::{name}", cx.partition());
    let encryption = match &b.encryption {
        Encryption::S3Managed => json!({"algorithm": "AES256"}),
        Encryption::Kms { key_id } => {
            let key_id = key_id.as_deref().map(|k| cx.kms_key(k));
            json!({"algorithm": "aws:kms", "kms_key_id": key_id, "bucket_key": true})
        }
    };
    let block = b.public_access.is_on();
    let mut statements = Vec::new();
    if b.require_tls.is_on() {
        statements.push(json!({
            "Sid": "DenyInsecureTransport", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
            "Resource": [arn.clone(), format!("{arn}/*")],
            "Condition": {"Bool": {"aws:SecureTransport": "false"}}
        }));
    }
    // The load balancer's access logs, when this is the bucket they go to.
    statements.extend(super::lb::log_delivery::for_bucket(cx, addr, name));
    // Other buckets' server access logs, when they go here.
    statements.extend(server_log_statements(cx, addr.name(), name));
    statements.extend(b.policy_statements.iter().cloned());
    let mut tags = cx.tags(addr);
    if b.force_destroy {
        tags.insert(TAG_FORCE_DESTROY.into(), "true".into());
    }
    let mut a = Attrs::new();
    a.insert("name".into(), json!(name));
    a.insert("encryption".into(), encryption);
    a.insert("public_access_block".into(), pab_value(block, block, block, block));
    a.insert("object_ownership".into(), json!("BucketOwnerEnforced"));
    a.insert("policy".into(), if statements.is_empty() { Value::Null } else { policy::document(statements) });
    a.insert("versioning".into(), json!(b.versioning));
    // FSBP S3.13: every bucket has a lifecycle rule, and it ends what failed uploads left
    // (their parts are stored and billed until then): unless a whole-bucket rule of the
    // file says after how many days, its first whole-bucket rule aborts them after
    // ABORT_DAYS, and a bucket without one gets a rule of its own.
    let aborts = b.lifecycle.iter().any(|r| r.prefix.is_empty() && r.abort_incomplete_upload_days.is_some());
    let first_whole = b.lifecycle.iter().position(|r| r.prefix.is_empty());
    let mut rules: Vec<Value> = b
        .lifecycle
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let default = (!aborts && first_whole == Some(i)).then_some(ABORT_DAYS);
            rule_value(
                &r.id,
                &r.prefix,
                r.expire_after_days,
                r.noncurrent_expire_after_days,
                r.abort_incomplete_upload_days.or(default),
            )
        })
        .collect();
    if first_whole.is_none() {
        rules.push(rule_value(ABORT_RULE, "", None, None, Some(ABORT_DAYS)));
    }
    rules.sort_by_key(|r| r["id"].to_string());
    a.insert("lifecycle".into(), Value::Array(rules));
    a.insert("logging".into(), logging_value(cx, addr.name()));
    a.insert("tags".into(), tags_value(&tags));
    a
}

/// Where the bucket `logical` writes its server access logs: `{bucket, prefix}` with the
/// target's physical name, or null.
fn logging_value(cx: &Cx, logical: &str) -> Value {
    match cx.stack.server_access_logs(logical) {
        Some(to) => json!({"bucket": physical_name(cx, &to.bucket), "prefix": to.prefix}),
        None => Value::Null,
    }
}

/// The statements of the log bucket `target` (physical name `name`) that let S3 deliver
/// the server access logs of each bucket logging into it: the logging service principal
/// may put objects under that bucket's prefix only, for that source bucket of this
/// account (S3 User Guide, "Enabling Amazon S3 server access logging", permissions for
/// log delivery: a bucket policy granting `logging.s3.amazonaws.com` `s3:PutObject`,
/// with `aws:SourceArn` the source bucket and `aws:SourceAccount` its account, since a
/// bucket with ACLs disabled (BucketOwnerEnforced) takes no log-delivery ACL grant).
fn server_log_statements(cx: &Cx, target: &str, name: &str) -> Vec<Value> {
    let p = cx.partition();
    cx.stack
        .buckets
        .keys()
        .filter_map(|source| {
            cx.stack.server_access_logs(source).filter(|to| to.bucket == target).map(|to| (source, to))
        })
        .map(|(source, to)| {
            let sid: String = source.chars().filter(char::is_ascii_alphanumeric).collect();
            json!({
                "Sid": format!("AllowServerAccessLogsOf{sid}"),
                "Effect": "Allow",
                "Principal": {"Service": SERVER_LOGS_PRINCIPAL},
                "Action": "s3:PutObject",
                "Resource": format!("arn:{p}:s3:::{name}/{}*", to.prefix),
                "Condition": {
                    "ArnLike": {"aws:SourceArn": format!("arn:{p}:s3:::{}", physical_name(cx, source))},
                    "StringEquals": {"aws:SourceAccount": cx.account}
                }
            })
        })
        .collect()
}

/// The lifecycle rule a bucket gets when the file gives it no whole-bucket rule, and after
/// how many days incomplete multipart uploads are aborted by default.
pub const ABORT_RULE: &str = "bumarket-infra-abort-incomplete-uploads";
pub const ABORT_DAYS: u32 = 7;

/// The service principal that delivers S3 server access logs.
const SERVER_LOGS_PRINCIPAL: &str = "logging.s3.amazonaws.com";

fn pab_value(acls: bool, ignore: bool, policy: bool, restrict: bool) -> Value {
    json!({"block_public_acls": acls, "ignore_public_acls": ignore, "block_public_policy": policy, "restrict_public_buckets": restrict})
}

fn rule_value(id: &str, prefix: &str, expire: Option<u32>, noncurrent: Option<u32>, abort: Option<u32>) -> Value {
    json!({"id": id, "prefix": prefix, "expire_after_days": expire,
           "noncurrent_expire_after_days": noncurrent, "abort_incomplete_upload_days": abort})
}

/// Rules written before filters existed carry their prefix in a deprecated field.
#[allow(deprecated)]
fn legacy_prefix(r: &s3t::LifecycleRule) -> Option<String> {
    r.prefix.clone()
}

fn days(v: Option<i32>) -> Option<u32> {
    v.and_then(|d| u32::try_from(d).ok())
}

/// Read the six configurations of one bucket (in parallel) into attributes.
pub async fn config(cx: &Cx, name: &str) -> Result<Attrs, StepError> {
    let s3 = &cx.aws.s3;
    let encryption = async {
        match s3.get_bucket_encryption().bucket(name).send().await {
            Ok(out) => {
                let rule = out.server_side_encryption_configuration.and_then(|c| c.rules.into_iter().next());
                Ok(rule.map_or(Value::Null, |r| {
                    let d = r.apply_server_side_encryption_by_default;
                    let algorithm = d.as_ref().map(|d| d.sse_algorithm.as_str().to_string());
                    match algorithm.as_deref() {
                        Some("AES256") => json!({"algorithm": "AES256"}),
                        Some(a) => json!({"algorithm": a, "kms_key_id": d.and_then(|d| d.kms_master_key_id),
                                          "bucket_key": r.bucket_key_enabled.unwrap_or(false)}),
                        None => Value::Null,
                    }
                }))
            }
            Err(e) if is_code(&e, "ServerSideEncryptionConfigurationNotFoundError") => Ok(Value::Null),
            Err(e) => Err(call_error("s3:GetBucketEncryption", e)),
        }
    };
    let pab = async {
        match s3.get_public_access_block().bucket(name).send().await {
            Ok(out) => {
                let c = out
                    .public_access_block_configuration
                    .unwrap_or_else(|| s3t::PublicAccessBlockConfiguration::builder().build());
                let f = |b: Option<bool>| b.unwrap_or(false);
                Ok(pab_value(
                    f(c.block_public_acls),
                    f(c.ignore_public_acls),
                    f(c.block_public_policy),
                    f(c.restrict_public_buckets),
                ))
            }
            Err(e) if is_code(&e, "NoSuchPublicAccessBlockConfiguration") => Ok(pab_value(false, false, false, false)),
            Err(e) => Err(call_error("s3:GetPublicAccessBlock", e)),
        }
    };
    let ownership = async {
        match s3.get_bucket_ownership_controls().bucket(name).send().await {
            Ok(out) => Ok(out
                .ownership_controls
                .and_then(|c| c.rules.into_iter().next())
                .map_or(Value::Null, |r| json!(r.object_ownership.as_str()))),
            Err(e) if is_code(&e, "OwnershipControlsNotFoundError") => Ok(Value::Null),
            Err(e) => Err(call_error("s3:GetBucketOwnershipControls", e)),
        }
    };
    let bucket_policy = async {
        match s3.get_bucket_policy().bucket(name).send().await {
            Ok(out) => Ok(out
                .policy
                .map_or(Value::Null, |p| serde_json::from_str(&p).map_or(Value::String(p), |v| policy::normalize(&v)))),
            Err(e) if is_code(&e, "NoSuchBucketPolicy") => Ok(Value::Null),
            Err(e) => Err(call_error("s3:GetBucketPolicy", e)),
        }
    };
    let versioning = async {
        Ok::<_, StepError>(json!(versioning_status(cx, name).await? == Some(s3t::BucketVersioningStatus::Enabled)))
    };
    let lifecycle = async {
        match s3.get_bucket_lifecycle_configuration().bucket(name).send().await {
            Ok(out) => {
                let mut rules: Vec<Value> = out
                    .rules
                    .unwrap_or_default()
                    .into_iter()
                    .filter(|r| r.status == s3t::ExpirationStatus::Enabled)
                    .map(|r| {
                        let prefix = r
                            .filter
                            .as_ref()
                            .and_then(|f| f.prefix.clone())
                            .or_else(|| legacy_prefix(&r))
                            .unwrap_or_default();
                        rule_value(
                            r.id.as_deref().unwrap_or_default(),
                            &prefix,
                            days(r.expiration.and_then(|e| e.days)),
                            days(r.noncurrent_version_expiration.and_then(|e| e.noncurrent_days)),
                            days(r.abort_incomplete_multipart_upload.and_then(|a| a.days_after_initiation)),
                        )
                    })
                    .collect();
                rules.sort_by_key(|r| r["id"].to_string());
                Ok(Value::Array(rules))
            }
            Err(e) if is_code(&e, "NoSuchLifecycleConfiguration") => Ok(json!([])),
            Err(e) => Err(call_error("s3:GetBucketLifecycleConfiguration", e)),
        }
    };
    let logging = async {
        match s3.get_bucket_logging().bucket(name).send().await {
            Ok(out) => Ok(out
                .logging_enabled
                .map_or(Value::Null, |l| json!({"bucket": l.target_bucket, "prefix": l.target_prefix}))),
            Err(e) => Err(call_error("s3:GetBucketLogging", e)),
        }
    };
    // Every read runs to its answer, even once one has failed: a bucket that is absent
    // fails all seven with NoSuchBucket, and cancelling the rest at the first would make
    // how many calls a plan sends depend on which answer came first.
    let (encryption, pab, ownership, bucket_policy, versioning, lifecycle, logging) =
        tokio::join!(encryption, pab, ownership, bucket_policy, versioning, lifecycle, logging);
    let (encryption, pab, ownership, bucket_policy, versioning, lifecycle, logging) =
        (encryption?, pab?, ownership?, bucket_policy?, versioning?, lifecycle?, logging?);
    let mut a = Attrs::new();
    a.insert("name".into(), json!(name));
    a.insert("encryption".into(), encryption);
    a.insert("public_access_block".into(), pab);
    a.insert("object_ownership".into(), ownership);
    a.insert("policy".into(), bucket_policy);
    a.insert("versioning".into(), versioning);
    a.insert("lifecycle".into(), lifecycle);
    a.insert("logging".into(), logging);
    Ok(a)
}

/// Whether a bucket exists, and whose it is, by its own tags.
enum Found {
    Absent,
    Foreign(String),
    /// No stack's: made outside bumarket-infra (adoptable), with its tags.
    Unowned(BTreeMap<String, String>, String),
    Ours(BTreeMap<String, String>),
}

/// The tags of a bucket no stack owns; `None` when a stack owns it, or there is no such
/// bucket here (S3 answers 301 for another region's, 403 for another account's: see
/// `bucket_tags`).
pub async fn unowned_tags(cx: &Cx, name: &str) -> Result<Option<BTreeMap<String, String>>, StepError> {
    match bucket_tags(cx, name).await? {
        Found::Unowned(tags, _) => Ok(Some(tags)),
        Found::Ours(_) | Found::Foreign(_) | Found::Absent => Ok(None),
    }
}

async fn bucket_tags(cx: &Cx, name: &str) -> Result<Found, StepError> {
    let tags = match cx.aws.s3.get_bucket_tagging().bucket(name).send().await {
        Ok(out) => out.tag_set.into_iter().map(|t| (t.key, t.value)).collect(),
        Err(e) if is_code(&e, "NoSuchTagSet") => BTreeMap::new(),
        Err(e) if status(&e) == Some(404) || is_code(&e, "NoSuchBucket") => return Ok(Found::Absent),
        // S3 answers 403 when the bucket exists and the caller may not read it (S3 API
        // Reference, HeadBucket: "403 Forbidden"), 301 PermanentRedirect when it is in
        // another region: bucket names are global, so either way the name is taken.
        Err(e) if status(&e) == Some(403) => {
            return Ok(Found::Foreign("the name is taken by a bucket of another AWS account".into()))
        }
        Err(e) if status(&e) == Some(301) => {
            return Ok(Found::Foreign("the name is taken by a bucket in another region".into()))
        }
        Err(e) => return Err(call_error("s3:GetBucketTagging", e)),
    };
    Ok(match cx.tag_ownership("the bucket", &tags) {
        Ownership::Ours => Found::Ours(tags),
        Ownership::Unowned(why) => Found::Unowned(tags, why),
        Ownership::Foreign(why) | Ownership::BadAddress(why) => Found::Foreign(why),
    })
}

/// One bucket as S3 has it: its tags and its configuration read side by side (the
/// configuration is thrown away when the tags say it is not ours); `None` when there
/// is no such bucket (never made, or deleted while the tagging index still lists it).
async fn read_bucket(cx: &Cx, name: &str) -> Result<Option<(Found, Attrs)>, StepError> {
    let (found, config) = tokio::join!(bucket_tags(cx, name), config(cx, name));
    match found? {
        Found::Absent => Ok(None),
        // Ours, or made outside bumarket-infra (which `adopt:` may take over, so its
        // settings are compared as ours are).
        found @ (Found::Ours(_) | Found::Unowned(..)) => match config {
            Ok(attrs) => Ok(Some((found, attrs))),
            // Deleted between the two reads.
            Err(e) if e.is_code("NoSuchBucket") => Ok(None),
            Err(e) => Err(e),
        },
        foreign => Ok(Some((foreign, Attrs::new()))),
    }
}

fn observed(
    cx: &Cx,
    addr: Addr,
    name: &str,
    mut attrs: Attrs,
    tags: BTreeMap<String, String>,
    ownership: Ownership,
) -> Observed {
    attrs.insert("tags".into(), tags_value(&tags));
    let arn = format!("arn:{}:s3:::{name}", cx.partition());
    Observed {
        addr,
        name: name.to_string(),
        id: name.to_string(),
        attrs,
        ownership,
        outputs: BTreeMap::from([("name".to_string(), name.to_string()), ("arn".to_string(), arn)]),
        deps: vec![],
    }
}

/// Every setting changes in place; only a new name needs a new bucket.
pub static SCHEMA: Schema = Schema {
    kind: Kind::Bucket,
    layer: 0,
    attrs: &[
        AttrSpec::replace("name"),
        AttrSpec::update("encryption"),
        AttrSpec::update("public_access_block"),
        AttrSpec::update("object_ownership"),
        AttrSpec::update("policy").normalized(policy::normalize),
        AttrSpec::update("versioning"),
        AttrSpec::update("lifecycle"),
        AttrSpec::update("logging"),
        AttrSpec::update("tags"),
    ],
    deleted_after: &[],
};

#[async_trait]
impl Provider for Buckets {
    fn place(&self, _cx: &Cx, d: &Desired) -> Vec<String> {
        vec!["buckets".into(), d.addr.name().into(), "name".into()]
    }
    fn calls(&self) -> crate::resources::Calls {
        crate::resources::Calls {
            reads: &[
                "s3:GetBucketTagging",
                "s3:GetBucketVersioning",
                "s3:GetBucketEncryption",
                "s3:GetBucketLifecycleConfiguration",
                "s3:GetBucketLogging",
                "s3:GetBucketOwnershipControls",
                "s3:GetBucketPolicy",
                "s3:GetPublicAccessBlock",
            ],
            writes: &[
                "s3:HeadBucket",
                "s3:CreateBucket",
                "s3:DeleteBucket",
                "s3:DeleteBucketLifecycle",
                "s3:DeleteBucketPolicy",
                "s3:DeleteObjects",
                "s3:ListObjectVersions",
                "s3:PutBucketEncryption",
                "s3:PutBucketLifecycleConfiguration",
                "s3:PutBucketLogging",
                "s3:PutBucketOwnershipControls",
                "s3:PutBucketPolicy",
                "s3:PutBucketTagging",
                "s3:PutBucketVersioning",
                "s3:PutPublicAccessBlock",
            ],
        }
    }
    fn arns(&self, cx: &Cx, d: &Desired) -> Vec<String> {
        vec![format!("arn:{}:s3:::{}", cx.partition(), d.name)]
    }
    fn schema(&self) -> &'static Schema {
        &SCHEMA
    }

    fn desired(&self, cx: &Cx) -> Vec<Desired> {
        cx.stack
            .buckets
            .iter()
            .map(|(logical, b)| {
                let addr = Addr::new(Kind::Bucket, logical);
                let name = physical_name(cx, logical);
                let attrs = desired_attrs(cx, &addr, &name, b);
                // Logging is switched on once the log bucket (and its policy) exists.
                let deps = cx.stack.server_access_logs(logical).map(|to| Addr::new(Kind::Bucket, &to.bucket));
                Desired { addr, name, attrs, deps: deps.into_iter().collect() }
            })
            .collect()
    }

    async fn read(&self, cx: &Cx, live: &Live, wanted: &[&Desired]) -> Result<Vec<Observed>, StepError> {
        // The file's buckets are read by name at once; the stack's others (left the
        // file), which only the tagging index can name, after it. Whose a bucket is comes
        // from its own tags: the index lags behind new tags and keeps deleted buckets.
        let names = |list: Vec<String>| {
            futures::future::try_join_all(
                list.into_iter()
                    .map(|n| async move { Ok::<_, StepError>(read_bucket(cx, &n).await?.map(|found| (n, found))) }),
            )
        };
        let by_file = names(wanted.iter().map(|d| d.name.clone()).collect());
        let others = async {
            let listed = live.tagged().await?.iter().filter_map(|t| {
                let n = t.arn.strip_prefix("arn:").and_then(|a| a.split_once(":s3:::")).map(|(_, n)| n)?;
                (!n.contains('/') && !wanted.iter().any(|d| d.name == n)).then(|| n.to_string())
            });
            names(listed.collect()).await
        };
        let (by_file, others) = tokio::try_join!(by_file, others)?;
        let mut out = Vec::new();
        for (name, (found, attrs)) in by_file.into_iter().chain(others).flatten() {
            let (tags, ownership) = match found {
                Found::Ours(tags) => (tags, Ownership::Ours),
                Found::Foreign(why) => (BTreeMap::new(), Ownership::Foreign(why)),
                Found::Unowned(tags, why) => (tags, Ownership::Unowned(why)),
                Found::Absent => continue,
            };
            if ownership != Ownership::Ours && !wanted.iter().any(|d| d.name == name) {
                continue;
            }
            let (addr, ownership) = cx.placed(Kind::Bucket, &name, &tags, wanted, ownership);
            out.push(observed(cx, addr, &name, attrs, tags, ownership));
        }
        Ok(out)
    }

    async fn create(&self, cx: &Cx, d: &Desired, p: &Progress<'_>) -> Result<(), StepError> {
        let s3 = &cx.aws.s3;
        let all_tags = tags_from(attr(&d.attrs, "tags"));
        // The applied record is written last, once every setting is in place: a create that
        // fails half-way must not claim the rest was applied (it would show as drift).
        let mut tags = all_tags.clone();
        tags.remove(TAG_APPLIED);
        let create = |with_tags: bool| {
            let mut config = s3t::CreateBucketConfiguration::builder();
            if with_tags {
                config = config.set_tags(Some(s3_tags(&tags)));
            }
            if cx.region() != "us-east-1" {
                config = config.location_constraint(s3t::BucketLocationConstraint::from(cx.region()));
            }
            s3.create_bucket()
                .bucket(&d.name)
                .create_bucket_configuration(config.build())
                .object_ownership(s3t::ObjectOwnership::BucketOwnerEnforced)
                .send()
        };
        // Tagged in the same call, so a bucket is never found without them (a run killed
        // right after). That needs s3:TagResource besides s3:CreateBucket (S3 API
        // reference, CreateBucketConfiguration.Tags): credentials without it get their
        // bucket untagged, then tagged by the next call.
        let mut created = create(true).await;
        if created.as_ref().is_err_and(|e| is_code(e, "AccessDenied")) {
            p.say("the credentials may not tag a bucket as they create it (s3:TagResource): tagging it just after");
            created = create(false).await;
        }
        match created {
            Ok(_) => {}
            // A re-run after an interrupted apply: the bucket is already ours.
            Err(e) if is_code(&e, "BucketAlreadyOwnedByYou") => {}
            Err(e) if is_code(&e, "BucketAlreadyExists") => {
                return Err(call_error("s3:CreateBucket", e)
                    .hint("bucket names are global: set `name:` for this bucket in the stack file"))
            }
            Err(e) => return Err(call_error("s3:CreateBucket", e)),
        }
        p.say("waiting for the bucket to exist");
        s3.wait_until_bucket_exists()
            .bucket(&d.name)
            .wait(Duration::from_secs(120))
            .await
            .map_err(|e| StepError::new("s3:HeadBucket (waiting for the bucket)", e.to_string()))?;
        // Tags first: whatever happens next, the bucket is found again as ours.
        put_tags(cx, &d.name, &tags).await?;
        let all: Vec<AttrChange> = d
            .attrs
            .iter()
            .filter(|(k, _)| !matches!(k.as_str(), "name" | "tags" | "object_ownership"))
            // A new bucket has no policy, versioning or lifecycle: set only what is wanted.
            .filter(|(_, v)| !(v.is_null() || *v == &json!(false) || *v == &json!([])))
            .map(|(k, v)| AttrChange {
                name: k.clone(),
                before: None,
                after: Some(v.clone()),
                forces_replacement: false,
                sensitive: false,
                drift: false,
            })
            .collect();
        apply_changes(cx, &d.name, &all).await?;
        if all_tags != tags {
            put_tags(cx, &d.name, &all_tags).await?;
        }
        Ok(())
    }

    async fn update(
        &self,
        cx: &Cx,
        d: &Desired,
        o: &Observed,
        changes: &[AttrChange],
        _p: &Progress<'_>,
    ) -> Result<(), StepError> {
        let rest: Vec<AttrChange> = changes.iter().filter(|c| c.name != "tags").cloned().collect();
        apply_changes(cx, &d.name, &rest).await?;
        // Tags last: they carry the applied record, true only once the rest is done.
        if let Some(c) = changes.iter().find(|c| c.name == "tags") {
            let (set, remove) = tag_delta(&tags_from(attr(&o.attrs, "tags")), &tags_from(c.after.as_ref()));
            if !set.is_empty() || !remove.is_empty() {
                put_tags(cx, &d.name, &tags_from(c.after.as_ref())).await?;
            }
        }
        Ok(())
    }

    async fn delete(&self, cx: &Cx, o: &Observed, d: Option<&Desired>, p: &Progress<'_>) -> Result<(), StepError> {
        if force_destroy(o, d) {
            p.say("emptying the bucket (force_destroy)");
            empty(cx, &o.name).await?;
        }
        match cx.aws.s3.delete_bucket().bucket(&o.name).send().await {
            Ok(_) => Ok(()),
            Err(e) if is_code(&e, "NoSuchBucket") => Ok(()),
            Err(e) if is_code(&e, "BucketNotEmpty") => Err(call_error("s3:DeleteBucket", e)
                .hint("empty it first, or set `force_destroy: true` for it in the stack file")),
            Err(e) => Err(call_error("s3:DeleteBucket", e)),
        }
    }

    async fn refuse_delete(&self, cx: &Cx, o: &Observed, d: Option<&Desired>) -> Result<Option<String>, StepError> {
        if force_destroy(o, d) {
            return Ok(None);
        }
        let out = cx
            .aws
            .s3
            .list_object_versions()
            .bucket(&o.name)
            .max_keys(1000)
            .send()
            .await
            .map_err(|e| call_error("s3:ListObjectVersions", e))?;
        let n = out.versions.map_or(0, |v| v.len()) + out.delete_markers.map_or(0, |v| v.len());
        if n == 0 {
            return Ok(None);
        }
        let count = if out.is_truncated == Some(true) { "1000 or more".to_string() } else { n.to_string() };
        // Old versions and delete markers count: S3 refuses to delete a bucket holding them.
        let things = if n == 1 { "object" } else { "objects" };
        Ok(Some(format!(
            "bucket `{}` is not empty: it holds {count} {things}; empty it (`aws s3 rm s3://{} --recursive`, and delete old versions if versioned) or set `force_destroy: true` for it in the stack file",
            o.name, o.name
        )))
    }
}

fn force_destroy(o: &Observed, d: Option<&Desired>) -> bool {
    let tags = tags_from(attr(d.map_or(&o.attrs, |d| &d.attrs), "tags"));
    tags.get(TAG_FORCE_DESTROY).map(String::as_str) == Some("true")
}

fn s3_tags(tags: &BTreeMap<String, String>) -> Vec<s3t::Tag> {
    tags.iter().map(|(k, v)| s3t::Tag::builder().key(k).value(v).build().expect("tag has key and value")).collect()
}

async fn put_tags(cx: &Cx, name: &str, tags: &BTreeMap<String, String>) -> Result<(), StepError> {
    let tagging = s3t::Tagging::builder().set_tag_set(Some(s3_tags(tags))).build().expect("tag set");
    cx.aws
        .s3
        .put_bucket_tagging()
        .bucket(name)
        .tagging(tagging)
        .send()
        .await
        .map(drop)
        .map_err(|e| call_error("s3:PutBucketTagging", e))
}

/// Put every changed configuration; public access block before the policy, the rest in
/// parallel.
async fn apply_changes(cx: &Cx, name: &str, changes: &[AttrChange]) -> Result<(), StepError> {
    let get = |k: &str| changes.iter().find(|c| c.name == k).map(|c| c.after.clone().unwrap_or(Value::Null));
    let access = async {
        if let Some(v) = get("public_access_block") {
            put_public_access_block(cx, name, &v).await?;
        }
        if let Some(v) = get("policy") {
            put_policy(cx, name, &v).await?;
        }
        Ok::<_, StepError>(())
    };
    let encryption = async {
        match get("encryption") {
            Some(v) => put_encryption(cx, name, &v).await,
            None => Ok(()),
        }
    };
    let ownership = async {
        match get("object_ownership") {
            Some(v) => put_ownership(cx, name, v.as_str().unwrap_or("BucketOwnerEnforced")).await,
            None => Ok(()),
        }
    };
    let versioning = async {
        match get("versioning") {
            Some(v) => put_versioning(cx, name, v.as_bool().unwrap_or(false)).await,
            None => Ok(()),
        }
    };
    let lifecycle = async {
        match get("lifecycle") {
            Some(v) => put_lifecycle(cx, name, &v).await,
            None => Ok(()),
        }
    };
    // After the policy: a bucket may log into itself only if its own policy lets it.
    let logging = async {
        match get("logging") {
            Some(v) => put_logging(cx, name, &v).await,
            None => Ok(()),
        }
    };
    tokio::try_join!(async { access.await.and(logging.await) }, encryption, ownership, versioning, lifecycle).map(drop)
}

/// Switch server access logging to `v` (`{bucket, prefix}`), or off (null).
async fn put_logging(cx: &Cx, name: &str, v: &Value) -> Result<(), StepError> {
    let mut status = s3t::BucketLoggingStatus::builder();
    if let (Some(bucket), Some(prefix)) =
        (v.get("bucket").and_then(Value::as_str), v.get("prefix").and_then(Value::as_str))
    {
        let on = s3t::LoggingEnabled::builder().target_bucket(bucket).target_prefix(prefix).build();
        status = status.logging_enabled(on.map_err(|e| StepError::new("s3:PutBucketLogging", e.to_string()))?);
    }
    cx.aws
        .s3
        .put_bucket_logging()
        .bucket(name)
        .bucket_logging_status(status.build())
        .send()
        .await
        .map(drop)
        .map_err(|e| call_error("s3:PutBucketLogging", e))
}

async fn put_public_access_block(cx: &Cx, name: &str, v: &Value) -> Result<(), StepError> {
    let f = |k: &str| v.get(k).and_then(Value::as_bool).unwrap_or(false);
    let c = s3t::PublicAccessBlockConfiguration::builder()
        .block_public_acls(f("block_public_acls"))
        .ignore_public_acls(f("ignore_public_acls"))
        .block_public_policy(f("block_public_policy"))
        .restrict_public_buckets(f("restrict_public_buckets"))
        .build();
    cx.aws
        .s3
        .put_public_access_block()
        .bucket(name)
        .public_access_block_configuration(c)
        .send()
        .await
        .map(drop)
        .map_err(|e| call_error("s3:PutPublicAccessBlock", e))
}

async fn put_policy(cx: &Cx, name: &str, v: &Value) -> Result<(), StepError> {
    let s3 = &cx.aws.s3;
    if v.is_null() {
        return s3
            .delete_bucket_policy()
            .bucket(name)
            .send()
            .await
            .map(drop)
            .map_err(|e| call_error("s3:DeleteBucketPolicy", e));
    }
    s3.put_bucket_policy()
        .bucket(name)
        .policy(v.to_string())
        .send()
        .await
        .map(drop)
        .map_err(|e| call_error("s3:PutBucketPolicy", e))
}

async fn put_encryption(cx: &Cx, name: &str, v: &Value) -> Result<(), StepError> {
    let algorithm = v.get("algorithm").and_then(Value::as_str).unwrap_or("AES256");
    let by_default = s3t::ServerSideEncryptionByDefault::builder()
        .sse_algorithm(s3t::ServerSideEncryption::from(algorithm))
        .set_kms_master_key_id(v.get("kms_key_id").and_then(Value::as_str).map(String::from))
        .build()
        .expect("algorithm set");
    let rule = s3t::ServerSideEncryptionRule::builder()
        .apply_server_side_encryption_by_default(by_default)
        .set_bucket_key_enabled(v.get("bucket_key").and_then(Value::as_bool))
        .build();
    let config = s3t::ServerSideEncryptionConfiguration::builder().rules(rule).build().expect("one rule");
    cx.aws
        .s3
        .put_bucket_encryption()
        .bucket(name)
        .server_side_encryption_configuration(config)
        .send()
        .await
        .map(drop)
        .map_err(|e| call_error("s3:PutBucketEncryption", e))
}

async fn put_ownership(cx: &Cx, name: &str, ownership: &str) -> Result<(), StepError> {
    let rule = s3t::OwnershipControlsRule::builder()
        .object_ownership(s3t::ObjectOwnership::from(ownership))
        .build()
        .expect("set");
    let controls = s3t::OwnershipControls::builder().rules(rule).build().expect("one rule");
    cx.aws
        .s3
        .put_bucket_ownership_controls()
        .bucket(name)
        .ownership_controls(controls)
        .send()
        .await
        .map(drop)
        .map_err(|e| call_error("s3:PutBucketOwnershipControls", e))
}

async fn put_versioning(cx: &Cx, name: &str, on: bool) -> Result<(), StepError> {
    let status = if on { s3t::BucketVersioningStatus::Enabled } else { s3t::BucketVersioningStatus::Suspended };
    let s3 = &cx.aws.s3;
    if !on {
        // Never enabled: nothing to suspend.
        if versioning_status(cx, name).await?.is_none() {
            return Ok(());
        }
    }
    s3.put_bucket_versioning()
        .bucket(name)
        .versioning_configuration(s3t::VersioningConfiguration::builder().status(status).build())
        .send()
        .await
        .map(drop)
        .map_err(|e| call_error("s3:PutBucketVersioning", e))
}

/// Versioning status; `None` when versioning was never enabled.
async fn versioning_status(cx: &Cx, name: &str) -> Result<Option<s3t::BucketVersioningStatus>, StepError> {
    let out = cx.aws.s3.get_bucket_versioning().bucket(name).send().await;
    Ok(out.map_err(|e| call_error("s3:GetBucketVersioning", e))?.status)
}

async fn put_lifecycle(cx: &Cx, name: &str, v: &Value) -> Result<(), StepError> {
    let s3 = &cx.aws.s3;
    let rules = v.as_array().cloned().unwrap_or_default();
    if rules.is_empty() {
        return s3
            .delete_bucket_lifecycle()
            .bucket(name)
            .send()
            .await
            .map(drop)
            .map_err(|e| call_error("s3:DeleteBucketLifecycle", e));
    }
    let n = |r: &Value, k: &str| r.get(k).and_then(Value::as_i64).and_then(|d| i32::try_from(d).ok());
    let rules: Vec<s3t::LifecycleRule> = rules
        .iter()
        .map(|r| {
            let mut b = s3t::LifecycleRule::builder()
                .id(r["id"].as_str().unwrap_or_default())
                .status(s3t::ExpirationStatus::Enabled)
                .filter(s3t::LifecycleRuleFilter::builder().prefix(r["prefix"].as_str().unwrap_or_default()).build());
            if let Some(d) = n(r, "expire_after_days") {
                b = b.expiration(s3t::LifecycleExpiration::builder().days(d).build());
            }
            if let Some(d) = n(r, "noncurrent_expire_after_days") {
                b = b.noncurrent_version_expiration(
                    s3t::NoncurrentVersionExpiration::builder().noncurrent_days(d).build(),
                );
            }
            if let Some(d) = n(r, "abort_incomplete_upload_days") {
                b = b.abort_incomplete_multipart_upload(
                    s3t::AbortIncompleteMultipartUpload::builder().days_after_initiation(d).build(),
                );
            }
            b.build().expect("status set")
        })
        .collect();
    let config = s3t::BucketLifecycleConfiguration::builder().set_rules(Some(rules)).build().expect("rules set");
    s3.put_bucket_lifecycle_configuration()
        .bucket(name)
        .lifecycle_configuration(config)
        .send()
        .await
        .map(drop)
        .map_err(|e| call_error("s3:PutBucketLifecycleConfiguration", e))
}

/// Delete every object version and delete marker (force_destroy).
async fn empty(cx: &Cx, name: &str) -> Result<(), StepError> {
    let s3 = &cx.aws.s3;
    loop {
        let out = s3
            .list_object_versions()
            .bucket(name)
            .max_keys(1000)
            .send()
            .await
            .map_err(|e| call_error("s3:ListObjectVersions", e))?;
        let ids: Vec<s3t::ObjectIdentifier> = out
            .versions
            .unwrap_or_default()
            .into_iter()
            .map(|v| (v.key, v.version_id))
            .chain(out.delete_markers.unwrap_or_default().into_iter().map(|m| (m.key, m.version_id)))
            .filter_map(|(k, v)| {
                s3t::ObjectIdentifier::builder().set_key(k).set_version_id(v.filter(|v| v != "null")).build().ok()
            })
            .collect();
        if ids.is_empty() {
            return Ok(());
        }
        let delete = s3t::Delete::builder().set_objects(Some(ids)).quiet(true).build().expect("objects set");
        let out = s3
            .delete_objects()
            .bucket(name)
            .delete(delete)
            .send()
            .await
            .map_err(|e| call_error("s3:DeleteObjects", e))?;
        // Per-key failures come back in a 200 answer: stop on them instead of looping.
        if let Some(e) = out.errors.unwrap_or_default().first() {
            let what = format!("{}: {}", e.code().unwrap_or("Error"), e.message().unwrap_or("could not delete"));
            return Err(StepError::new("s3:DeleteObjects", format!("{what} (key `{}`)", e.key().unwrap_or_default())));
        }
    }
}
