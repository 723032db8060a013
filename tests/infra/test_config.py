"""Bad configuration fails with one message naming the environment and the key."""

from __future__ import annotations

import copy
import json
import re
import sys
from typing import Any

import pytest

from settings.loading import (
    ENVIRONMENT_DEFAULTS_CONTEXT_KEY,
    ConfigError,
    auc_thresholds,
    environment_settings,
    load_environments,
)
from tests.infra.support.early_process import EarlyProcess, Finished
from tests.infra.support.synthesis import cdk_json_context


def context_with(change: dict[str, Any] | None = None, **top_level: Any) -> dict[str, Any]:
    """cdk.json's context with `change` applied to dev's settings (dotted keys; None deletes)."""
    return {**_environment_with("dev", change or {}), **top_level}


def _environment_with(name: str, change: dict[str, Any]) -> dict[str, Any]:
    # Every environment written out whole (the shared defaults resolved), so a key can be changed or deleted.
    context = copy.deepcopy(cdk_json_context())
    context["environments"] = environment_settings(context)
    del context[ENVIRONMENT_DEFAULTS_CONTEXT_KEY]
    for dotted, value in change.items():
        *parents, leaf = dotted.split(".")
        node = context["environments"][name]
        for parent in parents:
            node = node[parent]
        if value is None:
            del node[leaf]
        else:
            node[leaf] = value
    return context


def config_error(context: dict[str, Any]) -> str:
    with pytest.raises(ConfigError) as raised:
        load_environments(context)
    return str(raised.value)


def test_shipped_configuration_loads_every_environment() -> None:
    assert [config.name for config in load_environments(cdk_json_context())] == ["dev", "stg", "prod"]


def test_env_context_selects_one_environment() -> None:
    assert [config.name for config in load_environments(context_with(env="stg"))] == ["stg"]


def test_selecting_one_environment_still_validates_the_others() -> None:
    message = config_error(context_with({"training.auc_threshold": 1.5}, env="stg"))
    assert message == "environment 'dev': key 'training.auc_threshold' must be between 0.5 and 1.0, got 1.5"


def test_unknown_environment() -> None:
    message = config_error(context_with(env="qa"))
    assert message == "unknown environment 'qa' (-c env=...): known environments are dev, prod, stg"


def test_missing_region() -> None:
    assert config_error(context_with({"region": None})) == "environment 'dev': missing key 'region'"


def test_region_that_is_not_a_region() -> None:
    message = config_error(context_with({"region": "Ireland"}))
    assert message == "environment 'dev': key 'region' is not an AWS region: 'Ireland'"


def test_account_that_is_not_an_account_id() -> None:
    message = config_error(context_with({"account": "12345"}))
    assert message == "environment 'dev': key 'account' must be a 12-digit account id or null"


def test_wrong_type() -> None:
    message = config_error(context_with({"data.noncurrent_version_expiration_days": "7"}))
    assert message == (
        "environment 'dev': key 'data.noncurrent_version_expiration_days' must be of type int, got str '7'"
    )


def test_boolean_is_not_a_number() -> None:
    message = config_error(context_with({"data.noncurrent_version_expiration_days": True}))
    assert "key 'data.noncurrent_version_expiration_days' must be of type int, got bool True" in message


def test_value_out_of_range() -> None:
    message = config_error(context_with({"data.access_log_retention_days": 0}))
    assert message == "environment 'dev': key 'data.access_log_retention_days' must be between 1 and 3650, got 0"


def test_value_not_among_the_allowed_ones() -> None:
    message = config_error(context_with({"removal_policy": "keep"}))
    assert message == "environment 'dev': key 'removal_policy' must be one of 'destroy', 'retain', got 'keep'"


def test_unknown_key_is_a_typo_not_ignored() -> None:
    message = config_error(context_with({"data.noncurrent_version_expiry_days": 7}))
    assert message.startswith("environment 'dev': unknown key 'data.noncurrent_version_expiry_days' (known keys here:")


def test_unknown_top_level_key() -> None:
    assert config_error(context_with({"regoin": "eu-west-1"})).startswith("environment 'dev': unknown key 'regoin'")


def test_section_that_is_not_an_object() -> None:
    assert config_error(context_with({"data": 7})) == "environment 'dev': key 'data' must be an object"


