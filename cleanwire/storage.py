"""Where data lives: a local folder or an `s3://bucket/prefix`, and what each library needs to reach it.

One configuration, the standard AWS environment, gives every library its own
form of it:

| variable | what |
| --- | --- |
| `AWS_ENDPOINT_URL` | an S3-compatible endpoint (MinIO, R2, Ceph, a test server); unset: AWS |
| `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN` | credentials |
| `AWS_REGION` (or `AWS_DEFAULT_REGION`) | the region (default us-east-1) |
| `AWS_ALLOW_HTTP` | `true` for a plain-HTTP endpoint |

- polars: `polars_options()` (its object-store keys, lower case);
- pyarrow: `filesystem()` (an `S3FileSystem`; it ignores `AWS_ENDPOINT_URL`, so the endpoint is passed explicitly);
- deltalake: `delta_options()`, with `aws_conditional_put=etag`: a Delta commit is a
  put-if-absent of the next log entry, so two writers can never both commit version N
  (AWS S3, MinIO and R2 honour `If-None-Match`; no DynamoDB lock is needed).

A local path stays a `pathlib.Path` everywhere (the Parquet format's code paths are
unchanged); an S3 location is an `ObjectPath`, a small path-like value with the
few file operations cleanwire needs (read, write, exists, list), each one request.
"""
from __future__ import annotations

import functools
import os
import posixpath
import uuid
from dataclasses import dataclass
from pathlib import Path

S3 = "s3://"


def is_url(p) -> bool:
    """Whether `p` names object storage (`s3://...`; also `s3:/...`, what pathlib makes of one)."""
    s = str(p)
    return s.startswith(S3) or s.startswith("s3:/")


def location(p) -> "Path | ObjectPath":
    """`p` as what the rest of cleanwire handles: an ObjectPath for s3://, else a Path (not resolved)."""
    if isinstance(p, (ObjectPath, Path)) and not (isinstance(p, Path) and is_url(p)):
        return p
    s = str(p)
    if is_url(s):
        return ObjectPath.parse(s)
    return Path(os.path.expanduser(s))


def uri(p) -> str:
    """The string a reader is given: the absolute local path, or the s3:// URL."""
    p = location(p)
    return str(p) if isinstance(p, ObjectPath) else str(Path(p).resolve())


# ------------------------------------------------------------------ settings from the environment

@dataclass(frozen=True)
class S3Settings:
    """The S3 endpoint and credentials of this process (the standard AWS variables)."""
    endpoint_url: str | None
    region: str
    access_key: str | None
    secret_key: str | None
    session_token: str | None
    allow_http: bool

    @classmethod
    def from_env(cls) -> "S3Settings":
        env = os.environ
        endpoint = env.get("AWS_ENDPOINT_URL_S3") or env.get("AWS_ENDPOINT_URL") or None
        allow_http = env.get("AWS_ALLOW_HTTP", "").lower() in ("1", "true", "yes") or bool(
            endpoint and endpoint.startswith("http://"))
        return cls(endpoint, env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "us-east-1",
                   env.get("AWS_ACCESS_KEY_ID") or None, env.get("AWS_SECRET_ACCESS_KEY") or None,
                   env.get("AWS_SESSION_TOKEN") or None, allow_http)

    def polars_options(self) -> dict[str, str]:
        """polars' `storage_options` (object_store keys)."""
        o = {"aws_region": self.region}
        if self.endpoint_url:
            o["aws_endpoint_url"] = self.endpoint_url
        if self.access_key:
            o["aws_access_key_id"] = self.access_key
        if self.secret_key:
            o["aws_secret_access_key"] = self.secret_key
        if self.session_token:
            o["aws_session_token"] = self.session_token
        if self.allow_http:
            o["aws_allow_http"] = "true"
        return o

    def delta_options(self) -> dict[str, str]:
        """deltalake's `storage_options`: polars' keys (both use object_store) plus conditional put."""
        # The commit of version N is a put-if-absent of _delta_log/N.json: the loser of a race gets a
        # conflict instead of overwriting the winner's entry.
        return {**self.polars_options(), "aws_conditional_put": "etag"}

    def filesystem(self, quick: bool = False):
        """A pyarrow S3FileSystem; `quick`: short time-outs and one attempt (the preflight check)."""
        return _arrow_s3(self, quick)


