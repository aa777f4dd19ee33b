//! One writer at a time: `apply` and `destroy` hold a lock per stack and region, `plan`
//! takes none. The lock is a small object in a lock bucket of the account and region
//! (`bumarket-infra-locks-<account>-<region>`, made on first use: encrypted, public access
//! blocked, old lock objects expire), written with a conditional put (`If-None-Match: *`),
//! so two writers can never both get it. It records who, where (host, process), since when
//! and which command, and is removed at the end, after an error or Ctrl-C too.
//!
//! What S3 answers, and what each answer means here (S3 API Reference, PutObject,
//! `If-None-Match`, https://docs.aws.amazon.com/AmazonS3/latest/API/API_PutObject.html;
//! DeleteObject, `If-Match`,
//! https://docs.aws.amazon.com/AmazonS3/latest/API/API_DeleteObject.html; S3 User Guide,
//! "How to perform conditional deletes",
//! https://docs.aws.amazon.com/AmazonS3/latest/userguide/conditional-deletes.html):
//!
//! - taking it: 412 PreconditionFailed, "the key already exists": someone holds it;
//!   409 ConditionalRequestConflict, "a conflicting operation occurs during the upload ...
//!   On a 409 failure you should retry the upload": someone is writing or removing it at
//!   this instant, so look again and retry (within `--lock-timeout`, and a few times
//!   without one: a race, not a holder);
//! - giving it back: a delete with `If-Match: <the ETag this run's put returned>`, so that
//!   only the object this run wrote is removed. 412 (another object is there: the lock was
//!   force-unlocked and another run took it) leaves that lock alone, saying so; 404 (gone
//!   already: force-unlocked) says so; 409 is retried briefly. An ETag-conditional delete
//!   needs `s3:GetObject` besides `s3:DeleteObject`, which reading the lock needs anyway;
//! - `force-unlock` and breaking a stale lock delete the same way, `If-Match` the ETag of
//!   the lock they read, so a lock that changed hands since is never removed.
//!
//! A lock whose holder is a process on this host that no longer exists is broken, saying
//! so, but only where that can be checked (Linux, /proc, a host name: [`dead_holder`]);
//! any other is broken only by `force-unlock`. The lock bucket belongs to no stack:
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
    /// The ETag of the object this run wrote: the release deletes only that object.
    etag: String,
    stack: String,
    region: String,
}

/// A lock as read: who holds it, and the ETag of the object that says so (what a delete
/// of exactly this lock names in `If-Match`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    pub holder: Holder,
    etag: String,
}

/// What `force-unlock` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unlocked {
    /// The lock that was shown is removed.
    Removed,
    /// It was gone already: its run gave it back, or another `force-unlock` removed it.
    AlreadyGone,
}

/// Where the lock of a stack lives.
pub fn location(account: &str, region: &str, stack: &str) -> (String, String) {
    (format!("bumarket-infra-locks-{account}-{region}"), format!("locks/{stack}.json"))
}

