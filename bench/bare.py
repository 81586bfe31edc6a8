"""The baseline for intake: a bare FastAPI endpoint that stores each body it is given with one
insert, on the same database kind, engine settings and server as the services, and nothing
else (no token, no validation, no sealing, no audit, no outbox). Also a one-row read, the
floor under any answer that reads a database.

``python -m bench.bare DATABASE_URL PORT`` serves it until SIGTERM."""

import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import uvicorn
from fastapi import FastAPI, Request
from sqlalchemy import JSON, Column, Integer, MetaData, Table, insert, select

from shared.db import Database

metadata = MetaData()
bodies = Table(
    "bodies",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("body", JSON, nullable=False),
)


def app(database_url: str) -> FastAPI:
    database = Database(database_url)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        async with database.engine.begin() as connection:
            await connection.run_sync(metadata.create_all)
        yield
        await database.dispose()

    api = FastAPI(lifespan=lifespan)

    @api.post("/bodies", status_code=202)
    async def store(request: Request) -> dict[str, Any]:
        body = await request.json()
        async with database.transaction() as session:
            inserted = await session.execute(
                insert(bodies).values(body=body).returning(bodies.c.id)
            )
        return {"id": inserted.scalar_one()}

    @api.get("/bodies/{body_id}")
    async def read(body_id: int) -> dict[str, Any]:
        async with database.reading() as session:
            row = (await session.execute(select(bodies).where(bodies.c.id == body_id))).first()
        return {"id": body_id, "found": row is not None}

    return api


def main() -> None:
    database_url, port = sys.argv[1], int(sys.argv[2])
    config = uvicorn.Config(app(database_url), host="127.0.0.1", port=port, log_level="warning",
                            access_log=False, lifespan="on")  # fmt: skip
    uvicorn.Server(config).run()


if __name__ == "__main__":
    main()
