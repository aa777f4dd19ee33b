//! Naming rules: stack and logical names, AWS physical names, ARNs, regions, addresses.
//!
//! Each checker returns the list of rules a name breaks, one sentence fragment per rule,
//! so that every broken rule becomes its own diagnostic. Hand-written (no regex crate): the
//! reader must stay well under a millisecond.

/// The 12-digit account id bucket names are checked with.
pub const EXAMPLE_ACCOUNT: &str = "123456789012";

fn lower_digit_hyphen(s: &str) -> bool {
    s.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

/// `stack:`: 1-24 chars of a-z, 0-9 and `-`, starting with a letter, not ending with `-`.
pub fn stack_name(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let n = s.chars().count();
    if !(1..=24).contains(&n) {
        out.push(format!("is {n} characters long; a stack name has 1 to 24"));
    }
    if !lower_digit_hyphen(s) {
        out.push("may only hold lower-case letters, digits and hyphens".into());
    }
    if !s.starts_with(|c: char| c.is_ascii_lowercase()) && n > 0 {
        out.push("must start with a lower-case letter".into());
    }
    if s.ends_with('-') {
        out.push("must not end with a hyphen".into());
    }
    out
}

/// Logical names of buckets, roles and groups: 1-20 chars of a-z, 0-9 and `-`.
pub fn logical_name(s: &str) -> Option<String> {
    let n = s.chars().count();
    if !(1..=20).contains(&n) {
        return Some(format!("is {n} characters long; logical names have 1 to 20"));
    }
    (!lower_digit_hyphen(s)).then(|| "may only hold lower-case letters, digits and hyphens".into())
}

/// `ap-northeast-2`, `us-gov-west-1`: `[a-z]{2}(-gov)?-[a-z]+-\d`.
pub fn is_region(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    let (country, rest) = match parts.as_slice() {
        [c, "gov", rest @ ..] | [c, rest @ ..] => (c, rest),
        [] => return false,
    };
    let [area, digit] = rest else { return false };
    country.len() == 2
        && country.chars().all(|c| c.is_ascii_lowercase())
        && !area.is_empty()
        && area.chars().all(|c| c.is_ascii_lowercase())
        && digit.len() == 1
        && digit.chars().all(|c| c.is_ascii_digit())
}

/// EC2-style instance type: `family.size`, e.g. `t2.micro`, `m5d.24xlarge`.
pub fn is_instance_type(s: &str) -> bool {
    let Some((family, size)) = s.split_once('.') else { return false };
    family.starts_with(|c: char| c.is_ascii_lowercase())
        && lower_digit_hyphen(family)
        && !size.is_empty()
        && size.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
}

/// A plausible e-mail address: `local@domain.tld`.
pub fn is_email(s: &str) -> bool {
    let Some((local, domain)) = s.split_once('@') else { return false };
    let labels: Vec<&str> = domain.split('.').collect();
    !local.is_empty()
        && !local.chars().any(|c| c.is_whitespace() || c == '@' || c.is_control())
        && labels.len() >= 2
        && labels.iter().all(|l| {
            !l.is_empty()
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_alphanumeric() || c == '-')
        })
        && labels.last().is_some_and(|t| t.len() >= 2 && t.chars().all(char::is_alphabetic))
}

/// IAM user/role/group/policy names: 1-`max` chars of `[A-Za-z0-9+=,.@_-]`.
pub fn iam_name(s: &str, max: usize) -> Vec<String> {
    let mut out = Vec::new();
    let n = s.chars().count();
    if !(1..=max).contains(&n) {
        out.push(format!("is {n} characters long; IAM allows 1 to {max}"));
    }
    let mut bad: Vec<String> = Vec::new();
    for c in s.chars().filter(|c| !(c.is_ascii_alphanumeric() || "+=,.@_-".contains(*c))) {
        if !bad.contains(&c.to_string()) {
            bad.push(c.to_string());
        }
    }
    if !bad.is_empty() {
        let shown = crate::suggest::list(bad.iter().map(String::as_str));
        out.push(format!("contains {shown}; IAM names allow letters, digits and `+=,.@_-`"));
    }
    out
}