/// This machine's name, if it can be read.
fn read_hostname() -> Option<String> {
    ["/proc/sys/kernel/hostname", "/etc/hostname"]
        .iter()
        .find_map(|path| std::fs::read_to_string(path).ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
}

/// This machine's name, as recorded in locks.
pub fn hostname() -> String {
    read_hostname().unwrap_or_else(|| "unknown-host".into())
}

/// What this machine can find out about its own processes: the probes of [`dead_holder`],
/// injectable so that the check can be tested for machines this is not.
#[derive(Debug, Clone)]
pub struct Here {
    /// The operating system, as `std::env::consts::OS` names it.
    pub os: &'static str,
    /// `/proc/self` exists: /proc lists this machine's processes.
    pub proc_readable: bool,
    /// This machine's name, when it could be read.
    pub host: Option<String>,
    /// Whether a process of this machine exists (a look in /proc), for a `pid`.
    pub alive: fn(u32) -> bool,
}

impl Here {
    /// Probe this machine.
    pub fn probe() -> Here {
        Here {
            os: std::env::consts::OS,
            proc_readable: std::path::Path::new("/proc/self").exists(),
            host: read_hostname(),
            alive,
        }
    }

    /// The name under which this machine can tell whether a process of its own still
    /// runs: only Linux with /proc readable and a host name that names this machine (not
    /// `localhost`, which many machines are); `None` anywhere else.
    fn checkable_host(&self) -> Option<&str> {
        if self.os != "linux" || !self.proc_readable {
            return None;
        }
        self.host.as_deref().filter(|h| !h.is_empty() && !matches!(*h, "localhost" | "localhost.localdomain"))
    }
}

/// Whether `found` was left by a process of this machine that no longer exists, and so
/// may be broken without asking; `me` is this process. Never true where that cannot be
/// checked (see [`Here`]): there, only `force-unlock` breaks a lock.
pub fn dead_holder(here: &Here, found: &Holder, me: u32) -> bool {
    let Some(host) = here.checkable_host() else { return false };
    found.host == host && found.pid != me && !(here.alive)(found.pid)
}

/// Whether a process of this host is still running (Linux's /proc).
fn alive(pid: u32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
}

/// 412 PreconditionFailed: the condition did not hold (the key exists, for a put with
/// `If-None-Match: *`; another object is there, for a delete with `If-Match`).
fn precondition_failed(e: &StepError) -> bool {
    e.is_code("PreconditionFailed") || e.status() == Some(412)
}

/// 409 ConditionalRequestConflict: another write or delete of the key raced this one.
fn conflict(e: &StepError) -> bool {
    e.is_code("ConditionalRequestConflict") || e.status() == Some(409)
}

/// How many times a call answered 409 is sent, where nothing else bounds it.
const CONFLICT_TRIES: u32 = 5;

/// The pause before trying again after a 409: longer each time, with some jitter, so that
/// two runs that collided do not collide again.
fn conflict_pause(attempt: u32) -> Duration {
    use std::hash::{BuildHasher, Hasher};
    let jitter = std::collections::hash_map::RandomState::new().build_hasher().finish() % 200;
    Duration::from_millis(200 * u64::from(attempt.clamp(1, 5)) + jitter)
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
        Lock::acquire_on(aws, holder, stack, account, wait, &Here::probe(), tell).await
    }

    async fn acquire_on(
        aws: &Aws,
        holder: Holder,
        stack: &str,
        account: &str,
        wait: Duration,
        here: &Here,
        tell: &dyn Fn(String),
    ) -> Result<Lock, StepError> {
        const PUT: &str = "s3:PutObject (taking the lock)";
        let (bucket, key) = location(account, &aws.region, stack);
        ensure_bucket(aws, &bucket).await?;
        let body = serde_json::to_vec_pretty(&holder).expect("holder serialises");
        let started = Instant::now();
        let mut told_wait = false;
        let mut conflicts = 0;
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
            match put.map_err(|e| call_error(PUT, e)) {
                Ok(out) => {
                    let etag = out.e_tag.ok_or_else(|| {
                        StepError::missing(PUT, "the lock's ETag")
                            .hint("run `bumarket-infra force-unlock` to remove the lock it took, then try again")
                    })?;
                    let region = aws.region.clone();
                    return Ok(Lock { bucket, key, etag, stack: stack.into(), region });
                }
                Err(e) if precondition_failed(&e) => {}
                Err(e) if conflict(&e) => {
                    // Someone else is writing or removing the lock at this very moment.
                    conflicts += 1;
                    if conflicts >= CONFLICT_TRIES && started.elapsed() >= wait {
                        return Err(e.hint(
                            "another run was taking or giving back this lock at the same moment: try again, or pass `--lock-timeout 10m` to wait for it",
                        ));
                    }
                    tracing::debug!("taking the lock: 409 ConditionalRequestConflict, trying again");
                    tokio::time::sleep(conflict_pause(conflicts)).await;
                    continue;
                }
                Err(e) => return Err(e),
            }
            let Some(current) = read(aws, &bucket, &key).await? else { continue };
            if dead_holder(here, &current.holder, holder.pid) {
                tell(format!(
                    "breaking the stale lock of {}: that process no longer exists on this host",
                    current.holder
                ));
                // Only that lock: if another run broke it and took the lock meanwhile,
                // the delete finds another object (412) and the loop looks again.
                delete_if_match(aws, &bucket, &key, &current.etag, "s3:DeleteObject (breaking the stale lock)").await?;
                continue;
            }
            if started.elapsed() >= wait {
                let unchecked = current.holder.host == holder.host && here.checkable_host().is_none();
                let why = if unchecked { " (this machine cannot check whether that process still runs)" } else { "" };
                return Err(StepError::new(
                    "taking the lock",
                    format!("stack `{stack}` in {} is locked by {}{why}", aws.region, current.holder),
                )
                .hint(
                    "wait for that run to finish, pass `--lock-timeout 10m` to wait for it, or, if it is gone, run `bumarket-infra force-unlock`",
                ));
            }
            if !told_wait {
                tell(format!("waiting for the lock held by {}", current.holder));
                told_wait = true;
            }
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
    }

    /// Give the lock back: delete the object this run wrote, and only it. Says on `tell`
    /// when the lock was removed while this run held it (`force-unlock`), and when another
    /// run's lock is there now, which it leaves as it is.
    pub async fn release(self, aws: &Aws, tell: &dyn Fn(String)) -> Result<(), StepError> {
        let call = "s3:DeleteObject (releasing the lock)";
        let (stack, region) = (&self.stack, &self.region);
        match delete_if_match(aws, &self.bucket, &self.key, &self.etag, call).await? {
            Deleted::Removed => {}
            Deleted::Gone => tell(format!(
                "the lock of stack `{stack}` in {region} was removed while this run held it (by `bumarket-infra force-unlock`); there was nothing to give back"
            )),
            Deleted::Changed => {
                let now = match read(aws, &self.bucket, &self.key).await {
                    Ok(Some(found)) => format!(": {}", found.holder),
                    _ => String::new(),
                };
                tell(format!(
                    "found another run's lock on stack `{stack}` in {region}{now}; this run's lock was removed while it ran (by `bumarket-infra force-unlock`), and the other lock is left as it is"
                ));
            }
        }
        Ok(())
    }
}

