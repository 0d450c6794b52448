"""The S3 document store (``XDS_BLOB_STORE=s3://bucket/prefix``): one object per content-addressed blob.

Incoming parts are spooled to a local staging folder (hashing needs the whole part anyway), then uploaded
with boto3's managed transfer (multipart above 8 MiB, bounded memory). A successful PUT is durable, which
is all the use case needs before it commits the registry transaction. Keys are SHA-256 (SHA-1 for objects
stored before it). ``put_file`` of a key that exists never uploads over it: the bytes must be the stored ones
(size and the SHA-256 recorded in the object's metadata, or the bytes themselves), then a copy onto itself
refreshes LastModified, which protects the blob
from ``gc`` during its grace period; other bytes are a ``BlobConflict``. Credentials, region and endpoint
come from the standard AWS environment.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from xds_server.core.blobs import BlobConflict, BlobInfo, ReadableBlob
from xds_server.storage.blobs import check_key


class S3BlobStore:
    def __init__(
        self, *, bucket: str, prefix: str = "", staging_dir: Path, client: Any | None = None
    ) -> None:
        if not bucket:
            raise ValueError("s3:// blob store URL without a bucket")
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self._staging = Path(staging_dir)
        self._staging.mkdir(parents=True, exist_ok=True)
        self.client = client or boto3.client(
            "s3", config=Config(retries={"max_attempts": 5, "mode": "standard"})
        )

    def __repr__(self) -> str:
        return f"S3BlobStore('s3://{self.bucket}/{self.prefix}')"

    @property
    def staging_dir(self) -> Path:
        return self._staging

    def _object(self, key: str) -> str:
        return self.prefix + check_key(key)

    def put_file(self, key: str, path: Path) -> None:
        # Never overwrite: on a key hit the sizes, then the SHA-256 the object was stored with (its metadata),
        # or its bytes for an object stored without it, must match; other bytes are a BlobConflict.
        digest = _sha256(path)
        try:
            head = self.client.head_object(Bucket=self.bucket, Key=self._object(key))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") not in ("NoSuchKey", "404", "NotFound"):
                raise
            head = None
        try:
            if head is None:
                self.client.upload_file(
                    str(path), self.bucket, self._object(key), ExtraArgs={"Metadata": {"sha256": digest}}
                )
                return
            stored = (head.get("Metadata") or {}).get("sha256")
            same = int(head["ContentLength"]) == path.stat().st_size and (
                stored == digest if stored else self._same_bytes(key, digest)
            )
            if not same:
                raise BlobConflict(key)
            # same bytes: refresh LastModified for gc's grace period (a copy onto itself)
            self.client.copy_object(
                Bucket=self.bucket,
                Key=self._object(key),
                CopySource={"Bucket": self.bucket, "Key": self._object(key)},
                Metadata={"sha256": digest},
                MetadataDirective="REPLACE",
            )
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)

    def _same_bytes(self, key: str, digest: str) -> bool:
        body = self.open(key)
        try:
            hasher = hashlib.sha256()
            while block := body.read(1024 * 1024):
                hasher.update(block)
        finally:
            body.close()
        return hasher.hexdigest() == digest

    def open(self, key: str) -> ReadableBlob:
        try:
            answer = self.client.get_object(Bucket=self.bucket, Key=self._object(key))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                raise KeyError(key) from None
            raise
        body: ReadableBlob = answer["Body"]
        return body

    def exists(self, key: str) -> bool:
        return self.info(key) is not None

    def info(self, key: str) -> BlobInfo | None:
        try:
            head = self.client.head_object(Bucket=self.bucket, Key=self._object(key))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404", "NotFound"):
                return None
            raise
        return BlobInfo(key, int(head["ContentLength"]), head["LastModified"])

    def delete_if_older(self, key: str, cutoff: datetime) -> BlobInfo | None:
        # S3 has no rename and a re-upload of the same bytes keeps the ETag, so this is check-then-delete:
        # a put_file landing between the two calls (milliseconds, after a grace period of hours) is the one
        # window left, documented in storage/gc.py.
        info = self.info(key)
        if info is None or info.modified >= cutoff:
            return None
        self.delete(key)
        return info

    def delete(self, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=self._object(key))

    def list(self) -> Iterator[BlobInfo]:
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=self.prefix):
            for item in page.get("Contents", ()):
                key = item["Key"][len(self.prefix) :]
                if "/" in key or len(key) not in (40, 64):  # SHA-256 keys; SHA-1 before them
                    continue
                yield BlobInfo(key, int(item["Size"]), item["LastModified"])


def _sha256(path: Path) -> str:
    hasher = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(1024 * 1024):
            hasher.update(block)
    return hasher.hexdigest()


__all__ = ["S3BlobStore"]
