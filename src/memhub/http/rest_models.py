"""Request and response bodies of the REST routes: mcp-memory-service 12.4's field names,
defaults and limits, so that validation errors (422) and the OpenAPI document match.

Pydantic's defaults are upstream's too: unknown fields are ignored, and ``"5"`` is accepted
where an integer is declared. One deliberate difference: ``content`` may not be empty (12.4
accepts ``""`` and then fails inside its storage with an unrelated message).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class MemoryCreateRequest(BaseModel):
    content: str = Field(..., min_length=1, description="The text to remember")
    tags: list[str] = Field(default=[], description="Tags (normalized: trimmed, lower-cased)")
    memory_type: str | None = Field(None, description="A type of the ontology, e.g. decision")
    metadata: dict[str, Any] = Field(default={}, description="Free-form metadata")
    client_hostname: str | None = Field(None, description="Accepted; memhub does not use it")
    conversation_id: str | None = Field(None, description="Skips semantic deduplication")
    store: str = Field("default", description="memhub serves the 'default' store")
    restore_deleted: bool = Field(False, description="Accepted: memhub keeps no delete log")


class MemoryUpdateRequest(BaseModel):
    tags: list[str] | None = Field(None, description="Replace the tags")
    memory_type: str | None = Field(None, description="Change the type")
    metadata: dict[str, Any] | None = Field(None, description="Merge into the metadata")


class MemoryResponse(BaseModel):
    content: str
    content_hash: str
    tags: list[str]
    memory_type: str | None
    metadata: dict[str, Any]
    created_at: float | None
    created_at_iso: str | None
    updated_at: float | None
    updated_at_iso: str | None


class MemoryListResponse(BaseModel):
    memories: list[MemoryResponse]
    total: int
    page: int
    page_size: int
    has_more: bool


class MemoryCreateResponse(BaseModel):
    success: bool
    message: str
    content_hash: str | None = None
    memory: MemoryResponse | None = None


class MemoryDeleteResponse(BaseModel):
    success: bool
    message: str
    content_hash: str


class TagCount(BaseModel):
    tag: str
    count: int


class TagListResponse(BaseModel):
    tags: list[TagCount]


class SemanticSearchRequest(BaseModel):
    query: str = Field(..., description="What to look for, by meaning")
    n_results: int = Field(default=10, ge=1, le=100)
    similarity_threshold: float | None = Field(None, ge=0.0, le=1.0)
    quality_boost: bool = Field(default=False, description="Rerank by metadata.quality_score")
    quality_weight: float = Field(default=0.3, ge=0.0, le=1.0)
    store: str = Field(default="default")


class TagSearchRequest(BaseModel):
    tags: list[str] = Field(..., description="Tags to look for")
    match_all: bool = Field(default=False, description="Every tag (true) or any tag (false)")
    time_filter: str | None = Field(None, description="Natural language, e.g. 'last week'")
    limit: int | None = Field(
        None, ge=1, le=100, description="Newest first; total_found counts all"
    )
    store: str = Field(default="default")


class TimeSearchRequest(BaseModel):
    query: str = Field(..., description="Natural language time range, e.g. 'yesterday'")
    n_results: int = Field(default=10, ge=1, le=100)
    semantic_query: str | None = Field(None, description="Rank the range's memories by meaning")
    store: str = Field(default="default")


class SearchResult(BaseModel):
    memory: MemoryResponse
    similarity_score: float | None = None
    relevance_reason: str | None = None


class SearchResponse(BaseModel):
    results: list[SearchResult]
    total_found: int
    query: str
    search_type: str
    processing_time_ms: float | None = None


class HealthResponse(BaseModel):
    status: str


class DetailedHealthResponse(BaseModel):
    status: str
    version: str
    timestamp: str
    uptime_seconds: float
    storage: dict[str, Any]
    system: dict[str, Any]
    performance: dict[str, Any]
    statistics: dict[str, Any] | None = None
