"""Loaders and checkers for the deployment files in deploy/.

Pure file validation: nothing here contacts a network or a cloud.  Each
check_* function takes the loaded documents (plain dicts and lists, so a
test can mutate a copy) and returns a list of problems, one string each;
an empty list means the check passed.  tests/deploy/test_mutations.py
feeds each checker a broken copy to prove that it can fail.
"""

import copy
import ipaddress
import os
import re
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]

sys.path.insert(0, str(REPO / "tools"))
# The architectures the image is built for.
from oci import ARCHES as IMAGE_ARCHES  # noqa: E402
# ECS's RuntimePlatform.CpuArchitecture of each image architecture.
ECS_ARCH = {"amd64": "X86_64", "arm64": "ARM64"}
ECS_TEMPLATE = REPO / "deploy" / "ecs" / "ses-smtp-proxy.yaml"
K8S_DIR = REPO / "deploy" / "kubernetes"
# The kustomize overlay of the SES VPC endpoint path.  Beside the base,
# not inside it: kustomize refuses an overlay below its own base.
K8S_VPCE_DIR = REPO / "deploy" / "kubernetes-vpc-endpoint"
DEPLOY_README = REPO / "deploy" / "README.md"
README = REPO / "README.md"
EVENTS_DOC = REPO / "docs" / "logs.md"

# Memory a replica needs besides its relay buffers: the allowlist (about
# 17k prefixes), the binary, the stack, and slack for the kernel's socket
# buffers, which cgroup v2 charges to the container.
BASE_MEMORY_MIB = 32
# The NLB's TCP idle timeout when no listener attribute sets it.
NLB_DEFAULT_IDLE = 350
RUN_AS = 65534
PORTS_DNS = {("UDP", 53), ("TCP", 53)}
PORT_SES = ("TCP", 587)
# The relay's endpoint-only mode: only these prefixes are SES addresses.
# SES_ALLOW_CIDRS (extra prefixes beside the AMAZON ones) excludes it.
VPCE_CIDRS = "SES_VPC_ENDPOINT_CIDRS"
VPCE_DNS = "SES_VPC_ENDPOINT_DNS"
ALLOW_CIDRS = "SES_ALLOW_CIDRS"

# Parameter values of the ECS template's variants (the rest: defaults).
# The CIDRs (RFC 5737), group and label are documentation values.
ECS_VARIANTS = {
    "nat": {},
    "vpc-endpoint": {
        "SesPath": "vpc-endpoint", "SesRegion": "eu-west-1",
        "SesEndpointSubnetCidrs": "192.0.2.0/24,198.51.100.0/24"},
    "vpc-endpoint-existing": {
        "SesPath": "vpc-endpoint", "SesRegion": "eu-west-1",
        "SesEndpointSubnetCidrs": "192.0.2.0/24,198.51.100.0/24",
        "ExistingSesEndpointSecurityGroupId": "sg-0123456789abcdef0",
        "SesEndpointDnsLabel": "vpce-0123456789abcdef0-abcdefgh"},
}


# ---- YAML ----------------------------------------------------------------

class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses a key given twice in one mapping (PyYAML
    keeps the last one silently, which could hide a setting)."""


def _mapping_no_dups(loader, node, deep=False):
    seen = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark)
        seen.add(key)
    return yaml.SafeLoader.construct_mapping(loader, node, deep=deep)


_StrictLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping_no_dups)


class CfnLoader(_StrictLoader):
    """Strict loader that also reads CloudFormation's short tags: !Ref X
    becomes {"Ref": X}, !GetAtt A.B becomes {"Fn::GetAtt": [A, B]}, !Sub,
    !Join and the rest become {"Fn::Name": value}."""


def _cfn_tag(loader, suffix, node):
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = _mapping_no_dups(loader, node, deep=True)
    if suffix == "Ref":
        return {"Ref": value}
    if suffix == "Condition":
        return {"Condition": value}
    if suffix == "GetAtt" and isinstance(value, str):
        return {"Fn::GetAtt": value.split(".", 1)}
    return {"Fn::" + suffix: value}


CfnLoader.add_multi_constructor("!", _cfn_tag)


def load_cfn(path=ECS_TEMPLATE):
    with open(path, encoding="utf-8") as f:
        return yaml.load(f, Loader=CfnLoader)


def load_k8s(directory=K8S_DIR):
    """Every document of every manifest (not kustomization.yaml), each
    with the file it came from under "__file__"."""
    docs = []
    for path in sorted(Path(directory).glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        with open(path, encoding="utf-8") as f:
            for doc in yaml.load_all(f, Loader=_StrictLoader):
                if doc is not None:
                    doc["__file__"] = path.name
                    docs.append(doc)
    return docs


def load_kustomization(directory=K8S_DIR):
    with open(Path(directory) / "kustomization.yaml", encoding="utf-8") as f:
        return yaml.load(f, Loader=_StrictLoader)


# ---- kustomize, the part these directories use ---------------------------
#
# A small renderer, so that the overlay is checked where kubectl is not
# installed; tests/deploy/test_k8s.py compares it with `kubectl kustomize`
# where it is.  It knows resources (files and directories), namespace,
# images, JSON 6902 patches and replacements, and drops local-config
# objects, as kustomize does; any other kustomization field is an error,
# never silently ignored.

_KUSTOMIZE_KEYS = {"apiVersion", "kind", "namespace", "resources", "images",
                   "patches", "replacements"}
_LOCAL_CONFIG = "config.kubernetes.io/local-config"


def k8s_file(path):
    with open(path, encoding="utf-8") as f:
        docs = [d for d in yaml.load_all(f, Loader=_StrictLoader) if d]
    for d in docs:
        d["__file__"] = Path(path).name
    return docs


def _k8s_matches(doc, select):
    return all(doc.get("kind") == v if k == "kind" else
               doc["metadata"].get("name") == v if k == "name" else
               doc.get("apiVersion", "").split("/")[-1] == v
               if k == "version" else False
               for k, v in select.items())


def _k8s_target(docs, select):
    found = [d for d in docs if _k8s_matches(d, select)]
    if len(found) != 1:
        raise ValueError(f"{select} selects {len(found)} objects, not one")
    return found[0]


def _pointer(path):
    return [p.replace("~1", "/").replace("~0", "~")
            for p in path.split("/")[1:]]


def _json_patch(doc, ops):
    """JSON 6902 test, add, replace and remove."""
    for op in ops:
        *parents, last = _pointer(op["path"])
        node = doc
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node[part]
        kind = op["op"]
        if kind == "test":
            have = node[int(last)] if isinstance(node, list) else \
                node.get(last)
            if have != op["value"]:
                raise ValueError(f"test {op['path']}: {have!r} is not "
                                 f"{op['value']!r}")
            continue
        if isinstance(node, list):
            index = len(node) if last == "-" else int(last)
            if kind == "add":
                node.insert(index, copy.deepcopy(op["value"]))
            elif kind == "replace":
                node[index] = copy.deepcopy(op["value"])
            elif kind == "remove":
                del node[index]
            else:
                raise ValueError(f"unsupported patch op {kind}")
        elif kind in ("add", "replace"):
            if kind == "replace" and last not in node:
                raise ValueError(f"replace of a missing {op['path']}")
            node[last] = copy.deepcopy(op["value"])
        elif kind == "remove":
            del node[last]
        else:
            raise ValueError(f"unsupported patch op {kind}")


def _field_path(path):
    """kustomize's fieldPath: dots between fields, a number for a list
    index, [key=value] for the list element whose key is value."""
    return re.findall(r"\[[^\]]*\]|[^.\[\]]+", path)


def _field(doc, path, value=None):
    """The value at ${path}; with ${value}, set it there (it must exist:
    no create)."""
    parts, node = _field_path(path), doc
    for i, part in enumerate(parts):
        m = re.fullmatch(r"\[(\w+)=(.*)\]", part)
        if m:
            found = [e for e in node if e.get(m.group(1)) == m.group(2)]
            if len(found) != 1:
                raise ValueError(f"{path}: {part} matches {len(found)}")
            key, holder = node.index(found[0]), node
        elif isinstance(node, list):
            key, holder = int(part), node
        else:
            key, holder = part, node
        if isinstance(holder, dict) and key not in holder or \
                isinstance(holder, list) and not key < len(holder):
            raise ValueError(f"{path}: no {part}")
        if i == len(parts) - 1 and value is not None:
            holder[key] = value
        node = holder[key]
    return node


def _split(value, options):
    if "delimiter" not in (options or {}):
        return value
    parts = str(value).split(options["delimiter"])
    if not options.get("index", 0) < len(parts):
        raise ValueError(f"options.index {options['index']} is out of "
                         f"bounds for {value}")
    return parts[options.get("index", 0)]


def render_kustomization(directory, top=True):
    """The objects `kubectl kustomize ${directory}` prints, each with the
    file it came from under "__file__" (local-config objects, the
    sources of replacements, are dropped at the top only)."""
    directory = Path(directory)
    kus = load_kustomization(directory)
    unknown = set(kus) - _KUSTOMIZE_KEYS
    if unknown:
        raise ValueError(f"{directory}: this renderer does not know "
                         f"{sorted(unknown)}")
    docs = []
    for res in kus.get("resources", []):
        path = directory / res
        docs += render_kustomization(path, False) if path.is_dir() else \
            k8s_file(path)
    for d in docs:
        if "namespace" in kus and d["kind"] != "Namespace":
            d["metadata"]["namespace"] = kus["namespace"]
    for img in kus.get("images", []):
        for d in docs:
            pod = d.get("spec", {}).get("template", {}).get("spec", {})
            for c in pod.get("containers", []) + \
                    pod.get("initContainers", []):
                name, _, tag = c["image"].partition(":")
                if name != img["name"]:
                    continue
                name = img.get("newName", name)
                if "digest" in img:
                    c["image"] = f"{name}@{img['digest']}"
                else:
                    c["image"] = f"{name}:{img.get('newTag', tag)}"
    for patch in kus.get("patches", []):
        ops = yaml.load(patch["patch"], Loader=_StrictLoader)
        if not isinstance(ops, list):
            raise ValueError("only JSON 6902 patches (a list of ops)")
        _json_patch(_k8s_target(docs, patch["target"]), ops)
    for rep in kus.get("replacements", []):
        src = rep["source"]
        value = _split(_field(_k8s_target(docs, {
            k: src[k] for k in ("kind", "name") if k in src}),
            src["fieldPath"]), src.get("options"))
        for target in rep["targets"]:
            doc = _k8s_target(docs, target["select"])
            for path in target["fieldPaths"]:
                if target.get("options"):
                    raise ValueError("target options are not supported")
                _field(doc, path, copy.deepcopy(value))
    if top:
        docs = [d for d in docs if d["metadata"].get(
            "annotations", {}).get(_LOCAL_CONFIG) != "true"]
    return docs


# ---- the binary's interface ---------------------------------------------

def binary_path():
    return Path(os.environ.get("SES_SMTP_PROXY_BIN", REPO / "ses-smtp-proxy"))


def help_from_binary():
    """The --help text of the built binary, or None when it is absent."""
    path = binary_path()
    if not os.access(path, os.X_OK):
        return None
    out = subprocess.run([str(path), "--help"], capture_output=True,
                         text=True, timeout=10, check=True)
    return out.stdout


def _c_strings(expr):
    """The value of adjacent C string literals ("a" "b" -> ab)."""
    parts = re.findall(r'"((?:[^"\\]|\\.)*)"', expr)
    return "".join(parts).encode().decode("unicode_escape")


def options_from_source():
    """config.c's option table, in order: one dict per option with the
    keys of help_rows (flag, meta, env, switch, help, default)."""
    src = (REPO / "config.c").read_text(encoding="utf-8")
    body = src[src.index("static const struct opt opts[O_COUNT] = {"):]
    body = body[:body.index("\n};")]
    rows = []
    for entry in re.findall(r"\[O_\w+\]\s*=\s*\{(.*?)\},", body, re.S):
        f = {}
        for key, val in re.findall(
                r'\.(\w+)\s*=\s*((?:"(?:[^"\\]|\\.)*"\s*)+|[^,]+)', entry):
            val = val.strip()
            f[key] = _c_strings(val) if val.startswith('"') else val
        rows.append({
            "flag": f["flag"], "meta": f.get("meta"), "env": f.get("env"),
            "switch": f.get("env") is not None and f.get("arg", "0") == "0",
            "help": f["help"], "default": f.get("def", f.get("unset"))})
    if not rows:
        raise ValueError("no option table (opts[O_COUNT]) in config.c")
    return rows


def option_rows():
    """The binary's options: from its --help, or from config.c's table
    when no binary has been built."""
    text = help_from_binary()
    return help_rows(text) if text is not None else options_from_source()


# "  --drain-timeout S      DRAIN_TIMEOUT    after SIGTERM or SIGINT (8)"
# with the text and its "(default)" wrapped onto lines indented 25 or more.
_HELP_ROW = re.compile(r"^  (--[a-z-]+)(?: (\S+))? +(\S.*)$")
_HELP_ENV = re.compile(r"^([A-Z][A-Z0-9_]*)(=1)?(?: +(.*))?$")
_HELP_ENV_COL = 25


def help_rows(text):
    """--help's option rows, in order: {flag, meta, env, switch (VAR=1),
    help, default (the trailing "(...)", or None)}."""
    rows = []
    for line in text.splitlines():
        m = _HELP_ROW.match(line)
        if m:
            rest, env, switch = m.group(3), None, False
            e = _HELP_ENV.match(rest)
            if m.start(3) == _HELP_ENV_COL and e:
                env, switch, rest = e.group(1), bool(e.group(2)), \
                    e.group(3) or ""
            rows.append({"flag": m.group(1), "meta": m.group(2),
                         "env": env, "switch": switch, "help": rest})
        elif rows and line.startswith(" " * _HELP_ENV_COL) and line.strip():
            rows[-1]["help"] = (rows[-1]["help"] + " " + line.strip()).strip()
        elif not line.strip() and rows:
            break
    for r in rows:
        m = re.fullmatch(r"(.*?) ?\(([^()]*)\)", r["help"])
        r["help"], r["default"] = (m.group(1), m.group(2)) if m else \
            (r["help"], None)
    return rows


def help_options(rows):
    """{ENV: (flag, default)} for every option with a variable."""
    return {r["env"]: (r["flag"], r["default"]) for r in rows if r["env"]}


def help_defaults(rows):
    """The binary's defaults that the deployments depend on."""
    opts = help_options(rows)

    def number(env):
        if env not in opts or not re.fullmatch(r"\d+", opts[env][1] or ""):
            raise ValueError(f"--help gives no number default for {env}")
        return int(opts[env][1])

    m = re.match(r"\d+\.\d+\.\d+\.\d+:(\d+)\b", opts["LISTEN"][1] or "")
    if not m:
        raise ValueError("--help gives no default for LISTEN")
    return {
        "DRAIN_TIMEOUT": number("DRAIN_TIMEOUT"),
        "IDLE_TIMEOUT": number("IDLE_TIMEOUT"),
        "MAX_CONNS": number("MAX_CONNS"),
        "LISTEN_PORT": int(m.group(1)),
    }


