"""``safereturn clients`` and ``keys`` as an operator runs them, against running services."""

import re
import subprocess
import sys

import httpx

from shared.names import Service
from tests.e2e.conftest import Services


def safereturn(platform: Services, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "safereturn", *args],
        env=platform.env, capture_output=True, text=True, check=False,
    )  # fmt: skip


def token_status(platform: Services, client_id: str, secret: str) -> int:
    return httpx.post(
        f"{platform.urls[Service.INTAKE]}/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(client_id, secret),
    ).status_code


def test_an_operator_creates_lists_rotates_and_revokes_a_client(platform: Services) -> None:
    created = safereturn(
        platform, "clients", "create", "--agency", "Công an xã Tam Tiến", "--role", "verifier",
        "--province", "11", "--ward", "00001",
    )  # fmt: skip
    assert created.returncode == 0, created.stderr
    client_id = re.search(r"client_id:\s+(\S+)", created.stdout)[1]  # type: ignore[index]
    secret = re.search(r"client_secret:\s+(\S+)", created.stdout)[1]  # type: ignore[index]
    assert token_status(platform, client_id, secret) == 200

    listed = safereturn(platform, "clients", "list")
    line = next(line for line in listed.stdout.splitlines() if client_id in line)
    assert "verifier" in line
    assert "commune 00001" in line
    assert "Công an xã Tam Tiến" in line
    assert secret not in listed.stdout

    rotated = safereturn(platform, "clients", "rotate-secret", client_id)
    new_secret = re.search(r"client_secret:\s+(\S+)", rotated.stdout)[1]  # type: ignore[index]
    assert token_status(platform, client_id, secret) == 401
    assert token_status(platform, client_id, new_secret) == 200

    assert safereturn(platform, "clients", "revoke", client_id).returncode == 0
    assert token_status(platform, client_id, new_secret) == 401
    assert "revoked" in safereturn(platform, "clients", "list").stdout


def test_bad_client_requests_fail_clearly(platform: Services) -> None:
    no_province = safereturn(
        platform, "clients", "create", "--agency", "X", "--role", "reporter", "--ward", "00001"
    )
    assert no_province.returncode == 1
    assert "needs its province" in no_province.stdout
    unknown = safereturn(platform, "clients", "revoke", "sr-nobody")
    assert (unknown.returncode, unknown.stdout.strip()) == (1, "error: no client sr-nobody")


def test_operator_commands_are_on_the_audit_record(platform: Services) -> None:
    safereturn(platform, "keys", "rotate")
    auditor = {"Authorization": f"Bearer {platform.token('auditor')}"}
    records = httpx.get(
        f"{platform.urls[Service.INTAKE]}/v1/audit",
        headers=auditor,
        params={"action": "safereturn keys rotate"},
    ).json()["records"]
    assert records
    assert records[-1]["reason"].startswith("key ")
    assert records[-1]["agency"].startswith("operator ")


def test_an_operator_rotates_the_key_submissions_are_encrypted_to(platform: Services) -> None:
    def published() -> list[str]:
        keys = httpx.get(f"{platform.urls[Service.INTAKE]}/.well-known/jwks.json").json()["keys"]
        return [key["kid"] for key in keys if key["use"] == "enc"]

    (before,) = published()
    rotated = safereturn(platform, "keys", "rotate", "--encryption")
    assert rotated.returncode == 0, rotated.stderr
    assert "encryption key" in rotated.stdout
    (after,) = published()  # one key to encrypt to; the retired one still opens queued ones
    assert after != before
