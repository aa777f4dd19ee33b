//! `certificate.app`: the ACM certificate of `domain.name`, requested with DNS validation
//! (tagged in the request itself), its validation CNAME written into the domain's zone,
//! and waited for until ACM issues it. Its name cannot change (a new certificate
//! replaces it); tags change in place; `status` is what the stack wants of it, ISSUED: a
//! certificate still pending (a run killed while waiting, a delegation fixed since) is
//! planned as an update that writes the record again and waits.
//!
//! Facts relied on (ACM API Reference): `RequestCertificate` takes `Tags` and an
//! `IdempotencyToken` ("calls ... within one hour" with the same token return the same
//! certificate), so a request sent again after a lost answer makes no second one;
//! `DescribeCertificate`'s `DomainValidation.ResourceRecord` is "Required: No": it
//! appears some seconds after the request, so it is polled for; a certificate stays
//! PENDING_VALIDATION while ACM retries "for 72 hours"; `DeleteCertificate` answers
//! `ResourceInUseException` while a load balancer still uses it, which lasts a while after
//! the listener is gone. The validation CNAME stays on delete: ACM renews with it, and it
//! is the same record for every certificate of that name in the account ("ACM uses the
//! same CNAME record for ... the same domain name", ACM user guide, DNS validation), so
//! another certificate may need it.
//!
//! Read: the account's certificates are listed once (`ListCertificates`: one page for
//! up to 1,000) and those of the domain's name, with those the tagging index lists as
//! the stack's, are described and their tags read.

use super::zone_id;
use crate::apply::{Progress, StepError};
use crate::aws::call_error;
use crate::engine::{Addr, AttrSpec, Attrs, Desired, Kind, Observed, Ownership, Schema};
use crate::plan::{attr, AttrChange};
use crate::resources::wait::{until, Poll};
use crate::resources::{tag_delta, tags_from, tags_value, Cx, Live, Provider};
use async_trait::async_trait;
use aws_sdk_acm::types::{CertificateDetail, CertificateStatus, Tag, ValidationMethod};
use serde_json::json;
use std::collections::BTreeMap;
use std::time::Duration;

pub struct Certificates;

pub fn addr() -> Addr {
    Addr::new(Kind::Certificate, "app")
}

/// One certificate as ACM has it, with its tags.
#[derive(Debug, Clone)]
pub struct LiveCertificate {
    pub detail: CertificateDetail,
    pub tags: BTreeMap<String, String>,
}

impl LiveCertificate {
    pub fn arn(&self) -> &str {
        self.detail.certificate_arn().unwrap_or_default()
    }

    /// Every certificate of `domain` in the account, and the stack's by the tagging
    /// index (a certificate of a name the file no longer has).
    pub async fn fetch(cx: &Cx, live: &Live) -> Result<Vec<LiveCertificate>, StepError> {
        let domain = cx.stack.domain.as_ref().map(|d| d.name.clone());
        let listed = async {
            let Some(domain) = &domain else { return Ok(Vec::new()) };
            let mut arns = Vec::new();
            let mut pages = cx.aws.acm.list_certificates().into_paginator().send();
            while let Some(page) = pages.next().await {
                let page = page.map_err(|e| call_error("acm:ListCertificates", e))?;
                arns.extend(
                    page.certificate_summary_list()
                        .iter()
                        .filter(|c| c.domain_name().is_some_and(|d| d.eq_ignore_ascii_case(domain)))
                        .filter_map(|c| c.certificate_arn().map(String::from)),
                );
            }
            Ok::<_, StepError>(arns)
        };
        let (mut arns, tagged) = tokio::try_join!(listed, live.tagged())?;
        for t in crate::resources::monitoring::tagged_of(tagged, "acm") {
            if !arns.contains(&t.arn) {
                arns.push(t.arn.clone());
            }
        }
        let each = arns.iter().map(|arn| read_one(cx, arn));
        Ok(futures::future::try_join_all(each).await?.into_iter().flatten().collect())
    }
}