def c_defines():
    """{NAME: expression} of the one-line #defines of the top-level C
    files, comments removed."""
    defs = {}
    for path in sorted(REPO.glob("*.[ch]")):
        src = re.sub(r"/\*.*?\*/", " ", path.read_text(encoding="utf-8"),
                     flags=re.S)
        for name, expr in re.findall(r"^#define[ \t]+(\w+)[ \t]+(.+)$",
                                     src, re.M):
            defs.setdefault(name, expr.strip())
    return defs


def c_const(name, defs=None):
    """The value of an integer #define, other #defines expanded."""
    defs = c_defines() if defs is None else defs
    if name not in defs:
        raise ValueError(f"no #define {name} in the top-level C files")
    expr = re.sub(r"\b[A-Za-z_]\w*\b",
                  lambda m: f"({c_const(m.group(0), defs)})", defs[name])
    expr = re.sub(r"(?<=\d)[uUlL]+\b", "", expr)
    if not re.fullmatch(r"[0-9+\-*/() ]+", expr):
        raise ValueError(f"#define {name} is not integer arithmetic: {expr}")
    return int(eval(expr, {"__builtins__": {}}))  # digits and + - * / only


def _nlb_numbers(p, drain, dereg, idle, nlb_idle):
    """The NLB's numbers against the proxy's (ECS and Kubernetes alike):
    draining sessions finish before the target is gone, and the proxy, not
    the NLB, closes idle sessions."""
    if None not in (drain, dereg) and not drain < dereg:
        p.append(f"DRAIN_TIMEOUT {drain} is not below the deregistration "
                 f"delay {dereg}")
    if None not in (idle, nlb_idle) and not idle < nlb_idle:
        p.append(f"IDLE_TIMEOUT {idle} is not below the NLB idle timeout "
                 f"{nlb_idle}: the NLB would drop idle flows silently")


def nofile_needed(max_conns):
    """Descriptors for max_conns sessions, by proxy.c's own arithmetic:
    2 per session plus NOFILE_RESERVE (listeners, DNS sockets, epoll,
    stdio and the splice pipe pool)."""
    return 2 * max_conns + c_const("NOFILE_RESERVE")


def relay_chunk():
    """The most one direction of a session holds in user space."""
    return c_const("PUMP_CHUNK")


def memory_needed_mib(max_conns):
    """At most one chunk per direction per session, every splice pipe full
    (pipe pages are charged to the container's memory cgroup), plus the
    base."""
    pipes = c_const("PUMP_PIPES_MAX") * c_const("PUMP_PIPE_SIZE")
    return ((2 * relay_chunk() * max_conns + pipes) / 2**20
            + BASE_MEMORY_MIB)


_LOG_CALL = re.compile(r"\blog_(begin|msg|errno)\s*\(")
# The argument that names the event: log_begin(l, level, EVENT),
# log_msg(level, EVENT, msg), log_errno(EVENT, what).
_LOG_EVENT_ARG = {"begin": 2, "msg": 1, "errno": 0}
# The field each one-call form writes (log.c: log_msg, log_errno).
_LOG_CALL_FIELD = {"msg": "msg", "errno": "error"}


