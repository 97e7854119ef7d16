"""Each check fails on a broken copy, so none can pass vacuously.

Every case loads the real files, breaks one thing in memory, runs the
checker, and expects the message that names the break.  The last test
makes sure every check_* function of deploylib has such cases."""

import inspect
import json

import pytest

import deploylib as d
import metricslib as m


# ---- helpers that break a loaded copy ----------------------------------

def _set(container, key, k, v, name, value):
    """Set ${name} in a container's env list (ECS or Kubernetes spelling)."""
    for e in container[key]:
        if e[k] == name:
            e[v] = value
            return
    container[key].append({k: name, v: value})


def _del(container, key, k, name):
    container[key] = [e for e in container[key] if e[k] != name]


def env_set(t, name, value):
    _set(d.ecs_container(t), "Environment", "Name", "Value", name, value)
    return t


def env_del(t, name):
    _del(d.ecs_container(t), "Environment", "Name", name)
    return t


def tg_props(t):
    return d.cfn_one(t, "AWS::ElasticLoadBalancingV2::TargetGroup")[1][
        "Properties"]


def tg_attr(t, key, value):
    for a in tg_props(t)["TargetGroupAttributes"]:
        if a["Key"] == key:
            a["Value"] = value
    return t


def task_sg(t):
    return d.cfn_resources(t)["TaskSecurityGroup"]["Properties"]


def td_props(t):
    return d.cfn_one(t, "AWS::ECS::TaskDefinition")[1]["Properties"]


def svc_props(t):
    return d.cfn_one(t, "AWS::ECS::Service")[1]["Properties"]


def kenv_set(docs, name, value):
    _set(d.k8s_container(docs), "env", "name", "value", name, value)
    return docs


def kenv_del(docs, name):
    _del(d.k8s_container(docs), "env", "name", name)
    return docs


def pod(docs):
    return d.k8s_one(docs, "Deployment")["spec"]["template"]["spec"]


def csc(docs):
    return d.k8s_container(docs)["securityContext"]


def ann(docs):
    return d.k8s_one(docs, "Service")["metadata"]["annotations"]


PRE = "service.beta.kubernetes.io/aws-load-balancer-"


def setitem(obj, key, value):
    obj[key] = value
    return obj


def delitem(obj, key):
    del obj[key]
    return obj


# ---- ECS: numbers -----------------------------------------------------

ECS_NUMBERS = {
    "drain above stopTimeout":
        (lambda t: env_set(t, "DRAIN_TIMEOUT", "20"),
         "DRAIN_TIMEOUT 20 is not below stopTimeout 15"),
    "binary default drain against a short stopTimeout":
        (lambda t: (env_del(t, "DRAIN_TIMEOUT"),
                    setitem(d.ecs_container(t), "StopTimeout", 8)),
         "DRAIN_TIMEOUT 8 is not below stopTimeout 8"),
    "stopTimeout beyond Fargate's limit":
        (lambda t: setitem(d.ecs_container(t), "StopTimeout", 150),
         "exceeds Fargate's 120 s"),
    "deregistration delay below the drain":
        (lambda t: tg_attr(t, "deregistration_delay.timeout_seconds", "5"),
         "not below the deregistration delay 5"),
    "proxy idle above the NLB's":
        (lambda t: env_set(t, "IDLE_TIMEOUT", "400"),
         "IDLE_TIMEOUT 400 is not below the NLB idle timeout 350"),
    "NLB default idle when the attribute is gone":
        (lambda t: (setitem(d.cfn_one(
            t, "AWS::ElasticLoadBalancingV2::Listener")[1]["Properties"],
            "ListenerAttributes", []), env_set(t, "IDLE_TIMEOUT", "360")),
         "IDLE_TIMEOUT 360 is not below the NLB idle timeout 350"),
    "nofile too small":
        (lambda t: setitem(d.ecs_container(t)["Ulimits"][0], "HardLimit",
                           2000),
         "nofile 2000 is below the 2112 descriptors"),
    "MAX_CONNS beyond the nofile":
        (lambda t: env_set(t, "MAX_CONNS", "4000"),
         "descriptors MAX_CONNS 4000 needs"),
    "soft limit above hard":
        (lambda t: setitem(d.ecs_container(t)["Ulimits"][0], "SoftLimit",
                           8192),
         "soft limit above the hard limit"),
    "not a literal number":
        (lambda t: env_set(t, "DRAIN_TIMEOUT", {"Ref": "Drain"}),
         "not a literal whole number"),
    "task memory too small":
        (lambda t: setitem(td_props(t), "Memory", "48"),
         "task memory 48 MiB is below"),
    "health port differs from the health check":
        (lambda t: env_set(t, "HEALTH_LISTEN", "0.0.0.0:9090"),
         "health check port 8080 is not HEALTH_LISTEN's port 9090"),
    "health check path":
        (lambda t: setitem(tg_props(t), "HealthCheckPath", "/livez"),
         "not HTTP GET /readyz"),
    "health check protocol":
        (lambda t: setitem(tg_props(t), "HealthCheckProtocol", "TCP"),
         "not HTTP GET /readyz"),
    "listen port not the container port":
        (lambda t: env_set(t, "LISTEN", "0.0.0.0:2525"),
         "listen port 2525 is not a container port"),
    "service registers another port":
        (lambda t: setitem(svc_props(t)["LoadBalancers"][0],
                           "ContainerPort", 8080),
         "not the listen port 1587"),
    "target group on another port":
        (lambda t: setitem(tg_props(t), "Port", 25),
         "target group port 25 is not the listen port"),
    "proxy protocol off in the proxy only":
        (lambda t: env_del(t, "PROXY_PROTOCOL"),
         "but the target group's proxy_protocol_v2.enabled is true"),
    "proxy protocol off in the NLB only":
        (lambda t: tg_attr(t, "proxy_protocol_v2.enabled", "false"),
         "PROXY_PROTOCOL=1 but the target group's"),
    "loopback missing from ALLOW_CLIENTS":
        (lambda t: env_set(t, "ALLOW_CLIENTS",
                           {"Fn::Join": [",", {"Ref": "ClientCidrs"}]}),
         "ALLOW_CLIENTS lacks 127.0.0.1/32"),
    "NLB may not reach the health port":
        (lambda t: d.cfn_resources(t)["NlbSecurityGroup"]["Properties"][
            "SecurityGroupEgress"].pop(1),
         "may not reach the tasks on 8080"),
}