def test_no_environments() -> None:
    message = config_error({"environments": {}})
    assert message == "cdk.json context 'environments' must map environment names to settings"


BAD_CONFIG_SYNTH = EarlyProcess(
    "bad-config",
    (sys.executable, "app.py"),
    {"CDK_CONTEXT_JSON": json.dumps(context_with({"removal_policy": "keep"})), "CDK_OUTDIR": "{folder}"},
)


@BAD_CONFIG_SYNTH.mark()
def test_synth_reports_a_bad_configuration_in_one_line(early_process: Finished) -> None:
    result = early_process.completed
    assert result.returncode == 1
    assert result.stderr.strip() == (
        "Configuration error in cdk.json: environment 'dev': key 'removal_policy' must be one of"
        " 'destroy', 'retain', got 'keep'"
    )


def test_auc_threshold_out_of_range() -> None:
    message = config_error(context_with({"training.auc_threshold": 1.5}))
    assert message == "environment 'dev': key 'training.auc_threshold' must be between 0.5 and 1.0, got 1.5"


def test_champion_gate_is_optional() -> None:
    (dev,) = load_environments(context_with({"training.champion_auc_margin": None}, env="dev"))
    assert dev.training.champion_auc_margin is None


def test_champion_margin_out_of_range() -> None:
    message = config_error(context_with({"training.champion_auc_margin": -0.01}))
    assert message == "environment 'dev': key 'training.champion_auc_margin' must be between 0.0 and 0.5, got -0.01"


def test_champion_margin_of_the_wrong_type() -> None:
    message = config_error(context_with({"training.champion_auc_margin": "0.01"}))
    assert message == "environment 'dev': key 'training.champion_auc_margin' must be of type float, got str '0.01'"


def test_every_environments_threshold_is_known_when_one_environment_is_selected() -> None:
    # Each run's report shows all thresholds, also under `cdk synth -c env=dev`.
    assert auc_thresholds(context_with(env="dev")) == {"dev": 0.85, "stg": 0.9, "prod": 0.92}


def test_a_bad_threshold_elsewhere_fails_even_when_one_environment_is_selected() -> None:
    context = _environment_with("prod", {"training.auc_threshold": 2})
    with pytest.raises(ConfigError, match=re.escape("environment 'prod': key 'training.auc_threshold' must be")):
        auc_thresholds({**context, "env": "dev"})


def test_instance_type_that_is_not_a_sagemaker_instance_type() -> None:
    message = config_error(context_with({"training.training_instance_type": "m5.xlarge"}))
    assert message.startswith(
        "environment 'dev': key 'training.training_instance_type' has an invalid value 'm5.xlarge'"
    )


def test_an_auc_threshold_written_as_a_percentage_gets_the_fraction_to_write() -> None:
    message = config_error(context_with({"training.auc_threshold": 85}))
    assert message == (
        "environment 'dev': key 'training.auc_threshold' is a fraction between 0.5 and 1.0, got 85.0: a percentage? "
        "write 0.85 for 85%"
    )


def test_the_label_threshold_defaults_to_one_half_and_takes_a_fraction() -> None:
    (dev,) = load_environments(context_with({"training.label_threshold": None}, env="dev"))
    assert dev.training.label_threshold == 0.5
    (tuned,) = load_environments(context_with({"training.label_threshold": 0.3}, env="dev"))
    assert tuned.training.label_threshold == 0.3
    message = config_error(context_with({"training.label_threshold": 30}))
    assert message.endswith("got 30.0: a percentage? write 0.3 for 30%")


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"training.training_instance_type": "m5.xlarge"}, "expected a SageMaker instance type such as ml.m5.large"),
        ({"notifications.email_addresses": ["ops-at-example.com"]}, "expected an e-mail address"),
        ({"notifications.https_endpoints": ["http://chat"]}, "expected an https:// URL without spaces"),
        ({"deployment.endpoint.variant_name": "All_Traffic"}, "expected letters, digits and hyphens, at most 63"),
    ],
)
def test_a_malformed_text_setting_says_what_form_is_expected_without_a_regex(
    change: dict[str, Any], expected: str
) -> None:
    message = config_error(context_with(change))
    assert expected in message
    described = message.split(": expected ", 1)[1]
    assert not any(character in described for character in "\\[]{}^$+*")


