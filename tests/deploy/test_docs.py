"""deploy/README.md: its commands name files that exist, and its runbook
(docs/logs.md, which it links) explains every event and reason the binary
can log."""

import deploylib as d


def test_commands_name_existing_files(readme):
    assert d.check_readme_paths(readme) == []


def test_commands_cover_both_deployments(readme):
    blocks = "\n".join(d.fenced_blocks(readme))
    assert "aws cloudformation deploy" in blocks
    assert "--template-file deploy/ecs/ses-smtp-proxy.yaml" in blocks
    assert "CAPABILITY_AUTO_EXPAND" in blocks
    assert "kubectl apply -k deploy/kubernetes" in blocks


def test_every_parameter_is_shown(readme, cfn):
    """The deploy command sets every parameter that has no default."""
    blocks = "\n".join(d.fenced_blocks(readme))
    for name, par in cfn["Parameters"].items():
        if "Default" not in par:
            assert f"{name}=" in blocks, name


def test_runbook_explains_every_event(readme):
    assert "(../docs/logs.md)" in readme
    events = d.EVENTS_DOC.read_text(encoding="utf-8")
    assert d.check_runbook(events, d.log_events(), d.close_reasons()) == []


def test_event_extraction_finds_the_known_events():
    """The extraction itself works: these events exist in the source."""
    events = d.log_events()
    assert {"startup", "conn_close", "conn_rejected", "upstream_denied",
            "upstream_all_denied", "shutdown_begin", "shutdown",
            "startup_failed", "sandbox_ready", "stats",
            "stop_forwarded"} <= events
    assert "signal" not in events  # a level's argument, not an event
    assert {"access_denied", "max_conns", "idle_timeout", "drain_timeout",
            "client_reset"} <= d.close_reasons()
