"""A minimal raw aiohttp client: the floor that tianping's API-evaluation overhead is measured against.

Sends the request bodies in a JSON file to an OpenAI-compatible endpoint with a fixed number of
workers, reads each JSON answer, and does nothing else.
"""

from __future__ import annotations

import argparse
import asyncio
import json

import aiohttp


async def main(base_url: str, bodies: list[dict], concurrency: int) -> None:
    queue = iter(bodies)
    url = base_url.rstrip("/") + "/chat/completions"
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:

        async def worker() -> None:
            for body in queue:
                async with session.post(url, json=body) as resp:
                    resp.raise_for_status()
                    await resp.json()

        await asyncio.gather(*(worker() for _ in range(concurrency)))


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--requests", required=True, help="JSON file: a list of request bodies")
    parser.add_argument("--n", type=int, required=True)
    parser.add_argument("--concurrency", type=int, required=True)
    args = parser.parse_args()
    with open(args.requests, encoding="utf-8") as handle:
        payloads = json.load(handle)[: args.n]
    asyncio.run(main(args.base_url, payloads, args.concurrency))