/// RDS DB instance identifiers.
pub fn rds_identifier(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let n = s.chars().count();
    if !(1..=63).contains(&n) {
        out.push(format!("is {n} characters long; RDS allows 1 to 63"));
    }
    if !s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
        out.push("may only hold letters, digits and hyphens".into());
    }
    if n > 0 && !s.starts_with(|c: char| c.is_ascii_alphabetic()) {
        out.push("must start with a letter".into());
    }
    if s.contains("--") {
        out.push("must not contain two hyphens in a row".into());
    }
    if s.ends_with('-') {
        out.push("must not end with a hyphen".into());
    }
    out
}

/// The parts of an ARN: partition, service, region, account, resource.
pub struct Arn<'a> {
    pub service: &'a str,
    pub region: &'a str,
    pub account: &'a str,
    pub resource: &'a str,
}

pub fn arn(s: &str) -> Option<Arn<'_>> {
    let mut it = s.splitn(6, ':');
    let (prefix, partition) = (it.next()?, it.next()?);
    let ok = prefix == "arn" && matches!(partition, "aws" | "aws-cn" | "aws-us-gov");
    let arn = Arn { service: it.next()?, region: it.next()?, account: it.next()?, resource: it.next()? };
    (ok && !arn.resource.is_empty()).then_some(arn)
}

fn is_account(s: &str) -> bool {
    s.len() == 12 && s.chars().all(|c| c.is_ascii_digit())
}

/// An ACM certificate ARN; returns its region.
pub fn acm_certificate_region(s: &str) -> Option<&str> {
    let a = arn(s)?;
    (a.service == "acm"
        && is_region(a.region)
        && is_account(a.account)
        && a.resource.len() > 12
        && a.resource.starts_with("certificate/"))
    .then_some(a.region)
}

/// A Secrets Manager secret ARN.
pub fn is_secret_arn(s: &str) -> bool {
    arn(s).is_some_and(|a| {
        a.service == "secretsmanager"
            && is_region(a.region)
            && is_account(a.account)
            && a.resource.len() > 7
            && a.resource.starts_with("secret:")
    })
}

/// An IAM managed policy ARN (`arn:aws:iam::aws:policy/Name` or a customer one).
pub fn is_policy_arn(s: &str) -> bool {
    arn(s).is_some_and(|a| {
        a.service == "iam"
            && a.region.is_empty()
            && (a.account == "aws" || is_account(a.account))
            && a.resource.len() > 7
            && a.resource.starts_with("policy/")
    })
}

/// Substitutes `{stack}`, `{account_id}` and `{region}` in a bucket-name template.
pub fn bucket_name(template: &str, stack: &str, account_id: &str, region: &str) -> String {
    template.replace("{stack}", stack).replace("{account_id}", account_id).replace("{region}", region)
}

/// Placeholders in a template that are not `{stack}`, `{account_id}` or `{region}`, or a
/// brace that is not part of any placeholder.
pub fn template_problems(template: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = template;
    while let Some(open) = rest.find(['{', '}']) {
        if rest[open..].starts_with('}') {
            out.push("has a `}` without a `{`".into());
            rest = &rest[open + 1..];
            continue;
        }
        let Some(close) = rest[open..].find('}') else {
            out.push("has a `{` that is never closed".into());
            break;
        };
        let name = &rest[open + 1..open + close];
        if !["stack", "account_id", "region"].contains(&name) {
            let hint = crate::suggest::closest(name, ["stack", "account_id", "region"])
                .map_or(String::new(), |b| format!(" (did you mean `{{{b}}}`?)"));
            out.push(format!("uses unknown placeholder `{{{name}}}`{hint}; only `{{stack}}`, `{{account_id}}` and `{{region}}` exist"));
        }
        rest = &rest[open + close + 1..];
    }
    out
}