@functools.lru_cache(maxsize=8)
def _arrow_s3(settings: S3Settings, quick: bool):
    from pyarrow import fs as pafs

    kw = {}
    if settings.endpoint_url:
        scheme, _, host = settings.endpoint_url.partition("://")
        kw["endpoint_override"] = host.rstrip("/") if host else scheme
        kw["scheme"] = scheme if host else ("http" if settings.allow_http else "https")
    if quick:
        kw.update(connect_timeout=3, request_timeout=5,
                  retry_strategy=pafs.AwsStandardS3RetryStrategy(max_attempts=1))
    return pafs.S3FileSystem(access_key=settings.access_key, secret_key=settings.secret_key,
                             session_token=settings.session_token, region=settings.region, **kw)


def settings() -> S3Settings:
    return S3Settings.from_env()


def polars_options(p) -> dict[str, str] | None:
    """polars' storage_options for `p` (None for a local path)."""
    return settings().polars_options() if is_url(p) else None


def delta_options(p) -> dict[str, str] | None:
    """deltalake's storage_options for `p` (None for a local path)."""
    return settings().delta_options() if is_url(p) else None


def filesystem(p):
    """(pyarrow filesystem, path for it) of `p`: the local file system, or S3 with `bucket/key`."""
    from pyarrow import fs as pafs

    p = location(p)
    if isinstance(p, ObjectPath):
        return settings().filesystem(), p.key_path
    return pafs.LocalFileSystem(), str(Path(p).resolve())


# ------------------------------------------------------------------ an object-storage path

class ObjectPath:
    """`s3://bucket/key` as a path: `/`, `name`, `parent`, and the file operations cleanwire uses.

    Reads and writes are whole-object requests (a PUT replaces an object atomically:
    a reader sees the old object or the new one), so `write_bytes` is also an atomic write.
    """
    __slots__ = ("bucket", "key")

    def __init__(self, bucket: str, key: str = ""):
        self.bucket = bucket
        self.key = key.strip("/")

    @classmethod
    def parse(cls, url: str) -> "ObjectPath":
        rest = url[len(S3):] if url.startswith(S3) else url[len("s3:/"):]
        bucket, _, key = rest.lstrip("/").partition("/")
        if not bucket:
            raise ValueError(f"no bucket in {url!r} (expected s3://bucket/prefix)")
        return cls(bucket, posixpath.normpath(key) if key.strip("/") else "")

    # -- path arithmetic
    def __truediv__(self, other) -> "ObjectPath":
        other = str(other).strip("/")
        return ObjectPath(self.bucket, f"{self.key}/{other}" if self.key else other) if other else self

    def __str__(self) -> str:
        return f"{S3}{self.bucket}/{self.key}" if self.key else f"{S3}{self.bucket}"

    def __repr__(self) -> str:
        return f"ObjectPath({str(self)!r})"

    def __eq__(self, other) -> bool:
        return isinstance(other, ObjectPath) and (self.bucket, self.key) == (other.bucket, other.key)

    def __hash__(self) -> int:
        return hash((self.bucket, self.key))

    @property
    def name(self) -> str:
        return self.key.rsplit("/", 1)[-1]

    @property
    def parent(self) -> "ObjectPath":
        return ObjectPath(self.bucket, self.key.rsplit("/", 1)[0] if "/" in self.key else "")

    @property
    def parents(self) -> list["ObjectPath"]:
        out, p = [], self
        while p.key:
            p = p.parent
            out.append(p)
        return out

    def with_name(self, name: str) -> "ObjectPath":
        return self.parent / name

    def resolve(self) -> "ObjectPath":
        return self

    def relative_to(self, other: "ObjectPath") -> str:
        if other.bucket != self.bucket or not (self.key + "/").startswith(other.key + "/" if other.key else ""):
            raise ValueError(f"{self} is not below {other}")
        return self.key[len(other.key):].lstrip("/")

    @property
    def key_path(self) -> str:
        """The path pyarrow's S3FileSystem takes: `bucket/key`."""
        return f"{self.bucket}/{self.key}" if self.key else self.bucket

    # -- file operations (one request each)
    def _fs(self):
        return settings().filesystem()

    def _info(self):
        return self._fs().get_file_info(self.key_path)

    def is_file(self) -> bool:
        from pyarrow import fs as pafs

        return self._info().type == pafs.FileType.File

    def is_dir(self) -> bool:
        """A prefix with at least one object below it."""
        from pyarrow import fs as pafs

        return self._info().type == pafs.FileType.Directory

    def exists(self) -> bool:
        from pyarrow import fs as pafs

        return self._info().type != pafs.FileType.NotFound

    def read_bytes(self) -> bytes:
        with self._fs().open_input_stream(self.key_path) as f:
            return f.read()

    def read_text(self, encoding: str = "utf-8") -> str:
        return self.read_bytes().decode(encoding)

    def write_bytes(self, data: bytes) -> int:
        with self._fs().open_output_stream(self.key_path) as f:
            f.write(data)
        return len(data)

    def write_text(self, text: str, encoding: str = "utf-8") -> int:
        return self.write_bytes(text.encode(encoding))

    def mkdir(self, parents: bool = False, exist_ok: bool = False) -> None:
        """Nothing to do: object storage has no folders."""

    def unlink(self, missing_ok: bool = False) -> None:
        try:
            self._fs().delete_file(self.key_path)
        except FileNotFoundError:
            if not missing_ok:
                raise

    def rmtree(self) -> None:
        """Delete every object below this prefix."""
        try:
            self._fs().delete_dir_contents(self.key_path, missing_dir_ok=True)
        except FileNotFoundError:
            pass


