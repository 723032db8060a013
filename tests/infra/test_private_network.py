"""Private network mode (docs/private-network.md): with the shipped cdk.json, stg and prod run every job, the
model and every function inside their VPC, isolate what needs no network, and reach AWS through the endpoints
their calls need; dev stays outside any VPC. An existing VPC is imported from its ids without any lookup."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from constructs.private_network import GATEWAY_ENDPOINTS, INTERFACE_ENDPOINTS
from constructs.training_pipeline_definition import CODE_CHANNEL_FOLDER
from settings.loading import ConfigError, load_environments
from tests.infra.conftest import no_network
from tests.infra.support.iam_calls import CallRecorder
from tests.infra.support.iam_jobs import deploy_settings, monitor_settings, pipelines
from tests.infra.support.iam_templates import Environment
from tests.infra.support.synthesis import ENVIRONMENTS, Synthesized, cdk_json_context, synthesize

PRIVATE = [name for name in ENVIRONMENTS if cdk_json_context()["environments"][name].get("network")]
NOT_PRIVATE = [name for name in ENVIRONMENTS if name not in PRIVATE]

# botocore's service name -> the VPC endpoint service (com.amazonaws.<region>.<name>) that serves its calls
# (AWS PrivateLink, "AWS services that integrate with AWS PrivateLink").
ENDPOINT_SERVICE = {
    "sagemaker": "sagemaker.api",
    "sagemaker-runtime": "sagemaker.runtime",
    "stepfunctions": "states",
    "cloudwatch": "monitoring",
}
GATEWAY_SERVICES = set(GATEWAY_ENDPOINTS)


def environment(synthesized: Synthesized, name: str) -> Environment:
    return Environment(name, synthesized.templates[name], synthesized.stages[name].region)


def resources_of(env: Environment, kind: str) -> Iterator[tuple[str, str, Mapping[str, Any]]]:
    return ((stack, logical_id, r) for stack, logical_id, r in env.resources() if r["Type"] == kind)


def job_steps(env: Environment) -> list[Mapping[str, Any]]:
    (pipeline,) = pipelines(env)
    return [step for step in pipeline.definition["Steps"] if step["Type"] in ("Processing", "Training")] + [
        step
        for condition in pipeline.definition["Steps"]
        if condition["Type"] == "Condition"
        for step in condition["Arguments"]["IfSteps"] + condition["Arguments"]["ElseSteps"]
        if step["Type"] in ("Processing", "Training")
    ]


def subnets_of(env: Environment) -> set[str]:
    return {env.resolve(stack, {"Ref": logical_id}) for stack, logical_id, _ in resources_of(env, "AWS::EC2::Subnet")}


def test_stg_and_prod_are_private_and_dev_is_not() -> None:
    assert (PRIVATE, NOT_PRIVATE) == (["stg", "prod"], ["dev"])


# ------------------------------------------------------------------------------------ nothing outside the VPC


@pytest.mark.parametrize("name", PRIVATE)
def test_every_function_runs_in_the_private_subnets(synthesized: Synthesized, name: str) -> None:
    env = environment(synthesized, name)
    functions = list(resources_of(env, "AWS::Lambda::Function"))
    assert functions
    for stack, logical_id, function in functions:
        vpc = env.resolve(stack, function["Properties"].get("VpcConfig", {}))
        assert set(vpc.get("SubnetIds", [])) == subnets_of(env), logical_id
        assert vpc["SecurityGroupIds"], logical_id


@pytest.mark.parametrize("name", PRIVATE)
def test_every_job_runs_in_the_private_subnets_with_encrypted_traffic(synthesized: Synthesized, name: str) -> None:
    env = environment(synthesized, name)
    steps = job_steps(env)
    assert {step["Type"] for step in steps} == {"Processing", "Training"}
    for step in steps:
        arguments = step["Arguments"]
        if step["Type"] == "Processing":
            network = arguments["NetworkConfig"]
            vpc, encrypted = network["VpcConfig"], network["EnableInterContainerTrafficEncryption"]
        else:
            vpc, encrypted = arguments["VpcConfig"], arguments["EnableInterContainerTrafficEncryption"]
        assert set(vpc["Subnets"]) == subnets_of(env), step["Name"]
        assert vpc["SecurityGroupIds"], step["Name"]
        assert encrypted is True, step["Name"]


@pytest.mark.parametrize("name", PRIVATE)
def test_the_monitoring_job_runs_in_the_private_subnets_with_the_network_it_uses(
    synthesized: Synthesized, name: str
) -> None:
    """The launcher's request (monitoring.launcher.job_request) carries the VPC; not isolated: monitor.py reads S3
    (gateway endpoint) and publishes to CloudWatch (the "monitoring" interface endpoint) itself."""
    from constructs.model_monitoring_lambda.model_monitoring.launcher import job_request

    env = environment(synthesized, name)
    settings = monitor_settings(env)
    assert settings is not None
    package = {"ModelPackageVersion": 1, "ModelPackageArn": "arn:aws:sagemaker:eu-west-1:1:model-package/g/1"}
    request = job_request(dict(settings), "job", "2026-01-01T00:00:00+00:00", package, "s3://b/baseline.json")
    network = request["NetworkConfig"]
    assert set(network["VpcConfig"]["Subnets"]) == subnets_of(env)
    assert network["VpcConfig"]["SecurityGroupIds"]
    assert network["EnableInterContainerTrafficEncryption"] is True
    assert network["EnableNetworkIsolation"] is False
    assert {"s3", "monitoring"} <= set(endpoint_services(env))


@pytest.mark.parametrize("name", PRIVATE)
def test_the_model_is_created_in_the_vpc_and_isolated(synthesized: Synthesized, name: str) -> None:
    settings = deploy_settings(environment(synthesized, name))
    assert settings is not None
    assert set(settings["model_vpc_config"]["Subnets"]) == subnets_of(environment(synthesized, name))
    assert settings["model_vpc_config"]["SecurityGroupIds"]
    assert settings["model_enable_network_isolation"] is True


@pytest.mark.parametrize("name", NOT_PRIVATE)
def test_an_environment_without_a_network_has_no_vpc_anywhere(synthesized: Synthesized, name: str) -> None:
    env = environment(synthesized, name)
    assert not [r for _, _, r in env.resources() if r["Type"].startswith("AWS::EC2::")]
    assert not [r for _, _, r in resources_of(env, "AWS::Lambda::Function") if "VpcConfig" in r["Properties"]]
    assert "VpcConfig" not in json.dumps([step["Arguments"] for step in job_steps(env)])
    settings = deploy_settings(env)
    assert settings is not None and "model_vpc_config" not in settings
    monitoring = monitor_settings(env)
    assert monitoring is not None and "network_config" not in monitoring


# ------------------------------------------------------------------------------------ isolation


@pytest.mark.parametrize("name", PRIVATE)
def test_jobs_that_need_no_network_are_isolated_and_evaluate_is_not(synthesized: Synthesized, name: str) -> None:
    isolated = {}
    for step in job_steps(environment(synthesized, name)):
        arguments = step["Arguments"]
        network = arguments["NetworkConfig"] if step["Type"] == "Processing" else arguments
        isolated[step["Name"]] = network["EnableNetworkIsolation"]
    # Evaluate downloads the champion model itself (ml_code/champion.py): docs/private-network.md says why.
    assert isolated == {"Preprocess": True, "Train": True, "Evaluate": False}


@pytest.mark.parametrize("name", PRIVATE)
def test_the_isolated_training_job_gets_its_code_from_a_code_channel(synthesized: Synthesized, name: str) -> None:
    (train,) = [step for step in job_steps(environment(synthesized, name)) if step["Type"] == "Training"]
    channels = {
        c["ChannelName"]: c["DataSource"]["S3DataSource"]["S3Uri"] for c in train["Arguments"]["InputDataConfig"]
    }
    (code_input,) = [
        i["S3Input"]["S3Uri"]
        for step in job_steps(environment(synthesized, name))
        if step["Name"] == "Preprocess"
        for i in step["Arguments"]["ProcessingInputs"]
        if i["InputName"] == "code"
    ]
    assert channels["code"] == code_input  # the same bundle the processing jobs run
    # SageMaker writes a channel's object under its own name; the training toolkit extracts that file.
    submit_directory = json.loads(train["Arguments"]["HyperParameters"]["sagemaker_submit_directory"])
    assert submit_directory == f"{CODE_CHANNEL_FOLDER}/{code_input.rsplit('/', 1)[1]}"
    assert {"train", "validation"} <= set(channels)


# ------------------------------------------------------------------------------------ security groups


@pytest.mark.parametrize("name", PRIVATE)
def test_training_hosts_may_reach_each_other(synthesized: Synthesized, name: str) -> None:
    env = environment(synthesized, name)
    (train,) = [step for step in job_steps(env) if step["Type"] == "Training"]
    groups = train["Arguments"]["VpcConfig"]["SecurityGroupIds"]
    self_referencing = {
        env.resolve(stack, rule["Properties"]["GroupId"])
        for stack, _, rule in resources_of(env, "AWS::EC2::SecurityGroupIngress")
        if rule["Properties"]["IpProtocol"] == "-1"
        and env.resolve(stack, rule["Properties"]["GroupId"])
        == env.resolve(stack, rule["Properties"].get("SourceSecurityGroupId"))
    }
    assert self_referencing & set(groups)


# ------------------------------------------------------------------------------------ endpoints


def endpoint_services(env: Environment) -> dict[str, Mapping[str, Any]]:
    """The VPC endpoints by service name (the part after com.amazonaws.<region>.)."""
    prefix = f"com.amazonaws.{env.region}."
    found = {}
    for stack, _, endpoint in resources_of(env, "AWS::EC2::VPCEndpoint"):
        properties = env.resolve(stack, endpoint["Properties"])
        found[properties["ServiceName"].removeprefix(prefix)] = properties
    return found


@pytest.mark.parametrize("name", PRIVATE)
def test_interface_endpoints_have_private_dns_and_s3_has_its_gateway(synthesized: Synthesized, name: str) -> None:
    endpoints = endpoint_services(environment(synthesized, name))
    for gateway in GATEWAY_ENDPOINTS:  # S3, and DynamoDB for the deploy ledger
        assert endpoints.pop(gateway)["VpcEndpointType"] == "Gateway", gateway
    assert set(endpoints) == set(INTERFACE_ENDPOINTS)
    for service, properties in endpoints.items():
        assert properties["VpcEndpointType"] == "Interface", service
        assert properties["PrivateDnsEnabled"] is True, service


@pytest.mark.after_handler_tests
def test_every_service_a_function_calls_has_its_endpoint_and_every_endpoint_is_called(
    synthesized: Synthesized, recorded_calls: CallRecorder
) -> None:
    called = {call.service for call in recorded_calls.calls}
    assert called, "no recorded calls: run the whole of tests/infra (the handler tests record them)"
    needed = {ENDPOINT_SERVICE.get(service, service) for service in called}
    for name in PRIVATE:
        endpoints = set(endpoint_services(environment(synthesized, name)))
        assert needed - endpoints == set(), name
        assert endpoints - needed == set(), f"{name}: endpoints no recorded call uses"
    assert needed & GATEWAY_SERVICES == GATEWAY_SERVICES


# ------------------------------------------------------------------------------------ an existing VPC

EXISTING = {
    "mode": "existing",
    "existing": {
        "vpc_id": "vpc-0123456789abcdef0",
        "availability_zones": ["eu-west-1a", "eu-west-1b"],
        "private_subnet_ids": ["subnet-0aaaaaaaaaaaaaaa1", "subnet-0aaaaaaaaaaaaaaa2"],
        "private_subnet_route_table_ids": ["rtb-0aaaaaaaaaaaaaaa1", "rtb-0aaaaaaaaaaaaaaa2"],
        "security_group_ids": ["sg-0aaaaaaaaaaaaaaa1"],
    },
}


@pytest.fixture(scope="module")
def existing_vpc(tmp_path_factory: pytest.TempPathFactory) -> Environment:
    """stg alone, in the team's VPC given by ids: synthesized offline, with no lookup."""
    context = cdk_json_context()
    context["environments"]["stg"]["network"] = EXISTING
    context["env"] = "stg"
    with no_network():
        synthesized = synthesize(Path(tmp_path_factory.mktemp("cdk.out.existing")), context)
    return environment(synthesized, "stg")


