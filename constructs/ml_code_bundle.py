"""ml_code packed once, deterministically, as the `sourcedir.tar.gz` every SageMaker step runs from."""

from __future__ import annotations

import gzip
import hashlib
import importlib.util
import io
import os
import tarfile
from pathlib import Path, PurePosixPath

from aws_cdk import Token
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3_assets as s3_assets

from constructs import Construct
from constructs.permissions import allow

ML_CODE_DIR = Path(__file__).resolve().parents[1] / "ml_code"
BUILD_DIR = Path(__file__).resolve().parents[1] / "build" / "ml_code"


def bundle_contents(source: Path = ML_CODE_DIR) -> tuple[str, ...]:
    """The file names the containers need, as ml_code lists them (bundle_contents.BUNDLE_FILES). That module is
    stdlib-only and imports nothing, so the CDK app reads it without ml_code's libraries."""
    spec = importlib.util.spec_from_file_location("ml_code_bundle_contents", source / "bundle_contents.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return tuple(module.BUNDLE_FILES)


def bundle_files(source: Path = ML_CODE_DIR) -> list[Path]:
    """The listed files, in name order; developer tools (ml_code/local), data, tests and requirements stay out."""
    return sorted(source / name for name in bundle_contents(source))


def pack(files: list[Path]) -> bytes:
    """A tar.gz whose bytes depend only on the files' names and contents (no times, owners or modes)."""
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path in files:
            data = path.read_bytes()
            info = tarfile.TarInfo(path.name)
            info.size, info.mode, info.mtime = len(data), 0o644, 0
            tar.addfile(info, io.BytesIO(data))
    return gzip.compress(archive.getvalue(), mtime=0)


class MlCodeBundle(Construct):
    """A file asset (uploaded as-is, not zipped): SageMaker's script mode extracts tar.gz only."""

    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        packed = pack(bundle_files())
        BUILD_DIR.mkdir(parents=True, exist_ok=True)
        tarball = BUILD_DIR / f"sourcedir-{hashlib.sha256(packed).hexdigest()[:16]}.tar.gz"
        if not tarball.exists():
            # Written aside, then renamed into place: two synths at once (the tests run the CLI's beside their
            # own) never read a half-written file.
            partial = tarball.with_name(f"{tarball.name}.{os.getpid()}.partial")
            partial.write_bytes(packed)
            os.replace(partial, tarball)
        self.tarball = tarball
        self.asset = s3_assets.Asset(self, "Asset", path=str(tarball))
        self.s3_uri = self.asset.s3_object_url
        # The object's own name (its content hash): known at synth, where a channel holding it puts the file.
        self.file_name = PurePosixPath(self.asset.s3_object_key).name
        if Token.is_unresolved(self.file_name):
            raise ValueError("the code bundle's object key is not known at synth time")

    def grant_job_read(self, role: iam.IRole) -> None:
        """What a SageMaker job needs to receive the bundle: the object, and listing its key (a processing job
        mounts it as an S3Prefix input, which lists the prefix first)."""
        code_object = self.asset.s3_object_key
        allow(role, ["s3:GetObject"], [self.asset.bucket.arn_for_objects(code_object)])
        allow(
            role,
            ["s3:ListBucket"],
            [self.asset.bucket.bucket_arn],
            conditions={"StringEquals": {"s3:prefix": [code_object]}},
        )