def _c_args(src, start):
    """The top-level arguments of the C call whose "(" is at ${start},
    and the offset after its ")"; string literals may hold , and ()."""
    args, depth, cur, i = [], 0, "", start + 1
    while True:
        c = src[i]
        if c == '"':
            m = re.compile(r'"(?:[^"\\]|\\.)*"').match(src, i)
            cur, i = cur + m.group(0), m.end()
            continue
        if c == "(":
            depth += 1
        elif c == ")" and depth == 0:
            return [a.strip() for a in args + [cur]], i + 1
        elif c == ")":
            depth -= 1
        elif c == "," and depth == 0:
            args.append(cur)
            cur, i = "", i + 1
            continue
        cur, i = cur + c, i + 1


def log_event_fields(root=REPO):
    """{event: set of field names} for every event the binary can log,
    from the log calls of the top-level C files (log.h): log_msg writes
    "msg", log_errno "error", and a log_begin line every log_str and
    log_u64 key up to its log_end.  An event logged in several places
    gets the union.  "worker" on every line of a --workers relay (log.c)
    is not counted.  Raises ValueError for a log call whose event is not
    a string literal, which this reading would miss."""
    events = {}
    for path in sorted(Path(root).glob("*.c")):
        if path.name == "log.c":
            continue
        src = re.sub(r"/\*.*?\*/", " ", path.read_text(encoding="utf-8"),
                     flags=re.S)
        helpers, spans = _log_helpers(src), []
        for call in _LOG_CALL.finditer(src):
            kind = call.group(1)
            args, after = _c_args(src, call.end() - 1)
            event = args[_LOG_EVENT_ARG[kind]]
            if not re.fullmatch(r'"\w+"', event):
                line = src.count("\n", 0, call.start()) + 1
                raise ValueError(f"{path.name}:{line}: log_{kind} with the "
                                 f"event {event}, not a string literal")
            fields = events.setdefault(event.strip('"'), set())
            if kind in _LOG_CALL_FIELD:
                fields.add(_LOG_CALL_FIELD[kind])
                continue
            end = src.find("log_end(", after)
            if end < 0:
                raise ValueError(f"{path.name}: {event} has no log_end")
            spans.append((after, end))
            fields.update(_LOG_FIELD.findall(src, after, end))
            for name, (_, _, hf) in helpers.items():
                if re.search(rf"\b{name}\s*\(", src[after:end]):
                    fields.update(hf)
        spans += [(a, b) for a, b, _ in helpers.values()]
        for f in _LOG_FIELD.finditer(src):
            if not any(a <= f.start() < b for a, b in spans):
                line = src.count("\n", 0, f.start()) + 1
                raise ValueError(f"{path.name}:{line}: field {f.group(1)} "
                                 "outside a log_begin ... log_end and "
                                 "outside a helper taking a struct "
                                 "log_line *")
    return events


_LOG_FIELD = re.compile(r'\blog_(?:str|u64)\s*\(\s*&?\w+\s*,\s*"(\w+)"')


def _log_helpers(src):
    """{name: (start, end, fields)} of the functions of ${src} that take a
    struct log_line * and add fields to it (workers.c's log_signal)."""
    helpers = {}
    for m in re.finditer(r"^(\w+)\(struct log_line \*\w+[^)]*\)\s*\{",
                         src, re.M):
        end = src.index("\n}\n", m.end())
        helpers[m.group(1)] = (m.end(), end,
                               set(_LOG_FIELD.findall(src, m.end(), end)))
    return helpers


def log_events():
    """Every event name the binary can log."""
    return set(log_event_fields())


def close_reasons():
    """The reasons of conn_close, conn_rejected and shutdown: shutdown's
    from relay.c, the others from metrics.c's table, whose label values
    are the log's reasons (relay.c logs metrics_label()), but for
    conn_close's "closed", which the metrics split by the first FIN."""
    src = (REPO / "relay.c").read_text(encoding="utf-8")
    reasons = set(re.findall(r'stop_reason\s*=\s*"(\w+)"', src))
    table = (REPO / "metrics.c").read_text(encoding="utf-8")
    labels = set(re.findall(r'\{ F_(?:REJECTED|ENDED),\s*"(\w+)" \}', table))
    assert labels, "no reasons found in metrics.c's counters table"
    if labels & {"client_close", "upstream_close"}:
        labels = (labels - {"client_close", "upstream_close"}) | {"closed"}
    return reasons | labels


def parse_addr_port(value):
    """ "0.0.0.0:8080" or "[::]:8080" -> 8080."""
    m = re.fullmatch(r"(?:\[[0-9a-fA-F:.]+\]|[0-9.]+):(\d{1,5})", value)
    if not m:
        raise ValueError(f"{value!r} is not ADDR:PORT")
    return int(m.group(1))


def cidr_set(values):
    return {ipaddress.ip_network(v.strip()) for v in values if v.strip()}


# ---- CloudFormation ------------------------------------------------------

def cfn_resources(t, rtype=None):
    """{logical id: resource} (loops of Fn::ForEach left out)."""
    return {k: v for k, v in t.get("Resources", {}).items()
            if not k.startswith("Fn::ForEach::") and
            (rtype is None or v.get("Type") == rtype)}


def cfn_foreach(t):
    """[(loop name, identifier, collection, {key template: resource})]."""
    return [(k, v[0], v[1], v[2]) for k, v in t.get("Resources", {}).items()
            if k.startswith("Fn::ForEach::")]


def cfn_one(t, rtype):
    found = cfn_resources(t, rtype)
    if len(found) != 1:
        raise ValueError(f"expected one {rtype}, found {len(found)}")
    return next(iter(found.items()))


def cfn_values(t, given):
    """{parameter: value} from ${given} (strings, as on the command line)
    and the defaults; a list parameter's value is a list.  Parameters
    with neither are left out."""
    values = {}
    for name, par in t.get("Parameters", {}).items():
        value = given.get(name, par.get("Default"))
        if value is None:
            continue
        value = str(value)
        if par.get("Type") == "CommaDelimitedList" or \
                str(par.get("Type")).startswith("List<"):
            value = [v.strip() for v in value.split(",")]
        values[name] = value
    unknown = set(given) - set(t.get("Parameters", {}))
    if unknown:
        raise ValueError(f"no such parameters: {sorted(unknown)}")
    return values


def _cfn_arg(node, values):
    """A literal, or the value of a Ref to a parameter or pseudo
    parameter."""
    if is_ref(node):
        if node["Ref"] not in values:
            raise ValueError(f"Ref {node['Ref']} has no value here")
        return values[node["Ref"]]
    if isinstance(node, (str, int, list)) and not isinstance(node, bool):
        return [_cfn_arg(v, values) for v in node] \
            if isinstance(node, list) else str(node)
    raise ValueError(f"cannot evaluate {node!r}")


def _cfn_bool(node, values, conds):
    """A condition (or rule) function: Fn::Equals, Not, And, Or, a
    {"Condition": name} reference (conds(name)), and the rule-only
    Fn::Contains, Fn::EachMemberEquals and Fn::EachMemberIn."""
    if not isinstance(node, dict) or len(node) != 1:
        raise ValueError(f"not a condition function: {node!r}")
    (fn, arg), = node.items()

    def each(args):
        return [_cfn_bool(a, values, conds) for a in args]
    if fn == "Condition":
        return conds(arg)
    if fn == "Fn::Not":
        return not each(arg)[0]
    if fn == "Fn::And":
        return all(each(arg))
    if fn == "Fn::Or":
        return any(each(arg))
    a, b = (_cfn_arg(x, values) for x in arg)
    if fn == "Fn::Equals":
        return a == b
    if fn == "Fn::Contains":
        return b in a
    if fn == "Fn::EachMemberEquals":
        return all(x == b for x in a)
    if fn == "Fn::EachMemberIn":
        return all(x in b for x in a)
    raise ValueError(f"unknown condition function {fn}")


def cfn_conditions(t, values):
    """{condition: bool} of the template's Conditions, for ${values}."""
    conds, memo = t.get("Conditions", {}), {}

    def cond(name):
        if name not in memo:
            if name not in conds:
                raise ValueError(f"no condition {name}")
            memo[name] = _cfn_bool(conds[name], values, cond)
        return memo[name]
    return {name: cond(name) for name in conds}


_NO_VALUE = object()


def _cfn_pick(node, conds):
    """${node} with every Fn::If replaced by its chosen branch and every
    AWS::NoValue removed."""
    if isinstance(node, dict):
        if set(node) == {"Fn::If"}:
            name, yes, no = node["Fn::If"]
            if name not in conds:
                raise ValueError(f"Fn::If names no condition {name}")
            return _cfn_pick(yes if conds[name] else no, conds)
        if is_ref(node, "AWS::NoValue"):
            return _NO_VALUE
        out = {k: _cfn_pick(v, conds) for k, v in node.items()}
        return {k: v for k, v in out.items() if v is not _NO_VALUE}
    if isinstance(node, list):
        out = [_cfn_pick(v, conds) for v in node]
        return [v for v in out if v is not _NO_VALUE]
    return node


