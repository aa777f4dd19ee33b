//! The checked stack: what a valid stack file means, with every default filled in.
//!
//! Invariants the reader guarantees before it hands out a [`Stack`]:
//! - every reference (a grant's bucket, the fleet's role, the access-log bucket, ...) names
//!   something defined in the same file;
//! - numbers are in the ranges AWS accepts and `min <= desired <= max`;
//! - bucket names (after `{account_id}`/`{region}` substitution with any 12-digit account)
//!   follow S3's naming rules; CIDRs parse and subnets sit inside the VPC's range;
//! - loosening a secure default (public access, plain HTTP) carries a stated reason.
//!
//! Nothing here knows AWS's SDK: the engine turns this model into desired resources.

use std::collections::BTreeMap;
use std::path::PathBuf;

/// A whole stack file.
#[derive(Debug, Clone, PartialEq)]
pub struct Stack {
    /// `stack:` – the stack's name; part of every physical name and the ownership tag.
    pub name: String,
    /// `region:` – the AWS region everything lives in.
    pub region: String,
    /// `tags:` – added to every taggable resource.
    pub tags: BTreeMap<String, String>,
    pub network: Option<Network>,
    pub fleet: Option<Fleet>,
    pub load_balancer: Option<LoadBalancer>,
    pub database: Option<Database>,
    /// `buckets:` – logical name → bucket, in file order is not kept (sorted by name).
    pub buckets: BTreeMap<String, Bucket>,
    pub monitoring: Option<Monitoring>,
    pub access: Access,
    pub cloud9: Option<Cloud9>,
    /// `existing:` – what the stack uses but does not own, looked up at plan time.
    pub existing: Option<Existing>,
    /// `domain:` – the app's name in a hosted zone, with a certificate for HTTPS.
    pub domain: Option<Domain>,
    /// `adopt:` – address (`bucket.images`) → id or name of a live resource made outside
    /// bumarket-infra that the stack takes over in place (see `sections::adopt`).
    pub adopt: BTreeMap<String, Adoption>,
    /// Where the file was read from and a digest of its bytes (saved plans check it).
    pub source: Source,
    /// The environment read (`--env`), when the file declares `environments:`: `name`
    /// is then the stack's joined with it.
    pub environment: Option<Environment>,
}

/// One of the file's `environments:`, as chosen with `--env`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Environment {
    pub name: String,
    /// The AWS account it is pinned to: commands refuse other credentials.
    pub account: String,
}

impl Stack {
    /// The stack's log bucket: where the load balancer writes its access logs, else where
    /// the database's or the app's logs go, else the bucket named `logs`.
    pub fn log_bucket(&self) -> Option<&str> {
        let lb = self.load_balancer.as_ref().and_then(|l| l.access_logs.as_ref());
        let m = self.monitoring.as_ref();
        let streams = m.and_then(|m| m.database_logs_to_bucket.as_ref().or(m.app_logs_to_bucket.as_ref()));
        let named = self.buckets.get_key_value("logs").map(|(k, _)| k.as_str());
        lb.or(streams).map(|l| l.bucket.as_str()).or(named)
    }

    /// Where the bucket `logical` writes its server access logs (a bucket of this stack
    /// and a key prefix ending in `/`), if anywhere.
    pub fn server_access_logs(&self, logical: &str) -> Option<AccessLogs> {
        match &self.buckets.get(logical)?.access_logs {
            BucketLogs::To(to) => Some(to.clone()),
            BucketLogs::Off { .. } => None,
            BucketLogs::Default => self
                .log_bucket()
                .filter(|b| *b != logical && self.buckets.contains_key(*b))
                .map(|b| AccessLogs { bucket: b.to_string(), prefix: format!("s3/{logical}/") }),
        }
    }

    /// How many (public, private) subnets the stack's network has: the file's, or the
    /// `existing:` lookups' when `network: existing`.
    pub fn subnet_counts(&self) -> (usize, usize) {
        match (&self.network, &self.existing) {
            (Some(n), Some(e)) if n.existing => (e.public_subnets.len(), e.private_subnets.len()),
            (Some(n), _) => (n.public_subnets.len(), n.private_subnets.len()),
            (None, _) => (0, 0),
        }
    }

    /// The physical name an adopted resource keeps (its `adopt:` entry's `name`), or
    /// `default`: what bumarket-infra names it.
    pub fn name_of(&self, addr: &str, default: impl FnOnce() -> String) -> String {
        self.adopt.get(addr).and_then(|a| a.name.clone()).unwrap_or_else(default)
    }
}

