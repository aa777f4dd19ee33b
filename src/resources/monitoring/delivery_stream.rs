//! `delivery_stream.database` and `delivery_stream.app`: Firehose streams that write what
//! CloudWatch Logs hands them into the logs bucket, under a prefix per source (seed §5
//! and §12 step 6: every log of EC2 and RDS is kept in the log bucket). The log groups
//! stay where the logs are searched; a subscription filter on each (see
//! `log_subscription`) copies every event into its source's stream as CloudWatch Logs
//! receives it.
//!
//! Two roles make the path, both under the stack's IAM path and named by the stack
//! ([`service_roles`]): `role.logs-to-firehose`, which CloudWatch Logs assumes to put
//! records into the streams, and `role.firehose-to-s3`, which Firehose assumes to write
//! the bucket's prefixes. Their trust is held to this account (CloudWatch Logs user
//! guide, "Subscription filters with Amazon Data Firehose": `aws:SourceArn` of the
//! account's log groups; Firehose developer guide, "Grant Firehose access to an Amazon S3
//! destination": `sts:ExternalId` the account id).
//!
//! Records arrive gzip-compressed from CloudWatch Logs ("When log events are sent to the
//! receiving service, they are base64 encoded and compressed with the gzip format"), so
//! the stream stores them as they come (`UNCOMPRESSED`), encrypted at rest with an AWS
//! owned key, and buffers 5 MB or 300 s (Firehose's defaults) before it writes an object.
//!
//! Reads: `DescribeDeliveryStream` and `ListTagsForDeliveryStream` of each stream the
//! file names, side by side; a stream of the stack that left the file is found through
//! the tagging index and read by its name.

use super::tagged_of;
use crate::apply::{ErrorKind, Progress, StepError};
use crate::aws::{call_error, is_code};
use crate::engine::{Addr, AttrSpec, Attrs, Desired, Kind, Observed, Schema};
use crate::plan::{attr, AttrChange};
use crate::resources::wait::{self, Poll};
use crate::resources::{bucket, policy, tag_delta, tags_from, tags_value, Cx, Live, Provider, TAG_STACK};
use async_trait::async_trait;
use aws_sdk_firehose::types as fh;
use bumarket_stack::{AccessLogs, Stack};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::time::Duration;

pub struct DeliveryStreams;

/// The role CloudWatch Logs assumes to put log events into the streams.
pub const LOGS_ROLE: &str = "logs-to-firehose";
/// The role Firehose assumes to write the bucket.
pub const FIREHOSE_ROLE: &str = "firehose-to-s3";

/// Firehose's own buffering defaults, written out (BufferingHints API reference).
const BUFFER_SECONDS: i32 = 300;
const BUFFER_MB: i32 = 5;
/// How long a new stream takes to be `ACTIVE`, at most, and how often it is looked at.
const ACTIVE_TIMEOUT: Duration = Duration::from_secs(600);
const POLL: Duration = Duration::from_secs(5);

/// The log sources that go to a bucket: (logical name, where).
pub fn sources(stack: &Stack) -> Vec<(&'static str, &AccessLogs)> {
    let Some(m) = &stack.monitoring else { return vec![] };
    let mut out = Vec::new();
    if let Some(d) = m.database_logs_to_bucket.as_ref().filter(|_| stack.database.is_some()) {
        out.push(("database", d));
    }
    if let Some(a) = m.app_logs_to_bucket.as_ref().filter(|_| stack.fleet.is_some()) {
        out.push(("app", a));
    }
    out
}

/// Physical name of a source's stream.
pub fn stream_name(stack: &Stack, source: &str) -> String {
    format!("{}-{source}-logs", stack.name)
}

pub fn stream_arn(cx: &Cx, source: &str) -> String {
    format!(
        "arn:{}:firehose:{}:{}:deliverystream/{}",
        cx.partition(),
        cx.region(),
        cx.account,
        stream_name(&cx.stack, source)
    )
}

