//! `existing:`: what the stack uses and never owns, looked up in wave one of every read.
//! No provider desires or reads these as the stack's, so nothing here is ever created,
//! updated, adopted or deleted; the plan lists what each lookup resolved to.
//!
//! - The VPC and subnets are EC2 describes with filters (`vpc-id`/`subnet-id`, `tag:Name`,
//!   `tag:<key>`), sent beside the EC2 snapshot's own. A filter, not the ids parameter:
//!   an id that does not exist matches nothing (listed as such) instead of failing the read.
//!   A subnet lookup counts only the subnets of the existing VPC. What they resolve to
//!   stands in the snapshot at `vpc.main` and `subnet.<tier>-<i>`, the addresses the
//!   stack's own network would have, so everything that refers to the network reads and
//!   diffs as it does with the stack's own.
//! - A hosted zone: `GetHostedZone` by id, or `ListHostedZonesByName` from the name
//!   (zones come back in name order from there; only exact names count: Route 53 API
//!   Reference, ListHostedZonesByName). A public and a private zone of one name are two
//!   candidates: the id picks one.
//! - A certificate: `DescribeCertificate` by ARN, or `ListCertificates` of issued ones by
//!   domain (the certificate's own name or one of its alternative names). A listener
//!   takes only an issued certificate.
//! - A KMS key: `DescribeKey`, which takes a key id, key ARN or alias name (KMS API
//!   Reference, DescribeKey `KeyId`); it must be enabled.
//! - An IAM role: `GetRole` and `ListInstanceProfilesForRole` (the fleet uses the role
//!   through its instance profile).

use super::live::Live;
use crate::apply::StepError;
use crate::aws::{call_error, Aws};
use crate::engine::{Addr, Kind};
use crate::preflight::Problem;
use aws_sdk_ec2::types::{Filter, Subnet, Vpc};
use bumarket_stack::{Lookup, Stack};

/// The lookups' calls (all reads).
pub const CALLS: &[&str] = &[
    "ec2:DescribeVpcs",
    "ec2:DescribeSubnets",
    "route53:GetHostedZone",
    "route53:ListHostedZonesByName",
    "acm:DescribeCertificate",
    "acm:ListCertificates",
    "kms:DescribeKey",
    "iam:GetRole",
    "iam:ListInstanceProfilesForRole",
];

/// The network's lookups: the VPC, then each public and private subnet.
#[derive(Debug, Clone, Default)]
pub struct NetworkLookups {
    vpc: Option<Lookup>,
    public: Vec<Lookup>,
    private: Vec<Lookup>,
}

impl NetworkLookups {
    pub fn any(&self) -> bool {
        self.vpc.is_some()
    }
}

/// Every lookup of the file.
#[derive(Debug, Clone, Default)]
pub struct Lookups {
    pub network: NetworkLookups,
    hosted_zone: Option<Lookup>,
    certificate: Option<Lookup>,
    kms_key: Option<Lookup>,
    role: Option<Lookup>,
    /// `domain.name`, which must lie in the hosted zone.
    domain: Option<String>,
    /// The fleet's instances carry the role's instance profile, which it must then have.
    role_for_fleet: bool,
}

impl Lookups {
    pub fn of(stack: &Stack) -> Lookups {
        let Some(e) = &stack.existing else { return Lookups::default() };
        Lookups {
            network: NetworkLookups {
                vpc: e.vpc.clone(),
                public: e.public_subnets.clone(),
                private: e.private_subnets.clone(),
            },
            hosted_zone: e.hosted_zone.clone(),
            certificate: e.certificate.clone(),
            kms_key: e.kms_key.clone(),
            role: e.role.clone(),
            domain: stack.domain.as_ref().map(|d| d.name.clone()),
            role_for_fleet: stack.fleet.as_ref().and_then(|f| f.instance_role.as_deref())
                == Some(bumarket_stack::EXISTING_ROLE),
        }
    }
}

/// What each network lookup matched, before the one-match rule.
#[derive(Debug, Default)]
pub struct NetworkFound {
    vpc: Vec<Vpc>,
    public: Vec<Vec<Subnet>>,
    private: Vec<Vec<Subnet>>,
}

