"""Baseline for the intake benchmark: a bare FastAPI app that inserts the posted JSON, nothing else."""

from __future__ import annotations

import os
from typing import Any

import uvicorn
from fastapi import FastAPI, Request
from pymongo import AsyncMongoClient

client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(os.environ["BASELINE_MONGODB_URI"])
collection = client[os.environ["BASELINE_DATABASE"]]["cases"]
app = FastAPI()


@app.post("/api/cases", status_code=201)
async def insert(request: Request) -> dict[str, str]:
    result = await collection.insert_one(await request.json())
    return {"case_id": str(result.inserted_id)}


@app.get("/health/ready")
async def ready() -> dict[str, str]:
    return {"status": "ready"}


if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(os.environ["BASELINE_PORT"]), log_level="warning")