def cfn_resolve(t, given, region="eu-west-1"):
    """The template as CloudFormation renders it for the parameter values
    ${given} (the rest: defaults): the resources and outputs whose
    Condition is false gone, every Fn::If decided, AWS::NoValue removed,
    Conditions and Rules dropped.  Other Refs stay as they are, so the
    check_* functions see which parameter each value comes from.  A new
    object; ${t} is not changed."""
    values = dict(cfn_values(t, given), **{"AWS::Region": region})
    conds = cfn_conditions(t, values)
    out = {}
    for key, part in t.items():
        if key in ("Conditions", "Rules"):
            continue
        if key in ("Resources", "Outputs"):
            for name, body in part.items():
                if isinstance(body, dict) and "Condition" in body and \
                        body["Condition"] not in conds:
                    raise ValueError(f"{name}: no condition "
                                     f"{body['Condition']}")
            part = {name: {k: v for k, v in body.items()
                           if k != "Condition"}
                    if isinstance(body, dict) else body
                    for name, body in part.items()
                    if not (isinstance(body, dict) and
                            not conds.get(body.get("Condition"), True))}
        out[key] = _cfn_pick(part, conds)
    return out


def cfn_rule_failures(t, given, region="eu-west-1"):
    """The AssertDescription of every Rules assertion that fails for the
    parameter values ${given} (the rest: defaults) in ${region}: what
    CloudFormation would refuse the stack with."""
    values = dict(cfn_values(t, given), **{"AWS::Region": region})

    def no_conditions(name):
        raise ValueError(f"a rule cannot name the condition {name}")
    failed = []
    for name, rule in t.get("Rules", {}).items():
        when = rule.get("RuleCondition")
        if when is not None and not _cfn_bool(when, values, no_conditions):
            continue
        for a in rule["Assertions"]:
            if not _cfn_bool(a["Assert"], values, no_conditions):
                text = " ".join(a["AssertDescription"].split())
                failed.append(f"{name}: {text}")
    return failed


def is_ref(value, name=None):
    return isinstance(value, dict) and set(value) == {"Ref"} and \
        (name is None or value["Ref"] == name)


def ecs_container(t):
    _, td = cfn_one(t, "AWS::ECS::TaskDefinition")
    return td["Properties"]["ContainerDefinitions"][0]


def ecs_env(t):
    return {e["Name"]: e["Value"]
            for e in ecs_container(t).get("Environment", [])}


def _attrs(items):
    return {a["Key"]: a["Value"] for a in items or []}


def _int(value, what, problems):
    if isinstance(value, bool) or not isinstance(value, (int, str)) or \
            not re.fullmatch(r"\d+", str(value)):
        problems.append(f"{what} is {value!r}, not a literal whole number")
        return None
    return int(value)


def _setting(env, name, defaults, problems, where):
    """A numeric setting: the variable if set, else the binary's default."""
    if name not in env:
        return defaults[name]
    return _int(env[name], f"{where} {name}", problems)


def _listen_port(env, defaults, problems, where):
    if "LISTEN" not in env:
        return defaults["LISTEN_PORT"]
    try:
        return parse_addr_port(env["LISTEN"])
    except ValueError as e:
        problems.append(f"{where} LISTEN: {e}")
        return None


def check_ecs_hardening(t):
    """Every hardening field the deployment promises, field by field, in
    the template as deployed with its parameters' defaults (the optional
    metrics sidecar off: metricslib.check_ecs_metrics checks it on)."""
    p = []
    t = cfn_resolve(t, {})
    params = t.get("Parameters", {})
    need = ["AWS::ECS::Cluster", "AWS::ECS::TaskDefinition",
            "AWS::ECS::Service", "AWS::Logs::LogGroup", "AWS::IAM::Role",
            "AWS::ElasticLoadBalancingV2::LoadBalancer",
            "AWS::ElasticLoadBalancingV2::TargetGroup",
            "AWS::ElasticLoadBalancingV2::Listener"]
    for rtype in need:
        if len(cfn_resources(t, rtype)) != 1:
            p.append(f"expected exactly one {rtype}")
    if p:
        return p
    _, td = cfn_one(t, "AWS::ECS::TaskDefinition")
    tdp = td["Properties"]
    if tdp.get("RequiresCompatibilities") != ["FARGATE"]:
        p.append("task definition is not FARGATE only")
    if tdp.get("NetworkMode") != "awsvpc":
        p.append("task definition network mode is not awsvpc")
    if "TaskRoleArn" in tdp:
        p.append("a task role is given: the proxy calls no AWS API")
    arch = t.get("Parameters", {}).get("CpuArchitecture", {})
    if tdp.get("RuntimePlatform", {}).get("CpuArchitecture") != \
            {"Ref": "CpuArchitecture"}:
        p.append("RuntimePlatform.CpuArchitecture is not the "
                 "CpuArchitecture parameter")
    elif arch.get("Default") != "X86_64" or \
            sorted(arch.get("AllowedValues", [])) != \
            sorted(ECS_ARCH[a] for a in IMAGE_ARCHES):
        p.append("the CpuArchitecture parameter is not X86_64 by default "
                 "with the image's architectures allowed "
                 f"({', '.join(ECS_ARCH[a] for a in IMAGE_ARCHES)})")
    if len(tdp.get("ContainerDefinitions", [])) != 1:
        p.append("expected one container")
    c = ecs_container(t)
    if c.get("ReadonlyRootFilesystem") is not True:
        p.append("ReadonlyRootFilesystem is not true")
    if c.get("User") != f"{RUN_AS}:{RUN_AS}":
        p.append(f"User is {c.get('User')!r}, not \"{RUN_AS}:{RUN_AS}\"")
    if c.get("Privileged"):
        p.append("Privileged is set")
    lp = c.get("LinuxParameters", {})
    caps = lp.get("Capabilities", {})
    if caps.get("Drop") != ["ALL"] or caps.get("Add"):
        p.append("LinuxParameters.Capabilities must drop ALL and add none")
    if not isinstance(lp.get("InitProcessEnabled"), bool):
        p.append("InitProcessEnabled is not decided (true or false)")
    hc = c.get("HealthCheck", {}).get("Command")
    if hc != ["CMD", "/ses-smtp-proxy", "--healthcheck"]:
        p.append(f"HealthCheck.Command is {hc!r}, not the exec form of "
                 "/ses-smtp-proxy --healthcheck (the image has no shell)")
    if not is_ref(c.get("Image")) or \
            c["Image"]["Ref"] not in params:
        p.append("Image is not a parameter")
    if not any(u.get("Name") == "nofile" for u in c.get("Ulimits", [])):
        p.append("no nofile ulimit")
    if "StopTimeout" not in c:
        p.append("no StopTimeout")
    env = ecs_env(t)
    if not is_ref(env.get("SES_REGION")) or \
            env["SES_REGION"]["Ref"] not in params:
        p.append("SES_REGION is not a parameter")
    for name in ("PROXY_PROTOCOL", "HEALTH_LISTEN", "ALLOW_CLIENTS"):
        if name not in env:
            p.append(f"{name} is not set")
    if "ClientCidrs" not in repr(env.get("ALLOW_CLIENTS")):
        p.append("ALLOW_CLIENTS does not come from the ClientCidrs parameter")
    lc = c.get("LogConfiguration", {})
    group = lc.get("Options", {}).get("awslogs-group")
    groups = cfn_resources(t, "AWS::Logs::LogGroup")
    if lc.get("LogDriver") != "awslogs" or not is_ref(group) or \
            group["Ref"] not in groups:
        p.append("logs do not go to this stack's log group with awslogs")
    elif "RetentionInDays" not in groups[group["Ref"]]["Properties"]:
        p.append("the log group has no retention")

    _, svc = cfn_one(t, "AWS::ECS::Service")
    sp = svc["Properties"]
    if sp.get("LaunchType") != "FARGATE":
        p.append("service LaunchType is not FARGATE")
    count = sp.get("DesiredCount")
    if is_ref(count):
        par = params.get(count["Ref"], {})
        if int(par.get("MinValue", 0)) < 2 or int(par.get("Default", 0)) < 2:
            p.append("DesiredCount parameter allows fewer than 2 tasks")
    elif not isinstance(count, int) or count < 2:
        p.append("DesiredCount is below 2")
    net = sp.get("NetworkConfiguration", {}).get("AwsvpcConfiguration", {})
    subnets = net.get("Subnets")
    if not is_ref(subnets) or params.get(subnets["Ref"], {}).get("Type") != \
            "List<AWS::EC2::Subnet::Id>":
        p.append("service subnets are not a List<AWS::EC2::Subnet::Id> "
                 "parameter")
    if net.get("AssignPublicIp") != "DISABLED":
        p.append("tasks get a public IP")
    if sp.get("EnableExecuteCommand") is not False:
        p.append("ECS Exec is not disabled")

    _, lb = cfn_one(t, "AWS::ElasticLoadBalancingV2::LoadBalancer")
    lbp = lb["Properties"]
    if lbp.get("Type") != "network" or lbp.get("Scheme") != "internal":
        p.append("the load balancer is not an internal NLB")
    if not lbp.get("SecurityGroups"):
        p.append("the NLB has no security group")
    _, tg = cfn_one(t, "AWS::ElasticLoadBalancingV2::TargetGroup")
    tgp = tg["Properties"]
    if tgp.get("TargetType") != "ip" or tgp.get("Protocol") != "TCP":
        p.append("target group is not TCP with IP targets")
    attrs = _attrs(tgp.get("TargetGroupAttributes"))
    if attrs.get("preserve_client_ip.enabled") != "false":
        p.append("preserve_client_ip.enabled is not false (the task "
                 "security group admits only the NLB)")
    p += check_ecs_ingress(t)
    return p


