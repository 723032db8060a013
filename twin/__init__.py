"""The local twin: the whole system on one machine from the exact artifacts CloudFormation would deploy.

A local AWS (moto in server mode) seeded from cdk.out's templates and assets, the project's real Lambda handlers
and ML scripts, a pipeline-definition interpreter, the synthesized deploy state machine, and an endpoint host
serving the registered model over the container's HTTP contract. `python -m twin` (or `make e2e`) runs it.
What it is not: no IAM, no KMS, no VPC, Python 3.11 instead of the Lambda runtime, no real containers.
See docs/local-twin.md.
"""
