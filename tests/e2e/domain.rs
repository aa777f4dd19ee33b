//! End-to-end tests of `domain:`: a public hosted zone made by hand (awscli), the stack's
//! certificate requested with DNS validation, its validation CNAME written into the zone
//! and the certificate issued (the test bed issues a certificate once its validation
//! record is in a delegated public zone, as ACM does through DNS; docs/moto-probe.md 9d),
//! the HTTPS listener on 443 with it and the current TLS policy, port 80 redirecting to
//! 443, and the name an alias of the load balancer; all converged, checked with awscli,
//! and gone after destroy but for the zone (never the stack's) and the validation record
//! (which ACM keeps using for renewals of any certificate of that name). A zone whose
//! domain is not delegated to it leaves the certificate pending: apply stops naming the
//! likely cause. The stack's own zone (`zone: {name: …}`) is made, named for delegation,
//! kept by destroy while protected and emptied of the stack's records before its delete.

use crate::support::{stack_copy, Cli, Emulator, TempStack};
use serde_json::{json, Value};

const REGION: &str = "ap-northeast-2";

fn aws(args: &[&str]) -> Value {
    Emulator::shared().aws(REGION, args)
}

fn cli(stack: &TempStack) -> Cli {
    Cli::new(Emulator::shared()).args(["-f", stack.path.to_str().unwrap()])
}

/// A public hosted zone named after the stack, and the file pointed at it: (zone id, zone name).
fn zone_for(stack: &TempStack) -> (String, String) {
    let zone = format!("{}.example.com", stack.name);
    let made = aws(&["route53", "create-hosted-zone", "--name", &zone, "--caller-reference", &stack.name]);
    let id = made["HostedZone"]["Id"].as_str().unwrap().rsplit('/').next().unwrap().to_string();
    let text = std::fs::read_to_string(&stack.path).unwrap().replace("ZONE", &zone);
    std::fs::write(&stack.path, text).unwrap();
    (id, zone)
}

fn records(zone: &str) -> Vec<Value> {
    aws(&["route53", "list-resource-record-sets", "--hosted-zone-id", zone])["ResourceRecordSets"]
        .as_array()
        .unwrap()
        .clone()
}

fn certificates_of(domain: &str) -> Vec<Value> {
    let all = aws(&["acm", "list-certificates"]);
    let list = all["CertificateSummaryList"].as_array().unwrap();
    list.iter().filter(|c| c["DomainName"] == domain).cloned().collect()
}

#[test]
fn the_domain_gets_an_issued_certificate_an_https_listener_and_an_alias_record() {
    let stack = stack_copy("tests/stacks/domain.yaml", "dom");
    let (zone, zone_name) = zone_for(&stack);
    let name = format!("shop.{zone_name}");

    let plan = cli(&stack).args(["plan"]).run().success();
    for line in ["+ certificate.app", "+ listener.https", "+ listener.http", "+ dns_record.app"] {
        assert!(plan.stdout.contains(line), "no `{line}`:\n{}", plan.stdout);
    }
    assert!(plan.stdout.contains(&format!("existing.hosted_zone  {zone} ({zone_name}, public)")), "{}", plan.stdout);

    let run = cli(&stack).args(["apply", "--auto-approve"]).run().success();
    assert!(run.stderr.contains("wrote the validation record"), "{}", run.stderr);
    let out = cli(&stack).args(["output"]).run().success();
    assert!(out.stdout.contains(&format!("https://{name}/")), "{}", out.stdout);

    // The certificate: the stack's (tagged), for the name, issued.
    let certs = certificates_of(&name);
    assert_eq!(certs.len(), 1, "{certs:?}");
    let arn = certs[0]["CertificateArn"].as_str().unwrap().to_string();
    let detail = aws(&["acm", "describe-certificate", "--certificate-arn", &arn])["Certificate"].clone();
    assert_eq!(detail["Status"], "ISSUED");
    let tags = aws(&["acm", "list-tags-for-certificate", "--certificate-arn", &arn]);
    assert!(
        tags["Tags"].as_array().unwrap().contains(&json!({"Key": "bumarket-infra:stack", "Value": stack.name})),
        "{tags}"
    );
    // Its validation record in the zone, as ACM gave it.
    let wanted = &detail["DomainValidationOptions"][0]["ResourceRecord"];
    let all = records(&zone);
    let cname = all.iter().find(|r| r["Type"] == "CNAME").expect("a CNAME");
    assert_eq!(
        cname["Name"].as_str().unwrap().trim_end_matches('.'),
        wanted["Name"].as_str().unwrap().trim_end_matches('.')
    );
    assert_eq!(cname["ResourceRecords"][0]["Value"], wanted["Value"]);

    // The listeners: HTTPS on 443 with the certificate and the current policy; 80 redirects.
    let lb = aws(&["elbv2", "describe-load-balancers", "--names", &format!("{}-lb", stack.name)]);
    let lb = lb["LoadBalancers"][0].clone();
    let listeners =
        aws(&["elbv2", "describe-listeners", "--load-balancer-arn", lb["LoadBalancerArn"].as_str().unwrap()]);
    let listeners = listeners["Listeners"].as_array().unwrap();
    let https = listeners.iter().find(|l| l["Port"] == 443).expect("443");
    assert_eq!(https["Protocol"], "HTTPS");
    assert_eq!(https["Certificates"][0]["CertificateArn"], arn.as_str());
    assert_eq!(https["SslPolicy"], "ELBSecurityPolicy-TLS13-1-2-Res-PQ-2025-09");
    let http = listeners.iter().find(|l| l["Port"] == 80).expect("80");
    let redirect = &http["DefaultActions"][0]["RedirectConfig"];
    assert_eq!((redirect["Protocol"].as_str(), redirect["Port"].as_str()), (Some("HTTPS"), Some("443")), "{http}");

    // The name: an alias of the load balancer.
    let a = all.iter().find(|r| r["Type"] == "A").expect("an A record");
    assert_eq!(a["Name"].as_str().unwrap().trim_end_matches('.'), name);
    let target = a["AliasTarget"]["DNSName"].as_str().unwrap().trim_end_matches('.').to_ascii_lowercase();
    assert_eq!(target.trim_start_matches("dualstack."), lb["DNSName"].as_str().unwrap().to_ascii_lowercase());
    assert_eq!(a["AliasTarget"]["HostedZoneId"], lb["CanonicalHostedZoneId"]);

    let plan = cli(&stack).args(["plan", "--detailed-exitcode"]).run().success();
    assert!(plan.stdout.contains("No changes."), "{}", plan.stdout);

    cli(&stack).args(["destroy", "--auto-approve"]).run().success();
    assert_eq!(certificates_of(&name), Vec::<Value>::new());
    let left = records(&zone);
    assert!(!left.iter().any(|r| r["Type"] == "A"), "{left:?}");
    aws(&["route53", "get-hosted-zone", "--id", &zone]);
}