def _task_sg(t):
    _, svc = cfn_one(t, "AWS::ECS::Service")
    sgs = svc["Properties"]["NetworkConfiguration"][
        "AwsvpcConfiguration"]["SecurityGroups"]
    if len(sgs) != 1 or not is_ref(sgs[0]):
        raise ValueError("the service must have one security group, by Ref")
    return sgs[0]["Ref"]


def _nlb_sg(t):
    _, lb = cfn_one(t, "AWS::ElasticLoadBalancingV2::LoadBalancer")
    sgs = lb["Properties"].get("SecurityGroups", [])
    if len(sgs) != 1 or not is_ref(sgs[0]):
        raise ValueError("the NLB must have one security group, by Ref")
    return sgs[0]["Ref"]


def _sg_rules(t, group, direction):
    """Inline and separate rules of one security group, one direction."""
    inline = "SecurityGroupIngress" if direction == "ingress" else \
        "SecurityGroupEgress"
    rtype = "AWS::EC2::SecurityGroupIngress" if direction == "ingress" \
        else "AWS::EC2::SecurityGroupEgress"
    rules = list(cfn_resources(t)[group]["Properties"].get(inline, []))
    rules += [r["Properties"] for r in cfn_resources(t, rtype).values()
              if is_ref(r["Properties"].get("GroupId"), group)]
    for _, _, _, body in cfn_foreach(t):
        rules += [r["Properties"] for r in body.values()
                  if r.get("Type") == rtype and
                  is_ref(r["Properties"].get("GroupId"), group)]
    return rules


def _rule_port(rule):
    """(protocol, port) of a single-port rule, else None."""
    proto = str(rule.get("IpProtocol")).lower()
    lo, hi = rule.get("FromPort"), rule.get("ToPort")
    if proto not in ("tcp", "udp") or lo != hi or not isinstance(lo, int):
        return None
    return (proto.upper(), lo)


def check_ecs_ingress(t):
    """Tasks admit only the NLB's group, on the SMTP and health ports;
    the NLB admits only the ClientCidrs, on the SMTP port."""
    p = []
    task, nlb = _task_sg(t), _nlb_sg(t)
    ports = set()
    for r in _sg_rules(t, task, "ingress"):
        if not is_ref(r.get("SourceSecurityGroupId"), nlb):
            p.append(f"task ingress {r} is not from the NLB's group")
        port = _rule_port(r)
        if port is None or port[0] != "TCP":
            p.append(f"task ingress {r} is not one TCP port")
        ports.add(port)
    env = ecs_env(t)
    want = {("TCP", _listen_port(env, {"LISTEN_PORT": 1587}, p, "ECS"))}
    try:
        want.add(("TCP", parse_addr_port(env.get("HEALTH_LISTEN", ""))))
    except ValueError as e:
        p.append(f"ECS HEALTH_LISTEN: {e}")
    if ports != want:
        p.append(f"task ingress ports {sorted(ports, key=str)} are not "
                 f"the listen and health ports {sorted(want)}")
    for r in _sg_rules(t, nlb, "ingress"):
        if _rule_port(r) != ("TCP", 1587) or not is_ref(
                r.get("CidrIp"), "Cidr"):
            p.append(f"NLB ingress {r} is not a client CIDR on 1587")
    loops = [(ident, coll) for _, ident, coll, body in cfn_foreach(t)
             if any(is_ref(b["Properties"].get("GroupId"), nlb)
                    for b in body.values())]
    if loops != [("Cidr", {"Ref": "ClientCidrs"})]:
        p.append("NLB ingress is not one rule per ClientCidrs entry")
    return p


def check_ecs_egress(t, resolver_param="DnsResolverCidr"):
    """The tasks may reach TCP 587 anywhere, 53 only at the resolver, 443
    only at the VPC endpoints (the Fargate image pull and logs), nothing
    else; and the default allow-all egress must be replaced."""
    p = []
    task = _task_sg(t)
    props = cfn_resources(t)[task]["Properties"]
    if not props.get("SecurityGroupEgress"):
        p.append("the task group lists no egress, so AWS adds allow-all")
    dest_keys = ("CidrIp", "CidrIpv6", "DestinationSecurityGroupId",
                 "DestinationPrefixListId")
    for r in _sg_rules(t, task, "egress"):
        port = _rule_port(r)
        dest = {k: r[k] for k in dest_keys if k in r}
        if port == PORT_SES:
            continue
        if port in PORTS_DNS:
            if dest != {"CidrIp": {"Ref": resolver_param}}:
                p.append(f"DNS egress {dest} is not the resolver "
                         f"parameter {resolver_param}")
            continue
        if port == ("TCP", 443):
            ok = dest in ({"DestinationSecurityGroupId":
                           {"Ref": "VpcEndpointSecurityGroupId"}},
                          {"DestinationPrefixListId":
                           {"Ref": "S3PrefixListId"}})
            if not ok:
                p.append(f"HTTPS egress to {dest}: only the VPC endpoints' "
                         "group and the S3 prefix list may be reached")
            continue
        p.append(f"egress rule allows more than DNS and 587: {r}")
    return p


_DEST_KEYS = ("CidrIp", "CidrIpv6", "DestinationSecurityGroupId",
              "DestinationPrefixListId", "SourceSecurityGroupId",
              "SourcePrefixListId")
_WORLD = ({"CidrIp": "0.0.0.0/0"}, {"CidrIpv6": "::/0"})


def _peer(rule):
    """The other end of a security group rule, as {key: value}."""
    return {k: rule[k] for k in _DEST_KEYS if k in rule}


def _group_ingress(t, group):
    """Ingress rules of ${group}: a security group of the template, or a
    parameter naming one outside it (its separate rules only)."""
    if group in cfn_resources(t, "AWS::EC2::SecurityGroup"):
        return _sg_rules(t, group, "ingress")
    return [r["Properties"] for r in cfn_resources(
        t, "AWS::EC2::SecurityGroupIngress").values()
        if is_ref(r["Properties"].get("GroupId"), group)]


def check_ecs_ses_path(t):
    """The tasks' way to SES in a template that cfn_resolve() has
    rendered for one SesPath.  NAT (SES_VPC_ENDPOINT_CIDRS unset): 587 to
    0.0.0.0/0 and ::/0, no endpoint.  VPC endpoint (set): the variable
    from a CommaDelimitedList parameter and SES_ALLOW_CIDRS unset; 587
    only to the endpoint's group and nothing to 0.0.0.0/0 or ::/0; that
    group admits only 587 from the tasks' group; an endpoint the stack
    makes is an email-smtp interface endpoint of the stack's region with
    private DNS, in the service's subnets and that group."""
    p = []
    params = t.get("Parameters", {})
    env = ecs_env(t)
    task = _task_sg(t)
    egress = _sg_rules(t, task, "egress")
    ses = [r for r in egress if _rule_port(r) == PORT_SES]
    endpoints = cfn_resources(t, "AWS::EC2::VPCEndpoint")
    if VPCE_CIDRS not in env:
        if endpoints:
            p.append(f"the stack makes a VPC endpoint but {VPCE_CIDRS} is "
                     "unset: the relay would refuse its addresses")
        if VPCE_DNS in env:
            p.append(f"{VPCE_DNS} is set without {VPCE_CIDRS}")
        peers = sorted((_peer(r) for r in ses), key=repr)
        if peers != sorted(_WORLD, key=repr):
            p.append(f"NAT path: SES egress {peers} is not 587 to "
                     "0.0.0.0/0 and ::/0")
        return p
    if ALLOW_CIDRS in env:
        p.append(f"{ALLOW_CIDRS} is set beside {VPCE_CIDRS}: the relay "
                 "takes one or the other")
    value = env[VPCE_CIDRS]
    join = value.get("Fn::Join") if isinstance(value, dict) else None
    if not (isinstance(join, list) and len(join) == 2 and join[0] == ","
            and is_ref(join[1]) and params.get(join[1]["Ref"], {}).get(
                "Type") == "CommaDelimitedList"):
        p.append(f"{VPCE_CIDRS} is {value!r}, not the join of a "
                 "CommaDelimitedList parameter")
    for r in egress:
        if _peer(r) in _WORLD:
            p.append(f"endpoint path: egress to everywhere {r}")
    groups = [_peer(r) for r in ses]
    if len(groups) != 1 or set(groups[0]) != {
            "DestinationSecurityGroupId"} or not is_ref(
            groups[0]["DestinationSecurityGroupId"]):
        p.append(f"endpoint path: SES egress {groups} is not 587 to one "
                 "security group")
        return p
    group = groups[0]["DestinationSecurityGroupId"]["Ref"]
    ingress = _group_ingress(t, group)
    if not ingress:
        p.append(f"the endpoint's group {group} admits nothing from the "
                 "tasks on 587")
    for r in ingress:
        if _rule_port(r) != PORT_SES or _peer(r) != {
                "SourceSecurityGroupId": {"Ref": task}}:
            p.append(f"the endpoint's group admits {r}, not only 587 from "
                     f"{task}")
    if len(endpoints) > 1:
        p.append(f"{len(endpoints)} VPC endpoints, expected one")
    for name, ep in endpoints.items():
        ep = ep["Properties"]
        want = {"VpcEndpointType": "Interface",
                "ServiceName": {"Fn::Sub":
                                "com.amazonaws.${AWS::Region}.email-smtp"},
                "PrivateDnsEnabled": True,
                "SecurityGroupIds": [{"Ref": group}],
                "SubnetIds": cfn_one(t, "AWS::ECS::Service")[1][
                    "Properties"]["NetworkConfiguration"][
                    "AwsvpcConfiguration"]["Subnets"]}
        for key, v in want.items():
            if ep.get(key) != v:
                p.append(f"{name}.{key} is {ep.get(key)!r}, not {v!r}")
        if VPCE_DNS in env:
            p.append(f"{VPCE_DNS} is set, but the stack's endpoint has "
                     "private DNS")
    if not endpoints and group not in params:
        p.append(f"the tasks' 587 goes to {group}, neither the group of "
                 "an endpoint of this stack nor a parameter")
    return p


