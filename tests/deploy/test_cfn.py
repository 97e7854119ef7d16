"""deploy/ecs/ses-smtp-proxy.yaml: it parses, every reference resolves,
and every hardening field the deployment promises is there."""

import re

import pytest
import yaml

import deploylib as d

PSEUDO = {"AWS::AccountId", "AWS::Partition", "AWS::Region",
          "AWS::StackName", "AWS::StackId", "AWS::URLSuffix",
          "AWS::NoValue", "AWS::NotificationARNs"}


def test_template_parses_with_short_tags(cfn_raw):
    assert cfn_raw["AWSTemplateFormatVersion"] == "2010-09-09"
    # Fn::ForEach needs the transform (and CAPABILITY_AUTO_EXPAND).
    assert cfn_raw["Transform"] == "AWS::LanguageExtensions"
    c = d.ecs_container(cfn_raw)
    assert c["Image"] == {"Ref": "ImageUri"}
    _, td = d.cfn_one(cfn_raw, "AWS::ECS::TaskDefinition")
    assert td["Properties"]["ExecutionRoleArn"] == \
        {"Fn::GetAtt": ["ExecutionRole", "Arn"]}
    for name, res in d.cfn_resources(cfn_raw).items():
        assert re.fullmatch(r"AWS::\w+::\w+", res["Type"]), name


def test_loader_reads_every_short_tag_form():
    t = yaml.load("a: !Ref X\nb: !GetAtt R.Arn\nc: !Sub '${X}'\n"
                  "d: !Join [',', [x, y]]\ne: !Select [0, !Ref L]\n"
                  "f: !If [C, {k: v}, !Ref AWS::NoValue]\n",
                  Loader=d.CfnLoader)
    assert t == {"a": {"Ref": "X"}, "b": {"Fn::GetAtt": ["R", "Arn"]},
                 "c": {"Fn::Sub": "${X}"},
                 "d": {"Fn::Join": [",", ["x", "y"]]},
                 "e": {"Fn::Select": [0, {"Ref": "L"}]},
                 "f": {"Fn::If": ["C", {"k": "v"}, {"Ref": "AWS::NoValue"}]}}


def test_loader_refuses_a_duplicate_key():
    with pytest.raises(yaml.constructor.ConstructorError,
                       match="duplicate key"):
        yaml.load("a: 1\nb: 2\na: 3\n", Loader=d.CfnLoader)


def _refs(node, found):
    """Collect (kind, name) of every Ref, GetAtt and ${} of a Sub."""
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "Ref":
                found.append(("Ref", v))
            elif k == "Fn::GetAtt":
                found.append(("GetAtt", v[0]))
            elif k == "Fn::Sub":
                text = v if isinstance(v, str) else v[0]
                for name in re.findall(r"\$\{([^}!]+)\}", text):
                    found.append(("Sub", name.split(".")[0]))
            _refs(v, found)
    elif isinstance(node, list):
        for v in node:
            _refs(v, found)
    return found


def _conditions_named(node, found):
    """Every condition named by Fn::If, a Condition key or !Condition."""
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "Fn::If":
                found.append(v[0])
            elif k == "Condition" and isinstance(v, str):
                found.append(v)
            _conditions_named(v, found)
    elif isinstance(node, list):
        for v in node:
            _conditions_named(v, found)
    return found


def test_every_condition_exists(cfn_raw):
    named = _conditions_named([cfn_raw["Resources"],
                               cfn_raw.get("Outputs", {}),
                               cfn_raw.get("Conditions", {})], [])
    assert named and set(named) <= set(cfn_raw.get("Conditions", {}))
    d.cfn_resolve(cfn_raw, {})  # every condition decidable from defaults


def test_render_takes_branches_and_drops_novalue():
    t = yaml.load(
        "Parameters: {Flag: {Type: String, Default: 'false'}}\n"
        "Conditions:\n  C: !Equals [!Ref Flag, 'true']\n"
        "  N: !Not [!Condition C]\n"
        "Resources:\n"
        "  A: {Type: X, Condition: C, Properties: {}}\n"
        "  B: {Type: X, Properties: {L: [1, !If [C, 2, !Ref AWS::NoValue]],"
        " K: !If [N, !Ref AWS::NoValue, k]}}\n", Loader=d.CfnLoader)
    off, on = d.cfn_resolve(t, {}), d.cfn_resolve(t, {"Flag": "true"})
    assert off["Resources"] == {"B": {"Type": "X", "Properties": {"L": [1]}}}
    assert on["Resources"] == {
        "A": {"Type": "X", "Properties": {}},
        "B": {"Type": "X", "Properties": {"L": [1, 2], "K": "k"}}}


def test_every_reference_resolves(cfn_raw):
    names = set(cfn_raw["Parameters"]) | set(d.cfn_resources(cfn_raw)) | \
        PSEUDO
    loop_ids = {ident for _, ident, _, _ in d.cfn_foreach(cfn_raw)}
    bad = [(kind, name) for kind, name in _refs(cfn_raw["Resources"], []) +
           _refs(cfn_raw.get("Outputs", {}), [])
           if name not in names | loop_ids]
    assert bad == []
    for kind, name in _refs(cfn_raw["Resources"], []):
        if kind == "GetAtt":
            assert name in d.cfn_resources(cfn_raw), name


def test_every_parameter_is_used(cfn_raw):
    used = {name for _, name in _refs(cfn_raw["Resources"], []) +
            _refs(cfn_raw["Conditions"], [])}
    used |= {coll["Ref"] for _, _, coll, _ in d.cfn_foreach(cfn_raw)
             if d.is_ref(coll)}
    assert set(cfn_raw["Parameters"]) - used == set()


def test_region_parameter_matches_the_binary_rule(cfn_raw):
    par = cfn_raw["Parameters"]["SesRegion"]
    pattern = re.compile(par["AllowedPattern"])
    for ok in ("us-east-1", "eu-west-1", "us-gov-west-1", "ap-southeast-5"):
        assert pattern.fullmatch(ok), ok
    for bad in ("US-EAST-1", "useast1", "us-east", "x-east-1", ""):
        assert not pattern.fullmatch(bad), bad
    assert pattern.fullmatch(par["Default"])


def test_resolver_parameter_is_one_address(cfn_raw):
    pattern = re.compile(cfn_raw["Parameters"]["DnsResolverCidr"][
        "AllowedPattern"])
    assert pattern.fullmatch("192.0.2.2/32")  # (VPC CIDR + 2 in real use)
    assert not pattern.fullmatch("0.0.0.0/0")
    assert not pattern.fullmatch("192.0.0.0/16")


def test_hardening(cfn):
    assert d.check_ecs_hardening(cfn) == []


def test_ingress_only_through_the_nlb(cfn):
    assert d.check_ecs_ingress(cfn) == []


def test_egress_only_dns_and_587(cfn):
    assert d.check_ecs_egress(cfn) == []
