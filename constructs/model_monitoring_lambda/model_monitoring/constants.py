"""What the `ModelMonitoring` construct and its functions share; imports nothing of the package."""

from __future__ import annotations

# The environment variables the construct writes the functions' settings into (JSON).
LAUNCHER_SETTINGS_VARIABLE = "MONITOR_SETTINGS"
RETRAINING_SETTINGS_VARIABLE = "RETRAINING_SETTINGS"