def check_ecs_numbers(t, defaults):
    """The timeouts, limits and ports agree with each other and with the
    binary (defaults: help_defaults())."""
    p = []
    env = ecs_env(t)
    c = ecs_container(t)
    where = "ECS"
    drain = _setting(env, "DRAIN_TIMEOUT", defaults, p, where)
    idle = _setting(env, "IDLE_TIMEOUT", defaults, p, where)
    conns = _setting(env, "MAX_CONNS", defaults, p, where)
    listen = _listen_port(env, defaults, p, where)
    _, tg = cfn_one(t, "AWS::ElasticLoadBalancingV2::TargetGroup")
    tgp = tg["Properties"]
    attrs = _attrs(tgp.get("TargetGroupAttributes"))
    _, lst = cfn_one(t, "AWS::ElasticLoadBalancingV2::Listener")
    lattrs = _attrs(lst["Properties"].get("ListenerAttributes"))
    stop = _int(c.get("StopTimeout"), "StopTimeout", p)
    dereg = _int(attrs.get("deregistration_delay.timeout_seconds", 300),
                 "deregistration delay", p)
    nlb_idle = _int(lattrs.get("tcp.idle_timeout.seconds", NLB_DEFAULT_IDLE),
                    "NLB idle timeout", p)
    if None not in (drain, stop) and not drain < stop:
        p.append(f"DRAIN_TIMEOUT {drain} is not below stopTimeout {stop}: "
                 "SIGKILL would cut the drain")
    if stop is not None and stop > 120:
        p.append(f"stopTimeout {stop} exceeds Fargate's 120 s")
    _nlb_numbers(p, drain, dereg, idle, nlb_idle)
    nofile = [u for u in c.get("Ulimits", []) if u.get("Name") == "nofile"]
    if conns is not None:
        need = nofile_needed(conns)
        if not nofile:
            p.append("no nofile ulimit")
        for u in nofile:
            hard = _int(u.get("HardLimit"), "nofile hard limit", p)
            soft = _int(u.get("SoftLimit"), "nofile soft limit", p)
            if hard is not None and hard < need:
                p.append(f"nofile {hard} is below the {need} descriptors "
                         f"MAX_CONNS {conns} needs")
            if None not in (soft, hard) and soft > hard:
                p.append("nofile soft limit above the hard limit")
        _, td = cfn_one(t, "AWS::ECS::TaskDefinition")
        mem = _int(td["Properties"].get("Memory"), "task memory", p)
        if mem is not None and mem < memory_needed_mib(conns):
            p.append(f"task memory {mem} MiB is below the "
                     f"{memory_needed_mib(conns):.0f} MiB MAX_CONNS needs")
    # Ports: the listener, the health port, and who names them.
    try:
        health = parse_addr_port(env.get("HEALTH_LISTEN", ""))
    except ValueError as e:
        p.append(f"ECS HEALTH_LISTEN: {e}")
        health = None
    mapped = {m.get("ContainerPort") for m in c.get("PortMappings", [])}
    if listen not in mapped:
        p.append(f"listen port {listen} is not a container port {mapped}")
    if health not in mapped:
        p.append(f"health port {health} is not a container port {mapped}")
    _, svc = cfn_one(t, "AWS::ECS::Service")
    for lb in svc["Properties"].get("LoadBalancers", []):
        if lb.get("ContainerPort") != listen:
            p.append(f"the service registers container port "
                     f"{lb.get('ContainerPort')}, not the listen port "
                     f"{listen}")
    if tgp.get("Port") != listen:
        p.append(f"target group port {tgp.get('Port')} is not the listen "
                 f"port {listen}")
    if str(tgp.get("HealthCheckPort")) != str(health):
        p.append(f"health check port {tgp.get('HealthCheckPort')} is not "
                 f"HEALTH_LISTEN's port {health}")
    if tgp.get("HealthCheckProtocol") != "HTTP" or \
            tgp.get("HealthCheckPath") != "/readyz":
        p.append("the NLB health check is not HTTP GET /readyz")
    pp_env = env.get("PROXY_PROTOCOL") == "1"
    pp_tg = attrs.get("proxy_protocol_v2.enabled") == "true"
    if pp_env != pp_tg:
        p.append(f"PROXY_PROTOCOL={env.get('PROXY_PROTOCOL')} but the "
                 f"target group's proxy_protocol_v2.enabled is "
                 f"{attrs.get('proxy_protocol_v2.enabled')}")
    if "ALLOW_CLIENTS" in env and "127.0.0.1/32" not in \
            repr(env["ALLOW_CLIENTS"]):
        p.append("ALLOW_CLIENTS lacks 127.0.0.1/32, where the container "
                 "health check (--healthcheck) connects from")
    nlb = _nlb_sg(t)
    eg = {_rule_port(r) for r in _sg_rules(t, nlb, "egress")}
    for port in (listen, health):
        if ("TCP", port) not in eg:
            p.append(f"the NLB's group may not reach the tasks on {port}")
    return p


# ---- Kubernetes ----------------------------------------------------------

def k8s_one(docs, kind):
    found = [d for d in docs if d.get("kind") == kind]
    if len(found) != 1:
        raise ValueError(f"expected one {kind}, found {len(found)}")
    return found[0]


def k8s_container(docs):
    containers = k8s_one(docs, "Deployment")["spec"]["template"]["spec"][
        "containers"]
    if len(containers) != 1:
        raise ValueError("expected one container")
    return containers[0]


def k8s_env(docs):
    return {e["name"]: e.get("value") for e in k8s_container(docs).get(
        "env", [])}


def _named_port(container, port):
    """A probe or target port (name or number) as a number."""
    if isinstance(port, int):
        return port
    for cp in container.get("ports", []):
        if cp.get("name") == port:
            return cp["containerPort"]
    return None


def pod_arches(pod):
    """The node architectures a pod may run on: its nodeSelector's
    kubernetes.io/arch, or the In values of its required node affinity on
    that key; {"any"} when neither names one."""
    arch = pod.get("nodeSelector", {}).get("kubernetes.io/arch")
    if arch is not None:
        return {arch}
    required = pod.get("affinity", {}).get("nodeAffinity", {}).get(
        "requiredDuringSchedulingIgnoredDuringExecution", {})
    found = set()
    for term in required.get("nodeSelectorTerms", []):
        for e in term.get("matchExpressions", []):
            if e.get("key") == "kubernetes.io/arch":
                if e.get("operator") != "In":
                    return {"any"}
                found |= set(e.get("values", []))
    return found or {"any"}


def _selects(selector, labels):
    return bool(selector) and all(labels.get(k) == v
                                  for k, v in selector.items())