/// The current lock of a stack, if any (for `force-unlock`).
pub async fn holder(aws: &Aws, account: &str, stack: &str) -> Result<Option<Found>, StepError> {
    let (bucket, key) = location(account, &aws.region, stack);
    read(aws, &bucket, &key).await
}

/// Remove the stack's lock `shown` (as [`holder`] read it), and only that one: when the
/// lock changed hands since it was read, nothing is deleted and the error names the new
/// holder.
pub async fn force_unlock(aws: &Aws, account: &str, stack: &str, shown: &Found) -> Result<Unlocked, StepError> {
    let (bucket, key) = location(account, &aws.region, stack);
    match delete_if_match(aws, &bucket, &key, &shown.etag, "s3:DeleteObject (removing the lock)").await? {
        Deleted::Removed => Ok(Unlocked::Removed),
        Deleted::Gone => Ok(Unlocked::AlreadyGone),
        Deleted::Changed => {
            let now = match read(aws, &bucket, &key).await {
                Ok(Some(found)) => format!(": it is now locked by {}", found.holder),
                _ => String::new(),
            };
            Err(StepError::new(
                "removing the lock",
                format!(
                    "the lock of stack `{stack}` in {} changed hands since it was shown{now}; nothing was changed",
                    aws.region
                ),
            )
            .hint("run `bumarket-infra force-unlock` again to see who holds it now"))
        }
    }
}

async fn read(aws: &Aws, bucket: &str, key: &str) -> Result<Option<Found>, StepError> {
    const GET: &str = "s3:GetObject (reading the lock)";
    let out = match aws.s3.get_object().bucket(bucket).key(key).send().await.map_err(|e| call_error(GET, e)) {
        Ok(out) => out,
        Err(e) if e.is_code("NoSuchKey") || e.is_code("NoSuchBucket") => return Ok(None),
        Err(e) => return Err(e),
    };
    let etag = out.e_tag.clone().ok_or_else(|| StepError::missing(GET, "the lock's ETag"))?;
    let bytes = out.body.collect().await.map_err(|e| StepError::new(GET, e.to_string()))?;
    let holder = serde_json::from_slice(&bytes.into_bytes()).unwrap_or_else(|_| Holder {
        who: "an unreadable lock".into(),
        host: "?".into(),
        pid: 0,
        since: "?".into(),
        command: "?".into(),
        tool_version: "?".into(),
    });
    Ok(Some(Found { holder, etag }))
}

