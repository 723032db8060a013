"""The monitoring schedule's functions.

- entry modules, each with a `handler`: `launcher` (starts the monitoring job for the version the endpoint serves)
  and `retraining` (starts a training run when a monitoring alarm fires, where retraining is on).
- `serving`: which model package version the endpoint serves.
- `constants`: what the `ModelMonitoring` construct shares with the functions.
- `aws_clients`: the functions' clients.
"""
