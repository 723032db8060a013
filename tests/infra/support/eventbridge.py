"""Whether an EventBridge pattern matches an event, decided by moto's EventBridge (put_events to a rule)."""

from __future__ import annotations

import json
from typing import Any

import boto3
from moto import mock_aws


def matches(pattern: dict[str, Any], event: dict[str, Any]) -> bool:
    with mock_aws():
        region = event["region"]
        events = boto3.client("events", region_name=region)
        sqs = boto3.client("sqs", region_name=region)
        queue_url = sqs.create_queue(QueueName="matched")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        events.put_rule(Name="under-test", EventPattern=json.dumps(pattern))
        events.put_targets(Rule="under-test", Targets=[{"Id": "queue", "Arn": queue_arn}])
        result = events.put_events(
            Entries=[
                {
                    "Source": event["source"],
                    "DetailType": event["detail-type"],
                    "Detail": json.dumps(event["detail"]),
                    "Resources": event["resources"],
                }
            ]
        )
        assert result["FailedEntryCount"] == 0
        return bool(sqs.receive_message(QueueUrl=queue_url).get("Messages"))
