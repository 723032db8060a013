"""The private network of one environment (docs/private-network.md): the VPC, imported from ids or created with
private subnets only, the security groups of jobs, model and functions, and the VPC endpoints the system calls.

Built in the Data stack, which every other stack of the environment deploys after and locks while it uses it.
An imported VPC is read from cdk.json's ids with no lookup (`Vpc.from_lookup` would query the account at synth).
"""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import CfnResource, CustomResourceProviderBase, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3

from constructs import Construct
from constructs.permissions import acknowledge_wildcard_resource
from constructs.scanner_reasons import skip_checkov, skip_function_checks
from settings.schema import NetworkConfig

# The interface endpoints, and only these: the services the functions call (the calls their tests record,
# tests/infra/test_private_network.py checks every recorded call's service is here and that each entry is
# called). S3 and DynamoDB have gateway endpoints (GATEWAY_ENDPOINTS). Of the jobs, only Evaluate (S3: the
# champion model) and the monitoring job (S3: capture, labels, baseline; CloudWatch: its figures, through the
# "monitoring" endpoint the functions also call) use the network themselves; SageMaker moves the jobs' and the
# model's inputs, outputs, logs and metrics, and pulls the image, outside the VPC ("Give SageMaker training jobs
# access to resources in your Amazon VPC"; "Run training and inference containers in internet-free mode").
INTERFACE_ENDPOINTS: dict[str, ec2.InterfaceVpcEndpointAwsService] = {
    "sagemaker.api": ec2.InterfaceVpcEndpointAwsService.SAGEMAKER_API,
    "states": ec2.InterfaceVpcEndpointAwsService.STEP_FUNCTIONS,
    "sns": ec2.InterfaceVpcEndpointAwsService.SNS,
    "monitoring": ec2.InterfaceVpcEndpointAwsService.CLOUDWATCH_MONITORING,
    "application-autoscaling": ec2.InterfaceVpcEndpointAwsService.APPLICATION_AUTOSCALING,
}
# The gateway endpoints (no hourly charge): S3, which the functions and jobs reach, and DynamoDB, where the deploy
# functions keep their ledger (constructs/model_deployment_lambda/model_deployment/ledger.py).
GATEWAY_ENDPOINTS: dict[str, ec2.GatewayVpcEndpointAwsService] = {
    "s3": ec2.GatewayVpcEndpointAwsService.S3,
    "dynamodb": ec2.GatewayVpcEndpointAwsService.DYNAMODB,
}
HTTPS = ec2.Port.tcp(443)
# The two zones of a created VPC (what CDK can place offline in an environment whose account is not fixed).
CREATED_VPC_ZONES = 2

# What Lambda does as the function's role to attach it to the VPC (AWS Lambda Developer Guide, "Giving Lambda
# functions access to resources in an Amazon VPC", required execution role permissions). These ec2 actions
# support no resource-level narrowing that Lambda's own use of them could keep to.
LAMBDA_NETWORK_ACTIONS = [
    "ec2:CreateNetworkInterface",
    "ec2:DescribeNetworkInterfaces",
    "ec2:DescribeSubnets",
    "ec2:DeleteNetworkInterface",
    "ec2:AssignPrivateIpAddresses",
    "ec2:UnassignPrivateIpAddresses",
]
# What SageMaker does as a job's or model's execution role to place it in the VPC (SageMaker Developer Guide,
# "Give SageMaker training jobs access to resources in your Amazon VPC" and "... hosted endpoints ...",
# CreateTrainingJob / CreateModel permissions for VpcConfig).
SAGEMAKER_NETWORK_ACTIONS = [
    "ec2:CreateNetworkInterface",
    "ec2:CreateNetworkInterfacePermission",
    "ec2:DeleteNetworkInterface",
    "ec2:DeleteNetworkInterfacePermission",
    "ec2:DescribeNetworkInterfaces",
    "ec2:DescribeVpcs",
    "ec2:DescribeDhcpOptions",
    "ec2:DescribeSubnets",
    "ec2:DescribeSecurityGroups",
]


@dataclass(frozen=True)
class NetworkPlacement:
    """Where jobs, the model and the functions of an environment run in a private network mode."""

    vpc: ec2.IVpc
    subnets: tuple[ec2.ISubnet, ...]
    # Jobs and the endpoint's model: one group that admits its own members (multi-host training), plus any the
    # team's settings add.
    workload_security_groups: tuple[ec2.ISecurityGroup, ...]
    function_security_groups: tuple[ec2.ISecurityGroup, ...]

    @property
    def subnet_ids(self) -> list[str]:
        return [subnet.subnet_id for subnet in self.subnets]

    @property
    def workload_security_group_ids(self) -> list[str]:
        return [group.security_group_id for group in self.workload_security_groups]


