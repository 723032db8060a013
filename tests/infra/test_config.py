"""Bad configuration fails with one message naming the environment and the key; the shared defaults layered under
each environment. Rules across keys of the endpoint, its rollouts and monitoring are test_config_endpoint_rules.py."""

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
from tests.infra.support.config_contexts import config_error, context_with, environment_with
from tests.infra.support.early_process import EarlyProcess, Finished
from tests.infra.support.synthesis import cdk_json_context


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
    context = environment_with("prod", {"training.auc_threshold": 2})
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
