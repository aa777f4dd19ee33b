//! The AWS boundary: SDK configuration (credential chain, profile, region, endpoint,
//! retries, the one bound on calls in flight), one client per service, the call log
//! behind the plan's "N calls in D round trips", and the translation of SDK errors into
//! data and messages users can act on.

pub mod calls;
pub mod error;
pub mod limit;
pub mod lock;

use aws_config::retry::RetryConfig;
use aws_config::BehaviorVersion;
use std::sync::Arc;
use std::time::Duration;

pub use calls::CallLog;
pub use error::{call_error, is_code, CallResult};

/// How to reach AWS, from the command line and environment.
#[derive(Debug, Clone)]
pub struct Options {
    pub region: String,
    pub profile: Option<String>,
    pub endpoint_url: Option<String>,
    /// Most AWS calls in flight at once, every service together.
    pub max_in_flight: usize,
    /// Attempts per call, retries included (default [`MAX_ATTEMPTS`]).
    pub max_attempts: Option<u32>,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            region: String::new(),
            profile: None,
            endpoint_url: None,
            max_in_flight: limit::DEFAULT_MAX_IN_FLIGHT,
            max_attempts: None,
        }
    }
}

/// Attempts per call: throttling and transient errors are retried with backoff.
pub const MAX_ATTEMPTS: u32 = 8;

/// The call log of the clients made last in this process (`BUMARKET_INFRA_CHECK_CALLS`
/// reads it when a command ends).
static LAST_CALL_LOG: std::sync::Mutex<Option<Arc<CallLog>>> = std::sync::Mutex::new(None);

pub fn last_call_log() -> Option<Arc<CallLog>> {
    LAST_CALL_LOG.lock().expect("call log").clone()
}

/// One client per service, sharing one configuration and one call log.
#[derive(Clone, Debug)]
pub struct Aws {
    pub region: String,
    pub s3: aws_sdk_s3::Client,
    pub iam: aws_sdk_iam::Client,
    pub ec2: aws_sdk_ec2::Client,
    pub elb: aws_sdk_elasticloadbalancingv2::Client,
    pub firehose: aws_sdk_firehose::Client,
    pub autoscaling: aws_sdk_autoscaling::Client,
    pub ssm: aws_sdk_ssm::Client,
    pub rds: aws_sdk_rds::Client,
    pub sns: aws_sdk_sns::Client,
    pub secrets: aws_sdk_secretsmanager::Client,
    pub cloudwatch: aws_sdk_cloudwatch::Client,
    pub logs: aws_sdk_cloudwatchlogs::Client,
    pub cloud9: aws_sdk_cloud9::Client,
    pub sts: aws_sdk_sts::Client,
    pub tagging: aws_sdk_resourcegroupstagging::Client,
    pub acm: aws_sdk_acm::Client,
    pub quotas: aws_sdk_servicequotas::Client,
    pub route53: aws_sdk_route53::Client,
    pub kms: aws_sdk_kms::Client,
    /// The Price List Query API, at its own endpoint region whatever the stack's is.
    pub pricing: aws_sdk_pricing::Client,
    pub calls: Arc<CallLog>,
}

/// The retry quota of one service's client. The SDK gates retries by a token bucket per
/// partition (500 tokens, 5 per throttled retry: 100 throttled retries a process), which
/// guards AWS against retry storms from transient errors; a plan that reads a stack of
/// dozens of resources from a throttling service spends that in seconds, and then fails
/// calls the adaptive rate limiter would have paced through. The quota here is large
/// enough that throttling is bounded by each call's attempts and the adaptive pacing,
/// not by the bucket; other retries still cost what the SDK charges.
fn retry_partition(service: &'static str) -> aws_sdk_s3::config::retry::RetryPartition {
    use aws_sdk_s3::config::retry::{RetryPartition, TokenBucket};
    RetryPartition::custom(format!("bumarket-infra-{service}"))
        .token_bucket(TokenBucket::builder().capacity(RETRY_QUOTA).build())
        .build()
}

/// Tokens in each service's retry bucket (see [`retry_partition`]).
const RETRY_QUOTA: usize = 50_000;