/// What a delete of one lock object found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Deleted {
    /// It was there and is gone now.
    Removed,
    /// There was no lock any more (404: NoSuchKey, or no lock bucket).
    Gone,
    /// Another object is there now (412 PreconditionFailed): another run's lock.
    Changed,
}

/// Delete the lock object whose ETag is `etag`, and no other (DeleteObject `If-Match`);
/// a 409 (a write or delete of the key racing this one) is tried again briefly.
async fn delete_if_match(aws: &Aws, bucket: &str, key: &str, etag: &str, call: &str) -> Result<Deleted, StepError> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        let e = match aws.s3.delete_object().bucket(bucket).key(key).if_match(etag).send().await {
            Ok(_) => return Ok(Deleted::Removed),
            Err(e) => call_error(call, e),
        };
        if e.status() == Some(404) || e.is_code("NoSuchKey") || e.is_code("NoSuchBucket") {
            return Ok(Deleted::Gone);
        }
        if precondition_failed(&e) {
            return Ok(Deleted::Changed);
        }
        if conflict(&e) && attempt < CONFLICT_TRIES {
            tracing::debug!("{call}: 409 ConditionalRequestConflict, trying again");
            tokio::time::sleep(conflict_pause(attempt)).await;
            continue;
        }
        return Err(e);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::Options;
    use aws_sdk_s3::operation::get_object::GetObjectOutput;
    use aws_sdk_s3::operation::head_bucket::HeadBucketOutput;
    use aws_sdk_s3::operation::put_object::PutObjectOutput;
    use aws_smithy_mocks::{mock, MockResponseInterceptor, Rule, RuleMode};
    use std::sync::Mutex;

    fn holder(host: &str, pid: u32) -> Holder {
        Holder {
            who: "arn:aws:iam::123456789012:user/ci".into(),
            host: host.into(),
            pid,
            since: "2026-12-01T10:00:00Z".into(),
            command: "apply".into(),
            tool_version: "0.1.0".into(),
        }
    }

    /// No process but 8 exists (the probe /proc gives on this host).
    fn only_8(pid: u32) -> bool {
        pid == 8
    }

    fn linux(host: Option<&str>) -> Here {
        Here { os: "linux", proc_readable: true, host: host.map(String::from), alive: only_8 }
    }

    #[test]
    fn a_dead_holder_of_this_linux_host_is_broken() {
        let here = linux(Some("build-1"));
        assert!(dead_holder(&here, &holder("build-1", 4242), 7));
        // Alive, this very process, or another host's: never.
        assert!(!dead_holder(&here, &holder("build-1", 8), 7));
        assert!(!dead_holder(&here, &holder("build-1", 7), 7));
        assert!(!dead_holder(&here, &holder("build-2", 4242), 7));
    }

    #[test]
    fn where_a_dead_holder_cannot_be_checked_it_is_never_broken() {
        // `alive` says "gone" for 4242, as a look in /proc does where there is no /proc.
        let lock = holder("build-1", 4242);
        let macos = Here { os: "macos", proc_readable: false, ..linux(Some("build-1")) };
        let windows = Here { os: "windows", proc_readable: false, ..linux(Some("build-1")) };
        let no_proc = Here { proc_readable: false, ..linux(Some("build-1")) };
        let proc_elsewhere = Here { os: "freebsd", ..linux(Some("build-1")) };
        for here in [macos, windows, no_proc, proc_elsewhere, linux(None)] {
            assert!(!dead_holder(&here, &lock, 7), "{here:?}");
        }
        // `localhost` names many machines, not this one.
        for name in ["localhost", "localhost.localdomain"] {
            assert!(!dead_holder(&linux(Some(name)), &holder(name, 4242), 7), "{name}");
        }
        // A name stands for the machine only when it could be read.
        assert!(!dead_holder(&linux(Some("")), &holder("", 4242), 7));
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn this_linux_machine_can_check_its_processes() {
        let here = Here::probe();
        assert!(here.proc_readable, "{here:?}");
        assert_eq!(here.host.as_deref(), Some(hostname().as_str()));
        assert!((here.alive)(std::process::id()) && !(here.alive)(4_000_000));
    }

    /// An S3 client answering from `rules`, as `mock_client!` makes them (aws-sdk-s3's
    /// `test-util` feature is not enabled).
    async fn aws(rules: &[&Rule]) -> Aws {
        let mut interceptor = MockResponseInterceptor::new().rule_mode(RuleMode::MatchAny);
        for rule in rules {
            interceptor = interceptor.with_rule(rule);
        }
        let conf = aws_sdk_s3::config::Config::builder()
            .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
            .region(aws_sdk_s3::config::Region::new("ap-northeast-2"))
            .credentials_provider(aws_sdk_s3::config::Credentials::new("a", "b", None, None, "test"))
            .http_client(aws_smithy_mocks::create_mock_http_client())
            .interceptor(interceptor)
            .build();
        let mut aws = Aws::connect(&Options { region: "ap-northeast-2".into(), ..Default::default() }).await;
        aws.s3 = aws_sdk_s3::Client::from_conf(conf);
        aws
    }

    /// S3's error document, as S3 answers it.
    fn s3_error(code: &str) -> Option<String> {
        Some(format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>{code}</Code><Message>AWS's own words</Message></Error>"))
    }

    fn object(h: &Holder, etag: &str) -> GetObjectOutput {
        GetObjectOutput::builder().e_tag(etag).body(ByteStream::from(serde_json::to_vec(h).unwrap())).build()
    }

    const KEY: &str = "locks/shop.json";

    fn lock(etag: &str) -> Lock {
        let (bucket, key) = location("123456789012", "ap-northeast-2", "shop");
        Lock { bucket, key, etag: etag.into(), stack: "shop".into(), region: "ap-northeast-2".into() }
    }

    #[derive(Default)]
    struct Told(Mutex<Vec<String>>);

    impl Told {
        fn tell(&self) -> impl Fn(String) + '_ {
            |m| self.0.lock().unwrap().push(m)
        }
        fn lines(&self) -> Vec<String> {
            self.0.lock().unwrap().clone()
        }
    }

    #[tokio::test]
    async fn force_unlock_refuses_a_lock_that_changed_hands_and_deletes_nothing() {
        // Shown: run A's lock. Before the answer, A ended, and run B took the lock.
        let a = holder("ci-runner-7", 4242);
        let b = holder("ci-runner-8", 99);
        let (a2, b2) = (a.clone(), b.clone());
        let get = mock!(aws_sdk_s3::Client::get_object)
            .sequence()
            .output(move || object(&a2, "\"etag-a\""))
            .output(move || object(&b2, "\"etag-b\""))
            .build();
        // Only a delete of A's object is ever answered, and S3 finds B's there (412).
        let delete = mock!(aws_sdk_s3::Client::delete_object)
            .match_requests(|r| r.key() == Some(KEY) && r.if_match() == Some("\"etag-a\""))
            .sequence()
            .http_status(412, s3_error("PreconditionFailed"))
            .build();
        let aws = aws(&[&get, &delete]).await;
        let shown = holder_of(&aws).await;
        assert_eq!(shown.holder, a);
        let e = force_unlock(&aws, "123456789012", "shop", &shown).await.unwrap_err();
        assert_eq!(
            e.to_string(),
            format!("removing the lock: the lock of stack `shop` in ap-northeast-2 changed hands since it was shown: it is now locked by {b}; nothing was changed")
        );
        assert_eq!(e.hint.as_deref(), Some("run `bumarket-infra force-unlock` again to see who holds it now"));
        assert_eq!((get.num_calls(), delete.num_calls()), (2, 1));
    }

    #[tokio::test]
    async fn force_unlock_removes_the_lock_it_showed_or_says_it_was_gone() {
        let a = holder("ci-runner-7", 4242);
        let get = mock!(aws_sdk_s3::Client::get_object).then_output(move || object(&a, "\"etag-a\""));
        let delete = mock!(aws_sdk_s3::Client::delete_object)
            .match_requests(|r| r.if_match() == Some("\"etag-a\""))
            .sequence()
            .output(|| aws_sdk_s3::operation::delete_object::DeleteObjectOutput::builder().build())
            .http_status(404, s3_error("NoSuchKey"))
            .build();
        let aws = aws(&[&get, &delete]).await;
        let shown = holder_of(&aws).await;
        assert_eq!(force_unlock(&aws, "123456789012", "shop", &shown).await.unwrap(), Unlocked::Removed);
        assert_eq!(force_unlock(&aws, "123456789012", "shop", &shown).await.unwrap(), Unlocked::AlreadyGone);
    }

    async fn holder_of(aws: &Aws) -> Found {
        super::holder(aws, "123456789012", "shop").await.unwrap().expect("locked")
    }

    #[tokio::test]
    async fn release_leaves_another_runs_lock_and_says_whose_it_is() {
        let b = holder("ci-runner-8", 99);
        let shown = b.clone();
        let get = mock!(aws_sdk_s3::Client::get_object).then_output(move || object(&shown, "\"etag-b\""));
        let delete = mock!(aws_sdk_s3::Client::delete_object)
            .match_requests(|r| r.if_match() == Some("\"etag-a\""))
            .sequence()
            .http_status(412, s3_error("PreconditionFailed"))
            .build();
        let aws = aws(&[&get, &delete]).await;
        let told = Told::default();
        lock("\"etag-a\"").release(&aws, &told.tell()).await.unwrap();
        assert_eq!(
            told.lines(),
            [format!("found another run's lock on stack `shop` in ap-northeast-2: {b}; this run's lock was removed while it ran (by `bumarket-infra force-unlock`), and the other lock is left as it is")]
        );
        assert_eq!(delete.num_calls(), 1);
    }

    #[tokio::test]
    async fn release_of_a_lock_already_removed_says_so() {
        let delete =
            mock!(aws_sdk_s3::Client::delete_object).sequence().http_status(404, s3_error("NoSuchKey")).build();
        let aws = aws(&[&delete]).await;
        let told = Told::default();
        lock("\"etag-a\"").release(&aws, &told.tell()).await.unwrap();
        assert_eq!(
            told.lines(),
            ["the lock of stack `shop` in ap-northeast-2 was removed while this run held it (by `bumarket-infra force-unlock`); there was nothing to give back"]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn release_tries_a_conflict_again_and_gives_up_after_a_few() {
        let delete = mock!(aws_sdk_s3::Client::delete_object)
            .sequence()
            .http_status(409, s3_error("ConditionalRequestConflict"))
            .times(2)
            .output(|| aws_sdk_s3::operation::delete_object::DeleteObjectOutput::builder().build())
            .build();
        let aws = aws(&[&delete]).await;
        let told = Told::default();
        lock("\"etag-a\"").release(&aws, &told.tell()).await.unwrap();
        assert_eq!((delete.num_calls(), told.lines().len()), (3, 0));

        let busy = mock!(aws_sdk_s3::Client::delete_object)
            .sequence()
            .http_status(409, s3_error("ConditionalRequestConflict"))
            .repeatedly()
            .build();
        let aws = super::tests::aws(&[&busy]).await;
        let e = lock("\"etag-a\"").release(&aws, &told.tell()).await.unwrap_err();
        assert_eq!((e.code(), e.status()), (Some("ConditionalRequestConflict"), Some(409)));
        assert_eq!(busy.num_calls(), CONFLICT_TRIES as usize);
    }

    fn bucket_exists() -> Rule {
        mock!(aws_sdk_s3::Client::head_bucket).then_output(|| HeadBucketOutput::builder().build())
    }

    #[tokio::test(start_paused = true)]
    async fn taking_the_lock_tries_a_conflict_again_and_keeps_the_etag() {
        let head = bucket_exists();
        let put = mock!(aws_sdk_s3::Client::put_object)
            .match_requests(|r| r.if_none_match() == Some("*"))
            .sequence()
            .http_status(409, s3_error("ConditionalRequestConflict"))
            .times(2)
            .output(|| PutObjectOutput::builder().e_tag("\"etag-mine\"").build())
            .build();
        let aws = aws(&[&head, &put]).await;
        let told = Told::default();
        let me = holder("build-1", 7);
        let held =
            Lock::acquire_on(&aws, me, "shop", "123456789012", Duration::ZERO, &linux(Some("build-1")), &told.tell())
                .await
                .unwrap();
        assert_eq!((held.etag.as_str(), held.key.as_str(), put.num_calls()), ("\"etag-mine\"", KEY, 3));
        assert!(told.lines().is_empty(), "{:?}", told.lines());
    }

    #[tokio::test(start_paused = true)]
    async fn taking_the_lock_gives_up_on_a_conflict_that_lasts_without_a_timeout() {
        let head = bucket_exists();
        let put = mock!(aws_sdk_s3::Client::put_object)
            .sequence()
            .http_status(409, s3_error("ConditionalRequestConflict"))
            .repeatedly()
            .build();
        let aws = aws(&[&head, &put]).await;
        let told = Told::default();
        let here = linux(Some("build-1"));
        let e =
            Lock::acquire_on(&aws, holder("build-1", 7), "shop", "123456789012", Duration::ZERO, &here, &told.tell())
                .await
                .err()
                .expect("no lock");
        assert_eq!(e.code(), Some("ConditionalRequestConflict"));
        assert!(e.hint.as_deref().unwrap().starts_with("another run was taking or giving back this lock"), "{e:?}");
        assert_eq!(put.num_calls(), CONFLICT_TRIES as usize);
    }

    #[tokio::test]
    async fn a_lock_of_this_host_is_not_broken_where_its_process_cannot_be_checked() {
        // The holder names this host and a process that /proc does not list; on macOS
        // (no /proc) that says nothing, so the lock stays and the error says why.
        let old = holder("build-1", 4_000_000);
        let shown = old.clone();
        let head = bucket_exists();
        let put =
            mock!(aws_sdk_s3::Client::put_object).sequence().http_status(412, s3_error("PreconditionFailed")).build();
        let get = mock!(aws_sdk_s3::Client::get_object).then_output(move || object(&shown, "\"etag-old\""));
        let delete = mock!(aws_sdk_s3::Client::delete_object).then_output(|| unreachable!("never deleted"));
        let aws = aws(&[&head, &put, &get, &delete]).await;
        let told = Told::default();
        let macos = Here { os: "macos", proc_readable: false, ..linux(Some("build-1")) };
        let e =
            Lock::acquire_on(&aws, holder("build-1", 7), "shop", "123456789012", Duration::ZERO, &macos, &told.tell())
                .await
                .err()
                .expect("no lock");
        assert_eq!(
            e.to_string(),
            format!("taking the lock: stack `shop` in ap-northeast-2 is locked by {old} (this machine cannot check whether that process still runs)")
        );
        assert!(e.hint.unwrap().ends_with("if it is gone, run `bumarket-infra force-unlock`"));
        assert_eq!(delete.num_calls(), 0);
        assert!(told.lines().is_empty(), "{:?}", told.lines());
    }

    #[tokio::test]
    async fn a_stale_lock_is_broken_only_if_it_is_still_the_one_read() {
        // Two runs of this host find the same dead holder's lock; the other broke it and
        // took the lock first, so this run's delete of the stale object finds another (412)
        // and this run looks again: the other's live lock stays.
        let stale = holder("build-1", 4_000_000);
        let other = holder("build-1", 8);
        let (s2, o2) = (stale.clone(), other.clone());
        let head = bucket_exists();
        let put = mock!(aws_sdk_s3::Client::put_object)
            .sequence()
            .http_status(412, s3_error("PreconditionFailed"))
            .repeatedly()
            .build();
        let get = mock!(aws_sdk_s3::Client::get_object)
            .sequence()
            .output(move || object(&s2, "\"etag-stale\""))
            .output(move || object(&o2, "\"etag-other\""))
            .build();
        let delete = mock!(aws_sdk_s3::Client::delete_object)
            .match_requests(|r| r.if_match() == Some("\"etag-stale\""))
            .sequence()
            .http_status(412, s3_error("PreconditionFailed"))
            .build();
        let aws = aws(&[&head, &put, &get, &delete]).await;
        let told = Told::default();
        let here = linux(Some("build-1"));
        let e =
            Lock::acquire_on(&aws, holder("build-1", 7), "shop", "123456789012", Duration::ZERO, &here, &told.tell())
                .await
                .err()
                .expect("no lock");
        assert!(e.to_string().contains("is locked by `apply`"), "{e}");
        assert_eq!(
            told.lines(),
            [format!("breaking the stale lock of {stale}: that process no longer exists on this host")]
        );
        assert_eq!(delete.num_calls(), 1);
    }
}
