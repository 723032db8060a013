"""The code a model version was trained with stays readable for as long as the version may serve (issue 25).

The life story, offline, through the IAM check's evaluator (tests/infra/support/iam_policy.py): version A is trained and
registered while ml_code is bundle A; a later deploy changes ml_code (bundle B, the templates synthesized now);
then the serving version scales out and the older one is re-approved. Either way SageMaker starts a new instance
as the model role, from what the package recorded at registration: ModelDataUrl and SAGEMAKER_SUBMIT_DIRECTORY.
Both versions must start with today's model role. (ml_code's side, that version A's own artifact holds the code
it serves with, is tests/ml/test_serving_code.py.)
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from tests.infra.support import iam_jobs
from tests.infra.support.iam_check import roles
from tests.infra.support.iam_jobs import Pipeline, deploy_settings, model_role_needs, pipelines
from tests.infra.support.iam_needs import encryption_context
from tests.infra.support.iam_policy import evaluate
from tests.infra.support.iam_templates import Environment
from tests.infra.support.synthesis import ENVIRONMENTS, Synthesized

# Two executions of the pipeline, a deploy of ml_code apart.
VERSION_A, VERSION_B = "aaaa1111aaaa", "bbbb2222bbbb"


def environment(synthesized: Synthesized, name: str) -> Environment:
    return Environment(name, synthesized.templates[name], synthesized.stages[name].region)


def register_container(pipeline: Pipeline) -> dict[str, Any]:
    (register,) = [s for s in iam_jobs._steps(list(pipeline.definition["Steps"])) if s["Type"] == "RegisterModel"]
    (container,) = register["Arguments"]["InferenceSpecification"]["Containers"]
    return container


def registered_with_an_earlier_bundle(pipeline: Pipeline) -> Pipeline:
    """The pipeline as it was when bundle A was current: the code bundle's object key differs, nothing else."""
    (train,) = [s for s in iam_jobs._steps(list(pipeline.definition["Steps"])) if s["Type"] == "Training"]
    bundle_b = json.loads(train["Arguments"]["HyperParameters"]["sagemaker_submit_directory"])
    bundle_a = bundle_b.rsplit("/", 1)[0] + "/" + "0" * 64 + ".gz"
    text = json.dumps(pipeline.definition).replace(bundle_b, bundle_a)
    return Pipeline(pipeline.role, json.loads(text), pipeline.pinned_input_uri)


def needs_of_version(pipeline: Pipeline, settings: Any, env: Environment, execution: str) -> list[Any]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(iam_jobs, "EXECUTION_ID", execution)
        return model_role_needs(pipeline, settings, encryption_context(env))


@pytest.mark.parametrize("name", ENVIRONMENTS)
def test_both_versions_start_with_todays_model_role_after_ml_code_changed(synthesized: Synthesized, name: str) -> None:
    env = environment(synthesized, name)
    settings = deploy_settings(env)
    assert settings is not None
    (pipeline_b,) = pipelines(env)
    pipeline_a = registered_with_an_earlier_bundle(pipeline_b)
    model_role = roles(env)[settings["model_role_arn"]]
    versions = {
        "version A (bundle A), re-approved": needs_of_version(pipeline_a, settings, env, VERSION_A),
        "version B (bundle B), scaled out": needs_of_version(pipeline_b, settings, env, VERSION_B),
    }
    for version, needs in versions.items():
        assert any(need.resource.endswith("/output/model.tar.gz") for need in needs), version
        denied = [f"{n.action} {n.resource}" for n in needs if not evaluate(list(model_role.statements), n).allowed]
        # Fails when the serving code is read from the current bundle: version A's would be denied.
        assert not denied, f"{name}: {version} cannot start: {denied}"


@pytest.mark.parametrize("name", ENVIRONMENTS)
def test_the_serving_code_is_inside_the_model_not_in_the_cdk_assets_bucket(synthesized: Synthesized, name: str) -> None:
    (pipeline,) = pipelines(environment(synthesized, name))
    container = register_container(pipeline)
    assert container["Environment"]["SAGEMAKER_SUBMIT_DIRECTORY"] == "/opt/ml/model/code"


@pytest.mark.parametrize("name", ENVIRONMENTS)
def test_the_model_role_reads_model_artifacts_only(synthesized: Synthesized, name: str) -> None:
    env = environment(synthesized, name)
    settings = deploy_settings(env)
    assert settings is not None
    model_role = roles(env)[settings["model_role_arn"]]
    readable = [r for s in model_role.statements if "s3:GetObject" in s.actions for r in s.resources]
    assert readable == [f"arn:aws:s3:::mlops-{name}-artifacts-123456789012-eu-west-1/pipelines/"
                        f"mlops-{name}-training/train/*/output/model.tar.gz"]  # fmt: skip
    # Nothing grants the model role the CDK assets bucket any more (its code bundles change with every deploy).
    assert "cdk-hnb659fds-assets" not in json.dumps([s.resources for s in model_role.statements])


def test_the_check_catches_an_s3_code_bundle_of_the_current_synth_only(synthesized: Synthesized) -> None:
    # The same story with serving code read from the bundle, as the package recorded it before this change: the
    # model role would need the bundle's object, of bundle A for version A, which today's role cannot read.
    env = environment(synthesized, "dev")
    settings = deploy_settings(env)
    assert settings is not None
    (pipeline_b,) = pipelines(env)
    (train,) = [s for s in iam_jobs._steps(list(pipeline_b.definition["Steps"])) if s["Type"] == "Training"]
    bundle = json.loads(train["Arguments"]["HyperParameters"]["sagemaker_submit_directory"])
    reading_the_bundle = copy.deepcopy(pipeline_b.definition)
    register_container(Pipeline(pipeline_b.role, reading_the_bundle, ""))["Environment"][
        "SAGEMAKER_SUBMIT_DIRECTORY"
    ] = bundle
    pipeline_a = registered_with_an_earlier_bundle(Pipeline(pipeline_b.role, reading_the_bundle, ""))
    needs = needs_of_version(pipeline_a, settings, env, VERSION_A)
    model_role = roles(env)[settings["model_role_arn"]]
    denied = [n.resource for n in needs if not evaluate(list(model_role.statements), n).allowed]
    assert denied == [bundle.replace("s3://", "arn:aws:s3:::").rsplit("/", 1)[0] + "/" + "0" * 64 + ".gz"]
