"""HTTP glue: the aiohttp application over the call pipeline, reports and tools."""
