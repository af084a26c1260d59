"""Listing alone: what any tool pays to list a DIY stack's history in S3 (boto3, every page).

Run: ``python -m bench.s3list BUCKET PREFIX`` with the endpoint and credentials in the environment.
"""

from __future__ import annotations

import sys


def main() -> None:
    import boto3

    bucket, prefix = sys.argv[1], sys.argv[2]
    client = boto3.session.Session().client("s3")
    keys = 0
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix, Delimiter="/"):
        keys += len(page.get("Contents") or [])
    print(keys)


if __name__ == "__main__":
    main()