def test_an_existing_vpc_is_imported_not_created(existing_vpc: Environment) -> None:
    assert not list(resources_of(existing_vpc, "AWS::EC2::VPC"))
    assert not list(resources_of(existing_vpc, "AWS::EC2::Subnet"))
    gateways = {s: e for s, e in endpoint_services(existing_vpc).items() if e["VpcEndpointType"] == "Gateway"}
    assert set(gateways) == set(GATEWAY_ENDPOINTS)
    for gateway in gateways.values():
        assert gateway["VpcId"] == EXISTING["existing"]["vpc_id"]
        assert gateway["RouteTableIds"] == EXISTING["existing"]["private_subnet_route_table_ids"]


def test_an_existing_vpc_places_jobs_model_and_functions_in_its_subnets_with_the_teams_groups(
    existing_vpc: Environment,
) -> None:
    subnets = EXISTING["existing"]["private_subnet_ids"]
    (team_group,) = EXISTING["existing"]["security_group_ids"]
    for stack, logical_id, function in resources_of(existing_vpc, "AWS::Lambda::Function"):
        vpc = existing_vpc.resolve(stack, function["Properties"]["VpcConfig"])
        assert vpc["SubnetIds"] == subnets and team_group in vpc["SecurityGroupIds"], logical_id
    for step in job_steps(existing_vpc):
        arguments = step["Arguments"]
        vpc = (arguments["NetworkConfig"] if step["Type"] == "Processing" else arguments)["VpcConfig"]
        assert vpc["Subnets"] == subnets and team_group in vpc["SecurityGroupIds"], step["Name"]
    settings = deploy_settings(existing_vpc)
    assert settings is not None and settings["model_vpc_config"]["Subnets"] == subnets


