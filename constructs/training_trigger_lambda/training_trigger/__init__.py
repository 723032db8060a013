"""Upload trigger: validates a CSV dropped under `incoming/`, pins that object version and starts the pipeline.

Invoked by an EventBridge rule on S3 "Object Created" events of the data bucket. Bad input is answered here (tagged,
notified, never retried), and so is an upload deleted before it could be handled; the console's folder marker is
ignored. AWS errors raise so Lambda retries and the dead-letter queue keeps what keeps failing. Standard library and
boto3 only. One module per concern:

- `on_upload`: the entry (`handler`): validate, then reject or start.
- `constants`: what the construct shares with the function (its environment variables' names, the SNS subject
  limit, the accepted suffixes).
- `settings`: the function's settings from its environment.
- `uploads`: the event's object version, and which key holds it (S3 versions).
- `validation`: what makes an upload bad input: suffix, size, gzip, header, data rows (the CSV sniffing).
- `tags`: the tags the function writes on an upload, within S3's limits.
- `notices`: what the topic is told about an upload.
- `champion`: the model the environment's endpoint serves, for the run to compare with.
- `pipeline_start`: the pinned copy and StartPipelineExecution.
- `aws_clients`: the function's clients.
"""
