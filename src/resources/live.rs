//! Wave one of every read: what the stack owns, listed once per service and shared by all
//! providers. The tagging API returns the ARNs of every taggable resource carrying the
//! stack's tag in one paginated call, an index that only says where else to look (it lags
//! behind new tags and keeps deleted resources: no resource is found, and no tag read,
//! through it alone); the ELB snapshot and the alerts topic are read once and shared; IAM
//! lists the roles, groups and instance profiles under the stack's IAM path while it reads
//! the file's IAM names by name (see `iam::Snapshot::fetch`: never the rest of the
//! account); EC2's describes filtered by the stack's tag return the
//! network and launch templates; SSM resolves the fleet's image. Each is fetched at most
//! once per run, and only when the stack has a section that needs it.

use super::{ec2, iam, TAG_STACK};
use crate::apply::StepError;
use crate::aws::{call_error, Aws};
use tokio::sync::OnceCell;

/// A resource the tagging API reports as the stack's. Only its ARN is kept: the index
/// lags behind new tags and keeps deleted resources a while ("tagged or previously
/// tagged", GetResources API reference), so it only says where to look; every provider
/// reads what it finds, tags included, from the service itself.
#[derive(Debug, Clone)]
pub struct Tagged {
    pub arn: String,
}

pub struct Live {
    aws: Aws,
    stack: String,
    /// The stack has a network or fleet: EC2 is read.
    uses_ec2: bool,
    /// The file's `adopt:` entries (address → live id or name).
    adopt: std::collections::BTreeMap<String, String>,
    /// The file's `existing:` lookups.
    lookups: super::existing::Lookups,
    existing: OnceCell<Result<super::existing::Resolved, StepError>>,
    /// The SSM parameter naming the fleet's image, if any.
    image_parameter: Option<String>,
    /// The file's load balancer and target group names.
    elb_names: super::lb::snapshot::Names,
    tagged: OnceCell<Result<Vec<Tagged>, StepError>>,
    /// The file's IAM names, read by name beside the listings.
    iam_wanted: iam::Wanted,
    iam: OnceCell<Result<iam::Snapshot, StepError>>,
    ec2: OnceCell<Result<ec2::Snapshot, StepError>>,
    image: OnceCell<Result<Option<String>, StepError>>,
    elb: OnceCell<Result<super::lb::snapshot::Snapshot, StepError>>,
    topic: OnceCell<Result<Option<super::monitoring::topic::LiveTopic>, StepError>>,
    certificates: OnceCell<Result<Vec<super::domain::certificate::LiveCertificate>, StepError>>,
    zones: OnceCell<Result<Vec<super::domain::zone::LiveZone>, StepError>>,
}

impl Live {
    pub fn new(aws: Aws, stack: &bumarket_stack::Stack) -> Live {
        let image_parameter = stack.fleet.as_ref().and_then(|f| match &f.image {
            bumarket_stack::Image::SsmParameter(p) => Some(p.clone()),
            bumarket_stack::Image::Ami(_) => None,
        });
        Live {
            aws,
            stack: stack.name.clone(),
            uses_ec2: stack.network.is_some()
                || stack.fleet.is_some()
                || super::existing::Lookups::of(stack).network.any(),
            adopt: stack.adopt.iter().map(|(a, e)| (a.clone(), e.id.clone())).collect(),
            lookups: super::existing::Lookups::of(stack),
            existing: OnceCell::new(),
            image_parameter,
            elb_names: super::lb::snapshot::Snapshot::names(stack),
            tagged: OnceCell::new(),
            iam_wanted: iam::Wanted::of(stack),
            iam: OnceCell::new(),
            ec2: OnceCell::new(),
            image: OnceCell::new(),
            elb: OnceCell::new(),
            topic: OnceCell::new(),
            certificates: OnceCell::new(),
            zones: OnceCell::new(),
        }
    }

    /// Start every listing the stack needs (call concurrently with the rest of wave one).
    pub async fn prefetch(&self) -> Result<(), StepError> {
        let ec2 = async {
            if self.uses_ec2 {
                self.ec2().await.map(drop)
            } else {
                Ok(())
            }
        };
        let (a, b, c, d, e) = tokio::join!(self.tagged(), self.iam(), ec2, self.image(), self.elb());
        a?;
        b?;
        c?;
        d?;
        e?;
        Ok(())
    }

    /// The stack's EC2 resources (network, launch templates). A stack whose file has no
    /// EC2 section and that owns nothing in EC2 (by the tagging list) costs no call.
    pub async fn ec2(&self) -> Result<&ec2::Snapshot, StepError> {
        let r = self
            .ec2
            .get_or_init(|| async {
                if !self.uses_ec2 && !self.owns_any("ec2").await? {
                    return Ok(ec2::Snapshot::default());
                }
                ec2::Snapshot::fetch(&self.aws, &self.stack, &self.adopt, &self.lookups.network).await
            })
            .await;
        r.as_ref().map_err(Clone::clone)
    }

