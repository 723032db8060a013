"""The monitoring schedule's Lambda code: start the monitoring job (launcher), start a retraining run (retraining)."""
