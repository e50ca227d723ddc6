"""S3 buckets as spaces (AWS, and S3 services of sites: MinIO, Ceph's RADOS Gateway, rclone), on s3fs.

A space is a bucket, or a folder (prefix) in one. S3 shows an object only once its upload is
complete, so writes go straight to their name (a multipart upload in 8 MiB parts), and a failed
one is aborted: no object and no unfinished multipart upload stays. Folders are prefixes; an
empty folder made here is a zero-byte ``folder/`` marker object, as the AWS console makes (or,
where the service keeps no such markers, a hidden ``folder/.nbspaces-folder`` object).
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from .base import LABEL, VERIFY_TLS, Capabilities, DriverError, Field, Problem, RcloneRemote
from .fsspec_driver import FsspecDriver

if TYPE_CHECKING:
    from fsspec import AbstractFileSystem

MAX_COPY = 5 * 1024**3  # bytes S3 copies in one request
FOLDER_MARKER = ".nbspaces-folder"  # keeps an empty folder where the service keeps no 'folder/' markers
_AUTH_CODES = {"InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidToken", "ExpiredToken",
               "AuthorizationHeaderMalformed"}


class S3Driver(FsspecDriver):
    kind = "s3"
    kind_label = "S3 bucket"
    credential_fields = {
        "access_key_id": Field("Access key ID", required=True,
                               help="From your S3 service's console, or your site's keys page"),
        "secret_access_key": Field("Secret access key", "password", required=True),
    }
    setting_fields = {
        "endpoint": Field("S3 endpoint (URL)", "url", help="Your site's S3 address; empty for Amazon S3"),
        "bucket": Field("Bucket", required=True),
        "folder": Field("Folder in the bucket", help="Empty for the whole bucket"),
        "region": Field("Region", default="us-east-1", help="Where your service uses regions"),
        "label": LABEL,
        "verify_tls": VERIFY_TLS,
    }
    atomic_writes = True
    capabilities = Capabilities(ranged_reads=True, server_copy=True)
    hidden_names = frozenset({FOLDER_MARKER})

    def __init__(self, settings: dict[str, Any], credentials: dict[str, str] | None, network: Any = None):
        super().__init__(settings, credentials, network)
        self.bucket = str(settings.get("bucket") or "").strip("/")
        if not self.bucket or "/" in self.bucket:
            raise DriverError(Problem.INVALID, "give the bucket's name alone (the folder in it goes in 'folder')")
        self.prefix = "/".join(p for p in str(settings.get("folder") or "").split("/") if p not in ("", "."))
        if ".." in self.prefix.split("/"):
            raise DriverError(Problem.INVALID, "the folder must not contain '..'")

    def filesystem(self) -> AbstractFileSystem:
        import s3fs

        key, secret = self.credentials.get("access_key_id", ""), self.credentials.get("secret_access_key", "")
        if not key or not secret:
            # Without both, boto would look for the server's own credentials (its environment,
            # ~/.aws, the cloud's metadata service): never for a user's space.
            raise DriverError(Problem.AUTH, f"{self.label} needs an access key ID and a secret access key")
        endpoint = self.settings.get("endpoint") or None
        if endpoint and self.network.guard is not None:
            from urllib.parse import urlsplit

            parts = urlsplit(endpoint)
            self.network.guard.check_resolved(parts.hostname or "", parts.port or 443)
        return s3fs.S3FileSystem(
            key=key, secret=secret, endpoint_url=endpoint, skip_instance_cache=True, use_listings_cache=False,
            client_kwargs={"region_name": self.settings.get("region") or "us-east-1",
                           "verify": bool(self.settings.get("verify_tls", True))},
            config_kwargs={"connect_timeout": self.network.connect_timeout,
                           "read_timeout": self.network.read_timeout, "retries": {"max_attempts": 2},
                           # botocore's default checksums since 1.36 break ranged reads and uploads
                           # on most S3 services that are not AWS: only where the service asks.
                           "request_checksum_calculation": "when_required",
                           "response_checksum_validation": "when_required",
                           # Sites' S3 services (MinIO, Ceph, rclone) answer at one host: path-style.
                           "s3": {"addressing_style": "path" if endpoint else "auto"}})

    def root(self) -> str:
        return posixpath.join(self.bucket, self.prefix) if self.prefix else self.bucket

    def problem(self, error: BaseException, path: str) -> DriverError:
        cause = error.__cause__ or error.__context__
        code = getattr(cause, "response", {}).get("Error", {}).get("Code") if cause is not None else None
        if code in _AUTH_CODES:
            return DriverError(Problem.AUTH, f"{self.label} refused the access key ID or secret access key")
        if code == "NoSuchBucket" or (isinstance(error, FileNotFoundError) and not path):
            return DriverError(Problem.NOT_FOUND, f"the bucket '{self.bucket}' does not exist on {self.label}")
        if type(error).__name__ in ("EndpointConnectionError", "ConnectTimeoutError", "ReadTimeoutError",
                                    "ClientConnectorError", "ServerDisconnectedError"):
            return DriverError(Problem.UNAVAILABLE, f"{self.label} cannot be reached; try again later")
        return super().problem(error, path)

    def mkdir(self, path: str) -> None:
        if self.exists(path):
            raise DriverError(Problem.EXISTS, f"'{path}' already exists on {self.label}")
        parent = posixpath.dirname(path)
        if parent and not self._is_folder(parent):
            raise DriverError(Problem.NOT_FOUND, f"the folder of '{path}' does not exist on {self.label}")
        key = self._key(path) + "/"  # s3fs's own calls drop a trailing '/'
        with self.errors(path):
            self.fs.call_s3("put_object", Bucket=self.bucket, Key=key, Body=b"")
        if not self.stat(path).is_dir:
            # The service kept the marker as a file named like the folder (rclone serve s3 keeps its
            # buckets as folders on a disk, and does): a hidden object in the folder makes it instead.
            with self.errors(path):
                self.fs.rm_file(self.full(path))
                self.fs.call_s3("put_object", Bucket=self.bucket, Key=key + FOLDER_MARKER, Body=b"")

    def check(self) -> None:
        """One object listed at most, whatever the bucket holds: proves the keys and the bucket."""
        with self.errors(""):
            self.fs.call_s3("list_objects_v2", Bucket=self.bucket, Prefix=f"{self.prefix}/" if self.prefix else "",
                            MaxKeys=1)

    def _key(self, path: str) -> str:
        return self.full(path).partition("/")[2]

    def _objects(self, prefix: str) -> Iterator[tuple[str, int]]:
        """(key, size) of every object under ``prefix``, folder markers included, page by page."""
        token: dict[str, str] = {}
        while True:
            page = self.fs.call_s3("list_objects_v2", Bucket=self.bucket, Prefix=prefix, **token)
            for item in page.get("Contents", []):
                yield item["Key"], int(item.get("Size") or 0)
            if not page.get("IsTruncated"):
                return
            token = {"ContinuationToken": page["NextContinuationToken"]}

    def _copy_object(self, key: str, new: str, size: int) -> None:
        """One server-side copy. The source goes as Bucket and Key, which botocore quotes whole:
        s3fs sends it as text, and a '?' in a name then reaches some services (rclone) as a query."""
        if size <= MAX_COPY:
            self.fs.call_s3("copy_object", Bucket=self.bucket, Key=new, CopySource={"Bucket": self.bucket, "Key": key})
        else:  # over 5 GiB S3 copies in parts: s3fs's managed copy
            self.fs.cp_file(f"{self.bucket}/{key}", f"{self.bucket}/{new}")

    def _transfer(self, src: str, dst: str, move: bool) -> None:
        """Server-side copies, object by object (s3fs's recursive copy stumbles on folders that
        are only prefixes); a move deletes the sources once every copy is made."""
        entry = self.stat(src)
        self._refuse_target(dst)
        source, target = self._key(src), self._key(dst)
        with self.errors(src):
            if entry.is_dir:
                for key, size in list(self._objects(source + "/")):
                    self._copy_object(key, target + "/" + key[len(source) + 1:], size)
            else:
                self._copy_object(source, target, entry.size or 0)
            if move:
                self.fs.rm(self.full(src), recursive=entry.is_dir)

    def rclone_remote(self) -> RcloneRemote | None:
        endpoint = self.settings.get("endpoint") or ""
        return RcloneRemote({"type": "s3", "provider": "Other" if endpoint else "AWS", "endpoint": endpoint,
                             "region": self.settings.get("region") or "",
                             "access_key_id": self.credentials.get("access_key_id", ""),
                             "secret_access_key": self.credentials.get("secret_access_key", ""),
                             "force_path_style": "true" if endpoint else "false", "env_auth": "false"},
                            path=self.root())