# ------------------------------------------------------------------------------------ settings


def with_network(network: Any, encrypt: bool = True) -> dict[str, Any]:
    context = cdk_json_context()
    context["environments"]["stg"]["network"] = network
    context["environments"]["stg"]["training"]["encrypt_inter_container_traffic"] = encrypt
    return context


def error(context: dict[str, Any]) -> str:
    with pytest.raises(ConfigError) as raised:
        load_environments(context)
    return str(raised.value)


def test_off_is_the_same_as_no_network_section() -> None:
    (stg,) = [e for e in load_environments(with_network({"mode": "off"})) if e.name == "stg"]
    assert stg.private_network is None


def test_a_mode_needs_its_section_and_only_it() -> None:
    assert error(with_network({"mode": "created"})) == (
        "environment 'stg': key 'network.created' is required when mode is 'created'"
    )
    assert "key 'network.existing' must be absent (or null) when mode is 'created'" in error(
        with_network({**EXISTING, "mode": "created", "created": {"cidr": "10.1.0.0/16"}})
    )


def test_a_private_network_needs_encrypted_traffic_between_training_hosts() -> None:
    message = error(with_network({"mode": "created", "created": {"cidr": "10.1.0.0/16"}}, encrypt=False))
    assert "key 'training.encrypt_inter_container_traffic' must be true in a private network mode" in message