def model_network_settings(network: NetworkPlacement) -> dict[str, object]:
    """What the deploy steps put in CreateModel (DEPLOY_SETTINGS keys): the model in the VPC, isolated. Its serving
    code is inside model.tar.gz (SAGEMAKER_SUBMIT_DIRECTORY=/opt/ml/model/code), so the container needs nothing
    from the network ("Run training and inference containers in internet-free mode")."""
    return {
        "model_vpc_config": {
            "Subnets": network.subnet_ids,
            "SecurityGroupIds": network.workload_security_group_ids,
        },
        "model_enable_network_isolation": True,
    }


def allow_lambda_network_interfaces(role: iam.Role) -> iam.Policy:
    return _allow_network_interfaces(
        role,
        LAMBDA_NETWORK_ACTIONS,
        "Lambda attaches the function to its VPC subnets through network interfaces it creates and describes as the "
        "function's role; these ec2 actions take no resource narrower than * for that use",
    )


def allow_sagemaker_network_interfaces(role: iam.Role) -> iam.Policy:
    return _allow_network_interfaces(
        role,
        SAGEMAKER_NETWORK_ACTIONS,
        "SageMaker places the jobs and the model in the VPC through network interfaces it creates, shares and "
        "describes as their execution role (documented VpcConfig permissions); describes take no resource",
    )


def _allow_network_interfaces(role: iam.Role, actions: list[str], reason: str) -> iam.Policy:
    """A policy of its own, once per role: the role's other statements keep their places in its default policy."""
    existing = role.node.try_find_child("NetworkInterfaces")
    if isinstance(existing, iam.Policy):
        return existing
    policy = iam.Policy(
        role,
        "NetworkInterfaces",
        statements=[iam.PolicyStatement(actions=actions, resources=["*"])],
        roles=[role],
    )
    acknowledge_wildcard_resource(policy, "*", reason)
    for check in ("CKV_AWS_109", "CKV_AWS_111"):  # write and permission actions on *: the same reason
        skip_checkov(policy, check, reason)
    return policy