/// One `adopt:` entry: the live resource to take over, and the immutable settings it
/// keeps that the file's sections cannot say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Adoption {
    /// The live id (`vpc-0abc…`) or name (`bumarket-images`).
    pub id: String,
    /// Its physical name, kept (a console-made security group's, say).
    pub name: Option<String>,
    /// Its description, kept (a security group's, which cannot change).
    pub description: Option<String>,
    /// `replace: true`: the file may differ where AWS cannot change the resource in place,
    /// and adopting then replaces it (the plan shows `-/+`); without it such an
    /// adoption is refused.
    pub replace: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    pub path: PathBuf,
    /// Hex SHA-256 of the file's bytes.
    pub sha256: String,
}

/// An IPv4 CIDR block such as `10.0.0.0/16` (host bits must be zero).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Cidr {
    pub addr: u32,
    pub prefix: u8,
}

impl Cidr {
    /// True when `other` lies wholly inside `self`.
    pub fn contains(&self, other: &Cidr) -> bool {
        other.prefix >= self.prefix && self.mask() & other.addr == self.addr
    }
    /// True when the two blocks share any address.
    pub fn overlaps(&self, other: &Cidr) -> bool {
        self.contains(other) || other.contains(self)
    }
    fn mask(&self) -> u32 {
        if self.prefix == 0 {
            0
        } else {
            u32::MAX << (32 - u32::from(self.prefix))
        }
    }
}

impl std::fmt::Display for Cidr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let [a, b, c, d] = self.addr.to_be_bytes();
        write!(f, "{a}.{b}.{c}.{d}/{}", self.prefix)
    }
}

/// `domain:` – the app's host name (see `sections::domain`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Domain {
    /// Lower case, without a trailing dot: `shop.example.com`.
    pub name: String,
    pub zone: DomainZone,
    /// How long apply waits for ACM to issue the certificate.
    pub wait_timeout_seconds: u64,
}

/// The hosted zone the domain's records go into.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DomainZone {
    /// The one `existing.hosted_zone` finds.
    Existing,
    /// The stack's own public hosted zone of this domain name (lower case, no final dot),
    /// which destroy deletes only when `deletion_protection` is off.
    Owned { name: String, deletion_protection: bool },
}

/// `existing:` – lookups of what the stack uses and never changes (see `sections::existing`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Existing {
    pub vpc: Option<Lookup>,
    pub public_subnets: Vec<Lookup>,
    pub private_subnets: Vec<Lookup>,
    pub hosted_zone: Option<Lookup>,
    pub certificate: Option<Lookup>,
    pub kms_key: Option<Lookup>,
    pub role: Option<Lookup>,
}

/// How one existing resource is found: by id (or ARN) alone, or by name and/or tags.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Lookup {
    pub id: Option<String>,
    /// The `Name` tag (VPC, subnet), the domain (zone, certificate), the alias (KMS key),
    /// the role's name.
    pub name: Option<String>,
    /// Tags that must all match (VPC and subnets).
    pub tags: BTreeMap<String, String>,
}

impl std::fmt::Display for Lookup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut parts = Vec::new();
        if let Some(id) = &self.id {
            parts.push(format!("id {id}"));
        }
        if let Some(name) = &self.name {
            parts.push(format!("name {name}"));
        }
        for (k, v) in &self.tags {
            parts.push(format!("tag {k}={v}"));
        }
        f.write_str(&parts.join(", "))
    }
}

/// `network:` – one VPC with public subnets (load balancer, fleet) and private ones (database).
/// With `network: existing` the VPC and subnets are `existing:`'s: `existing` is true and
/// the CIDRs and zones here are empty (they are AWS's, read at plan time).
#[derive(Debug, Clone, PartialEq)]
pub struct Network {
    pub existing: bool,
    pub cidr: Cidr,
    /// Availability zone names, one per subnet pair, at least two.
    pub availability_zones: Vec<String>,
    /// One per availability zone, inside `cidr`, not overlapping.
    pub public_subnets: Vec<Cidr>,
    /// One per availability zone, inside `cidr`, not overlapping (may be empty without a database).
    pub private_subnets: Vec<Cidr>,
}

/// Where instances get their image from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Image {
    /// `ssm:/aws/service/...` – an SSM public parameter resolved at plan time. Holds the
    /// parameter name without the `ssm:` prefix (`/aws/service/...`), as SSM's API takes it.
    SsmParameter(String),
    /// `ami-0123...` – a fixed image id.
    Ami(String),
}