def test_email_subscription_that_is_not_an_address() -> None:
    message = config_error(context_with({"notifications.email_addresses": ["ops-at-example.com"]}))
    assert message.startswith("environment 'dev': key 'notifications.email_addresses[0]' has an invalid value")


def test_canary_needs_two_instances() -> None:
    message = config_error(
        context_with({"deployment.traffic_routing": "CANARY", "deployment.traffic_step_percent": 50})
    )
    assert message == (
        "environment 'dev': key 'deployment.endpoint.instance_count' must be at least 2 for CANARY traffic routing, got 1"
    )


def test_canary_over_half_the_capacity() -> None:
    message = config_error(_prod_with({"deployment.traffic_step_percent": 60}))
    assert message == (
        "environment 'prod': key 'deployment.traffic_step_percent' must be at most 50 (% of capacity)"
        " for CANARY traffic routing, got 60"
    )


def test_linear_waits_count_every_step() -> None:
    # LINEAR in 10% steps is 10 waits of 360 s, plus 300 s before the old fleet goes: longer than 3600 s.
    message = config_error(_stg_with({"deployment.traffic_step_percent": 10, "deployment.traffic_wait_seconds": 360}))
    assert message == (
        "environment 'stg': key 'deployment.max_execution_timeout_seconds' must be longer than all waits together"
        " (3900 s), got 3600"
    )


@pytest.mark.parametrize("percent", [5, 60])
def test_a_linear_step_outside_10_to_50_percent_of_the_instances(percent: int) -> None:
    message = config_error(_stg_with({"deployment.traffic_step_percent": percent}))
    assert message == (
        "environment 'stg': key 'deployment.traffic_step_percent' must be 10 to 50 (% of the instance count)"
        f" for LINEAR traffic routing, got {percent}"
    )


@pytest.mark.parametrize("environment", ["dev", "stg", "prod"])
def test_every_routing_bakes_at_least_the_alarms_evaluation_window(environment: str) -> None:
    message = config_error(_environment_with(environment, {"deployment.traffic_wait_seconds": 60}))
    assert message == (
        f"environment '{environment}': key 'deployment.traffic_wait_seconds' must be at least the alarms' evaluation"
        " window (alarms.period_seconds x evaluation_periods = 120 s) so the rollback alarms can act while traffic"
        " bakes, got 60"
    )


def test_all_at_once_keeps_the_old_fleet_for_the_alarms_evaluation_window() -> None:
    message = config_error(context_with({"deployment.termination_wait_seconds": 0}))
    assert message == (
        "environment 'dev': key 'deployment.termination_wait_seconds' must be at least the alarms' evaluation window"
        " (120 s) for ALL_AT_ONCE traffic routing, so a rollback is still possible after the shift, got 0"
    )


def test_a_longer_alarm_window_needs_a_longer_bake() -> None:
    message = config_error(_prod_with({"deployment.alarms.evaluation_periods": 11}))
    assert message == "environment 'prod': key 'deployment.alarms.evaluation_periods' must be between 1 and 10, got 11"
    message = config_error(_prod_with({"deployment.alarms.period_seconds": 660}))
    assert "key 'deployment.traffic_wait_seconds' must be at least" in message


def test_alarm_periods_are_whole_minutes() -> None:
    message = config_error(_prod_with({"deployment.alarms.period_seconds": 90}))
    assert message == "environment 'prod': key 'deployment.alarms.period_seconds' must be a multiple of 60, got 90"


@pytest.mark.parametrize("rate", [0, 101])
def test_error_rate_thresholds_are_percentages(rate: float) -> None:
    message = config_error(_prod_with({"deployment.alarms.model_error_rate_percent": rate}))
    assert message.startswith("environment 'prod': key 'deployment.alarms.model_error_rate_percent' must be between")