@pytest.mark.parametrize("case", ECS_NUMBERS)
def test_ecs_numbers_catch(cfn, defaults, case):
    mutate, message = ECS_NUMBERS[case]
    assert d.check_ecs_numbers(cfn, defaults) == []
    mutate(cfn)
    problems = d.check_ecs_numbers(cfn, defaults)
    assert any(message in x for x in problems), problems


# ---- ECS: egress and ingress -------------------------------------------

def add_egress(rule):
    return lambda t: task_sg(t)["SecurityGroupEgress"].append(rule)


ECS_EGRESS = {
    "HTTPS to the internet":
        (add_egress({"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443,
                     "CidrIp": "0.0.0.0/0"}),
         "HTTPS egress to"),
    "all protocols":
        (add_egress({"IpProtocol": "-1", "CidrIp": "0.0.0.0/0"}),
         "allows more than DNS and 587"),
    "a port range":
        (add_egress({"IpProtocol": "tcp", "FromPort": 1, "ToPort": 65535,
                     "CidrIp": "0.0.0.0/0"}),
         "allows more than DNS and 587"),
    "DNS anywhere":
        (add_egress({"IpProtocol": "udp", "FromPort": 53, "ToPort": 53,
                     "CidrIp": "0.0.0.0/0"}),
         "is not the resolver parameter"),
    "default allow-all":
        (lambda t: setitem(task_sg(t), "SecurityGroupEgress", []),
         "AWS adds allow-all"),
    "a separate egress resource":
        (lambda t: setitem(t["Resources"], "Ssh", {
            "Type": "AWS::EC2::SecurityGroupEgress",
            "Properties": {"GroupId": {"Ref": "TaskSecurityGroup"},
                           "IpProtocol": "tcp", "FromPort": 22,
                           "ToPort": 22, "CidrIp": "198.51.100.0/24"}}),
         "allows more than DNS and 587"),
}


@pytest.mark.parametrize("case", ECS_EGRESS)
def test_ecs_egress_catches(cfn, case):
    mutate, message = ECS_EGRESS[case]
    assert d.check_ecs_egress(cfn) == []
    mutate(cfn)
    problems = d.check_ecs_egress(cfn)
    assert any(message in x for x in problems), problems


ECS_INGRESS = {
    "task open to a CIDR":
        (lambda t: setitem(t["Resources"], "Open", {
            "Type": "AWS::EC2::SecurityGroupIngress",
            "Properties": {"GroupId": {"Ref": "TaskSecurityGroup"},
                           "IpProtocol": "tcp", "FromPort": 1587,
                           "ToPort": 1587, "CidrIp": "0.0.0.0/0"}}),
         "is not from the NLB's group"),
    "task health port closed":
        (lambda t: delitem(t["Resources"], "TaskIngressHealth"),
         "are not the listen and health ports"),
    "NLB open on another port":
        (lambda t: setitem(t["Resources"]["Fn::ForEach::ClientIngress"][2][
            "NlbIngress&{Cidr}"]["Properties"], "ToPort", 1600),
         "is not a client CIDR on 1587"),
    "NLB open to the world":
        (lambda t: setitem(t["Resources"], "World", {
            "Type": "AWS::EC2::SecurityGroupIngress",
            "Properties": {"GroupId": {"Ref": "NlbSecurityGroup"},
                           "IpProtocol": "tcp", "FromPort": 1587,
                           "ToPort": 1587, "CidrIp": "0.0.0.0/0"}}),
         "is not a client CIDR on 1587"),
}


@pytest.mark.parametrize("case", ECS_INGRESS)
def test_ecs_ingress_catches(cfn, case):
    mutate, message = ECS_INGRESS[case]
    assert d.check_ecs_ingress(cfn) == []
    mutate(cfn)
    problems = d.check_ecs_ingress(cfn)
    assert any(message in x for x in problems), problems


# ---- ECS: the way to SES, per SesPath -------------------------------------
#
# Each case breaks the template as written (then renders it for the
# variant, as CloudFormation would) or the rendered variant itself.

def variant(name, raw_mutate=None, mutate=None):
    def make(raw):
        if raw_mutate:
            raw_mutate(raw)
        t = d.cfn_resolve(raw, d.ECS_VARIANTS[name])
        if mutate:
            mutate(t)
        return t
    return make


def egress_587(t):
    return [r for r in task_sg(t)["SecurityGroupEgress"]
            if r["FromPort"] == 587]


def ses_ingress(t):
    return d.cfn_resources(t)["SesEndpointIngress"]["Properties"]


def ses_endpoint(t):
    return d.cfn_resources(t)["SesEndpoint"]["Properties"]


def raw_condition(resource, condition):
    return lambda r: setitem(r["Resources"][resource], "Condition",
                             condition)


def raw_env_if(condition):
    """The Fn::If that sets SES_VPC_ENDPOINT_CIDRS, on another condition."""
    def mutate(r):
        for e in d.ecs_container(r)["Environment"]:
            if "Fn::If" in e and e["Fn::If"][1].get("Name") == d.VPCE_CIDRS:
                e["Fn::If"][0] = condition
    return mutate