/// S3's bucket naming rules, one entry per rule the name breaks.
pub fn s3_bucket_problems(name: &str) -> Vec<String> {
    let mut out = Vec::new();
    let n = name.chars().count();
    if !(3..=63).contains(&n) {
        out.push(format!("is {n} characters long; S3 allows 3 to 63"));
    }
    let mut bad: Vec<String> = Vec::new();
    for c in name.chars().filter(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '.' || *c == '-')) {
        if !bad.contains(&c.to_string()) {
            bad.push(c.to_string());
        }
    }
    if !bad.is_empty() {
        let shown = crate::suggest::list(bad.iter().map(String::as_str));
        out.push(format!("contains {shown}; S3 allows only lower-case letters, digits, dots and hyphens"));
    }
    let edge_ok = |c: Option<char>| c.is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    if n > 0 && !(edge_ok(name.chars().next()) && edge_ok(name.chars().last())) {
        out.push("must begin and end with a lower-case letter or digit".into());
    }
    if name.contains("..") {
        out.push("must not contain two adjacent dots".into());
    }
    let parts: Vec<&str> = name.split('.').collect();
    if parts.len() == 4 && parts.iter().all(|p| !p.is_empty() && p.len() <= 3 && p.chars().all(|c| c.is_ascii_digit()))
    {
        out.push("must not look like an IP address".into());
    }
    for prefix in ["xn--", "sthree-", "amzn-s3-demo-"] {
        if name.starts_with(prefix) {
            out.push(format!("must not start with `{prefix}` (reserved by S3)"));
        }
    }
    for suffix in ["-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3"] {
        if name.ends_with(suffix) {
            out.push(format!("must not end with `{suffix}` (reserved by S3)"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stack_and_logical_names() {
        assert!(stack_name("bumarket").is_empty());
        assert_eq!(stack_name("Bu_market-").len(), 3);
        assert_eq!(stack_name("1abc").len(), 1);
        assert!(stack_name(&"a".repeat(25))[0].contains("25 characters"));
        assert!(logical_name("images").is_none());
        assert!(logical_name("Images").is_some());
    }

    #[test]
    fn regions_types_emails() {
        for ok in ["ap-northeast-2", "us-gov-west-1", "eu-central-1"] {
            assert!(is_region(ok), "{ok}");
        }
        for bad in ["ap-northeast", "AP-northeast-2", "apn-northeast-2", "ap-northeast-12", "us-gov-1"] {
            assert!(!is_region(bad), "{bad}");
        }
        assert!(is_instance_type("t2.micro") && is_instance_type("m5d.24xlarge") && is_instance_type("u-6tb1.metal"));
        assert!(!is_instance_type("t2") && !is_instance_type("T2.micro") && !is_instance_type("t2."));
        assert!(is_email("team@bumarket.example") && !is_email("team@localhost") && !is_email("a b@x.com"));
    }

    #[test]
    fn arns() {
        assert_eq!(
            acm_certificate_region("arn:aws:acm:ap-northeast-2:123456789012:certificate/abc-123"),
            Some("ap-northeast-2")
        );
        assert!(acm_certificate_region("arn:aws:acm:ap-northeast-2:1234:certificate/abc").is_none());
        assert!(is_secret_arn("arn:aws:secretsmanager:ap-northeast-2:123456789012:secret:db-AbCdEf"));
        assert!(is_policy_arn("arn:aws:iam::aws:policy/ReadOnlyAccess"));
        assert!(!is_policy_arn("arn:aws:s3:::bucket"));
    }

    #[test]
    fn buckets() {
        let name = bucket_name("{stack}-logs-{account_id}-{region}", "bumarket", EXAMPLE_ACCOUNT, "ap-northeast-2");
        assert_eq!(name, "bumarket-logs-123456789012-ap-northeast-2");
        assert!(s3_bucket_problems(&name).is_empty());
        assert_eq!(s3_bucket_problems("My_Bucket").len(), 2);
        assert_eq!(s3_bucket_problems("192.168.5.4").len(), 1);
        assert_eq!(s3_bucket_problems("xn--a..b-s3alias").len(), 3);
        assert_eq!(s3_bucket_problems("ab").len(), 1);
        assert!(template_problems("{stack}-{acount_id}")[0].contains("did you mean `{account_id}`"));
        assert_eq!(template_problems("{stack-x").len(), 1);
        assert!(rds_identifier("bumarket-db").is_empty());
        assert_eq!(rds_identifier("1a--").len(), 3);
        assert!(iam_name("bumarket-app", 64).is_empty() && !iam_name("a b", 64).is_empty());
    }
}
