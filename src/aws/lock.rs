//! One writer at a time: `apply` and `destroy` hold a lock per stack and region, `plan`
//! takes none. The lock is a small object in a lock bucket of the account and region
//! (`bumarket-infra-locks-<account>-<region>`, made on first use: encrypted, public access
//! blocked, old lock objects expire), written with a conditional put (`If-None-Match: *`),
//! so two writers can never both get it. It records who, where (host, process), since when
//! and which command, and is removed at the end, after an error or Ctrl-C too.
//!
//! A lock whose holder is a process on this host that no longer exists is broken, saying
//! so; any other is broken only by `force-unlock`. The lock bucket belongs to no stack:
//! `destroy` never takes it.

use super::{call_error, is_code, Aws};
use crate::apply::StepError;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types as s3t;
use serde::{Deserialize, Serialize};
use std::time::{Duration, Instant};

/// Who holds a lock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Holder {
    /// The caller's ARN as STS names it.
    pub who: String,
    pub host: String,
    pub pid: u32,
    /// UTC, `YYYY-MM-DDTHH:MM:SSZ`.
    pub since: String,
    /// `apply` or `destroy`.
    pub command: String,
    pub tool_version: String,
}

impl std::fmt::Display for Holder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "`{}` by {} on {} (process {}) since {}", self.command, self.who, self.host, self.pid, self.since)
    }
}

/// A held lock; release it with [`Lock::release`].
pub struct Lock {
    bucket: String,
    key: String,
}

/// Where the lock of a stack lives.
pub fn location(account: &str, region: &str, stack: &str) -> (String, String) {
    (format!("bumarket-infra-locks-{account}-{region}"), format!("locks/{stack}.json"))
}

/// This machine's name, as recorded in locks.
pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "unknown-host".into())
}

/// Whether a process of this host is still running.
fn alive(pid: u32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
}