ECS_SES_PATH = {
    "NAT: an endpoint made anyway":
        (variant("nat", raw_mutate=lambda r: (
            raw_condition("SesEndpoint", "UseNat")(r),
            raw_condition("SesEndpointSecurityGroup", "UseNat")(r))),
         "the stack makes a VPC endpoint but SES_VPC_ENDPOINT_CIDRS"),
    "NAT: the relay in endpoint mode":
        (variant("nat", raw_mutate=raw_env_if("UseNat")),
         "endpoint path: egress to everywhere"),
    "NAT: no IPv6 rule":
        (variant("nat", mutate=lambda t: task_sg(t)[
            "SecurityGroupEgress"].remove(egress_587(t)[1])),
         "NAT path: SES egress"),
    "NAT: SES only to a corner of the internet":
        (variant("nat", mutate=lambda t: setitem(
            egress_587(t)[0], "CidrIp", "198.51.100.0/24")),
         "is not 587 to 0.0.0.0/0 and ::/0"),
    "endpoint: ::/0 on 587 kept":
        (variant("vpc-endpoint", raw_mutate=lambda r: setitem(
            task_sg(r)["SecurityGroupEgress"][1]["Fn::If"], 0,
            "UseVpcEndpoint")),
         "endpoint path: egress to everywhere"),
    "endpoint: 587 to a CIDR beside the group":
        (variant("vpc-endpoint", mutate=add_egress({
            "IpProtocol": "tcp", "FromPort": 587, "ToPort": 587,
            "CidrIp": "198.51.100.0/24"})),
         "is not 587 to one security group"),
    "endpoint: SES_ALLOW_CIDRS beside it":
        (variant("vpc-endpoint", mutate=lambda t: env_set(
            t, d.ALLOW_CIDRS, "192.0.2.0/24")),
         "SES_ALLOW_CIDRS is set beside SES_VPC_ENDPOINT_CIDRS"),
    "endpoint: CIDRs hard-coded":
        (variant("vpc-endpoint", mutate=lambda t: env_set(
            t, d.VPCE_CIDRS, "192.0.2.0/24,198.51.100.0/24")),
         "not the join of a CommaDelimitedList parameter"),
    "endpoint: the relay left in NAT mode":
        (variant("vpc-endpoint", mutate=lambda t: env_del(t, d.VPCE_CIDRS)),
         "the stack makes a VPC endpoint but SES_VPC_ENDPOINT_CIDRS"),
    "endpoint: its group open to the VPC":
        (variant("vpc-endpoint", mutate=lambda t: (
            delitem(ses_ingress(t), "SourceSecurityGroupId"),
            setitem(ses_ingress(t), "CidrIp", "198.51.100.0/24"))),
         "the endpoint's group admits"),
    "endpoint: its group open on 443":
        (variant("vpc-endpoint", mutate=lambda t: (
            setitem(ses_ingress(t), "FromPort", 443),
            setitem(ses_ingress(t), "ToPort", 443))),
         "not only 587 from TaskSecurityGroup"),
    "endpoint: its group admits nobody":
        (variant("vpc-endpoint", mutate=lambda t: delitem(
            t["Resources"], "SesEndpointIngress")),
         "admits nothing from the tasks on 587"),
    "endpoint: private DNS off":
        (variant("vpc-endpoint", mutate=lambda t: setitem(
            ses_endpoint(t), "PrivateDnsEnabled", False)),
         "SesEndpoint.PrivateDnsEnabled is False"),
    "endpoint: another service":
        (variant("vpc-endpoint", mutate=lambda t: setitem(
            ses_endpoint(t), "ServiceName",
            {"Fn::Sub": "com.amazonaws.${AWS::Region}.email"})),
         "SesEndpoint.ServiceName"),
    "endpoint: a gateway endpoint":
        (variant("vpc-endpoint", mutate=lambda t: setitem(
            ses_endpoint(t), "VpcEndpointType", "Gateway")),
         "SesEndpoint.VpcEndpointType"),
    "endpoint: in other subnets":
        (variant("vpc-endpoint", mutate=lambda t: setitem(
            ses_endpoint(t), "SubnetIds", {"Ref": "OtherSubnets"})),
         "SesEndpoint.SubnetIds"),
    "endpoint: another group on it":
        (variant("vpc-endpoint", mutate=lambda t: setitem(
            ses_endpoint(t), "SecurityGroupIds",
            [{"Ref": "VpcEndpointSecurityGroupId"}])),
         "SesEndpoint.SecurityGroupIds"),
    "endpoint: a DNS label beside private DNS":
        (variant("vpc-endpoint", mutate=lambda t: env_set(
            t, d.VPCE_DNS, {"Ref": "SesEndpointDnsLabel"})),
         "but the stack's endpoint has private DNS"),
    "existing: 587 to the ECR endpoints' group":
        (variant("vpc-endpoint-existing", mutate=lambda t: setitem(
            egress_587(t)[0], "DestinationSecurityGroupId",
            {"Ref": "VpcEndpointSecurityGroupId"})),
         "admits nothing from the tasks on 587"),
    "existing: 587 to a group of nowhere":
        (variant("vpc-endpoint-existing", mutate=lambda t: (
            setitem(egress_587(t)[0], "DestinationSecurityGroupId",
                    {"Ref": "Elsewhere"}),
            setitem(ses_ingress(t), "GroupId", {"Ref": "Elsewhere"}))),
         "neither the group of an endpoint of this stack nor a parameter"),
    "existing: no rule on its group":
        (variant("vpc-endpoint-existing", mutate=lambda t: delitem(
            t["Resources"], "SesEndpointIngress")),
         "admits nothing from the tasks on 587"),
}


@pytest.mark.parametrize("case", ECS_SES_PATH)
def test_ecs_ses_path_catches(cfn_raw, case):
    make, message = ECS_SES_PATH[case]
    problems = d.check_ecs_ses_path(make(cfn_raw))
    assert any(message in x for x in problems), problems


@pytest.mark.parametrize("name", d.ECS_VARIANTS)
def test_ecs_ses_path_cases_start_from_a_passing_variant(cfn_raw, name):
    assert d.check_ecs_ses_path(d.cfn_resolve(
        cfn_raw, d.ECS_VARIANTS[name])) == []


# ---- ECS: hardening ------------------------------------------------------

