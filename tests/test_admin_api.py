"""The admin API, as an operator uses it (through the Python client and `spantally admin`):
the project, its keys (created with scopes, listed without secrets, revoked and refused at
once) and its rate limits; every body checked, nothing of another project reachable; projects
created and listed with the server's admin token only."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator

import pytest

from spantally.client import Client, InvalidArgument, NotFound, PermissionDenied
from spantally.store import ManagedCluster

from .harness import Project, Server, start_server


def _admin(server: Server, project: Project) -> Client:
    return Client(server.api_url, project.key)  # the test project's key has every scope


def test_keys_are_created_listed_and_revoked(server: Server, project: Project) -> None:
    client = _admin(server, project)
    made = client.create_key("exporter", ["ingest"])
    assert made["scopes"] == ["ingest"] and made["key"].startswith(f"st_{made['keyId']}_")
    listed = {k["keyId"]: k for k in client.keys()}
    assert listed[made["keyId"]]["scopes"] == ["ingest"] and listed[made["keyId"]]["name"] == (
        "exporter")
    assert made["key"] not in json.dumps(client.keys())  # secrets are never listed
    reader = client.create_key("dashboard")
    assert reader["scopes"] == ["ingest", "read"]  # the default
    Client(server.api_url, reader["key"]).get_llm_analytics()
    client.revoke_key(reader["keyId"])
    with pytest.raises(PermissionDenied):
        Client(server.api_url, reader["key"]).get_llm_analytics()
    assert {k["keyId"]: k for k in client.keys()}[reader["keyId"]]["revokedAt"] is not None
    with pytest.raises(NotFound):
        client.revoke_key(reader["keyId"])  # already revoked
    with pytest.raises(PermissionDenied) as not_admin:
        Client(server.api_url, reader["key"]).keys()
    assert not_admin.value.status == 403


def test_another_projects_keys_are_out_of_reach(server: Server, project: Project) -> None:
    other = server.new_project()
    theirs = _admin(server, other).create_key("theirs")
    with pytest.raises(NotFound):
        _admin(server, project).revoke_key(theirs["keyId"])
    assert theirs["keyId"] not in {k["keyId"] for k in _admin(server, project).keys()}
    Client(server.api_url, theirs["key"]).get_llm_analytics()  # still valid


@pytest.mark.parametrize(("body", "named"), [
    ({"scopes": ["owner"]}, "unknown scope owner"),
    ({"scopes": []}, "at least one scope"),
    ({"scopes": "read"}, "scopes"),
    ({"name": 7}, "name"),
    ({"name": "x", "owner": True}, "owner: not a field here"),
])
def test_bad_key_bodies_are_400_naming_the_field(server: Server, project: Project,
                                                 body: dict, named: str) -> None:
    status, answer = server.call("POST", "/api/admin/keys", project.key, body)
    assert status == 400 and named in answer["error"]["message"], answer


def test_limits_are_read_and_set(server: Server, project: Project) -> None:
    client = _admin(server, project)
    assert client.limits()["spansPerMinute"] is None
    changed = client.set_limits(spans_per_minute=5000, api_requests_per_second=20)
    assert (changed["spansPerMinute"], changed["apiRequestsPerSecond"]) == (5000, 20.0)
    assert server.sql("SELECT spans_per_minute FROM project_limits WHERE project_id = %s",
                      (project.id,)) == [(5000,)]
    for body, named in [({"spansPerMinute": 0}, "spansPerMinute"),
                        ({"apiRequestsPerSecond": "fast"}, "apiRequestsPerSecond"),
                        ({"spansPerMinute": 1.5}, "spansPerMinute"),
                        ({"burst": 3}, "burst: not a field here")]:
        status, answer = server.call("PUT", "/api/admin/limits", project.key, body)
        assert status == 400 and named in answer["error"]["message"], (body, answer)
    with pytest.raises(InvalidArgument):
        client.set_limits(spans_per_minute=-1)
    assert client.set_limits()["spansPerMinute"] is None  # back to the default


def test_the_command_line_manages_keys_and_limits_through_the_api(
        server: Server, project: Project) -> None:
    env = {**os.environ, "SPANTALLY_URL": server.api_url, "SPANTALLY_API_KEY": project.key}

    def spantally(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "spantally.server.cli", "admin", *args],
                              env=env, capture_output=True, text=True, timeout=60)

    made = spantally("keys", "create", "--name", "ci", "--scope", "read")
    assert made.returncode == 0 and "its scopes: read" in made.stdout, made.stderr
    key = made.stdout.split("API key (shown once, keep it secret): ")[1].strip()
    listed = json.loads(spantally("keys", "list", "--json").stdout)
    assert any(k["keyId"] == key.split("_")[1] and k["scopes"] == ["read"] for k in listed)
    assert spantally("keys", "revoke", key).returncode == 0
    with pytest.raises(PermissionDenied):
        Client(server.api_url, key).get_llm_analytics()
    shown = spantally("limits", "--spans-per-minute", "9000")
    assert shown.returncode == 0 and "spans per minute: 9000" in shown.stdout, shown.stderr
    assert "spans per minute: the default" in spantally(
        "limits", "--spans-per-minute", "default").stdout
    refused = spantally("keys", "create", "--scope", "owner")
    assert refused.returncode == 1 and "unknown scope owner" in refused.stderr


ADMIN_TOKEN = "server-admin-" + "z" * 32


@pytest.fixture(scope="module")
def administered(cluster: ManagedCluster) -> Iterator[Server]:
    running = start_server(cluster.url, admin_token=ADMIN_TOKEN)
    try:
        yield running
    finally:
        running.stop()


def test_the_servers_admin_token_creates_and_lists_projects(administered: Server) -> None:
    name = f"made-{uuid.uuid4().hex[:8]}"
    status, made = administered.call("POST", "/api/admin/projects", ADMIN_TOKEN,
                                     {"name": name})
    assert status == 201 and made["name"] == name, made
    assert made["scopes"] == ["ingest", "read", "admin"]
    first = Client(administered.api_url, made["key"])
    assert first.keys()[0]["name"] == "first" and first.get_llm_analytics() is not None
    status, listed = administered.api("/api/admin/projects", ADMIN_TOKEN)
    assert status == 200 and name in {p["name"] for p in listed["projects"]}
    status, again = administered.call("POST", "/api/admin/projects", ADMIN_TOKEN,
                                      {"name": name})
    assert status == 409 and "exists already" in again["error"]["message"]
    status, bad = administered.call("POST", "/api/admin/projects", ADMIN_TOKEN, {"name": ""})
    assert status == 400 and "name" in bad["error"]["message"]
    # A project's key, even with every scope, is not the admin token; nor is a wrong one.
    for token in (made["key"], ADMIN_TOKEN + "x"):
        status, refused = administered.api("/api/admin/projects", token)
        assert status == 403 and "admin token" in refused["error"]["message"]
    assert administered.api("/api/admin/projects", None)[0] == 401


def test_without_an_admin_token_projects_are_off(server: Server, project: Project) -> None:
    status, refused = server.call("POST", "/api/admin/projects", project.key, {"name": "x"})
    assert status == 403 and "no admin token" in refused["error"]["message"]
