"""The consumer service: KCL workers as ECS Fargate tasks, scaled on CPU and on iterator age.

Each task runs the repository's image, whose entry point is ``pipeline consume --engine kcl``;
the task definition overrides no command, only the ``PIPELINE_*`` names. Workers share the
stream's shards through the KCL lease table, so adding a task spreads the leases (workers beyond
the shard count sit idle: MaxWorkers should not exceed the shards).
"""

from __future__ import annotations

from typing import Any

from pipeline.config import Config
from pipeline.deploy.cfn import get_att, ref, sub
from pipeline.deploy.data import log_group
from pipeline.deploy.parameters import container_environment

CONTAINER = "consumer"
#: Seconds between SIGTERM and SIGKILL (Fargate's maximum): time to checkpoint and hand over leases
STOP_TIMEOUT_S = 120


def consumer_service(config: Config, execution_role: str, task_role: str) -> dict[str, Any]:
    return {
        "ConsumerLogGroup": log_group(sub("/kpipe/${AWS::StackName}/consumer")),
        "Cluster": {
            "Type": "AWS::ECS::Cluster",
            "Properties": {"ClusterName": ref("AWS::StackName")},
        },
        "ConsumerSecurityGroup": {
            "Type": "AWS::EC2::SecurityGroup",
            "Properties": {
                "GroupDescription": "KCL workers: no inbound; HTTPS out to AWS APIs",
                "VpcId": ref("VpcId"),
                "SecurityGroupEgress": [
                    {
                        "IpProtocol": "tcp",
                        "FromPort": 443,
                        "ToPort": 443,
                        "CidrIp": "0.0.0.0/0",
                        "Description": "AWS APIs",
                    }
                ],
            },
        },
        "ConsumerTaskDefinition": {
            "Type": "AWS::ECS::TaskDefinition",
            "Properties": {
                "Family": sub("${AWS::StackName}-consumer"),
                "Cpu": ref("TaskCpu"),
                "Memory": ref("TaskMemory"),
                "NetworkMode": "awsvpc",
                "RequiresCompatibilities": ["FARGATE"],
                "RuntimePlatform": {
                    "OperatingSystemFamily": "LINUX",
                    "CpuArchitecture": ref("CpuArchitecture"),
                },
                "ExecutionRoleArn": get_att(execution_role, "Arn"),
                "TaskRoleArn": get_att(task_role, "Arn"),
                "ContainerDefinitions": [
                    {
                        "Name": CONTAINER,
                        "Image": ref("ContainerImage"),
                        "Essential": True,
                        "StopTimeout": STOP_TIMEOUT_S,
                        "Environment": [
                            {"Name": v["Name"], "Value": sub(v["Value"])}
                            if "${" in v["Value"]
                            else v
                            for v in container_environment(config)
                        ],
                        "LogConfiguration": {
                            "LogDriver": "awslogs",
                            "Options": {
                                "awslogs-group": ref("ConsumerLogGroup"),
                                "awslogs-region": ref("AWS::Region"),
                                "awslogs-stream-prefix": CONTAINER,
                            },
                        },
                    }
                ],
            },
        },
        "ConsumerService": {
            "Type": "AWS::ECS::Service",
            "Properties": {
                "Cluster": ref("Cluster"),
                "ServiceName": sub("${AWS::StackName}-consumer"),
                "TaskDefinition": ref("ConsumerTaskDefinition"),
                "LaunchType": "FARGATE",
                "DesiredCount": ref("MinWorkers"),
                "PropagateTags": "SERVICE",
                "DeploymentConfiguration": {
                    "MinimumHealthyPercent": 100,
                    "MaximumPercent": 200,
                    "DeploymentCircuitBreaker": {"Enable": True, "Rollback": True},
                },
                "NetworkConfiguration": {
                    "AwsvpcConfiguration": {
                        "AssignPublicIp": ref("AssignPublicIp"),
                        "SecurityGroups": [ref("ConsumerSecurityGroup")],
                        "Subnets": ref("SubnetIds"),
                    }
                },
            },
        },
        **_worker_scaling(),
    }


def _worker_scaling() -> dict[str, Any]:
    """Target tracking on CPU (out and in), plus one more worker while the lag keeps growing."""
    return {
        "WorkerScalableTarget": {
            "Type": "AWS::ApplicationAutoScaling::ScalableTarget",
            "Properties": {
                "ServiceNamespace": "ecs",
                "ScalableDimension": "ecs:service:DesiredCount",
                "ResourceId": sub("service/${Cluster}/${ConsumerService.Name}"),
                "MinCapacity": ref("MinWorkers"),
                "MaxCapacity": ref("MaxWorkers"),
            },
        },
        "WorkerCpuScaling": {
            "Type": "AWS::ApplicationAutoScaling::ScalingPolicy",
            "Properties": {
                "PolicyName": sub("${AWS::StackName}-worker-cpu"),
                "PolicyType": "TargetTrackingScaling",
                "ScalingTargetId": ref("WorkerScalableTarget"),
                "TargetTrackingScalingPolicyConfiguration": {
                    "TargetValue": ref("CpuTargetPercent"),
                    "PredefinedMetricSpecification": {
                        "PredefinedMetricType": "ECSServiceAverageCPUUtilization"
                    },
                    "ScaleOutCooldown": 120,
                    "ScaleInCooldown": 300,
                },
            },
        },
        "WorkerLagScaling": {
            "Type": "AWS::ApplicationAutoScaling::ScalingPolicy",
            "Properties": {
                "PolicyName": sub("${AWS::StackName}-worker-lag"),
                "PolicyType": "StepScaling",
                "ScalingTargetId": ref("WorkerScalableTarget"),
                "StepScalingPolicyConfiguration": {
                    "AdjustmentType": "ChangeInCapacity",
                    "Cooldown": 300,
                    "MetricAggregationType": "Maximum",
                    "StepAdjustments": [{"MetricIntervalLowerBound": 0, "ScalingAdjustment": 1}],
                },
            },
        },
        "IteratorAgeAlarm": {
            "Type": "AWS::CloudWatch::Alarm",
            "Properties": {
                "AlarmDescription": "Consumers fall behind the stream: add a KCL worker",
                "Namespace": "AWS/Kinesis",
                "MetricName": "GetRecords.IteratorAgeMilliseconds",
                "Dimensions": [{"Name": "StreamName", "Value": ref("Stream")}],
                "Statistic": "Maximum",
                "Period": 60,
                "EvaluationPeriods": 3,
                "Threshold": ref("IteratorAgeScaleOutMs"),
                "ComparisonOperator": "GreaterThanThreshold",
                "TreatMissingData": "notBreaching",
                "AlarmActions": [ref("WorkerLagScaling")],
            },
        },
    }
