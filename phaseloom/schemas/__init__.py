"""Pydantic schemas for everything that crosses a boundary (YAML, API, MCP)."""