#[test]
fn a_zone_its_domain_is_not_delegated_to_leaves_the_certificate_pending_and_says_why() {
    let stack = stack_copy("tests/stacks/domain.yaml", "undeleg");
    let (zone, zone_name) = zone_for(&stack);
    let text = std::fs::read_to_string(&stack.path).unwrap().replace("wait_timeout: 2m", "wait_timeout: 15s");
    std::fs::write(&stack.path, text).unwrap();
    Emulator::shared().control("/__testbed/route53/undelegate", &json!({"zone": zone}));
    let run = cli(&stack).args(["apply", "--auto-approve"]).run().code_is(1);
    assert!(
        run.stderr
            .contains(&format!("the registrar does not delegate {zone_name} to this hosted zone's name servers (")),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains(&format!("dig +short NS {zone_name}")), "{}", run.stderr);
    // Nothing waits on the certificate: the listener that would use it was not made.
    let lb = aws(&["elbv2", "describe-load-balancers", "--names", &format!("{}-lb", stack.name)]);
    let arn = lb["LoadBalancers"][0]["LoadBalancerArn"].as_str().unwrap().to_string();
    let listeners = aws(&["elbv2", "describe-listeners", "--load-balancer-arn", &arn]);
    assert!(!listeners["Listeners"].as_array().unwrap().iter().any(|l| l["Port"] == 443), "{listeners}");
    // The plan says what is still to do; destroy takes what was made.
    let plan = cli(&stack).args(["plan"]).run().success();
    assert!(plan.stdout.contains("~ certificate.app"), "{}", plan.stdout);
    assert!(plan.stdout.contains("PENDING_VALIDATION"), "{}", plan.stdout);
    cli(&stack).args(["destroy", "--auto-approve"]).run().success();
    assert_eq!(certificates_of(&format!("shop.{zone_name}")), Vec::<Value>::new());
}

/// The ids of the hosted zones named `zone` (awscli).
fn zones_named(zone: &str) -> Vec<String> {
    let listed = aws(&["route53", "list-hosted-zones-by-name", "--dns-name", zone]);
    let all = listed["HostedZones"].as_array().unwrap();
    let named = all.iter().filter(|z| z["Name"].as_str().unwrap().trim_end_matches('.') == zone);
    named.map(|z| z["Id"].as_str().unwrap().rsplit('/').next().unwrap().to_string()).collect()
}