@pytest.mark.parametrize(
    "instance_type",
    [
        "ml.m5d.large",
        "ml.c5d.xlarge",
        "ml.r5d.large",
        "ml.g4dn.xlarge",
        "ml.g5.xlarge",
        "ml.p3dn.24xlarge",
        "ml.p4d.24xlarge",
        "ml.m6id.large",
    ],
)
def test_endpoint_instance_types_with_local_nvme_storage_are_refused(instance_type: str) -> None:
    message = config_error(context_with({"deployment.endpoint.instance_type": instance_type}))
    assert message.startswith(
        f"environment 'dev': key 'deployment.endpoint.instance_type' {instance_type} has local NVMe storage, which"
        " refuses the endpoint config's KmsKeyId"
    )


@pytest.mark.parametrize(
    "instance_type",
    ["ml.m5.large", "ml.c5.xlarge", "ml.r5.large", "ml.g4.xlarge", "ml.m7i.large", "ml.inf2.xlarge", "ml.c6g.large"],
)
def test_endpoint_instance_types_without_instance_storage_are_accepted(instance_type: str) -> None:
    (config,) = load_environments({**context_with({"deployment.endpoint.instance_type": instance_type}), "env": "dev"})
    assert config.deployment.endpoint.instance_type == instance_type


@pytest.mark.parametrize("other", ["dev-v2", "dev-v"])
def test_an_environment_under_anothers_resource_prefix_is_refused(other: str) -> None:
    context = copy.deepcopy(cdk_json_context())
    context["environments"][other] = copy.deepcopy(context["environments"]["dev"])
    message = config_error(context)
    assert message == (
        f"environment '{other}': its name starts with 'dev-v', so environment 'dev''s resources"
        " (mlops-dev-v*: cleanup, teardown and IAM) would cover its models and configs; rename it"
    )


def test_an_environment_sharing_only_a_shorter_prefix_is_fine() -> None:
    context = copy.deepcopy(cdk_json_context())
    context["environments"]["dev-test"] = copy.deepcopy(context["environments"]["dev"])
    assert "dev-test" in [config.name for config in load_environments(context)]


def test_max_execution_timeout_out_of_the_api_range() -> None:
    message = config_error(context_with({"deployment.max_execution_timeout_seconds": 300}))
    assert message == (
        "environment 'dev': key 'deployment.max_execution_timeout_seconds' must be between 600 and 28800, got 300"
    )


def test_termination_wait_out_of_the_api_range() -> None:
    message = config_error(context_with({"deployment.termination_wait_seconds": 3601}))
    assert message == (
        "environment 'dev': key 'deployment.termination_wait_seconds' must be between 0 and 3600, got 3601"
    )


def test_max_execution_timeout_must_outlast_all_waits() -> None:
    message = config_error(_stg_with({"deployment.max_execution_timeout_seconds": 900}))
    assert message == (
        "environment 'stg': key 'deployment.max_execution_timeout_seconds' must be longer than all waits together"
        " (900 s), got 900"
    )


def test_serverless_endpoints_cannot_do_blue_green() -> None:
    message = config_error(context_with({"deployment.endpoint.serverless_memory_mb": 2048}))
    assert message == (
        "environment 'dev': key 'deployment.endpoint.serverless_memory_mb' must be null:"
        " serverless endpoints do not support blue/green deployments"
    )


def test_autoscaling_bounds_must_be_ordered() -> None:
    message = config_error(_prod_with({"deployment.endpoint.autoscaling.max_instances": 1}))
    assert message == (
        "environment 'prod': key 'deployment.endpoint.autoscaling.max_instances' must be at least min_instances (2), got 1"
    )


def test_instance_count_within_autoscaling_bounds() -> None:
    message = config_error(_prod_with({"deployment.endpoint.instance_count": 8}))
    assert message == (
        "environment 'prod': key 'deployment.endpoint.instance_count' must be within autoscaling"
        " min_instances..max_instances (2..6), got 8"
    )


def _prod_with(change: dict[str, Any]) -> dict[str, Any]:
    return _environment_with("prod", change)


def _stg_with(change: dict[str, Any]) -> dict[str, Any]:
    return _environment_with("stg", change)


# --- environment_defaults: shared settings once, each environment's own keys over them ------------------------


def layered_context(defaults: Any, dev: Any) -> dict[str, Any]:
    """dev's whole settings split into `defaults` and dev's own keys, as cdk.json writes them."""
    return {ENVIRONMENT_DEFAULTS_CONTEXT_KEY: defaults, "environments": {"dev": dev}}


