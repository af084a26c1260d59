"""The least any tool pays to show every version of a DIY stack in S3: list the history prefix, then GET each
update info (``*.history.json``), 16 at a time, with bare boto3 and nothing else (no parsing, no table).

Run: ``python -m bench.s3read BUCKET PREFIX`` with the endpoint and credentials in the environment.
"""

from __future__ import annotations

import sys
from concurrent.futures import ThreadPoolExecutor


def main() -> None:
    import boto3
    from botocore.config import Config

    bucket, prefix = sys.argv[1], sys.argv[2]
    client = boto3.session.Session().client("s3", config=Config(max_pool_connections=16))
    keys: list[str] = []
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix, Delimiter="/"):
        keys += [o["Key"] for o in page.get("Contents") or [] if o["Key"].endswith(".history.json")]

    def get(key: str) -> int:
        return len(client.get_object(Bucket=bucket, Key=key)["Body"].read())

    with ThreadPoolExecutor(max_workers=16) as pool:
        size = sum(pool.map(get, keys))
    print(len(keys), size)


if __name__ == "__main__":
    main()