def test_subnets_zones_and_route_tables_go_in_pairs() -> None:
    existing = {**EXISTING["existing"], "private_subnet_ids": ["subnet-0aaaaaaaaaaaaaaa1"]}
    assert "key 'network.existing.private_subnet_ids' must be as many as availability_zones (2)" in error(
        with_network({"mode": "existing", "existing": existing})
    )


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("vpc_id", "vpc-12", "an id such as vpc-0123456789abcdef0"),
        ("private_subnet_ids", ["subnet-xyz", "subnet-0aaaaaaaaaaaaaaa2"], "an id such as subnet-"),
        ("availability_zones", ["eu-west-1", "eu-west-1b"], "an availability zone such as eu-west-1a"),
    ],
)
def test_ids_of_the_wrong_form_are_named(key: str, value: Any, expected: str) -> None:
    existing = {**EXISTING["existing"], key: value}
    assert expected in error(with_network({"mode": "existing", "existing": existing}))


def test_a_created_vpc_needs_a_cidr_block_of_a_usable_size() -> None:
    assert "expected an IPv4 CIDR block from /16 to /22" in error(
        with_network({"mode": "created", "created": {"cidr": "10.0.0.0/8"}})
    )


# ------------------------------------------------------------------------------------ the model's CreateModel


@pytest.mark.parametrize("name", [*PRIVATE, *NOT_PRIVATE])
def test_the_deploy_step_creates_the_model_with_the_environments_network(synthesized: Synthesized, name: str) -> None:
    # CreateModel (SageMaker API Reference): VpcConfig {SecurityGroupIds, Subnets}, EnableNetworkIsolation.
    # botocore's Stubber checks the request against the service model and against what the settings say.
    import boto3
    from botocore.stub import Stubber

    from constructs.model_deployment_lambda.model_deployment.deployment_names import PACKAGE_TAG
    from constructs.model_deployment_lambda.model_deployment.rollout import ensure_model

    settings = deploy_settings(environment(synthesized, name))
    assert settings is not None
    state = {"model_name": f"mlops-{name}-v1", "package_arn": "arn:aws:sagemaker:eu-west-1:1:model-package/g/1"}
    client = boto3.client("sagemaker", region_name="eu-west-1", aws_access_key_id="x", aws_secret_access_key="x")
    expected = {
        "ModelName": state["model_name"],
        "ExecutionRoleArn": settings["model_role_arn"],
        "Containers": [{"ModelPackageName": state["package_arn"]}],
        "Tags": [{"Key": PACKAGE_TAG, "Value": state["package_arn"]}],
    }
    if name in PRIVATE:
        expected["VpcConfig"] = settings["model_vpc_config"]
        expected["EnableNetworkIsolation"] = True
    with Stubber(client) as stubber:
        stubber.add_response("create_model", {"ModelArn": "arn:aws:sagemaker:eu-west-1:1:model/m"}, expected)
        ensure_model(client, settings, state)
        stubber.assert_no_pending_responses()


# ------------------------------------------------------------------------------------ scanners


def checkov_skips(resource: Mapping[str, Any]) -> dict[str, str]:
    return {skip["id"]: skip["comment"] for skip in resource.get("Metadata", {}).get("checkov", {}).get("skip", [])}


@pytest.mark.parametrize("name", ENVIRONMENTS)
def test_a_function_outside_a_vpc_says_why_and_one_inside_does_not(synthesized: Synthesized, name: str) -> None:
    # checkov's CKV_AWS_117 (function inside a VPC): skipped, with the reason, only where it would be a finding.
    for _, logical_id, function in resources_of(environment(synthesized, name), "AWS::Lambda::Function"):
        reason = checkov_skips(function).get("CKV_AWS_117")
        if "VpcConfig" in function["Properties"]:
            assert reason is None, logical_id
        else:
            assert reason and "network mode is off" in reason, logical_id
