"""The smallest CDK app worth synthesizing: one bucket. The yardstick for `make bench-synth`."""

import aws_cdk as cdk
from aws_cdk import aws_s3 as s3

app = cdk.App()
s3.Bucket(cdk.Stack(app, "Reference"), "Bucket")
app.synth()
