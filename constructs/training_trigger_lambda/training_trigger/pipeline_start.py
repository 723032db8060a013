"""An accepted upload's pinned copy and its pipeline execution, one per object version."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from .aws_clients import Clients
from .champion import champion_parameters
from .constants import CSV_SUFFIX, GZIP_SUFFIX
from .settings import Settings
from .tags import EXECUTION_TAG, merge_tag, write_tags
from .uploads import Upload
from .validation import is_gzip

logger = logging.getLogger(__name__)


def pinned_input_uri(settings: Settings, token: str) -> str:
    """The pipeline's InputDataUri: a folder of its own per object version."""
    return f"s3://{settings.pinned_input_bucket}/{settings.pinned_input_prefix}{token}/"


def pinned_file_name(key: str) -> str:
    """The file name of the pinned copy: the upload's, its suffix in lower case (preprocess matches
    `.csv` and `.csv.gz` exactly)."""
    name = key.rsplit("/", 1)[-1]
    suffix = GZIP_SUFFIX if is_gzip(name) else CSV_SUFFIX
    return name[: -len(suffix)] + suffix


def start(
    aws: Clients, settings: Settings, upload: Upload, tags: Mapping[str, str], token: str, fields: dict[str, Any]
) -> dict[str, Any]:
    input_data_uri = pinned_input_uri(settings, token)
    # Always copy, even when a copy exists: a crash between copy and start must still start on redelivery.
    # Copying the same version again writes the same bytes; the managed copy goes multipart above 5 GB.
    aws.s3.copy(
        CopySource={"Bucket": upload.bucket, "Key": upload.key, **upload.version_args},
        Bucket=settings.pinned_input_bucket,
        Key=f"{settings.pinned_input_prefix}{token}/{pinned_file_name(upload.key)}",
        # The uploader's tags stay on the source: copying them would also need s3:PutObjectTagging on the copy.
        ExtraArgs={"TaggingDirective": "REPLACE"},
    )
    response = aws.sagemaker.start_pipeline_execution(
        PipelineName=settings.pipeline_name,
        ClientRequestToken=token,  # SageMaker answers a repeated token with the execution it started
        PipelineParameters=[
            {"Name": "InputDataUri", "Value": input_data_uri},
            {"Name": "InputDataVersion", "Value": upload.version_id or f"etag {upload.etag}"},
            *champion_parameters(aws.sagemaker, settings.endpoint_name),
        ],
        PipelineExecutionDisplayName=f"upload-{token[:24]}",
        PipelineExecutionDescription=f"{upload.uri} version {upload.version_id}"
        if upload.version_id
        else f"{upload.uri} etag {upload.etag}",
    )
    execution_arn = response["PipelineExecutionArn"]
    fields = {**fields, "outcome": "started", "pipeline_execution_arn": execution_arn, "input_data_uri": input_data_uri}
    merged = merge_tag(tags, EXECUTION_TAG, execution_arn)
    if merged is None:
        logger.warning(f"cannot tag {EXECUTION_TAG}: redeliveries rely on the request token", extra=fields)
    else:
        write_tags(aws.s3, upload, merged)
    logger.info("pipeline execution started", extra=fields)
    return {"status": "started", "pipeline_execution_arn": execution_arn, "input_data_uri": input_data_uri}
