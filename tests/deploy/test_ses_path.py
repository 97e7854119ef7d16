"""The two ways to SES (deploy/README.md, "Two ways out of a private
subnet"): the NAT path, and the interface VPC endpoint path, in the ECS
template (SesPath, resolved per value like CloudFormation does) and in
the Kubernetes overlay deploy/kubernetes-vpc-endpoint.  Their broken
copies are in test_mutations.py."""

import os
import re
import shutil
import subprocess

import pytest
import yaml

import deploylib as d


# ---- the resolver and the rules ------------------------------------------

def test_resolver_decides_conditions_and_drops_no_value():
    t = yaml.load(
        "Parameters:\n"
        "  Mode: {Type: String, Default: a}\n"
        "  L: {Type: CommaDelimitedList, Default: ''}\n"
        "Conditions:\n"
        "  IsA: !Equals [!Ref Mode, a]\n"
        "  IsB: !Not [!Condition IsA]\n"
        "  BAndL: !And [!Condition IsB, !Not [!Equals [!Ref Mode, c]]]\n"
        "Resources:\n"
        "  Always: {Type: X::Y::Z, Properties: {V: !If [IsA, 1, 2],"
        " W: !If [IsB, !Ref AWS::NoValue, 3],"
        " L: [0, !If [BAndL, 4, !Ref AWS::NoValue]]}}\n"
        "  OnlyB: {Type: X::Y::Z, Condition: IsB}\n",
        Loader=d.CfnLoader)
    a = d.cfn_resolve(t, {})
    assert a["Resources"] == {"Always": {"Type": "X::Y::Z", "Properties": {
        "V": 1, "W": 3, "L": [0]}}}
    b = d.cfn_resolve(t, {"Mode": "b"})
    assert b["Resources"] == {
        "Always": {"Type": "X::Y::Z", "Properties": {"V": 2, "L": [0, 4]}},
        "OnlyB": {"Type": "X::Y::Z"}}
    assert "Conditions" not in b and t["Conditions"]  # t is untouched
    with pytest.raises(ValueError, match="no such parameters"):
        d.cfn_resolve(t, {"Mood": "a"})


def test_every_condition_named_exists(cfn_raw):
    """cfn_resolve raises on a condition the template does not define."""
    for values in d.ECS_VARIANTS.values():
        d.cfn_resolve(cfn_raw, values)
    cfn_raw["Resources"]["SesEndpoint"]["Condition"] = "MakeEndpoint"
    with pytest.raises(ValueError, match="no condition MakeEndpoint"):
        d.cfn_resolve(cfn_raw, {})


def test_the_variants_pass_the_rules(cfn_raw):
    for name, values in d.ECS_VARIANTS.items():
        assert d.cfn_rule_failures(cfn_raw, values) == [], name


VPCE = d.ECS_VARIANTS["vpc-endpoint"]
EXISTING = d.ECS_VARIANTS["vpc-endpoint-existing"]
RULES_REFUSE = {
    "endpoint without CIDRs":
        (dict(VPCE, SesEndpointSubnetCidrs=""), "eu-west-1",
         "needs SesEndpointSubnetCidrs"),
    "endpoint with an empty CIDR":
        (dict(VPCE, SesEndpointSubnetCidrs="192.0.2.0/24,"), "eu-west-1",
         "needs SesEndpointSubnetCidrs"),
    "endpoint for another region's SES":
        (VPCE, "us-east-2", "needs SesRegion to be the stack's region"),
    "NAT given CIDRs":
        ({"SesEndpointSubnetCidrs": "192.0.2.0/24"}, "eu-west-1",
         "SesPath nat uses no endpoint"),
    "NAT given an endpoint's group":
        ({"ExistingSesEndpointSecurityGroupId": "sg-0123456789abcdef0"},
         "eu-west-1", "SesPath nat uses no endpoint"),
    "NAT given a DNS label":
        ({"SesEndpointDnsLabel": EXISTING["SesEndpointDnsLabel"]},
         "eu-west-1", "SesPath nat uses no endpoint"),
}


@pytest.mark.parametrize("case", RULES_REFUSE)
def test_rules_refuse(cfn_raw, case):
    values, region, message = RULES_REFUSE[case]
    failures = d.cfn_rule_failures(cfn_raw, values, region)
    assert any(message in f for f in failures), failures