fn filters(l: &Lookup, id_filter: &str) -> Vec<Filter> {
    let f = |name: String, v: &str| Filter::builder().name(name).values(v).build();
    let mut out = Vec::new();
    if let Some(id) = &l.id {
        out.push(f(id_filter.to_string(), id));
    }
    if let Some(name) = &l.name {
        out.push(f("tag:Name".into(), name));
    }
    out.extend(l.tags.iter().map(|(k, v)| f(format!("tag:{k}"), v)));
    out
}

/// The network's describes, all at once (the EC2 snapshot's wave).
pub async fn fetch_network(ec2: &aws_sdk_ec2::Client, l: &NetworkLookups) -> Result<NetworkFound, StepError> {
    let Some(vpc) = &l.vpc else { return Ok(NetworkFound::default()) };
    let vpcs = async {
        let out = ec2
            .describe_vpcs()
            .set_filters(Some(filters(vpc, "vpc-id")))
            .send()
            .await
            .map_err(|e| call_error("ec2:DescribeVpcs", e))?;
        Ok::<_, StepError>(out.vpcs.unwrap_or_default())
    };
    fn subnets<'a>(
        ec2: &'a aws_sdk_ec2::Client,
        list: &'a [Lookup],
    ) -> impl std::future::Future<Output = Result<Vec<Vec<Subnet>>, StepError>> + 'a {
        let each = list.iter().map(move |s| async move {
            let out = ec2
                .describe_subnets()
                .set_filters(Some(filters(s, "subnet-id")))
                .send()
                .await
                .map_err(|e| call_error("ec2:DescribeSubnets", e))?;
            Ok::<_, StepError>(out.subnets.unwrap_or_default())
        });
        futures::future::try_join_all(each)
    }
    let (vpc, public, private) = tokio::try_join!(vpcs, subnets(ec2, &l.public), subnets(ec2, &l.private))?;
    Ok(NetworkFound { vpc, public, private })
}

fn name_tag(tags: &[aws_sdk_ec2::types::Tag]) -> Option<&str> {
    tags.iter().find(|t| t.key() == Some("Name")).and_then(|t| t.value())
}

fn vpc_detail(v: &Vpc) -> String {
    let name = name_tag(v.tags()).map(|n| format!("{n}, ")).unwrap_or_default();
    format!("{} ({name}{})", v.vpc_id().unwrap_or_default(), v.cidr_block().unwrap_or_default())
}

fn subnet_detail(s: &Subnet) -> String {
    let name = name_tag(s.tags()).map(|n| format!("{n}, ")).unwrap_or_default();
    format!(
        "{} ({name}{}, {})",
        s.subnet_id().unwrap_or_default(),
        s.availability_zone().unwrap_or_default(),
        s.cidr_block().unwrap_or_default()
    )
}

/// The one match, or why there is not exactly one (its candidates listed).
fn one<'a, T>(found: &'a [T], what: &str, l: &Lookup, detail: impl Fn(&T) -> String) -> Result<&'a T, String> {
    match found {
        [one] => Ok(one),
        [] => Err(format!("no {what} matches {l}")),
        many => {
            Err(format!("{} {what}s match {l}: {}", many.len(), many.iter().map(detail).collect::<Vec<_>>().join("; ")))
        }
    }
}

impl NetworkFound {
    fn vpc(&self, l: &NetworkLookups) -> Option<Result<&Vpc, String>> {
        Some(one(&self.vpc, "VPC", l.vpc.as_ref()?, vpc_detail))
    }