ECS_HARDENING = {
    "writable root":
        (lambda t: setitem(d.ecs_container(t), "ReadonlyRootFilesystem",
                           False), "ReadonlyRootFilesystem is not true"),
    "root user":
        (lambda t: setitem(d.ecs_container(t), "User", "0"),
         "User is '0'"),
    "a capability added":
        (lambda t: setitem(d.ecs_container(t)["LinuxParameters"][
            "Capabilities"], "Add", ["NET_ADMIN"]), "drop ALL and add none"),
    "capabilities kept":
        (lambda t: delitem(d.ecs_container(t)["LinuxParameters"][
            "Capabilities"], "Drop"), "drop ALL and add none"),
    "init undecided":
        (lambda t: delitem(d.ecs_container(t)["LinuxParameters"],
                           "InitProcessEnabled"), "InitProcessEnabled"),
    "shell health check":
        (lambda t: setitem(d.ecs_container(t)["HealthCheck"], "Command",
                           ["CMD-SHELL", "/ses-smtp-proxy --healthcheck"]),
         "exec form"),
    "a task role":
        (lambda t: setitem(td_props(t), "TaskRoleArn", "arn:x"),
         "a task role is given"),
    "fixed architecture":
        (lambda t: setitem(td_props(t)["RuntimePlatform"],
                           "CpuArchitecture", "ARM64"),
         "not the CpuArchitecture parameter"),
    "arm64 by default":
        (lambda t: setitem(t["Parameters"]["CpuArchitecture"], "Default",
                           "ARM64"), "X86_64 by default"),
    "any architecture allowed":
        (lambda t: delitem(t["Parameters"]["CpuArchitecture"],
                           "AllowedValues"), "X86_64 by default"),
    "one task allowed":
        (lambda t: setitem(t["Parameters"]["DesiredCount"], "MinValue", 1),
         "fewer than 2 tasks"),
    "public IP":
        (lambda t: setitem(svc_props(t)["NetworkConfiguration"][
            "AwsvpcConfiguration"], "AssignPublicIp", "ENABLED"),
         "public IP"),
    "ECS Exec":
        (lambda t: setitem(svc_props(t), "EnableExecuteCommand", True),
         "ECS Exec"),
    "internet-facing":
        (lambda t: setitem(d.cfn_one(
            t, "AWS::ElasticLoadBalancingV2::LoadBalancer")[1]["Properties"],
            "Scheme", "internet-facing"), "not an internal NLB"),
    "client IP preserved":
        (lambda t: tg_attr(t, "preserve_client_ip.enabled", "true"),
         "preserve_client_ip.enabled is not false"),
    "logs kept forever":
        (lambda t: delitem(d.cfn_resources(t)["LogGroup"][
            "Properties"], "RetentionInDays"), "no retention"),
    "another log driver":
        (lambda t: setitem(d.ecs_container(t)["LogConfiguration"],
                           "LogDriver", "json-file"), "awslogs"),
    "region hard-coded":
        (lambda t: env_set(t, "SES_REGION", "us-east-1"),
         "SES_REGION is not a parameter"),
    "no PROXY_PROTOCOL":
        (lambda t: env_del(t, "PROXY_PROTOCOL"), "PROXY_PROTOCOL is not set"),
    "client list hard-coded":
        (lambda t: env_set(t, "ALLOW_CLIENTS", "198.51.100.0/24"),
         "ClientCidrs parameter"),
}


@pytest.mark.parametrize("case", ECS_HARDENING)
def test_ecs_hardening_catches(cfn, case):
    mutate, message = ECS_HARDENING[case]
    assert d.check_ecs_hardening(cfn) == []
    mutate(cfn)
    problems = d.check_ecs_hardening(cfn)
    assert any(message in x for x in problems), problems


# ---- Kubernetes: numbers -----------------------------------------------

def lifecycle(docs):
    return d.k8s_container(docs)["lifecycle"]["preStop"]


K8S_NUMBERS = {
    "drain beyond the grace period":
        (lambda k: kenv_set(k, "DRAIN_TIMEOUT", "25"),
         "is not below terminationGracePeriodSeconds 30"),
    "binary default drain against a short grace period":
        (lambda k: (kenv_del(k, "DRAIN_TIMEOUT"),
                    setitem(pod(k), "terminationGracePeriodSeconds", 20)),
         "preStop sleep 15 + DRAIN_TIMEOUT 8 is not below "
         "terminationGracePeriodSeconds 20"),
    "long preStop sleep":
        (lambda k: setitem(lifecycle(k)["sleep"], "seconds", 25),
         "preStop sleep 25 + DRAIN_TIMEOUT 8"),
    "deregistration delay shorter than the drain":
        (lambda k: setitem(ann(k), PRE + "target-group-attributes",
                           "deregistration_delay.timeout_seconds=5"),
         "DRAIN_TIMEOUT 8 is not below the deregistration delay 5"),
    "deregistration delay shorter than sleep and drain":
        (lambda k: setitem(ann(k), PRE + "target-group-attributes",
                           "deregistration_delay.timeout_seconds=20"),
         "does not cover preStop sleep 15 + DRAIN_TIMEOUT 8"),
    "proxy idle above the NLB's":
        (lambda k: kenv_set(k, "IDLE_TIMEOUT", "400"),
         "IDLE_TIMEOUT 400 is not below the NLB idle timeout 350"),
    "NLB default idle when the annotation is gone":
        (lambda k: (delitem(ann(k), PRE + "listener-attributes.TCP-1587"),
                    kenv_set(k, "IDLE_TIMEOUT", "360")),
         "IDLE_TIMEOUT 360 is not below the NLB idle timeout 350"),
    "a shell preStop":
        (lambda k: setitem(d.k8s_container(k)["lifecycle"], "preStop",
                           {"exec": {"command": ["sleep", "15"]}}),
         "the image has no shell"),
    "memory too small":
        (lambda k: setitem(d.k8s_container(k)["resources"]["limits"],
                           "memory", "32Mi"),
         "memory limit 32Mi is below"),
    "readiness probe on another port":
        (lambda k: setitem(d.k8s_container(k)["readinessProbe"]["httpGet"],
                           "port", 9090),
         "readinessProbe port 9090 is not HEALTH_LISTEN's port 8080"),
    "liveness probe on the SMTP port":
        (lambda k: setitem(d.k8s_container(k)["livenessProbe"]["httpGet"],
                           "port", "smtp"),
         "livenessProbe port smtp"),
    "NLB health check on another port":
        (lambda k: setitem(ann(k), PRE + "healthcheck-port", "9090"),
         "NLB health check port 9090"),
    "NLB health check on another path":
        (lambda k: setitem(ann(k), PRE + "healthcheck-path", "/livez"),
         "NLB health check path /livez"),
    "health listener moved":
        (lambda k: kenv_set(k, "HEALTH_LISTEN", "0.0.0.0:9090"),
         "health port 9090 is not a container port"),
    "listen port not the container port":
        (lambda k: kenv_set(k, "LISTEN", "0.0.0.0:2525"),
         "listen port 2525 is not a container port"),
    "Service to another port":
        (lambda k: setitem(d.k8s_one(k, "Service")["spec"]["ports"][0],
                           "targetPort", 2525),
         "Service targetPort 2525 is not the listen port 1587"),
    "NetworkPolicy opens another port":
        (lambda k: d.k8s_one(k, "NetworkPolicy")["spec"]["ingress"][0][
            "ports"].append({"protocol": "TCP", "port": 22}),
         "NetworkPolicy ingress ports"),
    "client lists differ":
        (lambda k: d.k8s_one(k, "Service")["spec"][
            "loadBalancerSourceRanges"].append("198.18.0.0/15"),
         "differs from loadBalancerSourceRanges"),
    "proxy protocol off in the proxy only":
        (lambda k: kenv_del(k, "PROXY_PROTOCOL"),
         "but the NLB's proxy-protocol annotation is *"),
    "proxy protocol off in the NLB only":
        (lambda k: delitem(ann(k), PRE + "proxy-protocol"),
         "PROXY_PROTOCOL=1 but the NLB's"),
}