def test_endpoint_parameters_take_only_their_form(cfn_raw):
    par = cfn_raw["Parameters"]

    def ok(name, value):
        return re.fullmatch(par[name]["AllowedPattern"], value) is not None
    for good in ("", "192.0.2.0/24", "198.51.0.0/17", "203.0.113.0/28"):
        assert ok("SesEndpointSubnetCidrs", good), good
    for bad in ("192.0.2.0", "0.0.0.0/0", "198.0.0.0/8", "192.0.2.0/29",
                "192.0.2.0/24 ", "2001:db8::/64"):
        assert not ok("SesEndpointSubnetCidrs", bad), bad
    assert ok("ExistingSesEndpointSecurityGroupId", "")
    assert ok("ExistingSesEndpointSecurityGroupId", "sg-0123456789abcdef0")
    assert not ok("ExistingSesEndpointSecurityGroupId", "sg-123")
    assert ok("SesEndpointDnsLabel", EXISTING["SesEndpointDnsLabel"])
    assert not ok("SesEndpointDnsLabel",
                  "vpce-0123-abcd.email-smtp.eu-west-1.vpce.amazonaws.com")
    # The binary's rule (config_vpce_dns_valid): an id of 8 or 17 hex
    # digits, a suffix of 8 [a-z0-9]; anything else would crash-loop it.
    for good in ("vpce-0123abcd-ab12cd34", "vpce-0fe5b17a0707d6abc-29p5708s"):
        assert ok("SesEndpointDnsLabel", good), good
    for bad in ("vpce-0123-abcd", "vpce-0123abcd0-ab12cd34",
                "vpce-0123456789ABCDEF0-abcdefgh", "vpce-0123abcd-ab12cd3",
                "vpce-0123abcd-ab12cd34x", "vpce-0123abcg-ab12cd34"):
        assert not ok("SesEndpointDnsLabel", bad), bad
    assert par["SesPath"]["AllowedValues"] == ["nat", "vpc-endpoint"]
    assert par["SesPath"]["Default"] == "nat"


# ---- ECS: the NAT path is today's template -------------------------------

NEW_PARAMETERS = ("SesPath", "SesEndpointSubnetCidrs",
                  "ExistingSesEndpointSecurityGroupId", "SesEndpointDnsLabel")


def test_nat_renders_only_the_unconditional_resources(cfn_raw, cfn):
    plain = {k for k, v in d.cfn_resources(cfn_raw).items()
             if "Condition" not in v}
    assert set(d.cfn_resources(cfn)) == plain
    assert d.cfn_resources(cfn, "AWS::EC2::VPCEndpoint") == {}
    for name in NEW_PARAMETERS:
        assert name not in repr(cfn["Resources"]), name


def test_nat_fields(cfn):
    env = d.ecs_env(cfn)
    assert d.VPCE_CIDRS not in env and d.VPCE_DNS not in env
    ses = [r for r in d.cfn_resources(cfn)["TaskSecurityGroup"][
        "Properties"]["SecurityGroupEgress"] if r["FromPort"] == 587]
    assert [(r["ToPort"], r.get("CidrIp"), r.get("CidrIpv6")) for r in ses] \
        == [(587, "0.0.0.0/0", None), (587, None, "::/0")]
    assert d.check_ecs_ses_path(cfn) == []


# ---- ECS: the VPC endpoint path ------------------------------------------

def test_vpce_fields_with_the_stacks_endpoint(cfn_raw):
    t = d.cfn_resolve(cfn_raw, VPCE)
    res = d.cfn_resources(t)
    ep = res["SesEndpoint"]
    assert ep["Type"] == "AWS::EC2::VPCEndpoint"
    assert ep["Properties"] == {
        "VpcEndpointType": "Interface",
        "ServiceName": {"Fn::Sub": "com.amazonaws.${AWS::Region}.email-smtp"},
        "VpcId": {"Ref": "VpcId"},
        "SubnetIds": {"Ref": "SubnetIds"},
        "SecurityGroupIds": [{"Ref": "SesEndpointSecurityGroup"}],
        "PrivateDnsEnabled": True}
    assert res["SesEndpointIngress"]["Properties"] == {
        "GroupId": {"Ref": "SesEndpointSecurityGroup"},
        "Description": "SMTP from the ses-smtp-proxy tasks",
        "IpProtocol": "tcp", "FromPort": 587, "ToPort": 587,
        "SourceSecurityGroupId": {"Ref": "TaskSecurityGroup"}}
    sg = res["SesEndpointSecurityGroup"]["Properties"]
    assert "SecurityGroupIngress" not in sg
    assert [r["CidrIp"] for r in sg["SecurityGroupEgress"]] == \
        ["255.255.255.255/32"]
    egress = res["TaskSecurityGroup"]["Properties"]["SecurityGroupEgress"]
    assert [r for r in egress if r["FromPort"] == 587] == [{
        "Description": "SES SMTP through the VPC endpoint",
        "IpProtocol": "tcp", "FromPort": 587, "ToPort": 587,
        "DestinationSecurityGroupId": {"Ref": "SesEndpointSecurityGroup"}}]
    assert not [r for r in egress if "CidrIpv6" in r or
                r.get("CidrIp") == "0.0.0.0/0"]
    env = d.ecs_env(t)
    assert env[d.VPCE_CIDRS] == {
        "Fn::Join": [",", {"Ref": "SesEndpointSubnetCidrs"}]}
    assert d.VPCE_DNS not in env and d.ALLOW_CIDRS not in env


