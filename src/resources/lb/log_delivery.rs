//! Who writes a load balancer's access logs into S3, and the bucket-policy statement that
//! lets it. In regions opened before August 2022 the writer is a regional Elastic Load
//! Balancing account (its `root` must be allowed); every newer region delivers through the
//! service principal `logdelivery.elasticloadbalancing.amazonaws.com`. Logs land under
//! `<prefix>/AWSLogs/<account>/`, so the statement allows `s3:PutObject` there and nowhere
//! else. `bucket.rs` adds the statement to the bucket `load_balancer.access_logs` names.

use crate::engine::{Addr, Kind};
use crate::resources::Cx;
use serde_json::{json, Value};

/// The service principal of regions that have no Elastic Load Balancing account.
pub const SERVICE_PRINCIPAL: &str = "logdelivery.elasticloadbalancing.amazonaws.com";

/// Regional Elastic Load Balancing accounts (regions opened before August 2022).
const ELB_ACCOUNTS: &[(&str, &str)] = &[
    ("us-east-1", "127311923021"),
    ("us-east-2", "033677994240"),
    ("us-west-1", "027434742980"),
    ("us-west-2", "797873946194"),
    ("af-south-1", "098369216593"),
    ("ap-east-1", "754344448648"),
    ("ap-south-1", "718504428378"),
    ("ap-northeast-1", "582318560864"),
    ("ap-northeast-2", "600734575887"),
    ("ap-northeast-3", "383597477331"),
    ("ap-southeast-1", "114774131450"),
    ("ap-southeast-2", "783225319266"),
    ("ca-central-1", "985666609251"),
    ("eu-central-1", "054676820928"),
    ("eu-west-1", "156460612806"),
    ("eu-west-2", "652711504416"),
    ("eu-west-3", "009996457667"),
    ("eu-south-1", "635631232127"),
    ("eu-north-1", "897822967062"),
    ("me-south-1", "076674570225"),
    ("sa-east-1", "507241528517"),
];

/// The Elastic Load Balancing account of a region, if the region has one.
pub fn elb_account(region: &str) -> Option<&'static str> {
    ELB_ACCOUNTS.iter().find(|(r, _)| *r == region).map(|(_, a)| *a)
}

/// The principal that delivers access logs in `region`.
pub fn principal(region: &str) -> Value {
    match elb_account(region) {
        Some(account) => json!({"AWS": format!("arn:aws:iam::{account}:root")}),
        None => json!({"Service": SERVICE_PRINCIPAL}),
    }
}

/// The statement allowing log delivery into `bucket` under `prefix` for `account`.
pub fn statement(partition: &str, region: &str, bucket: &str, prefix: &str, account: &str) -> Value {
    let under = if prefix.is_empty() { String::new() } else { format!("{prefix}/") };
    json!({
        "Sid": "AllowLoadBalancerAccessLogs",
        "Effect": "Allow",
        "Principal": principal(region),
        "Action": "s3:PutObject",
        "Resource": format!("arn:{partition}:s3:::{bucket}/{under}AWSLogs/{account}/*"),
    })
}

/// The statement for the bucket at `addr` (physical name `name`), when the stack's load
/// balancer writes its access logs there.
pub fn for_bucket(cx: &Cx, addr: &Addr, name: &str) -> Option<Value> {
    let logs = cx.stack.load_balancer.as_ref()?.access_logs.as_ref()?;
    (Addr::new(Kind::Bucket, &logs.bucket) == *addr)
        .then(|| statement(cx.partition(), cx.region(), name, &logs.prefix, &cx.account))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regions_with_an_elb_account_allow_its_root() {
        assert_eq!(elb_account("ap-northeast-2"), Some("600734575887"));
        assert_eq!(elb_account("us-east-1"), Some("127311923021"));
        assert_eq!(ELB_ACCOUNTS.len(), 21);
        let s = statement("aws", "ap-northeast-2", "b-logs", "alb", "123456789012");
        assert_eq!(
            s,
            json!({"Sid": "AllowLoadBalancerAccessLogs", "Effect": "Allow",
                   "Principal": {"AWS": "arn:aws:iam::600734575887:root"}, "Action": "s3:PutObject",
                   "Resource": "arn:aws:s3:::b-logs/alb/AWSLogs/123456789012/*"})
        );
    }

    #[test]
    fn newer_regions_allow_the_log_delivery_service() {
        for region in ["ap-southeast-3", "eu-central-2", "me-central-1", "il-central-1"] {
            assert_eq!(elb_account(region), None, "{region}");
            assert_eq!(principal(region), json!({"Service": SERVICE_PRINCIPAL}));
        }
    }

    #[test]
    fn an_empty_prefix_writes_at_the_top() {
        let s = statement("aws", "eu-west-1", "b", "", "111122223333");
        assert_eq!(s["Resource"], "arn:aws:s3:::b/AWSLogs/111122223333/*");
    }
}
