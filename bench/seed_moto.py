#!/usr/bin/env python3
"""Seeds moto for the benchmark: a bucket with a few objects and the role to assume.

Usage: seed_moto.py ENDPOINT BUCKET ROLE_NAME   (prints the role's ARN)
moto's IAM enforcement stays off, as it is by default.
"""
import json
import sys

import boto3

endpoint, bucket, role_name = sys.argv[1:4]
fake = dict(
    endpoint_url=endpoint,
    region_name="us-east-1",
    aws_access_key_id="AKIAIOSFODNN7EXAMPLE",
    aws_secret_access_key="wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
)

s3 = boto3.client("s3", **fake)
s3.create_bucket(Bucket=bucket)
for i in range(5):
    s3.put_object(Bucket=bucket, Key=f"reports/{i:02d}.csv", Body=b"a,b\n1,2\n")

trust = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"Federated": "accounts.google.com"},
            "Action": "sts:AssumeRoleWithWebIdentity",
            "Condition": {"StringEquals": {"accounts.google.com:oaud": "sts.amazonaws.com"}},
        }
    ],
}
iam = boto3.client("iam", **fake)
role = iam.create_role(RoleName=role_name, AssumeRolePolicyDocument=json.dumps(trust))
print(role["Role"]["Arn"])