/// The stack's own zone: made and tagged by the first apply, which names its name servers
/// and stops on the certificate (the registrar is not told yet, as with any new zone);
/// once delegated, apply converges. Destroy keeps the zone while it is protected, and
/// refuses while it holds a record the stack did not write; then it takes it all.
#[test]
fn the_stacks_own_zone_is_made_named_for_delegation_kept_while_protected_and_emptied_before_its_delete() {
    let stack = stack_copy("tests/stacks/domain.yaml", "own");
    let zone_name = format!("{}.example.com", stack.name);
    let text = std::fs::read_to_string(&stack.path).unwrap();
    let text = text
        .replace("existing:\n  hosted_zone: {name: ZONE}\n", "")
        .replace("  zone: existing\n", "  zone: {name: ZONE}\n")
        .replace("wait_timeout: 2m", "wait_timeout: 15s")
        .replace("ZONE", &zone_name);
    std::fs::write(&stack.path, text).unwrap();
    let name = format!("shop.{zone_name}");
    // The domain's registrar delegates it to none of the account's zones yet.
    Emulator::shared().control("/__testbed/route53/registrar", &json!({"domain": zone_name, "zone": null}));

    let plan = cli(&stack).args(["plan"]).run().success();
    for line in ["+ hosted_zone.main", "+ certificate.app", "+ dns_record.app"] {
        assert!(plan.stdout.contains(line), "no `{line}`:\n{}", plan.stdout);
    }
    let run = cli(&stack).args(["apply", "--auto-approve"]).run().code_is(1);
    let zones = zones_named(&zone_name);
    assert_eq!(zones.len(), 1, "{zones:?}");
    let zone = zones[0].clone();
    let servers = aws(&["route53", "get-hosted-zone", "--id", &zone])["DelegationSet"]["NameServers"].clone();
    let first = servers[0].as_str().unwrap();
    assert!(run.stderr.contains(&format!("delegate {zone_name} to its name servers")), "{}", run.stderr);
    assert!(run.stderr.contains(first), "{}", run.stderr);
    assert!(run.stderr.contains(&format!("the registrar does not delegate {zone_name}")), "{}", run.stderr);
    let tags = aws(&["route53", "list-tags-for-resource", "--resource-type", "hostedzone", "--resource-id", &zone]);
    let tags = tags["ResourceTagSet"]["Tags"].as_array().unwrap().clone();
    assert!(tags.contains(&json!({"Key": "bumarket-infra:stack", "Value": stack.name})), "{tags:?}");

    // Told, the registrar delegates the domain to the zone: apply continues and converges.
    Emulator::shared().control("/__testbed/route53/registrar", &json!({"domain": zone_name, "zone": zone}));
    cli(&stack).args(["apply", "--auto-approve"]).run().success();
    let certs = certificates_of(&name);
    assert_eq!(certs.len(), 1, "{certs:?}");
    let arn = certs[0]["CertificateArn"].as_str().unwrap().to_string();
    assert_eq!(aws(&["acm", "describe-certificate", "--certificate-arn", &arn])["Certificate"]["Status"], "ISSUED");
    let a = records(&zone).into_iter().find(|r| r["Type"] == "A").expect("an A record");
    assert_eq!(a["Name"].as_str().unwrap().trim_end_matches('.'), name);
    let plan = cli(&stack).args(["plan", "--detailed-exitcode"]).run().success();
    assert!(plan.stdout.contains("No changes."), "{}", plan.stdout);
    assert_eq!(zones_named(&zone_name).len(), 1, "a second zone of the name");

    // Protected by default: destroy refuses before anything is deleted.
    let run = cli(&stack).args(["destroy", "--auto-approve"]).run().code_is(1);
    assert!(run.stderr.contains("`deletion_protection: false` under `domain.zone`"), "{}", run.stderr);
    assert_eq!(certificates_of(&name).len(), 1);

    // Unprotected, but holding a record someone else wrote: refused, naming it.
    let text = std::fs::read_to_string(&stack.path).unwrap();
    let text = text.replace(
        &format!("zone: {{name: {zone_name}}}"),
        &format!("zone: {{name: {zone_name}, deletion_protection: false}}"),
    );
    std::fs::write(&stack.path, text).unwrap();
    let txt = json!({"Name": format!("mail.{zone_name}"), "Type": "TXT", "TTL": 300, "ResourceRecords": [{"Value": "\"v=spf1 -all\""}]});
    let batch = |action: &str| json!({"Changes": [{"Action": action, "ResourceRecordSet": txt}]}).to_string();
    aws(&["route53", "change-resource-record-sets", "--hosted-zone-id", &zone, "--change-batch", &batch("CREATE")]);
    let run = cli(&stack).args(["destroy", "--auto-approve"]).run().code_is(1);
    assert!(run.stderr.contains(&format!("mail.{zone_name} TXT")), "{}", run.stderr);
    assert_eq!(certificates_of(&name).len(), 1);

    // Without it, destroy takes the record, the certificate, the validation record and the zone.
    aws(&["route53", "change-resource-record-sets", "--hosted-zone-id", &zone, "--change-batch", &batch("DELETE")]);
    cli(&stack).args(["destroy", "--auto-approve"]).run().success();
    assert_eq!(zones_named(&zone_name), Vec::<String>::new());
    assert_eq!(certificates_of(&name), Vec::<Value>::new());
}