/// A certificate and its tags; `None` when it is gone (deleted since it was listed).
async fn read_one(cx: &Cx, arn: &str) -> Result<Option<LiveCertificate>, StepError> {
    let acm = &cx.aws.acm;
    let (detail, tags) = tokio::join!(
        acm.describe_certificate().certificate_arn(arn).send(),
        acm.list_tags_for_certificate().certificate_arn(arn).send()
    );
    let gone = |e: &StepError| e.is_code("ResourceNotFoundException");
    let detail = match detail.map_err(|e| call_error("acm:DescribeCertificate", e)) {
        Ok(out) => out.certificate,
        Err(e) if gone(&e) => return Ok(None),
        Err(e) => return Err(e),
    };
    let tags = match tags.map_err(|e| call_error("acm:ListTagsForCertificate", e)) {
        Ok(out) => {
            out.tags().iter().map(|t| (t.key().to_string(), t.value().unwrap_or_default().to_string())).collect()
        }
        Err(e) if gone(&e) => return Ok(None),
        Err(e) => return Err(e),
    };
    Ok(detail.map(|detail| LiveCertificate { detail, tags }))
}

fn status_of(d: &CertificateDetail) -> String {
    d.status().map(|s| s.as_str().to_string()).unwrap_or_default()
}

/// The certificate's validation record (name, value), once ACM has made it.
fn validation_record(d: &CertificateDetail) -> Option<(String, String)> {
    let r = d.domain_validation_options().first()?.resource_record()?;
    Some((r.name().to_string(), r.value().to_string()))
}

fn acm_tags(tags: &BTreeMap<String, String>) -> Vec<Tag> {
    tags.iter().map(|(k, v)| Tag::builder().key(k).value(v).build().expect("a key")).collect()
}

/// ACM's idempotency token: up to 32 word characters, the same for the same address of
/// the same stack, so a request sent again within the hour is the same request.
fn idempotency_token(cx: &Cx) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(format!("{}/{}", cx.stack.name, addr()).as_bytes());
    digest.iter().take(16).map(|b| format!("{b:02x}")).collect()
}

/// How often a pending certificate is looked at.
const EVERY: Duration = Duration::from_secs(10);
/// How long a pending certificate is awaited before the wait names the likely cause.
const SUSPECT_AFTER: Duration = Duration::from_secs(300);

/// Write the validation record (once ACM has made it) and wait until ACM issues the
/// certificate, saying what is awaited; a long wait names the likely cause.
async fn validate(cx: &Cx, arn: &str, p: &Progress<'_>) -> Result<(), StepError> {
    let domain = cx.stack.domain.as_ref().ok_or_else(|| StepError::new("plan", "the file has no `domain:`"))?;
    let zone = zone_id(cx)?;
    let acm = &cx.aws.acm;
    let describe = || async {
        let out = acm
            .describe_certificate()
            .certificate_arn(arn)
            .send()
            .await
            .map_err(|e| call_error("acm:DescribeCertificate", e))?;
        out.certificate.ok_or_else(|| StepError::missing("acm:DescribeCertificate", "the certificate"))
    };
    let say = |m: String| p.say(m);
    let record = until(&say, "ACM's validation record", Duration::from_secs(300), Duration::from_secs(2), || async {
        let d = describe().await?;
        Ok(match validation_record(&d) {
            Some(r) => Poll::Ready(Some(r)),
            None if d.status() == Some(&CertificateStatus::Issued) => Poll::Ready(None),
            None => Poll::Pending("not given yet".into()),
        })
    })
    .await?;
    let Some((name, value)) = record else { return Ok(()) };
    super::record::upsert_cname(cx, &zone, &name, &value).await?;
    p.say(format!("wrote the validation record {name} into zone {zone}"));
    let servers = std::sync::OnceLock::new();
    let started = std::time::Instant::now();
    let what = format!("ACM to issue the certificate of {}", domain.name);
    let waited = until(&say, &what, Duration::from_secs(domain.wait_timeout_seconds), EVERY, || async {
        let d = describe().await?;
        match d.status() {
            Some(CertificateStatus::Issued) => Ok(Poll::Ready(())),
            Some(CertificateStatus::PendingValidation) if started.elapsed() < SUSPECT_AFTER => {
                Ok(Poll::Pending(format!("PENDING_VALIDATION (ACM looks up {name} in public DNS)")))
            }
            Some(CertificateStatus::PendingValidation) => {
                if servers.get().is_none() {
                    let _ = servers.set(super::name_servers(cx, &zone).await?);
                }
                let ns = servers.get().cloned().unwrap_or_default();
                Ok(Poll::Pending(pending_cause(&name, &super::zone_name(cx), &ns)))
            }
            other => {
                let status = other.map(|s| s.as_str()).unwrap_or("unknown");
                let reason = d.failure_reason().map(|r| format!(" ({})", r.as_str())).unwrap_or_default();
                Err(StepError::new("acm:DescribeCertificate", format!("the certificate is {status}{reason}"))
                    .hint(format!(
                        "ACM gave up on it: delete it (`aws acm delete-certificate --certificate-arn {arn}`), then run apply again to request a new one"
                    )))
            }
        }
    })
    .await;
    match waited {
        // Out of time: say the likely cause, not only that time ran out.
        Err(e) if e.kind == crate::apply::ErrorKind::Timeout => {
            let ns = match servers.get() {
                Some(ns) => ns.clone(),
                None => super::name_servers(cx, &zone).await?,
            };
            let cause = pending_cause(&name, &super::zone_name(cx), &ns);
            Err(e.hint(format!("{cause}. Once it is, running apply again continues the wait (raise `domain.wait_timeout` to wait longer)")))
        }
        other => other,
    }
}