    /// Each subnet lookup of a tier: the one match in the existing VPC.
    fn tier<'a>(&'a self, l: &NetworkLookups, public: bool) -> Vec<Result<&'a Subnet, String>> {
        let (lookups, found) = if public { (&l.public, &self.public) } else { (&l.private, &self.private) };
        let vpc = self.vpc(l).and_then(Result::ok).and_then(|v| v.vpc_id());
        lookups
            .iter()
            .zip(found)
            .map(|(lookup, all)| {
                let inside: Vec<Subnet> = all.iter().filter(|s| vpc.is_none() || s.vpc_id() == vpc).cloned().collect();
                if inside.is_empty() && !all.is_empty() {
                    let elsewhere: Vec<String> = all.iter().map(subnet_detail).collect();
                    return Err(format!(
                        "no subnet of the existing VPC matches {lookup}; outside it: {}",
                        elsewhere.join("; ")
                    ));
                }
                let picked = one(&inside, "subnet", lookup, subnet_detail)?.subnet_id();
                all.iter().find(|s| s.subnet_id() == picked).ok_or_else(String::new)
            })
            .collect()
    }

    /// Live id → the address it stands at, for each lookup that matched exactly one.
    pub fn addresses_of(&self, l: &NetworkLookups) -> Vec<(String, Addr)> {
        let mut out = Vec::new();
        if let Some(Ok(v)) = self.vpc(l) {
            out.extend(v.vpc_id().map(|id| (id.to_string(), Addr::new(Kind::Vpc, "main"))));
        }
        for (public, tier) in [(true, "public"), (false, "private")] {
            for (i, s) in self.tier(l, public).into_iter().enumerate() {
                if let Some(id) = s.ok().and_then(|s| s.subnet_id()) {
                    out.push((id.to_string(), Addr::new(Kind::Subnet, format!("{tier}-{i}"))));
                }
            }
        }
        out
    }
}

/// One resolved lookup, as the plan shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    /// The file's key: `vpc`, `public_subnets[0]`, `hosted_zone`, ...
    pub key: String,
    /// The id the stack uses: VPC or subnet id, zone id, certificate or key ARN, role ARN.
    pub id: String,
    /// What it is, in a few words.
    pub detail: String,
    /// A subnet's availability zone, a zone's domain name, a role's instance profile.
    pub extra: Option<String>,
}

/// Everything the file's `existing:` resolved to, and the lookups that did not match
/// exactly one (as problems at their lines).
#[derive(Debug, Clone, Default)]
pub struct Resolved {
    pub found: Vec<Found>,
    pub problems: Vec<Problem>,
}

impl Resolved {
    pub fn get(&self, key: &str) -> Option<&Found> {
        self.found.iter().find(|f| f.key == key)
    }

    /// The availability zones of the existing subnets of a tier, in the file's order.
    pub fn zones(&self, tier: &str) -> Vec<String> {
        let prefix = format!("{tier}_subnets[");
        self.found.iter().filter(|f| f.key.starts_with(&prefix)).filter_map(|f| f.extra.clone()).collect()
    }

    fn add(&mut self, keys: &[&str], r: Result<Found, String>) {
        match r {
            Ok(f) => self.found.push(f),
            Err(message) => self.problems.push(Problem {
                keys: std::iter::once("existing").chain(keys.iter().copied()).map(String::from).collect(),
                message: format!("`existing.{}`: {message}", shown_key(keys)),
                label: "expected exactly one match".into(),
                help: Some("look it up by its id, or by a name or tags only it has".into()),
            }),
        }
    }
}

/// `public_subnets[1]` for the keys `public_subnets`, `1`.
fn shown_key(keys: &[&str]) -> String {
    keys.iter().fold(String::new(), |out, k| match k.parse::<usize>() {
        Ok(i) => format!("{out}[{i}]"),
        Err(_) if out.is_empty() => k.to_string(),
        Err(_) => format!("{out}.{k}"),
    })
}