def test_vpce_fields_with_an_existing_endpoint(cfn_raw):
    t = d.cfn_resolve(cfn_raw, EXISTING)
    res = d.cfn_resources(t)
    assert "SesEndpoint" not in res and "SesEndpointSecurityGroup" not in res
    group = {"Ref": "ExistingSesEndpointSecurityGroupId"}
    assert res["SesEndpointIngress"]["Properties"]["GroupId"] == group
    egress = res["TaskSecurityGroup"]["Properties"]["SecurityGroupEgress"]
    assert [r["DestinationSecurityGroupId"] for r in egress
            if r["FromPort"] == 587] == [group]
    env = d.ecs_env(t)
    assert env[d.VPCE_DNS] == {"Ref": "SesEndpointDnsLabel"}
    assert d.ALLOW_CIDRS not in env


def test_vpce_ses_path(cfn_vpce):
    assert d.check_ecs_ses_path(cfn_vpce) == []


def test_vpce_keeps_every_other_check(cfn_vpce, defaults):
    assert d.check_ecs_hardening(cfn_vpce) == []
    assert d.check_ecs_ingress(cfn_vpce) == []
    assert d.check_ecs_egress(cfn_vpce) == []
    assert d.check_ecs_numbers(cfn_vpce, defaults) == []


# ---- Kubernetes ----------------------------------------------------------

def test_base_is_the_nat_path(k8s):
    assert d.check_k8s_ses_path(k8s) == []


def test_overlay_objects_and_checks(k8s, k8s_vpce, defaults):
    def key(doc):
        return (doc["kind"], doc["metadata"]["name"])
    assert sorted(map(key, k8s_vpce)) == sorted(map(key, k8s))
    assert d.check_k8s_ses_path(k8s_vpce) == []
    assert d.check_k8s_restricted(k8s_vpce) == []
    assert d.check_k8s_netpol(k8s_vpce) == []
    assert d.check_k8s_numbers(k8s_vpce, defaults) == []


def test_overlay_fields(k8s_vpce):
    env = d.k8s_env(k8s_vpce)
    assert env[d.VPCE_CIDRS] == "192.0.2.0/24,198.51.100.0/24,203.0.113.0/24"
    assert d.ALLOW_CIDRS not in env and d.VPCE_DNS not in env
    egress = d.k8s_one(k8s_vpce, "NetworkPolicy")["spec"]["egress"]
    assert egress[1] == {
        "to": [{"ipBlock": {"cidr": c}} for c in env[d.VPCE_CIDRS].split(
            ",")],
        "ports": [{"protocol": "TCP", "port": 587}]}
    assert egress[0]["ports"] == [{"protocol": "UDP", "port": 53},
                                  {"protocol": "TCP", "port": 53}]


def test_overlay_writes_the_cidrs_once():
    """The CIDRs appear in one file of the overlay, and nowhere in the
    base: kustomize copies them from there."""
    source = d.K8S_VPCE_DIR / "ses-vpc-endpoint.yaml"
    cidrs = d.k8s_file(source)[0]["data"]["cidrs"].split(",")
    for cidr in cidrs:
        files = [p.name for p in sorted(d.K8S_VPCE_DIR.glob("*.yaml")) +
                 sorted(d.K8S_DIR.glob("*.yaml"))
                 if cidr in p.read_text(encoding="utf-8")]
        assert files == [source.name], cidr


def test_overlay_with_fewer_cidrs_than_entries_fails(tmp_path):
    """As kustomize does: a CIDR too few stops the render, rather than
    leaving a placeholder in the NetworkPolicy."""
    for p in d.K8S_VPCE_DIR.glob("*.yaml"):
        (tmp_path / p.name).write_text(p.read_text(encoding="utf-8").replace(
            "../kubernetes", str(d.K8S_DIR)).replace(",203.0.113.0/24", ""),
            encoding="utf-8")
    with pytest.raises(ValueError, match="index 2 is out of bounds"):
        d.render_kustomization(tmp_path)


def test_renderer_refuses_what_it_does_not_know(tmp_path):
    (tmp_path / "kustomization.yaml").write_text(
        "resources: []\ncommonLabels: {a: b}\n", encoding="utf-8")
    with pytest.raises(ValueError, match="commonLabels"):
        d.render_kustomization(tmp_path)


