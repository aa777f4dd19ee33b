//! Resource kinds and logical addresses.
//!
//! A [`Kind`] is a closed set: every kind bumarket-infra manages has one variant, and
//! nothing else is a kind. An [`Addr`] is a kind and a logical name, written
//! `<kind>.<name>` (`bucket.logs`) in plans, tags and saved plans; text that names no
//! kind does not parse, so an address read back from an ownership tag is either a
//! kind the registry knows or an error the plan reports.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

macro_rules! kinds {
    ($($variant:ident = $text:literal,)+) => {
        /// One kind of resource; its text is the first part of an address.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum Kind {
            $($variant,)+
        }

        impl Kind {
            /// Every kind, in declaration order.
            pub const ALL: &'static [Kind] = &[$(Kind::$variant,)+];

            /// The kind as addresses write it (`bucket`, `instance_profile`).
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Kind::$variant => $text,)+
                }
            }

            /// The kind an address text starts with, if it is one.
            pub fn parse(text: &str) -> Option<Kind> {
                match text {
                    $($text => Some(Kind::$variant),)+
                    _ => None,
                }
            }
        }
    };
}

kinds! {
    Bucket = "bucket",
    Role = "role",
    Group = "group",
    InstanceProfile = "instance_profile",
    Vpc = "vpc",
    Subnet = "subnet",
    InternetGateway = "internet_gateway",
    RouteTable = "route_table",
    SecurityGroup = "security_group",
    TargetGroup = "target_group",
    LoadBalancer = "load_balancer",
    HostedZone = "hosted_zone",
    Certificate = "certificate",
    Listener = "listener",
    LaunchTemplate = "launch_template",
    AutoscalingGroup = "autoscaling_group",
    ScalingPolicy = "scaling_policy",
    DbSubnetGroup = "db_subnet_group",
    Database = "database",
    Topic = "topic",
    Subscription = "subscription",
    LogGroup = "log_group",
    DeliveryStream = "delivery_stream",
    LogSubscription = "log_subscription",
    Alarm = "alarm",
    Dashboard = "dashboard",
    Cloud9 = "cloud9",
    DnsRecord = "dns_record",
}

impl Kind {
    /// Whether a resource of this kind holds what cannot be made again (a bucket's
    /// objects, a database's rows, a log group's events, a hosted zone's name servers):
    /// its replacement or deletion is data lost, listed first for review.
    pub fn holds_data(self) -> bool {
        matches!(self, Kind::Bucket | Kind::Database | Kind::LogGroup | Kind::HostedZone)
    }

    /// Whether a change of a resource of this kind can interrupt the app's traffic (the
    /// request path: name, certificate, load balancer, listeners, target group, security
    /// groups, the fleet and what its instances are made from).
    pub fn carries_traffic(self) -> bool {
        matches!(
            self,
            Kind::LoadBalancer
                | Kind::Listener
                | Kind::TargetGroup
                | Kind::Certificate
                | Kind::DnsRecord
                | Kind::SecurityGroup
                | Kind::AutoscalingGroup
                | Kind::LaunchTemplate
        )
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A resource's logical address: its kind and its logical name, `bucket.logs`.
///
/// Ordered as its text is, so plans list resources alphabetically within a layer.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Addr {
    kind: Kind,
    /// The whole address, `<kind>.<name>`.
    text: String,
}

/// Text that is not the address of a kind bumarket-infra knows.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddrError {
    #[error("`{0}` is not an address (`<kind>.<name>`)")]
    NoName(String),
    #[error("`{text}` names the kind `{kind}`, which bumarket-infra does not manage")]
    UnknownKind { text: String, kind: String },
}

impl Addr {
    pub fn new(kind: Kind, name: impl AsRef<str>) -> Addr {
        Addr { kind, text: format!("{kind}.{}", name.as_ref()) }
    }

    /// Read `<kind>.<name>` back (from a tag, an attribute, a saved plan).
    pub fn parse(text: &str) -> Result<Addr, AddrError> {
        let Some((kind, _)) = text.split_once('.').filter(|(_, n)| !n.is_empty()) else {
            return Err(AddrError::NoName(text.to_string()));
        };
        let kind = Kind::parse(kind)
            .ok_or_else(|| AddrError::UnknownKind { text: text.to_string(), kind: kind.to_string() })?;
        Ok(Addr { kind, text: text.to_string() })
    }

    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// The logical name (`logs` of `bucket.logs`).
    pub fn name(&self) -> &str {
        &self.text[self.kind.as_str().len() + 1..]
    }

    /// The whole address as text.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl PartialOrd for Addr {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Addr {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.text.cmp(&other.text)
    }
}

impl fmt::Display for Addr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl Serialize for Addr {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for Addr {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Addr, D::Error> {
        let text = String::deserialize(d)?;
        Addr::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_reads_back_as_itself() {
        for k in Kind::ALL {
            assert_eq!(Kind::parse(k.as_str()), Some(*k));
            let a = Addr::new(*k, "x.y");
            assert_eq!(Addr::parse(a.as_str()), Ok(a.clone()));
            assert_eq!((a.kind(), a.name()), (*k, "x.y"));
        }
    }

    #[test]
    fn text_that_names_no_kind_is_an_error_not_an_address() {
        assert_eq!(
            Addr::parse("bukcet.logs").unwrap_err().to_string(),
            "`bukcet.logs` names the kind `bukcet`, which bumarket-infra does not manage"
        );
        assert!(matches!(Addr::parse("bucket"), Err(AddrError::NoName(_))));
        assert!(matches!(Addr::parse("bucket."), Err(AddrError::NoName(_))));
        assert!(serde_json::from_str::<Addr>("\"nope.x\"").is_err());
    }

    #[test]
    fn addresses_order_as_their_text() {
        let mut v = [Addr::new(Kind::Role, "app"), Addr::new(Kind::Bucket, "z"), Addr::new(Kind::RouteTable, "a")];
        v.sort();
        let text: Vec<&str> = v.iter().map(Addr::as_str).collect();
        assert_eq!(text, ["bucket.z", "role.app", "route_table.a"]);
    }
}