impl Aws {
    /// Build clients. Makes no call: credentials are resolved on the first request.
    pub async fn connect(opts: &Options) -> Aws {
        // Throttling and transient errors are retried with backoff; adaptive mode also
        // slows this client down while AWS throttles it. Waits handle the rest.
        let retry = RetryConfig::adaptive()
            .with_max_attempts(opts.max_attempts.unwrap_or(MAX_ATTEMPTS))
            .with_max_backoff(Duration::from_secs(20));
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .region(aws_config::Region::new(opts.region.clone()))
            .http_client(limit::client(opts.max_in_flight))
            .retry_config(retry);
        if let Some(p) = &opts.profile {
            loader = loader.profile_name(p);
        }
        if let Some(e) = &opts.endpoint_url {
            loader = loader.endpoint_url(e);
        }
        let shared = loader.load().await;
        let calls = Arc::new(CallLog::default());
        *LAST_CALL_LOG.lock().expect("call log") = Some(Arc::clone(&calls));
        // A custom endpoint (an emulator, a proxy) has no per-bucket DNS names.
        let path_style = shared.endpoint_url().is_some() || std::env::var_os("AWS_ENDPOINT_URL_S3").is_some();
        let s3 = aws_sdk_s3::config::Builder::from(&shared)
            .retry_partition(retry_partition("s3"))
            .force_path_style(path_style)
            .interceptor(calls.interceptor())
            .build();
        let iam = aws_sdk_iam::config::Builder::from(&shared)
            .retry_partition(retry_partition("iam"))
            .interceptor(calls.interceptor())
            .build();
        let ec2 = aws_sdk_ec2::config::Builder::from(&shared)
            .retry_partition(retry_partition("ec2"))
            .interceptor(calls.interceptor())
            .build();
        let elb = aws_sdk_elasticloadbalancingv2::config::Builder::from(&shared)
            .retry_partition(retry_partition("elasticloadbalancingv2"))
            .interceptor(calls.interceptor())
            .build();
        let firehose = aws_sdk_firehose::config::Builder::from(&shared)
            .retry_partition(retry_partition("firehose"))
            .interceptor(calls.interceptor())
            .build();
        let autoscaling = aws_sdk_autoscaling::config::Builder::from(&shared)
            .retry_partition(retry_partition("autoscaling"))
            .interceptor(calls.interceptor())
            .build();
        let ssm = aws_sdk_ssm::config::Builder::from(&shared)
            .retry_partition(retry_partition("ssm"))
            .interceptor(calls.interceptor())
            .build();
        let rds = aws_sdk_rds::config::Builder::from(&shared)
            .retry_partition(retry_partition("rds"))
            .interceptor(calls.interceptor())
            .build();
        let sns = aws_sdk_sns::config::Builder::from(&shared)
            .retry_partition(retry_partition("sns"))
            .interceptor(calls.interceptor())
            .build();
        let secrets = aws_sdk_secretsmanager::config::Builder::from(&shared)
            .retry_partition(retry_partition("secretsmanager"))
            .interceptor(calls.interceptor())
            .build();
        let cloudwatch = aws_sdk_cloudwatch::config::Builder::from(&shared)
            .retry_partition(retry_partition("cloudwatch"))
            .interceptor(calls.interceptor())
            .build();
        let logs = aws_sdk_cloudwatchlogs::config::Builder::from(&shared)
            .retry_partition(retry_partition("cloudwatchlogs"))
            .interceptor(calls.interceptor())
            .build();
        let cloud9 = aws_sdk_cloud9::config::Builder::from(&shared)
            .retry_partition(retry_partition("cloud9"))
            .interceptor(calls.interceptor())
            .build();
        let sts = aws_sdk_sts::config::Builder::from(&shared)
            .retry_partition(retry_partition("sts"))
            .interceptor(calls.interceptor())
            .build();
        let tagging = aws_sdk_resourcegroupstagging::config::Builder::from(&shared)
            .retry_partition(retry_partition("resourcegroupstagging"))
            .interceptor(calls.interceptor())
            .build();
        let acm = aws_sdk_acm::config::Builder::from(&shared)
            .retry_partition(retry_partition("acm"))
            .interceptor(calls.interceptor())
            .build();
        let quotas = aws_sdk_servicequotas::config::Builder::from(&shared)
            .retry_partition(retry_partition("servicequotas"))
            .interceptor(calls.interceptor())
            .build();
        let route53 = aws_sdk_route53::config::Builder::from(&shared)
            .retry_partition(retry_partition("route53"))
            .interceptor(calls.interceptor())
            .build();
        let kms = aws_sdk_kms::config::Builder::from(&shared)
            .retry_partition(retry_partition("kms"))
            .interceptor(calls.interceptor())
            .build();
        // An estimate falls back to the shipped prices when this does not answer: it must
        // not hold the plan up for long (two attempts, ten seconds each).
        let pricing = aws_sdk_pricing::config::Builder::from(&shared)
            .region(aws_config::Region::new(crate::cost::query::ENDPOINT_REGION))
            .retry_config(RetryConfig::standard().with_max_attempts(2))
            .timeout_config(
                aws_config::timeout::TimeoutConfig::builder()
                    .operation_attempt_timeout(Duration::from_secs(10))
                    .build(),
            )
            .retry_partition(retry_partition("pricing"))
            .interceptor(calls.interceptor())
            .build();
        Aws {
            region: opts.region.clone(),
            s3: aws_sdk_s3::Client::from_conf(s3),
            iam: aws_sdk_iam::Client::from_conf(iam),
            ec2: aws_sdk_ec2::Client::from_conf(ec2),
            elb: aws_sdk_elasticloadbalancingv2::Client::from_conf(elb),
            firehose: aws_sdk_firehose::Client::from_conf(firehose),
            autoscaling: aws_sdk_autoscaling::Client::from_conf(autoscaling),
            ssm: aws_sdk_ssm::Client::from_conf(ssm),
            rds: aws_sdk_rds::Client::from_conf(rds),
            sns: aws_sdk_sns::Client::from_conf(sns),
            secrets: aws_sdk_secretsmanager::Client::from_conf(secrets),
            cloudwatch: aws_sdk_cloudwatch::Client::from_conf(cloudwatch),
            logs: aws_sdk_cloudwatchlogs::Client::from_conf(logs),
            cloud9: aws_sdk_cloud9::Client::from_conf(cloud9),
            sts: aws_sdk_sts::Client::from_conf(sts),
            tagging: aws_sdk_resourcegroupstagging::Client::from_conf(tagging),
            acm: aws_sdk_acm::Client::from_conf(acm),
            quotas: aws_sdk_servicequotas::Client::from_conf(quotas),
            route53: aws_sdk_route53::Client::from_conf(route53),
            kms: aws_sdk_kms::Client::from_conf(kms),
            pricing: aws_sdk_pricing::Client::from_conf(pricing),
            calls,
        }
    }

    /// Who the credentials are: (account id, caller ARN). Bucket names embed the account;
    /// locks record the caller.
    pub async fn identity(&self) -> CallResult<(String, String)> {
        let out = self.sts.get_caller_identity().send().await.map_err(|e| call_error("sts:GetCallerIdentity", e))?;
        Ok((out.account.unwrap_or_default(), out.arn.unwrap_or_default()))
    }
}
