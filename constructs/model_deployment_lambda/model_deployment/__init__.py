"""The deploy workflow's functions, run by the Step Functions state machine of `ModelDeployment`.

The state machine passes one JSON object (the *state*) from step to step; every step takes it and returns it
updated. One module per concern:

- entry modules, each with a `handler`: `prepare`, `rollout`, `check`, `conclude` (the workflow's steps, through
  `step_handler`) and `teardown` (the CloudFormation custom resource that removes the endpoint with the stack).
- `constants`: what the constructs share with these functions (the settings variable, poll interval, name prefix,
  retried errors).
- `deployment_names`: deterministic names of models, endpoint configs and tags.
- `endpoint_requests`: the EndpointConfig, UpdateEndpoint and rollback-alarm requests built from the settings.
- `decisions`: pure rules: which approval wins, what the endpoint says about a rollout, what to clean up.
- `ledger`: the deploy ledger (DynamoDB): approval events in order, each approval's claim, each report; the
  arbiter between concurrent executions, by conditional writes.
- `approvals`: the registry's Approved packages, read once to seed the ledger.
- `autoscaling`: pausing and restoring Application Auto Scaling on the variant.
- `aws_clients`, `aws_answers`, `step_handler`: the clients, AWS's error shapes, the steps' Lambda entry.

Settings arrive in the environment variable `constants.DEPLOY_SETTINGS_VARIABLE` (JSON written by the constructs).
"""