/// A role's ARN, from its name under the stack's path.
pub fn role_arn(cx: &Cx, logical: &str) -> String {
    let name = crate::resources::role::physical_name(cx, logical);
    format!("arn:{}:iam::{}:role{}{name}", cx.partition(), cx.account, cx.iam_path())
}

/// A role the stack makes for a service, beside the file's `access.roles`.
pub struct ServiceRole {
    pub logical: &'static str,
    pub trust: Value,
    pub statements: Vec<Value>,
    pub deps: Vec<Addr>,
}

/// The logical names of the service roles the stack needs (before there is a [`Cx`]).
pub fn service_role_names(stack: &Stack) -> Vec<&'static str> {
    if sources(stack).is_empty() {
        vec![]
    } else {
        vec![LOGS_ROLE, FIREHOSE_ROLE]
    }
}

/// The two roles of log delivery, when any log goes to a bucket.
pub fn service_roles(cx: &Cx) -> Vec<ServiceRole> {
    let sources = sources(&cx.stack);
    if sources.is_empty() {
        return vec![];
    }
    let (p, region, account) = (cx.partition(), cx.region(), cx.account.as_str());
    let logs_trust = json!({"Effect": "Allow", "Principal": {"Service": "logs.amazonaws.com"},
                            "Action": "sts:AssumeRole",
                            "Condition": {"StringLike": {"aws:SourceArn": format!("arn:{p}:logs:{region}:{account}:*")}}});
    let streams: Vec<String> = sources.iter().map(|(s, _)| stream_arn(cx, s)).collect();
    let put = json!({"Effect": "Allow", "Action": ["firehose:PutRecord", "firehose:PutRecordBatch"],
                     "Resource": streams});
    let firehose_trust = json!({"Effect": "Allow", "Principal": {"Service": "firehose.amazonaws.com"},
                                "Action": "sts:AssumeRole",
                                "Condition": {"StringEquals": {"sts:ExternalId": account}}});
    // Firehose developer guide, "Grant Firehose access to an Amazon S3 destination": the
    // bucket's location and multipart listings, and the objects under each prefix.
    let mut buckets: Vec<&str> = sources.iter().map(|(_, a)| a.bucket.as_str()).collect();
    buckets.dedup();
    let bucket_arns: Vec<String> =
        buckets.iter().map(|b| format!("arn:{p}:s3:::{}", bucket::physical_name(cx, b))).collect();
    let objects: Vec<String> = sources
        .iter()
        .map(|(_, a)| format!("arn:{p}:s3:::{}/{}/*", bucket::physical_name(cx, &a.bucket), a.prefix))
        .collect();
    let write = vec![
        json!({"Effect": "Allow", "Action": ["s3:GetBucketLocation", "s3:ListBucket", "s3:ListBucketMultipartUploads"],
               "Resource": bucket_arns}),
        json!({"Effect": "Allow", "Action": ["s3:AbortMultipartUpload", "s3:GetObject", "s3:PutObject"],
               "Resource": objects}),
    ];
    vec![
        ServiceRole {
            logical: LOGS_ROLE,
            trust: policy::document(vec![logs_trust]),
            statements: vec![put],
            deps: vec![],
        },
        ServiceRole {
            logical: FIREHOSE_ROLE,
            trust: policy::document(vec![firehose_trust]),
            statements: write,
            deps: buckets.iter().map(|b| Addr::new(Kind::Bucket, b)).collect(),
        },
    ]
}

/// The name of the stack's subscription filter on each of its log groups (a group may
/// have two; a filter of another name is someone else's and left alone).
pub const SUBSCRIPTION_FILTER: &str = "bumarket-infra-to-s3";

fn buffering() -> Value {
    json!({"interval_seconds": BUFFER_SECONDS, "size_mb": BUFFER_MB})
}