@pytest.mark.parametrize("case", K8S_NUMBERS)
def test_k8s_numbers_catch(k8s, defaults, case):
    mutate, message = K8S_NUMBERS[case]
    assert d.check_k8s_numbers(k8s, defaults) == []
    mutate(k8s)
    problems = d.check_k8s_numbers(k8s, defaults)
    assert any(message in x for x in problems), problems


# ---- Kubernetes: restricted profile ------------------------------------

K8S_RESTRICTED = {
    "root allowed":
        (lambda k: setitem(pod(k)["securityContext"], "runAsNonRoot", False),
         "pod runAsNonRoot is not true"),
    "another user":
        (lambda k: setitem(pod(k)["securityContext"], "runAsUser", 1000),
         "runAsUser/runAsGroup are not 65534"),
    "container as root":
        (lambda k: setitem(csc(k), "runAsUser", 0), "may run as root"),
    "privilege escalation":
        (lambda k: setitem(csc(k), "allowPrivilegeEscalation", True),
         "allowPrivilegeEscalation is not false"),
    "escalation unset":
        (lambda k: delitem(csc(k), "allowPrivilegeEscalation"),
         "allowPrivilegeEscalation is not false"),
    "capabilities kept":
        (lambda k: setitem(csc(k)["capabilities"], "drop", ["NET_RAW"]),
         "do not drop ALL"),
    "a capability added":
        (lambda k: setitem(csc(k)["capabilities"], "add", ["NET_ADMIN"]),
         "capabilities added"),
    "writable root":
        (lambda k: setitem(csc(k), "readOnlyRootFilesystem", False),
         "readOnlyRootFilesystem is not true"),
    "privileged":
        (lambda k: setitem(csc(k), "privileged", True), "privileged"),
    "unconfined seccomp":
        (lambda k: setitem(pod(k)["securityContext"], "seccompProfile",
                           {"type": "Unconfined"}),
         "pod seccompProfile is not RuntimeDefault"),
    "container seccomp unconfined":
        (lambda k: setitem(csc(k), "seccompProfile", {"type": "Unconfined"}),
         "seccompProfile Unconfined"),
    "token mounted":
        (lambda k: setitem(pod(k), "automountServiceAccountToken", True),
         "automountServiceAccountToken is not false"),
    "host network":
        (lambda k: setitem(pod(k), "hostNetwork", True), "hostNetwork"),
    "hostPath":
        (lambda k: setitem(pod(k), "volumes", [
            {"name": "h", "hostPath": {"path": "/"}}]), "hostPath volume"),
    "no limits":
        (lambda k: delitem(d.k8s_container(k)["resources"], "limits"),
         "no cpu and memory limits"),
    "one replica":
        (lambda k: setitem(d.k8s_one(k, "Deployment")["spec"], "replicas",
                           1), "fewer than 2 replicas"),
    "liveness on readyz":
        (lambda k: setitem(d.k8s_container(k)["livenessProbe"]["httpGet"],
                           "path", "/readyz"), "liveness probe"),
    "no readiness probe":
        (lambda k: delitem(d.k8s_container(k), "readinessProbe"),
         "readiness probe"),
    "no grace period":
        (lambda k: delitem(pod(k), "terminationGracePeriodSeconds"),
         "no terminationGracePeriodSeconds"),
    "any architecture":
        (lambda k: delitem(pod(k)["affinity"], "nodeAffinity"),
         "node architectures ['any']"),
    "amd64 only":
        (lambda k: setitem(pod(k)["nodeSelector"], "kubernetes.io/arch",
                           "amd64"), "node architectures ['amd64']"),
    "no spread":
        (lambda k: (delitem(pod(k), "topologySpreadConstraints"),
                    delitem(pod(k), "affinity")), "not spread"),
    "internet-facing":
        (lambda k: setitem(ann(k), PRE + "scheme", "internet-facing"),
         "scheme is not 'internal'"),
    "instance targets":
        (lambda k: setitem(ann(k), PRE + "nlb-target-type", "instance"),
         "nlb-target-type is not 'ip'"),
    "open to all":
        (lambda k: setitem(d.k8s_one(k, "Service")["spec"],
                           "loadBalancerSourceRanges", ["0.0.0.0/0"]),
         "open to all"),
    "PDB selects nothing":
        (lambda k: setitem(d.k8s_one(k, "PodDisruptionBudget")["spec"][
            "selector"], "matchLabels", {"app": "other"}),
         "PodDisruptionBudget does not select"),
    "baseline namespace":
        (lambda k: setitem(d.k8s_one(k, "Namespace")["metadata"]["labels"],
                           "pod-security.kubernetes.io/enforce", "baseline"),
         "does not enforce the restricted profile"),
    "an init container without a security context":
        (lambda k: setitem(pod(k), "initContainers", [
            {"name": "init", "image": "busybox"}]),
         "init: allowPrivilegeEscalation is not false"),
    "token on the account":
        (lambda k: setitem(d.k8s_one(k, "ServiceAccount"),
                           "automountServiceAccountToken", True),
         "the ServiceAccount mounts a token"),
}


@pytest.mark.parametrize("case", K8S_RESTRICTED)
def test_k8s_restricted_catches(k8s, case):
    mutate, message = K8S_RESTRICTED[case]
    assert d.check_k8s_restricted(k8s) == []
    mutate(k8s)
    problems = d.check_k8s_restricted(k8s)
    assert any(message in x for x in problems), problems


# ---- Kubernetes: NetworkPolicy -----------------------------------------

def egress(docs):
    return d.k8s_one(docs, "NetworkPolicy")["spec"]["egress"]


K8S_NETPOL = {
    "HTTPS out":
        (lambda k: egress(k).append({"to": [{"ipBlock": {
            "cidr": "0.0.0.0/0"}}], "ports": [{"protocol": "TCP",
                                              "port": 443}]}),
         "go beyond DNS and 587"),
    "every port out":
        (lambda k: egress(k).append({"to": [{"ipBlock": {
            "cidr": "198.51.100.0/24"}}]}), "allows every port"),
    "DNS anywhere":
        (lambda k: setitem(egress(k)[0], "to", [{"ipBlock": {
            "cidr": "0.0.0.0/0"}}]), "DNS egress goes elsewhere"),
    "DNS to any pod":
        (lambda k: setitem(egress(k)[0], "to", []),
         "DNS egress goes elsewhere"),
    "DNS and 587 mixed":
        (lambda k: egress(k)[0]["ports"].append({"protocol": "TCP",
                                                 "port": 587}),
         "mixes DNS and 587"),
    "no DNS":
        (lambda k: egress(k).pop(0), "egress lacks DNS"),
    "egress unrestricted":
        (lambda k: setitem(d.k8s_one(k, "NetworkPolicy")["spec"],
                           "policyTypes", ["Ingress"]),
         "policyTypes is not Ingress and Egress"),
    "ingress from anywhere":
        (lambda k: setitem(d.k8s_one(k, "NetworkPolicy")["spec"]["ingress"][
            0], "from", []), "admits every source"),
    "ingress on every port":
        (lambda k: delitem(d.k8s_one(k, "NetworkPolicy")["spec"]["ingress"][
            0], "ports"), "admits every port"),
}


