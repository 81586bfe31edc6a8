"""Schemathesis against intake's own OpenAPI document: generated requests, never a 5xx."""

import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from shared.names import Service
from tests.e2e.conftest import Services

SCHEMATHESIS = Path(sys.executable).with_name("st")


@pytest.mark.parametrize("role", ["reporter", "verifier", "admin"])
def test_generated_requests_never_cause_a_server_error(
    platform: Services, role: str, tmp_path: Path
) -> None:
    token = platform.token(role)
    url = f"{platform.urls[Service.INTAKE]}/openapi.json"
    document = httpx.get(url, headers={"Authorization": f"Bearer {token}"}).json()
    assert document["paths"]["/v1/reports"]["post"]["requestBody"]
    result = subprocess.run(
        [str(SCHEMATHESIS), "run", url, "-H", f"Authorization: Bearer {token}",
         "--checks", "not_a_server_error", "--max-examples", "25",
         "--phases", "examples,fuzzing", "--generation-database", "none"],
        capture_output=True, text=True, cwd=tmp_path, timeout=300, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-4000:]
    assert " passed" in result.stdout


def test_the_report_schema_carries_an_example(platform: Services) -> None:
    token = platform.token("reporter")
    document = httpx.get(
        f"{platform.urls[Service.INTAKE]}/openapi.json",
        headers={"Authorization": f"Bearer {token}"},
    ).json()
    example = document["components"]["schemas"]["ReportIn"]["examples"][0]
    answer = httpx.post(
        f"{platform.urls[Service.INTAKE]}/v1/reports",
        json=example,
        headers={"Authorization": f"Bearer {token}"},
    )
    assert answer.status_code in {200, 202}, answer.text