    /// Whether the tagging list has any resource of this service (`ec2`, `rds`, ...) tagged
    /// with the stack: what a file without that section may still own (a section just
    /// removed), so its readers know whether to look at all.
    pub async fn owns_any(&self, service: &str) -> Result<bool, StepError> {
        let marker = format!(":{service}:");
        Ok(self.tagged().await?.iter().any(|t| t.arn.contains(&marker)))
    }

    /// What the file's `existing:` lookups found (wave one: the network's beside EC2's
    /// other describes, the rest in parallel with them; nothing without `existing:`).
    pub async fn existing(&self) -> Result<&super::existing::Resolved, StepError> {
        // Boxed: its joined lookups would otherwise sit in the caller's (the main thread's) stack.
        let r = self.existing.get_or_init(|| Box::pin(super::existing::resolve(&self.aws, &self.lookups, self))).await;
        r.as_ref().map_err(Clone::clone)
    }

    /// The fleet's image id from its SSM public parameter (`None` without one).
    pub async fn image(&self) -> Result<Option<String>, StepError> {
        let r = self
            .image
            .get_or_init(|| async {
                let Some(name) = &self.image_parameter else { return Ok(None) };
                let out = self.aws.ssm.get_parameter().name(name).send().await.map_err(|e| {
                    crate::aws::call_error("ssm:GetParameter", e)
                        .hint(format!("the fleet's image parameter `{name}` must exist in this region"))
                })?;
                Ok(out.parameter.and_then(|p| p.value))
            })
            .await;
        r.clone()
    }

    /// Everything tagged `bumarket-infra:stack=<stack>` in the region.
    pub async fn tagged(&self) -> Result<&[Tagged], StepError> {
        let r = self.tagged.get_or_init(|| fetch_tagged(&self.aws, &self.stack)).await;
        r.as_deref().map_err(Clone::clone)
    }

    /// The stack's load balancers and target groups, as Elastic Load Balancing has them
    /// (read once a run; see `lb::snapshot`).
    pub async fn elb(&self) -> Result<&super::lb::snapshot::Snapshot, StepError> {
        let fetch = super::lb::snapshot::Snapshot::fetch(&self.aws.elb, &self.elb_names, self);
        let r = self.elb.get_or_init(|| fetch).await;
        r.as_ref().map_err(Clone::clone)
    }

    /// The account's certificates of the domain's name and the stack's, as ACM has them
    /// (read once a run; see `domain::certificate`).
    pub async fn certificates(
        &self,
        cx: &super::Cx,
    ) -> Result<&[super::domain::certificate::LiveCertificate], StepError> {
        let fetch = || Box::pin(super::domain::certificate::LiveCertificate::fetch(cx, self));
        let r = self.certificates.get_or_init(fetch).await;
        r.as_deref().map_err(Clone::clone)
    }

    /// The public hosted zones of the file's own zone name and the stack's, as Route 53
    /// has them (read once a run; see `domain::zone`).
    pub async fn zones(&self, cx: &super::Cx) -> Result<&[super::domain::zone::LiveZone], StepError> {
        let fetch = || Box::pin(super::domain::zone::LiveZone::fetch(cx, self));
        let r = self.zones.get_or_init(fetch).await;
        r.as_deref().map_err(Clone::clone)
    }

    /// The stack's alerts topic with its tags, as SNS has it (read once a run; see
    /// `monitoring::topic`).
    pub async fn topic(&self, cx: &super::Cx) -> Result<Option<&super::monitoring::topic::LiveTopic>, StepError> {
        let r = self.topic.get_or_init(|| super::monitoring::topic::LiveTopic::fetch(cx)).await;
        r.as_ref().map(Option::as_ref).map_err(Clone::clone)
    }

    /// The stack's IAM roles, groups and instance profiles (under its path), and those
    /// of the names the file wants wherever they live.
    pub async fn iam(&self) -> Result<&iam::Snapshot, StepError> {
        let r = self.iam.get_or_init(|| iam::Snapshot::fetch(&self.aws, &self.stack, &self.iam_wanted)).await;
        r.as_ref().map_err(Clone::clone)
    }
}

async fn fetch_tagged(aws: &Aws, stack: &str) -> Result<Vec<Tagged>, StepError> {
    use aws_sdk_resourcegroupstagging::types::TagFilter;
    let filter = TagFilter::builder().key(TAG_STACK).values(stack).build();
    let mut out = Vec::new();
    // 100 per page (the most AWS allows) keeps a whole stack in one answer.
    let mut pages = aws.tagging.get_resources().tag_filters(filter).resources_per_page(100).into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| call_error("tagging:GetResources", e))?;
        out.extend(
            page.resource_tag_mapping_list
                .unwrap_or_default()
                .into_iter()
                .filter_map(|m| Some(Tagged { arn: m.resource_arn? })),
        );
    }
    Ok(out)
}
