"""The training notifier: SageMaker's own events in, short messages on the environment's SNS topic out.

- `on_training_event`: the entry (`handler`).
- `messages`: what each notice says.
- `constants`: what the `TrainingNotifier` construct shares with the function (its environment variables' names,
  the event types, the subject limit).
- `aws_clients`: the function's clients.
"""