/// `fleet:` – launch template + Auto Scaling group running the app.
#[derive(Debug, Clone, PartialEq)]
pub struct Fleet {
    pub instance_type: String,
    /// Default: `ssm:/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64`.
    pub image: Image,
    /// The port the app listens on (8000 in the seed).
    pub app_port: u16,
    /// `user_data:` – a file path relative to the stack file, and its contents.
    pub user_data: Option<UserData>,
    pub root_volume: RootVolume,
    /// `require_imdsv2`: instances answer metadata requests only with a session token
    /// (IMDSv2); turned off only with a reason (an app that still uses IMDSv1).
    pub require_imdsv2: Loosenable,
    pub min_size: u32,
    pub desired_capacity: u32,
    pub max_size: u32,
    /// Target-tracking on average CPU (60 in the seed).
    pub cpu_target_percent: f64,
    pub health_check_grace_seconds: u32,
    /// Instance refresh keeps at least this share of the fleet healthy (default 100).
    pub min_healthy_percent: u32,
    /// Instance refresh may run up to this share of the fleet (default 200: a new
    /// instance is launched and healthy before an old one is terminated).
    pub max_healthy_percent: u32,
    /// Logical name of an `access.roles` entry with `instance_profile: true`, or
    /// [`crate::EXISTING_ROLE`]: the role `existing.role` finds, with its instance profile.
    pub instance_role: Option<String>,
    /// How long apply waits for healthy instances (default 900 s).
    pub wait_timeout_seconds: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserData {
    /// As written in the file (relative to the stack file).
    pub path: PathBuf,
    pub content: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RootVolume {
    pub size_gb: u32,
    /// gp3 (default), gp2, io1, io2.
    pub volume_type: String,
    /// Always true unless the file loosens it with a reason.
    pub encrypted: bool,
}

/// `load_balancer:` – an application load balancer in front of the fleet.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadBalancer {
    /// Listener port open to the internet (80, or 443 with a certificate).
    pub listen_port: u16,
    /// With a certificate the listener speaks HTTPS and port 80 redirects to it.
    pub certificate_arn: Option<String>,
    pub health_check: HealthCheck,
    /// Access logs into one of the stack's buckets.
    pub access_logs: Option<AccessLogs>,
    pub deletion_protection: bool,
    pub drop_invalid_header_fields: bool,
    pub idle_timeout_seconds: u32,
    pub wait_timeout_seconds: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthCheck {
    pub path: String,
    pub interval_seconds: u32,
    pub timeout_seconds: u32,
    pub healthy_threshold: u32,
    pub unhealthy_threshold: u32,
    /// HTTP codes counted healthy, e.g. `200-399`.
    pub matcher: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessLogs {
    /// Logical name of a bucket in `buckets:`.
    pub bucket: String,
    pub prefix: String,
}

/// `database:` – one RDS instance.
#[derive(Debug, Clone, PartialEq)]
pub struct Database {
    /// Physical identifier; default `<stack>-db`.
    pub identifier: Option<String>,
    /// oracle-ee, oracle-se2, postgres, mysql, ...
    pub engine: String,
    pub engine_version: String,
    /// Always `Some` once read: the file's value or the engine's default.
    pub license_model: Option<String>,
    pub instance_class: String,
    pub port: u16,
    pub storage: Storage,
    pub admin_user: String,
    pub password: Password,
    pub backup_retention_days: u32,
    /// `hh:mm-hh:mm` UTC.
    pub backup_window: String,
    /// `ddd:hh:mm-ddd:hh:mm` UTC.
    pub maintenance_window: String,
    pub log_exports: Vec<String>,
    pub deletion_protection: bool,
    /// Apply modifications at once (true) or in the maintenance window (false).
    pub apply_immediately: bool,
    pub final_snapshot: bool,
    pub multi_az: bool,
    pub wait_timeout_seconds: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Storage {
    pub size_gb: u32,
    pub max_size_gb: Option<u32>,
    pub storage_type: String,
    pub encrypted: bool,
}

/// Where the database's master password lives. Never in the stack file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Password {
    /// RDS creates and rotates it in Secrets Manager (optionally with this KMS key).
    Managed { kms_key_id: Option<String> },
    /// An existing Secrets Manager secret (ARN) that holds it.
    Secret { arn: String },
}

/// One entry of `buckets:`.
#[derive(Debug, Clone, PartialEq)]
pub struct Bucket {
    /// Physical name template; may contain `{stack}`, `{account_id}` and `{region}`.
    /// Default: `{stack}-<logical>-{account_id}-{region}`.
    pub name: Option<String>,
    pub encryption: Encryption,
    /// Block Public Access: on unless loosened with a reason.
    pub public_access: Loosenable,
    /// Deny every request not made over TLS: on unless loosened with a reason.
    pub require_tls: Loosenable,
    pub versioning: bool,
    pub lifecycle: Vec<LifecycleRule>,
    /// Extra bucket-policy statements, as IAM JSON (objects).
    pub policy_statements: Vec<serde_json::Value>,
    /// Destroy empties the bucket first (default false: destroy refuses a non-empty bucket).
    pub force_destroy: bool,
    /// S3 server access logging (FSBP S3.9): where the bucket's request logs go.
    pub access_logs: BucketLogs,
}

/// `buckets.<name>.access_logs`: a bucket's server access logs.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum BucketLogs {
    /// Into the stack's log bucket ([`Stack::log_bucket`]) under `s3/<logical>/`, unless
    /// this is that bucket (a log bucket does not log into itself) or there is none.
    #[default]
    Default,
    /// Into this bucket of the stack, under this prefix.
    To(AccessLogs),
    /// Not logged, for the reason the file gives.
    Off { reason: String },
}

/// A secure default that the file may turn off only by giving a reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Loosenable {
    On,
    Off { reason: String },
}

impl Loosenable {
    pub fn is_on(&self) -> bool {
        matches!(self, Loosenable::On)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Encryption {
    /// SSE-S3 (AES256), the default.
    S3Managed,
    /// SSE-KMS with the given key (or the AWS-managed `aws/s3` key when `None`).
    Kms { key_id: Option<String> },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LifecycleRule {
    pub id: String,
    /// Key prefix the rule applies to ("" for the whole bucket).
    pub prefix: String,
    pub expire_after_days: Option<u32>,
    pub noncurrent_expire_after_days: Option<u32>,
    pub abort_incomplete_upload_days: Option<u32>,
}

/// The retentions CloudWatch Logs takes, in days (CloudWatch Logs API Reference,
/// PutRetentionPolicy: `retentionInDays`).
pub const LOG_RETENTION_DAYS: &[u64] =
    &[1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653];

/// `monitoring:` – alarms mailing the team, a dashboard, log groups.
#[derive(Debug, Clone, PartialEq)]
pub struct Monitoring {
    pub emails: Vec<String>,
    pub alarms: Alarms,
    pub dashboard: bool,
    /// CloudWatch Logs retention for the app's and the database's log groups (180).
    pub log_retention_days: u32,
    /// Deliver the database's exported logs into a bucket of the stack (logical name)
    /// under this prefix (default `database`), as CloudWatch Logs receives them.
    pub database_logs_to_bucket: Option<AccessLogs>,
    /// Deliver the app's log group (what the instances ship) the same way (`app`).
    pub app_logs_to_bucket: Option<AccessLogs>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Alarms {
    pub fleet_cpu_percent: f64,
    pub unhealthy_hosts: f64,
    pub http_5xx_per_5_minutes: f64,
    pub database_cpu_percent: f64,
    pub database_free_storage_mb: f64,
}

/// Logical names of the roles bumarket-infra makes itself (log delivery to S3: the role
/// CloudWatch Logs assumes to put into Firehose, and the one Firehose assumes to write
/// the bucket); `access.roles` cannot use them.
pub const RESERVED_ROLES: [&str; 2] = ["logs-to-firehose", "firehose-to-s3"];

/// `access:` – IAM roles and groups under the stack's IAM path.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Access {
    pub roles: BTreeMap<String, Role>,
    pub groups: BTreeMap<String, Group>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Role {
    /// Physical name; default `<stack>-<logical>`.
    pub name: Option<String>,
    pub description: Option<String>,
    pub assumed_by: Trust,
    /// Also create an instance profile of the same name (for EC2).
    pub instance_profile: bool,
    pub permissions: Permissions,
}

/// Who may assume a role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trust {
    /// A service principal such as `ec2.amazonaws.com`.
    Service(String),
    /// Principals of this account (`arn:aws:iam::<account>:root`), optionally requiring MFA.
    Account { require_mfa: bool },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Group {
    /// Physical name; default `<stack>-<logical>`.
    pub name: Option<String>,
    pub permissions: Permissions,
}

/// What a role or group may do.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Permissions {
    /// Full ARNs (`arn:aws:iam::aws:policy/ReadOnlyAccess`); bare names are expanded to
    /// AWS-managed ARNs by the reader.
    pub managed_policies: Vec<String>,
    /// Access to the stack's own buckets.
    pub grants: Vec<Grant>,
    /// Raw IAM statements (JSON objects) added to the inline policy.
    pub statements: Vec<serde_json::Value>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// Logical name of a bucket in `buckets:`.
    pub bucket: String,
    pub access: BucketAccess,
    /// Key prefix the grant is limited to ("" for the whole bucket).
    pub prefix: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BucketAccess {
    Read,
    Write,
    ReadWrite,
}

/// `cloud9:` – an optional Cloud9 EC2 environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cloud9 {
    pub name: Option<String>,
    pub instance_type: String,
    pub automatic_stop_minutes: u32,
    /// Image id as Cloud9 names it, e.g. `amazonlinux-2023-x86_64`.
    pub image_id: String,
    /// Index into `network.public_subnets`.
    pub subnet_index: usize,
    /// Logical name of an `access.groups` entry whose members share the environment.
    pub members_group: Option<String>,
}