# ------------------------------------------------------------------ operations on either kind

def write_bytes(p, data: bytes) -> None:
    p = location(p)
    if isinstance(p, ObjectPath):
        p.write_bytes(data)
    else:
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)


def upload_tree(local_dir: Path, target) -> int:
    """Copy every file below a local folder to `target` (a folder or a prefix); the number copied."""
    target = location(target)
    n = 0
    for f in sorted(Path(local_dir).rglob("*")):
        if f.is_file():
            write_bytes(target / f.relative_to(local_dir).as_posix(), f.read_bytes())
            n += 1
    return n


def rmtree(p) -> None:
    p = location(p)
    if isinstance(p, ObjectPath):
        p.rmtree()
    else:
        import shutil

        shutil.rmtree(p, ignore_errors=True)


# ------------------------------------------------------------------ the preflight check

def check_reachable(p, write: bool) -> str | None:
    """Why `p` (an s3:// location) cannot be used, in one line, or None.

    Lists the prefix (the bucket exists, the endpoint answers, the credentials are
    accepted) and, with `write`, writes and deletes a probe object (writes are allowed):
    a run that could not publish stops here, before any work.
    """
    from pyarrow import fs as pafs

    p = location(p)
    s = settings()
    fs = s.filesystem(quick=True)
    where = f"{p} (endpoint {s.endpoint_url or 'AWS S3'})"
    try:
        fs.get_file_info(pafs.FileSelector(p.key_path, allow_not_found=True, recursive=False))
        # A listing of a prefix in a missing bucket may come back empty rather than fail: ask for the bucket
        # (after the listing, whose error names a refused key; a HEAD's error has no body).
        if fs.get_file_info(p.bucket).type == pafs.FileType.NotFound:
            return f"cannot {'use' if write else 'read'} {where}: the bucket does not exist"
        if write:
            probe = p / f".cleanwire-probe-{uuid.uuid4().hex}"
            with fs.open_output_stream(probe.key_path) as f:
                f.write(b"probe")
            fs.delete_file(probe.key_path)
    except OSError as e:
        return f"cannot {'use' if write else 'read'} {where}: {_s3_problem(str(e))}"
    return None


def _s3_problem(message: str) -> str:
    """The one useful phrase of an S3 error (pyarrow's messages run to several lines)."""
    m = message.lower()
    for needle, say in (("no_such_bucket", "the bucket does not exist"),
                        ("nosuchbucket", "the bucket does not exist"),
                        ("bucket does not exist", "the bucket does not exist"),
                        ("invalidaccesskeyid", "the access key is not known (check AWS_ACCESS_KEY_ID)"),
                        ("invalid_access_key_id", "the access key is not known (check AWS_ACCESS_KEY_ID)"),
                        ("signaturedoesnotmatch", "the credentials were refused (check AWS_SECRET_ACCESS_KEY)"),
                        ("signature_does_not_match", "the credentials were refused (check AWS_SECRET_ACCESS_KEY)"),
                        ("access_denied", "access denied (check the credentials and the bucket policy)"),
                        ("accessdenied", "access denied (check the credentials and the bucket policy)"),
                        ("forbidden", "access denied (check the credentials and the bucket policy)"),
                        ("curl", "the endpoint does not answer (check AWS_ENDPOINT_URL)"),
                        ("connect", "the endpoint does not answer (check AWS_ENDPOINT_URL)"),
                        ("network", "the endpoint does not answer (check AWS_ENDPOINT_URL)"),
                        ("resolve", "the endpoint's host is not known (check AWS_ENDPOINT_URL)")):
        if needle in m:
            return say
    return " ".join(message.split())[:200]