@pytest.mark.parametrize("case", K8S_NETPOL)
def test_k8s_netpol_catches(k8s, case):
    mutate, message = K8S_NETPOL[case]
    assert d.check_k8s_netpol(k8s) == []
    mutate(k8s)
    problems = d.check_k8s_netpol(k8s)
    assert any(message in x for x in problems), problems


# ---- Kubernetes: the way to SES ------------------------------------------

def egress_ses(docs):
    return egress(docs)[1]


K8S_SES_PATH = {
    "NAT: 587 only to a corner of the internet":
        ("base", lambda k: setitem(egress_ses(k), "to", [{"ipBlock": {
            "cidr": "198.51.100.0/24"}}]),
         "NAT path: 587 egress to"),
    "NAT: 587 to every address":
        ("base", lambda k: delitem(egress_ses(k), "to"),
         "names no destination: every address"),
    "endpoint: one subnet differs":
        ("overlay", lambda k: setitem(egress_ses(k)["to"][2]["ipBlock"],
                                      "cidr", "203.0.113.128/25"),
         "not the endpoint's subnets"),
    "endpoint: the relay knows a subnet more":
        ("overlay", lambda k: kenv_set(k, d.VPCE_CIDRS, d.k8s_env(k)[
            d.VPCE_CIDRS] + ",203.0.113.128/25"),
         "not the endpoint's subnets"),
    "endpoint: 587 still to 0.0.0.0/0":
        ("overlay", lambda k: egress_ses(k)["to"].append(
            {"ipBlock": {"cidr": "0.0.0.0/0"}}),
         "endpoint path: egress to everywhere"),
    "endpoint: 587 to every address":
        ("overlay", lambda k: delitem(egress_ses(k), "to"),
         "names no destination: every address"),
    "endpoint: a subnet with exceptions":
        ("overlay", lambda k: setitem(egress_ses(k)["to"][0]["ipBlock"],
                                      "except", ["192.0.2.0/25"]),
         "not a plain ipBlock"),
    "endpoint: 587 to pods by label":
        ("overlay", lambda k: egress_ses(k)["to"].append(
            {"podSelector": {}}),
         "not a plain ipBlock"),
    "endpoint: SES_ALLOW_CIDRS beside it":
        ("overlay", lambda k: kenv_set(k, d.ALLOW_CIDRS, "203.0.113.128/25"),
         "SES_ALLOW_CIDRS is set beside SES_VPC_ENDPOINT_CIDRS"),
    "endpoint: a placeholder left":
        ("overlay", lambda k: kenv_set(k, d.VPCE_CIDRS,
                                       "from-ses-vpc-endpoint.yaml"),
         "endpoint path:"),
    "endpoint: the relay left in NAT mode":
        ("overlay", lambda k: kenv_del(k, d.VPCE_CIDRS),
         "NAT path: 587 egress to"),
}


@pytest.mark.parametrize("case", K8S_SES_PATH)
def test_k8s_ses_path_catches(k8s, k8s_vpce, case):
    which, mutate, message = K8S_SES_PATH[case]
    docs = k8s if which == "base" else k8s_vpce
    assert d.check_k8s_ses_path(docs) == []
    mutate(docs)
    problems = d.check_k8s_ses_path(docs)
    assert any(message in x for x in problems), problems


# ---- documentation and the binary's interface --------------------------

def test_readme_paths_catch(readme):
    broken = readme + \
        "\n```\nkubectl apply -f deploy/kubernetes/nope.yaml\n```\n"
    assert d.check_readme_paths(readme) == []
    assert d.check_readme_paths(broken) == [
        "deploy/README.md names deploy/kubernetes/nope.yaml, which does not "
        "exist"]


def test_runbook_catches_a_new_event():
    events, reasons = d.log_events(), d.close_reasons()
    runbook = d.EVENTS_DOC.read_text(encoding="utf-8")
    assert d.check_runbook(runbook, events, reasons) == []
    assert d.check_runbook(runbook, events | {"brand_new_event"}, reasons) \
        == ["the runbook does not explain `brand_new_event`"]
    assert d.check_runbook(runbook, events, reasons | {"new_reason"}) == \
        ["the runbook does not explain `new_reason`"]


def test_env_names_catch():
    known = {"SES_REGION": ("--region", ""), "LISTEN": ("--listen", "")}
    assert d.check_env_names({"SES_REGION"}, known) == []
    assert d.check_env_names({"SES_REGION", "SES_REGOIN"}, known) == [
        "SES_REGOIN is not a variable the binary knows (--help)"]


# ---- metrics (metricslib) ------------------------------------------------

def sidecar(t):
    """The sidecar's definition inside its Fn::If."""
    return td_props(t)["ContainerDefinitions"][1]["Fn::If"][1]


def sidecar_env(t, name, value):
    _set(sidecar(t), "Environment", "Name", "Value", name, value)
    return t


def agent_config(t, edit):
    """Apply ${edit} to the parsed CW_CONFIG_CONTENT (placeholders kept)."""
    env = {e["Name"]: e for e in sidecar(t)["Environment"]}
    conf = json.loads(env["CW_CONFIG_CONTENT"]["Value"]["Fn::Sub"])
    edit(conf["logs"]["metrics_collected"]["prometheus"])
    env["CW_CONFIG_CONTENT"]["Value"]["Fn::Sub"] = json.dumps(conf)
    return t


def role_statement(t):
    return d.cfn_resources(t)["MetricsTaskRole"]["Properties"]["Policies"][
        0]["PolicyDocument"]["Statement"][0]


def unconditional(t, name):
    del t["Resources"][name]["Condition"]
    return t