def check_k8s_restricted(docs):
    """The "restricted" Pod Security Standard, field by field, and the rest
    of the hardening the deployment promises."""
    p = []
    kinds = [d.get("kind") for d in docs]
    for kind in ("Deployment", "Service", "PodDisruptionBudget",
                 "NetworkPolicy", "ServiceAccount"):
        if kinds.count(kind) != 1:
            p.append(f"expected one {kind}")
    if p:
        return p
    dep = k8s_one(docs, "Deployment")
    if not isinstance(dep["spec"].get("replicas"), int) or \
            dep["spec"]["replicas"] < 2:
        p.append("fewer than 2 replicas")
    pod = dep["spec"]["template"]["spec"]
    labels = dep["spec"]["template"]["metadata"]["labels"]
    if pod.get("automountServiceAccountToken") is not False:
        p.append("automountServiceAccountToken is not false")
    for key in ("hostNetwork", "hostPID", "hostIPC", "hostUsers"):
        if pod.get(key) is True:
            p.append(f"{key} is true")
    for vol in pod.get("volumes", []):
        if "hostPath" in vol:
            p.append(f"hostPath volume {vol.get('name')}")
    psc = pod.get("securityContext", {})
    if psc.get("runAsNonRoot") is not True:
        p.append("pod runAsNonRoot is not true")
    if psc.get("runAsUser") != RUN_AS or psc.get("runAsGroup") != RUN_AS:
        p.append(f"pod runAsUser/runAsGroup are not {RUN_AS}")
    if psc.get("seccompProfile", {}).get("type") != "RuntimeDefault":
        p.append("pod seccompProfile is not RuntimeDefault")
    for c in pod.get("initContainers", []) + pod.get("containers", []):
        name = c.get("name")
        sc = c.get("securityContext", {})
        if sc.get("allowPrivilegeEscalation") is not False:
            p.append(f"{name}: allowPrivilegeEscalation is not false")
        if sc.get("privileged") is True:
            p.append(f"{name}: privileged")
        caps = sc.get("capabilities", {})
        if "ALL" not in caps.get("drop", []):
            p.append(f"{name}: capabilities do not drop ALL")
        if caps.get("add"):
            p.append(f"{name}: capabilities added {caps['add']}")
        if sc.get("readOnlyRootFilesystem") is not True:
            p.append(f"{name}: readOnlyRootFilesystem is not true")
        if sc.get("runAsNonRoot") is False or sc.get("runAsUser") == 0:
            p.append(f"{name}: may run as root")
        prof = sc.get("seccompProfile", {}).get("type", "RuntimeDefault")
        if prof not in ("RuntimeDefault", "Localhost"):
            p.append(f"{name}: seccompProfile {prof}")
        for part in ("requests", "limits"):
            res = c.get("resources", {}).get(part, {})
            if "cpu" not in res or "memory" not in res:
                p.append(f"{name}: no cpu and memory {part}")
    c = pod["containers"][0]
    if c.get("livenessProbe", {}).get("httpGet", {}).get("path") != "/livez":
        p.append("liveness probe is not httpGet /livez")
    if c.get("readinessProbe", {}).get("httpGet", {}).get("path") != \
            "/readyz":
        p.append("readiness probe is not httpGet /readyz")
    if "terminationGracePeriodSeconds" not in pod:
        p.append("no terminationGracePeriodSeconds")
    if pod_arches(pod) != set(IMAGE_ARCHES):
        p.append(f"the pod's node architectures {sorted(pod_arches(pod))} "
                 f"are not the image's {list(IMAGE_ARCHES)}")
    spread = [s for s in pod.get("topologySpreadConstraints", [])
              if s.get("topologyKey") == "topology.kubernetes.io/zone"]
    anti = pod.get("affinity", {}).get("podAntiAffinity", {})
    if not spread and not anti:
        p.append("replicas are not spread by zone or host")
    for s in spread:
        if not _selects(s.get("labelSelector", {}).get("matchLabels"),
                        labels):
            p.append("the zone spread does not select the pods")

    svc = k8s_one(docs, "Service")
    ann = svc["metadata"].get("annotations", {})
    pre = "service.beta.kubernetes.io/aws-load-balancer-"
    want = {"scheme": "internal", "nlb-target-type": "ip",
            "proxy-protocol": "*", "healthcheck-protocol": "http"}
    for k, v in want.items():
        if ann.get(pre + k) != v:
            p.append(f"annotation {pre}{k} is not {v!r}")
    if svc["spec"].get("type") != "LoadBalancer":
        p.append("the Service is not a LoadBalancer")
    if svc["spec"].get("loadBalancerClass") != "service.k8s.aws/nlb" and \
            ann.get(pre + "type") != "external":
        p.append("the Service is not handled by the AWS Load Balancer "
                 "Controller")
    ranges = svc["spec"].get("loadBalancerSourceRanges", [])
    if not ranges or any(ipaddress.ip_network(r).prefixlen == 0
                         for r in ranges):
        p.append("loadBalancerSourceRanges is empty or open to all")
    if not _selects(svc["spec"].get("selector"), labels):
        p.append("the Service does not select the pods")

    pdb = k8s_one(docs, "PodDisruptionBudget")
    if not _selects(pdb["spec"].get("selector", {}).get("matchLabels"),
                    labels):
        p.append("the PodDisruptionBudget does not select the pods")
    if pdb["spec"].get("maxUnavailable") != 1 and \
            not pdb["spec"].get("minAvailable", 0) >= 1:
        p.append("the PodDisruptionBudget allows all pods down")

    sa = k8s_one(docs, "ServiceAccount")
    if sa.get("automountServiceAccountToken") is not False:
        p.append("the ServiceAccount mounts a token")
    if pod.get("serviceAccountName") != sa["metadata"]["name"]:
        p.append("the pods do not use the ServiceAccount")

    ns = [d for d in docs if d.get("kind") == "Namespace"]
    for n in ns:
        if n["metadata"].get("labels", {}).get(
                "pod-security.kubernetes.io/enforce") != "restricted":
            p.append("the Namespace does not enforce the restricted profile")
    return p


def check_k8s_netpol(docs):
    """Ingress: only the listen and health ports, from named sources.
    Egress: only DNS to kube-dns and TCP 587."""
    p = []
    np = k8s_one(docs, "NetworkPolicy")
    dep = k8s_one(docs, "Deployment")
    labels = dep["spec"]["template"]["metadata"]["labels"]
    spec = np["spec"]
    if not _selects(spec.get("podSelector", {}).get("matchLabels"), labels):
        p.append("the NetworkPolicy does not select the pods")
    if set(spec.get("policyTypes", [])) != {"Ingress", "Egress"}:
        p.append("policyTypes is not Ingress and Egress")
    for rule in spec.get("egress", []):
        ports = {(q.get("protocol", "TCP"), q.get("port"))
                 for q in rule.get("ports", [])}
        to = rule.get("to", [])
        if not ports:
            p.append(f"egress rule {rule} allows every port")
            continue
        if not ports <= PORTS_DNS | {PORT_SES}:
            p.append(f"egress ports {sorted(ports - PORTS_DNS - {PORT_SES})}"
                     " go beyond DNS and 587")
        if ports & PORTS_DNS:
            dns = [t for t in to if "ipBlock" not in t and
                   t.get("podSelector", {}).get("matchLabels", {}).get(
                       "k8s-app") == "kube-dns"]
            if not to or len(dns) != len(to):
                p.append("DNS egress goes elsewhere than kube-dns")
            if PORT_SES in ports:
                p.append("one egress rule mixes DNS and 587")
    egress_ports = {(q.get("protocol", "TCP"), q.get("port"))
                    for r in spec.get("egress", []) for q in r.get("ports",
                                                                   [])}
    if not PORTS_DNS <= egress_ports or PORT_SES not in egress_ports:
        p.append("egress lacks DNS (UDP and TCP 53) or TCP 587")
    for rule in spec.get("ingress", []):
        if not rule.get("from"):
            p.append("an ingress rule admits every source")
        if not rule.get("ports"):
            p.append("an ingress rule admits every port")
    return p


def check_k8s_ses_path(docs):
    """The pods' way to SES.  NAT (SES_VPC_ENDPOINT_CIDRS unset): the
    NetworkPolicy lets 587 out to 0.0.0.0/0.  VPC endpoint (set):
    SES_ALLOW_CIDRS unset, every 587 egress rule names only ipBlocks
    without exceptions, and those are exactly the variable's CIDRs;
    no egress rule reaches 0.0.0.0/0."""
    p = []
    env = k8s_env(docs)
    egress = k8s_one(docs, "NetworkPolicy")["spec"].get("egress", [])
    ses = [r for r in egress if PORT_SES in {
        (q.get("protocol", "TCP"), q.get("port")) for q in r.get("ports",
                                                                  [])}]
    to = [t for r in ses for t in r.get("to", [])]
    if any(not r.get("to") for r in ses):
        p.append("a 587 egress rule names no destination: every address")
    if VPCE_CIDRS not in env:
        if to != [{"ipBlock": {"cidr": "0.0.0.0/0"}}]:
            p.append(f"NAT path: 587 egress to {to}, not 0.0.0.0/0")
        return p
    if ALLOW_CIDRS in env:
        p.append(f"{ALLOW_CIDRS} is set beside {VPCE_CIDRS}: the relay "
                 "takes one or the other")
    try:
        want = cidr_set((env[VPCE_CIDRS] or "").split(","))
        have = cidr_set(t["ipBlock"]["cidr"] for t in to if "ipBlock" in t)
    except ValueError as e:
        p.append(f"endpoint path: {e}")
        return p
    for t in to:
        if set(t) != {"ipBlock"} or set(t["ipBlock"]) != {"cidr"}:
            p.append(f"587 egress to {t}, not a plain ipBlock")
    if not want or have != want:
        p.append(f"587 egress goes to {sorted(map(str, have))}, not the "
                 f"endpoint's subnets {sorted(map(str, want))} "
                 f"({VPCE_CIDRS})")
    for r in egress:
        for t in r.get("to", []):
            cidr = t.get("ipBlock", {}).get("cidr", "")
            if cidr in ("0.0.0.0/0", "::/0"):
                p.append(f"endpoint path: egress to everywhere {r}")
    return p


def _annotation_attrs(value):
    return dict(kv.split("=", 1) for kv in (value or "").replace(
        " ", "").split(",") if "=" in kv)