/// Why a certificate stays pending after its record was written: the likely cause.
/// `zone` is the hosted zone's domain.
pub fn pending_cause(record: &str, zone: &str, name_servers: &[String]) -> String {
    format!(
        "still PENDING_VALIDATION: ACM does not find {record} in public DNS. The likely cause: the registrar does not delegate {zone} to this hosted zone's name servers ({}); compare with `dig +short NS {zone}`",
        name_servers.join(", ")
    )
}

pub static SCHEMA: Schema = Schema {
    kind: Kind::Certificate,
    layer: 2,
    attrs: &[
        AttrSpec::replace("domain"),
        AttrSpec::replace("validation_method"),
        AttrSpec::update("status"),
        AttrSpec::update("tags"),
    ],
    deleted_after: &[Kind::Listener],
};

#[async_trait]
impl Provider for Certificates {
    fn calls(&self) -> crate::resources::Calls {
        crate::resources::Calls {
            reads: &["acm:ListCertificates", "acm:DescribeCertificate", "acm:ListTagsForCertificate"],
            writes: &[
                "acm:RequestCertificate",
                "acm:DeleteCertificate",
                "acm:AddTagsToCertificate",
                "acm:RemoveTagsFromCertificate",
                "route53:ChangeResourceRecordSets",
                "route53:GetChange",
                "route53:GetHostedZone",
            ],
        }
    }
    fn schema(&self) -> &'static Schema {
        &SCHEMA
    }

    fn desired(&self, cx: &Cx) -> Vec<Desired> {
        let (Some(d), Some(lb)) = (&cx.stack.domain, &cx.stack.load_balancer) else { return vec![] };
        if lb.certificate_arn.is_some() {
            return vec![];
        }
        let mut attrs = Attrs::new();
        attrs.insert("domain".into(), json!(d.name));
        attrs.insert("validation_method".into(), json!("DNS"));
        attrs.insert("status".into(), json!("ISSUED"));
        attrs.insert("tags".into(), tags_value(&cx.tags(&addr())));
        vec![Desired { addr: addr(), name: d.name.clone(), attrs, deps: super::zone_deps(cx) }]
    }

    async fn read(&self, cx: &Cx, live: &Live, wanted: &[&Desired]) -> Result<Vec<Observed>, StepError> {
        let mut out = Vec::new();
        for c in live.certificates(cx).await? {
            let domain = c.detail.domain_name().unwrap_or_default().to_string();
            let ownership = cx.tag_ownership("the certificate", &c.tags);
            // Another certificate of the name (made by hand, imported) is not a
            // conflict: certificates have no unique names, so the stack requests its own.
            if ownership != Ownership::Ours {
                continue;
            }
            let (addr, ownership) = cx.placed(Kind::Certificate, &domain, &c.tags, wanted, ownership);
            let mut attrs = Attrs::new();
            attrs.insert("domain".into(), json!(domain));
            let method = c.detail.domain_validation_options().first().and_then(|o| o.validation_method());
            attrs.insert("validation_method".into(), json!(method.map(|m| m.as_str())));
            attrs.insert("status".into(), json!(status_of(&c.detail)));
            attrs.insert("tags".into(), tags_value(&c.tags));
            let arn = c.arn().to_string();
            let outputs = BTreeMap::from([("arn".to_string(), arn.clone())]);
            out.push(Observed { addr, name: domain, id: arn, attrs, ownership, outputs, deps: super::zone_deps(cx) });
        }
        Ok(out)
    }

    async fn create(&self, cx: &Cx, d: &Desired, p: &Progress<'_>) -> Result<(), StepError> {
        let tags = tags_from(attr(&d.attrs, "tags"));
        let out = cx
            .aws
            .acm
            .request_certificate()
            .domain_name(&d.name)
            .validation_method(ValidationMethod::Dns)
            .idempotency_token(idempotency_token(cx))
            .set_tags(Some(acm_tags(&tags)))
            .send()
            .await
            .map_err(|e| call_error("acm:RequestCertificate", e))?;
        let arn =
            out.certificate_arn.ok_or_else(|| StepError::missing("acm:RequestCertificate", "the certificate's ARN"))?;
        cx.set_id(&d.addr, &arn);
        validate(cx, &arn, p).await
    }

    async fn update(
        &self,
        cx: &Cx,
        _d: &Desired,
        o: &Observed,
        changes: &[AttrChange],
        p: &Progress<'_>,
    ) -> Result<(), StepError> {
        if let Some(c) = changes.iter().find(|c| c.name == "tags") {
            let (set, remove) = tag_delta(&tags_from(c.before.as_ref()), &tags_from(c.after.as_ref()));
            let acm = &cx.aws.acm;
            if !remove.is_empty() {
                let keys: Vec<Tag> = remove.iter().map(|k| Tag::builder().key(k).build().expect("a key")).collect();
                let r = acm.remove_tags_from_certificate().certificate_arn(&o.id).set_tags(Some(keys)).send().await;
                r.map_err(|e| call_error("acm:RemoveTagsFromCertificate", e))?;
            }
            if !set.is_empty() {
                let r =
                    acm.add_tags_to_certificate().certificate_arn(&o.id).set_tags(Some(acm_tags(&set))).send().await;
                r.map_err(|e| call_error("acm:AddTagsToCertificate", e))?;
            }
        }
        if changes.iter().any(|c| c.name == "status") {
            validate(cx, &o.id, p).await?;
        }
        Ok(())
    }

    async fn delete(&self, cx: &Cx, o: &Observed, _d: Option<&Desired>, p: &Progress<'_>) -> Result<(), StepError> {
        let say = |m: String| p.say(m);
        // Load balancers let go of a certificate a while after their listener is gone.
        until(&say, "the load balancer to let go of the certificate", Duration::from_secs(600), EVERY, || async {
            match cx.aws.acm.delete_certificate().certificate_arn(&o.id).send().await {
                Ok(_) => Ok(Poll::Ready(())),
                Err(e) => {
                    let e = call_error("acm:DeleteCertificate", e);
                    if e.is_code("ResourceNotFoundException") {
                        Ok(Poll::Ready(()))
                    } else if e.is_code("ResourceInUseException") {
                        Ok(Poll::Pending("still in use".into()))
                    } else {
                        Err(e)
                    }
                }
            }
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pending_certificate_names_the_delegation_as_the_likely_cause() {
        let ns = vec!["ns-1.awsdns-01.org".to_string(), "ns-2.awsdns-02.com".to_string()];
        let said = pending_cause("_x.shop.example.com.", "example.com", &ns);
        assert!(said.contains("does not delegate example.com to this hosted zone's name servers (ns-1.awsdns-01.org, ns-2.awsdns-02.com)"), "{said}");
        assert!(said.contains("dig +short NS example.com"), "{said}");
    }
}