def whole_dev() -> dict[str, Any]:
    return copy.deepcopy(environment_settings(cdk_json_context())["dev"])


def test_the_shipped_defaults_are_shared_and_the_environments_differ_where_they_say() -> None:
    dev, stg, prod = load_environments(cdk_json_context())
    assert dev.deployment.alarms.period_seconds == stg.deployment.alarms.period_seconds == 60  # a default
    assert (dev.training.auc_threshold, stg.training.auc_threshold, prod.training.auc_threshold) == (0.85, 0.9, 0.92)


def test_an_environments_key_overrides_the_default_and_keeps_its_siblings() -> None:
    dev = whole_dev()
    alarms = dev["deployment"].pop("alarms")
    defaults = {"deployment": {"alarms": {**alarms, "evaluation_periods": 3}}}
    (config,) = load_environments(
        layered_context(defaults, {**dev, "deployment": {**dev["deployment"], "alarms": {"evaluation_periods": 2}}})
    )
    assert config.deployment.alarms.evaluation_periods == 2
    assert config.deployment.alarms.model_latency_microseconds == alarms["model_latency_microseconds"]


def test_a_value_that_is_not_an_object_replaces_the_default_whole() -> None:
    dev = whole_dev()
    defaults = {"notifications": {"email_addresses": ["ops@example.com"], "https_endpoints": []}}
    dev["notifications"] = {"email_addresses": []}
    (config,) = load_environments(layered_context(defaults, dev))
    assert config.notifications.email_addresses == ()


def test_an_unknown_key_in_an_environment_is_still_refused() -> None:
    context = copy.deepcopy(cdk_json_context())
    context["environments"]["stg"]["training"]["auc_treshold"] = 0.9
    message = config_error(context)
    assert message.startswith("environment 'stg': unknown key 'training.auc_treshold' (known keys here: ")


def test_an_unknown_key_in_the_defaults_is_refused() -> None:
    context = copy.deepcopy(cdk_json_context())
    context[ENVIRONMENT_DEFAULTS_CONTEXT_KEY]["deployment"]["alarms"]["period"] = 60
    assert config_error(context).startswith("environment 'dev': unknown key 'deployment.alarms.period' (known keys")


def test_a_key_neither_in_the_defaults_nor_in_the_environment_is_missing() -> None:
    context = copy.deepcopy(cdk_json_context())
    del context[ENVIRONMENT_DEFAULTS_CONTEXT_KEY]["region"]
    assert config_error(context) == "environment 'dev': missing key 'region'"


def test_defaults_that_are_not_an_object_are_refused() -> None:
    message = config_error({**cdk_json_context(), ENVIRONMENT_DEFAULTS_CONTEXT_KEY: ["eu-west-1"]})
    assert message == "cdk.json context 'environment_defaults' must be an object of settings"


def test_every_environment_writes_its_own_auc_threshold() -> None:
    # ml_code/local/local_run.py reads each environment's threshold straight from cdk.json's environments (it runs in
    # .venv-ml, without settings/), so the threshold stays out of environment_defaults.
    environments = cdk_json_context()["environments"].values()
    assert all("auc_threshold" in settings["training"] for settings in environments)


def test_monitoring_window_shorter_than_the_schedule_would_skip_traffic() -> None:
    message = config_error(context_with({"monitoring.schedule_hours": 12, "monitoring.window_hours": 6}))
    assert message == (
        "environment 'dev': key 'monitoring.window_hours' must be at least schedule_hours (12) so that no traffic "
        "goes unread, got 6"
    )


def test_a_monitoring_schedule_needs_data_capture() -> None:
    message = config_error(context_with({"monitoring.schedule_enabled": True}))
    assert message == (
        "environment 'dev': key 'monitoring.schedule_enabled' needs traffic to read: set "
        "deployment.endpoint.data_capture_percent above 0, or the schedule to false"
    )


def test_monitoring_alarm_thresholds_are_checked() -> None:
    message = config_error(context_with({"monitoring.alarms.realized_auc_drop": 5}))
    assert message == (
        "environment 'dev': key 'monitoring.alarms.realized_auc_drop' is a fraction between 0.0 and 0.5, got 5.0: "
        "a percentage? write 0.05 for 5%"
    )