/// Resolve every lookup of the file.
pub async fn resolve(aws: &Aws, l: &Lookups, live: &Live) -> Result<Resolved, StepError> {
    let net = async {
        match l.network.any() {
            true => live.ec2().await.map(Some),
            false => Ok(None),
        }
    };
    let (snap, zone, certificate, key, role) = tokio::try_join!(
        net,
        opt(l.hosted_zone.as_ref(), |x| hosted_zone(aws, x)),
        opt(l.certificate.as_ref(), |x| certificate(aws, x)),
        opt(l.kms_key.as_ref(), |x| kms_key(aws, x)),
        opt(l.role.as_ref(), |x| role(aws, x)),
    )?;
    let mut r = Resolved::default();
    if let (Some(snap), Some(_)) = (snap, &l.network.vpc) {
        let found = &snap.existing;
        if let Some(v) = found.vpc(&l.network) {
            r.add(
                &["vpc"],
                v.map(|v| Found {
                    key: "vpc".into(),
                    id: v.vpc_id().unwrap_or_default().into(),
                    detail: vpc_detail(v),
                    extra: None,
                }),
            );
        }
        for (public, tier) in [(true, "public"), (false, "private")] {
            let mut zones: Vec<String> = Vec::new();
            for (i, s) in found.tier(&l.network, public).into_iter().enumerate() {
                let key = format!("{tier}_subnets[{i}]");
                let s = s.and_then(|s| {
                    let zone = s.availability_zone().unwrap_or_default().to_string();
                    if zones.contains(&zone) {
                        return Err(format!(
                            "{} is in {zone}, as another of `existing.{tier}_subnets` is; a load balancer and a database subnet group take one subnet per availability zone",
                            subnet_detail(s)
                        ));
                    }
                    zones.push(zone.clone());
                    Ok(Found { key: key.clone(), id: s.subnet_id().unwrap_or_default().into(), detail: subnet_detail(s), extra: Some(zone) })
                });
                r.add(&[&format!("{tier}_subnets"), &i.to_string()], s);
            }
        }
    }
    // ACM validates through public DNS, and users reach the name through it: the domain
    // needs a public zone that holds its name.
    if let (Some(domain), Some(Ok((id, detail, Some(zone_name))))) = (&l.domain, &zone) {
        let holds = domain == zone_name || domain.ends_with(&format!(".{zone_name}"));
        let problem = |keys: &[&str], message: String, label: &str| Problem {
            keys: keys.iter().map(|k| k.to_string()).collect(),
            message,
            label: label.into(),
            help: Some("look up the public hosted zone of the domain's name under `existing.hosted_zone`".into()),
        };
        if !holds {
            let message = format!("`{domain}` is not in the hosted zone {zone_name} ({id})");
            r.problems.push(problem(&["domain", "name"], message, "not in the zone"));
        } else if detail.ends_with(", private)") {
            let message = format!("the hosted zone {zone_name} ({id}) is private: ACM validates and users resolve the name through public DNS");
            r.problems.push(problem(&["existing", "hosted_zone"], message, "a private zone"));
        }
    }
    if let (true, Some(Ok((arn, _, None)))) = (l.role_for_fleet, &role) {
        r.problems.push(Problem {
            keys: ["fleet", "instance_role"].map(String::from).to_vec(),
            message: format!("the role {arn} has no instance profile: the fleet's instances carry a role only through one"),
            label: "no instance profile".into(),
            help: Some("add one to the role (`aws iam create-instance-profile`, then `aws iam add-role-to-instance-profile`), or use a role of `access.roles` with `instance_profile: true`".into()),
        });
    }
    for (key, got) in [("hosted_zone", zone), ("certificate", certificate), ("kms_key", key), ("role", role)] {
        if let Some(got) = got {
            r.add(&[key], got.map(|(id, detail, extra)| Found { key: key.into(), id, detail, extra }));
        }
    }
    Ok(r)
}

/// (id, detail, extra) of one lookup, or why it is not exactly one.
type Answer = Result<(String, String, Option<String>), String>;