def check_k8s_numbers(docs, defaults):
    """Timeouts, ports and client networks agree across the manifests and
    with the binary (defaults: help_defaults())."""
    p = []
    env = k8s_env(docs)
    c = k8s_container(docs)
    dep = k8s_one(docs, "Deployment")
    pod = dep["spec"]["template"]["spec"]
    svc = k8s_one(docs, "Service")
    ann = svc["metadata"].get("annotations", {})
    pre = "service.beta.kubernetes.io/aws-load-balancer-"
    where = "Kubernetes"
    drain = _setting(env, "DRAIN_TIMEOUT", defaults, p, where)
    idle = _setting(env, "IDLE_TIMEOUT", defaults, p, where)
    conns = _setting(env, "MAX_CONNS", defaults, p, where)
    listen = _listen_port(env, defaults, p, where)
    grace = _int(pod.get("terminationGracePeriodSeconds", 30),
                 "terminationGracePeriodSeconds", p)
    pre_stop = c.get("lifecycle", {}).get("preStop", {})
    sleep = _int(pre_stop.get("sleep", {}).get("seconds", 0),
                 "preStop sleep", p)
    if "exec" in pre_stop:
        p.append("preStop exec: the image has no shell and no sleep binary")
    tga = _annotation_attrs(ann.get(pre + "target-group-attributes"))
    dereg = _int(tga.get("deregistration_delay.timeout_seconds", 300),
                 "deregistration delay", p)
    nlb_idle = _int(_annotation_attrs(ann.get(
        f"{pre}listener-attributes.TCP-{listen}")).get(
        "tcp.idle_timeout.seconds", NLB_DEFAULT_IDLE), "NLB idle timeout", p)
    if None not in (drain, sleep, grace) and not drain + sleep < grace:
        p.append(f"preStop sleep {sleep} + DRAIN_TIMEOUT {drain} is not "
                 f"below terminationGracePeriodSeconds {grace}")
    if None not in (drain, sleep, dereg) and not drain + sleep <= dereg:
        p.append(f"deregistration delay {dereg} does not cover preStop "
                 f"sleep {sleep} + DRAIN_TIMEOUT {drain}")
    _nlb_numbers(p, drain, dereg, idle, nlb_idle)
    mem = c.get("resources", {}).get("limits", {}).get("memory", "")
    m = re.fullmatch(r"(\d+)Mi", str(mem))
    if conns is not None and (not m or int(m.group(1)) <
                              memory_needed_mib(conns)):
        p.append(f"memory limit {mem} is below the "
                 f"{memory_needed_mib(conns):.0f}Mi MAX_CONNS {conns} needs")

    try:
        health = parse_addr_port(env.get("HEALTH_LISTEN") or "")
    except ValueError as e:
        p.append(f"Kubernetes HEALTH_LISTEN: {e}")
        health = None
    ports = {cp["containerPort"] for cp in c.get("ports", [])}
    if listen not in ports:
        p.append(f"listen port {listen} is not a container port {ports}")
    if health not in ports:
        p.append(f"health port {health} is not a container port {ports}")
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        get = c.get(probe, {}).get("httpGet")
        if get and _named_port(c, get.get("port")) != health:
            p.append(f"{probe} port {get.get('port')} is not HEALTH_LISTEN's "
                     f"port {health}")
    if str(ann.get(pre + "healthcheck-port")) != str(health):
        p.append(f"NLB health check port {ann.get(pre + 'healthcheck-port')}"
                 f" is not HEALTH_LISTEN's port {health}")
    ready = c.get("readinessProbe", {}).get("httpGet", {}).get("path")
    if ann.get(pre + "healthcheck-path") != ready or ready != "/readyz":
        p.append(f"NLB health check path {ann.get(pre + 'healthcheck-path')}"
                 f" is not the readiness probe's {ready} (/readyz)")
    for sp in svc["spec"].get("ports", []):
        if _named_port(c, sp.get("targetPort", sp.get("port"))) != listen:
            p.append(f"Service targetPort {sp.get('targetPort')} is not the "
                     f"listen port {listen}")
    np = k8s_one(docs, "NetworkPolicy")
    inports = {q.get("port") for r in np["spec"].get("ingress", [])
               for q in r.get("ports", [])}
    if inports != {listen, health}:
        p.append(f"NetworkPolicy ingress ports {inports} are not the listen "
                 f"and health ports {{{listen}, {health}}}")
    pp_env = env.get("PROXY_PROTOCOL") == "1"
    pp_lb = ann.get(pre + "proxy-protocol") == "*"
    if pp_env != pp_lb:
        p.append(f"PROXY_PROTOCOL={env.get('PROXY_PROTOCOL')} but the NLB's "
                 f"proxy-protocol annotation is "
                 f"{ann.get(pre + 'proxy-protocol')}")
    ranges = cidr_set(svc["spec"].get("loadBalancerSourceRanges", []))
    allow = cidr_set((env.get("ALLOW_CLIENTS") or "").split(","))
    if ranges != allow:
        p.append(f"ALLOW_CLIENTS {sorted(map(str, allow))} differs from "
                 f"loadBalancerSourceRanges {sorted(map(str, ranges))}")
    return p


# ---- documentation -------------------------------------------------------

def fenced_blocks(markdown):
    return re.findall(r"^```[^\n]*\n(.*?)^```", markdown, re.M | re.S)


def check_readme_paths(markdown, repo=REPO):
    """Every deploy/... path named in a fenced code block exists."""
    p = []
    for block in fenced_blocks(markdown):
        for path in re.findall(r"(?<![\w./-])(deploy/[\w./-]*)", block):
            path = path.rstrip(".")
            if not (repo / path).exists():
                p.append(f"deploy/README.md names {path}, which does not "
                         "exist")
    return p


def markdown_anchors(markdown):
    """The anchors GitHub gives the headings of ${markdown}: lower case,
    punctuation dropped, spaces as hyphens."""
    return {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-")
            for h in re.findall(r"^#{1,6} (.+)$", markdown, re.M)}


def markdown_links(markdown):
    """(path, anchor) of every relative link; anchor "" when none."""
    return re.findall(r"\]\(([^)#:\s]*)(?:#([^)\s]*))?\)", markdown)


def check_runbook(markdown, events, reasons):
    """Every event and close/reject reason appears, in backticks."""
    return [f"the runbook does not explain `{name}`"
            for name in sorted(events | reasons)
            if f"`{name}`" not in markdown]


def check_env_names(used, known):
    return [f"{name} is not a variable the binary knows (--help)"
            for name in sorted(set(used) - set(known))]


def markdown_table(markdown, header):
    r"""The rows of the table whose header cells are ${header}, each a
    list of cells; "|" escaped as "\|" stays inside its cell."""
    lines = markdown.splitlines()
    want = [h.strip() for h in header]
    for i, line in enumerate(lines):
        if _cells(line) == want:
            rows = []
            for row in lines[i + 2:]:
                if not row.startswith("|"):
                    break
                rows.append(_cells(row))
            return rows
    raise ValueError(f"no table with the columns {' | '.join(header)}")


def _cells(line):
    if not line.startswith("|"):
        return None
    cells = re.split(r"(?<!\\)\|", line.strip())[1:-1]
    return [c.strip().replace("\\|", "|") for c in cells]


def _outside_parens(text):
    """${text} without its parenthesised parts (nested too)."""
    out, depth = "", 0
    for c in text:
        if c == "(":
            depth += 1
        elif c == ")" and depth:
            depth -= 1
        elif depth == 0:
            out += c
    return out


def event_table(markdown):
    """{event: set of fields} of docs/logs.md's table: the fields are the
    backticked names of the fields column outside parentheses."""
    table = {}
    for row in markdown_table(markdown, ["event", "level", "fields",
                                         "meaning", "alarm / action"]):
        m = re.fullmatch(r"`(\w+)`", row[0])
        if not m or m.group(1) in table:
            raise ValueError(f"bad or repeated event cell {row[0]!r}")
        table[m.group(1)] = set(
            re.findall(r"`(\w+)`", _outside_parens(row[2])))
    return table


def check_event_table(table, events):
    """The documented events and fields equal the logged ones."""
    p = []
    for name in sorted(set(events) - set(table)):
        p.append(f"{name} is logged (fields {sorted(events[name])}) but "
                 "not in docs/logs.md")
    for name in sorted(set(table) - set(events)):
        p.append(f"{name} is in docs/logs.md but never logged")
    for name in sorted(set(table) & set(events)):
        for f in sorted(events[name] - table[name]):
            p.append(f"{name} logs {f}, which docs/logs.md does not list")
        for f in sorted(table[name] - events[name]):
            p.append(f"docs/logs.md lists {f} for {name}, which it never "
                     "logs")
    return p


def readme_options(markdown):
    """README.md's configuration table as {flag, env, switch, default}
    rows: the first word of the flag cell, the variable (None for "–"),
    and the default without backticks (None for "–")."""
    rows = []
    for cells in markdown_table(markdown, ["flag", "env", "default",
                                           "meaning"]):
        flag = re.match(r"`(--[a-z-]+)", cells[0])
        env = re.match(r"`([A-Z][A-Z0-9_]*)(=1)?`", cells[1])
        if not flag or (not env and cells[1] != "–"):
            raise ValueError(f"bad configuration row {cells[:2]}")
        rows.append({
            "flag": flag.group(1),
            "env": env.group(1) if env else None,
            "switch": bool(env and env.group(2)),
            "default": None if cells[2] == "–" else cells[2].replace("`", "")})
    return rows


def check_options(doc, rows):
    """README's configuration rows against --help's (or config.c's): the
    same flags in the same order, each with the same variable, switch
    form and default."""
    keys = ("flag", "env", "switch", "default")
    doc = [{k: r[k] for k in keys} for r in doc]
    ref = [{k: r[k] for k in keys} for r in rows]
    p = []
    known = {r["flag"]: r for r in ref}
    seen = {r["flag"]: r for r in doc}
    for flag in known:
        if flag not in seen:
            p.append(f"{flag} is an option but not in README.md's table")
        elif seen[flag] != known[flag]:
            p.append(f"{flag}: README.md says {seen[flag]}, --help says "
                     f"{known[flag]}")
    for flag in seen:
        if flag not in known:
            p.append(f"{flag} is in README.md's table but not an option")
    if not p and [r["flag"] for r in doc] != [r["flag"] for r in ref]:
        p.append("README.md's table is not in --help's order")
    return p
