"""The training notifier: SageMaker's own events in, short messages on the environment's SNS topic out.

- `notify`: the entry (`handler`) and the messages it writes.
- `constants`: what the `TrainingNotifier` construct shares with the function (the event types, the subject limit).
- `aws_clients`: the function's clients.
"""