ECS_METRICS = {
    "sidecar on by default":
        (lambda t: setitem(t["Parameters"]["EnableMetricsSidecar"],
                           "Default", "true"), "false by default"),
    "sidecar without the condition":
        (lambda t: setitem(td_props(t)["ContainerDefinitions"], 1,
                           sidecar(t)),
         "without EnableMetricsSidecar the task has 2 containers"),
    "task role without the condition":
        (lambda t: setitem(td_props(t), "TaskRoleArn",
                           {"Fn::GetAtt": ["MetricsTaskRole", "Arn"]}),
         "without EnableMetricsSidecar the task has a task role"),
    "the sidecar changes the proxy":
        (lambda t: setitem(td_props(t)["ContainerDefinitions"], 0, {
            "Fn::If": ["MetricsSidecar",
                       {**d.ecs_container(t), "StopTimeout": 30},
                       d.ecs_container(t)]}),
         "not the same proxy container plus one sidecar"),
    "the sidecar changes another resource":
        (lambda t: setitem(d.cfn_resources(t)["Cluster"], "Properties", {
            "Fn::If": ["MetricsSidecar", {}, d.cfn_resources(t)["Cluster"][
                "Properties"]]}),
         "changes more than the sidecar"),
    "essential sidecar":
        (lambda t: setitem(sidecar(t), "Essential", True),
         "the sidecar is essential"),
    "agent image with a public default":
        (lambda t: setitem(t["Parameters"]["MetricsAgentImage"], "Default",
                           "public.ecr.aws/cloudwatch-agent/"
                           "cloudwatch-agent:1.300062.0b1304"),
         "has a default, which the tasks cannot pull"),
    "agent image unpinned":
        (lambda t: setitem(t["Parameters"]["MetricsAgentImage"],
                           "AllowedPattern", ".*"),
         "admits more than a pinned private ECR URI"),
    "agent image not required":
        (lambda t: t["Rules"].pop("MetricsSidecarNeedsAnImage"),
         "no Rule requires the sidecar's image"),
    "agent image hard-coded":
        (lambda t: setitem(sidecar(t), "Image", "cloudwatch-agent"),
         "is not a parameter"),
    "sidecar maps a port":
        (lambda t: setitem(sidecar(t), "PortMappings",
                           [{"ContainerPort": 8125}]),
         "the sidecar maps ports"),
    "sidecar keeps capabilities":
        (lambda t: delitem(sidecar(t)["LinuxParameters"], "Capabilities"),
         "does not drop ALL"),
    "sidecar logs to the proxy's group":
        (lambda t: setitem(sidecar(t)["LogConfiguration"]["Options"],
                           "awslogs-group", {"Ref": "LogGroup"}),
         "not go to its own log group"),
    "sidecar's log group kept forever":
        (lambda t: delitem(d.cfn_resources(t)["MetricsLogGroup"][
            "Properties"], "RetentionInDays"),
         "the sidecar's log group has no retention"),
    "sidecar too big for the task":
        (lambda t: setitem(sidecar(t), "Memory", 480),
         "does not hold the proxy's"),
    "scrape on the SMTP port":
        (lambda t: sidecar_env(t, "PROMETHEUS_CONFIG_CONTENT", (
            "scrape_configs:\n  - job_name: ses-smtp-proxy\n"
            "    static_configs:\n      - targets: [localhost:1587]\n")),
         "not the task's own health port 8080"),
    "scrape on another path":
        (lambda t: sidecar_env(t, "PROMETHEUS_CONFIG_CONTENT", (
            "scrape_configs:\n  - job_name: ses-smtp-proxy\n"
            "    metrics_path: /stats\n    static_configs:\n"
            "      - targets: [localhost:8080]\n")),
         "reads /stats, not /metrics"),
    "health port moved, scrape not":
        (lambda t: env_set(t, "HEALTH_LISTEN", "0.0.0.0:9090"),
         "not the task's own health port 9090"),
    "no scrape job":
        (lambda t: sidecar_env(t, "PROMETHEUS_CONFIG_CONTENT", "global: {}"),
         "has no scrape job"),
    "agent reads a file":
        (lambda t: agent_config(t, lambda c: setitem(
            c, "prometheus_config_path", "/etc/prometheus.yaml")),
         "does not read PROMETHEUS_CONFIG_CONTENT"),
    "EMF to another group":
        (lambda t: agent_config(t, lambda c: setitem(
            c, "log_group_name", "${LogGroup}")),
         "EMF records do not go to MetricsLogGroup"),
    "an undocumented metric":
        (lambda t: agent_config(t, lambda c: c["emf_processor"][
            "metric_declaration"][0]["metric_selectors"].append(
                "^ses_smtp_proxy_connections$")),
         "'^ses_smtp_proxy_connections$' is not ^name$"),
    "declaration for another job":
        (lambda t: agent_config(t, lambda c: setitem(
            c["emf_processor"]["metric_declaration"][0], "label_matcher",
            "^node$")), "does not match the scrape job"),
    "agent config not JSON":
        (lambda t: sidecar_env(t, "CW_CONFIG_CONTENT", "{logs:"),
         "CW_CONFIG_CONTENT is not the agent's JSON"),
    "role may put metrics anywhere":
        (lambda t: setitem(role_statement(t), "Action",
                           ["logs:PutLogEvents", "cloudwatch:PutMetricData"]),
         "allows ['cloudwatch:PutMetricData']"),
    "role reaches every log group":
        (lambda t: setitem(role_statement(t), "Resource", "*"),
         "not only its own log group"),
    "role with a managed policy":
        (lambda t: setitem(d.cfn_resources(t)["MetricsTaskRole"][
            "Properties"], "ManagedPolicyArns", ["arn:aws:iam::aws:policy/"
                                                 "CloudWatchAgentServerPolicy"]),
         "has managed policies"),
    "the proxy's execution role as task role":
        (lambda t: setitem(td_props(t), "TaskRoleArn", {"Fn::If": [
            "MetricsSidecar", {"Fn::GetAtt": ["ExecutionRole", "Arn"]},
            {"Ref": "AWS::NoValue"}]}),
         "is not a role of the sidecar's own"),
    "log group without the condition":
        (lambda t: unconditional(t, "MetricsLogGroup"),
         "MetricsLogGroup serves only the sidecar but is deployed without"),
    "role without the condition":
        (lambda t: unconditional(t, "MetricsTaskRole"),
         "is not a role of the sidecar's own"),
}