async fn opt<'a, F, Fut>(l: Option<&'a Lookup>, f: F) -> Result<Option<Answer>, StepError>
where
    F: FnOnce(&'a Lookup) -> Fut,
    Fut: std::future::Future<Output = Result<Answer, StepError>>,
{
    match l {
        Some(l) => f(l).await.map(Some),
        None => Ok(None),
    }
}

/// Route 53 names end with a dot; the file's do not.
fn fqdn(name: &str) -> String {
    format!("{}.", name.trim_end_matches('.').to_ascii_lowercase())
}

async fn hosted_zone(aws: &Aws, l: &Lookup) -> Result<Answer, StepError> {
    let detail = |id: &str, name: &str, private: bool| {
        let (id, name) = (id.trim_start_matches("/hostedzone/"), name.trim_end_matches('.'));
        (
            id.to_string(),
            format!("{id} ({name}, {})", if private { "private" } else { "public" }),
            Some(name.to_string()),
        )
    };
    if let Some(id) = &l.id {
        return match aws.route53.get_hosted_zone().id(id).send().await {
            Ok(out) => Ok(match out.hosted_zone {
                Some(z) => Ok(detail(z.id(), z.name(), z.config().is_some_and(|c| c.private_zone()))),
                None => Err(format!("no hosted zone matches {l}")),
            }),
            Err(e) => {
                let e = call_error("route53:GetHostedZone", e);
                if e.is_code("NoSuchHostedZone") {
                    Ok(Err(format!("no hosted zone matches {l}")))
                } else {
                    Err(e)
                }
            }
        };
    }
    let name = fqdn(l.name.as_deref().unwrap_or_default());
    let out = aws
        .route53
        .list_hosted_zones_by_name()
        .dns_name(&name)
        .max_items(100)
        .send()
        .await
        .map_err(|e| call_error("route53:ListHostedZonesByName", e))?;
    let zones: Vec<_> = out.hosted_zones().iter().filter(|z| fqdn(z.name()) == name).collect();
    let shown = |z: &&aws_sdk_route53::types::HostedZone| {
        detail(z.id(), z.name(), z.config().is_some_and(|c| c.private_zone())).1
    };
    Ok(one(&zones, "hosted zone", l, shown)
        .map(|z| detail(z.id(), z.name(), z.config().is_some_and(|c| c.private_zone()))))
}

async fn certificate(aws: &Aws, l: &Lookup) -> Result<Answer, StepError> {
    use aws_sdk_acm::types::CertificateStatus;
    if let Some(arn) = &l.id {
        return match aws.acm.describe_certificate().certificate_arn(arn).send().await {
            Ok(out) => {
                let Some(c) = out.certificate else { return Ok(Err(format!("no certificate matches {l}"))) };
                let status = c.status().map(|s| s.as_str().to_string()).unwrap_or_default();
                let domain = c.domain_name().unwrap_or_default().to_string();
                if c.status() != Some(&CertificateStatus::Issued) {
                    return Ok(Err(format!(
                        "certificate {arn} ({domain}) is {status}; a listener takes only an issued certificate"
                    )));
                }
                Ok(Ok((arn.clone(), format!("{arn} ({domain}, {status})"), Some(domain))))
            }
            Err(e) => {
                let e = call_error("acm:DescribeCertificate", e);
                if e.is_code("ResourceNotFoundException") {
                    Ok(Err(format!("no certificate matches {l}")))
                } else {
                    Err(e)
                }
            }
        };
    }
    let name = l.name.as_deref().unwrap_or_default().to_ascii_lowercase();
    let mut all = Vec::new();
    let mut pages = aws.acm.list_certificates().certificate_statuses(CertificateStatus::Issued).into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| call_error("acm:ListCertificates", e))?;
        all.extend(page.certificate_summary_list.unwrap_or_default());
    }
    let matching: Vec<_> = all
        .into_iter()
        .filter(|c| {
            c.domain_name().is_some_and(|d| d.eq_ignore_ascii_case(&name))
                || c.subject_alternative_name_summaries().iter().any(|d| d.eq_ignore_ascii_case(&name))
        })
        .collect();
    let shown = |c: &aws_sdk_acm::types::CertificateSummary| {
        format!("{} ({})", c.certificate_arn().unwrap_or_default(), c.domain_name().unwrap_or_default())
    };
    Ok(one(&matching, "issued certificate", l, shown).map(|c| {
        let arn = c.certificate_arn().unwrap_or_default().to_string();
        (arn, shown(c), c.domain_name().map(String::from))
    }))
}