/// A stream keeps its name; where it writes, how it buffers and encrypts, and its tags
/// change in place.
pub static SCHEMA: Schema = Schema {
    kind: Kind::DeliveryStream,
    layer: 2,
    attrs: &[
        AttrSpec::replace("name"),
        AttrSpec::update("bucket_arn"),
        AttrSpec::update("prefix"),
        AttrSpec::update("role_arn"),
        AttrSpec::update("buffering"),
        AttrSpec::update("compression"),
        AttrSpec::update("encryption"),
        AttrSpec::update("tags"),
    ],
    deleted_after: &[],
};

const DESTINATION: [&str; 5] = ["bucket_arn", "prefix", "role_arn", "buffering", "compression"];

#[async_trait]
impl Provider for DeliveryStreams {
    fn calls(&self) -> crate::resources::Calls {
        crate::resources::Calls {
            reads: &["firehose:DescribeDeliveryStream", "firehose:ListTagsForDeliveryStream"],
            writes: &[
                "firehose:CreateDeliveryStream",
                "firehose:DeleteDeliveryStream",
                "firehose:StartDeliveryStreamEncryption",
                "firehose:TagDeliveryStream",
                "firehose:UntagDeliveryStream",
                "firehose:UpdateDestination",
            ],
        }
    }
    fn arns(&self, cx: &Cx, d: &Desired) -> Vec<String> {
        vec![format!("arn:{}:firehose:{}:*:deliverystream/{}", cx.partition(), cx.region(), d.name)]
    }
    fn schema(&self) -> &'static Schema {
        &SCHEMA
    }

    fn desired(&self, cx: &Cx) -> Vec<Desired> {
        sources(&cx.stack)
            .into_iter()
            .map(|(source, to)| {
                let addr = Addr::new(Kind::DeliveryStream, source);
                let name = stream_name(&cx.stack, source);
                let mut attrs = Attrs::new();
                attrs.insert("name".into(), json!(name));
                attrs.insert(
                    "bucket_arn".into(),
                    json!(format!("arn:{}:s3:::{}", cx.partition(), bucket::physical_name(cx, &to.bucket))),
                );
                attrs.insert("prefix".into(), json!(format!("{}/", to.prefix)));
                attrs.insert("role_arn".into(), json!(role_arn(cx, FIREHOSE_ROLE)));
                attrs.insert("buffering".into(), buffering());
                attrs.insert("compression".into(), json!("UNCOMPRESSED"));
                attrs.insert("encryption".into(), json!("AWS_OWNED_CMK"));
                attrs.insert("tags".into(), tags_value(&cx.tags(&addr)));
                let deps = vec![Addr::new(Kind::Bucket, &to.bucket), Addr::new(Kind::Role, FIREHOSE_ROLE)];
                Desired { addr, name, attrs, deps }
            })
            .collect()
    }

    async fn read(&self, cx: &Cx, live: &Live, wanted: &[&Desired]) -> Result<Vec<Observed>, StepError> {
        let names = |list: Vec<String>| futures::future::try_join_all(list.into_iter().map(|n| read_stream(cx, n)));
        let by_file = names(wanted.iter().map(|d| d.name.clone()).collect());
        let others = async {
            let tagged = live.tagged().await?;
            let listed = tagged_of(tagged, "firehose")
                .filter_map(|t| t.arn.split_once(":deliverystream/").map(|(_, n)| n.to_string()))
                .filter(|n| !wanted.iter().any(|d| d.name == *n));
            names(listed.collect()).await
        };
        let (by_file, others) = tokio::try_join!(by_file, others)?;
        let mut out = Vec::new();
        for found in by_file.into_iter().chain(others).flatten() {
            let Found { name, arn, attrs, tags, .. } = found;
            let Some(ownership) = cx.ownership_by_tag("the stream", &name, &tags, wanted) else { continue };
            let (addr, ownership) = cx.placed(Kind::DeliveryStream, &name, &tags, wanted, ownership);
            let outputs = BTreeMap::from([("arn".to_string(), arn.clone())]);
            out.push(Observed { addr, name, id: arn, attrs, ownership, outputs, deps: vec![] });
        }
        Ok(out)
    }

    async fn create(&self, cx: &Cx, d: &Desired, p: &Progress<'_>) -> Result<(), StepError> {
        let a = &d.attrs;
        let s = |k: &str| attr(a, k).and_then(Value::as_str).unwrap_or_default().to_string();
        let tags = firehose_tags(tags_from(attr(a, "tags")), "firehose:CreateDeliveryStream")?;
        let destination = fh::ExtendedS3DestinationConfiguration::builder()
            .role_arn(s("role_arn"))
            .bucket_arn(s("bucket_arn"))
            .prefix(s("prefix"))
            .buffering_hints(hints(attr(a, "buffering")))
            .compression_format(fh::CompressionFormat::from(s("compression").as_str()))
            .build()
            .map_err(|e| StepError::new("firehose:CreateDeliveryStream", e.to_string()))?;
        let encryption = fh::DeliveryStreamEncryptionConfigurationInput::builder()
            .key_type(fh::KeyType::from(s("encryption").as_str()))
            .build()
            .map_err(|e| StepError::new("firehose:CreateDeliveryStream", e.to_string()))?;
        let role = crate::resources::role::physical_name(cx, FIREHOSE_ROLE);
        // Firehose checks at once that it can assume the role and write the bucket; a
        // role made a moment ago may not be visible to it yet (IAM is eventually
        // consistent), and it answers InvalidArgumentException until it is.
        let made = crate::resources::role::while_new_role_propagates(
            cx,
            &role,
            "InvalidArgumentException",
            "Firehose",
            p,
            || async {
                let r = cx
                    .aws
                    .firehose
                    .create_delivery_stream()
                    .delivery_stream_name(&d.name)
                    .delivery_stream_type(fh::DeliveryStreamType::DirectPut)
                    .extended_s3_destination_configuration(destination.clone())
                    .delivery_stream_encryption_configuration_input(encryption.clone())
                    .set_tags(Some(tags.clone()))
                    .send()
                    .await;
                match r {
                    Ok(_) => Ok(()),
                    // A retry of a create whose answer was lost, or a re-run after a kill.
                    Err(e) if is_code(&e, "ResourceInUseException") => Ok(()),
                    Err(e) => Err(call_error("firehose:CreateDeliveryStream", e)),
                }
            },
        );
        made.await?;
        p.say("waiting for the Firehose stream to be active");
        wait::until(&|m| p.say(m), "the Firehose stream to be active", ACTIVE_TIMEOUT, POLL, || async {
            let Some(found) = read_stream(cx, d.name.clone()).await? else {
                return Ok(Poll::Pending("not visible yet".into()));
            };
            if found.tags.get(TAG_STACK) != Some(&cx.stack.name) {
                return Err(StepError::of(
                    ErrorKind::Failed,
                    "firehose:CreateDeliveryStream",
                    format!("a stream named `{}` exists and is not this stack's", d.name),
                ));
            }
            match found.status.as_str() {
                "ACTIVE" => {
                    cx.set_id(&d.addr, found.arn);
                    Ok(Poll::Ready(()))
                }
                s @ ("CREATING_FAILED" | "DELETING_FAILED") => Err(StepError::of(
                    ErrorKind::Failed,
                    "firehose:DescribeDeliveryStream",
                    format!("the stream `{}` is `{s}`; see it in the Firehose console", d.name),
                )),
                s => Ok(Poll::Pending(s.to_lowercase())),
            }
        })
        .await
    }

    async fn update(
        &self,
        cx: &Cx,
        d: &Desired,
        o: &Observed,
        changes: &[AttrChange],
        _p: &Progress<'_>,
    ) -> Result<(), StepError> {
        let fh_client = &cx.aws.firehose;
        let a = &d.attrs;
        let s = |k: &str| attr(a, k).and_then(Value::as_str).unwrap_or_default().to_string();
        if changes.iter().any(|c| DESTINATION.contains(&c.name.as_str())) {
            let update = fh::ExtendedS3DestinationUpdate::builder()
                .role_arn(s("role_arn"))
                .bucket_arn(s("bucket_arn"))
                .prefix(s("prefix"))
                .buffering_hints(hints(attr(a, "buffering")))
                .compression_format(fh::CompressionFormat::from(s("compression").as_str()))
                .build();
            // UpdateDestination takes the stream's current version and destination id:
            // read them now, not at plan time, so an update between the two is not lost.
            let now = read_stream(cx, d.name.clone()).await?.ok_or_else(|| {
                StepError::new("firehose:DescribeDeliveryStream", format!("the stream `{}` is gone", o.name))
            })?;
            fh_client
                .update_destination()
                .delivery_stream_name(&d.name)
                .current_delivery_stream_version_id(now.version_id)
                .destination_id(now.destination_id)
                .extended_s3_destination_update(update)
                .send()
                .await
                .map_err(|e| call_error("firehose:UpdateDestination", e))?;
        }
        if changes.iter().any(|c| c.name == "encryption") {
            let input = fh::DeliveryStreamEncryptionConfigurationInput::builder()
                .key_type(fh::KeyType::from(s("encryption").as_str()))
                .build()
                .map_err(|e| StepError::new("firehose:StartDeliveryStreamEncryption", e.to_string()))?;
            fh_client
                .start_delivery_stream_encryption()
                .delivery_stream_name(&d.name)
                .delivery_stream_encryption_configuration_input(input)
                .send()
                .await
                .map_err(|e| call_error("firehose:StartDeliveryStreamEncryption", e))?;
        }
        if let Some(c) = changes.iter().find(|c| c.name == "tags") {
            let (set, remove) = tag_delta(&tags_from(attr(&o.attrs, "tags")), &tags_from(c.after.as_ref()));
            if !remove.is_empty() {
                fh_client
                    .untag_delivery_stream()
                    .delivery_stream_name(&d.name)
                    .set_tag_keys(Some(remove))
                    .send()
                    .await
                    .map_err(|e| call_error("firehose:UntagDeliveryStream", e))?;
            }
            if !set.is_empty() {
                let tags = firehose_tags(set, "firehose:TagDeliveryStream")?;
                fh_client
                    .tag_delivery_stream()
                    .delivery_stream_name(&d.name)
                    .set_tags(Some(tags))
                    .send()
                    .await
                    .map_err(|e| call_error("firehose:TagDeliveryStream", e))?;
            }
        }
        Ok(())
    }

    async fn delete(&self, cx: &Cx, o: &Observed, _d: Option<&Desired>, p: &Progress<'_>) -> Result<(), StepError> {
        match cx.aws.firehose.delete_delivery_stream().delivery_stream_name(&o.name).send().await {
            Ok(_) => {}
            Err(e) if is_code(&e, "ResourceNotFoundException") => return Ok(()),
            Err(e) => return Err(call_error("firehose:DeleteDeliveryStream", e)),
        }
        wait::until(&|m| p.say(m), "the Firehose stream to be deleted", ACTIVE_TIMEOUT, POLL, || async {
            Ok(match read_stream(cx, o.name.clone()).await? {
                None => Poll::Ready(()),
                Some(f) => Poll::Pending(f.status.to_lowercase()),
            })
        })
        .await
    }
}