class PrivateNetwork(Construct):
    """The VPC, its security groups and endpoints. `placement` is what jobs, model and functions are given."""

    def __init__(
        self, scope: Construct, construct_id: str, *, settings: NetworkConfig, flow_log_bucket: s3.IBucket
    ) -> None:
        super().__init__(scope, construct_id)
        if settings.existing is not None:
            existing = settings.existing
            self.vpc = ec2.Vpc.from_vpc_attributes(
                self,
                "Vpc",
                vpc_id=existing.vpc_id,
                availability_zones=list(existing.availability_zones),
                private_subnet_ids=list(existing.private_subnet_ids),
                private_subnet_route_table_ids=list(existing.private_subnet_route_table_ids),
            )
            subnets = tuple(self.vpc.private_subnets)
            team_groups = tuple(
                ec2.SecurityGroup.from_security_group_id(self, f"TeamSecurityGroup{index}", group_id, mutable=False)
                for index, group_id in enumerate(existing.security_group_ids)
            )
            create_endpoints = existing.create_vpc_endpoints
        elif settings.created is not None:
            self.vpc = self._created_vpc(settings.created.cidr, flow_log_bucket)
            subnets = tuple(self.vpc.isolated_subnets)
            team_groups = ()
            create_endpoints = True
        else:
            raise ValueError(f"network mode {settings.mode!r} builds no network")

        workloads = ec2.SecurityGroup(
            self,
            "WorkloadSecurityGroup",
            vpc=self.vpc,
            description="Training and processing jobs and the endpoint model; training hosts reach each other",
            allow_all_outbound=True,
        )
        # Multi-host training: the hosts of one job talk to each other (SageMaker Developer Guide, "Configure the
        # VPC security group": "allow inbound connections between members of the same security group").
        workloads.add_ingress_rule(workloads, ec2.Port.all_traffic(), "Between the hosts of one training job")
        functions = ec2.SecurityGroup(
            self,
            "FunctionSecurityGroup",
            vpc=self.vpc,
            description="Lambda functions of the environment: outbound to the VPC endpoints only (no internet route)",
            allow_all_outbound=True,
        )
        self.placement = NetworkPlacement(
            vpc=self.vpc,
            subnets=subnets,
            workload_security_groups=(workloads, *team_groups),
            function_security_groups=(functions, *team_groups),
        )
        self.s3_endpoint: ec2.GatewayVpcEndpoint | None = None
        if create_endpoints:
            self._endpoints(subnets, clients=(workloads, functions))

    def _created_vpc(self, cidr: str, flow_log_bucket: s3.IBucket) -> ec2.Vpc:
        vpc = ec2.Vpc(
            self,
            "Vpc",
            ip_addresses=ec2.IpAddresses.cidr(cidr),
            max_azs=CREATED_VPC_ZONES,
            nat_gateways=0,
            subnet_configuration=[
                ec2.SubnetConfiguration(name="Private", subnet_type=ec2.SubnetType.PRIVATE_ISOLATED, cidr_mask=22)
            ],
            # CDK would strip the default security group's rules with a custom-resource Lambda outside the VPC;
            # nothing here uses the default group (every job, model and function gets its own groups).
            restrict_default_security_group=False,
        )
        # Rejected and accepted flows, to the access-log bucket (S3-managed encryption, as log deliveries need).
        vpc.add_flow_log("FlowLog", destination=ec2.FlowLogDestination.to_s3(flow_log_bucket, "vpc-flow-logs/"))
        return vpc

    def _endpoints(self, subnets: tuple[ec2.ISubnet, ...], clients: tuple[ec2.SecurityGroup, ...]) -> None:
        gateways = {
            name: self.vpc.add_gateway_endpoint(
                "S3Endpoint" if name == "s3" else f"{name.title()}Endpoint",
                service=service,
                subnets=[ec2.SubnetSelection(subnets=list(subnets))],
            )
            for name, service in GATEWAY_ENDPOINTS.items()
        }
        self.s3_endpoint = gateways["s3"]
        endpoint_group = ec2.SecurityGroup(
            self,
            "EndpointSecurityGroup",
            vpc=self.vpc,
            description="The interface VPC endpoints: HTTPS from the jobs, model and functions of the environment",
            allow_all_outbound=False,
        )
        for client in clients:
            endpoint_group.add_ingress_rule(client, HTTPS, "HTTPS to the AWS APIs the environment calls")
        for name, service in INTERFACE_ENDPOINTS.items():
            self.vpc.add_interface_endpoint(
                "Endpoint" + "".join(part.title() for part in name.replace("-", ".").split(".")),
                service=service,
                subnets=ec2.SubnetSelection(subnets=list(subnets)),
                security_groups=[endpoint_group],
                private_dns_enabled=True,
                open=False,
            )


# CDK's own provider behind `auto_delete_objects` (environments whose removal policy is destroy): a function CDK
# writes without VPC settings. Built once per stack, under this id.
AUTO_DELETE_PROVIDER_ID = "Custom::S3AutoDeleteObjectsCustomResourceProvider"


def cdk_provider_function(stack: Stack) -> CfnResource | None:
    """CDK's auto-delete-objects function of `stack`, where CDK built one."""
    provider = stack.node.try_find_child(AUTO_DELETE_PROVIDER_ID)
    if provider is None:
        return None
    if not isinstance(provider, CustomResourceProviderBase):
        raise TypeError(f"{AUTO_DELETE_PROVIDER_ID} is no longer a CustomResourceProviderBase: check this module")
    handler = provider.node.find_child("Handler")
    assert isinstance(handler, CfnResource)
    return handler


def place_cdk_providers_in_vpc(stack: Stack, placement: NetworkPlacement | None) -> None:
    """CDK's auto-delete-objects function, where there is one: in the private subnets too (with Lambda's network
    needs on its role) in a private network mode; the scanner's reasons either way."""
    handler = cdk_provider_function(stack)
    if handler is None:
        return
    skip_function_checks(handler, has_dead_letter_queue=False, in_vpc=placement is not None)
    if placement is None:
        return
    provider = stack.node.find_child(AUTO_DELETE_PROVIDER_ID)
    assert isinstance(provider, CustomResourceProviderBase)
    provider.add_to_role_policy({"Effect": "Allow", "Action": LAMBDA_NETWORK_ACTIONS, "Resource": "*"})
    role = provider.node.find_child("Role")
    assert isinstance(role, CfnResource)
    skip_checkov(
        role,
        "CKV_AWS_111",
        "Lambda attaches CDK's auto-delete-objects function to the VPC through network interfaces it manages as "
        "this role; these ec2 actions take no resource narrower than *",
    )
    handler.add_property_override(
        "VpcConfig",
        {
            "SubnetIds": placement.subnet_ids,
            "SecurityGroupIds": [group.security_group_id for group in placement.function_security_groups],
        },
    )