async fn kms_key(aws: &Aws, l: &Lookup) -> Result<Answer, StepError> {
    let key = match (&l.id, &l.name) {
        (Some(id), _) => id.clone(),
        (None, Some(alias)) if alias.starts_with("alias/") => alias.clone(),
        (None, name) => format!("alias/{}", name.as_deref().unwrap_or_default()),
    };
    match aws.kms.describe_key().key_id(&key).send().await {
        Ok(out) => {
            let Some(m) = out.key_metadata else { return Ok(Err(format!("no KMS key matches {l}"))) };
            let arn = m.arn().unwrap_or_default().to_string();
            let state = m.key_state().map(|s| s.as_str().to_string()).unwrap_or_default();
            if state != "Enabled" {
                return Ok(Err(format!("KMS key {arn} is {state}; it must be enabled to encrypt")));
            }
            Ok(Ok((arn.clone(), format!("{arn} ({key})"), None)))
        }
        Err(e) => {
            let e = call_error("kms:DescribeKey", e);
            if e.is_code("NotFoundException") {
                Ok(Err(format!("no KMS key matches {l}")))
            } else {
                Err(e)
            }
        }
    }
}

async fn role(aws: &Aws, l: &Lookup) -> Result<Answer, StepError> {
    let name = match (&l.id, &l.name) {
        (Some(arn), _) => arn.rsplit('/').next().unwrap_or_default().to_string(),
        (None, name) => name.clone().unwrap_or_default(),
    };
    let role = aws.iam.get_role().role_name(&name).send();
    let profiles = aws.iam.list_instance_profiles_for_role().role_name(&name).send();
    let (role, profiles) = tokio::join!(role, profiles);
    let role = match role {
        Ok(out) => out.role,
        Err(e) => {
            let e = call_error("iam:GetRole", e);
            if e.is_code("NoSuchEntity") {
                return Ok(Err(format!("no IAM role matches {l}")));
            }
            return Err(e);
        }
    };
    let Some(role) = role else { return Ok(Err(format!("no IAM role matches {l}"))) };
    if l.id.as_deref().is_some_and(|arn| arn != role.arn()) {
        return Ok(Err(format!("no IAM role matches {l} (the role of that name is {})", role.arn())));
    }
    let profiles = profiles.map_err(|e| call_error("iam:ListInstanceProfilesForRole", e))?;
    let profile = profiles.instance_profiles().first().map(|p| p.instance_profile_name().to_string());
    let with = profile.as_ref().map(|p| format!(", instance profile {p}")).unwrap_or_default();
    Ok(Ok((role.arn().to_string(), format!("{} ({}{with})", role.arn(), role.role_name()), profile)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subnet(id: &str, vpc: &str, zone: &str) -> Subnet {
        Subnet::builder().subnet_id(id).vpc_id(vpc).availability_zone(zone).cidr_block("10.9.0.0/24").build()
    }

    #[test]
    fn a_subnet_lookup_counts_only_the_existing_vpcs_subnets_and_names_its_candidates() {
        let by_tag = Lookup { tags: [("tier".to_string(), "web".to_string())].into(), ..Lookup::default() };
        let l = NetworkLookups {
            vpc: Some(Lookup { id: Some("vpc-1".into()), ..Lookup::default() }),
            public: vec![by_tag.clone(), by_tag.clone()],
            private: vec![],
        };
        let found = NetworkFound {
            vpc: vec![Vpc::builder().vpc_id("vpc-1").cidr_block("10.9.0.0/16").build()],
            public: vec![
                vec![subnet("subnet-a", "vpc-1", "ap-northeast-2a"), subnet("subnet-x", "vpc-2", "ap-northeast-2a")],
                vec![subnet("subnet-b", "vpc-1", "ap-northeast-2a"), subnet("subnet-c", "vpc-1", "ap-northeast-2c")],
            ],
            private: vec![],
        };
        let tier = found.tier(&l, true);
        assert_eq!(tier[0].as_ref().unwrap().subnet_id(), Some("subnet-a"));
        let many = tier[1].as_ref().unwrap_err();
        assert!(many.starts_with("2 subnets match tag tier=web: subnet-b (ap-northeast-2a"), "{many}");
        assert_eq!(
            found.addresses_of(&l),
            [
                ("vpc-1".to_string(), Addr::new(Kind::Vpc, "main")),
                ("subnet-a".into(), Addr::new(Kind::Subnet, "public-0"))
            ]
        );
        let none = NetworkFound { vpc: vec![], ..NetworkFound::default() };
        assert_eq!(none.vpc(&l).unwrap().unwrap_err(), "no VPC matches id vpc-1");
    }
}