fn firehose_tags(tags: BTreeMap<String, String>, call: &str) -> Result<Vec<fh::Tag>, StepError> {
    tags.into_iter()
        .map(|(k, v)| fh::Tag::builder().key(k).value(v).build())
        .collect::<Result<_, _>>()
        .map_err(|e| StepError::new(call, e.to_string()))
}

fn hints(v: Option<&Value>) -> fh::BufferingHints {
    let n = |k: &str, d: i32| {
        v.and_then(|v| v.get(k)).and_then(Value::as_i64).and_then(|x| i32::try_from(x).ok()).unwrap_or(d)
    };
    fh::BufferingHints::builder()
        .interval_in_seconds(n("interval_seconds", BUFFER_SECONDS))
        .size_in_mbs(n("size_mb", BUFFER_MB))
        .build()
}

/// A stream as Firehose describes it.
struct Found {
    name: String,
    arn: String,
    attrs: Attrs,
    tags: BTreeMap<String, String>,
    /// DeliveryStreamStatus (`CREATING`, `ACTIVE`, ...).
    status: String,
    /// What UpdateDestination must name: the stream's version and its destination.
    version_id: String,
    destination_id: String,
}

/// One stream, its description and its tags side by side; `None` when it is gone.
async fn read_stream(cx: &Cx, name: String) -> Result<Option<Found>, StepError> {
    let fh_client = &cx.aws.firehose;
    let describe = fh_client.describe_delivery_stream().delivery_stream_name(&name).send();
    let tags = fh_client.list_tags_for_delivery_stream().delivery_stream_name(&name).limit(50).send();
    let (described, tags) = tokio::join!(describe, tags);
    let description = match described {
        Ok(out) => match out.delivery_stream_description {
            Some(d) => d,
            None => return Ok(None),
        },
        Err(e) if is_code(&e, "ResourceNotFoundException") => return Ok(None),
        Err(e) => return Err(call_error("firehose:DescribeDeliveryStream", e)),
    };
    let tags: BTreeMap<String, String> = match tags {
        Ok(out) => out.tags.into_iter().map(|t| (t.key, t.value.unwrap_or_default())).collect(),
        Err(e) if is_code(&e, "ResourceNotFoundException") => return Ok(None),
        Err(e) => return Err(call_error("firehose:ListTagsForDeliveryStream", e)),
    };
    let destination = description.destinations().first();
    let s3 = destination.and_then(|d| d.extended_s3_destination_description());
    let encryption = description.delivery_stream_encryption_configuration().and_then(|e| {
        let off = matches!(
            e.status(),
            Some(fh::DeliveryStreamEncryptionStatus::Disabled | fh::DeliveryStreamEncryptionStatus::Disabling)
        );
        (!off).then(|| e.key_type().map(|k| k.as_str().to_string())).flatten()
    });
    let mut attrs = Attrs::new();
    attrs.insert("name".into(), json!(name));
    attrs.insert("bucket_arn".into(), json!(s3.map(|s| s.bucket_arn())));
    attrs.insert("prefix".into(), json!(s3.and_then(|s| s.prefix()).unwrap_or_default()));
    attrs.insert("role_arn".into(), json!(s3.map(|s| s.role_arn())));
    attrs.insert(
        "buffering".into(),
        json!({"interval_seconds": s3.and_then(|s| s.buffering_hints()).and_then(|b| b.interval_in_seconds()).unwrap_or(BUFFER_SECONDS),
               "size_mb": s3.and_then(|s| s.buffering_hints()).and_then(|b| b.size_in_mbs()).unwrap_or(BUFFER_MB)}),
    );
    attrs.insert("compression".into(), json!(s3.map(|s| s.compression_format().as_str())));
    attrs.insert("encryption".into(), json!(encryption));
    attrs.insert("tags".into(), tags_value(&tags));
    Ok(Some(Found {
        name,
        arn: description.delivery_stream_arn().to_string(),
        attrs,
        tags,
        status: description.delivery_stream_status().as_str().to_string(),
        version_id: description.version_id().to_string(),
        destination_id: destination.map(|d| d.destination_id().to_string()).unwrap_or_default(),
    }))
}
