//! `domain:`: the app's name in a Route 53 hosted zone, served over HTTPS. Three kinds:
//! `certificate.app` (the ACM certificate, validated by DNS, see `certificate`),
//! `dns_record.app` (the alias record of the name to the load balancer, see `record`) and
//! `hosted_zone.main` (the stack's own zone, when the file names one, see `zone`). The
//! zone is either that one or `existing.hosted_zone`, never changed but for these
//! records; the HTTPS listener and the port 80 redirect are the load balancer's
//! (`lb::listener`).

pub(crate) mod certificate;
pub(crate) mod record;
pub(crate) mod zone;

use crate::apply::StepError;
use crate::aws::call_error;
use crate::resources::Cx;

/// The listener's certificate when `domain:` requests one: its address.
pub const CERTIFICATE: &str = "certificate.app";

/// The hosted zone's id (without `/hostedzone/`): the stack's own zone's (read or made
/// this run), or what `existing.hosted_zone` found.
pub fn zone_id(cx: &Cx) -> Result<String, StepError> {
    if zone::owned(cx).is_some() {
        return cx.id_in(zone::ZONE);
    }
    cx.existing
        .get("hosted_zone")
        .map(|f| f.id.clone())
        .ok_or_else(|| StepError::new("plan", "`existing.hosted_zone` was not looked up"))
}

/// The hosted zone's id as a read knows it: `None` while the stack's own zone is not made.
pub async fn read_zone_id(cx: &Cx, live: &crate::resources::Live) -> Result<Option<String>, StepError> {
    if zone::owned(cx).is_some() {
        return zone::live_id(cx, live).await;
    }
    Ok(zone_id(cx).ok())
}

/// What a record or certificate of the domain depends on: the stack's own zone, if any.
pub fn zone_deps(cx: &Cx) -> Vec<crate::engine::Addr> {
    zone::owned(cx).map(|_| vec![zone::addr()]).unwrap_or_default()
}

/// The hosted zone's domain name (`example.com`).
pub fn zone_name(cx: &Cx) -> String {
    if let Some((name, _)) = zone::owned(cx) {
        return name.to_string();
    }
    cx.existing.get("hosted_zone").and_then(|f| f.extra.clone()).unwrap_or_default()
}

/// The zone's name servers: what the registrar must delegate the domain to.
pub async fn name_servers(cx: &Cx, zone: &str) -> Result<Vec<String>, StepError> {
    let out =
        cx.aws.route53.get_hosted_zone().id(zone).send().await.map_err(|e| call_error("route53:GetHostedZone", e))?;
    Ok(out.delegation_set().map(|d| d.name_servers().to_vec()).unwrap_or_default())
}

/// A DNS name as Route 53 compares it: lower case, with the final dot.
pub fn fqdn(name: &str) -> String {
    format!("{}.", name.trim_end_matches('.').to_ascii_lowercase())
}
