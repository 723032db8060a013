"""The deploy workflow's steps, run as Lambda handlers by the Step Functions state machine of `ModelDeployment`.

The state machine passes one JSON object (the *state*) from step to step; every handler takes it and returns it
updated. One module per concern:

- `names`: deterministic names of models, endpoint configs and tags.
- `requests`: the EndpointConfig, UpdateEndpoint and rollback-alarm requests built from the settings.
- `decisions`: pure rules: which approval wins, what the endpoint says about a rollout, what to clean up.
- `aws`: clients, settings, the few error shapes AWS answers with, and the errors a step is retried on.
- `ledger`: the deploy ledger (DynamoDB): approval events in order, each approval's claim, each report; the
  arbiter between concurrent executions, by conditional writes.
- `approvals`: the registry's Approved packages, read once to seed the ledger.
- `prepare`, `rollout`, `check`, `conclude`: the workflow's steps, each with a `handler`.
- `autoscaling`: pausing and restoring Application Auto Scaling on the variant.
- `teardown`: the CloudFormation custom resource that removes the endpoint with the stack.

Settings arrive in the `DEPLOY_SETTINGS` environment variable (JSON written by the construct).
"""
