"""HTTP adapter: aiohttp app factory, pages, the WebSocket protocol, SSE."""
