"""Makes what another team owns in the account, for the `existing:` test
(tests/e2e/existing.rs): a KMS key with an alias, a public hosted zone, an issued
certificate (imported, self-signed: ACM issues imported certificates at once) and an IAM
role with an instance profile, all named after PREFIX.

    python tests/shared_account.py PREFIX REGION

Prints one JSON object: the key's ARN, the zone's id, the certificate's ARN, the role's
ARN. Credentials and `AWS_ENDPOINT_URL` come from the environment, as for awscli.
"""

import datetime
import json
import sys

import boto3
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID


def self_signed(domain: str) -> tuple[bytes, bytes]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, domain)])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=90))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(domain)]), critical=False)
        .sign(key, hashes.SHA256())
    )
    pem_key = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
    )
    return cert.public_bytes(serialization.Encoding.PEM), pem_key


def main() -> None:
    prefix, region = sys.argv[1], sys.argv[2]
    kms = boto3.client("kms", region_name=region)
    key = kms.create_key(Description=f"{prefix} shared key")["KeyMetadata"]
    kms.create_alias(AliasName=f"alias/{prefix}", TargetKeyId=key["KeyId"])
    r53 = boto3.client("route53", region_name=region)
    zone = r53.create_hosted_zone(Name=f"{prefix}.example.com", CallerReference=prefix)["HostedZone"]
    cert, private = self_signed(f"www.{prefix}.example.com")
    acm = boto3.client("acm", region_name=region)
    arn = acm.import_certificate(Certificate=cert, PrivateKey=private)["CertificateArn"]
    iam = boto3.client("iam", region_name=region)
    trust = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}],
    }
    role = iam.create_role(RoleName=f"{prefix}-ops", AssumeRolePolicyDocument=json.dumps(trust))["Role"]
    iam.create_instance_profile(InstanceProfileName=f"{prefix}-ops")
    iam.add_role_to_instance_profile(InstanceProfileName=f"{prefix}-ops", RoleName=f"{prefix}-ops")
    json.dump(
        {"key": key["Arn"], "zone": zone["Id"].split("/")[-1], "certificate": arn, "role": role["Arn"]},
        sys.stdout,
    )


if __name__ == "__main__":
    main()