impl Lock {
    /// Take the stack's lock, waiting up to `wait` for another writer to finish. Says on
    /// `tell` when it breaks a stale lock or waits.
    pub async fn acquire(
        aws: &Aws,
        holder: Holder,
        stack: &str,
        account: &str,
        wait: Duration,
        tell: &dyn Fn(String),
    ) -> Result<Lock, StepError> {
        let (bucket, key) = location(account, &aws.region, stack);
        ensure_bucket(aws, &bucket).await?;
        let body = serde_json::to_vec_pretty(&holder).expect("holder serialises");
        let started = Instant::now();
        let mut told_wait = false;
        loop {
            let put = aws
                .s3
                .put_object()
                .bucket(&bucket)
                .key(&key)
                .if_none_match("*")
                .content_type("application/json")
                .body(ByteStream::from(body.clone()))
                .send()
                .await;
            match put {
                Ok(_) => return Ok(Lock { bucket, key }),
                Err(e) if is_code(&e, "PreconditionFailed") || super::error::status(&e) == Some(412) => {}
                Err(e) => return Err(call_error("s3:PutObject (taking the lock)", e)),
            }
            let Some(current) = read(aws, &bucket, &key).await? else { continue };
            if current.host == holder.host && current.pid != holder.pid && !alive(current.pid) {
                tell(format!("breaking the stale lock of {current}: that process no longer exists on this host"));
                delete(aws, &bucket, &key).await?;
                continue;
            }
            if started.elapsed() >= wait {
                return Err(StepError::new(
                    "taking the lock",
                    format!("stack `{stack}` in {} is locked by {current}", aws.region),
                )
                .hint(
                    "wait for that run to finish, pass `--lock-timeout 10m` to wait for it, or, if it is gone, run `bumarket-infra force-unlock`",
                ));
            }
            if !told_wait {
                tell(format!("waiting for the lock held by {current}"));
                told_wait = true;
            }
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
    }

    /// Give the lock back.
    pub async fn release(self, aws: &Aws) -> Result<(), StepError> {
        delete(aws, &self.bucket, &self.key).await
    }
}

/// The current holder of a stack's lock, if any (for `force-unlock`).
pub async fn holder(aws: &Aws, account: &str, stack: &str) -> Result<Option<Holder>, StepError> {
    let (bucket, key) = location(account, &aws.region, stack);
    read(aws, &bucket, &key).await
}

/// Remove a stack's lock, whoever holds it.
pub async fn force_unlock(aws: &Aws, account: &str, stack: &str) -> Result<(), StepError> {
    let (bucket, key) = location(account, &aws.region, stack);
    delete(aws, &bucket, &key).await
}

async fn read(aws: &Aws, bucket: &str, key: &str) -> Result<Option<Holder>, StepError> {
    let out = match aws.s3.get_object().bucket(bucket).key(key).send().await {
        Ok(out) => out,
        Err(e) if is_code(&e, "NoSuchKey") || is_code(&e, "NoSuchBucket") => return Ok(None),
        Err(e) => return Err(call_error("s3:GetObject (reading the lock)", e)),
    };
    let bytes =
        out.body.collect().await.map_err(|e| StepError::new("s3:GetObject (reading the lock)", e.to_string()))?;
    Ok(Some(serde_json::from_slice(&bytes.into_bytes()).unwrap_or_else(|_| Holder {
        who: "an unreadable lock".into(),
        host: "?".into(),
        pid: 0,
        since: "?".into(),
        command: "?".into(),
        tool_version: "?".into(),
    })))
}

async fn delete(aws: &Aws, bucket: &str, key: &str) -> Result<(), StepError> {
    match aws.s3.delete_object().bucket(bucket).key(key).send().await {
        Ok(_) => Ok(()),
        Err(e) if is_code(&e, "NoSuchBucket") => Ok(()),
        Err(e) => Err(call_error("s3:DeleteObject (releasing the lock)", e)),
    }
}

/// Make the lock bucket on first use: encrypted, public access blocked, ACLs off, lock
/// objects left behind by killed runs expire after 30 days.
async fn ensure_bucket(aws: &Aws, bucket: &str) -> Result<(), StepError> {
    let s3 = &aws.s3;
    match s3.head_bucket().bucket(bucket).send().await {
        Ok(_) => return Ok(()),
        Err(e) if super::error::status(&e) == Some(404) || is_code(&e, "NotFound") => {}
        Err(e) => return Err(call_error("s3:HeadBucket (the lock bucket)", e)),
    }
    let mut config = s3t::CreateBucketConfiguration::builder();
    if aws.region != "us-east-1" {
        config = config.location_constraint(s3t::BucketLocationConstraint::from(aws.region.as_str()));
    }
    match s3
        .create_bucket()
        .bucket(bucket)
        .create_bucket_configuration(config.build())
        .object_ownership(s3t::ObjectOwnership::BucketOwnerEnforced)
        .send()
        .await
    {
        Ok(_) => {}
        Err(e) if is_code(&e, "BucketAlreadyOwnedByYou") => {}
        Err(e) => return Err(call_error("s3:CreateBucket (the lock bucket)", e)),
    }
    let block = s3t::PublicAccessBlockConfiguration::builder()
        .block_public_acls(true)
        .ignore_public_acls(true)
        .block_public_policy(true)
        .restrict_public_buckets(true)
        .build();
    s3.put_public_access_block()
        .bucket(bucket)
        .public_access_block_configuration(block)
        .send()
        .await
        .map_err(|e| call_error("s3:PutPublicAccessBlock (the lock bucket)", e))?;
    let sse = s3t::ServerSideEncryptionByDefault::builder()
        .sse_algorithm(s3t::ServerSideEncryption::Aes256)
        .build()
        .expect("algorithm set");
    let rule = s3t::ServerSideEncryptionRule::builder().apply_server_side_encryption_by_default(sse).build();
    s3.put_bucket_encryption()
        .bucket(bucket)
        .server_side_encryption_configuration(
            s3t::ServerSideEncryptionConfiguration::builder().rules(rule).build().expect("one rule"),
        )
        .send()
        .await
        .map_err(|e| call_error("s3:PutBucketEncryption (the lock bucket)", e))?;
    let expire = s3t::LifecycleRule::builder()
        .id("expire-old-locks")
        .status(s3t::ExpirationStatus::Enabled)
        .filter(s3t::LifecycleRuleFilter::builder().prefix("locks/").build())
        .expiration(s3t::LifecycleExpiration::builder().days(30).build())
        .build()
        .expect("status set");
    s3.put_bucket_lifecycle_configuration()
        .bucket(bucket)
        .lifecycle_configuration(s3t::BucketLifecycleConfiguration::builder().rules(expire).build().expect("one rule"))
        .send()
        .await
        .map_err(|e| call_error("s3:PutBucketLifecycleConfiguration (the lock bucket)", e))?;
    Ok(())
}