@pytest.mark.parametrize("case", ECS_METRICS)
def test_ecs_metrics_catch(cfn_raw, defaults, case):
    mutate, message = ECS_METRICS[case]
    table = m.metric_names()
    assert m.check_ecs_metrics(cfn_raw, table, defaults) == []
    mutate(cfn_raw)
    problems = m.check_ecs_metrics(cfn_raw, table, defaults)
    assert any(message in x for x in problems), problems


def pod_ann(docs):
    return d.k8s_one(docs, "Deployment")["spec"]["template"]["metadata"][
        "annotations"]


def podmon(mon):
    return d.k8s_one(mon, "PodMonitor")["spec"]


def ingress(docs):
    return d.k8s_one(docs, "NetworkPolicy")["spec"]["ingress"]


K8S_METRICS = {
    "not scraped":
        (lambda k, mon: delitem(pod_ann(k), "prometheus.io/scrape"),
         "prometheus.io/scrape"),
    "annotation on the SMTP port":
        (lambda k, mon: setitem(pod_ann(k), "prometheus.io/port", "1587"),
         "prometheus.io/port '1587' is not HEALTH_LISTEN's port 8080"),
    "health port moved, annotation not":
        (lambda k, mon: kenv_set(k, "HEALTH_LISTEN", "0.0.0.0:9090"),
         "prometheus.io/port '8080' is not HEALTH_LISTEN's port 9090"),
    "annotation on another path":
        (lambda k, mon: setitem(pod_ann(k), "prometheus.io/path", "/stats"),
         "prometheus.io/path '/stats'"),
    "PodMonitor selects other pods":
        (lambda k, mon: setitem(podmon(mon), "selector", {
            "matchLabels": {"app": "other"}}),
         "the PodMonitor does not select the pods"),
    "PodMonitor in another namespace":
        (lambda k, mon: setitem(podmon(mon), "namespaceSelector", {
            "matchNames": ["default"]}), "looks in another namespace"),
    "PodMonitor on the SMTP port":
        (lambda k, mon: setitem(podmon(mon)["podMetricsEndpoints"][0],
                                "port", "smtp"),
         "the PodMonitor scrapes port 'smtp', not the health port 8080"),
    "PodMonitor on another path":
        (lambda k, mon: setitem(podmon(mon)["podMetricsEndpoints"][0],
                                "path", "/stats"),
         "the PodMonitor scrapes /stats"),
    "PodMonitor without endpoints":
        (lambda k, mon: setitem(podmon(mon), "podMetricsEndpoints", []),
         "the PodMonitor has no endpoint"),
    "Prometheus not admitted":
        (lambda k, mon: ingress(k).pop(1), "no NetworkPolicy rule admits"),
    "Prometheus admitted to the SMTP port":
        (lambda k, mon: ingress(k)[1]["ports"].append(
            {"protocol": "TCP", "port": 1587}),
         "may reach the SMTP port 1587"),
}


@pytest.mark.parametrize("case", K8S_METRICS)
def test_k8s_metrics_catch(k8s, case):
    mutate, message = K8S_METRICS[case]
    mon = m.load_monitoring()
    assert m.check_k8s_metrics(k8s, mon) == []
    mutate(k8s, mon)
    problems = m.check_k8s_metrics(k8s, mon)
    assert any(message in x for x in problems), problems


def alert(rules, name):
    return m.alerts(rules)[name]


ALERTS = {
    "an undocumented metric":
        (lambda r, md: setitem(alert(r, "SesSmtpProxyAddressesDenied"),
                               "expr", "ses_smtp_proxy_denied_total > 0"),
         "uses ses_smtp_proxy_denied_total, which is not in docs/metrics.md"),
    "an alert the runbook lacks":
        (lambda r, md: (r["spec"]["groups"][0]["rules"].append(
            {"alert": "SesSmtpProxyNew", "expr": "vector(1)"}), md)[1],
         "SesSmtpProxyNew is not in deploy/README.md's alarm table"),
    "a runbook alarm the rules lack":
        (lambda r, md: setitem(r["spec"]["groups"][0], "rules", [
            x for x in r["spec"]["groups"][0]["rules"]
            if x["alert"] != "SesSmtpProxyAllowlistStale"]),
         "names SesSmtpProxyAllowlistStale, which the rules file lacks"),
    "the runbook names a metric the alert does not use":
        (lambda r, md: md.replace("`ses_smtp_proxy_upstream_denied_addresses"
                                  "_total` |", "`ses_smtp_proxy_upstream_"
                                  "denied_addresses_total`, `ses_smtp_proxy"
                                  "_draining` |"),
         "names ses_smtp_proxy_draining, which SesSmtpProxyAddressesDenied"),
    "staleness other than the relay's":
        (lambda r, md: setitem(alert(r, "SesSmtpProxyAllowlistStale"),
                               "expr", alert(r, "SesSmtpProxyAllowlistStale")
                               ["expr"].replace("30 *", "45 *")),
         "not the relay's STALENESS_DAYS (30 days)"),
    "near-limit ratio other than Scaling's":
        (lambda r, md: md.replace("`conns` above about 70 %",
                                  "`conns` above about 80 %"),
         "SesSmtpProxySessionsNearLimit's ratio"),
    "not a PrometheusRule":
        (lambda r, md: setitem(r, "kind", "ConfigMap"),
         "is not a monitoring.coreos.com/v1 PrometheusRule"),
}


@pytest.mark.parametrize("case", ALERTS)
def test_alerts_catch(readme, case):
    mutate, message = ALERTS[case]
    rules, table = m.load_rules(), m.metric_names()
    days = d.c_const("STALENESS_DAYS")
    assert m.check_alerts(rules, table, readme, days) == []
    out = mutate(rules, readme)
    md = out if isinstance(out, str) else readme
    problems = m.check_alerts(rules, table, md, days)
    assert any(message in x for x in problems), problems


def test_every_checker_has_mutation_cases():
    covered = {"check_ecs_numbers", "check_ecs_egress", "check_ecs_ingress",
               "check_ecs_hardening", "check_ecs_ses_path",
               "check_k8s_numbers", "check_k8s_ses_path",
               "check_k8s_restricted", "check_k8s_netpol",
               "check_readme_paths", "check_runbook", "check_env_names",
               # their broken copies are in test_interface.py
               "check_event_table", "check_options",
               # metricslib
               "check_ecs_metrics", "check_k8s_metrics", "check_alerts"}
    checkers = {n for mod in (d, m)
                for n, f in inspect.getmembers(mod, inspect.isfunction)
                if n.startswith("check_") and f.__module__ == mod.__name__}
    assert checkers == covered