@pytest.mark.parametrize("directory", [d.K8S_DIR, d.K8S_VPCE_DIR],
                         ids=["base", "vpc-endpoint"])
def test_renderer_is_kubectl_kustomize(directory):
    """The checks read the Python rendering; kubectl kustomize (offline,
    no cluster) prints the same objects, field for field."""
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not installed (optional)")
    env = dict(os.environ, KUBECONFIG=os.devnull)
    out = subprocess.run([kubectl, "kustomize", str(directory)], env=env,
                         capture_output=True, text=True, timeout=60,
                         check=True)
    theirs = [x for x in yaml.safe_load_all(out.stdout) if x]
    mine = d.render_kustomization(directory)
    for doc in mine:
        del doc["__file__"]

    def key(doc):
        return (doc["kind"], doc["metadata"]["name"])
    assert sorted(mine, key=key) == sorted(theirs, key=key)


# ---- both deployments set the same relay ---------------------------------

def test_ecs_and_kubernetes_endpoint_variants_agree(cfn_raw, k8s_vpce):
    """As for the NAT path (test_consistency.py): the same settings but
    the operator's region and networks, and the endpoint CIDRs, which
    ECS takes from a parameter."""
    mine = ("SES_REGION", "ALLOW_CLIENTS", d.VPCE_CIDRS)
    ecs = {k: v for k, v in d.ecs_env(d.cfn_resolve(cfn_raw, VPCE)).items()
           if k not in mine}
    kube = {k: v for k, v in d.k8s_env(k8s_vpce).items() if k not in mine}
    assert ecs == kube
    assert d.VPCE_CIDRS in d.k8s_env(k8s_vpce)


def test_the_endpoint_variables_are_the_binarys(cfn_vpce, k8s_vpce,
                                                binary_help):
    known = d.help_options(d.help_rows(binary_help))
    assert d.VPCE_CIDRS in known, f"--help names no {d.VPCE_CIDRS}"
    assert known[d.VPCE_CIDRS][0] == "--vpc-endpoint-cidrs"
    assert known[d.VPCE_DNS][0] == "--vpc-endpoint-dns"
    used = set(d.ecs_env(cfn_vpce)) | set(d.k8s_env(k8s_vpce))
    assert d.check_env_names(used, known) == []


# ---- the documentation points at the comparison --------------------------

SECTION = "two-ways-out-of-a-private-subnet"
CHOICES = d.REPO / "docs" / "CHOICES.md"


def test_anchor_extraction():
    text = "# Top\n## Two ways out of a private subnet\n### What it costs\n"
    assert d.markdown_anchors(text) == {"top", SECTION, "what-it-costs"}
    assert d.markdown_links("[a](../deploy/README.md#x) [b](#y) "
                            "[c](https://e.org/#z) [d](f.md)") == [
        ("../deploy/README.md", "x"), ("", "y"), ("f.md", "")]


def _dead_links(markdown, where):
    """The relative links of ${markdown} (a file in ${where}) to a file
    or heading that does not exist."""
    dead = []
    for path, anchor in d.markdown_links(markdown):
        target = (where / path) if path else None
        if target is not None and not target.exists():
            dead.append(path)
        elif anchor and (target is None or target.suffix == ".md"):
            text = markdown if target is None else target.read_text(
                encoding="utf-8")
            if anchor not in d.markdown_anchors(text):
                dead.append(f"{path}#{anchor}")
    return dead


def test_the_comparison_is_linked_and_its_links_resolve(readme):
    assert SECTION in d.markdown_anchors(readme)
    choices = CHOICES.read_text(encoding="utf-8")
    row = next(line for line in choices.splitlines()
               if line.startswith("| the SES VPC interface endpoint"))
    assert ("../deploy/README.md", SECTION) in d.markdown_links(row)
    assert "--vpc-endpoint-cidrs" in row and "--allow-cidr`" not in row
    assert _dead_links(choices, CHOICES.parent) == []
    assert _dead_links(readme, d.DEPLOY_README.parent) == []


def test_dead_links_are_found(readme):
    assert set(_dead_links(readme.replace(f"#{SECTION})", "#two-ways-out)"),
                           d.DEPLOY_README.parent)) == {"#two-ways-out"}
    assert _dead_links("[x](../docs/nope.md)", d.DEPLOY_README.parent) == \
        ["../docs/nope.md"]
    assert _dead_links(f"[x](README.md#{SECTION}-gone)",
                       d.DEPLOY_README.parent) == [
        f"README.md#{SECTION}-gone"]
