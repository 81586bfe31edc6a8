"""Every answer of a service is a problem document when it is not a success, even a crash."""

import httpx
from fastapi import FastAPI

from shared.http import PROBLEM_JSON, install_problem_handlers


async def test_an_unexpected_failure_answers_a_problem_without_its_details() -> None:
    app = FastAPI()
    install_problem_handlers(app)

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("secret detail: Lò Thị Mai")

    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        answer = await client.get("/boom")
    assert (answer.status_code, answer.headers["content-type"]) == (500, PROBLEM_JSON)
    assert answer.json()["title"] == "Internal error"
    assert "Lò Thị Mai" not in answer.text
