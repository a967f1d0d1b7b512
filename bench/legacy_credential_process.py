#!/usr/bin/env python3
"""Today's common setup, for comparison: a `credential_process` helper in Python, as the
blog posts write it. GETs the instance hostname, the project id and a Google ID token from
the GKE metadata server, trades the token for role credentials with STS
AssumeRoleWithWebIdentity, and prints them as credential_process version 1 JSON.

Usage (in ~/.aws/config):
    [profile gke]
    credential_process = python3 legacy_credential_process.py arn:aws:iam::123456789012:role/reader
"""
import json
import os
import sys

import boto3
import requests

METADATA = "http://{}/computeMetadata/v1/".format(
    os.environ.get("GCE_METADATA_HOST", "metadata.google.internal")
)
HEADERS = {"Metadata-Flavor": "Google"}


def metadata(path, **params):
    response = requests.get(METADATA + path, headers=HEADERS, params=params, timeout=5)
    response.raise_for_status()
    return response.text


def main():
    role_arn = sys.argv[1] if len(sys.argv) > 1 else os.environ["AWS_ROLE_ARN"]
    hostname = metadata("instance/hostname")
    project = metadata("project/project-id")
    token = metadata(
        "instance/service-accounts/default/identity", audience="gcp", format="standard"
    )

    sts = boto3.client("sts", region_name=os.environ.get("AWS_REGION", "us-east-1"))
    response = sts.assume_role_with_web_identity(
        RoleArn=role_arn,
        RoleSessionName="{}.{}".format(hostname.split(".")[0], project)[:64],
        WebIdentityToken=token,
    )
    credentials = response["Credentials"]
    print(
        json.dumps(
            {
                "Version": 1,
                "AccessKeyId": credentials["AccessKeyId"],
                "SecretAccessKey": credentials["SecretAccessKey"],
                "SessionToken": credentials["SessionToken"],
                "Expiration": credentials["Expiration"].isoformat(),
            }
        )
    )


if __name__ == "__main__":
    main()
